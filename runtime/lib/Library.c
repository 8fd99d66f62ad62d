/*===- Library.c - The generic shim of generated libraries -------*- C -*-===//
 *
 * Linked (from libseqrt_static.a) into every library that seqc generates,
 * never into libseqrt.so: it references what the compiler emits,
 *   const char seq_model_metadata[];         JSON describing the model
 *   void (*const seq_entry_table[])(void **); seq_<entry>_packed, in the
 *                                             metadata's entry order
 * and implements seqrt_library() from them. seq_<entry>_packed(args) calls
 * _mlir_ciface_<entry>(args[0], args[1], ...): for a step entry, args[0]
 * points to the result struct (one memref descriptor per new state, back to
 * back); then come one descriptor pointer per weight the entry takes, one
 * per input, a step's position and states, and one per output, which the
 * generated code writes in place (seq-destination-outputs). A rank-r
 * descriptor is {T *allocated, T *aligned, i64 offset, i64 sizes[r],
 * i64 strides[r]}: 3 + 2r eight-byte words. New states are buffers the
 * callee allocated (with the allocator below), which the state keeps.
 *
 * The named C functions of a library (NAME_create, NAME_<entry>,
 * NAME_destroy; docs/codegen.md) are compiler-emitted forwarders to
 * seqrt_shim_create, seqrt_shim_call and seqrt_shim_destroy, which are
 * also what the descriptor's create, entries[k].fn and destroy run: one
 * path, one validation. They are hidden; the library's version script keeps
 * every symbol but its C API local.
 *
 * It also provides what the lowered code calls: memrefCopy, and the
 * allocator of every buffer, _mlir_memref_to_llvm_alloc / _aligned_alloc /
 * _free (the memref-to-LLVM conversion's generic allocation functions).
 * Blocks freed are kept on free lists per size class (up to CACHE_BYTES)
 * and handed out again for the same class: a model called over and over
 * with the same shapes reuses its temporaries instead of calling malloc and
 * mapping fresh pages (and taking their page faults) on every call. The
 * cache empties when the last model of the library is destroyed.
 *
 *===----------------------------------------------------------------------===*/

#include "Cuda.h"
#include "Internal.h"
#include "Json.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const char seq_model_metadata[];
typedef void (*seq_packed_fn)(void **args);
extern const seq_packed_fn seq_entry_table[];

#define MAX_ENTRIES 64

typedef struct EntryInfo {
  int n_weights;
  int *weights; /* indices into the library's weights */
  /* The metadata's size_checks (NULL when none): sizes of the entry's
   * graph that some dims make negative, checked once the dims are bound. */
  const JsonValue *size_checks;
} EntryInfo;

/* What a step entry carries from one chunk to the next: per state, the
 * block that holds it (the runtime allocator's, so that the generated code
 * may hand its own buffers over), where its elements start, and its sizes.
 * `entry` is the step entry it belongs to (-1 before the first step). */
struct seqrt_state {
  seqrt_model *model;
  DLDevice device; /* the model's: where the blocks live */
  int entry;
  int64_t position;
  int64_t dims[64]; /* the dims the first chunk bound */
  int n;
  void **block;
  void **data;
  int64_t **sizes;
};

static seqrt_library_desc library;
static EntryInfo entryInfo[MAX_ENTRIES];
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int loaded;
static char loadError[512];

struct seqrt_model {
  seqrt_weights *weights;
  const void **data; /* per library weight: in the file, or on the device */
  DLDevice device;
  void *stream;       /* a CUDA library's own stream */
  void *callerStream; /* the caller's (set_stream), if set: calls run there */
};

/*===------------------------------ Allocator -----------------------------===*/

/* Every block's size is rounded up to a class: 64 bytes, then 8 classes
 * per power of two (at most 1/8 wasted). A freed block goes on its class's
 * free list (while models are alive, up to CACHE_BYTES in all) and the
 * next request of that class takes it back: no malloc, no fresh pages, no
 * page faults for a model called again and again, and a buffer that grows
 * a little at each call (a step's key/value cache) still finds the block
 * the call before freed. Blocks are aligned to BLOCK_ALIGN; a request for
 * more alignment is not cached. */
#define CACHE_BYTES ((size_t)1 << 30)
#define BLOCK_ALIGN ((size_t)64)
#define NUM_CLASSES 480

typedef struct FreeBlock {
  struct FreeBlock *next;
} FreeBlock;

static pthread_mutex_t cacheMutex = PTHREAD_MUTEX_INITIALIZER;
static FreeBlock *freeLists[NUM_CLASSES];
static size_t cachedBytes;
static int liveModels; /* guarded by cacheMutex */

/* The class of `size`, and its rounded size in *rounded; -1 when too big. */
static int sizeClass(size_t size, size_t *rounded) {
  if (size <= 64) {
    *rounded = 64;
    return 0;
  }
  int log = 63 - __builtin_clzll((unsigned long long)size);
  size_t top = (size_t)1 << log, step = top / 8;
  *rounded = (size + step - 1) / step * step;
  int index = 8 * (log - 6) + (int)((*rounded - top) / step);
  return index < NUM_CLASSES ? index : -1;
}

/* Each block: [pad ... | alignment | size | base] user bytes..., the three
 * words just before the user pointer. */
static void *blockAlloc(size_t alignment, size_t size) {
  if (alignment < BLOCK_ALIGN)
    alignment = BLOCK_ALIGN;
  size_t rounded = size;
  int cls = alignment == BLOCK_ALIGN ? sizeClass(size, &rounded) : -1;
  if (cls >= 0) {
    pthread_mutex_lock(&cacheMutex);
    FreeBlock *b = freeLists[cls];
    if (b) {
      freeLists[cls] = b->next;
      cachedBytes -= rounded;
    }
    pthread_mutex_unlock(&cacheMutex);
    if (b)
      return b;
  }
  /* alignment bytes of header room (at least the three words), then size. */
  size_t total = alignment + rounded;
  total = (total + alignment - 1) / alignment * alignment;
  char *base = aligned_alloc(alignment, total);
  if (!base)
    return NULL;
  char *user = base + alignment;
  ((size_t *)user)[-3] = alignment;
  ((size_t *)user)[-2] = rounded;
  ((void **)user)[-1] = base;
  return user;
}

static void blockFree(void *ptr) {
  if (!ptr)
    return;
  char *user = ptr;
  size_t alignment = ((size_t *)user)[-3];
  size_t size = ((size_t *)user)[-2];
  void *base = ((void **)user)[-1];
  size_t rounded;
  int cls = alignment == BLOCK_ALIGN ? sizeClass(size, &rounded) : -1;
  if (cls >= 0 && rounded == size) {
    pthread_mutex_lock(&cacheMutex);
    if (liveModels > 0 && cachedBytes + size <= CACHE_BYTES) {
      FreeBlock *b = ptr;
      b->next = freeLists[cls];
      freeLists[cls] = b;
      cachedBytes += size;
      pthread_mutex_unlock(&cacheMutex);
      return;
    }
    pthread_mutex_unlock(&cacheMutex);
  }
  free(base);
}

/* Counts live models; the last one's destroy empties the cache. */
static void modelsChanged(int delta) {
  pthread_mutex_lock(&cacheMutex);
  liveModels += delta;
  if (liveModels == 0) {
    for (int i = 0; i < NUM_CLASSES; ++i)
      while (freeLists[i]) {
        FreeBlock *b = freeLists[i];
        freeLists[i] = b->next;
        free(((void **)b)[-1]);
      }
    cachedBytes = 0;
  }
  pthread_mutex_unlock(&cacheMutex);
}

void *_mlir_memref_to_llvm_alloc(size_t size);
void *_mlir_memref_to_llvm_alloc(size_t size) { return blockAlloc(32, size); }

void *_mlir_memref_to_llvm_aligned_alloc(size_t alignment, size_t size);
void *_mlir_memref_to_llvm_aligned_alloc(size_t alignment, size_t size) {
  return blockAlloc(alignment, size);
}

void _mlir_memref_to_llvm_free(void *ptr);
void _mlir_memref_to_llvm_free(void *ptr) { blockFree(ptr); }

/*===------------------------------ Metadata ------------------------------===*/

static const char *getString(const JsonValue *o, const char *key) {
  const JsonValue *v = seqrt_json_get(o, key);
  return v && v->kind == JSON_STRING ? v->string : NULL;
}

static const JsonValue *getArray(const JsonValue *o, const char *key) {
  const JsonValue *v = seqrt_json_get(o, key);
  return v && v->kind == JSON_ARRAY ? v : NULL;
}

/* Fills *d from {"name", "dtype", key: [ints]}. The strings stay owned by
 * the parsed JSON, which is never freed. */
static int parseArg(const JsonValue *o, seqrt_arg_kind kind, const char *key,
                    seqrt_arg_desc *d) {
  const char *dt = getString(o, "dtype");
  const JsonValue *dims = getArray(o, key);
  d->name = getString(o, "name");
  d->kind = kind;
  if (!d->name || !dt || !dims || !seqrt_dtype_parse(dt, 0, &d->dtype))
    return -1;
  d->rank = dims->count;
  int64_t *v = NULL;
  if (dims->count) {
    v = calloc((size_t)dims->count, sizeof(int64_t));
    if (!v)
      return -1;
    for (int i = 0; i < dims->count; ++i) {
      if (dims->items[i].kind != JSON_INT) {
        free(v);
        return -1;
      }
      v[i] = dims->items[i].integer;
    }
  }
  d->dims = v;
  return 0;
}

static seqrt_arg_desc *parseArgs(const JsonValue *arr, seqrt_arg_kind kind,
                                 const char *key, int *n) {
  *n = arr ? arr->count : 0;
  seqrt_arg_desc *d = calloc((size_t)(*n ? *n : 1), sizeof(*d));
  if (!d || !arr)
    return NULL;
  for (int i = 0; i < *n; ++i)
    if (arr->items[i].kind != JSON_OBJECT ||
        parseArg(&arr->items[i], kind, key, &d[i]))
      return NULL;
  return d;
}

/* The shim's functions, declared here only: the compiler emits the calls. */
seqrt_status seqrt_shim_create(const char *path, DLDevice device,
                               seqrt_model **out);
void seqrt_shim_destroy(seqrt_model *m);
seqrt_status seqrt_shim_set_stream(seqrt_model *m, void *stream);
seqrt_status seqrt_shim_call(int k, seqrt_model *m, const DLTensor *const *in,
                             DLTensor *const *out);
seqrt_status seqrt_shim_step(int k, seqrt_model *m, seqrt_state *state,
                             const DLTensor *const *in, DLTensor *const *out);
seqrt_status seqrt_shim_state_create(seqrt_model *m, seqrt_state **out);
void seqrt_shim_state_destroy(seqrt_state *state);

/* One trampoline per entry slot: entry_desc.fn has no context argument.
 * FOR_SLOTS(X) expands X(k) for k in [0, MAX_ENTRIES). */
#define FOR_8(X, b)                                                            \
  X(b##0) X(b##1) X(b##2) X(b##3) X(b##4) X(b##5) X(b##6) X(b##7)
#define FOR_SLOTS(X)                                                           \
  FOR_8(X, 0) FOR_8(X, 1) FOR_8(X, 2) FOR_8(X, 3) FOR_8(X, 4) FOR_8(X, 5)     \
  FOR_8(X, 6) FOR_8(X, 7)
/* Slot numbers are written in octal (00..77): 64 of them. */
#define TRAMPOLINE(k)                                                          \
  static seqrt_status entry##k(seqrt_model *m, const DLTensor *const *in,      \
                               DLTensor *const *out) {                         \
    return seqrt_shim_call(0##k, m, in, out);                                  \
  }                                                                            \
  static seqrt_status step##k(seqrt_model *m, seqrt_state *s,                  \
                              const DLTensor *const *in,                       \
                              DLTensor *const *out) {                          \
    return seqrt_shim_step(0##k, m, s, in, out);                               \
  }
FOR_SLOTS(TRAMPOLINE)
#define ENTRY_SLOT(k) entry##k,
#define STEP_SLOT(k) step##k,
static seqrt_status (*const trampolines[MAX_ENTRIES])(
    seqrt_model *, const DLTensor *const *, DLTensor *const *) = {
    FOR_SLOTS(ENTRY_SLOT)};
static seqrt_status (*const stepTrampolines[MAX_ENTRIES])(
    seqrt_model *, seqrt_state *, const DLTensor *const *,
    DLTensor *const *) = {FOR_SLOTS(STEP_SLOT)};

/* size_checks: an array of {"size": text, "at": text, "terms": [[coeff,
 * dim, dim, ...], ...]} with each dim an index below n_dims. */
static int validSizeChecks(const JsonValue *checks, int n_dims) {
  if (checks->kind != JSON_ARRAY)
    return 0;
  for (int i = 0; i < checks->count; ++i) {
    const JsonValue *c = &checks->items[i];
    const JsonValue *terms = getArray(c, "terms");
    if (!getString(c, "size") || !getString(c, "at") || !terms)
      return 0;
    for (int t = 0; t < terms->count; ++t) {
      const JsonValue *term = &terms->items[t];
      if (term->kind != JSON_ARRAY || term->count < 1)
        return 0;
      for (int k = 0; k < term->count; ++k)
        if (term->items[k].kind != JSON_INT ||
            (k > 0 && (term->items[k].integer < 0 ||
                       term->items[k].integer >= n_dims)))
          return 0;
    }
  }
  return 1;
}

/* Fails when a size of entry `e`'s graph is negative at the bound `dims`
 * (`x[:, 0:T - 1]` at T = 0), naming the size, where the model has it and
 * the dims it reads: the generated code would allocate a negative size. */
static seqrt_status checkSizes(const seqrt_entry_desc *e,
                               const EntryInfo *info, const int64_t *dims) {
  const JsonValue *checks = info->size_checks;
  for (int i = 0; checks && i < checks->count; ++i) {
    const JsonValue *c = &checks->items[i];
    const JsonValue *terms = getArray(c, "terms");
    /* In __int128: a coefficient times two dims (each below 2^63) fits,
     * and the sizes of models multiply few dims. */
    __int128 value = 0;
    int known = 1;
    for (int t = 0; t < terms->count; ++t) {
      const JsonValue *term = &terms->items[t];
      __int128 v = term->items[0].integer;
      for (int k = 1; k < term->count; ++k) {
        int64_t d = dims[term->items[k].integer];
        known &= d >= 0;
        v *= d;
      }
      value += v;
    }
    if (!known || value >= 0)
      continue;
    /* The dims the size reads, each once: "B = 2, T = 0". */
    char bound[256] = "";
    for (int t = 0; t < terms->count; ++t)
      for (int k = 1; k < terms->items[t].count; ++k) {
        int d = (int)terms->items[t].items[k].integer;
        char item[96];
        snprintf(item, sizeof(item), "%s = %lld", library.dim_names[d],
                 (long long)dims[d]);
        size_t used = strlen(bound);
        if (!strstr(bound, item))
          snprintf(bound + used, sizeof(bound) - used, "%s%s",
                   used ? ", " : "", item);
      }
    return seqrt_set_error(SEQRT_ERR_SHAPE,
                           "entry '%s': the size %s (%s) is %lld with %s; "
                           "the model needs it to be at least 0",
                           e->name, getString(c, "size"), getString(c, "at"),
                           (long long)value, bound);
  }
  return SEQRT_OK;
}

static void load(void) {
  static JsonValue root; /* kept: the descriptors point into it */
  const char *text = seq_model_metadata;
  char err[256];
  if (seqrt_json_parse(text, strlen(text), &root, err, sizeof(err))) {
    snprintf(loadError, sizeof(loadError), "bad model metadata: %s", err);
    return;
  }
  const char *model = getString(&root, "model");
  const JsonValue *dims = getArray(&root, "dims");
  const JsonValue *weights = getArray(&root, "weights");
  const JsonValue *entries = getArray(&root, "entries");
  const JsonValue *abi = seqrt_json_get(&root, "abi");
  const char *target = getString(&root, "target");
  if (!model || !dims || !weights || !entries || !abi ||
      abi->kind != JSON_INT) {
    snprintf(loadError, sizeof(loadError), "bad model metadata");
    return;
  }
  if (abi->integer != SEQRT_ABI_VERSION) {
    snprintf(loadError, sizeof(loadError),
             "model '%s' was compiled for runtime ABI %lld, this runtime "
             "speaks %d",
             model, (long long)abi->integer, SEQRT_ABI_VERSION);
    return;
  }
  if (entries->count > MAX_ENTRIES) {
    snprintf(loadError, sizeof(loadError),
             "model '%s' has %d entries; the runtime handles %d", model,
             entries->count, MAX_ENTRIES);
    return;
  }
  if (target && strcmp(target, "cpu") && strcmp(target, "cuda")) {
    snprintf(loadError, sizeof(loadError),
             "model '%s' was compiled for target '%s', which this runtime "
             "does not run",
             model, target);
    return;
  }
  library.abi_version = SEQRT_ABI_VERSION;
  library.device_type = target && !strcmp(target, "cuda") ? kDLCUDA : kDLCPU;
  library.model_name = model;
  library.n_dims = dims->count;
  const char **names = calloc((size_t)(dims->count + 1), sizeof(char *));
  if (!names)
    goto bad;
  for (int k = 0; k < dims->count; ++k)
    if (!(names[k] = dims->items[k].string))
      goto bad;
  library.dim_names = names;
  library.weights =
      parseArgs(weights, SEQRT_ARG_WEIGHT, "shape", &library.n_weights);
  if (!library.weights)
    goto bad;
  seqrt_entry_desc *descs =
      calloc((size_t)(entries->count + 1), sizeof(*descs));
  if (!descs)
    goto bad;
  for (int e = 0; e < entries->count; ++e) {
    const JsonValue *o = &entries->items[e];
    const JsonValue *ws = getArray(o, "weights");
    descs[e].name = getString(o, "name");
    descs[e].inputs = parseArgs(getArray(o, "inputs"), SEQRT_ARG_INPUT,
                                "dims", &descs[e].n_inputs);
    descs[e].outputs = parseArgs(getArray(o, "outputs"), SEQRT_ARG_OUTPUT,
                                 "dims", &descs[e].n_outputs);
    descs[e].fn = trampolines[e];
    if (!descs[e].name || !descs[e].inputs || !descs[e].outputs || !ws)
      goto bad;
    const JsonValue *stepOf = seqrt_json_get(o, "step_of");
    if (stepOf) {
      const JsonValue *timeDim = seqrt_json_get(o, "time_dim");
      if (stepOf->kind != JSON_INT || stepOf->integer < 0 ||
          stepOf->integer >= e || !timeDim || timeDim->kind != JSON_INT ||
          timeDim->integer < 0 || timeDim->integer >= dims->count)
        goto bad;
      descs[e].step_of = descs[stepOf->integer].name;
      descs[e].time_dim = (int)timeDim->integer;
      descs[e].states = parseArgs(getArray(o, "states"), SEQRT_ARG_STATE,
                                  "dims", &descs[e].n_states);
      descs[e].step = stepTrampolines[e];
      if (!descs[e].states)
        goto bad;
      library.state_create = seqrt_shim_state_create;
      library.state_destroy = seqrt_shim_state_destroy;
    }
    const JsonValue *checks = seqrt_json_get(o, "size_checks");
    if (checks && !validSizeChecks(checks, dims->count))
      goto bad;
    entryInfo[e].size_checks = checks;
    entryInfo[e].n_weights = ws->count;
    entryInfo[e].weights = calloc((size_t)(ws->count + 1), sizeof(int));
    if (!entryInfo[e].weights)
      goto bad;
    for (int i = 0; i < ws->count; ++i) {
      if (ws->items[i].kind != JSON_INT || ws->items[i].integer < 0 ||
          ws->items[i].integer >= library.n_weights)
        goto bad;
      entryInfo[e].weights[i] = (int)ws->items[i].integer;
    }
  }
  library.n_entries = entries->count;
  library.entries = descs;
  library.create = seqrt_shim_create;
  library.destroy = seqrt_shim_destroy;
  library.set_stream = seqrt_shim_set_stream;
  library.last_error = seqrt_last_error;
  loaded = 1;
  return;
bad:
  snprintf(loadError, sizeof(loadError), "bad model metadata");
}

SEQRT_API const seqrt_library_desc *seqrt_library(void) {
  pthread_once(&once, load);
  if (!loaded) {
    seqrt_set_error(SEQRT_ERR_INTERNAL, "%s", loadError);
    return NULL;
  }
  return &library;
}

/*===------------------------------- Models -------------------------------===*/

void seqrt_shim_destroy(seqrt_model *m) {
  if (!m)
    return;
  if (m->device.device_type == kDLCUDA) {
    for (int i = 0; i < library.n_weights; ++i)
      seqrt_device_free(m->device, (void *)(uintptr_t)m->data[i]);
    seqrt_cuda_stream_destroy(m->stream);
  }
  seqrt_weights_close(m->weights);
  free(m->data);
  free(m);
  modelsChanged(-1);
}

seqrt_status seqrt_shim_set_stream(seqrt_model *m, void *stream) {
  if (!m)
    return seqrt_set_error(SEQRT_ERR_INVALID_ARGUMENT,
                           "set_stream: the model is null");
  if (m->device.device_type != kDLCUDA && stream)
    return seqrt_set_error(SEQRT_ERR_UNSUPPORTED,
                           "set_stream: model '%s' runs on the CPU",
                           library.model_name);
  m->callerStream = stream;
  return SEQRT_OK;
}

seqrt_status seqrt_shim_create(const char *path, DLDevice device,
                               seqrt_model **out) {
  if (!out)
    return seqrt_set_error(SEQRT_ERR_INVALID_ARGUMENT,
                           "create: out (the model pointer) is null");
  *out = NULL;
  if (!seqrt_library())
    return SEQRT_ERR_INTERNAL;
  if (device.device_type != library.device_type)
    return seqrt_set_error(
        SEQRT_ERR_DEVICE,
        "create: device is %s:%d, but model '%s' was compiled for %s",
        seqrt_device_name(device.device_type), device.device_id,
        library.model_name,
        library.device_type == kDLCPU ? "the cpu only"
                                      : "cuda (seqc --target=cuda)");
  if (device.device_type == kDLCUDA) {
    seqrt_status s = seqrt_cuda_init(device.device_id);
    if (s == SEQRT_OK)
      s = seqrt_cuda_load_modules();
    if (s != SEQRT_OK)
      return s;
  }
  if (!path && library.n_weights > 0)
    return seqrt_set_error(SEQRT_ERR_WEIGHT,
                           "create: weights is null, but model '%s' has %d "
                           "weight%s: pass a .safetensors file",
                           library.model_name, library.n_weights,
                           library.n_weights == 1 ? "" : "s");
  seqrt_model *m = calloc(1, sizeof(*m));
  if (!m)
    return seqrt_set_error(SEQRT_ERR_OUT_OF_MEMORY, "out of memory");
  m->data = calloc((size_t)(library.n_weights + 1), sizeof(void *));
  if (!m->data) {
    free(m);
    return seqrt_set_error(SEQRT_ERR_OUT_OF_MEMORY, "out of memory");
  }
  modelsChanged(+1);
  m->device = device;
  seqrt_status s = SEQRT_OK;
  if (device.device_type == kDLCUDA)
    s = seqrt_cuda_stream_create(&m->stream);
  if (path && s == SEQRT_OK)
    s = seqrt_weights_open(path, &m->weights);
  for (int i = 0; i < library.n_weights && s == SEQRT_OK; ++i) {
    const seqrt_arg_desc *d = &library.weights[i];
    const void *host = NULL;
    s = seqrt_weights_get(m->weights, d->name, d->dtype, d->rank, d->dims,
                          &host);
    if (s != SEQRT_OK || device.device_type == kDLCPU) {
      m->data[i] = host;
      continue;
    }
    /* A CUDA model's weights are copied to the device once, here. */
    size_t bytes = seqrt_dtype_bytes(d->dtype);
    for (int j = 0; j < d->rank; ++j)
      bytes *= (size_t)d->dims[j];
    void *p = NULL;
    DLDevice cpu = {kDLCPU, 0};
    s = seqrt_device_alloc(device, bytes, &p);
    if (s == SEQRT_OK) {
      m->data[i] = p;
      s = seqrt_device_copy(p, device, host, cpu, bytes);
    }
  }
  if (s != SEQRT_OK) {
    seqrt_shim_destroy(m);
    return s;
  }
  *out = m;
  return SEQRT_OK;
}

/*===------------------------------- Entries ------------------------------===*/

/* Writes a compact row-major descriptor of `data` with `sizes` at d. */
static void fillDescriptor(int64_t *d, const void *data, int rank,
                           const int64_t *sizes) {
  void *p = (void *)(uintptr_t)data;
  memcpy(&d[0], &p, sizeof(void *));
  memcpy(&d[1], &p, sizeof(void *));
  d[2] = 0;
  int64_t stride = 1;
  for (int i = rank - 1; i >= 0; --i) {
    d[3 + i] = sizes[i];
    d[3 + rank + i] = stride;
    stride *= sizes[i];
  }
}

/* Copies a strided source into a compact destination, dims [i, rank). */
static void copyStrided(char *dst, const char *src, int rank,
                        const int64_t *sizes, const int64_t *srcStrides,
                        const int64_t *dstStrides, size_t elem) {
  if (rank == 0) {
    memcpy(dst, src, elem);
    return;
  }
  if (rank == 1) {
    if (srcStrides[0] == 1 && dstStrides[0] == 1) {
      memcpy(dst, src, (size_t)sizes[0] * elem);
      return;
    }
    for (int64_t i = 0; i < sizes[0]; ++i)
      memcpy(dst + (size_t)(i * dstStrides[0]) * elem,
             src + (size_t)(i * srcStrides[0]) * elem, elem);
    return;
  }
  for (int64_t i = 0; i < sizes[0]; ++i)
    copyStrided(dst + (size_t)(i * dstStrides[0]) * elem,
                src + (size_t)(i * srcStrides[0]) * elem, rank - 1, sizes + 1,
                srcStrides + 1, dstStrides + 1, elem);
}

static int64_t *newDescriptor(int rank) {
  return calloc((size_t)(3 + 2 * rank), sizeof(int64_t));
}

/* Whether the callee's buffer `allocated` is its own to give away: not a
 * constant global (0xdeadbeef), a weight, an input, an output or a state
 * passed in, or a buffer already taken (`taken`, n of them). */
static int ownedByCallee(void *allocated, const seqrt_model *m,
                         const EntryInfo *info, const seqrt_entry_desc *e,
                         const DLTensor *const *in, DLTensor *const *out,
                         const seqrt_state *state, void *const *taken,
                         int nTaken) {
  if (!allocated || allocated == (void *)0xdeadbeef)
    return 0;
  for (int j = 0; j < info->n_weights; ++j)
    if (allocated == m->data[info->weights[j]])
      return 0;
  for (int j = 0; j < e->n_inputs; ++j)
    if (allocated == seqrt_tensor_data(in[j]))
      return 0;
  for (int j = 0; j < e->n_outputs; ++j)
    if (allocated == seqrt_tensor_data(out[j]))
      return 0;
  for (int j = 0; state && j < state->n; ++j)
    if (allocated == state->block[j] || allocated == state->data[j])
      return 0;
  for (int j = 0; j < nTaken; ++j)
    if (allocated == taken[j])
      return 0;
  return 1;
}

/* Keeps result `r` (a rank-`rank` descriptor) as state slot i: the block
 * itself when the callee owns it and it is compact, else a copy. */
/* Frees a state's block: the runtime allocator's, or device memory for a
 * CUDA model. */
static void stateFree(const seqrt_state *state, void *block) {
  if (state->device.device_type == kDLCUDA)
    seqrt_device_free(state->device, block);
  else
    blockFree(block);
}

static seqrt_status keepState(seqrt_state *state, int i, const int64_t *r,
                              int rank, size_t elem, int owned) {
  const seqrt_model *m = state->model;
  void *allocated, *aligned;
  memcpy(&allocated, &r[0], sizeof(void *));
  memcpy(&aligned, &r[1], sizeof(void *));
  const int64_t *sizes = &r[3], *strides = &r[3 + rank];
  int64_t numel = 1, stride = 1;
  int compact = 1;
  for (int j = rank - 1; j >= 0; --j) {
    if (sizes[j] != 1 && strides[j] != stride)
      compact = 0;
    stride *= sizes[j];
    numel *= sizes[j];
  }
  int64_t *kept = calloc((size_t)(rank ? rank : 1), sizeof(int64_t));
  if (!kept)
    return seqrt_set_error(SEQRT_ERR_OUT_OF_MEMORY, "out of memory");
  memcpy(kept, sizes, (size_t)rank * sizeof(int64_t));
  void *block, *data;
  if (owned && compact) {
    block = allocated;
    data = (char *)aligned + (size_t)r[2] * elem;
  } else if (m->device.device_type == kDLCUDA) {
    /* A device copy; the generated code returns compact states. */
    size_t bytes = (size_t)numel * elem;
    seqrt_status s = SEQRT_OK;
    block = data = NULL;
    if (!compact)
      s = seqrt_set_error(SEQRT_ERR_UNSUPPORTED,
                          "state %d is not contiguous: not supported on cuda",
                          i);
    if (s == SEQRT_OK)
      s = seqrt_device_alloc(m->device, bytes, &block);
    if (s == SEQRT_OK)
      s = seqrt_device_copy(block, m->device,
                            (const char *)aligned + (size_t)r[2] * elem,
                            m->device, bytes);
    if (s != SEQRT_OK) {
      seqrt_device_free(m->device, block);
      free(kept);
      return s;
    }
    data = block;
    if (owned)
      stateFree(state, allocated);
  } else {
    block = data = blockAlloc(SEQRT_ALIGNMENT, (size_t)numel * elem);
    if (!block) {
      free(kept);
      return seqrt_set_error(SEQRT_ERR_OUT_OF_MEMORY,
                             "out of memory for a state of %lld bytes",
                             (long long)((size_t)numel * elem));
    }
    if (numel > 0) {
      int64_t dst[64];
      int64_t st = 1;
      for (int j = rank - 1; j >= 0; --j) {
        dst[j] = st;
        st *= sizes[j];
      }
      copyStrided(data, (const char *)aligned + (size_t)r[2] * elem, rank,
                  sizes, strides, dst, elem);
    }
    if (owned)
      blockFree(allocated);
  }
  state->block[i] = block;
  state->data[i] = data;
  free(state->sizes[i]);
  state->sizes[i] = kept;
  return SEQRT_OK;
}

/* The bytes [begin, end) of tensor t with `elem`-byte elements. */
static void byteRange(const DLTensor *t, size_t elem, uintptr_t *begin,
                      uintptr_t *end) {
  *begin = (uintptr_t)seqrt_tensor_data(t);
  *end = *begin + (size_t)seqrt_tensor_numel(t) * elem;
}

/* Whether output i shares bytes with an input or another output. */
static int overlapsOthers(int i, const seqrt_entry_desc *e,
                          const DLTensor *const *in, DLTensor *const *out) {
  uintptr_t b, end, ob, oend;
  byteRange(out[i], seqrt_dtype_bytes(e->outputs[i].dtype), &b, &end);
  for (int j = 0; j < e->n_inputs; ++j) {
    byteRange(in[j], seqrt_dtype_bytes(e->inputs[j].dtype), &ob, &oend);
    if (ob < end && b < oend)
      return 1;
  }
  for (int j = 0; j < e->n_outputs; ++j) {
    if (j == i)
      continue;
    byteRange(out[j], seqrt_dtype_bytes(e->outputs[j].dtype), &ob, &oend);
    if (ob < end && b < oend)
      return 1;
  }
  return 0;
}

/* Entry k on (in, out); for a step entry, from and into `state`. */
static seqrt_status invoke(int k, seqrt_model *m, seqrt_state *state,
                           const DLTensor *const *in, DLTensor *const *out) {
  if (!seqrt_library())
    return SEQRT_ERR_INTERNAL;
  const seqrt_entry_desc *e = &library.entries[k];
  const EntryInfo *info = &entryInfo[k];
  if (!m)
    return seqrt_set_error(SEQRT_ERR_INVALID_ARGUMENT,
                           "entry '%s': the model is null", e->name);
  if ((!in && e->n_inputs) || (!out && e->n_outputs))
    return seqrt_set_error(SEQRT_ERR_INVALID_ARGUMENT,
                           "entry '%s': null tensor array", e->name);
  int64_t dims[64];
  int nd = library.n_dims < 64 ? library.n_dims : 64;
  for (int i = 0; i < nd; ++i)
    dims[i] = -1;
  if (e->step_of) {
    if (!state)
      return seqrt_set_error(SEQRT_ERR_INVALID_ARGUMENT,
                             "entry '%s': the state is null", e->name);
    if (state->model != m)
      return seqrt_set_error(SEQRT_ERR_INVALID_ARGUMENT,
                             "entry '%s': the state was made for another "
                             "model",
                             e->name);
    if (state->entry >= 0 && state->entry != k)
      return seqrt_set_error(SEQRT_ERR_INVALID_ARGUMENT,
                             "entry '%s': the state belongs to entry '%s'",
                             e->name, library.entries[state->entry].name);
    /* Later chunks keep the first one's dims, all but time. */
    if (state->position > 0)
      for (int i = 0; i < nd; ++i)
        dims[i] = i == e->time_dim ? -1 : state->dims[i];
  }
  seqrt_status s = seqrt_check_args_on(m->device, e->inputs, in, e->n_inputs,
                                       dims, nd, library.dim_names);
  if (s == SEQRT_OK)
    s = seqrt_check_args_on(m->device, e->outputs,
                            (const DLTensor *const *)out, e->n_outputs, dims,
                            nd, library.dim_names);
  if (s != SEQRT_OK)
    return s;
  int64_t chunk = e->step_of ? dims[e->time_dim] : 0;
  if (e->step_of && chunk <= 0)
    return SEQRT_OK; /* no tokens: nothing to do, nothing changes */
  if ((s = checkSizes(e, info, dims)) != SEQRT_OK)
    return s;

  /* The packed arguments: a pointer to the results when there are any (a
   * step's new states), the weights, the inputs, the position and the
   * states of a step, then the outputs, which the generated code writes
   * in place (seq-destination-outputs). */
  int nStates = e->step_of ? e->n_states : 0;
  int lead = nStates > 0 ? 1 : 0;
  int nArgs = lead + info->n_weights + e->n_inputs +
              (e->step_of ? 1 + nStates : 0) + e->n_outputs;
  void **args = calloc((size_t)nArgs, sizeof(void *));
  size_t resultWords = 0;
  for (int i = 0; i < nStates; ++i)
    resultWords += 3 + 2 * (size_t)e->states[i].rank;
  int64_t *results = calloc(resultWords + 1, sizeof(int64_t));
  /* Outputs that overlap an input or another output are written to a
   * block of ours first: the generated code assumes they alias nothing. */
  void **scratch = calloc((size_t)e->n_outputs + 1, sizeof(void *));
  int ok = args && results && scratch;
  int a = lead;
  for (int i = 0; ok && i < info->n_weights; ++i) {
    const seqrt_arg_desc *w = &library.weights[info->weights[i]];
    int64_t *d = newDescriptor(w->rank);
    if (!(ok = d != NULL))
      break;
    fillDescriptor(d, m->data[info->weights[i]], w->rank, w->dims);
    args[a++] = d;
  }
  for (int i = 0; ok && i < e->n_inputs; ++i) {
    int64_t *d = newDescriptor(in[i]->ndim);
    if (!(ok = d != NULL))
      break;
    fillDescriptor(d, seqrt_tensor_data(in[i]), in[i]->ndim, in[i]->shape);
    args[a++] = d;
  }
  /* The position, then each state: empty before the first chunk (the
   * generated code reads its own initial values then). */
  static const int64_t noSizes[64];
  static int64_t emptyState[8] __attribute__((aligned(64)));
  if (ok && e->step_of) {
    int64_t *d = newDescriptor(0);
    if ((ok = d != NULL)) {
      fillDescriptor(d, &state->position, 0, NULL);
      args[a++] = d;
    }
    for (int i = 0; ok && i < nStates; ++i) {
      int rank = e->states[i].rank;
      int64_t *sd = newDescriptor(rank);
      if (!(ok = sd != NULL))
        break;
      if (state->position == 0)
        fillDescriptor(sd, emptyState, rank, noSizes);
      else
        fillDescriptor(sd, state->data[i], rank, state->sizes[i]);
      args[a++] = sd;
    }
  }
  for (int i = 0; ok && i < e->n_outputs; ++i) {
    int64_t *d = newDescriptor(out[i]->ndim);
    if (!(ok = d != NULL))
      break;
    void *data = seqrt_tensor_data(out[i]);
    size_t bytes = (size_t)seqrt_tensor_numel(out[i]) *
                   seqrt_dtype_bytes(e->outputs[i].dtype);
    if (bytes > 0 && overlapsOthers(i, e, in, out)) {
      if (m->device.device_type == kDLCUDA) {
        if ((s = seqrt_device_alloc(m->device, bytes, &scratch[i])) !=
            SEQRT_OK)
          goto done;
        data = scratch[i];
      } else if (!(ok = (data = scratch[i] = blockAlloc(SEQRT_ALIGNMENT,
                                                         bytes)) != NULL)) {
        break;
      }
    }
    fillDescriptor(d, data, out[i]->ndim, out[i]->shape);
    args[a++] = d;
  }
  if (!ok) {
    s = seqrt_set_error(SEQRT_ERR_OUT_OF_MEMORY, "out of memory");
    goto done;
  }
  if (lead)
    args[0] = results;
  if (m->device.device_type == kDLCUDA) {
    /* The kernels queue on the model's stream, and the call waits for
     * them. On the caller's stream (set_stream) it returns once they are
     * queued, as a kernel of the caller's would, unless the host has work
     * after them: outputs to copy from scratch, states to keep. */
    int queued = m->callerStream && nStates == 0;
    for (int i = 0; i < e->n_outputs; ++i)
      queued = queued && !scratch[i];
    seqrt_cuda_begin(m->callerStream ? m->callerStream : m->stream);
    seq_entry_table[k](args);
    if ((s = seqrt_cuda_end(e->name, !queued)) != SEQRT_OK)
      goto done;
  } else {
    seq_entry_table[k](args);
  }

  /* Outputs written to scratch go to the caller's tensors; the new states
   * are kept (the callee's own blocks, else copies), the old ones freed. */
  for (int i = 0; i < e->n_outputs && s == SEQRT_OK; ++i)
    if (scratch[i])
      s = seqrt_device_copy(seqrt_tensor_data(out[i]), m->device, scratch[i],
                            m->device,
                            (size_t)seqrt_tensor_numel(out[i]) *
                                seqrt_dtype_bytes(e->outputs[i].dtype));
  {
    int64_t *r = results;
    void *taken[64];
    int nTaken = 0;
    void *old[64];
    int nOld = 0;
    for (int i = 0; i < nStates && s == SEQRT_OK; ++i) {
      int rank = e->states[i].rank;
      void *allocated;
      memcpy(&allocated, &r[0], sizeof(void *));
      int owned = ownedByCallee(allocated, m, info, e, in, out, state, taken,
                                nTaken);
      if (state->block[i] && nOld < 64)
        old[nOld++] = state->block[i];
      s = keepState(state, i, r, rank, seqrt_dtype_bytes(e->states[i].dtype),
                    owned);
      if (owned && nTaken < 64)
        taken[nTaken++] = allocated;
      r += 3 + 2 * rank;
    }
    for (int i = 0; i < nOld; ++i) {
      int kept = 0;
      for (int j = 0; j < nStates; ++j)
        kept |= state->block[j] == old[i];
      if (!kept)
        stateFree(state, old[i]);
    }
    if (s == SEQRT_OK && e->step_of) {
      state->entry = k;
      state->position += chunk;
      for (int i = 0; i < nd; ++i)
        state->dims[i] = dims[i];
    }
  }
done:
  for (int i = 0; scratch && i < e->n_outputs; ++i)
    if (scratch[i] && m->device.device_type == kDLCUDA)
      seqrt_device_free(m->device, scratch[i]);
    else if (scratch[i])
      blockFree(scratch[i]);
  free(scratch);
  if (args)
    for (int i = lead; i < nArgs; ++i)
      free(args[i]);
  free(args);
  free(results);
  return s;
}

seqrt_status seqrt_shim_call(int k, seqrt_model *m, const DLTensor *const *in,
                             DLTensor *const *out) {
  if (seqrt_library() && library.entries[k].step_of)
    return seqrt_set_error(SEQRT_ERR_INVALID_ARGUMENT,
                           "entry '%s' continues from a state: call it "
                           "through the descriptor's step (or its named C "
                           "function) with one from state_create",
                           library.entries[k].name);
  return invoke(k, m, NULL, in, out);
}

seqrt_status seqrt_shim_step(int k, seqrt_model *m, seqrt_state *state,
                             const DLTensor *const *in, DLTensor *const *out) {
  return invoke(k, m, state, in, out);
}

/*===------------------------------- States -------------------------------===*/

seqrt_status seqrt_shim_state_create(seqrt_model *m, seqrt_state **out) {
  if (!out)
    return seqrt_set_error(SEQRT_ERR_INVALID_ARGUMENT,
                           "state_create: out (the state pointer) is null");
  *out = NULL;
  if (!seqrt_library())
    return SEQRT_ERR_INTERNAL;
  if (!m)
    return seqrt_set_error(SEQRT_ERR_INVALID_ARGUMENT,
                           "state_create: the model is null");
  int n = 0;
  for (int k = 0; k < library.n_entries; ++k)
    if (library.entries[k].n_states > n)
      n = library.entries[k].n_states;
  seqrt_state *st = calloc(1, sizeof(*st));
  if (st) {
    st->block = calloc((size_t)n + 1, sizeof(void *));
    st->data = calloc((size_t)n + 1, sizeof(void *));
    st->sizes = calloc((size_t)n + 1, sizeof(int64_t *));
  }
  if (!st || !st->block || !st->data || !st->sizes) {
    seqrt_shim_state_destroy(st);
    return seqrt_set_error(SEQRT_ERR_OUT_OF_MEMORY, "out of memory");
  }
  st->model = m;
  st->device = m->device;
  st->entry = -1;
  st->n = n;
  *out = st;
  return SEQRT_OK;
}

void seqrt_shim_state_destroy(seqrt_state *st) {
  if (!st)
    return;
  for (int i = 0; i < st->n; ++i) {
    if (st->block)
      stateFree(st, st->block[i]);
    if (st->sizes)
      free(st->sizes[i]);
  }
  free(st->block);
  free(st->data);
  free(st->sizes);
  free(st);
}

/*===------------------------------ memrefCopy ----------------------------===*/

/* MLIR's runtime helper for memref.copy between non-contiguous memrefs. */
typedef struct UnrankedMemRef {
  int64_t rank;
  void *descriptor;
} UnrankedMemRef;

void memrefCopy(int64_t elemSize, UnrankedMemRef *src, UnrankedMemRef *dst);
void memrefCopy(int64_t elemSize, UnrankedMemRef *src, UnrankedMemRef *dst) {
  int rank = (int)src->rank;
  const int64_t *s = src->descriptor, *d = dst->descriptor;
  char *sp, *dp;
  memcpy(&sp, &s[1], sizeof(void *));
  memcpy(&dp, &d[1], sizeof(void *));
  sp += (size_t)s[2] * (size_t)elemSize;
  dp += (size_t)d[2] * (size_t)elemSize;
  for (int i = 0; i < rank; ++i)
    if (s[3 + i] == 0)
      return;
  copyStrided(dp, sp, rank, &s[3], &s[3 + rank], &d[3 + rank],
              (size_t)elemSize);
}
