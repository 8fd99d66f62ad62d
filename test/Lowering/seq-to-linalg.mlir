// RUN: seq-opt %s --split-input-file --convert-seq-to-linalg | FileCheck %s
// RUN: seq-opt %s --split-input-file --convert-seq-to-linalg --mlir-print-debuginfo | FileCheck %s --check-prefix=LOC

// Tests that a softmax along the last axis becomes a max reduce from -inf,
// exp(x - max') with max' = 0 where the max is -inf, a sum reduce from 0
// and a division that gives 0 where the sum is 0.
// CHECK-DAG: #[[$ID:.+]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[$ROW:.+]] = affine_map<(d0, d1) -> (d0)>
// CHECK-LABEL: func.func @softmax_last
// CHECK-SAME: (%[[X:.+]]: tensor<4x?xf32>)
// CHECK: %[[NINF:.+]] = arith.constant 0xFF800000 : f32
// CHECK: %[[MINIT:.+]] = linalg.fill ins(%[[NINF]] : f32) outs(%{{.+}} : tensor<4xf32>)
// CHECK: %[[MAX:.+]] = linalg.reduce ins(%[[X]] : tensor<4x?xf32>) outs(%[[MINIT]] : tensor<4xf32>) dimensions = [1]
// CHECK: arith.maxnumf
// CHECK: %[[EXP:.+]] = linalg.generic {indexing_maps = [#[[$ID]], #[[$ROW]], #[[$ID]]], iterator_types = ["parallel", "parallel"]} ins(%[[X]], %[[MAX]] : tensor<4x?xf32>, tensor<4xf32>)
// CHECK: ^bb0(%[[XV:.+]]: f32, %[[MV:.+]]: f32, %{{.+}}: f32):
// CHECK: %[[ISNINF:.+]] = arith.cmpf oeq, %[[MV]], %{{.+}} : f32
// CHECK: %[[M:.+]] = arith.select %[[ISNINF]], %{{.+}}, %[[MV]] : f32
// CHECK: %[[D:.+]] = arith.subf %[[XV]], %[[M]] : f32
// CHECK: %[[E:.+]] = math.exp %[[D]] : f32
// CHECK: linalg.yield %[[E]] : f32
// CHECK: %[[SUM:.+]] = linalg.reduce ins(%[[EXP]] : tensor<4x?xf32>) outs(%{{.+}} : tensor<4xf32>) dimensions = [1]
// CHECK: arith.addf
// CHECK: %[[P:.+]] = linalg.generic {indexing_maps = [#[[$ID]], #[[$ROW]], #[[$ID]]], iterator_types = ["parallel", "parallel"]} ins(%[[EXP]], %[[SUM]] : tensor<4x?xf32>, tensor<4xf32>)
// CHECK: ^bb0(%[[EV:.+]]: f32, %[[SV:.+]]: f32, %{{.+}}: f32):
// CHECK: %[[ISZERO:.+]] = arith.cmpf oeq, %[[SV]], %[[ZERO:.+]] : f32
// CHECK: %[[Q:.+]] = arith.divf %[[EV]], %[[SV]] : f32
// CHECK: %[[R:.+]] = arith.select %[[ISZERO]], %[[ZERO]], %[[Q]] : f32
// CHECK: linalg.yield %[[R]] : f32
// CHECK: return %[[P]]
func.func @softmax_last(%x: tensor<4x?xf32>) -> tensor<4x?xf32> {
  %p = seq.softmax %x {axis = 1 : i64} : tensor<4x?xf32> -> tensor<4x?xf32>
  return %p : tensor<4x?xf32>
}

// -----

// Tests that a softmax along a middle axis reduces that axis and broadcasts
// the max and sum back along it; dynamic sizes come from the input.
// CHECK-DAG: #[[$ID3:.+]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-DAG: #[[$MID:.+]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-LABEL: func.func @softmax_middle
// CHECK-SAME: (%[[X:.+]]: tensor<?x8x3xf64>)
// CHECK: %[[B:.+]] = tensor.dim %[[X]], %{{.+}} : tensor<?x8x3xf64>
// CHECK: %[[ME:.+]] = tensor.empty(%[[B]]) : tensor<?x3xf64>
// CHECK: %[[MAX:.+]] = linalg.reduce ins(%[[X]] : tensor<?x8x3xf64>) outs(%{{.+}} : tensor<?x3xf64>) dimensions = [1]
// CHECK: %[[EXP:.+]] = linalg.generic {indexing_maps = [#[[$ID3]], #[[$MID]], #[[$ID3]]], iterator_types = ["parallel", "parallel", "parallel"]} ins(%[[X]], %[[MAX]] : tensor<?x8x3xf64>, tensor<?x3xf64>)
// CHECK: math.exp
// CHECK: %[[SUM:.+]] = linalg.reduce ins(%[[EXP]] : tensor<?x8x3xf64>) outs(%{{.+}} : tensor<?x3xf64>) dimensions = [1]
// CHECK: %[[P:.+]] = linalg.generic {indexing_maps = [#[[$ID3]], #[[$MID]], #[[$ID3]]], iterator_types = ["parallel", "parallel", "parallel"]} ins(%[[EXP]], %[[SUM]] : tensor<?x8x3xf64>, tensor<?x3xf64>)
// CHECK: return %[[P]]
func.func @softmax_middle(%x: tensor<?x8x3xf64>) -> tensor<?x8x3xf64> {
  %p = seq.softmax %x {axis = 1 : i64} : tensor<?x8x3xf64> -> tensor<?x8x3xf64>
  return %p : tensor<?x8x3xf64>
}

// -----

// Tests that every op of the decomposition keeps the softmax's location.
// LOC: #[[$L:loc[0-9]*]] = loc("model.seq":3:7)
// LOC-LABEL: func.func @softmax_loc
// LOC: linalg.fill {{.*}} loc(#[[$L]])
// LOC: arith.maxnumf {{.*}} loc(#[[$L]])
// LOC: math.exp {{.*}} loc(#[[$L]])
// LOC: arith.addf {{.*}} loc(#[[$L]])
// LOC: arith.divf {{.*}} loc(#[[$L]])
func.func @softmax_loc(%x: tensor<2x5xf32>) -> tensor<2x5xf32> {
  %p = seq.softmax %x {axis = 1 : i64} : tensor<2x5xf32> -> tensor<2x5xf32> loc("model.seq":3:7)
  return %p : tensor<2x5xf32>
}
