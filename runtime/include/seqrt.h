/*===- seqrt.h - The seqc runtime: the only public ABI ------------*- C -*-===//
 *
 * Libraries that seqc generates call into this runtime, and programs that
 * load those libraries (seqrt-run, Python bindings, user code) include this
 * header. It is plain C11 and depends only on DLPack: tensors cross the
 * boundary as `DLTensor`, so NumPy, PyTorch, JAX and CuPy buffers pass
 * without copies. No function here aborts the process: each failure returns
 * a status and leaves a message for `seqrt_last_error()` on the calling
 * thread. docs/runtime.md describes the ABI in full.
 *
 *===----------------------------------------------------------------------===*/

#ifndef SEQRT_H
#define SEQRT_H

#include <dlpack/dlpack.h>

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define SEQRT_API __attribute__((visibility("default")))
#define SEQRT_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define SEQRT_API
#define SEQRT_PRINTF(fmt, args)
#endif

/* Bumped whenever a struct below changes layout or meaning. */
#define SEQRT_ABI_VERSION 3

/*===-------------------------- Status and errors -------------------------===*/

typedef enum seqrt_status {
  SEQRT_OK = 0,
  SEQRT_ERR_INVALID_ARGUMENT, /* a null pointer, a bad flag, a bad value */
  SEQRT_ERR_SHAPE,            /* rank, size, strides or dims disagree */
  SEQRT_ERR_DTYPE,            /* element type differs from the declared one */
  SEQRT_ERR_DEVICE,           /* tensor on a device the entry does not run on */
  SEQRT_ERR_IO,               /* a file cannot be opened, read or written */
  SEQRT_ERR_WEIGHT,           /* a weight is missing, mis-shaped or corrupt */
  SEQRT_ERR_OUT_OF_MEMORY,
  SEQRT_ERR_UNSUPPORTED, /* a format feature or dtype not handled */
  SEQRT_ERR_INTERNAL,
  SEQRT_ERR_CUDA /* no CUDA driver, or a CUDA call failed (named) */
} seqrt_status;

/* The message of the last failure on the calling thread ("" if none). The
 * pointer stays valid until the next runtime call on this thread. */
SEQRT_API const char *seqrt_last_error(void);

/* "SEQRT_OK", "SEQRT_ERR_SHAPE", ...; "SEQRT_ERR_UNKNOWN" otherwise. */
SEQRT_API const char *seqrt_status_name(seqrt_status status);

/* Records a printf-style message for seqrt_last_error() and returns
 * `status`, so that failures read `return seqrt_set_error(...)`. For the
 * runtime itself and for generated code. */
SEQRT_API seqrt_status seqrt_set_error(seqrt_status status, const char *fmt,
                                       ...) SEQRT_PRINTF(2, 3);

/* Clears the calling thread's message. */
SEQRT_API void seqrt_clear_error(void);

/*===------------------------------- Dtypes -------------------------------===*/

/* DLPack 0.6 (Debian's libdlpack-dev) has no kDLBool; later versions give it
 * the value 6. seqc's bool is {SEQRT_DL_BOOL, 8, 1}: one byte, 0 or 1. */
#define SEQRT_DL_BOOL 6

static inline DLDataType seqrt_dtype(uint8_t code, uint8_t bits) {
  DLDataType t;
  t.code = code;
  t.bits = bits;
  t.lanes = 1;
  return t;
}

static inline int seqrt_dtype_equal(DLDataType a, DLDataType b) {
  return a.code == b.code && a.bits == b.bits && a.lanes == b.lanes;
}

/* Bytes per element (bits rounded up to bytes, times lanes). */
static inline size_t seqrt_dtype_bytes(DLDataType t) {
  return (size_t)((t.bits + 7) / 8) * (t.lanes ? t.lanes : 1);
}

/* "f32", "f16", "bf16", "f64", "i8".."i64", "u8".."u64", "bool";
 * "unknown" for anything else. */
SEQRT_API const char *seqrt_dtype_name(DLDataType t);

/*===------------------------------- Tensors ------------------------------===*/

/* Where the elements start: data + byte_offset. */
static inline void *seqrt_tensor_data(const DLTensor *t) {
  return (void *)((char *)t->data + t->byte_offset);
}

/* Number of elements (1 for rank 0). */
static inline int64_t seqrt_tensor_numel(const DLTensor *t) {
  int64_t n = 1;
  for (int i = 0; i < t->ndim; ++i)
    n *= t->shape[i];
  return n;
}

/*===------------------------- Argument signatures ------------------------===*/

/* A dimension of a declared argument is either a constant size (>= 0) or a
 * runtime dim symbol, encoded as SEQRT_DIM_SYM(k) = -(k + 1), where k indexes
 * the entry's (or library's) dim_names / dim_values. */
#define SEQRT_DIM_SYM(k) (-(int64_t)(k)-1)
#define SEQRT_DIM_IS_SYM(d) ((d) < 0)
#define SEQRT_DIM_SYM_INDEX(d) ((int)(-(d)-1))

/* What an argument is, for messages: "input 'x': ...". */
typedef enum seqrt_arg_kind {
  SEQRT_ARG_INPUT = 0,
  SEQRT_ARG_OUTPUT,
  SEQRT_ARG_WEIGHT,
  SEQRT_ARG_STATE
} seqrt_arg_kind;

typedef struct seqrt_arg_desc {
  const char *name;
  seqrt_arg_kind kind;
  DLDataType dtype;
  int rank;
  const int64_t *dims; /* `rank` entries (NULL when rank is 0) */
} seqrt_arg_desc;

/* Checks `tensors[i]` against `descs[i]` for i in [0, n), in order: tensor
 * not NULL, device kDLCPU, dtype, rank, sizes (a dim symbol k binds
 * dim_values[k] on first sight when it is negative on entry, then every
 * later use must agree), strides (NULL or compact row-major; size-1 dims may
 * have any stride), data not NULL unless the tensor is empty, and data +
 * byte_offset aligned to the element size. dim_values has n_dims entries:
 * set those not yet known to -1 before the first call; bound values are left
 * there (check the inputs, then the outputs, with the same array). dim_names
 * (n_dims entries) name the symbols in messages; it may be NULL.
 * Never aborts; on failure the message names the argument. */
SEQRT_API seqrt_status seqrt_check_args(const seqrt_arg_desc *descs,
                                        const DLTensor *const *tensors, int n,
                                        int64_t *dim_values, int n_dims,
                                        const char *const *dim_names);

/* The same for tensors on `device`: a cuda device wants tensors of that
 * device_type and device_id. */
SEQRT_API seqrt_status seqrt_check_args_on(DLDevice device,
                                           const seqrt_arg_desc *descs,
                                           const DLTensor *const *tensors,
                                           int n, int64_t *dim_values,
                                           int n_dims,
                                           const char *const *dim_names);

/*===----------------------------- Thread pool ----------------------------===*/

/* (Re)creates the pool with `n` threads, the caller included; n <= 0 means
 * SEQRT_NUM_THREADS or else the number of online cores. Must not run while
 * another thread is inside seqrt_parallel_for. The pool is otherwise created
 * on first use. */
SEQRT_API seqrt_status seqrt_init_threads(int n);

/* Threads the pool runs work on, the caller included (>= 1). */
SEQRT_API int seqrt_num_threads(void);

/* Calls fn(ctx, begin, end) over contiguous chunks that cover [0, n) once
 * each, and returns when all have run. Runs inline when n <= 1 or the pool
 * has one thread. Safe to call from several threads at once and from inside
 * `fn` (nested calls): the caller always works on its own chunks. */
SEQRT_API void seqrt_parallel_for(int64_t n,
                                  void (*fn)(void *ctx, int64_t begin,
                                             int64_t end),
                                  void *ctx);

/*===------------------------------ Allocation ----------------------------===*/

#define SEQRT_ALIGNMENT 64

/* `bytes` (rounded up to SEQRT_ALIGNMENT; 0 gives a valid unique pointer)
 * aligned to SEQRT_ALIGNMENT, or NULL with SEQRT_ERR_OUT_OF_MEMORY set. */
SEQRT_API void *seqrt_alloc(size_t bytes);
SEQRT_API void seqrt_free(void *p);

/*===------------------------------- Devices ------------------------------===*/

/* Memory on `device` for tools and tests (seqrt-run, the Python module):
 * on the cpu, seqrt_alloc; on cuda, device memory through the CUDA driver,
 * which the runtime loads (dlopen libcuda.so.1) on first use. A machine
 * without the driver gets SEQRT_ERR_CUDA and a message saying so. */
SEQRT_API seqrt_status seqrt_device_alloc(DLDevice device, size_t bytes,
                                          void **out);
SEQRT_API void seqrt_device_free(DLDevice device, void *p);

/* Copies `bytes` from src on `from` to dst on `to` (any of cpu and cuda),
 * and waits for the copy. */
SEQRT_API seqrt_status seqrt_device_copy(void *dst, DLDevice to,
                                         const void *src, DLDevice from,
                                         size_t bytes);

/*===------------------------------- Weights ------------------------------===*/

/* A .safetensors file, memory-mapped. */
typedef struct seqrt_weights seqrt_weights;

/* Maps `path` and validates its header: length, JSON, every dtype, shape and
 * data_offsets (in range, matching the shape). */
SEQRT_API seqrt_status seqrt_weights_open(const char *path,
                                          seqrt_weights **out);

/* Finds `name`, checks its dtype and shape (rank entries) exactly, and sets
 * *data to its elements, aligned to the element size, valid until
 * seqrt_weights_close. */
SEQRT_API seqrt_status seqrt_weights_get(const seqrt_weights *w,
                                         const char *name, DLDataType dtype,
                                         int rank, const int64_t *shape,
                                         const void **data);

/* Tensors in the file, in header order, for tools: name, dtype and shape
 * (valid until close) of tensor i in [0, seqrt_weights_count). */
SEQRT_API int seqrt_weights_count(const seqrt_weights *w);
SEQRT_API seqrt_status seqrt_weights_info(const seqrt_weights *w, int i,
                                          const char **name, DLDataType *dtype,
                                          int *rank, const int64_t **shape);

SEQRT_API void seqrt_weights_close(seqrt_weights *w);

/*===-------------------------------- .npy --------------------------------===*/

/* Reads a NumPy .npy file (versions 1-3, C order, little-endian f16 f32 f64
 * i32 i64 or bool) into `out`: a CPU tensor whose shape and data the caller
 * releases with seqrt_npy_free. */
SEQRT_API seqrt_status seqrt_npy_read(const char *path, DLTensor *out);

/* Writes a compact CPU tensor (f16 f32 f64 i32 i64 bool) as .npy v1. */
SEQRT_API seqrt_status seqrt_npy_write(const char *path, const DLTensor *t);

/* Frees what seqrt_npy_read allocated and clears the tensor. */
SEQRT_API void seqrt_npy_free(DLTensor *t);

/*===------------------------ The library descriptor ----------------------===*/

/* Opaque: defined by each generated library. */
typedef struct seqrt_model seqrt_model;
typedef struct seqrt_state seqrt_state;

/* One entry point (forward, forward_step, ...). Its argument descriptors
 * use the library's dim symbols. fn validates its arguments itself. */
typedef struct seqrt_entry_desc {
  const char *name;
  int n_inputs;
  const seqrt_arg_desc *inputs;
  int n_outputs;
  const seqrt_arg_desc *outputs;
  seqrt_status (*fn)(seqrt_model *, const DLTensor *const *inputs,
                     DLTensor *const *outputs);
  /* A step entry (`forward_step`) runs the entry named `step_of` on the next
   * chunk of tokens along the dim symbol `time_dim`, continuing from a
   * state (library_desc.state_create); its inputs and outputs are that
   * entry's. Call it through `step`: its `fn` fails. `step_of` is NULL for
   * other entries. `states` describe what the state holds (rank and dtype;
   * every dim -1: their sizes are what the last step left). */
  const char *step_of;
  int time_dim;
  int n_states;
  const seqrt_arg_desc *states;
  seqrt_status (*step)(seqrt_model *, seqrt_state *,
                       const DLTensor *const *inputs,
                       DLTensor *const *outputs);
} seqrt_entry_desc;

/* What a generated library exports, so that tools call it without its
 * header:  const seqrt_library_desc *seqrt_library(void);  */
typedef struct seqrt_library_desc {
  int abi_version; /* SEQRT_ABI_VERSION */
  const char *model_name;
  int n_dims;
  const char *const *dim_names;
  int n_weights;
  const seqrt_arg_desc *weights;
  int n_entries;
  const seqrt_entry_desc *entries;
  seqrt_status (*create)(const char *weights_path, DLDevice device,
                         seqrt_model **out);
  void (*destroy)(seqrt_model *);
  /* The library's own seqrt_last_error: a library that embeds
   * seqrt_static keeps its messages in its own copy of the runtime. */
  const char *(*last_error)(void);
  /* A state at position 0 for the step entries of model `m` (NULL when the
   * library has no step entry); one state serves one step entry. */
  seqrt_status (*state_create)(seqrt_model *m, seqrt_state **out);
  void (*state_destroy)(seqrt_state *);
  /* Where the library's code runs (kDLCPU or kDLCUDA, from seqc's
   * --target): create wants a device of this type, and every tensor must
   * live there. */
  DLDeviceType device_type;
  /* CUDA libraries: the calls of `m` run on the caller's `stream` (a
   * CUstream of the model's device, (void *)0x1 for the legacy default
   * stream), after the work the caller queued there; NULL: on the model's
   * own stream again. A call still returns once its work is done. CPU
   * libraries: SEQRT_ERR_UNSUPPORTED unless `stream` is NULL. */
  seqrt_status (*set_stream)(seqrt_model *m, void *stream);
} seqrt_library_desc;

/* The name generated libraries export the descriptor under. */
#define SEQRT_LIBRARY_SYMBOL "seqrt_library"
typedef const seqrt_library_desc *(*seqrt_library_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* SEQRT_H */
