// RUN: seq-opt %s --seq-gpu-merge-kernels | FileCheck %s

// The kernels outlined into a module each go into the first; a kernel whose
// name clashes is renamed, and its launch follows.
// CHECK: gpu.module @forward_kernel {
// CHECK: gpu.func @forward_kernel(%{{.*}}: memref<?xf32>) kernel
// CHECK: gpu.func @[[RENAMED:forward_kernel_[0-9]+]](%{{.*}}: memref<?xf32>, %{{.*}}: f32) kernel
// CHECK-NOT: gpu.module
// CHECK: func.func @forward
// CHECK: gpu.launch_func @forward_kernel::@forward_kernel
// CHECK: gpu.launch_func @forward_kernel::@[[RENAMED]]
module attributes {gpu.container_module} {
  gpu.module @forward_kernel {
    gpu.func @forward_kernel(%x: memref<?xf32>) kernel {
      gpu.return
    }
  }
  gpu.module @forward_kernel_0 {
    gpu.func @forward_kernel(%x: memref<?xf32>, %s: f32) kernel {
      gpu.return
    }
  }
  func.func @forward(%x: memref<?xf32>, %s: f32) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @forward_kernel::@forward_kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%x : memref<?xf32>)
    gpu.launch_func @forward_kernel_0::@forward_kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%x : memref<?xf32>, %s : f32)
    return
  }
}
