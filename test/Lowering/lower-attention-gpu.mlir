// RUN: seq-opt %s --split-input-file "--seq-lower-attention=per-thread=true tile-k=2 min-parallel=128" | FileCheck %s
// RUN: seq-opt %s --split-input-file "--seq-lower-attention=per-thread=true tensor-cores=true warp-rows=16 key-blocks=2 min-parallel=128" | FileCheck %s --check-prefix=TC
// RUN: seq-opt %s --split-input-file "--seq-lower-attention=per-thread=true tensor-cores=true warp-rows=32 key-blocks=1 min-parallel=128" | FileCheck %s --check-prefix=TC32
// RUN: seq-opt %s --split-input-file "--seq-lower-attention=per-thread=true tensor-cores=true min-parallel=128" | FileCheck %s --check-prefix=AUTO
// RUN: not seq-opt %s --split-input-file "--seq-lower-attention=per-thread=true tensor-cores=true warp-rows=24" 2>&1 | FileCheck %s --check-prefix=BADROWS
// BADROWS: warp-rows must be 0, 16 or 32, not 24
// RUN: not seq-opt %s --split-input-file "--seq-lower-attention=per-thread=true tensor-cores=true key-blocks=9" 2>&1 | FileCheck %s --check-prefix=BADBLOCKS
// BADBLOCKS: key-blocks must be in [0, 8], not 9

// Tests the GPU form of causal attention with shared (GQA) bf16 keys and
// values: the number of key splits (ceil(128 / rows), at most one per 64
// keys), a parallel loop over (split, row) whose row sees the keys of its
// split up to its own position (the mask [1, -1, 0] as a bound of the key
// loop, not a test per key), the query row read once and widened to f32,
// two keys a step (the second, past the end, clamped and its score -inf),
// one rescale of the running sum and accumulator a step, the values as
// FMAs; each thread's (max, sum, acc) stored for the merge, which a thread
// per output element does (32 splits a step while 32 remain, then 8 a
// step, all read first; in the 8-wide loop one past the last reads the
// last with max -inf), writing acc / sum as bf16.
// CHECK-LABEL: func.func @causal
// CHECK-SAME: (%[[Q:[^:]+]]: tensor<2x?x16xbf16>, %[[K:[^:]+]]: tensor<1x?x16xbf16>, %[[V:[^:]+]]: tensor<1x?x8xbf16>, %[[O:[^:]+]]: tensor<2x?x8xbf16>)
// CHECK: %[[TQ:.+]] = tensor.dim %[[Q]], %c1
// CHECK: %[[TK:.+]] = tensor.dim %[[K]], %c1
// CHECK: %[[B:.+]] = tensor.dim %[[Q]], %c0
// CHECK: %[[ROWS:.+]] = arith.muli %[[TQ]], %[[B]] : index
// CHECK: %[[WANT:.+]] = arith.ceildivui %c128, %{{.+}} : index
// CHECK: %[[MOST:.+]] = arith.ceildivui %[[TK]], %c64 : index
// CHECK: arith.minui %[[WANT]], %[[MOST]] : index
// CHECK: arith.ceildivui %[[TK]]
// CHECK: %[[CHUNK:.+]] = arith.maxui %{{.+}}, %c1 : index
// CHECK: arith.ceildivui %[[TK]], %[[CHUNK]]
// CHECK: %[[SPLITS:.+]] = arith.maxui %{{.+}}, %c1 : index
// CHECK: %[[ITEMS:.+]] = arith.muli %[[ROWS]], %[[SPLITS]] : index
// CHECK: tensor.empty(%[[ITEMS]]) : tensor<?x8xf32>
// CHECK: %[[THREADS:.+]] = arith.muli %[[ROWS]], %[[SPLITS]] : index
// CHECK: %[[PART:.+]]:3 = scf.for %[[W:.+]] = %c0 to %[[THREADS]] step %c1 iter_args(%[[MB:.+]] = %{{.+}}, %[[LB:.+]] = %{{.+}}, %[[AB:.+]] = %{{.+}}) -> (tensor<?xf32>, tensor<?xf32>, tensor<?x8xf32>) {
// CHECK: %[[SPLIT:.+]] = arith.divui %[[W]], %[[ROWS]] : index
// CHECK: %[[ROW:.+]] = arith.remui %[[W]], %[[ROWS]] : index
// CHECK: %[[QI:.+]] = arith.remui %[[ROW]], %[[TQ]] : index
// CHECK: %[[REST:.+]] = arith.divui %[[ROW]], %[[TQ]] : index
// CHECK: %[[BI:.+]] = arith.remui %[[REST]], %[[B]] : index
// CHECK: %[[KLO:.+]] = arith.muli %[[SPLIT]], %[[CHUNK]] : index
// CHECK: %[[END:.+]] = arith.minui %{{.+}}, %[[TK]] : index
// CHECK: %[[DIAG:.+]] = arith.floordivsi
// CHECK: %[[PAST:.+]] = arith.addi %[[DIAG]], %c1 : index
// CHECK: %[[CUT:.+]] = arith.minsi %[[END]], %[[PAST]] : index
// CHECK: %[[KHI:.+]] = arith.maxsi %[[CUT]], %[[KLO]] : index
// CHECK: %[[QROW:.+]] = vector.transfer_read %[[Q]][%[[BI]], %[[QI]], %c0], %{{.+}} {in_bounds = [true]} : tensor<2x?x16xbf16>, vector<16xbf16>
// CHECK: %[[QF:.+]] = arith.extf %[[QROW]] : vector<16xbf16> to vector<16xf32>
// CHECK: %[[R:.+]]:3 = scf.for %[[J:.+]] = %[[KLO]] to %[[KHI]] step %c2 iter_args(%[[M:.+]] = %{{.+}}, %[[L:.+]] = %{{.+}}, %[[A:.+]] = %{{.+}}) -> (f32, f32, vector<8xf32>) {
// CHECK: vector.transfer_read %[[K]][%c0, %[[J]], %c0]{{.*}} : tensor<1x?x16xbf16>, vector<16xbf16>
// CHECK: arith.mulf {{.*}} fastmath<contract> : vector<8xf32>
// CHECK: vector.fma {{.*}} : vector<8xf32>
// CHECK: vector.reduction <add>, %{{.+}} fastmath<reassoc> : vector<8xf32> into f32
// CHECK: %[[S0:.+]] = arith.mulf %{{.+}}, %cst{{.*}} : f32
// CHECK: %[[J1:.+]] = arith.addi %[[J]], %c1{{.*}} : index
// CHECK: %[[IN1:.+]] = arith.cmpi slt, %[[J1]], %[[KHI]] : index
// CHECK: %[[K1:.+]] = arith.select %[[IN1]], %[[J1]], %[[J]] : index
// CHECK: vector.transfer_read %[[K]][%c0, %[[K1]], %c0]
// CHECK: %[[S1:.+]] = arith.select %[[IN1]], %{{.+}}, %cst{{.*}} : f32
// CHECK: %[[M0:.+]] = arith.maxnumf %[[M]], %[[S0]] : f32
// CHECK: %[[MNEW:.+]] = arith.maxnumf %[[M0]], %[[S1]] : f32
// CHECK: math.exp
// CHECK: %[[LS:.+]] = arith.mulf %[[L]], %{{.+}} : f32
// CHECK: %[[AS:.+]] = arith.mulf %[[A]], %{{.+}} : vector<8xf32>
// CHECK: math.exp
// CHECK: vector.transfer_read %[[V]][%c0, %[[J]], %c0]{{.*}} : tensor<1x?x8xbf16>, vector<8xbf16>
// CHECK: %[[A0:.+]] = vector.fma %{{.+}}, %{{.+}}, %[[AS]] : vector<8xf32>
// CHECK: math.exp
// CHECK: vector.transfer_read %[[V]][%c0, %[[K1]], %c0]
// CHECK: %[[A1:.+]] = vector.fma %{{.+}}, %{{.+}}, %[[A0]] : vector<8xf32>
// CHECK: scf.yield %[[MNEW]], %{{.+}}, %[[A1]] : f32, f32, vector<8xf32>
// CHECK: tensor.insert %[[R]]#0 into %[[MB]][%[[W]]]
// CHECK: tensor.insert %[[R]]#1 into %[[LB]][%[[W]]]
// CHECK: vector.transfer_write %[[R]]#2, %[[AB]][%[[W]], %c0] {in_bounds = [true]} : vector<8xf32>, tensor<?x8xf32>
// CHECK: } {seq.parallel}
// CHECK: %[[ELEMS:.+]] = arith.muli %[[ROWS]], %c8 : index
// CHECK: %[[OUT:.+]] = scf.for %[[E:.+]] = %c0 to %[[ELEMS]] step %c1 iter_args(%[[ACC:.+]] = %[[O]]) -> (tensor<2x?x8xbf16>) {
// CHECK: %[[T:.+]] = arith.divui %[[E]], %c8{{.*}} : index
// CHECK: %[[COL:.+]] = arith.remui %[[E]], %c8{{.*}} : index
// CHECK: %[[QI2:.+]] = arith.remui %[[T]], %[[TQ]] : index
// CHECK: %[[BI2:.+]] = arith.remui %{{.+}}, %[[B]] : index
// CHECK: %[[REM32:.+]] = arith.remui %[[SPLITS]], %c32 : index
// CHECK: %[[WIDE:.+]] = arith.subi %[[SPLITS]], %[[REM32]] : index
// CHECK: %[[FIRST:.+]]:3 = scf.for %{{.+}} = %c0 to %[[WIDE]] step %c32
// CHECK-COUNT-32: arith.maxnumf
// CHECK: scf.yield
// CHECK: scf.for %[[S:.+]] = %[[WIDE]] to %[[SPLITS]] step %c8{{.*}} iter_args(%{{.+}} = %[[FIRST]]#0, %{{.+}} = %[[FIRST]]#1, %{{.+}} = %[[FIRST]]#2)
// CHECK: %[[S7:.+]] = arith.addi %[[S]], %c7{{.*}} : index
// CHECK: %[[IN7:.+]] = arith.cmpi ult, %[[S7]], %[[SPLITS]] : index
// CHECK: %[[CL7:.+]] = arith.minui %[[S7]], %{{.+}} : index
// CHECK: %[[ROW7:.+]] = arith.muli %[[CL7]], %[[ROWS]] : index
// CHECK: %[[ITEM:.+]] = arith.addi %[[ROW7]], %[[T]] : index
// CHECK: %[[M7:.+]] = tensor.extract %[[PART]]#0[%[[ITEM]]]
// CHECK: arith.select %[[IN7]], %[[M7]], %cst{{.*}} : f32
// CHECK: tensor.extract %[[PART]]#1[%[[ITEM]]]
// CHECK: tensor.extract %[[PART]]#2[%[[ITEM]], %[[COL]]]
// CHECK-COUNT-8: arith.maxnumf
// CHECK: math.exp2
// CHECK: scf.yield
// CHECK: arith.divf
// CHECK: %[[OV:.+]] = arith.truncf %{{.+}} : f32 to bf16
// CHECK: tensor.insert %[[OV]] into %[[ACC]][%[[BI2]], %[[QI2]], %[[COL]]] : tensor<2x?x8xbf16>
// CHECK: } {seq.parallel}
// CHECK: return %[[OUT]]
func.func @causal(%q: tensor<2x?x16xbf16>, %k: tensor<1x?x16xbf16>, %v: tensor<1x?x8xbf16>, %e: tensor<2x?x8xbf16>) -> tensor<2x?x8xbf16> {
  %o = seq.attention ins(%q, %k, %v : tensor<2x?x16xbf16>, tensor<1x?x16xbf16>, tensor<1x?x8xbf16>)
       outs(%e : tensor<2x?x8xbf16>) scale = 0.25 mask = [1, -1, 0] -> tensor<2x?x8xbf16> {
  ^bb0(%s: f32, %b: index, %i: index, %j: index):
    seq.yield %s : f32
  }
  return %o : tensor<2x?x8xbf16>
}

// -----

// Tests a sliding window (two constraints: k <= q and k >= q - 3) and a
// position offset: the key loop runs from max(split start, q + off - 3)
// to min(split end, q + off + 1).
// CHECK-LABEL: func.func @window
// CHECK-SAME: %[[OFF:[^:]+]]: index)
// CHECK: %[[QPOS:.+]] = arith.addi %{{.+}}, %[[OFF]] : index
// CHECK: %[[START:.+]] = arith.muli
// CHECK: %[[END:.+]] = arith.minui
// CHECK: arith.muli %[[QPOS]], %c1
// CHECK: %[[DIAG:.+]] = arith.floordivsi
// CHECK: %[[PAST:.+]] = arith.addi %[[DIAG]], %c1 : index
// CHECK: %[[CUT:.+]] = arith.minsi %[[END]], %[[PAST]] : index
// CHECK: arith.muli %[[QPOS]], %c-1
// CHECK: %[[LO:.+]] = arith.ceildivsi
// CHECK: %[[KLO:.+]] = arith.maxsi %[[START]], %[[LO]] : index
// CHECK: %[[KHI:.+]] = arith.maxsi %[[CUT]], %[[KLO]] : index
// CHECK: scf.for %{{.+}} = %[[KLO]] to %[[KHI]] step %c2
// CHECK: } {seq.parallel}
func.func @window(%q: tensor<4x?x16xf32>, %k: tensor<4x?x16xf32>, %v: tensor<4x?x8xf32>, %e: tensor<4x?x8xf32>, %off: index) -> tensor<4x?x8xf32> {
  %o = seq.attention ins(%q, %k, %v : tensor<4x?x16xf32>, tensor<4x?x16xf32>, tensor<4x?x8xf32>)
       outs(%e : tensor<4x?x8xf32>) offset(%off) mask = [1, -1, 0, -1, 1, 3] -> tensor<4x?x8xf32> {
  ^bb0(%s: f32, %b: index, %i: index, %j: index):
    seq.yield %s : f32
  }
  return %o : tensor<4x?x8xf32>
}

// -----

// Tests decoding (one query, head sizes multiples of 32): a warp per (row,
// split), 16 times as many threads wanted (16 x 128 / (32 rows)), a lane's
// 64 / 32 = 2 of the query and 32 / 32 = 1 of the accumulator, 8 keys a
// step, read before the sums across the warp (5 shuffles a key).
// CHECK-LABEL: func.func @decode
// CHECK: %[[ROWS:.+]] = arith.muli %{{.+}}, %{{.+}} : index
// CHECK: %[[UNITS:.+]] = arith.muli %[[ROWS]], %c32 : index
// CHECK: arith.ceildivui %c2048, %{{.+}} : index
// CHECK: scf.for %[[W:.+]] = %c0 to %{{.+}} step %c1 iter_args(
// CHECK: %[[LANE:.+]] = arith.remui %[[W]], %c32{{.*}} : index
// CHECK: %[[WARP:.+]] = arith.divui %[[W]], %c32{{.*}} : index
// CHECK: %[[SPLIT:.+]] = arith.divui %[[WARP]], %[[ROWS]] : index
// CHECK: %[[ROW:.+]] = arith.remui %[[WARP]], %[[ROWS]] : index
// CHECK: %[[DCOL:.+]] = arith.muli %[[LANE]], %c2{{.*}} : index
// CHECK: %[[VCOL:.+]] = arith.muli %[[LANE]], %c1{{.*}} : index
// CHECK: vector.transfer_read %arg0[%{{.+}}, %{{.+}}, %[[DCOL]]]{{.*}} : tensor<4x1x64xf32>, vector<2xf32>
// CHECK: scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c8{{.*}} iter_args({{.*}}) -> (f32, f32, vector<1xf32>)
// CHECK-COUNT-8: vector.transfer_read %arg1[%{{.+}}, %{{.+}}, %[[DCOL]]]
// CHECK-NOT: vector.transfer_read
// CHECK-COUNT-40: gpu.shuffle  xor
// CHECK: math.exp
// CHECK: vector.transfer_read %arg2[%{{.+}}, %{{.+}}, %[[VCOL]]]{{.*}} : tensor<4x?x32xf32>, vector<1xf32>
// CHECK: scf.yield
// CHECK: vector.transfer_write %{{.+}}, %{{.+}}[%{{.+}}, %[[VCOL]]] {in_bounds = [true]} : vector<1xf32>, tensor<?x32xf32>
// CHECK: } {seq.parallel}
func.func @decode(%q: tensor<4x1x64xf32>, %k: tensor<4x?x64xf32>, %v: tensor<4x?x32xf32>, %e: tensor<4x1x32xf32>) -> tensor<4x1x32xf32> {
  %o = seq.attention ins(%q, %k, %v : tensor<4x1x64xf32>, tensor<4x?x64xf32>, tensor<4x?x32xf32>)
       outs(%e : tensor<4x1x32xf32>) scale = 0.125 -> tensor<4x1x32xf32> {
  ^bb0(%s: f32, %b: index, %i: index, %j: index):
    seq.yield %s : f32
  }
  return %o : tensor<4x1x32xf32>
}

// -----

// Tests the tensor-core form (bf16; head sizes multiples of 16; the first
// function's Dv = 8 is not one, and takes the thread form): q's fragments
// read in the kernel, two elements a register; k and v packed into the
// lanes' mma.sync fragment order, [.., 16-key block, 16 columns, lane, 4]
// of i32 (a key past the end reads the last), as read-only buffers;
// splits of whole steps; a warp (32 threads) per 16 query rows and key
// split, a block's warps (2 here: a step's K is 2 groups of 32 lanes)
// tiles of one batch item (a batch item's tiles rounded up to 2); a lane
// holds rows g and g + 8 (clamped to the last row for reads); Q's
// fragments read once; the first key a multiple of 16. Shared memory: two
// stages of a step's K and V ([stage, group, lane, 4] of i32 in address
// space 3). With key-blocks=2, per 32 keys: the first step copies its own
// K and V (cp.async, 16 bytes a thread), every step the next one's into
// the other stage (the block clamped to the last), then waits for all but
// that group, and for the block; S = Q K^T as m16n8k16 mma.sync on bf16
// for each block, each lane's 4 registers of a group read from shared
// memory where first used (a warp none of whose keys are in the step,
// under the causal mask past its diagonal, keeps its state); the score
// region (a division by 4) folded
// into exp2's factor: no product by 1/4 on a score, the row maxima of the
// dot products, the mask per element only where a key may be hidden (the
// step's keys past the end, or a constraint failing at the tile's
// corners); each row's maximum across its 4 lanes (shuffles xor 1 and
// 2), exp as an approximate exp2 (afn) of an FMA by log2(e) / 4 and the
// row's shift, P rounded to bf16 as the A operand of O += P V, each
// block's P with its block of V; a barrier before the next step's copies
// overwrite the stage; after the loop, the row sums across the 4 lanes,
// and each lane's part of the rows that exist: with a single split (an
// empty split buffer) the output itself, acc / sum as bf16 pairs, else
// stored for the merge with the max as a score (times 1/4), which runs
// only with several splits.
// TC-LABEL: func.func @tc_causal
// TC-SAME: (%[[Q:[^:]+]]: tensor<2x?x16xbf16>, %[[K:[^:]+]]: tensor<1x?x16xbf16>, %[[V:[^:]+]]: tensor<1x?x16xbf16>
// TC: %[[PER:.+]] = arith.ceildivui %{{.+}}, %c16 : index
// TC: %[[PERB:.+]] = arith.ceildivui %[[PER]], %c2 : index
// TC: %[[PER2:.+]] = arith.muli %[[PERB]], %c2 : index
// TC: %[[TILES:.+]] = arith.muli %[[PER2]], %{{.+}} : index
// TC: %[[UNITS:.+]] = arith.muli %[[TILES]], %c32{{.*}} : index
// TC: %[[STEPS:.+]] = arith.ceildivui %{{.+}}, %c32{{.*}} : index
// TC: %[[CHUNK:.+]] = arith.muli %[[STEPS]], %c32{{.*}} : index
// K and V packed in fragment order: a task per lane's 4 registers.
// TC: %[[KE:.+]] = tensor.empty(%{{.+}}) : tensor<1x?x1x32x4xi32>
// TC: %[[KP:.+]] = scf.for %{{.+}} = %c0 to %{{.+}} step %c1 iter_args(%[[KA:.+]] = %[[KE]]) -> (tensor<1x?x1x32x4xi32>) {
// TC: arith.minui
// TC: tensor.extract %[[K]]
// TC: arith.ori %{{.+}}, %{{.+}} : i32
// TC: %[[KQ:.+]] = vector.from_elements %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}} : vector<4xi32>
// TC-NEXT: %[[KW:.+]] = vector.transfer_write %[[KQ]], %[[KA]]{{.*}} {in_bounds = [true]} : vector<4xi32>, tensor<1x?x1x32x4xi32>
// TC-NEXT: scf.yield %[[KW]]
// TC-NEXT: } {seq.parallel}
// TC: %[[KF:.+]] = bufferization.to_buffer %[[KP]] read_only : tensor<1x?x1x32x4xi32> to memref<1x?x1x32x4xi32>
// TC: %[[VP:.+]] = scf.for {{.*}} -> (tensor<1x?x1x32x4xi32>) {
// TC: tensor.extract %[[V]]
// TC: } {seq.parallel}
// TC: %[[VF:.+]] = bufferization.to_buffer %[[VP]] read_only
// TC: %[[SINGLE:.+]] = arith.cmpi eq, %{{.+}}, %c1 : index
// TC: %[[ITEMS:.+]] = arith.select %[[SINGLE]], %c0, %{{.+}} : index
// TC: tensor.empty(%[[ITEMS]]) : tensor<?xf32>
// TC: %[[THREADS:.+]] = arith.muli %[[UNITS]], %{{.+}} : index
// TC: %[[OUTER:.+]]:4 = scf.for %[[W:.+]] = %c0 to %[[THREADS]] step %c1 iter_args(
// TC: %[[LANE:.+]] = arith.remui %[[W]], %c32{{.*}} : index
// A batch item's blocks (2 warps each) last first.
// TC: %[[PERBATCH:.+]] = arith.muli %{{.+}}, %c2{{.*}} : index
// TC-NEXT: %[[QT:.+]] = arith.remui %{{.+}}, %[[PERBATCH]] : index
// TC: %[[BLK:.+]] = arith.divui %[[QT]], %c2{{.*}} : index
// TC: %[[NBLK:.+]] = arith.divui %[[PERBATCH]], %c2{{.*}} : index
// TC-NEXT: %[[LASTBLK:.+]] = arith.subi %[[NBLK]], %c1 : index
// TC-NEXT: %[[REVBLK:.+]] = arith.subi %[[LASTBLK]], %[[BLK]] : index
// TC: %[[REVFIRST:.+]] = arith.muli %[[REVBLK]], %c2{{.*}} : index
// TC: %[[INBLK:.+]] = arith.remui %[[QT]], %c2{{.*}} : index
// TC-NEXT: %[[REVQT:.+]] = arith.addi %[[REVFIRST]], %[[INBLK]] : index
// TC: arith.muli %[[REVQT]], %c16{{.*}} : index
// TC: %[[G:.+]] = arith.divui %[[LANE]], %c4{{.*}} : index
// TC: %[[ROWA:.+]] = arith.addi %{{.+}}, %[[G]] : index
// TC: %[[ROWB:.+]] = arith.addi %[[ROWA]], %c8{{.*}} : index
// TC: %[[REM:.+]] = arith.remui %[[LO:.+]], %c16{{.*}} : index
// TC: %[[FIRST:.+]] = arith.subi %[[LO]], %[[REM]] : index
// TC: %[[STAGES:.+]] = memref.alloca() : memref<2x4x32x4xi32, 3>
// TC: %[[TID:.+]] = arith.remui %[[W]], %c64{{.*}} : index
// TC: %[[QA:.+]] = tensor.extract %[[Q]]
// TC: %[[QB:.+]] = tensor.extract %[[Q]]
// TC-NEXT: vector.from_elements %[[QA]], %[[QB]] : vector<2xbf16>
// TC-NOT: tensor.extract %[[K]]
// TC: scf.for %[[J:.+]] = %[[FIRST]] to %{{.+}} step %c32{{.*}} iter_args({{.*}}) -> (f32, f32, f32, f32, vector<2x2xf32>, vector<2x2xf32>)
// TC: %[[KB:.+]] = arith.divui %[[J]], %c16{{.*}} : index
// TC: %[[STAGE:.+]] = arith.remui %{{.+}}, %c2{{.*}} : index
// TC: %[[ISFIRST:.+]] = arith.cmpi eq, %[[J]], %[[FIRST]] : index
// TC: scf.if %[[ISFIRST]] {
// TC: nvgpu.device_async_copy %[[KF]][%c0, %{{.+}}, %{{.+}}, %{{.+}}, %c0], %[[STAGES]][%[[STAGE]], %{{.+}}, %{{.+}}, %c0], 4 {bypassL1}
// TC: nvgpu.device_async_copy %[[VF]]
// TC: nvgpu.device_async_create_group
// TC: }
// TC: %[[NEXT:.+]] = arith.subi %c1, %[[STAGE]] : index
// TC: nvgpu.device_async_copy %[[KF]][%c0, %{{.+}}, %{{.+}}, %{{.+}}, %c0], %[[STAGES]][%[[NEXT]], %{{.+}}, %{{.+}}, %c0], 4 {bypassL1}
// TC: nvgpu.device_async_copy %[[VF]]
// TC: %[[GROUP:.+]] = nvgpu.device_async_create_group
// TC-NEXT: nvgpu.device_async_wait %[[GROUP]] {numGroups = 1 : i32}
// TC-NEXT: gpu.barrier
// TC: %[[BEFORE:.+]] = arith.cmpi slt, %[[J]], %{{.+}} : index
// TC: %[[AFTER:.+]] = arith.cmpi sgt, %{{.+}}, %{{.+}} : index
// TC: %[[ACTIVE:.+]] = arith.andi %[[BEFORE]], %[[AFTER]] : i1
// TC: %[[STEP:.+]]:6 = scf.if %[[ACTIVE]] -> (f32, f32, f32, f32, vector<2x2xf32>, vector<2x2xf32>) {
// TC: %[[KQ0:.+]] = vector.load %[[STAGES]][%[[STAGE]], %c0{{.*}}, %[[LANE]], %c0] : memref<2x4x32x4xi32, 3>, vector<4xi32>
// TC: vector.extract %[[KQ0]][0] : i32 from vector<4xi32>
// TC: nvgpu.mma.sync({{.*}}) {mmaShape = [16, 8, 16]} : (vector<4x2xbf16>, vector<2x2xbf16>, vector<2x2xf32>) -> vector<2x2xf32>
// TC: vector.extract %[[KQ0]][2] : i32 from vector<4xi32>
// TC: nvgpu.mma.sync
// TC: %[[KQ1:.+]] = vector.load %[[STAGES]][%[[STAGE]], %c1{{.*}}, %[[LANE]], %c0]
// TC: vector.extract %[[KQ1]][0] : i32 from vector<4xi32>
// TC: nvgpu.mma.sync
// TC: vector.extract %[[KQ1]][2] : i32 from vector<4xi32>
// TC: nvgpu.mma.sync
// TC: %[[INSIDE:.+]] = arith.cmpi sle, %{{.+}}, %{{.+}} : index
// TC: arith.cmpi sge
// TC: %[[ALL:.+]] = arith.andi %[[INSIDE]], %{{.+}} : i1
// TC: scf.if %[[ALL]] -> (f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32) {
// TC-NEXT: scf.yield
// TC-NEXT: } else {
// TC-NOT: arith.mulf
// TC: arith.cmpi sge
// TC: arith.select
// TC: gpu.shuffle  xor %{{.+}}, %c1_i32
// TC: gpu.shuffle  xor %{{.+}}, %c2_i32
// TC: %[[NF:.+]] = arith.constant -0.360673{{[0-9]*}} : f32
// TC: %[[SHIFT:.+]] = arith.mulf %{{.+}}, %[[NF]] : f32
// TC: %[[F:.+]] = arith.constant 0.360673{{[0-9]*}} : f32
// TC: %[[E:.+]] = math.fma %{{.+}}, %[[F]], %[[SHIFT]] : f32
// TC: math.exp2 %[[E]] fastmath<afn> : f32
// TC: arith.truncf %{{.+}} : vector<2xf32> to vector<2xbf16>
// TC: %[[VQ0:.+]] = vector.load %[[STAGES]][%[[STAGE]], %c2{{.*}}, %[[LANE]], %c0]
// TC: vector.extract %[[VQ0]][0] : i32 from vector<4xi32>
// TC: nvgpu.mma.sync
// TC: vector.extract %[[VQ0]][2] : i32 from vector<4xi32>
// TC: nvgpu.mma.sync
// TC: %[[VQ1:.+]] = vector.load %[[STAGES]][%[[STAGE]], %c3{{.*}}, %[[LANE]], %c0]
// TC: vector.extract %[[VQ1]][0] : i32 from vector<4xi32>
// TC: nvgpu.mma.sync
// TC: vector.extract %[[VQ1]][2] : i32 from vector<4xi32>
// TC: nvgpu.mma.sync
// TC-NEXT: scf.yield
// TC-NEXT: } else {
// TC-NEXT: scf.yield
// TC-NEXT: }
// TC-NEXT: gpu.barrier
// TC-NEXT: scf.yield %[[STEP]]#0
// TC: gpu.shuffle  xor
// TC: scf.if
// TC: scf.if %[[SINGLE]]
// TC: arith.divf %{{.+}} : vector<2xf32>
// TC: arith.truncf %{{.+}} : vector<2xf32> to vector<2xbf16>
// TC: vector.transfer_write %{{.+}} : vector<2xbf16>, tensor<2x?x16xbf16>
// TC: } else {
// TC: %[[QUARTER:.+]] = arith.constant 2.500000e-01 : f32
// TC-NEXT: %[[MS:.+]] = arith.mulf %{{.+}}, %[[QUARTER]] : f32
// TC-NEXT: tensor.insert %[[MS]]
// TC: tensor.insert
// TC: vector.transfer_write %{{.+}} : vector<2xf32>, tensor<?x16xf32>
// TC: } {seq.block_threads = 64 : i64, seq.parallel}
// TC: scf.if %[[SINGLE]] -> (tensor<2x?x16xbf16>) {
// TC-NEXT: scf.yield %[[OUTER]]#3
// TC-NEXT: } else {
// TC: scf.for %{{.+}} iter_args(%{{.+}} = %[[OUTER]]#3)
// TC: } {seq.parallel}

// With warp-rows=32 (head sizes at most 64) and key-blocks=1: two tiles of
// 16 rows a warp, K's and V's fragments serving both: the loop steps over
// 16 keys and carries 4 row maxima, 4 sums and 2 x 2 accumulator
// fragments; a block is one warp (a step's K is one group of 32 lanes).
// TC32-LABEL: func.func @tc_causal
// TC32: arith.ceildivui %{{.+}}, %c32 : index
// TC32: memref.alloca() : memref<2x2x32x4xi32, 3>
// TC32: scf.for {{.*}} step %c16{{.*}} iter_args({{.*}}) -> (f32, f32, f32, f32, f32, f32, f32, f32, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>)
// TC32-COUNT-4: nvgpu.mma.sync
// TC32: scf.yield
// TC32: {seq.block_threads = 32 : i64, seq.parallel}

// By default, 32 rows a warp (D and Dv at most 64) and as many blocks a
// step as two stages fit in 64 KiB (32), at most 8 / 2 = 4: 64 keys; 4
// warps a block.
// AUTO-LABEL: func.func @tc_causal
// AUTO: arith.ceildivui %{{.+}}, %c32 : index
// AUTO: memref.alloca() : memref<2x8x32x4xi32, 3>
// AUTO: scf.for {{.*}} step %c64{{.*}} iter_args(
// AUTO-COUNT-32: nvgpu.mma.sync
// AUTO: scf.yield
// AUTO: {seq.block_threads = 128 : i64, seq.parallel}
// -----

func.func @tc_causal(%q: tensor<2x?x16xbf16>, %k: tensor<1x?x16xbf16>, %v: tensor<1x?x16xbf16>, %e: tensor<2x?x16xbf16>) -> tensor<2x?x16xbf16> {
  %o = seq.attention ins(%q, %k, %v : tensor<2x?x16xbf16>, tensor<1x?x16xbf16>, tensor<1x?x16xbf16>)
       outs(%e : tensor<2x?x16xbf16>) mask = [1, -1, 0] -> tensor<2x?x16xbf16> {
  ^bb0(%s: f32, %b: index, %i: index, %j: index):
    %c4 = arith.constant 4.0 : f32
    %d = arith.divf %s, %c4 : f32
    seq.yield %d : f32
  }
  return %o : tensor<2x?x16xbf16>
}

// -----

// Tests a score region that is not a positive scale (a soft cap: tanh of
// the score divided by sqrt(128) rounded to bf16, 11.3125), so not folded
// into exp2: the region computes in f32 from the f32 dot product (its
// truncf and extf dropped), the division a product by the f32 reciprocal,
// tanh on f32 (LowerAttention.cpp, scoreOf).
// TC-LABEL: func.func @tc_sqrt128
// TC: scf.if %{{.+}} -> (f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32) {
// TC-NOT: arith.truncf
// TC-NOT: arith.divf
// TC: %[[R:.+]] = arith.constant 0.0883977{{[0-9]*}} : f32
// TC-NEXT: %[[X:.+]] = arith.mulf %{{.+}}, %[[R]] : f32
// TC-NEXT: math.tanh %[[X]] : f32
// TC-NOT: arith.truncf
// TC-NOT: arith.divf
// TC: } else {
func.func @tc_sqrt128(%q: tensor<2x?x16xbf16>, %k: tensor<2x?x16xbf16>, %v: tensor<2x?x16xbf16>, %e: tensor<2x?x16xbf16>) -> tensor<2x?x16xbf16> {
  %o = seq.attention ins(%q, %k, %v : tensor<2x?x16xbf16>, tensor<2x?x16xbf16>, tensor<2x?x16xbf16>)
       outs(%e : tensor<2x?x16xbf16>) -> tensor<2x?x16xbf16> {
  ^bb0(%s: f32, %b: index, %i: index, %j: index):
    %c = arith.constant 11.3125 : bf16
    %x = arith.truncf %s : f32 to bf16
    %d = arith.divf %x, %c : bf16
    %t = math.tanh %d : bf16
    %y = arith.extf %t : bf16 to f32
    seq.yield %y : f32
  }
  return %o : tensor<2x?x16xbf16>
}

// -----

// At D = 128 by default: 32 rows a warp with Q's fragments in shared
// memory ([warp, 16 rows x 16 columns, lane, 4] of i32, each lane's own:
// stored once, read back in the step, no barrier), 4 warps a block, and
// the two stages of 2 blocks of K and V a step (32 groups): 64 KiB.
// AUTO-LABEL: func.func @tc_d128
// AUTO: memref.alloca() : memref<2x32x32x4xi32, 3>
// AUTO: %[[QS:.+]] = memref.alloca() : memref<4x16x32x4xi32, 3>
// AUTO-COUNT-16: vector.store %{{.+}}, %[[QS]]
// AUTO: scf.for {{.*}} step %c32{{.*}} iter_args(
// AUTO: gpu.barrier
// AUTO: vector.load %[[QS]]
// AUTO: nvgpu.mma.sync
// AUTO: scf.yield
// AUTO: {seq.block_threads = 128 : i64, seq.parallel}
func.func @tc_d128(%q: tensor<2x?x128xbf16>, %k: tensor<2x?x128xbf16>, %v: tensor<2x?x128xbf16>, %e: tensor<2x?x128xbf16>) -> tensor<2x?x128xbf16> {
  %o = seq.attention ins(%q, %k, %v : tensor<2x?x128xbf16>, tensor<2x?x128xbf16>, tensor<2x?x128xbf16>)
       outs(%e : tensor<2x?x128xbf16>) scale = 0.088388 -> tensor<2x?x128xbf16> {
  ^bb0(%s: f32, %b: index, %i: index, %j: index):
    seq.yield %s : f32
  }
  return %o : tensor<2x?x128xbf16>
}
