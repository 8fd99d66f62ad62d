// RUN: seq-opt %s --pass-pipeline="builtin.module(gpu.module(seq-gpu-workgroup-buffers))" | FileCheck %s

// A kernel's shared-memory alloca (address space 3) becomes a workgroup
// attribution of its gpu.func, aligned to 16 bytes (cp.async and 16-byte
// loads); an alloca in another space stays.
// CHECK-LABEL: gpu.func @kernel(
// CHECK-SAME: %[[A:[^:]+]]: memref<32xf32>)
// CHECK-SAME: workgroup(%[[S:[^:]+]] : memref<2x32xf32, 3> {llvm.align = 16 : i64})
// CHECK-NOT: memref.alloca() : memref<2x32xf32, 3>
// CHECK: memref.alloca() : memref<4xf32>
// CHECK: memref.store %{{.+}}, %[[S]][%c0, %{{.+}}] : memref<2x32xf32, 3>
// CHECK: gpu.barrier
// CHECK: memref.load %[[S]][%c1, %{{.+}}] : memref<2x32xf32, 3>
gpu.module @kernels {
  gpu.func @kernel(%a: memref<32xf32>) kernel {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %t = gpu.thread_id x
    %s = memref.alloca() : memref<2x32xf32, 3>
    %p = memref.alloca() : memref<4xf32>
    %x = memref.load %a[%t] : memref<32xf32>
    memref.store %x, %s[%c0, %t] : memref<2x32xf32, 3>
    memref.store %x, %p[%c0] : memref<4xf32>
    gpu.barrier
    %y = memref.load %s[%c1, %t] : memref<2x32xf32, 3>
    memref.store %y, %a[%t] : memref<32xf32>
    gpu.return
  }
}
