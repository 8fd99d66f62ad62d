// RUN: seq-opt %s --split-input-file --seq-fuse-scan="independent-channels=true vector-width=16 max-unroll=1" --verify-diagnostics | FileCheck %s
// RUN: seq-opt %s --split-input-file --seq-fuse-scan 2>/dev/null | FileCheck %s --check-prefix=OFF

// Tests that a scan that is not diagonal but whose channels are
// independent (a running max m [B] rescaling a sum s [B, 32], as in an
// online softmax) is fused under independent-channels: a task loop with
// the carries in registers over the steps, where m, which has no lane dim,
// is kept per lane (its allocation [B, 32], the lane dim appended, into
// which the task copies m0) and returned as its first lane; s starts as a
// copy of s0. Each carry has an allocation of its own
// (bufferization.alloc_tensor: empty tensors of one shape would be one
// value after CSE, and one buffer after bufferization). Without the option
// the scan stays as it is, and there is no remark.
// CHECK-LABEL: func.func @online
// CHECK-SAME: %[[M0:[^:]+]]: tensor<?xf32>, %[[S0:[^:]+]]: tensor<?x32xf32>)
// CHECK: %[[M:.+]] = bufferization.alloc_tensor(%{{.+}}) : tensor<?x32xf32>
// CHECK: %[[S:.+]] = bufferization.alloc_tensor() copy(%[[S0]]) : tensor<?x32xf32>
// CHECK: %[[R:.+]]:3 = scf.for {{.+}} iter_args(%{{.+}} = %[[M]], %{{.+}} = %[[S]],
// CHECK: tensor.extract %[[M0]]
// CHECK: scf.for {{.+}} -> (vector<16xf32>, vector<16xf32>, tensor<?x?x32xf32>)
// CHECK: arith.maximumf {{.+}} : vector<16xf32>
// CHECK: math.exp {{.+}} : vector<16xf32>
// CHECK: } {seq.parallel}
// CHECK: tensor.extract_slice %[[R]]#0[0, 0] [%{{.+}}, 1] [1, 1] : tensor<?x32xf32> to tensor<?xf32>
// CHECK-NOT: seq.scan
// OFF-LABEL: func.func @online
// OFF: seq.scan
func.func @online(%len: index, %xs: tensor<?x?xf32>, %vs: tensor<?x?x32xf32>,
                  %m0: tensor<?xf32>, %s0: tensor<?x32xf32>)
    -> (tensor<?xf32>, tensor<?x32xf32>, tensor<?x?x32xf32>) {
  %c0 = arith.constant 0 : index
  %b = tensor.dim %m0, %c0 : tensor<?xf32>
  // expected-remark@+1 {{recurrence of carries 'm', 's' is not diagonal: fused scan, sequential over time and parallel over channels (carry ? x 32 (lanes); groups of 16 channels with 2 carry vectors in registers}}
  %m, %s, %ys = seq.scan %len carry(%m0, %s0 : tensor<?xf32>, tensor<?x32xf32>) output_axes = [1]
      -> (tensor<?xf32>, tensor<?x32xf32>, tensor<?x?x32xf32>) {
  ^bb0(%t: index, %mc: tensor<?xf32> loc("m"), %sc: tensor<?x32xf32> loc("s")):
    %x = tensor.extract_slice %xs[0, %t] [%b, 1] [1, 1] : tensor<?x?xf32> to tensor<?xf32>
    %v = tensor.extract_slice %vs[0, %t, 0] [%b, 1, 32] [1, 1, 1] : tensor<?x?x32xf32> to tensor<?x32xf32>
    %e = tensor.empty(%b) : tensor<?xf32>
    %mn = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}
        ins(%mc, %x : tensor<?xf32>, tensor<?xf32>) outs(%e : tensor<?xf32>) {
    ^bb0(%p: f32, %q: f32, %o: f32):
      %r = arith.maximumf %p, %q : f32
      linalg.yield %r : f32
    } -> tensor<?xf32>
    %e2 = tensor.empty(%b) : tensor<?x32xf32>
    %sn = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]}
        ins(%mc, %mn, %sc, %v : tensor<?xf32>, tensor<?xf32>, tensor<?x32xf32>, tensor<?x32xf32>) outs(%e2 : tensor<?x32xf32>) {
    ^bb0(%mo: f32, %mnew: f32, %so: f32, %vv: f32, %o: f32):
      %d = arith.subf %mo, %mnew : f32
      %a = math.exp %d : f32
      %r = arith.mulf %a, %so : f32
      %r2 = arith.addf %r, %vv : f32
      linalg.yield %r2 : f32
    } -> tensor<?x32xf32>
    seq.yield %mn, %sn, %sn : tensor<?xf32>, tensor<?x32xf32>, tensor<?x32xf32>
  }
  return %m, %s, %ys : tensor<?xf32>, tensor<?x32xf32>, tensor<?x?x32xf32>
}

// -----

// Tests that a scan whose step reads its carry at another channel (a sum
// over the lanes, as a matrix product h @ W does) is not fused: its
// channels depend on each other.
// CHECK-LABEL: func.func @coupled
// CHECK: seq.scan
func.func @coupled(%len: index, %h0: tensor<?x8xf32>)
    -> (tensor<?x8xf32>) {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %b = tensor.dim %h0, %c0 : tensor<?x8xf32>
  // expected-remark@+1 {{recurrence of carry 'h' is not diagonal, not fused (a carry is read at another channel)}}
  %h = seq.scan %len carry(%h0 : tensor<?x8xf32>) output_axes = []
      -> (tensor<?x8xf32>) {
  ^bb0(%t: index, %hc: tensor<?x8xf32> loc("h")):
    %e = tensor.empty(%b) : tensor<?xf32>
    %z = linalg.fill ins(%zero : f32) outs(%e : tensor<?xf32>) -> tensor<?xf32>
    %sum = linalg.reduce { arith.addf } ins(%hc : tensor<?x8xf32>) outs(%z : tensor<?xf32>) dimensions = [1]
    %e2 = tensor.empty(%b) : tensor<?x8xf32>
    %hn = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]}
        ins(%sum, %hc : tensor<?xf32>, tensor<?x8xf32>) outs(%e2 : tensor<?x8xf32>) {
    ^bb0(%p: f32, %q: f32, %o: f32):
      %r = math.tanh %p : f32
      %r2 = arith.addf %r, %q : f32
      linalg.yield %r2 : f32
    } -> tensor<?x8xf32>
    seq.yield %hn : tensor<?x8xf32>
  }
  return %h : tensor<?x8xf32>
}
