// RUN: seq-opt %s --seq-gpu-workgroup-buffers --split-input-file | FileCheck %s

// A kernel's shared-memory alloca (address space 3) becomes a workgroup
// attribution of its gpu.func, aligned to 16 bytes (cp.async and 16-byte
// loads); an alloca in another space stays; the launch passes no dynamic
// shared memory.
// CHECK-LABEL: gpu.func @kernel(
// CHECK-SAME: %[[A:[^:]+]]: memref<32xf32>)
// CHECK-SAME: workgroup(%[[S:[^:]+]] : memref<2x32xf32, 3> {llvm.align = 16 : i64})
// CHECK-NOT: memref.alloca() : memref<2x32xf32, 3>
// CHECK: memref.alloca() : memref<4xf32>
// CHECK: memref.store %{{.+}}, %[[S]][%c0, %{{.+}}] : memref<2x32xf32, 3>
// CHECK: gpu.barrier
// CHECK: memref.load %[[S]][%c1, %{{.+}}] : memref<2x32xf32, 3>
// CHECK-LABEL: func.func @host(
// CHECK: gpu.launch_func @kernels::@kernel blocks in (%{{[^)]*}}) threads in (%{{[^)]*}}) args(
module attributes {gpu.container_module} {
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
  func.func @host(%a: memref<32xf32>) {
    %c1 = arith.constant 1 : index
    %c32 = arith.constant 32 : index
    gpu.launch_func @kernels::@kernel blocks in (%c1, %c1, %c1) threads in (%c32, %c1, %c1) args(%a : memref<32xf32>)
    return
  }
}

// -----

// More than 48 KiB (two buffers of 32 KiB): views into the kernel's
// dynamic shared memory at offsets 0 and 32768, and every launch of the
// kernel passes 65536 bytes of it.
// CHECK-LABEL: gpu.func @big(
// CHECK-NOT: workgroup(
// CHECK: %[[DYN:.+]] = gpu.dynamic_shared_memory : memref<?xi8, #gpu.address_space<workgroup>>
// CHECK: %[[BYTES:.+]] = memref.memory_space_cast %[[DYN]] : memref<?xi8, #gpu.address_space<workgroup>> to memref<?xi8, 3>
// CHECK: %[[C0:.+]] = arith.constant 0 : index
// CHECK: %[[X:.+]] = memref.view %[[BYTES]][%[[C0]]][] : memref<?xi8, 3> to memref<8192xf32, 3>
// CHECK: %[[OFF:.+]] = arith.constant 32768 : index
// CHECK: %[[Y:.+]] = memref.view %[[BYTES]][%[[OFF]]][] : memref<?xi8, 3> to memref<8192xf32, 3>
// CHECK-NOT: memref.alloca
// CHECK: memref.store %{{.+}}, %[[X]]
// CHECK: memref.load %[[Y]]
// CHECK-LABEL: func.func @host(
// CHECK: %[[SMEM:.+]] = arith.constant 65536 : i32
// CHECK: gpu.launch_func @kernels::@big blocks in ({{.*}}) threads in ({{.*}}) dynamic_shared_memory_size %[[SMEM]] args(
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @big(%a: memref<32xf32>) kernel {
      %c0 = arith.constant 0 : index
      %t = gpu.thread_id x
      %x = memref.alloca() : memref<8192xf32, 3>
      %y = memref.alloca() : memref<8192xf32, 3>
      %v = memref.load %a[%t] : memref<32xf32>
      memref.store %v, %x[%t] : memref<8192xf32, 3>
      gpu.barrier
      %w = memref.load %y[%t] : memref<8192xf32, 3>
      memref.store %w, %a[%t] : memref<32xf32>
      gpu.return
    }
  }
  func.func @host(%a: memref<32xf32>) {
    %c1 = arith.constant 1 : index
    %c32 = arith.constant 32 : index
    gpu.launch_func @kernels::@big blocks in (%c1, %c1, %c1) threads in (%c32, %c1, %c1) args(%a : memref<32xf32>)
    return
  }
}
