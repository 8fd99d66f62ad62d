//===- SeqToLinalg.cpp - seq.softmax to linalg ----------------------------===//
//
// Decomposes `seq.softmax` into a max reduction, an exponential, a sum
// reduction and a division, all linalg on tensors, keeping the seq
// convention that a fully masked row (all `-inf`) gives zeros, not NaN.
//
//===----------------------------------------------------------------------===//

#include "lowering/Passes.h"

#include "dialects/Seq/Seq.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Transforms/DialectConversion.h"

namespace seqc {
#define GEN_PASS_DEF_CONVERTSEQTOLINALG
#include "lowering/Passes.h.inc"
} // namespace seqc

using namespace mlir;
using namespace seqc;

/// `tensor.empty` of `type` with `sizes` (one per dimension).
static Value createEmpty(OpBuilder &b, Location loc, RankedTensorType type,
                         ArrayRef<OpFoldResult> sizes) {
  SmallVector<Value> dynamic;
  for (auto [i, size] : llvm::enumerate(sizes))
    if (type.isDynamicDim(i))
      dynamic.push_back(getValueOrCreateConstantIndexOp(b, loc, size));
  return tensor::EmptyOp::create(b, loc, type, dynamic);
}

/// A tensor of `type` and `sizes` filled with `value`.
static Value createFilled(OpBuilder &b, Location loc, RankedTensorType type,
                          ArrayRef<OpFoldResult> sizes, TypedAttr value) {
  Value empty = createEmpty(b, loc, type, sizes);
  Value cst = arith::ConstantOp::create(b, loc, value);
  return linalg::FillOp::create(b, loc, cst, empty).getResult(0);
}

namespace {

/// seq.softmax -> max reduce, exp(x - max'), sum reduce, guarded divide.
struct SoftmaxOpLowering : OpConversionPattern<seq::SoftmaxOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(seq::SoftmaxOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = adaptor.getInput();
    auto type = llvm::cast<RankedTensorType>(x.getType());
    auto elemType = llvm::cast<FloatType>(type.getElementType());
    int64_t rank = type.getRank();
    int64_t axis = op.getAxis();

    // The shape with `axis` reduced away.
    SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(rewriter, loc, x);
    SmallVector<OpFoldResult> reducedSizes(sizes);
    reducedSizes.erase(reducedSizes.begin() + axis);
    SmallVector<int64_t> reducedShape(type.getShape());
    reducedShape.erase(reducedShape.begin() + axis);
    auto reducedType = RankedTensorType::get(reducedShape, elemType);

    TypedAttr negInf = rewriter.getFloatAttr(
        elemType, APFloat::getInf(elemType.getFloatSemantics(), true));
    TypedAttr zero = rewriter.getFloatAttr(elemType, 0.0);

    Value maxInit =
        createFilled(rewriter, loc, reducedType, reducedSizes, negInf);
    Value max =
        linalg::ReduceOp::create(
            rewriter, loc, x, maxInit, axis,
            [](OpBuilder &b, Location loc, ValueRange args) {
              linalg::YieldOp::create(
                  b, loc,
                  arith::MaxNumFOp::create(b, loc, args[0], args[1])
                      .getResult());
            })
            .getResult(0);

    // Maps: the full iteration space, and the same with `axis` dropped.
    MLIRContext *ctx = rewriter.getContext();
    AffineMap identity = AffineMap::getMultiDimIdentityMap(rank, ctx);
    SmallVector<AffineExpr> reducedExprs;
    for (int64_t d = 0; d < rank; ++d)
      if (d != axis)
        reducedExprs.push_back(getAffineDimExpr(d, ctx));
    AffineMap reducedMap = AffineMap::get(rank, 0, reducedExprs, ctx);
    SmallVector<utils::IteratorType> parallel(rank,
                                              utils::IteratorType::parallel);

    // exp(x - max'), max' = (max == -inf ? 0 : max): a masked row gives 0s.
    Value expInit = createEmpty(rewriter, loc, type, sizes);
    Value exp =
        linalg::GenericOp::create(
            rewriter, loc, type, ValueRange{x, max}, ValueRange{expInit},
            ArrayRef<AffineMap>{identity, reducedMap, identity}, parallel,
            [&](OpBuilder &b, Location loc, ValueRange args) {
              Value ninf = arith::ConstantOp::create(b, loc, negInf);
              Value zeroCst = arith::ConstantOp::create(b, loc, zero);
              Value isNegInf = arith::CmpFOp::create(
                  b, loc, arith::CmpFPredicate::OEQ, args[1], ninf);
              Value m =
                  arith::SelectOp::create(b, loc, isNegInf, zeroCst, args[1]);
              Value diff = arith::SubFOp::create(b, loc, args[0], m);
              linalg::YieldOp::create(
                  b, loc, math::ExpOp::create(b, loc, diff).getResult());
            })
            .getResult(0);

    Value sumInit =
        createFilled(rewriter, loc, reducedType, reducedSizes, zero);
    Value sum = linalg::ReduceOp::create(
                    rewriter, loc, exp, sumInit, axis,
                    [](OpBuilder &b, Location loc, ValueRange args) {
                      linalg::YieldOp::create(
                          b, loc,
                          arith::AddFOp::create(b, loc, args[0], args[1])
                              .getResult());
                    })
                    .getResult(0);

    // e / sum, and 0 where the sum is 0.
    Value divInit = createEmpty(rewriter, loc, type, sizes);
    rewriter.replaceOpWithNewOp<linalg::GenericOp>(
        op, type, ValueRange{exp, sum}, ValueRange{divInit},
        ArrayRef<AffineMap>{identity, reducedMap, identity}, parallel,
        [&](OpBuilder &b, Location loc, ValueRange args) {
          Value zeroCst = arith::ConstantOp::create(b, loc, zero);
          Value isZero = arith::CmpFOp::create(
              b, loc, arith::CmpFPredicate::OEQ, args[1], zeroCst);
          Value q = arith::DivFOp::create(b, loc, args[0], args[1]);
          linalg::YieldOp::create(
              b, loc, arith::SelectOp::create(b, loc, isZero, zeroCst, q)
                          .getResult());
        });
    return success();
  }
};

/// The pass: every seq.softmax must go.
struct ConvertSeqToLinalgPass
    : seqc::impl::ConvertSeqToLinalgBase<ConvertSeqToLinalgPass> {
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    ConversionTarget target(*ctx);
    target.addIllegalOp<seq::SoftmaxOp>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    RewritePatternSet patterns(ctx);
    populateSeqToLinalgPatterns(patterns);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void seqc::populateSeqToLinalgPatterns(RewritePatternSet &patterns) {
  patterns.add<SoftmaxOpLowering>(patterns.getContext());
}
