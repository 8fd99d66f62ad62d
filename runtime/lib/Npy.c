/*===- Npy.c - Read and write NumPy .npy files --------------------*- C -*-===//
 *
 * seqrt-run's input and output format. The header is a Python dict literal,
 * `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`, padded so
 * that the data starts at a multiple of 64 bytes. Read: versions 1 to 3, C
 * order, little-endian (or single-byte) f, i, u and b kinds. Write: v1.
 *
 *===----------------------------------------------------------------------===*/

#include "Internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct DictParser {
  const char *s;
  size_t len, pos;
} DictParser;

static void dictSkip(DictParser *p) {
  while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
                             p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
    ++p->pos;
}

static int dictEat(DictParser *p, char c) {
  dictSkip(p);
  if (p->pos < p->len && p->s[p->pos] == c) {
    ++p->pos;
    return 1;
  }
  return 0;
}

/* A quoted Python string without escapes, into buf. */
static int dictString(DictParser *p, char *buf, size_t n) {
  dictSkip(p);
  if (p->pos >= p->len || (p->s[p->pos] != '\'' && p->s[p->pos] != '"'))
    return 0;
  char q = p->s[p->pos++];
  size_t k = 0;
  while (p->pos < p->len && p->s[p->pos] != q) {
    if (p->s[p->pos] == '\\' || k + 1 >= n)
      return 0;
    buf[k++] = p->s[p->pos++];
  }
  if (p->pos >= p->len)
    return 0;
  ++p->pos;
  buf[k] = '\0';
  return 1;
}

static int dictWord(DictParser *p, const char *w) {
  dictSkip(p);
  size_t n = strlen(w);
  if (p->len - p->pos >= n && memcmp(p->s + p->pos, w, n) == 0) {
    p->pos += n;
    return 1;
  }
  return 0;
}

/* Parses "(a, b, )" into shape; returns the rank or -1. */
static int dictShape(DictParser *p, int64_t *shape, int maxRank) {
  if (!dictEat(p, '('))
    return -1;
  int rank = 0;
  for (;;) {
    if (dictEat(p, ')'))
      return rank;
    dictSkip(p);
    if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9' ||
        rank == maxRank)
      return -1;
    int64_t v = 0;
    while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
      if (v > (INT64_MAX - 9) / 10)
        return -1;
      v = v * 10 + (p->s[p->pos++] - '0');
    }
    shape[rank++] = v;
    if (!dictEat(p, ',')) {
      if (!dictEat(p, ')'))
        return -1;
      return rank;
    }
  }
}

static int descrToDtype(const char *d, DLDataType *out) {
  if (strlen(d) != 3)
    return 0;
  char order = d[0], kind = d[1];
  int size = d[2] - '0';
  if (size != 1 && size != 2 && size != 4 && size != 8)
    return 0;
  if (size > 1 && order != '<' && order != '=')
    return 0;
  if (size == 1 && order != '|' && order != '<' && order != '=')
    return 0;
  switch (kind) {
  case 'f':
    if (size == 1)
      return 0;
    *out = seqrt_dtype(kDLFloat, (uint8_t)(size * 8));
    return 1;
  case 'i':
    *out = seqrt_dtype(kDLInt, (uint8_t)(size * 8));
    return 1;
  case 'u':
    *out = seqrt_dtype(kDLUInt, (uint8_t)(size * 8));
    return 1;
  case 'b':
    if (size != 1)
      return 0;
    *out = seqrt_dtype(SEQRT_DL_BOOL, 8);
    return 1;
  default:
    return 0;
  }
}

static const char *dtypeToDescr(DLDataType t) {
  if (t.lanes != 1)
    return NULL;
  switch (t.code) {
  case kDLFloat:
    return t.bits == 16 ? "<f2" : t.bits == 32 ? "<f4" : t.bits == 64 ? "<f8"
                                                                      : NULL;
  case kDLInt:
    return t.bits == 8 ? "|i1" : t.bits == 16 ? "<i2" : t.bits == 32 ? "<i4"
           : t.bits == 64 ? "<i8" : NULL;
  case kDLUInt:
    return t.bits == 8 ? "|u1" : t.bits == 16 ? "<u2" : t.bits == 32 ? "<u4"
           : t.bits == 64 ? "<u8" : NULL;
  case SEQRT_DL_BOOL:
    return t.bits == 8 ? "|b1" : NULL;
  default:
    return NULL;
  }
}

void seqrt_npy_free(DLTensor *t) {
  if (!t)
    return;
  free(t->shape);
  seqrt_free(t->data);
  memset(t, 0, sizeof(*t));
}

#define NPY_MAX_RANK 32

seqrt_status seqrt_npy_read(const char *path, DLTensor *out) {
  if (!path || !out)
    return seqrt_set_error(SEQRT_ERR_INVALID_ARGUMENT,
                           "seqrt_npy_read: null argument");
  memset(out, 0, sizeof(*out));
  FILE *f = fopen(path, "rb");
  if (!f)
    return seqrt_set_error(SEQRT_ERR_IO, "cannot open '%s': %s", path,
                           strerror(errno));
  seqrt_status s = SEQRT_OK;
  char *header = NULL;
  unsigned char pre[12];
  if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
    s = seqrt_set_error(SEQRT_ERR_IO, "%s is not a .npy file", path);
    goto done;
  }
  size_t headerLen;
  int major = pre[6];
  if (major == 1) {
    headerLen = (size_t)pre[8] | (size_t)pre[9] << 8;
  } else if (major == 2 || major == 3) {
    if (fread(pre + 10, 1, 2, f) != 2) {
      s = seqrt_set_error(SEQRT_ERR_IO, "%s is truncated", path);
      goto done;
    }
    headerLen = (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 |
                (size_t)pre[11] << 24;
  } else {
    s = seqrt_set_error(SEQRT_ERR_UNSUPPORTED,
                        "%s: .npy format version %d is not supported", path,
                        major);
    goto done;
  }
  header = malloc(headerLen + 1);
  if (!header) {
    s = seqrt_set_error(SEQRT_ERR_OUT_OF_MEMORY, "out of memory reading %s",
                        path);
    goto done;
  }
  if (fread(header, 1, headerLen, f) != headerLen) {
    s = seqrt_set_error(SEQRT_ERR_IO, "%s is truncated", path);
    goto done;
  }
  header[headerLen] = '\0';

  DictParser p = {header, headerLen, 0};
  char descr[16] = "", key[32];
  int fortran = -1, rank = -1;
  int64_t shape[NPY_MAX_RANK];
  if (!dictEat(&p, '{'))
    goto bad;
  while (!dictEat(&p, '}')) {
    if (!dictString(&p, key, sizeof(key)) || !dictEat(&p, ':'))
      goto bad;
    if (strcmp(key, "descr") == 0) {
      if (!dictString(&p, descr, sizeof(descr)))
        goto bad;
    } else if (strcmp(key, "fortran_order") == 0) {
      if (dictWord(&p, "True"))
        fortran = 1;
      else if (dictWord(&p, "False"))
        fortran = 0;
      else
        goto bad;
    } else if (strcmp(key, "shape") == 0) {
      if ((rank = dictShape(&p, shape, NPY_MAX_RANK)) < 0)
        goto bad;
    } else {
      goto bad;
    }
    if (!dictEat(&p, ',')) {
      if (!dictEat(&p, '}'))
        goto bad;
      break;
    }
  }
  if (!descr[0] || fortran < 0 || rank < 0)
    goto bad;
  if (fortran) {
    s = seqrt_set_error(SEQRT_ERR_UNSUPPORTED,
                        "%s is in Fortran order; write it in C order "
                        "(numpy.ascontiguousarray)",
                        path);
    goto done;
  }
  DLDataType dtype;
  if (!descrToDtype(descr, &dtype)) {
    s = seqrt_set_error(SEQRT_ERR_UNSUPPORTED,
                        "%s has dtype '%s'; supported are little-endian f2 f4 "
                        "f8 i1 i2 i4 i8 u1 u2 u4 u8 and b1",
                        path, descr);
    goto done;
  }
  uint64_t numel = 1;
  for (int i = 0; i < rank; ++i) {
    if (shape[i] != 0 && numel > (UINT64_MAX >> 4) / (uint64_t)shape[i]) {
      s = seqrt_set_error(SEQRT_ERR_UNSUPPORTED, "%s is too large", path);
      goto done;
    }
    numel *= (uint64_t)shape[i];
  }
  size_t bytes = (size_t)numel * seqrt_dtype_bytes(dtype);
  out->shape = malloc(sizeof(int64_t) * (size_t)(rank ? rank : 1));
  out->data = seqrt_alloc(bytes);
  if (!out->shape || !out->data) {
    s = seqrt_set_error(SEQRT_ERR_OUT_OF_MEMORY,
                        "out of memory reading %s (%zu bytes)", path, bytes);
    goto done;
  }
  if (fread(out->data, 1, bytes, f) != bytes) {
    s = seqrt_set_error(SEQRT_ERR_IO,
                        "%s is truncated: expected %zu data bytes", path,
                        bytes);
    goto done;
  }
  if (fgetc(f) != EOF) {
    s = seqrt_set_error(SEQRT_ERR_IO,
                        "%s is corrupt: bytes after the %zu data bytes", path,
                        bytes);
    goto done;
  }
  memcpy(out->shape, shape, sizeof(int64_t) * (size_t)rank);
  out->ndim = rank;
  out->dtype = dtype;
  out->device.device_type = kDLCPU;
  out->device.device_id = 0;
  out->strides = NULL;
  out->byte_offset = 0;
  goto done;

bad:
  s = seqrt_set_error(SEQRT_ERR_IO, "%s has a malformed .npy header", path);
done:
  free(header);
  fclose(f);
  if (s != SEQRT_OK)
    seqrt_npy_free(out);
  return s;
}

seqrt_status seqrt_npy_write(const char *path, const DLTensor *t) {
  if (!path || !t || (t->ndim > 0 && !t->shape) || t->ndim < 0)
    return seqrt_set_error(SEQRT_ERR_INVALID_ARGUMENT,
                           "seqrt_npy_write: bad argument");
  if (t->device.device_type != kDLCPU)
    return seqrt_set_error(SEQRT_ERR_DEVICE,
                           "seqrt_npy_write: %s: the tensor is not on the cpu",
                           path);
  const char *descr = dtypeToDescr(t->dtype);
  if (!descr)
    return seqrt_set_error(SEQRT_ERR_UNSUPPORTED,
                           "cannot write %s: dtype %s has no .npy equivalent",
                           path, seqrt_dtype_name(t->dtype));
  int64_t numel = seqrt_tensor_numel(t);
  if (t->strides) {
    int64_t expected = 1;
    for (int i = t->ndim - 1; i >= 0; --i) {
      if (t->shape[i] != 1 && numel != 0 && t->strides[i] != expected)
        return seqrt_set_error(SEQRT_ERR_SHAPE,
                               "cannot write %s: the tensor is not compact",
                               path);
      expected *= t->shape[i];
    }
  }
  char dict[1024];
  int n = snprintf(dict, sizeof(dict),
                   "{'descr': '%s', 'fortran_order': False, 'shape': (",
                   descr);
  for (int i = 0; i < t->ndim && n < 900; ++i)
    n += snprintf(dict + n, sizeof(dict) - (size_t)n, "%s%lld", i ? ", " : "",
                  (long long)t->shape[i]);
  if (n >= 900)
    return seqrt_set_error(SEQRT_ERR_UNSUPPORTED,
                           "cannot write %s: rank %d is too large", path,
                           t->ndim);
  n += snprintf(dict + n, sizeof(dict) - (size_t)n, "%s), }",
                t->ndim == 1 ? "," : "");
  /* Pad with spaces and a newline so that 10 + len is a multiple of 64. */
  size_t total = (10 + (size_t)n + 1 + 63) / 64 * 64;
  size_t len = total - 10;
  while ((size_t)n < len - 1)
    dict[n++] = ' ';
  dict[n++] = '\n';

  FILE *f = fopen(path, "wb");
  if (!f)
    return seqrt_set_error(SEQRT_ERR_IO, "cannot write '%s': %s", path,
                           strerror(errno));
  unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                           (unsigned char)(len & 0xff),
                           (unsigned char)(len >> 8)};
  size_t bytes = (size_t)numel * seqrt_dtype_bytes(t->dtype);
  int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(dict, 1, len, f) == len &&
           (bytes == 0 || fwrite(seqrt_tensor_data(t), 1, bytes, f) == bytes);
  if (fclose(f) != 0)
    ok = 0;
  if (!ok)
    return seqrt_set_error(SEQRT_ERR_IO, "cannot write '%s': %s", path,
                           strerror(errno));
  return SEQRT_OK;
}
