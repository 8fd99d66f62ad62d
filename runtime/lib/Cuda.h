/*===- Cuda.h - The runtime's CUDA side, for the shim -------------*- C -*-===*
 *
 * Internal (runtime/lib/Cuda.c): what the generic shim of a CUDA library
 * (Library.c) calls around the generated code. The public part (device
 * memory for tools) is in seqrt.h.
 *
 *===----------------------------------------------------------------------===*/

#ifndef SEQRT_CUDA_H
#define SEQRT_CUDA_H

#include "seqrt.h"

/* Loads the driver (once) and makes device `deviceId`'s primary context
 * current on the calling thread. SEQRT_ERR_CUDA with the reason when there
 * is no driver or device. */
seqrt_status seqrt_cuda_init(int deviceId);

/* Loads the GPU code the library's constructors registered
 * (mgpuModuleLoad), once. */
seqrt_status seqrt_cuda_load_modules(void);

/* A stream for a model's calls. */
seqrt_status seqrt_cuda_stream_create(void **out);
void seqrt_cuda_stream_destroy(void *stream);

/* Around one call of the generated code: `begin` makes `stream` the one
 * its launches and allocations go to and clears the call's error; `end`
 * waits for the stream if `wait` and returns the first CUDA failure of
 * the call (naming the CUDA error, the kernel and `entry`): without
 * `wait`, the failures of queuing (a launch, an allocation), not those of
 * kernels still to run. */
void seqrt_cuda_begin(void *stream);
seqrt_status seqrt_cuda_end(const char *entry, int wait);

#endif /* SEQRT_CUDA_H */
