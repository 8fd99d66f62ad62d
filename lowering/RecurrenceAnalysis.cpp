//===- RecurrenceAnalysis.cpp - What kind of recurrence a scan is ---------===//
//
// A forward walk over the body of a seq.scan that tracks, for every value,
// which old carries it reads and whether it is affine in them (elementwise,
// or through linear maps such as slices and contractions), down to the
// scalar payloads of linalg ops. The first op that makes a value non-affine
// is kept, so a refusal can point at the expression in the model.
//
//===----------------------------------------------------------------------===//

#include "lowering/RecurrenceAnalysis.h"
#include "lowering/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/Utils/Utils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/OperationSupport.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/MemoryBuffer.h"

using namespace mlir;
using namespace seqc;

bool seqc::isAffineScalarOp(Operation *op,
                            llvm::function_ref<bool(Value)> isLinear) {
  auto lin = [&](unsigned i) { return isLinear(op->getOperand(i)); };
  if (llvm::isa<arith::AddFOp, arith::SubFOp, arith::NegFOp>(op))
    return true;
  if (llvm::isa<arith::MulFOp>(op))
    return !(lin(0) && lin(1));
  if (llvm::isa<arith::DivFOp>(op))
    return !lin(1);
  if (llvm::isa<arith::SelectOp>(op))
    return !lin(0);
  return false;
}

std::string seqc::formatLocation(Location loc) {
  std::string out;
  loc->walk([&](Location l) {
    if (auto file = llvm::dyn_cast<FileLineColLoc>(l)) {
      out = (file.getFilename().getValue() + ":" + Twine(file.getLine()) + ":" +
             Twine(file.getColumn()))
                .str();
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return out;
}

/// The identifier of a call at `loc` in the model's source (`sigmoid` in
/// `sigmoid(f)`), when the file can be read; "" otherwise. The payload of
/// `sigmoid` is `1 / (1 + exp(-x))`: naming its `exp` would puzzle the
/// reader of the model.
static std::string sourceCallee(Location loc) {
  auto file = llvm::dyn_cast<FileLineColLoc>(loc);
  if (!file) {
    if (auto name = llvm::dyn_cast<NameLoc>(loc))
      return sourceCallee(name.getChildLoc());
    if (auto fused = llvm::dyn_cast<FusedLoc>(loc))
      for (Location l : fused.getLocations())
        if (std::string s = sourceCallee(l); !s.empty())
          return s;
    return "";
  }
  static llvm::StringMap<std::unique_ptr<llvm::MemoryBuffer>> cache;
  std::string name = file.getFilename().getValue().str();
  auto it = cache.find(name);
  if (it == cache.end()) {
    auto buffer = llvm::MemoryBuffer::getFile(name);
    it = cache.try_emplace(name, buffer ? std::move(*buffer) : nullptr).first;
  }
  if (!it->second)
    return "";
  StringRef text = it->second->getBuffer();
  for (unsigned line = 1; line < file.getLine(); ++line) {
    size_t nl = text.find('\n');
    if (nl == StringRef::npos)
      return "";
    text = text.drop_front(nl + 1);
  }
  text = text.take_until([](char c) { return c == '\n'; });
  if (file.getColumn() == 0 || file.getColumn() > text.size())
    return "";
  text = text.drop_front(file.getColumn() - 1);
  StringRef ident =
      text.take_while([](char c) { return llvm::isAlnum(c) || c == '_'; });
  if (ident.empty() || !llvm::isAlpha(ident[0]) ||
      !text.drop_front(ident.size()).starts_with("("))
    return "";
  return ident.str();
}

/// What a scalar op that makes its result non-affine computes, for a
/// remark.
static std::string describeNonAffine(Operation *scalar, Operation *parent) {
  if (llvm::isa<arith::MulFOp>(scalar)) {
    auto linalgOp = llvm::dyn_cast<linalg::LinalgOp>(parent);
    if (linalgOp && linalgOp.getNumReductionLoops() > 0)
      return "a contraction of two carry-dependent values";
    return "`*` of two carry-dependent values";
  }
  if (llvm::isa<arith::DivFOp>(scalar))
    return "`/` by a carry-dependent value";
  if (llvm::isa<arith::SelectOp>(scalar))
    return "`where` on a carry-dependent condition";
  if (llvm::isa<arith::CmpFOp>(scalar))
    return "a comparison of a carry-dependent value";
  if (llvm::isa<arith::MaximumFOp, arith::MaxNumFOp>(scalar))
    return "`max`";
  if (llvm::isa<arith::MinimumFOp, arith::MinNumFOp>(scalar))
    return "`min`";
  if (llvm::isa<math::AbsFOp>(scalar))
    return "`abs`";
  if (llvm::isa<math::PowFOp>(scalar))
    return "`pow`";
  StringRef name = scalar->getName().getStringRef();
  if (name.consume_front("math."))
    return ("`" + name + "`").str();
  return ("`" + name + "`").str();
}

/// The carries a body value reads, with an empty set for values defined
/// outside the body.
const ValueDependence &RecurrenceAnalysis::lookup(Value v) const {
  auto it = values.find(v);
  return it == values.end() ? free : it->second;
}

RecurrenceAnalysis::RecurrenceAnalysis(seq::ScanOp scan) : scan(scan) {
  unsigned n = scan.getNumCarries();
  free.carries.resize(n);
  for (unsigned i = 0; i < n; ++i) {
    ValueDependence d;
    d.kind = Dependence::Diagonal;
    d.carries.resize(n);
    d.carries.set(i);
    values[scan.getCarryArgs()[i]] = d;
  }
  Block &body = scan.getBodyBlock();
  for (Operation &op : body.without_terminator())
    analyzeOp(&op);

  auto yield = llvm::cast<seq::YieldOp>(body.getTerminator());
  for (unsigned i = 0; i < n; ++i) {
    CarryRecurrence c;
    c.dependence = lookup(yield.getValues()[i]);
    const ValueDependence &d = c.dependence;
    llvm::SmallBitVector others = d.carries;
    others.reset(i);
    switch (d.kind) {
    case Dependence::Free:
      c.kind = RecurrenceKind::Diagonal; // h = 0 * h + b
      break;
    case Dependence::Diagonal:
    case Dependence::Linear:
      if (others.any())
        c.kind = RecurrenceKind::Coupled;
      else
        c.kind = d.kind == Dependence::Diagonal ? RecurrenceKind::Diagonal
                                                : RecurrenceKind::Contraction;
      break;
    case Dependence::NonAffine:
      c.kind = RecurrenceKind::NonAffine;
      break;
    }
    carries.push_back(std::move(c));
  }
  detectOnlineSoftmax();

  // An output is a map over the states when every path from it back to an
  // old carry passes through a new carry's value.
  llvm::DenseSet<Value> newCarries(yield.getValues().begin(),
                                   yield.getValues().begin() + n);
  for (unsigned j = 0; j < scan.getNumOutputs(); ++j) {
    bool isMap = true;
    llvm::DenseSet<Value> seen;
    SmallVector<Value> stack{yield.getValues()[n + j]};
    while (!stack.empty() && isMap) {
      Value v = stack.pop_back_val();
      if (newCarries.contains(v) || !seen.insert(v).second)
        continue;
      if (auto arg = llvm::dyn_cast<BlockArgument>(v)) {
        if (arg.getOwner() == &body && arg.getArgNumber() > 0)
          isMap = false;
        continue;
      }
      Operation *def = v.getDefiningOp();
      if (!def || def->getBlock() != &body)
        continue;
      llvm::append_range(stack, def->getOperands());
      llvm::SetVector<Value> above;
      getUsedValuesDefinedAbove(def->getRegions(), above);
      llvm::append_range(stack, above);
    }
    outputIsMap.push_back(isMap);
  }
}

void RecurrenceAnalysis::analyzeOp(Operation *op) {
  unsigned n = scan.getNumCarries();
  SmallVector<Value> inputs(op->getOperands());
  llvm::SetVector<Value> above;
  getUsedValuesDefinedAbove(op->getRegions(), above);
  llvm::append_range(inputs, above);

  ValueDependence result;
  result.carries.resize(n);
  const ValueDependence *firstNonAffine = nullptr;
  bool allDiagonal = true;
  for (Value v : inputs) {
    const ValueDependence &d = lookup(v);
    result.carries |= d.carries;
    if (d.kind == Dependence::NonAffine && !firstNonAffine)
      firstNonAffine = &d;
    if (d.kind != Dependence::Free && d.kind != Dependence::Diagonal)
      allDiagonal = false;
  }
  auto setResults = [&](ValueDependence d) {
    for (Value r : op->getResults())
      values[r] = d;
  };
  auto nonAffine = [&](Operation *blame, std::string what) {
    result.kind = Dependence::NonAffine;
    result.blame = blame;
    result.what = std::move(what);
    setResults(result);
  };

  if (result.carries.none())
    return; // Free: not recorded.
  if (firstNonAffine) {
    nonAffine(firstNonAffine->blame, firstNonAffine->what);
    return;
  }

  if (auto linalgOp = llvm::dyn_cast<linalg::LinalgOp>(op)) {
    // Values captured by the payload from the body are not followed.
    for (Value v : above)
      if (lookup(v).kind != Dependence::Free)
        return nonAffine(op, "a carry-dependent value captured by `" +
                                 op->getName().getStringRef().str() + "`");
    Block *payload = linalgOp.getBlock();
    llvm::DenseSet<Value> linear;
    bool diagonal =
        allDiagonal && linalgOp.getNumLoops() == linalgOp.getNumParallelLoops();
    for (OpOperand &operand : op->getOpOperands()) {
      if (lookup(operand.get()).kind == Dependence::Free)
        continue;
      BlockArgument arg = linalgOp.getMatchingBlockArgument(&operand);
      if (arg.use_empty())
        continue;
      linear.insert(arg);
      // An init that the payload reads (an accumulator) is not elementwise
      // in the rewrite's sense even where its map is the identity.
      if (!linalgOp.getMatchingIndexingMap(&operand).isIdentity() ||
          linalgOp.isDpsInit(&operand))
        diagonal = false;
    }
    for (OpOperand &init : linalgOp.getDpsInitsMutable())
      if (!linalgOp.getMatchingIndexingMap(&init).isIdentity())
        diagonal = false;
    for (Operation &scalar : payload->without_terminator()) {
      bool reads = llvm::any_of(scalar.getOperands(),
                                [&](Value v) { return linear.contains(v); });
      if (!reads)
        continue;
      if (!isAffineScalarOp(&scalar,
                            [&](Value v) { return linear.contains(v); })) {
        std::string what = sourceCallee(op->getLoc());
        return nonAffine(op, what.empty() ? describeNonAffine(&scalar, op)
                                          : "`" + what + "`");
      }
      for (Value r : scalar.getResults())
        linear.insert(r);
    }
    result.kind = diagonal ? Dependence::Diagonal : Dependence::Linear;
    setResults(result);
    return;
  }

  // Ops that move or reshape elements are linear maps.
  if (llvm::isa<tensor::ExtractSliceOp, tensor::InsertSliceOp,
                tensor::ExpandShapeOp, tensor::CollapseShapeOp,
                tensor::ConcatOp, tensor::CastOp, tensor::ExtractOp,
                tensor::FromElementsOp>(op)) {
    result.kind = Dependence::Linear;
    setResults(result);
    return;
  }
  if (auto reshape = llvm::dyn_cast<tensor::ReshapeOp>(op)) {
    if (lookup(reshape.getShape()).kind == Dependence::Free) {
      result.kind = Dependence::Linear;
      setResults(result);
      return;
    }
  }
  if (llvm::isa<seq::SoftmaxOp>(op))
    return nonAffine(op, "`softmax`");
  std::string what = sourceCallee(op->getLoc());
  nonAffine(op, what.empty() ? "`" + op->getName().getStringRef().str() + "`"
                             : "`" + what + "`");
}

bool RecurrenceAnalysis::isDiagonal() const {
  return llvm::all_of(carries, [](const CarryRecurrence &c) {
    return c.kind == RecurrenceKind::Diagonal;
  });
}

std::string RecurrenceAnalysis::getCarryName(unsigned i) const {
  Location loc = scan.getCarryArgs()[i].getLoc();
  if (auto name = llvm::dyn_cast<NameLoc>(loc))
    return name.getName().str();
  return "#" + std::to_string(i);
}

std::string RecurrenceAnalysis::describe(unsigned i) const {
  const CarryRecurrence &c = carries[i];
  switch (c.kind) {
  case RecurrenceKind::Diagonal:
    return "affine (diagonal)";
  case RecurrenceKind::Contraction:
    return "affine through a contraction";
  case RecurrenceKind::Coupled: {
    llvm::SmallBitVector others = c.dependence.carries;
    others.reset(i);
    return "affine but reads carry '" + getCarryName(others.find_first()) +
           "' as well";
  }
  case RecurrenceKind::OnlineSoftmax:
    if (softmax && softmax->maxCarry == i)
      return "the running max of an online softmax";
    return "a sum rescaled by the running max '" +
           getCarryName(softmax->maxCarry) + "' of an online softmax";
  case RecurrenceKind::NonAffine: {
    std::string s = "not affine in the carries: " + c.dependence.what;
    std::string at = formatLocation(c.dependence.blame->getLoc());
    if (!at.empty())
      s += " at " + at;
    return s;
  }
  }
  llvm_unreachable("unknown recurrence kind");
}

//===----------------------------------------------------------------------===//
// Online softmax
//===----------------------------------------------------------------------===//

/// Whether `a` and `b` compute the same value: the same value, or results of
/// equivalent side-effect free ops of the same operands (two slices of one
/// tensor at the step, before CSE).
static bool sameValue(Value a, Value b) {
  if (a == b)
    return true;
  Operation *da = a.getDefiningOp(), *db = b.getDefiningOp();
  if (!da || !db || da->getNumRegions() || !isMemoryEffectFree(da) ||
      llvm::cast<OpResult>(a).getResultNumber() !=
          llvm::cast<OpResult>(b).getResultNumber())
    return false;
  return OperationEquivalence::isEquivalentTo(
      da, db, OperationEquivalence::exactValueMatch,
      OperationEquivalence::ignoreValueEquivalence,
      OperationEquivalence::IgnoreLocations);
}

/// Looks through a `tensor.expand_shape` that only adds unit dimensions.
static Value throughUnitExpand(Value v) {
  if (auto expand = v.getDefiningOp<tensor::ExpandShapeOp>()) {
    for (auto group : expand.getReassociationIndices()) {
      int64_t nonUnit = 0;
      for (int64_t d : group)
        if (expand.getResultType().getDimSize(d) != 1)
          ++nonUnit;
      if (nonUnit > 1)
        return v;
    }
    return expand.getSrc();
  }
  return v;
}

/// The map reading `v` (read through `map` in some iteration space) as the
/// source of the unit-dimension `tensor.expand_shape` it may be.
static AffineMap mapThroughUnitExpand(Value v, AffineMap map) {
  auto expand = v.getDefiningOp<tensor::ExpandShapeOp>();
  if (!expand || throughUnitExpand(v) == v)
    return map;
  SmallVector<AffineExpr> exprs;
  for (auto group : expand.getReassociationIndices()) {
    int64_t pick = group.front();
    for (int64_t d : group)
      if (expand.getResultType().getDimSize(d) != 1)
        pick = d;
    exprs.push_back(map.getResult(pick));
  }
  return AffineMap::get(map.getNumDims(), 0, exprs, v.getContext());
}

/// Matches `exp(a - max)` with `max` the value `newMax`; returns `a`.
static Value matchExpMinusMax(Value v, Value newMax) {
  auto e = matchElementwise<math::ExpOp>(throughUnitExpand(v));
  if (!e || !e->maps[0].isIdentity())
    return {};
  auto sub = matchElementwise<arith::SubFOp>(e->operands[0]);
  if (!sub || !sub->maps[0].isIdentity() || !sub->maps[1].isIdentity() ||
      sub->operands[1] != newMax)
    return {};
  return sub->operands[0];
}

void RecurrenceAnalysis::detectOnlineSoftmax() {
  auto yield = llvm::cast<seq::YieldOp>(scan.getBodyBlock().getTerminator());
  unsigned n = scan.getNumCarries();
  for (unsigned m = 0; m < n; ++m) {
    // m' = max(m, x), x free, elementwise.
    Value newMax = yield.getValues()[m];
    auto max = matchElementwise<arith::MaximumFOp, arith::MaxNumFOp>(newMax);
    if (!max || !max->maps[0].isIdentity() || !max->maps[1].isIdentity())
      continue;
    unsigned carryPos = 0;
    if (max->operands[1] == scan.getCarryArgs()[m])
      carryPos = 1;
    else if (max->operands[0] != scan.getCarryArgs()[m])
      continue;
    Value score = max->operands[1 - carryPos];
    if (lookup(score).kind != Dependence::Free)
      continue;

    // Every other carry: n' = n * exp(m - m') + [y *] exp(x - m').
    SmallVector<OnlineSoftmaxSum> sums;
    bool ok = true;
    for (unsigned k = 0; k < n && ok; ++k) {
      if (k == m)
        continue;
      auto add = matchElementwise<arith::AddFOp>(yield.getValues()[k]);
      ok = add && add->maps[0].isIdentity() && add->maps[1].isIdentity();
      if (!ok)
        break;
      OnlineSoftmaxSum sum;
      sum.carry = k;
      auto isRescaled = [&](Value term) {
        auto mul = matchElementwise<arith::MulFOp>(term);
        if (!mul)
          return false;
        for (unsigned side = 0; side < 2; ++side)
          if (mul->operands[side] == scan.getCarryArgs()[k] &&
              mul->maps[side].isIdentity() &&
              matchExpMinusMax(mul->operands[1 - side], newMax) ==
                  scan.getCarryArgs()[m]) {
            sum.maxMap = mapThroughUnitExpand(mul->operands[1 - side],
                                              mul->maps[1 - side]);
            return true;
          }
        return false;
      };
      auto isWeighted = [&](Value term) {
        Value a = matchExpMinusMax(term, newMax);
        if (a && sameValue(a, score) && term == throughUnitExpand(term))
          return true;
        auto mul = matchElementwise<arith::MulFOp>(term);
        if (!mul)
          return false;
        for (unsigned side = 0; side < 2; ++side) {
          Value w = matchExpMinusMax(mul->operands[1 - side], newMax);
          if (w && sameValue(w, score) &&
              lookup(mul->operands[side]).kind == Dependence::Free &&
              mapThroughUnitExpand(mul->operands[1 - side],
                                   mul->maps[1 - side]) == sum.maxMap) {
            sum.weight = mul->operands[side];
            sum.weightMap = mul->maps[side];
            return true;
          }
        }
        return false;
      };
      ok = (isRescaled(add->operands[0]) && isWeighted(add->operands[1])) ||
           (isRescaled(add->operands[1]) && isWeighted(add->operands[0]));
      if (ok)
        sums.push_back(sum);
    }
    if (!ok || sums.empty())
      continue;
    for (const OnlineSoftmaxSum &sum : sums)
      carries[sum.carry].kind = RecurrenceKind::OnlineSoftmax;
    softmax = OnlineSoftmax{m, std::move(sums), score};
    carries[m].kind = RecurrenceKind::OnlineSoftmax;
    return;
  }
}

/// Whether `v` is a fill of `-inf`.
bool seqc::isNegInfFill(Value v) {
  auto fill = v.getDefiningOp<linalg::FillOp>();
  FloatAttr value;
  return fill && matchPattern(fill.getInputs()[0], m_Constant(&value)) &&
         value.getValue().isInfinity() && value.getValue().isNegative();
}

/// The ops of `body` (in order) that `roots` need, not looking past the
/// values of `stop`; `leaves` gets the values of `stop` and the block
/// arguments of `body` that are reached.
SmallVector<Operation *> seqc::backwardSlice(Block &body, ValueRange roots,
                                             const llvm::DenseSet<Value> &stop,
                                             llvm::DenseSet<Value> &leaves) {
  llvm::DenseSet<Operation *> needed;
  llvm::DenseSet<Value> seen;
  SmallVector<Value> stack(roots.begin(), roots.end());
  while (!stack.empty()) {
    Value v = stack.pop_back_val();
    if (!seen.insert(v).second)
      continue;
    if (stop.contains(v)) {
      leaves.insert(v);
      continue;
    }
    if (auto arg = llvm::dyn_cast<BlockArgument>(v)) {
      if (arg.getOwner() == &body)
        leaves.insert(v);
      continue;
    }
    Operation *def = v.getDefiningOp();
    if (def->getBlock() != &body || !needed.insert(def).second)
      continue;
    llvm::append_range(stack, def->getOperands());
    llvm::SetVector<Value> above;
    getUsedValuesDefinedAbove(def->getRegions(), above);
    llvm::append_range(stack, above);
  }
  SmallVector<Operation *> ordered;
  for (Operation &op : body.without_terminator())
    if (needed.contains(&op))
      ordered.push_back(&op);
  return ordered;
}

SmallVector<Operation *> seqc::backwardSlice(Block &body, ValueRange roots) {
  llvm::DenseSet<Value> leaves;
  return backwardSlice(body, roots, {}, leaves);
}

Value seqc::emitThreadCount(OpBuilder &b, Location loc, ModuleOp module,
                            int64_t deviceThreads) {
  if (deviceThreads > 0)
    return arith::ConstantIndexOp::create(b, loc, deviceThreads);
  // An LLVM declaration: a func.func would get a C-interface wrapper.
  auto fn = module.lookupSymbol<LLVM::LLVMFuncOp>(kNumThreads);
  if (!fn) {
    OpBuilder top = OpBuilder::atBlockBegin(module.getBody());
    fn = LLVM::LLVMFuncOp::create(
        top, module.getLoc(), kNumThreads,
        LLVM::LLVMFunctionType::get(top.getI32Type(), {}));
  }
  return arith::IndexCastOp::create(
      b, loc, b.getIndexType(),
      LLVM::CallOp::create(b, loc, fn, ValueRange{}).getResult());
}

int64_t seqc::unrollTimeLoop(scf::ForOp loop, int64_t maxUnroll,
                             int64_t readBudget) {
  // Values read per step: the elements of the vectors and the scalars read
  // from tensors.
  int64_t reads = 0;
  loop.getBody()->walk([&](Operation *op) {
    if (auto read = dyn_cast<vector::TransferReadOp>(op))
      reads += read.getVectorType().getNumElements();
    else if (isa<tensor::ExtractOp>(op))
      reads += 1;
  });
  int64_t factor = 1;
  while (factor * 2 <= maxUnroll && factor * 2 * reads <= readBudget)
    factor *= 2;
  if (factor >= 2 && failed(loopUnrollByFactor(loop, factor)))
    factor = 1;
  // Reads first: every op of the body that has no memory effects (a read
  // of a tensor, index math) and whose operands are defined outside the
  // body or by ops already moved, in their order.
  Block *body = loop.getBody();
  llvm::SmallPtrSet<Operation *, 32> early;
  Operation *front = nullptr; // the last op moved
  for (Operation &op : llvm::make_early_inc_range(body->without_terminator())) {
    if (op.getNumRegions() != 0 || !isMemoryEffectFree(&op))
      continue;
    bool ready = llvm::all_of(op.getOperands(), [&](Value v) {
      if (auto arg = dyn_cast<BlockArgument>(v))
        return arg.getOwner() != body || arg == loop.getInductionVar();
      Operation *def = v.getDefiningOp();
      return def->getBlock() != body || early.contains(def);
    });
    if (!ready)
      continue;
    if (front)
      op.moveAfter(front);
    else
      op.moveBefore(body, body->begin());
    front = &op;
    early.insert(&op);
  }
  return factor;
}

void seqc::keepAsWrittenWhenShort(OpBuilder &b, seq::ScanOp scan,
                                  int64_t minLength) {
  Location loc = scan.getLoc();
  Value isShort = arith::CmpIOp::create(
      b, loc, arith::CmpIPredicate::ult, scan.getLength(),
      arith::ConstantIndexOp::create(b, loc, minLength));
  auto ifOp = scf::IfOp::create(b, loc, scan->getResultTypes(), isShort,
                                /*withElse=*/true);
  b.setInsertionPointToStart(&ifOp.getThenRegion().front());
  Operation *asWritten = b.clone(*scan);
  scf::YieldOp::create(b, loc, asWritten->getResults());
  b.setInsertionPointToStart(&ifOp.getElseRegion().front());
  auto yield = scf::YieldOp::create(b, loc, scan->getResults());
  for (auto [old, now] : llvm::zip(scan->getResults(), ifOp.getResults()))
    old.replaceAllUsesExcept(now, yield);
  scan->moveBefore(yield);
}
