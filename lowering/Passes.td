//===- Passes.td - The seq lowering passes -------------------*- tablegen -*-===//
//
// Declares every pass that lowers the seq dialect. `seq-opt` runs each one
// alone; the named pipelines of Pipelines.cpp chain them with upstream
// passes down to the LLVM dialect.
//
//===----------------------------------------------------------------------===//

#ifndef SEQ_LOWERING_PASSES_TD
#define SEQ_LOWERING_PASSES_TD

include "mlir/Pass/PassBase.td"

//===----------------------------------------------------------------------===//
// ConvertSeqToSCF
//===----------------------------------------------------------------------===//

def ConvertSeqToSCF : Pass<"convert-seq-to-scf"> {
  let summary = "lower seq.scan and seq.assoc_scan to sequential scf.for loops";
  let description = [{
    `seq.scan` becomes an `scf.for` over the time steps (with `reverse`, the
    step is `length - 1 - i`). The carries are iter_args; every stacked
    output is one more iter_arg, a `tensor.empty` of the stacked type that
    each step fills with a `tensor.insert_slice` of its per-step value at
    the time position of the output axis. The body is inlined: its block
    arguments become the step and the iter_args, `seq.yield` an `scf.yield`.

    `seq.assoc_scan` becomes a sequential inclusive scan: the results start
    as a copy of the inputs, then an `scf.for` combines, for each position
    but the first, the running value at the previous position (the
    combiner's first arguments) with the input at this one (its second),
    and inserts the result. With `reverse` the scan runs from the end:
    `r[t] = combine(r[t+1], x[t])`.

    Before:

    ```mlir
    %h, %ys = seq.scan %len carry(%h0 : tensor<4xf32>) output_axes = [0]
        -> (tensor<4xf32>, tensor<?x4xf32>) {
    ^bb0(%t: index, %h: tensor<4xf32>):
      %hn = ... %h ...
      seq.yield %hn, %hn : tensor<4xf32>, tensor<4xf32>
    }
    ```

    After:

    ```mlir
    %e = tensor.empty(%len) : tensor<?x4xf32>
    %r:2 = scf.for %i = %c0 to %len step %c1
        iter_args(%h = %h0, %ys = %e) -> (tensor<4xf32>, tensor<?x4xf32>) {
      %hn = ... %h ...
      %ys2 = tensor.insert_slice %hn into %ys[%i, 0] [1, 4] [1, 1]
          : tensor<4xf32> into tensor<?x4xf32>
      scf.yield %hn, %ys2 : tensor<4xf32>, tensor<?x4xf32>
    }
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

//===----------------------------------------------------------------------===//
// SeqFuseAttention
//===----------------------------------------------------------------------===//

def SeqFuseAttention : Pass<"seq-fuse-attention"> {
  let summary = "fuse softmax(q k^T ...) v, however spelled, into seq.attention";
  let description = [{
    Starts at each `seq.softmax` and follows its input back through
    pointwise `linalg.generic` steps on the scores (each reading the scores
    at the same position) to a contraction `out += a * b` with one reduction
    loop and a zero init (`linalg.matmul`, `linalg.batch_matmul` or a
    generic, after any transposes, broadcasts and reshapes of its operands).
    The softmax axis is the key position; the operand that reads it is the
    keys, the other the queries. Query-only axes other than the last are
    batch axes the keys are shared over (GQA as a reshape into groups). The
    probabilities' one use must contract them with values over that axis.

    The result is one `seq.attention` over operands in its layout
    (`[batch.., T, D]`, unit axes where keys or values are shared, reached
    by slices, transposes and reshapes of the original operands), then a
    transpose to the layout of the original result. The pointwise steps
    become the score region: a step's other operands are recomputed there
    when they are constants or pointwise functions of positions (masks and
    biases built with `arange`), and read (`tensor.extract`) otherwise. A
    constant factor applied first becomes `scale`; a final `-inf` mask that
    is a conjunction of affine comparisons of the two positions becomes the
    `mask` constraints.

    It refuses, with a remark at the softmax, where fusing would change what
    is computed or cannot be expressed: the scores or probabilities are used
    elsewhere, the probabilities are not contracted over the softmax axis, a
    step reads the scores at another position, the values vary with the
    query position, or the head sizes are not static. Each fused softmax
    gets a remark too (`seqc --remarks`).

    Before:

    ```mlir
    %s = linalg.batch_matmul ins(%q, %kt : tensor<4x?x16xf32>, tensor<4x16x?xf32>) outs(%z : tensor<4x?x?xf32>)
    %m = linalg.generic ... ins(%causal, %s, %ninf) { select(c, s * 0.25, -inf) }
    %p = seq.softmax %m {axis = 2 : i64}
    %o = linalg.batch_matmul ins(%p, %v : tensor<4x?x?xf32>, tensor<4x?x16xf32>) outs(%z2 : tensor<4x?x16xf32>)
    ```

    After:

    ```mlir
    %o = seq.attention ins(%q, %k, %v : tensor<4x?x16xf32>, tensor<4x?x16xf32>, tensor<4x?x16xf32>)
                       outs(%e : tensor<4x?x16xf32>) scale = 2.500000e-01 mask = [1, -1, 0]
                       -> tensor<4x?x16xf32> {
    ^bb0(%s: f32, %b: index, %i: index, %j: index):
      seq.yield %s : f32
    }
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

//===----------------------------------------------------------------------===//
// SeqLowerAttention
//===----------------------------------------------------------------------===//

def SeqLowerAttention : Pass<"seq-lower-attention"> {
  let summary = "lower seq.attention to FlashAttention-2 loops over tiles";
  let description = [{
    Each `seq.attention` becomes, on tensors:

    - its operands padded with zeros to whole tiles and converted to f32,
      the keys transposed to `[.., D, Tk]` (O(T) memory, once per call);
    - an `scf.for` marked `seq.parallel` over (batch axes x query tiles of
      `tile-q` rows x key splits), whose iterations write disjoint items of
      per-item (max, sum, acc) buffers; query tiles alternate between the
      first and last ones left, so that equal chunks of iterations get
      equal work under a causal mask. The key tiles split into as many
      chunks as it takes to reach `min-parallel` items (flash-decoding: one
      query against a long sequence), and into one for prefill. A static
      query length below `tile-q` is the tile;
    - inside it, an `scf.for` over key tiles of `tile-k` keys carrying the
      f32 running row maximum `m`, row sum `l` and accumulator `acc`. A tile
      that the mask constraints mask entirely is skipped (`scf.if`); else
      the scores are a `linalg.matmul` of the query tile and the key tile,
      then a `linalg.generic` applies the scale and the score region, and
      the mask and key bound only in tiles that need them. Then
      `m' = max(m, rowmax(s))`, `p = exp(s - m')`, `alpha = exp(m - m')`,
      `l' = alpha l + rowsum(p)`, `acc' = alpha acc + p v` (a
      `linalg.matmul`); a row whose maximum is still `-inf` counts as 0;
    - a second `seq.parallel` loop merges the splits of each query tile
      (the same combination of max, sum and acc) and writes `acc / l` (0
      where `l` is 0: a row that may see no key) into the padded output,
      whose first `Tq` rows are the result (converted to its element type).

    Every op on a tile has static shape, for `seq-tile-and-vectorize`.

    With `per-thread` (the GPU), instead: no padding; a `seq.parallel` loop
    whose iterations are threads, over (key split x rows), each row's keys
    cut to what the mask constraints let it see, and a merge loop with a
    thread per output element. A row is a thread's (vectors in registers,
    `tile-k` keys a step), a warp's for a single query with head sizes
    multiples of 32 (lanes over the head dims, scores summed by
    `gpu.shuffle`), or, with `tensor-cores` and bf16/f16 operands,
    `warp-rows` (16 or 32) rows are a warp's on `nvgpu.mma.sync` m16n8k16,
    k and v first packed into the lanes' fragment order, 16 keys a block
    (`linalg.generic`s, read as buffers); up to 4 warps a block (the loop's
    `seq.block_threads`) on neighbouring tiles of one batch item share
    two stages of a step's K and V in shared memory (a `memref.alloca` in
    address space 3), the next step's copied during this one
    (`nvgpu.device_async_copy`, a group waited for before a
    `gpu.barrier`), a warp reading each 16 keys' fragments as 512
    contiguous bytes in 16-byte loads; `key-blocks` blocks a step (the row
    maxima and the accumulator's rescale once a step); with a single key
    split the warps write the output themselves (the merge runs only with
    several).
    The GPU forms take `exp` as `exp2` of an FMA by log2 e and the row's
    shift (one `ex2.approx.ftz`, the `afn` flag); on tensor cores a score
    region that is a product by a positive constant (`/ sqrt(D)`) is
    folded into that FMA's factor, and the row maxima are of the dot
    products. Otherwise, a score region's
    division by a constant power of two becomes the exact product by its
    reciprocal, and so does a bf16 division by a constant in [1, 256) that
    is not an even integer (the product by the f32 reciprocal, rounded to
    bf16, is the same value).

    Before:

    ```mlir
    %o = seq.attention ins(%q, %k, %v : ...) outs(%e : tensor<4x?x16xf32>)
                       mask = [1, -1, 0] -> tensor<4x?x16xf32> { ... }
    ```

    After (abridged):

    ```mlir
    %r = scf.for %w = %c0 to %n step %c1 iter_args(%out = %padded) {
      %qt = tensor.extract_slice %qp[...] [1, 32, 16] [1, 1, 1]
      %acc:3 = scf.for %j = %c0 to %nk step %c1 iter_args(%m = %ninf, %l = %zero, %a = %zeros) {
        %x:3 = scf.if %masked -> (...) { scf.yield %m, %l, %a } else {
          %s = linalg.matmul ins(%qt, %kt ...)
          ... online softmax update, linalg.matmul ins(%p, %vt) outs(%a') ...
        }
        scf.yield %x#0, %x#1, %x#2
      }
      ... acc / l, tensor.insert_slice ...
    } {seq.parallel}
    %o = tensor.extract_slice %r[0, 0, 0] [4, %tq, 16] [1, 1, 1]
    ```
  }];
  let options = [
    Option<"tileQ", "tile-q", "int64_t", "32", "query rows per tile">,
    Option<"tileK", "tile-k", "int64_t", "64", "keys per tile">,
    Option<"singleQuery", "single-query", "bool", "true",
           "give a dynamic query length of 1 (a decode step) its own copy "
           "with one-row tiles">,
    Option<"minParallel", "min-parallel", "int64_t", "64",
           "work items below which the key tiles are split (flash-decoding)">,
      Option<"perThread", "per-thread", "bool", "false",
           "the GPU form: a thread per (query row, key split) with its "
           "running max, sum and accumulator in registers, `tile-k` keys a "
           "step; `min-parallel` threads at least (flash-decoding splits)">,
    Option<"tensorCores", "tensor-cores", "bool", "false",
           "with per-thread: a warp per `warp-rows` query rows on mma.sync "
           "where the operands are bf16 or f16">,
    Option<"warpRows", "warp-rows", "int64_t", "0",
           "with tensor-cores: query rows per warp, 16 or 32 (Q's fragments "
           "in shared memory above a head size of 64; 16 where shared memory "
           "does not fit); 0: 32 where both head sizes are at most 128">,
    Option<"keyBlocks", "key-blocks", "int64_t", "0",
           "with tensor-cores: 16-key blocks a step (1 to 8, fewer where two "
           "stages of K and V, with Q's fragments above D = 64, exceed 64 "
           "KiB of shared memory; 0: as many as "
           "fit, at most 8 / (rows per warp / 16)); the row maxima and the "
           "accumulator's rescale once a step">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::vector::VectorDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::nvgpu::NVGPUDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::memref::MemRefDialect",
  ];
}

//===----------------------------------------------------------------------===//
// ConvertSeqToLinalg
//===----------------------------------------------------------------------===//

def ConvertSeqToLinalg : Pass<"convert-seq-to-linalg"> {
  let summary = "decompose seq.softmax into linalg reductions and generics";
  let description = [{
    `seq.softmax` becomes a max `linalg.reduce` along the axis, a
    `linalg.generic` computing `exp(x - m)`, a sum `linalg.reduce` and a
    `linalg.generic` dividing by the sum. A row whose maximum is `-inf` (all
    elements masked) gives zeros rather than NaN: `m` is the maximum, or 0
    where the maximum is `-inf` (so `exp(-inf - 0) = 0`), and a zero sum
    divides to 0. Every op keeps the location of the softmax.

    Before:

    ```mlir
    %p = seq.softmax %s {axis = 1 : i64} : tensor<4x?xf32> -> tensor<4x?xf32>
    ```

    After:

    ```mlir
    %m = linalg.reduce ins(%s : tensor<4x?xf32>) outs(%ninf : tensor<4xf32>)
        dimensions = [1] (%a: f32, %b: f32) { arith.maxnumf ... }
    %e = linalg.generic ... ins(%s, %m) { exp(x - (m == -inf ? 0 : m)) }
    %z = linalg.reduce ins(%e ...) outs(%zero : tensor<4xf32>)
        dimensions = [1] (%a: f32, %b: f32) { arith.addf ... }
    %p = linalg.generic ... ins(%e, %z) { z == 0 ? 0 : e / z }
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

//===----------------------------------------------------------------------===//
// SeqFuseElementwise
//===----------------------------------------------------------------------===//

def SeqFuseElementwise : Pass<"seq-fuse-elementwise"> {
  let summary = "fuse elementwise linalg ops where no work is recomputed";
  let description = [{
    Upstream's elementwise fusion on tensors (with reshape propagation and
    constant folding, as `linalg-fuse-elementwise-ops`), with one rule of its
    own: a single-use producer fuses into its consumer unless the consumer
    has more loops than the producer and the producer computes something (a
    body with more than casts and constants). Fusing `silu(x @ w1)` into the
    matmul that reads it would evaluate `silu` once per reduction step (512
    times over for a 512-wide layer) and turn the contraction into a generic
    the vectoriser cannot treat as one; the producer is materialised instead.

    Before:

    ```mlir
    %s = linalg.generic {iterator_types = ["parallel", "parallel"]}
        ins(%h : tensor<?x512xf32>) ... { silu }
    %y = linalg.matmul ins(%s, %w2 : tensor<?x512xf32>, tensor<512x512xf32>) ...
    ```

    After: unchanged (upstream's pass would fold `silu` into the matmul's
    body as a `linalg.generic` over (m, n, k)). Elementwise chains over the
    same loops fuse as upstream.
  }];
  let dependentDialects = [
    "::mlir::affine::AffineDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

//===----------------------------------------------------------------------===//
// SeqTileAndVectorize
//===----------------------------------------------------------------------===//

def SeqTileAndVectorize : Pass<"seq-tile-and-vectorize", "::mlir::func::FuncOp"> {
  let summary = "tile linalg ops on tensors for the host and vectorise the tiles";
  let description = [{
    Runs on tensors, before bufferization. Every linalg op is tiled into
    `scf.for` loops (`scf::tileUsingSCF`): a contraction (matmul, batched or
    any `linalg.generic` that is one) by `tile-m` x `tile-n` x `tile-k` on its
    innermost m, n and k loops and 1 on the others (batch, outer m/n/k); any
    other op (elementwise, reductions, transposes) by `vector-width` on its
    innermost loop and 1 on the others; a transpose also by `vector-width`
    on the loop innermost in its input (a block read in rows and
    transposed in registers, not a gather). A small static reduction (at
    most `max-tile-elements`) is not tiled: vectorised whole, its rows
    reduce as vectors. Tiles never exceed a static size.
    Loops whose trip count may not divide (dynamic sizes) are peeled
    (`peel`): the main loops run full tiles with static shapes, which are
    vectorised (`linalg::vectorize`; contractions to `vector.contract`,
    the rest to transfers, vector arithmetic and `vector.multi_reduction`);
    the remainders stay linalg ops on dynamic shapes (scalar loops later).
    Ops that are not tiled and exceed `max-tile-elements` stay as they are.

    Before:

    ```mlir
    %r = linalg.matmul ins(%a, %b : tensor<?x64xf32>, tensor<64x64xf32>)
                       outs(%c : tensor<?x64xf32>) -> tensor<?x64xf32>
    ```

    After (the remainder loop over the last `%m mod 8` rows not shown):

    ```mlir
    scf.for %i = %c0 to %mmain step %c8 iter_args(%c0 = %c) {
      scf.for %j = %c0 to %c64 step %c16 iter_args(%c1 = %c0) {
        scf.for %k = %c0 to %c64 step %c16 iter_args(%c2 = %c1) {
          %va = vector.transfer_read ... : tensor<8x16xf32>, vector<8x16xf32>
          %vb = vector.transfer_read ... : tensor<16x16xf32>, vector<16x16xf32>
          %vc = vector.transfer_read ... : tensor<8x16xf32>, vector<8x16xf32>
          %d = vector.contract {...} %va, %vb, %vc
          %w = vector.transfer_write %d, ...
          ...
    ```
  }];
  let options = [
    Option<"tileM", "tile-m", "int64_t", "8",
           "rows of a contraction's register block (its innermost m loop)">,
    Option<"tileN", "tile-n", "int64_t", "16",
           "columns of a contraction's register block (its innermost n loop)">,
    Option<"tileK", "tile-k", "int64_t", "16",
           "reduction depth of a contraction's block (its innermost k loop)">,
    Option<"vectorWidth", "vector-width", "int64_t", "16",
           "tile of the innermost loop of any other op (f32 lanes)">,
    Option<"peel", "peel", "bool", "true",
           "peel partial tiles so the main tiles are static and vectorised">,
    Option<"maxTileElements", "max-tile-elements", "int64_t", "4096",
           "largest iteration space (product of loop sizes) vectorised">,
  ];
  let dependentDialects = [
    "::mlir::affine::AffineDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::vector::VectorDialect",
  ];
}

//===----------------------------------------------------------------------===//
// SeqLowerVectors
//===----------------------------------------------------------------------===//

def SeqLowerVectors : Pass<"seq-lower-vectors", "::mlir::func::FuncOp"> {
  let summary = "hoist accumulators and lower vector ops for the host";
  let description = [{
    Runs on buffers, after bufferization, on the output of
    `seq-tile-and-vectorize`. Transfers of an accumulator that a reduction
    loop reads and writes at the same place are hoisted out of it
    (`linalg::hoistRedundantVectorTransfers`), so the accumulator is a loop
    carried vector in registers. Then `vector.contract` is lowered to outer
    products (one FMA per row), `vector.multi_reduction` to reductions over
    the innermost dimension, 16 x 16 transposes to shuffles (others
    elementwise), and transfers to 1-D loads and stores (unit dimensions
    dropped first); what is left is what `convert-vector-to-scf` and
    `convert-vector-to-llvm` take. Last, f32 `math.exp`, `math.tanh` and
    `math.erf` become polynomial approximations instead of libm calls.

    Before:

    ```mlir
    scf.for %k = %c0 to %c64 step %c16 {
      %acc = vector.transfer_read %C[%i, %j] ... : memref<?x64xf32>, vector<8x16xf32>
      %d = vector.contract {...} %va, %vb, %acc
      vector.transfer_write %d, %C[%i, %j] ...
    }
    ```

    After:

    ```mlir
    %acc0 = vector.transfer_read %C[%i, %j] ...
    %acc = scf.for %k = %c0 to %c64 step %c16 iter_args(%a = %acc0) {
      ... vector.fma %bcast_a, %row_b, %a_row : vector<16xf32> ...
    }
    vector.transfer_write %acc, %C[%i, %j] ...
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect",
  ];
}

//===----------------------------------------------------------------------===//
// ConvertSeqParallelToRuntime
//===----------------------------------------------------------------------===//

def ConvertSeqParallelToRuntime
    : Pass<"convert-seq-parallel-to-runtime", "::mlir::ModuleOp"> {
  let summary = "run the outermost parallel tile loops on the runtime's pool";
  let description = [{
    Runs on buffers, after bufferization. `seq-tile-and-vectorize` marks the
    tile loops of an op's leading parallel dims (before its first reduction
    dim, and indexing every output) `seq.parallel`: their iterations write
    disjoint tiles. Each outermost marked `scf.for` that carries no value
    (its destination iter_args folded away: every tile written in place) and
    whose trip count is unknown or at least `min-trip-count` is outlined into
    a private `func.func @<fn>_par<N>(%ctx: !llvm.ptr, %begin: i64, %end: i64)`
    running its iterations [begin, end), and replaced by a call to the
    runtime's `seqrt_parallel_for(n, @<fn>_par<N>, ctx)`
    (runtime/include/seqrt.h). The values the loop captures (bounds, memref
    descriptors, indices, scalars) are stored into an `llvm.alloca`'d struct
    in the caller's entry block; memrefs cross as their LLVM descriptor
    structs through `builtin.unrealized_conversion_cast`, which
    `reconcile-unrealized-casts` removes after the LLVM conversions. Buffers
    the body allocates are allocated per chunk. Marked loops nested in a
    taken one, and loops not taken, stay sequential (the mark is dropped).
    Reduction loops are never marked; a scan's time loop is not either.

    Before:

    ```mlir
    scf.for %i = %c0 to %n step %c8 {
      ... %out[%i, ...] ...
    } {seq.parallel}
    ```

    After:

    ```mlir
    %ctx = llvm.alloca %c1 x !llvm.struct<(i64, i64, i64, struct<...>)>
    ... llvm.store (lb, ub, step, descriptors) into %ctx ...
    %f = func.constant @forward_par0 : (!llvm.ptr, i64, i64) -> ()
    call @seqrt_parallel_for(%trips, %f, %ctx)
    ...
    func.func private @forward_par0(%ctx: !llvm.ptr, %b: i64, %e: i64) {
      ... llvm.load from %ctx ...
      scf.for %i = lb + b * step to min(ub, lb + e * step) step %step { ... }
    }
    ```
  }];
  let options = [
    Option<"minTripCount", "min-trip-count", "int64_t", "2",
           "smallest static trip count worth distributing">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::func::FuncDialect",
    "::mlir::LLVM::LLVMDialect",
    "::mlir::scf::SCFDialect",
  ];
}

//===----------------------------------------------------------------------===//
// SeqRecurrenceToScan
//===----------------------------------------------------------------------===//

def SeqRecurrenceToScan : Pass<"seq-recurrence-to-scan"> {
  let summary = "turn elementwise affine recurrences into associative scans";
  let description = [{
    Runs the recurrence analysis (RecurrenceAnalysis.h) on every `seq.scan`:
    per carry, whether its new value is affine in the carries with
    elementwise coefficients (`h = A_t ⊙ h + b_t`, `A_t` and `b_t` free of
    carries, possibly broadcast), affine through a contraction, part of an
    online-softmax monoid, or none of these (then the remark names the
    expression and its `file:line:col`).

    A scan whose carries are all elementwise affine in themselves becomes:
    a carry-free `seq.scan` giving `A_t` and `b_t` for every step (the
    body's carry-free ops, and for each affine op one `linalg.generic`
    computing its coefficients), one `seq.assoc_scan` per carry over the
    pairs with the combiner `(a1, b1) ∘ (a2, b2) = (a1 a2, a2 b1 + b2)`
    (same direction as the scan), the states `h_t = A_{..t} ⊙ h_0 + B_{..t}`
    (just `B` when `h_0` is a fill of zeros), the final carry taken from the
    last state in scan order (`h_0` when the length is 0), and a carry-free
    `seq.scan` computing the per-step outputs from the states. An online
    softmax starting at its identity (`m = -inf`, sums 0) becomes the same
    three steps with the elements `(x_t, y_t)` and one `seq.assoc_scan` over
    the max and the sums, whose combiner rescales both sides by
    `exp(m_i - max(m_1, m_2))` (0 for a side whose max is `-inf`). Other
    scans are left as they are. Every scan with carries gets remarks: "recurrence
    of carry 'h' is affine (diagonal): parallel scan", or "scan stays
    sequential: carry 'c' is not affine in the carries: `tanh` at
    lstm.seq:18:21".

    Before:

    ```mlir
    %h, %ys = seq.scan %T carry(%h0 : tensor<4xf32>) output_axes = [0]
        -> (tensor<4xf32>, tensor<?x4xf32>) {
    ^bb0(%t: index, %h: tensor<4xf32> loc("h")):
      %a = tensor.extract_slice %as[%t, 0] [1, 4] [1, 1] : tensor<?x4xf32> to tensor<4xf32>
      %x = tensor.extract_slice %xs[%t, 0] [1, 4] [1, 1] : tensor<?x4xf32> to tensor<4xf32>
      %ah = linalg.generic ... ins(%a, %h) { mulf }
      %hn = linalg.generic ... ins(%ah, %x) { addf }
      seq.yield %hn, %hn : tensor<4xf32>, tensor<4xf32>
    }
    ```

    After:

    ```mlir
    %A, %B = seq.scan %T output_axes = [0, 0] -> (tensor<?x4xf32>, tensor<?x4xf32>) {
    ^bb0(%t: index):
      %a = tensor.extract_slice %as[%t, 0] ...
      %x = tensor.extract_slice %xs[%t, 0] ...
      %ah:2 = linalg.generic ... ins(%a) { yield a, 0 }      // a * h + 0
      %hn:2 = linalg.generic ... ins(%ah#0, %ah#1, %x) { yield a, b + x }
      seq.yield %hn#0, %hn#1 : tensor<4xf32>, tensor<4xf32>
    }
    %SA, %SB = seq.assoc_scan axis = 0 (%A, %B) : tensor<?x4xf32>, tensor<?x4xf32> {
    ^bb0(%a1: tensor<4xf32>, %b1: tensor<4xf32>, %a2: tensor<4xf32>, %b2: tensor<4xf32>):
      %r:2 = linalg.generic ... { yield a1 * a2, a2 * b1 + b2 }
      seq.yield %r#0, %r#1 : tensor<4xf32>, tensor<4xf32>
    }
    %H = linalg.generic ... ins(%SA, %h0, %SB) { yield a * h0 + b }
    %h = scf.if (%T == 0) { %h0 } else { %H[%T - 1] }
    %ys = seq.scan %T output_axes = [0] -> (tensor<?x4xf32>) {
    ^bb0(%t: index):
      %s = tensor.extract_slice %H[%t, 0] [1, 4] [1, 1] : tensor<?x4xf32> to tensor<4xf32>
      seq.yield %s : tensor<4xf32>
    }
    ```

    With `only-alternatives`, only the scans that `seq-fuse-scan` kept as
    its fused form's run-time alternative (attribute
    `seq.scan_alternative`) are rewritten; other affine scans stay
    sequential, and the remarks for non-affine ones are given as usual.
  }];
  let options = [
    Option<"onlyAlternatives", "only-alternatives", "bool", "false",
           "rewrite only the alternatives seq-fuse-scan kept">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

//===----------------------------------------------------------------------===//
// SeqSplitCarries
//===----------------------------------------------------------------------===//

def SeqSplitCarries : Pass<"seq-split-carries"> {
  let summary = "split a running max off its scan as a parallel max scan";
  let description = [{
    Finds, in every `seq.scan`, a carry `m` whose update reads only itself
    and carry-free per-step values: a running max `m' = max(m, x)` (an
    online softmax, as in Aaren) or max-plus `m' = max(m + a, x)` (mLSTM's
    stabiliser, `max(log f + m, i)`). Both are associative: the steps of
    max-plus are the maps `m -> max(m + a, b)`, which compose into
    `(a1 + a2, max(b1 + a2, b2))`. So `m` becomes a scan of its own: a
    carry-free `seq.scan` of the elements `x_t` (and `a_t`), a
    `seq.assoc_scan` with the max (max-plus) combiner, and the initial value
    folded in (`max(m_0, S_t)`, `max(m_0 + A_t, B_t)`; nothing to fold for a
    fill of `-inf`). The values `m_0, m_1, .., m_T` are one tensor of
    `T + 1` steps: its first `T` are `m_{t-1}`, its last the final carry.

    The other carries and every output stay in a `seq.scan` that reads
    `m_{t-1}` for the old `m` and `m_t` for its new value. Their updates,
    which read `m` only through rescalings `exp(m - m')`, are then affine
    with carry-free coefficients (Aaren's `num' = num exp(m - m') +
    v exp(s - m')`, mLSTM's `C' = exp(log f + m - m') C + exp(i - m') k vᵀ`).
    Where the carries left fall into groups that read no other group, and
    one group is a single matrix carry read by a contraction, each group
    gets a scan of its own, yielding the values that the outputs combine
    (stacked over time), and a carry-free scan computes those outputs: so
    mLSTM's `C`, read by `q C`, is one scan for `seq-chunkwise`. (Aaren's
    sums stay together: storing `num` for every step costs more than
    fusing the two scans gains.)

    A scan of dynamic length gets an `scf.if (length < min-length)` that
    runs it as written for short lengths (a step decoding one token would
    otherwise pay the max scan's passes for one step).

    Remarks (`seqc --remarks`): "split the running max 'm' off as a parallel
    max scan (max(m, x)); 'num': affine (diagonal), 'den': affine
    (diagonal)", with "; in 2 scans of their own" where the carries were
    split apart, or "running max 'm' not split off: its update reads carry
    'c' as well (`max` at f.seq:3:9)".

    Before:

    ```mlir
    %m, %n, %o = seq.scan %T carry(%ninf, %zero : tensor<4xf32>, tensor<4xf32>)
        output_axes = [0] -> (...) {
    ^bb0(%t: index, %m: tensor<4xf32>, %n: tensor<4xf32>):
      %mn = linalg.generic ... ins(%m, %x_t) { maximumf }
      %r = ... exp(%m - %mn) ...   %p = ... exp(%x_t - %mn) ...
      %nn = ... %n * %r + %p ...
      seq.yield %mn, %nn, %nn : ...
    }
    ```

    After:

    ```mlir
    %x = seq.scan %T output_axes = [0] -> (tensor<?x4xf32>) { ... x_t ... }
    %s = seq.assoc_scan axis = 0 (%x) : tensor<?x4xf32> { maximumf }
    %all = tensor.insert_slice %s into (m_0 at 0) [1, 0] ... : [T + 1, 4]
    %before = tensor.extract_slice %all[0, 0] [%T, 4] [1, 1]
    %m = tensor.extract_slice %all[%T, 0] [1, 4] [1, 1]
    %n, %o = seq.scan %T carry(%zero : tensor<4xf32>) output_axes = [0] ... {
    ^bb0(%t: index, %n: tensor<4xf32>):
      %mp = tensor.extract_slice %before[%t, 0] ...   // m_{t-1}
      %mn = tensor.extract_slice %s[%t, 0] ...        // m_t
      %r = ... exp(%mp - %mn) ...
      ...
    }
    ```
  }];
  let options = [
    Option<"minLength", "min-length", "int64_t", "32",
           "a dynamic length shorter than this (a decode step) runs the scan "
           "as written, chosen at run time; 0: always split">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

//===----------------------------------------------------------------------===//
// SeqChunkwise
//===----------------------------------------------------------------------===//

def SeqChunkwise : Pass<"seq-chunkwise"> {
  let summary = "matrix-state recurrences read by a contraction to the chunkwise form";
  let description = [{
    Finds every `seq.scan` with one matrix carry updated as
    `S_t = g_t ⊙ S_{t-1} + k_t ⊗ v_t` whose per-step outputs read the new
    state through a contraction over one of its axes (`o_t = q_t S_t`), as in
    linear attention (no decay), RetNet and Mamba2's SSD (one decay per head
    or batch item) and GLA (one decay per key). The form is read off the
    algebra of the body: the new carry and the outputs are expanded through
    elementwise `linalg.generic`s, unit reshapes and the readout contraction
    into sums of products of carry-free factors, which are sorted by the axes
    of the state they vary along (the key axis is the one the outputs
    contract; the value axis one that q, k and the decay do not vary along;
    the others are batch axes).

    Such a scan becomes, on tensors: a carry-free `seq.scan` giving every
    step's q, k (as kᵀ), v and `log|g|` in a `[batch.., T, X]` layout;
    padding to whole chunks of `chunk-size` steps (`per-key-chunk-size` for
    a decay per key); a loop over batch items (`seq.parallel`) that passes
    the state from chunk to chunk, `S ← exp(b_C) ⊙ S + (k ⊙ exp(b_C - b_j))ᵀ
    v`, keeping the state at each chunk start, where `b` is the cumulative
    `log|g|` within the chunk (a matmul with a triangular matrix); and a loop
    over (item, chunk) (`seq.parallel`) computing the chunk's outputs
    `(q ⊙ exp(b_i)) S_start + (q kᵀ ⊙ D) v` with `D_ij = exp(b_i - b_j)` for
    `j ≤ i` and 0 otherwise (for a decay per key, the scores
    `Σ_k q_ik k_jk exp(b_ik - b_jk)` exactly). Every exponential is of a
    difference that is at most 0, so long sequences neither overflow nor
    underflow; a decay that is not known to be positive (an `exp` or a
    `sigmoid`) gets its sign tracked by the parity of negative factors.
    The initial carry is honoured; per-step states are never stored.

    DeltaNet's delta rule, `S' = (I - β k kᵀ) S + β k vᵀ` (affine through
    the contraction `kᵀ S`, which the expansion keeps as a leaf), becomes
    the WY form: per (item, chunk), `A = strictly-lower(diag(β) K Kᵀ)`,
    `T = (I + A)⁻¹` by forward substitution over the rows, `W = T diag(β) K`
    and `U = T diag(β) V`; the state pass computes `Ũ = U - W S` and
    `S ← S + Kᵀ Ũ`; the outputs are `Q S + (Q Kᵀ ⊙ causal) Ũ`. The gated
    delta rule `α (I - β k kᵀ) S + β k vᵀ` (α per batch item) scales `A`
    and `W` by the decay's products from the chunk start (in log space);
    the state pass and the outputs are then those of a decay per item.

    Scans it does not take get a remark saying why (`seqc --remarks`): a
    gated delta rule with a decay per key stays sequential; Mamba's state,
    whose decay varies along every axis, is for the diagonal scan.

    Before:

    ```mlir
    %S, %o = seq.scan %T carry(%S0 : tensor<4x16x32xf32>) output_axes = [1]
        -> (tensor<4x16x32xf32>, tensor<4x?x32xf32>) {
    ^bb0(%t: index, %s: tensor<4x16x32xf32>):
      %gs = linalg.generic ... ins(%g_t, %s) { mulf }      // g ⊙ S
      %kv = linalg.generic ... ins(%k_t, %v_t) { mulf }    // k ⊗ v
      %sn = linalg.generic ... ins(%gs, %kv) { addf }
      %o_t = linalg.generic ... ins(%q_t, %sn) { out + q * s } // Σ_k
      seq.yield %sn, %o_t : tensor<4x16x32xf32>, tensor<4x32xf32>
    }
    ```

    After:

    ```mlir
    %q, %kt, %v, %lg = seq.scan %T output_axes = [1, 2, 1, 1] -> (...) {
      ...  // q_t, k_t, v_t, max(log|g_t|, -80) as [4, X]
    }
    %states = scf.for %w = %c0 to %c4 step %c1 iter_args(...) {  // seq.parallel
      scf.for %n = %c0 to %chunks ... {  // S ← exp(b_C) S + (k exp(b_C - b))ᵀ v
        linalg.matmul ...
      }
    } {seq.parallel}
    %out = scf.for %u = %c0 to %items_x_chunks ... {  // seq.parallel
      linalg.matmul ins(%qd, %s_start) ...           // inter-chunk
      linalg.matmul ins(%q, %kt_tile) ...            // scores, then D
      linalg.matmul ins(%scores, %v_tile) ...        // intra-chunk
    } {seq.parallel}
    ```
  }];
  let options = [
    Option<"chunkSize", "chunk-size", "int64_t", "32", "steps per chunk">,
    Option<"shortSequential", "short-sequential", "bool", "true",
           "keep the scan as written for a dynamic length shorter than a "
           "chunk (a decode step), chosen at run time (batched: in step "
           "entries only)">,
    Option<"batched", "batched", "bool", "false",
           "every chunk at once as whole-tensor ops (the GPU's form): the "
           "chunks' updates and outputs as contractions over all (item, "
           "chunk), the state pass a task per state element; one decay "
           "per batch item or none">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

//===----------------------------------------------------------------------===//
// SeqLowerAssocScan
//===----------------------------------------------------------------------===//

def SeqLowerAssocScan : Pass<"seq-lower-assoc-scan", "::mlir::ModuleOp"> {
  let summary = "lower elementwise seq.assoc_scan to vector loops, chunked in parallel";
  let description = [{
    A `seq.assoc_scan` along axis 0 whose inputs have one shape and whose
    combiner is elementwise (all-parallel `linalg.generic`s with identity
    maps, `tensor.empty` and scalar constants) is lowered on its inputs
    seen as `[T, C]` (every axis but time collapsed into the channels C).
    The running value is a `vector<{vector-width}x...>` of channels carried
    through an `scf.for` over time; reads and writes are
    `vector.transfer_read/write` (out-of-bounds channels masked). The work
    is cut into tasks of `channels-per-task` channels and K chunks of time,
    each task a `seq.parallel` iteration:

    1. the total of each of the chunks 0 .. K-2 (parallel over tasks);
    2. the running prefix of the totals, `prefix[k] = prefix[k-1] ∘
       total[k]` (sequential over k, parallel over channels);
    3. each chunk scanned from the prefix before it (chunk 0 from its first
       element), writing every result that has a use (parallel).

    K is chosen at run time: 1 (phases 1 and 2 do nothing: sequential over
    time, parallel over channels) when there are at least as many channel
    tasks G as threads (`seqrt_num_threads()`), else `min(ceil(2 threads /
    G), max(T / min-chunk, 1), max-chunks)`. `reverse` scans positions from
    the end. For the GPU, `device-threads` replaces the run-time thread
    count by a constant, and `time-unroll` unrolls the loops over time with
    the reads of the steps first (`unrollTimeLoop`), so that a thread has
    several steps' loads in flight. A phase-1 chunk starts from its first
    element (a chunk has at least `min-chunk` steps).

    With `vector-width=1` the inputs are not collapsed: each is read at
    (t, the channel's point) through its producers (unit-stride slices,
    all-parallel generics of projected-permutation maps, fills, splats),
    which the pass then erases; a result that a permuting generic puts back
    into another layout (and a copy into a tensor that dominates the scan)
    is written by phase 3 straight into that layout, its time-row slices
    becoming slices of it.
    Other assoc_scans are left to `convert-seq-to-scf`.

    ```mlir
    %r:2 = seq.assoc_scan axis = 0 (%a, %b) : tensor<?x4xf32>, tensor<?x4xf32> {
    ^bb0(%a1: tensor<4xf32>, %b1: tensor<4xf32>, %a2: tensor<4xf32>, %b2: tensor<4xf32>):
      %e = tensor.empty() : tensor<4xf32>
      %g:2 = linalg.generic ... ins(%a1, %b1, %a2, %b2) outs(%e, %e) {
        yield a1 * a2, a2 * b1 + b2 }
      seq.yield %g#0, %g#1 : tensor<4xf32>, tensor<4xf32>
    }
    ```
    becomes (phase 3; phases 1 and 2 alike)
    ```mlir
    %o:2 = scf.for %w = %c0 to %KG step %c1 iter_args(%oa = %ea, %ob = %eb) {
      %k = arith.divui %w, %G   %c_begin = %g * channels-per-task ...
      scf.for %c = %c_begin to %c_end step %c64 iter_args(...) {
        %ca = vector.transfer_read %totals_a[%kp, %c], %pad : tensor<?x4xf32>, vector<64xf32>
        scf.for %i = %kb to %ke step %c1 iter_args(%ra = %ca, %rb = %cb, ...) {
          %xa = vector.transfer_read %a[%i, %c], %pad : tensor<?x4xf32>, vector<64xf32>
          %na = arith.mulf %ra, %xa : vector<64xf32>   // the combiner's payload
          ...
          %first = arith.andi (%i == %kb), !(%k > 0)
          %sa = arith.select %first, %xa, %na : vector<64xf32>
          %wa = vector.transfer_write %sa, %oa[%i, %c] : vector<64xf32>, tensor<?x4xf32>
    } {seq.parallel}
    ```
  }];
  let options = [
    Option<"vectorWidth", "vector-width", "int64_t", "64",
           "channels in the running vector">,
    Option<"channelsPerTask", "channels-per-task", "int64_t", "1024",
           "channels one parallel task scans (a multiple of vector-width)">,
    Option<"minChunk", "min-chunk", "int64_t", "256",
           "fewest time steps in a chunk of the chunked scan">,
    Option<"deviceThreads", "device-threads", "int64_t", "0",
           "threads to fill, a constant (the GPU); 0: seqrt_num_threads() "
           "at run time">,
    Option<"maxChunks", "max-chunks", "int64_t", "0",
           "most chunks of time (0: no limit); phase 2 is sequential over "
           "them">,
    Option<"timeUnroll", "time-unroll", "int64_t", "1",
           "most steps the time loops are unrolled by, the reads of the "
           "steps first (the GPU: loads in flight)">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::LLVM::LLVMDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::vector::VectorDialect",
  ];
}

//===----------------------------------------------------------------------===//
// SeqDeriveStep
//===----------------------------------------------------------------------===//

def SeqDeriveStep : Pass<"seq-derive-step", "::mlir::ModuleOp"> {
  let summary = "give every stateful entry an O(1)-per-token step function";
  let description = [{
    For each entry whose result depends on earlier time steps through a
    `seq.scan` over time, a causal `seq.attention`, or a sequence padded in
    front along time (a causal convolution's window, a token shift), adds
    `<entry>_step`: the entry run on a chunk of new tokens (of any length),
    continuing from a state. It takes the entry's arguments, then `%pos`
    (`tensor<i64>`, `seq.position`: tokens seen so far), then one fully
    dynamic tensor per state (`seq.state = "name"`), and returns the
    entry's results, then the new states:

    - a scan's carries start from the state (their own initial values when
      `%pos` is 0) and their final values are the new state;
    - a causal attention's keys and values are appended to a cache in the
      state and the queries are numbered from `%pos` (`offset`);
    - `concat([pad(P), x])` along time gets the previous chunk's last P rows
      of x instead of the padding;
    - `linalg.index` over time (`arange(T)`) and a scan's step index, where
      used as a number, count from `%pos`.

    Anything else must be pointwise in time. An entry that reduces over
    time, reads a fixed or shifted position, or attends to later keys gets
    no step function, and a remark naming the op and its `file:line:col`.

    ```mlir
    // before
    func.func @forward(%x: tensor<?x?x4xf32> {seq.input = "x"}) -> ... {
      %r:2 = seq.scan %T carry(%h0) ... { ... }
      return %r#1
    }
    // after: @forward unchanged, and
    func.func @forward_step(%x: tensor<?x?x4xf32> {seq.input = "x"},
        %pos: tensor<i64> {seq.position},
        %s: tensor<?x?xf32> {seq.state = "h.0"})
        -> (tensor<?x?x4xf32> {seq.output = "out"},
            tensor<?x?xf32> {seq.state = "h.0"})
        attributes {seq.step_of = "forward", seq.time_axis = array<i64: 0, 1>} {
      %first = arith.cmpi eq, %p, %c0 : index
      %init = scf.if %first -> (tensor<?x4xf32>) {
        scf.yield %h0 : tensor<?x4xf32>
      } else {
        %c = tensor.cast %s : tensor<?x?xf32> to tensor<?x4xf32>
        scf.yield %c : tensor<?x4xf32>
      }
      %r:2 = seq.scan %T carry(%init) ... { ... }
      ...
      return %r#1, %r#0 : ...
    }
    ```

    `seq.time_axis` is (argument number, axis) of the input whose size is
    the time dim.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

//===----------------------------------------------------------------------===//
// SeqBatchScanSteps
//===----------------------------------------------------------------------===//

def SeqBatchScanSteps : Pass<"seq-batch-scan-steps"> {
  let summary = "run the steps of carry-free seq.scans as ops over the time axis";
  let description = [{
    A `seq.scan` without carries (as `seq-recurrence-to-scan` makes for the
    coefficients and the per-step outputs) computes every step on its own.
    Its body is rebuilt before it for all steps at once: ops that do not
    depend on the step are hoisted; `tensor.extract_slice` at `%t` (the time
    dim dropped) becomes the slice over all of time; unit-dim
    `tensor.expand_shape`s of such slices and the slices themselves are
    folded into the indexing maps of their readers; every `linalg` op (named
    ops generalised first) becomes a `linalg.generic` with a leading
    parallel time loop. Each output is the batched value, copied by a
    `linalg.generic` into the stacked layout (time at the output axis)
    unless it already is in it. A body that uses the step otherwise (an
    `scf.if`, the step as a value) leaves its scan as it is.

    ```mlir
    %ys = seq.scan %T output_axes = [1] -> (tensor<2x?x4xf32>) {
    ^bb0(%t: index):
      %x = tensor.extract_slice %xs[0, %t, 0] [2, 1, 4] [1, 1, 1]
          : tensor<2x?x4xf32> to tensor<2x4xf32>
      %e = tensor.empty() : tensor<2x4xf32>
      %y = linalg.generic {maps = [id, id]} ins(%x) outs(%e) { exp }
      seq.yield %y : tensor<2x4xf32>
    }
    ```
    becomes
    ```mlir
    %x = tensor.extract_slice %xs[0, 0, 0] [2, %T, 4] [1, 1, 1]
        : tensor<2x?x4xf32> to tensor<2x?x4xf32>
    %e = tensor.empty(%T) : tensor<?x2x4xf32>
    %y = linalg.generic {maps = [(t, i, j) -> (i, t, j), (t, i, j) -> (t, i, j)]}
        ins(%x) outs(%e) { exp }
    %ys = linalg.generic {maps = [(i, t, j) -> (t, i, j), id]} ins(%y) outs(...) { copy }
    ```
  }];
  let dependentDialects = [
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

//===----------------------------------------------------------------------===//
// SeqFuseScan
//===----------------------------------------------------------------------===//

def SeqFuseScan : Pass<"seq-fuse-scan", "::mlir::ModuleOp"> {
  let summary = "recurrences whose channels are independent as one time loop per block of channels (the fused selective scan)";
  let description = [{
    A `seq.scan` whose carries all have elementwise affine updates
    (`h = A_t ⊙ h + b_t`, RecurrenceAnalysis) and one shape computes each
    channel of its carries on its own. With `independent-channels`, so does
    any other scan whose step reads each carry only at its own channel
    (DeltaNet, RWKV, mLSTM, Aaren; the evaluator refuses the others), with
    no alternative; its carries' shapes may then be prefixes of the
    largest one's, a carry without the lane dim kept per lane. It becomes a `seq.parallel` loop over
    tasks, each owning a block of channels, around one `scf.for` over all
    the steps whose iter_args are the carries as `vector<{vector-width}x..>`s
    of channels. The step's body is evaluated on those vectors: each tensor
    it reads is read at the task's channels and step `t`
    (`vector.transfer_read` along the lane dim, `tensor.extract` and a
    broadcast otherwise), reads that do not depend on `t` are hoisted out of
    the time loop, payloads are applied to vectors, reductions of the
    carries over the state dims are unrolled, and the per-step outputs are
    written into the stacked results. No tensor of shape `[T, ...state]`
    exists: for Mamba, `exp(Δ A)`, `Δ B u` and `sum(h * C)` all happen in
    the time loop.

    The carry's dims are split into state dims (those a per-step output
    reduces over: static, unrolled, at most `max-state` points), the lane
    dim (the innermost other one; a task covers up to `max-unroll` vectors
    of it) and outer dims (a task per point). With `parallel-alternative`,
    the scan is kept in the else branch of an `scf.if` taken at run time
    when the tasks G are fewer than the pool's threads
    (`seqrt_num_threads()`) and `length >= min-parallel-length`; it is
    marked `seq.scan_alternative`, and `seq-recurrence-to-scan` makes the
    chunked parallel scan of it; both branches fill destinations made
    before the `scf.if` (the alternative by a `linalg.copy`), so that the
    bufferized `scf.if` keeps identity layouts; not for more than
    `max-alternative-state` state points a channel (the alternative stores
    every carry element's coefficients for every step). Each carry's
    destination is a `bufferization.alloc_tensor` of its own, a copy of its
    initial value. Every scan it takes gets a remark: which form and why,
    or why it was not fused (a reduction over a dynamic dim, an op the
    evaluator does not know, a carry read at another channel, ...).

    Before:

    ```mlir
    %h, %ys = seq.scan %T carry(%h0 : tensor<?x256xf32>) output_axes = [1]
        -> (tensor<?x256xf32>, tensor<?x?x256xf32>) {
    ^bb0(%t: index, %h: tensor<?x256xf32>):
      %a = tensor.extract_slice %as[0, %t, 0] [%B, 1, 256] [1, 1, 1] ...
      %x = tensor.extract_slice %xs[0, %t, 0] [%B, 1, 256] [1, 1, 1] ...
      %ah = linalg.generic ... ins(%a, %h) { mulf }
      %hn = linalg.generic ... ins(%ah, %x) { addf }
      seq.yield %hn, %hn : tensor<?x256xf32>, tensor<?x256xf32>
    }
    ```

    After (`parallel-alternative=false`; 4 vectors of 16 channels a task):

    ```mlir
    %G = arith.muli %c4, %B : index
    %e0 = bufferization.alloc_tensor() copy(%h0) : tensor<?x256xf32>
    %r:2 = scf.for %w = %c0 to %G step %c1 iter_args(%hf = %e0, %y = %e1)
        -> (tensor<?x256xf32>, tensor<?x?x256xf32>) {
      %c = ... (%w mod 4) * 64 ...   %b = %w div 4
      %h0v = vector.transfer_read %hf[%b, %c] ... : tensor<?x256xf32>, vector<16xf32>
      ... (3 more)
      %l:5 = scf.for %t = %c0 to %T step %c1 iter_args(%v0 = %h0v, ..., %yt = %y) {
        %av = vector.transfer_read %as[%b, %t, %c] ... : vector<16xf32>
        %xv = vector.transfer_read %xs[%b, %t, %c] ... : vector<16xf32>
        %m = arith.mulf %av, %v0 : vector<16xf32>
        %n = arith.addf %m, %xv : vector<16xf32>
        %y2 = vector.transfer_write %n, %yt[%b, %t, %c] ...
        ...
        scf.yield %n, ..., %y5
      }
      %hf2 = vector.transfer_write %l#0, %hf[%b, %c] ...
      ...
      scf.yield %hf5, %l#4
    } {seq.parallel}
    ```
  }];
  let options = [
    Option<"vectorWidth", "vector-width", "int64_t", "16",
           "channels in a vector">,
    Option<"maxUnroll", "max-unroll", "int64_t", "8",
           "most vectors of the lane dim in a group (fewer when the state is large)">,
    Option<"timeBlock", "time-block", "int64_t", "16",
           "steps a group of channels runs with its carries in registers">,
    Option<"maxState", "max-state", "int64_t", "64",
           "most points of the state dims (unrolled in the step)">,
    Option<"parallelAlternative", "parallel-alternative", "bool", "true",
           "keep the scan as the run-time alternative (chunked parallel scan)">,
    Option<"maxAlternativeState", "max-alternative-state", "int64_t", "16",
           "most state points a channel for which the alternative is kept "
           "(it stores the coefficients of every carry element for every "
           "step)">,
    Option<"independentChannels", "independent-channels", "bool", "false",
           "also fuse scans that are not diagonal where each channel of the "
           "carries depends only on itself (DeltaNet, RWKV): sequential "
           "over time, no alternative">,
    Option<"minParallelLength", "min-parallel-length", "int64_t", "4096",
           "shortest length for which the alternative is taken">,
    Option<"deviceThreads", "device-threads", "int64_t", "0",
           "threads to fill, a constant (the GPU); 0: seqrt_num_threads() "
           "at run time">,
    Option<"timeUnroll", "time-unroll", "int64_t", "1",
           "most steps the time loop is unrolled by, the reads of the steps "
           "first (the GPU: loads in flight)">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::LLVM::LLVMDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::vector::VectorDialect",
  ];
}

//===----------------------------------------------------------------------===//
// SeqDestinationOutputs
//===----------------------------------------------------------------------===//

def SeqDestinationOutputs
    : Pass<"seq-destination-outputs", "::mlir::ModuleOp"> {
  let summary = "entries write their outputs into memrefs the caller passes";
  let description = [{
    Runs on tensors, before tiling (on whole ops, where
    `eliminate-empty-tensors` is cheap) and before one-shot bufferization.
    Each
    public function's outputs (its results not marked `seq.state`) become
    trailing memref arguments with an identity layout, marked `seq.output`;
    the return writes each into its argument with
    `bufferization.materialize_in_destination ... restrict writable`.
    `eliminate-empty-tensors`, which the pipeline runs next, then makes the
    op that computes an output write into the argument, so the runtime no
    longer copies results into the caller's tensors. States stay results.
    An output chosen by an `scf.if` (and used only there) is written in
    each branch instead, because `eliminate-empty-tensors` follows only one
    branch of an `scf.if` result.

    Before:

    ```mlir
    func.func @forward(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
      ...
      return %y : tensor<?x64xf32>
    }
    ```

    After:

    ```mlir
    func.func @forward(%x: tensor<?x64xf32>,
                       %out: memref<?x64xf32> {seq.output}) {
      ...
      bufferization.materialize_in_destination %y in restrict writable %out
          : (tensor<?x64xf32>, memref<?x64xf32>) -> ()
      return
    }
    ```
  }];
  let dependentDialects = [
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::memref::MemRefDialect",
  ];
}

//===----------------------------------------------------------------------===//
// SeqGPUMap
//===----------------------------------------------------------------------===//

def SeqGPUMap : Pass<"seq-gpu-map", "::mlir::ModuleOp"> {
  let summary = "puts the buffers and loops of bufferized entries on the GPU";
  let description = [{
    For `--target=cuda`, after bufferization: every buffer becomes device
    memory (`memref.alloc`/`dealloc` to `gpu.alloc`/`dealloc`, a constant's
    `memref.get_global` copied to a device buffer with `gpu.memcpy`,
    `memref.copy` to `linalg.copy`); a scan's task loop (`seq.parallel`,
    carrying nothing, neither allocating nor holding linalg ops) an
    `scf.parallel` with a thread per task in blocks of `task-block-size`;
    with `contraction-tile` 8, a bf16 or f16 contraction (f32 too, as tf32,
    with `tf32`) on tensor cores (`mma.sync`, f32 accumulators; 4 warps a
    128 x 128 (or 64) tile of its output; 64-byte slices of k rows copied
    by cp.async into three shared-memory stages, fragments read by
    `ldmatrix`; the output stored in pairs where its rows allow), any other
    f32 contraction block-tiled in shared memory, 256 threads a 128 x 128 (or 64) tile of
    its output, 16 steps of k a slice between barriers; any other a thread
    per `contraction-tile`
    x `contraction-tile` block of its output, the accumulators in registers
    over k (FMAs), the input read along n as vectors where its rows are
    aligned; a fill of the output just before is folded into the
    accumulators' start; every other
    linalg op becomes an `scf.parallel` over its parallel loops (reductions
    as `scf.for` inside),
    an op without parallel loops and a lone host `memref.store` a
    one-iteration `scf.parallel` (a single thread); each outermost
    `scf.parallel` is collapsed to one dimension, tiled by `block-size`
    and mapped to blocks and threads (`#gpu.loop_dim_map`), inner ones run
    sequentially in their thread. `convert-parallel-loops-to-gpu` makes the
    launches. A `memref.load` the host itself would do is an error naming
    its location. The module becomes a `gpu.container_module`.
  }];
  let options = [
    Option<"blockSize", "block-size", "int64_t", /*default=*/"256",
           "threads per block">,
    Option<"taskBlockSize", "task-block-size", "int64_t", /*default=*/"64",
           "threads per block of a task loop (a scan's threads walking time)">,
    Option<"contractionTile", "contraction-tile", "int64_t", /*default=*/"8",
           "a contraction's output block per thread, tile x tile, its "
           "accumulators in registers (1: a thread per output element)">,
    Option<"tf32", "tf32", "bool", /*default=*/"false",
           "f32 contractions on tensor cores as tf32 (mma.sync m16n8k8)">,
  ];
  let dependentDialects = [
    "::mlir::gpu::GPUDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::nvgpu::NVGPUDialect",
    "::mlir::vector::VectorDialect",
  ];
}

def SeqGPUMergeKernels : Pass<"seq-gpu-merge-kernels", "::mlir::ModuleOp"> {
  let summary = "puts the outlined kernels into one gpu.module, each "
                "distinct kernel once";
  let description = [{
    After `gpu-kernel-outlining`, which makes a `gpu.module` per kernel:
    every kernel moves into the first module and the launches follow, so a
    library embeds one GPU binary, which the runtime loads once.

    Kernels that are the same but for their names (a model's layers lower to
    the same kernels, once per layer) are then kept once, and the launches
    of the others launch it: NVVM, LLVM's NVPTX and ptxas see each distinct
    kernel once (retnet.seq: 220 kernels, 50 distinct; compiling it for
    cuda took 9.9 s, then 3.2 s).
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect"];
}

def SeqGPUWorkgroupBuffers
    : Pass<"seq-gpu-workgroup-buffers", "::mlir::ModuleOp"> {
  let summary = "a kernel's shared-memory allocas as its shared memory";
  let description = [{
    A kernel's `memref.alloca`s of static shape in shared memory (address
    space 3: the tensor-core attention's stages of K and V and Q's
    fragments, made where the kernel's body was a loop iteration) become
    its shared memory, one buffer a block: workgroup attributions of its
    `gpu.func` (16-byte aligned; a `.shared` array each in the PTX) where
    they take 48 KiB at most, the static limit; else views into
    `gpu.dynamic_shared_memory` at 16-byte aligned offsets, and every
    `gpu.launch_func` of the kernel passes their size as its dynamic shared
    memory (the runtime allows more than 48 KiB for the function).
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::gpu::GPUDialect",
                           "::mlir::memref::MemRefDialect"];
}

def SeqGPUModuleToBinary : Pass<"seq-gpu-module-to-binary", "::mlir::ModuleOp"> {
  let summary = "gpu-module-to-binary on parts of the kernels, in parallel";
  let description = [{
    Upstream's `gpu-module-to-binary` serializes one `gpu.module` at a
    time: LLVM's NVPTX back end, then ptxas, for every kernel in turn. This
    pass first cuts each `gpu.module` into `parts` modules (0: as many as
    the context has threads; each a copy with its share of the kernels,
    balanced by their sizes; the launches follow), then runs upstream's
    pass on each part, the parts in parallel (each wrapped in a
    `builtin.module` for the pass manager), and puts the `gpu.binary` ops
    back in their place. The kernels are compiled as before, each on its
    own; the library embeds one binary a part, which the runtime loads at
    `create`.
  }];
  let options = [
    Option<"toolkitPath", "toolkit", "std::string", [{""}],
           "the CUDA toolkit (ptxas, fatbinary)">,
    Option<"cmdOptions", "opts", "std::string", [{""}],
           "options for the tools (ptxas)">,
    Option<"compilationTarget", "format", "std::string", [{"fatbin"}],
           "isa (PTX), bin (cubin) or fatbin (cubin and PTX)">,
    Option<"parts", "parts", "int64_t", "0",
           "modules to cut each gpu.module into (0: the context's threads)">,
  ];
  let dependentDialects = ["::mlir::gpu::GPUDialect"];
}

def SeqGPULowerMMA : Pass<"seq-gpu-lower-mma", "::mlir::gpu::GPUModuleOp"> {
  let summary = "mma.sync on bf16/f16 and approximate exp2 to NVVM; FMA "
                "contraction; tensor-core kernels' register budget";
  let description = [{
    `seq-lower-attention`'s tensor-core form computes with
    `nvgpu.mma.sync` m16n8k16 on bf16 or f16 operands (f32 accumulators),
    which upstream's `convert-nvgpu-to-nvvm` lowers for f16 only. This pass
    lowers both: each row of the operands (two 16-bit elements) a register
    (bf16 pairs bitcast to i32), the accumulator's four elements as f32, and the
    `nvvm.mma.sync` result back into a `vector<2x2xf32>`. Other shapes and
    types are left to upstream. An f32 `math.exp2` marked `afn` (the GPU
    attention forms' softmax) becomes one `ex2.approx.ftz.f32` (libdevice's
    exp2f is ex2.approx with fix-ups for subnormals: four instructions).
    Float `addf`, `subf` and `mulf` get the `contract` flag: a product and a
    sum may become one FMA, as nvcc compiles CUDA by default
    (`--fmad=true`); without it LLVM's NVPTX emits `mul.rn` and `add.rn`,
    which ptxas may not fuse. A kernel with `mma.sync` and a known block size gets `nvvm.minctasm`
    (`.minnctapersm`) so that ptxas may use up to 255 registers a thread:
    at its default aim of 128 it issued the attention's next K and V loads
    after their registers' last use, and each step waited for them. So does
    a kernel whose loop carries more than 96 floats (a fused scan's matrix
    state, a column a thread; more than a contraction's register tile:
    few threads, whose steps' loads ptxas kept in flight only with the
    registers), and a kernel with a block of 32 loads or more (a time loop
    unrolled with its reads first: the chunked scan's phase 1 got 40
    registers and its loads one at a time, 135 us; with the budget 96
    registers).

    Before:

    ```mlir
    %d = nvgpu.mma.sync (%a, %b, %c) {mmaShape = [16, 8, 16]} :
        (vector<4x2xbf16>, vector<2x2xbf16>, vector<2x2xf32>) -> vector<2x2xf32>
    ```

    After (abridged):

    ```mlir
    %a0 = vector.extract %a[0] : vector<2xbf16> from vector<4x2xbf16>
    %r0 = vector.bitcast %a0 : vector<2xbf16> to vector<1xi32>
    ...
    %s = nvvm.mma.sync A[...] B[...] C[...] {multiplicandAPtxType =
        #nvvm.mma_type<bf16>, shape = #nvvm.shape<m = 16, n = 8, k = 16>, ...}
    %d = vector.from_elements ... : vector<2x2xf32>
    ```
  }];
  let dependentDialects = [
    "::mlir::LLVM::LLVMDialect",
    "::mlir::NVVM::NVVMDialect",
    "::mlir::vector::VectorDialect",
  ];
}

def SeqLowerDeallocs : Pass<"seq-lower-deallocs", "::mlir::ModuleOp"> {
  let summary = "bufferization.dealloc as pointer comparisons, no host lists";
  let description = [{
    Lowers each `bufferization.dealloc (%m...) if (%c...) retain (%r...)`
    with SSA values only: base pointers compared pairwise, an `scf.if`
    around each `memref.dealloc` (freed when its condition holds and it
    aliases neither a retained buffer nor an earlier one freed), and the
    retained buffers' ownership as disjunctions. Upstream's general lowering
    fills lists in host memory for a helper function, which a GPU target
    cannot have (`seq-gpu-map` makes every buffer device memory). Runs
    before `convert-bufferization-to-memref` in the cuda pipeline.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
  ];
}

#endif // SEQ_LOWERING_PASSES_TD
