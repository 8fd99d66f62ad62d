// RUN: seq-opt %s --pass-pipeline="builtin.module(gpu.module(seq-gpu-lower-mma))" | FileCheck %s

// Tests that a kernel on tensor cores whose block size is known (64) may
// use 255 registers a thread: 4 blocks a multiprocessor at least; and that
// one without mma.sync is left alone.
// CHECK-LABEL: gpu.func @kernel
// CHECK-SAME: nvvm.minctasm = 4 : i32
// CHECK-LABEL: gpu.func @plain
// CHECK-NOT: nvvm.minctasm

// Tests that an m16n8k16 mma.sync on bf16 becomes NVVM's: each row of the
// operands (two bf16) bitcast to an i32 register, the accumulator as four
// f32, the result back in a vector<2x2xf32>; and that f16 rows stay pairs.
// CHECK-LABEL: gpu.func @bf16
// CHECK-SAME: (%[[A:[^:]+]]: vector<4x2xbf16>, %[[B:[^:]+]]: vector<2x2xbf16>, %[[C:[^:]+]]: vector<2x2xf32>)
// CHECK: %[[A0:.+]] = vector.extract %[[A]][0] : vector<2xbf16> from vector<4x2xbf16>
// CHECK: %[[W0:.+]] = vector.bitcast %[[A0]] : vector<2xbf16> to vector<1xi32>
// CHECK: %[[R0:.+]] = vector.extract %[[W0]][0] : i32 from vector<1xi32>
// CHECK-COUNT-3: vector.bitcast %{{.+}} : vector<2xbf16> to vector<1xi32>
// CHECK-COUNT-2: vector.bitcast %{{.+}} : vector<2xbf16> to vector<1xi32>
// CHECK: %[[D:.+]] = nvvm.mma.sync A[%[[R0]], {{.*}} multiplicandAPtxType = #nvvm.mma_type<bf16>, multiplicandBPtxType = #nvvm.mma_type<bf16>, shape = #nvvm.shape<m = 16, n = 8, k = 16>} : (i32, i32, f32) -> !llvm.struct<(f32, f32, f32, f32)>
// CHECK-COUNT-4: llvm.extractvalue %[[D]]
// CHECK: %[[OUT:.+]] = vector.from_elements {{.*}} : vector<2x2xf32>
// CHECK: gpu.return %[[OUT]]
// CHECK-LABEL: gpu.func @f16
// CHECK-NOT: vector.bitcast
// CHECK: nvvm.mma.sync {{.*}} : (vector<2xf16>, vector<2xf16>, f32)

// Tests that an f32 exp2 marked afn (the GPU attention forms') becomes one
// ex2.approx.ftz, and that one without the flag is left to libdevice.
// CHECK-LABEL: gpu.func @exp2
// CHECK-SAME: (%[[X:[^:]+]]: f32)
// CHECK: %[[E:.+]] = llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f32"(%[[X]]) : (f32) -> f32
// CHECK: %[[F:.+]] = math.exp2 %[[E]] : f32
// CHECK: gpu.return %[[F]]
gpu.module @kernels {
  gpu.func @kernel(%a: vector<4x2xbf16>, %b: vector<2x2xbf16>, %c: vector<2x2xf32>, %o: memref<vector<2x2xf32>>) kernel attributes {known_block_size = array<i32: 64, 1, 1>} {
    %d = nvgpu.mma.sync (%a, %b, %c) {mmaShape = [16, 8, 16]} : (vector<4x2xbf16>, vector<2x2xbf16>, vector<2x2xf32>) -> vector<2x2xf32>
    memref.store %d, %o[] : memref<vector<2x2xf32>>
    gpu.return
  }
  gpu.func @plain(%o: memref<f32>) kernel attributes {known_block_size = array<i32: 64, 1, 1>} {
    %c = arith.constant 1.0 : f32
    memref.store %c, %o[] : memref<f32>
    gpu.return
  }
  gpu.func @bf16(%a: vector<4x2xbf16>, %b: vector<2x2xbf16>, %c: vector<2x2xf32>) -> vector<2x2xf32> {
    %d = nvgpu.mma.sync (%a, %b, %c) {mmaShape = [16, 8, 16]} : (vector<4x2xbf16>, vector<2x2xbf16>, vector<2x2xf32>) -> vector<2x2xf32>
    gpu.return %d : vector<2x2xf32>
  }
  gpu.func @f16(%a: vector<4x2xf16>, %b: vector<2x2xf16>, %c: vector<2x2xf32>) -> vector<2x2xf32> {
    %d = nvgpu.mma.sync (%a, %b, %c) {mmaShape = [16, 8, 16]} : (vector<4x2xf16>, vector<2x2xf16>, vector<2x2xf32>) -> vector<2x2xf32>
    gpu.return %d : vector<2x2xf32>
  }
  gpu.func @exp2(%x: f32) -> f32 {
    %e = math.exp2 %x fastmath<afn> : f32
    %f = math.exp2 %e : f32
    gpu.return %f : f32
  }
}
