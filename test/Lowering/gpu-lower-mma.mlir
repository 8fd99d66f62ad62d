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

// Tests that a kernel whose loop carries 97 floats (a fused scan's matrix
// state) gets the same budget, and that one carrying 96 (more than a
// contraction's register tile of 64) does not.
// CHECK-LABEL: gpu.func @carries97
// CHECK-SAME: nvvm.minctasm = 4 : i32
// CHECK-LABEL: gpu.func @carries96
// CHECK-NOT: nvvm.minctasm

// Tests that a kernel with a block of 32 loads (a time loop unrolled with
// its reads first) gets the budget too, and one with 31 does not.
// CHECK-LABEL: gpu.func @loads32
// CHECK-SAME: nvvm.minctasm = 4 : i32
// CHECK-LABEL: gpu.func @loads31
// CHECK-NOT: nvvm.minctasm

// Tests that float products, sums and differences may contract to FMAs
// (nvcc's default), their other flags kept.
// CHECK-LABEL: gpu.func @contract
// CHECK: arith.mulf %{{.+}}, %{{.+}} fastmath<contract> : f32
// CHECK: arith.addf %{{.+}}, %{{.+}} fastmath<nnan,contract> : f32
// CHECK: arith.subf %{{.+}}, %{{.+}} fastmath<contract> : vector<2xf32>
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
  gpu.func @carries97(%o: memref<f32>, %n: i1) kernel attributes {known_block_size = array<i32: 64, 1, 1>} {
    %z = arith.constant 0.0 : f32
    cf.br ^bb1(%z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z : f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32)
  ^bb1(%a0: f32, %a1: f32, %a2: f32, %a3: f32, %a4: f32, %a5: f32, %a6: f32, %a7: f32, %a8: f32, %a9: f32, %a10: f32, %a11: f32, %a12: f32, %a13: f32, %a14: f32, %a15: f32, %a16: f32, %a17: f32, %a18: f32, %a19: f32, %a20: f32, %a21: f32, %a22: f32, %a23: f32, %a24: f32, %a25: f32, %a26: f32, %a27: f32, %a28: f32, %a29: f32, %a30: f32, %a31: f32, %a32: f32, %a33: f32, %a34: f32, %a35: f32, %a36: f32, %a37: f32, %a38: f32, %a39: f32, %a40: f32, %a41: f32, %a42: f32, %a43: f32, %a44: f32, %a45: f32, %a46: f32, %a47: f32, %a48: f32, %a49: f32, %a50: f32, %a51: f32, %a52: f32, %a53: f32, %a54: f32, %a55: f32, %a56: f32, %a57: f32, %a58: f32, %a59: f32, %a60: f32, %a61: f32, %a62: f32, %a63: f32, %a64: f32, %a65: f32, %a66: f32, %a67: f32, %a68: f32, %a69: f32, %a70: f32, %a71: f32, %a72: f32, %a73: f32, %a74: f32, %a75: f32, %a76: f32, %a77: f32, %a78: f32, %a79: f32, %a80: f32, %a81: f32, %a82: f32, %a83: f32, %a84: f32, %a85: f32, %a86: f32, %a87: f32, %a88: f32, %a89: f32, %a90: f32, %a91: f32, %a92: f32, %a93: f32, %a94: f32, %a95: f32, %a96: f32):
    cf.cond_br %n, ^bb1(%a0, %a1, %a2, %a3, %a4, %a5, %a6, %a7, %a8, %a9, %a10, %a11, %a12, %a13, %a14, %a15, %a16, %a17, %a18, %a19, %a20, %a21, %a22, %a23, %a24, %a25, %a26, %a27, %a28, %a29, %a30, %a31, %a32, %a33, %a34, %a35, %a36, %a37, %a38, %a39, %a40, %a41, %a42, %a43, %a44, %a45, %a46, %a47, %a48, %a49, %a50, %a51, %a52, %a53, %a54, %a55, %a56, %a57, %a58, %a59, %a60, %a61, %a62, %a63, %a64, %a65, %a66, %a67, %a68, %a69, %a70, %a71, %a72, %a73, %a74, %a75, %a76, %a77, %a78, %a79, %a80, %a81, %a82, %a83, %a84, %a85, %a86, %a87, %a88, %a89, %a90, %a91, %a92, %a93, %a94, %a95, %a96 : f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32), ^bb2
  ^bb2:
    memref.store %a0, %o[] : memref<f32>
    gpu.return
  }
  gpu.func @carries96(%o: memref<f32>, %n: i1) kernel attributes {known_block_size = array<i32: 64, 1, 1>} {
    %z = arith.constant 0.0 : f32
    cf.br ^bb1(%z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z, %z : f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32)
  ^bb1(%a0: f32, %a1: f32, %a2: f32, %a3: f32, %a4: f32, %a5: f32, %a6: f32, %a7: f32, %a8: f32, %a9: f32, %a10: f32, %a11: f32, %a12: f32, %a13: f32, %a14: f32, %a15: f32, %a16: f32, %a17: f32, %a18: f32, %a19: f32, %a20: f32, %a21: f32, %a22: f32, %a23: f32, %a24: f32, %a25: f32, %a26: f32, %a27: f32, %a28: f32, %a29: f32, %a30: f32, %a31: f32, %a32: f32, %a33: f32, %a34: f32, %a35: f32, %a36: f32, %a37: f32, %a38: f32, %a39: f32, %a40: f32, %a41: f32, %a42: f32, %a43: f32, %a44: f32, %a45: f32, %a46: f32, %a47: f32, %a48: f32, %a49: f32, %a50: f32, %a51: f32, %a52: f32, %a53: f32, %a54: f32, %a55: f32, %a56: f32, %a57: f32, %a58: f32, %a59: f32, %a60: f32, %a61: f32, %a62: f32, %a63: f32, %a64: f32, %a65: f32, %a66: f32, %a67: f32, %a68: f32, %a69: f32, %a70: f32, %a71: f32, %a72: f32, %a73: f32, %a74: f32, %a75: f32, %a76: f32, %a77: f32, %a78: f32, %a79: f32, %a80: f32, %a81: f32, %a82: f32, %a83: f32, %a84: f32, %a85: f32, %a86: f32, %a87: f32, %a88: f32, %a89: f32, %a90: f32, %a91: f32, %a92: f32, %a93: f32, %a94: f32, %a95: f32):
    cf.cond_br %n, ^bb1(%a0, %a1, %a2, %a3, %a4, %a5, %a6, %a7, %a8, %a9, %a10, %a11, %a12, %a13, %a14, %a15, %a16, %a17, %a18, %a19, %a20, %a21, %a22, %a23, %a24, %a25, %a26, %a27, %a28, %a29, %a30, %a31, %a32, %a33, %a34, %a35, %a36, %a37, %a38, %a39, %a40, %a41, %a42, %a43, %a44, %a45, %a46, %a47, %a48, %a49, %a50, %a51, %a52, %a53, %a54, %a55, %a56, %a57, %a58, %a59, %a60, %a61, %a62, %a63, %a64, %a65, %a66, %a67, %a68, %a69, %a70, %a71, %a72, %a73, %a74, %a75, %a76, %a77, %a78, %a79, %a80, %a81, %a82, %a83, %a84, %a85, %a86, %a87, %a88, %a89, %a90, %a91, %a92, %a93, %a94, %a95 : f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32), ^bb2
  ^bb2:
    memref.store %a0, %o[] : memref<f32>
    gpu.return
  }
  gpu.func @loads32(%m: memref<64xf32>, %o: memref<f32>) kernel attributes {known_block_size = array<i32: 64, 1, 1>} {
    %z = arith.constant 0.0 : f32
    %c0 = arith.constant 0 : index
    %l0 = memref.load %m[%c0] : memref<64xf32>
    %c1 = arith.constant 1 : index
    %l1 = memref.load %m[%c1] : memref<64xf32>
    %c2 = arith.constant 2 : index
    %l2 = memref.load %m[%c2] : memref<64xf32>
    %c3 = arith.constant 3 : index
    %l3 = memref.load %m[%c3] : memref<64xf32>
    %c4 = arith.constant 4 : index
    %l4 = memref.load %m[%c4] : memref<64xf32>
    %c5 = arith.constant 5 : index
    %l5 = memref.load %m[%c5] : memref<64xf32>
    %c6 = arith.constant 6 : index
    %l6 = memref.load %m[%c6] : memref<64xf32>
    %c7 = arith.constant 7 : index
    %l7 = memref.load %m[%c7] : memref<64xf32>
    %c8 = arith.constant 8 : index
    %l8 = memref.load %m[%c8] : memref<64xf32>
    %c9 = arith.constant 9 : index
    %l9 = memref.load %m[%c9] : memref<64xf32>
    %c10 = arith.constant 10 : index
    %l10 = memref.load %m[%c10] : memref<64xf32>
    %c11 = arith.constant 11 : index
    %l11 = memref.load %m[%c11] : memref<64xf32>
    %c12 = arith.constant 12 : index
    %l12 = memref.load %m[%c12] : memref<64xf32>
    %c13 = arith.constant 13 : index
    %l13 = memref.load %m[%c13] : memref<64xf32>
    %c14 = arith.constant 14 : index
    %l14 = memref.load %m[%c14] : memref<64xf32>
    %c15 = arith.constant 15 : index
    %l15 = memref.load %m[%c15] : memref<64xf32>
    %c16 = arith.constant 16 : index
    %l16 = memref.load %m[%c16] : memref<64xf32>
    %c17 = arith.constant 17 : index
    %l17 = memref.load %m[%c17] : memref<64xf32>
    %c18 = arith.constant 18 : index
    %l18 = memref.load %m[%c18] : memref<64xf32>
    %c19 = arith.constant 19 : index
    %l19 = memref.load %m[%c19] : memref<64xf32>
    %c20 = arith.constant 20 : index
    %l20 = memref.load %m[%c20] : memref<64xf32>
    %c21 = arith.constant 21 : index
    %l21 = memref.load %m[%c21] : memref<64xf32>
    %c22 = arith.constant 22 : index
    %l22 = memref.load %m[%c22] : memref<64xf32>
    %c23 = arith.constant 23 : index
    %l23 = memref.load %m[%c23] : memref<64xf32>
    %c24 = arith.constant 24 : index
    %l24 = memref.load %m[%c24] : memref<64xf32>
    %c25 = arith.constant 25 : index
    %l25 = memref.load %m[%c25] : memref<64xf32>
    %c26 = arith.constant 26 : index
    %l26 = memref.load %m[%c26] : memref<64xf32>
    %c27 = arith.constant 27 : index
    %l27 = memref.load %m[%c27] : memref<64xf32>
    %c28 = arith.constant 28 : index
    %l28 = memref.load %m[%c28] : memref<64xf32>
    %c29 = arith.constant 29 : index
    %l29 = memref.load %m[%c29] : memref<64xf32>
    %c30 = arith.constant 30 : index
    %l30 = memref.load %m[%c30] : memref<64xf32>
    %c31 = arith.constant 31 : index
    %l31 = memref.load %m[%c31] : memref<64xf32>
    %s0 = arith.addf %z, %l0 : f32
    %s1 = arith.addf %s0, %l1 : f32
    %s2 = arith.addf %s1, %l2 : f32
    %s3 = arith.addf %s2, %l3 : f32
    %s4 = arith.addf %s3, %l4 : f32
    %s5 = arith.addf %s4, %l5 : f32
    %s6 = arith.addf %s5, %l6 : f32
    %s7 = arith.addf %s6, %l7 : f32
    %s8 = arith.addf %s7, %l8 : f32
    %s9 = arith.addf %s8, %l9 : f32
    %s10 = arith.addf %s9, %l10 : f32
    %s11 = arith.addf %s10, %l11 : f32
    %s12 = arith.addf %s11, %l12 : f32
    %s13 = arith.addf %s12, %l13 : f32
    %s14 = arith.addf %s13, %l14 : f32
    %s15 = arith.addf %s14, %l15 : f32
    %s16 = arith.addf %s15, %l16 : f32
    %s17 = arith.addf %s16, %l17 : f32
    %s18 = arith.addf %s17, %l18 : f32
    %s19 = arith.addf %s18, %l19 : f32
    %s20 = arith.addf %s19, %l20 : f32
    %s21 = arith.addf %s20, %l21 : f32
    %s22 = arith.addf %s21, %l22 : f32
    %s23 = arith.addf %s22, %l23 : f32
    %s24 = arith.addf %s23, %l24 : f32
    %s25 = arith.addf %s24, %l25 : f32
    %s26 = arith.addf %s25, %l26 : f32
    %s27 = arith.addf %s26, %l27 : f32
    %s28 = arith.addf %s27, %l28 : f32
    %s29 = arith.addf %s28, %l29 : f32
    %s30 = arith.addf %s29, %l30 : f32
    %s31 = arith.addf %s30, %l31 : f32
    memref.store %s31, %o[] : memref<f32>
    gpu.return
  }
  gpu.func @loads31(%m: memref<64xf32>, %o: memref<f32>) kernel attributes {known_block_size = array<i32: 64, 1, 1>} {
    %z = arith.constant 0.0 : f32
    %c0 = arith.constant 0 : index
    %l0 = memref.load %m[%c0] : memref<64xf32>
    %c1 = arith.constant 1 : index
    %l1 = memref.load %m[%c1] : memref<64xf32>
    %c2 = arith.constant 2 : index
    %l2 = memref.load %m[%c2] : memref<64xf32>
    %c3 = arith.constant 3 : index
    %l3 = memref.load %m[%c3] : memref<64xf32>
    %c4 = arith.constant 4 : index
    %l4 = memref.load %m[%c4] : memref<64xf32>
    %c5 = arith.constant 5 : index
    %l5 = memref.load %m[%c5] : memref<64xf32>
    %c6 = arith.constant 6 : index
    %l6 = memref.load %m[%c6] : memref<64xf32>
    %c7 = arith.constant 7 : index
    %l7 = memref.load %m[%c7] : memref<64xf32>
    %c8 = arith.constant 8 : index
    %l8 = memref.load %m[%c8] : memref<64xf32>
    %c9 = arith.constant 9 : index
    %l9 = memref.load %m[%c9] : memref<64xf32>
    %c10 = arith.constant 10 : index
    %l10 = memref.load %m[%c10] : memref<64xf32>
    %c11 = arith.constant 11 : index
    %l11 = memref.load %m[%c11] : memref<64xf32>
    %c12 = arith.constant 12 : index
    %l12 = memref.load %m[%c12] : memref<64xf32>
    %c13 = arith.constant 13 : index
    %l13 = memref.load %m[%c13] : memref<64xf32>
    %c14 = arith.constant 14 : index
    %l14 = memref.load %m[%c14] : memref<64xf32>
    %c15 = arith.constant 15 : index
    %l15 = memref.load %m[%c15] : memref<64xf32>
    %c16 = arith.constant 16 : index
    %l16 = memref.load %m[%c16] : memref<64xf32>
    %c17 = arith.constant 17 : index
    %l17 = memref.load %m[%c17] : memref<64xf32>
    %c18 = arith.constant 18 : index
    %l18 = memref.load %m[%c18] : memref<64xf32>
    %c19 = arith.constant 19 : index
    %l19 = memref.load %m[%c19] : memref<64xf32>
    %c20 = arith.constant 20 : index
    %l20 = memref.load %m[%c20] : memref<64xf32>
    %c21 = arith.constant 21 : index
    %l21 = memref.load %m[%c21] : memref<64xf32>
    %c22 = arith.constant 22 : index
    %l22 = memref.load %m[%c22] : memref<64xf32>
    %c23 = arith.constant 23 : index
    %l23 = memref.load %m[%c23] : memref<64xf32>
    %c24 = arith.constant 24 : index
    %l24 = memref.load %m[%c24] : memref<64xf32>
    %c25 = arith.constant 25 : index
    %l25 = memref.load %m[%c25] : memref<64xf32>
    %c26 = arith.constant 26 : index
    %l26 = memref.load %m[%c26] : memref<64xf32>
    %c27 = arith.constant 27 : index
    %l27 = memref.load %m[%c27] : memref<64xf32>
    %c28 = arith.constant 28 : index
    %l28 = memref.load %m[%c28] : memref<64xf32>
    %c29 = arith.constant 29 : index
    %l29 = memref.load %m[%c29] : memref<64xf32>
    %c30 = arith.constant 30 : index
    %l30 = memref.load %m[%c30] : memref<64xf32>
    %s0 = arith.addf %z, %l0 : f32
    %s1 = arith.addf %s0, %l1 : f32
    %s2 = arith.addf %s1, %l2 : f32
    %s3 = arith.addf %s2, %l3 : f32
    %s4 = arith.addf %s3, %l4 : f32
    %s5 = arith.addf %s4, %l5 : f32
    %s6 = arith.addf %s5, %l6 : f32
    %s7 = arith.addf %s6, %l7 : f32
    %s8 = arith.addf %s7, %l8 : f32
    %s9 = arith.addf %s8, %l9 : f32
    %s10 = arith.addf %s9, %l10 : f32
    %s11 = arith.addf %s10, %l11 : f32
    %s12 = arith.addf %s11, %l12 : f32
    %s13 = arith.addf %s12, %l13 : f32
    %s14 = arith.addf %s13, %l14 : f32
    %s15 = arith.addf %s14, %l15 : f32
    %s16 = arith.addf %s15, %l16 : f32
    %s17 = arith.addf %s16, %l17 : f32
    %s18 = arith.addf %s17, %l18 : f32
    %s19 = arith.addf %s18, %l19 : f32
    %s20 = arith.addf %s19, %l20 : f32
    %s21 = arith.addf %s20, %l21 : f32
    %s22 = arith.addf %s21, %l22 : f32
    %s23 = arith.addf %s22, %l23 : f32
    %s24 = arith.addf %s23, %l24 : f32
    %s25 = arith.addf %s24, %l25 : f32
    %s26 = arith.addf %s25, %l26 : f32
    %s27 = arith.addf %s26, %l27 : f32
    %s28 = arith.addf %s27, %l28 : f32
    %s29 = arith.addf %s28, %l29 : f32
    %s30 = arith.addf %s29, %l30 : f32
    memref.store %s30, %o[] : memref<f32>
    gpu.return
  }
  gpu.func @contract(%x: f32, %y: f32, %v: vector<2xf32>) -> (f32, vector<2xf32>) {
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %p, %x fastmath<nnan> : f32
    %d = arith.subf %v, %v : vector<2xf32>
    gpu.return %s, %d : f32, vector<2xf32>
  }
}
