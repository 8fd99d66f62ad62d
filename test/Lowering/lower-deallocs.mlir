// RUN: seq-opt %s --seq-lower-deallocs --split-input-file | FileCheck %s

// Two buffers, one retained: each freed when its condition holds, it is not
// the retained one, and (the second) not the first one freed already; the
// retained buffer's ownership is whether a freed-if-true buffer was it.
// CHECK-LABEL: func.func @two(
// CHECK-SAME: %[[A:[a-z0-9]+]]: memref<4xf32>, %[[B:[a-z0-9]+]]: memref<4xf32>, %[[R:[a-z0-9]+]]: memref<4xf32>, %[[CA:[a-z0-9]+]]: i1, %[[CB:[a-z0-9]+]]: i1)
// CHECK-NOT: call
// CHECK-DAG: %[[PA:.*]] = memref.extract_aligned_pointer_as_index %[[A]]
// CHECK-DAG: %[[PB:.*]] = memref.extract_aligned_pointer_as_index %[[B]]
// CHECK-DAG: %[[PR:.*]] = memref.extract_aligned_pointer_as_index %[[R]]
// CHECK: %[[NA:.*]] = arith.cmpi ne, %[[PA]], %[[PR]]
// CHECK: %[[FA:.*]] = arith.andi %[[CA]], %[[NA]]
// CHECK: scf.if %[[FA]] {
// CHECK-NEXT: memref.dealloc %[[A]]
// CHECK: %[[NB:.*]] = arith.cmpi ne, %[[PB]], %[[PR]]
// CHECK: %[[SAME:.*]] = arith.cmpi eq, %[[PA]], %[[PB]]
// CHECK: %[[BEFORE:.*]] = arith.andi %[[CA]], %[[SAME]]
// CHECK: arith.xori %[[BEFORE]]
// CHECK: scf.if
// CHECK-NEXT: memref.dealloc %[[B]]
// CHECK: arith.cmpi eq, %[[PA]], %[[PR]]
// CHECK: arith.cmpi eq, %[[PB]], %[[PR]]
// CHECK: %[[OWN:.*]] = arith.ori
// CHECK: return %[[OWN]]
func.func @two(%a: memref<4xf32>, %b: memref<4xf32>, %r: memref<4xf32>,
               %ca: i1, %cb: i1) -> i1 {
  %own = bufferization.dealloc (%a, %b : memref<4xf32>, memref<4xf32>)
      if (%ca, %cb) retain (%r : memref<4xf32>)
  return %own : i1
}

// -----

// No retained buffer: a plain conditional free.
// CHECK-LABEL: func.func @one(
// CHECK: scf.if %{{.*}} {
// CHECK-NEXT: memref.dealloc
// CHECK-NOT: bufferization.dealloc
func.func @one(%a: memref<?xf32>, %c: i1) {
  bufferization.dealloc (%a : memref<?xf32>) if (%c)
  return
}
