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
// With `per-thread` (the cuda pipeline) the op takes one of the GPU forms
// of `GPUAttention` below instead: a thread, a warp or a warp on tensor
// cores per query row(s) and key split, then a merge.
//
//===----------------------------------------------------------------------===//

#include "lowering/Passes.h"

#include "dialects/Seq/Seq.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/Utils/IndexingUtils.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/IRMapping.h"

#include <numeric>

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

SmallVector<Value> seqc::delinearize(OpBuilder &b, Location loc, Value r,
                                     ArrayRef<Value> sizes, bool wrap) {
  SmallVector<Value> at(sizes.size());
  for (int64_t i = int64_t(sizes.size()) - 1; i >= 0; --i) {
    if (i == 0 && !wrap) {
      at[0] = r;
      break;
    }
    at[i] = arith::RemUIOp::create(b, loc, r, sizes[i]);
    if (i > 0)
      r = arith::DivUIOp::create(b, loc, r, sizes[i]);
  }
  return at;
}

namespace {

/// The tensor-core form's shared memory: at most 64 KiB a block (beyond 48
/// KiB, dynamic shared memory: seq-gpu-workgroup-buffers).
constexpr int64_t kSharedBytes = 64 * 1024;
/// The tensor-core form's warps a block at most.
constexpr int64_t kMaxWarps = 4;

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

/// The GPU forms' shift of a row with max `m`: -safe(m) log2(e), computed
/// once per row for `exp2Shifted`. With `c`, the max is of dot products
/// whose scores are c times them: -safe(m) c log2(e).
static Value exp2Shift(OpBuilder &b, Location loc, Value m, double c = 1) {
  Value factor =
      arith::ConstantOp::create(b, loc, b.getF32FloatAttr(-c * M_LOG2E));
  return arith::MulFOp::create(b, loc, safeMax(b, loc, m), factor);
}

/// The GPU forms' `exp(x - safe(max))`: `exp2(x log2(e) + shift)`, one
/// FMA and one `ex2.approx.ftz` (the `afn` flag; seq-gpu-lower-mma), where
/// the exact `exp` is a dozen instructions, paid T^2 times. ex2 of -inf is
/// exactly 0, so no select is needed for a masked score. The shift's
/// rounding is common to a row's terms, and cancels in the normalization.
/// With `c`, x is a dot product whose score is c x: `exp2(x c log2(e) +
/// shift)`.
static Value exp2Shifted(OpBuilder &b, Location loc, Value x, Value shift,
                         double c = 1) {
  Value factor =
      arith::ConstantOp::create(b, loc, b.getF32FloatAttr(c * M_LOG2E));
  Value e = math::FmaOp::create(b, loc, x, factor, shift);
  return math::Exp2Op::create(b, loc, e, arith::FastMathFlags::afn);
}

/// The max of `m` and `xs`.
static Value maxOf(OpBuilder &b, Location loc, Value m, ArrayRef<Value> xs) {
  for (Value x : xs)
    m = arith::MaxNumFOp::create(b, loc, m, x);
  return m;
}

struct LowerAttention {
  int64_t tileQ, tileK, minParallel;

  LogicalResult lower(seq::AttentionOp op);
};

/// `x / c` as a product where that gives the same value, for the score
/// region (it runs T^2 times, and a division is about ten instructions):
///  - c = 2^k: x * 2^-k (both round the same real number once);
///  - bf16 with 1 <= |c| < 256 and c not an even integer (sqrt(128) is
///    11.3125 in bf16): x * r in f32, r = 1 / c rounded to f32, then
///    rounded to bf16. A bf16 division is round_bf16(round_f32(x / c));
///    both f32 values are within
///    2^-23 |x / c| + 2^-149 of x / c, and x / c is never that close to a
///    point where bf16 rounding changes, a halfway point M 2^k (M odd,
///    below 2^9; subnormal ones are odd multiples of 2^-134). Write x =
///    X 2^i, c = C 2^j (X, C odd integers below 2^8; i >= -133 as x is a
///    bf16 number; j <= 0 as c is not an even integer). Then x / c - M 2^k =
///    (X 2^i - M C 2^(k + j)) / c is not 0 (if i < k + j the first term
///    is an odd multiple of 2^i and the second a multiple of 2^(i + 1);
///    if i > k + j the reverse; if i = k + j then X = M C, and M C > 2^8
///    for normal halfway points, while subnormal ones need k + j <= -134 <
///    i), and its size is at least 2^min(i, k + j) / c: 2^-17 |x / c| for
///    normal results, 2^-142 for subnormal ones (2^-133 / c or 2^-134 / C).
/// Returns null where neither applies.
static Value divideByConstant(OpBuilder &b, Location loc, Value x,
                              FloatAttr c) {
  const APFloat &cv = c.getValue();
  APFloat inv(cv.getSemantics(), 1);
  if (inv.divide(cv, APFloat::rmNearestTiesToEven) == APFloat::opOK)
    return arith::MulFOp::create(
        b, loc, x,
        arith::ConstantOp::create(b, loc, FloatAttr::get(c.getType(), inv)));
  if (!c.getType().isBF16() || !cv.isFiniteNonZero())
    return Value();
  double mag = std::fabs(cv.convertToDouble());
  bool evenInteger = std::fmod(mag, 2.0) == 0.0;
  if (mag < 1.0 || mag >= 256.0 || evenInteger)
    return Value();
  // 1 / c rounded to f32 once (c converts exactly).
  APFloat c32 = cv;
  bool lost;
  c32.convert(APFloat::IEEEsingle(), APFloat::rmNearestTiesToEven, &lost);
  APFloat r(APFloat::IEEEsingle(), 1);
  r.divide(c32, APFloat::rmNearestTiesToEven);
  Type f32 = b.getF32Type();
  Value p = arith::MulFOp::create(
      b, loc, arith::ExtFOp::create(b, loc, f32, x),
      arith::ConstantOp::create(b, loc, FloatAttr::get(f32, r)));
  return arith::TruncFOp::create(b, loc, c.getType(), p);
}

static bool isHalfFloat(Type t) { return t.isBF16() || t.isF16(); }

/// The score of query position `qi` and key position `ki` (`raw` is their
/// dot product, f32): the op's scale, then its score region.
///
/// The region of 16-bit operands rounds the dot product to their type
/// (`truncf`) and computes there: `q @ k.T / sqrt(D)` in bf16 scales a bf16
/// score. Here the region computes in f32 instead, from the f32 dot
/// product: its rounding dropped, its 16-bit float arithmetic done in f32
/// (16-bit operands extended; `extf` of a value already f32 dropped). The
/// reference interpreter rounds nothing between ops and FlashAttention
/// scales in f32, so this is closer to both; on the GPU it saves a score two
/// conversions (bf16 arithmetic is a round trip through f32 there).
static Value scoreOf(OpBuilder &b, Location loc, seq::AttentionOp op,
                     Value raw, ArrayRef<Value> bidx, Value qi, Value ki) {
  double scale = op.getScaleOrOne();
  if (scale != 1.0)
    raw = arith::MulFOp::create(
        b, loc, raw, arith::ConstantOp::create(b, loc, b.getF32FloatAttr(scale)));
  Block &region = op.getScoreBlock();
  IRMapping mapping;
  mapping.map(region.getArgument(0), raw);
  for (auto [i, v] : llvm::enumerate(bidx))
    mapping.map(region.getArgument(1 + i), v);
  mapping.map(region.getArgument(bidx.size() + 1), qi);
  mapping.map(region.getArgument(bidx.size() + 2), ki);
  Type f32 = b.getF32Type();
  auto mapped = [&](Value v) { return mapping.lookupOrDefault(v); };
  auto widened = [&](Value v) { return mapped(v).getType() != v.getType(); };
  for (Operation &o : region.without_terminator()) {
    // The rounding to 16 bits of an f32 value: dropped.
    if (auto trunc = dyn_cast<arith::TruncFOp>(o))
      if (isHalfFloat(trunc.getType()) && mapped(trunc.getIn()).getType() == f32) {
        mapping.map(trunc.getResult(), mapped(trunc.getIn()));
        continue;
      }
    if (auto ext = dyn_cast<arith::ExtFOp>(o))
      if (mapped(ext.getIn()).getType() == ext.getType()) {
        mapping.map(ext.getResult(), mapped(ext.getIn()));
        continue;
      }
    // Arithmetic on a widened value: in f32, its other 16-bit operands
    // extended.
    bool widen = o.getNumRegions() == 0 &&
                 isa<arith::ArithDialect, math::MathDialect>(o.getDialect()) &&
                 llvm::any_of(o.getOperands(), widened);
    if (widen)
      for (Value v : o.getOperands())
        if (isHalfFloat(mapped(v).getType()))
          mapping.map(v, arith::ExtFOp::create(b, loc, f32, mapped(v)));
    auto div = dyn_cast<arith::DivFOp>(o);
    FloatAttr c;
    if (div && matchPattern(div.getRhs(), m_Constant(&c))) {
      Value lhs = mapped(div.getLhs());
      if (lhs.getType() != c.getType()) {
        // A 16-bit division widened: by the f32 reciprocal (within 1.5 ulp
        // of f32 of the quotient, which bf16 or f16 would round to 8 or 11
        // bits).
        APFloat r(1.0f), cv = c.getValue();
        bool lost;
        cv.convert(APFloat::IEEEsingle(), APFloat::rmNearestTiesToEven, &lost);
        r.divide(cv, APFloat::rmNearestTiesToEven);
        mapping.map(div.getResult(),
                    arith::MulFOp::create(
                        b, loc, lhs,
                        arith::ConstantOp::create(b, loc, FloatAttr::get(f32, r))));
        continue;
      }
      if (Value q = divideByConstant(b, loc, lhs, c)) {
        mapping.map(div.getResult(), q);
        continue;
      }
    }
    Operation *clone = b.clone(o, mapping);
    if (widen)
      for (OpResult r : clone->getResults())
        if (isHalfFloat(r.getType()))
          r.setType(f32);
  }
  Value yielded =
      llvm::cast<seq::YieldOp>(region.getTerminator()).getValues()[0];
  Value score = mapped(yielded);
  if (score.getType() != yielded.getType() && isHalfFloat(yielded.getType()))
    score = arith::TruncFOp::create(b, loc, yielded.getType(), score);
  return score;
}

/// c where the op's score (its scale, then its score region) is `raw * c`
/// with a constant c > 0 up to roundings: the region a chain of products
/// and quotients by positive constants (and conversions) from the dot
/// product, as `q @ k.T / sqrt(D)` is. The score is then monotone in the
/// dot product, so a row's maximum is that of its dot products times c.
static std::optional<double> positiveScale(seq::AttentionOp op) {
  Block &region = op.getScoreBlock();
  Value v = llvm::cast<seq::YieldOp>(region.getTerminator()).getValues()[0];
  double c = op.getScaleOrOne();
  auto positive = [](Value x) -> std::optional<double> {
    FloatAttr a;
    if (!matchPattern(x, m_Constant(&a)) || !(a.getValueAsDouble() > 0))
      return std::nullopt;
    return a.getValueAsDouble();
  };
  while (v != region.getArgument(0)) {
    Operation *def = v.getDefiningOp();
    if (!def)
      return std::nullopt;
    if (isa<arith::TruncFOp, arith::ExtFOp>(def)) {
      v = def->getOperand(0);
    } else if (auto mul = dyn_cast<arith::MulFOp>(def)) {
      if (auto r = positive(mul.getRhs())) {
        c *= *r;
        v = mul.getLhs();
      } else if (auto l = positive(mul.getLhs())) {
        c *= *l;
        v = mul.getRhs();
      } else {
        return std::nullopt;
      }
    } else if (auto div = dyn_cast<arith::DivFOp>(def)) {
      auto r = positive(div.getRhs());
      if (!r)
        return std::nullopt;
      c /= *r;
      v = div.getLhs();
    } else {
      return std::nullopt;
    }
  }
  return c > 0 && std::isfinite(c) ? std::optional<double>(c) : std::nullopt;
}

/// Whether the mask constraints let query position `qi` see key `ki`, and
/// `ki < tk`.
static Value visible(OpBuilder &b, Location loc, seq::AttentionOp op, Value qi,
                     Value ki, Value tk) {
  Value valid =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, ki, tk);
  for (std::array<int64_t, 3> c : op.getMaskConstraints()) {
    Value e = arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, qi, index(b, loc, c[0])),
        arith::MulIOp::create(b, loc, ki, index(b, loc, c[1])));
    e = arith::AddIOp::create(b, loc, e, index(b, loc, c[2]));
    valid = arith::AndIOp::create(
        b, loc, valid,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, e,
                              index(b, loc, 0)));
  }
  return valid;
}

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
    bidx = delinearize(b, loc, rest, batchSizes, /*wrap=*/true);
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
              Value qi = arith::AddIOp::create(
                  nb, l, qPos, linalg::IndexOp::create(nb, l, 0));
              Value ki = arith::AddIOp::create(
                  nb, l, k0, linalg::IndexOp::create(nb, l, 1));
              Value out = scoreOf(nb, l, op, args[0], bidx, qi, ki);
              if (!masked)
                return out;
              Value ninf = arith::ConstantOp::create(
                  nb, l, nb.getF32FloatAttr(-INFINITY));
              return arith::SelectOp::create(
                  nb, l, visible(nb, l, op, qi, ki, tk), out, ninf);
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

/// The GPU forms of `seq.attention`: every (query row, key split) leaves
/// its running (max, sum, acc) in per-item buffers, and a merge loop, a
/// thread per output element, combines its row's splits and writes it.
/// Three forms of the first loop:
///
///   - a thread per (row, split), everything in registers (`threadBody`):
///     the query row read once, the keys `tileK` a step (their scores, one
///     rescale of the running sum and accumulator, then the values);
///   - a warp per (row, split) for a single query (`rowBody`, decoding):
///     a lane holds D / 32 of the query and Dv / 32 of the accumulator and
///     reads that part of each key and value row (a warp reads whole rows,
///     coalesced), the scores summed across the warp by shuffles, 8 keys a
///     step;
///   - a warp per (16 or 32 rows, split) on tensor cores (`warpBody`, bf16
///     or f16 operands; q's fragments read once, k and v packed into the
///     lanes' fragment order by `packFragments`, so that a warp reads a
///     16-key block's fragments as 16-byte loads of 512 contiguous bytes,
///     the next step's K a step ahead): per step of `keyBlocks` blocks of
///     16 keys, S = Q K^T and O += P V as `mma.sync` m16n8k16 with f32
///     accumulators, the online softmax on S's accumulator fragments (a
///     lane holds 2 rows x 2 columns of each 8 keys of each 16 rows; row
///     maxima across the row's 4 lanes by shuffles and the accumulator's
///     rescale once a step; the mask only in steps that need it; a score
///     region that is a positive scale folded into exp2's factor), and P,
///     rounded to the operand type, passed from S's fragments to the
///     second mma without leaving registers (FlashAttention-2's layout).
///
/// A row's keys are cut to what the mask constraints let it see (a causal
/// row walks only its past), a split's to its chunk; flash-decoding splits
/// the keys when there are fewer than `min-parallel` threads.
struct GPUAttention {
  seq::AttentionOp op;
  OpBuilder &b;
  Location loc;
  int64_t n, D, Dv, BK;
  RankedTensorType kType, vType, outType;
  Type f32;
  Value c0, c1, ninf, zero, tq, tk, rows, chunk;
  /// The tensor-core form's k and v in fragment order (`packFragments`),
  /// as buffers the kernel copies from.
  Value kFrags, vFrags;
  /// The tensor-core form's 16-row tiles a warp holds: 2 where the head
  /// sizes are at most 128 (`warp-rows` 0) or with `warp-rows` 32 (K's and
  /// V's fragments then serve both), unless shared memory does not fit;
  /// else 1.
  int64_t mTiles = 1;
  /// The tensor-core form's 16-key blocks a step (`key-blocks`): the
  /// running max, its shuffles and the accumulator's rescale are paid once
  /// a step.
  int64_t keyBlocks = 1;
  /// The tensor-core form's warps a block (1, 2 or 4), which share each
  /// step's K and V in shared memory.
  int64_t warpsPerBlock = 1;
  /// Whether the tensor-core form keeps Q's fragments in shared memory
  /// (32 rows a warp with a head size above 64), not in registers.
  bool qShared = false;
  /// The score region's scale where it is `x * c` with a constant c > 0
  /// (the op's scale included; `positiveScale`): the tensor-core form then
  /// takes row maxima of the raw dot products and folds c into exp2's
  /// factor, one multiply less per score. Null otherwise.
  std::optional<double> foldedScale;
  SmallVector<Value> batchSizes;

  GPUAttention(seq::AttentionOp op, OpBuilder &b, int64_t tileK)
      : op(op), b(b), loc(op.getLoc()), n(op.getNumBatchDims()),
        BK(std::max<int64_t>(tileK, 1)) {
    auto qType = llvm::cast<RankedTensorType>(op.getQuery().getType());
    kType = llvm::cast<RankedTensorType>(op.getKey().getType());
    vType = llvm::cast<RankedTensorType>(op.getValue().getType());
    outType = llvm::cast<RankedTensorType>(op.getType());
    D = qType.getDimSize(n + 1);
    Dv = vType.getDimSize(n + 1);
    f32 = b.getF32Type();
  }

  /// Whether the tensor-core form applies: bf16 or f16 operands, head
  /// sizes multiples of 16 (the fragment order's blocks of 16 columns),
  /// and not a single query of static length.
  bool fitsTensorCores() {
    Type elt = kType.getElementType();
    auto qType = llvm::cast<RankedTensorType>(op.getQuery().getType());
    return (elt.isBF16() || elt.isF16()) &&
           qType.getElementType() == elt && vType.getElementType() == elt &&
           D % 16 == 0 && Dv % 16 == 0 && qType.getDimSize(n) != 1;
  }

  /// Whether the warp-per-row form applies: a single query (decoding),
  /// the head sizes multiples of 32 (a lane takes D / 32 and Dv / 32).
  bool fitsRows() {
    auto qType = llvm::cast<RankedTensorType>(op.getQuery().getType());
    return qType.getDimSize(n) == 1 && D % 32 == 0 && Dv % 32 == 0;
  }

  /// `blocks`: the `key-blocks` option (0: the default for the head sizes).
  LogicalResult lower(int64_t minParallel, bool tensorCores, int64_t warpRows,
                      int64_t blocks);

private:
  VectorType vec(int64_t len) { return VectorType::get({len}, f32); }
  Value idx(int64_t v) { return index(b, loc, v); }
  Value splat(Value x, int64_t len) {
    return vector::BroadcastOp::create(b, loc, vec(len), x);
  }
  /// Batch indices (innermost last) of `r`, whose innermost part counts
  /// `inner` per batch item; returns r mod inner.
  Value decode(Value r, Value inner, SmallVector<Value> &bidx);
  /// Batch indices of a key or value tensor: 0 on shared (unit) axes.
  SmallVector<Value> sharedIdx(RankedTensorType t, ArrayRef<Value> bidx);
  /// The keys in [kLo, kHi) that query position `qPos` may see (the mask
  /// constraints bound the key as a half-line each).
  std::pair<Value, Value> keyRange(Value qPos, Value kLo, Value kHi);
  /// `len` elements of `src` at (lead.., pos, col), as f32 if `widen`.
  Value read(Value src, ArrayRef<Value> lead, Value pos, Value col,
             int64_t len, bool widen = true);

  void threadBody(Value w, Value splits, ValueRange bufs,
                  SmallVector<Value> &written);
  Value packFragments(Value src, bool isValue);
  /// `bufs` (the per-item max, sum and acc) with the max `m`, the sum `l`
  /// and `parts` of acc (vectors, each from its column) stored at `item`.
  SmallVector<Value> store(ValueRange bufs, Value item, Value m, Value l,
                           ArrayRef<std::pair<Value, Value>> parts);
  /// One step of the online softmax of a row over `keys` with `scores`:
  /// the new max, the sum `l` and accumulator `acc` (`width` columns of v
  /// from `col`) rescaled once, then each key's probability and value
  /// added. Returns (max, l, acc).
  SmallVector<Value> onlineStep(Value m, Value l, Value acc,
                                ArrayRef<Value> scores, ArrayRef<Value> keys,
                                ArrayRef<Value> vIdx, Value col, int64_t width);
  void rowBody(Value w, ValueRange bufs, SmallVector<Value> &written);
  /// The tensor-core form's thread `w`; where `single` (one split) holds,
  /// it writes its rows of the output (bufs[3]), else its split's (max,
  /// sum, acc) (bufs[0..2]).
  void warpBody(Value w, Value tiles, Value splits, Value single,
                ValueRange bufs, SmallVector<Value> &written);
  /// The splits' (max, sum, acc) merged into `init`: the output.
  Value merge(Value splits, Value m, Value l, Value acc, Value init);
  /// `acc / l` (a scalar or a vector of accumulators) in the output's
  /// type, 0 where `l` is 0 (a row that saw no key).
  Value normalized(Value acc, Value l);
};

Value GPUAttention::decode(Value r, Value inner, SmallVector<Value> &bidx) {
  SmallVector<Value> sizes(batchSizes);
  sizes.push_back(inner);
  bidx = delinearize(b, loc, r, sizes, /*wrap=*/true);
  return bidx.pop_back_val();
}

SmallVector<Value> GPUAttention::sharedIdx(RankedTensorType t,
                                           ArrayRef<Value> bidx) {
  SmallVector<Value> out;
  for (int64_t i = 0; i < n; ++i)
    out.push_back(t.getDimSize(i) == 1 ? c0 : bidx[i]);
  return out;
}

std::pair<Value, Value> GPUAttention::keyRange(Value qPos, Value kLo,
                                               Value kHi) {
  for (auto [a, kb, c] : op.getMaskConstraints()) {
    Value e = arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, qPos, idx(a)), idx(c));
    if (kb > 0) {
      Value lo = arith::CeilDivSIOp::create(
          b, loc, arith::SubIOp::create(b, loc, c0, e), idx(kb));
      kLo = arith::MaxSIOp::create(b, loc, kLo, lo);
    } else if (kb < 0) {
      Value hi = arith::AddIOp::create(
          b, loc, arith::FloorDivSIOp::create(b, loc, e, idx(-kb)), c1);
      kHi = arith::MinSIOp::create(b, loc, kHi, hi);
    } else {
      Value sees =
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, e, c0);
      kHi = arith::SelectOp::create(b, loc, sees, kHi, kLo);
    }
  }
  return {kLo, arith::MaxSIOp::create(b, loc, kHi, kLo)};
}

Value GPUAttention::read(Value src, ArrayRef<Value> lead, Value pos,
                         Value col, int64_t len, bool widen) {
  auto type = llvm::cast<RankedTensorType>(src.getType());
  Type elt = type.getElementType();
  SmallVector<Value> indices(lead.begin(), lead.end());
  indices.push_back(pos);
  indices.push_back(col);
  Value pad = arith::ConstantOp::create(b, loc, b.getZeroAttr(elt));
  auto map = AffineMap::get(type.getRank(), 0,
                            b.getAffineDimExpr(type.getRank() - 1),
                            b.getContext());
  Value r = vector::TransferReadOp::create(
      b, loc, VectorType::get({len}, elt), src, indices, map, pad,
      /*mask=*/Value(), b.getBoolArrayAttr({true}));
  if (widen && elt != f32)
    r = arith::ExtFOp::create(b, loc, vec(len), r);
  return r;
}

LogicalResult GPUAttention::lower(int64_t minParallel, bool tensorCores,
                                  int64_t warpRows, int64_t blocks) {
  if (ShapedType::isDynamic(D) || ShapedType::isDynamic(Dv))
    return op.emitOpError("needs static head sizes to be lowered");
  enum class Form { Thread, Rows, TensorCores } form = Form::Thread;
  if (tensorCores && fitsTensorCores())
    form = Form::TensorCores;
  else if (fitsRows())
    form = Form::Rows;
  c0 = idx(0);
  c1 = idx(1);
  ninf = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(-INFINITY));
  zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0));
  tq = tensor::DimOp::create(b, loc, op.getQuery(), n);
  tk = tensor::DimOp::create(b, loc, op.getKey(), n);
  Value batch;
  for (int64_t i = 0; i < n; ++i) {
    batchSizes.push_back(tensor::DimOp::create(b, loc, op.getQuery(), i));
    batch = batch ? arith::MulIOp::create(b, loc, batch, batchSizes.back())
                  : batchSizes.back();
  }
  if (!batch)
    batch = c1;
  rows = arith::MulIOp::create(b, loc, tq, batch);
  // Work items of one split: rows, or warps of 16 M rows (32 threads each):
  // by default (`warp-rows` 0) 32 where both head sizes are at most 128,
  // which halves the shared-memory reads of K and V per mma (10-15% faster
  // at D = 64 on the H100). Above 64, Q's fragments (32 D / 16 registers a
  // lane) then go to shared memory (`qShared`): with them, and the
  // accumulators' 128 registers at D = 128, the kernel spilled.
  if (form == Form::TensorCores &&
      (warpRows == 32 || (warpRows == 0 && std::max(D, Dv) <= 128)))
    mTiles = 2;
  // 16-key blocks a step: two stages of a step's K and V (32 (D + Dv)
  // bytes a block) and Q's fragments fit in 64 KiB of shared memory
  // (fewer blocks where they do not; 16 rows a warp, then no tensor
  // cores, where one does not); by default as many as fit, at most
  // 8 / mTiles (S is 8 mTiles KB registers a lane): 4 at D = 64, 2 at
  // D = 128 (64 KiB: 3-6% faster on the H100 than 2 warps a block in 48).
  // Warps a block: the most of 4 among which a step's K and V, 2 KB
  // (D + Dv) 16-byte groups, divide evenly.
  while (form == Form::TensorCores) {
    qShared = mTiles == 2 && std::max(D, Dv) > 64;
    int64_t qBytes = qShared ? kMaxWarps * mTiles * D * 32 : 0;
    int64_t fit = (kSharedBytes - qBytes) / (2 * 32 * (D + Dv));
    keyBlocks = std::min(blocks > 0 ? blocks : 8 / mTiles, fit);
    if (keyBlocks > 0) {
      warpsPerBlock = std::gcd(
          kMaxWarps, std::gcd(keyBlocks * D / 16, keyBlocks * Dv / 16));
      foldedScale = positiveScale(op);
      break;
    }
    if (mTiles == 2)
      mTiles = 1;
    else
      form = fitsRows() ? Form::Rows : Form::Thread;
  }
  // A block's warps take neighbouring tiles of one batch item: a batch
  // item's tiles are a multiple of the warps a block.
  Value tiles = arith::MulIOp::create(
      b, loc,
      roundUp(b, loc, arith::CeilDivUIOp::create(b, loc, tq, idx(16 * mTiles)),
              warpsPerBlock),
      batch);
  // Threads of one split: a thread per row, a warp per row, or a warp per
  // 16 rows. A warp per row (decoding) is memory-bound: it wants 16 times
  // as many threads in flight (on the H100, 8 left a partial last wave of
  // blocks, and 32 splits the keys too finely).
  Value units = rows;
  int64_t want = minParallel;
  if (form == Form::TensorCores)
    units = arith::MulIOp::create(b, loc, tiles, idx(32));
  if (form == Form::Rows) {
    units = arith::MulIOp::create(b, loc, rows, idx(32));
    want = 16 * minParallel;
  }
  // Flash-decoding: too few threads to fill the device split the keys,
  // into chunks of at least kMinSplit.
  constexpr int64_t kMinSplit = 64;
  Value splits = arith::CeilDivUIOp::create(
      b, loc, idx(want), arith::MaxUIOp::create(b, loc, units, c1));
  splits = arith::MinUIOp::create(
      b, loc, splits, arith::CeilDivUIOp::create(b, loc, tk, idx(kMinSplit)));
  splits = arith::MaxUIOp::create(b, loc, splits, c1);
  chunk = arith::MaxUIOp::create(
      b, loc, arith::CeilDivUIOp::create(b, loc, tk, splits), c1);
  // On tensor cores a split is whole steps of 16 `key-blocks` keys.
  if (form == Form::TensorCores)
    chunk = arith::MulIOp::create(
        b, loc, arith::CeilDivUIOp::create(b, loc, chunk, idx(16 * keyBlocks)),
        idx(16 * keyBlocks));
  splits = arith::MaxUIOp::create(
      b, loc, arith::CeilDivUIOp::create(b, loc, tk, chunk), c1);
  Value items = arith::MulIOp::create(b, loc, rows, splits);
  // On tensor cores a single split writes the output itself: the split
  // buffers are then empty and the merge does not run (it read and wrote
  // every element once more: 15% of a prefill).
  Value single;
  if (form == Form::TensorCores) {
    auto buffer = [&](Value frags) -> Value {
      auto type = llvm::cast<RankedTensorType>(frags.getType());
      return bufferization::ToBufferOp::create(
          b, loc, MemRefType::get(type.getShape(), type.getElementType()),
          frags, /*read_only=*/true);
    };
    kFrags = buffer(packFragments(op.getKey(), false));
    vFrags = buffer(packFragments(op.getValue(), true));
    single = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, splits, c1);
    items = arith::SelectOp::create(b, loc, single, c0, items);
  }
  Value mInit = tensor::EmptyOp::create(b, loc, ArrayRef<OpFoldResult>{items}, f32);
  Value lInit = tensor::EmptyOp::create(b, loc, ArrayRef<OpFoldResult>{items}, f32);
  Value aInit = tensor::EmptyOp::create(
      b, loc, ArrayRef<OpFoldResult>{items, b.getIndexAttr(Dv)}, f32);
  SmallVector<Value> iterInit{mInit, lInit, aInit};
  if (single)
    iterInit.push_back(op.getInit());
  Value threads = arith::MulIOp::create(b, loc, units, splits);
  auto outer = scf::ForOp::create(b, loc, c0, threads, c1, iterInit);
  outer->setAttr("seq.parallel", b.getUnitAttr());
  // On tensor cores a block's warps share the steps' K and V in shared
  // memory: blocks of exactly those threads.
  if (form == Form::TensorCores)
    outer->setAttr(kBlockThreadsAttr, b.getI64IntegerAttr(32 * warpsPerBlock));
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(outer.getBody());
    SmallVector<Value> written;
    if (form == Form::TensorCores)
      warpBody(outer.getInductionVar(), tiles, splits, single,
               outer.getRegionIterArgs(), written);
    else if (form == Form::Rows)
      rowBody(outer.getInductionVar(), outer.getRegionIterArgs(), written);
    else
      threadBody(outer.getInductionVar(), splits, outer.getRegionIterArgs(),
                 written);
    scf::YieldOp::create(b, loc, written);
  }
  Value result;
  if (single) {
    auto ifOp = scf::IfOp::create(b, loc, op.getType(), single,
                                  /*withElse=*/true);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(&ifOp.getThenRegion().front());
    scf::YieldOp::create(b, loc, outer.getResult(3));
    b.setInsertionPointToStart(&ifOp.getElseRegion().front());
    scf::YieldOp::create(b, loc,
                         merge(splits, outer.getResult(0), outer.getResult(1),
                               outer.getResult(2), outer.getResult(3)));
    result = ifOp.getResult(0);
  } else {
    result = merge(splits, outer.getResult(0), outer.getResult(1),
                   outer.getResult(2), op.getInit());
  }
  op.getResult().replaceAllUsesWith(result);
  op.erase();
  return success();
}

void GPUAttention::threadBody(Value w, Value splits, ValueRange bufs,
                              SmallVector<Value> &written) {
  // Neighbouring threads take neighbouring rows of one split: they read
  // the same keys.
  Value split = arith::DivUIOp::create(b, loc, w, rows);
  SmallVector<Value> bidx;
  Value qi = decode(arith::RemUIOp::create(b, loc, w, rows), tq, bidx);
  Value qPos =
      op.getOffset() ? arith::AddIOp::create(b, loc, qi, op.getOffset()) : qi;
  Value start = arith::MulIOp::create(b, loc, split, chunk);
  Value end = arith::MinUIOp::create(
      b, loc, arith::AddIOp::create(b, loc, start, chunk), tk);
  auto [kLo, kHi] = keyRange(qPos, start, end);
  SmallVector<Value> kIdx = sharedIdx(kType, bidx), vIdx = sharedIdx(vType, bidx);
  Value q = read(op.getQuery(), bidx, qi, c0, D);

  auto contract = arith::FastMathFlagsAttr::get(
      b.getContext(), arith::FastMathFlags::contract);
  // q . k over D as W-wide FMAs, then one reduction.
  int64_t W = D % 8 == 0 ? 8 : D % 4 == 0 ? 4 : D % 2 == 0 ? 2 : 1;
  auto dot = [&](Value k) -> Value {
    Value acc;
    for (int64_t i = 0; i < D; i += W) {
      Value qs = vector::ExtractStridedSliceOp::create(b, loc, q, {i}, {W}, {1});
      Value ks = vector::ExtractStridedSliceOp::create(b, loc, k, {i}, {W}, {1});
      acc = acc ? vector::FMAOp::create(b, loc, qs, ks, acc).getResult()
                : arith::MulFOp::create(b, loc, qs, ks, contract).getResult();
    }
    return vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD, acc,
                                       Value(), arith::FastMathFlags::reassoc);
  };

  Value a0 = arith::ConstantOp::create(
      b, loc, DenseElementsAttr::get(vec(Dv), b.getF32FloatAttr(0)));
  auto inner =
      scf::ForOp::create(b, loc, kLo, kHi, idx(BK), ValueRange{ninf, zero, a0});
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(inner.getBody());
    Value j0 = inner.getInductionVar();
    Value m = inner.getRegionIterArgs()[0], l = inner.getRegionIterArgs()[1],
          acc = inner.getRegionIterArgs()[2];
    // The step's keys (those past kHi: the first one again, with the score
    // -inf).
    SmallVector<Value> keys, scores;
    for (int64_t u = 0; u < BK; ++u) {
      Value kj = j0, valid;
      if (u > 0) {
        kj = arith::AddIOp::create(b, loc, j0, idx(u));
        valid = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, kj, kHi);
        kj = arith::SelectOp::create(b, loc, valid, kj, j0);
      }
      Value s = scoreOf(b, loc, op, dot(read(op.getKey(), kIdx, kj, c0, D)),
                        bidx, qPos, kj);
      if (valid)
        s = arith::SelectOp::create(b, loc, valid, s, ninf);
      keys.push_back(kj);
      scores.push_back(s);
    }
    scf::YieldOp::create(
        b, loc, onlineStep(m, l, acc, scores, keys, vIdx, c0, Dv));
  }
  written = store(bufs, w, inner.getResult(0), inner.getResult(1),
                  {{inner.getResult(2), c0}});
}

SmallVector<Value> GPUAttention::store(ValueRange bufs, Value item, Value m,
                                       Value l,
                                       ArrayRef<std::pair<Value, Value>> parts) {
  Value mOut = tensor::InsertOp::create(b, loc, m, bufs[0], item);
  Value lOut = tensor::InsertOp::create(b, loc, l, bufs[1], item);
  Value acc = bufs[2];
  auto rowMap = AffineMap::get(2, 0, b.getAffineDimExpr(1), b.getContext());
  for (auto [part, col] : parts)
    acc = vector::TransferWriteOp::create(
              b, loc, acc.getType(), part, acc, ValueRange{item, col}, rowMap,
              /*mask=*/Value(), b.getBoolArrayAttr({true}))
              .getResult();
  return {mOut, lOut, acc};
}

SmallVector<Value> GPUAttention::onlineStep(Value m, Value l, Value acc,
                                            ArrayRef<Value> scores,
                                            ArrayRef<Value> keys,
                                            ArrayRef<Value> vIdx, Value col,
                                            int64_t width) {
  Value mNew = maxOf(b, loc, m, scores);
  Value shift = exp2Shift(b, loc, mNew);
  Value alpha = exp2Shifted(b, loc, m, shift);
  Value lNew = arith::MulFOp::create(b, loc, l, alpha);
  Value aNew = arith::MulFOp::create(b, loc, acc, splat(alpha, width));
  for (auto [sc, key] : llvm::zip(scores, keys)) {
    Value p = exp2Shifted(b, loc, sc, shift);
    lNew = arith::AddFOp::create(b, loc, lNew, p);
    aNew = vector::FMAOp::create(b, loc, splat(p, width),
                                 read(op.getValue(), vIdx, key, col, width),
                                 aNew);
  }
  return {mNew, lNew, aNew};
}

/// Two 16-bit floats as one i32, `lo` in the low half (as an mma.sync
/// register holds a pair).
static Value pairWord(OpBuilder &b, Location loc, Value lo, Value hi) {
  Type i32 = b.getI32Type(), i16 = b.getI16Type();
  auto bits = [&](Value x) -> Value {
    return arith::ExtUIOp::create(b, loc, i32,
                                  arith::BitcastOp::create(b, loc, i16, x));
  };
  Value high = arith::ShLIOp::create(
      b, loc, bits(hi), arith::ConstantIntOp::create(b, loc, i32, 16));
  return arith::OrIOp::create(b, loc, bits(lo), high);
}

/// `src` ([lead.., T, C] keys or values of a 16-bit float) in the order a
/// warp's lanes hold it as the B operand of `mma.sync` m16n8k16, 16 keys
/// a block: [lead.., ceil(T / 16), C / 16, 32, 4] of i32, lane l's part
/// of block kb in C / 16 groups of 4 registers (each register a pair of
/// elements, the first in the low half). Register f of a lane (g = l / 4,
/// t = l % 4) holds, of keys (`isValue` false, S = Q K^T): key 16 kb +
/// 8 h + g, columns 2 p and 2 p + 1 with p = t + 8 kk + 4 e, f = 2 (h C /
/// 16 + kk) + e; of values (O += P V): keys 16 kb + 8 e + 2 t and the next
/// one, column 8 j + g, f = 2 j + e. A key past the end reads the last one
/// (the kernel masks it). A block is 32 C contiguous bytes, each 16
/// columns' 512 a warp reads as one 16-byte load a lane.
Value GPUAttention::packFragments(Value src, bool isValue) {
  auto type = llvm::cast<RankedTensorType>(src.getType());
  int64_t width = type.getDimSize(n + 1), chunks = width / 16;
  Type i32 = b.getI32Type();
  SmallVector<OpFoldResult> sizes;
  SmallVector<Value> lead;
  for (int64_t i = 0; i < n; ++i) {
    sizes.push_back(tensor::getMixedSize(b, loc, src, i));
    lead.push_back(getValueOrCreateConstantIndexOp(b, loc, sizes.back()));
  }
  Value len = tensor::DimOp::create(b, loc, src, n);
  Value blocks = arith::CeilDivUIOp::create(b, loc, len, idx(16));
  sizes.push_back(blocks);
  sizes.append({b.getIndexAttr(chunks), b.getIndexAttr(32), b.getIndexAttr(4)});
  Value init = tensor::EmptyOp::create(b, loc, sizes, i32);
  // A thread per lane's group of 4 registers (lane fastest: a warp writes
  // 512 contiguous bytes, 16 a lane), dividing only by the sizes known at
  // run time alone (the blocks, and the batch sizes but the first). As a
  // linalg op with a thread per register (its index decoded per register)
  // it took 4 times the instructions a byte: 27 us for 16 MiB on the
  // H100, a fifth of the DRAM bandwidth.
  Value tasks = arith::MulIOp::create(b, loc, blocks, idx(chunks * 32));
  for (Value size : lead)
    tasks = arith::MulIOp::create(b, loc, tasks, size);
  auto loop = scf::ForOp::create(b, loc, c0, tasks, c1, ValueRange{init});
  loop->setAttr("seq.parallel", b.getUnitAttr());
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  auto div = [&](Value x, Value y) -> Value {
    return arith::DivUIOp::create(b, loc, x, y);
  };
  auto rem = [&](Value x, Value y) -> Value {
    return arith::RemUIOp::create(b, loc, x, y);
  };
  auto add = [&](Value x, int64_t v) -> Value {
    return arith::AddIOp::create(b, loc, x, idx(v));
  };
  auto mul = [&](Value x, int64_t v) -> Value {
    return arith::MulIOp::create(b, loc, x, idx(v));
  };
  // [lead.., block, chunk, lane] of the task.
  SmallVector<Value> at(lead);
  at.append({blocks, idx(chunks), idx(32)});
  at = delinearize(b, loc, loop.getInductionVar(), at, /*wrap=*/false);
  Value lane = at.pop_back_val(), chunk = at.pop_back_val(),
        kb = at.pop_back_val();
  Value g = div(lane, idx(4)), t = rem(lane, idx(4));
  Value lastKey = arith::SubIOp::create(b, loc, len, c1);
  auto element = [&](Value key, Value col) -> Value {
    SmallVector<Value> indices(at);
    indices.append({arith::MinUIOp::create(b, loc, key, lastKey), col});
    return tensor::ExtractOp::create(b, loc, src, indices);
  };
  Value key0 = mul(kb, 16);
  SmallVector<Value> words;
  for (int64_t w = 0; w < 4; ++w) {
    // Register f = 4 chunk + w: its e is w % 2, its f / 2 is 2 chunk +
    // w / 2.
    int64_t e = w % 2;
    Value half = add(mul(chunk, 2), w / 2);
    Value key, col0, hi;
    if (isValue) {
      key = arith::AddIOp::create(b, loc, key0, add(mul(t, 2), 8 * e));
      col0 = arith::AddIOp::create(b, loc, mul(half, 8), g);
      hi = element(add(key, 1), col0);
    } else {
      Value h = div(half, idx(chunks)), kk = rem(half, idx(chunks));
      key = arith::AddIOp::create(b, loc, key0,
                                  arith::AddIOp::create(b, loc, mul(h, 8), g));
      col0 = mul(arith::AddIOp::create(b, loc, t, add(mul(kk, 8), 4 * e)), 2);
      hi = element(key, add(col0, 1));
    }
    words.push_back(pairWord(b, loc, element(key, col0), hi));
  }
  Value quad =
      vector::FromElementsOp::create(b, loc, VectorType::get({4}, i32), words);
  at.append({kb, chunk, lane, c0});
  Value out = loop.getRegionIterArgs()[0];
  auto outType = llvm::cast<RankedTensorType>(out.getType());
  auto lastDim =
      AffineMap::get(outType.getRank(), 0,
                     b.getAffineDimExpr(outType.getRank() - 1), b.getContext());
  out = vector::TransferWriteOp::create(b, loc, outType, quad, out, at, lastDim,
                                        /*mask=*/Value(),
                                        b.getBoolArrayAttr({true}))
            .getResult();
  scf::YieldOp::create(b, loc, out);
  return loop.getResult(0);
}

void GPUAttention::rowBody(Value w, ValueRange bufs,
                           SmallVector<Value> &written) {
  constexpr int64_t kKeys = 8;
  int64_t Ed = D / 32, Ev = Dv / 32;
  Value lane = arith::RemUIOp::create(b, loc, w, idx(32));
  Value warp = arith::DivUIOp::create(b, loc, w, idx(32));
  // Neighbouring warps take neighbouring rows of one split.
  Value split = arith::DivUIOp::create(b, loc, warp, rows);
  Value row = arith::RemUIOp::create(b, loc, warp, rows);
  SmallVector<Value> bidx;
  Value qi = decode(row, tq, bidx);
  Value qPos =
      op.getOffset() ? arith::AddIOp::create(b, loc, qi, op.getOffset()) : qi;
  Value start = arith::MulIOp::create(b, loc, split, chunk);
  Value end = arith::MinUIOp::create(
      b, loc, arith::AddIOp::create(b, loc, start, chunk), tk);
  auto [kLo, kHi] = keyRange(qPos, start, end);
  SmallVector<Value> kIdx = sharedIdx(kType, bidx), vIdx = sharedIdx(vType, bidx);
  Value dCol = arith::MulIOp::create(b, loc, lane, idx(Ed));
  Value vCol = arith::MulIOp::create(b, loc, lane, idx(Ev));
  Value q = read(op.getQuery(), bidx, qi, dCol, Ed);
  Value last = arith::SubIOp::create(b, loc, kHi, c1);

  Value a0 = arith::ConstantOp::create(
      b, loc, DenseElementsAttr::get(vec(Ev), b.getF32FloatAttr(0)));
  auto inner = scf::ForOp::create(b, loc, kLo, kHi, idx(kKeys),
                                  ValueRange{ninf, zero, a0});
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(inner.getBody());
    Value j0 = inner.getInductionVar();
    Value m = inner.getRegionIterArgs()[0], l = inner.getRegionIterArgs()[1],
          acc = inner.getRegionIterArgs()[2];
    // The step's keys (those past kHi: the last one, with the score -inf);
    // every read first, then the sums across the warp.
    SmallVector<Value> keys, valid, partial;
    for (int64_t u = 0; u < kKeys; ++u) {
      Value kj = j0;
      if (u > 0) {
        kj = arith::AddIOp::create(b, loc, j0, idx(u));
        valid.push_back(
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, kj, kHi));
        kj = arith::MinUIOp::create(b, loc, kj, last);
      } else {
        valid.push_back(Value());
      }
      keys.push_back(kj);
      Value prod = arith::MulFOp::create(
          b, loc, q, read(op.getKey(), kIdx, kj, dCol, Ed));
      partial.push_back(vector::ReductionOp::create(
          b, loc, vector::CombiningKind::ADD, prod, Value(),
          arith::FastMathFlags::reassoc));
    }
    for (int32_t off : {16, 8, 4, 2, 1})
      for (Value &x : partial) {
        Value other = gpu::ShuffleOp::create(b, loc, x, off, 32,
                                             gpu::ShuffleMode::XOR)
                          .getShuffleResult();
        x = arith::AddFOp::create(b, loc, x, other);
      }
    SmallVector<Value> scores;
    for (int64_t u = 0; u < kKeys; ++u) {
      Value sc = scoreOf(b, loc, op, partial[u], bidx, qPos, keys[u]);
      if (valid[u])
        sc = arith::SelectOp::create(b, loc, valid[u], sc, ninf);
      scores.push_back(sc);
    }
    scf::YieldOp::create(
        b, loc, onlineStep(m, l, acc, scores, keys, vIdx, vCol, Ev));
  }
  // Every lane holds the row's max and sum; each writes its part of acc.
  Value item = arith::AddIOp::create(
      b, loc, arith::MulIOp::create(b, loc, split, rows), row);
  written = store(bufs, item, inner.getResult(0), inner.getResult(1),
                  {{inner.getResult(2), vCol}});
}

void GPUAttention::warpBody(Value w, Value tiles, Value splits, Value single,
                            ValueRange bufs, SmallVector<Value> &written) {
  Type elt = kType.getElementType();
  auto pairType = VectorType::get({2}, elt);
  const int64_t M = mTiles, rowsPerWarp = 16 * mTiles;
  // d = a b + c on one m16n8k16 tile: a as 4 pairs of the operand type
  // (rows of vector<4x2>), b as 2, c and d vector<2x2xf32> (rows g, g + 8).
  auto fragType = VectorType::get({2, 2}, f32);
  auto mma = [&](ArrayRef<Value> a, ArrayRef<Value> bb, Value c) -> Value {
    auto gather = [&](ArrayRef<Value> pairs) -> Value {
      auto type = VectorType::get({int64_t(pairs.size()), 2}, elt);
      Value v = arith::ConstantOp::create(
          b, loc, DenseElementsAttr::get(type, b.getZeroAttr(elt)));
      for (auto [i, p] : llvm::enumerate(pairs))
        v = vector::InsertOp::create(b, loc, p, v, ArrayRef<int64_t>{int64_t(i)});
      return v;
    };
    return nvgpu::MmaSyncOp::create(b, loc, gather(a), gather(bb), c,
                                    ArrayRef<int64_t>{16, 8, 16});
  };
  auto element = [&](Value frag, int64_t i) -> Value {
    return vector::ExtractOp::create(b, loc, frag,
                                     ArrayRef<int64_t>{i / 2, i % 2});
  };
  // Two f32 as a pair of the operand type.
  auto packScalars = [&](Value x, Value y) -> Value {
    Value pair = vector::FromElementsOp::create(b, loc, vec(2), ValueRange{x, y});
    return arith::TruncFOp::create(b, loc, pairType, pair);
  };
  auto add = [&](Value x, int64_t v) -> Value {
    return arith::AddIOp::create(b, loc, x, idx(v));
  };
  auto minIdx = [&](Value x, Value y) -> Value {
    return arith::MinUIOp::create(b, loc, x, y);
  };
  auto shuffleXor = [&](Value x, int32_t off) -> Value {
    return gpu::ShuffleOp::create(b, loc, x, off, 32, gpu::ShuffleMode::XOR)
        .getShuffleResult();
  };

  // Thread -> (split, tile of 16 M query rows, lane); neighbouring warps
  // take neighbouring tiles of one split, a block's warps (`W`) tiles of
  // one batch item (a tile past the rows computes on the last row and
  // writes nothing).
  const int64_t W = warpsPerBlock;
  Value lane = arith::RemUIOp::create(b, loc, w, idx(32));
  Value warp = arith::DivUIOp::create(b, loc, w, idx(32));
  Value split = arith::DivUIOp::create(b, loc, warp, tiles);
  Value tile = arith::RemUIOp::create(b, loc, warp, tiles);
  Value perBatch = roundUp(
      b, loc, arith::CeilDivUIOp::create(b, loc, tq, idx(rowsPerWarp)), W);
  SmallVector<Value> bidx;
  // A batch item's blocks go last first: under a causal mask the last
  // rows see the most keys, and the blocks launched last are then the
  // cheapest (a shorter tail: 2-5% on causal B1 T16384 on the H100).
  Value qt = decode(tile, perBatch, bidx);
  Value blockOf = arith::DivUIOp::create(b, loc, qt, idx(W));
  Value lastBlockOf = arith::SubIOp::create(
      b, loc, arith::DivUIOp::create(b, loc, perBatch, idx(W)), c1);
  qt = arith::AddIOp::create(
      b, loc,
      arith::MulIOp::create(
          b, loc, arith::SubIOp::create(b, loc, lastBlockOf, blockOf), idx(W)),
      arith::RemUIOp::create(b, loc, qt, idx(W)));
  Value q0 = arith::MulIOp::create(b, loc, qt, idx(rowsPerWarp));
  Value blockQ0 = arith::SubIOp::create(
      b, loc, q0,
      arith::MulIOp::create(b, loc,
                            arith::RemUIOp::create(b, loc, warp, idx(W)),
                            idx(rowsPerWarp)));
  Value firstRow = arith::MulIOp::create(
      b, loc, arith::DivUIOp::create(b, loc, tile, perBatch), tq);
  // The lane's rows (g and g + 8 of each 16) and columns (2t, 2t + 1 of
  // every 8): row r of the lane is 16 (r / 2) + 8 (r % 2) + g.
  Value g = arith::DivUIOp::create(b, loc, lane, idx(4));
  Value t = arith::RemUIOp::create(b, loc, lane, idx(4));
  Value t2 = arith::MulIOp::create(b, loc, t, idx(2));
  Value last = arith::SubIOp::create(b, loc, tq, c1);
  auto position = [&](Value row) -> Value {
    return op.getOffset() ? arith::AddIOp::create(b, loc, row, op.getOffset())
                          : row;
  };
  SmallVector<Value> rowOf, readOf, posOf;
  Value rowG = arith::AddIOp::create(b, loc, q0, g);
  for (int64_t r = 0; r < 2 * M; ++r) {
    rowOf.push_back(add(rowG, 16 * (r / 2) + 8 * (r % 2)));
    readOf.push_back(minIdx(rowOf.back(), last));
    posOf.push_back(position(rowOf.back()));
  }
  // The keys any row of the tile may see: the union of the first and the
  // last row's ranges (each bound is monotone in the row). The block's
  // loop walks the union of its tiles' (`kLo`, `blockHi`); each warp
  // masks to its own (`kHi`) and skips the steps outside [`warpLo`, `kHi`).
  Value start = arith::MulIOp::create(b, loc, split, chunk);
  Value end = arith::MinUIOp::create(
      b, loc, arith::AddIOp::create(b, loc, start, chunk), tk);
  auto range = [&](Value first, int64_t count) -> std::pair<Value, Value> {
    auto [loF, hiF] = keyRange(position(first), start, end);
    auto [loL, hiL] =
        keyRange(position(minIdx(add(first, count - 1), last)), start, end);
    return {arith::MinSIOp::create(b, loc, loF, loL),
            arith::MaxSIOp::create(b, loc, hiF, hiL)};
  };
  auto [warpLo, kHi] = range(q0, rowsPerWarp);
  auto [kLo, blockHi] = range(blockQ0, W * rowsPerWarp);
  // Steps on the 16-key blocks of the fragment order (a key before the
  // range is masked: a split starts at a multiple of 16, the constraints
  // hide the rest).
  kLo = arith::SubIOp::create(b, loc, kLo,
                              arith::RemUIOp::create(b, loc, kLo, idx(16)));
  SmallVector<Value> kIdx = sharedIdx(kType, bidx), vIdx = sharedIdx(vType, bidx);
  Value lastBlock = arith::SubIOp::create(
      b, loc, arith::CeilDivUIOp::create(b, loc, tk, idx(16)), c1);

  // Shared memory: two stages of a step's K and V fragments, KB blocks of
  // D / 16 then KB of Dv / 16 groups of 32 lanes x 4 registers. The
  // block's threads copy a step's (cp.async, 16 bytes each, a block's
  // 512-byte groups contiguous in `kFrags`) a step ahead; a warp reads its
  // lane's registers of a group as one 16-byte load, 512 neighbouring
  // bytes a warp (no bank conflicts).
  const int64_t KB = keyBlocks, stepKeys = 16 * KB;
  const int64_t kGroups = KB * D / 16, vGroups = KB * Dv / 16;
  Type i32 = b.getI32Type();
  auto stages = memref::AllocaOp::create(
      b, loc,
      MemRefType::get(
          {2, kGroups + vGroups, 32, 4}, i32, AffineMap(),
          b.getI64IntegerAttr(nvgpu::NVGPUDialect::kSharedMemoryAddressSpace)));
  Value thread = arith::RemUIOp::create(b, loc, w, idx(32 * W));
  auto tokenType = nvgpu::DeviceAsyncTokenType::get(b.getContext());
  // The copies of the step whose first block is `kb` into `stage`, as one
  // group of cp.async.
  auto copyStep = [&](Value kb, Value stage) -> Value {
    SmallVector<Value> tokens;
    for (bool isValue : {false, true}) {
      int64_t groups = isValue ? vGroups : kGroups;
      int64_t perBlock = groups / KB;
      for (int64_t i = 0; i < groups / W; ++i) {
        // Group `gi` of the step: block gi / perBlock, columns' group
        // gi % perBlock; 32 threads a group, a register quad each.
        Value quad = add(thread, 32 * W * i);
        Value gi = arith::DivUIOp::create(b, loc, quad, idx(32));
        Value l = arith::RemUIOp::create(b, loc, quad, idx(32));
        Value blk = arith::DivUIOp::create(b, loc, gi, idx(perBlock));
        SmallVector<Value> src(isValue ? vIdx : kIdx);
        src.append({minIdx(arith::AddIOp::create(b, loc, kb, blk), lastBlock),
                    arith::RemUIOp::create(b, loc, gi, idx(perBlock)), l, c0});
        SmallVector<Value> dst{stage, isValue ? add(gi, kGroups) : gi, l, c0};
        tokens.push_back(nvgpu::DeviceAsyncCopyOp::create(
            b, loc, tokenType, stages, dst, isValue ? vFrags : kFrags, src,
            b.getIndexAttr(4), /*srcElements=*/Value(), b.getUnitAttr()));
      }
    }
    return nvgpu::DeviceAsyncCreateGroupOp::create(b, loc, tokenType, tokens);
  };
  // An i32 register as the pair of the operand type it holds.
  auto asPair = [&](Value word) -> Value {
    Value v = vector::FromElementsOp::create(
        b, loc, VectorType::get({1}, b.getI32Type()), ValueRange{word});
    return vector::BitCastOp::create(b, loc, pairType, v);
  };
  // The pair of q at (row r, pair c): its two elements, read once (no
  // alignment of q is promised, so not one 4-byte load).
  auto qPair = [&](Value r, Value c) -> Value {
    SmallVector<Value> elements;
    for (int64_t e = 0; e < 2; ++e) {
      SmallVector<Value> indices(bidx);
      indices.append(
          {r, add(arith::MulIOp::create(b, loc, c, idx(2)), e)});
      elements.push_back(
          tensor::ExtractOp::create(b, loc, op.getQuery(), indices));
    }
    return vector::FromElementsOp::create(b, loc, pairType, elements);
  };

  // Q's fragments, for each 16 rows one per 16 of D: rows g and g + 8,
  // columns 2t and 8 + 2t (pairs t and 4 + t).
  SmallVector<SmallVector<SmallVector<Value>>> qFrag(M);
  for (int64_t mt = 0; mt < M; ++mt)
    for (int64_t kk = 0; kk < D / 16; ++kk) {
      Value col = add(t, 8 * kk), col8 = add(t, 8 * kk + 4);
      Value ra = readOf[2 * mt], rb = readOf[2 * mt + 1];
      qFrag[mt].push_back(
          {qPair(ra, col), qPair(rb, col), qPair(ra, col8), qPair(rb, col8)});
    }
  // With `qShared`, each lane stores its 4 registers of each (16 rows,
  // 16 columns) fragment as 16 bytes ([warp, fragment, lane, 4] of i32:
  // no bank conflicts) and reads them back where a step uses them; no
  // other lane reads them, so no barrier.
  Value qStore, warpInBlock;
  if (qShared) {
    qStore = memref::AllocaOp::create(
        b, loc,
        MemRefType::get({W, M * (D / 16), 32, 4}, i32, AffineMap(),
                        b.getI64IntegerAttr(
                            nvgpu::NVGPUDialect::kSharedMemoryAddressSpace)));
    warpInBlock = arith::RemUIOp::create(b, loc, warp, idx(W));
    for (int64_t mt = 0; mt < M; ++mt)
      for (int64_t kk = 0; kk < D / 16; ++kk) {
        SmallVector<Value> words;
        for (Value pair : qFrag[mt][kk])
          words.push_back(vector::ExtractOp::create(
              b, loc,
              vector::BitCastOp::create(b, loc, VectorType::get({1}, i32),
                                        pair),
              ArrayRef<int64_t>{0}));
        Value quad = vector::FromElementsOp::create(
            b, loc, VectorType::get({4}, i32), words);
        vector::StoreOp::create(
            b, loc, quad, qStore,
            ValueRange{warpInBlock, idx(mt * (D / 16) + kk), lane, c0});
      }
  }

  // Iteration state: the running max and the lane's part of the sum of
  // each of its 2 M rows, and the accumulator fragments (for each 16 rows,
  // Dv / 8 of vector<2x2xf32>). A step takes KB blocks of 16 keys.
  int64_t nTiles = Dv / 8, kChunks = D / 16;
  double c = foldedScale.value_or(1.0);
  Value zeroFrag = arith::ConstantOp::create(
      b, loc, DenseElementsAttr::get(fragType, b.getF32FloatAttr(0)));
  SmallVector<Value> init(2 * M, ninf);
  init.append(2 * M, zero);
  init.append(M * nTiles, zeroFrag);
  auto inner = scf::ForOp::create(b, loc, kLo, blockHi, idx(stepKeys), init);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(inner.getBody());
    Value j0 = inner.getInductionVar();
    auto it = inner.getRegionIterArgs();
    // The step's stage; the first step copies its own K and V, every step
    // the next one's into the other stage, then waits for its own (all
    // but the latest group of copies) and the block's.
    Value kb = arith::DivUIOp::create(b, loc, j0, idx(16));
    Value stage = arith::RemUIOp::create(
        b, loc,
        arith::DivUIOp::create(b, loc, arith::SubIOp::create(b, loc, j0, kLo),
                               idx(stepKeys)),
        idx(2));
    Value first =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, j0, kLo);
    auto prologue = scf::IfOp::create(b, loc, first);
    {
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(&prologue.getThenRegion().front());
      copyStep(kb, stage);
    }
    Value pending =
        copyStep(add(kb, KB), arith::SubIOp::create(b, loc, c1, stage));
    nvgpu::DeviceAsyncWaitOp::create(b, loc, pending, b.getI32IntegerAttr(1));
    gpu::BarrierOp::create(b, loc);
    // A warp none of whose keys are in the step (its rows' range is within
    // the block's) keeps its state: under a causal mask, the steps past
    // its diagonal.
    Value active = arith::AndIOp::create(
        b, loc,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, j0, kHi),
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt,
                              add(j0, stepKeys), warpLo));
    auto step = scf::IfOp::create(b, loc, TypeRange(ValueRange(it)), active,
                                  /*withElse=*/true);
    {
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(&step.getElseRegion().front());
      scf::YieldOp::create(b, loc, ValueRange(it));
    }
    b.setInsertionPointToStart(&step.getThenRegion().front());
    // Register f of a lane's groups of 4 in `buffer`'s [outer, ..] (K's
    // and V's in the step's stage, Q's in the warp's part), each group
    // read where the step first uses it (read at once, K's and V's were
    // 64 registers at D = 128).
    llvm::DenseMap<std::pair<Value, int64_t>, Value> quads;
    auto registerOf = [&](Value buffer, Value outer, int64_t f) -> Value {
      Value &q = quads[{buffer, f / 4}];
      if (!q)
        q = vector::LoadOp::create(b, loc, VectorType::get({4}, i32), buffer,
                                   ValueRange{outer, idx(f / 4), lane, c0});
      return asPair(
          vector::ExtractOp::create(b, loc, q, ArrayRef<int64_t>{f % 4}));
    };
    auto fragment = [&](int64_t group, int64_t f) -> Value {
      return registerOf(stages, stage, 4 * group + f);
    };
    // Q's fragment (16 rows mt, columns 16 kk on): from shared memory with
    // `qShared`.
    auto qOf = [&](int64_t mt, int64_t kk) -> SmallVector<Value> {
      if (!qShared)
        return qFrag[mt][kk];
      SmallVector<Value> pairs;
      for (int64_t i = 0; i < 4; ++i)
        pairs.push_back(
            registerOf(qStore, warpInBlock, 4 * (mt * kChunks + kk) + i));
      return pairs;
    };
    // S for keys j0 + 8 h + [0, 8), h < 2 KB: s[mt][h][i], i = 0, 1 row
    // 2 mt at columns 2t, 2t + 1; i = 2, 3 row 2 mt + 1. K's fragments
    // serve every 16 rows.
    int64_t groups = 2 * KB;
    SmallVector<SmallVector<SmallVector<Value, 4>>> s(
        M, SmallVector<SmallVector<Value, 4>>(groups));
    // With one block a step, each 8 keys' sum over D is two chains of
    // mma.sync (even and odd 16-column chunks), added at the end: a chain
    // waits on each mma's latency, and at 8-14 warps a multiprocessor too
    // few others hide it. More blocks are more chains.
    int64_t chains = kChunks > 1 && KB == 1 ? 2 : 1;
    for (int64_t h = 0; h < groups; ++h) {
      SmallVector<SmallVector<Value, 2>> frag(
          M, SmallVector<Value, 2>(chains, zeroFrag));
      int64_t group = (h / 2) * kChunks;
      for (int64_t kk = 0; kk < kChunks; ++kk) {
        Value kb0 = fragment(group, 2 * ((h % 2) * kChunks + kk));
        Value kb1 = fragment(group, 2 * ((h % 2) * kChunks + kk) + 1);
        for (int64_t mt = 0; mt < M; ++mt)
          frag[mt][kk % chains] =
              mma(qOf(mt, kk), {kb0, kb1}, frag[mt][kk % chains]);
      }
      for (int64_t mt = 0; mt < M; ++mt) {
        Value sum = frag[mt][0];
        if (chains == 2)
          sum = arith::AddFOp::create(b, loc, sum, frag[mt][1]);
        for (int64_t i = 0; i < 4; ++i)
          s[mt][h].push_back(element(sum, i));
      }
    }
    // Scale and score region (none where it is folded into exp2), and the
    // mask (the split's end and the constraints) only where the step
    // needs it: not where every key of the step is before kHi and every
    // constraint holds at the tile's corners (it is affine).
    Value inside = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle,
                                         add(j0, stepKeys), kHi);
    for (std::array<int64_t, 3> cst : op.getMaskConstraints()) {
      Value lo =
          bounds(b, loc, cst, position(q0), rowsPerWarp, j0, stepKeys).first;
      inside = arith::AndIOp::create(
          b, loc, inside,
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, lo, c0));
    }
    int64_t perTile = 4 * groups;
    auto scored = scf::IfOp::create(b, loc, SmallVector<Type>(perTile * M, f32),
                                    inside, /*withElse=*/true);
    for (bool masked : {false, true}) {
      OpBuilder::InsertionGuard g2(b);
      b.setInsertionPointToStart(masked ? &scored.getElseRegion().front()
                                        : &scored.getThenRegion().front());
      SmallVector<Value> out;
      for (int64_t mt = 0; mt < M; ++mt)
        for (int64_t h = 0; h < groups; ++h)
          for (int64_t i = 0; i < 4; ++i) {
            Value v = s[mt][h][i];
            if (foldedScale && !masked) {
              out.push_back(v);
              continue;
            }
            Value kj =
                arith::AddIOp::create(b, loc, add(j0, 8 * h + (i & 1)), t2);
            Value pos = posOf[2 * mt + i / 2];
            if (!foldedScale)
              v = scoreOf(b, loc, op, v, bidx, pos, kj);
            if (masked)
              v = arith::SelectOp::create(
                  b, loc, visible(b, loc, op, pos, kj, kHi), v, ninf);
            out.push_back(v);
          }
      scf::YieldOp::create(b, loc, out);
    }
    for (int64_t mt = 0; mt < M; ++mt)
      for (int64_t h = 0; h < groups; ++h)
        for (int64_t i = 0; i < 4; ++i)
          s[mt][h][i] = scored.getResult(perTile * mt + 4 * h + i);
    // Row maxima over the row's 4 lanes; P in place of S, and the lane's
    // part of the row sums.
    SmallVector<Value> mNew(2 * M), alpha(2 * M), lNew(2 * M);
    for (int64_t r = 0; r < 2 * M; ++r) {
      int64_t mt = r / 2, half = r % 2;
      Value x = it[r];
      for (int64_t h = 0; h < groups; ++h)
        x = maxOf(b, loc, x,
                  ArrayRef<Value>(s[mt][h]).slice(2 * half, 2));
      for (int32_t off : {1, 2})
        x = arith::MaxNumFOp::create(b, loc, x, shuffleXor(x, off));
      mNew[r] = x;
      Value shift = exp2Shift(b, loc, x, c);
      alpha[r] = exp2Shifted(b, loc, it[r], shift, c);
      lNew[r] = arith::MulFOp::create(b, loc, it[2 * M + r], alpha[r]);
      for (int64_t h = 0; h < groups; ++h)
        for (int64_t i = 2 * half; i < 2 * half + 2; ++i) {
          s[mt][h][i] = exp2Shifted(b, loc, s[mt][h][i], shift, c);
          lNew[r] = arith::AddFOp::create(b, loc, lNew[r], s[mt][h][i]);
        }
    }
    SmallVector<Value> next(mNew);
    next.append(lNew);
    // P as the A operand of each block's keys j0 + 16 blk + [0, 16): the
    // S fragments as they are.
    SmallVector<SmallVector<SmallVector<Value, 4>>> pFrag(M);
    SmallVector<Value> scale;
    for (int64_t mt = 0; mt < M; ++mt) {
      for (int64_t blk = 0; blk < KB; ++blk) {
        auto &lo = s[mt][2 * blk], &hi = s[mt][2 * blk + 1];
        pFrag[mt].push_back(
            {packScalars(lo[0], lo[1]), packScalars(lo[2], lo[3]),
             packScalars(hi[0], hi[1]), packScalars(hi[2], hi[3])});
      }
      Value a0 = alpha[2 * mt], a1 = alpha[2 * mt + 1];
      scale.push_back(vector::FromElementsOp::create(
          b, loc, fragType, ValueRange{a0, a0, a1, a1}));
    }
    SmallVector<Value> acc(M * nTiles);
    for (int64_t mt = 0; mt < M; ++mt)
      for (int64_t j = 0; j < nTiles; ++j)
        acc[mt * nTiles + j] = arith::MulFOp::create(
            b, loc, it[4 * M + mt * nTiles + j], scale[mt]);
    for (int64_t blk = 0; blk < KB; ++blk) {
      int64_t group = kGroups + blk * (Dv / 16);
      for (int64_t j = 0; j < nTiles; ++j) {
        // V's fragments (keys 2t, 2t + 1 and 8 on of the block, column
        // 8 j + g) serve every 16 rows.
        Value vb0 = fragment(group, 2 * j), vb1 = fragment(group, 2 * j + 1);
        for (int64_t mt = 0; mt < M; ++mt)
          acc[mt * nTiles + j] =
              mma(pFrag[mt][blk], {vb0, vb1}, acc[mt * nTiles + j]);
      }
    }
    next.append(acc);
    scf::YieldOp::create(b, loc, next);
    // Every warp is done with the stage the next step's copies overwrite.
    b.setInsertionPointAfter(step);
    gpu::BarrierOp::create(b, loc);
    scf::YieldOp::create(b, loc, step.getResults());
  }

  // The row sums over the row's 4 lanes; each lane writes its part of the
  // rows it holds that exist.
  auto res = inner.getResults();
  SmallVector<Value> out(bufs.begin(), bufs.end());
  Value base = arith::MulIOp::create(b, loc, split, rows);
  for (int64_t r = 0; r < 2 * M; ++r) {
    int64_t mt = r / 2, half = r % 2;
    Value sum = res[2 * M + r];
    for (int32_t off : {1, 2})
      sum = arith::AddFOp::create(b, loc, sum, shuffleXor(sum, off));
    Value exists = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                         rowOf[r], tq);
    auto ifOp = scf::IfOp::create(b, loc, TypeRange(ValueRange(out)), exists,
                                  /*withElse=*/true);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(&ifOp.getThenRegion().front());
      SmallVector<std::pair<Value, Value>> parts;
      for (int64_t j = 0; j < nTiles; ++j)
        parts.push_back({vector::ExtractOp::create(
                             b, loc, res[4 * M + mt * nTiles + j],
                             ArrayRef<int64_t>{half}),
                         add(t2, 8 * j)});
      // With a single split the output, acc / sum (0 for a row that saw
      // no key) as the merge writes it; else the split's (max, sum, acc).
      auto direct = scf::IfOp::create(b, loc, TypeRange(ValueRange(out)),
                                      single, /*withElse=*/true);
      scf::YieldOp::create(b, loc, direct.getResults());
      OpBuilder::InsertionGuard g2(b);
      b.setInsertionPointToStart(&direct.getThenRegion().front());
      auto rowMap = AffineMap::get(outType.getRank(), 0,
                                   b.getAffineDimExpr(outType.getRank() - 1),
                                   b.getContext());
      Value o = out[3];
      for (auto [part, col] : parts) {
        Value x = normalized(part, sum);
        SmallVector<Value> indices(bidx);
        indices.append({rowOf[r], col});
        o = vector::TransferWriteOp::create(b, loc, o.getType(), x, o,
                                            indices, rowMap, /*mask=*/Value(),
                                            b.getBoolArrayAttr({true}))
                .getResult();
      }
      SmallVector<Value> written(ValueRange(out).take_front(3));
      written.push_back(o);
      scf::YieldOp::create(b, loc, written);
      b.setInsertionPointToStart(&direct.getElseRegion().front());
      Value item = arith::AddIOp::create(
          b, loc, base, arith::AddIOp::create(b, loc, firstRow, rowOf[r]));
      // The split's max as a score (the loop's is of dot products where
      // the scale is folded).
      Value m = res[r];
      if (foldedScale)
        m = arith::MulFOp::create(
            b, loc, m, arith::ConstantOp::create(b, loc, b.getF32FloatAttr(c)));
      SmallVector<Value> split =
          store(ValueRange(out).take_front(3), item, m, sum, parts);
      split.push_back(out[3]);
      scf::YieldOp::create(b, loc, split);
      b.setInsertionPointToStart(&ifOp.getElseRegion().front());
      scf::YieldOp::create(b, loc, out);
    }
    out.assign(ifOp.getResults().begin(), ifOp.getResults().end());
  }
  written = out;
}

Value GPUAttention::normalized(Value acc, Value l) {
  Value none = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, l, zero);
  Value z = zero;
  auto type = llvm::dyn_cast<VectorType>(acc.getType());
  if (type) {
    z = splat(zero, type.getNumElements());
    l = splat(l, type.getNumElements());
  }
  Value o = arith::SelectOp::create(b, loc, none, z,
                                    arith::DivFOp::create(b, loc, acc, l));
  Type elt = outType.getElementType();
  if (elt == f32)
    return o;
  return arith::TruncFOp::create(
      b, loc, type ? Type(VectorType::get(type.getShape(), elt)) : elt, o);
}

Value GPUAttention::merge(Value splits, Value mBuf, Value lBuf, Value aBuf,
                          Value init) {
  // A thread per output element (neighbouring threads, neighbouring
  // columns of a row) merges the splits of its row and writes `acc / l`
  // (0 for a row that saw no key).
  Value total = arith::MulIOp::create(b, loc, rows, idx(Dv));
  auto loop = scf::ForOp::create(b, loc, c0, total, c1, ValueRange{init});
  loop->setAttr("seq.parallel", b.getUnitAttr());
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(loop.getBody());
  Value t = arith::DivUIOp::create(b, loc, loop.getInductionVar(), idx(Dv));
  Value col = arith::RemUIOp::create(b, loc, loop.getInductionVar(), idx(Dv));
  SmallVector<Value> bidx;
  Value qi = decode(t, tq, bidx);
  // Splits merged 32 a step while 32 remain, then 8 a step, each step's
  // loads all issued first (a row may have hundreds of splits: a decode
  // at T = 65536 has 512, and one at a time each step waited for its
  // loads). In the last loop a split past the last reads the last, its
  // max taken as -inf (weight 0). The 32-wide loop, whose splits all
  // exist, keeps the same test and clamp: without them a decode at B1
  // T65536 measured 9% slower (0.271 against 0.247 ms, same H100 run).
  Value lastSplit = arith::SubIOp::create(b, loc, splits, c1);
  auto combineLoop = [&](Value lo, Value hi, int64_t width,
                         ValueRange init) -> scf::ForOp {
    auto combine = scf::ForOp::create(b, loc, lo, hi, idx(width), init);
    OpBuilder::InsertionGuard g2(b);
    b.setInsertionPointToStart(combine.getBody());
    Value m = combine.getRegionIterArgs()[0], l = combine.getRegionIterArgs()[1],
          a = combine.getRegionIterArgs()[2];
    SmallVector<Value> ms, ls, as;
    for (int64_t u = 0; u < width; ++u) {
      Value split = arith::AddIOp::create(b, loc, combine.getInductionVar(),
                                          idx(u));
      Value exists = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                           split, splits);
      Value item = arith::AddIOp::create(
          b, loc,
          arith::MulIOp::create(
              b, loc, arith::MinUIOp::create(b, loc, split, lastSplit), rows),
          t);
      ms.push_back(arith::SelectOp::create(
          b, loc, exists, tensor::ExtractOp::create(b, loc, mBuf, item), ninf));
      ls.push_back(tensor::ExtractOp::create(b, loc, lBuf, item));
      as.push_back(
          tensor::ExtractOp::create(b, loc, aBuf, ValueRange{item, col}));
    }
    Value mNew = maxOf(b, loc, m, ms);
    Value shift = exp2Shift(b, loc, mNew);
    Value w = exp2Shifted(b, loc, m, shift);
    Value lNew = arith::MulFOp::create(b, loc, w, l);
    Value aNew = arith::MulFOp::create(b, loc, w, a);
    for (int64_t u = 0; u < width; ++u) {
      Value wu = exp2Shifted(b, loc, ms[u], shift);
      lNew = arith::AddFOp::create(b, loc, lNew,
                                   arith::MulFOp::create(b, loc, wu, ls[u]));
      aNew = arith::AddFOp::create(b, loc, aNew,
                                   arith::MulFOp::create(b, loc, wu, as[u]));
    }
    scf::YieldOp::create(b, loc, ValueRange{mNew, lNew, aNew});
    return combine;
  };
  Value wide = arith::SubIOp::create(
      b, loc, splits, arith::RemUIOp::create(b, loc, splits, idx(32)));
  auto first = combineLoop(c0, wide, 32, ValueRange{ninf, zero, zero});
  auto combine = combineLoop(wide, splits, 8, first.getResults());
  Value o = normalized(combine.getResult(2), combine.getResult(1));
  SmallVector<Value> indices(bidx);
  indices.push_back(qi);
  indices.push_back(col);
  Value written = tensor::InsertOp::create(b, loc, o, loop.getRegionIterArgs()[0],
                                           indices);
  scf::YieldOp::create(b, loc, written);
  return loop.getResult(0);
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
    if (warpRows != 0 && warpRows != 16 && warpRows != 32) {
      getOperation()->emitError("seq-lower-attention: warp-rows must be 0, "
                                "16 or 32, not ")
          << static_cast<int64_t>(warpRows);
      return signalPassFailure();
    }
    if (keyBlocks < 0 || keyBlocks > 8) {
      getOperation()->emitError("seq-lower-attention: key-blocks must be "
                                "in [0, 8], not ")
          << static_cast<int64_t>(keyBlocks);
      return signalPassFailure();
    }
    SmallVector<seq::AttentionOp> ops;
    getOperation()->walk([&](seq::AttentionOp op) { ops.push_back(op); });
    // A dynamic query length may be 1 (a step that decodes one token):
    // that case gets its own copy, with one-row tiles.
    SmallVector<seq::AttentionOp> all;
    for (seq::AttentionOp op : ops) {
      all.push_back(op);
      // On the GPU, only where the one-query copy takes the warp-per-row
      // form.
      auto v = llvm::cast<RankedTensorType>(op.getValue().getType());
      auto q = llvm::cast<RankedTensorType>(op.getQuery().getType());
      auto by32 = [](int64_t d) {
        return !ShapedType::isDynamic(d) && d % 32 == 0;
      };
      bool rowsFit = by32(q.getShape().back()) && by32(v.getShape().back());
      if (singleQuery && (perThread ? rowsFit : tileQ > 1))
        if (seq::AttentionOp one = splitSingleQuery(op))
          all.push_back(one);
    }
    ops = std::move(all);
    LowerAttention lowering{tileQ, tileK, minParallel};
    auto lowerForGPU = [&](seq::AttentionOp op) {
      OpBuilder b(op);
      return GPUAttention(op, b, tileK)
          .lower(minParallel, tensorCores, warpRows, keyBlocks);
    };
    for (seq::AttentionOp op : ops)
      if (failed(perThread ? lowerForGPU(op) : lowering.lower(op)))
        return signalPassFailure();
  }
};

} // namespace
