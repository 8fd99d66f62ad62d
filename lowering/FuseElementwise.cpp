//===- FuseElementwise.cpp - Elementwise fusion that never recomputes -----===//
//
// `seq-fuse-elementwise`: upstream's elementwise fusion of linalg ops on
// tensors (with reshape propagation and constant folding, as in
// `linalg-fuse-elementwise-ops`), but a producer is fused into a consumer only
// when the consumer evaluates each producer element once: where the consumer
// has more loops than the producer (a contraction reading `silu(x @ w1)`, a
// matmul reading softmax probabilities), fusion would redo the producer's
// work once per extra loop iteration (and hide the contraction from the
// vectoriser), so the producer is materialised instead. Producers that only
// forward or convert a value (a broadcast's yield, a cast) still fuse.
//
//===----------------------------------------------------------------------===//

#include "lowering/Passes.h"

#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/Transforms/Transforms.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace seqc {
#define GEN_PASS_DEF_SEQFUSEELEMENTWISE
#include "lowering/Passes.h.inc"
} // namespace seqc

using namespace mlir;

/// Whether the producer's body does no arithmetic (yields an argument or a
/// constant, or only casts one).
static bool isCheapBody(linalg::LinalgOp producer) {
  for (Operation &op : producer.getBlock()->without_terminator())
    if (!llvm::isa<arith::ExtFOp, arith::TruncFOp, arith::SIToFPOp,
                   arith::UIToFPOp, arith::FPToSIOp, arith::IndexCastOp,
                   arith::ExtSIOp, arith::ExtUIOp, arith::TruncIOp,
                   arith::ConstantOp>(op))
      return false;
  return true;
}

/// Fuses a producer used by this consumer only (several of its results
/// may be: the coefficient pairs of seq-recurrence-to-scan) unless the
/// consumer would recompute it.
static bool shouldFuse(OpOperand *fused) {
  Operation *producer = fused->get().getDefiningOp();
  if (!producer || producer->use_empty() ||
      llvm::any_of(producer->getUsers(), [&](Operation *user) {
        return user != fused->getOwner();
      }))
    return false;
  auto producerOp = llvm::dyn_cast<linalg::LinalgOp>(producer);
  auto consumerOp = llvm::dyn_cast<linalg::LinalgOp>(fused->getOwner());
  if (!producerOp || !consumerOp)
    return true;
  if (consumerOp.getNumLoops() <= producerOp.getNumLoops())
    return true;
  return isCheapBody(producerOp);
}

namespace {
struct SeqFuseElementwisePass
    : seqc::impl::SeqFuseElementwiseBase<SeqFuseElementwisePass> {
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    RewritePatternSet patterns(ctx);
    linalg::populateElementwiseOpsFusionPatterns(patterns, shouldFuse);
    linalg::populateFoldReshapeOpsByExpansionPatterns(patterns, shouldFuse);
    tensor::populateBubbleUpExpandShapePatterns(patterns);
    affine::AffineApplyOp::getCanonicalizationPatterns(patterns, ctx);
    linalg::GenericOp::getCanonicalizationPatterns(patterns, ctx);
    tensor::ExpandShapeOp::getCanonicalizationPatterns(patterns, ctx);
    tensor::CollapseShapeOp::getCanonicalizationPatterns(patterns, ctx);
    ctx->getLoadedDialect<linalg::LinalgDialect>()
        ->getCanonicalizationPatterns(patterns);
    linalg::populateConstantFoldLinalgOperations(patterns, shouldFuse);
    GreedyRewriteConfig config;
    config.setUseTopDownTraversal(true);
    if (failed(
            applyPatternsGreedily(getOperation(), std::move(patterns), config)))
      return signalPassFailure();
  }
};
} // namespace
