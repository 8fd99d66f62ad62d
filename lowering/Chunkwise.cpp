//===- Chunkwise.cpp - Matrix-state recurrences in chunkwise form ---------===//
//
// `seq-chunkwise`: a `seq.scan` whose one carry is a matrix state updated as
// `S_t = decay_t ⊙ S_{t-1} + k_t ⊗ v_t` (decay free of the carry: none, one
// per batch item such as a head, or one per key; `k_t ⊗ v_t` an outer
// product) and whose per-step outputs read the new state through a
// contraction over its key axis (`o_t = q_t S_t`) becomes the chunkwise form
// of GLA and Mamba2's SSD. Time is cut into chunks of C steps; a first
// parallel loop over the batch items passes the state from chunk to chunk
// (`S_end = decay_total ⊙ S_start + (k ⊙ decay_to_end)ᵀ v`, one matmul per
// chunk) and keeps the state at each chunk start; a second parallel loop
// over (batch item, chunk) computes the outputs as `(q ⊙ decay_from_start)
// S_start` plus the causal intra-chunk part `(q kᵀ ⊙ D) v`. Per-step states
// are never stored.
//
// The algebra is read off the body, not its spelling: the new carry and the
// outputs are expanded into sums of products of carry-free factors (through
// elementwise generics, unit reshapes and contractions), and the factors are
// sorted by the axes of the state they vary along. Decays are handled in
// log space relative to the chunk start: `b_i = Σ_{r ≤ i} log|g_r|` within
// the chunk, so every exponential taken is of a difference `b_i - b_j ≤ 0`
// (no overflow on long sequences); signs are tracked by the parity of the
// negative decays when the decay is not known to be positive. For a decay
// per key the intra-chunk scores are computed exactly per key
// (`Σ_k q_ik k_jk exp(b_ik - b_jk)`), on smaller chunks.
//
// DeltaNet's delta rule, `S_t = (I - β_t k_t k_tᵀ) S_{t-1} + β_t k_t v_tᵀ`,
// is not diagonal, but its chunk is a product of rank-one updates with a
// compact WY representation: with `u_t = β_t (v_t - S_{t-1}ᵀ k_t)` the
// chunk's u solve the unit lower-triangular system `(I + A) U~ = β V - β K
// S_start`, `A = strictly-lower(diag(β) K Kᵀ)`, so `T = (I + A)⁻¹` (forward
// substitution), `W = T diag(β) K` and `U = T diag(β) V` are computed for
// all chunks in parallel, and the state pass is `U~ = U - W S`, `S += Kᵀ
// U~`; the outputs are linear attention's over U~. The gated rule (a decay
// α per batch item on the kept state) scales A and W by the decay between
// steps, after which the state pass and outputs are those of a decay per
// item over U~.
//
//===----------------------------------------------------------------------===//

#include "lowering/Passes.h"
#include "lowering/RecurrenceAnalysis.h"

#include "dialects/Seq/Seq.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/SetVector.h"

#include <cmath>

namespace seqc {
#define GEN_PASS_DEF_SEQCHUNKWISE
#include "lowering/Passes.h.inc"
} // namespace seqc

using namespace mlir;
using namespace seqc;

namespace {

//===----------------------------------------------------------------------===//
// The algebra of the body
//===----------------------------------------------------------------------===//

/// A carry-free tensor read in the iteration space of the state: `map` goes
/// from the state's dims to `value`'s (dim expressions, or 0 on unit dims).
struct Factor {
  Value value;
  AffineMap map;
};

/// `coef * (the state, read through symMap) * Π factors`; without the state
/// when `symMap` is null. In the delta rule's update the state is also read
/// through a contraction (`kᵀ S`): `readout`, a carry-dependent linalg op
/// with one reduction loop, read through `readoutMap` (state dims to its
/// dims), stands for that read.
struct Monomial {
  double coef = 1.0;
  AffineMap symMap;
  Value readout;
  AffineMap readoutMap;
  SmallVector<Factor> factors;
};

using Poly = SmallVector<Monomial>;

static Poly product(const Poly &a, const Poly &b, bool &twoStates) {
  Poly out;
  for (const Monomial &x : a)
    for (const Monomial &y : b) {
      if ((x.symMap || x.readout) && (y.symMap || y.readout))
        twoStates = true;
      Monomial m;
      m.coef = x.coef * y.coef;
      m.symMap = x.symMap ? x.symMap : y.symMap;
      m.readout = x.readout ? x.readout : y.readout;
      m.readoutMap = x.readout ? x.readoutMap : y.readoutMap;
      m.factors = x.factors;
      llvm::append_range(m.factors, y.factors);
      out.push_back(std::move(m));
    }
  return out;
}

/// Expands body values into polynomials over one symbol (the old carry in
/// the update, the new carry in the outputs) and carry-free factors.
class Expander {
public:
  /// With `allowReadouts`, a contraction of the state (a linalg op with a
  /// reduction loop that depends on the carry) is a leaf of its own
  /// (`Monomial::readout`), for the delta rule's `kᵀ S`.
  Expander(seq::ScanOp scan, const RecurrenceAnalysis &analysis, Value sym,
           bool symMustBeIdentity, bool allowReadouts = false)
      : scan(scan), analysis(analysis), sym(sym),
        symMustBeIdentity(symMustBeIdentity), allowReadouts(allowReadouts) {}

  /// `v` read through `map` (from the iteration space to `v`'s dims).
  FailureOr<Poly> expand(Value v, AffineMap map);

  /// Why the last expansion failed, and where.
  std::string why;
  Operation *blame = nullptr;

private:
  LogicalResult fail(Operation *op, const Twine &what) {
    if (!blame) {
      blame = op;
      why = what.str();
    }
    return failure();
  }
  bool inBody(Value v) {
    if (auto arg = llvm::dyn_cast<BlockArgument>(v))
      return arg.getOwner() == &scan.getBodyBlock();
    return v.getDefiningOp()->getBlock() == &scan.getBodyBlock();
  }
  bool isFree(Value v) {
    return analysis.lookup(v).kind == Dependence::Free && v != sym;
  }
  FailureOr<Poly> expandGeneric(linalg::GenericOp op, unsigned result,
                                AffineMap map);

  seq::ScanOp scan;
  const RecurrenceAnalysis &analysis;
  Value sym;
  bool symMustBeIdentity;
  bool allowReadouts;
};

/// Whether every result of `map` is a dim or the constant 0.
static bool isProjectionWithZeros(AffineMap map) {
  return llvm::all_of(map.getResults(), [](AffineExpr e) {
    if (llvm::isa<AffineDimExpr>(e))
      return true;
    auto c = llvm::dyn_cast<AffineConstantExpr>(e);
    return c && c.getValue() == 0;
  });
}

FailureOr<Poly> Expander::expand(Value v, AffineMap map) {
  if (v == sym) {
    if (!map.isPermutation() || (symMustBeIdentity && !map.isIdentity()))
      return fail(scan, "the state is read other than elementwise");
    Monomial m;
    m.symMap = map;
    return Poly{m};
  }
  bool free = isFree(v);
  auto leaf = [&]() -> FailureOr<Poly> {
    if (!isProjectionWithZeros(map))
      return fail(v.getDefiningOp() ? v.getDefiningOp() : scan.getOperation(),
                  "a coefficient read at shifted or mixed indices");
    Monomial m;
    m.factors.push_back({v, map});
    return Poly{m};
  };
  if (llvm::isa<BlockArgument>(v)) {
    if (v == scan.getStepArg())
      return fail(scan, "the step index used as a value");
    if (!free)
      return fail(scan, "another carry");
    return leaf();
  }
  Operation *def = v.getDefiningOp();
  if (!inBody(v))
    return leaf();
  // A unit-dim expand_shape: read its source through the non-unit dims.
  if (auto reshape = llvm::dyn_cast<tensor::ExpandShapeOp>(def)) {
    auto resultType = reshape.getResultType();
    SmallVector<AffineExpr> exprs;
    bool unitOnly = true;
    for (auto group : reshape.getReassociationIndices()) {
      int64_t pick = -1, nonUnit = 0;
      for (int64_t d : group)
        if (resultType.getDimSize(d) != 1) {
          pick = d;
          ++nonUnit;
        }
      if (nonUnit > 1)
        unitOnly = false;
      exprs.push_back(pick < 0 ? getAffineConstantExpr(0, v.getContext())
                               : map.getResult(pick));
    }
    if (unitOnly)
      return expand(reshape.getSrc(),
                    AffineMap::get(map.getNumDims(), 0, exprs,
                                   v.getContext()));
    if (free)
      return leaf();
    return fail(def, "a reshape of a carry-dependent value");
  }
  if (auto linalgOp = llvm::dyn_cast<linalg::LinalgOp>(def);
      allowReadouts && !free && linalgOp &&
      linalgOp.getNumReductionLoops() > 0) {
    if (!isProjectionWithZeros(map))
      return fail(def, "a contraction of the state read at shifted indices");
    Monomial m;
    m.readout = v;
    m.readoutMap = map;
    return Poly{m};
  }
  if (auto generic = llvm::dyn_cast<linalg::GenericOp>(def)) {
    FailureOr<Poly> p =
        expandGeneric(generic, llvm::cast<OpResult>(v).getResultNumber(), map);
    if (succeeded(p))
      return p;
    if (free) {
      // Not a product: the whole (carry-free) tensor is one factor.
      blame = nullptr;
      why.clear();
      return leaf();
    }
    return failure();
  }
  if (free)
    return leaf();
  return fail(def, "`" + def->getName().getStringRef() +
                       "` of a carry-dependent value");
}

FailureOr<Poly> Expander::expandGeneric(linalg::GenericOp op, unsigned result,
                                        AffineMap map) {
  if (op.getNumLoops() != op.getNumParallelLoops())
    return fail(op, "a contraction inside the update");
  AffineMap outMap = op.getIndexingMapsArray()[op.getNumDpsInputs() + result];
  if (!outMap.isPermutation())
    return fail(op, "an output read through a non-permutation");
  // Loops in terms of the iteration space: loop = outMap^-1(v dims).
  AffineMap loops = inversePermutation(outMap).compose(map);
  Block *payload = op.getBlock();
  llvm::DenseMap<Value, Poly> polys;
  bool twoStates = false;
  auto polyOf = [&](Value s) -> FailureOr<Poly> {
    if (auto it = polys.find(s); it != polys.end())
      return it->second;
    if (auto arg = llvm::dyn_cast<BlockArgument>(s);
        arg && arg.getOwner() == payload) {
      if (arg.getArgNumber() >= op.getNumDpsInputs())
        return fail(op, "a payload reading its init");
      OpOperand *in = op.getDpsInputOperand(arg.getArgNumber());
      FailureOr<Poly> p =
          expand(in->get(), op.getMatchingIndexingMap(in).compose(loops));
      if (succeeded(p))
        polys[s] = *p;
      return p;
    }
    FloatAttr c;
    if (matchPattern(s, m_Constant(&c))) {
      Monomial m;
      m.coef = c.getValueAsDouble();
      return Poly{m};
    }
    return fail(op, "a payload value that is not a product or a sum");
  };
  for (Operation &scalar : payload->without_terminator()) {
    auto operand = [&](unsigned i) { return polyOf(scalar.getOperand(i)); };
    Poly r;
    if (llvm::isa<arith::MulFOp>(scalar)) {
      FailureOr<Poly> a = operand(0), b = operand(1);
      if (failed(a) || failed(b))
        return failure();
      r = product(*a, *b, twoStates);
      if (twoStates)
        return fail(op, "a product of two state-dependent values");
    } else if (llvm::isa<arith::AddFOp, arith::SubFOp>(scalar)) {
      FailureOr<Poly> a = operand(0), b = operand(1);
      if (failed(a) || failed(b))
        return failure();
      r = *a;
      for (Monomial m : *b) {
        if (llvm::isa<arith::SubFOp>(scalar))
          m.coef = -m.coef;
        r.push_back(m);
      }
    } else if (llvm::isa<arith::NegFOp>(scalar)) {
      FailureOr<Poly> a = operand(0);
      if (failed(a))
        return failure();
      r = *a;
      for (Monomial &m : r)
        m.coef = -m.coef;
    } else if (llvm::isa<arith::ConstantOp>(scalar)) {
      continue;
    } else {
      return fail(op, "`" + scalar.getName().getStringRef() +
                          "` on a state-dependent value");
    }
    polys[scalar.getResult(0)] = std::move(r);
  }
  return polyOf(payload->getTerminator()->getOperand(result));
}

/// The state dims a factor varies along.
static llvm::SmallBitVector dimsOf(const Factor &f, unsigned rank) {
  llvm::SmallBitVector dims(rank);
  for (AffineExpr e : f.map.getResults())
    if (auto d = llvm::dyn_cast<AffineDimExpr>(e))
      dims.set(d.getPosition());
  return dims;
}

/// Re-expresses a factor read in some iteration space (loops) in the
/// state's: `toState` is how the loops read the state (a permutation from
/// the loops to the state's dims).
static Factor toStateSpace(const Factor &f, AffineMap toState) {
  return {f.value, f.map.compose(inversePermutation(toState))};
}

/// A readout `o = Σ_key q ⊙ S'` of one output.
struct Readout {
  unsigned output;
  SmallVector<Factor> q;
  double coef;
  unsigned key;
  /// Output dim -> state dim.
  SmallVector<unsigned> outDims;
};

/// What the pass found in a scan it can rewrite.
struct Form {
  unsigned rank, key, value;
  SmallVector<unsigned> batch;
  SmallVector<Factor> decay, k, v;
  double coef = 1.0;
  SmallVector<Readout> readouts;
  /// Outputs free of the carry: yielded as they are.
  SmallVector<unsigned> freeOutputs;
  bool decayPerKey = false;
  bool decayPositive = false;
  /// The delta rule, `S' = S + k ⊗ coef β (v - r (bᵀ S))` (DeltaNet: b = k):
  /// `k` the written key's factors along the key, `beta` its factors along
  /// batch axes only, `v` the value's, `readKey` the factors of the key the
  /// state is read with (b, read with coefficient `readCoef`).
  bool delta = false;
  SmallVector<Factor> beta, readKey;
  double readCoef = 1.0;
};

/// Whether a factor is known positive: `exp(...)` or `sigmoid` payloads,
/// seen through slices (a step's), reshapes and transposes.
static bool isPositive(Value v) {
  while (Operation *op = v.getDefiningOp()) {
    if (isa<tensor::ExtractSliceOp, tensor::ExpandShapeOp,
            tensor::CollapseShapeOp, tensor::CastOp>(op))
      v = op->getOperand(0);
    else if (auto t = dyn_cast<linalg::TransposeOp>(op))
      v = t.getInput();
    else
      break;
  }
  auto generic = v.getDefiningOp<linalg::GenericOp>();
  if (!generic || generic.getNumResults() != 1)
    return false;
  Value y = generic.getBlock()->getTerminator()->getOperand(0);
  Operation *def = y.getDefiningOp();
  if (!def)
    return false;
  if (llvm::isa<math::ExpOp>(def))
    return true;
  // 1 / (1 + exp(x)), the payload of sigmoid.
  if (auto div = llvm::dyn_cast<arith::DivFOp>(def)) {
    FloatAttr one;
    auto add = div.getRhs().getDefiningOp<arith::AddFOp>();
    if (!matchPattern(div.getLhs(), m_Constant(&one)) ||
        one.getValueAsDouble() <= 0 || !add)
      return false;
    for (Value side : {add.getLhs(), add.getRhs()}) {
      FloatAttr c;
      Value other = side == add.getLhs() ? add.getRhs() : add.getLhs();
      if (matchPattern(side, m_Constant(&c)) && c.getValueAsDouble() >= 0 &&
          other.getDefiningOp<math::ExpOp>())
        return true;
    }
  }
  return false;
}

/// The readout of output `j` (its yielded value `y`, `what` in messages): a
/// linalg op with one reduction loop accumulating into a zero init, over
/// `state` (the new carry; the old one for the delta rule's `kᵀ S`).
static FailureOr<Readout> matchReadout(seq::ScanOp scan,
                                       const RecurrenceAnalysis &analysis,
                                       Value state, unsigned j,
                                       const std::string &what, Value y,
                                       std::string &why, Operation *&blame) {
  auto op = y.getDefiningOp<linalg::LinalgOp>();
  unsigned rank = llvm::cast<RankedTensorType>(state.getType()).getRank();
  if (!op || op->getBlock() != &scan.getBodyBlock() ||
      op.getNumDpsInits() != 1 || op.getNumLoops() != rank ||
      op.getNumReductionLoops() != 1) {
    why = what + " does not read the state through a contraction over one axis";
    blame = y.getDefiningOp() ? y.getDefiningOp() : scan.getOperation();
    return failure();
  }
  OpOperand *init = op.getDpsInitOperand(0);
  auto fill = init->get().getDefiningOp<linalg::FillOp>();
  if (!fill || !matchPattern(fill.getInputs()[0], m_AnyZeroFloat())) {
    why = what + " accumulates into a nonzero init";
    blame = op;
    return failure();
  }
  // Payload: out + term (term a product of the inputs).
  Block *payload = op.getBlock();
  Value yielded = payload->getTerminator()->getOperand(0);
  auto add = yielded.getDefiningOp<arith::AddFOp>();
  BlockArgument out = op.getMatchingBlockArgument(init);
  if (!add || (add.getLhs() != out && add.getRhs() != out) ||
      add.getLhs() == add.getRhs()) {
    why = what + " is not a sum over an axis";
    blame = op;
    return failure();
  }
  Value term = add.getLhs() == out ? add.getRhs() : add.getLhs();
  // Expand the term in the loop space, over the new state.
  Expander ex(scan, analysis, state, /*symMustBeIdentity=*/false);
  llvm::DenseMap<Value, Poly> polys;
  bool twoStates = false;
  std::function<FailureOr<Poly>(Value)> polyOf =
      [&](Value s) -> FailureOr<Poly> {
    if (auto arg = llvm::dyn_cast<BlockArgument>(s);
        arg && arg.getOwner() == payload) {
      if (arg == out)
        return failure();
      OpOperand *in = op.getDpsInputOperand(arg.getArgNumber());
      return ex.expand(in->get(), op.getMatchingIndexingMap(in));
    }
    if (auto mul = s.getDefiningOp<arith::MulFOp>()) {
      FailureOr<Poly> a = polyOf(mul.getLhs()), b = polyOf(mul.getRhs());
      if (failed(a) || failed(b))
        return failure();
      return product(*a, *b, twoStates);
    }
    return failure();
  };
  FailureOr<Poly> p = polyOf(term);
  if (failed(p) || twoStates || p->size() != 1 || !(*p)[0].symMap) {
    why = ex.why.empty() ? what + " is not one product of the state and "
                                  "carry-free factors"
                         : ex.why;
    blame = ex.blame ? ex.blame : op.getOperation();
    return failure();
  }
  Monomial &m = (*p)[0];
  // `symMap` indexes state dim i by loop symMap(i); its inverse gives, for
  // loop l, the state dim it runs along (the two differ unless the
  // permutation is its own inverse, as the swap of a [K, V] state read
  // [V, K] is, but not for a state laid out [V, K, H] read over K).
  AffineMap toState = m.symMap;
  AffineMap loopToState = inversePermutation(toState);
  auto stateDimOf = [&](unsigned loop) {
    return llvm::cast<AffineDimExpr>(loopToState.getResult(loop)).getPosition();
  };
  Readout r;
  r.output = j;
  r.coef = m.coef;
  for (const Factor &f : m.factors)
    r.q.push_back(toStateSpace(f, toState));
  SmallVector<unsigned> reductions;
  op.getReductionDims(reductions);
  r.key = stateDimOf(reductions[0]);
  AffineMap outMap = op.getMatchingIndexingMap(init);
  for (AffineExpr e : outMap.getResults()) {
    auto d = llvm::dyn_cast<AffineDimExpr>(e);
    if (!d) {
      why = what + " is written at computed indices";
      blame = op;
      return failure();
    }
    r.outDims.push_back(stateDimOf(d.getPosition()));
  }
  return r;
}

/// The state dims a factor varies along, over several factors.
static llvm::SmallBitVector dimsOf(ArrayRef<Factor> fs, unsigned rank) {
  llvm::SmallBitVector dims(rank);
  for (const Factor &f : fs)
    dims |= dimsOf(f, rank);
  return dims;
}

/// Whether `a` and `b` hold the same factors (values read through the same
/// maps), in any order.
static bool sameFactors(ArrayRef<Factor> a, ArrayRef<Factor> b) {
  if (a.size() != b.size())
    return false;
  SmallVector<bool> used(b.size(), false);
  for (const Factor &f : a) {
    bool found = false;
    for (auto [i, g] : llvm::enumerate(b))
      if (!used[i] && g.value == f.value && g.map == f.map) {
        used[i] = found = true;
        break;
      }
    if (!found)
      return false;
  }
  return true;
}

/// Recognises the delta rule (DeltaNet): the carry's update, expanded with
/// the contraction of the old state `P = bᵀ S` (over the key axis) as a
/// leaf, is `S + c w ⊗ v - c w ⊗ P`, i.e. `S' = (I - c w bᵀ) S + c w vᵀ`
/// with the same written key `w` (the key and β factors) in both terms.
static FailureOr<Form> recogniseDelta(const RecurrenceAnalysis &analysis,
                                      const std::string &name, std::string &why,
                                      Operation *&blame) {
  seq::ScanOp scan = analysis.getScan();
  auto type = llvm::cast<RankedTensorType>(scan.getInits()[0].getType());
  unsigned rank = type.getRank();
  auto yield = llvm::cast<seq::YieldOp>(scan.getBodyBlock().getTerminator());
  Value newState = yield.getValues()[0];
  std::string notDelta = name + " is " + analysis.describe(0) +
                         ", but not the delta rule (I - β k kᵀ) S + β k vᵀ";
  Expander ex(scan, analysis, scan.getCarryArgs()[0],
              /*symMustBeIdentity=*/true, /*allowReadouts=*/true);
  FailureOr<Poly> update = ex.expand(
      newState, AffineMap::getMultiDimIdentityMap(rank, scan.getContext()));
  if (failed(update)) {
    why = notDelta + ": " + ex.why;
    blame = ex.blame;
    return failure();
  }
  const Monomial *keep = nullptr, *erase = nullptr, *write = nullptr;
  for (const Monomial &m : *update) {
    const Monomial *&slot = m.symMap ? keep : m.readout ? erase : write;
    if (slot) {
      why = notDelta + ": its update has more than three terms";
      return failure();
    }
    slot = &m;
  }
  if (!keep || !erase || !write || keep->coef != 1.0) {
    why = notDelta;
    return failure();
  }

  // P = bᵀ S, a contraction of the old state over the key axis, read at the
  // same batch and value indices as the state.
  Operation *readOp = erase->readout.getDefiningOp();
  FailureOr<Readout> read = matchReadout(
      scan, analysis, scan.getCarryArgs()[0], 0,
      "the read of the state in its update", erase->readout, why, blame);
  if (failed(read)) {
    why = notDelta + ": " + why;
    return failure();
  }
  for (auto [p, d] : llvm::enumerate(read->outDims))
    if (erase->readoutMap.getResult(p) !=
        getAffineDimExpr(d, scan.getContext())) {
      why = notDelta + ": the state read by the contraction is not added back "
                       "at the indices it was read at";
      blame = readOp;
      return failure();
    }

  Form form;
  form.rank = rank;
  form.delta = true;
  form.key = read->key;
  form.readCoef = read->coef;
  form.readKey = read->q;
  for (unsigned j = 0; j < scan.getNumOutputs(); ++j) {
    Value y = yield.getValues()[1 + j];
    if (analysis.lookup(y).kind == Dependence::Free) {
      form.freeOutputs.push_back(j);
      continue;
    }
    FailureOr<Readout> r =
        matchReadout(scan, analysis, newState, j,
                     "output #" + std::to_string(j), y, why, blame);
    if (failed(r))
      return failure();
    if (r->key != form.key) {
      why = "the outputs contract " + name +
            " over another axis than its update does";
      return failure();
    }
    form.readouts.push_back(*r);
  }
  if (form.readouts.empty()) {
    why = "no output reads " + name;
    return failure();
  }

  // The value axis: one other than the key along which neither the erased
  // term's factors (w), the read key nor the queries vary.
  llvm::SmallBitVector used = dimsOf(erase->factors, rank);
  used |= dimsOf(form.readKey, rank);
  for (const Readout &r : form.readouts)
    used |= dimsOf(r.q, rank);
  int value = -1;
  for (unsigned d = 0; d < rank; ++d)
    if (d != form.key && !used.test(d))
      value = d;
  if (value < 0) {
    why = notDelta + ": no value axis";
    return failure();
  }
  form.value = value;
  for (unsigned d = 0; d < rank; ++d)
    if (d != form.key && d != form.value)
      form.batch.push_back(d);

  // The written term `c w ⊗ v`: w the factors not along the value axis; the
  // erased one must be `-c w ⊗ P` with the same w.
  SmallVector<Factor> w;
  for (const Factor &f : write->factors) {
    llvm::SmallBitVector dims = dimsOf(f, rank);
    if (dims.test(form.key) && dims.test(form.value)) {
      why = notDelta + ": its added term is not an outer product";
      blame = f.value.getDefiningOp() ? f.value.getDefiningOp()
                                      : scan.getOperation();
      return failure();
    }
    (dims.test(form.value) ? form.v : w).push_back(f);
  }
  // The gated delta rule, α (I - β k kᵀ) S + β k vᵀ: the factors of the
  // kept state (α) scale the erased term as well.
  SmallVector<Factor> erased(w);
  llvm::append_range(erased, keep->factors);
  if (!sameFactors(erased, erase->factors) || erase->coef != -write->coef) {
    why = notDelta + ": the key written and the key erased differ";
    return failure();
  }
  llvm::SmallBitVector decayDims = dimsOf(keep->factors, rank);
  if (decayDims.test(form.key) || decayDims.test(form.value)) {
    why = name + " follows the gated delta rule α (I - β k kᵀ) S + β k vᵀ "
                 "with a decay that varies along the key or value axis, "
                 "which the WY form here does not take: it stays sequential";
    return failure();
  }
  form.decay = keep->factors;
  form.decayPositive = llvm::all_of(
      form.decay, [](const Factor &f) { return isPositive(f.value); });
  for (const Factor &f : w)
    (dimsOf(f, rank).test(form.key) ? form.k : form.beta).push_back(f);
  form.coef = write->coef;
  if (type.isDynamicDim(form.key) || type.isDynamicDim(form.value)) {
    why = name + " has a dynamic key or value size";
    return failure();
  }
  return form;
}

/// Recognises the chunkwise form, or says why not (`why`, at `blame`).
static FailureOr<Form> recognise(const RecurrenceAnalysis &analysis,
                                 std::string &why, Operation *&blame) {
  seq::ScanOp scan = analysis.getScan();
  blame = scan;
  if (scan.getNumCarries() != 1) {
    why = "it has " + std::to_string(scan.getNumCarries()) +
          " carries (the chunkwise form takes one matrix state)";
    return failure();
  }
  auto type = llvm::cast<RankedTensorType>(scan.getInits()[0].getType());
  std::string name = "carry '" + analysis.getCarryName(0) + "'";
  if (type.getRank() < 2) {
    why = name + " is not a matrix";
    return failure();
  }
  if (!type.getElementType().isF32()) {
    why = name + " is not f32";
    return failure();
  }
  if (scan.getReverse()) {
    why = "it runs in reverse";
    return failure();
  }
  const CarryRecurrence &c = analysis.getCarry(0);
  if (c.kind == RecurrenceKind::Contraction)
    return recogniseDelta(analysis, name, why, blame);
  if (c.kind == RecurrenceKind::Coupled) {
    why = name + " is " + analysis.describe(0);
    return failure();
  }
  if (c.kind != RecurrenceKind::Diagonal) {
    why = name + " is " + analysis.describe(0);
    return failure();
  }
  if (scan.getNumOutputs() == 0) {
    why = "no output reads " + name;
    return failure();
  }

  Form form;
  unsigned rank = form.rank = type.getRank();
  auto yield = llvm::cast<seq::YieldOp>(scan.getBodyBlock().getTerminator());
  Value newState = yield.getValues()[0];
  Expander ex(scan, analysis, scan.getCarryArgs()[0],
              /*symMustBeIdentity=*/true);
  FailureOr<Poly> update =
      ex.expand(newState, AffineMap::getMultiDimIdentityMap(
                              rank, scan.getContext()));
  if (failed(update)) {
    why = name + "'s update is not decay ⊙ state + k ⊗ v: " + ex.why;
    blame = ex.blame;
    return failure();
  }
  const Monomial *decay = nullptr, *outer = nullptr;
  for (const Monomial &m : *update) {
    if (m.symMap) {
      if (decay) {
        why = name + "'s update reads the state twice";
        return failure();
      }
      decay = &m;
    } else {
      if (outer) {
        why = name + "'s update adds more than one outer product";
        return failure();
      }
      outer = &m;
    }
  }
  if (!decay || !outer || decay->coef != 1.0) {
    why = name + "'s update is not decay ⊙ state + k ⊗ v";
    return failure();
  }
  form.decay = decay->factors;
  form.coef = outer->coef;

  for (unsigned j = 0; j < scan.getNumOutputs(); ++j) {
    Value y = yield.getValues()[1 + j];
    if (analysis.lookup(y).kind == Dependence::Free) {
      form.freeOutputs.push_back(j);
      continue;
    }
    FailureOr<Readout> r =
        matchReadout(scan, analysis, newState, j,
                     "output #" + std::to_string(j), y, why, blame);
    if (failed(r))
      return failure();
    form.readouts.push_back(*r);
  }
  if (form.readouts.empty()) {
    why = "no output reads " + name;
    return failure();
  }
  form.key = form.readouts[0].key;
  for (const Readout &r : form.readouts)
    if (r.key != form.key) {
      why = "the outputs contract " + name + " over different axes";
      return failure();
    }

  // The value axis: a state axis other than the key along which q, k and
  // the decay do not vary. The rest are batch axes.
  llvm::SmallBitVector used(rank);
  for (const Factor &f : form.decay)
    used |= dimsOf(f, rank);
  for (const Readout &r : form.readouts)
    for (const Factor &f : r.q)
      used |= dimsOf(f, rank);
  for (const Factor &f : outer->factors)
    if (dimsOf(f, rank).test(form.key))
      used |= dimsOf(f, rank);
  int value = -1;
  for (unsigned d = 0; d < rank; ++d)
    if (d != form.key && !used.test(d))
      value = d;
  if (value < 0) {
    why = name + " has no value axis: its decay, keys or queries vary along "
                 "every axis but the key (an elementwise recurrence, for the "
                 "diagonal scan)";
    return failure();
  }
  form.value = value;
  for (unsigned d = 0; d < rank; ++d)
    if (d != form.key && d != form.value)
      form.batch.push_back(d);
  for (const Factor &f : outer->factors) {
    llvm::SmallBitVector dims = dimsOf(f, rank);
    if (dims.test(form.key) && dims.test(form.value)) {
      why = name + "'s added term is not an outer product of keys and values";
      blame = f.value.getDefiningOp() ? f.value.getDefiningOp()
                                      : scan.getOperation();
      return failure();
    }
    (dims.test(form.key) ? form.k : form.v).push_back(f);
  }
  for (const Factor &f : form.decay)
    if (dimsOf(f, rank).test(form.key))
      form.decayPerKey = true;
  form.decayPositive = llvm::all_of(
      form.decay, [](const Factor &f) { return isPositive(f.value); });
  if (type.isDynamicDim(form.key) || type.isDynamicDim(form.value)) {
    why = name + " has a dynamic key or value size";
    return failure();
  }
  return form;
}

//===----------------------------------------------------------------------===//
// The rewrite
//===----------------------------------------------------------------------===//

static Value cIndex(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}

static Value cF32(OpBuilder &b, Location loc, double v) {
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
}

/// A tile of `value` for the loops' bodies. Its buffer is a fresh
/// `bufferization.alloc_tensor`, which CSE does not merge with an equal fill
/// outside the loop: one-shot bufferization could write such a shared buffer
/// in place, from every thread of a parallel loop.
static Value filled(OpBuilder &b, Location loc, ArrayRef<int64_t> shape,
                    float value) {
  Value alloc = bufferization::AllocTensorOp::create(
      b, loc, RankedTensorType::get(shape, b.getF32Type()), ValueRange{});
  return linalg::FillOp::create(b, loc, cF32(b, loc, value), alloc)
      .getResult(0);
}

static Value zeros(OpBuilder &b, Location loc, ArrayRef<int64_t> shape) {
  return filled(b, loc, shape, 0.0f);
}


static SmallVector<utils::IteratorType> parallel(unsigned n) {
  return SmallVector<utils::IteratorType>(n, utils::IteratorType::parallel);
}

static Value matmul(OpBuilder &b, Location loc, Value x, Value y, Value acc) {
  return linalg::MatmulOp::create(b, loc, TypeRange{acc.getType()},
                                  ValueRange{x, y}, ValueRange{acc})
      .getResult(0);
}

/// `y` (step i's row, step j's column of a chunk) times the decay between
/// steps j and i, σ_i σ_j exp(b_i - b_j) (`cumI`, `cumJ` the cumulative
/// log-decays, `sgnI`, `sgnJ` their signs, each null where there are
/// none), where j < i (`strictly`) or j <= i, and 0 elsewhere: a
/// payload.
static Value causalDecayed(OpBuilder &b, Location l, Value i, Value j,
                           bool strictly, Value y, Value cumI, Value cumJ,
                           Value sgnI, Value sgnJ) {
  Value ok = arith::CmpIOp::create(
      b, l, strictly ? arith::CmpIPredicate::ult : arith::CmpIPredicate::ule, j,
      i);
  if (cumI) {
    Value d = arith::SubFOp::create(b, l, cumI, cumJ);
    d = arith::SelectOp::create(b, l, ok, d, cF32(b, l, 0.0));
    y = arith::MulFOp::create(b, l, y, math::ExpOp::create(b, l, d));
    if (sgnI)
      y = arith::MulFOp::create(b, l, y,
                                arith::MulFOp::create(b, l, sgnI, sgnJ));
  }
  return arith::SelectOp::create(b, l, ok, y, cF32(b, l, 0.0));
}

struct Rewriter {
  const RecurrenceAnalysis &analysis;
  const Form &form;
  int64_t C;
  bool batched;
  OpBuilder b;
  Location loc;
  MLIRContext *ctx;
  Type f32;

  Rewriter(const RecurrenceAnalysis &analysis, const Form &form, int64_t C,
           bool batched)
      : analysis(analysis), form(form), C(C), batched(batched),
        b(analysis.getScan().getOperation()), loc(analysis.getScan().getLoc()),
        ctx(analysis.getScan().getContext()), f32(b.getF32Type()) {}

  void run();

private:
  /// What steps 1 and 2 leave for the chunks: the carry-free scan (`steps`),
  /// the padded step tensors, the sizes, and the initial state as [batch..,
  /// K, V] (`s0`).
  struct Padded {
    seq::ScanOp steps;
    SmallVector<Value> qs;
    Value kt, vs, lgs, negs;
    Value lp, nChunks, s0;
    SmallVector<OpFoldResult> batchShape;
    int64_t K, V;
    /// State dims -> their positions in [batch.., K, V].
    SmallVector<unsigned> stateFromCanon;
    /// The delta rule's c r β b [batch.., padded T, K].
    Value bs;
  };
  /// Steps 3 and 4 for every (item, chunk) at once (`batched`): returns
  /// the final state [batch.., K, V] and each readout's outputs [batch..,
  /// padded T, V].
  std::pair<Value, SmallVector<Value>> batchedChunks(const Padded &p);
  /// Step 5: the scan's results from the final state [batch.., K, V] and
  /// the outputs.
  void finish(const Padded &p, Value last, ArrayRef<Value> outs);

  unsigned nb() const { return form.batch.size(); }
  AffineMap dim(unsigned n, ArrayRef<unsigned> dims) {
    SmallVector<AffineExpr> e;
    for (unsigned d : dims)
      e.push_back(b.getAffineDimExpr(d));
    return AffineMap::get(n, 0, e, ctx);
  }
  /// The canonical dims of a step tensor ([batch.., `axis`]; no axis when
  /// -1) -> the state's dims (those outside read at 0).
  AffineMap canonToState(int axis);
  /// Canonical step tensor [batch.., X]: the product of `factors` (read in
  /// state space) with X the state axis `axis` (or one element when
  /// `axis` < 0), computed by `fn` of the product.
  Value canonical(OpBuilder &nb, ArrayRef<Factor> factors, int axis,
                  IRMapping &map, ArrayRef<OpFoldResult> batchSizes,
                  double coef,
                  function_ref<Value(OpBuilder &, Location, Value)> fn);
};

AffineMap Rewriter::canonToState(int axis) {
  SmallVector<AffineExpr> toState(form.rank, getAffineConstantExpr(0, ctx));
  for (auto [i, d] : llvm::enumerate(form.batch))
    toState[d] = getAffineDimExpr(i, ctx);
  if (axis >= 0)
    toState[axis] = getAffineDimExpr(nb(), ctx);
  return AffineMap::get(nb() + 1, 0, toState, ctx);
}

Value Rewriter::canonical(
    OpBuilder &bb, ArrayRef<Factor> factors, int axis, IRMapping &map,
    ArrayRef<OpFoldResult> batchSizes, double coef,
    function_ref<Value(OpBuilder &, Location, Value)> fn) {
  unsigned n = nb() + 1;
  SmallVector<Value> inputs;
  SmallVector<AffineMap> maps;
  for (const Factor &f : factors) {
    inputs.push_back(map.lookupOrDefault(f.value));
    maps.push_back(f.map.compose(canonToState(axis)));
  }
  SmallVector<OpFoldResult> shape(batchSizes.begin(), batchSizes.end());
  auto type = llvm::cast<RankedTensorType>(analysis.getScan().getInits()[0].getType());
  shape.push_back(bb.getIndexAttr(axis >= 0 ? type.getDimSize(axis) : 1));
  Value init = tensor::EmptyOp::create(bb, loc, shape, f32);
  maps.push_back(AffineMap::getMultiDimIdentityMap(n, ctx));
  return generic(bb, loc, init, inputs, maps, parallel(n),
                 [&](OpBuilder &nb2, Location l, ValueRange args) -> Value {
                   Value p = coef == 1.0 ? Value() : cF32(nb2, l, coef);
                   for (Value a : args.drop_back())
                     p = p ? arith::MulFOp::create(nb2, l, p, a).getResult()
                           : a;
                   return fn(nb2, l, p ? p : cF32(nb2, l, 1.0));
                 });
}

void Rewriter::run() {
  seq::ScanOp scan = analysis.getScan();
  Value init = scan.getInits()[0];
  auto stateType = llvm::cast<RankedTensorType>(init.getType());
  const int64_t K = stateType.getDimSize(form.key);
  const int64_t V = stateType.getDimSize(form.value);
  const bool hasDecay = !form.decay.empty();
  const bool signs = hasDecay && !form.decayPositive;
  const int64_t Kd = form.decayPerKey ? K : 1;
  b.setInsertionPoint(scan);
  Value len = scan.getLength();
  SmallVector<Value> batchSizes;
  SmallVector<OpFoldResult> batchShape;
  for (unsigned d : form.batch) {
    batchSizes.push_back(tensor::DimOp::create(b, loc, init, d));
    batchShape.push_back(tensor::getMixedSize(b, loc, init, d));
  }
  Value c0 = cIndex(b, loc, 0), c1 = cIndex(b, loc, 1);

  // 1. A carry-free scan materialising the step's q (per readout), k, v and
  // log|decay| (and the sign of the decay) as [batch.., T, X], kᵀ as
  // [batch.., K, T] (the batched form: k as [batch.., T, K]); outputs free
  // of the carry as they are.
  const bool kTimeFirst = batched;
  // The batched form reads a q, k or v that is a step's slice of a tensor
  // already laid out [batch.., T, X] (one factor, coefficient 1; unit dims
  // added by a reshape) from that tensor where, at run time, the slice is
  // all of it and T is a whole number of chunks; else it copies the slice,
  // padded: on the GPU, RetNet's q and v copies took 0.58 ms at B8 H16
  // T4096 K128 (of 4.2).
  struct Source {
    Value tensor;                    // [batch.., T, X]
    SmallVector<OpFoldResult> sizes; // the slice's, T the scan's length
  };
  auto identitySource = [&](ArrayRef<Factor> fs, int axis,
                            double coef) -> std::optional<Source> {
    if (!batched || fs.size() != 1 || coef != 1.0)
      return std::nullopt;
    Value v = fs[0].value;
    AffineMap m = fs[0].map;
    // Unit dims added by a reshape: their results of the map dropped.
    if (auto ex = v.getDefiningOp<tensor::ExpandShapeOp>()) {
      SmallVector<AffineExpr> kept;
      for (ReassociationIndices group : ex.getReassociationIndices()) {
        std::optional<int64_t> real;
        for (int64_t i : group)
          if (ex.getResultType().getDimSize(i) != 1) {
            if (real)
              return std::nullopt;
            real = i;
          }
        if (!real)
          return std::nullopt;
        kept.push_back(m.getResult(*real));
      }
      m = AffineMap::get(m.getNumDims(), 0, kept, ctx);
      v = ex.getSrc();
    }
    auto slice = v.getDefiningOp<tensor::ExtractSliceOp>();
    if (!slice ||
        scan.getBody().isAncestor(slice.getSource().getParentRegion()))
      return std::nullopt;
    auto src = slice.getSourceType();
    unsigned t = nb();
    if (!src.getElementType().isF32() || src.getRank() != (int64_t)nb() + 2 ||
        !slice.hasUnitStride() || !m.compose(canonToState(axis)).isIdentity())
      return std::nullopt;
    Source out{slice.getSource(), {}};
    for (int64_t d = 0; d < src.getRank(); ++d) {
      OpFoldResult off = slice.getMixedOffsets()[d];
      OpFoldResult size = slice.getMixedSizes()[d];
      if (d == t) {
        if (llvm::dyn_cast_if_present<Value>(off) != scan.getStepArg() ||
            getConstantIntValue(size) != 1)
          return std::nullopt;
        out.sizes.push_back(getAsOpFoldResult(len));
        continue;
      }
      if (getConstantIntValue(off) != 0)
        return std::nullopt;
      out.sizes.push_back(size);
    }
    return out;
  };
  SmallVector<std::optional<Source>> qSources;
  for (const Readout &r : form.readouts)
    qSources.push_back(identitySource(r.q, form.key, r.coef));
  // (The delta rule writes k as it is, its coefficient on β v.)
  std::optional<Source> kSource =
      kTimeFirst
          ? identitySource(form.k, form.key, form.delta ? 1.0 : form.coef)
          : std::nullopt;
  std::optional<Source> vSource =
      form.delta ? std::nullopt : identitySource(form.v, form.value, 1.0);
  auto stackedType = [&](int64_t x, bool timeLast) {
    SmallVector<int64_t> shape;
    for (unsigned d : form.batch)
      shape.push_back(stateType.getDimSize(d));
    int64_t t = ShapedType::kDynamic;
    if (std::optional<int64_t> c = getConstantIntValue(len))
      t = *c;
    if (timeLast) {
      shape.push_back(x);
      shape.push_back(t);
    } else {
      shape.push_back(t);
      shape.push_back(x);
    }
    return RankedTensorType::get(shape, f32);
  };
  SmallVector<Type> types;
  SmallVector<int64_t> axes;
  for (size_t r = 0; r < form.readouts.size(); ++r) {
    if (qSources[r])
      continue;
    types.push_back(stackedType(K, false));
    axes.push_back(nb());
  }
  if (!kSource) {
    types.push_back(stackedType(K, !kTimeFirst)); // kᵀ, or k
    axes.push_back(kTimeFirst ? nb() : nb() + 1);
  }
  if (!vSource) {
    types.push_back(stackedType(V, false));
    axes.push_back(nb());
  }
  if (form.delta) {
    types.push_back(stackedType(K, false)); // β b
    axes.push_back(nb());
  }
  if (hasDecay) {
    types.push_back(stackedType(Kd, false));
    axes.push_back(nb());
    if (signs) {
      types.push_back(stackedType(Kd, false));
      axes.push_back(nb());
    }
  }
  for (unsigned j : form.freeOutputs) {
    types.push_back(scan.getStackedOutputs()[j].getType());
    axes.push_back(scan.getOutputAxes()[j]);
  }
  // The padded length (computed before the steps: their buffers, below).
  Value lp = arith::MulIOp::create(
      b, loc, arith::CeilDivUIOp::create(b, loc, len, cIndex(b, loc, C)),
      cIndex(b, loc, C));
  Value nChunks = arith::DivUIOp::create(b, loc, lp, cIndex(b, loc, C));
  auto steps = seq::ScanOp::create(b, loc, types, len, ValueRange{},
                                   /*reverse=*/false, axes);
  {
    OpBuilder::InsertionGuard guard(b);
    Block *block = b.createBlock(&steps.getBody());
    block->addArgument(b.getIndexType(), loc);
    IRMapping map;
    map.map(scan.getStepArg(), block->getArgument(0));
    SmallVector<Value> roots;
    auto addRoots = [&](ArrayRef<Factor> fs) {
      for (const Factor &f : fs)
        roots.push_back(f.value);
    };
    for (const Readout &r : form.readouts)
      addRoots(r.q);
    addRoots(form.k);
    addRoots(form.v);
    addRoots(form.decay);
    addRoots(form.beta);
    addRoots(form.readKey);
    auto yield = llvm::cast<seq::YieldOp>(scan.getBodyBlock().getTerminator());
    for (unsigned j : form.freeOutputs)
      roots.push_back(yield.getValues()[1 + j]);
    for (Operation *op : backwardSlice(scan.getBodyBlock(), roots))
      b.clone(*op, map);
    auto id = [](OpBuilder &, Location, Value v) { return v; };
    SmallVector<Value> yields;
    for (auto [r, src] : llvm::zip(form.readouts, qSources))
      if (!src)
        yields.push_back(
            canonical(b, r.q, form.key, map, batchShape, r.coef, id));
    if (!form.delta) {
      if (!kSource)
        yields.push_back(
            canonical(b, form.k, form.key, map, batchShape, form.coef, id));
      if (!vSource)
        yields.push_back(
            canonical(b, form.v, form.value, map, batchShape, 1.0, id));
    } else {
      // The delta rule's S' = S + k ⊗ u with u = c β (v - r bᵀ S): k as
      // written, c β v, and c r β b.
      SmallVector<Factor> betaV(form.v), betaB(form.readKey);
      llvm::append_range(betaV, form.beta);
      llvm::append_range(betaB, form.beta);
      if (!kSource)
        yields.push_back(
            canonical(b, form.k, form.key, map, batchShape, 1.0, id));
      yields.push_back(
          canonical(b, betaV, form.value, map, batchShape, form.coef, id));
      yields.push_back(canonical(b, betaB, form.key, map, batchShape,
                                 form.coef * form.readCoef, id));
    }
    if (hasDecay) {
      int axis = form.decayPerKey ? (int)form.key : -1;
      // log|g|, at least -80: a decay that underflows to 0 is e^-80.
      yields.push_back(canonical(
          b, form.decay, axis, map, batchShape, 1.0,
          [](OpBuilder &nb2, Location l, Value g) -> Value {
            Value a = math::AbsFOp::create(nb2, l, g);
            Value lg = math::LogOp::create(nb2, l, a);
            return arith::MaxNumFOp::create(nb2, l, lg, cF32(nb2, l, -80.0));
          }));
      if (signs)
        yields.push_back(canonical(
            b, form.decay, axis, map, batchShape, 1.0,
            [](OpBuilder &nb2, Location l, Value g) -> Value {
              Value neg = arith::CmpFOp::create(
                  nb2, l, arith::CmpFPredicate::OLT, g, cF32(nb2, l, 0.0));
              return arith::SelectOp::create(nb2, l, neg, cF32(nb2, l, 1.0),
                                             cF32(nb2, l, 0.0));
            }));
    }
    for (unsigned j : form.freeOutputs)
      yields.push_back(map.lookupOrDefault(yield.getValues()[1 + j]));
    seq::YieldOp::create(b, loc, yields);
  }
  unsigned at = 0;
  SmallVector<Value> qs;
  for (const std::optional<Source> &src : qSources)
    qs.push_back(src ? Value() : steps.getResult(at++));
  Value kt = kSource ? Value() : steps.getResult(at++);
  Value vs = vSource ? Value() : steps.getResult(at++);
  Value bs = form.delta ? steps.getResult(at++) : Value();
  Value lgs, negs;
  if (hasDecay) {
    lgs = steps.getResult(at++);
    if (signs)
      negs = steps.getResult(at++);
  }

  // 2. Padded to whole chunks with zeros (k = 0 adds nothing, log-decay 0
  // keeps the state).
  // Each into its own buffer (an alloc_tensor, which CSE does not share
  // between them, so bufferization writes each in place), the padding
  // filled with zeros (only it: on the GPU, filling the whole buffer of
  // RetNet's q at B8 H16 T4096 K128 took 0.2 ms).
  Value zeroF = cF32(b, loc, 0.0);
  // The buffer is made before the steps, so that the op computing a step
  // tensor can write it in place (eliminate-empty-tensors; on the GPU the
  // transposing copy of RetNet's kᵀ was then copied again, 0.3 ms).
  auto pad = [&](Value x, unsigned timeAxis, bool beforeSteps = true) -> Value {
    auto type = llvm::cast<RankedTensorType>(x.getType());
    SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, x);
    SmallVector<int64_t> shape(type.getShape());
    shape[timeAxis] = ShapedType::kDynamic;
    SmallVector<Value> dynamic;
    for (unsigned i = 0; i < shape.size(); ++i)
      if (i == timeAxis)
        dynamic.push_back(lp);
      else if (ShapedType::isDynamic(shape[i]))
        dynamic.push_back(batchSizes[i]);
    Value buffer;
    {
      OpBuilder::InsertionGuard guard(b);
      if (beforeSteps)
        b.setInsertionPoint(steps);
      buffer = bufferization::AllocTensorOp::create(
          b, loc, RankedTensorType::get(shape, f32), dynamic);
    }
    SmallVector<OpFoldResult> offsets(sizes.size(), b.getIndexAttr(0));
    SmallVector<OpFoldResult> strides(sizes.size(), b.getIndexAttr(1));
    buffer = tensor::InsertSliceOp::create(b, loc, x, buffer, offsets, sizes,
                                           strides);
    // The steps from len to the padded length.
    SmallVector<OpFoldResult> tailOffsets(offsets), tailSizes(sizes);
    tailOffsets[timeAxis] = len;
    tailSizes[timeAxis] = arith::SubIOp::create(b, loc, lp, len).getResult();
    SmallVector<int64_t> tailShape(type.getShape());
    tailShape[timeAxis] = ShapedType::kDynamic;
    Value tail = tensor::ExtractSliceOp::create(
        b, loc, RankedTensorType::get(tailShape, f32), buffer, tailOffsets,
        tailSizes, strides);
    tail = linalg::FillOp::create(b, loc, zeroF, tail).getResult(0);
    return tensor::InsertSliceOp::create(b, loc, tail, buffer, tailOffsets,
                                         tailSizes, strides);
  };
  // A source laid out as the steps: itself where the length is a whole
  // number of chunks, else its padded copy.
  Value whole = arith::CmpIOp::create(
      b, loc, arith::CmpIPredicate::eq,
      arith::RemUIOp::create(b, loc, len, cIndex(b, loc, C)), c0);
  auto padOrView = [&](const Source &src) -> Value {
    auto type = llvm::cast<RankedTensorType>(src.tensor.getType());
    SmallVector<int64_t> shape(type.getShape());
    shape[nb()] = ShapedType::kDynamic;
    auto padded = RankedTensorType::get(shape, f32);
    // The slice is all of the tensor: every size its size.
    Value all = whole;
    for (auto [d, size] : llvm::enumerate(src.sizes)) {
      Value want = getValueOrCreateConstantIndexOp(b, loc, size);
      Value have = tensor::DimOp::create(b, loc, src.tensor, d);
      all = arith::AndIOp::create(
          b, loc, all,
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, want, have));
    }
    auto pick = scf::IfOp::create(b, loc, TypeRange{padded}, all,
                                  /*withElse=*/true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&pick.getThenRegion().front());
    scf::YieldOp::create(
        b, loc, tensor::CastOp::create(b, loc, padded, src.tensor).getResult());
    b.setInsertionPointToStart(&pick.getElseRegion().front());
    SmallVector<OpFoldResult> zeros(src.sizes.size(), b.getIndexAttr(0)),
        ones(src.sizes.size(), b.getIndexAttr(1));
    SmallVector<int64_t> sliceShape;
    for (OpFoldResult size : src.sizes)
      sliceShape.push_back(
          getConstantIntValue(size).value_or(ShapedType::kDynamic));
    Value part = tensor::ExtractSliceOp::create(
        b, loc, RankedTensorType::get(sliceShape, f32), src.tensor, zeros,
        src.sizes, ones);
    scf::YieldOp::create(b, loc, pad(part, nb(), /*beforeSteps=*/false));
    return pick.getResult(0);
  };
  for (auto [q, src] : llvm::zip(qs, qSources))
    q = src ? padOrView(*src) : pad(q, nb());
  kt = kSource ? padOrView(*kSource) : pad(kt, kTimeFirst ? nb() : nb() + 1);
  vs = vSource ? padOrView(*vSource) : pad(vs, nb());
  if (bs)
    bs = pad(bs, nb());
  if (lgs)
    lgs = pad(lgs, nb());
  if (negs)
    negs = pad(negs, nb());

  // The initial state as [batch.., K, V].
  SmallVector<unsigned> canonOrder(form.batch.begin(), form.batch.end());
  canonOrder.push_back(form.key);
  canonOrder.push_back(form.value);
  unsigned n = nb() + 2;
  SmallVector<OpFoldResult> canonSizes(batchShape);
  canonSizes.push_back(b.getIndexAttr(K));
  canonSizes.push_back(b.getIndexAttr(V));
  // State dims -> canonical positions, as a map from canonical loops.
  SmallVector<unsigned> stateFromCanon(form.rank);
  for (auto [i, d] : llvm::enumerate(canonOrder))
    stateFromCanon[d] = i;
  Value s0 = generic(
      b, loc, tensor::EmptyOp::create(b, loc, canonSizes, f32), init,
      {dim(n, stateFromCanon), AffineMap::getMultiDimIdentityMap(n, ctx)},
      parallel(n), [](OpBuilder &, Location, ValueRange a) { return a[0]; });
  Padded padded{steps,   qs, kt,         vs, lgs, negs,           lp,
                nChunks, s0, batchShape, K,  V,   stateFromCanon, bs};
  if (batched) {
    auto [last, outs] = batchedChunks(padded);
    finish(padded, last, outs);
    return;
  }

  // Items: the batch positions, flattened.
  Value items = c1;
  for (Value s : batchSizes)
    items = arith::MulIOp::create(b, loc, items, s);
  auto decode = [&](Value w) {
    return delinearize(b, loc, w, batchSizes, /*wrap=*/true);
  };
  // A [s0, s1] tile of a [batch.., A, B] tensor at (idx.., o0, o1).
  auto tile = [&](Value src, ArrayRef<Value> idx, OpFoldResult o0,
                  OpFoldResult o1, int64_t s0, int64_t s1) -> Value {
    SmallVector<OpFoldResult> offsets(idx.begin(), idx.end()), sizes;
    sizes.assign(idx.size(), b.getIndexAttr(1));
    offsets.append({o0, o1});
    sizes.append({b.getIndexAttr(s0), b.getIndexAttr(s1)});
    SmallVector<OpFoldResult> strides(sizes.size(), b.getIndexAttr(1));
    return tensor::ExtractSliceOp::create(
        b, loc, RankedTensorType::get({s0, s1}, f32), src, offsets, sizes,
        strides);
  };
  auto put = [&](Value t, Value dst, ArrayRef<Value> idx, OpFoldResult o0,
                 OpFoldResult o1) -> Value {
    auto tt = llvm::cast<RankedTensorType>(t.getType());
    SmallVector<OpFoldResult> offsets(idx.begin(), idx.end()), sizes;
    sizes.assign(idx.size(), b.getIndexAttr(1));
    offsets.append({o0, o1});
    sizes.append({b.getIndexAttr(tt.getDimSize(0)),
                  b.getIndexAttr(tt.getDimSize(1))});
    SmallVector<OpFoldResult> strides(sizes.size(), b.getIndexAttr(1));
    return tensor::InsertSliceOp::create(b, loc, t, dst, offsets, sizes,
                                         strides);
  };

  auto id2 = AffineMap::getMultiDimIdentityMap(2, ctx);
  // The inclusive lower-triangular ones [C, C]: cumulative sums as matmuls.
  // A constant: a tensor computed here into a fill would share its buffer
  // with the (CSE'd) fills of the tiles in the parallel loops below, which
  // bufferization may then write in place from every thread.
  SmallVector<float> tri(C * C, 0.0f);
  for (int64_t i = 0; i < C; ++i)
    for (int64_t j = 0; j <= i; ++j)
      tri[i * C + j] = 1.0f;
  auto triType = RankedTensorType::get({C, C}, f32);
  Value ltri = arith::ConstantOp::create(
      b, loc, triType, DenseElementsAttr::get(triType, llvm::ArrayRef(tri)));

  // The chunk's cumulative log-decays [C, Kd] and, with signs, the sign of
  // the cumulative product (+1 or -1).
  auto chunkDecays = [&](ArrayRef<Value> idx, Value t0)
      -> std::pair<Value, Value> {
    if (!hasDecay)
      return {};
    Value lg = tile(lgs, idx, t0, b.getIndexAttr(0), C, Kd);
    Value cum = matmul(b, loc, ltri, lg, zeros(b, loc, {C, Kd}));
    if (!signs)
      return {cum, Value()};
    Value ng = tile(negs, idx, t0, b.getIndexAttr(0), C, Kd);
    Value cnt = matmul(b, loc, ltri, ng, zeros(b, loc, {C, Kd}));
    Value sgn = generic(
        b, loc, zeros(b, loc, {C, Kd}), cnt, {id2, id2}, parallel(2),
        [](OpBuilder &nb2, Location l, ValueRange a) -> Value {
          // 1 - 2 (cnt mod 2)
          Value half = arith::MulFOp::create(nb2, l, a[0], cF32(nb2, l, 0.5));
          Value fl = math::FloorOp::create(nb2, l, half);
          Value odd = arith::SubFOp::create(nb2, l, half, fl);
          Value four = arith::MulFOp::create(nb2, l, odd, cF32(nb2, l, 4.0));
          return arith::SubFOp::create(nb2, l, cF32(nb2, l, 1.0), four);
        });
    return {cum, sgn};
  };
  auto lastRow = [&](Value x) -> Value {
    return tensor::ExtractSliceOp::create(
        b, loc, RankedTensorType::get({1, Kd}, f32), x,
        ArrayRef<OpFoldResult>{b.getIndexAttr(C - 1), b.getIndexAttr(0)},
        ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(Kd)},
        ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1)});
  };
  // Maps over 2-d loops reading a [C, Kd] or [1, Kd] tensor.
  auto rd = [&](AffineExpr row, AffineExpr key) {
    return AffineMap::get(2, 0,
                          {row, Kd == 1 ? getAffineConstantExpr(0, ctx) : key},
                          ctx);
  };
  AffineExpr d0 = b.getAffineDimExpr(0), d1 = b.getAffineDimExpr(1);
  AffineExpr zero = getAffineConstantExpr(0, ctx);
  // `m` [C, C] times the decay between steps j and i, σ_i σ_j exp(b_i -
  // b_j) with one decay per step (`cum`, `sgn` from chunkDecays), where
  // j < i (`strictly`: the WY form's A) or j <= i (the intra-chunk scores),
  // and 0 elsewhere.
  auto maskedDecay = [&](Value m, Value cum, Value sgn,
                         bool strictly) -> Value {
    SmallVector<Value> ins{m};
    SmallVector<AffineMap> maps{id2};
    if (hasDecay) {
      ins.append({cum, cum});
      maps.append({rd(d0, zero), rd(d1, zero)});
      if (sgn) {
        ins.append({sgn, sgn});
        maps.append({rd(d0, zero), rd(d1, zero)});
      }
    }
    maps.push_back(id2);
    return generic(
        b, loc, zeros(b, loc, {C, C}), ins, maps, parallel(2),
        [&](OpBuilder &nb2, Location l, ValueRange x) -> Value {
          Value i = linalg::IndexOp::create(nb2, l, 0);
          Value j = linalg::IndexOp::create(nb2, l, 1);
          return causalDecayed(nb2, l, i, j, strictly, x[0],
                               hasDecay ? x[1] : Value(),
                               hasDecay ? x[2] : Value(), sgn ? x[3] : Value(),
                               sgn ? x[4] : Value());
        });
  };
  // [rows, Kd]: σ exp(b) of the cumulative log-decays `cum` (and signs
  // `sgn`), or, given the chunk's last row, σ_last σ exp(b_last - b).
  auto decayFactor = [&](Value cum, Value sgn, Value last, Value lastSgn,
                         int64_t rows) -> Value {
    SmallVector<Value> ins{cum};
    SmallVector<AffineMap> maps{id2};
    if (last) {
      ins.push_back(last);
      maps.push_back(AffineMap::get(2, 0, {zero, d1}, ctx));
    }
    if (sgn) {
      ins.push_back(sgn);
      maps.push_back(id2);
      if (lastSgn) {
        ins.push_back(lastSgn);
        maps.push_back(AffineMap::get(2, 0, {zero, d1}, ctx));
      }
    }
    maps.push_back(id2);
    bool hasLast = (bool)last, hasSgn = (bool)sgn, hasLastSgn = (bool)lastSgn;
    return generic(b, loc, zeros(b, loc, {rows, Kd}), ins, maps, parallel(2),
                   [=](OpBuilder &nb2, Location l, ValueRange a) -> Value {
                     unsigned i = 0;
                     Value x = a[i++];
                     if (hasLast)
                       x = arith::SubFOp::create(nb2, l, a[i++], x);
                     Value e = math::ExpOp::create(nb2, l, x);
                     if (hasSgn)
                       e = arith::MulFOp::create(nb2, l, e, a[i++]);
                     if (hasLastSgn)
                       e = arith::MulFOp::create(nb2, l, e, a[i++]);
                     return e;
                   });
  };

  // Before 3, the delta rule's WY form, per (item, chunk) in parallel. In a
  // chunk starting from S, u_j = β_j (v_j - b_jᵀ S_{j-1}) (c and r folded
  // into β v and β b) with S_j = S + Σ_{i ≤ j} k_i u_iᵀ, so
  //   u_j + Σ_{i < j} (β_j b_j · k_i) u_i = β_j v_j - (β_j b_j)ᵀ S,
  // i.e. (I + A) U~ = β V - β B S with A = strictly-lower(β B Kᵀ). With
  // T = (I + A)⁻¹ (forward substitution, row by row), W = T β B and
  // U = T β V do not depend on S: the state pass computes U~ = U - W S
  // and S ← S + Kᵀ U~, one matmul each.
  Value wAll, uAll;
  if (form.delta) {
    auto stacked = [&](int64_t x) {
      SmallVector<OpFoldResult> shape(batchShape);
      shape.push_back(lp);
      shape.push_back(b.getIndexAttr(x));
      return tensor::EmptyOp::create(b, loc, shape, f32).getResult();
    };
    Value work = arith::MulIOp::create(b, loc, items, nChunks);
    auto wy = scf::ForOp::create(b, loc, c0, work, c1,
                                 ValueRange{stacked(K), stacked(V)});
    wy->setAttr("seq.parallel", b.getUnitAttr());
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(wy.getBody());
    Value u = wy.getInductionVar();
    Value ch = arith::RemUIOp::create(b, loc, u, nChunks);
    SmallVector<Value> idx = decode(arith::DivUIOp::create(b, loc, u, nChunks));
    Value t0 = arith::MulIOp::create(b, loc, ch, cIndex(b, loc, C));
    Value kTile = tile(kt, idx, b.getIndexAttr(0), t0, K, C); // [K, C]
    Value bTile = tile(bs, idx, t0, b.getIndexAttr(0), C, K); // β b [C, K]
    Value vTile = tile(vs, idx, t0, b.getIndexAttr(0), C, V); // β v [C, V]
    // A = strictly-lower(β B Kᵀ) (gated: A_ij ⊙ γ_i / γ_j with γ the
    // decay's product from the chunk start, σ_i σ_j exp(b_i - b_j), and
    // β b_i ⊙ γ_i in W); T starts as I.
    auto decays = chunkDecays(idx, t0);
    Value cum = decays.first, sgn = decays.second;
    Value a = maskedDecay(matmul(b, loc, bTile, kTile, zeros(b, loc, {C, C})),
                          cum, sgn, /*strictly=*/true);
    Value bDecayed = bTile;
    if (hasDecay) {
      Value fromStart = decayFactor(cum, sgn, Value(), Value(), /*rows=*/C);
      bDecayed =
          generic(b, loc, zeros(b, loc, {C, K}), ValueRange{bTile, fromStart},
                  {id2, rd(d0, d1), id2}, parallel(2),
                  [](OpBuilder &nb2, Location l, ValueRange x) -> Value {
                    return arith::MulFOp::create(nb2, l, x[0], x[1]);
                  });
    }
    Value eye = generic(
        b, loc, zeros(b, loc, {C, C}), ValueRange{}, {id2}, parallel(2),
        [](OpBuilder &nb2, Location l, ValueRange) -> Value {
          Value i = linalg::IndexOp::create(nb2, l, 0);
          Value j = linalg::IndexOp::create(nb2, l, 1);
          Value same =
              arith::CmpIOp::create(nb2, l, arith::CmpIPredicate::eq, i, j);
          return arith::SelectOp::create(nb2, l, same, cF32(nb2, l, 1.0),
                                         cF32(nb2, l, 0.0));
        });
    // Row r of T = e_r - Σ_{i < r} A_ri T_i: rows ≥ r of T are still those
    // of I and A_ri = 0 there, so the whole row of A times T is that sum.
    auto rows =
        scf::ForOp::create(b, loc, c0, cIndex(b, loc, C), c1, ValueRange{eye});
    {
      OpBuilder::InsertionGuard g2(b);
      b.setInsertionPointToStart(rows.getBody());
      Value r = rows.getInductionVar();
      Value t = rows.getRegionIterArgs()[0];
      auto row = [&](Value src) -> Value {
        return tensor::ExtractSliceOp::create(
            b, loc, RankedTensorType::get({1, C}, f32), src,
            ArrayRef<OpFoldResult>{r, b.getIndexAttr(0)},
            ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(C)},
            ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1)});
      };
      Value sum = matmul(b, loc, row(a), t, zeros(b, loc, {1, C}));
      Value next =
          generic(b, loc, zeros(b, loc, {1, C}), ValueRange{row(t), sum},
                  {id2, id2, id2}, parallel(2),
                  [](OpBuilder &nb2, Location l, ValueRange x) -> Value {
                    return arith::SubFOp::create(nb2, l, x[0], x[1]);
                  });
      t = tensor::InsertSliceOp::create(
          b, loc, next, t, ArrayRef<OpFoldResult>{r, b.getIndexAttr(0)},
          ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(C)},
          ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1)});
      scf::YieldOp::create(b, loc, t);
    }
    Value tInv = rows.getResult(0);
    Value w = matmul(b, loc, tInv, bDecayed, zeros(b, loc, {C, K}));
    Value uu = matmul(b, loc, tInv, vTile, zeros(b, loc, {C, V}));
    scf::YieldOp::create(
        b, loc,
        ValueRange{
            put(w, wy.getRegionIterArgs()[0], idx, t0, b.getIndexAttr(0)),
            put(uu, wy.getRegionIterArgs()[1], idx, t0, b.getIndexAttr(0))});
    wAll = wy.getResult(0);
    uAll = wy.getResult(1);
  }

  // 3. Chunk-start states, sequential over chunks, parallel over items.
  SmallVector<OpFoldResult> statesShape(batchShape);
  statesShape.push_back(
      arith::AddIOp::create(b, loc, nChunks, c1).getResult());
  statesShape.push_back(b.getIndexAttr(K));
  statesShape.push_back(b.getIndexAttr(V));
  Value statesInit = tensor::EmptyOp::create(b, loc, statesShape, f32);
  auto putState = [&](Value s, Value dst, ArrayRef<Value> idx,
                      Value chunk) -> Value {
    SmallVector<OpFoldResult> offsets(idx.begin(), idx.end()), sizes;
    sizes.assign(idx.size(), b.getIndexAttr(1));
    offsets.append({chunk, b.getIndexAttr(0), b.getIndexAttr(0)});
    sizes.append({b.getIndexAttr(1), b.getIndexAttr(K), b.getIndexAttr(V)});
    SmallVector<OpFoldResult> strides(sizes.size(), b.getIndexAttr(1));
    return tensor::InsertSliceOp::create(b, loc, s, dst, offsets, sizes,
                                         strides);
  };
  auto getState = [&](Value src, ArrayRef<Value> idx, Value chunk) -> Value {
    SmallVector<OpFoldResult> offsets(idx.begin(), idx.end()), sizes;
    sizes.assign(idx.size(), b.getIndexAttr(1));
    offsets.append({chunk, b.getIndexAttr(0), b.getIndexAttr(0)});
    sizes.append({b.getIndexAttr(1), b.getIndexAttr(K), b.getIndexAttr(V)});
    SmallVector<OpFoldResult> strides(sizes.size(), b.getIndexAttr(1));
    return tensor::ExtractSliceOp::create(
        b, loc, RankedTensorType::get({K, V}, f32), src, offsets, sizes,
        strides);
  };

  // The delta rule also keeps every chunk's U~ ([batch.., padded T, V]).
  SmallVector<Value> passInits{statesInit};
  if (form.delta) {
    SmallVector<OpFoldResult> shape(batchShape);
    shape.push_back(lp);
    shape.push_back(b.getIndexAttr(V));
    passInits.push_back(tensor::EmptyOp::create(b, loc, shape, f32));
  }
  auto pass = scf::ForOp::create(b, loc, c0, items, c1, passInits);
  pass->setAttr("seq.parallel", b.getUnitAttr());
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(pass.getBody());
    SmallVector<Value> idx = decode(pass.getInductionVar());
    SmallVector<OpFoldResult> offsets(idx.begin(), idx.end()), sizes;
    sizes.assign(idx.size(), b.getIndexAttr(1));
    offsets.append({b.getIndexAttr(0), b.getIndexAttr(0)});
    sizes.append({b.getIndexAttr(K), b.getIndexAttr(V)});
    SmallVector<OpFoldResult> strides(sizes.size(), b.getIndexAttr(1));
    Value sStart = tensor::ExtractSliceOp::create(
        b, loc, RankedTensorType::get({K, V}, f32), s0, offsets, sizes,
        strides);
    SmallVector<Value> chunkInits{sStart};
    llvm::append_range(chunkInits, pass.getRegionIterArgs());
    auto chunks = scf::ForOp::create(b, loc, c0, nChunks, c1, chunkInits);
    {
      OpBuilder::InsertionGuard g2(b);
      b.setInsertionPointToStart(chunks.getBody());
      Value ch = chunks.getInductionVar();
      Value s = chunks.getRegionIterArgs()[0];
      Value st = putState(s, chunks.getRegionIterArgs()[1], idx, ch);
      Value t0 = arith::MulIOp::create(b, loc, ch, cIndex(b, loc, C));
      Value kTile = tile(kt, idx, b.getIndexAttr(0), t0, K, C); // [K, C]
      Value vTile = tile(vs, idx, t0, b.getIndexAttr(0), C, V); // [C, V]
      SmallVector<Value> kept{st};
      if (form.delta) {
        // U~ = U - W S (kept for the outputs), then S ← S + Kᵀ U~.
        Value ws = matmul(b, loc, tile(wAll, idx, t0, b.getIndexAttr(0), C, K),
                          s, zeros(b, loc, {C, V}));
        vTile = generic(
            b, loc, zeros(b, loc, {C, V}),
            ValueRange{tile(uAll, idx, t0, b.getIndexAttr(0), C, V), ws},
            {id2, id2, id2}, parallel(2),
            [](OpBuilder &nb2, Location l, ValueRange a) -> Value {
              return arith::SubFOp::create(nb2, l, a[0], a[1]);
            });
        kept.push_back(put(vTile, chunks.getRegionIterArgs()[2], idx, t0,
                           b.getIndexAttr(0)));
      }
      if (hasDecay) {
        auto decays = chunkDecays(idx, t0);
        Value cum = decays.first, sgn = decays.second;
        Value last = lastRow(cum);
        Value lastSgn = sgn ? lastRow(sgn) : Value();
        // k_j ⊙ Π_{r > j} g_r = k_j exp(b_last - b_j) (sign: σ_last σ_j):
        // the factors on [C, Kd] first (one exp per step and decay).
        Value toEnd = decayFactor(cum, sgn, last, lastSgn, /*rows=*/C);
        kTile = generic(b, loc, zeros(b, loc, {K, C}), ValueRange{kTile, toEnd},
                        {id2, rd(d1, d0), id2}, parallel(2),
                        [](OpBuilder &nb2, Location l, ValueRange a) -> Value {
                          return arith::MulFOp::create(nb2, l, a[0], a[1]);
                        });
        // S ⊙ Π g = S exp(b_last) (σ_last).
        Value total = decayFactor(last, lastSgn, Value(), Value(), /*rows=*/1);
        s = generic(b, loc, zeros(b, loc, {K, V}), ValueRange{s, total},
                    {id2, rd(zero, d0), id2}, parallel(2),
                    [](OpBuilder &nb2, Location l, ValueRange a) -> Value {
                      return arith::MulFOp::create(nb2, l, a[0], a[1]);
                    });
      }
      s = matmul(b, loc, kTile, vTile, s);
      SmallVector<Value> yields{s};
      llvm::append_range(yields, kept);
      scf::YieldOp::create(b, loc, yields);
    }
    SmallVector<Value> yields{
        putState(chunks.getResult(0), chunks.getResult(1), idx, nChunks)};
    if (form.delta)
      yields.push_back(chunks.getResult(2));
    scf::YieldOp::create(b, loc, yields);
  }
  Value states = pass.getResult(0);
  // The delta rule's outputs are those of linear attention over U~:
  // o_i = q_i S + Σ_{j ≤ i} (q_i · k_j) u~_j.
  if (form.delta)
    vs = pass.getResult(1);

  // 4. Outputs, parallel over (item, chunk).
  SmallVector<Value> outInits;
  for (size_t r = 0; r < form.readouts.size(); ++r) {
    SmallVector<OpFoldResult> shape(batchShape);
    shape.push_back(lp);
    shape.push_back(b.getIndexAttr(V));
    outInits.push_back(tensor::EmptyOp::create(b, loc, shape, f32));
  }
  Value work = arith::MulIOp::create(b, loc, items, nChunks);
  auto outLoop = scf::ForOp::create(b, loc, c0, work, c1, outInits);
  outLoop->setAttr("seq.parallel", b.getUnitAttr());
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(outLoop.getBody());
    Value u = outLoop.getInductionVar();
    Value ch = arith::RemUIOp::create(b, loc, u, nChunks);
    SmallVector<Value> idx =
        decode(arith::DivUIOp::create(b, loc, u, nChunks));
    Value t0 = arith::MulIOp::create(b, loc, ch, cIndex(b, loc, C));
    Value s = getState(states, idx, ch);
    Value kTile = tile(kt, idx, b.getIndexAttr(0), t0, K, C); // [K, C]
    Value vTile = tile(vs, idx, t0, b.getIndexAttr(0), C, V);
    auto decays = chunkDecays(idx, t0);
    Value cum = decays.first, sgn = decays.second;
    // Π_{r ≤ i} g_r = σ_i exp(b_i), once per chunk.
    Value fromStart =
        hasDecay ? decayFactor(cum, sgn, Value(), Value(), /*rows=*/C) : Value();
    SmallVector<Value> written;
    for (auto [r, q] : llvm::enumerate(qs)) {
      Value qTile = tile(q, idx, t0, b.getIndexAttr(0), C, K);
      // Inter-chunk: (q ⊙ Π_{r ≤ i} g_r) S_start.
      Value qd = qTile;
      if (hasDecay)
        qd = generic(b, loc, zeros(b, loc, {C, K}), ValueRange{qTile, fromStart},
                     {id2, rd(d0, d1), id2}, parallel(2),
                     [](OpBuilder &nb2, Location l, ValueRange a) -> Value {
                       return arith::MulFOp::create(nb2, l, a[0], a[1]);
                     });
      Value o = matmul(b, loc, qd, s, zeros(b, loc, {C, V}));
      // Intra-chunk scores, causal, with the decay between j and i.
      Value scores;
      auto causal = [](OpBuilder &nb2, Location l, Value i, Value j) {
        return arith::CmpIOp::create(nb2, l, arith::CmpIPredicate::ule, j, i);
      };
      if (form.decayPerKey) {
        // Σ_k q_ik k_jk σ_ik σ_jk exp(b_ik - b_jk). Where the chunk's total
        // log-decay is at least -120 on every key, as the matmul of
        // q exp(b_i - r) and k exp(r - b_j) with r = b_last / 2 (every
        // factor within e^±60); otherwise exactly per key.
        Value last = lastRow(cum);
        Value minInit = filled(b, loc, {}, INFINITY);
        Value minLast =
            linalg::ReduceOp::create(
                b, loc, ValueRange{last}, ValueRange{minInit},
                ArrayRef<int64_t>{0, 1},
                [](OpBuilder &nb2, Location l, ValueRange a) {
                  linalg::YieldOp::create(
                      nb2, l,
                      arith::MinimumFOp::create(nb2, l, a[0], a[1])
                          .getResult());
                })
                .getResult(0);
        Value fast = arith::CmpFOp::create(
            b, loc, arith::CmpFPredicate::OGE,
            tensor::ExtractOp::create(b, loc, minLast, ValueRange{}),
            cF32(b, loc, -120.0));
        auto pick = scf::IfOp::create(b, loc, TypeRange{RankedTensorType::get({C, C}, f32)}, fast,
                                      /*withElse=*/true);
        {
          OpBuilder::InsertionGuard g2(b);
          b.setInsertionPointToStart(&pick.getThenRegion().front());
          SmallVector<Value> qIns{qTile, cum, last};
          SmallVector<AffineMap> qMaps{id2, id2, rd(zero, d1)};
          SmallVector<Value> kIns{kTile, cum, last};
          SmallVector<AffineMap> kMaps{id2, rd(d1, d0), rd(zero, d0)};
          if (sgn) {
            qIns.push_back(sgn);
            qMaps.push_back(id2);
            kIns.push_back(sgn);
            kMaps.push_back(rd(d1, d0));
          }
          qMaps.push_back(id2);
          kMaps.push_back(id2);
          auto scaled = [&](bool isQuery) {
            return [&, isQuery](OpBuilder &nb2, Location l,
                                ValueRange a) -> Value {
              Value r = arith::MulFOp::create(nb2, l, a[2], cF32(nb2, l, 0.5));
              Value d = isQuery ? arith::SubFOp::create(nb2, l, a[1], r)
                                : arith::SubFOp::create(nb2, l, r, a[1]);
              Value x = arith::MulFOp::create(nb2, l, a[0],
                                              math::ExpOp::create(nb2, l, d));
              if (sgn)
                x = arith::MulFOp::create(nb2, l, x, a[3]);
              return x;
            };
          };
          Value qr = generic(b, loc, zeros(b, loc, {C, K}), qIns, qMaps,
                             parallel(2), scaled(true));
          Value kr = generic(b, loc, zeros(b, loc, {K, C}), kIns, kMaps,
                             parallel(2), scaled(false));
          Value a = matmul(b, loc, qr, kr, zeros(b, loc, {C, C}));
          a = generic(b, loc, zeros(b, loc, {C, C}), a, {id2, id2},
                      parallel(2),
                      [&](OpBuilder &nb2, Location l, ValueRange x) -> Value {
                        Value i = linalg::IndexOp::create(nb2, l, 0);
                        Value j = linalg::IndexOp::create(nb2, l, 1);
                        return arith::SelectOp::create(
                            nb2, l, causal(nb2, l, i, j), x[0],
                            cF32(nb2, l, 0.0));
                      });
          scf::YieldOp::create(b, loc, a);
        }
        OpBuilder::InsertionGuard g2(b);
        b.setInsertionPointToStart(&pick.getElseRegion().front());
        // Σ_k q_ik k_jk σ_ik σ_jk exp(b_ik - b_jk), exactly per key.
        auto m3 = [&](ArrayRef<unsigned> dims) { return dim(3, dims); };
        SmallVector<Value> ins{qTile, kTile, cum, cum};
        SmallVector<AffineMap> maps{m3({0, 2}), m3({2, 1}), m3({0, 2}),
                                    m3({1, 2})};
        if (sgn) {
          ins.append({sgn, sgn});
          maps.append({m3({0, 2}), m3({1, 2})});
        }
        maps.push_back(m3({0, 1}));
        SmallVector<utils::IteratorType> it = parallel(2);
        it.push_back(utils::IteratorType::reduction);
        scores = generic(
            b, loc, zeros(b, loc, {C, C}), ins, maps, it,
            [&](OpBuilder &nb2, Location l, ValueRange a) -> Value {
              Value i = linalg::IndexOp::create(nb2, l, 0);
              Value j = linalg::IndexOp::create(nb2, l, 1);
              Value ok = causal(nb2, l, i, j);
              Value d = arith::SubFOp::create(nb2, l, a[2], a[3]);
              d = arith::SelectOp::create(nb2, l, ok, d, cF32(nb2, l, 0.0));
              Value x = arith::MulFOp::create(nb2, l, a[0], a[1]);
              x = arith::MulFOp::create(nb2, l, x,
                                        math::ExpOp::create(nb2, l, d));
              if (sgn)
                x = arith::MulFOp::create(
                    nb2, l, x, arith::MulFOp::create(nb2, l, a[4], a[5]));
              x = arith::SelectOp::create(nb2, l, ok, x, cF32(nb2, l, 0.0));
              return arith::AddFOp::create(nb2, l, a.back(), x);
            });
        scf::YieldOp::create(b, loc, scores);
        scores = pick.getResult(0);
      } else {
        scores = maskedDecay(
            matmul(b, loc, qTile, kTile, zeros(b, loc, {C, C})), cum, sgn,
            /*strictly=*/false);
      }
      o = matmul(b, loc, scores, vTile, o);
      written.push_back(
          put(o, outLoop.getRegionIterArgs()[r], idx, t0, b.getIndexAttr(0)));
    }
    scf::YieldOp::create(b, loc, written);
  }

  SmallVector<Value> outs(outLoop.getResults());
  // The final state: the one after the last chunk.
  SmallVector<OpFoldResult> offsets(nb(), b.getIndexAttr(0)), sizes;
  sizes.append(batchShape.begin(), batchShape.end());
  offsets.append({nChunks, b.getIndexAttr(0), b.getIndexAttr(0)});
  sizes.append({b.getIndexAttr(1), b.getIndexAttr(K), b.getIndexAttr(V)});
  SmallVector<OpFoldResult> strides(sizes.size(), b.getIndexAttr(1));
  SmallVector<int64_t> shape;
  for (unsigned d : form.batch)
    shape.push_back(stateType.getDimSize(d));
  shape.append({K, V});
  Value last =
      tensor::ExtractSliceOp::create(b, loc, RankedTensorType::get(shape, f32),
                                     states, offsets, sizes, strides);
  finish(padded, last, outs);
}

std::pair<Value, SmallVector<Value>> Rewriter::batchedChunks(const Padded &p) {
  // Items (the batch positions, flattened) I, chunks N, steps a chunk C:
  // every tensor is [I, N, C, X] (k too), reshaped in place.
  const int64_t K = p.K, V = p.V;
  const bool hasDecay = (bool)p.lgs, signs = (bool)p.negs;
  const unsigned nbatch = nb();
  int64_t itemsStatic = 1;
  Value items = cIndex(b, loc, 1);
  for (OpFoldResult s : p.batchShape) {
    std::optional<int64_t> c = getConstantIntValue(s);
    itemsStatic = c && itemsStatic != ShapedType::kDynamic
                      ? itemsStatic * *c
                      : ShapedType::kDynamic;
    items = arith::MulIOp::create(b, loc, items,
                                  getValueOrCreateConstantIndexOp(b, loc, s));
  }
  OpFoldResult I = itemsStatic == ShapedType::kDynamic
                       ? OpFoldResult(items)
                       : OpFoldResult(b.getIndexAttr(itemsStatic));
  OpFoldResult N = p.nChunks, Cs = b.getIndexAttr(C);
  auto typeOf = [&](ArrayRef<OpFoldResult> sizes) {
    SmallVector<int64_t> shape;
    for (OpFoldResult s : sizes)
      shape.push_back(getConstantIntValue(s).value_or(ShapedType::kDynamic));
    return RankedTensorType::get(shape, f32);
  };
  // The groups of a reshape between [batch.., rest] and [I, rest] (two
  // batch dims or more).
  auto itemGroups = [&](unsigned rest) {
    SmallVector<ReassociationIndices> groups(1);
    for (int64_t i = 0; i < nbatch; ++i)
      groups[0].push_back(i);
    for (int64_t i = 0; i < rest; ++i)
      groups.push_back({nbatch + i});
    return groups;
  };
  // [batch.., A, B] -> [I, A, B].
  auto toItems = [&](Value x) -> Value {
    if (nbatch == 1)
      return x;
    SmallVector<OpFoldResult> sizes{I};
    SmallVector<OpFoldResult> all = tensor::getMixedSizes(b, loc, x);
    sizes.append(all.end() - 2, all.end());
    if (nbatch == 0) {
      SmallVector<ReassociationIndices> groups{{0, 1}, {2}};
      return tensor::ExpandShapeOp::create(b, loc, typeOf(sizes), x, groups,
                                           sizes);
    }
    return tensor::CollapseShapeOp::create(b, loc, typeOf(sizes), x,
                                           itemGroups(2));
  };
  // [I, rest..] -> [batch.., rest..].
  auto fromItems = [&](Value x) -> Value {
    auto type = llvm::cast<RankedTensorType>(x.getType());
    unsigned rest = type.getRank() - 1;
    if (nbatch == 1)
      return x;
    SmallVector<OpFoldResult> all = tensor::getMixedSizes(b, loc, x);
    SmallVector<OpFoldResult> sizes(p.batchShape);
    sizes.append(all.begin() + 1, all.end());
    if (nbatch == 0) {
      SmallVector<ReassociationIndices> groups{{0, 1}};
      for (unsigned i = 2; i <= rest; ++i)
        groups.push_back({(int64_t)i});
      return tensor::CollapseShapeOp::create(b, loc, typeOf(sizes), x, groups);
    }
    return tensor::ExpandShapeOp::create(b, loc, typeOf(sizes), x,
                                         itemGroups(rest), sizes);
  };
  // [I, .., padded T (at `axis`), ..] -> [I, .., N, C, ..].
  auto splitTime = [&](Value x, unsigned axis) -> Value {
    x = toItems(x);
    SmallVector<OpFoldResult> all = tensor::getMixedSizes(b, loc, x), sizes;
    SmallVector<ReassociationIndices> groups;
    for (int64_t i = 0, j = 0; i < (int64_t)all.size(); ++i) {
      if (i == axis) {
        sizes.append({N, Cs});
        groups.push_back({j, j + 1});
        j += 2;
        continue;
      }
      sizes.push_back(all[i]);
      groups.push_back({j++});
    }
    return tensor::ExpandShapeOp::create(b, loc, typeOf(sizes), x, groups,
                                         sizes);
  };
  // A fresh tensor (an alloc_tensor: see `filled`), filled with `v`.
  auto alloc = [&](ArrayRef<OpFoldResult> sizes) -> Value {
    SmallVector<Value> dynamic;
    for (OpFoldResult s : sizes)
      if (auto d = llvm::dyn_cast<Value>(s))
        dynamic.push_back(d);
    return bufferization::AllocTensorOp::create(b, loc, typeOf(sizes), dynamic);
  };
  auto fresh = [&](ArrayRef<OpFoldResult> sizes, float v) -> Value {
    return linalg::FillOp::create(b, loc, cF32(b, loc, v), alloc(sizes))
        .getResult(0);
  };
  auto map = [&](unsigned n, ArrayRef<AffineExpr> exprs) {
    return AffineMap::get(n, 0, exprs, ctx);
  };
  auto d = [&](unsigned i) { return b.getAffineDimExpr(i); };
  AffineExpr zero = getAffineConstantExpr(0, ctx);
  AffineExpr lastStep = getAffineConstantExpr(C - 1, ctx);
  using utils::IteratorType;
  auto iterators = [](unsigned parallelLoops, bool reduction) {
    SmallVector<IteratorType> it(parallelLoops, IteratorType::parallel);
    if (reduction)
      it.push_back(IteratorType::reduction);
    return it;
  };
  // Σ over the last loop of the product of the two inputs, into `acc`: a
  // contraction, which the GPU tiles in shared memory.
  auto contract = [&](Value x, Value y, Value acc, ArrayRef<AffineMap> maps) {
    unsigned n = maps[0].getNumDims();
    return generic(b, loc, acc, ValueRange{x, y}, maps, iterators(n - 1, true),
                   [](OpBuilder &nb2, Location l, ValueRange a) -> Value {
                     Value m = arith::MulFOp::create(nb2, l, a[0], a[1]);
                     return arith::AddFOp::create(nb2, l, a[2], m);
                   });
  };

  Value kt = splitTime(p.kt, 1), vs = splitTime(p.vs, 1);
  // The chunks' cumulative log-decays b [I, N, C] (one decay per item and
  // step) and, with signs, their products' signs σ: sums over the steps
  // up to each.
  Value cum, sgn;
  auto prefixSum = [&](Value x) {
    return generic(
        b, loc, fresh({I, N, Cs}, 0.0f), splitTime(x, 1),
        {map(4, {d(0), d(1), d(3), zero}), map(4, {d(0), d(1), d(2)})},
        iterators(3, true),
        [](OpBuilder &nb2, Location l, ValueRange a) -> Value {
          Value i = linalg::IndexOp::create(nb2, l, 2);
          Value j = linalg::IndexOp::create(nb2, l, 3);
          Value in =
              arith::CmpIOp::create(nb2, l, arith::CmpIPredicate::ule, j, i);
          Value sum = arith::AddFOp::create(nb2, l, a[1], a[0]);
          return arith::SelectOp::create(nb2, l, in, sum, a[1]);
        });
  };
  const bool perKey = form.decayPerKey;
  OpFoldResult Ks = b.getIndexAttr(K), Vs = b.getIndexAttr(V);
  Value c0 = cIndex(b, loc, 0), c1 = cIndex(b, loc, 1);
  if (hasDecay && perKey) {
    // A decay per key: b [I, N, C, K], a task per (item, chunk, key)
    // walking the chunk's steps (a masked sum over the steps, as for one
    // decay per item, would read each log-decay C times: 4.3 G reads at
    // B8 H16 T4096 K128).
    Value lg = splitTime(p.lgs, 1);
    Value tasksK = arith::MulIOp::create(
        b, loc,
        arith::MulIOp::create(b, loc, items,
                              getValueOrCreateConstantIndexOp(b, loc, N)),
        cIndex(b, loc, K));
    auto prefix = scf::ForOp::create(b, loc, c0, tasksK, c1,
                                     ValueRange{alloc({I, N, Cs, Ks})});
    prefix->setAttr(kParallelAttr, b.getUnitAttr());
    cum = prefix.getResult(0);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(prefix.getBody());
    SmallVector<Value> at = delinearize(
        b, loc, prefix.getInductionVar(),
        {items, getValueOrCreateConstantIndexOp(b, loc, N), cIndex(b, loc, K)},
        /*wrap=*/false);
    auto steps = scf::ForOp::create(
        b, loc, c0, cIndex(b, loc, C), c1,
        ValueRange{cF32(b, loc, 0.0f), prefix.getRegionIterArgs()[0]});
    {
      OpBuilder::InsertionGuard g2(b);
      b.setInsertionPointToStart(steps.getBody());
      Value c = steps.getInductionVar();
      Value sum = arith::AddFOp::create(
          b, loc, steps.getRegionIterArgs()[0],
          tensor::ExtractOp::create(b, loc, lg,
                                    ValueRange{at[0], at[1], c, at[2]}));
      Value out =
          tensor::InsertOp::create(b, loc, sum, steps.getRegionIterArgs()[1],
                                   ValueRange{at[0], at[1], c, at[2]});
      scf::YieldOp::create(b, loc, ValueRange{sum, out});
    }
    scf::YieldOp::create(b, loc, steps.getResult(1));
  } else if (hasDecay) {
    cum = prefixSum(p.lgs);
    if (signs)
      sgn =
          generic(b, loc, fresh({I, N, Cs}, 0.0f), prefixSum(p.negs),
                  {map(3, {d(0), d(1), d(2)}), map(3, {d(0), d(1), d(2)})},
                  iterators(3, false),
                  [](OpBuilder &nb2, Location l, ValueRange a) -> Value {
                    // 1 - 4 frac(count / 2).
                    Value half =
                        arith::MulFOp::create(nb2, l, a[0], cF32(nb2, l, 0.5));
                    Value odd = arith::SubFOp::create(
                        nb2, l, half, math::FloorOp::create(nb2, l, half));
                    return arith::SubFOp::create(
                        nb2, l, cF32(nb2, l, 1.0),
                        arith::MulFOp::create(nb2, l, odd, cF32(nb2, l, 4.0)));
                  });
  }
  // `x` [I, N, C, X] times exp(b - r) (`fromStart`) or exp(r - b),
  // r = `refFrac` b_C: b the step's cumulative log-decay (the key's where
  // the decay is per key), b_C the chunk's last; with signs, times σ of
  // the step (and σ_C where r is b_C). exp(b) is the decay from the
  // chunk's start, exp(b_C - b) the decay to its end. Negated where
  // `negate`.
  auto scaled = [&](Value x, bool fromStart, double refFrac,
                    bool negate) -> Value {
    AffineMap id4 = AffineMap::getMultiDimIdentityMap(4, ctx);
    AffineMap atStep = perKey ? id4 : map(4, {d(0), d(1), d(2)});
    AffineMap atLast = perKey ? map(4, {d(0), d(1), lastStep, d(3)})
                              : map(4, {d(0), d(1), lastStep});
    // Inputs: x, b, then b_C where r needs it, σ, then σ_C where r is b_C.
    SmallVector<Value> ins{x};
    SmallVector<AffineMap> maps{id4};
    bool decay = hasDecay, withLast = hasDecay && refFrac != 0.0,
         hasSigns = (bool)sgn, signLast = hasSigns && refFrac == 1.0;
    if (decay) {
      ins.push_back(cum);
      maps.push_back(atStep);
      if (withLast) {
        ins.push_back(cum);
        maps.push_back(atLast);
      }
      if (hasSigns) {
        ins.push_back(sgn);
        maps.push_back(atStep);
      }
      if (signLast) {
        ins.push_back(sgn);
        maps.push_back(atLast);
      }
    }
    maps.push_back(id4);
    return generic(
        b, loc, fresh({I, N, Cs, Ks}, 0.0f), ins, maps, iterators(4, false),
        [=](OpBuilder &nb2, Location l, ValueRange a) -> Value {
          Value y = a[0];
          if (decay) {
            Value step = a[1];
            Value e = step;
            if (withLast) {
              Value r = refFrac == 1.0
                            ? a[2]
                            : arith::MulFOp::create(nb2, l, a[2],
                                                    cF32(nb2, l, refFrac));
              e = fromStart ? arith::SubFOp::create(nb2, l, step, r)
                            : arith::SubFOp::create(nb2, l, r, step);
            }
            y = arith::MulFOp::create(nb2, l, y,
                                      math::ExpOp::create(nb2, l, e));
            unsigned at = withLast ? 3 : 2;
            if (hasSigns)
              y = arith::MulFOp::create(
                  nb2, l, y,
                  signLast ? arith::MulFOp::create(nb2, l, a[at + 1], a[at])
                           : a[at]);
          }
          return negate ? arith::NegFOp::create(nb2, l, y).getResult() : y;
        });
  };

  // `x` [I, N, C, C] masked causally (j <= i; j < i where `strictly`) and,
  // where `decay` (one per item), times the decay from step j to step i,
  // σ_i σ_j exp(b_i - b_j).
  auto causal = [&](Value x, bool strictly, bool decay) -> Value {
    SmallVector<Value> ins;
    SmallVector<AffineMap> maps;
    bool hasSigns = decay && sgn;
    if (decay) {
      AffineMap atI = map(4, {d(0), d(1), d(2)});
      AffineMap atJ = map(4, {d(0), d(1), d(3)});
      ins.append({cum, cum});
      maps.append({atI, atJ});
      if (hasSigns) {
        ins.append({sgn, sgn});
        maps.append({atI, atJ});
      }
    }
    maps.push_back(AffineMap::getMultiDimIdentityMap(4, ctx));
    return generic(b, loc, x, ins, maps, iterators(4, false),
                   [=](OpBuilder &nb2, Location l, ValueRange a) -> Value {
                     Value i = linalg::IndexOp::create(nb2, l, 2);
                     Value j = linalg::IndexOp::create(nb2, l, 3);
                     return causalDecayed(
                         nb2, l, i, j, strictly, a.back(),
                         decay ? a[0] : Value(), decay ? a[1] : Value(),
                         hasSigns ? a[2] : Value(), hasSigns ? a[3] : Value());
                   });
  };
  // 3. The chunks' own updates U = (k ⊙ decay to the chunk's end)ᵀ v [I,
  // N, K, V], all at once; then the state pass: a task per state element
  // (item, key, value) walking the chunks, S ← σ exp(b_C) S + U, keeping
  // the state at each chunk start.
  Value kToEnd = hasDecay ? scaled(kt, /*fromStart=*/false, 1.0, false) : kt;
  Value updates;
  if (!form.delta)
    updates = contract(kToEnd, vs, fresh({I, N, Ks, Vs}, 0.0f),
                       {map(5, {d(0), d(1), d(4), d(2)}),
                        map(5, {d(0), d(1), d(4), d(3)}),
                        map(5, {d(0), d(1), d(2), d(3)})});
  // σ exp(b_C) [I, N] (a decay per key: [I, N, K]): the state's decay
  // over a chunk.
  Value total;
  if (hasDecay && perKey) {
    total = generic(
        b, loc, fresh({I, N, Ks}, 0.0f), ValueRange{cum},
        {map(3, {d(0), d(1), lastStep, d(2)}), map(3, {d(0), d(1), d(2)})},
        iterators(3, false),
        [](OpBuilder &nb2, Location l, ValueRange a) -> Value {
          return math::ExpOp::create(nb2, l, a[0]);
        });
  } else if (hasDecay) {
    SmallVector<Value> ins{cum};
    SmallVector<AffineMap> maps{map(2, {d(0), d(1), lastStep})};
    if (sgn) {
      ins.push_back(sgn);
      maps.push_back(maps[0]);
    }
    maps.push_back(map(2, {d(0), d(1)}));
    bool hasSigns = (bool)sgn;
    total = generic(
        b, loc, fresh({I, N}, 0.0f), ins, maps, iterators(2, false),
        [=](OpBuilder &nb2, Location l, ValueRange a) -> Value {
          Value e = math::ExpOp::create(nb2, l, a[0]);
          return hasSigns ? arith::MulFOp::create(nb2, l, e, a[1]).getResult()
                          : e;
        });
  }
  Value s0 = toItems(p.s0);
  // The states at the chunks' starts, after the last chunk, and the values
  // the outputs read (the delta rule: U~).
  Value starts, last, vOut = vs;
  if (form.delta) {
    // The delta rule in the WY form: per chunk A = strictly-lower(β B Kᵀ)
    // (decayed between steps), T = (I + A)⁻¹, W = T (β B ⊙ decay from the
    // chunk's start), U = T β V; then, chunk by chunk (a loop on the host,
    // every item at once), U~ = U - W S, S ← decay S + (K ⊙ decay to the
    // end)ᵀ U~; the outputs read U~ where linear attention reads v.
    Value bsT = splitTime(p.bs, 1);
    Value a = causal(contract(bsT, kt, fresh({I, N, Cs, Cs}, 0.0f),
                              {map(5, {d(0), d(1), d(2), d(4)}),
                               map(5, {d(0), d(1), d(3), d(4)}),
                               map(5, {d(0), d(1), d(2), d(3)})}),
                     /*strictly=*/true, hasDecay);
    // T = (I + A)⁻¹ by forward substitution, a task per (item, chunk,
    // column j): row r of column j is δ_rj - Σ_{l < r} A_rl T_lj.
    Value nV = getValueOrCreateConstantIndexOp(b, loc, N),
          cC = cIndex(b, loc, C);
    Value tasksT = arith::MulIOp::create(
        b, loc, arith::MulIOp::create(b, loc, items, nV), cC);
    auto solve = scf::ForOp::create(b, loc, c0, tasksT, c1,
                                    ValueRange{alloc({I, N, Cs, Cs})});
    solve->setAttr(kParallelAttr, b.getUnitAttr());
    {
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(solve.getBody());
      SmallVector<Value> at = delinearize(b, loc, solve.getInductionVar(),
                                          {items, nV, cC}, /*wrap=*/false);
      Value item = at[0], ch = at[1], j = at[2];
      auto rows = scf::ForOp::create(b, loc, c0, cC, c1,
                                     ValueRange{solve.getRegionIterArgs()[0]});
      {
        OpBuilder::InsertionGuard g2(b);
        b.setInsertionPointToStart(rows.getBody());
        Value r = rows.getInductionVar(), t = rows.getRegionIterArgs()[0];
        auto sum = scf::ForOp::create(b, loc, c0, r, c1,
                                      ValueRange{cF32(b, loc, 0.0f)});
        {
          OpBuilder::InsertionGuard g3(b);
          b.setInsertionPointToStart(sum.getBody());
          Value l = sum.getInductionVar();
          Value x = arith::MulFOp::create(
              b, loc,
              tensor::ExtractOp::create(b, loc, a, ValueRange{item, ch, r, l}),
              tensor::ExtractOp::create(b, loc, t, ValueRange{item, ch, l, j}));
          scf::YieldOp::create(
              b, loc,
              arith::AddFOp::create(b, loc, sum.getRegionIterArgs()[0], x)
                  .getResult());
        }
        Value one = arith::SelectOp::create(
            b, loc,
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, r, j),
            cF32(b, loc, 1.0f), cF32(b, loc, 0.0f));
        Value v = arith::SubFOp::create(b, loc, one, sum.getResult(0));
        scf::YieldOp::create(
            b, loc,
            tensor::InsertOp::create(b, loc, v, t, ValueRange{item, ch, r, j})
                .getResult());
      }
      scf::YieldOp::create(b, loc, rows.getResult(0));
    }
    Value tInv = solve.getResult(0);
    // -(β B ⊙ σ exp(b)), so that U~ = U + (-W) S is a contraction.
    Value bd = scaled(bsT, /*fromStart=*/true, 0.0, /*negate=*/true);
    auto byT = [&](Value x, OpFoldResult width) {
      return contract(tInv, x, fresh({I, N, Cs, width}, 0.0f),
                      {map(5, {d(0), d(1), d(2), d(4)}),
                       map(5, {d(0), d(1), d(4), d(3)}),
                       map(5, {d(0), d(1), d(2), d(3)})});
    };
    Value wNeg = byT(bd, Ks), uAll = byT(vs, Vs);
    // Chunk by chunk on the host, every item at once.
    auto pass = scf::ForOp::create(b, loc, c0, p.nChunks, c1,
                                   ValueRange{s0, alloc({I, N, Ks, Vs}), uAll});
    {
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(pass.getBody());
      Value ch = pass.getInductionVar();
      Value st = pass.getRegionIterArgs()[0];
      // [I, N, R, X] at chunk ch -> [I, R, X], and back.
      auto slice = [&](Value x, OpFoldResult rows,
                       OpFoldResult width) -> Value {
        return tensor::ExtractSliceOp::create(
            b, loc, typeOf({I, rows, width}), x,
            ArrayRef<OpFoldResult>{b.getIndexAttr(0), ch, b.getIndexAttr(0),
                                   b.getIndexAttr(0)},
            ArrayRef<OpFoldResult>{I, b.getIndexAttr(1), rows, width},
            ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1),
                                   b.getIndexAttr(1), b.getIndexAttr(1)});
      };
      auto put = [&](Value x, Value dst, OpFoldResult rows,
                     OpFoldResult width) -> Value {
        return tensor::InsertSliceOp::create(
            b, loc, x, dst,
            ArrayRef<OpFoldResult>{b.getIndexAttr(0), ch, b.getIndexAttr(0),
                                   b.getIndexAttr(0)},
            ArrayRef<OpFoldResult>{I, b.getIndexAttr(1), rows, width},
            ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1),
                                   b.getIndexAttr(1), b.getIndexAttr(1)});
      };
      Value startsAcc = put(st, pass.getRegionIterArgs()[1], Ks, Vs);
      // U~ = U + (-W) S [I, C, V], in U's place.
      Value uIn = pass.getRegionIterArgs()[2];
      Value ut =
          contract(slice(wNeg, Cs, Ks), st, slice(uIn, Cs, Vs),
                   {map(4, {d(0), d(1), d(3)}), map(4, {d(0), d(3), d(2)}),
                    map(4, {d(0), d(1), d(2)})});
      Value utAcc = put(ut, uIn, Cs, Vs);
      // S ← σ exp(b_C) S + (K ⊙ decay to the end)ᵀ U~, in S's place.
      Value next = st;
      if (total) {
        Value decay = tensor::ExtractSliceOp::create(
            b, loc, typeOf({I}), total,
            ArrayRef<OpFoldResult>{b.getIndexAttr(0), ch},
            ArrayRef<OpFoldResult>{I, b.getIndexAttr(1)},
            ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1)});
        next = generic(b, loc, st, ValueRange{decay},
                       {map(3, {d(0)}), map(3, {d(0), d(1), d(2)})},
                       iterators(3, false),
                       [](OpBuilder &nb2, Location l, ValueRange x) -> Value {
                         return arith::MulFOp::create(nb2, l, x[1], x[0]);
                       });
      }
      next = contract(slice(kToEnd, Cs, Ks), ut, next,
                      {map(4, {d(0), d(3), d(1)}), map(4, {d(0), d(3), d(2)}),
                       map(4, {d(0), d(1), d(2)})});
      scf::YieldOp::create(b, loc, ValueRange{next, startsAcc, utAcc});
    }
    last = pass.getResult(0);
    starts = pass.getResult(1);
    vOut = pass.getResult(2);
  } else {
    Value kv = cIndex(b, loc, K * V);
    Value tasks = arith::MulIOp::create(b, loc, items, kv);
    auto pass = scf::ForOp::create(
        b, loc, c0, tasks, c1,
        ValueRange{alloc({I, N, Ks, Vs}), alloc({I, Ks, Vs})});
    pass->setAttr(kParallelAttr, b.getUnitAttr());
    {
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(pass.getBody());
      SmallVector<Value> at =
          delinearize(b, loc, pass.getInductionVar(),
                      {items, cIndex(b, loc, K), cIndex(b, loc, V)},
                      /*wrap=*/false);
      Value item = at[0], k = at[1], v = at[2];
      Value h0 = tensor::ExtractOp::create(b, loc, s0, ValueRange{item, k, v});
      auto chunks =
          scf::ForOp::create(b, loc, c0, p.nChunks, c1,
                             ValueRange{h0, pass.getRegionIterArgs()[0]});
      {
        OpBuilder::InsertionGuard g2(b);
        b.setInsertionPointToStart(chunks.getBody());
        Value ch = chunks.getInductionVar();
        Value h = chunks.getRegionIterArgs()[0];
        Value st =
            tensor::InsertOp::create(b, loc, h, chunks.getRegionIterArgs()[1],
                                     ValueRange{item, ch, k, v});
        Value u = tensor::ExtractOp::create(b, loc, updates,
                                            ValueRange{item, ch, k, v});
        if (total) {
          SmallVector<Value> at{item, ch};
          if (perKey)
            at.push_back(k);
          h = arith::MulFOp::create(
              b, loc, tensor::ExtractOp::create(b, loc, total, at), h);
        }
        h = arith::AddFOp::create(b, loc, h, u);
        scf::YieldOp::create(b, loc, ValueRange{h, st});
      }
      Value last = tensor::InsertOp::create(b, loc, chunks.getResult(0),
                                            pass.getRegionIterArgs()[1],
                                            ValueRange{item, k, v});
      scf::YieldOp::create(b, loc, ValueRange{chunks.getResult(1), last});
    }
    // The states at the chunks' starts, and after the last chunk.
    starts = pass.getResult(0);
    last = pass.getResult(1);
  }

  // A decay per key: the chunks whose total log-decay is below -120 on
  // some key (where the scores' factors would leave f32) get their scores
  // exactly, Σ_k q_ik k_jk exp(b_ik - b_jk) for j <= i, a task per score;
  // in the other chunks a task only reads the chunk's least total.
  Value minLast;
  if (hasDecay && perKey)
    minLast =
        generic(b, loc, fresh({I, N}, INFINITY), ValueRange{cum},
                {map(3, {d(0), d(1), lastStep, d(2)}), map(3, {d(0), d(1)})},
                iterators(2, true),
                [](OpBuilder &nb2, Location l, ValueRange a) -> Value {
                  return arith::MinimumFOp::create(nb2, l, a[0], a[1]);
                });
  auto exactKeyScores = [&](Value scores, Value q, Value kt) -> Value {
    Value nV = getValueOrCreateConstantIndexOp(b, loc, N),
          cC = cIndex(b, loc, C);
    Value tasks =
        arith::MulIOp::create(b, loc, arith::MulIOp::create(b, loc, items, nV),
                              cIndex(b, loc, C * C));
    auto loop = scf::ForOp::create(b, loc, c0, tasks, c1, ValueRange{scores});
    loop->setAttr(kParallelAttr, b.getUnitAttr());
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(loop.getBody());
    SmallVector<Value> at = delinearize(b, loc, loop.getInductionVar(),
                                        {items, nV, cC, cC}, /*wrap=*/false);
    Value item = at[0], ch = at[1], i = at[2], j = at[3];
    Value acc = loop.getRegionIterArgs()[0];
    Value bad = arith::CmpFOp::create(
        b, loc, arith::CmpFPredicate::OLT,
        tensor::ExtractOp::create(b, loc, minLast, ValueRange{item, ch}),
        cF32(b, loc, -120.0f));
    auto fix = scf::IfOp::create(b, loc, TypeRange{scores.getType()}, bad,
                                 /*withElse=*/true);
    {
      OpBuilder::InsertionGuard g2(b);
      b.setInsertionPointToStart(&fix.getThenRegion().front());
      Value ok = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ule, j, i);
      auto keys = scf::ForOp::create(b, loc, c0, cIndex(b, loc, K), c1,
                                     ValueRange{cF32(b, loc, 0.0f)});
      {
        OpBuilder::InsertionGuard g3(b);
        b.setInsertionPointToStart(keys.getBody());
        Value k = keys.getInductionVar();
        auto get = [&](Value t, ValueRange idx) -> Value {
          return tensor::ExtractOp::create(b, loc, t, idx);
        };
        Value dlt = arith::SubFOp::create(b, loc, get(cum, {item, ch, i, k}),
                                          get(cum, {item, ch, j, k}));
        dlt = arith::SelectOp::create(b, loc, ok, dlt, cF32(b, loc, 0.0f));
        Value x = arith::MulFOp::create(b, loc, get(q, {item, ch, i, k}),
                                        get(kt, {item, ch, j, k}));
        x = arith::MulFOp::create(b, loc, x, math::ExpOp::create(b, loc, dlt));
        scf::YieldOp::create(
            b, loc,
            arith::AddFOp::create(b, loc, keys.getRegionIterArgs()[0], x)
                .getResult());
      }
      Value v = arith::SelectOp::create(b, loc, ok, keys.getResult(0),
                                        cF32(b, loc, 0.0f));
      scf::YieldOp::create(
          b, loc,
          tensor::InsertOp::create(b, loc, v, acc, ValueRange{item, ch, i, j})
              .getResult());
    }
    {
      OpBuilder::InsertionGuard g2(b);
      b.setInsertionPointToStart(&fix.getElseRegion().front());
      scf::YieldOp::create(b, loc, acc);
    }
    scf::YieldOp::create(b, loc, fix.getResult(0));
    return loop.getResult(0);
  };

  // 4. Outputs: (q ⊙ σ exp(b)) S_start + (q kᵀ ⊙ D) v, every chunk at once.
  SmallVector<Value> outs;
  for (Value q : p.qs) {
    q = splitTime(q, 1);
    // σ_i exp(b_i) = the decay from the chunk's start (b = 0, σ = 1).
    Value qd = hasDecay ? scaled(q, /*fromStart=*/true, 0.0, false) : q;
    Value o = contract(qd, starts, fresh({I, N, Cs, Vs}, 0.0f),
                       {map(5, {d(0), d(1), d(2), d(4)}),
                        map(5, {d(0), d(1), d(4), d(3)}),
                        map(5, {d(0), d(1), d(2), d(3)})});
    // A decay per key: Σ_k q_ik k_jk exp(b_ik - b_jk) as the contraction
    // of q exp(b - r) and k exp(r - b) with r = b_C / 2 per key (each
    // factor within e^±60 where b_C >= -120; chunks with a key below are
    // recomputed exactly after).
    Value sq = q, sk = kt;
    if (hasDecay && perKey) {
      sq = scaled(q, /*fromStart=*/true, 0.5, false);
      sk = scaled(kt, /*fromStart=*/false, 0.5, false);
    }
    Value scores = contract(sq, sk, fresh({I, N, Cs, Cs}, 0.0f),
                            {map(5, {d(0), d(1), d(2), d(4)}),
                             map(5, {d(0), d(1), d(3), d(4)}),
                             map(5, {d(0), d(1), d(2), d(3)})});
    // Causal, with the decay from step j to step i: scores ⊙ D.
    scores = causal(scores, /*strictly=*/false, hasDecay && !perKey);
    if (hasDecay && perKey)
      scores = exactKeyScores(scores, q, kt);
    o = contract(scores, vOut, o,
                 {map(5, {d(0), d(1), d(2), d(4)}),
                  map(5, {d(0), d(1), d(4), d(3)}),
                  map(5, {d(0), d(1), d(2), d(3)})});
    // [I, N, C, V] -> [batch.., padded T, V].
    SmallVector<OpFoldResult> flat{I, p.lp, Vs};
    SmallVector<ReassociationIndices> groups{{0}, {1, 2}, {3}};
    o = tensor::CollapseShapeOp::create(b, loc, typeOf(flat), o, groups);
    outs.push_back(fromItems(o));
  }
  return {fromItems(last), outs};
}

void Rewriter::finish(const Padded &p, Value last, ArrayRef<Value> outs) {
  seq::ScanOp scan = analysis.getScan();
  Value init = scan.getInits()[0];
  auto stateType = llvm::cast<RankedTensorType>(init.getType());
  Value len = scan.getLength();
  const int64_t V = p.V;
  ArrayRef<OpFoldResult> batchShape = p.batchShape;
  ArrayRef<unsigned> stateFromCanon = p.stateFromCanon;
  unsigned n = nb() + 2;
  seq::ScanOp steps = p.steps;
  // 5. Results in the scan's layouts.
  SmallVector<Value> results(scan.getNumResults());
  {
    // State dim d reads canonical position stateFromCanon[d].
    unsigned r = form.rank;
    results[0] = generic(
        b, loc,
        tensor::EmptyOp::create(b, loc, tensor::getMixedSizes(b, loc, init),
                                f32),
        last,
        {dim(r, [&] {
           SmallVector<unsigned> v(n);
           for (unsigned d = 0; d < r; ++d)
             v[stateFromCanon[d]] = d;
           return v;
         }()),
         AffineMap::getMultiDimIdentityMap(r, ctx)},
        parallel(r), [](OpBuilder &, Location, ValueRange a) { return a[0]; });
  }
  for (auto [r, ro] : llvm::enumerate(form.readouts)) {
    Value out = outs[r];
    // [batch.., L, V] without the padding.
    SmallVector<OpFoldResult> offsets(nb() + 2, b.getIndexAttr(0)), sizes;
    sizes.append(batchShape.begin(), batchShape.end());
    // A constant length as an attribute: the slice's type is then static
    // in time, as the scan's outputs are.
    sizes.append({getAsOpFoldResult(len), b.getIndexAttr(V)});
    SmallVector<OpFoldResult> strides(sizes.size(), b.getIndexAttr(1));
    SmallVector<int64_t> shape;
    for (unsigned d : form.batch)
      shape.push_back(stateType.getDimSize(d));
    int64_t t = ShapedType::kDynamic;
    if (std::optional<int64_t> c = getConstantIntValue(len))
      t = *c;
    shape.append({t, V});
    out = tensor::ExtractSliceOp::create(b, loc,
                                         RankedTensorType::get(shape, f32),
                                         out, offsets, sizes, strides);
    Value stacked = scan.getStackedOutputs()[ro.output];
    auto outType = llvm::cast<RankedTensorType>(stacked.getType());
    unsigned rank = outType.getRank();
    int64_t axis = scan.getOutputAxes()[ro.output];
    // Output loop l -> canonical dim.
    SmallVector<unsigned> read(nb() + 2);
    unsigned stepDim = 0;
    for (unsigned l = 0; l < rank; ++l) {
      if ((int64_t)l == axis) {
        read[nb()] = l;
        continue;
      }
      unsigned d = ro.outDims[stepDim++];
      unsigned canon = d == form.value ? nb() + 1 : stateFromCanon[d];
      read[canon] = l;
    }
    // The output's sizes: batch sizes, the length and V.
    SmallVector<OpFoldResult> outSizes(rank);
    stepDim = 0;
    for (unsigned l = 0; l < rank; ++l) {
      if ((int64_t)l == axis) {
        outSizes[l] = getAsOpFoldResult(len);
        continue;
      }
      unsigned d = ro.outDims[stepDim++];
      outSizes[l] = d == form.value ? OpFoldResult(b.getIndexAttr(V))
                                    : batchShape[stateFromCanon[d]];
    }
    results[scan.getNumCarries() + ro.output] = generic(
        b, loc, tensor::EmptyOp::create(b, loc, outSizes, f32), out,
        {dim(rank, read), AffineMap::getMultiDimIdentityMap(rank, ctx)},
        parallel(rank),
        [](OpBuilder &, Location, ValueRange a) { return a[0]; });
    if (results[scan.getNumCarries() + ro.output].getType() != outType)
      results[scan.getNumCarries() + ro.output] = tensor::CastOp::create(
          b, loc, outType, results[scan.getNumCarries() + ro.output]);
  }
  for (auto [i, j] : llvm::enumerate(form.freeOutputs))
    results[scan.getNumCarries() + j] =
        steps.getResult(steps.getNumResults() - form.freeOutputs.size() + i);
  if (results[0].getType() != init.getType())
    results[0] = tensor::CastOp::create(b, loc, init.getType(), results[0]);
  scan->replaceAllUsesWith(results);
  scan->erase();
}

//===----------------------------------------------------------------------===//
// The pass
//===----------------------------------------------------------------------===//

static std::string describeDecay(const Form &form) {
  if (form.delta) {
    // DeltaNet reads the state with the key it writes; others may not.
    std::string transition =
        sameFactors(form.readKey, form.k) ? "(I - β k kᵀ)" : "(I - β k bᵀ)";
    return form.decay.empty() ? "the delta-rule transition " + transition
                              : "the gated delta-rule transition α " +
                                    transition + ", α per batch item";
  }
  if (form.decay.empty())
    return "no decay";
  return form.decayPerKey ? "a decay per key" : "a decay per batch item";
}

struct SeqChunkwisePass : seqc::impl::SeqChunkwiseBase<SeqChunkwisePass> {
  using Base::Base;
  void runOnOperation() override {
    SmallVector<seq::ScanOp> scans;
    getOperation()->walk([&](seq::ScanOp scan) { scans.push_back(scan); });
    for (seq::ScanOp scan : scans) {
      if (scan.getNumCarries() == 0)
        continue;
      RecurrenceAnalysis analysis(scan);
      // Only scans with a matrix carry are this pass's business.
      bool matrix = llvm::any_of(scan.getInits(), [](Value v) {
        return llvm::cast<RankedTensorType>(v.getType()).getRank() >= 2;
      });
      if (!matrix)
        continue;
      std::string why;
      Operation *blame = nullptr;
      FailureOr<Form> form = recognise(analysis, why, blame);
      if (failed(form)) {
        InFlightDiagnostic d = emitRemark(scan.getLoc())
                               << "scan not chunkwise: " << why;
        if (blame && blame != scan.getOperation()) {
          std::string at = formatLocation(blame->getLoc());
          if (!at.empty() && at != formatLocation(scan.getLoc()))
            d << " (at " << at << ")";
        }
        continue;
      }
      auto type = llvm::cast<RankedTensorType>(scan.getInits()[0].getType());
      // The batched form (the GPU's) takes one decay per batch item, one
      // per key known positive, or none; the others stay scans as written.
      if (batched && form->decayPerKey && !form->decayPositive) {
        emitRemark(scan.getLoc())
            << "scan not chunkwise: carry '" << analysis.getCarryName(0)
            << "' has " << describeDecay(*form) << " not known to be positive"
            << ", which the batched chunkwise form does not take yet";
        continue;
      }
      int64_t c = chunkSize;
      emitRemark(scan.getLoc())
          << "carry '" << analysis.getCarryName(0) << "' is a "
          << type.getDimSize(form->key) << "x" << type.getDimSize(form->value)
          << " matrix state with " << describeDecay(*form)
          << ", read by a contraction over its key axis: chunkwise ("
          << (form->delta ? "WY form, " : "") << "chunks of " << c
          << (batched ? ", all at once" : "") << ")";
      // A dynamic length shorter than a chunk (a step decoding one token)
      // would pad to a whole chunk: it runs the scan as written instead.
      // The batched form keeps that choice for step entries only (decode):
      // a forward entry pads a short sequence. Both forms under an scf.if
      // made bufferization and empty-tensor elimination slow (0.45 s of
      // retnet's cuda build, which took 2.7-2.9 s; 2.2 without them in
      // forward).
      bool stepEntry =
          scan->getParentOfType<func::FuncOp>()->hasAttr("seq.step_of");
      if (shortSequential && (!batched || stepEntry) &&
          !getConstantIntValue(scan.getLength()).has_value()) {
        OpBuilder b(scan);
        keepAsWrittenWhenShort(b, scan, c);
      }
      Rewriter(analysis, *form, c, batched).run();
    }
  }
};

} // namespace
