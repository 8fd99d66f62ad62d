//===- RecurrenceAnalysis.h - What kind of recurrence a scan is -*- C++ -*-===//
//
// Classifies, per carry of a `seq.scan`, how the body computes the new value
// of the carry from the old carries: affine with elementwise coefficients
// (`h = A ⊙ h + b`, the coefficients free of carries), affine through a
// contraction (`S = S @ M + N`, DeltaNet's `S + k (β (v - kᵀS))ᵀ`), the
// online-softmax monoid (a running max and sums rescaled by it, as in
// Aaren), or none of these, in which case it names the expression that made
// the update non-affine. Per-step outputs are classified too: a map when it
// reads the old carries only through their new values.
//
//===----------------------------------------------------------------------===//

#ifndef SEQC_LOWERING_RECURRENCEANALYSIS_H
#define SEQC_LOWERING_RECURRENCEANALYSIS_H

#include "dialects/Seq/Seq.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Value.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SmallBitVector.h"

#include <optional>
#include <string>

namespace seqc {

/// Marks the copy of a scan that `seq-fuse-scan` keeps as the run-time
/// alternative of its fused form: `seq-recurrence-to-scan` turns it into the
/// chunked parallel scan without a remark of its own.
constexpr llvm::StringLiteral kScanAlternativeAttr = "seq.scan_alternative";

/// How a value of a scan body depends on the carries' old values.
enum class Dependence {
  /// Reads no carry.
  Free,
  /// Affine in the carries, elementwise: element `i` of the value is
  /// `a_i * h_i + b_i` for the carries `h` it reads, every dependent tensor
  /// on the way shaped like the carry and read with identity maps.
  Diagonal,
  /// Affine in the carries through slices, reshapes, broadcasts or
  /// contractions (linear maps that are not elementwise).
  Linear,
  /// Not affine: a carry-dependent value goes through a nonlinear function,
  /// or two of them are multiplied.
  NonAffine,
};

/// What the analysis knows of one value of the body.
struct ValueDependence {
  Dependence kind = Dependence::Free;
  /// The carries (body argument numbers minus one) it reads.
  llvm::SmallBitVector carries;
  /// For NonAffine: the op whose result is first non-affine along the way
  /// (a linalg op of the body) and what it computes (`tanh`, `*` of two
  /// carry-dependent values).
  mlir::Operation *blame = nullptr;
  std::string what;
};

/// How the new value of one carry is computed.
enum class RecurrenceKind {
  /// `h = A ⊙ h + b`, A and b free of carries (either may be broadcast).
  Diagonal,
  /// Affine in the carry itself through a contraction or another
  /// non-elementwise linear map.
  Contraction,
  /// Affine in the carries but reading other carries as well (a coupled
  /// linear system).
  Coupled,
  /// Part of an online-softmax monoid (see OnlineSoftmax).
  OnlineSoftmax,
  /// None of the above.
  NonAffine,
};

/// One sum of an online softmax: `n' = n ⊙ exp(m - m') + y ⊙ exp(x - m')`.
struct OnlineSoftmaxSum {
  unsigned carry;
  /// `y` (free of carries), or null when the sum adds `exp(x - m')` alone;
  /// `weightMap` reads it in the iteration space of `n` (its shape).
  mlir::Value weight;
  mlir::AffineMap weightMap;
  /// From the dims of `n` to those of `m`: how `exp(m - m')` is broadcast.
  mlir::AffineMap maxMap;
};

/// The online-softmax monoid over carries `m` (the running max of scores
/// `x`) and sums `n_k` rescaled by it, with `m' = max(m, x)`: partial
/// states `(m, n_k)` combine associatively.
struct OnlineSoftmax {
  unsigned maxCarry;
  llvm::SmallVector<OnlineSoftmaxSum> sums;
  /// The score `x` (free of carries, shaped like `m`).
  mlir::Value score;
};

/// The classification of one carry's update.
struct CarryRecurrence {
  RecurrenceKind kind = RecurrenceKind::NonAffine;
  /// What the new value reads (of the old carries).
  ValueDependence dependence;
};

/// Recurrence analysis of one `seq.scan`.
class RecurrenceAnalysis {
public:
  explicit RecurrenceAnalysis(seq::ScanOp scan);

  seq::ScanOp getScan() const { return scan; }
  const CarryRecurrence &getCarry(unsigned i) const { return carries[i]; }
  /// Whether per-step output `j` reads the old carries only through their
  /// new values (so it is a map over the scanned states).
  bool isOutputMap(unsigned j) const { return outputIsMap[j]; }
  /// Whether every carry's update is elementwise affine in itself alone.
  bool isDiagonal() const;
  const std::optional<OnlineSoftmax> &getOnlineSoftmax() const {
    return softmax;
  }
  /// What a body value reads of the carries (Free for values defined
  /// outside the body).
  const ValueDependence &lookup(mlir::Value v) const;

  /// The carry's name in the model (the NameLoc MLIRGen puts on the body
  /// argument), or `#i`.
  std::string getCarryName(unsigned i) const;
  /// One line saying what the analysis found for carry `i`, for remarks:
  /// "affine (diagonal)", "not affine in the carries: `tanh` at f.seq:3:9".
  std::string describe(unsigned i) const;

private:
  void analyzeOp(mlir::Operation *op);
  void detectOnlineSoftmax();

  mutable seq::ScanOp scan;
  llvm::DenseMap<mlir::Value, ValueDependence> values;
  llvm::SmallVector<CarryRecurrence> carries;
  llvm::SmallVector<bool> outputIsMap;
  std::optional<OnlineSoftmax> softmax;
  ValueDependence free;
};

/// Whether a scalar op of a linalg payload is affine in its operands of
/// kind `linear` (true: those operands appear at most linearly in the
/// result): `addf`, `subf`, `negf`, `mulf` with one linear factor, `divf`
/// with a linear numerator, `select` with a free condition. The rewrite of
/// seq-recurrence-to-scan handles exactly these.
bool isAffineScalarOp(mlir::Operation *op,
                      llvm::function_ref<bool(mlir::Value)> isLinear);

/// Whether `v` is a fill of `-inf` (a max that has seen nothing).
bool isNegInfFill(mlir::Value v);

/// The ops of `body` (in order) that `roots` need, not looking past the
/// values of `stop`; `leaves` gets the values of `stop` and the block
/// arguments of `body` that are reached.
llvm::SmallVector<mlir::Operation *>
backwardSlice(mlir::Block &body, mlir::ValueRange roots,
              const llvm::DenseSet<mlir::Value> &stop,
              llvm::DenseSet<mlir::Value> &leaves);

/// The same with nothing to stop at.
llvm::SmallVector<mlir::Operation *> backwardSlice(mlir::Block &body,
                                                   mlir::ValueRange roots);

/// An elementwise linalg.generic whose payload is one scalar op of the
/// block arguments: its inputs (values and maps), in the scalar op's operand
/// order.
struct Elementwise {
  mlir::linalg::GenericOp op;
  mlir::Operation *scalar;
  llvm::SmallVector<mlir::Value, 2> operands;
  llvm::SmallVector<mlir::AffineMap, 2> maps;
};

/// Matches `v` as the result of an elementwise generic whose payload is one
/// `OpTy` of its inputs, with an identity output map.
template <typename... OpTy>
std::optional<Elementwise> matchElementwise(mlir::Value v) {
  auto generic = v.getDefiningOp<mlir::linalg::GenericOp>();
  if (!generic || generic.getNumResults() != 1 ||
      generic.getNumLoops() != generic.getNumParallelLoops() ||
      !generic.getMatchingIndexingMap(generic.getDpsInitOperand(0))
           .isIdentity())
    return std::nullopt;
  mlir::Block *payload = generic.getBlock();
  if (payload->getOperations().size() != 2)
    return std::nullopt;
  mlir::Operation *scalar = &payload->front();
  if (!llvm::isa<OpTy...>(scalar) ||
      payload->getTerminator()->getOperand(0) != scalar->getResult(0))
    return std::nullopt;
  Elementwise e{generic, scalar, {}, {}};
  for (mlir::Value operand : scalar->getOperands()) {
    auto arg = llvm::dyn_cast<mlir::BlockArgument>(operand);
    if (!arg || arg.getOwner() != payload ||
        arg.getArgNumber() >= generic.getNumDpsInputs())
      return std::nullopt;
    mlir::OpOperand *input = generic.getDpsInputOperand(arg.getArgNumber());
    e.operands.push_back(input->get());
    e.maps.push_back(generic.getMatchingIndexingMap(input));
  }
  return e;
}

/// The threads a parallel scan has to fill, as an index at `b`: the
/// constant `deviceThreads` when it is positive (a GPU: its resident
/// threads), else the runtime's pool size, `seqrt_num_threads()` (declared
/// in `module` on first use).
mlir::Value emitThreadCount(mlir::OpBuilder &b, mlir::Location loc,
                            mlir::ModuleOp module, int64_t deviceThreads);

/// Puts `scan` in the else branch of `scf.if length < minLength` whose then
/// branch runs a clone of it as written: a short dynamic length (a step
/// decoding a token or a few) does not pay for the form `scan` is about to
/// take. `b` is left in the else branch.
void keepAsWrittenWhenShort(mlir::OpBuilder &b, seq::ScanOp scan,
                            int64_t minLength);

/// Unrolls a scan's loop over time (on tensors) by the largest power of two
/// up to `maxUnroll` that keeps the values it reads per iteration within
/// `readBudget` (registers of a GPU thread; an epilogue loop takes the
/// rest), and moves every read
/// that does not depend on the carries, with what it needs, to the front of
/// the unrolled body. On the GPU, where a thread walks time, the loads of
/// several steps are then in flight at once (the stores of earlier steps no
/// longer come between them). A loop that reads more than the budget in one
/// step is not unrolled, its reads still moved first. Returns the factor.
int64_t unrollTimeLoop(mlir::scf::ForOp loop, int64_t maxUnroll,
                       int64_t readBudget = 64);

} // namespace seqc

#endif // SEQC_LOWERING_RECURRENCEANALYSIS_H
