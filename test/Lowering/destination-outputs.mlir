// RUN: seq-opt %s --seq-destination-outputs --split-input-file | FileCheck %s
// RUN: seq-opt %s --seq-destination-outputs --eliminate-empty-tensors --split-input-file | FileCheck %s --check-prefix=ELIM

// An entry's output becomes a trailing memref argument written before the
// return; eliminate-empty-tensors then makes the op that computes it write
// into that argument.
// CHECK-LABEL: func.func @forward(
// CHECK-SAME: %[[X:.*]]: tensor<?x4xf32>, %[[OUT:.*]]: memref<?x4xf32> {seq.output})
// CHECK-NOT: -> tensor
// CHECK: %[[Y:.*]] = linalg.generic
// CHECK: bufferization.materialize_in_destination %[[Y]] in restrict writable %[[OUT]]
// CHECK: return{{$}}
// ELIM-LABEL: func.func @forward(
// ELIM: %[[DEST:.*]] = bufferization.to_tensor %{{.*}} restrict writable
// ELIM: linalg.generic {{.*}} outs(%[[DEST]] :
func.func @forward(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x4xf32>
  %e = tensor.empty(%n) : tensor<?x4xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<?x4xf32>) outs(%e : tensor<?x4xf32>) {
  ^bb0(%a: f32, %b: f32):
    %s = arith.mulf %a, %a : f32
    linalg.yield %s : f32
  } -> tensor<?x4xf32>
  return %y : tensor<?x4xf32>
}

// -----

// States (results marked seq.state) stay results, after the outputs moved.
// CHECK-LABEL: func.func @step(
// CHECK-SAME: %[[H:.*]]: tensor<4xf32>, %[[O:.*]]: memref<4xf32> {seq.output}) -> (tensor<4xf32> {seq.state})
// CHECK: bufferization.materialize_in_destination %[[H]] in restrict writable %[[O]]
// CHECK: return %{{.*}} : tensor<4xf32>
func.func @step(%h: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32> {seq.state}) {
  %n = arith.addf %h, %h : tensor<4xf32>
  return %h, %n : tensor<4xf32>, tensor<4xf32>
}

// -----

// Private functions keep their results.
// CHECK-LABEL: func.func private @helper(
// CHECK-SAME: -> tensor<4xf32>
func.func private @helper(%h: tensor<4xf32>) -> tensor<4xf32> {
  return %h : tensor<4xf32>
}

// -----

// An output chosen by an scf.if (seq-fuse-scan's run-time choice of form)
// is written in each branch: eliminate-empty-tensors then makes both
// branches fill the caller's tensor (it follows only one branch of an
// scf.if result).
// CHECK-LABEL: func.func @chosen(
// CHECK: scf.if
// CHECK:   linalg.fill
// CHECK:   bufferization.materialize_in_destination %{{.*}} in restrict writable
// CHECK: } else {
// CHECK:   linalg.copy
// CHECK:   bufferization.materialize_in_destination %{{.*}} in restrict writable
// ELIM-LABEL: func.func @chosen(
// ELIM: %[[D0:.*]] = bufferization.to_tensor %{{.*}} restrict writable
// ELIM: %[[D1:.*]] = bufferization.to_tensor %{{.*}} restrict writable
// ELIM: linalg.fill {{.*}} outs(%[[D0]] : tensor<?xf32>)
// ELIM: linalg.copy {{.*}} outs(%[[D1]] : tensor<?xf32>)
func.func @chosen(%c: i1, %x: tensor<?xf32>) -> tensor<?xf32> {
  %c0 = arith.constant 0 : index
  %d = tensor.dim %x, %c0 : tensor<?xf32>
  %e = tensor.empty(%d) : tensor<?xf32>
  %one = arith.constant 1.0 : f32
  %r = scf.if %c -> tensor<?xf32> {
    %f = linalg.fill ins(%one : f32) outs(%e : tensor<?xf32>) -> tensor<?xf32>
    scf.yield %f : tensor<?xf32>
  } else {
    %g = linalg.copy ins(%x : tensor<?xf32>) outs(%e : tensor<?xf32>) -> tensor<?xf32>
    scf.yield %g : tensor<?xf32>
  }
  return %r : tensor<?xf32>
}
