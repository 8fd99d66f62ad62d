/*===- step_api.c - The step entry and its state, called from C --*- C -*-===//
 *
 * Built by step-api.seq against the step.h and libstep.so seqc writes for
 * it (forward(x: f32[B, T, 2]) -> out: f32[B, T, 2], a running sum over
 * time, with a window of one past token: out_t = sum_{s<=t} x_s + x_{t-1}).
 * Runs the forward on 5 tokens, then the step entry on chunks of 2, 0 and
 * 3 tokens, prints both, then makes one wrong call per line and prints the
 * status and the library's message. None may abort: reaching "done" is
 * part of the test.
 *
 *===----------------------------------------------------------------------===*/

#include "step.h"

#include <stdio.h>
#include <string.h>

/* The descriptor every generated library exports (seqrt.h). */
const seqrt_library_desc *seqrt_library(void);

static const char *statusName(seqrt_status s) {
  static const char *const names[] = {
      "OK", "INVALID_ARGUMENT", "SHAPE",         "DTYPE",       "DEVICE",
      "IO", "WEIGHT",           "OUT_OF_MEMORY", "UNSUPPORTED", "INTERNAL"};
  return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

static void report(const char *what, seqrt_status s) {
  printf("%s: %s: %s\n", what, statusName(s), s ? step_last_error() : "");
}

static void print(const char *what, const float *v, int n) {
  printf("%s:", what);
  for (int i = 0; i < n; ++i)
    printf(" %g", (double)v[i]);
  printf("\n");
}

int main(void) {
  DLDevice cpu = {kDLCPU, 0};
  DLDataType f32 = {kDLFloat, 32, 1};
  seqrt_model *m = NULL, *other = NULL;
  report("create", step_create(NULL, cpu, &m));
  report("create other", step_create(NULL, cpu, &other));

  /* B = 1, T = 5, 2 channels: x[t] = (t + 1, 10 (t + 1)). */
  float xs[10], whole[10], stepped[10];
  for (int t = 0; t < 5; ++t) {
    xs[2 * t] = (float)(t + 1);
    xs[2 * t + 1] = 10.0f * (float)(t + 1);
  }
  int64_t s5[3] = {1, 5, 2};
  DLTensor x = {xs, cpu, 3, f32, s5, NULL, 0};
  DLTensor out = {whole, cpu, 3, f32, s5, NULL, 0};
  report("forward", step_forward(m, &x, &out));
  print("forward", whole, 10);

  seqrt_state *s = NULL;
  report("state_create", step_state_create(m, &s));
  int64_t chunks[3] = {2, 0, 3}, t0 = 0;
  for (int c = 0; c < 3; ++c) {
    int64_t shape[3] = {1, chunks[c], 2};
    DLTensor xc = {xs + 2 * t0, cpu, 3, f32, shape, NULL, 0};
    DLTensor oc = {stepped + 2 * t0, cpu, 3, f32, shape, NULL, 0};
    char what[32];
    snprintf(what, sizeof(what), "step %lld", (long long)chunks[c]);
    report(what, step_forward_step(m, s, &xc, &oc));
    t0 += chunks[c];
  }
  print("stepped", stepped, 10);
  printf("equal: %s\n",
         memcmp(whole, stepped, sizeof(whole)) == 0 ? "yes" : "no");

  /* Wrong calls. */
  int64_t b2[3] = {2, 1, 2};
  float big[4] = {0};
  DLTensor x2 = {big, cpu, 3, f32, b2, NULL, 0};
  DLTensor o2 = {big, cpu, 3, f32, b2, NULL, 0};
  report("other batch", step_forward_step(m, s, &x2, &o2));
  int64_t s1[3] = {1, 1, 2};
  DLTensor x1 = {xs, cpu, 3, f32, s1, NULL, 0};
  DLTensor o1 = {stepped, cpu, 3, f32, s1, NULL, 0};
  report("null state", step_forward_step(m, NULL, &x1, &o1));
  report("other model", step_forward_step(other, s, &x1, &o1));
  report("null model", step_forward_step(NULL, s, &x1, &o1));
  report("state_create null out", step_state_create(m, NULL));
  seqrt_state *none = NULL;
  report("state_create null model", step_state_create(NULL, &none));
  const seqrt_library_desc *lib = seqrt_library();
  const seqrt_entry_desc *e = &lib->entries[1];
  printf("entry 1: %s, steps %s over %s, %d states\n", e->name, e->step_of,
         lib->dim_names[e->time_dim], e->n_states);
  const DLTensor *ins[1] = {&x1};
  DLTensor *outs[1] = {&o1};
  report("step entry's fn", e->fn(m, ins, outs));
  report("step through the descriptor", e->step(m, s, ins, outs));
  step_state_destroy(s);
  step_state_destroy(NULL);
  step_destroy(m);
  step_destroy(other);
  printf("done\n");
  return 0;
}
