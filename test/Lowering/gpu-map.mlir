// RUN: seq-opt %s --seq-gpu-map --split-input-file | FileCheck %s
// RUN: seq-opt %s --seq-gpu-map="contraction-tile=2" --split-input-file | FileCheck %s --check-prefix=TILE
// RUN: seq-opt %s --seq-gpu-map="contraction-tile=4" --split-input-file | FileCheck %s --check-prefix=VEC
// RUN: seq-opt %s --seq-gpu-map="tf32=true" --split-input-file | FileCheck %s --check-prefix=TF32

// A buffer becomes device memory; an elementwise op over [N, 64] one loop
// over N * 64 elements, tiled by 256: blocks over the tiles, threads inside.
// CHECK-LABEL: func.func @elementwise(
// CHECK: %[[BUF:[a-z0-9_]+]], %{{.*}} = gpu.alloc async [%{{.*}}] (%{{.*}}) : memref<?x64xf32>
// CHECK: scf.parallel (%[[B:.*]]) = {{.*}} {
// CHECK:   scf.parallel (%[[T:.*]]) = {{.*}} {
// CHECK:     scf.if
// CHECK:       memref.load
// CHECK:       math.exp
// CHECK:       memref.store
// CHECK:   } {mapping = [#gpu.loop_dim_map<processor = thread_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
// CHECK: } {mapping = [#gpu.loop_dim_map<processor = block_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
// CHECK: gpu.dealloc async [%{{.*}}] %[[BUF]] : memref<?x64xf32>
// CHECK-NOT: memref.alloc
func.func @elementwise(%x: memref<?x64xf32>, %out: memref<?x64xf32>) {
  %c0 = arith.constant 0 : index
  %n = memref.dim %x, %c0 : memref<?x64xf32>
  %t = memref.alloc(%n) : memref<?x64xf32>
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                  iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<?x64xf32>) outs(%t : memref<?x64xf32>) {
  ^bb0(%a: f32, %b: f32):
    %e = math.exp %a : f32
    linalg.yield %e : f32
  }
  memref.copy %t, %out : memref<?x64xf32> to memref<?x64xf32>
  memref.dealloc %t : memref<?x64xf32>
  return
}

// -----

// An f32 matmul of unknown sizes (with the pipeline's 8 x 8 tile) is
// block-tiled in shared memory: blocks of 256 threads, two 16 x 132 shared
// slices of the inputs which the block fills (8 values a thread each)
// between barriers, 16 steps of k at a time (a loop), each step's 8 rows
// and 8 columns of a thread read from them as 16-byte vectors for 64 FMAs.
// CHECK-LABEL: func.func @matmul(
// CHECK: scf.parallel
// CHECK:   scf.parallel
// CHECK:     %[[AS:.*]] = memref.alloca() : memref<16x132xf32, 3>
// CHECK:     %[[BS:.*]] = memref.alloca() : memref<16x132xf32, 3>
// CHECK:     scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c16{{.*}} iter_args({{.*}}) -> (f32, f32, {{.*}})
// CHECK-COUNT-8: memref.store %{{.*}}, %[[AS]]
// CHECK-COUNT-8: memref.store %{{.*}}, %[[BS]]
// CHECK:       gpu.barrier
// CHECK:       scf.for %{{.*}} = %{{.*}} to %c16{{.*}} step %c1{{.*}} iter_args
// CHECK-COUNT-2: vector.load %[[AS]][{{.*}}] {alignment = 16 : i64} : memref<16x132xf32, 3>, vector<4xf32>
// CHECK-COUNT-2: vector.load %[[BS]][{{.*}}] {alignment = 16 : i64} : memref<16x132xf32, 3>, vector<4xf32>
// CHECK-COUNT-64: arith.addf {{.*}} fastmath<contract>
// CHECK:       gpu.barrier
// CHECK:   mapping = [#gpu.loop_dim_map<processor = thread_x
// CHECK: mapping = [#gpu.loop_dim_map<processor = block_x
// With tf32 (seqc --tf32), the same matmul goes on tensor cores as tf32:
// slices of 16 steps (64 bytes of a row, as bf16's 32), 4-element
// cp.async; a's fragments by ldmatrix, b's (n innermost; ldmatrix cannot
// transpose 32-bit elements) read element by element; m16n8k8.
// TF32-LABEL: func.func @matmul(
// TF32: %[[AS:.*]] = memref.alloca() : memref<3x128x20xf32, 3>
// TF32: %[[BS:.*]] = memref.alloca() : memref<3x16x136xf32, 3>
// TF32: nvgpu.device_async_copy {{.*}}, %[[AS]]{{.*}}, 4, %{{.*}} {bypassL1}
// TF32: scf.for {{.*}} step %c16{{.*}} -> (vector<2x2xf32>,
// TF32: nvgpu.ldmatrix %[[AS]][{{.*}}] {numTiles = 4 : i32, transpose = false} : memref<3x128x20xf32, 3> -> vector<4x1xf32>
// TF32: memref.load %[[BS]]
// TF32: nvgpu.mma.sync({{.*}}) {mmaShape = [16, 8, 8], tf32Enabled} : (vector<4x1xf32>, vector<2x1xf32>, vector<2x2xf32>) -> vector<2x2xf32>
func.func @matmul(%a: memref<?x?xf32>, %b: memref<?x?xf32>, %c: memref<?x?xf32>) {
  linalg.matmul ins(%a, %b : memref<?x?xf32>, memref<?x?xf32>) outs(%c : memref<?x?xf32>)
  return
}

// -----

// A length known to be at most 64 takes a tile of 64 (4 columns a
// thread): n = 48 here, m unknown (128).
// CHECK-LABEL: func.func @narrow(
// CHECK: memref.alloca() : memref<16x132xf32, 3>
// CHECK: memref.alloca() : memref<16x68xf32, 3>
// CHECK: scf.for {{.*}} -> (f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32)
func.func @narrow(%a: memref<?x32xf32>, %b: memref<32x48xf32>, %c: memref<?x48xf32>) {
  linalg.matmul ins(%a, %b : memref<?x32xf32>, memref<32x48xf32>) outs(%c : memref<?x48xf32>)
  return
}

// -----

// A sum to a scalar has no parallel loop: one thread. A constant is
// copied to the device where it is used.
// CHECK-LABEL: func.func @total(
// CHECK: %[[G:.*]] = memref.get_global @two
// CHECK: %[[D:[a-z0-9_]+]], %{{.*}} = gpu.alloc async [%{{.*}}] () : memref<4xf32>
// CHECK: gpu.memcpy async [%{{.*}}] %[[D]], %[[G]]
// CHECK: scf.parallel (%{{.*}}) = (%c0) to (%c1) step (%c1) {
// CHECK:   scf.for
// CHECK: } {mapping = [#gpu.loop_dim_map<processor = thread_x
// CHECK: gpu.dealloc async [%{{.*}}] %[[D]]
memref.global "private" constant @two : memref<4xf32> = dense<2.0>
func.func @total(%x: memref<4xf32>, %out: memref<f32>) {
  %g = memref.get_global @two : memref<4xf32>
  linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>, affine_map<(i) -> ()>],
                  iterator_types = ["reduction"]}
      ins(%x, %g : memref<4xf32>, memref<4xf32>) outs(%out : memref<f32>) {
  ^bb0(%a: f32, %w: f32, %acc: f32):
    %m = arith.mulf %a, %w : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// A scan's task loop (an scf.for marked seq.parallel that carries nothing)
// becomes a kernel with a thread per task, in blocks of 64 threads; its
// loop over time stays sequential in the thread.
// CHECK-LABEL: func.func @tasks(
// CHECK-NOT: seq.parallel
// CHECK: %[[STEP:.*]] = arith.muli %c1{{.*}}, %c64 : index
// CHECK: scf.parallel (%{{.*}}) = (%{{.*}}) to (%{{.*}}) step (%[[STEP]])
// CHECK:   scf.parallel
// CHECK:     scf.for
// CHECK:       memref.load
// CHECK:       memref.store
// CHECK:   } {mapping = [#gpu.loop_dim_map<processor = thread_x
// CHECK: } {mapping = [#gpu.loop_dim_map<processor = block_x
func.func @tasks(%a: memref<?x?xf32>, %y: memref<?x?xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %t = memref.dim %a, %c0 : memref<?x?xf32>
  %n = memref.dim %a, %c1 : memref<?x?xf32>
  %zero = arith.constant 0.0 : f32
  scf.for %c = %c0 to %n step %c1 {
    %h = scf.for %i = %c0 to %t step %c1 iter_args(%h = %zero) -> (f32) {
      %x = memref.load %a[%i, %c] : memref<?x?xf32>
      %s = arith.addf %h, %x : f32
      memref.store %s, %y[%i, %c] : memref<?x?xf32>
      scf.yield %s : f32
    }
  } {seq.parallel}
  return
}

// -----

// A task loop that asks for blocks of its own size (seq.block_threads: the
// tensor-core attention's warps share shared memory and barriers) gets
// them; its shared memory (an alloca in address space 3) stays in the
// kernel, not a device buffer.
// CHECK-LABEL: func.func @shared_tasks(
// CHECK-NOT: gpu.alloc
// CHECK: %[[STEP:.*]] = arith.muli %c1{{.*}}, %c128 : index
// CHECK: scf.parallel (%{{.*}}) = (%{{.*}}) to (%{{.*}}) step (%[[STEP]])
// CHECK:   scf.parallel
// CHECK:     memref.alloca() : memref<2x32xf32, 3>
// CHECK:     gpu.barrier
// CHECK:   } {mapping = [#gpu.loop_dim_map<processor = thread_x
// CHECK: } {mapping = [#gpu.loop_dim_map<processor = block_x
func.func @shared_tasks(%a: memref<?xf32>, %y: memref<?xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  %n = memref.dim %a, %c0 : memref<?xf32>
  scf.for %w = %c0 to %n step %c1 {
    %s = memref.alloca() : memref<2x32xf32, 3>
    %l = arith.remui %w, %c32 : index
    %x = memref.load %a[%w] : memref<?xf32>
    memref.store %x, %s[%c0, %l] : memref<2x32xf32, 3>
    gpu.barrier
    %z = memref.load %s[%c0, %l] : memref<2x32xf32, 3>
    memref.store %z, %y[%w] : memref<?xf32>
  } {seq.parallel, seq.block_threads = 128 : i64}
  return
}

// -----

// A matmul is register-tiled: a thread per 2 x 2 block of the output
// (contraction-tile=2; the pipeline takes 8), the 4 accumulators loaded
// once and carried through the k loop, which reads 2 values of each input
// a step (rows and columns clamped at the edges) for 4 FMAs; the block is
// stored where it is inside the output.
// TILE-LABEL: func.func @matmul(
// TILE: %[[MT:.*]] = arith.ceildivui %{{.*}}, %c2
// TILE: %[[NT:.*]] = arith.ceildivui %{{.*}}, %c2
// TILE: scf.parallel
// TILE-COUNT-4: memref.load %arg2
// TILE: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{.*}} iter_args({{.*}}) -> (f32, f32, f32, f32)
// TILE-COUNT-2: memref.load %arg0
// TILE-COUNT-2: memref.load %arg1
// TILE-COUNT-4: arith.addf {{.*}} fastmath<contract>
// TILE-COUNT-4: memref.store {{.*}}, %arg2
// TILE-NOT: linalg.matmul
// A caller's buffer may be unaligned and the k loop's length is not
// known: scalar reads, one step at a time.
// VEC-LABEL: func.func @matmul(
// VEC: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c1
// VEC-NOT: vector.load
// VEC: memref.store
func.func @matmul(%a: memref<?x?xf32>, %b: memref<?x?xf32>, %c: memref<?x?xf32>) {
  linalg.matmul ins(%a, %b : memref<?x?xf32>, memref<?x?xf32>) outs(%c : memref<?x?xf32>)
  return
}

// -----

// The input read along n is a buffer the function allocates (16-byte
// aligned rows of 16 floats) and n a static multiple of the tile: each
// step reads a thread's 4 columns as one 16-byte vector; the k loop (8
// steps) is unrolled by 2, both steps' reads first.
// The output's fill just before goes: the accumulators start at its
// value, without reading the output.
// VEC-LABEL: func.func @aligned_columns(
// VEC: %[[B:[a-z0-9_]+]], %{{.*}} = gpu.alloc async [%{{.*}}] () : memref<8x16xf32>
// VEC: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// VEC-NOT: memref.load %arg1
// VEC-NOT: memref.store {{.*}}, %arg1
// VEC: scf.for %[[K:.*]] = %{{.*}} to %{{.*}} step %c2{{.*}} iter_args(%{{.*}} = %[[ZERO]], {{.*}}) -> (f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32)
// VEC: vector.load %[[B]][%[[K]], %{{.*}}] {alignment = 16 : i64} : memref<8x16xf32>, vector<4xf32>
// VEC-COUNT-4: memref.load %arg0
// VEC: %[[K1:.*]] = arith.addi %[[K]], %c1
// VEC: vector.load %[[B]][%[[K1]], %{{.*}}] {alignment = 16 : i64} : memref<8x16xf32>, vector<4xf32>
// VEC-COUNT-4: memref.load %arg0
// VEC-COUNT-32: arith.addf {{.*}} fastmath<contract>
// VEC: scf.yield
// VEC-COUNT-16: memref.store {{.*}}, %arg1
// VEC-NOT: memref.store {{.*}}, %arg1
func.func @aligned_columns(%a: memref<?x8xf32>, %c: memref<?x16xf32>) {
  %cst = arith.constant 1.0 : f32
  %b = memref.alloc() : memref<8x16xf32>
  linalg.fill ins(%cst : f32) outs(%b : memref<8x16xf32>)
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%c : memref<?x16xf32>)
  linalg.matmul ins(%a, %b : memref<?x8xf32>, memref<8x16xf32>) outs(%c : memref<?x16xf32>)
  memref.dealloc %b : memref<8x16xf32>
  return
}

// -----

// A task loop whose tasks allocate (seq-chunkwise's per-chunk work) stays a
// loop on the host: a thread can neither allocate device memory nor launch
// the kernels of the ops inside, which become kernels of their own.
// CHECK-LABEL: func.func @allocating_tasks(
// CHECK: scf.for
// CHECK:   gpu.alloc
// CHECK:   scf.parallel
// CHECK:   } {mapping = [#gpu.loop_dim_map<processor = thread_x
// CHECK:   gpu.dealloc
// CHECK: } {seq.parallel}
func.func @allocating_tasks(%a: memref<?x4xf32>, %y: memref<?x4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = memref.dim %a, %c0 : memref<?x4xf32>
  scf.for %i = %c0 to %n step %c1 {
    %t = memref.alloc() : memref<4xf32>
    %row = memref.subview %a[%i, 0] [1, 4] [1, 1] : memref<?x4xf32> to memref<4xf32, strided<[1], offset: ?>>
    %out = memref.subview %y[%i, 0] [1, 4] [1, 1] : memref<?x4xf32> to memref<4xf32, strided<[1], offset: ?>>
    linalg.generic {indexing_maps = [affine_map<(j) -> (j)>, affine_map<(j) -> (j)>],
                    iterator_types = ["parallel"]}
        ins(%row : memref<4xf32, strided<[1], offset: ?>>) outs(%t : memref<4xf32>) {
    ^bb0(%x: f32, %o: f32):
      %e = math.exp %x : f32
      linalg.yield %e : f32
    }
    memref.copy %t, %out : memref<4xf32> to memref<4xf32, strided<[1], offset: ?>>
    memref.dealloc %t : memref<4xf32>
  } {seq.parallel}
  return
}

// -----

// A bf16 matmul goes on tensor cores: three stages of 32-step slices in
// shared memory, x's rows (k innermost) as [128 x 40] and w's (n
// innermost) as [32 x 136]; each slice copied by 16-byte cp.async where
// the input's rows are 16-byte aligned (checked at run time), else element
// by element (a loop); two slices in flight before the k loop, whose step
// waits for its slice, then puts the one two ahead in flight; fragments
// by ldmatrix (w's transposed), 32 m16n8k16 mma.sync a warp (64 x 64) per
// 16 steps on f32 accumulators, rounded to bf16 at the stores.
// CHECK-LABEL: func.func @matmul_bf16(
// CHECK: scf.parallel
// CHECK:   scf.parallel
// CHECK:     %[[XS:.*]] = memref.alloca() : memref<3x128x40xbf16, 3>
// CHECK:     memref.extract_aligned_pointer_as_index %{{.*}} : memref<?x512xbf16>
// CHECK:     %[[WS:.*]] = memref.alloca() : memref<3x32x136xbf16, 3>
// CHECK:     scf.if
// CHECK-COUNT-4: nvgpu.device_async_copy {{.*}}, %[[XS]]{{.*}}, 8, %{{.*}} {bypassL1}
// CHECK:     } else {
// CHECK:       scf.for
// CHECK:         memref.store %{{.*}}, %[[XS]]
// CHECK:     scf.if
// CHECK-COUNT-4: nvgpu.device_async_copy {{.*}}, %[[WS]]{{.*}}, 8, %{{.*}} {bypassL1}
// CHECK:     nvgpu.device_async_create_group
// CHECK:     nvgpu.device_async_create_group
// CHECK:     scf.for {{.*}} step %c32{{.*}} -> (vector<2x2xf32>,
// CHECK:       nvgpu.device_async_wait %{{.*}} {numGroups = 1 : i32}
// CHECK-NEXT:  gpu.barrier
// CHECK:       nvgpu.device_async_create_group
// CHECK-COUNT-4: nvgpu.ldmatrix %[[XS]][{{.*}}] {numTiles = 4 : i32, transpose = false}
// CHECK-COUNT-4: nvgpu.ldmatrix %[[WS]][{{.*}}] {numTiles = 4 : i32, transpose = true}
// CHECK-COUNT-32: nvgpu.mma.sync({{.*}}) {mmaShape = [16, 8, 16]} : (vector<4x2xbf16>, vector<2x2xbf16>, vector<2x2xf32>) -> vector<2x2xf32>
// CHECK:     nvgpu.device_async_wait %{{.*}} {numGroups = 0 : i32}
// CHECK:     arith.truncf %{{.*}} : f32 to bf16
// CHECK-NOT: linalg.fill
func.func @matmul_bf16(%x: memref<?x512xbf16>, %w: memref<512x1024xbf16>, %y: memref<?x1024xbf16>) {
  %zero = arith.constant 0.0 : bf16
  linalg.fill ins(%zero : bf16) outs(%y : memref<?x1024xbf16>)
  linalg.matmul ins(%x, %w : memref<?x512xbf16>, memref<512x1024xbf16>) outs(%y : memref<?x1024xbf16>)
  return
}
