/*===- Cuda.c - The runtime's CUDA side: the driver through dlopen -*- C -*-===*
 *
 * The runtime never links against CUDA: on first use it dlopens
 * libcuda.so.1 and looks up the driver functions of one X-macro table
 * (CUDA_DRIVER below), so a CPU-only machine runs CPU libraries with no CUDA
 * installed, and a CUDA library there fails with SEQRT_ERR_CUDA and a
 * message. It uses the device's primary context (the one the CUDA runtime,
 * PyTorch and JAX use, so their pointers are ours).
 *
 * Generated CUDA code (seqc --target=cuda; docs/gpu.md) is lowered by
 * MLIR's gpu-to-llvm, which calls the `mgpu*` functions below: this file
 * implements them on the driver table, the way a generated library wants
 * them:
 *   - mgpuModuleLoad / LoadJIT, called by the library's constructors when it
 *     is loaded, only record the image (a fatbin: cubin and PTX); the
 *     modules are loaded by seqrt_cuda_load_modules, at create;
 *   - mgpuStreamCreate returns the stream of the call in progress (the
 *     model's; seqrt_cuda_set_stream), and Destroy and Synchronize on it do
 *     nothing: the launches of one call queue on that stream, in order, and
 *     the shim waits once at the end of the call;
 *   - mgpuMemAlloc / Free allocate temporaries stream-ordered from the
 *     device's memory pool (cuMemAllocAsync), which keeps freed memory for
 *     the next call;
 *   - failures are kept (the first one, per thread) with the CUDA error's
 *     name and the kernel's, for seqrt_cuda_take_error after the call.
 *
 *===----------------------------------------------------------------------===*/

#include "Cuda.h"
#include "Internal.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The driver's types, as cuda.h spells them (not included: the runtime
 * builds where CUDA is not installed). */
typedef int CUresult;
typedef int CUdevice;
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUstream_st *CUstream;
typedef struct CUmemPoolHandle_st *CUmemoryPool;
typedef unsigned long long CUdeviceptr;

#define CUDA_SUCCESS 0
/* CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, and the shared memory a
 * launch may take without it. */
enum { kMaxDynamicSharedSizeBytes = 8, kStaticSharedBytes = 48 * 1024 };
#define CU_STREAM_DEFAULT 0
#define CU_MEMPOOL_ATTR_RELEASE_THRESHOLD 4

/* X(name, symbol, parameters): every driver function the runtime calls. */
#define CUDA_DRIVER(X)                                                         \
  X(cuInit, "cuInit", (unsigned flags))                                       \
  X(cuGetErrorName, "cuGetErrorName", (CUresult r, const char **name))        \
  X(cuDeviceGetCount, "cuDeviceGetCount", (int *count))                       \
  X(cuDeviceGet, "cuDeviceGet", (CUdevice * d, int ordinal))                  \
  X(cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain",                     \
    (CUcontext * c, CUdevice d))                                              \
  X(cuCtxSetCurrent, "cuCtxSetCurrent", (CUcontext c))                        \
  X(cuModuleLoadData, "cuModuleLoadData", (CUmodule * m, const void *image))  \
  X(cuModuleGetFunction, "cuModuleGetFunction",                               \
    (CUfunction * f, CUmodule m, const char *name))                           \
  X(cuLaunchKernel, "cuLaunchKernel",                                         \
    (CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,        \
     unsigned by, unsigned bz, unsigned smem, CUstream s, void **params,      \
     void **extra))                                                           \
  X(cuFuncSetAttribute, "cuFuncSetAttribute",                                 \
    (CUfunction f, int attribute, int value))                                 \
  X(cuStreamCreate, "cuStreamCreate", (CUstream * s, unsigned flags))         \
  X(cuStreamDestroy, "cuStreamDestroy_v2", (CUstream s))                      \
  X(cuStreamSynchronize, "cuStreamSynchronize", (CUstream s))                 \
  X(cuMemAllocAsync, "cuMemAllocAsync",                                       \
    (CUdeviceptr * p, size_t bytes, CUstream s))                              \
  X(cuMemFreeAsync, "cuMemFreeAsync", (CUdeviceptr p, CUstream s))            \
  X(cuMemcpyAsync, "cuMemcpyAsync",                                           \
    (CUdeviceptr dst, CUdeviceptr src, size_t bytes, CUstream s))             \
  X(cuMemsetD32Async, "cuMemsetD32Async",                                     \
    (CUdeviceptr p, unsigned v, size_t n, CUstream s))                        \
  X(cuMemsetD16Async, "cuMemsetD16Async",                                     \
    (CUdeviceptr p, unsigned short v, size_t n, CUstream s))                  \
  X(cuDeviceGetDefaultMemPool, "cuDeviceGetDefaultMemPool",                   \
    (CUmemoryPool * pool, CUdevice d))                                        \
  X(cuMemPoolSetAttribute, "cuMemPoolSetAttribute",                           \
    (CUmemoryPool pool, int attr, void *value))

#define DECLARE(name, symbol, params) CUresult (*name) params;
static struct {
  CUDA_DRIVER(DECLARE)
} cu;
#undef DECLARE

static pthread_once_t driverOnce = PTHREAD_ONCE_INIT;
static char driverError[256]; /* why the driver is unusable; "" if it is */
static CUcontext context;
static CUdevice device;
static CUstream copyStream; /* for seqrt_device_copy outside calls */

static const char *errorName(CUresult r) {
  const char *name = NULL;
  if (cu.cuGetErrorName)
    cu.cuGetErrorName(r, &name);
  return name ? name : "CUDA_ERROR_UNKNOWN";
}

/* dlopen, the table, cuInit, device 0's primary context. One device for
 * now: a process uses device_id 0 (docs/gpu.md). */
static void loadDriver(void) {
  void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    snprintf(driverError, sizeof(driverError),
             "no CUDA driver: cannot load libcuda.so.1 (%s)", dlerror());
    return;
  }
#define LOOKUP(name, symbol, params)                                           \
  *(void **)&cu.name = dlsym(lib, symbol);                                     \
  if (!cu.name) {                                                              \
    snprintf(driverError, sizeof(driverError),                                 \
             "the CUDA driver lacks %s: update the driver", symbol);           \
    return;                                                                    \
  }
  CUDA_DRIVER(LOOKUP)
#undef LOOKUP
  CUresult r;
  int count = 0;
  if ((r = cu.cuInit(0)) != CUDA_SUCCESS ||
      (r = cu.cuDeviceGetCount(&count)) != CUDA_SUCCESS || count == 0) {
    snprintf(driverError, sizeof(driverError),
             "no CUDA device: cuInit or cuDeviceGetCount failed (%s, %d "
             "devices)",
             r ? errorName(r) : "CUDA_SUCCESS", count);
    return;
  }
  if ((r = cu.cuDeviceGet(&device, 0)) != CUDA_SUCCESS ||
      (r = cu.cuDevicePrimaryCtxRetain(&context, device)) != CUDA_SUCCESS ||
      (r = cu.cuCtxSetCurrent(context)) != CUDA_SUCCESS ||
      (r = cu.cuStreamCreate(&copyStream, CU_STREAM_DEFAULT)) !=
          CUDA_SUCCESS) {
    snprintf(driverError, sizeof(driverError),
             "cannot set up CUDA device 0: %s", errorName(r));
    return;
  }
  /* Keep freed temporaries in the pool for the next call. */
  CUmemoryPool pool;
  if (cu.cuDeviceGetDefaultMemPool(&pool, device) == CUDA_SUCCESS) {
    unsigned long long keep = ~0ull;
    cu.cuMemPoolSetAttribute(pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &keep);
  }
}

seqrt_status seqrt_cuda_init(int deviceId) {
  pthread_once(&driverOnce, loadDriver);
  if (driverError[0])
    return seqrt_set_error(SEQRT_ERR_CUDA, "%s", driverError);
  if (deviceId != 0)
    return seqrt_set_error(SEQRT_ERR_DEVICE,
                           "cuda:%d: the runtime uses cuda:0 only so far",
                           deviceId);
  /* Each thread that calls in needs the context current. */
  CUresult r = cu.cuCtxSetCurrent(context);
  if (r != CUDA_SUCCESS)
    return seqrt_set_error(SEQRT_ERR_CUDA, "cuCtxSetCurrent: %s",
                           errorName(r));
  return SEQRT_OK;
}

/*===------------------------- Errors of a call ---------------------------===*/

static _Thread_local char callError[320];
static _Thread_local const char *lastKernel;
static _Thread_local CUstream currentStream;

static void fail(CUresult r, const char *what) {
  if (callError[0])
    return; /* the first failure is the one to report */
  snprintf(callError, sizeof(callError), "%s failed: %s%s%s%s", what,
           errorName(r), lastKernel ? " (kernel '" : "",
           lastKernel ? lastKernel : "", lastKernel ? "')" : "");
}

seqrt_status seqrt_cuda_take_error(const char *entry) {
  if (!callError[0])
    return SEQRT_OK;
  seqrt_status s = seqrt_set_error(SEQRT_ERR_CUDA, "entry '%s': %s", entry,
                                   callError);
  callError[0] = '\0';
  return s;
}

/*===----------------------------- Streams --------------------------------===*/

/* A model's stream is a blocking one: its work is ordered after what the
 * caller queued on the legacy default stream (PyTorch's, unless the caller
 * chose another), so a call reads its inputs only once they are written. A
 * non-blocking stream would race with the producer of the inputs. */
seqrt_status seqrt_cuda_stream_create(void **out) {
  CUstream s = NULL;
  CUresult r = cu.cuStreamCreate(&s, CU_STREAM_DEFAULT);
  if (r != CUDA_SUCCESS)
    return seqrt_set_error(SEQRT_ERR_CUDA, "cuStreamCreate: %s",
                           errorName(r));
  *out = s;
  return SEQRT_OK;
}

void seqrt_cuda_stream_destroy(void *stream) {
  if (stream)
    cu.cuStreamDestroy((CUstream)stream);
}

void seqrt_cuda_begin(void *stream) {
  currentStream = (CUstream)stream;
  callError[0] = '\0';
  lastKernel = NULL;
  /* The caller's thread may not be the one that created the model. */
  CUresult r = cu.cuCtxSetCurrent(context);
  if (r != CUDA_SUCCESS)
    fail(r, "cuCtxSetCurrent");
}

seqrt_status seqrt_cuda_end(const char *entry, int wait) {
  CUresult r = wait ? cu.cuStreamSynchronize(currentStream) : CUDA_SUCCESS;
  if (r != CUDA_SUCCESS)
    fail(r, "cuStreamSynchronize");
  currentStream = NULL;
  return seqrt_cuda_take_error(entry);
}

/*===----------------------------- Modules --------------------------------===*/

/* A module image the library embeds, as mgpuModuleLoad saw it. */
typedef struct Module {
  const void *image;
  CUmodule module;
  struct Module *next;
} Module;

static pthread_mutex_t modulesMutex = PTHREAD_MUTEX_INITIALIZER;
static Module *modules;

seqrt_status seqrt_cuda_load_modules(void) {
  seqrt_status s = SEQRT_OK;
  pthread_mutex_lock(&modulesMutex);
  for (Module *m = modules; m && s == SEQRT_OK; m = m->next) {
    if (m->module)
      continue;
    CUresult r = cu.cuModuleLoadData(&m->module, m->image);
    if (r != CUDA_SUCCESS)
      s = seqrt_set_error(SEQRT_ERR_CUDA,
                          "cannot load the library's GPU code: "
                          "cuModuleLoadData: %s (compiled for another GPU? "
                          "see seqc --gpu-arch)",
                          errorName(r));
  }
  pthread_mutex_unlock(&modulesMutex);
  return s;
}

void *mgpuModuleLoad(void *data, size_t size);
void *mgpuModuleLoad(void *data, size_t size) {
  (void)size;
  Module *m = calloc(1, sizeof(*m));
  if (!m)
    return NULL;
  m->image = data;
  pthread_mutex_lock(&modulesMutex);
  m->next = modules;
  modules = m;
  pthread_mutex_unlock(&modulesMutex);
  return m;
}

void *mgpuModuleLoadJIT(void *data, int optLevel);
void *mgpuModuleLoadJIT(void *data, int optLevel) {
  (void)optLevel;
  return mgpuModuleLoad(data, 0);
}

/* At unload of the library: the module goes with the context; the record
 * leaves the list. */
void mgpuModuleUnload(void *module);
void mgpuModuleUnload(void *module) {
  pthread_mutex_lock(&modulesMutex);
  for (Module **p = &modules; *p; p = &(*p)->next)
    if (*p == module) {
      *p = (*p)->next;
      break;
    }
  pthread_mutex_unlock(&modulesMutex);
  free(module);
}

void *mgpuModuleGetFunction(void *module, const char *name);
void *mgpuModuleGetFunction(void *module, const char *name) {
  lastKernel = name;
  Module *m = module;
  if (!m || !m->module) {
    if (!callError[0])
      snprintf(callError, sizeof(callError),
               "kernel '%s': the library's GPU code is not loaded", name);
    return NULL;
  }
  CUfunction f = NULL;
  CUresult r = cu.cuModuleGetFunction(&f, m->module, name);
  if (r != CUDA_SUCCESS)
    fail(r, "cuModuleGetFunction");
  return f;
}

void mgpuLaunchKernel(void *function, intptr_t gridX, intptr_t gridY,
                      intptr_t gridZ, intptr_t blockX, intptr_t blockY,
                      intptr_t blockZ, int32_t smem, void *stream,
                      void **params, void **extra, size_t paramsCount);
void mgpuLaunchKernel(void *function, intptr_t gridX, intptr_t gridY,
                      intptr_t gridZ, intptr_t blockX, intptr_t blockY,
                      intptr_t blockZ, int32_t smem, void *stream,
                      void **params, void **extra, size_t paramsCount) {
  (void)paramsCount;
  if (!function || callError[0])
    return;
  /* An empty iteration space (a dim of size 0) launches nothing. */
  if (gridX <= 0 || gridY <= 0 || gridZ <= 0 || blockX <= 0 || blockY <= 0 ||
      blockZ <= 0)
    return;
  /* More than 48 KiB of dynamic shared memory (the tensor-core attention's
   * stages and Q) must be allowed for the function first. */
  if (smem > kStaticSharedBytes) {
    CUresult a = cu.cuFuncSetAttribute((CUfunction)function,
                                       kMaxDynamicSharedSizeBytes, smem);
    if (a != CUDA_SUCCESS) {
      fail(a, "cuFuncSetAttribute");
      return;
    }
  }
  CUresult r = cu.cuLaunchKernel(
      (CUfunction)function, (unsigned)gridX, (unsigned)gridY, (unsigned)gridZ,
      (unsigned)blockX, (unsigned)blockY, (unsigned)blockZ, (unsigned)smem,
      (CUstream)stream, params, extra);
  if (r != CUDA_SUCCESS)
    fail(r, "cuLaunchKernel");
}

void *mgpuStreamCreate(void);
void *mgpuStreamCreate(void) { return currentStream; }

void mgpuStreamDestroy(void *stream);
void mgpuStreamDestroy(void *stream) { (void)stream; }

/* The call's launches are ordered on its stream; the shim waits at the end
 * (seqrt_cuda_end). */
void mgpuStreamSynchronize(void *stream);
void mgpuStreamSynchronize(void *stream) { (void)stream; }

/* Events order work across streams; a call has one stream, so there is
 * nothing to order: each is a placeholder. */
void *mgpuEventCreate(void);
void *mgpuEventCreate(void) { return &currentStream; }
void mgpuEventDestroy(void *event);
void mgpuEventDestroy(void *event) { (void)event; }
void mgpuEventSynchronize(void *event);
void mgpuEventSynchronize(void *event) { (void)event; }
void mgpuEventRecord(void *event, void *stream);
void mgpuEventRecord(void *event, void *stream) {
  (void)event;
  (void)stream;
}
void mgpuStreamWaitEvent(void *stream, void *event);
void mgpuStreamWaitEvent(void *stream, void *event) {
  (void)stream;
  (void)event;
}

/*===----------------------------- Memory ---------------------------------===*/

void *mgpuMemAlloc(uint64_t bytes, void *stream, bool isHostShared);
void *mgpuMemAlloc(uint64_t bytes, void *stream, bool isHostShared) {
  (void)stream;
  (void)isHostShared;
  if (callError[0])
    return NULL;
  CUdeviceptr p = 0;
  /* A zero-sized buffer still gets a unique pointer. */
  CUresult r = cu.cuMemAllocAsync(&p, bytes ? bytes : 1, currentStream);
  if (r != CUDA_SUCCESS)
    fail(r, "cuMemAllocAsync");
  return (void *)(uintptr_t)p;
}

void mgpuMemFree(void *ptr, void *stream);
void mgpuMemFree(void *ptr, void *stream) {
  (void)stream;
  if (ptr)
    cu.cuMemFreeAsync((CUdeviceptr)(uintptr_t)ptr, currentStream);
}

void mgpuMemcpy(void *dst, void *src, size_t bytes, void *stream);
void mgpuMemcpy(void *dst, void *src, size_t bytes, void *stream) {
  (void)stream;
  if (callError[0] || bytes == 0)
    return;
  CUresult r = cu.cuMemcpyAsync((CUdeviceptr)(uintptr_t)dst,
                                (CUdeviceptr)(uintptr_t)src, bytes,
                                currentStream);
  if (r != CUDA_SUCCESS)
    fail(r, "cuMemcpyAsync");
}

void mgpuMemset32(void *dst, unsigned value, size_t count, void *stream);
void mgpuMemset32(void *dst, unsigned value, size_t count, void *stream) {
  (void)stream;
  if (!callError[0] && count)
    cu.cuMemsetD32Async((CUdeviceptr)(uintptr_t)dst, value, count,
                        currentStream);
}

void mgpuMemset16(void *dst, unsigned short value, size_t count,
                  void *stream);
void mgpuMemset16(void *dst, unsigned short value, size_t count,
                  void *stream) {
  (void)stream;
  if (!callError[0] && count)
    cu.cuMemsetD16Async((CUdeviceptr)(uintptr_t)dst, value, count,
                        currentStream);
}

/*===------------------------- Device memory API --------------------------===*/

seqrt_status seqrt_device_alloc(DLDevice d, size_t bytes, void **out) {
  if (!out)
    return seqrt_set_error(SEQRT_ERR_INVALID_ARGUMENT,
                           "seqrt_device_alloc: out is null");
  *out = NULL;
  if (d.device_type == kDLCPU) {
    *out = seqrt_alloc(bytes);
    return *out ? SEQRT_OK : SEQRT_ERR_OUT_OF_MEMORY;
  }
  if (d.device_type != kDLCUDA)
    return seqrt_set_error(SEQRT_ERR_DEVICE, "no memory on device %s",
                           seqrt_device_name(d.device_type));
  seqrt_status s = seqrt_cuda_init(d.device_id);
  if (s != SEQRT_OK)
    return s;
  CUdeviceptr p = 0;
  CUresult r = cu.cuMemAllocAsync(&p, bytes ? bytes : 1, copyStream);
  if (r == CUDA_SUCCESS)
    r = cu.cuStreamSynchronize(copyStream);
  if (r != CUDA_SUCCESS)
    return seqrt_set_error(r == 2 ? SEQRT_ERR_OUT_OF_MEMORY : SEQRT_ERR_CUDA,
                           "cuMemAllocAsync of %zu bytes: %s", bytes,
                           errorName(r));
  *out = (void *)(uintptr_t)p;
  return SEQRT_OK;
}

void seqrt_device_free(DLDevice d, void *p) {
  if (!p)
    return;
  if (d.device_type == kDLCPU) {
    seqrt_free(p);
    return;
  }
  if (d.device_type == kDLCUDA && seqrt_cuda_init(d.device_id) == SEQRT_OK) {
    cu.cuMemFreeAsync((CUdeviceptr)(uintptr_t)p, copyStream);
    cu.cuStreamSynchronize(copyStream);
  }
}

seqrt_status seqrt_device_copy(void *dst, DLDevice to, const void *src,
                               DLDevice from, size_t bytes) {
  if (bytes == 0)
    return SEQRT_OK;
  if (!dst || !src)
    return seqrt_set_error(SEQRT_ERR_INVALID_ARGUMENT,
                           "seqrt_device_copy: null pointer");
  if (to.device_type == kDLCPU && from.device_type == kDLCPU) {
    memcpy(dst, src, bytes);
    return SEQRT_OK;
  }
  DLDevice gpu = to.device_type == kDLCPU ? from : to;
  seqrt_status s = seqrt_cuda_init(gpu.device_id);
  if (s != SEQRT_OK)
    return s;
  /* Unified addressing: the driver tells host from device pointers. */
  CUresult r = cu.cuMemcpyAsync((CUdeviceptr)(uintptr_t)dst,
                                (CUdeviceptr)(uintptr_t)src, bytes,
                                copyStream);
  if (r == CUDA_SUCCESS)
    r = cu.cuStreamSynchronize(copyStream);
  if (r != CUDA_SUCCESS)
    return seqrt_set_error(SEQRT_ERR_CUDA, "cuMemcpyAsync of %zu bytes: %s",
                           bytes, errorName(r));
  return SEQRT_OK;
}
