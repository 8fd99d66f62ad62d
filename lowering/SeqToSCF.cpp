//===- SeqToSCF.cpp - seq.scan / seq.assoc_scan to scf.for ----------------===//
//
// Lowers the two scans of the seq dialect to sequential `scf.for` loops over
// tensors. A `seq.scan` keeps its carries as iter_args and fills one stacked
// tensor per per-step output with `tensor.insert_slice`; a `seq.assoc_scan`
// becomes the plain inclusive scan, one combine per position, in order.
// Parallel forms of the associative scan are a later pass's business.
//
//===----------------------------------------------------------------------===//

#include "lowering/Passes.h"

#include "dialects/Seq/Seq.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Interfaces/DestinationStyleOpInterface.h"
#include "mlir/Transforms/DialectConversion.h"

namespace seqc {
#define GEN_PASS_DEF_CONVERTSEQTOSCF
#include "lowering/Passes.h.inc"
} // namespace seqc

using namespace mlir;
using namespace seqc;

/// Returns whether `v` is defined outside `op` (and so dominates it).
static bool isDefinedOutside(Value v, Operation *op) {
  return !op->isAncestor(v.getParentRegion()->getParentOp());
}

/// Usable before `scan`: `size` itself when it is an attribute or a value
/// defined outside the scan, the constant when it is one; failure otherwise.
static FailureOr<OpFoldResult> sizeOutside(OpFoldResult size, Operation *scan) {
  if (llvm::isa<Attribute>(size))
    return size;
  Value v = llvm::cast<Value>(size);
  if (isDefinedOutside(v, scan))
    return size;
  if (std::optional<int64_t> c = getConstantIntValue(v))
    return OpFoldResult(IntegerAttr::get(IndexType::get(v.getContext()), *c));
  return failure();
}

/// Finds the size of dimension `dim` of `v`, a value computed in the body of
/// `scan`, as something defined before the scan: follows carries to their
/// initial values, destination-style ops to their inits and reads the sizes
/// of `tensor.empty` and `tensor.extract_slice`. MLIRGen builds every runtime
/// size at the top of the function, so this finds the sizes it makes.
static FailureOr<OpFoldResult> stepSizeBeforeScan(OpBuilder &b, Location loc,
                                                   seq::ScanOp scan, Value v,
                                                   int64_t dim) {
  auto type = llvm::cast<RankedTensorType>(v.getType());
  if (!type.isDynamicDim(dim))
    return OpFoldResult(
        IntegerAttr::get(IndexType::get(v.getContext()), type.getDimSize(dim)));
  while (true) {
    if (isDefinedOutside(v, scan))
      return tensor::getMixedSize(b, loc, v, dim);
    if (auto arg = llvm::dyn_cast<BlockArgument>(v)) {
      if (arg.getOwner() != &scan.getBodyBlock() || arg.getArgNumber() == 0)
        return failure();
      v = scan.getInits()[arg.getArgNumber() - 1];
      continue;
    }
    Operation *def = v.getDefiningOp();
    if (auto dps = llvm::dyn_cast<DestinationStyleOpInterface>(def)) {
      v = dps.getTiedOpOperand(llvm::cast<OpResult>(v))->get();
      continue;
    }
    if (auto empty = llvm::dyn_cast<tensor::EmptyOp>(def))
      return sizeOutside(empty.getMixedSizes()[dim], scan);
    if (auto slice = llvm::dyn_cast<tensor::ExtractSliceOp>(def)) {
      // Map `dim` of the (possibly rank-reduced) result to the slice's sizes.
      llvm::SmallBitVector dropped = slice.getDroppedDims();
      int64_t seen = -1;
      for (auto [i, size] : llvm::enumerate(slice.getMixedSizes())) {
        if (dropped.test(i))
          continue;
        if (++seen == dim)
          return sizeOutside(size, scan);
      }
      return failure();
    }
    return failure();
  }
}

/// `tensor.empty` of `type` with `sizes` (one per dimension; those of the
/// dynamic dimensions become operands).
static Value createEmpty(OpBuilder &b, Location loc, RankedTensorType type,
                         ArrayRef<OpFoldResult> sizes) {
  SmallVector<Value> dynamic;
  for (auto [i, size] : llvm::enumerate(sizes))
    if (type.isDynamicDim(i))
      dynamic.push_back(getValueOrCreateConstantIndexOp(b, loc, size));
  return tensor::EmptyOp::create(b, loc, type, dynamic);
}

/// The offsets, sizes and strides of the slice of a tensor shaped like
/// `full` at position `pos` of `axis` (size 1 there).
static void sliceAt(OpBuilder &b, ArrayRef<OpFoldResult> full, int64_t axis,
                    Value pos, SmallVectorImpl<OpFoldResult> &offsets,
                    SmallVectorImpl<OpFoldResult> &sizes,
                    SmallVectorImpl<OpFoldResult> &strides) {
  offsets.assign(full.size(), b.getIndexAttr(0));
  strides.assign(full.size(), b.getIndexAttr(1));
  sizes.assign(full.begin(), full.end());
  offsets[axis] = pos;
  sizes[axis] = b.getIndexAttr(1);
}

/// The slice of `src` at position `pos` of `axis`, with `axis` dropped.
static Value extractAt(OpBuilder &b, Location loc, Value src, int64_t axis,
                       Value pos, RankedTensorType sliceType) {
  SmallVector<OpFoldResult> offsets, sizes, strides;
  sliceAt(b, tensor::getMixedSizes(b, loc, src), axis, pos, offsets, sizes,
          strides);
  return tensor::ExtractSliceOp::create(b, loc, sliceType, src, offsets, sizes,
                                        strides);
}

/// Inserts `slice` (typed like `dest` with `axis` dropped) into `dest` at
/// position `pos` of `axis`.
static Value insertAt(OpBuilder &b, Location loc, Value slice, Value dest,
                      int64_t axis, Value pos) {
  SmallVector<OpFoldResult> full = tensor::getMixedSizes(b, loc, slice);
  full.insert(full.begin() + axis, b.getIndexAttr(1));
  SmallVector<OpFoldResult> offsets, sizes, strides;
  sliceAt(b, full, axis, pos, offsets, sizes, strides);
  return tensor::InsertSliceOp::create(b, loc, slice, dest, offsets, sizes,
                                       strides);
}

namespace {

/// seq.scan -> scf.for over the steps; carries and stacked outputs are the
/// iter_args.
struct ScanOpLowering : OpConversionPattern<seq::ScanOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(seq::ScanOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Block &body = op.getBodyBlock();
    auto yield = llvm::cast<seq::YieldOp>(body.getTerminator());
    unsigned numCarries = op.getNumCarries();
    ArrayRef<int64_t> axes = op.getOutputAxes();
    Value length = adaptor.getLength();

    // One empty stacked tensor per output. A size that is not known before
    // the scan is taken from the first step's value instead (`sizedInLoop`).
    SmallVector<Value> inits(adaptor.getInits());
    SmallVector<bool> sizedInLoop;
    for (auto [j, axis] : llvm::enumerate(axes)) {
      auto stackedType =
          llvm::cast<RankedTensorType>(op.getStackedOutputs()[j].getType());
      Value step = yield.getValues()[numCarries + j];
      SmallVector<OpFoldResult> sizes;
      bool known = true;
      for (int64_t d = 0, e = stackedType.getRank(); d < e; ++d) {
        if (d == axis) {
          sizes.push_back(length);
          continue;
        }
        int64_t stepDim = d < axis ? d : d - 1;
        FailureOr<OpFoldResult> size =
            stepSizeBeforeScan(rewriter, loc, op, step, stepDim);
        if (failed(size)) {
          known = false;
          size = OpFoldResult(rewriter.getIndexAttr(0));
        }
        sizes.push_back(*size);
      }
      inits.push_back(createEmpty(rewriter, loc, stackedType, sizes));
      sizedInLoop.push_back(!known);
    }

    Value c0 = arith::ConstantIndexOp::create(rewriter, loc, 0);
    Value c1 = arith::ConstantIndexOp::create(rewriter, loc, 1);
    auto forOp =
        scf::ForOp::create(rewriter, loc, c0, length, c1, inits,
                           [](OpBuilder &, Location, Value, ValueRange) {});
    Block *loopBody = forOp.getBody();
    rewriter.setInsertionPointToStart(loopBody);
    Value i = forOp.getInductionVar();
    Value t = i;
    if (op.getReverse()) {
      Value last = arith::SubIOp::create(rewriter, loc, length, c1);
      t = arith::SubIOp::create(rewriter, loc, last, i);
    }
    SmallVector<Value> bodyArgs{t};
    llvm::append_range(bodyArgs,
                       forOp.getRegionIterArgs().take_front(numCarries));
    rewriter.inlineBlockBefore(&body, loopBody, loopBody->end(), bodyArgs);

    rewriter.setInsertionPoint(yield);
    SmallVector<Value> next(yield.getValues().take_front(numCarries));
    for (auto [j, axis] : llvm::enumerate(axes)) {
      Value acc = forOp.getRegionIterArgs()[numCarries + j];
      Value step = yield.getValues()[numCarries + j];
      if (sizedInLoop[j]) {
        // The first step allocates the stacked tensor at its own sizes.
        auto stackedType = llvm::cast<RankedTensorType>(acc.getType());
        int64_t timeAxis = axis;
        Value first = arith::CmpIOp::create(rewriter, loc,
                                            arith::CmpIPredicate::eq, i, c0);
        auto ifOp = scf::IfOp::create(
            rewriter, loc, first,
            [&](OpBuilder &b, Location loc) {
              SmallVector<OpFoldResult> sizes =
                  tensor::getMixedSizes(b, loc, step);
              sizes.insert(sizes.begin() + timeAxis, length);
              scf::YieldOp::create(b, loc,
                                   createEmpty(b, loc, stackedType, sizes));
            },
            [&](OpBuilder &b, Location loc) {
              scf::YieldOp::create(b, loc, acc);
            });
        acc = ifOp.getResult(0);
      }
      next.push_back(insertAt(rewriter, loc, step, acc, axis, t));
    }
    rewriter.replaceOpWithNewOp<scf::YieldOp>(yield, next);
    rewriter.replaceOp(op, forOp.getResults());
    return success();
  }
};

/// seq.assoc_scan -> a sequential inclusive scan: the results start as a
/// copy of the inputs and each position after the first combines the
/// running value (the combiner's first arguments) with its input.
struct AssocScanOpLowering : OpConversionPattern<seq::AssocScanOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(seq::AssocScanOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    int64_t axis = op.getAxis();
    ValueRange inputs = adaptor.getInputs();
    Block &combiner = op.getCombinerBlock();
    auto yield = llvm::cast<seq::YieldOp>(combiner.getTerminator());

    SmallVector<Value> inits;
    for (Value x : inputs) {
      auto type = llvm::cast<RankedTensorType>(x.getType());
      Value empty = createEmpty(rewriter, loc, type,
                                tensor::getMixedSizes(rewriter, loc, x));
      inits.push_back(
          linalg::CopyOp::create(rewriter, loc, x, empty).getResult(0));
    }
    Value n = getValueOrCreateConstantIndexOp(
        rewriter, loc, tensor::getMixedSize(rewriter, loc, inputs[0], axis));
    Value c1 = arith::ConstantIndexOp::create(rewriter, loc, 1);
    auto forOp =
        scf::ForOp::create(rewriter, loc, c1, n, c1, inits,
                           [](OpBuilder &, Location, Value, ValueRange) {});
    Block *loopBody = forOp.getBody();
    rewriter.setInsertionPointToStart(loopBody);
    Value i = forOp.getInductionVar();
    Value t = i, prev;
    if (op.getReverse()) {
      Value last = arith::SubIOp::create(rewriter, loc, n, c1);
      t = arith::SubIOp::create(rewriter, loc, last, i);
      prev = arith::AddIOp::create(rewriter, loc, t, c1);
    } else {
      prev = arith::SubIOp::create(rewriter, loc, t, c1);
    }

    SmallVector<Value> args;
    unsigned numInputs = op.getNumInputs();
    for (unsigned k = 0; k < numInputs; ++k)
      args.push_back(extractAt(
          rewriter, loc, forOp.getRegionIterArgs()[k], axis, prev,
          llvm::cast<RankedTensorType>(combiner.getArgument(k).getType())));
    for (unsigned k = 0; k < numInputs; ++k)
      args.push_back(extractAt(rewriter, loc, inputs[k], axis, t,
                               llvm::cast<RankedTensorType>(
                                   combiner.getArgument(numInputs + k)
                                       .getType())));
    rewriter.inlineBlockBefore(&combiner, loopBody, loopBody->end(), args);

    rewriter.setInsertionPoint(yield);
    SmallVector<Value> next;
    for (auto [k, v] : llvm::enumerate(yield.getValues()))
      next.push_back(
          insertAt(rewriter, loc, v, forOp.getRegionIterArgs()[k], axis, t));
    rewriter.replaceOpWithNewOp<scf::YieldOp>(yield, next);
    rewriter.replaceOp(op, forOp.getResults());
    return success();
  }
};

/// The pass: every seq.scan and seq.assoc_scan must go.
struct ConvertSeqToSCFPass
    : seqc::impl::ConvertSeqToSCFBase<ConvertSeqToSCFPass> {
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    ConversionTarget target(*ctx);
    target.addIllegalOp<seq::ScanOp, seq::AssocScanOp>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    RewritePatternSet patterns(ctx);
    populateSeqToSCFPatterns(patterns);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void seqc::populateSeqToSCFPatterns(RewritePatternSet &patterns) {
  patterns.add<ScanOpLowering, AssocScanOpLowering>(patterns.getContext());
}
