/*===- Validate.c - Check DLTensors against declared signatures ---*- C -*-===//
 *
 * Generated entries call seqrt_check_args on their inputs, then on their
 * outputs, before touching memory. Runtime dims are bound on first sight and
 * must agree afterwards; every message names the argument at fault and, for
 * a disagreement, the argument that bound the dim.
 *
 *===----------------------------------------------------------------------===*/

#include "Internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static const char *kindName(seqrt_arg_kind kind) {
  switch (kind) {
  case SEQRT_ARG_INPUT:
    return "input";
  case SEQRT_ARG_OUTPUT:
    return "output";
  case SEQRT_ARG_WEIGHT:
    return "weight";
  case SEQRT_ARG_STATE:
    return "state";
  }
  return "argument";
}

const char *seqrt_device_name(DLDeviceType t) {
  switch (t) {
  case kDLCPU:
    return "cpu";
  case kDLCUDA:
    return "cuda";
  case kDLCUDAHost:
    return "cuda_host";
  case kDLCUDAManaged:
    return "cuda_managed";
  case kDLROCM:
    return "rocm";
  case kDLMetal:
    return "metal";
  case kDLVulkan:
    return "vulkan";
  case kDLOpenCL:
    return "opencl";
  default:
    return "unknown";
  }
}

/* The name of dim symbol k, or a made-up one. */
static const char *dimName(const char *const *names, int k, char *buf,
                           size_t n) {
  if (names && names[k])
    return names[k];
  snprintf(buf, n, "#%d", k);
  return buf;
}

static seqrt_status checkOne(DLDevice device, const seqrt_arg_desc *d,
                             const DLTensor *t, int64_t *dimValues, int nDims,
                             const char *const *dimNames, int *boundBy,
                             const seqrt_arg_desc *descs) {
  const char *kind = kindName(d->kind);
  const char *name = d->name ? d->name : "?";
  char nameBuf[32];

  if (!t)
    return seqrt_set_error(SEQRT_ERR_INVALID_ARGUMENT,
                           "%s '%s': tensor is null", kind, name);
  if (device.device_type == kDLCPU && t->device.device_type != kDLCPU)
    return seqrt_set_error(SEQRT_ERR_DEVICE,
                           "%s '%s': expected a cpu tensor, got device %s:%d",
                           kind, name, seqrt_device_name(t->device.device_type),
                           t->device.device_id);
  if (device.device_type != kDLCPU &&
      (t->device.device_type != device.device_type ||
       t->device.device_id != device.device_id))
    return seqrt_set_error(
        SEQRT_ERR_DEVICE, "%s '%s': expected a %s:%d tensor, got device %s:%d",
        kind, name, seqrt_device_name(device.device_type), device.device_id,
        seqrt_device_name(t->device.device_type), t->device.device_id);
  if (!seqrt_dtype_equal(t->dtype, d->dtype))
    return seqrt_set_error(
        SEQRT_ERR_DTYPE,
        "%s '%s': expected dtype %s, got %s (code %u, bits %u, lanes %u)",
        kind, name, seqrt_dtype_name(d->dtype), seqrt_dtype_name(t->dtype),
        (unsigned)t->dtype.code, (unsigned)t->dtype.bits,
        (unsigned)t->dtype.lanes);
  if (t->ndim != d->rank)
    return seqrt_set_error(SEQRT_ERR_SHAPE,
                           "%s '%s': expected rank %d, got rank %d", kind,
                           name, d->rank, t->ndim);
  if (d->rank > 0 && !d->dims)
    return seqrt_set_error(SEQRT_ERR_INTERNAL,
                           "%s '%s': descriptor of rank %d has no dims", kind,
                           name, d->rank);
  if (d->rank > 0 && !t->shape)
    return seqrt_set_error(SEQRT_ERR_INVALID_ARGUMENT,
                           "%s '%s': shape is null", kind, name);

  for (int i = 0; i < d->rank; ++i) {
    int64_t got = t->shape[i];
    int64_t want = d->dims[i];
    if (got < 0)
      return seqrt_set_error(SEQRT_ERR_SHAPE,
                             "%s '%s': dimension %d has negative size %lld",
                             kind, name, i, (long long)got);
    if (!SEQRT_DIM_IS_SYM(want)) {
      if (got != want)
        return seqrt_set_error(SEQRT_ERR_SHAPE,
                               "%s '%s': dimension %d is %lld, expected %lld",
                               kind, name, i, (long long)got, (long long)want);
      continue;
    }
    int k = SEQRT_DIM_SYM_INDEX(want);
    if (k >= nDims || !dimValues)
      return seqrt_set_error(SEQRT_ERR_INTERNAL,
                             "%s '%s': dimension %d uses dim symbol %d, but "
                             "only %d are declared",
                             kind, name, i, k, nDims);
    const char *sym = dimName(dimNames, k, nameBuf, sizeof(nameBuf));
    if (dimValues[k] < 0) {
      dimValues[k] = got;
      boundBy[k] = (int)(d - descs);
      continue;
    }
    if (dimValues[k] == got)
      continue;
    if (boundBy[k] >= 0)
      return seqrt_set_error(SEQRT_ERR_SHAPE,
                             "%s '%s': dimension %d (%s) is %lld, but '%s' "
                             "gave %s = %lld",
                             kind, name, i, sym, (long long)got,
                             descs[boundBy[k]].name ? descs[boundBy[k]].name
                                                    : "?",
                             sym, (long long)dimValues[k]);
    return seqrt_set_error(SEQRT_ERR_SHAPE,
                           "%s '%s': dimension %d (%s) is %lld, but %s = %lld "
                           "was already bound",
                           kind, name, i, sym, (long long)got, sym,
                           (long long)dimValues[k]);
  }

  int64_t numel = 1;
  for (int i = 0; i < d->rank; ++i)
    numel *= t->shape[i];

  if (t->strides) {
    int64_t expected = 1;
    for (int i = d->rank - 1; i >= 0; --i) {
      if (t->shape[i] != 1 && numel != 0 && t->strides[i] != expected) {
        char have[256] = "", want[256] = "";
        int64_t compact[64];
        int r = d->rank < 64 ? d->rank : 64;
        int64_t e = 1;
        for (int j = r - 1; j >= 0; --j) {
          compact[j] = e;
          e *= t->shape[j];
        }
        seqrt_format_shape(have, sizeof(have), r, t->strides);
        seqrt_format_shape(want, sizeof(want), r, compact);
        return seqrt_set_error(SEQRT_ERR_SHAPE,
                               "%s '%s': strides %s are not compact row-major "
                               "(expected %s); pass a contiguous tensor",
                               kind, name, have, want);
      }
      expected *= t->shape[i];
    }
  }

  if (!t->data && numel != 0)
    return seqrt_set_error(SEQRT_ERR_INVALID_ARGUMENT,
                           "%s '%s': data is null", kind, name);
  size_t align = seqrt_dtype_bytes(d->dtype);
  if (align > 16)
    align = 16;
  if (t->data && align > 1 &&
      ((uintptr_t)t->data + t->byte_offset) % align != 0)
    return seqrt_set_error(SEQRT_ERR_INVALID_ARGUMENT,
                           "%s '%s': data + byte_offset (%llu) is not aligned "
                           "to %zu bytes",
                           kind, name, (unsigned long long)t->byte_offset,
                           align);
  return SEQRT_OK;
}

seqrt_status seqrt_check_args(const seqrt_arg_desc *descs,
                              const DLTensor *const *tensors, int n,
                              int64_t *dim_values, int n_dims,
                              const char *const *dim_names) {
  DLDevice cpu = {kDLCPU, 0};
  return seqrt_check_args_on(cpu, descs, tensors, n, dim_values, n_dims,
                             dim_names);
}

seqrt_status seqrt_check_args_on(DLDevice device, const seqrt_arg_desc *descs,
                                 const DLTensor *const *tensors, int n,
                                 int64_t *dim_values, int n_dims,
                                 const char *const *dim_names) {
  if (n < 0 || n_dims < 0 || (n > 0 && (!descs || !tensors)) ||
      (n_dims > 0 && !dim_values))
    return seqrt_set_error(SEQRT_ERR_INVALID_ARGUMENT,
                           "seqrt_check_args: bad arguments (n = %d, n_dims = "
                           "%d)",
                           n, n_dims);
  /* Which descriptor bound each dim during this call (-1: bound before). */
  int small[32];
  int *boundBy = small;
  if (n_dims > 32) {
    boundBy = malloc(sizeof(int) * (size_t)n_dims);
    if (!boundBy)
      return seqrt_set_error(SEQRT_ERR_OUT_OF_MEMORY, "out of memory");
  }
  for (int k = 0; k < n_dims; ++k)
    boundBy[k] = -1;
  seqrt_status s = SEQRT_OK;
  for (int i = 0; i < n && s == SEQRT_OK; ++i)
    s = checkOne(device, &descs[i], tensors[i], dim_values, n_dims, dim_names,
                 boundBy, descs);
  if (boundBy != small)
    free(boundBy);
  return s;
}
