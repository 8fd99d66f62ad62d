//===- SplitCarries.cpp - A running max off its scan ----------------------===//
//
// `seq-split-carries`: a carry `m` of a seq.scan whose update reads only
// itself and per-step values, `m' = max(m, x)` (a running max, as in an
// online softmax) or `m' = max(m + a, x)` (max-plus: mLSTM's stabiliser),
// is a scan of its own under an associative operator. It is computed first
// by a seq.assoc_scan, for every step; the other carries are scanned after
// it, reading `m_{t-1}` and `m_t` as per-step inputs. Their updates, which
// only rescaled by `exp(m - m')` and so read `m` non-linearly, are then
// affine with carry-free coefficients, and the recurrence forms
// (seq-chunkwise, seq-fuse-scan, seq-recurrence-to-scan) take them. Carries
// that no longer read each other are then split into scans of their own
// where one of them becomes a matrix state read by a contraction (the
// chunkwise form's), the outputs that combine them computed after from
// their stacked parts.
//
//===----------------------------------------------------------------------===//

#include "lowering/Passes.h"
#include "lowering/RecurrenceAnalysis.h"

#include "dialects/Seq/Seq.h"

#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/EquivalenceClasses.h"
#include "llvm/ADT/SetVector.h"

namespace seqc {
#define GEN_PASS_DEF_SEQSPLITCARRIES
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

/// The slice at `pos` of the time-leading `stackedValue`, of the type
/// `sliceType`, whose sizes are `sizes` (values defined before the scans).
static Value sliceAt(OpBuilder &b, Location loc, Value stackedValue,
                     OpFoldResult pos, ArrayRef<OpFoldResult> sizes,
                     Type sliceType) {
  SmallVector<OpFoldResult> allSizes{b.getIndexAttr(1)};
  llvm::append_range(allSizes, sizes);
  SmallVector<OpFoldResult> offsets(allSizes.size(), b.getIndexAttr(0));
  SmallVector<OpFoldResult> strides(allSizes.size(), b.getIndexAttr(1));
  offsets[0] = pos;
  return tensor::ExtractSliceOp::create(
      b, loc, llvm::cast<RankedTensorType>(sliceType), stackedValue, offsets,
      allSizes, strides);
}

/// The sizes of `v` (after its time dimension when `dropTime`), as values
/// and attributes made at the builder's insertion point.
static SmallVector<OpFoldResult> sizesOf(OpBuilder &b, Location loc, Value v,
                                         bool dropTime) {
  auto type = llvm::cast<RankedTensorType>(v.getType());
  SmallVector<OpFoldResult> sizes;
  for (int64_t d = dropTime ? 1 : 0; d < type.getRank(); ++d)
    sizes.push_back(tensor::getMixedSize(b, loc, v, d));
  return sizes;
}

/// Removes the ops of `block` whose results are unused, last first.
static void eraseDeadOps(Block &block) {
  for (Operation *op = block.getTerminator()->getPrevNode(); op;) {
    Operation *prev = op->getPrevNode();
    if (isOpTriviallyDead(op))
      op->erase();
    op = prev;
  }
}

/// Every value `op` reads: its operands and the values its regions capture.
static SmallVector<Value> readsOf(Operation *op) {
  SmallVector<Value> reads(op->getOperands());
  llvm::SetVector<Value> above;
  getUsedValuesDefinedAbove(op->getRegions(), above);
  llvm::append_range(reads, above);
  return reads;
}

//===----------------------------------------------------------------------===//
// The running max
//===----------------------------------------------------------------------===//

namespace {

/// A carry whose update is `m' = max(m [+ a], x)`, `a` and `x` free of the
/// carries, read through `shiftMap` and `scoreMap` in the iteration space
/// of `m` (so they may be broadcast).
struct RunningMax {
  unsigned carry;
  Value score;
  AffineMap scoreMap;
  /// `a` of max-plus, null for a plain running max.
  Value shift;
  AffineMap shiftMap;
  /// `maximumf` (NaN-propagating) rather than `maxnumf`, as written.
  bool propagatesNaN = false;
};

} // namespace

/// The first carry other than `self` in `carries`.
static unsigned otherCarry(const llvm::SmallBitVector &carries, unsigned self) {
  llvm::SmallBitVector others = carries;
  others.reset(self);
  return others.find_first();
}

/// Matches carry `i`'s update as a closed running max. A max of the carry
/// that is not closed sets `why` (the refusal), anything else is no
/// running max at all (empty `why`).
static std::optional<RunningMax>
matchRunningMax(const RecurrenceAnalysis &analysis, unsigned i,
                std::string &why) {
  seq::ScanOp scan = analysis.getScan();
  auto yield = llvm::cast<seq::YieldOp>(scan.getBodyBlock().getTerminator());
  Value newValue = yield.getValues()[i];
  Value carry = scan.getCarryArgs()[i];
  auto type = llvm::cast<RankedTensorType>(carry.getType());
  if (!llvm::isa<FloatType>(type.getElementType()))
    return std::nullopt;
  auto max = matchElementwise<arith::MaximumFOp, arith::MaxNumFOp>(newValue);
  if (!max || max->op.getResultTypes()[0] != type)
    return std::nullopt;
  const ValueDependence &d = analysis.lookup(newValue);
  if (!d.carries.test(i))
    return std::nullopt;
  auto isFree = [&](Value v) {
    return analysis.lookup(v).kind == Dependence::Free;
  };

  // One side is `m` or `m + a` (read elementwise), the other is free.
  for (unsigned side = 0; side < 2; ++side) {
    Value own = max->operands[side], other = max->operands[1 - side];
    if (!max->maps[side].isIdentity() || !isFree(other))
      continue;
    RunningMax rm;
    rm.carry = i;
    rm.score = other;
    rm.scoreMap = max->maps[1 - side];
    rm.propagatesNaN = llvm::isa<arith::MaximumFOp>(max->scalar);
    if (own == carry)
      return rm;
    auto add = matchElementwise<arith::AddFOp>(own);
    if (!add)
      continue;
    for (unsigned s = 0; s < 2; ++s)
      if (add->operands[s] == carry && add->maps[s].isIdentity() &&
          isFree(add->operands[1 - s])) {
        rm.shift = add->operands[1 - s];
        rm.shiftMap = add->maps[1 - s];
        return rm;
      }
  }
  std::string at = formatLocation(max->op.getLoc());
  if (d.carries.count() > 1)
    why = "its update reads carry '" +
          analysis.getCarryName(otherCarry(d.carries, i)) + "' as well";
  else
    why = "its update is a max of it, but not max(" + analysis.getCarryName(i) +
          ", x) or max(" + analysis.getCarryName(i) +
          " + a, x) with x and a free of the carries";
  if (!at.empty())
    why += " (`max` at " + at + ")";
  return std::nullopt;
}

/// `v` (read through `map` in the iteration space of a tensor shaped like
/// `like`) as a tensor of that shape: itself where the map is the identity.
static Value broadcastTo(OpBuilder &b, Location loc, Value v, AffineMap map,
                         Value like, ArrayRef<OpFoldResult> sizes) {
  auto type = llvm::cast<RankedTensorType>(like.getType());
  if (map.isIdentity() && v.getType() == type)
    return v;
  Value empty = tensor::EmptyOp::create(b, loc, sizes, type.getElementType());
  unsigned rank = type.getRank();
  return generic(
      b, loc, empty, v, {map, b.getMultiDimIdentityMap(rank)},
      SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel),
      [](OpBuilder &, Location, ValueRange args) { return args[0]; });
}

/// The max the model wrote: `maximumf` or `maxnumf`.
static Value maxOf(OpBuilder &b, Location loc, bool propagatesNaN, Value x,
                   Value y) {
  if (propagatesNaN)
    return arith::MaximumFOp::create(b, loc, x, y);
  return arith::MaxNumFOp::create(b, loc, x, y);
}

/// The combiner of the running max on slices typed `type`. A plain max is
/// `max(x1, x2)`. Max-plus steps are the maps `m -> max(m + a, b)`, which
/// compose (first `(a1, b1)`, then `(a2, b2)`) into
/// `m -> max(max(m + a1, b1) + a2, b2) = max(m + (a1 + a2), max(b1 + a2,
/// b2))`, since `+` distributes over max: the pair `(a1 + a2, max(b1 + a2,
/// b2))`.
static void buildMaxCombiner(OpBuilder &b, Location loc, seq::AssocScanOp op,
                             const RunningMax &rm, RankedTensorType type) {
  unsigned n = rm.shift ? 2 : 1;
  Block *block = b.createBlock(&op.getCombiner());
  for (unsigned i = 0; i < 2 * n; ++i)
    block->addArgument(type, loc);
  unsigned rank = type.getRank();
  Value empty = tensor::EmptyOp::create(
      b, loc, tensor::getMixedSizes(b, loc, block->getArgument(0)),
      type.getElementType());
  AffineMap id = b.getMultiDimIdentityMap(rank);
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  if (!rm.shift) {
    Value m = generic(b, loc, empty, block->getArguments(), {id, id, id}, iters,
                      [&](OpBuilder &nb, Location l, ValueRange args) {
                        return maxOf(nb, l, rm.propagatesNaN, args[0], args[1]);
                      });
    seq::YieldOp::create(b, loc, m);
    return;
  }
  auto generic2 = linalg::GenericOp::create(
      b, loc, TypeRange{type, type}, block->getArguments(),
      ValueRange{empty, empty}, SmallVector<AffineMap>(6, id), iters,
      [&](OpBuilder &nb, Location l, ValueRange args) {
        Value a1 = args[0], b1 = args[1], a2 = args[2], b2 = args[3];
        Value a = arith::AddFOp::create(nb, l, a1, a2);
        Value shifted = arith::AddFOp::create(nb, l, b1, a2);
        Value m = maxOf(nb, l, rm.propagatesNaN, shifted, b2);
        linalg::YieldOp::create(nb, l, ValueRange{a, m});
      });
  seq::YieldOp::create(b, loc, generic2.getResults());
}

/// Splits the running max `rm` off its scan: returns the scan of the other
/// carries, which reads `m_{t-1}` and `m_t` as per-step inputs.
static seq::ScanOp splitRunningMax(OpBuilder &b,
                                   const RecurrenceAnalysis &analysis,
                                   const RunningMax &rm) {
  seq::ScanOp scan = analysis.getScan();
  Location loc = scan.getLoc();
  Block &body = scan.getBodyBlock();
  auto yield = llvm::cast<seq::YieldOp>(body.getTerminator());
  Value length = scan.getLength();
  int64_t time = ShapedType::kDynamic;
  if (std::optional<int64_t> c = getConstantIntValue(length))
    time = *c;
  Value m0 = scan.getInits()[rm.carry];
  auto mType = llvm::cast<RankedTensorType>(m0.getType());
  unsigned rank = mType.getRank();
  RankedTensorType mStacked = stacked(mType, time);

  b.setInsertionPoint(scan);
  SmallVector<OpFoldResult> mSizes = sizesOf(b, loc, m0, /*dropTime=*/false);

  // 1. Every step's elements, free of the carries: (a_t,) x_t, broadcast to
  // the shape of m.
  unsigned nElems = rm.shift ? 2 : 1;
  auto elems = seq::ScanOp::create(
      b, loc, SmallVector<Type>(nElems, mStacked), length, ValueRange{},
      /*reverse=*/false, SmallVector<int64_t>(nElems, 0));
  {
    OpBuilder::InsertionGuard guard(b);
    Block *block = b.createBlock(&elems.getBody());
    block->addArgument(b.getIndexType(), loc);
    IRMapping map;
    map.map(scan.getStepArg(), block->getArgument(0));
    SmallVector<Value> roots{rm.score};
    if (rm.shift)
      roots.push_back(rm.shift);
    llvm::DenseSet<Value> leaves;
    for (Operation *op : backwardSlice(body, roots, {}, leaves))
      b.clone(*op, map);
    SmallVector<Value> yields;
    if (rm.shift)
      yields.push_back(broadcastTo(b, loc, map.lookupOrDefault(rm.shift),
                                   rm.shiftMap, m0, mSizes));
    yields.push_back(broadcastTo(b, loc, map.lookupOrDefault(rm.score),
                                 rm.scoreMap, m0, mSizes));
    seq::YieldOp::create(b, loc, yields);
  }

  // 2. The inclusive scan: S_t = max(x_1..x_t), or for max-plus the pair
  // (A_t, B_t) with m_t = max(m_0 + A_t, B_t).
  auto assoc = seq::AssocScanOp::create(b, loc, elems.getResults(),
                                        /*axis=*/0, /*reverse=*/false);
  {
    OpBuilder::InsertionGuard guard(b);
    buildMaxCombiner(b, loc, assoc, rm, mType);
  }

  // 3. The initial value folded in: m_t = max(m_0, S_t), or
  // max(m_0 + A_t, B_t); nothing to fold when m_0 = -inf, the identity.
  Value states = assoc.getResults().back();
  if (!isNegInfFill(m0)) {
    SmallVector<AffineExpr> dropTime;
    for (unsigned d = 1; d <= rank; ++d)
      dropTime.push_back(b.getAffineDimExpr(d));
    AffineMap initMap = AffineMap::get(rank + 1, 0, dropTime, b.getContext());
    AffineMap id = b.getMultiDimIdentityMap(rank + 1);
    SmallVector<Value> inputs(assoc.getResults());
    inputs.push_back(m0);
    SmallVector<AffineMap> maps(nElems, id);
    maps.push_back(initMap);
    maps.push_back(id);
    Value empty = tensor::EmptyOp::create(
        b, loc, sizesOf(b, loc, states, false), mType.getElementType());
    states =
        generic(b, loc, empty, inputs, maps,
                SmallVector<utils::IteratorType>(rank + 1,
                                                 utils::IteratorType::parallel),
                [&](OpBuilder &nb, Location l, ValueRange args) {
                  Value init = args[nElems];
                  if (rm.shift)
                    init = arith::AddFOp::create(nb, l, init, args[0]);
                  return maxOf(nb, l, rm.propagatesNaN, init, args[nElems - 1]);
                });
  }

  // 4. All of m in one tensor of T + 1 steps, m_0 first: the steps before
  // (m_{t-1}) are its first T, the final carry its last; no case for T = 0.
  // A constant length stays an attribute, so the slices keep static types.
  OpFoldResult steps = getAsOpFoldResult(length);
  OpFoldResult stepsPlusOne = b.getIndexAttr(time + 1);
  if (ShapedType::isDynamic(time))
    stepsPlusOne =
        arith::AddIOp::create(b, loc, length,
                              arith::ConstantIndexOp::create(b, loc, 1))
            .getResult();
  SmallVector<OpFoldResult> allSizes{stepsPlusOne};
  llvm::append_range(allSizes, mSizes);
  Value all = tensor::EmptyOp::create(b, loc, allSizes, mType.getElementType());
  SmallVector<OpFoldResult> zeros(rank + 1, b.getIndexAttr(0));
  SmallVector<OpFoldResult> ones(rank + 1, b.getIndexAttr(1));
  SmallVector<OpFoldResult> firstSizes{b.getIndexAttr(1)};
  llvm::append_range(firstSizes, mSizes);
  all = tensor::InsertSliceOp::create(b, loc, m0, all, zeros, firstSizes, ones);
  SmallVector<OpFoldResult> restOffsets = zeros;
  restOffsets[0] = b.getIndexAttr(1);
  SmallVector<OpFoldResult> restSizes{steps};
  llvm::append_range(restSizes, mSizes);
  all = tensor::InsertSliceOp::create(b, loc, states, all, restOffsets,
                                      restSizes, ones);
  Value before = tensor::ExtractSliceOp::create(b, loc, mStacked, all, zeros,
                                                restSizes, ones);
  Value finalMax = sliceAt(b, loc, all, steps, mSizes, mType);

  // 5. The other carries and every output, with m_{t-1} for the old m and
  // m_t for its new value: the max op itself is dead then.
  SmallVector<Value> otherInits;
  SmallVector<Type> restTypes;
  for (auto [i, init] : llvm::enumerate(scan.getInits()))
    if (i != rm.carry) {
      otherInits.push_back(init);
      restTypes.push_back(init.getType());
    }
  llvm::append_range(restTypes, scan.getStackedOutputs().getTypes());
  auto rest = seq::ScanOp::create(b, loc, restTypes, length, otherInits,
                                  /*reverse=*/false, scan.getOutputAxes());
  {
    OpBuilder::InsertionGuard guard(b);
    Block *block = b.createBlock(&rest.getBody());
    IRMapping map;
    map.map(scan.getStepArg(), block->addArgument(b.getIndexType(), loc));
    for (auto [i, arg] : llvm::enumerate(scan.getCarryArgs()))
      if (i != rm.carry)
        map.map(arg, block->addArgument(arg.getType(), arg.getLoc()));
    Value t = block->getArgument(0);
    map.map(scan.getCarryArgs()[rm.carry],
            sliceAt(b, loc, before, t, mSizes, mType));
    Value newMax = yield.getValues()[rm.carry];
    Value current = sliceAt(b, loc, states, t, mSizes, mType);
    map.map(newMax, current);
    for (Operation &op : body.without_terminator()) {
      b.clone(op, map);
      // The max as scanned, not as recomputed from m_{t-1}: both are m_t,
      // but rescalings `exp(m_{t-1} - m_t)` telescope exactly only over one
      // sequence of maxima.
      map.map(newMax, current);
    }
    SmallVector<Value> yields;
    for (auto [i, v] : llvm::enumerate(yield.getValues()))
      if (i != rm.carry)
        yields.push_back(map.lookupOrDefault(v));
    seq::YieldOp::create(b, loc, yields);
    eraseDeadOps(*block);
  }

  SmallVector<Value> results;
  unsigned next = 0;
  for (unsigned i = 0; i < scan.getNumCarries(); ++i)
    results.push_back(i == rm.carry ? finalMax : rest.getResult(next++));
  llvm::append_range(results,
                     rest.getResults().drop_front(scan.getNumCarries() - 1));
  scan->replaceAllUsesWith(results);
  scan->erase();
  return rest;
}

//===----------------------------------------------------------------------===//
// Independent carries
//===----------------------------------------------------------------------===//

/// Splits `scan` into one scan per group of carries that read each other
/// (each with the per-step values of its group that the outputs read, at
/// time axis 0) and a carry-free scan computing the outputs that combine
/// several groups from those values. Returns the number of groups (1: the
/// scan is left as is).
static unsigned splitIndependentCarries(OpBuilder &b, seq::ScanOp scan) {
  unsigned n = scan.getNumCarries();
  if (n < 2)
    return 1;
  RecurrenceAnalysis analysis(scan);
  Block &body = scan.getBodyBlock();
  auto yield = llvm::cast<seq::YieldOp>(body.getTerminator());

  llvm::EquivalenceClasses<unsigned> classes;
  for (unsigned i = 0; i < n; ++i) {
    classes.insert(i);
    for (unsigned j : analysis.lookup(yield.getValues()[i]).carries.set_bits())
      classes.unionSets(i, j);
  }
  SmallVector<unsigned> groupOf(n);
  SmallVector<unsigned> leaders;
  for (unsigned i = 0; i < n; ++i) {
    unsigned leader = classes.getLeaderValue(i);
    auto *it = llvm::find(leaders, leader);
    groupOf[i] = it - leaders.begin();
    if (it == leaders.end())
      leaders.push_back(leader);
  }
  unsigned nGroups = leaders.size();
  if (nGroups < 2)
    return 1;
  auto groupsOf = [&](Value v) {
    llvm::SmallBitVector g(nGroups);
    for (unsigned c : analysis.lookup(v).carries.set_bits())
      g.set(groupOf[c]);
    return g;
  };

  // The cuts: values of one group read by an op that combines several. An
  // output of one group is its group's; the others are computed after.
  SmallVector<llvm::SetVector<Value>> cuts(nGroups);
  SmallVector<SmallVector<unsigned>> ownOutputs(nGroups);
  SmallVector<unsigned> combined;
  for (Operation &op : body.without_terminator()) {
    if (op.getNumResults() == 0 || groupsOf(op.getResult(0)).count() < 2)
      continue;
    for (Value v : readsOf(&op)) {
      llvm::SmallBitVector g = groupsOf(v);
      if (g.count() != 1)
        continue;
      // Before a reshape (`den[:, :, None]`), which the scan after redoes:
      // the group's scan then yields the value as its ops computed it (a
      // carry, a readout), the form seq-fuse-scan takes.
      while (Operation *def = v.getDefiningOp()) {
        if (!llvm::isa<tensor::ExpandShapeOp, tensor::CollapseShapeOp>(def))
          break;
        v = def->getOperand(0);
      }
      cuts[g.find_first()].insert(v);
    }
  }
  for (unsigned j = 0; j < scan.getNumOutputs(); ++j) {
    llvm::SmallBitVector g = groupsOf(yield.getValues()[n + j]);
    if (g.count() == 1)
      ownOutputs[g.find_first()].push_back(j);
    else
      combined.push_back(j);
  }
  for (auto &groupCuts : cuts)
    for (Value v : groupCuts)
      if (!llvm::isa<RankedTensorType>(v.getType()))
        return 1;

  // Only where it makes a scan seq-chunkwise takes: one matrix carry whose
  // new value a contraction reads (mLSTM's C and `q C`). Otherwise the
  // parts' per-step values (Aaren's `num`, `[T, B, H, V]`) would be stored
  // and read again, where the scan as it is keeps them in cache.
  auto feedsContraction = [&](unsigned g) {
    SmallVector<unsigned> carries;
    for (unsigned i = 0; i < n; ++i)
      if (groupOf[i] == g)
        carries.push_back(i);
    if (carries.size() != 1 ||
        llvm::cast<RankedTensorType>(scan.getInits()[carries[0]].getType())
                .getRank() < 2)
      return false;
    Value newValue = yield.getValues()[carries[0]];
    return llvm::any_of(newValue.getUsers(), [&](Operation *user) {
      auto linalgOp = llvm::dyn_cast<linalg::LinalgOp>(user);
      return linalgOp && linalgOp.getNumReductionLoops() > 0;
    });
  };
  if (llvm::none_of(llvm::seq(nGroups), feedsContraction))
    return 1;

  Location loc = scan.getLoc();
  Value length = scan.getLength();
  int64_t time = ShapedType::kDynamic;
  if (std::optional<int64_t> c = getConstantIntValue(length))
    time = *c;
  b.setInsertionPoint(scan);
  SmallVector<Value> results(scan->getNumResults());
  llvm::DenseMap<Value, Value> stackedCuts;
  ArrayRef<int64_t> axes = scan.getOutputAxes();
  for (unsigned g = 0; g < nGroups; ++g) {
    SmallVector<unsigned> carries;
    SmallVector<Value> inits, roots;
    SmallVector<Type> types;
    SmallVector<int64_t> groupAxes;
    for (unsigned i = 0; i < n; ++i)
      if (groupOf[i] == g) {
        carries.push_back(i);
        inits.push_back(scan.getInits()[i]);
        types.push_back(inits.back().getType());
        roots.push_back(yield.getValues()[i]);
      }
    for (unsigned j : ownOutputs[g]) {
      types.push_back(scan.getResult(n + j).getType());
      groupAxes.push_back(axes[j]);
      roots.push_back(yield.getValues()[n + j]);
    }
    for (Value v : cuts[g]) {
      types.push_back(stacked(v.getType(), time));
      groupAxes.push_back(0);
      roots.push_back(v);
    }
    auto part = seq::ScanOp::create(b, loc, types, length, inits,
                                    /*reverse=*/scan.getReverse(), groupAxes);
    {
      OpBuilder::InsertionGuard guard(b);
      Block *block = b.createBlock(&part.getBody());
      IRMapping map;
      map.map(scan.getStepArg(), block->addArgument(b.getIndexType(), loc));
      for (unsigned i : carries) {
        BlockArgument arg = scan.getCarryArgs()[i];
        map.map(arg, block->addArgument(arg.getType(), arg.getLoc()));
      }
      llvm::DenseSet<Value> leaves;
      for (Operation *op : backwardSlice(body, roots, {}, leaves))
        b.clone(*op, map);
      SmallVector<Value> yields;
      for (Value v : roots)
        yields.push_back(map.lookupOrDefault(v));
      seq::YieldOp::create(b, loc, yields);
    }
    unsigned r = 0;
    for (unsigned i : carries)
      results[i] = part.getResult(r++);
    for (unsigned j : ownOutputs[g])
      results[n + j] = part.getResult(r++);
    for (Value v : cuts[g])
      stackedCuts[v] = part.getResult(r++);
  }

  if (!combined.empty()) {
    SmallVector<Value> roots;
    SmallVector<Type> types;
    SmallVector<int64_t> combinedAxes;
    for (unsigned j : combined) {
      roots.push_back(yield.getValues()[n + j]);
      types.push_back(scan.getResult(n + j).getType());
      combinedAxes.push_back(axes[j]);
    }
    llvm::DenseSet<Value> stop, leaves;
    for (auto &[v, s] : stackedCuts)
      stop.insert(v);
    SmallVector<Operation *> ops = backwardSlice(body, roots, stop, leaves);
    // The parts it reads, in the groups' order, and their sizes before the
    // scan.
    SmallVector<Value> reads;
    llvm::DenseMap<Value, SmallVector<OpFoldResult>> sizes;
    for (auto &groupCuts : cuts)
      for (Value v : groupCuts)
        if (leaves.contains(v)) {
          reads.push_back(v);
          sizes[v] = sizesOf(b, loc, stackedCuts[v], /*dropTime=*/true);
        }
    auto after = seq::ScanOp::create(b, loc, types, length, ValueRange{},
                                     scan.getReverse(), combinedAxes);
    OpBuilder::InsertionGuard guard(b);
    Block *block = b.createBlock(&after.getBody());
    Value t = block->addArgument(b.getIndexType(), loc);
    IRMapping map;
    map.map(scan.getStepArg(), t);
    for (Value v : reads)
      map.map(v, sliceAt(b, loc, stackedCuts[v], t, sizes[v], v.getType()));
    for (Operation *op : ops)
      b.clone(*op, map);
    SmallVector<Value> yields;
    for (Value v : roots)
      yields.push_back(map.lookupOrDefault(v));
    seq::YieldOp::create(b, loc, yields);
    for (auto [k, j] : llvm::enumerate(combined))
      results[n + j] = after.getResult(k);
  }
  scan->replaceAllUsesWith(results);
  scan->erase();
  return nGroups;
}

//===----------------------------------------------------------------------===//
// The pass
//===----------------------------------------------------------------------===//

namespace {

struct SeqSplitCarriesPass
    : seqc::impl::SeqSplitCarriesBase<SeqSplitCarriesPass> {
  using Base::Base;

  void runOnOperation() override {
    // Remarks once per scan: the scans are visited by a walk.
    SmallVector<seq::ScanOp> scans;
    getOperation()->walk([&](seq::ScanOp scan) { scans.push_back(scan); });
    for (seq::ScanOp scan : scans)
      if (scan.getNumCarries() > 0)
        run(scan);
  }

  void run(seq::ScanOp scan) {
    RecurrenceAnalysis analysis(scan);
    std::optional<RunningMax> found;
    for (unsigned i = 0; i < scan.getNumCarries() && !found; ++i) {
      std::string why;
      found = matchRunningMax(analysis, i, why);
      if (!found && !why.empty())
        emitRemark(scan.getLoc()) << "running max '" << analysis.getCarryName(i)
                                  << "' not split off: " << why;
    }
    if (!found)
      return;
    std::string name = analysis.getCarryName(found->carry);
    if (scan.getReverse()) {
      emitRemark(scan.getLoc()) << "running max '" << name
                                << "' not split off: the scan runs in reverse";
      return;
    }
    SmallVector<std::string> others;
    for (unsigned i = 0; i < scan.getNumCarries(); ++i)
      if (i != found->carry)
        others.push_back(analysis.getCarryName(i));

    OpBuilder b(scan);
    // A dynamic length shorter than `min-length` (a step decoding one token)
    // would pay the max scan's passes for a few steps: it runs the scan as
    // written instead.
    bool dynamic = !getConstantIntValue(scan.getLength()).has_value();
    if (minLength > 0 && dynamic)
      keepAsWrittenWhenShort(b, scan, minLength);
    seq::ScanOp rest = splitRunningMax(b, analysis, *found);
    InFlightDiagnostic remark = emitRemark(rest.getLoc());
    remark << "split the running max '" << name << "' off as a parallel "
           << (found->shift ? "max-plus scan (max(" + name + " + a, x))"
                            : "max scan (max(" + name + ", x))");
    if (minLength > 0 && dynamic)
      remark << ", for lengths of " << static_cast<int64_t>(minLength)
             << " and more (chosen at run time)";
    if (rest.getNumCarries() == 0)
      return;
    RecurrenceAnalysis after(rest);
    remark << ";";
    for (unsigned i = 0; i < rest.getNumCarries(); ++i)
      remark << (i ? ", '" : " '") << others[i] << "': " << after.describe(i);
    unsigned groups = splitIndependentCarries(b, rest);
    if (groups > 1)
      remark << "; in " << groups << " scans of their own";
  }
};

} // namespace
