// RUN: seq-opt %s --split-input-file --seq-batch-scan-steps | FileCheck %s

// Tests that a carry-free scan reading slices at %t (time at axis 1 of the
// source, a unit dim added) becomes one linalg.generic over [T, 2, 4] that
// reads the whole source through its indexing map, then a copy into the
// stacked layout (time at output axis 1).
// CHECK-DAG: #[[$READ:.+]] = affine_map<(d0, d1, d2) -> (d1, d0, d2)>
// CHECK-DAG: #[[$ID:.+]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @steps
// CHECK-SAME: (%[[T:.+]]: index, %[[XS:.+]]: tensor<2x?x4xf32>)
// CHECK: %[[X:.+]] = tensor.extract_slice %[[XS]][0, 0, 0] [2, %[[T]], 4] [1, 1, 1] : tensor<2x?x4xf32> to tensor<2x?x4xf32>
// CHECK: %[[E:.+]] = tensor.empty(%[[T]]) : tensor<?x2x4xf32>
// CHECK: %[[Y:.+]] = linalg.generic {indexing_maps = [#[[$READ]], #[[$ID]]], iterator_types = ["parallel", "parallel", "parallel"]} ins(%[[X]] : tensor<2x?x4xf32>) outs(%[[E]] : tensor<?x2x4xf32>)
// CHECK: math.exp
// CHECK: %[[S:.+]] = linalg.generic {indexing_maps = [#[[$READ]], #[[$ID]]], {{.+}} ins(%[[Y]] : tensor<?x2x4xf32>) outs(%{{.+}} : tensor<2x?x4xf32>)
// CHECK-NOT: seq.scan
// CHECK: return %[[S]]
func.func @steps(%T: index, %xs: tensor<2x?x4xf32>) -> tensor<2x?x4xf32> {
  %ys = seq.scan %T output_axes = [1] -> (tensor<2x?x4xf32>) {
  ^bb0(%t: index):
    %x = tensor.extract_slice %xs[0, %t, 0] [2, 1, 4] [1, 1, 1] : tensor<2x?x4xf32> to tensor<2x4xf32>
    %e = tensor.empty() : tensor<2x4xf32>
    %y = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<2x4xf32>) outs(%e : tensor<2x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %v = math.exp %in : f32
      linalg.yield %v : f32
    } -> tensor<2x4xf32>
    seq.yield %y : tensor<2x4xf32>
  }
  return %ys : tensor<2x?x4xf32>
}

// -----

// Tests that a scan using the step as a value is left alone.
// CHECK-LABEL: func.func @step_as_value
// CHECK: seq.scan
func.func @step_as_value(%T: index) -> tensor<?xi64> {
  %ys = seq.scan %T output_axes = [0] -> (tensor<?xi64>) {
  ^bb0(%t: index):
    %i = arith.index_cast %t : index to i64
    %v = tensor.from_elements %i : tensor<i64>
    seq.yield %v : tensor<i64>
  }
  return %ys : tensor<?xi64>
}
