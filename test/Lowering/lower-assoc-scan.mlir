// RUN: seq-opt %s --split-input-file --seq-lower-assoc-scan | FileCheck %s
// RUN: seq-opt %s --split-input-file --seq-lower-assoc-scan="vector-width=1 channels-per-task=1 device-threads=16384 max-chunks=48 min-chunk=64" | FileCheck %s --check-prefix=GPU

// Tests that the affine pair scan over [T, 4, 3] becomes three loop nests
// over the inputs collapsed to [T, 12]: the chunk totals (parallel), their
// sequential scan, and the rescan of every chunk (parallel) with the
// combiner's payload on vectors of 64 channels, masked at the channel
// count; the number of chunks comes from the pool's size at run time, and
// the unused first result is not written.
// For the GPU (GPU prefix) a task is one channel, the threads to fill are
// a constant, and the chunks are at most max-chunks.
// GPU-LABEL: func.func @affine
// GPU-NOT: llvm.call
// GPU: arith.cmpi uge, %{{.+}}, %c16384 : index
// GPU: arith.minui %{{.+}}, %c48 : index
// GPU: scf.for {{.+}} -> (vector<1xf32>, vector<1xf32>)
// GPU: } {seq.parallel}
// CHECK-LABEL: func.func @affine
// CHECK-SAME: (%[[A:.+]]: tensor<?x4x3xf32>, %[[B:.+]]: tensor<?x4x3xf32>)
// CHECK-DAG: %[[AF:.+]] = tensor.collapse_shape %[[A]] {{\[}}[0], [1, 2]] : tensor<?x4x3xf32> into tensor<?x12xf32>
// CHECK-DAG: %[[BF:.+]] = tensor.collapse_shape %[[B]] {{\[}}[0], [1, 2]] : tensor<?x4x3xf32> into tensor<?x12xf32>
// CHECK: %[[P:.+]] = llvm.call @seqrt_num_threads() : () -> i32
// CHECK: %[[K:.+]] = arith.select %{{.+}}, %{{.+}}, %{{.+}} : index
// CHECK: %[[TOT:.+]]:2 = scf.for
// CHECK: scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c64
// CHECK: %[[M1:.+]] = vector.create_mask %{{.+}} : vector<64xi1>
// CHECK: scf.for {{.+}} -> (vector<64xf32>, vector<64xf32>)
// CHECK: vector.transfer_read %[[AF]][%{{.+}}, %{{.+}}], %{{.+}}, %[[M1]] {in_bounds = [true]} : tensor<?x12xf32>, vector<64xf32>
// CHECK: } {seq.parallel}
// CHECK: %[[SCANNED:.+]]:2 = scf.for %{{.+}} = %c0{{.*}} to %{{.+}} step %c64
// CHECK: scf.for %{{.+}} = %c1{{.*}} to {{.+}} -> (vector<64xf32>, vector<64xf32>, tensor<?x12xf32>, tensor<?x12xf32>)
// CHECK: arith.mulf {{.+}} : vector<64xf32>
// CHECK: } {seq.parallel}
// CHECK: %[[OUT:.+]] = scf.for
// CHECK: vector.transfer_read %[[SCANNED]]#0
// CHECK: scf.for {{.+}} -> (vector<64xf32>, vector<64xf32>, tensor<?x12xf32>)
// CHECK: %[[X:.+]] = vector.transfer_read %[[AF]]
// CHECK: %[[Y:.+]] = vector.transfer_read %[[BF]]
// CHECK: arith.mulf
// CHECK: %[[S:.+]] = arith.select %{{.+}}, %[[Y]], %{{.+}} : vector<64xf32>
// CHECK: vector.transfer_write %[[S]]
// CHECK-NOT: vector.transfer_write
// CHECK: } {seq.parallel}
// CHECK: %[[R:.+]] = tensor.expand_shape %[[OUT]] {{\[}}[0], [1, 2]] output_shape [%{{.+}}, 4, 3] : tensor<?x12xf32> into tensor<?x4x3xf32>
// CHECK: return %[[R]]
func.func @affine(%a: tensor<?x4x3xf32>, %b: tensor<?x4x3xf32>) -> (tensor<?x4x3xf32>) {
  %r:2 = seq.assoc_scan axis = 0 (%a, %b) : tensor<?x4x3xf32>, tensor<?x4x3xf32> {
  ^bb0(%a1: tensor<4x3xf32>, %b1: tensor<4x3xf32>, %a2: tensor<4x3xf32>, %b2: tensor<4x3xf32>):
    %e = tensor.empty() : tensor<4x3xf32>
    %g:2 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%a1, %b1, %a2, %b2 : tensor<4x3xf32>, tensor<4x3xf32>, tensor<4x3xf32>, tensor<4x3xf32>) outs(%e, %e : tensor<4x3xf32>, tensor<4x3xf32>) {
    ^bb0(%x1: f32, %y1: f32, %x2: f32, %y2: f32, %o1: f32, %o2: f32):
      %m = arith.mulf %x1, %x2 : f32
      %s = arith.mulf %x2, %y1 : f32
      %t = arith.addf %s, %y2 : f32
      linalg.yield %m, %t : f32, f32
    } -> (tensor<4x3xf32>, tensor<4x3xf32>)
    seq.yield %g#0, %g#1 : tensor<4x3xf32>, tensor<4x3xf32>
  }
  return %r#1 : tensor<?x4x3xf32>
}

// -----

// Tests that a reverse scan of a 1-D tensor reads time from the end
// (`T - 1 - i`) and sees its input as [T, 1], and that a scalar constant
// of the combiner is broadcast to the vector.
// CHECK-LABEL: func.func @reverse
// CHECK-SAME: (%[[X:.+]]: tensor<8xf32>)
// CHECK: %[[XF:.+]] = tensor.expand_shape %[[X]] {{\[}}[0, 1]] output_shape [8, 1] : tensor<8xf32> into tensor<8x1xf32>
// CHECK: scf.for %[[I:.+]] = %{{.+}} to %{{.+}} step %{{.+}} iter_args(%[[ACC:.+]] = %{{.+}}, %{{.+}} = %{{.+}}) -> (vector<64xf32>, tensor<8x1xf32>)
// CHECK: %[[LAST:.+]] = arith.subi %{{.+}}, %c1
// CHECK: %[[T:.+]] = arith.subi %[[LAST]], %[[I]] : index
// CHECK: %[[V:.+]] = vector.transfer_read %[[XF]][%[[T]], %{{.+}}]
// CHECK: %[[TWO:.+]] = vector.broadcast %{{.+}} : f32 to vector<64xf32>
// CHECK: %[[M:.+]] = arith.mulf %[[ACC]], %[[TWO]] : vector<64xf32>
// CHECK: arith.addf %[[M]], %[[V]] : vector<64xf32>
// CHECK: %[[R:.+]] = tensor.collapse_shape %{{.+}} {{\[}}[0, 1]] : tensor<8x1xf32> into tensor<8xf32>
// CHECK: return %[[R]]
func.func @reverse(%x: tensor<8xf32>) -> tensor<8xf32> {
  %r = seq.assoc_scan reverse axis = 0 (%x) : tensor<8xf32> {
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    %two = arith.constant 2.0 : f32
    %e = tensor.empty() : tensor<f32>
    %g = linalg.generic {indexing_maps = [affine_map<() -> ()>, affine_map<() -> ()>, affine_map<() -> ()>], iterator_types = []} ins(%a, %b : tensor<f32>, tensor<f32>) outs(%e : tensor<f32>) {
    ^bb0(%p: f32, %q: f32, %o: f32):
      %m = arith.mulf %p, %two : f32
      %s = arith.addf %m, %q : f32
      linalg.yield %s : f32
    } -> tensor<f32>
    seq.yield %g : tensor<f32>
  }
  return %r : tensor<8xf32>
}

// -----

// Tests that an assoc_scan whose combiner is not elementwise (a reduction)
// is left to convert-seq-to-scf.
// CHECK-LABEL: func.func @not_elementwise
// CHECK: seq.assoc_scan
// CHECK-NOT: llvm.call
func.func @not_elementwise(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %r = seq.assoc_scan axis = 0 (%x) : tensor<?x4xf32> {
  ^bb0(%a: tensor<4xf32>, %b: tensor<4xf32>):
    %z = arith.constant 0.0 : f32
    %e = tensor.empty() : tensor<f32>
    %f = linalg.fill ins(%z : f32) outs(%e : tensor<f32>) -> tensor<f32>
    %s = linalg.reduce ins(%a : tensor<4xf32>) outs(%f : tensor<f32>) dimensions = [0]
      (%in: f32, %acc: f32) {
        %v = arith.addf %in, %acc : f32
        linalg.yield %v : f32
      }
    %e2 = tensor.empty() : tensor<4xf32>
    %g = linalg.generic {indexing_maps = [affine_map<(d0) -> ()>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%s, %b : tensor<f32>, tensor<4xf32>) outs(%e2 : tensor<4xf32>) {
    ^bb0(%p: f32, %q: f32, %o: f32):
      %w = arith.addf %p, %q : f32
      linalg.yield %w : f32
    } -> tensor<4xf32>
    seq.yield %g : tensor<4xf32>
  }
  return %r : tensor<?x4xf32>
}

// -----

// Tests the one-channel form's reads through producers and writes into the
// consumer's layout (GPU prefix). The inputs are [B, T, 4] tensors made
// time-major by permuting generics (one also adds a constant), as a
// recurrence's chunked form makes them; the result goes back to [B, T, 4]
// through a permuting generic and a copy into %dest, and its last time row
// is sliced. The scan reads %a and %b where they are (tensor.extract at the
// channel's point, the sum computed at the read), seeds each phase-1 chunk
// with its first element, writes its results into %dest (tensor.insert at
// the permuted point), and the row is a slice of that: no generic, copy,
// collapse or expand is left.
// With vectors of 64 channels (CHECK prefix) the inputs are collapsed to
// [T, C] as before.
// CHECK-LABEL: func.func @through
// CHECK: tensor.collapse_shape
// GPU-LABEL: func.func @through
// GPU-SAME: (%[[A:[^:]+]]: tensor<?x?x4xf32>, %[[B:[^:]+]]: tensor<?x?x4xf32>, %[[D:[^:]+]]: tensor<?x?x4xf32>)
// GPU-NOT: linalg.generic
// GPU-NOT: tensor.collapse_shape
// GPU: scf.for
// GPU: tensor.extract %[[A]][%{{.+}}, %{{.+}}, %{{.+}}] : tensor<?x?x4xf32>
// GPU: tensor.extract %[[B]][%{{.+}}, %{{.+}}, %{{.+}}] : tensor<?x?x4xf32>
// GPU: arith.addf %{{.+}}, %{{.+}} : f32
// GPU: } {seq.parallel}
// GPU: } {seq.parallel}
// GPU: %[[OUT:.+]] = scf.for {{.*}} iter_args(%{{.+}} = %[[D]]) -> (tensor<?x?x4xf32>)
// GPU: tensor.extract %[[A]]
// GPU: tensor.insert %{{.+}} into %{{.+}}[%{{.+}}, %{{.+}}, %{{.+}}] : tensor<?x?x4xf32>
// GPU: } {seq.parallel}
// GPU-NOT: linalg.copy
// GPU-NOT: linalg.generic
// GPU: %[[ROW:.+]] = tensor.extract_slice %[[OUT]][0, %{{.+}}, 0] [%{{.+}}, 1, 4] [1, 1, 1] : tensor<?x?x4xf32> to tensor<?x4xf32>
// GPU: return %[[OUT]], %[[ROW]]
func.func @through(%a: tensor<?x?x4xf32>, %b: tensor<?x?x4xf32>, %dest: tensor<?x?x4xf32>) -> (tensor<?x?x4xf32>, tensor<?x4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %half = arith.constant 0.5 : f32
  %nb = tensor.dim %a, %c0 : tensor<?x?x4xf32>
  %nt = tensor.dim %a, %c1 : tensor<?x?x4xf32>
  %e = tensor.empty(%nt, %nb) : tensor<?x?x4xf32>
  %at = linalg.generic {indexing_maps = [affine_map<(t, b, d) -> (b, t, d)>, affine_map<(t, b, d) -> (t, b, d)>], iterator_types = ["parallel", "parallel", "parallel"]} ins(%a : tensor<?x?x4xf32>) outs(%e : tensor<?x?x4xf32>) {
  ^bb0(%x: f32, %o: f32):
    linalg.yield %x : f32
  } -> tensor<?x?x4xf32>
  %bt = linalg.generic {indexing_maps = [affine_map<(t, b, d) -> (b, t, d)>, affine_map<(t, b, d) -> (t, b, d)>], iterator_types = ["parallel", "parallel", "parallel"]} ins(%b : tensor<?x?x4xf32>) outs(%e : tensor<?x?x4xf32>) {
  ^bb0(%x: f32, %o: f32):
    %s = arith.addf %x, %half : f32
    linalg.yield %s : f32
  } -> tensor<?x?x4xf32>
  %r:2 = seq.assoc_scan axis = 0 (%at, %bt) : tensor<?x?x4xf32>, tensor<?x?x4xf32> {
  ^bb0(%a1: tensor<?x4xf32>, %b1: tensor<?x4xf32>, %a2: tensor<?x4xf32>, %b2: tensor<?x4xf32>):
    %n = tensor.dim %a1, %c0 : tensor<?x4xf32>
    %ee = tensor.empty(%n) : tensor<?x4xf32>
    %g:2 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%a1, %b1, %a2, %b2 : tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>) outs(%ee, %ee : tensor<?x4xf32>, tensor<?x4xf32>) {
    ^bb0(%x1: f32, %y1: f32, %x2: f32, %y2: f32, %o1: f32, %o2: f32):
      %m = arith.mulf %x1, %x2 : f32
      %s = arith.mulf %x2, %y1 : f32
      %t = arith.addf %s, %y2 : f32
      linalg.yield %m, %t : f32, f32
    } -> (tensor<?x4xf32>, tensor<?x4xf32>)
    seq.yield %g#0, %g#1 : tensor<?x4xf32>, tensor<?x4xf32>
  }
  %full = tensor.extract_slice %r#1[0, 0, 0] [%nt, %nb, 4] [1, 1, 1] : tensor<?x?x4xf32> to tensor<?x?x4xf32>
  %e2 = tensor.empty(%nb, %nt) : tensor<?x?x4xf32>
  %back = linalg.generic {indexing_maps = [affine_map<(b, t, d) -> (t, b, d)>, affine_map<(b, t, d) -> (b, t, d)>], iterator_types = ["parallel", "parallel", "parallel"]} ins(%full : tensor<?x?x4xf32>) outs(%e2 : tensor<?x?x4xf32>) {
  ^bb0(%x: f32, %o: f32):
    linalg.yield %x : f32
  } -> tensor<?x?x4xf32>
  %copied = linalg.copy ins(%back : tensor<?x?x4xf32>) outs(%dest : tensor<?x?x4xf32>) -> tensor<?x?x4xf32>
  %last = arith.subi %nt, %c1 : index
  %row = tensor.extract_slice %r#1[%last, 0, 0] [1, %nb, 4] [1, 1, 1] : tensor<?x?x4xf32> to tensor<?x4xf32>
  return %copied, %row : tensor<?x?x4xf32>, tensor<?x4xf32>
}
