//===- Interpreter.h - The reference interpreter -----------------*- C++
//-*-===//
//
// Evaluates one entry of a Program (the typed graph of TypedIR.h) on concrete
// tensors, naively and in double precision: elementwise ops with NumPy
// broadcasting, matmul and einsum by loops, scans strictly step by step,
// assoc_scan by applying the combiner in order. It is the correctness anchor
// of the compiler (`seqc run --interpret` and `--check`), so it shares no
// code with the lowering and favours the obvious over the fast.
//
// Semantics worth knowing:
//  * Values stay in double throughout; float dtypes are not rounded between
//    ops. Casts to integer types truncate toward zero (i32 wraps), casts to
//    bool give x != 0; integer ops are exact (i32 add/sub/mul/neg wrap).
//  * softmax over a row that is all -inf gives zeros.
//  * assoc_scan, forward: r[0] = x[0], r[t] = combine(r[t-1], x[t]);
//    reverse: r[L-1] = x[L-1], r[t] = combine(r[t+1], x[t]) (the running
//    value is always the first argument, as in jax.lax.associative_scan).
//  * A gather index outside [0, rows) is an error naming the table.
//
//===----------------------------------------------------------------------===//

#ifndef SEQC_INTERPRETER_INTERPRETER_H
#define SEQC_INTERPRETER_INTERPRETER_H

#include "Safetensors.h"
#include "Tensor.h"
#include "TypedIR.h"

#include "llvm/Support/Error.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace seqc {

/// Concrete values of the runtime dims (`dim B, T`).
using DimMap = std::map<std::string, int64_t>;

/// The shape when it has no runtime dim.
std::optional<Extents> constantShape(const Shape &s);

/// The shape of a weight (Sema gives every weight constant sizes).
Extents weightShape(const Type &t);

/// `s` with the runtime dims of `dims`; an error names a dim not bound.
llvm::Expected<Extents> concreteShape(const Shape &s, const DimMap &dims);

/// Makes a tensor read from a file hold `dtype`: the file's kind (float,
/// integer, bool) must match; values are rounded to `dtype`. `what` names
/// the tensor in the error ("input x in x.npy").
llvm::Error conformToDType(Tensor &t, DType dtype, const std::string &what);

/// Binds the entry's runtime dims from the shapes of the inputs given
/// (`inputs[i]` may be null: not given) and the `given` values (`--dim`), and
/// checks every given input's rank, shape and dtype against its declared
/// type. Dims that nothing binds are left out of the result.
llvm::Expected<DimMap> bindDims(const Entry &e,
                                const std::vector<const Tensor *> &inputs,
                                const DimMap &given);

/// An evaluation error at a node of the model (a size that the dims make
/// negative, a gather index out of range), with where the model has it.
class ModelError : public llvm::ErrorInfo<ModelError> {
public:
  static char ID;
  ModelError(Loc loc, std::string msg) : loc(loc), msg(std::move(msg)) {}
  /// `MSG (at line L:C)`, for messages without the file name.
  void log(llvm::raw_ostream &os) const override;
  std::error_code convertToErrorCode() const override {
    return llvm::inconvertibleErrorCode();
  }
  Loc loc;
  std::string msg;
};

/// How `seqc run` prints an error: `SOURCE:L:C: error: MSG` for a
/// ModelError, `seqc: error: MSG` for the others.
std::string formatRunError(llvm::Error e, const std::string &source);

/// Evaluates `e` on `inputs` (in argument order) and `weights` (by full
/// name). Runtime dims are bound from the inputs (and `given`). Returns one
/// tensor per entry result, with the result's dtype.
llvm::Expected<std::vector<Tensor>> evaluate(const Program &p, const Entry &e,
                                             const std::vector<Tensor> &inputs,
                                             const TensorMap &weights,
                                             const DimMap &given = {});

} // namespace seqc

#endif // SEQC_INTERPRETER_INTERPRETER_H
