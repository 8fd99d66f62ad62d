// RUN: seq-opt %s --split-input-file --seq-lower-vectors | FileCheck %s

// Tests that the accumulator of a contraction in a reduction loop is hoisted
// out of the loop (read before, carried as an iter_arg, written after) and
// that the contraction becomes FMAs of a broadcast lhs element and an rhs row.
// CHECK-LABEL: func.func @contract_in_loop
// CHECK-SAME: (%[[A:.+]]: memref<8x64xf32>, %[[B:.+]]: memref<64x16xf32>, %[[C:.+]]: memref<8x16xf32>)
// CHECK: %[[INIT:.+]] = vector.transfer_read %[[C]]
// CHECK: %[[ACC:.+]] = scf.for %{{.+}} iter_args(%[[ITER:.+]] = %[[INIT]]) -> (vector<8x16xf32>)
// CHECK-NOT: vector.contract
// CHECK: vector.fma %{{.+}}, %{{.+}}, %{{.+}} : vector<16xf32>
// CHECK: scf.yield
// CHECK: vector.transfer_write %[[ACC]], %[[C]]
func.func @contract_in_loop(%a: memref<8x64xf32>, %b: memref<64x16xf32>, %c: memref<8x16xf32>) {
  %c0 = arith.constant 0 : index
  %c16 = arith.constant 16 : index
  %c64 = arith.constant 64 : index
  %z = arith.constant 0.0 : f32
  scf.for %k = %c0 to %c64 step %c16 {
    %va = vector.transfer_read %a[%c0, %k], %z {in_bounds = [true, true]} : memref<8x64xf32>, vector<8x16xf32>
    %vb = vector.transfer_read %b[%k, %c0], %z {in_bounds = [true, true]} : memref<64x16xf32>, vector<16x16xf32>
    %vc = vector.transfer_read %c[%c0, %c0], %z {in_bounds = [true, true]} : memref<8x16xf32>, vector<8x16xf32>
    %d = vector.contract {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (k, n)>, affine_map<(m, n, k) -> (m, n)>], iterator_types = ["parallel", "parallel", "reduction"], kind = #vector.kind<add>} %va, %vb, %vc : vector<8x16xf32>, vector<16x16xf32> into vector<8x16xf32>
    vector.transfer_write %d, %c[%c0, %c0] {in_bounds = [true, true]} : vector<8x16xf32>, memref<8x16xf32>
  }
  return
}

// -----

// Tests that a single-element transfer (a value broadcast along a row) is a
// scalar load and a broadcast, not a 0-d vector load.
// CHECK-LABEL: func.func @broadcast_scalar
// CHECK-SAME: (%[[S:.+]]: memref<1x1xf32>, %[[O:.+]]: memref<16xf32>)
// CHECK: %[[X:.+]] = memref.load %[[S]]
// CHECK: %[[V:.+]] = vector.broadcast %[[X]] : f32 to vector<16xf32>
// CHECK: vector.store %[[V]], %[[O]]
func.func @broadcast_scalar(%s: memref<1x1xf32>, %o: memref<16xf32>) {
  %c0 = arith.constant 0 : index
  %z = arith.constant 0.0 : f32
  %v = vector.transfer_read %s[%c0, %c0], %z {in_bounds = [true], permutation_map = affine_map<(d0, d1) -> (0)>} : memref<1x1xf32>, vector<16xf32>
  vector.transfer_write %v, %o[%c0] {in_bounds = [true]} : vector<16xf32>, memref<16xf32>
  return
}
