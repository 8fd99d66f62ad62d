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

#endif // SEQ_LOWERING_PASSES_TD
