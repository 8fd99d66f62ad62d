// RUN: seq-opt %s --split-input-file "--seq-lower-attention=tile-q=16 tile-k=32 single-query=false" | FileCheck %s
// RUN: seq-opt %s --split-input-file "--seq-lower-attention=tile-q=16 tile-k=32" | FileCheck %s --check-prefix=ONE

// Tests that a dynamic query length of 1 (a decode step) gets its own copy
// of the loops, with one-row query tiles, and the general one otherwise.
// ONE-LABEL: func.func @causal
// ONE: %[[TQ:.+]] = tensor.dim %{{.+}}, %c1{{.*}} : tensor<4x?x16xf32>
// ONE: %[[IS1:.+]] = arith.cmpi eq, %[[TQ]], %c1{{.*}} : index
// ONE: scf.if %[[IS1]] -> (tensor<4x?x8xf32>) {
// ONE: tensor.cast %{{.+}} : tensor<4x?x16xf32> to tensor<4x1x16xf32>
// ONE: linalg.matmul ins(%{{.+}}, %{{.+}} : tensor<1x16xf32>, tensor<16x32xf32>)
// ONE: } else {
// ONE: linalg.matmul ins(%{{.+}}, %{{.+}} : tensor<16x16xf32>, tensor<16x32xf32>)

// Tests the FlashAttention-2 loops of causal attention with a soft-capping
// score region: operands padded to whole tiles (keys transposed), a
// parallel loop over (batch, query tile, key split) carrying the per-item
// row max, row sum and accumulator buffers, a loop over the split's key
// tiles, tiles the mask hides skipped, the mask applied only where a tile
// needs it; then a parallel loop merging the splits of each query tile and
// writing acc / sum.
// CHECK-LABEL: func.func @causal
// CHECK-SAME: (%[[Q:[^:]+]]: tensor<4x?x16xf32>, %[[K:[^:]+]]: tensor<4x?x16xf32>, %[[V:[^:]+]]: tensor<4x?x8xf32>
// CHECK: %[[TK:.+]] = tensor.dim %[[K]], %{{.+}} : tensor<4x?x16xf32>
// CHECK: %[[QP:.+]] = tensor.insert_slice %[[Q]] into
// CHECK: %[[KT:.+]] = linalg.generic {{.*}} ins(%[[K]] : tensor<4x?x16xf32>) outs(%{{.+}} : tensor<4x16x?xf32>)
// CHECK: %[[KP:.+]] = tensor.insert_slice %[[KT]] into {{.*}} : tensor<4x16x?xf32> into tensor<4x16x?xf32>
// CHECK: %[[VP:.+]] = tensor.insert_slice %[[V]] into
// The number of key splits: ceil(64 / work items), at most one per key tile.
// CHECK: %[[NK:.+]] = arith.divui %{{.+}}, %c32{{.*}} : index
// CHECK: %[[WANT:.+]] = arith.ceildivui %c64, %{{.+}} : index
// CHECK: arith.minui %[[WANT]], %[[NK]] : index
// CHECK: %[[PART:.+]]:3 = scf.for %[[W:.+]] = %{{.+}} to %{{.+}} step %{{.+}} iter_args(%[[MB:.+]] = %{{.+}}, %[[LB:.+]] = %{{.+}}, %[[AB:.+]] = %{{.+}}) -> (tensor<?x16xf32>, tensor<?x16xf32>, tensor<?x16x8xf32>) {
// CHECK: %[[KHI:.+]] = arith.minui %{{.+}}, %[[NK]] : index
// CHECK: %[[QT:.+]] = tensor.extract_slice %[[QP]][%{{.+}}, %{{.+}}, %{{.+}}] [1, 16, 16] [1, 1, 1] : tensor<4x?x16xf32> to tensor<16x16xf32>
// CHECK: %[[R:.+]]:3 = scf.for %{{.+}} = %{{.+}} to %[[KHI]] step %{{.+}} iter_args(%[[M:.+]] = %{{.+}}, %[[L:.+]] = %{{.+}}, %[[A:.+]] = %{{.+}}) -> (tensor<16xf32>, tensor<16xf32>, tensor<16x8xf32>) {
// CHECK: %[[SKIP:.+]]:3 = scf.if %{{.+}} -> (tensor<16xf32>, tensor<16xf32>, tensor<16x8xf32>) {
// CHECK-NEXT: scf.yield %[[M]], %[[L]], %[[A]]
// CHECK: } else {
// CHECK: %[[KTILE:.+]] = tensor.extract_slice %[[KP]]{{.*}} [1, 16, 32] [1, 1, 1] : tensor<4x16x?xf32> to tensor<16x32xf32>
// CHECK: %[[S:.+]] = linalg.matmul ins(%[[QT]], %[[KTILE]] : tensor<16x16xf32>, tensor<16x32xf32>)
// CHECK: scf.if %{{.+}} -> (tensor<16x32xf32>) {
// CHECK: linalg.generic {{.*}} ins(%[[S]] : tensor<16x32xf32>)
// CHECK: math.tanh
// CHECK-NOT: arith.select
// CHECK: linalg.yield
// CHECK: } else {
// CHECK: linalg.generic {{.*}} ins(%[[S]] : tensor<16x32xf32>)
// CHECK: math.tanh
// CHECK: arith.cmpi slt, %{{.+}}, %[[TK]] : index
// CHECK: arith.cmpi sge
// CHECK: arith.select
// CHECK: arith.maxnumf
// CHECK: math.exp
// CHECK: math.exp
// CHECK: %[[VTILE:.+]] = tensor.extract_slice %[[VP]]{{.*}} [1, 32, 8] [1, 1, 1] : tensor<4x?x8xf32> to tensor<32x8xf32>
// CHECK: linalg.matmul ins(%{{.+}}, %[[VTILE]] : tensor<16x32xf32>, tensor<32x8xf32>)
// CHECK: tensor.insert_slice %[[R]]#0 into %[[MB]][%[[W]], 0] [1, 16] [1, 1]
// CHECK: tensor.insert_slice %[[R]]#1 into %[[LB]][%[[W]], 0] [1, 16] [1, 1]
// CHECK: tensor.insert_slice %[[R]]#2 into %[[AB]][%[[W]], 0, 0] [1, 16, 8] [1, 1, 1]
// CHECK: } {seq.parallel}
// CHECK: %[[OUT:.+]] = scf.for %{{.+}} iter_args(%[[ACC:.+]] = %{{.+}}) -> (tensor<4x?x8xf32>) {
// CHECK: scf.for
// CHECK: tensor.extract_slice %[[PART]]#0
// CHECK: tensor.extract_slice %[[PART]]#1
// CHECK: tensor.extract_slice %[[PART]]#2
// CHECK: arith.maxnumf
// CHECK: arith.divf
// CHECK: tensor.insert_slice %{{.+}} into %[[ACC]][%{{.+}}, %{{.+}}, 0] [1, 16, 8] [1, 1, 1] : tensor<16x8xf32> into tensor<4x?x8xf32>
// CHECK: } {seq.parallel}
// CHECK: %[[RES:.+]] = tensor.extract_slice %[[OUT]][0, 0, 0] [4, %{{.+}}, 8] [1, 1, 1] : tensor<4x?x8xf32> to tensor<4x?x8xf32>
// CHECK: return %[[RES]]
func.func @causal(%q: tensor<4x?x16xf32>, %k: tensor<4x?x16xf32>, %v: tensor<4x?x8xf32>, %o: tensor<4x?x8xf32>) -> tensor<4x?x8xf32> {
  %r = seq.attention ins(%q, %k, %v : tensor<4x?x16xf32>, tensor<4x?x16xf32>, tensor<4x?x8xf32>)
                     outs(%o : tensor<4x?x8xf32>) scale = 0.25 mask = [1, -1, 0] -> tensor<4x?x8xf32> {
  ^bb0(%s: f32, %b: index, %i: index, %j: index):
    %c = arith.constant 5.0 : f32
    %x = arith.divf %s, %c : f32
    %t = math.tanh %x : f32
    %y = arith.mulf %t, %c : f32
    seq.yield %y : f32
  }
  return %r : tensor<4x?x8xf32>
}

// -----

// Tests bf16 operands: converted to f32 once, and the f32 result truncated
// back into the bf16 init; a key axis of 1 (MQA) reads key batch index 0.
// CHECK-LABEL: func.func @bf16_mqa
// CHECK: arith.extf %{{.+}} : bf16 to f32
// CHECK: scf.for
// CHECK: tensor.extract_slice %{{.+}}[%c0{{[_0-9]*}}, %c0{{[_0-9]*}}, %{{.+}}] [1, 16, 32]
// CHECK: } {seq.parallel}
// CHECK: arith.truncf %{{.+}} : f32 to bf16
func.func @bf16_mqa(%q: tensor<4x?x16xbf16>, %k: tensor<1x?x16xbf16>, %v: tensor<1x?x16xbf16>, %o: tensor<4x?x16xbf16>) -> tensor<4x?x16xbf16> {
  %r = seq.attention ins(%q, %k, %v : tensor<4x?x16xbf16>, tensor<1x?x16xbf16>, tensor<1x?x16xbf16>)
                     outs(%o : tensor<4x?x16xbf16>) -> tensor<4x?x16xbf16> {
  ^bb0(%s: f32, %b: index, %i: index, %j: index):
    seq.yield %s : f32
  }
  return %r : tensor<4x?x16xbf16>
}

// -----

// Tests that a static query length shorter than a tile (decoding: one
// query) is the query tile: a tile of one row, no padded rows.
// CHECK-LABEL: func.func @decode
// CHECK: tensor.extract_slice %{{.+}} [1, 1, 64] [1, 1, 1] : tensor<2x?x64xf32> to tensor<1x64xf32>
// CHECK: linalg.matmul ins(%{{.+}}, %{{.+}} : tensor<1x64xf32>, tensor<64x32xf32>)
func.func @decode(%q: tensor<2x1x64xf32>, %k: tensor<2x?x64xf32>, %v: tensor<2x?x64xf32>, %o: tensor<2x1x64xf32>) -> tensor<2x1x64xf32> {
  %r = seq.attention ins(%q, %k, %v : tensor<2x1x64xf32>, tensor<2x?x64xf32>, tensor<2x?x64xf32>)
                     outs(%o : tensor<2x1x64xf32>) -> tensor<2x1x64xf32> {
  ^bb0(%s: f32, %b: index, %i: index, %j: index):
    seq.yield %s : f32
  }
  return %r : tensor<2x1x64xf32>
}
