// RUN: seq-opt %s --seq-gpu-module-to-binary="format=isa parts=2" | FileCheck %s
// RUN: seq-opt %s --seq-gpu-module-to-binary="format=isa parts=1" | FileCheck %s --check-prefix=ONE

// Tests that the kernels are cut into parts serialized on their own: the
// larger kernel @a stays in @kernels, @b goes to a copy (@kernels_0) with
// the device function both call (@twice, in each part); each part becomes
// a gpu.binary in the module's place, its PTX with its kernel only, and
// the launches follow.
// With one part, one binary with both.
// CHECK-LABEL: func.func @host
// CHECK: gpu.launch_func  @kernels::@a
// CHECK: gpu.launch_func  @kernels_0::@b
// CHECK: gpu.binary @kernels {{.*}}#nvvm.target<chip = "sm_90a">{{.*}}twice({{.*}}.entry a(
// CHECK-NOT: .entry b(
// CHECK: gpu.binary @kernels_0 {{.*}}#nvvm.target<chip = "sm_90a">{{.*}}twice({{.*}}.entry b(
// CHECK-NOT: .entry a(
// CHECK-NOT: gpu.module
// CHECK: func.func @after
// ONE: gpu.launch_func  @kernels::@a
// ONE: gpu.launch_func  @kernels::@b
// ONE: gpu.binary @kernels {{.*}}.entry a({{.*}}.entry b(
// ONE-NOT: gpu.binary
module attributes {gpu.container_module} {
  func.func @host(%p: !llvm.ptr) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @kernels::@a blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%p : !llvm.ptr)
    gpu.launch_func @kernels::@b blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%p : !llvm.ptr)
    return
  }
  gpu.module @kernels [#nvvm.target<chip = "sm_90a">] {
    llvm.func @twice(%x: f32) -> f32 attributes {no_inline} {
      %y = llvm.fadd %x, %x : f32
      llvm.return %y : f32
    }
    llvm.func @a(%p: !llvm.ptr) attributes {gpu.kernel, nvvm.kernel} {
      %l = llvm.load %p : !llvm.ptr -> f32
      %x = llvm.call @twice(%l) : (f32) -> f32
      %y = llvm.fmul %x, %x : f32
      %z = llvm.fadd %y, %x : f32
      llvm.store %z, %p : f32, !llvm.ptr
      llvm.return
    }
    llvm.func @b(%p: !llvm.ptr) attributes {gpu.kernel, nvvm.kernel} {
      %x = llvm.load %p : !llvm.ptr -> f32
      %y = llvm.call @twice(%x) : (f32) -> f32
      llvm.store %y, %p : f32, !llvm.ptr
      llvm.return
    }
  }
  func.func @after() {
    return
  }
}
