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
  case SEQRT_ERR_CUDA:
    return "SEQRT_ERR_CUDA";
  }
  return "SEQRT_ERR_UNKNOWN";
}

/* Every dtype the runtime knows, with its two spellings. */
static const struct {
  const char *name, *safetensors;
  uint8_t code, bits;
} dtypes[] = {
    {"f64", "F64", kDLFloat, 64},      {"f32", "F32", kDLFloat, 32},
    {"f16", "F16", kDLFloat, 16},      {"bf16", "BF16", kDLBfloat, 16},
    {"i64", "I64", kDLInt, 64},        {"i32", "I32", kDLInt, 32},
    {"i16", "I16", kDLInt, 16},        {"i8", "I8", kDLInt, 8},
    {"u64", "U64", kDLUInt, 64},       {"u32", "U32", kDLUInt, 32},
    {"u16", "U16", kDLUInt, 16},       {"u8", "U8", kDLUInt, 8},
    {"bool", "BOOL", SEQRT_DL_BOOL, 8}};
enum { N_DTYPES = sizeof(dtypes) / sizeof(dtypes[0]) };

const char *seqrt_dtype_name(DLDataType t) {
  for (int i = 0; i < N_DTYPES; ++i)
    if (t.lanes == 1 && t.code == dtypes[i].code && t.bits == dtypes[i].bits)
      return dtypes[i].name;
  return "unknown";
}

int seqrt_dtype_parse(const char *name, int safetensors, DLDataType *out) {
  for (int i = 0; i < N_DTYPES; ++i)
    if (strcmp(name, safetensors ? dtypes[i].safetensors : dtypes[i].name) ==
        0) {
      *out = seqrt_dtype(dtypes[i].code, dtypes[i].bits);
      return 1;
    }
  return 0;
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
