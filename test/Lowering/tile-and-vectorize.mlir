// RUN: seq-opt %s --split-input-file --seq-tile-and-vectorize | FileCheck %s
// RUN: seq-opt %s --split-input-file --seq-tile-and-vectorize=peel=false | FileCheck %s --check-prefix=NOPEEL
// RUN: seq-opt %s --split-input-file --seq-tile-and-vectorize=vector-width=8 | FileCheck %s --check-prefix=W8

// Tests that a matmul with a dynamic row count is tiled 8 x 16 x 16 (m, n,
// k), that the full tiles become a vector.contract, and that the peeled
// remainder rows stay a linalg.matmul on a dynamic slice.
// CHECK-LABEL: func.func @matmul_dynamic_rows
// CHECK-SAME: (%[[A:.+]]: tensor<?x64xf32>, %[[B:.+]]: tensor<64x64xf32>, %[[C:.+]]: tensor<?x64xf32>)
// CHECK: %[[MAIN:.+]] = scf.for %[[I:.+]] = %{{.+}} to %{{.+}} step %[[C8:.+]] iter_args
// CHECK: scf.for %{{.+}} step %[[C16:.+]] iter_args
// CHECK: scf.for %{{.+}} step %[[C16]] iter_args
// CHECK: %[[VA:.+]] = vector.transfer_read {{.+}} : tensor<8x16xf32>, vector<8x16xf32>
// CHECK: %[[VB:.+]] = vector.transfer_read {{.+}} : tensor<16x16xf32>, vector<16x16xf32>
// CHECK: %[[VC:.+]] = vector.transfer_read {{.+}} : tensor<8x16xf32>, vector<8x16xf32>
// CHECK: vector.contract {{.+}} %[[VA]], %[[VB]], %[[VC]] : vector<8x16xf32>, vector<16x16xf32> into vector<8x16xf32>
// CHECK: %[[REM:.+]] = scf.for %{{.+}} iter_args(%{{.+}} = %[[MAIN]])
// CHECK: linalg.matmul ins(%{{.+}}, %{{.+}} : tensor<?x16xf32>, tensor<16x16xf32>) outs(%{{.+}} : tensor<?x16xf32>)
// CHECK: return %[[REM]]
// NOPEEL-LABEL: func.func @matmul_dynamic_rows
// NOPEEL-NOT: vector.contract
// NOPEEL: linalg.matmul ins(%{{.+}}, %{{.+}} : tensor<?x16xf32>, tensor<16x16xf32>)
func.func @matmul_dynamic_rows(%a: tensor<?x64xf32>, %b: tensor<64x64xf32>, %c: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %r = linalg.matmul ins(%a, %b : tensor<?x64xf32>, tensor<64x64xf32>) outs(%c : tensor<?x64xf32>) -> tensor<?x64xf32>
  return %r : tensor<?x64xf32>
}

// -----

// Tests that an elementwise generic is tiled by one vector (16 lanes) on its
// innermost loop and 1 on the others, and vectorised to 1-D vector math.
// CHECK-LABEL: func.func @elementwise_exp
// CHECK: scf.for %{{.+}} step %[[C1:.+]] iter_args
// CHECK: scf.for %{{.+}} step %[[C16:.+]] iter_args
// CHECK: %[[X:.+]] = vector.transfer_read {{.+}} : tensor<1x16xf32>, vector<16xf32>
// CHECK: %[[E:.+]] = math.exp %[[X]] : vector<16xf32>
// CHECK: vector.transfer_write %[[E]], {{.+}} : vector<16xf32>, tensor<1x16xf32>
// CHECK-NOT: linalg.generic
func.func @elementwise_exp(%a: tensor<?x64xf32>, %c: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %r = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%a : tensor<?x64xf32>) outs(%c : tensor<?x64xf32>) {
  ^bb0(%x: f32, %o: f32):
    %e = math.exp %x : f32
    linalg.yield %e : f32
  } -> tensor<?x64xf32>
  return %r : tensor<?x64xf32>
}

// -----

// Tests that the vector width option sets the elementwise tile (16 lanes
// by default, 8 with vector-width=8).
// CHECK-LABEL: func.func @elementwise_width
// CHECK: vector.transfer_read {{.+}} : tensor<1x16xf32>, vector<16xf32>
// W8-LABEL: func.func @elementwise_width
// W8: vector.transfer_read {{.+}} : tensor<1x8xf32>, vector<8xf32>
// W8: arith.negf %{{.+}} : vector<8xf32>
func.func @elementwise_width(%a: tensor<4x64xf32>, %c: tensor<4x64xf32>) -> tensor<4x64xf32> {
  %r = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%a : tensor<4x64xf32>) outs(%c : tensor<4x64xf32>) {
  ^bb0(%x: f32, %o: f32):
    %n = arith.negf %x : f32
    linalg.yield %n : f32
  } -> tensor<4x64xf32>
  return %r : tensor<4x64xf32>
}

// -----

// Tests that a select on an i1 mask is tiled but not vectorised: a vector of
// i1 in memory is a packed bit mask, the buffers hold one byte per element.
// CHECK-LABEL: func.func @bool_mask_stays_scalar
// CHECK: scf.for
// CHECK-NOT: vector.transfer_read
// CHECK: linalg.generic {{.+}} ins(%{{.+}}, %{{.+}} : tensor<1x16xi1>, tensor<1x16xf32>)
func.func @bool_mask_stays_scalar(%m: tensor<4x64xi1>, %a: tensor<4x64xf32>, %c: tensor<4x64xf32>) -> tensor<4x64xf32> {
  %z = arith.constant 0.0 : f32
  %r = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%m, %a : tensor<4x64xi1>, tensor<4x64xf32>) outs(%c : tensor<4x64xf32>) {
  ^bb0(%b: i1, %x: f32, %o: f32):
    %s = arith.select %b, %x, %z : f32
    linalg.yield %s : f32
  } -> tensor<4x64xf32>
  return %r : tensor<4x64xf32>
}

// -----

// Tests that a small static reduction (a row sum of 4 x 64) is one tile:
// vectorised whole, each row reducing as a vector.
// CHECK-LABEL: func.func @row_sum_whole
// CHECK-NOT: scf.for
// CHECK: %[[V:.+]] = vector.transfer_read %{{.+}} : tensor<4x64xf32>, vector<4x64xf32>
// CHECK: vector.multi_reduction <add>, %[[V]], %{{.+}} [1] : vector<4x64xf32> to vector<4xf32>
func.func @row_sum_whole(%a: tensor<4x64xf32>, %c: tensor<4xf32>) -> tensor<4xf32> {
  %r = linalg.reduce ins(%a : tensor<4x64xf32>) outs(%c : tensor<4xf32>) dimensions = [1]
    (%x: f32, %acc: f32) {
      %s = arith.addf %x, %acc : f32
      linalg.yield %s : f32
    }
  return %r : tensor<4xf32>
}

// -----

// Tests that a reduction over rows of dynamic count is tiled along the row,
// and that its tiles (one element each) are left scalar (their vector form
// would be 0-d).
// CHECK-LABEL: func.func @row_sum_stays_scalar
// CHECK: scf.for
// CHECK-NOT: vector.multi_reduction
// CHECK: linalg.reduce ins(%{{.+}} : tensor<1x16xf32>) outs(%{{.+}} : tensor<1xf32>)
func.func @row_sum_stays_scalar(%a: tensor<?x64xf32>, %c: tensor<?xf32>) -> tensor<?xf32> {
  %r = linalg.reduce ins(%a : tensor<?x64xf32>) outs(%c : tensor<?xf32>) dimensions = [1]
    (%x: f32, %acc: f32) {
      %s = arith.addf %x, %acc : f32
      linalg.yield %s : f32
    }
  return %r : tensor<?xf32>
}
