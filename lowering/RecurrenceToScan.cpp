//===- RecurrenceToScan.cpp - Affine recurrences to associative scans -----===//
//
// `seq-recurrence-to-scan`: a seq.scan whose carries all have elementwise
// affine updates `h = A_t ⊙ h + b_t` becomes three steps that no longer
// carry anything from one step to the next but through an associative
// operator: a carry-free seq.scan giving (A_t, b_t) for every step, a
// seq.assoc_scan of those pairs under `(a1, b1) ∘ (a2, b2) = (a1 a2, a2 b1
// + b2)`, and a carry-free seq.scan computing the per-step outputs from the
// scanned states. Every scan gets remarks saying what was found and why.
//
//===----------------------------------------------------------------------===//

#include "lowering/Passes.h"
#include "lowering/RecurrenceAnalysis.h"

#include "dialects/Seq/Seq.h"

#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/SetVector.h"

namespace seqc {
#define GEN_PASS_DEF_SEQRECURRENCETOSCAN
#include "lowering/Passes.h.inc"
} // namespace seqc

using namespace mlir;
using namespace seqc;

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

/// `type` with a time dimension of size `time` in front.
static RankedTensorType stacked(Type type, int64_t time) {
  auto t = llvm::cast<RankedTensorType>(type);
  SmallVector<int64_t> shape{time};
  llvm::append_range(shape, t.getShape());
  return RankedTensorType::get(shape, t.getElementType());
}

/// A tensor shaped like `like` (a value that dominates the insertion point)
/// filled with `value`.
static Value filled(OpBuilder &b, Location loc, Value like, double value) {
  auto type = llvm::cast<RankedTensorType>(like.getType());
  Value empty = tensor::EmptyOp::create(
      b, loc, tensor::getMixedSizes(b, loc, like), type.getElementType());
  Value scalar = arith::ConstantOp::create(
      b, loc, b.getFloatAttr(type.getElementType(), value));
  return linalg::FillOp::create(b, loc, scalar, empty).getResult(0);
}

/// Whether `v` is a tensor of zeros (a fill of 0, or a zero constant).
static bool isZeros(Value v) {
  if (auto fill = v.getDefiningOp<linalg::FillOp>())
    return matchPattern(fill.getInputs()[0], m_AnyZeroFloat());
  return matchPattern(v, m_AnyZeroFloat());
}

/// Slice `pos` of `stackedValue` along its leading (time) axis, typed
/// `sliceType`. Its sizes are those of `like`, a value of the slice's type
/// defined before the scans: convert-seq-to-scf sizes a stacked output
/// before its loop from sizes it can find there.
static Value sliceAtTime(OpBuilder &b, Location loc, Value stackedValue,
                         Value pos, Value like) {
  Type sliceType = like.getType();
  SmallVector<OpFoldResult> sizes{b.getIndexAttr(1)};
  {
    OpBuilder::InsertionGuard guard(b);
    if (Operation *def = like.getDefiningOp())
      b.setInsertionPointAfter(def);
    else
      b.setInsertionPointToStart(llvm::cast<BlockArgument>(like).getOwner());
    llvm::append_range(sizes, tensor::getMixedSizes(b, loc, like));
  }
  SmallVector<OpFoldResult> offsets(sizes.size(), b.getIndexAttr(0));
  SmallVector<OpFoldResult> strides(sizes.size(), b.getIndexAttr(1));
  offsets[0] = pos;
  return tensor::ExtractSliceOp::create(b, loc,
                                        llvm::cast<RankedTensorType>(sliceType),
                                        stackedValue, offsets, sizes, strides);
}

//===----------------------------------------------------------------------===//
// The affine decomposition of the body
//===----------------------------------------------------------------------===//

namespace {

/// A scalar `a * h + b` of a payload: a null `a` is 0 (1 with `one`), a
/// null `b` is 0. A free scalar has no form.
struct ScalarAffine {
  Value a;
  bool one = false;
  Value b;
};

/// Emits, for the ops of a scan body that are elementwise affine in the
/// carries, the linalg ops computing their coefficients: for a dependent
/// tensor `v = A ⊙ h + B`, the pair (A, B).
class AffineDecomposition {
public:
  AffineDecomposition(OpBuilder &b, const RecurrenceAnalysis &analysis,
                      IRMapping &map)
      : b(b), analysis(analysis), map(map) {}

  /// Emits the op computing the coefficients of `op`'s results (a linalg op
  /// the analysis found Diagonal).
  LogicalResult decompose(linalg::LinalgOp op);

  /// The coefficients (A, B) of the body value `v` (a carry, a dependent
  /// value or a free one), as tensors typed like `v`; `like` gives the
  /// shape of the fills.
  std::pair<Value, Value> coefficients(Value v, Value like, Location loc);

private:
  Value constant(OpBuilder &nb, Location loc, Type type, double value) {
    return arith::ConstantOp::create(nb, loc, nb.getFloatAttr(type, value));
  }
  Value materializeA(OpBuilder &nb, Location loc, Type type,
                     const ScalarAffine &f) {
    if (f.one)
      return constant(nb, loc, type, 1.0);
    return f.a ? f.a : constant(nb, loc, type, 0.0);
  }

  OpBuilder &b;
  const RecurrenceAnalysis &analysis;
  IRMapping &map;
  /// Dependent tensors of the original body -> (A, B) in the new one.
  llvm::DenseMap<Value, std::pair<Value, Value>> forms;
};

} // namespace

std::pair<Value, Value> AffineDecomposition::coefficients(Value v, Value like,
                                                          Location loc) {
  seq::ScanOp scan = analysis.getScan();
  if (auto arg = llvm::dyn_cast<BlockArgument>(v);
      arg && arg.getOwner() == &scan.getBodyBlock() && arg.getArgNumber() > 0)
    return {filled(b, loc, like, 1.0), filled(b, loc, like, 0.0)};
  if (auto it = forms.find(v); it != forms.end())
    return it->second;
  return {filled(b, loc, like, 0.0), map.lookupOrDefault(v)};
}

LogicalResult AffineDecomposition::decompose(linalg::LinalgOp op) {
  seq::ScanOp scan = analysis.getScan();
  Location loc = op.getLoc();
  auto isCarry = [&](Value v) {
    auto arg = llvm::dyn_cast<BlockArgument>(v);
    return arg && arg.getOwner() == &scan.getBodyBlock() &&
           arg.getArgNumber() > 0;
  };

  // Inputs: a free operand as is; a dependent one as its A and B (the same
  // map twice); a carry itself as nothing (its form is 1 * h + 0).
  enum class Kind { Free, Carry, Form };
  SmallVector<std::pair<Kind, unsigned>> plan;
  SmallVector<Value> inputs;
  SmallVector<AffineMap> maps;
  for (OpOperand *operand : op.getDpsInputOperands()) {
    Value v = operand->get();
    AffineMap m = op.getMatchingIndexingMap(operand);
    if (analysis.lookup(v).kind == Dependence::Free) {
      plan.push_back({Kind::Free, inputs.size()});
      inputs.push_back(map.lookupOrDefault(v));
      maps.push_back(m);
    } else if (isCarry(v)) {
      plan.push_back({Kind::Carry, 0});
    } else {
      auto it = forms.find(v);
      if (it == forms.end())
        return op.emitError("no affine form for a dependent operand");
      plan.push_back({Kind::Form, inputs.size()});
      inputs.push_back(it->second.first);
      inputs.push_back(it->second.second);
      maps.append({m, m});
    }
  }
  // Outputs: the A results, then the B results, on the op's (free) inits.
  SmallVector<Value> inits;
  SmallVector<Type> types;
  for (int copy = 0; copy < 2; ++copy)
    for (OpOperand &init : op.getDpsInitsMutable()) {
      if (analysis.lookup(init.get()).kind != Dependence::Free)
        return op.emitError("a dependent init in an elementwise op");
      inits.push_back(map.lookupOrDefault(init.get()));
      types.push_back(init.get().getType());
      maps.push_back(op.getMatchingIndexingMap(&init));
    }
  unsigned numInits = op.getNumDpsInits();

  Block *payload = op.getBlock();
  LogicalResult status = success();
  auto generic = linalg::GenericOp::create(
      b, loc, types, inputs, inits, maps, op.getIteratorTypesArray(),
      [&](OpBuilder &nb, Location, ValueRange args) {
        IRMapping scalars;
        llvm::DenseMap<Value, ScalarAffine> affine;
        for (auto [i, p] : llvm::enumerate(plan)) {
          Value arg = payload->getArgument(i);
          if (p.first == Kind::Free)
            scalars.map(arg, args[p.second]);
          else if (p.first == Kind::Carry)
            affine[arg] = {Value(), true, Value()};
          else
            affine[arg] = {args[p.second], false, args[p.second + 1]};
        }
        unsigned numInputs = inputs.size();
        for (unsigned k = 0; k < numInits; ++k)
          scalars.map(payload->getArgument(plan.size() + k),
                      args[numInputs + k]);

        auto formOf = [&](Value v) -> std::optional<ScalarAffine> {
          auto it = affine.find(v);
          if (it == affine.end())
            return std::nullopt;
          return it->second;
        };
        auto free = [&](Value v) { return scalars.lookupOrDefault(v); };
        auto asForm = [&](Value v) {
          if (std::optional<ScalarAffine> f = formOf(v))
            return *f;
          return ScalarAffine{Value(), false, free(v)};
        };
        for (Operation &scalar : payload->without_terminator()) {
          bool reads = llvm::any_of(scalar.getOperands(), [&](Value v) {
            return affine.contains(v);
          });
          if (!reads) {
            nb.clone(scalar, scalars);
            continue;
          }
          Location sl = scalar.getLoc();
          Type type = scalar.getResult(0).getType();
          auto mul = [&](Value x, Value y) -> Value {
            return arith::MulFOp::create(nb, sl, x, y);
          };
          auto neg = [&](const ScalarAffine &f) {
            ScalarAffine r;
            if (f.one)
              r.a = constant(nb, sl, type, -1.0);
            else if (f.a)
              r.a = arith::NegFOp::create(nb, sl, f.a);
            if (f.b)
              r.b = arith::NegFOp::create(nb, sl, f.b);
            return r;
          };
          auto add = [&](const ScalarAffine &x, const ScalarAffine &y) {
            ScalarAffine r;
            if (!x.a && !x.one) {
              r.a = y.a;
              r.one = y.one;
            } else if (!y.a && !y.one) {
              r.a = x.a;
              r.one = x.one;
            } else {
              r.a = arith::AddFOp::create(nb, sl, materializeA(nb, sl, type, x),
                                          materializeA(nb, sl, type, y));
            }
            r.b = !x.b   ? y.b
                  : !y.b ? x.b
                         : Value(arith::AddFOp::create(nb, sl, x.b, y.b));
            return r;
          };
          auto scale = [&](const ScalarAffine &f, Value s, bool divide) {
            ScalarAffine r;
            auto apply = [&](Value x) -> Value {
              if (divide)
                return arith::DivFOp::create(nb, sl, x, s);
              return mul(x, s);
            };
            if (f.one)
              r.a = divide ? apply(constant(nb, sl, type, 1.0)) : s;
            else if (f.a)
              r.a = apply(f.a);
            if (f.b)
              r.b = apply(f.b);
            return r;
          };
          ScalarAffine r;
          if (llvm::isa<arith::AddFOp>(scalar)) {
            r = add(asForm(scalar.getOperand(0)), asForm(scalar.getOperand(1)));
          } else if (llvm::isa<arith::SubFOp>(scalar)) {
            r = add(asForm(scalar.getOperand(0)),
                    neg(asForm(scalar.getOperand(1))));
          } else if (llvm::isa<arith::NegFOp>(scalar)) {
            r = neg(asForm(scalar.getOperand(0)));
          } else if (llvm::isa<arith::MulFOp>(scalar)) {
            bool first = affine.contains(scalar.getOperand(0));
            ScalarAffine f = *formOf(scalar.getOperand(first ? 0 : 1));
            r = scale(f, free(scalar.getOperand(first ? 1 : 0)), false);
          } else if (llvm::isa<arith::DivFOp>(scalar) &&
                     !affine.contains(scalar.getOperand(1))) {
            r = scale(*formOf(scalar.getOperand(0)), free(scalar.getOperand(1)),
                      true);
          } else if (auto select = llvm::dyn_cast<arith::SelectOp>(scalar);
                     select && !affine.contains(select.getCondition())) {
            ScalarAffine x = asForm(select.getTrueValue());
            ScalarAffine y = asForm(select.getFalseValue());
            Value c = free(select.getCondition());
            if (x.a || x.one || y.a || y.one)
              r.a = arith::SelectOp::create(nb, sl, c,
                                            materializeA(nb, sl, type, x),
                                            materializeA(nb, sl, type, y));
            if (x.b || y.b)
              r.b = arith::SelectOp::create(
                  nb, sl, c, x.b ? x.b : constant(nb, sl, type, 0.0),
                  y.b ? y.b : constant(nb, sl, type, 0.0));
          } else {
            status = scalar.emitError("not an affine scalar op");
            r.b = constant(nb, sl, type, 0.0);
          }
          affine[scalar.getResult(0)] = r;
        }

        SmallVector<Value> as, bs;
        for (Value y : payload->getTerminator()->getOperands()) {
          Type type = y.getType();
          ScalarAffine f = asForm(y);
          as.push_back(materializeA(nb, loc, type, f));
          bs.push_back(f.b ? f.b : constant(nb, loc, type, 0.0));
        }
        llvm::append_range(as, bs);
        linalg::YieldOp::create(nb, loc, as);
      });
  if (failed(status))
    return failure();
  for (unsigned r = 0; r < op->getNumResults(); ++r)
    forms[op->getResult(r)] = {generic.getResult(r),
                               generic.getResult(numInits + r)};
  return success();
}

//===----------------------------------------------------------------------===//
// The rewrite
//===----------------------------------------------------------------------===//

/// The combiner of the affine pair monoid, `(a1, b1) ∘ (a2, b2) = (a1 a2,
/// a2 b1 + b2)`, elementwise on slices typed `type`.
static void buildAffineCombiner(OpBuilder &b, Location loc, seq::AssocScanOp op,
                                Type type) {
  Block *block = b.createBlock(&op.getCombiner());
  for (int i = 0; i < 4; ++i)
    block->addArgument(type, loc);
  Value a1 = block->getArgument(0), b1 = block->getArgument(1);
  Value a2 = block->getArgument(2), b2 = block->getArgument(3);
  auto tensorType = llvm::cast<RankedTensorType>(type);
  Value empty = tensor::EmptyOp::create(
      b, loc, tensor::getMixedSizes(b, loc, a1), tensorType.getElementType());
  AffineMap id = b.getMultiDimIdentityMap(tensorType.getRank());
  SmallVector<utils::IteratorType> iters(tensorType.getRank(),
                                         utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{type, type}, ValueRange{a1, b1, a2, b2},
      ValueRange{empty, empty}, SmallVector<AffineMap>(6, id), iters,
      [&](OpBuilder &nb, Location l, ValueRange args) {
        Value a = arith::MulFOp::create(nb, l, args[0], args[2]);
        Value scaled = arith::MulFOp::create(nb, l, args[2], args[1]);
        Value sum = arith::AddFOp::create(nb, l, scaled, args[3]);
        linalg::YieldOp::create(nb, l, ValueRange{a, sum});
      });
  seq::YieldOp::create(b, loc, generic.getResults());
}

/// `states[t] = A[t] ⊙ h0 + B[t]` over the stacked (time-leading) shape.
static Value applyToInit(OpBuilder &b, Location loc, Value scanA, Value scanB,
                         Value init) {
  auto type = llvm::cast<RankedTensorType>(scanA.getType());
  unsigned rank = type.getRank();
  AffineMap id = b.getMultiDimIdentityMap(rank);
  SmallVector<AffineExpr> dropTime;
  for (unsigned d = 1; d < rank; ++d)
    dropTime.push_back(b.getAffineDimExpr(d));
  AffineMap initMap = AffineMap::get(rank, 0, dropTime, b.getContext());
  Value empty = tensor::EmptyOp::create(
      b, loc, tensor::getMixedSizes(b, loc, scanA), type.getElementType());
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             b, loc, TypeRange{type}, ValueRange{scanA, init, scanB},
             ValueRange{empty}, SmallVector<AffineMap>{id, initMap, id, id},
             iters,
             [&](OpBuilder &nb, Location l, ValueRange args) {
               Value ah = arith::MulFOp::create(nb, l, args[0], args[1]);
               Value h = arith::AddFOp::create(nb, l, ah, args[2]);
               linalg::YieldOp::create(nb, l, h);
             })
      .getResult(0);
}

/// The carry after the last step: `states` at the last step in scan order,
/// or the initial value when the scan has no step.
static Value finalCarry(OpBuilder &b, Location loc, seq::ScanOp scan,
                        Value states, Value init) {
  Value length = scan.getLength();
  auto last = [&](OpBuilder &nb, Location l) -> Value {
    Value pos = arith::ConstantIndexOp::create(nb, l, 0);
    if (!scan.getReverse()) {
      Value one = arith::ConstantIndexOp::create(nb, l, 1);
      pos = arith::SubIOp::create(nb, l, length, one);
    }
    return sliceAtTime(nb, l, states, pos, init);
  };
  if (std::optional<int64_t> n = getConstantIntValue(length); n && *n > 0)
    return last(b, loc);
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value empty =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, length, zero);
  return scf::IfOp::create(
             b, loc, empty,
             [&](OpBuilder &nb, Location l) {
               scf::YieldOp::create(nb, l, init);
             },
             [&](OpBuilder &nb, Location l) {
               scf::YieldOp::create(nb, l, last(nb, l));
             })
      .getResult(0);
}

/// Replaces `scan` by the final carries (the last of `states`, one stacked
/// tensor per carry) and a carry-free scan computing its per-step outputs
/// from the states: the new carries at step t, the old ones at the step
/// before in scan order (the initial value at the first).
static void replaceWithStates(OpBuilder &b, seq::ScanOp scan,
                              ArrayRef<Value> states) {
  Location loc = scan.getLoc();
  Block &body = scan.getBodyBlock();
  auto yield = llvm::cast<seq::YieldOp>(body.getTerminator());
  unsigned n = scan.getNumCarries();
  ValueRange newCarries = yield.getValues().take_front(n);
  ValueRange outputs = yield.getValues().drop_front(n);
  SmallVector<Value> results;
  for (auto [state, init] : llvm::zip_equal(states, scan.getInits()))
    results.push_back(finalCarry(b, loc, scan, state, init));
  if (!outputs.empty()) {
    SmallVector<Type> outTypes(scan.getStackedOutputs().getTypes());
    auto outputScan =
        seq::ScanOp::create(b, loc, outTypes, scan.getLength(), ValueRange{},
                            scan.getReverse(), scan.getOutputAxes());
    OpBuilder::InsertionGuard guard(b);
    Block *block = b.createBlock(&outputScan.getBody());
    Value t = block->addArgument(b.getIndexType(), loc);
    llvm::DenseSet<Value> stop(newCarries.begin(), newCarries.end()), leaves;
    SmallVector<Operation *> ops = backwardSlice(body, outputs, stop, leaves);
    IRMapping map;
    map.map(scan.getStepArg(), t);
    for (unsigned i = 0; i < n; ++i) {
      Value init = scan.getInits()[i];
      BlockArgument old = scan.getCarryArgs()[i];
      if (leaves.contains(old) && !stop.contains(old)) {
        // The carry before step t: the state one step earlier in scan order.
        Value first = arith::ConstantIndexOp::create(b, loc, 0);
        Value one = arith::ConstantIndexOp::create(b, loc, 1);
        Value prev;
        if (scan.getReverse()) {
          first = arith::SubIOp::create(b, loc, scan.getLength(), one);
          prev = arith::AddIOp::create(b, loc, t, one);
        } else {
          prev = arith::SubIOp::create(b, loc, t, one);
        }
        Value isFirst =
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, t, first);
        Value previous = states[i];
        auto ifOp = scf::IfOp::create(
            b, loc, isFirst,
            [&](OpBuilder &nb, Location l) {
              scf::YieldOp::create(nb, l, init);
            },
            [&](OpBuilder &nb, Location l) {
              scf::YieldOp::create(nb, l,
                                   sliceAtTime(nb, l, previous, prev, init));
            });
        map.map(old, ifOp.getResult(0));
      }
    }
    for (auto [i, v] : llvm::enumerate(newCarries))
      if (leaves.contains(v))
        map.map(v, sliceAtTime(b, loc, states[i], t, scan.getInits()[i]));
    for (Operation *op : ops)
      b.clone(*op, map);
    SmallVector<Value> stepOutputs;
    for (Value v : outputs)
      stepOutputs.push_back(map.lookupOrDefault(v));
    seq::YieldOp::create(b, loc, stepOutputs);
    llvm::append_range(results, outputScan.getResults());
  }
  scan->replaceAllUsesWith(results);
  scan->erase();
}

/// Rewrites a scan whose carries are all elementwise affine in themselves.
static LogicalResult rewriteDiagonal(OpBuilder &b,
                                     const RecurrenceAnalysis &analysis) {
  seq::ScanOp scan = analysis.getScan();
  Location loc = scan.getLoc();
  Block &body = scan.getBodyBlock();
  auto yield = llvm::cast<seq::YieldOp>(body.getTerminator());
  unsigned n = scan.getNumCarries();
  ValueRange newCarries = yield.getValues().take_front(n);
  int64_t time = ShapedType::kDynamic;
  if (std::optional<int64_t> c = getConstantIntValue(scan.getLength()))
    time = *c;

  // 1. (A_t, B_t) for every step: the body's carry-free computations and
  // the coefficients of its affine ones, without carries.
  SmallVector<Type> coefTypes;
  for (Value init : scan.getInits())
    coefTypes.append(2, stacked(init.getType(), time));
  b.setInsertionPoint(scan);
  auto coef =
      seq::ScanOp::create(b, loc, coefTypes, scan.getLength(), ValueRange{},
                          scan.getReverse(), SmallVector<int64_t>(2 * n, 0));
  {
    OpBuilder::InsertionGuard guard(b);
    Block *block = b.createBlock(&coef.getBody());
    block->addArgument(b.getIndexType(), loc);
    IRMapping map;
    map.map(scan.getStepArg(), block->getArgument(0));
    AffineDecomposition decomposition(b, analysis, map);
    llvm::DenseSet<Value> leaves;
    for (Operation *op : backwardSlice(body, newCarries, {}, leaves)) {
      bool dependent = llvm::any_of(op->getResults(), [&](Value r) {
        return analysis.lookup(r).kind != Dependence::Free;
      });
      if (!dependent) {
        b.clone(*op, map);
        continue;
      }
      auto linalgOp = llvm::dyn_cast<linalg::LinalgOp>(op);
      if (!linalgOp || failed(decomposition.decompose(linalgOp)))
        return failure();
    }
    SmallVector<Value> yields;
    for (auto [v, init] : llvm::zip_equal(newCarries, scan.getInits())) {
      auto [a, c] = decomposition.coefficients(v, init, loc);
      yields.append({a, c});
    }
    seq::YieldOp::create(b, loc, yields);
  }

  // 2. The inclusive scan of the pairs, then the initial carry folded in.
  SmallVector<Value> states;
  for (unsigned i = 0; i < n; ++i) {
    Value init = scan.getInits()[i];
    auto assoc = seq::AssocScanOp::create(
        b, loc, ValueRange{coef.getResult(2 * i), coef.getResult(2 * i + 1)},
        /*axis=*/0, scan.getReverse());
    {
      OpBuilder::InsertionGuard guard(b);
      buildAffineCombiner(b, loc, assoc, init.getType());
    }
    states.push_back(isZeros(init) ? assoc.getResult(1)
                                   : applyToInit(b, loc, assoc.getResult(0),
                                                 assoc.getResult(1), init));
  }
  replaceWithStates(b, scan, states);
  return success();
}

//===----------------------------------------------------------------------===//
// The online-softmax monoid
//===----------------------------------------------------------------------===//

/// Whether the initial carries are the monoid's identity (`m = -inf`, sums
/// 0), so the scanned states need no initial value folded in.
static bool startsFromIdentity(seq::ScanOp scan, const OnlineSoftmax &sm) {
  if (!isNegInfFill(scan.getInits()[sm.maxCarry]))
    return false;
  return llvm::all_of(sm.sums, [&](const OnlineSoftmaxSum &sum) {
    return isZeros(scan.getInits()[sum.carry]);
  });
}

/// The combiner of the online-softmax monoid on slices: `m = max(m1, m2)`
/// and, per sum, `n = n1 s(m1) + n2 s(m2)` with `s(x) = exp(x - m)`, or 0
/// where `x = -inf` (a part that has seen no finite score adds nothing,
/// where `exp(-inf - -inf)` would be NaN).
static void buildSoftmaxCombiner(OpBuilder &b, Location loc,
                                 seq::AssocScanOp op, const OnlineSoftmax &sm,
                                 TypeRange types) {
  unsigned k = types.size();
  Block *block = b.createBlock(&op.getCombiner());
  for (int copy = 0; copy < 2; ++copy)
    for (Type type : types)
      block->addArgument(type, loc);
  Value m1 = block->getArgument(0), m2 = block->getArgument(k);
  auto mType = llvm::cast<RankedTensorType>(types[0]);
  unsigned mRank = mType.getRank();
  AffineMap mId = b.getMultiDimIdentityMap(mRank);
  Value mEmpty = tensor::EmptyOp::create(
      b, loc, tensor::getMixedSizes(b, loc, m1), mType.getElementType());
  Value m = linalg::GenericOp::create(
                b, loc, TypeRange{mType}, ValueRange{m1, m2},
                ValueRange{mEmpty}, SmallVector<AffineMap>(3, mId),
                SmallVector<utils::IteratorType>(mRank,
                                                 utils::IteratorType::parallel),
                [&](OpBuilder &nb, Location l, ValueRange args) {
                  Value max =
                      arith::MaximumFOp::create(nb, l, args[0], args[1]);
                  linalg::YieldOp::create(nb, l, max);
                })
                .getResult(0);
  SmallVector<Value> yields{m};
  for (auto [j, sum] : llvm::enumerate(sm.sums)) {
    Value n1 = block->getArgument(1 + j), n2 = block->getArgument(k + 1 + j);
    auto nType = llvm::cast<RankedTensorType>(types[1 + j]);
    unsigned rank = nType.getRank();
    AffineMap id = b.getMultiDimIdentityMap(rank);
    Value empty = tensor::EmptyOp::create(
        b, loc, tensor::getMixedSizes(b, loc, n1), nType.getElementType());
    yields.push_back(
        linalg::GenericOp::create(
            b, loc, TypeRange{nType}, ValueRange{n1, n2, m1, m2, m},
            ValueRange{empty},
            SmallVector<AffineMap>{id, id, sum.maxMap, sum.maxMap, sum.maxMap,
                                   id},
            SmallVector<utils::IteratorType>(rank,
                                             utils::IteratorType::parallel),
            [&](OpBuilder &nb, Location l, ValueRange args) {
              Type et = args[0].getType();
              Value ninf = arith::ConstantOp::create(
                  nb, l,
                  nb.getFloatAttr(
                      et, APFloat::getInf(
                              llvm::cast<FloatType>(et).getFloatSemantics(),
                              /*Negative=*/true)));
              Value zero =
                  arith::ConstantOp::create(nb, l, nb.getFloatAttr(et, 0.0));
              auto scale = [&](Value x) -> Value {
                Value d = arith::SubFOp::create(nb, l, x, args[4]);
                Value e = math::ExpOp::create(nb, l, d);
                Value none = arith::CmpFOp::create(
                    nb, l, arith::CmpFPredicate::OEQ, x, ninf);
                return arith::SelectOp::create(nb, l, none, zero, e);
              };
              Value a = arith::MulFOp::create(nb, l, args[0], scale(args[2]));
              Value c = arith::MulFOp::create(nb, l, args[1], scale(args[3]));
              Value sum = arith::AddFOp::create(nb, l, a, c);
              linalg::YieldOp::create(nb, l, sum);
            })
            .getResult(0));
  }
  seq::YieldOp::create(b, loc, yields);
}

/// Rewrites a scan that is an online softmax starting from the identity:
/// a carry-free scan gives every step's element (the score, and per sum its
/// weight broadcast to the sum's shape, 1 where there is none), one
/// seq.assoc_scan combines them, and the states replace the carries.
static LogicalResult rewriteOnlineSoftmax(OpBuilder &b,
                                          const RecurrenceAnalysis &analysis) {
  seq::ScanOp scan = analysis.getScan();
  const OnlineSoftmax &sm = *analysis.getOnlineSoftmax();
  Location loc = scan.getLoc();
  int64_t time = ShapedType::kDynamic;
  if (std::optional<int64_t> c = getConstantIntValue(scan.getLength()))
    time = *c;

  // The carries in monoid order: the max, then the sums.
  SmallVector<unsigned> order{sm.maxCarry};
  for (const OnlineSoftmaxSum &sum : sm.sums)
    order.push_back(sum.carry);
  SmallVector<Type> sliceTypes, stackedTypes;
  for (unsigned c : order) {
    sliceTypes.push_back(scan.getInits()[c].getType());
    stackedTypes.push_back(stacked(sliceTypes.back(), time));
  }

  b.setInsertionPoint(scan);
  auto elems = seq::ScanOp::create(b, loc, stackedTypes, scan.getLength(),
                                   ValueRange{}, scan.getReverse(),
                                   SmallVector<int64_t>(order.size(), 0));
  {
    OpBuilder::InsertionGuard guard(b);
    Block *block = b.createBlock(&elems.getBody());
    block->addArgument(b.getIndexType(), loc);
    IRMapping map;
    map.map(scan.getStepArg(), block->getArgument(0));
    SmallVector<Value> roots{sm.score};
    for (const OnlineSoftmaxSum &sum : sm.sums)
      if (sum.weight)
        roots.push_back(sum.weight);
    llvm::DenseSet<Value> leaves;
    for (Operation *op : backwardSlice(scan.getBodyBlock(), roots, {}, leaves))
      b.clone(*op, map);
    SmallVector<Value> yields{map.lookupOrDefault(sm.score)};
    for (const OnlineSoftmaxSum &sum : sm.sums) {
      Value init = scan.getInits()[sum.carry];
      if (!sum.weight) {
        yields.push_back(filled(b, loc, init, 1.0));
        continue;
      }
      auto type = llvm::cast<RankedTensorType>(init.getType());
      Value empty = tensor::EmptyOp::create(
          b, loc, tensor::getMixedSizes(b, loc, init), type.getElementType());
      yields.push_back(
          linalg::GenericOp::create(
              b, loc, TypeRange{type},
              ValueRange{map.lookupOrDefault(sum.weight)}, ValueRange{empty},
              SmallVector<AffineMap>{sum.weightMap,
                                     b.getMultiDimIdentityMap(type.getRank())},
              SmallVector<utils::IteratorType>(type.getRank(),
                                               utils::IteratorType::parallel),
              [&](OpBuilder &nb, Location l, ValueRange args) {
                linalg::YieldOp::create(nb, l, args[0]);
              })
              .getResult(0));
    }
    seq::YieldOp::create(b, loc, yields);
  }

  auto assoc = seq::AssocScanOp::create(b, loc, elems.getResults(),
                                        /*axis=*/0, scan.getReverse());
  {
    OpBuilder::InsertionGuard guard(b);
    buildSoftmaxCombiner(b, loc, assoc, sm, sliceTypes);
  }
  SmallVector<Value> states(scan.getNumCarries());
  for (auto [j, c] : llvm::enumerate(order))
    states[c] = assoc.getResult(j);
  replaceWithStates(b, scan, states);
  return success();
}

//===----------------------------------------------------------------------===//
// The pass
//===----------------------------------------------------------------------===//

namespace {

/// Whether every carry of `scan` is a floating-point tensor.
static bool allFloat(seq::ScanOp scan) {
  return llvm::all_of(scan.getInits(), [](Value init) {
    return llvm::isa<FloatType>(
        llvm::cast<RankedTensorType>(init.getType()).getElementType());
  });
}

/// "m', 'num', 'den": the carries of an online softmax, max first.
static std::string carryNames(const RecurrenceAnalysis &analysis,
                              const OnlineSoftmax &sm) {
  std::string names = analysis.getCarryName(sm.maxCarry);
  for (const OnlineSoftmaxSum &sum : sm.sums)
    names += "', '" + analysis.getCarryName(sum.carry);
  return names;
}

struct SeqRecurrenceToScanPass
    : seqc::impl::SeqRecurrenceToScanBase<SeqRecurrenceToScanPass> {
  using Base::Base;

  void runOnOperation() override {
    // Remarks are emitted once per scan, so the scans are visited by a walk
    // rather than by a pattern driver that may revisit them.
    SmallVector<seq::ScanOp> scans;
    getOperation()->walk([&](seq::ScanOp scan) { scans.push_back(scan); });
    for (seq::ScanOp scan : scans) {
      if (scan.getNumCarries() == 0)
        continue;
      RecurrenceAnalysis analysis(scan);
      if (failed(run(analysis)))
        return signalPassFailure();
    }
  }

  LogicalResult run(const RecurrenceAnalysis &analysis) {
    seq::ScanOp scan = analysis.getScan();
    unsigned n = scan.getNumCarries();
    // The alternative of a fused scan: its remark is seq-fuse-scan's.
    if (scan->hasAttr(kScanAlternativeAttr)) {
      scan->removeAttr(kScanAlternativeAttr);
      if (!analysis.isDiagonal() || !allFloat(scan))
        return success();
      OpBuilder b(scan);
      return rewriteDiagonal(b, analysis);
    }
    if (const std::optional<OnlineSoftmax> &sm = analysis.getOnlineSoftmax();
        sm && allFloat(scan)) {
      if (!startsFromIdentity(scan, *sm)) {
        emitRemark(scan.getLoc())
            << "scan stays sequential: carry '"
            << analysis.getCarryName(sm->maxCarry)
            << "' is the running max of an online softmax, but the carries "
               "do not start at -inf and 0";
        return success();
      }
      if (onlyAlternatives) {
        emitRemark(scan.getLoc())
            << "carries '" << carryNames(analysis, *sm)
            << "' are an online softmax (running max '"
            << analysis.getCarryName(sm->maxCarry)
            << "' and rescaled sums): scan stays sequential (its parallel "
               "scan, --scan-form=parallel, is slower here: its combiner "
               "lowers sequentially)";
        return success();
      }
      emitRemark(scan.getLoc()) << "carries '" << carryNames(analysis, *sm)
                                << "' are an online softmax (running max '"
                                << analysis.getCarryName(sm->maxCarry)
                                << "' and rescaled sums): parallel scan";
      OpBuilder b(scan);
      return rewriteOnlineSoftmax(b, analysis);
    }
    if (!analysis.isDiagonal()) {
      for (unsigned i = 0; i < n; ++i) {
        RecurrenceKind kind = analysis.getCarry(i).kind;
        if (kind == RecurrenceKind::Diagonal)
          continue;
        std::string why = analysis.describe(i);
        if (kind == RecurrenceKind::Contraction ||
            kind == RecurrenceKind::Coupled ||
            kind == RecurrenceKind::OnlineSoftmax)
          why += ", which has no parallel form here yet";
        emitRemark(scan.getLoc()) << "scan stays sequential: carry '"
                                  << analysis.getCarryName(i) << "' is " << why;
      }
      return success();
    }
    if (!allFloat(scan)) {
      emitRemark(scan.getLoc())
          << "scan stays sequential: its carries are affine but not all "
             "floating-point";
      return success();
    }
    // Under seq-fuse-scan, which gave the remark (fused, or why not).
    if (onlyAlternatives)
      return success();
    for (unsigned i = 0; i < n; ++i)
      emitRemark(scan.getLoc())
          << "recurrence of carry '" << analysis.getCarryName(i)
          << "' is affine (diagonal): parallel scan";
    OpBuilder b(scan);
    return rewriteDiagonal(b, analysis);
  }
};

} // namespace
