//===- LowerAssocScan.cpp - seq.assoc_scan to vector loops, chunked -------===//
//
// `seq-lower-assoc-scan`: a `seq.assoc_scan` along axis 0 whose combiner is
// elementwise (a DAG of all-parallel, identity-map `linalg.generic`s over
// its slices) becomes loops over the inputs seen as `[T, C]` (the channels
// C: every axis but time, collapsed). The running value lives in a vector
// of `vector-width` channels and walks time sequentially; tasks of
// `channels-per-task` channels run in parallel (`seq.parallel` loops).
// When the channels are too few to give every thread a task, time is split
// into K chunks as well: a parallel reduction of every chunk but the last,
// a sequential scan of the K - 1 chunk totals, and a parallel rescan of
// each chunk from the total before it. K is chosen at run time from the
// pool's size (`seqrt_num_threads`), C and T. Other assoc_scans are left to
// `convert-seq-to-scf`.
//
//===----------------------------------------------------------------------===//

#include "lowering/Passes.h"
#include "lowering/RecurrenceAnalysis.h"

#include "dialects/Seq/Seq.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/ValueBoundsOpInterface.h"

#include <functional>

namespace seqc {
#define GEN_PASS_DEF_SEQLOWERASSOCSCAN
#include "lowering/Passes.h.inc"
} // namespace seqc

using namespace mlir;
using namespace seqc;


/// Whether `g`'s payload is a function of its inputs' elements alone: it
/// reads no output, and its ops are pure, region-free and not
/// `linalg.index`.
static bool hasScalarPayload(linalg::GenericOp g) {
  Block &payload = g.getRegion().front();
  for (BlockArgument out :
       payload.getArguments().drop_front(g.getNumDpsInputs()))
    if (!out.use_empty())
      return false;
  return llvm::all_of(payload.without_terminator(), [](Operation &p) {
    return p.getNumRegions() == 0 && isPure(&p) &&
           !llvm::isa<linalg::IndexOp>(p);
  });
}

/// Whether `combiner` computes its results channel by channel: its ops are
/// `tensor.empty`, `tensor.dim`, scalar constants and all-parallel `linalg.generic`s with
/// identity maps whose payloads are single-result, region-free pure ops on
/// scalars (no `linalg.index`, outputs not read), and it yields what they
/// compute or its arguments.
static LogicalResult checkElementwise(seq::AssocScanOp op) {
  Block &combiner = op.getCombinerBlock();
  for (Operation &o : combiner.without_terminator()) {
    if (llvm::isa<tensor::EmptyOp, tensor::DimOp>(o))
      continue;
    if (auto c = llvm::dyn_cast<arith::ConstantOp>(o)) {
      if (llvm::isa<ShapedType>(c.getType()))
        return failure();
      continue;
    }
    auto generic = llvm::dyn_cast<linalg::GenericOp>(o);
    if (!generic || generic.getNumReductionLoops() != 0 ||
        !llvm::all_of(generic.getIndexingMapsArray(),
                      [](AffineMap m) { return m.isIdentity(); }))
      return failure();
    for (Value in : generic.getDpsInputs())
      if (!llvm::isa<RankedTensorType>(in.getType()))
        return failure();
    if (!hasScalarPayload(generic))
      return failure();
    for (Operation &p : generic.getRegion().front().without_terminator()) {
      if (p.getNumResults() != 1)
        return failure();
      for (Type t : p.getResultTypes())
        if (!t.isIntOrIndexOrFloat())
          return failure();
    }
  }
  return success();
}

namespace {

/// Emits the combiner of an elementwise assoc_scan on vectors of channels.
struct VectorCombiner {
  mutable seq::AssocScanOp op;
  int64_t width;

  /// `combine(lhs, rhs)`, each one vector per input.
  SmallVector<Value> emit(OpBuilder &b, Location loc, ValueRange lhs,
                          ValueRange rhs) const {
    Block &combiner = op.getCombinerBlock();
    unsigned n = op.getNumInputs();
    IRMapping vectors; // tensor value of the combiner -> vector
    for (unsigned k = 0; k < n; ++k) {
      vectors.map(combiner.getArgument(k), lhs[k]);
      vectors.map(combiner.getArgument(n + k), rhs[k]);
    }
    IRMapping scalars; // constants of the combiner, cloned
    auto broadcast = [&](Value scalar) -> Value {
      auto type = VectorType::get({width}, scalar.getType());
      return vector::BroadcastOp::create(b, loc, type, scalar);
    };
    for (Operation &o : combiner.without_terminator()) {
      if (auto c = llvm::dyn_cast<arith::ConstantOp>(o)) {
        b.clone(o, scalars);
        continue;
      }
      auto generic = llvm::dyn_cast<linalg::GenericOp>(o);
      if (!generic)
        continue;
      Block &payload = generic.getRegion().front();
      IRMapping inner;
      for (auto [arg, in] :
           llvm::zip(payload.getArguments(), generic.getDpsInputs()))
        inner.map(arg, vectors.lookup(in));
      for (Operation &p : payload.without_terminator()) {
        SmallVector<Value> operands;
        for (Value v : p.getOperands()) {
          if (Value m = inner.lookupOrNull(v))
            operands.push_back(m);
          else
            operands.push_back(broadcast(scalars.lookupOrDefault(v)));
        }
        if (llvm::isa<arith::ConstantOp>(p)) {
          inner.map(p.getResult(0), broadcast(b.clone(p)->getResult(0)));
          continue;
        }
        OperationState state(loc, p.getName(), operands,
                             {VectorType::get({width},
                                              p.getResult(0).getType())},
                             p.getAttrs());
        inner.map(p.getResult(0), b.create(state)->getResult(0));
      }
      auto yield = llvm::cast<linalg::YieldOp>(payload.getTerminator());
      for (auto [res, v] : llvm::zip(generic.getResults(), yield.getValues()))
        vectors.map(res, inner.lookupOrNull(v)
                             ? inner.lookup(v)
                             : broadcast(scalars.lookupOrDefault(v)));
    }
    SmallVector<Value> out;
    for (Value v :
         llvm::cast<seq::YieldOp>(combiner.getTerminator()).getValues())
      out.push_back(vectors.lookup(v));
    return out;
  }
};

/// Reads of an assoc_scan input at one point that look through its
/// producers, for the one-channel (vector width 1) form: a unit-stride
/// `tensor.extract_slice` offsets the indices; an all-parallel
/// `linalg.generic` whose maps are projected permutations (a transpose, a
/// broadcast, an elementwise sum) has its payload computed at the point
/// from reads of its own inputs; a `linalg.fill` or a splat constant is its
/// value. The recurrences' chunked form makes its inputs time-major through
/// such generics (`a[:, t]` stacked over t is a transpose of a): read
/// through, they are never written, and go away unused.
struct ProducerReader {
  OpBuilder &b;
  Location loc;

  Value read(Value v, ArrayRef<Value> idx, int depth = 0) {
    if (depth < 8) {
      if (auto fill = v.getDefiningOp<linalg::FillOp>())
        return fill.getInputs()[0];
      DenseElementsAttr splat;
      if (matchPattern(v, m_Constant(&splat)) && splat.isSplat())
        return arith::ConstantOp::create(
            b, loc, splat.getSplatValue<TypedAttr>());
      if (auto slice = v.getDefiningOp<tensor::ExtractSliceOp>())
        if (Value r = throughSlice(slice, idx, depth))
          return r;
      if (auto generic = v.getDefiningOp<linalg::GenericOp>())
        if (Value r = throughGeneric(generic, llvm::cast<OpResult>(v), idx,
                                     depth))
          return r;
    }
    return tensor::ExtractOp::create(b, loc, v, idx);
  }

  Value throughSlice(tensor::ExtractSliceOp slice, ArrayRef<Value> idx,
                     int depth) {
    if (slice.getSourceType().getRank() != slice.getType().getRank() ||
        !llvm::all_of(slice.getMixedStrides(),
                      [](OpFoldResult f) { return isConstantIntValue(f, 1); }))
      return Value();
    SmallVector<Value> at;
    for (auto [i, off] : llvm::zip(idx, slice.getMixedOffsets()))
      at.push_back(isConstantIntValue(off, 0)
                       ? i
                       : arith::AddIOp::create(
                             b, loc, i,
                             getValueOrCreateConstantIndexOp(b, loc, off)));
    return read(slice.getSource(), at, depth + 1);
  }

  Value throughGeneric(linalg::GenericOp g, OpResult result,
                       ArrayRef<Value> idx, int depth) {
    if (!g.hasPureTensorSemantics() ||
        g.getNumLoops() != g.getNumParallelLoops() ||
        !g.getIndexingMapMatchingResult(result).isIdentity())
      return Value();
    if (!hasScalarPayload(g))
      return Value();
    Block &payload = g.getRegion().front();
    for (OpOperand *in : g.getDpsInputOperands())
      if (llvm::isa<RankedTensorType>(in->get().getType()) &&
          !g.getMatchingIndexingMap(in).isProjectedPermutation())
        return Value();
    // Only what the result needs: an input read, a payload op cloned, on
    // first use (an unused read would still be a load, and count against
    // the time loop's unrolling).
    IRMapping inner;
    std::function<Value(Value)> emit = [&](Value v) -> Value {
      if (Value done = inner.lookupOrNull(v))
        return done;
      if (auto arg = llvm::dyn_cast<BlockArgument>(v)) {
        if (arg.getOwner() != &payload)
          return v;
        OpOperand *in = g.getDpsInputOperand(arg.getArgNumber());
        Value r = in->get();
        if (llvm::isa<RankedTensorType>(r.getType())) {
          SmallVector<Value> at;
          for (AffineExpr e : g.getMatchingIndexingMap(in).getResults())
            at.push_back(idx[llvm::cast<AffineDimExpr>(e).getPosition()]);
          r = read(r, at, depth + 1);
        }
        inner.map(v, r);
        return r;
      }
      Operation *def = v.getDefiningOp();
      if (def->getBlock() != &payload)
        return v;
      for (Value operand : def->getOperands())
        emit(operand);
      b.clone(*def, inner);
      return inner.lookup(v);
    };
    auto yield = llvm::cast<linalg::YieldOp>(payload.getTerminator());
    return emit(yield.getValues()[result.getResultNumber()]);
  }
};

/// Builds the loops for one assoc_scan.
struct ScanBuilder {
  OpBuilder &b;
  Location loc;
  VectorCombiner combine;
  int64_t width;
  bool reverse;
  /// [T, C] each; with readThroughProducers the inputs as the op has them.
  SmallVector<Value> inputs = {};
  Value length = {}, channels = {}; // T, C
  /// With one channel a vector the inputs are read through their producers
  /// (ProducerReader) at (t, the channel's point); the sizes of their
  /// channel axes.
  SmallVector<Value> channelSizes = {};
  bool readThroughProducers = false;
  /// Per input, where its results go when they are written straight into a
  /// consumer's permuted layout (see findSink): result axis m is axis
  /// `place[m]` of the destination. Empty: the [T, C] matrix.
  SmallVector<SmallVector<int64_t>> sinkPlace = {};

  Value cst(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }

  /// The time index of scan position `i` (positions count in scan order).
  Value physical(Value i) {
    if (!reverse)
      return i;
    Value last = arith::SubIOp::create(b, loc, length, cst(1));
    return arith::SubIOp::create(b, loc, last, i);
  }

  VectorType vectorType(Value t) {
    return VectorType::get({width}, getElementTypeOrSelf(t.getType()));
  }

  /// The lanes of the vector of channels at `c` that are channels (null
  /// for one-lane vectors: `c` is a channel).
  Value maskAt(Value c) {
    if (width == 1)
      return Value();
    Value rest = arith::SubIOp::create(b, loc, channels, c);
    return vector::CreateMaskOp::create(
        b, loc, VectorType::get({width}, b.getI1Type()), ValueRange{rest});
  }

  /// One vector of channels at `c` (lanes `mask`) of row `row` of each of
  /// `tensors`.
  SmallVector<Value> read(ValueRange tensors, Value row, Value c, Value mask) {
    SmallVector<Value> vs;
    for (Value t : tensors) {
      Type elt = getElementTypeOrSelf(t.getType());
      Value pad = arith::ConstantOp::create(b, loc, b.getZeroAttr(elt));
      vs.push_back(vector::TransferReadOp::create(
          b, loc, vectorType(t), t, ValueRange{row, c},
          AffineMap::getMinorIdentityMap(2, 1, b.getContext()), pad, mask,
          b.getBoolArrayAttr({true})));
    }
    return vs;
  }

  /// Writes `vs` at `c` (lanes `mask`) of row `row` of `tensors` (null: not
  /// written).
  SmallVector<Value> write(ValueRange vs, ValueRange tensors, Value row,
                           Value c, Value mask) {
    SmallVector<Value> out;
    for (auto [v, t] : llvm::zip(vs, tensors))
      out.push_back(t ? vector::TransferWriteOp::create(
                            b, loc, t.getType(), v, t, ValueRange{row, c},
                            AffineMap::getMinorIdentityMap(2, 1,
                                                           b.getContext()),
                            mask, b.getBoolArrayAttr({true}))
                            .getResult()
                      : t);
    return out;
  }

  /// The point of channel `c` in the inputs' axes after time, with
  /// readThroughProducers (empty otherwise).
  SmallVector<Value> channelPoint(Value c) {
    SmallVector<Value> point;
    if (!readThroughProducers)
      return point;
    Value rest = c;
    for (Value size : llvm::reverse(channelSizes)) {
      point.push_back(arith::RemUIOp::create(b, loc, rest, size));
      rest = arith::DivUIOp::create(b, loc, rest, size);
    }
    std::reverse(point.begin(), point.end());
    return point;
  }

  /// The inputs' vectors of channels at `c` (its `point`) of time `t`.
  SmallVector<Value> readInputs(Value t, Value c, Value mask,
                                ArrayRef<Value> point) {
    if (!readThroughProducers)
      return read(inputs, t, c, mask);
    SmallVector<Value> at{t};
    llvm::append_range(at, point);
    ProducerReader reader{b, loc};
    SmallVector<Value> x;
    for (Value in : inputs)
      x.push_back(vector::BroadcastOp::create(b, loc, vectorType(in),
                                              reader.read(in, at)));
    return x;
  }

  /// The sequential scan of positions [begin, end) for one vector of
  /// channels at `c`: the running value starts at `carry` when `hasCarry`,
  /// else at the first element. Writes every step into `outs` (null
  /// entries are not written) when `outs` is not empty; returns the running
  /// value at the end, then the outputs.
  SmallVector<Value> scanRange(Value begin, Value end, Value c, Value mask,
                               ValueRange carry, Value hasCarry,
                               ValueRange outs) {
    unsigned n = inputs.size();
    SmallVector<Value> point = channelPoint(c);
    SmallVector<Value> iterArgs(carry);
    SmallVector<Value> written;
    for (Value o : outs)
      if (o)
        written.push_back(o);
    llvm::append_range(iterArgs, written);
    auto loop = scf::ForOp::create(
        b, loc, begin, end, cst(1), iterArgs,
        [&](OpBuilder &nb, Location l, Value i, ValueRange args) {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPointToEnd(nb.getInsertionBlock());
          Value t = physical(i);
          SmallVector<Value> x = readInputs(t, c, mask, point);
          SmallVector<Value> combined =
              combine.emit(b, l, args.take_front(n), x);
          Value atBegin =
              arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, i, begin);
          Value noCarry = arith::XOrIOp::create(
              b, l, hasCarry,
              arith::ConstantIntOp::create(b, l, b.getI1Type(), 1));
          Value first = arith::AndIOp::create(b, l, atBegin, noCarry);
          SmallVector<Value> next;
          for (unsigned k = 0; k < n; ++k)
            next.push_back(
                arith::SelectOp::create(b, l, first, x[k], combined[k]));
          SmallVector<Value> dests;
          unsigned w = 0;
          for (Value o : outs)
            dests.push_back(o ? args[n + w++] : Value());
          SmallVector<Value> stored;
          for (auto [k, v] : llvm::enumerate(next)) {
            Value dest = k < dests.size() ? dests[k] : Value();
            if (!dest || k >= sinkPlace.size() || sinkPlace[k].empty()) {
              stored.push_back(
                  write(ValueRange{v}, ValueRange{dest}, t, c, mask)[0]);
              continue;
            }
            SmallVector<Value> at(sinkPlace[k].size());
            at[sinkPlace[k][0]] = t;
            for (auto [m, p] : llvm::enumerate(point))
              at[sinkPlace[k][m + 1]] = p;
            Value scalar = vector::ExtractOp::create(b, l, v, int64_t(0));
            stored.push_back(tensor::InsertOp::create(b, l, scalar, dest, at));
          }
          SmallVector<Value> yields(next);
          for (Value s : stored)
            if (s)
              yields.push_back(s);
          scf::YieldOp::create(b, l, yields);
        });
    timeLoops.push_back(loop);
    return SmallVector<Value>(loop.getResults());
  }

  /// The loops of scanRange, unrolled once everything is built.
  SmallVector<scf::ForOp> timeLoops = {};
};

/// The loop nest `for w in [0, tasks)` (marked `seq.parallel`) and inside it
/// `for c in channels of the task, step width`, carrying `dests`; `body`
/// gets the chunk index, the channel offset and the destinations, and
/// returns the new ones.
static SmallVector<Value> taskLoops(
    ScanBuilder &s, Value tasks, Value groups, Value perTask, ValueRange dests,
    function_ref<SmallVector<Value>(Value k, Value c, ValueRange d)> body) {
  OpBuilder &b = s.b;
  Location loc = s.loc;
  auto outer = scf::ForOp::create(
      b, loc, s.cst(0), tasks, s.cst(1), dests,
      [&](OpBuilder &nb, Location l, Value w, ValueRange args) {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToEnd(nb.getInsertionBlock());
        Value k = arith::DivUIOp::create(b, l, w, groups);
        Value g = arith::RemUIOp::create(b, l, w, groups);
        Value cb = arith::MulIOp::create(b, l, g, perTask);
        Value ce = arith::MinUIOp::create(
            b, l, arith::AddIOp::create(b, l, cb, perTask), s.channels);
        auto inner = scf::ForOp::create(
            b, l, cb, ce, s.cst(s.width), args,
            [&](OpBuilder &ib, Location il, Value c, ValueRange iargs) {
              OpBuilder::InsertionGuard guard2(b);
              b.setInsertionPointToEnd(ib.getInsertionBlock());
              scf::YieldOp::create(b, il, body(k, c, iargs));
            });
        scf::YieldOp::create(b, l, inner.getResults());
      });
  outer->setAttr(kParallelAttr, b.getUnitAttr());
  return SmallVector<Value>(outer.getResults());
}

/// `tensor.empty` shaped `[rows, cols]` like `like`'s element type.
static Value emptyMatrix(OpBuilder &b, Location loc, Value like,
                         OpFoldResult rows, OpFoldResult cols) {
  auto type = llvm::cast<RankedTensorType>(like.getType());
  SmallVector<OpFoldResult> sizes{rows, cols};
  return tensor::EmptyOp::create(b, loc, sizes, type.getElementType());
}

/// Size `d` of `v`, from its producers where they have it (a generic's
/// init, a slice's sizes, an empty's operands): the dims of a value the
/// scan reads through must not keep it alive.
static OpFoldResult sizeThroughProducers(OpBuilder &b, Location loc, Value v,
                                         int64_t d) {
  auto type = llvm::cast<RankedTensorType>(v.getType());
  if (!type.isDynamicDim(d))
    return b.getIndexAttr(type.getDimSize(d));
  if (auto g = v.getDefiningOp<linalg::GenericOp>())
    return sizeThroughProducers(
        b, loc, g.getDpsInits()[llvm::cast<OpResult>(v).getResultNumber()], d);
  if (auto slice = v.getDefiningOp<tensor::ExtractSliceOp>();
      slice && slice.getSourceType().getRank() == type.getRank())
    return slice.getMixedSizes()[d];
  if (auto empty = v.getDefiningOp<tensor::EmptyOp>())
    return empty.getMixedSizes()[d];
  return tensor::getMixedSize(b, loc, v, d);
}

/// Where result `r` of an assoc_scan can be written directly, instead of
/// time-major then permuted and copied: its users are an extract_slice of
/// all of it (proved by value bounds against `sizes`) whose one user is a
/// permuting `linalg.generic` (one input, an identity init, the payload
/// yielding the input), and slices of one time row each with the time axis
/// dropped; the generic's one user may
/// be a `linalg.copy` into a tensor that dominates the scan. The chunked
/// scan of a recurrence has exactly this shape: its states are stacked
/// time-major, transposed back to the output's layout, then copied into
/// the fused form's destination.
struct Sink {
  linalg::GenericOp permute;
  linalg::CopyOp copy;                    // may be null
  SmallVector<int64_t> place;             // result axis m -> axis place[m]
  SmallVector<tensor::ExtractSliceOp> rows;
};

static std::optional<Sink> findSink(Value r, ArrayRef<OpFoldResult> sizes,
                                    Operation *scan) {
  Sink sink;
  tensor::ExtractSliceOp full;
  auto unitStrides = [](tensor::ExtractSliceOp slice) {
    return llvm::all_of(slice.getMixedStrides(), [](OpFoldResult f) {
      return isConstantIntValue(f, 1);
    });
  };
  for (Operation *user : r.getUsers()) {
    auto slice = dyn_cast<tensor::ExtractSliceOp>(user);
    if (!slice || !unitStrides(slice))
      return std::nullopt;
    bool allOfIt = slice.getType().getRank() == slice.getSourceType().getRank() &&
                   llvm::all_of(slice.getMixedOffsets(), [](OpFoldResult f) {
                     return isConstantIntValue(f, 0);
                   });
    if (allOfIt && !full && slice->hasOneUse() &&
        isa<linalg::GenericOp>(*slice->user_begin())) {
      full = slice;
      continue;
    }
    // A time row with the time axis dropped: in the permuted layout the
    // same slice has the same type.
    if (!isConstantIntValue(slice.getMixedSizes()[0], 1) ||
        slice.getType().getRank() != slice.getSourceType().getRank() - 1)
      return std::nullopt;
    sink.rows.push_back(slice);
  }
  if (!full)
    return std::nullopt;
  for (auto [i, size] : llvm::enumerate(full.getMixedSizes())) {
    FailureOr<bool> equal = ValueBoundsConstraintSet::areEqual(size, sizes[i]);
    if (failed(equal) || !*equal)
      return std::nullopt;
  }
  auto g = cast<linalg::GenericOp>(*full->user_begin());
  if (g.getNumDpsInputs() != 1 || g.getNumDpsInits() != 1 ||
      g.getNumLoops() != g.getNumParallelLoops() ||
      !g.getIndexingMapsArray()[1].isIdentity() ||
      !g.getIndexingMapsArray()[0].isPermutation())
    return std::nullopt;
  Block &payload = g.getRegion().front();
  auto yield = cast<linalg::YieldOp>(payload.getTerminator());
  if (payload.getOperations().size() != 1 ||
      yield.getValues()[0] != payload.getArgument(0))
    return std::nullopt;
  sink.permute = g;
  // Input axis m is the generic's loop (and output axis) map.getDim(m).
  for (AffineExpr e : g.getIndexingMapsArray()[0].getResults())
    sink.place.push_back(cast<AffineDimExpr>(e).getPosition());
  if (g->hasOneUse())
    if (auto copy = dyn_cast<linalg::CopyOp>(*g->user_begin());
        copy && copy.getInputs()[0] == g.getResult(0)) {
      Value into = copy.getOutputs()[0];
      Operation *def = into.getDefiningOp();
      Block *scanBlock = scan->getBlock();
      bool dominates =
          def ? def->getBlock()->findAncestorOpInBlock(*scan) &&
                    (def->getBlock() != scanBlock || def->isBeforeInBlock(scan))
              : llvm::cast<BlockArgument>(into).getOwner()->findAncestorOpInBlock(
                    *scan) != nullptr;
      if (dominates)
        sink.copy = copy;
    }
  return sink;
}

/// Lowers one elementwise assoc_scan along axis 0 (see the file comment).
static void lowerAssocScan(RewriterBase &b, seq::AssocScanOp op,
                           int64_t deviceThreads, int64_t width,
                           int64_t perTaskOpt, int64_t minChunk,
                           int64_t maxChunks, int64_t timeUnroll) {
  Location loc = op.getLoc();
  b.setInsertionPoint(op);
  ScanBuilder s{b, loc, VectorCombiner{op, width}, width, op.getReverse()};

  // Inputs as [T, C]; with one channel a vector, read through their
  // producers where they are (the sizes then from the producers too, so
  // that nothing keeps them).
  auto type0 = llvm::cast<RankedTensorType>(op.getInputs()[0].getType());
  int64_t rank = type0.getRank();
  Value T, C;
  OpFoldResult staticT, staticC;
  if (width == 1) {
    s.readThroughProducers = true;
    s.inputs.assign(op.getInputs().begin(), op.getInputs().end());
    staticT = sizeThroughProducers(b, loc, op.getInputs()[0], 0);
    int64_t staticChannels = 1;
    C = s.cst(1);
    for (int64_t d = 1; d < rank; ++d) {
      OpFoldResult size = sizeThroughProducers(b, loc, op.getInputs()[0], d);
      s.channelSizes.push_back(getValueOrCreateConstantIndexOp(b, loc, size));
      C = arith::MulIOp::create(b, loc, C, s.channelSizes.back());
      if (std::optional<int64_t> c = getConstantIntValue(size);
          c && staticChannels != ShapedType::kDynamic)
        staticChannels *= *c;
      else
        staticChannels = ShapedType::kDynamic;
    }
    T = getValueOrCreateConstantIndexOp(b, loc, staticT);
    staticC = staticChannels == ShapedType::kDynamic
                  ? OpFoldResult(C)
                  : OpFoldResult(b.getIndexAttr(staticChannels));
  } else {
    for (Value x : op.getInputs()) {
      Value flat = x;
      if (rank == 1) {
        auto t = llvm::cast<RankedTensorType>(x.getType());
        flat = tensor::ExpandShapeOp::create(
            b, loc,
            RankedTensorType::get({t.getDimSize(0), 1}, t.getElementType()),
            x, SmallVector<ReassociationIndices>{{0, 1}});
      } else if (rank > 2) {
        ReassociationIndices rest;
        for (int64_t d = 1; d < rank; ++d)
          rest.push_back(d);
        flat = tensor::CollapseShapeOp::create(
            b, loc, x, SmallVector<ReassociationIndices>{{0}, rest});
      }
      s.inputs.push_back(flat);
    }
    T = tensor::DimOp::create(b, loc, s.inputs[0], 0);
    C = tensor::DimOp::create(b, loc, s.inputs[0], 1);
    staticT = tensor::getMixedSize(b, loc, s.inputs[0], 0);
    staticC = tensor::getMixedSize(b, loc, s.inputs[0], 1);
  }
  s.length = T;
  s.channels = C;

  // Cost model: G channel tasks; when they are fewer than the threads, K
  // chunks of time per task (about two per thread), each at least
  // `min-chunk` steps.
  Value perTask = s.cst(perTaskOpt);
  Value one = s.cst(1);
  Value threads = emitThreadCount(b, loc, op->getParentOfType<ModuleOp>(),
                                  deviceThreads);
  Value G = arith::MaxUIOp::create(
      b, loc, arith::CeilDivUIOp::create(b, loc, C, perTask), one);
  Value fills =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::uge, G, threads);
  Value wanted = arith::CeilDivUIOp::create(
      b, loc, arith::MulIOp::create(b, loc, threads, s.cst(2)), G);
  Value most = arith::MaxUIOp::create(
      b, loc, arith::DivUIOp::create(b, loc, T, s.cst(minChunk)), one);
  if (maxChunks > 0)
    most = arith::MinUIOp::create(b, loc, most, s.cst(maxChunks));
  Value K = arith::SelectOp::create(
      b, loc, fills, one, arith::MinUIOp::create(b, loc, wanted, most));
  auto chunkBegin = [&](Value k) -> Value {
    return arith::DivUIOp::create(b, loc, arith::MulIOp::create(b, loc, k, T),
                                  K);
  };
  Value trueV = arith::ConstantIntOp::create(b, loc, b.getI1Type(), 1);
  unsigned n = op.getNumInputs();

  // Phase 1: the totals of chunks 0 .. K-2, in parallel.
  Value Km1 = arith::SubIOp::create(b, loc, K, one);
  SmallVector<Value> totals;
  for (Value x : s.inputs)
    totals.push_back(emptyMatrix(b, loc, x, K, staticC));
  totals = taskLoops(
      s, arith::MulIOp::create(b, loc, Km1, G), G, perTask, totals,
      [&](Value k, Value c, ValueRange d) {
        Value kb = chunkBegin(k);
        Value ke = chunkBegin(arith::AddIOp::create(b, loc, k, one));
        Value mask = s.maskAt(c);
        // A chunk has at least `min-chunk` steps: its first element starts
        // the running value, and the loop combines from the second on
        // without asking at every step whether it is the first.
        SmallVector<Value> first = s.readInputs(s.physical(kb), c, mask,
                                                s.channelPoint(c));
        SmallVector<Value> acc =
            s.scanRange(arith::AddIOp::create(b, loc, kb, one), ke, c, mask,
                        first, trueV, {});
        return s.write(acc, d, k, c, mask);
      });

  // Phase 2: prefix[k] = prefix[k-1] ∘ totals[k] for k = 0 .. K-2 (prefix[0]
  // = totals[0]), each vector of channels on its own (a parallel loop over
  // them, empty when K = 1), the running value in registers. The totals
  // are only read, so the reads of several k can be in flight at once.
  SmallVector<Value> prefix;
  for (Value x : s.inputs)
    prefix.push_back(emptyMatrix(b, loc, x, K, staticC));
  {
    Value several =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ugt, K, one);
    Value channelsIfSeveral =
        arith::SelectOp::create(b, loc, several, C, s.cst(0));
    auto loop = scf::ForOp::create(
        b, loc, s.cst(0), channelsIfSeveral, s.cst(width), prefix,
        [&](OpBuilder &nb, Location l, Value c, ValueRange args) {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPointToEnd(nb.getInsertionBlock());
          Value mask = s.maskAt(c);
          SmallVector<Value> iterArgs = s.read(totals, s.cst(0), c, mask);
          llvm::append_range(iterArgs,
                             s.write(iterArgs, args, s.cst(0), c, mask));
          auto inner = scf::ForOp::create(
              b, l, one, Km1, one, iterArgs,
              [&](OpBuilder &ib, Location il, Value k, ValueRange iargs) {
                OpBuilder::InsertionGuard guard2(b);
                b.setInsertionPointToEnd(ib.getInsertionBlock());
                ValueRange running = iargs.take_front(n);
                ValueRange dests = iargs.drop_front(n);
                SmallVector<Value> cur = s.read(totals, k, c, mask);
                SmallVector<Value> sum = s.combine.emit(b, il, running, cur);
                SmallVector<Value> yields(sum);
                llvm::append_range(yields, s.write(sum, dests, k, c, mask));
                scf::YieldOp::create(b, il, yields);
              });
          s.timeLoops.push_back(inner);
          scf::YieldOp::create(b, l, inner.getResults().drop_front(n));
        });
    loop->setAttr(kParallelAttr, b.getUnitAttr());
    prefix = SmallVector<Value>(loop.getResults());
  }

  // Phase 3: every chunk from the total before it (chunk 0 from its first
  // element), writing the results that are used.
  SmallVector<Value> outs;
  SmallVector<int> outIndex(n, -1);
  SmallVector<std::optional<Sink>> sinks(n);
  s.sinkPlace.assign(n, {});
  SmallVector<OpFoldResult> resultSizes;
  if (s.readThroughProducers)
    for (int64_t d = 0; d < rank; ++d)
      resultSizes.push_back(
          sizeThroughProducers(b, loc, op.getInputs()[0], d));
  for (unsigned j = 0; j < n; ++j) {
    if (op.getResult(j).use_empty())
      continue;
    outIndex[j] = outs.size();
    if (s.readThroughProducers && rank > 1)
      sinks[j] = findSink(op.getResult(j), resultSizes, op);
    if (!sinks[j]) {
      outs.push_back(emptyMatrix(b, loc, s.inputs[j], staticT, staticC));
      continue;
    }
    s.sinkPlace[j] = sinks[j]->place;
    if (sinks[j]->copy) {
      outs.push_back(sinks[j]->copy.getOutputs()[0]);
      continue;
    }
    SmallVector<OpFoldResult> permuted(rank);
    for (int64_t m = 0; m < rank; ++m)
      permuted[sinks[j]->place[m]] = resultSizes[m];
    outs.push_back(tensor::EmptyOp::create(
        b, loc, permuted, getElementTypeOrSelf(s.inputs[j].getType())));
  }
  SmallVector<Value> results = taskLoops(
      s, arith::MulIOp::create(b, loc, K, G), G, perTask, outs,
      [&](Value k, Value c, ValueRange d) {
        Value kb = chunkBegin(k);
        Value ke = chunkBegin(arith::AddIOp::create(b, loc, k, one));
        Value hasCarry = arith::CmpIOp::create(
            b, loc, arith::CmpIPredicate::ugt, k, s.cst(0));
        Value kp = arith::SelectOp::create(
            b, loc, hasCarry, arith::SubIOp::create(b, loc, k, one), k);
        Value mask = s.maskAt(c);
        SmallVector<Value> carry = s.read(prefix, kp, c, mask);
        SmallVector<Value> dests;
        for (unsigned j = 0; j < n; ++j)
          dests.push_back(outIndex[j] < 0 ? Value() : d[outIndex[j]]);
        SmallVector<Value> r =
            s.scanRange(kb, ke, c, mask, carry, hasCarry, dests);
        return SmallVector<Value>(r.begin() + n, r.end());
      });

  // Back to the inputs' shapes.
  SmallVector<Value> replacements;
  for (unsigned j = 0; j < n; ++j) {
    if (outIndex[j] < 0) {
      replacements.push_back(Value());
      continue;
    }
    Value r = results[outIndex[j]];
    if (sinks[j]) {
      // Written in the consumer's layout: the permutation (or its copy)
      // is this, and a row of the result is a slice of it.
      Sink &sink = *sinks[j];
      Operation *last = sink.copy ? sink.copy.getOperation()
                                  : sink.permute.getOperation();
      last->getResult(0).replaceAllUsesWith(r);
      for (tensor::ExtractSliceOp row : sink.rows) {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPoint(row);
        SmallVector<OpFoldResult> offsets(rank), rowSizes(rank),
            strides(rank, b.getIndexAttr(1));
        for (int64_t m = 0; m < rank; ++m) {
          offsets[sink.place[m]] = row.getMixedOffsets()[m];
          rowSizes[sink.place[m]] = row.getMixedSizes()[m];
        }
        row.replaceAllUsesWith(
            tensor::ExtractSliceOp::create(b, row.getLoc(), row.getType(), r,
                                           offsets, rowSizes, strides)
                .getResult());
        b.eraseOp(row);
      }
      Operation *full = sink.permute.getDpsInputs()[0].getDefiningOp();
      if (sink.copy)
        b.eraseOp(sink.copy);
      b.eraseOp(sink.permute);
      b.eraseOp(full);
      replacements.push_back(Value());
      continue;
    }
    auto type = llvm::cast<RankedTensorType>(op.getResult(j).getType());
    if (rank == 1) {
      r = tensor::CollapseShapeOp::create(
          b, loc, type, r, SmallVector<ReassociationIndices>{{0, 1}});
    } else if (rank > 2) {
      ReassociationIndices rest;
      for (int64_t d = 1; d < rank; ++d)
        rest.push_back(d);
      SmallVector<OpFoldResult> sizes =
          tensor::getMixedSizes(b, loc, op.getInputs()[j]);
      if (llvm::count_if(type.getShape().drop_front(), ShapedType::isDynamic) >
          1) {
        // Several dynamic channel dims: upstream's expand-strided-metadata
        // crashes on the expand_shape of one dynamic dim into several
        // (getValueOrCreateConstantIndexOp), so a tensor.reshape by a
        // shape tensor instead.
        Value shape = tensor::FromElementsOp::create(
            b, loc, getValueOrCreateConstantIndexOp(b, loc, sizes));
        r = tensor::ReshapeOp::create(b, loc, type, r, shape);
      } else {
        r = tensor::ExpandShapeOp::create(
            b, loc, type, r, SmallVector<ReassociationIndices>{{0}, rest},
            sizes);
      }
    }
    replacements.push_back(r);
  }
  for (unsigned j = 0; j < n; ++j)
    if (replacements[j])
      op.getResult(j).replaceAllUsesWith(replacements[j]);
  SmallVector<Operation *> worklist;
  for (Value v : op.getInputs())
    if (Operation *def = v.getDefiningOp())
      worklist.push_back(def);
  b.eraseOp(op);
  // Producers read through, now unused, go at once (not at the next
  // canonicalization): what the scan reads is then visible in its IR. Ops,
  // not values, are tracked: two inputs may be results of one producer.
  llvm::SmallPtrSet<Operation *, 16> erased;
  while (s.readThroughProducers && !worklist.empty()) {
    Operation *def = worklist.pop_back_val();
    if (erased.contains(def) || !def->use_empty() ||
        !isMemoryEffectFree(def) || def->getNumRegions() > 1)
      continue;
    if (auto g = dyn_cast<linalg::GenericOp>(def);
        g && !g.hasPureTensorSemantics())
      continue;
    for (Value o : def->getOperands())
      if (Operation *producer = o.getDefiningOp())
        worklist.push_back(producer);
    erased.insert(def);
    b.eraseOp(def);
  }
  if (timeUnroll > 1)
    for (scf::ForOp loop : s.timeLoops)
      (void)unrollTimeLoop(loop, timeUnroll);
}

struct SeqLowerAssocScanPass
    : seqc::impl::SeqLowerAssocScanBase<SeqLowerAssocScanPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<seq::AssocScanOp> scans;
    module.walk([&](seq::AssocScanOp op) {
      auto type = llvm::cast<RankedTensorType>(op.getInputs()[0].getType());
      bool sameShapes = llvm::all_of(op.getInputs(), [&](Value x) {
        return llvm::cast<RankedTensorType>(x.getType()).getShape() ==
               type.getShape();
      });
      if (op.getAxis() == 0 && sameShapes && succeeded(checkElementwise(op)))
        scans.push_back(op);
    });
    if (scans.empty())
      return;
    IRRewriter rewriter(&getContext());
    for (seq::AssocScanOp op : scans)
      lowerAssocScan(rewriter, op, deviceThreads, vectorWidth, channelsPerTask,
                     minChunk, maxChunks, timeUnroll);
  }
};

} // namespace
