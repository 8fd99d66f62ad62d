/*===- Weights.c - Memory-mapped safetensors weights --------------*- C -*-===//
 *
 * The file is an 8-byte little-endian header length N, N bytes of JSON
 * mapping each tensor name to {"dtype", "shape", "data_offsets"} (plus an
 * optional "__metadata__"), then the raw little-endian data. Everything the
 * header claims is checked at open time, so seqrt_weights_get only compares
 * names, dtypes and shapes. Tensors are served from the mapping; the rare
 * one whose offset is not aligned to its element size is copied once.
 *
 *===----------------------------------------------------------------------===*/

#include "Internal.h"
#include "Json.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct Entry {
  char *name;
  char *dtypeName; /* as in the file: "F32", "BF16", ... */
  DLDataType dtype; /* bits == 0 when seqrt does not know dtypeName */
  int rank;
  int64_t *shape;
  const void *data;
  void *copy; /* owned, when the mapped data was misaligned */
} Entry;

struct seqrt_weights {
  char *path;
  void *map;
  size_t size;
  int n;
  Entry *entries;
};

static char *dupString(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d)
    memcpy(d, s, n);
  return d;
}

void seqrt_weights_close(seqrt_weights *w) {
  if (!w)
    return;
  for (int i = 0; i < w->n; ++i) {
    free(w->entries[i].name);
    free(w->entries[i].dtypeName);
    free(w->entries[i].shape);
    seqrt_free(w->entries[i].copy);
  }
  free(w->entries);
  if (w->map)
    munmap(w->map, w->size);
  free(w->path);
  free(w);
}

/* Fills `e` from the header member `name`: `v`. */
static seqrt_status readEntry(seqrt_weights *w, const char *name,
                              const JsonValue *v, const char *base,
                              uint64_t dataSize, Entry *e) {
  const char *path = w->path;
  if (v->kind != JSON_OBJECT)
    return seqrt_set_error(SEQRT_ERR_WEIGHT,
                           "%s is corrupt: the header entry of tensor '%s' is "
                           "not an object",
                           path, name);
  const JsonValue *dtype = seqrt_json_get(v, "dtype");
  const JsonValue *shape = seqrt_json_get(v, "shape");
  const JsonValue *offsets = seqrt_json_get(v, "data_offsets");
  if (!dtype || dtype->kind != JSON_STRING)
    return seqrt_set_error(SEQRT_ERR_WEIGHT,
                           "%s is corrupt: tensor '%s' has no string 'dtype'",
                           path, name);
  if (!shape || shape->kind != JSON_ARRAY)
    return seqrt_set_error(SEQRT_ERR_WEIGHT,
                           "%s is corrupt: tensor '%s' has no array 'shape'",
                           path, name);
  if (!offsets || offsets->kind != JSON_ARRAY || offsets->count != 2 ||
      offsets->items[0].kind != JSON_INT || offsets->items[1].kind != JSON_INT)
    return seqrt_set_error(SEQRT_ERR_WEIGHT,
                           "%s is corrupt: tensor '%s' needs 'data_offsets' "
                           "[begin, end]",
                           path, name);
  e->name = dupString(name);
  e->dtypeName = dupString(dtype->string);
  e->rank = shape->count;
  e->shape = malloc(sizeof(int64_t) * (size_t)(shape->count ? shape->count : 1));
  if (!e->name || !e->dtypeName || !e->shape)
    return seqrt_set_error(SEQRT_ERR_OUT_OF_MEMORY, "out of memory reading %s",
                           path);
  if (!seqrt_dtype_parse(dtype->string, 1, &e->dtype))
    e->dtype = seqrt_dtype(0, 0);

  uint64_t numel = 1;
  int overflow = 0;
  for (int i = 0; i < shape->count; ++i) {
    const JsonValue *d = &shape->items[i];
    if (d->kind != JSON_INT || d->integer < 0)
      return seqrt_set_error(SEQRT_ERR_WEIGHT,
                             "%s is corrupt: tensor '%s' has a shape entry "
                             "that is not a size",
                             path, name);
    e->shape[i] = d->integer;
    if (d->integer != 0 && numel > UINT64_MAX / (uint64_t)d->integer)
      overflow = 1;
    numel *= (uint64_t)d->integer;
  }
  int64_t begin = offsets->items[0].integer, end = offsets->items[1].integer;
  if (begin < 0 || end < begin || (uint64_t)end > dataSize)
    return seqrt_set_error(SEQRT_ERR_WEIGHT,
                           "%s is truncated or corrupt: tensor '%s' has "
                           "data_offsets [%lld, %lld] outside the %llu data "
                           "bytes",
                           path, name, (long long)begin, (long long)end,
                           (unsigned long long)dataSize);
  if (e->dtype.bits) {
    uint64_t elem = seqrt_dtype_bytes(e->dtype);
    if (overflow || numel > UINT64_MAX / elem ||
        numel * elem != (uint64_t)(end - begin))
      return seqrt_set_error(SEQRT_ERR_WEIGHT,
                             "%s is corrupt: tensor '%s' (%s, %llu elements) "
                             "has %lld data bytes",
                             path, name, dtype->string,
                             (unsigned long long)numel,
                             (long long)(end - begin));
    e->data = base + begin;
    if ((uintptr_t)e->data % elem != 0) {
      e->copy = seqrt_alloc((size_t)(end - begin));
      if (!e->copy)
        return SEQRT_ERR_OUT_OF_MEMORY;
      memcpy(e->copy, e->data, (size_t)(end - begin));
      e->data = e->copy;
    }
  }
  return SEQRT_OK;
}

seqrt_status seqrt_weights_open(const char *path, seqrt_weights **out) {
  if (!path || !out)
    return seqrt_set_error(SEQRT_ERR_INVALID_ARGUMENT,
                           "seqrt_weights_open: null argument");
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return seqrt_set_error(SEQRT_ERR_IO, "cannot open weights file '%s': %s",
                           path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return seqrt_set_error(SEQRT_ERR_IO, "cannot stat weights file '%s': %s",
                           path, strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return seqrt_set_error(SEQRT_ERR_IO, "weights file '%s' is not a file",
                           path);
  }
  size_t size = (size_t)st.st_size;
  if (size < 8) {
    close(fd);
    return seqrt_set_error(SEQRT_ERR_WEIGHT,
                           "%s is truncated: %zu bytes, too short for a "
                           "safetensors header",
                           path, size);
  }
  void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int mapErr = errno;
  close(fd);
  if (map == MAP_FAILED)
    return seqrt_set_error(SEQRT_ERR_IO, "cannot map weights file '%s': %s",
                           path, strerror(mapErr));

  seqrt_weights *w = calloc(1, sizeof(*w));
  if (!w || !(w->path = dupString(path))) {
    free(w);
    munmap(map, size);
    return seqrt_set_error(SEQRT_ERR_OUT_OF_MEMORY, "out of memory opening %s",
                           path);
  }
  w->map = map;
  w->size = size;

  const unsigned char *bytes = map;
  uint64_t headerLen = 0;
  for (int i = 7; i >= 0; --i)
    headerLen = headerLen << 8 | bytes[i];
  if (headerLen > size - 8) {
    seqrt_weights_close(w);
    return seqrt_set_error(SEQRT_ERR_WEIGHT,
                           "%s is truncated or corrupt: the header claims %llu "
                           "bytes, but the file has %zu after the length",
                           path, (unsigned long long)headerLen, size - 8);
  }
  JsonValue header;
  char err[256];
  if (seqrt_json_parse((const char *)bytes + 8, (size_t)headerLen, &header,
                       err, sizeof(err))) {
    seqrt_weights_close(w);
    return seqrt_set_error(SEQRT_ERR_WEIGHT,
                           "%s is corrupt: bad JSON header: %s", path, err);
  }
  if (header.kind != JSON_OBJECT) {
    seqrt_json_free(&header);
    seqrt_weights_close(w);
    return seqrt_set_error(SEQRT_ERR_WEIGHT,
                           "%s is corrupt: the JSON header is not an object",
                           path);
  }
  w->entries = calloc((size_t)(header.count ? header.count : 1), sizeof(Entry));
  if (!w->entries) {
    seqrt_json_free(&header);
    seqrt_weights_close(w);
    return seqrt_set_error(SEQRT_ERR_OUT_OF_MEMORY, "out of memory opening %s",
                           path);
  }
  const char *base = (const char *)bytes + 8 + headerLen;
  uint64_t dataSize = size - 8 - headerLen;
  for (int i = 0; i < header.count; ++i) {
    if (strcmp(header.keys[i], "__metadata__") == 0)
      continue;
    seqrt_status s = readEntry(w, header.keys[i], &header.items[i], base,
                               dataSize, &w->entries[w->n]);
    ++w->n; /* so that close frees a partly filled entry */
    if (s != SEQRT_OK) {
      seqrt_json_free(&header);
      seqrt_weights_close(w);
      return s;
    }
  }
  seqrt_json_free(&header);
  *out = w;
  return SEQRT_OK;
}

static const Entry *find(const seqrt_weights *w, const char *name) {
  for (int i = 0; i < w->n; ++i)
    if (strcmp(w->entries[i].name, name) == 0)
      return &w->entries[i];
  return NULL;
}

seqrt_status seqrt_weights_get(const seqrt_weights *w, const char *name,
                               DLDataType dtype, int rank,
                               const int64_t *shape, const void **data) {
  if (!w || !name || !data || rank < 0 || (rank > 0 && !shape))
    return seqrt_set_error(SEQRT_ERR_INVALID_ARGUMENT,
                           "seqrt_weights_get: bad argument");
  *data = NULL;
  const Entry *e = find(w, name);
  if (!e)
    return seqrt_set_error(SEQRT_ERR_WEIGHT, "weight '%s' is missing from %s",
                           name, w->path);
  if (!e->dtype.bits)
    return seqrt_set_error(SEQRT_ERR_UNSUPPORTED,
                           "weight '%s' has dtype %s in %s, which seqrt does "
                           "not support (expected %s)",
                           name, e->dtypeName, w->path,
                           seqrt_dtype_name(dtype));
  if (!seqrt_dtype_equal(e->dtype, dtype))
    return seqrt_set_error(SEQRT_ERR_WEIGHT,
                           "weight '%s' has dtype %s in %s, expected %s", name,
                           seqrt_dtype_name(e->dtype), w->path,
                           seqrt_dtype_name(dtype));
  int same = e->rank == rank;
  for (int i = 0; same && i < rank; ++i)
    same = e->shape[i] == shape[i];
  if (!same) {
    char have[256] = "", want[256] = "";
    seqrt_format_shape(have, sizeof(have), e->rank, e->shape);
    seqrt_format_shape(want, sizeof(want), rank, shape);
    return seqrt_set_error(SEQRT_ERR_WEIGHT,
                           "weight '%s' has shape %s in %s, expected %s", name,
                           have, w->path, want);
  }
  *data = e->data;
  return SEQRT_OK;
}

int seqrt_weights_count(const seqrt_weights *w) { return w ? w->n : 0; }

seqrt_status seqrt_weights_info(const seqrt_weights *w, int i,
                                const char **name, DLDataType *dtype,
                                int *rank, const int64_t **shape) {
  if (!w || i < 0 || i >= w->n)
    return seqrt_set_error(SEQRT_ERR_INVALID_ARGUMENT,
                           "seqrt_weights_info: no tensor %d", i);
  const Entry *e = &w->entries[i];
  if (name)
    *name = e->name;
  if (dtype)
    *dtype = e->dtype;
  if (rank)
    *rank = e->rank;
  if (shape)
    *shape = e->shape;
  return SEQRT_OK;
}
