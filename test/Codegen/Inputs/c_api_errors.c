/*===- c_api_errors.c - Wrong calls through a generated C API ----*- C -*-===//
 *
 * Built by c-api-errors.seq against the header and library seqc writes
 * for it (model.h, libmodel.so: forward(x: f32[N, 4], y: f32[N, 4]) ->
 * out: f32[N, 4], with the weight w: f32[4]). Makes one wrong call per
 * line and prints the status and the library's message; the test checks
 * them. A wrong call must never abort: reaching "done" is part of the test.
 *
 *===----------------------------------------------------------------------===*/

#include "model.h"

#include <stdio.h>

static const char *statusName(seqrt_status s) {
  static const char *const names[] = {
      "OK", "INVALID_ARGUMENT", "SHAPE",         "DTYPE",       "DEVICE",
      "IO", "WEIGHT",           "OUT_OF_MEMORY", "UNSUPPORTED", "INTERNAL"};
  return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

static void report(const char *what, seqrt_status s) {
  printf("%s: %s: %s\n", what, statusName(s), s ? model_last_error() : "");
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: c_api_errors WEIGHTS.safetensors\n");
    return 2;
  }
  DLDevice cpu = {kDLCPU, 0}, cuda = {kDLCUDA, 1};
  seqrt_model *m = NULL;

  report("create missing file", model_create("no/such.safetensors", cpu, &m));
  report("create null weights", model_create(NULL, cpu, &m));
  report("create cuda", model_create(argv[1], cuda, &m));
  report("create null out", model_create(argv[1], cpu, NULL));
  report("create", model_create(argv[1], cpu, &m));

  float xs[3 * 4], ys[3 * 4], outs[3 * 4];
  for (int i = 0; i < 12; ++i) {
    xs[i] = (float)i;
    ys[i] = 1.0f;
    outs[i] = -1.0f;
  }
  int64_t n4[2] = {3, 4}, n5[2] = {3, 5}, two4[2] = {2, 4}, flat[1] = {12};
  int64_t transposed[2] = {1, 3};
  DLDataType f32 = {kDLFloat, 32, 1}, f64 = {kDLFloat, 64, 1};
  DLTensor x = {xs, cpu, 2, f32, n4, NULL, 0};
  DLTensor y = {ys, cpu, 2, f32, n4, NULL, 0};
  DLTensor out = {outs, cpu, 2, f32, n4, NULL, 0};

  report("forward", model_forward(m, &x, &y, &out));
  printf("out[1, 2] = %g\n", (double)outs[6]);

  report("null model", model_forward(NULL, &x, &y, &out));
  report("null tensor", model_forward(m, NULL, &y, &out));
  report("null output", model_forward(m, &x, &y, NULL));
  DLTensor bad = x;
  bad.data = NULL;
  report("null data", model_forward(m, &bad, &y, &out));
  bad = x;
  bad.ndim = 1;
  bad.shape = flat;
  report("bad rank", model_forward(m, &bad, &y, &out));
  bad = x;
  bad.shape = n5;
  report("wrong dim", model_forward(m, &bad, &y, &out));
  bad = y;
  bad.dtype = f64;
  report("wrong dtype", model_forward(m, &x, &bad, &out));
  bad = y;
  bad.shape = two4;
  report("mismatched dims", model_forward(m, &x, &bad, &out));
  bad = out;
  bad.shape = two4;
  report("mismatched output", model_forward(m, &x, &y, &bad));
  bad = x;
  bad.device = cuda;
  report("wrong device", model_forward(m, &bad, &y, &out));
  bad = x;
  bad.strides = transposed;
  report("strides", model_forward(m, &bad, &y, &out));

  /* The model still works after the failures. */
  report("forward again", model_forward(m, &x, &y, &out));

  /* Outputs may share memory with inputs: in place, and overlapping an
   * input a row further on (the result must still be that of the inputs
   * as they were). */
  report("in place", model_forward(m, &x, &y, &x));
  printf("x[1, 2] = %g, x[2, 3] = %g\n", xs[6], xs[11]);
  for (int i = 0; i < 12; ++i)
    xs[i] = (float)i;
  DLTensor x2 = {xs, cpu, 2, f32, two4, NULL, 0};
  DLTensor y2 = {ys, cpu, 2, f32, two4, NULL, 0};
  DLTensor shifted = {xs + 4, cpu, 2, f32, two4, NULL, 0};
  report("overlapping", model_forward(m, &x2, &y2, &shifted));
  printf("x[1, :] = %g %g %g %g, x[2, :] = %g %g %g %g\n", xs[4], xs[5],
         xs[6], xs[7], xs[8], xs[9], xs[10], xs[11]);
  model_destroy(m);
  model_destroy(NULL);
  printf("done\n");
  return 0;
}
