// RUN: seq-opt %s --split-input-file --convert-seq-parallel-to-runtime | FileCheck %s
// RUN: seq-opt %s --split-input-file --convert-seq-parallel-to-runtime=min-trip-count=16 | FileCheck %s --check-prefix=MIN16
// RUN: seq-opt %s --split-input-file --seq-tile-and-vectorize | FileCheck %s --check-prefix=MARK

// Tests that a marked loop is outlined into @<fn>_par0(ctx, begin, end)
// running iterations [begin, end), that its captured values (bounds, a
// memref descriptor, a scalar) go through a stack struct, that a buffer the
// body allocates stays inside the body (per chunk), that constants are
// cloned into the body rather than passed, and that the loop
// becomes a call to seqrt_parallel_for with the trip count.
// CHECK-LABEL: func.func @static_rows
// CHECK-SAME: (%[[M:.+]]: memref<64x16xf32>, %[[S:.+]]: f32)
// CHECK: %[[CTX:.+]] = llvm.alloca %{{.+}} x !llvm.struct<(f32, struct<(ptr, ptr, i64, array<2 x i64>, array<2 x i64>)>)>
// CHECK-NOT: memref.alloc
// CHECK-NOT: scf.for
// CHECK: llvm.store %[[S]]
// CHECK: %[[D:.+]] = builtin.unrealized_conversion_cast %[[M]] : memref<64x16xf32> to !llvm.struct<(ptr, ptr, i64, array<2 x i64>, array<2 x i64>)>
// CHECK: llvm.store %[[D]]
// CHECK: %[[N:.+]] = arith.ceildivsi
// CHECK: %[[N64:.+]] = arith.index_cast %[[N]] : index to i64
// CHECK: %[[F:.+]] = constant @static_rows_par0 : (!llvm.ptr, i64, i64) -> ()
// CHECK: call @seqrt_parallel_for(%[[N64]], %[[F]], %[[CTX]]) : (i64, (!llvm.ptr, i64, i64) -> (), !llvm.ptr) -> ()
// CHECK-NEXT: return
// CHECK: func.func private @static_rows_par0(%[[C:.+]]: !llvm.ptr, %[[B:.+]]: i64, %[[E:.+]]: i64)
// CHECK: %[[C64:.+]] = arith.constant 64 : index
// CHECK: llvm.load
// CHECK: %[[MB:.+]] = builtin.unrealized_conversion_cast %{{.+}} : !llvm.struct<(ptr, ptr, i64, array<2 x i64>, array<2 x i64>)> to memref<64x16xf32>
// CHECK: %[[BI:.+]] = arith.index_cast %[[B]] : i64 to index
// CHECK: %[[EI:.+]] = arith.index_cast %[[E]] : i64 to index
// CHECK: %[[LO:.+]] = arith.addi %{{.+}}, %{{.+}} : index
// CHECK: %[[HI:.+]] = arith.minsi %[[C64]],
// CHECK: scf.for %[[I:.+]] = %[[LO]] to %[[HI]] step
// CHECK: memref.alloc() : memref<16xf32>
// CHECK: memref.store %{{.+}}, %[[MB]][%[[I]],
// CHECK: memref.dealloc
// CHECK-NOT: seq.parallel
// CHECK: func.func private @seqrt_parallel_for(i64, (!llvm.ptr, i64, i64) -> (), !llvm.ptr)
// MIN16-LABEL: func.func @static_rows
// MIN16: call @seqrt_parallel_for
func.func @static_rows(%m: memref<64x16xf32>, %s: f32) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c16 = arith.constant 16 : index
  %c64 = arith.constant 64 : index
  scf.for %i = %c0 to %c64 step %c1 {
    %tmp = memref.alloc() : memref<16xf32>
    scf.for %j = %c0 to %c16 step %c1 {
      memref.store %s, %tmp[%j] : memref<16xf32>
      %v = memref.load %tmp[%j] : memref<16xf32>
      memref.store %v, %m[%i, %j] : memref<64x16xf32>
    }
    memref.dealloc %tmp : memref<16xf32>
  } {seq.parallel}
  return
}

// -----

// Tests that bodies the same but for their names are kept once (a model's
// layers, an entry and its step function): the second and third loops are
// the first again on other operands, and call its body; the fourth
// differs in a constant and keeps its own.
// CHECK-LABEL: func.func @same_bodies
// CHECK: %[[F0:.+]] = constant @same_bodies_par0
// CHECK: call @seqrt_parallel_for(%{{.+}}, %[[F0]],
// CHECK: %[[F1:.+]] = constant @same_bodies_par0
// CHECK: call @seqrt_parallel_for(%{{.+}}, %[[F1]],
// CHECK: %[[F2:.+]] = constant @same_bodies_par0
// CHECK: call @seqrt_parallel_for(%{{.+}}, %[[F2]],
// CHECK: %[[F3:.+]] = constant @same_bodies_par3
// CHECK: call @seqrt_parallel_for(%{{.+}}, %[[F3]],
// CHECK: func.func private @same_bodies_par3
// CHECK: arith.constant 3.000000e+00 : f32
// CHECK-NOT: func.func private @same_bodies_par2
// CHECK-NOT: func.func private @same_bodies_par1
// CHECK: func.func private @same_bodies_par0
// CHECK: arith.constant 2.000000e+00 : f32
// CHECK-NOT: func.func private @same_bodies_par
func.func @same_bodies(%a: memref<64xf32>, %b: memref<64xf32>, %c: memref<64xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %two = arith.constant 2.0 : f32
  %three = arith.constant 3.0 : f32
  scf.for %i = %c0 to %c64 step %c1 {
    %v = memref.load %a[%i] : memref<64xf32>
    %w = arith.mulf %v, %two : f32
    memref.store %w, %a[%i] : memref<64xf32>
  } {seq.parallel}
  scf.for %i = %c0 to %c64 step %c1 {
    %v = memref.load %b[%i] : memref<64xf32>
    %w = arith.mulf %v, %two : f32
    memref.store %w, %b[%i] : memref<64xf32>
  } {seq.parallel}
  scf.for %i = %c0 to %c64 step %c1 {
    %v = memref.load %c[%i] : memref<64xf32>
    %w = arith.mulf %v, %two : f32
    memref.store %w, %c[%i] : memref<64xf32>
  } {seq.parallel}
  scf.for %i = %c0 to %c64 step %c1 {
    %v = memref.load %a[%i] : memref<64xf32>
    %w = arith.mulf %v, %three : f32
    memref.store %w, %a[%i] : memref<64xf32>
  } {seq.parallel}
  return
}

// -----

// Tests dynamic bounds and step: the trip count is ceildiv(max(ub - lb, 0),
// step), the bounds are loaded from ctx, and the inner marked loop stays a
// sequential scf.for inside the body (its mark dropped). min-trip-count
// does not apply to an unknown trip count.
// CHECK-LABEL: func.func @dynamic_rows
// CHECK-SAME: (%[[M:.+]]: memref<?x?xf32>, %[[LB:.+]]: index, %[[UB:.+]]: index)
// CHECK: %[[SPAN:.+]] = arith.subi %[[UB]], %[[LB]] : index
// CHECK: %[[POS:.+]] = arith.maxsi %[[SPAN]]
// CHECK: arith.ceildivsi %[[POS]]
// CHECK: call @seqrt_parallel_for
// CHECK: func.func private @dynamic_rows_par0
// CHECK: scf.for
// CHECK: scf.for
// CHECK-NOT: seq.parallel
// CHECK: return
// MIN16-LABEL: func.func @dynamic_rows
// MIN16: call @seqrt_parallel_for
func.func @dynamic_rows(%m: memref<?x?xf32>, %lb: index, %ub: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %cst = arith.constant 1.0 : f32
  %n = memref.dim %m, %c1 : memref<?x?xf32>
  scf.for %i = %lb to %ub step %c8 {
    scf.for %j = %c0 to %n step %c1 {
      memref.store %cst, %m[%i, %j] : memref<?x?xf32>
    } {seq.parallel}
  } {seq.parallel}
  return
}

// -----

// Tests the loops that stay sequential: a loop that carries a value (its
// iterations depend on each other), one of a single iteration, an unmarked
// loop (a reduction's, a scan's time loop), and with min-trip-count=16 a
// marked loop of 8 iterations (outlined with the default of 2). Their marks
// are dropped.
// CHECK-LABEL: func.func @sequential
// CHECK-NOT: seqrt_parallel_for
// CHECK: scf.for {{.+}} iter_args
// CHECK-NOT: seqrt_parallel_for
// CHECK: scf.for
// CHECK-NOT: seqrt_parallel_for
// CHECK: scf.for
// CHECK-NOT: scf.for
// CHECK: call @seqrt_parallel_for
// CHECK-NEXT: return
// CHECK-NOT: seq.parallel
// MIN16-LABEL: func.func @sequential
// MIN16-NOT: seqrt_parallel_for
// MIN16: return
func.func @sequential(%m: memref<8xf32>, %acc0: f32) -> f32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %r = scf.for %i = %c0 to %c8 step %c1 iter_args(%acc = %acc0) -> f32 {
    %v = memref.load %m[%i] : memref<8xf32>
    %a = arith.addf %acc, %v : f32
    scf.yield %a : f32
  } {seq.parallel}
  scf.for %i = %c0 to %c1 step %c1 {
    memref.store %acc0, %m[%i] : memref<8xf32>
  } {seq.parallel}
  scf.for %i = %c0 to %c8 step %c1 {
    memref.store %acc0, %m[%c0] : memref<8xf32>
  }
  scf.for %i = %c0 to %c8 step %c1 {
    memref.store %acc0, %m[%i] : memref<8xf32>
  } {seq.parallel}
  return %r : f32
}

// -----

// Tests the marks seq-tile-and-vectorize puts: the tile loops of a leading
// parallel dim are `seq.parallel`; a reduction whose first dim reduces gets
// none (its loops stay sequential).
// MARK-LABEL: func.func @marks_parallel_rows
// MARK: scf.for
// MARK: } {seq.parallel}
// MARK: return
// MARK-LABEL: func.func @marks_reduction_first
// MARK-NOT: seq.parallel
// MARK: return
// CHECK-LABEL: func.func @marks_parallel_rows
// CHECK-NOT: seqrt_parallel_for
func.func @marks_parallel_rows(%a: tensor<?x64xf32>, %b: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %r = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%a : tensor<?x64xf32>) outs(%b : tensor<?x64xf32>) {
  ^bb0(%x: f32, %y: f32):
    %e = math.exp %x : f32
    linalg.yield %e : f32
  } -> tensor<?x64xf32>
  return %r : tensor<?x64xf32>
}

func.func @marks_reduction_first(%a: tensor<64x32xf32>, %acc: tensor<32xf32>) -> tensor<32xf32> {
  %r = linalg.reduce ins(%a : tensor<64x32xf32>) outs(%acc : tensor<32xf32>) dimensions = [0]
    (%x: f32, %y: f32) {
      %s = arith.addf %x, %y : f32
      linalg.yield %s : f32
    }
  return %r : tensor<32xf32>
}
