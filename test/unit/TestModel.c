/*===- TestModel.c - A hand-written "generated" library for tests -*- C -*-===//
 *
 * Implements the seqrt_library_desc ABI the way seqc's generated code will,
 * for a tiny model, so that seqrt-run and the runtime are tested without
 * the compiler:
 *   forward(x: f32[B, T, 4]) -> y: f32[B, T, 4]       y = x * w + b
 *   stats(x: f32[B, T, 4]) -> (sum: f32[B, T], max: f32[B, T])
 * with weights w: f32[4] and b: f32[4].
 *
 *===----------------------------------------------------------------------===*/

#include "seqrt.h"

#include <stdlib.h>

struct seqrt_model {
  seqrt_weights *weights;
  const float *w, *b;
};

enum { DIM_B, DIM_T, N_DIMS };
static const char *const dimNames[N_DIMS] = {"B", "T"};

static const int64_t btc[] = {SEQRT_DIM_SYM(DIM_B), SEQRT_DIM_SYM(DIM_T), 4};
static const int64_t bt[] = {SEQRT_DIM_SYM(DIM_B), SEQRT_DIM_SYM(DIM_T)};
static const int64_t four[] = {4};

#define F32 {kDLFloat, 32, 1}
static const seqrt_arg_desc weightDescs[] = {
    {"w", SEQRT_ARG_WEIGHT, F32, 1, four},
    {"b", SEQRT_ARG_WEIGHT, F32, 1, four}};
static const seqrt_arg_desc xDesc[] = {{"x", SEQRT_ARG_INPUT, F32, 3, btc}};
static const seqrt_arg_desc yDesc[] = {{"y", SEQRT_ARG_OUTPUT, F32, 3, btc}};
static const seqrt_arg_desc statsDescs[] = {
    {"sum", SEQRT_ARG_OUTPUT, F32, 2, bt},
    {"max", SEQRT_ARG_OUTPUT, F32, 2, bt}};

static void testDestroy(seqrt_model *m) {
  if (!m)
    return;
  seqrt_weights_close(m->weights);
  free(m);
}

static seqrt_status testCreate(const char *path, DLDevice device,
                               seqrt_model **out) {
  if (!out)
    return seqrt_set_error(SEQRT_ERR_INVALID_ARGUMENT, "out is null");
  *out = NULL;
  if (device.device_type != kDLCPU)
    return seqrt_set_error(SEQRT_ERR_DEVICE,
                           "model 'test' was compiled for the cpu only");
  if (!path)
    return seqrt_set_error(SEQRT_ERR_WEIGHT,
                           "model 'test' has 2 weights: pass a .safetensors "
                           "file");
  seqrt_model *m = calloc(1, sizeof(*m));
  if (!m)
    return seqrt_set_error(SEQRT_ERR_OUT_OF_MEMORY, "out of memory");
  seqrt_status s = seqrt_weights_open(path, &m->weights);
  const void *data[2];
  for (int i = 0; i < 2 && s == SEQRT_OK; ++i)
    s = seqrt_weights_get(m->weights, weightDescs[i].name,
                          weightDescs[i].dtype, weightDescs[i].rank,
                          weightDescs[i].dims, &data[i]);
  if (s != SEQRT_OK) {
    testDestroy(m);
    return s;
  }
  m->w = data[0];
  m->b = data[1];
  *out = m;
  return SEQRT_OK;
}

typedef struct AffineCtx {
  const seqrt_model *m;
  const float *x;
  float *y;
} AffineCtx;

static void affineRows(void *p, int64_t begin, int64_t end) {
  const AffineCtx *c = p;
  for (int64_t r = begin; r < end; ++r)
    for (int k = 0; k < 4; ++k)
      c->y[r * 4 + k] = c->x[r * 4 + k] * c->m->w[k] + c->m->b[k];
}

static seqrt_status testForward(seqrt_model *m, const DLTensor *const *in,
                                DLTensor *const *out) {
  int64_t dims[N_DIMS] = {-1, -1};
  seqrt_status s = seqrt_check_args(xDesc, in, 1, dims, N_DIMS, dimNames);
  if (s == SEQRT_OK)
    s = seqrt_check_args(yDesc, (const DLTensor *const *)out, 1, dims, N_DIMS,
                         dimNames);
  if (s != SEQRT_OK)
    return s;
  AffineCtx c = {m, seqrt_tensor_data(in[0]), seqrt_tensor_data(out[0])};
  seqrt_parallel_for(dims[DIM_B] * dims[DIM_T], affineRows, &c);
  return SEQRT_OK;
}

static seqrt_status testStats(seqrt_model *m, const DLTensor *const *in,
                              DLTensor *const *out) {
  (void)m;
  int64_t dims[N_DIMS] = {-1, -1};
  seqrt_status s = seqrt_check_args(xDesc, in, 1, dims, N_DIMS, dimNames);
  if (s == SEQRT_OK)
    s = seqrt_check_args(statsDescs, (const DLTensor *const *)out, 2, dims,
                         N_DIMS, dimNames);
  if (s != SEQRT_OK)
    return s;
  const float *x = seqrt_tensor_data(in[0]);
  float *sum = seqrt_tensor_data(out[0]), *max = seqrt_tensor_data(out[1]);
  for (int64_t r = 0; r < dims[DIM_B] * dims[DIM_T]; ++r) {
    sum[r] = 0;
    max[r] = x[r * 4];
    for (int k = 0; k < 4; ++k) {
      sum[r] += x[r * 4 + k];
      max[r] = x[r * 4 + k] > max[r] ? x[r * 4 + k] : max[r];
    }
  }
  return SEQRT_OK;
}

/* Neither is a step entry, and the model has no state. */
static const seqrt_entry_desc entries[] = {
    {.name = "forward", .n_inputs = 1, .inputs = xDesc, .n_outputs = 1,
     .outputs = yDesc, .fn = testForward},
    {.name = "stats", .n_inputs = 1, .inputs = xDesc, .n_outputs = 2,
     .outputs = statsDescs, .fn = testStats}};

static const seqrt_library_desc library = {.abi_version = SEQRT_ABI_VERSION,
                                           .device_type = kDLCPU,
                                           .model_name = "test",
                                           .n_dims = N_DIMS,
                                           .dim_names = dimNames,
                                           .n_weights = 2,
                                           .weights = weightDescs,
                                           .n_entries = 2,
                                           .entries = entries,
                                           .create = testCreate,
                                           .destroy = testDestroy,
                                           .last_error = seqrt_last_error};

SEQRT_API const seqrt_library_desc *seqrt_library(void) { return &library; }
