//===- FuseAttention.cpp - softmax(q k^T ...) v into seq.attention --------===//
//
// `seq-fuse-attention` finds attention by its algebra, whatever its
// spelling. It starts at each `seq.softmax` and follows its input back,
// through pointwise steps on the scores, to a contraction of two operands
// over one shared axis; then it follows the probabilities forward to their
// contraction with values over the softmax axis. The loops of the score
// contraction sort into roles:
//
//   - the key position: the softmax axis, read by one operand (the keys);
//   - query axes: read by the other operand (the queries) only; the last one
//     in the scores' layout is the query position, the others are batch axes
//     the keys are shared over (GQA written as a reshape into groups);
//   - batch axes: read by both operands;
//   - the feature axis: the one reduction.
//
// The operands are brought to `seq.attention`'s layout ([batch.., T, D],
// with unit axes where keys or values are shared) by slices, transposes and
// reshapes that cost O(T) memory, the pointwise steps are cloned into the
// score region (their other operands become scalar computations on the
// positions, or reads of the tensor they come from), and a final `-inf`
// mask that is a conjunction of affine comparisons of the positions becomes
// the op's `mask` constraints. Where fusing would change what is computed it
// refuses, and says why in a remark.
//
//===----------------------------------------------------------------------===//

#include "lowering/Passes.h"

#include "dialects/Seq/Seq.h"

#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "llvm/Support/Format.h"

namespace seqc {
#define GEN_PASS_DEF_SEQFUSEATTENTION
#include "lowering/Passes.h.inc"
} // namespace seqc

using namespace mlir;
using namespace seqc;

namespace {

/// Why a softmax was not fused (the remark at the softmax).
using Refusal = std::string;

/// `op` named for messages: "`linalg.transpose` at f.seq:3:5".
static std::string describe(Operation *op) {
  std::string at = formatLocation(op->getLoc());
  return "`" + op->getName().getStringRef().str() + "` at " +
         (at.empty() ? "an unknown location" : at);
}

/// A value through any number of `arith.extf` (mixed-precision operands).
static Value throughExt(Value v) {
  while (auto ext = v.getDefiningOp<arith::ExtFOp>())
    v = ext.getIn();
  return v;
}

/// Whether `v` is `linalg.fill` of 0 (the init of a plain contraction).
static bool isZeroFill(Value v) {
  auto fill = v.getDefiningOp<linalg::FillOp>();
  if (!fill)
    return false;
  return matchPattern(fill.getInputs()[0], m_AnyZeroFloat());
}

/// A contraction `out += a * b` with one reduction loop, both operands
/// indexed by projected permutations (or constant 0 on unit axes), the
/// output by a projected permutation of the parallel loops, and a zero init.
struct Contraction {
  linalg::LinalgOp op;
  int64_t reduction = -1;
  SmallVector<AffineMap> maps; // lhs, rhs, out

  static std::optional<Contraction> match(Operation *op) {
    auto linalgOp = llvm::dyn_cast_or_null<linalg::LinalgOp>(op);
    if (!linalgOp || linalgOp.getNumDpsInputs() != 2 ||
        linalgOp.getNumDpsInits() != 1 || !linalgOp.hasPureTensorSemantics())
      return std::nullopt;
    Contraction c;
    c.op = linalgOp;
    for (auto [i, type] : llvm::enumerate(linalgOp.getIteratorTypesArray())) {
      if (type != utils::IteratorType::reduction)
        continue;
      if (c.reduction >= 0)
        return std::nullopt;
      c.reduction = i;
    }
    if (c.reduction < 0)
      return std::nullopt;
    // Body: yield (out + a * b), operands in either order.
    Block *body = linalgOp.getBlock();
    auto yield = llvm::cast<linalg::YieldOp>(body->getTerminator());
    auto add = yield.getValues()[0].getDefiningOp<arith::AddFOp>();
    if (!add || std::distance(body->begin(), body->end()) > 6)
      return std::nullopt;
    Value out = body->getArgument(2), other;
    if (add.getLhs() == out)
      other = add.getRhs();
    else if (add.getRhs() == out)
      other = add.getLhs();
    else
      return std::nullopt;
    auto mul = other.getDefiningOp<arith::MulFOp>();
    if (!mul)
      return std::nullopt;
    Value x = throughExt(mul.getLhs()), y = throughExt(mul.getRhs());
    if (!((x == body->getArgument(0) && y == body->getArgument(1)) ||
          (x == body->getArgument(1) && y == body->getArgument(0))))
      return std::nullopt;
    if (!isZeroFill(linalgOp.getDpsInits()[0]))
      return std::nullopt;
    c.maps = linalgOp.getIndexingMapsArray();
    if (!c.maps[2].isProjectedPermutation())
      return std::nullopt;
    for (AffineMap m : {c.maps[0], c.maps[1]})
      for (AffineExpr e : m.getResults())
        if (!llvm::isa<AffineDimExpr>(e) && !isConstantZero(e))
          return std::nullopt;
    return c;
  }

  static bool isConstantZero(AffineExpr e) {
    auto c = llvm::dyn_cast<AffineConstantExpr>(e);
    return c && c.getValue() == 0;
  }

  /// Whether loop `d` indexes operand `i` (0: lhs, 1: rhs, 2: out).
  bool reads(unsigned i, int64_t d) const {
    return maps[i].isFunctionOfDim(d);
  }
};

/// A pointwise step on the scores: a `linalg.generic` over the scores'
/// loops, writing a fresh tensor, reading the scores at the same position.
static bool isPointwise(linalg::GenericOp g) {
  if (g.getNumDpsInits() != 1 || !g.hasPureTensorSemantics() ||
      g.getNumParallelLoops() != g.getNumLoops())
    return false;
  if (!g.getMatchingIndexingMap(g.getDpsInitOperand(0)).isIdentity())
    return false;
  return g.getBlock()->getArgument(g.getNumDpsInputs()).use_empty();
}

/// The roles of the score contraction's loops.
struct Roles {
  unsigned queryOperand = 0, keyOperand = 1;
  int64_t keyDim = -1, queryDim = -1;
  /// Batch loops in the scores' layout order (both operands' and the
  /// query-only ones other than the query position).
  SmallVector<int64_t> batchDims;
  /// For each score axis: its region argument (1 + batch index, or the
  /// query / key position).
  SmallVector<unsigned> scoreArg;
};

static Value shareRepeatedHeads(OpBuilder &b, seq::AttentionOp &op);

class Fuser {
public:
  Fuser(seq::SoftmaxOp softmax) : softmax(softmax) {}

  /// Fuses, or returns why not.
  std::optional<Refusal> run(OpBuilder &b);

  /// The op made, once run succeeded.
  seq::AttentionOp fused;

private:
  seq::SoftmaxOp softmax;
  SmallVector<linalg::GenericOp> chain; // contraction -> softmax order
  SmallVector<unsigned> chainOperand;   // the score operand of each step

  bool traceBack(Value v, Contraction &out, int depth);
  std::optional<Refusal> checkUses(Operation *contraction);
  Value canonicalize(OpBuilder &b, Location loc, Value x, AffineMap map,
                     ArrayRef<int64_t> order, bool allowMissing);
  Value materialize(OpBuilder &b, Location loc, Value x, ArrayRef<Value> idx,
                    int depth);
};

bool Fuser::traceBack(Value v, Contraction &out, int depth) {
  if (depth > 32)
    return false;
  Operation *def = v.getDefiningOp();
  if (std::optional<Contraction> c = Contraction::match(def)) {
    out = *c;
    return true;
  }
  auto g = llvm::dyn_cast_or_null<linalg::GenericOp>(def);
  if (!g || !isPointwise(g))
    return false;
  auto type = llvm::cast<RankedTensorType>(v.getType());
  for (OpOperand *in : g.getDpsInputOperands()) {
    if (in->get().getType() != type ||
        !g.getMatchingIndexingMap(in).isIdentity())
      continue;
    if (traceBack(in->get(), out, depth + 1)) {
      chain.push_back(g);
      chainOperand.push_back(in->getOperandNumber());
      return true;
    }
  }
  return false;
}

/// The first use of `v` other than by `user`, if any.
static Operation *otherUser(Value v, Operation *user) {
  for (Operation *u : v.getUsers())
    if (u != user)
      return u;
  return nullptr;
}

/// Whether a value computed by `op` flows (within a few steps) into one of
/// `targets`.
static bool flowsInto(Operation *op, ArrayRef<Operation *> targets) {
  SmallVector<std::pair<Operation *, int>> worklist = {{op, 0}};
  while (!worklist.empty()) {
    auto [o, depth] = worklist.pop_back_val();
    for (Operation *u : o->getUsers()) {
      if (llvm::is_contained(targets, u))
        return true;
      if (depth < 8)
        worklist.push_back({u, depth + 1});
    }
  }
  return false;
}

std::optional<Refusal> Fuser::checkUses(Operation *contraction) {
  SmallVector<Operation *> steps = {contraction};
  steps.append(chain.begin(), chain.end());
  SmallVector<Operation *> targets(steps.begin(), steps.end());
  targets.push_back(softmax);
  for (size_t i = 0; i < steps.size(); ++i) {
    Operation *next = i + 1 < steps.size() ? steps[i + 1] : softmax;
    Operation *other = otherUser(steps[i]->getResult(0), next);
    if (!other)
      continue;
    if (flowsInto(other, targets))
      return Refusal{"not fused: " + describe(other) +
                     " combines the scores of different positions (computed "
                     "by " + describe(steps[i]) + ") before the softmax"};
    return Refusal{"not fused: the scores computed by " + describe(steps[i]) +
                   " are also used by " + describe(other)};
  }
  return std::nullopt;
}

/// `x` (indexed by the contraction's loops through `map`) as a tensor whose
/// axes are the loops `order`: unit axes read at 0 are dropped, the rest
/// transposed into order, and loops of `order` that `x` does not read
/// become unit axes (only where `allowMissing`). Null if `x` cannot be.
Value Fuser::canonicalize(OpBuilder &b, Location loc, Value x, AffineMap map,
                          ArrayRef<int64_t> order, bool allowMissing) {
  auto type = llvm::cast<RankedTensorType>(x.getType());
  // Look through a transpose (`k.T`): index its input instead.
  if (auto t = x.getDefiningOp<linalg::TransposeOp>()) {
    SmallVector<AffineExpr> exprs(map.getNumResults());
    for (auto [i, p] : llvm::enumerate(t.getPermutation()))
      exprs[p] = map.getResult(i);
    map = AffineMap::get(map.getNumDims(), 0, exprs, b.getContext());
    x = t.getInput();
    type = llvm::cast<RankedTensorType>(x.getType());
  }
  // Drop the axes read at 0.
  SmallVector<int64_t> kept; // tensor axes kept
  SmallVector<int64_t> loops; // their loops
  for (auto [i, e] : llvm::enumerate(map.getResults())) {
    if (auto d = llvm::dyn_cast<AffineDimExpr>(e)) {
      kept.push_back(i);
      loops.push_back(d.getPosition());
    } else if (type.getDimSize(i) != 1) {
      return {};
    }
  }
  if (kept.size() != static_cast<size_t>(type.getRank())) {
    SmallVector<OpFoldResult> offsets(type.getRank(), b.getIndexAttr(0));
    SmallVector<OpFoldResult> sizes(type.getRank(), b.getIndexAttr(1));
    SmallVector<OpFoldResult> strides(type.getRank(), b.getIndexAttr(1));
    SmallVector<int64_t> shape;
    for (int64_t i : kept) {
      sizes[i] = tensor::getMixedSize(b, loc, x, i);
      shape.push_back(type.getDimSize(i));
    }
    auto sliced = RankedTensorType::get(shape, type.getElementType());
    x = tensor::ExtractSliceOp::create(b, loc, sliced, x, offsets, sizes,
                                       strides);
    type = sliced;
  }
  // Transpose the kept axes into the order of `order`.
  SmallVector<int64_t> present; // loops of `order` that x reads, in order
  for (int64_t d : order)
    if (llvm::is_contained(loops, d))
      present.push_back(d);
    else if (!allowMissing)
      return {};
  if (present.size() != loops.size())
    return {};
  SmallVector<int64_t> perm;
  for (int64_t d : present)
    perm.push_back(llvm::find(loops, d) - loops.begin());
  if (!llvm::equal(perm, llvm::seq<int64_t>(0, perm.size()))) {
    SmallVector<OpFoldResult> sizes;
    SmallVector<int64_t> shape;
    for (int64_t p : perm) {
      sizes.push_back(tensor::getMixedSize(b, loc, x, p));
      shape.push_back(type.getDimSize(p));
    }
    Value init =
        tensor::EmptyOp::create(b, loc, sizes, type.getElementType());
    x = linalg::TransposeOp::create(b, loc, x, init, perm)->getResult(0);
    type = RankedTensorType::get(shape, type.getElementType());
  }
  if (present.size() == order.size())
    return x;
  // Unit axes for the loops x does not read: each joins the next present
  // axis' reassociation group (the last present axis ends every order).
  SmallVector<ReassociationIndices> groups;
  SmallVector<OpFoldResult> outSizes;
  SmallVector<int64_t> shape;
  ReassociationIndices pending;
  int64_t src = 0;
  for (auto [j, d] : llvm::enumerate(order)) {
    pending.push_back(j);
    if (llvm::is_contained(present, d)) {
      outSizes.push_back(tensor::getMixedSize(b, loc, x, src));
      shape.push_back(type.getDimSize(src));
      ++src;
      groups.push_back(pending);
      pending.clear();
    } else {
      outSizes.push_back(b.getIndexAttr(1));
      shape.push_back(1);
    }
  }
  if (!pending.empty())
    return {};
  auto expanded = RankedTensorType::get(shape, type.getElementType());
  return tensor::ExpandShapeOp::create(b, loc, expanded, x, groups, outSizes);
}

/// The element of `x` at `idx`, as a scalar computed in the score region:
/// constants and pointwise producers computed from positions (masks,
/// biases built with `arange`) are recomputed there; anything else is read.
Value Fuser::materialize(OpBuilder &b, Location loc, Value x,
                         ArrayRef<Value> idx, int depth) {
  auto type = llvm::cast<RankedTensorType>(x.getType());
  DenseElementsAttr dense;
  if (matchPattern(x, m_Constant(&dense)) && dense.isSplat())
    return arith::ConstantOp::create(b, loc,
                                     dense.getSplatValue<TypedAttr>());
  Operation *def = x.getDefiningOp();
  if (depth < 8 && def) {
    // A reshape that only adds or drops unit axes: index its source.
    if (auto expand = llvm::dyn_cast<tensor::ExpandShapeOp>(def)) {
      SmallVector<Value> srcIdx;
      bool simple = true;
      for (ReassociationIndices group : expand.getReassociationIndices()) {
        Value pick;
        int nonUnit = 0;
        for (int64_t i : group)
          if (type.getDimSize(i) != 1) {
            pick = idx[i];
            ++nonUnit;
          }
        if (nonUnit > 1) {
          simple = false;
          break;
        }
        srcIdx.push_back(pick ? pick
                              : arith::ConstantIndexOp::create(b, loc, 0));
      }
      if (simple)
        return materialize(b, loc, expand.getSrc(), srcIdx, depth + 1);
    }
    // A pointwise producer whose body is cheap: recompute it here.
    auto g = llvm::dyn_cast<linalg::GenericOp>(def);
    if (g && isPointwise(g) &&
        g.getBlock()->getOperations().size() <= 16) {
      IRMapping mapping;
      for (OpOperand *in : g.getDpsInputOperands()) {
        AffineMap m = g.getMatchingIndexingMap(in);
        SmallVector<Value> inIdx;
        for (AffineExpr e : m.getResults()) {
          if (auto d = llvm::dyn_cast<AffineDimExpr>(e))
            inIdx.push_back(idx[d.getPosition()]);
          else
            inIdx.push_back(arith::ConstantIndexOp::create(b, loc, 0));
        }
        mapping.map(g.getMatchingBlockArgument(in),
                    materialize(b, loc, in->get(), inIdx, depth + 1));
      }
      for (Operation &op : g.getBlock()->without_terminator()) {
        if (auto index = llvm::dyn_cast<linalg::IndexOp>(op)) {
          mapping.map(index.getResult(), idx[index.getDim()]);
          continue;
        }
        b.clone(op, mapping);
      }
      return mapping.lookup(
          llvm::cast<linalg::YieldOp>(g.getBlock()->getTerminator())
              .getValues()[0]);
    }
  }
  return tensor::ExtractOp::create(b, loc, x, idx);
}

//===----------------------------------------------------------------------===//
// The mask: affine comparisons of the positions
//===----------------------------------------------------------------------===//

/// `a * i + b * j + c` over the query and key positions.
struct Affine {
  int64_t a = 0, b = 0, c = 0;
  Affine operator-(const Affine &o) const { return {a - o.a, b - o.b, c - o.c}; }
};

static std::optional<Affine> affineOf(Value v, Value qi, Value ki) {
  if (v == qi)
    return Affine{1, 0, 0};
  if (v == ki)
    return Affine{0, 1, 0};
  APInt cst;
  if (matchPattern(v, m_ConstantInt(&cst)))
    return Affine{0, 0, cst.getSExtValue()};
  Operation *def = v.getDefiningOp();
  if (!def)
    return std::nullopt;
  if (llvm::isa<arith::IndexCastOp, arith::ExtSIOp>(def))
    return affineOf(def->getOperand(0), qi, ki);
  if (llvm::isa<arith::AddIOp, arith::SubIOp, arith::MulIOp>(def)) {
    auto x = affineOf(def->getOperand(0), qi, ki);
    auto y = affineOf(def->getOperand(1), qi, ki);
    if (!x || !y)
      return std::nullopt;
    if (llvm::isa<arith::AddIOp>(def))
      return Affine{x->a + y->a, x->b + y->b, x->c + y->c};
    if (llvm::isa<arith::SubIOp>(def))
      return *x - *y;
    if (x->a == 0 && x->b == 0)
      return Affine{x->c * y->a, x->c * y->b, x->c * y->c};
    if (y->a == 0 && y->b == 0)
      return Affine{y->c * x->a, y->c * x->b, y->c * x->c};
  }
  return std::nullopt;
}

using Constraints = SmallVector<std::array<int64_t, 3>>;

/// The constraints (each `a i + b j + c >= 0`) equivalent to `pred`, or
/// to its negation with `negate`; none if it is not a conjunction of affine
/// comparisons.
static std::optional<Constraints> constraintsOf(Value pred, Value qi, Value ki,
                                                bool negate) {
  Operation *def = pred.getDefiningOp();
  if (!def)
    return std::nullopt;
  if (auto andOp = llvm::dyn_cast<arith::AndIOp>(def)) {
    if (negate)
      return std::nullopt;
    auto x = constraintsOf(andOp.getLhs(), qi, ki, false);
    auto y = constraintsOf(andOp.getRhs(), qi, ki, false);
    if (!x || !y)
      return std::nullopt;
    x->append(y->begin(), y->end());
    return x;
  }
  if (auto xorOp = llvm::dyn_cast<arith::XOrIOp>(def))
    if (matchPattern(xorOp.getRhs(), m_One()))
      return constraintsOf(xorOp.getLhs(), qi, ki, !negate);
  auto cmp = llvm::dyn_cast<arith::CmpIOp>(def);
  if (!cmp)
    return std::nullopt;
  auto x = affineOf(cmp.getLhs(), qi, ki), y = affineOf(cmp.getRhs(), qi, ki);
  if (!x || !y)
    return std::nullopt;
  arith::CmpIPredicate p = cmp.getPredicate();
  if (negate)
    p = arith::invertPredicate(p);
  Affine d = *x - *y; // x - y
  auto ge0 = [](Affine e) { return std::array<int64_t, 3>{e.a, e.b, e.c}; };
  switch (p) {
  case arith::CmpIPredicate::sge:
    return Constraints{ge0(d)};
  case arith::CmpIPredicate::sgt:
    return Constraints{ge0(Affine{d.a, d.b, d.c - 1})};
  case arith::CmpIPredicate::sle:
    return Constraints{ge0(Affine{} - d)};
  case arith::CmpIPredicate::slt:
    return Constraints{ge0(Affine{-d.a, -d.b, -d.c - 1})};
  case arith::CmpIPredicate::eq:
    return Constraints{ge0(d), ge0(Affine{} - d)};
  default:
    return std::nullopt;
  }
}

static bool isNegInf(Value v) {
  APFloat f(0.0);
  return matchPattern(v, m_ConstantFloat(&f)) && f.isInfinity() &&
         f.isNegative();
}

/// Erases the ops of `block` whose results nobody uses (constants and
/// index computations left over from cloning and peeling).
static void eraseDeadOps(Block &block) {
  for (Operation &op : llvm::make_early_inc_range(llvm::reverse(block)))
    if (!op.hasTrait<OpTrait::IsTerminator>() && op.use_empty() &&
        isMemoryEffectFree(&op))
      op.erase();
}

/// Peels a final `-inf` mask off the score region's result: while the
/// yielded value is `select(p, x, -inf)` (or `select(p, -inf, x)`, or
/// `x + select(p, 0, -inf)`) with `p` affine in the positions, it yields
/// `x` and the constraints grow.
static void peelMask(Block &block, Value qi, Value ki, Constraints &mask) {
  auto yield = llvm::cast<seq::YieldOp>(block.getTerminator());
  while (true) {
    Value y = yield.getValues()[0];
    // Scores of a narrower type are widened last: look through it (the
    // narrow -inf widens to -inf).
    arith::ExtFOp widen = y.getDefiningOp<arith::ExtFOp>();
    if (widen)
      y = widen.getIn();
    Value pred, kept;
    bool negate = false;
    if (auto sel = y.getDefiningOp<arith::SelectOp>()) {
      if (isNegInf(sel.getFalseValue())) {
        pred = sel.getCondition();
        kept = sel.getTrueValue();
      } else if (isNegInf(sel.getTrueValue())) {
        pred = sel.getCondition();
        kept = sel.getFalseValue();
        negate = true;
      }
    } else if (auto add = y.getDefiningOp<arith::AddFOp>()) {
      for (auto [maskTerm, other] :
           {std::pair{add.getRhs(), add.getLhs()}, {add.getLhs(), add.getRhs()}}) {
        auto sel = maskTerm.getDefiningOp<arith::SelectOp>();
        if (!sel)
          continue;
        if (isNegInf(sel.getFalseValue()) &&
            matchPattern(sel.getTrueValue(), m_AnyZeroFloat())) {
          pred = sel.getCondition();
          kept = other;
          break;
        }
        if (isNegInf(sel.getTrueValue()) &&
            matchPattern(sel.getFalseValue(), m_AnyZeroFloat())) {
          pred = sel.getCondition();
          kept = other;
          negate = true;
          break;
        }
      }
    }
    if (!pred)
      return;
    std::optional<Constraints> c = constraintsOf(pred, qi, ki, negate);
    if (!c)
      return;
    mask.append(c->begin(), c->end());
    if (widen) {
      OpBuilder b(yield);
      kept = arith::ExtFOp::create(b, widen.getLoc(), widen.getType(), kept);
    }
    yield->setOperand(0, kept);
    eraseDeadOps(block); // what only the mask used
  }
}

/// Moves a constant factor applied first to the raw score into `scale`.
static std::optional<double> peelScale(Block &block) {
  Value s = block.getArgument(0);
  if (!s.hasOneUse())
    return std::nullopt;
  Operation *user = *s.getUsers().begin();
  APFloat f(0.0);
  double scale;
  if (auto mul = llvm::dyn_cast<arith::MulFOp>(user)) {
    Value other = mul.getLhs() == s ? mul.getRhs() : mul.getLhs();
    if (!matchPattern(other, m_ConstantFloat(&f)))
      return std::nullopt;
    scale = f.convertToDouble();
  } else if (auto div = llvm::dyn_cast<arith::DivFOp>(user)) {
    if (div.getLhs() != s || !matchPattern(div.getRhs(), m_ConstantFloat(&f)) ||
        f.isZero())
      return std::nullopt;
    scale = 1.0 / f.convertToDouble();
  } else {
    return std::nullopt;
  }
  user->getResult(0).replaceAllUsesWith(s);
  user->erase();
  return scale;
}

std::optional<Refusal> Fuser::run(OpBuilder &b) {
  Location loc = softmax.getLoc();
  Contraction qk;
  if (!traceBack(softmax.getInput(), qk, 0))
    return Refusal{"not fused: the softmax input is not a contraction of "
                   "queries and keys followed by pointwise steps"};
  if (std::optional<Refusal> r = checkUses(qk.op))
    return r;
  auto scoreType = llvm::cast<RankedTensorType>(softmax.getInput().getType());
  int64_t rank = scoreType.getRank();
  int64_t axis = softmax.getAxis();

  // Roles of the score contraction's loops.
  Roles roles;
  AffineMap outMap = qk.maps[2];
  roles.keyDim = llvm::cast<AffineDimExpr>(outMap.getResult(axis)).getPosition();
  bool inL = qk.reads(0, roles.keyDim), inR = qk.reads(1, roles.keyDim);
  if (inL == inR)
    return Refusal{"not fused: the softmax axis " + std::to_string(axis) +
                   " is not the axis of only one operand of the score "
                   "contraction " + describe(qk.op)};
  roles.keyOperand = inL ? 0 : 1;
  roles.queryOperand = 1 - roles.keyOperand;
  if (!qk.reads(0, qk.reduction) || !qk.reads(1, qk.reduction))
    return Refusal{"not fused: the score contraction " + describe(qk.op) +
                   " does not reduce an axis of both operands"};
  SmallVector<int64_t> queryDims;
  for (int64_t j = 0; j < rank; ++j) {
    int64_t d = llvm::cast<AffineDimExpr>(outMap.getResult(j)).getPosition();
    if (d == roles.keyDim)
      continue;
    bool q = qk.reads(roles.queryOperand, d), k = qk.reads(roles.keyOperand, d);
    if (k && !q)
      return Refusal{"not fused: the keys of " + describe(qk.op) +
                     " have an axis besides the key position that the "
                     "queries do not"};
    if (!q)
      return Refusal{"not fused: an axis of the scores of " + describe(qk.op) +
                     " is read by neither operand"};
    if (!k)
      queryDims.push_back(d);
  }
  if (queryDims.empty())
    return Refusal{"not fused: the scores of " + describe(qk.op) +
                   " have no query axis"};
  roles.queryDim = queryDims.back();
  roles.scoreArg.resize(rank);
  for (int64_t j = 0; j < rank; ++j) {
    int64_t d = llvm::cast<AffineDimExpr>(outMap.getResult(j)).getPosition();
    if (d == roles.keyDim || d == roles.queryDim)
      continue;
    roles.scoreArg[j] = 1 + roles.batchDims.size();
    roles.batchDims.push_back(d);
  }
  int64_t n = roles.batchDims.size();
  for (int64_t j = 0; j < rank; ++j) {
    int64_t d = llvm::cast<AffineDimExpr>(outMap.getResult(j)).getPosition();
    if (d == roles.queryDim)
      roles.scoreArg[j] = n + 1;
    else if (d == roles.keyDim)
      roles.scoreArg[j] = n + 2;
  }

  // Forward: the probabilities' one use contracts them with the values
  // over the softmax axis.
  Value probs = softmax.getResult();
  if (!probs.hasOneUse())
    return Refusal{"not fused: the probabilities are also used by " +
                   describe(otherUser(probs, *probs.getUsers().begin()))};
  Operation *pvOp = *probs.getUsers().begin();
  std::optional<Contraction> pv = Contraction::match(pvOp);
  if (!pv)
    return Refusal{"not fused: the probabilities are used by " +
                   describe(pvOp) +
                   ", not contracted with values over the softmax axis"};
  unsigned pIdx = pv->op.getDpsInputOperand(0)->get() == probs ? 0 : 1;
  if (pv->op.getDpsInputOperand(1 - pIdx)->get() == probs)
    return Refusal{"not fused: the probabilities are contracted with "
                   "themselves by " + describe(pvOp)};
  AffineMap pMap = pv->maps[pIdx], vMap = pv->maps[1 - pIdx];
  if (!pMap.isPermutation() && !pMap.isProjectedPermutation())
    return Refusal{"not fused: " + describe(pvOp) +
                   " does not read the probabilities at plain positions"};
  auto pAxisDim = llvm::dyn_cast<AffineDimExpr>(pMap.getResult(axis));
  if (!pAxisDim || pAxisDim.getPosition() != pv->reduction)
    return Refusal{"not fused: the softmax is over axis " +
                   std::to_string(axis) + " but " + describe(pvOp) +
                   " contracts the probabilities over another axis"};
  // PV loops: the score axes' roles, and the value feature loop.
  int64_t numPv = pv->maps[2].getNumDims();
  SmallVector<int64_t> pvRole(numPv, -1); // score axis j, or -2 for feature
  for (int64_t j = 0; j < rank; ++j)
    pvRole[llvm::cast<AffineDimExpr>(pMap.getResult(j)).getPosition()] = j;
  int64_t featureDim = -1;
  for (int64_t d = 0; d < numPv; ++d) {
    if (pvRole[d] != -1)
      continue;
    if (featureDim >= 0 || !vMap.isFunctionOfDim(d) ||
        !pv->maps[2].isFunctionOfDim(d))
      return Refusal{"not fused: " + describe(pvOp) +
                     " is not a contraction of the probabilities with values "
                     "over the key axis"};
    featureDim = d;
  }
  if (featureDim < 0)
    return Refusal{"not fused: " + describe(pvOp) +
                   " leaves no value feature axis"};
  // The values must not vary along the query position.
  int64_t queryScoreAxis = -1;
  for (int64_t j = 0; j < rank; ++j)
    if (roles.scoreArg[j] == static_cast<unsigned>(n + 1))
      queryScoreAxis = j;
  int64_t pvQueryDim =
      llvm::cast<AffineDimExpr>(pMap.getResult(queryScoreAxis)).getPosition();
  if (vMap.isFunctionOfDim(pvQueryDim))
    return Refusal{"not fused: the values of " + describe(pvOp) +
                   " vary with the query position"};

  // Static head sizes (the lowering's tiles are vectors of them).
  if (ShapedType::isDynamic(qk.op.getStaticLoopRanges()[qk.reduction]) ||
      ShapedType::isDynamic(pv->op.getStaticLoopRanges()[featureDim]))
    return Refusal{"not fused: the head sizes of " + describe(qk.op) + " and " +
                   describe(pvOp) + " are not static"};

  // Build: operands in seq.attention's layout.
  b.setInsertionPoint(pvOp);
  SmallVector<int64_t> qOrder(roles.batchDims), kOrder(roles.batchDims);
  qOrder.append({roles.queryDim, qk.reduction});
  kOrder.append({roles.keyDim, qk.reduction});
  Value q = canonicalize(b, loc, qk.op.getDpsInputOperand(roles.queryOperand)->get(),
                         qk.maps[roles.queryOperand], qOrder, false);
  Value k = canonicalize(b, loc, qk.op.getDpsInputOperand(roles.keyOperand)->get(),
                         qk.maps[roles.keyOperand], kOrder, true);
  // Values: PV loops in the order (batch axes, key, feature).
  SmallVector<int64_t> vOrder;
  for (int64_t bd : roles.batchDims)
    for (int64_t j = 0; j < rank; ++j)
      if (llvm::cast<AffineDimExpr>(outMap.getResult(j)).getPosition() == bd)
        vOrder.push_back(
            llvm::cast<AffineDimExpr>(pMap.getResult(j)).getPosition());
  vOrder.append({pv->reduction, featureDim});
  Value v = canonicalize(b, loc, pv->op.getDpsInputOperand(1 - pIdx)->get(),
                         vMap, vOrder, true);
  if (!q || !k || !v)
    return Refusal{"not fused: an operand of " + describe(qk.op) + " or " +
                   describe(pvOp) + " is not indexed by plain axes"};
  auto qt = llvm::cast<RankedTensorType>(q.getType());
  auto vt = llvm::cast<RankedTensorType>(v.getType());
  auto outType = llvm::cast<RankedTensorType>(pv->op->getResult(0).getType());
  // The fused result: [batch.., Tq, Dv].
  SmallVector<OpFoldResult> resSizes;
  SmallVector<int64_t> resShape;
  for (int64_t i = 0; i < n + 1; ++i) {
    resSizes.push_back(tensor::getMixedSize(b, loc, q, i));
    resShape.push_back(qt.getDimSize(i));
  }
  resSizes.push_back(b.getIndexAttr(vt.getDimSize(n + 1)));
  resShape.push_back(vt.getDimSize(n + 1));
  Value init = tensor::EmptyOp::create(b, loc, resSizes, outType.getElementType());
  auto attn = fused = seq::AttentionOp::create(
      b, loc, init.getType(), q, k, v, init, /*offset=*/Value(),
      /*scale=*/nullptr, /*mask=*/nullptr);

  // The score region: the pointwise steps, cloned.
  Block *block = b.createBlock(&attn.getScore());
  block->addArgument(b.getF32Type(), loc);
  for (int64_t i = 0; i < n + 2; ++i)
    block->addArgument(b.getIndexType(), loc);
  b.setInsertionPointToStart(block);
  Type scoreElt = scoreType.getElementType();
  Value current = block->getArgument(0);
  if (scoreElt != b.getF32Type())
    current = arith::TruncFOp::create(b, loc, scoreElt, current);
  SmallVector<Value> idx;
  for (int64_t j = 0; j < rank; ++j)
    idx.push_back(block->getArgument(roles.scoreArg[j]));
  for (auto [g, operandNo] : llvm::zip(chain, chainOperand)) {
    IRMapping mapping;
    for (OpOperand *in : g.getDpsInputOperands()) {
      BlockArgument arg = g.getMatchingBlockArgument(in);
      if (in->getOperandNumber() == operandNo) {
        mapping.map(arg, current);
        continue;
      }
      SmallVector<Value> inIdx;
      for (AffineExpr e : g.getMatchingIndexingMap(in).getResults()) {
        if (auto d = llvm::dyn_cast<AffineDimExpr>(e))
          inIdx.push_back(idx[d.getPosition()]);
        else
          inIdx.push_back(arith::ConstantIndexOp::create(b, g.getLoc(), 0));
      }
      mapping.map(arg, materialize(b, g.getLoc(), in->get(), inIdx, 0));
    }
    for (Operation &op : g.getBlock()->without_terminator()) {
      if (auto index = llvm::dyn_cast<linalg::IndexOp>(op)) {
        mapping.map(index.getResult(), idx[index.getDim()]);
        continue;
      }
      b.clone(op, mapping);
    }
    current = mapping.lookup(
        llvm::cast<linalg::YieldOp>(g.getBlock()->getTerminator()).getValues()[0]);
  }
  if (current.getType() != b.getF32Type())
    current = arith::ExtFOp::create(b, loc, b.getF32Type(), current);
  seq::YieldOp::create(b, loc, current);

  Constraints mask;
  eraseDeadOps(*block);
  peelMask(*block, block->getArgument(n + 1), block->getArgument(n + 2), mask);
  if (std::optional<double> scale = peelScale(*block))
    attn.setScaleAttr(b.getF64FloatAttr(*scale));
  eraseDeadOps(*block);
  if (!mask.empty()) {
    SmallVector<int64_t> flat;
    for (auto &c : mask)
      flat.append(c.begin(), c.end());
    attn.setMaskAttr(b.getDenseI64ArrayAttr(flat));
  }

  // GQA written as repeated kv heads: read each kv head once.
  Value result = shareRepeatedHeads(b, attn);
  fused = attn;

  // Back to the layout of the PV contraction's result.
  b.setInsertionPointAfter(result.getDefiningOp());
  AffineMap pvOut = pv->maps[2];
  SmallVector<int64_t> canonicalLoops(vOrder.begin(), vOrder.end() - 2);
  canonicalLoops.append({pvQueryDim, featureDim});
  SmallVector<int64_t> perm;
  for (AffineExpr e : pvOut.getResults())
    perm.push_back(llvm::find(canonicalLoops,
                              llvm::cast<AffineDimExpr>(e).getPosition()) -
                   canonicalLoops.begin());
  if (static_cast<int64_t>(perm.size()) != n + 2)
    return Refusal{"internal: unexpected PV layout"};
  if (!llvm::equal(perm, llvm::seq<int64_t>(0, perm.size()))) {
    SmallVector<OpFoldResult> sizes;
    for (int64_t p : perm)
      sizes.push_back(tensor::getMixedSize(b, loc, result, p));
    Value tinit =
        tensor::EmptyOp::create(b, loc, sizes, outType.getElementType());
    result = linalg::TransposeOp::create(b, loc, result, tinit, perm)
                 ->getResult(0);
  }
  if (result.getType() != outType)
    result = tensor::CastOp::create(b, loc, outType, result);
  pvOp->getResult(0).replaceAllUsesWith(result);
  return std::nullopt;
}

/// Whether `x` is the repetition of each head `G` times, written as a
/// broadcast along a new axis `a + 1` then a reshape merging axes `a` and
/// `a + 1` (`reshape(k[:, :, None] + zeros([B, KV, G, T, D]), [B, H, T, D])`):
/// returns the source with the unit axis (`[.., KV, 1, T, D]`) and `G`.
static std::optional<std::pair<Value, int64_t>> repeatedHeads(Value x,
                                                              int64_t a) {
  auto collapse = x.getDefiningOp<tensor::CollapseShapeOp>();
  if (!collapse)
    return std::nullopt;
  SmallVector<ReassociationIndices> groups = collapse.getReassociationIndices();
  for (auto [i, g] : llvm::enumerate(groups)) {
    bool want = static_cast<int64_t>(i) == a;
    if ((want && (g.size() != 2 || g[0] != a)) || (!want && g.size() != 1))
      return std::nullopt;
  }
  auto gen = collapse.getSrc().getDefiningOp<linalg::GenericOp>();
  if (!gen || !isPointwise(gen))
    return std::nullopt;
  auto srcType = llvm::cast<RankedTensorType>(collapse.getSrcType());
  int64_t G = srcType.getDimSize(a + 1);
  if (ShapedType::isDynamic(G))
    return std::nullopt;
  // The body yields the broadcast input, or it plus a zero fill.
  auto yield = llvm::cast<linalg::YieldOp>(gen.getBlock()->getTerminator());
  Value y = yield.getValues()[0];
  auto inputOf = [&](Value v) -> OpOperand * {
    auto arg = llvm::dyn_cast<BlockArgument>(v);
    if (!arg || arg.getOwner() != gen.getBlock() ||
        arg.getArgNumber() >= gen.getNumDpsInputs())
      return nullptr;
    return gen.getDpsInputOperand(arg.getArgNumber());
  };
  OpOperand *src = inputOf(y);
  if (!src) {
    auto add = y.getDefiningOp<arith::AddFOp>();
    if (!add)
      return std::nullopt;
    for (auto [p, z] : {std::pair{add.getLhs(), add.getRhs()},
                        {add.getRhs(), add.getLhs()}}) {
      OpOperand *po = inputOf(p), *zo = inputOf(z);
      if (po && zo && isZeroFill(zo->get())) {
        src = po;
        break;
      }
    }
  }
  if (!src)
    return std::nullopt;
  AffineMap m = gen.getMatchingIndexingMap(src);
  for (auto [i, e] : llvm::enumerate(m.getResults())) {
    if (static_cast<int64_t>(i) == a + 1) {
      if (!Contraction::isConstantZero(e))
        return std::nullopt;
    } else if (e != getAffineDimExpr(i, x.getContext())) {
      return std::nullopt;
    }
  }
  return std::pair{src->get(), G};
}

/// Where the keys of `op` repeat each head `G` times along batch axis `a`,
/// splits that axis into (heads, group) so that the keys (and values) are
/// read once per kv head instead of being copied G times: the queries are
/// reshaped, the score region gets the two indices (the old head index is
/// `kv * G + g`), and the result is reshaped back. Returns the value that
/// replaces the old op's result (`op` is updated to the new op).
static Value shareRepeatedHeads(OpBuilder &b, seq::AttentionOp &op) {
  int64_t n = op.getNumBatchDims();
  for (int64_t a = 0; a < n; ++a) {
    std::optional<std::pair<Value, int64_t>> k = repeatedHeads(op.getKey(), a);
    if (!k)
      continue;
    int64_t G = k->second;
    Location loc = op.getLoc();
    b.setInsertionPoint(op);
    // Splits axis a of `x` (a multiple of G) into (size / G, G).
    auto split = [&](Value x) -> Value {
      auto t = llvm::cast<RankedTensorType>(x.getType());
      SmallVector<ReassociationIndices> groups;
      SmallVector<OpFoldResult> sizes;
      SmallVector<int64_t> shape;
      for (int64_t i = 0; i < t.getRank(); ++i) {
        if (i == a) {
          OpFoldResult size = tensor::getMixedSize(b, loc, x, i);
          if (t.isDynamicDim(i)) {
            size = arith::DivUIOp::create(
                       b, loc, llvm::cast<Value>(size),
                       arith::ConstantIndexOp::create(b, loc, G))
                       .getResult();
            shape.push_back(ShapedType::kDynamic);
          } else {
            size = b.getIndexAttr(t.getDimSize(i) / G);
            shape.push_back(t.getDimSize(i) / G);
          }
          sizes.append({size, b.getIndexAttr(G)});
          shape.push_back(G);
          continue;
        }
        sizes.push_back(tensor::getMixedSize(b, loc, x, i));
        shape.push_back(t.getDimSize(i));
      }
      for (int64_t i = 0, o = 0; i < t.getRank(); ++i) {
        if (i == a) {
          groups.push_back({o, o + 1});
          o += 2;
        } else {
          groups.push_back({o++});
        }
      }
      auto type = RankedTensorType::get(shape, t.getElementType());
      return tensor::ExpandShapeOp::create(b, loc, type, x, groups, sizes);
    };
    std::optional<std::pair<Value, int64_t>> v =
        repeatedHeads(op.getValue(), a);
    Value q = split(op.getQuery());
    Value key = k->first;
    Value value = v && v->second == G ? v->first : split(op.getValue());
    Value init = split(op.getInit());
    auto fused = seq::AttentionOp::create(b, loc, init.getType(), q, key, value,
                                          init, op.getOffset(),
                                          op.getScaleAttr(), op.getMaskAttr());
    // The region: one more batch index; the old head index is kv * G + g.
    Block &old = op.getScoreBlock();
    Block *block = b.createBlock(&fused.getScore());
    block->addArgument(b.getF32Type(), loc);
    for (int64_t i = 0; i < n + 3; ++i)
      block->addArgument(b.getIndexType(), loc);
    b.setInsertionPointToStart(block);
    Value head = arith::AddIOp::create(
        b, loc,
        arith::MulIOp::create(b, loc, block->getArgument(1 + a),
                              arith::ConstantIndexOp::create(b, loc, G)),
        block->getArgument(2 + a));
    SmallVector<Value> args = {block->getArgument(0)};
    for (int64_t i = 0; i < n + 2; ++i)
      args.push_back(i < a    ? block->getArgument(1 + i)
                     : i == a ? head
                              : block->getArgument(2 + i));
    block->getOperations().splice(block->end(), old.getOperations());
    for (auto [oldArg, repl] : llvm::zip(old.getArguments(), args))
      oldArg.replaceAllUsesWith(repl);
    b.setInsertionPointAfter(fused);
    auto outType = llvm::cast<RankedTensorType>(op.getType());
    SmallVector<ReassociationIndices> groups;
    for (int64_t i = 0, o = 0; i < n + 2; ++i) {
      if (i == a) {
        groups.push_back({o, o + 1});
        o += 2;
      } else {
        groups.push_back({o++});
      }
    }
    Value result = tensor::CollapseShapeOp::create(b, loc, outType,
                                                   fused.getResult(), groups);
    op.getResult().replaceAllUsesWith(result);
    op.erase();
    op = fused;
    eraseDeadOps(*block);
    return result;
  }
  return op.getResult();
}

/// Erases `op` and the producers only it kept alive.
static void eraseDeadChain(Operation *op) {
  SmallVector<Operation *> worklist = {op};
  while (!worklist.empty()) {
    Operation *o = worklist.pop_back_val();
    if (!o || !o->use_empty() || !isMemoryEffectFree(o) ||
        llvm::isa<func::FuncOp>(o) || o->getNumRegions() > 1)
      continue;
    SmallVector<Value> operands(o->getOperands());
    o->erase();
    for (Value v : operands)
      worklist.push_back(v.getDefiningOp());
  }
}

/// What a fused op does, for its remark: "2 batch axes, scale 0.25, mask
/// i - j >= 0, keys shared over batch axis 1".
static std::string summary(seq::AttentionOp op) {
  std::string s;
  llvm::raw_string_ostream os(s);
  int64_t n = op.getNumBatchDims();
  os << n << " batch ax" << (n == 1 ? "is" : "es");
  if (op.getScale())
    os << ", scale " << llvm::format("%g", op.getScaleOrOne());
  for (auto [i, c] : llvm::enumerate(op.getMaskConstraints())) {
    os << (i == 0 ? ", mask " : " and ");
    bool first = true;
    for (auto [coef, name] : {std::pair{c[0], "i"}, {c[1], "j"}}) {
      if (coef == 0)
        continue;
      if (!first)
        os << (coef < 0 ? " - " : " + ");
      else if (coef < 0)
        os << "-";
      if (std::abs(coef) != 1)
        os << std::abs(coef) << "*";
      os << name;
      first = false;
    }
    if (first)
      os << c[2];
    else if (c[2] != 0)
      os << (c[2] < 0 ? " - " : " + ") << std::abs(c[2]);
    os << " >= 0";
  }
  for (auto [name, v] : {std::pair{"keys", op.getKey()}, {"values", op.getValue()}}) {
    auto t = llvm::cast<RankedTensorType>(v.getType());
    auto q = llvm::cast<RankedTensorType>(op.getQuery().getType());
    for (int64_t d = 0; d < n; ++d)
      if (t.getDimSize(d) == 1 && q.getDimSize(d) != 1)
        os << ", " << name << " shared over batch axis " << d;
  }
  bool custom = op.getScoreBlock().getOperations().size() > 1;
  if (custom)
    os << ", a score region";
  return s;
}

struct SeqFuseAttentionPass
    : seqc::impl::SeqFuseAttentionBase<SeqFuseAttentionPass> {
  void runOnOperation() override {
    SmallVector<seq::SoftmaxOp> softmaxes;
    getOperation()->walk([&](seq::SoftmaxOp s) { softmaxes.push_back(s); });
    OpBuilder b(&getContext());
    for (seq::SoftmaxOp s : softmaxes) {
      Fuser fuser(s);
      Operation *pv = s.getResult().hasOneUse()
                          ? *s.getResult().getUsers().begin()
                          : nullptr;
      if (std::optional<Refusal> r = fuser.run(b)) {
        emitRemark(s.getLoc()) << *r;
        continue;
      }
      emitRemark(s.getLoc()) << "fused attention (" << summary(fuser.fused)
                             << "): the scores are never stored";
      eraseDeadChain(pv);
    }
  }
};

} // namespace
