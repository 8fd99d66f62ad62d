// RUN: seq-opt %s --split-input-file --seq-gpu-merge-kernels | FileCheck %s --check-prefixes=CHECK,DEDUP

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

// -----

// Kernels that are the same but for their names (one per layer) are kept
// once, and every launch launches the one kept; a kernel that differs in a
// constant, or in its block size, stays.
// DEDUP: gpu.module @layer_kernel {
// DEDUP-NEXT: gpu.func @layer_kernel(%{{.*}}: memref<?xf32>) kernel
// DEDUP: arith.constant 2.000000e+00
// DEDUP: gpu.func @[[OTHER:layer_kernel_[0-9]+]](%{{.*}}: memref<?xf32>) kernel
// DEDUP: arith.constant 3.000000e+00
// DEDUP: gpu.func @[[WIDE:layer_kernel_[0-9]+]](%{{.*}}: memref<?xf32>) kernel attributes {known_block_size = array<i32: 64, 1, 1>}
// DEDUP-NOT: gpu.func
// DEDUP: func.func @forward
// DEDUP-NEXT: arith.constant
// DEDUP-NEXT: gpu.launch_func @layer_kernel::@layer_kernel
// DEDUP-NEXT: gpu.launch_func @layer_kernel::@layer_kernel
// DEDUP-NEXT: gpu.launch_func @layer_kernel::@[[OTHER]]
// DEDUP-NEXT: gpu.launch_func @layer_kernel::@[[WIDE]]
module attributes {gpu.container_module} {
  gpu.module @layer_kernel {
    gpu.func @layer_kernel(%x: memref<?xf32>) kernel {
      %c0 = arith.constant 0 : index
      %two = arith.constant 2.0 : f32
      memref.store %two, %x[%c0] : memref<?xf32>
      gpu.return
    }
  }
  gpu.module @layer_kernel_0 {
    gpu.func @layer_kernel(%x: memref<?xf32>) kernel {
      %c0 = arith.constant 0 : index
      %two = arith.constant 2.0 : f32
      memref.store %two, %x[%c0] : memref<?xf32>
      gpu.return
    }
  }
  gpu.module @layer_kernel_1 {
    gpu.func @layer_kernel(%x: memref<?xf32>) kernel {
      %c0 = arith.constant 0 : index
      %three = arith.constant 3.0 : f32
      memref.store %three, %x[%c0] : memref<?xf32>
      gpu.return
    }
  }
  gpu.module @layer_kernel_2 {
    gpu.func @layer_kernel(%x: memref<?xf32>) kernel attributes {known_block_size = array<i32: 64, 1, 1>} {
      %c0 = arith.constant 0 : index
      %two = arith.constant 2.0 : f32
      memref.store %two, %x[%c0] : memref<?xf32>
      gpu.return
    }
  }
  func.func @forward(%x: memref<?xf32>) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @layer_kernel::@layer_kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%x : memref<?xf32>)
    gpu.launch_func @layer_kernel_0::@layer_kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%x : memref<?xf32>)
    gpu.launch_func @layer_kernel_1::@layer_kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%x : memref<?xf32>)
    gpu.launch_func @layer_kernel_2::@layer_kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%x : memref<?xf32>)
    return
  }
}
