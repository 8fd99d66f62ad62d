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

#endif /* SEQRT_INTERNAL_H */
