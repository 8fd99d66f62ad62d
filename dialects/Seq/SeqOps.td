//===- SeqOps.td - Operations of the seq dialect -----------*- tablegen -*-===//
//
// seq.scan (sequential recurrence with carries and stacked per-step
// outputs), seq.assoc_scan (inclusive associative scan with a combiner
// region), seq.softmax, seq.attention (fused attention with a score
// region) and the common terminator seq.yield.
//
//===----------------------------------------------------------------------===//

#ifndef SEQ_OPS_TD
#define SEQ_OPS_TD

include "SeqDialect.td"
include "mlir/Interfaces/ControlFlowInterfaces.td"
include "mlir/Interfaces/DestinationStyleOpInterface.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

//===----------------------------------------------------------------------===//
// ScanOp
//===----------------------------------------------------------------------===//

def Seq_ScanOp : Seq_Op<"scan", [
    RecursiveMemoryEffects]> {
  let summary = "sequential recurrence over time steps with carries";
  let description = [{
    Runs its body for `t = 0 .. length-1` (from `length-1` down to `0` with
    `reverse`). The body block takes the step `t` (an `index`) and the
    current value of every carry; its `seq.yield` gives the new carries
    followed by the per-step outputs of the step.

    Results: the final carries (typed like `inits`), then one stacked
    tensor per per-step output. `output_axes[j]` is the position of the time
    axis in stacked output `j`: its type is the yielded per-step type with a
    time dimension inserted at that axis. The time dimension is `?`, or a
    static size; a static size must equal `length` when `length` is a
    constant. With `length = 0` the carries are the initial values and the
    outputs are empty.

    Example (a gated recurrence `h = a[t] * h + x[t]`, output `y[:, t] = h`):

    ```mlir
    %h, %ys = seq.scan %len carry(%h0 : tensor<4xf32>) output_axes = [1]
        -> (tensor<4xf32>, tensor<4x?xf32>) {
    ^bb0(%t: index, %h: tensor<4xf32>):
      ...
      seq.yield %hn, %hn : tensor<4xf32>, tensor<4xf32>
    }
    ```
  }];

  let arguments = (ins Index:$length,
                       Variadic<AnyRankedTensor>:$inits,
                       UnitAttr:$reverse,
                       DenseI64ArrayAttr:$output_axes);
  let results = (outs Variadic<AnyRankedTensor>:$results);
  let regions = (region SizedRegion<1>:$body);

  let assemblyFormat = [{
    (`reverse` $reverse^)? $length
    (`carry` `(` $inits^ `:` type($inits) `)`)?
    `output_axes` `=` $output_axes
    attr-dict `->` `(` type($results) `)` $body
  }];

  let skipDefaultBuilders = 1;
  let builders = [
    OpBuilder<(ins "::mlir::TypeRange":$resultTypes, "::mlir::Value":$length,
                   "::mlir::ValueRange":$inits, "bool":$reverse,
                   "::llvm::ArrayRef<int64_t>":$outputAxes)>
  ];

  let extraClassDeclaration = [{
    unsigned getNumCarries() { return getInits().size(); }
    unsigned getNumOutputs() { return getOutputAxes().size(); }
    ::mlir::Block &getBodyBlock() { return getBody().front(); }
    /// The step `t` inside the body.
    ::mlir::BlockArgument getStepArg() { return getBodyBlock().getArgument(0); }
    /// The carries' values inside the body.
    ::mlir::Block::BlockArgListType getCarryArgs() {
      return getBodyBlock().getArguments().drop_front();
    }
    ::mlir::ResultRange getFinalCarries() {
      return getResults().take_front(getNumCarries());
    }
    ::mlir::ResultRange getStackedOutputs() {
      return getResults().drop_front(getNumCarries());
    }
  }];
  let hasVerifier = 1;
  let hasRegionVerifier = 1;
}

//===----------------------------------------------------------------------===//
// AssocScanOp
//===----------------------------------------------------------------------===//

def Seq_AssocScanOp : Seq_Op<"assoc_scan", [
    RecursiveMemoryEffects,
    DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "inclusive associative scan of N tensors with a combiner";
  let description = [{
    Computes the inclusive scan of the tuples `(x_0[i], ..., x_{N-1}[i])`
    along `axis`: element `i` of the results is
    `combine(... combine(e_0, e_1) ..., e_i)` (with `reverse`, the scan runs
    from the last element to the first, and the later-in-scan element is
    the second argument). The combiner must be associative; the order in
    which it is applied is the implementation's choice.

    The combiner region has one block with `2N` arguments, the slices of the
    inputs with `axis` removed: the earlier element's `N` values first, then
    the later element's. It yields `N` slices of the same types. Inputs may
    differ in shape but have one length along `axis`; results are typed
    like the inputs.

    Example (the affine pair monoid `(a1, b1) . (a2, b2) = (a1 a2, a2 b1 + b2)`):

    ```mlir
    %A, %B = seq.assoc_scan axis = 1 (%a, %b) : tensor<4x?xf32>, tensor<4x?xf32> {
    ^bb0(%a1: tensor<4xf32>, %b1: tensor<4xf32>, %a2: tensor<4xf32>, %b2: tensor<4xf32>):
      ...
      seq.yield %an, %bn : tensor<4xf32>, tensor<4xf32>
    }
    ```
  }];

  let arguments = (ins Variadic<AnyRankedTensor>:$inputs,
                       I64Attr:$axis,
                       UnitAttr:$reverse);
  let results = (outs Variadic<AnyRankedTensor>:$results);
  let regions = (region SizedRegion<1>:$combiner);

  let assemblyFormat = [{
    (`reverse` $reverse^)? `axis` `=` $axis ` ` `(` $inputs `)` attr-dict
    `:` type($inputs) $combiner
  }];

  let skipDefaultBuilders = 1;
  let builders = [
    OpBuilder<(ins "::mlir::ValueRange":$inputs, "int64_t":$axis,
                   "bool":$reverse)>
  ];

  let extraClassDeclaration = [{
    unsigned getNumInputs() { return getInputs().size(); }
    ::mlir::Block &getCombinerBlock() { return getCombiner().front(); }
  }];
  let hasVerifier = 1;
  let hasRegionVerifier = 1;
}

//===----------------------------------------------------------------------===//
// SoftmaxOp
//===----------------------------------------------------------------------===//

def Seq_SoftmaxOp : Seq_Op<"softmax", [Pure]> {
  let summary = "softmax along one axis; fully masked rows give zeros";
  let description = [{
    `exp(x - max) / sum(exp(x - max))` along `axis`. A row whose elements are
    all `-inf` gives zeros, where `linalg.softmax` gives NaN: masked
    attention rows (a query that may see no key) stay finite. Later passes
    decompose it (or fold it into fused attention).

    Example:

    ```mlir
    %p = seq.softmax %s {axis = 2 : i64} : tensor<4x?x?xf32> -> tensor<4x?x?xf32>
    ```
  }];

  let arguments = (ins RankedTensorOf<[AnyFloat]>:$input, I64Attr:$axis);
  let results = (outs RankedTensorOf<[AnyFloat]>:$result);

  let assemblyFormat = [{
    $input attr-dict `:` type($input) `->` type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

def Seq_AttentionOp : Seq_Op<"attention", [
    RecursiveMemoryEffects,
    DestinationStyleOpInterface]> {
  let summary = "fused attention: softmax of modified scores times values";
  let description = [{
    Attention over `n` batch axes (batch, heads, groups: any leading axes),
    written so that the T x T scores never have to exist:

    ```
    s[b, i, j]   = score(scale * sum_d q[b, i, d] * k[b', j, d], b, i, j)
    s[b, i, j]   = -inf where a `mask` constraint fails
    out[b, i, e] = sum_j softmax_j(s[b, i, :])[j] * v[b'', j, e]
    ```

    - `query`: `[B_1 .. B_n, Tq, D]`; `key`: `[K_1 .. K_n, Tk, D]`;
      `value`: `[V_1 .. V_n, Tk, Dv]`; `init` and the result:
      `[B_1 .. B_n, Tq, Dv]`. A key or value batch axis is either the
      query's or 1: a head axis of 1 shares one key/value head among all
      query heads (MQA), a group axis of 1 shares each key/value head among
      the group's query heads (GQA). `b'` and `b''` are `b` with 0 on
      those axes.
    - `scale` (default 1) multiplies the dot product before the region.
    - The `score` region modifies each score. Its block takes the scaled
      score (f32), the `n` batch indices, the query position `i` and the key
      position `j` (all `index`) and yields the new score (f32). It may read
      values defined above (per-head constants, bias tensors); it is
      evaluated once per score, in any order.
    - `mask` lists constraints `(a, b, c)`, each meaning
      `a * i + b * j + c >= 0`; a score whose position fails any of them is
      `-inf`. Being affine in the positions, they bound whole tiles: causal
      is `[1, -1, 0]`, a window of `W` keys adds `[-1, 1, W - 1]`.
    - `offset` (optional, `index`) is the position of the first query:
      the region and the mask see `i + offset` for query row `i`. The step
      form of a causal attention (`seq-derive-step`) runs a chunk of
      queries that starts after the cached keys, so its queries start at
      the cache length.
    - A row whose scores are all `-inf` (a query that may see no key) gives
      zeros, as `seq.softmax` does. Accumulation is in f32 for every element
      type.

    Example (causal attention with scale 1/8, scores soft-capped at 30):

    ```mlir
    %o = seq.attention ins(%q, %k, %v : tensor<?x8x?x64xf32>,
                              tensor<?x1x?x64xf32>, tensor<?x1x?x64xf32>)
                       outs(%init : tensor<?x8x?x64xf32>)
                       scale = 1.250000e-01 mask = [1, -1, 0]
                       -> tensor<?x8x?x64xf32> {
    ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
      %c = arith.constant 3.000000e+01 : f32
      %x = arith.divf %s, %c : f32
      %t = math.tanh %x : f32
      %y = arith.mulf %t, %c : f32
      seq.yield %y : f32
    }
    ```
  }];

  let arguments = (ins AnyRankedTensor:$query,
                       AnyRankedTensor:$key,
                       AnyRankedTensor:$value,
                       AnyRankedTensor:$init,
                       Optional<Index>:$offset,
                       OptionalAttr<F64Attr>:$scale,
                       OptionalAttr<DenseI64ArrayAttr>:$mask);
  let results = (outs AnyRankedTensor:$result);
  let regions = (region SizedRegion<1>:$score);

  let assemblyFormat = [{
    `ins` `(` $query `,` $key `,` $value `:` type($query) `,` type($key) `,`
        type($value) `)`
    `outs` `(` $init `:` type($init) `)`
    (`offset` `(` $offset^ `)`)?
    (`scale` `=` $scale^)? (`mask` `=` $mask^)?
    attr-dict `->` type($result) $score
  }];

  let extraClassDeclaration = [{
    /// The number of leading batch axes (`n`).
    int64_t getNumBatchDims() {
      return llvm::cast<::mlir::RankedTensorType>(getQuery().getType())
                 .getRank() - 2;
    }
    ::mlir::Block &getScoreBlock() { return getScore().front(); }
    /// The scale, 1 when absent.
    double getScaleOrOne() { return getScale() ? getScale()->convertToDouble() : 1.0; }
    /// The mask constraints as (a, b, c) triples.
    ::llvm::SmallVector<std::array<int64_t, 3>> getMaskConstraints();
    ::mlir::MutableOperandRange getDpsInitsMutable() {
      return getInitMutable();
    }
  }];
  let hasVerifier = 1;
  let hasRegionVerifier = 1;
}

//===----------------------------------------------------------------------===//
// YieldOp
//===----------------------------------------------------------------------===//

def Seq_YieldOp : Seq_Op<"yield", [
    Pure, Terminator, ReturnLike, HasParent<"ScanOp, AssocScanOp, AttentionOp">]> {
  let summary = "terminator of seq.scan, seq.assoc_scan and seq.attention regions";
  let description = [{
    In `seq.scan`: the new carries, then the step's per-step outputs. In
    `seq.assoc_scan`: the combined slices. In `seq.attention`: the modified
    score.

    Example:

    ```mlir
    seq.yield %h, %y : tensor<4xf32>, tensor<4xf32>
    ```
  }];

  let arguments = (ins Variadic<AnyType>:$values);
  let assemblyFormat = "attr-dict ($values^ `:` type($values))?";
}

#endif // SEQ_OPS_TD
