/*===- Alloc.c - Aligned allocation of temporaries ----------------*- C -*-===//
 *
 * 64-byte alignment: one cache line, and a full AVX-512 vector.
 *
 *===----------------------------------------------------------------------===*/

#include "Internal.h"

#include <stdint.h>
#include <stdlib.h>

void *seqrt_alloc(size_t bytes) {
  if (bytes > SIZE_MAX - SEQRT_ALIGNMENT) {
    seqrt_set_error(SEQRT_ERR_OUT_OF_MEMORY,
                    "cannot allocate %zu bytes: too large", bytes);
    return NULL;
  }
  size_t rounded = (bytes + SEQRT_ALIGNMENT - 1) / SEQRT_ALIGNMENT *
                   SEQRT_ALIGNMENT;
  if (rounded == 0)
    rounded = SEQRT_ALIGNMENT;
  void *p = aligned_alloc(SEQRT_ALIGNMENT, rounded);
  if (!p)
    seqrt_set_error(SEQRT_ERR_OUT_OF_MEMORY, "cannot allocate %zu bytes",
                    bytes);
  return p;
}

void seqrt_free(void *p) { free(p); }
