// RUN: seq-opt %s --seq-fuse-scan="vector-width=1 max-unroll=1 time-block=1099511627776 device-threads=16384 min-parallel-length=256 time-unroll=32" --verify-diagnostics | FileCheck %s

// The fused scan as the cuda pipeline asks for it: a task per channel (the
// threads to fill a constant, no call of the runtime), one block over all
// of time, and the time loop unrolled by 32 (two reads a step, at most 64
// values read ahead) with the reads of the 32 steps first, then the 32
// steps' arithmetic and writes, and an epilogue loop for the rest. The
// channel's carry goes back as one vector of its state points: a write per
// point would chain max-state writes into one tensor, which one-shot
// bufferization analyses in cubic time (60 s for GLA at K = 128).
// CHECK-LABEL: func.func @diagonal
// CHECK-SAME: (%[[T:.+]]: index, %[[A:.+]]: tensor<?x?x64xf32>, %[[X:.+]]: tensor<?x?x64xf32>, %[[H0:.+]]: tensor<?x64xf32>)
// CHECK-NOT: llvm.call
// CHECK: arith.cmpi uge, %{{.+}}, %c16384 : index
// CHECK: arith.cmpi ult, %{{.+}}, %c256 : index
// CHECK: scf.if
// CHECK: scf.for %{{.+}} = %{{.+}} to %{{.+}} step %{{.+}} iter_args({{.+}}) -> (vector<1xf32>, tensor<?x?x64xf32>)
// CHECK-COUNT-64: vector.transfer_read
// CHECK-NOT: vector.transfer_read
// CHECK-COUNT-32: vector.transfer_write {{.+}} : vector<1xf32>, tensor<?x?x64xf32>
// CHECK: scf.yield
// The epilogue: one step an iteration.
// CHECK: scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c1{{.*}} iter_args({{.+}}) -> (vector<1xf32>, tensor<?x?x64xf32>)
// The channel's state points go back as one vector (here one point).
// CHECK: %[[HV:.+]] = vector.from_elements %{{.+}} : vector<1x1xf32>
// CHECK: vector.transfer_write %[[HV]], %{{.+}} {in_bounds = [true, true]} : vector<1x1xf32>, tensor<?x64xf32>
// CHECK: } {seq.parallel}
// CHECK: } else {
// CHECK: seq.scan {{.+}} {seq.scan_alternative}
func.func @diagonal(%len: index, %as: tensor<?x?x64xf32>, %xs: tensor<?x?x64xf32>, %h0: tensor<?x64xf32>)
    -> (tensor<?x64xf32>, tensor<?x?x64xf32>) {
  %c0 = arith.constant 0 : index
  %b = tensor.dim %h0, %c0 : tensor<?x64xf32>
  // expected-remark@+1 {{recurrence of carry 'h' is affine (diagonal): fused scan, sequential over time and parallel over channels (carry ? x 64 (lanes); groups of 1 channels with 1 carry vectors in registers over all steps, a contiguous range of groups per thread, time loop unrolled by 32 with the steps' reads first;}}
  %h, %ys = seq.scan %len carry(%h0 : tensor<?x64xf32>) output_axes = [1]
      -> (tensor<?x64xf32>, tensor<?x?x64xf32>) {
  ^bb0(%t: index, %hc: tensor<?x64xf32> loc("h")):
    %a = tensor.extract_slice %as[0, %t, 0] [%b, 1, 64] [1, 1, 1] : tensor<?x?x64xf32> to tensor<?x64xf32>
    %x = tensor.extract_slice %xs[0, %t, 0] [%b, 1, 64] [1, 1, 1] : tensor<?x?x64xf32> to tensor<?x64xf32>
    %e = tensor.empty(%b) : tensor<?x64xf32>
    %ah = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]}
        ins(%a, %hc : tensor<?x64xf32>, tensor<?x64xf32>) outs(%e : tensor<?x64xf32>) {
    ^bb0(%p: f32, %q: f32, %o: f32):
      %m = arith.mulf %p, %q : f32
      linalg.yield %m : f32
    } -> tensor<?x64xf32>
    %hn = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]}
        ins(%ah, %x : tensor<?x64xf32>, tensor<?x64xf32>) outs(%e : tensor<?x64xf32>) {
    ^bb0(%p: f32, %q: f32, %o: f32):
      %s = arith.addf %p, %q : f32
      linalg.yield %s : f32
    } -> tensor<?x64xf32>
    seq.yield %hn, %hn : tensor<?x64xf32>, tensor<?x64xf32>
  }
  return %h, %ys : tensor<?x64xf32>, tensor<?x?x64xf32>
}
