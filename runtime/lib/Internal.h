/*===- Internal.h - Helpers shared by the runtime's sources -------*- C -*-===//
 *
 * Not installed: generated code and tools see only include/seqrt.h.
 *
 *===----------------------------------------------------------------------===*/

#ifndef SEQRT_INTERNAL_H
#define SEQRT_INTERNAL_H

#include "seqrt.h"

#include <stddef.h>

/* Appends "[2, 3, 4]" to buf (size n). */
void seqrt_format_shape(char *buf, size_t n, int rank, const int64_t *shape);

/* Sets *out to the dtype spelt `name`, as seqc does ("f32", "bool", ...)
 * or, with `safetensors`, as safetensors does ("F32", "BOOL", ...). 0 when
 * there is no such dtype. */
int seqrt_dtype_parse(const char *name, int safetensors, DLDataType *out);

/* "cpu", "cuda", "rocm", ...; "unknown" otherwise. */
const char *seqrt_device_name(DLDeviceType t);

#endif /* SEQRT_INTERNAL_H */
