//===- LowerAttention.cpp - seq.attention to FlashAttention-2 loops -------===//
//
// `seq-lower-attention` lowers `seq.attention` on tensors to the loop order
// of FlashAttention-2: one parallel loop over (batch axes x query tiles),
// and inside it a loop over key tiles carrying the running row maximum,
// the running row sum and the output accumulator of the query tile, all
// f32. Per key tile: the scores tile is a `linalg.matmul` of the query tile
// with the transposed key tile; the score region (and the mask, where the
// tile needs it) is a `linalg.generic` over the tile; then the online
// softmax update rescales the sum and the accumulator once and adds the
// tile's probabilities times the value tile (`linalg.matmul`). The ops on
// tiles have static shapes, so `seq-tile-and-vectorize` vectorises them.
//
// Inputs are padded to whole tiles once (O(T) memory): keys past the end
// are masked, query rows past the end are computed and dropped. The mask
// constraints bound whole tiles: a key tile they mask entirely is skipped,
// one they leave entirely valid skips the mask.
//
//===----------------------------------------------------------------------===//

#include "lowering/Passes.h"

#include "dialects/Seq/Seq.h"

#include "mlir/Dialect/Utils/IndexingUtils.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/IRMapping.h"

namespace seqc {
#define GEN_PASS_DEF_SEQLOWERATTENTION
#include "lowering/Passes.h.inc"
} // namespace seqc

using namespace mlir;
using namespace seqc;

namespace {

/// Identity and projection maps over `rank` loops.
static AffineMap identity(MLIRContext *ctx, unsigned rank) {
  return AffineMap::getMultiDimIdentityMap(rank, ctx);
}

} // namespace

Value seqc::generic(
    OpBuilder &b, Location loc, Value init, ValueRange inputs,
    ArrayRef<AffineMap> maps, ArrayRef<utils::IteratorType> iterators,
    function_ref<Value(OpBuilder &, Location, ValueRange)> fn) {
  return linalg::GenericOp::create(
             b, loc, TypeRange{init.getType()}, inputs, ValueRange{init}, maps,
             iterators,
             [&](OpBuilder &nb, Location l, ValueRange args) {
               linalg::YieldOp::create(nb, l, fn(nb, l, args));
             })
      .getResult(0);
}

namespace {

static Value fill(OpBuilder &b, Location loc, ArrayRef<int64_t> shape,
                  float value) {
  Value empty = tensor::EmptyOp::create(b, loc, shape, b.getF32Type());
  Value cst = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(value));
  return linalg::FillOp::create(b, loc, cst, empty).getResult(0);
}

static Value index(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}

/// `ceil(x / t) * t`.
static Value roundUp(OpBuilder &b, Location loc, Value x, int64_t t) {
  Value tv = index(b, loc, t);
  Value q = arith::CeilDivUIOp::create(b, loc, x, tv);
  return arith::MulIOp::create(b, loc, q, tv);
}

/// `x` (f32 or narrower) padded with zeros along `axis` to `padded`, and
/// transposed by `perm` (empty: no transpose). The result is f32.
static Value padTo(OpBuilder &b, Location loc, Value x, int64_t axis,
                   Value padded, ArrayRef<int64_t> perm) {
  auto type = llvm::cast<RankedTensorType>(x.getType());
  int64_t rank = type.getRank();
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, x);
  if (type.getElementType() != b.getF32Type() || !perm.empty()) {
    SmallVector<OpFoldResult> tsizes = sizes;
    SmallVector<AffineExpr> inExprs;
    if (!perm.empty())
      tsizes = applyPermutation(sizes, perm);
    Value empty = tensor::EmptyOp::create(b, loc, tsizes, b.getF32Type());
    SmallVector<AffineExpr> exprs(rank);
    for (int64_t i = 0; i < rank; ++i)
      exprs[perm.empty() ? i : perm[i]] = b.getAffineDimExpr(i);
    AffineMap inMap = AffineMap::get(rank, 0, exprs, b.getContext());
    SmallVector<utils::IteratorType> par(rank, utils::IteratorType::parallel);
    x = generic(b, loc, empty, x, {inMap, identity(b.getContext(), rank)}, par,
                [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
                  if (a[0].getType() == nb.getF32Type())
                    return a[0];
                  return arith::ExtFOp::create(nb, l, nb.getF32Type(), a[0]);
                });
    sizes = tsizes;
    if (!perm.empty())
      axis = llvm::find(perm, axis) - perm.begin();
  }
  SmallVector<OpFoldResult> psizes = sizes;
  psizes[axis] = padded;
  Value empty = tensor::EmptyOp::create(b, loc, psizes, b.getF32Type());
  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0));
  Value z = linalg::FillOp::create(b, loc, zero, empty).getResult(0);
  SmallVector<OpFoldResult> offsets(rank, b.getIndexAttr(0));
  SmallVector<OpFoldResult> strides(rank, b.getIndexAttr(1));
  return tensor::InsertSliceOp::create(b, loc, x, z, offsets, sizes, strides);
}

/// `x`, or 0 where it is -inf (the max of a row that saw no key yet).
static Value safeMax(OpBuilder &b, Location loc, Value x) {
  Value ninf = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(-INFINITY));
  Value isInf =
      arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, x, ninf);
  return arith::SelectOp::create(
      b, loc, isInf, arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0)),
      x);
}

/// Body `exp(x - safe(max))` of (x, max), exactly 0 where x is -inf
/// (whatever the implementation of exp gives there).
static Value expShifted(OpBuilder &b, Location loc, ValueRange args) {
  Value d = arith::SubFOp::create(b, loc, args[0], safeMax(b, loc, args[1]));
  Value e = math::ExpOp::create(b, loc, d);
  Value ninf = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(-INFINITY));
  Value masked =
      arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, args[0], ninf);
  return arith::SelectOp::create(
      b, loc, masked, arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0)),
      e);
}

struct LowerAttention {
  int64_t tileQ, tileK, minParallel;

  LogicalResult lower(seq::AttentionOp op);
};

/// The bounds of `a i + b j + c` over the tile i in [i0, i0 + ti),
/// j in [j0, j0 + tj): (min, max).
static std::pair<Value, Value> bounds(OpBuilder &b, Location loc,
                                      std::array<int64_t, 3> k, Value i0,
                                      int64_t ti, Value j0, int64_t tj) {
  auto term = [&](int64_t coef, Value lo, int64_t t, bool wantMin) -> Value {
    // coef * x over x in [lo, lo + t - 1].
    bool atLo = (coef >= 0) == wantMin;
    Value x = atLo ? lo : arith::AddIOp::create(b, loc, lo, index(b, loc, t - 1));
    return arith::MulIOp::create(b, loc, x, index(b, loc, coef));
  };
  auto sum = [&](bool wantMin) {
    Value v = arith::AddIOp::create(b, loc, term(k[0], i0, ti, wantMin),
                                    term(k[1], j0, tj, wantMin));
    return arith::AddIOp::create(b, loc, v, index(b, loc, k[2])).getResult();
  };
  return {sum(true), sum(false)};
}

LogicalResult LowerAttention::lower(seq::AttentionOp op) {
  OpBuilder b(op);
  Location loc = op.getLoc();
  MLIRContext *ctx = b.getContext();
  Type f32 = b.getF32Type();
  int64_t n = op.getNumBatchDims();
  auto qType = llvm::cast<RankedTensorType>(op.getQuery().getType());
  auto vType = llvm::cast<RankedTensorType>(op.getValue().getType());
  auto outType = llvm::cast<RankedTensorType>(op.getType());
  int64_t D = qType.getDimSize(n + 1), Dv = vType.getDimSize(n + 1);
  if (ShapedType::isDynamic(D) || ShapedType::isDynamic(Dv))
    return op.emitOpError("needs static head sizes to be lowered");
  // A static query length shorter than a tile (decoding: one query) is
  // the tile, so no padded rows are computed.
  int64_t BQ = tileQ;
  if (!qType.isDynamicDim(n) && qType.getDimSize(n) < BQ)
    BQ = std::max<int64_t>(qType.getDimSize(n), 1);
  const int64_t BK = tileK;

  Value tq = tensor::DimOp::create(b, loc, op.getQuery(), n);
  Value tk = tensor::DimOp::create(b, loc, op.getKey(), n);
  Value tqp = roundUp(b, loc, tq, BQ), tkp = roundUp(b, loc, tk, BK);
  // Q: [nb.., Tqp, D]; Kt: [kb.., D, Tkp]; V: [vb.., Tkp, Dv], all f32.
  SmallVector<int64_t> kPerm = llvm::to_vector(llvm::seq<int64_t>(0, n + 2));
  std::swap(kPerm[n], kPerm[n + 1]);
  Value qp = padTo(b, loc, op.getQuery(), n, tqp, {});
  Value ktp = padTo(b, loc, op.getKey(), n, tkp, kPerm);
  Value vp = padTo(b, loc, op.getValue(), n, tkp, {});
  auto kType = llvm::cast<RankedTensorType>(op.getKey().getType());

  // The padded output and the parallel loop over (batch, query tile).
  SmallVector<OpFoldResult> outSizes;
  SmallVector<Value> batchSizes;
  for (int64_t i = 0; i < n; ++i) {
    outSizes.push_back(tensor::getMixedSize(b, loc, op.getQuery(), i));
    batchSizes.push_back(tensor::DimOp::create(b, loc, op.getQuery(), i));
  }
  outSizes.push_back(tqp);
  outSizes.push_back(b.getIndexAttr(Dv));
  Value outInit = tensor::EmptyOp::create(b, loc, outSizes, f32);
  Value nq = arith::DivUIOp::create(b, loc, tqp, index(b, loc, BQ));
  Value nk = arith::DivUIOp::create(b, loc, tkp, index(b, loc, BK));
  Value total = nq;
  for (Value s : batchSizes)
    total = arith::MulIOp::create(b, loc, total, s);
  Value c0 = index(b, loc, 0), c1 = index(b, loc, 1);
  // Flash-decoding: when (batch x query tiles) is fewer than
  // `min-parallel` work items (one query against a long key sequence),
  // the key tiles are split into S chunks that run in parallel too; each
  // leaves its (max, sum, acc) and a second loop merges them.
  Value splits = arith::CeilDivUIOp::create(
      b, loc, index(b, loc, minParallel), arith::MaxUIOp::create(b, loc, total, c1));
  splits = arith::MaxUIOp::create(
      b, loc, arith::MinUIOp::create(b, loc, splits, nk), c1);
  Value chunk = arith::MaxUIOp::create(
      b, loc, arith::CeilDivUIOp::create(b, loc, nk, splits), c1);
  splits = arith::MaxUIOp::create(
      b, loc, arith::CeilDivUIOp::create(b, loc, nk, chunk), c1);
  Value items = arith::MulIOp::create(b, loc, total, splits);
  Value mInit = tensor::EmptyOp::create(
      b, loc, ArrayRef<OpFoldResult>{items, b.getIndexAttr(BQ)}, f32);
  Value lInit = tensor::EmptyOp::create(
      b, loc, ArrayRef<OpFoldResult>{items, b.getIndexAttr(BQ)}, f32);
  Value aInit = tensor::EmptyOp::create(
      b, loc,
      ArrayRef<OpFoldResult>{items, b.getIndexAttr(BQ), b.getIndexAttr(Dv)},
      f32);

  // t -> (batch indices, first query row). Query tiles alternate between
  // the first and last ones still to do, so that contiguous chunks of t
  // get equal work under a causal mask.
  auto decode = [&](Value t, SmallVector<Value> &bidx) -> Value {
    Value r = arith::RemUIOp::create(b, loc, t, nq);
    Value rest = arith::DivUIOp::create(b, loc, t, nq);
    Value half = arith::DivUIOp::create(b, loc, r, index(b, loc, 2));
    Value odd = arith::CmpIOp::create(
        b, loc, arith::CmpIPredicate::ne,
        arith::RemUIOp::create(b, loc, r, index(b, loc, 2)), c0);
    Value last = arith::SubIOp::create(
        b, loc, arith::SubIOp::create(b, loc, nq, c1), half);
    Value qt = arith::SelectOp::create(b, loc, odd, last, half);
    bidx.assign(n, Value());
    for (int64_t i = n - 1; i >= 0; --i) {
      bidx[i] = arith::RemUIOp::create(b, loc, rest, batchSizes[i]);
      rest = arith::DivUIOp::create(b, loc, rest, batchSizes[i]);
    }
    return arith::MulIOp::create(b, loc, qt, index(b, loc, BQ));
  };
  // Slices of the per-item buffers: [BQ] of m and l, [BQ, Dv] of acc.
  auto itemSlice = [&](Value buf, Value item, bool matrix) -> Value {
    SmallVector<OpFoldResult> offsets = {item, b.getIndexAttr(0)};
    SmallVector<OpFoldResult> sizes = {b.getIndexAttr(1), b.getIndexAttr(BQ)};
    SmallVector<int64_t> shape = {BQ};
    if (matrix) {
      offsets.push_back(b.getIndexAttr(0));
      sizes.push_back(b.getIndexAttr(Dv));
      shape.push_back(Dv);
    }
    SmallVector<OpFoldResult> strides(sizes.size(), b.getIndexAttr(1));
    return tensor::ExtractSliceOp::create(
        b, loc, RankedTensorType::get(shape, f32), buf, offsets, sizes,
        strides);
  };
  auto itemInsert = [&](Value tile, Value buf, Value item) -> Value {
    auto t = llvm::cast<RankedTensorType>(tile.getType());
    SmallVector<OpFoldResult> offsets = {item, b.getIndexAttr(0)};
    SmallVector<OpFoldResult> sizes = {b.getIndexAttr(1), b.getIndexAttr(BQ)};
    if (t.getRank() == 2) {
      offsets.push_back(b.getIndexAttr(0));
      sizes.push_back(b.getIndexAttr(Dv));
    }
    SmallVector<OpFoldResult> strides(sizes.size(), b.getIndexAttr(1));
    return tensor::InsertSliceOp::create(b, loc, tile, buf, offsets, sizes,
                                         strides);
  };

  auto outer = scf::ForOp::create(b, loc, c0, items, c1,
                                  ValueRange{mInit, lInit, aInit});
  outer->setAttr("seq.parallel", b.getUnitAttr());
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(outer.getBody());
    Value w = outer.getInductionVar();
    Value split = arith::RemUIOp::create(b, loc, w, splits);
    SmallVector<Value> bidx;
    Value q0 = decode(arith::DivUIOp::create(b, loc, w, splits), bidx);
    // The position of the tile's first query, for the mask and the region.
    Value qPos = op.getOffset() ? arith::AddIOp::create(b, loc, q0, op.getOffset())
                                : q0;
    Value kLo = arith::MulIOp::create(b, loc, split, chunk);
    Value kHi = arith::MinUIOp::create(
        b, loc, arith::AddIOp::create(b, loc, kLo, chunk), nk);
    auto slice2D = [&](Value src, ArrayRef<Value> lead, Value off0, Value off1,
                       int64_t s0, int64_t s1) -> Value {
      SmallVector<OpFoldResult> offsets, sizes, strides(n + 2,
                                                        b.getIndexAttr(1));
      for (Value v : lead) {
        offsets.push_back(v);
        sizes.push_back(b.getIndexAttr(1));
      }
      offsets.push_back(off0);
      offsets.push_back(off1);
      sizes.push_back(b.getIndexAttr(s0));
      sizes.push_back(b.getIndexAttr(s1));
      auto t = RankedTensorType::get({s0, s1}, f32);
      return tensor::ExtractSliceOp::create(b, loc, t, src, offsets, sizes,
                                            strides);
    };
    // Batch indices of the keys and values: 0 on shared (unit) axes.
    auto sharedIdx = [&](RankedTensorType t) {
      SmallVector<Value> idx;
      for (int64_t i = 0; i < n; ++i)
        idx.push_back(t.getDimSize(i) == 1 ? c0 : bidx[i]);
      return idx;
    };
    SmallVector<Value> kIdx = sharedIdx(kType), vIdx = sharedIdx(vType);
    Value qTile = slice2D(qp, bidx, q0, c0, BQ, D);

    Value m0 = fill(b, loc, {BQ}, -INFINITY), l0 = fill(b, loc, {BQ}, 0.0f);
    Value a0 = fill(b, loc, {BQ, Dv}, 0.0f);
    auto inner = scf::ForOp::create(b, loc, kLo, kHi, c1, ValueRange{m0, l0, a0});
    {
      OpBuilder::InsertionGuard g2(b);
      b.setInsertionPointToStart(inner.getBody());
      Value kt = inner.getInductionVar();
      Value m = inner.getRegionIterArgs()[0], l = inner.getRegionIterArgs()[1],
            a = inner.getRegionIterArgs()[2];
      Value k0 = arith::MulIOp::create(b, loc, kt, index(b, loc, BK));
      // Tile status under the mask constraints and the key length.
      Value allMasked = arith::ConstantIntOp::create(b, loc, 0, 1);
      Value kEnd = arith::AddIOp::create(b, loc, k0, index(b, loc, BK));
      Value allValid =
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle, kEnd, tk);
      for (std::array<int64_t, 3> c : op.getMaskConstraints()) {
        auto [lo, hi] = bounds(b, loc, c, qPos, BQ, k0, BK);
        Value none = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt,
                                           hi, c0);
        Value all = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge,
                                          lo, c0);
        allMasked = arith::OrIOp::create(b, loc, allMasked, none);
        allValid = arith::AndIOp::create(b, loc, allValid, all);
      }
      auto skip = scf::IfOp::create(b, loc, TypeRange{m.getType(), l.getType(),
                                                      a.getType()},
                                    allMasked, /*withElse=*/true);
      b.setInsertionPointToStart(&skip.getThenRegion().front());
      scf::YieldOp::create(b, loc, ValueRange{m, l, a});
      b.setInsertionPointToStart(&skip.getElseRegion().front());

      // Scores: Q tile x Kt tile.
      Value kTile = slice2D(ktp, kIdx, c0, k0, D, BK);
      Value sInit = fill(b, loc, {BQ, BK}, 0);
      Value s = linalg::MatmulOp::create(b, loc, TypeRange{sInit.getType()},
                                         ValueRange{qTile, kTile},
                                         ValueRange{sInit})
                    .getResult(0);
      // The score region (and the mask where the tile needs it).
      auto par2 = SmallVector<utils::IteratorType>(2, utils::IteratorType::parallel);
      auto id2 = identity(ctx, 2);
      double scale = op.getScaleOrOne();
      Block &region = op.getScoreBlock();
      auto modify = [&](bool masked) {
        return generic(
            b, loc, fill(b, loc, {BQ, BK}, 0), s, {id2, id2}, par2,
            [&](OpBuilder &nb, Location l, ValueRange args) -> Value {
              Value score = args[0];
              if (scale != 1.0)
                score = arith::MulFOp::create(
                    nb, l, score,
                    arith::ConstantOp::create(nb, l, nb.getF32FloatAttr(scale)));
              Value qi = arith::AddIOp::create(
                  nb, l, qPos, linalg::IndexOp::create(nb, l, 0));
              Value ki = arith::AddIOp::create(
                  nb, l, k0, linalg::IndexOp::create(nb, l, 1));
              IRMapping mapping;
              mapping.map(region.getArgument(0), score);
              for (int64_t i = 0; i < n; ++i)
                mapping.map(region.getArgument(1 + i), bidx[i]);
              mapping.map(region.getArgument(n + 1), qi);
              mapping.map(region.getArgument(n + 2), ki);
              for (Operation &o : region.without_terminator())
                nb.clone(o, mapping);
              Value out = mapping.lookupOrDefault(
                  llvm::cast<seq::YieldOp>(region.getTerminator())
                      .getValues()[0]);
              if (!masked)
                return out;
              Value valid = arith::CmpIOp::create(
                  nb, l, arith::CmpIPredicate::slt, ki, tk);
              for (std::array<int64_t, 3> c : op.getMaskConstraints()) {
                Value e = arith::AddIOp::create(
                    nb, l,
                    arith::MulIOp::create(nb, l, qi, index(nb, l, c[0])),
                    arith::MulIOp::create(nb, l, ki, index(nb, l, c[1])));
                e = arith::AddIOp::create(nb, l, e, index(nb, l, c[2]));
                valid = arith::AndIOp::create(
                    nb, l, valid,
                    arith::CmpIOp::create(nb, l, arith::CmpIPredicate::sge, e,
                                          index(nb, l, 0)));
              }
              Value ninf = arith::ConstantOp::create(
                  nb, l, nb.getF32FloatAttr(-INFINITY));
              return arith::SelectOp::create(nb, l, valid, out, ninf);
            });
      };
      bool trivial = scale == 1.0 && region.getOperations().size() == 1 &&
                     llvm::cast<seq::YieldOp>(region.getTerminator())
                             .getValues()[0] == region.getArgument(0);
      auto pick = scf::IfOp::create(b, loc, TypeRange{s.getType()}, allValid,
                                    /*withElse=*/true);
      b.setInsertionPointToStart(&pick.getThenRegion().front());
      scf::YieldOp::create(b, loc, trivial ? s : modify(false));
      b.setInsertionPointToStart(&pick.getElseRegion().front());
      scf::YieldOp::create(b, loc, modify(true));
      b.setInsertionPointAfter(pick);
      s = pick.getResult(0);

      // Online softmax: new maximum, probabilities, rescaled sum and
      // accumulator. A row still all -inf keeps max -inf and adds zeros.
      auto id1 = identity(ctx, 1);
      auto rowOf2 = AffineMap::get(2, 0, {b.getAffineDimExpr(0)}, ctx);
      SmallVector<utils::IteratorType> red2 = {utils::IteratorType::parallel,
                                               utils::IteratorType::reduction};
      SmallVector<utils::IteratorType> par1 = {utils::IteratorType::parallel};
      Value rowMax = generic(b, loc, m, s, {id2, rowOf2}, red2,
                             [](OpBuilder &nb, Location l, ValueRange args) {
                               return arith::MaxNumFOp::create(nb, l, args[0],
                                                               args[1])
                                   .getResult();
                             });
      // `rowMax` starts from m (so it is the new max); m itself is still
      // needed for the rescale, so bufferization copies it once per tile.
      Value p = generic(b, loc, fill(b, loc, {BQ, BK}, 0), ValueRange{s, rowMax},
                        {id2, rowOf2, id2}, par2, expShifted);
      Value alpha = generic(b, loc, fill(b, loc, {BQ}, 0), ValueRange{m, rowMax},
                            {id1, id1, id1}, par1, expShifted);
      Value lScaled = generic(b, loc, l, ValueRange{alpha}, {id1, id1}, par1,
                              [](OpBuilder &nb, Location loc2, ValueRange args) {
                                return arith::MulFOp::create(nb, loc2, args[1],
                                                             args[0])
                                    .getResult();
                              });
      Value lNew = generic(b, loc, lScaled, p, {id2, rowOf2}, red2,
                           [](OpBuilder &nb, Location l, ValueRange args) {
                             return arith::AddFOp::create(nb, l, args[1],
                                                          args[0])
                                 .getResult();
                           });
      Value aScaled = generic(b, loc, a, ValueRange{alpha}, {rowOf2, id2}, par2,
                              [](OpBuilder &nb, Location l, ValueRange args) {
                                return arith::MulFOp::create(nb, l, args[1],
                                                             args[0])
                                    .getResult();
                              });
      Value vTile = slice2D(vp, vIdx, k0, c0, BK, Dv);
      Value aNew = linalg::MatmulOp::create(b, loc, TypeRange{aScaled.getType()},
                                            ValueRange{p, vTile},
                                            ValueRange{aScaled})
                       .getResult(0);
      scf::YieldOp::create(b, loc, ValueRange{rowMax, lNew, aNew});
      b.setInsertionPointAfter(skip);
      scf::YieldOp::create(b, loc, skip.getResults());
    }
    // This item's (max, sum, acc).
    SmallVector<Value> written = {
        itemInsert(inner.getResult(0), outer.getRegionIterArgs()[0], w),
        itemInsert(inner.getResult(1), outer.getRegionIterArgs()[1], w),
        itemInsert(inner.getResult(2), outer.getRegionIterArgs()[2], w)};
    scf::YieldOp::create(b, loc, written);
  }

  // Merge the splits of each (batch, query tile): the online softmax's
  // combination of (max, sum, acc), then out = acc / sum (0 for a row that
  // saw no key).
  auto merge = scf::ForOp::create(b, loc, c0, total, c1, ValueRange{outInit});
  merge->setAttr("seq.parallel", b.getUnitAttr());
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(merge.getBody());
    Value t = merge.getInductionVar();
    SmallVector<Value> bidx;
    Value q0 = decode(t, bidx);
    auto id1 = identity(ctx, 1), id2 = identity(ctx, 2);
    auto rowOf2 = AffineMap::get(2, 0, {b.getAffineDimExpr(0)}, ctx);
    SmallVector<utils::IteratorType> par1 = {utils::IteratorType::parallel};
    SmallVector<utils::IteratorType> par2(2, utils::IteratorType::parallel);
    Value m0 = fill(b, loc, {BQ}, -INFINITY), l0 = fill(b, loc, {BQ}, 0.0f);
    Value a0 = fill(b, loc, {BQ, Dv}, 0.0f);
    auto combine = scf::ForOp::create(b, loc, c0, splits, c1,
                                      ValueRange{m0, l0, a0});
    {
      OpBuilder::InsertionGuard g2(b);
      b.setInsertionPointToStart(combine.getBody());
      Value item = arith::AddIOp::create(
          b, loc, arith::MulIOp::create(b, loc, t, splits),
          combine.getInductionVar());
      Value m = combine.getRegionIterArgs()[0], l = combine.getRegionIterArgs()[1],
            a = combine.getRegionIterArgs()[2];
      Value ms = itemSlice(outer.getResult(0), item, false);
      Value ls = itemSlice(outer.getResult(1), item, false);
      Value as = itemSlice(outer.getResult(2), item, true);
      Value mNew = generic(b, loc, fill(b, loc, {BQ}, 0), ValueRange{m, ms},
                           {id1, id1, id1}, par1,
                           [](OpBuilder &nb, Location l2, ValueRange args) {
                             return arith::MaxNumFOp::create(nb, l2, args[0],
                                                             args[1])
                                 .getResult();
                           });
      Value w1 = generic(b, loc, fill(b, loc, {BQ}, 0), ValueRange{m, mNew},
                         {id1, id1, id1}, par1, expShifted);
      Value w2 = generic(b, loc, fill(b, loc, {BQ}, 0), ValueRange{ms, mNew},
                         {id1, id1, id1}, par1, expShifted);
      auto weighted = [](OpBuilder &nb, Location l2, ValueRange args) {
        Value x = arith::MulFOp::create(nb, l2, args[0], args[1]);
        Value y = arith::MulFOp::create(nb, l2, args[2], args[3]);
        return arith::AddFOp::create(nb, l2, x, y).getResult();
      };
      Value lNew = generic(b, loc, fill(b, loc, {BQ}, 0),
                           ValueRange{w1, l, w2, ls}, {id1, id1, id1, id1, id1},
                           par1, weighted);
      Value aNew = generic(b, loc, fill(b, loc, {BQ, Dv}, 0),
                           ValueRange{w1, a, w2, as},
                           {rowOf2, id2, rowOf2, id2, id2}, par2, weighted);
      scf::YieldOp::create(b, loc, ValueRange{mNew, lNew, aNew});
    }
    Value aFinal = combine.getResult(2), lFinal = combine.getResult(1);
    Value oTile = generic(
        b, loc, fill(b, loc, {BQ, Dv}, 0), ValueRange{aFinal, lFinal},
        {id2, rowOf2, id2}, par2,
        [](OpBuilder &nb, Location l, ValueRange args) {
          Value zero = arith::ConstantOp::create(nb, l, nb.getF32FloatAttr(0));
          Value isZero = arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OEQ,
                                               args[1], zero);
          Value q = arith::DivFOp::create(nb, l, args[0], args[1]);
          return arith::SelectOp::create(nb, l, isZero, zero, q).getResult();
        });
    SmallVector<OpFoldResult> offsets, sizes, strides(n + 2, b.getIndexAttr(1));
    for (Value v : bidx) {
      offsets.push_back(v);
      sizes.push_back(b.getIndexAttr(1));
    }
    offsets.push_back(q0);
    offsets.push_back(b.getIndexAttr(0));
    sizes.push_back(b.getIndexAttr(BQ));
    sizes.push_back(b.getIndexAttr(Dv));
    Value written = tensor::InsertSliceOp::create(
        b, loc, oTile, merge.getRegionIterArgs()[0], offsets, sizes, strides);
    scf::YieldOp::create(b, loc, written);
  }
  // Drop the padded rows; convert to the result's element type.
  SmallVector<OpFoldResult> offsets(n + 2, b.getIndexAttr(0));
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, op.getInit());
  SmallVector<OpFoldResult> strides(n + 2, b.getIndexAttr(1));
  SmallVector<int64_t> shape(outType.getShape());
  Value result = tensor::ExtractSliceOp::create(
      b, loc, RankedTensorType::get(shape, f32), merge.getResult(0), offsets,
      sizes, strides);
  if (outType.getElementType() != f32) {
    SmallVector<utils::IteratorType> par(n + 2, utils::IteratorType::parallel);
    auto id = identity(ctx, n + 2);
    result = generic(b, loc, op.getInit(), result, {id, id}, par,
                     [](OpBuilder &nb, Location l, ValueRange args) {
                       return arith::TruncFOp::create(
                                  nb, l, args[1].getType(), args[0])
                           .getResult();
                     });
  }
  op.getResult().replaceAllUsesWith(result);
  op.erase();
  return success();
}

/// For a query length that is dynamic: `scf.if (Tq == 1)` with a copy of
/// `op` on a query of static length 1 (lowered with one-row tiles, so no
/// padded rows are computed), `op` itself in the else branch. Returns the
/// copy, or null when the length is static.
static seq::AttentionOp splitSingleQuery(seq::AttentionOp op) {
  int64_t n = op.getNumBatchDims();
  auto qType = llvm::cast<RankedTensorType>(op.getQuery().getType());
  if (!qType.isDynamicDim(n))
    return nullptr;
  OpBuilder b(op);
  Location loc = op.getLoc();
  Value tq = tensor::DimOp::create(b, loc, op.getQuery(), n);
  Value isOne = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, tq,
                                      index(b, loc, 1));
  auto ifOp = scf::IfOp::create(b, loc, TypeRange{op.getType()}, isOne,
                                /*withElse=*/true);
  auto oneRow = [](Type t, int64_t axis) {
    auto type = llvm::cast<RankedTensorType>(t);
    SmallVector<int64_t> shape(type.getShape());
    shape[axis] = 1;
    return RankedTensorType::get(shape, type.getElementType());
  };
  b.setInsertionPointToStart(&ifOp.getThenRegion().front());
  IRMapping map;
  map.map(op.getQuery(), tensor::CastOp::create(b, loc, oneRow(qType, n),
                                                op.getQuery())
                             .getResult());
  map.map(op.getInit(),
          tensor::CastOp::create(b, loc, oneRow(op.getInit().getType(), n),
                                 op.getInit())
              .getResult());
  auto one = llvm::cast<seq::AttentionOp>(b.clone(*op, map));
  one.getResult().setType(oneRow(op.getType(), n));
  scf::YieldOp::create(
      b, loc,
      tensor::CastOp::create(b, loc, op.getType(), one.getResult()).getResult());
  b.setInsertionPointToStart(&ifOp.getElseRegion().front());
  auto yield = scf::YieldOp::create(b, loc, op.getResult());
  op.getResult().replaceAllUsesExcept(ifOp.getResult(0), yield);
  op->moveBefore(yield);
  return one;
}

struct SeqLowerAttentionPass
    : seqc::impl::SeqLowerAttentionBase<SeqLowerAttentionPass> {
  using Base::Base;
  void runOnOperation() override {
    SmallVector<seq::AttentionOp> ops;
    getOperation()->walk([&](seq::AttentionOp op) { ops.push_back(op); });
    // A dynamic query length may be 1 (a step that decodes one token):
    // that case gets its own copy, with one-row tiles.
    SmallVector<seq::AttentionOp> all;
    for (seq::AttentionOp op : ops) {
      all.push_back(op);
      if (singleQuery && tileQ > 1)
        if (seq::AttentionOp one = splitSingleQuery(op))
          all.push_back(one);
    }
    ops = std::move(all);
    LowerAttention lowering{tileQ, tileK, minParallel};
    for (seq::AttentionOp op : ops)
      if (failed(lowering.lower(op)))
        return signalPassFailure();
  }
};

} // namespace
