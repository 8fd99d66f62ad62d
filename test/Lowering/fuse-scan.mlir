// RUN: seq-opt %s --split-input-file --seq-fuse-scan="parallel-alternative=false" --verify-diagnostics | FileCheck %s
// RUN: seq-opt %s --split-input-file --seq-fuse-scan --verify-diagnostics | FileCheck %s --check-prefix=ALT
// RUN: seq-opt %s --split-input-file --seq-fuse-scan="max-alternative-state=2" 2>/dev/null | FileCheck %s --check-prefix=BIG
// RUN: seq-opt %s --split-input-file --seq-fuse-scan="max-alternative-state=2" 2>&1 >/dev/null | FileCheck %s --check-prefix=BIGR

// Tests that h = a[:, t] * h + x[:, t] over a [B, 64] carry becomes a
// parallel loop over tasks (ranges of groups of 4 x 16 channels, sized from
// the pool at run time), a copy of h0 into the final carry, blocks of 16
// steps, and per group a time loop whose iter_args are the 4 carry vectors:
// each step reads a and x at the step, multiplies and adds on vectors and
// writes the state into the stacked output; the group's carries go back to
// the final carry after the block. No seq.scan is left.
// CHECK-LABEL: func.func @diagonal
// CHECK-SAME: (%[[T:.+]]: index, %[[A:.+]]: tensor<?x?x64xf32>, %[[X:.+]]: tensor<?x?x64xf32>, %[[H0:.+]]: tensor<?x64xf32>)
// CHECK-NOT: seq.scan
// CHECK: llvm.call @seqrt_num_threads()
// CHECK: %[[HC:.+]] = bufferization.alloc_tensor() copy(%[[H0]]) : tensor<?x64xf32>
// CHECK: %[[R:.+]]:2 = scf.for %[[W:[^ ]+]] = %{{.+}} to %{{.+}} step %{{.+}} iter_args(%[[HF:.+]] = %[[HC]], %[[Y:.+]] = %{{.+}}) -> (tensor<?x64xf32>, tensor<?x?x64xf32>)
// CHECK: scf.for %[[T0:[^ ]+]] = %{{.+}} to %[[T]] step %c16
// CHECK: %[[T1:.+]] = arith.minui
// CHECK: scf.for
// CHECK-COUNT-4: vector.transfer_read %{{.+}} : tensor<?x64xf32>, vector<16xf32>
// CHECK: %[[L:.+]]:5 = scf.for %[[S:[^ ]+]] = %[[T0]] to %[[T1]] step %c1 iter_args(%[[V0:.+]] = %{{.+}}, %{{.+}} = %{{.+}}, %{{.+}} = %{{.+}}, %{{.+}} = %{{.+}}, %[[YT:.+]] = %{{.+}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, tensor<?x?x64xf32>)
// CHECK: %[[AV:.+]] = vector.transfer_read %[[A]][%{{.+}}, %[[S]], %{{.+}}], %{{.+}} {in_bounds = [true]} : tensor<?x?x64xf32>, vector<16xf32>
// CHECK: %[[M:.+]] = arith.mulf %[[AV]], %[[V0]] : vector<16xf32>
// CHECK: %[[XV:.+]] = vector.transfer_read %[[X]][%{{.+}}, %[[S]], %{{.+}}]
// CHECK: %[[N:.+]] = arith.addf %[[M]], %[[XV]] : vector<16xf32>
// CHECK: vector.transfer_write %[[N]], %[[YT]][%{{.+}}, %[[S]], %{{.+}}] {in_bounds = [true]} : vector<16xf32>, tensor<?x?x64xf32>
// CHECK: scf.yield %[[N]],
// CHECK-COUNT-4: vector.transfer_write %[[L]]#
// CHECK: } {seq.parallel}
// CHECK: return %[[R]]#0, %[[R]]#1

// With the alternative, the scan stays in the else branch of the run-time
// choice, marked for seq-recurrence-to-scan.
// ALT-LABEL: func.func @diagonal
// ALT: %[[P:.+]] = llvm.call @seqrt_num_threads() : () -> i32
// ALT: %[[PI:.+]] = arith.index_cast %[[P]] : i32 to index
// ALT: %[[FILLS:.+]] = arith.cmpi uge, %{{.+}}, %[[PI]] : index
// ALT: %[[SHORT:.+]] = arith.cmpi ult, %{{.+}}, %c4096 : index
// ALT: %[[C:.+]] = arith.ori %[[FILLS]], %[[SHORT]] : i1
// ALT: scf.if %[[C]] -> (tensor<?x64xf32>, tensor<?x?x64xf32>) {
// ALT: } {seq.parallel}
// ALT: } else {
// ALT: seq.scan %{{.+}} carry(%{{.+}} : tensor<?x64xf32>) output_axes = [1] {seq.scan_alternative}
func.func @diagonal(%len: index, %as: tensor<?x?x64xf32>, %xs: tensor<?x?x64xf32>, %h0: tensor<?x64xf32>)
    -> (tensor<?x64xf32>, tensor<?x?x64xf32>) {
  %c0 = arith.constant 0 : index
  %b = tensor.dim %h0, %c0 : tensor<?x64xf32>
  // expected-remark@+1 {{recurrence of carry 'h' is affine (diagonal): fused scan, sequential over time and parallel over channels (carry ? x 64 (lanes); groups of 64 channels with 4 carry vectors in registers over blocks of 16 steps}}
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

// -----

// Tests Mamba's selective scan: h [B, 32, 4] = exp(d[:, t, :, None] * A) * h
// + d[:, t, :, None] * u[:, t, None, :], y[:, t] = sum(h * c[:, t, None, :],
// axis = -1). The output reduces over the last dim, so it is the state dim
// (4 points, unrolled); the lanes are the 32 channels, two vectors a group
// (8 carry vectors). A[:, n] does not depend on the step: it is read (a
// strided read along its first dim) before the time loop. u and c at the
// step are scalars per state point (tensor.extract + broadcast); the
// readout is a sum of the 4 products on vectors, written once per vector;
// exp(d * A) is computed in the loop. Nothing [T, B, 32, 4] is built.
// With more state points a channel than max-alternative-state, the scan
// keeps no chunked alternative (it would store the coefficients of every
// carry element for every step), and the remark says why.
// BIG-LABEL: func.func @selective
// BIG-NOT: scf.if
// BIG-NOT: seq.scan
// BIG: } {seq.parallel}
// BIGR: remark: recurrence of carry 'h' is affine (diagonal): fused scan, {{.+}}; no chunked alternative: its state, 4 points a channel, would be stored for every step
// CHECK-LABEL: func.func @selective
// CHECK-SAME: (%[[T:.+]]: index, %[[D:.+]]: tensor<?x?x32xf32>, %[[U:.+]]: tensor<?x?x4xf32>, %[[C:.+]]: tensor<?x?x4xf32>, %[[AM:.+]]: tensor<32x4xf32>, %[[H0:.+]]: tensor<?x32x4xf32>)
// CHECK-NOT: seq.scan
// CHECK: scf.for %{{.+}} = %{{.+}} to %[[T]] step %c16
// CHECK-COUNT-8: vector.transfer_read %[[AM]][%{{.+}}, %{{.+}}], %{{.+}} {in_bounds = [true], permutation_map = #{{.+}}} : tensor<32x4xf32>, vector<16xf32>
// CHECK: scf.for %[[S:[^ ]+]] = {{.+}} -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, tensor<?x?x32xf32>)
// CHECK: %[[DV:.+]] = vector.transfer_read %[[D]][%{{.+}}, %[[S]], %{{.+}}]
// CHECK: arith.mulf %[[DV]]
// CHECK: math.exp %{{.+}} : vector<16xf32>
// CHECK: tensor.extract %[[U]][%{{.+}}, %[[S]], %c0
// CHECK: vector.broadcast
// CHECK-COUNT-4: tensor.extract %[[C]][%{{.+}}, %[[S]], %c
// CHECK-COUNT-2: vector.transfer_write %{{.+}}, %{{.+}}[%{{.+}}, %[[S]], %{{.+}}] {in_bounds = [true]} : vector<16xf32>, tensor<?x?x32xf32>
// CHECK-NOT: vector.transfer_write
// CHECK: scf.yield
// CHECK: } {seq.parallel}
func.func @selective(%len: index, %d: tensor<?x?x32xf32>, %u: tensor<?x?x4xf32>, %c: tensor<?x?x4xf32>, %A: tensor<32x4xf32>, %h0: tensor<?x32x4xf32>)
    -> (tensor<?x32x4xf32>, tensor<?x?x32xf32>) {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %b = tensor.dim %h0, %c0 : tensor<?x32x4xf32>
  // expected-remark@+1 {{recurrence of carry 'h' is affine (diagonal): fused scan, sequential over time and parallel over channels (carry ? x 32 (lanes) x 4 (state); groups of 32 channels with 8 carry vectors in registers}}
  %h, %ys = seq.scan %len carry(%h0 : tensor<?x32x4xf32>) output_axes = [1]
      -> (tensor<?x32x4xf32>, tensor<?x?x32xf32>) {
  ^bb0(%t: index, %hc: tensor<?x32x4xf32> loc("h")):
    %dt = tensor.extract_slice %d[0, %t, 0] [%b, 1, 32] [1, 1, 1] : tensor<?x?x32xf32> to tensor<?x32xf32>
    %de = tensor.expand_shape %dt [[0], [1, 2]] output_shape [%b, 32, 1] : tensor<?x32xf32> into tensor<?x32x1xf32>
    %ut = tensor.extract_slice %u[0, %t, 0] [%b, 1, 4] [1, 1, 1] : tensor<?x?x4xf32> to tensor<?x4xf32>
    %ue = tensor.expand_shape %ut [[0], [1, 2]] output_shape [%b, 1, 4] : tensor<?x4xf32> into tensor<?x1x4xf32>
    %ct = tensor.extract_slice %c[0, %t, 0] [%b, 1, 4] [1, 1, 1] : tensor<?x?x4xf32> to tensor<?x4xf32>
    %ce = tensor.expand_shape %ct [[0], [1, 2]] output_shape [%b, 1, 4] : tensor<?x4xf32> into tensor<?x1x4xf32>
    %e = tensor.empty(%b) : tensor<?x32x4xf32>
    %dA = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, 0)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel"]}
        ins(%de, %A : tensor<?x32x1xf32>, tensor<32x4xf32>) outs(%e : tensor<?x32x4xf32>) {
    ^bb0(%p: f32, %q: f32, %o: f32):
      %m = arith.mulf %p, %q : f32
      %x = math.exp %m : f32
      linalg.yield %x : f32
    } -> tensor<?x32x4xf32>
    %dBu = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, 0)>, affine_map<(d0, d1, d2) -> (d0, 0, d2)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel"]}
        ins(%de, %ue : tensor<?x32x1xf32>, tensor<?x1x4xf32>) outs(%e : tensor<?x32x4xf32>) {
    ^bb0(%p: f32, %q: f32, %o: f32):
      %m = arith.mulf %p, %q : f32
      linalg.yield %m : f32
    } -> tensor<?x32x4xf32>
    %hn = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel"]}
        ins(%dA, %hc, %dBu : tensor<?x32x4xf32>, tensor<?x32x4xf32>, tensor<?x32x4xf32>) outs(%e : tensor<?x32x4xf32>) {
    ^bb0(%p: f32, %q: f32, %r: f32, %o: f32):
      %m = arith.mulf %p, %q : f32
      %s = arith.addf %m, %r : f32
      linalg.yield %s : f32
    } -> tensor<?x32x4xf32>
    %hc2 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d0, 0, d2)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel"]}
        ins(%hn, %ce : tensor<?x32x4xf32>, tensor<?x1x4xf32>) outs(%e : tensor<?x32x4xf32>) {
    ^bb0(%p: f32, %q: f32, %o: f32):
      %m = arith.mulf %p, %q : f32
      linalg.yield %m : f32
    } -> tensor<?x32x4xf32>
    %e2 = tensor.empty(%b) : tensor<?x32xf32>
    %z = linalg.fill ins(%zero : f32) outs(%e2 : tensor<?x32xf32>) -> tensor<?x32xf32>
    %y = linalg.reduce { arith.addf } ins(%hc2 : tensor<?x32x4xf32>) outs(%z : tensor<?x32xf32>) dimensions = [2]
    seq.yield %hn, %y : tensor<?x32x4xf32>, tensor<?x32xf32>
  }
  return %h, %ys : tensor<?x32x4xf32>, tensor<?x?x32xf32>
}

// -----

// Tests that a reverse scan steps from the end (T - 1 - i) and that 24
// channels (not a multiple of the group) are masked.
// CHECK-LABEL: func.func @reverse
// CHECK: vector.create_mask %{{.+}} : vector<16xi1>
// CHECK: %[[LAST:.+]] = arith.subi %{{.+}}, %c1 : index
// CHECK: scf.for %[[I:[^ ]+]] = {{.+}} -> (vector<16xf32>, vector<16xf32>, tensor<?x24xf32>)
// CHECK: %[[S:.+]] = arith.subi %[[LAST]], %[[I]] : index
// CHECK: vector.transfer_read %{{.+}}[%[[S]], %{{.+}}], %{{.+}}, %{{.+}} {in_bounds = [true]} : tensor<?x24xf32>, vector<16xf32>
func.func @reverse(%len: index, %as: tensor<?x24xf32>, %h0: tensor<24xf32>)
    -> (tensor<24xf32>, tensor<?x24xf32>) {
  // expected-remark@+1 {{recurrence of carry 'g' is affine (diagonal): fused scan}}
  %h, %ys = seq.scan reverse %len carry(%h0 : tensor<24xf32>) output_axes = [0]
      -> (tensor<24xf32>, tensor<?x24xf32>) {
  ^bb0(%t: index, %hc: tensor<24xf32> loc("g")):
    %a = tensor.extract_slice %as[%t, 0] [1, 24] [1, 1] : tensor<?x24xf32> to tensor<24xf32>
    %e = tensor.empty() : tensor<24xf32>
    %hn = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}
        ins(%a, %hc : tensor<24xf32>, tensor<24xf32>) outs(%e : tensor<24xf32>) {
    ^bb0(%p: f32, %q: f32, %o: f32):
      %c = arith.constant 5.000000e-01 : f32
      %m = arith.mulf %q, %c : f32
      %s = arith.addf %m, %p : f32
      linalg.yield %s : f32
    } -> tensor<24xf32>
    seq.yield %hn, %hn : tensor<24xf32>, tensor<24xf32>
  }
  return %h, %ys : tensor<24xf32>, tensor<?x24xf32>
}

// -----

// Tests the refusals: an output that reduces the carry over a dim of
// dynamic size is not fused (remark); a non-affine recurrence is left to
// seq-recurrence-to-scan without a remark from this pass.
// CHECK-LABEL: func.func @refused
// CHECK: seq.scan
// CHECK: seq.scan
func.func @refused(%len: index, %as: tensor<?x?xf32>, %h0: tensor<?xf32>)
    -> (tensor<?xf32>, tensor<?xf32>) {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %n = tensor.dim %h0, %c0 : tensor<?xf32>
  // expected-remark@+1 {{recurrence of carry 'h' is affine (diagonal) but not fused (an output reduces the carry over a dim of dynamic size)}}
  %h, %ys = seq.scan %len carry(%h0 : tensor<?xf32>) output_axes = [0]
      -> (tensor<?xf32>, tensor<?xf32>) {
  ^bb0(%t: index, %hc: tensor<?xf32> loc("h")):
    %a = tensor.extract_slice %as[%t, 0] [1, %n] [1, 1] : tensor<?x?xf32> to tensor<?xf32>
    %e = tensor.empty(%n) : tensor<?xf32>
    %hn = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}
        ins(%a, %hc : tensor<?xf32>, tensor<?xf32>) outs(%e : tensor<?xf32>) {
    ^bb0(%p: f32, %q: f32, %o: f32):
      %m = arith.mulf %q, %p : f32
      linalg.yield %m : f32
    } -> tensor<?xf32>
    %e0 = tensor.empty() : tensor<f32>
    %z = linalg.fill ins(%zero : f32) outs(%e0 : tensor<f32>) -> tensor<f32>
    %s = linalg.reduce { arith.addf } ins(%hn : tensor<?xf32>) outs(%z : tensor<f32>) dimensions = [0]
    seq.yield %hn, %s : tensor<?xf32>, tensor<f32>
  }
  %g = seq.scan %len carry(%h0 : tensor<?xf32>) output_axes = []
      -> (tensor<?xf32>) {
  ^bb0(%t: index, %gc: tensor<?xf32> loc("g")):
    %e = tensor.empty(%n) : tensor<?xf32>
    %gn = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}
        ins(%gc : tensor<?xf32>) outs(%e : tensor<?xf32>) {
    ^bb0(%p: f32, %o: f32):
      %x = math.tanh %p : f32
      linalg.yield %x : f32
    } -> tensor<?xf32>
    seq.yield %gn : tensor<?xf32>
  }
  return %g, %ys : tensor<?xf32>, tensor<?xf32>
}
