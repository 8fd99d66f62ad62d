/*===- Status.c - Status codes and the per-thread error message ---*- C -*-===//
 *
 * Every failing runtime call leaves a message in a thread-local buffer, so
 * concurrent callers never see each other's errors.
 *
 *===----------------------------------------------------------------------===*/

#include "Internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char lastError[2048];

const char *seqrt_last_error(void) { return lastError; }

void seqrt_clear_error(void) { lastError[0] = '\0'; }

seqrt_status seqrt_set_error(seqrt_status status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(lastError, sizeof(lastError), fmt, ap);
  va_end(ap);
  return status;
}

const char *seqrt_status_name(seqrt_status status) {
  switch (status) {
  case SEQRT_OK:
    return "SEQRT_OK";
  case SEQRT_ERR_INVALID_ARGUMENT:
    return "SEQRT_ERR_INVALID_ARGUMENT";
  case SEQRT_ERR_SHAPE:
    return "SEQRT_ERR_SHAPE";
  case SEQRT_ERR_DTYPE:
    return "SEQRT_ERR_DTYPE";
  case SEQRT_ERR_DEVICE:
    return "SEQRT_ERR_DEVICE";
  case SEQRT_ERR_IO:
    return "SEQRT_ERR_IO";
  case SEQRT_ERR_WEIGHT:
    return "SEQRT_ERR_WEIGHT";
  case SEQRT_ERR_OUT_OF_MEMORY:
    return "SEQRT_ERR_OUT_OF_MEMORY";
  case SEQRT_ERR_UNSUPPORTED:
    return "SEQRT_ERR_UNSUPPORTED";
  case SEQRT_ERR_INTERNAL:
    return "SEQRT_ERR_INTERNAL";
  }
  return "SEQRT_ERR_UNKNOWN";
}

const char *seqrt_dtype_name(DLDataType t) {
  if (t.lanes != 1)
    return "unknown";
  switch (t.code) {
  case kDLFloat:
    return t.bits == 16 ? "f16" : t.bits == 32 ? "f32" : t.bits == 64 ? "f64"
                                                                      : "unknown";
  case kDLBfloat:
    return t.bits == 16 ? "bf16" : "unknown";
  case kDLInt:
    return t.bits == 8 ? "i8" : t.bits == 16 ? "i16" : t.bits == 32 ? "i32"
           : t.bits == 64 ? "i64" : "unknown";
  case kDLUInt:
    return t.bits == 8 ? "u8" : t.bits == 16 ? "u16" : t.bits == 32 ? "u32"
           : t.bits == 64 ? "u64" : "unknown";
  case SEQRT_DL_BOOL:
    return t.bits == 8 ? "bool" : "unknown";
  default:
    return "unknown";
  }
}

void seqrt_format_shape(char *buf, size_t n, int rank, const int64_t *shape) {
  size_t len = strlen(buf);
  len += (size_t)snprintf(buf + len, len < n ? n - len : 0, "[");
  for (int i = 0; i < rank && len < n; ++i)
    len += (size_t)snprintf(buf + len, n - len, "%s%lld", i ? ", " : "",
                            (long long)shape[i]);
  if (len < n)
    snprintf(buf + len, n - len, "]");
}
