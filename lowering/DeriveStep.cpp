//===- DeriveStep.cpp - The O(1)-per-token step form of an entry ----------===//
//
// `seq-derive-step` gives every entry that carries state through time a
// second function, `<entry>_step`, that runs a chunk of new tokens (any
// number, one when decoding) from a state left by the previous chunk:
//
//   func @forward_step(weights.., inputs.., %pos: tensor<i64>, states..)
//       -> (outputs.., new states..)
//
// The step is the entry itself, run on the chunk, with every construct that
// reads earlier time steps fed from the state instead:
//   - a `seq.scan` over time starts from its carries in the state (its own
//     initial value when %pos is 0) and leaves its final carries there;
//   - a causal `seq.attention` appends the chunk's keys and values to a
//     cache in the state, attends over the whole cache, and numbers its
//     queries from %pos;
//   - a sequence padded in front along time (`concat([zeros(P), x])`, a
//     causal convolution's window, or a token shift) gets the last P rows
//     of the previous chunk instead of its padding;
//   - positions (`arange(T)`, a `linalg.index` over time) count from %pos.
// Everything else must be pointwise in time. A step that reduces over time,
// reads a fixed or shifted position, or attends to later keys would not
// equal the entry on the whole sequence: the pass then makes no step for
// that entry and says why in a remark (file:line:col of the op).
//
// Which axes are time follows from sizes: every dynamic size traces back
// (through destination operands, tensor.empty, slices and reshapes) to
// index arithmetic on the entry's dims; an axis whose size is exactly the
// time dim T is a time axis, one whose size merely depends on T (T + 3,
// B * T) is a mixed one. The time dim is the length of the entry's scans
// or of its attention's queries.
//
// The state arguments have fully dynamic types: on the first chunk the
// runtime passes empty tensors, which only the %pos > 0 branch would read.
//
//===----------------------------------------------------------------------===//

#include "lowering/Passes.h"
#include "dialects/Seq/Seq.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SmallPtrSet.h"

#include <optional>

namespace seqc {
#define GEN_PASS_DEF_SEQDERIVESTEP
#include "lowering/Passes.h.inc"
} // namespace seqc

using namespace mlir;
using namespace seqc;

namespace {

/// A size as a function of the time dim T: `a * T + c` when affine (every
/// static size is, with a = 0), and whether it depends on T at all.
struct Extent {
  bool affine = false;
  int64_t a = 0, c = 0;
  bool dependsOnT = true;

  static Extent constant(int64_t n) { return {true, 0, n, false}; }
  static Extent unknown() { return {false, 0, 0, true}; }
  static Extent free() { return {false, 0, 0, false}; }
  bool isTime() const { return affine && a == 1 && c == 0; }
  bool isStatic() const { return affine && a == 0; }
};

/// Why no step form exists: the op to blame and what it does.
struct Refusal {
  Operation *op;
  std::string what;
};

/// A state the step reads and writes.
struct StateSlot {
  std::string name;
  Value init; // the value on the first chunk
  Type type;  // its type inside the step
};

class StepDeriver {
public:
  StepDeriver(func::FuncOp fn, Value time) : fn(fn), time(time) {
    // The symbol of time, when MLIRGen named the inputs' axes.
    auto dim = time.getDefiningOp<tensor::DimOp>();
    auto dims = fn->getAttrOfType<ArrayAttr>("seq.input_dims");
    auto src = dim ? dyn_cast<BlockArgument>(dim.getSource()) : nullptr;
    auto axis = dim ? getConstantIntValue(dim.getIndex()) : std::nullopt;
    if (dims && src && axis &&
        src.getArgNumber() + dims.size() >= fn.getNumArguments()) {
      auto axes = dyn_cast<ArrayAttr>(
          dims[src.getArgNumber() + dims.size() - fn.getNumArguments()]);
      if (axes && *axis < (int64_t)axes.size())
        timeName = cast<StringAttr>(axes[*axis]).str();
    }
  }

  /// Checks that every op of the entry has a step form and records what to
  /// rewrite; the first op that has none is the refusal.
  std::optional<Refusal> analyze();
  /// Rewrites `fn` (a clone of the entry) into its step function.
  void rewrite(StringRef entryName);

  bool isTimeAxis(Value v, int64_t axis) { return extentOf(v, axis).isTime(); }

  size_t numStates() const {
    return scans.size() + attentions.size() * 2 + windows.size();
  }
  std::string summary() const;

private:
  Extent extentOf(Value v, int64_t axis);
  Extent extentOfIndex(Value v);
  bool hasTimeAxis(Value v);

  std::optional<Refusal> checkLinalg(linalg::LinalgOp op);
  std::optional<Refusal> checkScan(seq::ScanOp scan);
  std::optional<Refusal> checkAttention(seq::AttentionOp op);
  std::optional<Refusal> checkConcat(tensor::ConcatOp op);
  std::optional<Refusal> checkSlice(tensor::ExtractSliceOp op);
  std::optional<Refusal> checkOther(Operation *op);

  func::FuncOp fn;
  Value time;
  std::string timeName;
  DenseMap<std::pair<Value, int64_t>, Extent> extents;
  DenseMap<Value, Extent> indexExtents;

  // What the rewrite changes.
  SmallVector<seq::ScanOp> scans;
  SmallVector<seq::AttentionOp> attentions;
  SmallVector<seq::AttentionOp> offsetOnly; // queries in time, keys not
  struct Window {
    tensor::ConcatOp concat;
    int64_t axis, pad;
    /// The rwkv form: concat([pad, x[0:T-P]]) is ext[0:T] of
    /// ext = concat([pad, x]).
    tensor::ExtractSliceOp shifted;
  };
  SmallVector<Window> windows;
  SmallVector<linalg::IndexOp> positions; // linalg.index over time
  SmallVector<OpOperand *> stepUses;      // scan step args used as positions
  llvm::SmallPtrSet<Operation *, 8> handled;
};

//===----------------------------------------------------------------------===//
// Extents
//===----------------------------------------------------------------------===//

static Extent add(Extent x, Extent y) {
  if (x.affine && y.affine)
    return {true, x.a + y.a, x.c + y.c, x.dependsOnT || y.dependsOnT};
  return {false, 0, 0, x.dependsOnT || y.dependsOnT};
}

static Extent mul(Extent x, Extent y) {
  if (x.isStatic() && y.affine)
    return {true, y.a * x.c, y.c * x.c, y.dependsOnT && x.c != 0};
  if (y.isStatic() && x.affine)
    return mul(y, x);
  return {false, 0, 0, x.dependsOnT || y.dependsOnT};
}

Extent StepDeriver::extentOfIndex(Value v) {
  if (v == time)
    return {true, 1, 0, true};
  auto it = indexExtents.find(v);
  if (it != indexExtents.end())
    return it->second;
  Extent e = Extent::unknown();
  Operation *def = v.getDefiningOp();
  if (auto c = getConstantIntValue(v)) {
    e = Extent::constant(*c);
  } else if (auto dim = dyn_cast_or_null<tensor::DimOp>(def)) {
    auto axis = getConstantIntValue(dim.getIndex());
    e = axis ? extentOf(dim.getSource(), *axis) : Extent::unknown();
  } else if (auto add_ = dyn_cast_or_null<arith::AddIOp>(def)) {
    e = add(extentOfIndex(add_.getLhs()), extentOfIndex(add_.getRhs()));
  } else if (auto sub = dyn_cast_or_null<arith::SubIOp>(def)) {
    e = add(extentOfIndex(sub.getLhs()),
            mul(Extent::constant(-1), extentOfIndex(sub.getRhs())));
  } else if (auto m = dyn_cast_or_null<arith::MulIOp>(def)) {
    e = mul(extentOfIndex(m.getLhs()), extentOfIndex(m.getRhs()));
  } else if (isa_and_nonnull<arith::ArithDialect>(
                 def ? def->getDialect() : nullptr)) {
    bool dep = false;
    for (Value o : def->getOperands())
      dep |= extentOfIndex(o).dependsOnT;
    e = {false, 0, 0, dep};
  } else if (auto arg = dyn_cast<BlockArgument>(v)) {
    // An entry argument's dim (through seq.input_dims) is not T unless it
    // is the value T itself; other block arguments are unknown.
    if (arg.getOwner()->isEntryBlock() &&
        isa<func::FuncOp>(arg.getOwner()->getParentOp()))
      e = Extent::free();
  }
  indexExtents[v] = e;
  return e;
}

Extent StepDeriver::extentOf(Value v, int64_t axis) {
  auto type = dyn_cast<RankedTensorType>(v.getType());
  if (!type)
    return Extent::unknown();
  if (!type.isDynamicDim(axis))
    return Extent::constant(type.getDimSize(axis));
  auto key = std::make_pair(v, axis);
  auto it = extents.find(key);
  if (it != extents.end())
    return it->second;
  extents[key] = Extent::unknown(); // cycles (loop-carried) stay unknown
  Extent e = Extent::unknown();
  auto sizeAt = [&](OpFoldResult ofr) {
    if (auto c = getConstantIntValue(ofr))
      return Extent::constant(*c);
    return extentOfIndex(cast<Value>(ofr));
  };
  if (auto arg = dyn_cast<BlockArgument>(v)) {
    // An entry's input: time where the input's axis is time's symbol
    // (seq.input_dims), or where it is the axis T was taken from.
    Block *block = arg.getOwner();
    if (block->isEntryBlock() && block->getParentOp() == fn) {
      auto dims = fn->getAttrOfType<ArrayAttr>("seq.input_dims");
      unsigned firstInput =
          dims ? fn.getNumArguments() - dims.size() : fn.getNumArguments();
      auto timeDim = time.getDefiningOp<tensor::DimOp>();
      if (timeDim && timeDim.getSource() == v &&
          getConstantIntValue(timeDim.getIndex()) == axis)
        e = {true, 1, 0, true};
      else if (dims && arg.getArgNumber() >= firstInput) {
        auto axes = cast<ArrayAttr>(dims[arg.getArgNumber() - firstInput]);
        StringRef name = cast<StringAttr>(axes[axis]).getValue();
        if (!name.empty())
          e = name == timeName ? Extent{true, 1, 0, true} : Extent::free();
      }
    }
  } else if (auto empty = v.getDefiningOp<tensor::EmptyOp>()) {
    e = extentOfIndex(empty.getDynamicSize(axis));
  } else if (auto dps = v.getDefiningOp<DestinationStyleOpInterface>()) {
    e = extentOf(dps.getDpsInitOperand(cast<OpResult>(v).getResultNumber())
                     ->get(),
                 axis);
  } else if (auto slice = v.getDefiningOp<tensor::ExtractSliceOp>()) {
    llvm::SmallBitVector dropped = slice.getDroppedDims();
    int64_t r = -1;
    for (int64_t s = 0; s < (int64_t)dropped.size(); ++s)
      if (!dropped[s] && ++r == axis)
        e = sizeAt(slice.getMixedSizes()[s]);
  } else if (auto expand = v.getDefiningOp<tensor::ExpandShapeOp>()) {
    e = sizeAt(expand.getMixedOutputShape()[axis]);
  } else if (auto collapse = v.getDefiningOp<tensor::CollapseShapeOp>()) {
    e = Extent::constant(1);
    for (int64_t s : collapse.getReassociationIndices()[axis])
      e = mul(e, extentOf(collapse.getSrc(), s));
  } else if (auto concat = v.getDefiningOp<tensor::ConcatOp>()) {
    if ((int64_t)concat.getDim() == axis) {
      e = Extent::constant(0);
      for (Value in : concat.getInputs())
        e = add(e, extentOf(in, axis));
    } else {
      e = extentOf(concat.getInputs()[0], axis);
    }
  } else if (auto castOp = v.getDefiningOp<tensor::CastOp>()) {
    e = extentOf(castOp.getSource(), axis);
  } else if (auto scan = v.getDefiningOp<seq::ScanOp>()) {
    unsigned r = cast<OpResult>(v).getResultNumber();
    unsigned nCarries = scan.getInits().size();
    if (r < nCarries) {
      e = extentOf(scan.getInits()[r], axis);
    } else {
      int64_t outAxis = scan.getOutputAxes()[r - nCarries];
      auto yield = cast<seq::YieldOp>(scan.getBody().front().getTerminator());
      e = axis == outAxis ? extentOfIndex(scan.getLength())
                          : extentOf(yield.getValues()[r],
                                     axis > outAxis ? axis - 1 : axis);
    }
  } else if (auto assoc = v.getDefiningOp<seq::AssocScanOp>()) {
    e = extentOf(assoc.getInputs()[cast<OpResult>(v).getResultNumber()], axis);
  } else if (auto softmax = v.getDefiningOp<seq::SoftmaxOp>()) {
    e = extentOf(softmax.getInput(), axis);
  } else if (auto ifOp = v.getDefiningOp<scf::IfOp>()) {
    e = extentOf(ifOp.thenYield().getOperand(cast<OpResult>(v).getResultNumber()),
                 axis);
  }
  extents[key] = e;
  return e;
}

bool StepDeriver::hasTimeAxis(Value v) {
  auto type = dyn_cast<RankedTensorType>(v.getType());
  if (!type)
    return false;
  for (int64_t i = 0; i < type.getRank(); ++i)
    if (extentOf(v, i).dependsOnT)
      return true;
  return false;
}

//===----------------------------------------------------------------------===//
// Analysis
//===----------------------------------------------------------------------===//

static Refusal refuse(Operation *op, const Twine &what) {
  return {op, what.str()};
}

std::optional<Refusal> StepDeriver::checkLinalg(linalg::LinalgOp op) {
  unsigned nLoops = op.getNumLoops();
  SmallVector<Extent> loops(nLoops, Extent::free());
  SmallVector<bool> seen(nLoops, false);
  for (OpOperand &operand : op->getOpOperands()) {
    if (!isa<RankedTensorType>(operand.get().getType()))
      continue;
    AffineMap map = op.getMatchingIndexingMap(&operand);
    for (unsigned r = 0; r < map.getNumResults(); ++r) {
      Extent e = extentOf(operand.get(), r);
      auto dim = dyn_cast<AffineDimExpr>(map.getResult(r));
      if (!dim) {
        if (e.dependsOnT)
          return refuse(op, "reads the time axis at a fixed or shifted "
                            "position");
        continue;
      }
      unsigned d = dim.getPosition();
      if (!seen[d] || (e.dependsOnT && !loops[d].dependsOnT))
        loops[d] = e;
      seen[d] = true;
    }
  }
  int timeLoops = 0;
  auto iterators = op.getIteratorTypesArray();
  for (unsigned d = 0; d < nLoops; ++d) {
    if (!loops[d].dependsOnT)
      continue;
    ++timeLoops;
    if (iterators[d] == utils::IteratorType::reduction)
      return refuse(op, "reduces over the time axis");
  }
  if (timeLoops > 1)
    return refuse(op, "pairs every time step with every other (a [T, T] "
                      "tensor that is not a fused causal attention)");
  if (auto generic = dyn_cast<linalg::GenericOp>(op.getOperation())) {
    std::optional<Refusal> bad;
    generic.getBody()->walk([&](linalg::IndexOp index) {
      const Extent &e = loops[index.getDim()];
      if (!e.dependsOnT)
        return;
      if (e.isTime())
        positions.push_back(index);
      else if (!bad)
        bad = refuse(op, "uses positions along an axis that merges time "
                         "with another");
    });
    if (bad)
      return bad;
  }
  return std::nullopt;
}

std::optional<Refusal> StepDeriver::checkScan(seq::ScanOp scan) {
  if (!extentOfIndex(scan.getLength()).isTime()) {
    for (Value v : scan->getOperands())
      if (hasTimeAxis(v))
        return refuse(scan, "is a scan over another length that reads "
                            "time-indexed values");
    return std::nullopt;
  }
  if (scan.getReverse())
    return refuse(scan, "runs backwards in time");
  Block &body = scan.getBody().front();
  Value step = body.getArgument(0);
  // Outer values with a time axis may be read at step t only.
  std::optional<Refusal> bad;
  scan.getBody().walk([&](Operation *op) {
    if (bad)
      return;
    for (OpOperand &operand : op->getOpOperands()) {
      Value v = operand.get();
      if (v == step) {
        auto slice = dyn_cast<tensor::ExtractSliceOp>(op);
        auto extract = dyn_cast<tensor::ExtractOp>(op);
        bool timeRead = (slice && operand.getOperandNumber() >= 1 &&
                         hasTimeAxis(slice.getSource())) ||
                        (extract && operand.getOperandNumber() >= 1 &&
                         hasTimeAxis(extract.getTensor()));
        if (!timeRead)
          stepUses.push_back(&operand);
        continue;
      }
      if (scan.getBody().isAncestor(v.getParentRegion()) || !hasTimeAxis(v))
        continue;
      auto type = cast<RankedTensorType>(v.getType());
      auto readsStep = [&](ArrayRef<OpFoldResult> offsets,
                           ArrayRef<OpFoldResult> sizes) {
        for (int64_t i = 0; i < type.getRank(); ++i) {
          if (!extentOf(v, i).dependsOnT)
            continue;
          if (!extentOf(v, i).isTime() ||
              dyn_cast_if_present<Value>(offsets[i]) != step ||
              getConstantIntValue(sizes[i]) != 1)
            return false;
        }
        return true;
      };
      bool ok = false;
      if (auto slice = dyn_cast<tensor::ExtractSliceOp>(op))
        ok = operand.getOperandNumber() == 0 &&
             llvm::all_of(slice.getStaticStrides(),
                          [](int64_t s) { return s == 1; }) &&
             readsStep(slice.getMixedOffsets(), slice.getMixedSizes());
      else if (auto extract = dyn_cast<tensor::ExtractOp>(op))
        ok = readsStep(getAsOpFoldResult(extract.getIndices()),
                       SmallVector<OpFoldResult>(
                           type.getRank(), OpBuilder(op).getIndexAttr(1)));
      if (!ok)
        bad = refuse(op, "reads a time-indexed value at another step than "
                         "the scan's own");
    }
  });
  if (bad)
    return bad;
  scans.push_back(scan);
  return std::nullopt;
}

/// Whether the mask keeps every key after its query out: some constraint
/// a*i + b*j + c >= 0 with a = -b > 0 and c <= 0 (j <= i + c/a).
static bool isCausal(seq::AttentionOp op) {
  for (std::array<int64_t, 3> k : op.getMaskConstraints())
    if (k[0] > 0 && k[1] == -k[0] && k[2] <= 0)
      return true;
  return false;
}

std::optional<Refusal> StepDeriver::checkAttention(seq::AttentionOp op) {
  int64_t n = op.getNumBatchDims();
  for (int64_t i = 0; i < n; ++i)
    for (Value v : {op.getQuery(), op.getKey(), op.getValue()})
      if (extentOf(v, i).dependsOnT)
        return refuse(op, "has a batch axis that depends on time");
  Extent q = extentOf(op.getQuery(), n), k = extentOf(op.getKey(), n);
  if (!q.dependsOnT) {
    if (k.dependsOnT)
      return refuse(op, "attends from fixed queries to keys over time");
    return std::nullopt;
  }
  if (!q.isTime())
    return refuse(op, "has queries along an axis that merges time with "
                      "another");
  if (!k.dependsOnT) {
    offsetOnly.push_back(op);
    return std::nullopt;
  }
  if (!k.isTime())
    return refuse(op, "has keys along an axis that merges time with another");
  if (!isCausal(op))
    return refuse(op, "attends to later keys (no causal mask), so a chunk "
                      "cannot be run before the tokens after it");
  attentions.push_back(op);
  return std::nullopt;
}

std::optional<Refusal> StepDeriver::checkConcat(tensor::ConcatOp op) {
  int64_t axis = op.getDim();
  if (!extentOf(op.getResult(), axis).dependsOnT)
    return std::nullopt; // along another axis: pointwise in time
  // concat([pad, x]) along time, pad of static length P, free of time.
  auto refusal = refuse(op, "joins sequences along time (only a padding "
                            "of fixed length in front of a sequence has a "
                            "step form)");
  if (op.getInputs().size() != 2)
    return refusal;
  Value pad = op.getInputs()[0], x = op.getInputs()[1];
  Extent p = extentOf(pad, axis);
  if (!p.isStatic() || hasTimeAxis(pad))
    return refusal;
  Window w{op, axis, p.c, nullptr};
  Extent xe = extentOf(x, axis);
  if (!xe.isTime()) {
    // The shifted form: x = y[0 : T - P] along time, y a time sequence.
    auto slice = x.getDefiningOp<tensor::ExtractSliceOp>();
    if (!slice || !xe.affine || xe.a != 1 || xe.c != -p.c ||
        slice.getSourceType().getRank() != slice.getResultType().getRank() ||
        !extentOf(slice.getSource(), axis).isTime() ||
        getConstantIntValue(slice.getMixedOffsets()[axis]) != 0 ||
        !llvm::all_of(slice.getStaticStrides(),
                      [](int64_t s) { return s == 1; }))
      return refusal;
    for (int64_t i = 0; i < slice.getSourceType().getRank(); ++i)
      if (i != axis && (getConstantIntValue(slice.getMixedOffsets()[i]) != 0 ||
                        extentOf(slice.getSource(), i).dependsOnT))
        return refusal;
    w.shifted = slice;
    handled.insert(slice);
  } else {
    // The padded sequence is only read through windows of length T.
    for (Operation *user : op->getUsers()) {
      auto slice = dyn_cast<tensor::ExtractSliceOp>(user);
      if (!slice || slice.getSourceType().getRank() !=
                        slice.getResultType().getRank())
        return refuse(user, "reads a padded sequence other than through "
                            "windows of the sequence's length");
      auto off = getConstantIntValue(slice.getMixedOffsets()[axis]);
      if (!off || *off < 0 || *off > p.c ||
          !extentOf(slice.getResult(), axis).isTime() ||
          !llvm::all_of(slice.getStaticStrides(),
                        [](int64_t s) { return s == 1; }))
        return refuse(user, "reads a padded sequence other than through "
                            "windows of the sequence's length");
      handled.insert(slice);
    }
  }
  windows.push_back(w);
  return std::nullopt;
}

std::optional<Refusal> StepDeriver::checkSlice(tensor::ExtractSliceOp op) {
  if (handled.contains(op))
    return std::nullopt;
  llvm::SmallBitVector dropped = op.getDroppedDims();
  int64_t r = -1;
  for (int64_t s = 0; s < op.getSourceType().getRank(); ++s) {
    bool keep = !dropped[s];
    if (keep)
      ++r;
    Extent e = extentOf(op.getSource(), s);
    if (!e.dependsOnT)
      continue;
    if (!keep || getConstantIntValue(op.getMixedOffsets()[s]) != 0 ||
        !e.isTime() || !extentOf(op.getResult(), r).isTime() ||
        op.getStaticStrides()[s] != 1)
      return refuse(op, "picks part of the time axis");
  }
  return std::nullopt;
}

std::optional<Refusal> StepDeriver::checkOther(Operation *op) {
  if (isa<tensor::EmptyOp, tensor::ExpandShapeOp, tensor::CollapseShapeOp,
          tensor::CastOp, tensor::DimOp, func::ReturnOp>(op) ||
      isa<arith::ArithDialect, math::MathDialect>(op->getDialect()))
    return std::nullopt;
  if (auto softmax = dyn_cast<seq::SoftmaxOp>(op)) {
    if (extentOf(softmax.getInput(), softmax.getAxis()).dependsOnT)
      return refuse(op, "normalises over the time axis");
    return std::nullopt;
  }
  for (Value v : op->getOperands())
    if (hasTimeAxis(v))
      return refuse(op, "has no step form for time-indexed operands");
  for (Value v : op->getResults())
    if (hasTimeAxis(v))
      return refuse(op, "has no step form for time-indexed results");
  return std::nullopt;
}

std::optional<Refusal> StepDeriver::analyze() {
  // Windows first: their slices are theirs.
  for (Operation &op : fn.getBody().front())
    if (auto concat = dyn_cast<tensor::ConcatOp>(op))
      if (auto r = checkConcat(concat))
        return r;
  // A scan's final carries sum up the whole sequence: in a step they would
  // sum up the chunk. They (and what is computed from them) may reach the
  // outputs, but not a value over time.
  DenseSet<Value> summaries;
  auto readsSummary = [&](Operation *op) {
    bool found = false;
    op->walk([&](Operation *inner) {
      for (Value v : inner->getOperands())
        found |= summaries.contains(v);
    });
    return found;
  };
  for (Operation &op : fn.getBody().front()) {
    std::optional<Refusal> r;
    if (readsSummary(&op)) {
      for (Value v : op.getResults())
        summaries.insert(v);
      bool overTime = isa<seq::ScanOp>(op) ||
                      llvm::any_of(op.getOperands(),
                                   [&](Value v) { return hasTimeAxis(v); }) ||
                      llvm::any_of(op.getResults(),
                                   [&](Value v) { return hasTimeAxis(v); });
      if (overTime)
        return refuse(&op, "uses the final state of a scan (a summary of the "
                           "whole sequence) at every time step");
    }
    if (auto scan = dyn_cast<seq::ScanOp>(op))
      if (extentOfIndex(scan.getLength()).isTime())
        for (Value v : scan.getResults().take_front(scan.getInits().size()))
          summaries.insert(v);
    if (isa<tensor::ConcatOp>(op))
      continue;
    if (auto scan = dyn_cast<seq::ScanOp>(op))
      r = checkScan(scan);
    else if (auto attn = dyn_cast<seq::AttentionOp>(op))
      r = checkAttention(attn);
    else if (auto slice = dyn_cast<tensor::ExtractSliceOp>(op))
      r = checkSlice(slice);
    else if (auto linalgOp = dyn_cast<linalg::LinalgOp>(op))
      r = checkLinalg(linalgOp);
    else
      r = checkOther(&op);
    if (r)
      return r;
  }
  return std::nullopt;
}

std::string StepDeriver::summary() const {
  std::string s;
  llvm::raw_string_ostream os(s);
  auto part = [&](size_t n, const char *one, const char *many) {
    if (n)
      os << (s.empty() ? "" : ", ") << n << " " << (n == 1 ? one : many);
  };
  size_t carries = 0;
  for (seq::ScanOp scan : scans)
    carries += scan.getInits().size();
  part(carries, "scan carry", "scan carries");
  part(attentions.size(), "key/value cache", "key/value caches");
  part(windows.size(), "window of past inputs", "windows of past inputs");
  return s;
}

//===----------------------------------------------------------------------===//
// Rewrite
//===----------------------------------------------------------------------===//

/// The carry's name (`h`), from the location MLIRGen gives its argument.
static std::string carryName(BlockArgument arg) {
  if (auto name = dyn_cast<NameLoc>(arg.getLoc()))
    return name.getName().str();
  return "carry";
}

void StepDeriver::rewrite(StringRef entryName) {
  MLIRContext *ctx = fn.getContext();
  OpBuilder b(ctx);
  Block &entry = fn.getBody().front();
  Location loc = fn.getLoc();

  // %pos and "is this the first chunk".
  auto posType = RankedTensorType::get({}, b.getI64Type());
  BlockArgument posArg = entry.addArgument(posType, loc);
  b.setInsertionPointToStart(&entry);
  Value pos = arith::IndexCastOp::create(
      b, loc, b.getIndexType(),
      tensor::ExtractOp::create(b, loc, posArg, ValueRange{}));
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value first =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, pos, zero);

  SmallVector<std::string> names;
  SmallVector<Value> finals;
  // A state argument; `fromState` picks the init on the first chunk and the
  // state (cast to `type`) afterwards, just before `before`.
  auto fromState = [&](const std::string &name, Value init,
                       Operation *before) -> Value {
    auto type = cast<RankedTensorType>(init.getType());
    SmallVector<int64_t> shape(type.getRank(), ShapedType::kDynamic);
    BlockArgument state = entry.addArgument(
        RankedTensorType::get(shape, type.getElementType()), init.getLoc());
    names.push_back(name + "." + std::to_string(names.size()));
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPoint(before);
    auto ifOp = scf::IfOp::create(b, init.getLoc(), TypeRange{type}, first,
                                  /*withElse=*/true);
    b.setInsertionPointToStart(&ifOp.getThenRegion().front());
    scf::YieldOp::create(b, init.getLoc(), init);
    b.setInsertionPointToStart(&ifOp.getElseRegion().front());
    scf::YieldOp::create(
        b, init.getLoc(),
        tensor::CastOp::create(b, init.getLoc(), type, state).getResult());
    return ifOp.getResult(0);
  };

  // Positions count from %pos.
  for (linalg::IndexOp index : positions) {
    b.setInsertionPointAfter(index);
    auto shifted = arith::AddIOp::create(b, index.getLoc(), index, pos);
    index.getResult().replaceAllUsesExcept(shifted, shifted);
  }
  for (OpOperand *use : stepUses) {
    b.setInsertionPoint(use->getOwner());
    use->set(arith::AddIOp::create(b, use->getOwner()->getLoc(), use->get(),
                                   pos));
  }

  // Scans start from the state and leave their final carries there.
  for (seq::ScanOp scan : scans) {
    Block &body = scan.getBody().front();
    for (unsigned i = 0; i < scan.getInits().size(); ++i) {
      Value init = scan.getInits()[i];
      Value v = fromState(carryName(body.getArgument(1 + i)), init, scan);
      scan->setOperand(1 + i, v);
      finals.push_back(scan.getResult(i));
    }
  }

  // Causal attention: the chunk's keys and values join the cache.
  for (seq::AttentionOp op : attentions) {
    int64_t n = op.getNumBatchDims();
    b.setInsertionPoint(op);
    Location l = op.getLoc();
    auto cached = [&](Value kv, const char *name) {
      auto type = cast<RankedTensorType>(kv.getType());
      SmallVector<OpFoldResult> sizes;
      for (int64_t i = 0; i < type.getRank(); ++i)
        sizes.push_back(i == n ? b.getIndexAttr(0)
                               : tensor::getMixedSize(b, l, kv, i));
      // The past has kv's type with a dynamic length (empty at first).
      SmallVector<int64_t> shape(type.getShape());
      shape[n] = ShapedType::kDynamic;
      auto dynType = RankedTensorType::get(shape, type.getElementType());
      Value none = tensor::CastOp::create(
          b, l, dynType,
          tensor::EmptyOp::create(b, l, sizes, type.getElementType()));
      Value past = fromState(name, none, op);
      Value now = kv;
      if (now.getType() != dynType)
        now = tensor::CastOp::create(b, l, dynType, now);
      Value all = tensor::ConcatOp::create(b, l, n, ValueRange{past, now});
      finals.push_back(all);
      return all;
    };
    Value keys = cached(op.getKey(), "keys");
    Value values = cached(op.getValue(), "values");
    op.getKeyMutable().assign(keys);
    op.getValueMutable().assign(values);
  }
  for (seq::AttentionOp op : llvm::concat<seq::AttentionOp>(attentions,
                                                            offsetOnly)) {
    b.setInsertionPoint(op);
    Value offset = pos;
    if (op.getOffset())
      offset = arith::AddIOp::create(b, op.getLoc(), op.getOffset(), pos);
    op.getOffsetMutable().assign(offset);
  }

  // Windows: the last P rows of the previous chunk instead of the padding.
  for (Window &w : windows) {
    tensor::ConcatOp concat = w.concat;
    Location l = concat.getLoc();
    Value pad = concat.getInputs()[0];
    Value past = fromState("window", pad, concat);
    Value x = w.shifted ? w.shifted.getSource() : concat.getInputs()[1];
    b.setInsertionPoint(concat);
    auto type = cast<RankedTensorType>(concat.getType());
    Value ext = tensor::ConcatOp::create(b, l, w.axis, ValueRange{past, x});
    // The new window: rows [Tc, Tc + P) of the padded chunk.
    auto slice = [&](Value src, OpFoldResult off, OpFoldResult size) {
      int64_t rank = type.getRank();
      SmallVector<OpFoldResult> offsets(rank, b.getIndexAttr(0)), sizes,
          strides(rank, b.getIndexAttr(1));
      for (int64_t i = 0; i < rank; ++i)
        sizes.push_back(i == w.axis ? size : tensor::getMixedSize(b, l, src, i));
      offsets[w.axis] = off;
      return tensor::ExtractSliceOp::create(b, l, src, offsets, sizes, strides)
          .getResult();
    };
    finals.push_back(slice(ext, time, b.getIndexAttr(w.pad)));
    Value replacement = w.shifted ? slice(ext, b.getIndexAttr(0), time) : ext;
    if (replacement.getType() != type)
      replacement = tensor::CastOp::create(b, l, type, replacement);
    concat.getResult().replaceAllUsesWith(replacement);
    concat.erase();
    if (w.shifted && w.shifted->use_empty())
      w.shifted.erase();
  }

  // Return the new states after the outputs, as fully dynamic tensors.
  auto ret = cast<func::ReturnOp>(entry.getTerminator());
  b.setInsertionPoint(ret);
  SmallVector<Value> results(ret.getOperands());
  for (Value v : finals) {
    auto type = cast<RankedTensorType>(v.getType());
    SmallVector<int64_t> shape(type.getRank(), ShapedType::kDynamic);
    auto dynType = RankedTensorType::get(shape, type.getElementType());
    results.push_back(v.getType() == dynType
                          ? v
                          : tensor::CastOp::create(b, loc, dynType, v)
                                .getResult());
  }
  ret->setOperands(results);

  // The signature: weights, inputs, %pos, states -> outputs, states.
  SmallVector<Type> argTypes(entry.getArgumentTypes());
  SmallVector<Type> resultTypes(ValueRange(results).getTypes());
  SmallVector<DictionaryAttr> argAttrs, resultAttrs;
  fn.getAllArgAttrs(argAttrs);
  fn.getAllResultAttrs(resultAttrs);
  unsigned nOld = argAttrs.size();
  argAttrs.resize(argTypes.size(), DictionaryAttr::get(ctx));
  argAttrs[nOld] = b.getDictionaryAttr(
      b.getNamedAttr("seq.position", b.getUnitAttr()));
  resultAttrs.resize(resultTypes.size(), DictionaryAttr::get(ctx));
  unsigned nOutputs = resultTypes.size() - finals.size();
  for (size_t i = 0; i < names.size(); ++i) {
    auto attr = b.getDictionaryAttr(
        b.getNamedAttr("seq.state", b.getStringAttr(names[i])));
    argAttrs[nOld + 1 + i] = attr;
    resultAttrs[nOutputs + i] = attr;
  }
  fn.setType(FunctionType::get(ctx, argTypes, resultTypes));
  fn.setAllArgAttrs(argAttrs);
  fn.setAllResultAttrs(resultAttrs);
  fn->setAttr("seq.step_of", b.getStringAttr(entryName));
  // Which input axis is time, for the library's metadata.
  auto timeDim = time.getDefiningOp<tensor::DimOp>();
  auto src = cast<BlockArgument>(timeDim.getSource());
  fn->setAttr("seq.time_axis",
              b.getDenseI64ArrayAttr(
                  {(int64_t)src.getArgNumber(),
                   *getConstantIntValue(timeDim.getIndex())}));
}

//===----------------------------------------------------------------------===//
// The pass
//===----------------------------------------------------------------------===//

/// The time dim of an entry: the length of its scans over an input's dim,
/// else the query length of its attention. Null when there is none.
static Value findTime(func::FuncOp fn, std::string &why) {
  Block &entry = fn.getBody().front();
  Value time;
  SmallVector<seq::AttentionOp> attentions;
  for (Operation &op : entry) {
    if (auto scan = dyn_cast<seq::ScanOp>(op)) {
      if (!time)
        time = scan.getLength();
    } else if (auto attn = dyn_cast<seq::AttentionOp>(op)) {
      attentions.push_back(attn);
    }
  }
  // Without a scan: the input dim that is the length of the queries.
  for (seq::AttentionOp attn : attentions) {
    if (time)
      break;
    for (Operation &op : entry) {
      auto dim = dyn_cast<tensor::DimOp>(op);
      if (!dim || !isa<BlockArgument>(dim.getSource()) ||
          !getConstantIntValue(dim.getIndex()))
        continue;
      StepDeriver probe(fn, dim);
      if (probe.isTimeAxis(attn.getQuery(), attn.getNumBatchDims())) {
        time = dim;
        break;
      }
    }
  }
  // Without either: the input dim along which something else carries
  // state (a window of past inputs).
  for (Operation &op : entry) {
    if (time)
      break;
    auto dim = dyn_cast<tensor::DimOp>(op);
    if (!dim || !isa<BlockArgument>(dim.getSource()) ||
        !getConstantIntValue(dim.getIndex()))
      continue;
    StepDeriver probe(fn, dim);
    if (!probe.analyze() && probe.numStates() > 0)
      time = dim;
  }
  if (!time)
    return Value();
  // It must be an input's dimension, as MLIRGen's prologue makes them.
  auto dim = time.getDefiningOp<tensor::DimOp>();
  auto src = dim ? dyn_cast<BlockArgument>(dim.getSource()) : BlockArgument();
  if (!src || src.getOwner() != &entry ||
      !getConstantIntValue(dim.getIndex())) {
    why = "its time length is not the dimension of an input";
    return Value();
  }
  return time;
}

struct SeqDeriveStep : seqc::impl::SeqDeriveStepBase<SeqDeriveStep> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = dyn_cast<ModuleOp>(getOperation());
    if (!module)
      return;
    SmallVector<func::FuncOp> entries;
    for (auto fn : module.getOps<func::FuncOp>())
      if (!fn.isExternal() && !fn->hasAttr("seq.step_of"))
        entries.push_back(fn);
    for (func::FuncOp fn : entries) {
      std::string name = (fn.getName() + "_step").str();
      if (module.lookupSymbol(name))
        continue;
      std::string why;
      // Work on a clone, so a refusal leaves nothing behind.
      func::FuncOp step = fn.clone();
      Value time = findTime(step, why);
      if (!time) {
        if (!why.empty())
          emitRemark(fn.getLoc())
              << "no step form for '" << fn.getName() << "': " << why;
        step.erase();
        continue;
      }
      StepDeriver deriver(step, time);
      if (std::optional<Refusal> r = deriver.analyze()) {
        std::string where = formatLocation(r->op->getLoc());
        emitRemark(fn.getLoc())
            << "no step form for '" << fn.getName() << "': '"
            << r->op->getName() << "'" << (where.empty() ? "" : " at ")
            << where << " " << r->what;
        step.erase();
        continue;
      }
      if (deriver.numStates() == 0) {
        step.erase();
        continue;
      }
      module.push_back(step);
      step.setName(name);
      deriver.rewrite(fn.getName());
      emitRemark(fn.getLoc()) << "step form '" << name << "' carries "
                              << deriver.summary();
    }
  }
};

} // namespace
