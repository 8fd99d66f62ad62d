//===- TileAndVectorize.cpp - Tile linalg ops and vectorise the tiles ----===//
//
// `seq-tile-and-vectorize`: on tensors, before bufferization, every linalg op
// is tiled into `scf.for` loops (contractions by an M x N x K register block,
// everything else by one vector along its innermost loop), the loops whose
// trip count may not divide are peeled so the main loop runs full, static
// tiles, and those static tiles are vectorised (`linalg::vectorize`:
// contractions to `vector.contract`, the rest to transfers, elementwise
// vector ops and `vector.multi_reduction`). The peeled remainders stay
// linalg ops on dynamic shapes and become scalar loops later.
//
// `seq-lower-vectors` runs after bufferization: it hoists the accumulator's
// transfers out of the reduction loops (so it lives in registers) and lowers
// contractions to outer products (FMAs), multi-reductions, transposes and
// transfers to what convert-vector-to-llvm takes.
//
//===----------------------------------------------------------------------===//

#include "lowering/Passes.h"

#include "mlir/Dialect/Math/Transforms/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/Transforms/Hoisting.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/Vector/Transforms/LoweringPatterns.h"
#include "mlir/Dialect/Vector/Transforms/VectorRewritePatterns.h"
#include "mlir/Dialect/Vector/Transforms/VectorTransforms.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace seqc {
#define GEN_PASS_DEF_SEQTILEANDVECTORIZE
#define GEN_PASS_DEF_SEQLOWERVECTORS
#include "lowering/Passes.h.inc"
} // namespace seqc

using namespace mlir;

namespace {

/// Tile sizes for one op (0: not tiled). A contraction gets an M x N x K
/// block on its innermost m, n and k loops and 1 on the others; any other op
/// one vector on its innermost loop and 1 on the others. A tile never exceeds
/// a static loop size.
struct TileConfig {
  int64_t m, n, k, width;
};

static SmallVector<int64_t> chooseTileSizes(linalg::LinalgOp op,
                                            const TileConfig &cfg) {
  unsigned numLoops = op.getNumLoops();
  SmallVector<int64_t> sizes(numLoops, 1);
  if (numLoops == 0)
    return sizes;
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  if (linalg::isaContractionOpInterface(op)) {
    FailureOr<linalg::ContractionDimensions> dims =
        linalg::inferContractionDims(op);
    if (succeeded(dims) && !dims->m.empty() && !dims->n.empty() &&
        !dims->k.empty()) {
      sizes[dims->m.back()] = cfg.m;
      sizes[dims->n.back()] = cfg.n;
      sizes[dims->k.back()] = cfg.k;
    } else {
      sizes.back() = cfg.width;
    }
  } else {
    sizes.back() = cfg.width;
    // A transpose (an input whose innermost axis is another loop than the
    // output's): a width x width block of both loops, read in rows and
    // transposed in registers, where one strided vector would be a gather.
    if (op.getNumReductionLoops() == 0 && op.getNumDpsInits() == 1 &&
        op.getMatchingIndexingMap(op.getDpsInitOperand(0)).isIdentity())
      for (OpOperand *in : op.getDpsInputOperands()) {
        AffineMap m = op.getMatchingIndexingMap(in);
        if (m.getNumResults() == 0 || !m.isPermutation())
          continue;
        unsigned inner =
            llvm::cast<AffineDimExpr>(m.getResults().back()).getPosition();
        if (inner != numLoops - 1)
          sizes[inner] = cfg.width;
      }
  }
  for (unsigned i = 0; i < numLoops; ++i)
    if (!ShapedType::isDynamic(ranges[i]) && ranges[i] < sizes[i])
      sizes[i] = std::max<int64_t>(ranges[i], 1);
  return sizes;
}

/// Whether the op is worth (and able to be) vectorised: static shapes, more
/// than one element, and small enough to be one tile (an untiled op on a big
/// static tensor would unroll into enormous vectors). Operands of sub-byte
/// elements (`i1` masks) are left scalar: a vector of `i1` in memory is a
/// packed bit mask, while the buffers hold one byte per element.
static bool isVectorizableTile(linalg::LinalgOp op, int64_t maxElements) {
  if (!op.hasPureTensorSemantics() || op.hasDynamicShape() ||
      op.getNumDpsInits() == 0)
    return false;
  int64_t elements = 1;
  for (int64_t r : op.getStaticLoopRanges())
    elements *= r;
  if (elements <= 1 || elements > maxElements)
    return false;
  // A reduction whose tile yields one element ends up as 0-d vectors, which
  // the LLVM conversion does not fully handle yet: left scalar.
  if (op.getNumReductionLoops() > 0)
    for (OpOperand &init : op.getDpsInitsMutable())
      if (llvm::cast<ShapedType>(init.get().getType()).getNumElements() <= 1)
        return false;
  for (Value operand : op->getOperands()) {
    Type elementType = getElementTypeOrSelf(operand.getType());
    if (!elementType.isIntOrIndexOrFloat() ||
        (!elementType.isIndex() && elementType.getIntOrFloatBitWidth() < 8))
      return false;
  }
  return succeeded(linalg::vectorizeOpPrecondition(op));
}

/// Marks the tile loops of the leading parallel dims of `op` (those before
/// its first reduction dim) with `seq.parallel`: their iterations write
/// disjoint tiles of every output, so they may run in any order, on any
/// thread (`convert-seq-parallel-to-runtime`). A dim counts only when every
/// output is indexed by it directly (`d_i` is a result of its map). Peeling
/// keeps the attribute on the main loop and clones it onto the remainder.
static void markParallelTileLoops(linalg::LinalgOp op,
                                  ArrayRef<LoopLikeOpInterface> loops) {
  if (loops.size() != op.getNumLoops())
    return;
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  for (unsigned i = 0; i < loops.size(); ++i) {
    if (iterators[i] != utils::IteratorType::parallel)
      return;
    bool indexesOutputs = true;
    for (OpOperand &init : op.getDpsInitsMutable()) {
      AffineMap map = op.getMatchingIndexingMap(&init);
      if (!llvm::is_contained(map.getResults(),
                              getAffineDimExpr(i, op->getContext())))
        indexesOutputs = false;
    }
    if (!indexesOutputs)
      return;
    auto forOp = llvm::dyn_cast<scf::ForOp>(LoopLikeOpInterface(loops[i]).getOperation());
    if (!forOp)
      return;
    forOp->setAttr("seq.parallel", UnitAttr::get(op->getContext()));
  }
}

struct SeqTileAndVectorizePass
    : seqc::impl::SeqTileAndVectorizeBase<SeqTileAndVectorizePass> {
  using Base::Base;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    MLIRContext *ctx = &getContext();
    IRRewriter rewriter(ctx);
    TileConfig cfg{tileM, tileN, tileK, vectorWidth};

    SmallVector<linalg::LinalgOp> ops;
    func.walk([&](linalg::LinalgOp op) {
      if (op.hasPureTensorSemantics() && op.getNumLoops() > 0 &&
          llvm::isa<TilingInterface>(op.getOperation()))
        ops.push_back(op);
    });

    for (linalg::LinalgOp op : ops) {
      // A reduction (not a contraction) that is small and static already
      // is one tile: vectorised whole, its rows reduce as vectors, where
      // tiles of one row each would stay scalar (see isVectorizableTile).
      if (op.getNumReductionLoops() > 0 && !op.hasDynamicShape() &&
          !linalg::isaContractionOpInterface(op)) {
        int64_t elements = 1;
        for (int64_t r : op.getStaticLoopRanges())
          elements *= r;
        if (elements <= maxTileElements)
          continue;
      }
      SmallVector<int64_t> sizes = chooseTileSizes(op, cfg);
      SmallVector<OpFoldResult> tileSizes;
      for (int64_t s : sizes)
        tileSizes.push_back(rewriter.getIndexAttr(s));
      scf::SCFTilingOptions options;
      options.setLoopType(scf::SCFTilingOptions::LoopType::ForOp);
      options.setTileSizes(tileSizes);
      rewriter.setInsertionPoint(op);
      FailureOr<scf::SCFTilingResult> tiled = scf::tileUsingSCF(
          rewriter, llvm::cast<TilingInterface>(op.getOperation()), options);
      if (failed(tiled))
        continue;
      markParallelTileLoops(op, tiled->loops);
      rewriter.replaceOp(op, tiled->replacements);
      if (!peel)
        continue;
      // Outermost first: the main part of each loop keeps the inner loops
      // that the next step peels, so the innermost main body has full tiles.
      for (LoopLikeOpInterface loop : tiled->loops) {
        auto forOp = llvm::dyn_cast<scf::ForOp>(loop.getOperation());
        if (!forOp)
          continue;
        scf::ForOp partial;
        (void)scf::peelForLoopAndSimplifyBounds(rewriter, forOp, partial);
      }
    }

    // Fold the peeled bounds into static slice sizes.
    {
      RewritePatternSet patterns(ctx);
      linalg::populateLinalgTilingCanonicalizationPatterns(patterns);
      tensor::populateFoldTensorEmptyPatterns(patterns);
      if (failed(applyPatternsGreedily(func, std::move(patterns))))
        return signalPassFailure();
    }

    SmallVector<linalg::LinalgOp> tiles;
    func.walk([&](linalg::LinalgOp op) {
      if (isVectorizableTile(op, maxTileElements))
        tiles.push_back(op);
    });
    for (linalg::LinalgOp op : tiles) {
      rewriter.setInsertionPoint(op);
      FailureOr<linalg::VectorizationResult> result = linalg::vectorize(
          rewriter, op, /*inputVectorSizes=*/{}, /*inputScalableVecDims=*/{},
          /*vectorizeNDExtract=*/false, /*flatten1DDepthwiseConv=*/false,
          /*assumeDynamicDimsMatchVecSizes=*/false,
          /*createNamedContraction=*/true);
      if (failed(result))
        continue;
      rewriter.replaceOp(op, result->replacements);
    }

    // Tidy the vector IR: reductions of products become contractions, unit
    // dimensions go, transfers of values just written are forwarded.
    RewritePatternSet patterns(ctx);
    vector::populateVectorReductionToContractPatterns(patterns);
    vector::populateCastAwayVectorLeadingOneDimPatterns(patterns);
    vector::populateSinkVectorOpsPatterns(patterns);
    vector::TransferReadOp::getCanonicalizationPatterns(patterns, ctx);
    vector::TransferWriteOp::getCanonicalizationPatterns(patterns, ctx);
    linalg::populateLinalgTilingCanonicalizationPatterns(patterns);
    if (failed(applyPatternsGreedily(func, std::move(patterns))))
      return signalPassFailure();
  }
};

struct SeqLowerVectorsPass
    : seqc::impl::SeqLowerVectorsBase<SeqLowerVectorsPass> {
  using Base::Base;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    MLIRContext *ctx = &getContext();
    // Keep accumulators in registers across the reduction loops.
    linalg::hoistRedundantVectorTransfers(func, /*verifyNonZeroTrip=*/true);

    {
      RewritePatternSet patterns(ctx);
      vector::populateCastAwayVectorLeadingOneDimPatterns(patterns);
      vector::TransferReadOp::getCanonicalizationPatterns(patterns, ctx);
      vector::TransferWriteOp::getCanonicalizationPatterns(patterns, ctx);
      if (failed(applyPatternsGreedily(func, std::move(patterns))))
        return signalPassFailure();
    }
    {
      RewritePatternSet patterns(ctx);
      vector::populateVectorContractLoweringPatterns(
          patterns, vector::VectorContractLowering::OuterProduct);
      vector::populateVectorOuterProductLoweringPatterns(patterns);
      vector::populateVectorMultiReductionLoweringPatterns(
          patterns, vector::VectorMultiReductionLowering::InnerReduction);
      vector::populateVectorTransposeLoweringPatterns(
          patterns, vector::VectorTransposeLowering::Shuffle16x16);
      vector::populateVectorBroadcastLoweringPatterns(patterns);
      vector::populateVectorShapeCastLoweringPatterns(patterns);
      vector::populateVectorTransferPermutationMapLoweringPatterns(patterns);
      // Single-element transfers (a broadcast value) become scalar loads and
      // stores first: 0-d vector loads do not reach LLVM.
      vector::populateScalarVectorTransferLoweringPatterns(
          patterns, /*benefit=*/2, /*allowMultipleUses=*/true);
      vector::populateVectorTransferLoweringPatterns(patterns,
                                                     /*maxTransferRank=*/1);
      vector::populateVectorMaskOpLoweringPatterns(patterns);
      if (failed(applyPatternsGreedily(func, std::move(patterns))))
        return signalPassFailure();
    }
    {
      // exp, tanh and erf on f32 as polynomials (FMAs on whole vectors)
      // instead of one libm call per element; they are what softmax,
      // sigmoid, silu and gelu spend their time in.
      RewritePatternSet patterns(ctx);
      populateMathPolynomialApproximationPatterns(
          patterns, [](StringRef name) {
            return name == "math.exp" || name == "math.tanh" ||
                   name == "math.erf";
          });
      if (failed(applyPatternsGreedily(func, std::move(patterns))))
        return signalPassFailure();
    }
  }
};

} // namespace
