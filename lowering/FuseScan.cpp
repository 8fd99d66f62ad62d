//===- FuseScan.cpp - Diagonal recurrences as one time loop per channels ---===//
//
// `seq-fuse-scan`: a `seq.scan` whose carries are elementwise affine in
// themselves (`h = A_t ⊙ h + b_t`, RecurrenceAnalysis) computes every channel
// of its carries on its own. It becomes the fused selective scan: a
// `seq.parallel` loop over tasks, each owning a block of channels, and inside
// each task one `scf.for` over all the time steps whose iter_args are the
// carries as vectors of channels. The body is evaluated on those vectors:
// every tensor the step reads is read at the task's channels at step `t`
// (a vector along the lane dim, a broadcast scalar otherwise), coefficients
// are computed in registers, reductions of the carries over the state dims
// (Mamba's `sum(h * C, axis = -1)`) are unrolled into vector adds, and the
// per-step outputs are written straight into the stacked results. Nothing of
// shape `[T, ...state]` exists, and reads that do not depend on the step are
// hoisted out of the time loop.
//
// The channels of the carry are split into:
//  - I, the state dims: those some per-step output reduces over; static,
//    fully unrolled inside the step (at most `max-state` points);
//  - L, the lane dim: the innermost other dim, `vector-width` channels a
//    vector, `max-unroll` vectors a task;
//  - O, the rest: one task per point.
// Cost model: with G tasks and P = seqrt_num_threads() at run time, the
// fused form runs when G >= P or T < `min-parallel-length`; otherwise (few
// channels, long T) the original scan runs, which `seq-recurrence-to-scan`
// turns into the chunked parallel prefix scan. Remarks say which and why.
//
//===----------------------------------------------------------------------===//

#include "lowering/Passes.h"
#include "lowering/RecurrenceAnalysis.h"

#include "dialects/Seq/Seq.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"

#include <map>

namespace seqc {
#define GEN_PASS_DEF_SEQFUSESCAN
#include "lowering/Passes.h.inc"
} // namespace seqc

using namespace mlir;
using namespace seqc;


namespace {

/// One index of a read in the fused body.
struct Index {
  enum Kind { Const, Dyn, Lane } kind = Const;
  int64_t cst = 0;
  /// Dyn: the index; Lane: the index of the first lane.
  Value value;
  /// Lane: the lanes that are channels (null: all).
  Value mask;
  /// Whether it depends on the step.
  bool varies = false;

  static Index constant(int64_t c) { return Index{Const, c, {}, {}, false}; }
  static Index dyn(Value v, bool varies) {
    return Index{Dyn, 0, v, {}, varies};
  }
};

/// A value of the fused body: a vector of `width` lanes.
struct Vec {
  Value v;
  bool varies = false;
};

/// Why a scan cannot be fused (the remark's text).
struct Refusal {
  std::string why;
};

/// The channel structure of one scan.
struct Channels {
  int64_t rank = 0;
  SmallVector<int64_t> shape; // the carries' shape (the largest carry's)
  SmallVector<bool> isState;  // I dims
  int64_t lane = -1;          // L
  SmallVector<int64_t> outer; // O dims, outermost first
  int64_t statePoints = 1;
  /// Per carry: its rank. A carry's dims are the first of the channel dims
  /// (mLSTM's C [B, H, K, V], n [B, H, K] and m [B, H]); one without the
  /// lane dim holds the same value in every lane.
  SmallVector<int64_t> carryRank;
  /// Per output: the channel dim of each of its dims.
  SmallVector<SmallVector<int64_t>> outputDims;

  /// Points of the state dims carry `c` has.
  int64_t carryPoints(unsigned c) const {
    int64_t n = 1;
    for (int64_t k = 0; k < carryRank[c]; ++k)
      if (isState[k])
        n *= shape[k];
    return n;
  }
  /// Whether carry `c` lacks the lane dim: a task then keeps it per lane,
  /// in a buffer with the lane dim appended.
  bool laneless(unsigned c) const { return carryRank[c] <= lane; }
};

/// Which channel dims the values of the body that depend on the carries are
/// laid out over, found forward from the carries (identity) through linalg
/// ops; then the state, lane and outer dims.
static FailureOr<Channels> findChannels(seq::ScanOp scan, bool allowPrefixes,
                                        Refusal &refusal) {
  Channels ch;
  RankedTensorType type0;
  for (Value init : scan.getInits()) {
    auto type = llvm::cast<RankedTensorType>(init.getType());
    if (!type0 || type.getRank() > type0.getRank())
      type0 = type;
  }
  for (Value init : scan.getInits()) {
    ArrayRef<int64_t> shape =
        llvm::cast<RankedTensorType>(init.getType()).getShape();
    if (shape != type0.getShape() &&
        (!allowPrefixes ||
         shape != type0.getShape().take_front(shape.size()))) {
      refusal.why = allowPrefixes ? "its carries' shapes are not prefixes "
                                    "of one shape"
                                  : "its carries differ in shape";
      return failure();
    }
    ch.carryRank.push_back(shape.size());
  }
  ch.rank = type0.getRank();
  ch.shape = llvm::to_vector(type0.getShape());
  if (ch.rank == 0) {
    refusal.why = "its carries are scalars";
    return failure();
  }
  Block &body = scan.getBodyBlock();
  llvm::DenseMap<Value, SmallVector<int64_t>> dims;
  SmallVector<int64_t> identity;
  for (int64_t k = 0; k < ch.rank; ++k)
    identity.push_back(k);
  for (auto [c, carry] : llvm::enumerate(scan.getCarryArgs()))
    dims[carry] = SmallVector<int64_t>(
        ArrayRef<int64_t>(identity).take_front(ch.carryRank[c]));
  for (Operation &op : body.without_terminator()) {
    auto linalgOp = llvm::dyn_cast<linalg::LinalgOp>(op);
    if (!linalgOp)
      continue;
    SmallVector<int64_t> loopDim(linalgOp.getNumLoops(), -1);
    for (OpOperand *in : linalgOp.getDpsInputOperands()) {
      auto it = dims.find(in->get());
      if (it == dims.end())
        continue;
      AffineMap map = linalgOp.getMatchingIndexingMap(in);
      for (auto [j, e] : llvm::enumerate(map.getResults()))
        if (auto d = llvm::dyn_cast<AffineDimExpr>(e))
          loopDim[d.getPosition()] = it->second[j];
    }
    for (OpOperand &init : linalgOp.getDpsInitsMutable()) {
      AffineMap map = linalgOp.getMatchingIndexingMap(&init);
      SmallVector<int64_t> d;
      for (AffineExpr e : map.getResults()) {
        auto de = llvm::dyn_cast<AffineDimExpr>(e);
        if (!de || loopDim[de.getPosition()] < 0)
          break;
        d.push_back(loopDim[de.getPosition()]);
      }
      if ((int64_t)d.size() == map.getNumResults())
        dims[linalgOp->getResult(init.getOperandNumber() -
                                 linalgOp.getNumDpsInputs())] = d;
    }
  }
  auto yield = llvm::cast<seq::YieldOp>(body.getTerminator());
  ch.isState.assign(ch.rank, false);
  for (Value out : yield.getValues().drop_front(scan.getNumCarries())) {
    auto it = dims.find(out);
    SmallVector<int64_t> d;
    if (it != dims.end()) {
      d = it->second;
    } else if (llvm::cast<RankedTensorType>(out.getType()).getShape() ==
               type0.getShape()) {
      d = identity;
    } else {
      refusal.why = "a per-step output is not laid out over the carry's "
                    "channels";
      return failure();
    }
    llvm::SmallBitVector seen(ch.rank);
    for (int64_t k : d) {
      if (seen.test(k)) {
        refusal.why = "a per-step output reads a channel twice";
        return failure();
      }
      seen.set(k);
    }
    for (int64_t k = 0; k < ch.rank; ++k)
      if (!seen.test(k))
        ch.isState[k] = true;
    ch.outputDims.push_back(d);
  }
  for (int64_t k = 0; k < ch.rank; ++k) {
    if (!ch.isState[k])
      continue;
    if (ShapedType::isDynamic(ch.shape[k])) {
      refusal.why = "an output reduces the carry over a dim of dynamic size";
      return failure();
    }
    ch.statePoints *= ch.shape[k];
  }
  for (int64_t k = ch.rank - 1; k >= 0 && ch.lane < 0; --k)
    if (!ch.isState[k])
      ch.lane = k;
  if (ch.lane < 0) {
    refusal.why = "the outputs reduce the carry over all of its dims";
    return failure();
  }
  for (int64_t k = 0; k < ch.rank; ++k)
    if (!ch.isState[k] && k != ch.lane)
      ch.outer.push_back(k);
  return ch;
}

/// Emits the fused form of one scan.
class Fuser {
public:
  Fuser(seq::ScanOp scan, const Channels &ch, int64_t width, int64_t unroll,
        int64_t timeBlock)
      : scan(scan), ch(ch), width(width), unroll(unroll),
        timeBlock(timeBlock), body(scan.getBodyBlock()) {}

  /// Builds the task loop at `b`'s insertion point; returns the scan's
  /// replacements (final carries, then stacked outputs).
  FailureOr<SmallVector<Value>> build(OpBuilder &b, Location loc,
                                      int64_t deviceThreads, Value &capacity);

  Refusal refusal;
  /// Most steps the time loop is unrolled by (with reads first,
  /// unrollTimeLoop), and by how many it was.
  int64_t timeUnroll = 1, timeFactor = 1;
  /// The empty tensors the task loop fills (final carries, then outputs).
  SmallVector<Value> destinations;

private:
  Value cst(OpBuilder &bb, int64_t v) {
    return arith::ConstantIndexOp::create(bb, loc, v);
  }
  VectorType vecType(Type elt) { return VectorType::get({width}, elt); }
  OpBuilder &at(bool varies) { return varies ? *in : *pre; }
  bool isInBody(Value v) {
    return scan.getBody().isAncestor(v.getParentRegion());
  }
  LogicalResult fail(const Twine &why) {
    if (refusal.why.empty())
      refusal.why = why.str();
    return failure();
  }
  Value indexValue(const Index &e) {
    if (e.kind == Index::Const)
      return cst(*pre, e.cst);
    return e.value;
  }
  Vec broadcast(Value scalar, bool varies) {
    OpBuilder &bb = at(varies);
    return {vector::BroadcastOp::create(bb, loc, vecType(scalar.getType()),
                                        scalar),
            varies};
  }

  FailureOr<Vec> eval(Value v, ArrayRef<Index> idx);
  FailureOr<Vec> load(Value tensor, ArrayRef<Index> idx);
  FailureOr<Vec> evalLinalg(linalg::LinalgOp op, unsigned result,
                            ArrayRef<Index> idx);
  FailureOr<Vec> scalarOperand(Value s);
  Value write(OpBuilder &bb, Value vec, Value tensor, ArrayRef<Index> idx);
  /// `vecs`, single-lane vectors of every state point (the last state dim
  /// fastest) of the channel at `idx` (its state dims at 0), written into
  /// `tensor` as one vector (the GPU's kernels unroll it to stores).
  Value writePoints(OpBuilder &bb, ValueRange vecs, Value tensor,
                    ArrayRef<Index> idx);
  /// The task's channel in lane vector `u` at point `p` of the state dims
  /// among the first `rank` dims (the last fastest; the others at 0).
  SmallVector<Index> channelPoint(unsigned u, int64_t p, int64_t rank);
  /// Carry `c`'s point `p` of its state dims in lane vector `u`, where
  /// the task keeps it (a laneless carry with the lane appended), and
  /// where the scan reads it (`asRead`: its own dims).
  SmallVector<Index> carryPoint(unsigned c, unsigned u, int64_t p,
                                bool asRead = false);

  seq::ScanOp scan;
  const Channels &ch;
  int64_t width, unroll, timeBlock;
  Block &body;
  Location loc = scan.getLoc();
  OpBuilder *pre = nullptr, *in = nullptr;
  Value step; // the time index inside the time loop
  SmallVector<Value> outerIdx, laneBase, laneMask;
  /// The carries' current vectors: carry c's at carryBase[c] + u *
  /// carryPoints(c) + p.
  SmallVector<Value> carryVecs;
  SmallVector<int64_t> carryBase;
  std::map<std::vector<uintptr_t>, Vec> memo;
};

} // namespace

SmallVector<Index> Fuser::channelPoint(unsigned u, int64_t p,
                                       int64_t rank) {
  SmallVector<Index> idx(ch.rank);
  for (int64_t k = ch.rank - 1; k >= 0; --k) {
    if (!ch.isState[k])
      continue;
    idx[k] = Index::constant(k < rank ? p % ch.shape[k] : 0);
    if (k < rank)
      p /= ch.shape[k];
  }
  for (auto [j, k] : llvm::enumerate(ch.outer))
    idx[k] = Index::dyn(outerIdx[j], false);
  idx[ch.lane] = Index{Index::Lane, 0, laneBase[u], laneMask[u], false};
  return idx;
}

SmallVector<Index> Fuser::carryPoint(unsigned c, unsigned u, int64_t p,
                                     bool asRead) {
  int64_t rank = ch.carryRank[c];
  SmallVector<Index> all = channelPoint(u, p, rank);
  SmallVector<Index> idx(all.begin(), all.begin() + rank);
  if (ch.laneless(c) && !asRead)
    idx.push_back(all[ch.lane]);
  return idx;
}

FailureOr<Vec> Fuser::load(Value tensor, ArrayRef<Index> idx) {
  auto type = llvm::cast<RankedTensorType>(tensor.getType());
  bool varies = llvm::any_of(idx, [](const Index &e) { return e.varies; });
  OpBuilder &bb = at(varies);
  SmallVector<Value> indices;
  int64_t laneDim = -1;
  Value mask;
  for (auto [k, e] : llvm::enumerate(idx)) {
    if (e.kind == Index::Lane) {
      if (laneDim >= 0)
        return fail("a tensor is read at the same channel in two dims");
      laneDim = k;
      mask = e.mask;
    }
    indices.push_back(indexValue(e));
  }
  if (laneDim < 0) {
    Value s = tensor::ExtractOp::create(bb, loc, tensor, indices);
    return broadcast(s, varies);
  }
  Type elt = type.getElementType();
  Value pad = arith::ConstantOp::create(bb, loc, bb.getZeroAttr(elt));
  auto map = AffineMap::get(type.getRank(), 0,
                            bb.getAffineDimExpr(laneDim), bb.getContext());
  Value r = vector::TransferReadOp::create(bb, loc, vecType(elt), tensor,
                                           indices, map, pad, mask,
                                           bb.getBoolArrayAttr({true}));
  return Vec{r, varies};
}

Value Fuser::write(OpBuilder &bb, Value vec, Value tensor,
                   ArrayRef<Index> idx) {
  auto type = llvm::cast<RankedTensorType>(tensor.getType());
  SmallVector<Value> indices;
  int64_t laneDim = 0;
  Value mask;
  for (auto [k, e] : llvm::enumerate(idx)) {
    if (e.kind == Index::Lane) {
      laneDim = k;
      mask = e.mask;
    }
    indices.push_back(e.kind == Index::Const ? cst(bb, e.cst) : e.value);
  }
  auto map = AffineMap::get(type.getRank(), 0,
                            bb.getAffineDimExpr(laneDim), bb.getContext());
  return vector::TransferWriteOp::create(bb, loc, type, vec, tensor, indices,
                                         map, mask,
                                         bb.getBoolArrayAttr({true}))
      .getResult();
}

Value Fuser::writePoints(OpBuilder &bb, ValueRange vecs, Value tensor,
                         ArrayRef<Index> idx) {
  auto type = llvm::cast<RankedTensorType>(tensor.getType());
  SmallVector<Value> indices;
  SmallVector<int64_t> shape;
  for (auto [k, e] : llvm::enumerate(idx)) {
    bool state = e.kind == Index::Const;
    indices.push_back(state ? cst(bb, 0) : e.value);
    shape.push_back(state ? type.getDimSize(k) : 1);
  }
  SmallVector<Value> elements;
  for (Value v : vecs)
    elements.push_back(
        vector::ExtractOp::create(bb, loc, v, ArrayRef<int64_t>{0}));
  Value all = vector::FromElementsOp::create(
      bb, loc, VectorType::get(shape, type.getElementType()), elements);
  return vector::TransferWriteOp::create(
             bb, loc, type, all, tensor, indices,
             AffineMap::getMinorIdentityMap(type.getRank(), type.getRank(),
                                            bb.getContext()),
             /*mask=*/Value(),
             bb.getBoolArrayAttr(SmallVector<bool>(type.getRank(), true)))
      .getResult();
}

FailureOr<Vec> Fuser::scalarOperand(Value s) {
  if (!s.getType().isIntOrIndexOrFloat())
    return fail("a scalar of type that is not a number");
  if (s == scan.getStepArg())
    return broadcast(step, true);
  if (!isInBody(s))
    return broadcast(s, false);
  if (auto c = s.getDefiningOp<arith::ConstantOp>()) {
    Value cl = pre->clone(*c)->getResult(0);
    return broadcast(cl, false);
  }
  return fail("a scalar computed in the step (" +
              s.getDefiningOp()->getName().getStringRef() + ")");
}

FailureOr<Vec> Fuser::eval(Value v, ArrayRef<Index> idx) {
  std::vector<uintptr_t> key{
      reinterpret_cast<uintptr_t>(v.getAsOpaquePointer())};
  for (const Index &e : idx) {
    key.push_back(e.kind);
    key.push_back(static_cast<uintptr_t>(e.cst));
    key.push_back(reinterpret_cast<uintptr_t>(e.value.getAsOpaquePointer()));
  }
  if (auto it = memo.find(key); it != memo.end())
    return it->second;
  FailureOr<Vec> r = failure();
  if (!isInBody(v)) {
    r = load(v, idx);
  } else if (auto arg = llvm::dyn_cast<BlockArgument>(v)) {
    if (arg.getOwner() != &body || arg.getArgNumber() == 0)
      return fail("the step read as a tensor");
    unsigned c = arg.getArgNumber() - 1;
    // The carry is read at one of the task's channel points (any lane
    // vector where it has no lane dim: it is the same in all).
    int64_t p = 0;
    int64_t u = ch.laneless(c) ? 0 : -1;
    for (int64_t k = 0; k < ch.carryRank[c]; ++k) {
      const Index &e = idx[k];
      if (ch.isState[k]) {
        if (e.kind != Index::Const)
          return fail("a carry is read at another channel");
        p = p * ch.shape[k] + e.cst;
      } else if (k == ch.lane) {
        if (e.kind != Index::Lane)
          return fail("a carry is read at another channel");
        auto it = llvm::find(laneBase, e.value);
        if (it == laneBase.end())
          return fail("a carry is read at another channel");
        u = it - laneBase.begin();
      } else {
        auto pos = llvm::find(ch.outer, k) - ch.outer.begin();
        if (e.kind != Index::Dyn || e.value != outerIdx[pos])
          return fail("a carry is read at another channel");
      }
    }
    r = Vec{carryVecs[carryBase[c] + u * ch.carryPoints(c) + p], true};
  } else {
    Operation *def = v.getDefiningOp();
    if (auto slice = llvm::dyn_cast<tensor::ExtractSliceOp>(def)) {
      if (!slice.hasUnitStride())
        return fail("a strided slice");
      llvm::SmallBitVector dropped = slice.getDroppedDims();
      SmallVector<OpFoldResult> offsets = slice.getMixedOffsets();
      SmallVector<Index> src;
      unsigned j = 0;
      for (auto [k, off] : llvm::enumerate(offsets)) {
        Index o;
        if (std::optional<int64_t> c = getConstantIntValue(off)) {
          o = Index::constant(*c);
        } else {
          Value ov = llvm::cast<Value>(off);
          if (ov == scan.getStepArg())
            o = Index::dyn(step, true);
          else if (!isInBody(ov))
            o = Index::dyn(ov, false);
          else
            return fail("a slice at an offset computed in the step");
        }
        if (dropped.test(k)) {
          src.push_back(o);
          continue;
        }
        Index e = idx[j++];
        if (o.kind == Index::Const && o.cst == 0) {
          src.push_back(e);
          continue;
        }
        if (e.kind == Index::Const && o.kind == Index::Const) {
          src.push_back(Index::constant(e.cst + o.cst));
          continue;
        }
        bool varies = e.varies || o.varies;
        Value sum = arith::AddIOp::create(at(varies), loc, indexValue(e),
                                          indexValue(o));
        e.kind = e.kind == Index::Lane ? Index::Lane : Index::Dyn;
        e.value = sum;
        e.varies = varies;
        src.push_back(e);
      }
      r = eval(slice.getSource(), src);
    } else if (auto expand = llvm::dyn_cast<tensor::ExpandShapeOp>(def)) {
      auto resultType = expand.getResultType();
      SmallVector<Index> src;
      for (const ReassociationIndices &group :
           expand.getReassociationIndices()) {
        Index e = Index::constant(0);
        unsigned nonUnit = 0;
        for (int64_t d : group)
          if (resultType.getDimSize(d) != 1) {
            e = idx[d];
            ++nonUnit;
          }
        if (nonUnit > 1)
          return fail("a reshape that splits a dim");
        src.push_back(e);
      }
      r = eval(expand.getSrc(), src);
    } else if (auto collapse = llvm::dyn_cast<tensor::CollapseShapeOp>(def)) {
      auto srcType = collapse.getSrcType();
      SmallVector<Index> src(srcType.getRank(), Index::constant(0));
      for (auto [j, group] :
           llvm::enumerate(collapse.getReassociationIndices())) {
        unsigned nonUnit = 0;
        for (int64_t d : group)
          if (srcType.getDimSize(d) != 1) {
            src[d] = idx[j];
            ++nonUnit;
          }
        if (nonUnit > 1)
          return fail("a reshape that merges dims");
        if (nonUnit == 0)
          src[group.back()] = idx[j];
      }
      r = eval(collapse.getSrc(), src);
    } else if (auto linalgOp = llvm::dyn_cast<linalg::LinalgOp>(def)) {
      r = evalLinalg(linalgOp, llvm::cast<OpResult>(v).getResultNumber(),
                     idx);
    } else if (auto c = llvm::dyn_cast<arith::ConstantOp>(def)) {
      auto dense = llvm::dyn_cast<SplatElementsAttr>(c.getValue());
      if (!dense)
        return fail("a constant tensor that is not a splat");
      Value s = arith::ConstantOp::create(
          *pre, loc, dense.getSplatValue<TypedAttr>());
      r = broadcast(s, false);
    } else {
      return fail("`" + def->getName().getStringRef() + "` in the step");
    }
  }
  if (failed(r))
    return failure();
  memo[key] = *r;
  return r;
}

FailureOr<Vec> Fuser::evalLinalg(linalg::LinalgOp op, unsigned result,
                                 ArrayRef<Index> idx) {
  if (!op.hasPureTensorSemantics())
    return fail("a linalg op on buffers");
  unsigned numLoops = op.getNumLoops();
  SmallVector<std::optional<Index>> loops(numLoops);
  OpOperand *init = op.getDpsInitOperand(result);
  AffineMap outMap = op.getMatchingIndexingMap(init);
  for (auto [j, e] : llvm::enumerate(outMap.getResults())) {
    auto d = llvm::dyn_cast<AffineDimExpr>(e);
    if (!d)
      return fail("an op whose result is not indexed by its loops");
    loops[d.getPosition()] = idx[j];
  }
  SmallVector<utils::IteratorType> iters = op.getIteratorTypesArray();
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  SmallVector<unsigned> reduced;
  int64_t points = 1;
  for (unsigned l = 0; l < numLoops; ++l) {
    if (loops[l])
      continue;
    if (iters[l] != utils::IteratorType::reduction)
      return fail("a parallel loop not in an op's result");
    if (ShapedType::isDynamic(ranges[l]))
      return fail("a reduction of dynamic size in the step");
    reduced.push_back(l);
    points *= ranges[l];
  }
  if (points > 4096)
    return fail("a reduction too large to unroll in the step");
  if (!reduced.empty() && op.getNumDpsInits() != 1)
    return fail("a reduction with several results");
  Block &payload = *op.getBlock();
  for (Operation &p : payload.without_terminator())
    if (p.getNumRegions() != 0 || !isPure(&p) ||
        llvm::isa<linalg::IndexOp>(p))
      return fail("`" + p.getName().getStringRef() + "` in a linalg op");

  auto applyMap = [&](AffineMap map) -> FailureOr<SmallVector<Index>> {
    SmallVector<Index> r;
    for (AffineExpr e : map.getResults()) {
      if (auto d = llvm::dyn_cast<AffineDimExpr>(e))
        r.push_back(*loops[d.getPosition()]);
      else if (auto c = llvm::dyn_cast<AffineConstantExpr>(e))
        r.push_back(Index::constant(c.getValue()));
      else
        return fail("an indexing map that is not a projection");
    }
    return r;
  };

  std::optional<Vec> acc;
  SmallVector<int64_t> point(reduced.size(), 0);
  Vec out;
  for (int64_t n = 0; n < points; ++n) {
    for (auto [j, l] : llvm::enumerate(reduced))
      loops[l] = Index::constant(point[j]);
    llvm::DenseMap<Value, Vec> vals;
    for (OpOperand &operand : op->getOpOperands()) {
      BlockArgument arg = op.getMatchingBlockArgument(&operand);
      if (arg.use_empty())
        continue;
      bool isInit = op.isDpsInit(&operand);
      if (isInit && acc && &operand == init) {
        vals[arg] = *acc;
        continue;
      }
      Value x = operand.get();
      FailureOr<Vec> xv = failure();
      if (llvm::isa<RankedTensorType>(x.getType())) {
        FailureOr<SmallVector<Index>> at =
            applyMap(op.getMatchingIndexingMap(&operand));
        if (failed(at))
          return failure();
        xv = eval(x, *at);
      } else {
        xv = scalarOperand(x);
      }
      if (failed(xv))
        return failure();
      vals[arg] = *xv;
    }
    for (Operation &p : payload.without_terminator()) {
      SmallVector<Value> operands;
      bool varies = false;
      for (Value x : p.getOperands()) {
        auto it = vals.find(x);
        FailureOr<Vec> xv = it != vals.end() ? FailureOr<Vec>(it->second)
                                             : scalarOperand(x);
        if (failed(xv))
          return failure();
        operands.push_back(xv->v);
        varies |= xv->varies;
      }
      if (auto c = llvm::dyn_cast<arith::ConstantOp>(p)) {
        vals[p.getResult(0)] = broadcast(pre->clone(p)->getResult(0), false);
        continue;
      }
      SmallVector<Type> types;
      for (Type t : p.getResultTypes()) {
        if (!t.isIntOrIndexOrFloat())
          return fail("a payload op on values that are not numbers");
        types.push_back(vecType(t));
      }
      OperationState state(loc, p.getName(), operands, types, p.getAttrs());
      Operation *cl = at(varies).create(state);
      for (auto [res, nres] : llvm::zip(p.getResults(), cl->getResults()))
        vals[res] = Vec{nres, varies};
    }
    Value y = payload.getTerminator()->getOperand(result);
    auto it = vals.find(y);
    FailureOr<Vec> yv =
        it != vals.end() ? FailureOr<Vec>(it->second) : scalarOperand(y);
    if (failed(yv))
      return failure();
    out = *yv;
    acc = out;
    // Next reduction point (odometer, last loop fastest).
    for (int64_t j = reduced.size() - 1; j >= 0; --j) {
      if (++point[j] < ranges[reduced[j]])
        break;
      point[j] = 0;
    }
  }
  return out;
}

FailureOr<SmallVector<Value>> Fuser::build(OpBuilder &b, Location loc,
                                           int64_t deviceThreads,
                                           Value &capacity) {
  this->loc = loc;
  unsigned nCarries = scan.getNumCarries();
  unsigned nOutputs = scan.getNumOutputs();
  Value h0;
  for (auto [c, init] : llvm::enumerate(scan.getInits()))
    if (ch.carryRank[c] == ch.rank)
      h0 = init;
  SmallVector<Value> size(ch.rank);
  for (int64_t k = 0; k < ch.rank; ++k)
    size[k] = ShapedType::isDynamic(ch.shape[k])
                  ? tensor::DimOp::create(b, loc, h0, k).getResult()
                  : cst(b, ch.shape[k]);
  Value T = scan.getLength();
  Value one = cst(b, 1);
  int64_t groupWidth = unroll * width;
  bool masked = ShapedType::isDynamic(ch.shape[ch.lane]) ||
                ch.shape[ch.lane] % groupWidth != 0;

  // Tasks: every point of the outer dims, times ranges of groups (of
  // `unroll` vectors) of the lane dim, as many as it takes to give every
  // thread a task, each range contiguous.
  Value groups =
      arith::CeilDivUIOp::create(b, loc, size[ch.lane], cst(b, groupWidth));
  Value outerPoints = one;
  for (int64_t k : ch.outer)
    outerPoints = arith::MulIOp::create(b, loc, outerPoints, size[k]);
  capacity = arith::MulIOp::create(b, loc, outerPoints, groups);
  Value threads = emitThreadCount(
      b, loc, scan->getParentOfType<ModuleOp>(), deviceThreads);
  Value laneTasks = arith::MaxUIOp::create(
      b, loc,
      arith::MinUIOp::create(
          b, loc, groups,
          arith::CeilDivUIOp::create(b, loc, threads, outerPoints)),
      one);
  Value perTask = arith::CeilDivUIOp::create(b, loc, groups, laneTasks);
  laneTasks = arith::CeilDivUIOp::create(
      b, loc, groups, arith::MaxUIOp::create(b, loc, perTask, one));
  Value G = arith::MulIOp::create(b, loc, outerPoints, laneTasks);

  // Destinations: the final carries (also where a task keeps its carries
  // between blocks of time) and the stacked outputs.
  SmallVector<Value> dests;
  auto dynamicSizes = [](ArrayRef<int64_t> shape, ArrayRef<Value> sizes) {
    SmallVector<Value> dyn;
    for (auto [d, s] : llvm::enumerate(shape))
      if (ShapedType::isDynamic(s))
        dyn.push_back(sizes[d]);
    return dyn;
  };
  // The carries' destinations are allocations: empty tensors of one shape
  // would be one value after CSE, and one-shot bufferization then gives
  // the carries one buffer.
  for (auto [c, init] : llvm::enumerate(scan.getInits())) {
    // A carry with the lane dim starts as a copy of its initial value; a
    // laneless one (the lane dim appended) is copied to every lane by the
    // task.
    auto type = llvm::cast<RankedTensorType>(init.getType());
    if (!ch.laneless(c)) {
      dests.push_back(bufferization::AllocTensorOp::create(
          b, loc, type, ValueRange{}, init));
      continue;
    }
    SmallVector<int64_t> shape(type.getShape());
    shape.push_back(ch.shape[ch.lane]);
    SmallVector<Value> sizes(ArrayRef<Value>(size).take_front(shape.size() - 1));
    sizes.push_back(size[ch.lane]);
    dests.push_back(bufferization::AllocTensorOp::create(
        b, loc, RankedTensorType::get(shape, type.getElementType()),
        dynamicSizes(shape, sizes)));
  }
  for (unsigned j = 0; j < nOutputs; ++j) {
    auto type = llvm::cast<RankedTensorType>(
        scan.getStackedOutputs()[j].getType());
    int64_t axis = scan.getOutputAxes()[j];
    SmallVector<Value> sizes;
    for (int64_t k : ch.outputDims[j])
      sizes.push_back(size[k]);
    sizes.insert(sizes.begin() + axis, T);
    dests.push_back(
        tensor::EmptyOp::create(b, loc, type,
                                dynamicSizes(type.getShape(), sizes)));
  }

  destinations = dests;
  auto taskLoop = scf::ForOp::create(b, loc, cst(b, 0), G, one, dests);
  taskLoop->setAttr(kParallelAttr, b.getUnitAttr());
  OpBuilder tb = OpBuilder::atBlockBegin(taskLoop.getBody());
  Value w = taskLoop.getInductionVar();
  Value laneTask = arith::RemUIOp::create(tb, loc, w, laneTasks);
  Value rest = arith::DivUIOp::create(tb, loc, w, laneTasks);
  outerIdx.assign(ch.outer.size(), Value());
  for (int64_t j = ch.outer.size() - 1; j >= 0; --j) {
    Value s = size[ch.outer[j]];
    outerIdx[j] = arith::RemUIOp::create(tb, loc, rest, s);
    rest = arith::DivUIOp::create(tb, loc, rest, s);
  }
  Value g0 = arith::MulIOp::create(tb, loc, laneTask, perTask);
  Value g1 = arith::MinUIOp::create(
      tb, loc, arith::AddIOp::create(tb, loc, g0, perTask), groups);

  // The lanes of group `g` (inside a loop over groups).
  auto setGroup = [&](OpBuilder &gb, Value g) {
    Value base = arith::MulIOp::create(gb, loc, g, cst(gb, groupWidth));
    laneBase.clear();
    laneMask.clear();
    for (int64_t u = 0; u < unroll; ++u) {
      Value bu = u == 0 ? base
                        : arith::AddIOp::create(gb, loc, base,
                                                cst(gb, u * width))
                              .getResult();
      laneBase.push_back(bu);
      laneMask.push_back(
          masked ? vector::CreateMaskOp::create(
                       gb, loc, VectorType::get({width}, gb.getI1Type()),
                       ValueRange{arith::SubIOp::create(gb, loc,
                                                        size[ch.lane], bu)})
                       .getResult()
                 : Value());
    }
  };
  // Carry c's vectors are the time loop's iter_args from carryBase[c] on.
  carryBase.clear();
  for (unsigned c = 0, n = 0; c < nCarries; n += unroll * ch.carryPoints(c++))
    carryBase.push_back(n);
  auto forEachCarryVector = [&](function_ref<void(unsigned, int64_t,
                                                  int64_t, unsigned)> fn) {
    for (unsigned c = 0; c < nCarries; ++c)
      for (int64_t u = 0; u < unroll; ++u)
        for (int64_t p = 0; p < ch.carryPoints(c); ++p)
          fn(c, u, p, carryBase[c] + u * ch.carryPoints(c) + p);
  };

  // The task's carries start as the initial ones: copies made before the
  // loop, but for laneless ones, which the task copies to its lanes.
  ValueRange taskDests = taskLoop.getRegionIterArgs();
  SmallVector<Value> finals(taskDests.take_front(nCarries));
  if (llvm::any_of(llvm::seq(nCarries),
                   [&](unsigned c) { return ch.laneless(c); })) {
    auto copy = scf::ForOp::create(tb, loc, g0, g1, one, finals);
    OpBuilder cb = OpBuilder::atBlockBegin(copy.getBody());
    pre = in = &cb;
    setGroup(cb, copy.getInductionVar());
    SmallVector<Value> f(copy.getRegionIterArgs());
    bool ok = true;
    forEachCarryVector([&](unsigned c, int64_t u, int64_t p, unsigned) {
      if (!ok || !ch.laneless(c))
        return;
      FailureOr<Vec> v =
          load(scan.getInits()[c], carryPoint(c, u, p, /*asRead=*/true));
      if (failed(v)) {
        ok = false;
        return;
      }
      f[c] = write(cb, v->v, f[c], carryPoint(c, u, p));
    });
    if (!ok)
      return failure();
    scf::YieldOp::create(cb, loc, f);
    finals = SmallVector<Value>(copy.getResults());
  }

  // Blocks of `time-block` steps; in each, every group of the task runs
  // the steps with its carries in registers.
  SmallVector<Value> blockArgs(finals);
  llvm::append_range(blockArgs, taskDests.drop_front(nCarries));
  auto blockLoop =
      scf::ForOp::create(tb, loc, cst(tb, 0), T, cst(tb, timeBlock), blockArgs);
  OpBuilder bb = OpBuilder::atBlockBegin(blockLoop.getBody());
  Value t0 = blockLoop.getInductionVar();
  Value t1 = arith::MinUIOp::create(
      bb, loc, arith::AddIOp::create(bb, loc, t0, cst(bb, timeBlock)), T);
  auto groupLoop = scf::ForOp::create(bb, loc, g0, g1, one,
                                      blockLoop.getRegionIterArgs());
  OpBuilder gb = OpBuilder::atBlockBegin(groupLoop.getBody());
  setGroup(gb, groupLoop.getInductionVar());
  ValueRange groupArgs = groupLoop.getRegionIterArgs();
  pre = in = &gb;
  SmallVector<Value> iterArgs;
  {
    bool ok = true;
    forEachCarryVector([&](unsigned c, int64_t u, int64_t p, unsigned) {
      FailureOr<Vec> v = load(groupArgs[c], carryPoint(c, u, p));
      if (failed(v))
        ok = false;
      else
        iterArgs.push_back(v->v);
    });
    if (!ok)
      return failure();
  }
  unsigned nVecs = iterArgs.size();
  llvm::append_range(iterArgs, groupArgs.drop_front(nCarries));

  auto timeLoop = scf::ForOp::create(gb, loc, t0, t1, one, iterArgs);
  OpBuilder ib = OpBuilder::atBlockBegin(timeLoop.getBody());
  OpBuilder pb(timeLoop);
  pre = &pb;
  in = &ib;
  step = timeLoop.getInductionVar();
  if (scan.getReverse()) {
    Value last = arith::SubIOp::create(pb, loc, T, one);
    step = arith::SubIOp::create(ib, loc, last, step);
  }
  carryVecs =
      SmallVector<Value>(timeLoop.getRegionIterArgs().take_front(nVecs));
  SmallVector<Value> outs(timeLoop.getRegionIterArgs().drop_front(nVecs));

  auto yield = llvm::cast<seq::YieldOp>(body.getTerminator());
  SmallVector<Value> next;
  {
    bool ok = true;
    forEachCarryVector([&](unsigned c, int64_t u, int64_t p, unsigned n) {
      if (!ok)
        return;
      FailureOr<Vec> v =
          eval(yield.getValues()[c], carryPoint(c, u, p, /*asRead=*/true));
      if (failed(v) || v->v.getType() != carryVecs[n].getType()) {
        if (succeeded(v))
          (void)fail("a carry changes type");
        ok = false;
        return;
      }
      next.push_back(v->v);
    });
    if (!ok)
      return failure();
  }
  for (unsigned j = 0; j < nOutputs; ++j) {
    const SmallVector<int64_t> &dims = ch.outputDims[j];
    int64_t axis = scan.getOutputAxes()[j];
    for (int64_t u = 0; u < unroll; ++u)
      for (int64_t p = 0; p < ch.statePoints; ++p) {
        // Each point of the state dims the output keeps, once.
        SmallVector<Index> point = channelPoint(u, p, ch.rank);
        bool first = true;
        for (int64_t k = 0; k < ch.rank; ++k)
          if (ch.isState[k] && !llvm::is_contained(dims, k) && point[k].cst)
            first = false;
        if (!first)
          continue;
        SmallVector<Index> idx;
        for (int64_t k : dims)
          idx.push_back(point[k]);
        FailureOr<Vec> v = eval(yield.getValues()[nCarries + j], idx);
        if (failed(v))
          return failure();
        idx.insert(idx.begin() + axis, Index::dyn(step, true));
        outs[j] = write(ib, v->v, outs[j], idx);
      }
  }
  SmallVector<Value> yields(next);
  llvm::append_range(yields, outs);
  scf::YieldOp::create(ib, loc, yields);

  // The group's carries back to the task's.
  gb.setInsertionPointAfter(timeLoop);
  SmallVector<Value> groupYields(groupArgs.take_front(nCarries));
  if (width == 1) {
    // One lane a vector (the GPU): each lane vector's state points as one
    // vector. A write per point would chain up to max-state writes into one
    // tensor, which one-shot bufferization analyses in cubic time.
    for (unsigned c = 0; c < nCarries; ++c)
      for (int64_t u = 0; u < unroll; ++u) {
        int64_t points = ch.carryPoints(c);
        ValueRange vecs =
            timeLoop.getResults().slice(carryBase[c] + u * points, points);
        groupYields[c] =
            writePoints(gb, vecs, groupYields[c], carryPoint(c, u, 0));
      }
  } else {
    forEachCarryVector([&](unsigned c, int64_t u, int64_t p, unsigned n) {
      groupYields[c] =
          write(gb, timeLoop.getResult(n), groupYields[c], carryPoint(c, u, p));
    });
  }
  llvm::append_range(groupYields, timeLoop.getResults().drop_front(nVecs));
  scf::YieldOp::create(gb, loc, groupYields);
  scf::YieldOp::create(bb, loc, groupLoop.getResults());
  scf::YieldOp::create(tb, loc, blockLoop.getResults());
  if (timeUnroll > 1)
    timeFactor = unrollTimeLoop(timeLoop, timeUnroll);
  // A laneless carry's final value: its first lane's.
  SmallVector<Value> results(taskLoop.getResults());
  for (unsigned c = 0; c < nCarries; ++c) {
    if (!ch.laneless(c))
      continue;
    auto type = llvm::cast<RankedTensorType>(scan.getInits()[c].getType());
    int64_t rank = type.getRank();
    SmallVector<OpFoldResult> offsets(rank + 1, b.getIndexAttr(0));
    SmallVector<OpFoldResult> sizes(rank + 1, b.getIndexAttr(1));
    SmallVector<OpFoldResult> strides(rank + 1, b.getIndexAttr(1));
    for (int64_t k = 0; k < rank; ++k)
      sizes[k] = getAsOpFoldResult(size[k]);
    results[c] = tensor::ExtractSliceOp::create(b, loc, type, results[c],
                                                offsets, sizes, strides);
  }
  return results;
}

//===----------------------------------------------------------------------===//
// The pass
//===----------------------------------------------------------------------===//

namespace {

struct SeqFuseScanPass : seqc::impl::SeqFuseScanBase<SeqFuseScanPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<seq::ScanOp> scans;
    module.walk([&](seq::ScanOp scan) {
      if (scan.getNumCarries() != 0 &&
          !scan->hasAttr(kScanAlternativeAttr))
        scans.push_back(scan);
    });
    for (seq::ScanOp scan : scans)
      fuse(scan);
  }

  void fuse(seq::ScanOp scan) {
    RecurrenceAnalysis analysis(scan);
    // Diagonal recurrences: every channel of the carries on its own. With
    // `independent-channels` any other scan too, where its step reads each
    // carry only at its own channel (the evaluator refuses the others):
    // the fused form is sequential over time as the scan is, and needs no
    // affinity; it has no parallel alternative.
    bool diagonal = analysis.isDiagonal();
    if (!diagonal && !independentChannels)
      return;
    bool allFloat = llvm::all_of(scan.getInits(), [](Value init) {
      return llvm::isa<FloatType>(
          llvm::cast<RankedTensorType>(init.getType()).getElementType());
    });
    std::string carries = "carr";
    carries += scan.getNumCarries() == 1 ? "y '" : "ies '";
    for (unsigned i = 0; i < scan.getNumCarries(); ++i)
      carries += (i ? "', '" : "") + analysis.getCarryName(i);
    carries += "'";
    const char *kind = diagonal ? "is affine (diagonal)" : "is not diagonal";
    auto refuse = [&](const std::string &why) {
      emitRemark(scan.getLoc())
          << "recurrence of " << carries << " " << kind
          << (diagonal ? " but" : ",") << " not fused (" << why << ")";
    };
    if (!allFloat)
      return refuse("its carries are not all floating-point");
    bool alternative = parallelAlternative && diagonal;
    Refusal refusal;
    // Carries of different ranks only without the alternative, which
    // fills the same destinations.
    FailureOr<Channels> ch = findChannels(scan, !alternative, refusal);
    if (failed(ch))
      return refuse(refusal.why);
    // The chunked alternative stores the coefficients of every carry
    // element for every step ([T, B, H, K, V] for a matrix state: 4 GB a
    // tensor for one GLA head group at K = V = 128 and T = 4096): not for
    // states larger than a diagonal scan's.
    bool bigState = alternative && ch->statePoints > maxAlternativeState;
    if (bigState)
      alternative = false;
    if (ch->statePoints > maxState)
      return refuse("its state dims hold " + std::to_string(ch->statePoints) +
                    " points a channel, more than max-state = " +
                    std::to_string(maxState));
    // Vectors of channels a task: up to max-unroll, fewer when the carries'
    // state is large, dividing the lane dim's vectors when it is static.
    int64_t points = 0;
    for (unsigned c = 0; c < scan.getNumCarries(); ++c)
      points += ch->carryPoints(c);
    int64_t unroll =
        std::max<int64_t>(1, std::min<int64_t>(maxUnroll, 16 / points));
    int64_t laneSize = ch->shape[ch->lane];
    if (!ShapedType::isDynamic(laneSize) && laneSize % vectorWidth == 0)
      while (unroll > 1 && (laneSize / vectorWidth) % unroll != 0)
        --unroll;
    if (!ShapedType::isDynamic(laneSize))
      unroll = std::max<int64_t>(
          1, std::min<int64_t>(unroll, llvm::divideCeil(laneSize, vectorWidth)));

    Location loc = scan.getLoc();
    OpBuilder b(scan);
    auto exec = scf::ExecuteRegionOp::create(b, loc, scan.getResultTypes());
    Block *block = b.createBlock(&exec.getRegion());
    b.setInsertionPointToEnd(block);
    Fuser fuser(scan, *ch, vectorWidth, unroll, timeBlock);
    fuser.timeUnroll = timeUnroll;
    Value tasks;
    FailureOr<SmallVector<Value>> results =
        fuser.build(b, loc, deviceThreads, tasks);
    if (failed(results)) {
      exec.erase();
      return refuse(fuser.refusal.why);
    }
    scf::YieldOp::create(b, loc, *results);

    std::string layout;
    for (int64_t k = 0; k < ch->rank; ++k) {
      layout += k ? " x " : "";
      layout += ShapedType::isDynamic(ch->shape[k])
                    ? std::string("?")
                    : std::to_string(ch->shape[k]);
      layout += ch->isState[k] ? " (state)" : k == ch->lane ? " (lanes)" : "";
    }
    {
      InFlightDiagnostic remark = emitRemark(loc);
      remark << "recurrence of " << carries << " " << kind
             << ": fused scan, sequential over time "
                "and parallel over channels (carry "
             << layout << "; groups of " << unroll * vectorWidth
             << " channels with " << unroll * points
             << " carry vectors in registers over ";
      if (timeBlock >= (int64_t(1) << 30))
        remark << "all steps";
      else
        remark << "blocks of " << static_cast<int64_t>(timeBlock) << " steps";
      remark << ", a contiguous range of groups per thread";
      if (fuser.timeFactor > 1)
        remark << ", time loop unrolled by " << fuser.timeFactor
               << " with the steps' reads first";
      remark << "; coefficients, states and readouts computed in the time "
                "loop, no [T, ...] tensors)";
      if (alternative)
        remark << "; at run time the chunked parallel scan instead when "
                  "the groups are fewer than the threads and T >= "
               << static_cast<int64_t>(minParallelLength);
      if (bigState)
        remark << "; no chunked alternative: its state, "
               << ch->statePoints
               << " points a channel, would be stored for every step";
    }

    // Inline the fused form, behind the run-time choice when the chunked
    // parallel scan is its alternative.
    b.setInsertionPoint(exec);
    if (!alternative) {
      auto yield = llvm::cast<scf::YieldOp>(block->getTerminator());
      SmallVector<Value> values(yield.getOperands());
      for (Operation &op : llvm::make_early_inc_range(
               block->without_terminator()))
        op.moveBefore(exec);
      scan->replaceAllUsesWith(values);
      exec.erase();
      scan.erase();
      return;
    }
    // cond: G >= P or T < min-parallel-length. The task count and the
    // destinations are computed in the block: what they need is cloned
    // before the if. Both branches fill the same destinations (the
    // alternative by a copy): bufferized, the scf.if then yields their
    // identity-layout buffers, where a buffer allocated in each branch
    // would make its result fully dynamic, and the function boundary copy.
    IRMapping mapping;
    SetVector<Operation *> needed;
    {
      SmallVector<Value> stack{tasks};
      llvm::append_range(stack, fuser.destinations);
      while (!stack.empty()) {
        Value v = stack.pop_back_val();
        Operation *def = v.getDefiningOp();
        if (!def || def->getBlock() != block || !needed.insert(def))
          continue;
        llvm::append_range(stack, def->getOperands());
      }
    }
    for (Operation &op : block->without_terminator())
      if (needed.contains(&op))
        b.clone(op, mapping);
    SmallVector<Value> dests;
    for (Value d : fuser.destinations) {
      dests.push_back(mapping.lookup(d));
      d.replaceAllUsesWith(dests.back());
    }
    Value G = mapping.lookup(tasks);
    Value threads = emitThreadCount(b, loc, getOperation(), deviceThreads);
    Value fills =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::uge, G, threads);
    Value shortT = arith::CmpIOp::create(
        b, loc, arith::CmpIPredicate::ult, scan.getLength(),
        arith::ConstantIndexOp::create(b, loc, minParallelLength));
    Value cond = arith::OrIOp::create(b, loc, fills, shortT);
    auto ifOp = scf::IfOp::create(b, loc, scan.getResultTypes(), cond,
                                  /*withElseRegion=*/true);
    exec->moveBefore(ifOp.thenBlock(), ifOp.thenBlock()->end());
    {
      OpBuilder tb = OpBuilder::atBlockEnd(ifOp.thenBlock());
      scf::YieldOp::create(tb, loc, exec.getResults());
    }
    scan->replaceAllUsesWith(ifOp.getResults());
    scan->moveBefore(ifOp.elseBlock(), ifOp.elseBlock()->end());
    scan->setAttr(kScanAlternativeAttr, b.getUnitAttr());
    OpBuilder eb = OpBuilder::atBlockEnd(ifOp.elseBlock());
    SmallVector<Value> copies;
    for (auto [r, d] : llvm::zip(scan.getResults(), dests))
      copies.push_back(linalg::CopyOp::create(eb, loc, r, d).getResult(0));
    scf::YieldOp::create(eb, loc, copies);
    // The execute_region's single block inlined into the then branch.
    auto yield = llvm::cast<scf::YieldOp>(block->getTerminator());
    SmallVector<Value> values(yield.getOperands());
    for (Operation &op :
         llvm::make_early_inc_range(block->without_terminator()))
      op.moveBefore(exec);
    exec->replaceAllUsesWith(values);
    exec.erase();
  }
};

} // namespace
