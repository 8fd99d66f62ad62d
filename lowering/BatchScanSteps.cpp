//===- BatchScanSteps.cpp - Carry-free scans as ops over the time axis ----===//
//
// `seq-batch-scan-steps`: a `seq.scan` without carries computes each step
// independently of the others, so its body can run for all steps at once.
// Every op of the body that depends on the step becomes the same op on
// whole tensors with a time dimension: a slice at `%t` becomes the slice
// over all of time, unit-dim `tensor.expand_shape`s and the slice itself
// are folded into the indexing maps of the `linalg.generic`s that read them
// (named linalg ops are generalised first), and each generic gets a leading
// parallel time loop. Ops that do not depend on the step are hoisted. The
// stacked outputs are the batched values, copied into the output's layout
// (time at its output axis) where they are not already in it. Scans whose
// body does anything else with the step are left alone.
//
//===----------------------------------------------------------------------===//

#include "lowering/Passes.h"

#include "dialects/Seq/Seq.h"

#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/SetVector.h"

namespace seqc {
#define GEN_PASS_DEF_SEQBATCHSCANSTEPS
#include "lowering/Passes.h.inc"
} // namespace seqc

using namespace mlir;
using namespace seqc;

namespace {

/// A step value for all steps: `full` read through `view`, a map from
/// (t, the step value's dims...) to the indices of `full`.
struct Batched {
  Value full;
  AffineMap view;
};

struct StepBatcher {
  RewriterBase &b;
  seq::ScanOp scan;
  Location loc;
  Value step;
  Value length;
  IRMapping invariant;
  DenseMap<Value, Batched> batched;

  StepBatcher(RewriterBase &b, seq::ScanOp scan)
      : b(b), scan(scan), loc(scan.getLoc()),
        step(scan.getBodyBlock().getArgument(0)), length(scan.getLength()) {}

  bool dependsOnStep(Value v) const { return v == step || batched.count(v); }

  bool dependsOnStep(Operation &op) const {
    if (llvm::any_of(op.getOperands(),
                     [&](Value v) { return dependsOnStep(v); }))
      return true;
    llvm::SetVector<Value> above;
    getUsedValuesDefinedAbove(op.getRegions(), above);
    return llvm::any_of(above, [&](Value v) { return dependsOnStep(v); });
  }

  /// `v` outside the scan (a hoisted clone, or itself).
  Value outside(Value v) const { return invariant.lookupOrDefault(v); }
  OpFoldResult outside(OpFoldResult f) const {
    if (auto v = llvm::dyn_cast<Value>(f))
      return outside(v);
    return f;
  }

  /// Size of dim `i` of the step value `v` (batched or not), outside.
  OpFoldResult stepSize(Value v, int64_t i) {
    auto type = llvm::cast<RankedTensorType>(v.getType());
    if (!type.isDynamicDim(i))
      return b.getIndexAttr(type.getDimSize(i));
    auto it = batched.find(v);
    if (it == batched.end())
      return tensor::getMixedSize(b, loc, outside(v), i);
    const Batched &bv = it->second;
    for (auto [p, e] : llvm::enumerate(bv.view.getResults()))
      if (e == b.getAffineDimExpr(1 + i))
        return tensor::getMixedSize(b, loc, bv.full, p);
    return b.getIndexAttr(1);
  }

  /// `v` (a step value) for all steps as a tensor with time at `axis`:
  /// `bv.full` itself when it already is one, else a copy.
  Value materialize(Value v, const Batched &bv, int64_t axis) {
    auto type = llvm::cast<RankedTensorType>(v.getType());
    int64_t r = type.getRank();
    SmallVector<AffineExpr> toView{b.getAffineDimExpr(axis)};
    for (int64_t i = 0; i < r; ++i)
      toView.push_back(b.getAffineDimExpr(i < axis ? i : i + 1));
    AffineMap inMap = bv.view.compose(
        AffineMap::get(r + 1, 0, toView, b.getContext()));
    if (inMap.isIdentity())
      return bv.full;
    SmallVector<OpFoldResult> sizes;
    for (int64_t i = 0; i < r; ++i)
      sizes.push_back(stepSize(v, i));
    sizes.insert(sizes.begin() + axis, length);
    Value empty =
        tensor::EmptyOp::create(b, loc, sizes, type.getElementType());
    SmallVector<utils::IteratorType> iterators(r + 1,
                                               utils::IteratorType::parallel);
    return linalg::GenericOp::create(
               b, loc, empty.getType(), bv.full, empty,
               ArrayRef<AffineMap>{inMap, b.getMultiDimIdentityMap(r + 1)},
               iterators,
               [](OpBuilder &nb, Location l, ValueRange args) {
                 linalg::YieldOp::create(nb, l, args[0]);
               })
        .getResult(0);
  }

  /// The batched form of a step value that may not depend on the step.
  Batched asBatched(Value v) {
    auto it = batched.find(v);
    if (it != batched.end())
      return it->second;
    int64_t r = llvm::cast<RankedTensorType>(v.getType()).getRank();
    SmallVector<AffineExpr> exprs;
    for (int64_t i = 0; i < r; ++i)
      exprs.push_back(b.getAffineDimExpr(1 + i));
    return {outside(v), AffineMap::get(1 + r, 0, exprs, b.getContext())};
  }

  LogicalResult batchSlice(tensor::ExtractSliceOp slice) {
    if (dependsOnStep(slice.getSource()))
      return failure();
    SmallVector<OpFoldResult> offsets = slice.getMixedOffsets();
    SmallVector<OpFoldResult> sizes = slice.getMixedSizes();
    llvm::SmallBitVector dropped = slice.getDroppedDims();
    int64_t timeDim = -1;
    for (auto [d, off] : llvm::enumerate(offsets)) {
      auto v = llvm::dyn_cast<Value>(off);
      if (v == step) {
        if (timeDim >= 0 || !dropped.test(d))
          return failure();
        timeDim = d;
      } else if (v && dependsOnStep(v)) {
        return failure();
      }
    }
    if (timeDim < 0 || !slice.hasUnitStride())
      return failure();
    for (OpFoldResult s : sizes)
      if (auto v = llvm::dyn_cast<Value>(s); v && dependsOnStep(v))
        return failure();
    for (OpFoldResult &off : offsets)
      off = outside(off);
    for (OpFoldResult &s : sizes)
      s = outside(s);
    offsets[timeDim] = b.getIndexAttr(0);
    sizes[timeDim] = length;
    SmallVector<OpFoldResult> strides(offsets.size(), b.getIndexAttr(1));
    Value full = tensor::ExtractSliceOp::create(
        b, loc, outside(slice.getSource()), offsets, sizes, strides);
    int64_t r = slice.getType().getRank();
    SmallVector<AffineExpr> exprs;
    int64_t kept = 0;
    for (int64_t d = 0, e = offsets.size(); d < e; ++d) {
      if (d == timeDim)
        exprs.push_back(b.getAffineDimExpr(0));
      else if (dropped.test(d))
        exprs.push_back(b.getAffineConstantExpr(0));
      else
        exprs.push_back(b.getAffineDimExpr(1 + kept++));
    }
    batched[slice.getResult()] = {
        full, AffineMap::get(1 + r, 0, exprs, b.getContext())};
    return success();
  }

  /// A `tensor.expand_shape` that only adds unit dims (each group has at
  /// most one dim that is not a static 1): the view reads the new dims.
  LogicalResult batchExpand(tensor::ExpandShapeOp expand) {
    auto it = batched.find(expand.getSrc());
    if (it == batched.end())
      return failure();
    Batched bv = it->second;
    ArrayRef<int64_t> shape = expand.getResultType().getShape();
    SmallVector<AffineExpr> repl{b.getAffineDimExpr(0)};
    for (ReassociationIndices group : expand.getReassociationIndices()) {
      int64_t pick = -1;
      for (int64_t j : group) {
        if (shape[j] == 1)
          continue;
        if (pick >= 0)
          return failure();
        pick = j;
      }
      repl.push_back(pick < 0 ? b.getAffineConstantExpr(0)
                              : b.getAffineDimExpr(1 + pick));
    }
    int64_t r = shape.size();
    batched[expand.getResult()] = {
        bv.full, bv.view.replaceDimsAndSymbols(repl, {}, 1 + r, 0)};
    return success();
  }

  LogicalResult batchGeneric(linalg::GenericOp generic) {
    unsigned n = generic.getNumLoops();
    SmallVector<AffineMap> maps;
    SmallVector<Value> ins, inits;
    for (OpOperand *in : generic.getDpsInputOperands()) {
      AffineMap m = generic.getMatchingIndexingMap(in).shiftDims(1);
      if (!llvm::isa<RankedTensorType>(in->get().getType())) {
        if (dependsOnStep(in->get()))
          return failure();
        ins.push_back(outside(in->get()));
        maps.push_back(m);
        continue;
      }
      Batched bv = asBatched(in->get());
      SmallVector<AffineExpr> exprs{b.getAffineDimExpr(0)};
      llvm::append_range(exprs, m.getResults());
      ins.push_back(bv.full);
      maps.push_back(
          bv.view.compose(AffineMap::get(n + 1, 0, exprs, b.getContext())));
    }
    Block &payload = generic.getRegion().front();
    for (OpOperand &init : generic.getDpsInitsMutable()) {
      AffineMap m = generic.getMatchingIndexingMap(&init).shiftDims(1);
      SmallVector<AffineExpr> exprs{b.getAffineDimExpr(0)};
      llvm::append_range(exprs, m.getResults());
      maps.push_back(AffineMap::get(n + 1, 0, exprs, b.getContext()));
      Value v = init.get();
      bool read = !payload.getArgument(init.getOperandNumber()).use_empty();
      if (read) {
        inits.push_back(materialize(v, asBatched(v), 0));
        continue;
      }
      auto type = llvm::cast<RankedTensorType>(v.getType());
      SmallVector<OpFoldResult> sizes{length};
      for (int64_t i = 0; i < type.getRank(); ++i)
        sizes.push_back(stepSize(v, i));
      inits.push_back(
          tensor::EmptyOp::create(b, loc, sizes, type.getElementType()));
    }
    SmallVector<utils::IteratorType> iterators{utils::IteratorType::parallel};
    llvm::append_range(iterators, generic.getIteratorTypesArray());
    SmallVector<Type> types;
    for (Value v : inits)
      types.push_back(v.getType());
    auto batchedOp = linalg::GenericOp::create(b, loc, types, ins, inits, maps,
                                               iterators);
    IRMapping mapping = invariant;
    b.cloneRegionBefore(generic.getRegion(), batchedOp.getRegion(),
                        batchedOp.getRegion().end(), mapping);
    batchedOp.walk([&](linalg::IndexOp index) {
      index.setDim(index.getDim() + 1);
    });
    for (auto [old, res] :
         llvm::zip(generic.getResults(), batchedOp.getResults())) {
      int64_t r = llvm::cast<RankedTensorType>(old.getType()).getRank();
      batched[old] = {res, b.getMultiDimIdentityMap(1 + r)};
    }
    return success();
  }

  LogicalResult run() {
    Block &body = scan.getBodyBlock();
    for (Operation &op : llvm::make_early_inc_range(body.without_terminator())) {
      if (!dependsOnStep(op)) {
        b.clone(op, invariant);
        continue;
      }
      if (auto slice = llvm::dyn_cast<tensor::ExtractSliceOp>(op)) {
        if (failed(batchSlice(slice)))
          return failure();
        continue;
      }
      if (auto expand = llvm::dyn_cast<tensor::ExpandShapeOp>(op)) {
        if (failed(batchExpand(expand)))
          return failure();
        continue;
      }
      auto linalgOp = llvm::dyn_cast<linalg::LinalgOp>(op);
      if (!linalgOp || !linalgOp.hasPureTensorSemantics())
        return failure();
      auto generic = llvm::dyn_cast<linalg::GenericOp>(op);
      if (!generic) {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPoint(&op);
        FailureOr<linalg::GenericOp> g = linalg::generalizeNamedOp(b, linalgOp);
        if (failed(g))
          return failure();
        generic = *g;
      }
      if (failed(batchGeneric(generic)))
        return failure();
    }
    auto yield = llvm::cast<seq::YieldOp>(body.getTerminator());
    SmallVector<Value> results;
    for (auto [v, axis, result] :
         llvm::zip(yield.getValues(), scan.getOutputAxes(), scan.getResults())) {
      Value r = materialize(v, asBatched(v), axis);
      if (r.getType() != result.getType())
        r = tensor::CastOp::create(b, loc, result.getType(), r);
      results.push_back(r);
    }
    b.replaceOp(scan, results);
    return success();
  }
};

struct SeqBatchScanStepsPass
    : seqc::impl::SeqBatchScanStepsBase<SeqBatchScanStepsPass> {
  void runOnOperation() override {
    SmallVector<seq::ScanOp> scans;
    getOperation()->walk([&](seq::ScanOp scan) {
      if (scan.getNumCarries() == 0)
        scans.push_back(scan);
    });
    IRRewriter rewriter(&getContext());
    for (seq::ScanOp scan : scans) {
      // Built before the scan; on failure what was built is erased.
      Operation *before = scan->getPrevNode();
      Block *block = scan->getBlock();
      rewriter.setInsertionPoint(scan);
      StepBatcher batcher(rewriter, scan);
      if (succeeded(batcher.run()))
        continue;
      Operation *first = before ? before->getNextNode() : &block->front();
      SmallVector<Operation *> built;
      for (Operation *o = first; o != scan.getOperation(); o = o->getNextNode())
        built.push_back(o);
      for (Operation *o : llvm::reverse(built)) {
        o->dropAllUses();
        rewriter.eraseOp(o);
      }
    }
  }
};

} // namespace
