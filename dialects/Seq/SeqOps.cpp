//===- SeqOps.cpp - Verifiers and builders of the seq ops -----------------===//
//
// The invariants ODS cannot state: how the body of seq.scan and the
// combiner of seq.assoc_scan are typed against the op's operands and
// results, and the axes of every op.
//
//===----------------------------------------------------------------------===//

#include "dialects/Seq/Seq.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace seqc::seq;

/// `type` with a dimension of size `size` inserted at `axis`.
static RankedTensorType insertDim(RankedTensorType type, int64_t axis,
                                  int64_t size) {
  SmallVector<int64_t> shape(type.getShape());
  shape.insert(shape.begin() + axis, size);
  return RankedTensorType::get(shape, type.getElementType());
}

/// `type` with dimension `axis` removed.
static RankedTensorType dropDim(RankedTensorType type, int64_t axis) {
  SmallVector<int64_t> shape(type.getShape());
  shape.erase(shape.begin() + axis);
  return RankedTensorType::get(shape, type.getElementType());
}

//===----------------------------------------------------------------------===//
// ScanOp
//===----------------------------------------------------------------------===//

void ScanOp::build(OpBuilder &builder, OperationState &state,
                   TypeRange resultTypes, Value length, ValueRange inits,
                   bool reverse, ArrayRef<int64_t> outputAxes) {
  state.addOperands(length);
  state.addOperands(inits);
  if (reverse)
    state.addAttribute(getReverseAttrName(state.name), builder.getUnitAttr());
  state.addAttribute(getOutputAxesAttrName(state.name),
                     builder.getDenseI64ArrayAttr(outputAxes));
  state.addTypes(resultTypes);
  state.addRegion();
}

LogicalResult ScanOp::verify() {
  unsigned nCarries = getNumCarries(), nOutputs = getNumOutputs();
  if (getNumResults() != nCarries + nOutputs)
    return emitOpError("expected ")
           << nCarries + nOutputs << " results (" << nCarries << " carries and "
           << nOutputs << " outputs), found " << getNumResults();
  for (unsigned i = 0; i < nCarries; ++i)
    if (getInits()[i].getType() != getResult(i).getType())
      return emitOpError("result #")
             << i << " must have the type of carry #" << i << ", expected "
             << getInits()[i].getType() << ", found " << getResult(i).getType();
  return success();
}

LogicalResult ScanOp::verifyRegions() {
  unsigned nCarries = getNumCarries(), nOutputs = getNumOutputs();
  Block &body = getBodyBlock();
  if (body.getNumArguments() != nCarries + 1)
    return emitOpError("expected the body to take ")
           << nCarries + 1 << " arguments (the step and " << nCarries
           << " carries), found " << body.getNumArguments();
  if (!body.getArgument(0).getType().isIndex())
    return emitOpError("expected the body's first argument to be an index, "
                       "found ")
           << body.getArgument(0).getType();
  for (unsigned i = 0; i < nCarries; ++i)
    if (body.getArgument(i + 1).getType() != getInits()[i].getType())
      return emitOpError("body argument #")
             << i + 1 << " must have the type of carry #" << i << ", expected "
             << getInits()[i].getType() << ", found "
             << body.getArgument(i + 1).getType();

  auto yield = dyn_cast<YieldOp>(body.getTerminator());
  if (!yield)
    return emitOpError("expected the body to end with seq.yield");
  if (yield.getValues().size() != nCarries + nOutputs)
    return yield.emitOpError("expected ")
           << nCarries + nOutputs << " values (" << nCarries << " carries and "
           << nOutputs << " outputs), found " << yield.getValues().size();
  for (unsigned i = 0; i < nCarries; ++i)
    if (yield.getValues()[i].getType() != getInits()[i].getType())
      return yield.emitOpError("value #")
             << i << " must have the type of carry #" << i << ", expected "
             << getInits()[i].getType() << ", found "
             << yield.getValues()[i].getType();

  std::optional<int64_t> constLength;
  APInt lengthValue;
  if (matchPattern(getLength(), m_ConstantInt(&lengthValue)))
    constLength = lengthValue.getSExtValue();

  for (unsigned j = 0; j < nOutputs; ++j) {
    auto step =
        dyn_cast<RankedTensorType>(yield.getValues()[nCarries + j].getType());
    if (!step)
      return yield.emitOpError("per-step output #")
             << j << " must be a ranked tensor, found "
             << yield.getValues()[nCarries + j].getType();
    int64_t axis = getOutputAxes()[j];
    if (axis < 0 || axis > step.getRank())
      return emitOpError("output axis #")
             << j << " must be in [0, " << step.getRank() << "], found "
             << axis;
    auto result = cast<RankedTensorType>(getResult(nCarries + j).getType());
    int64_t time =
        result.getRank() == step.getRank() + 1 ? result.getDimSize(axis) : 0;
    if (result != insertDim(step, axis, time))
      return emitOpError("result #")
             << nCarries + j << " must be the per-step type " << step
             << " with a time dimension at axis " << axis << ", found "
             << result;
    if (!ShapedType::isDynamic(time) && constLength && *constLength != time)
      return emitOpError("time dimension of result #")
             << nCarries + j << " must be ? or the length " << *constLength
             << ", found " << time;
  }
  return success();
}

//===----------------------------------------------------------------------===//
// AssocScanOp
//===----------------------------------------------------------------------===//

void AssocScanOp::build(OpBuilder &builder, OperationState &state,
                        ValueRange inputs, int64_t axis, bool reverse) {
  state.addOperands(inputs);
  state.addAttribute(getAxisAttrName(state.name),
                     builder.getI64IntegerAttr(axis));
  if (reverse)
    state.addAttribute(getReverseAttrName(state.name), builder.getUnitAttr());
  state.addTypes(inputs.getTypes());
  state.addRegion();
}

LogicalResult AssocScanOp::inferReturnTypes(
    MLIRContext *, std::optional<Location>, ValueRange operands, DictionaryAttr,
    OpaqueProperties, RegionRange, SmallVectorImpl<Type> &inferredReturnTypes) {
  llvm::append_range(inferredReturnTypes, operands.getTypes());
  return success();
}

LogicalResult AssocScanOp::verify() {
  if (getInputs().empty())
    return emitOpError("expected at least one input");
  // Inputs may differ in shape (a monoid of a running max and sums of
  // other shapes) but not in the length of the scanned axis.
  int64_t axis = getAxis();
  RankedTensorType first;
  for (Value input : getInputs()) {
    auto type = cast<RankedTensorType>(input.getType());
    if (axis < 0 || axis >= type.getRank())
      return emitOpError("axis must be in [0, ")
             << type.getRank() << "), found " << axis;
    if (!first) {
      first = type;
      continue;
    }
    int64_t a = first.getDimSize(axis), b = type.getDimSize(axis);
    if (!ShapedType::isDynamic(a) && !ShapedType::isDynamic(b) && a != b)
      return emitOpError("expected all inputs to have the size of input #0 "
                         "along axis ")
             << axis << " (" << a << "), found " << input.getType();
  }
  return success();
}

LogicalResult AssocScanOp::verifyRegions() {
  unsigned n = getNumInputs();
  Block &block = getCombinerBlock();
  if (block.getNumArguments() != 2 * n)
    return emitOpError("expected the combiner to take ")
           << 2 * n << " arguments (two elements of " << n << " inputs), found "
           << block.getNumArguments();
  SmallVector<RankedTensorType> slices;
  for (Value input : getInputs())
    slices.push_back(
        dropDim(cast<RankedTensorType>(input.getType()), getAxis()));
  for (unsigned i = 0; i < 2 * n; ++i)
    if (block.getArgument(i).getType() != slices[i % n])
      return emitOpError("combiner argument #")
             << i << " must be a slice of input #" << i % n << ", expected "
             << slices[i % n] << ", found " << block.getArgument(i).getType();
  auto yield = dyn_cast<YieldOp>(block.getTerminator());
  if (!yield)
    return emitOpError("expected the combiner to end with seq.yield");
  if (yield.getValues().size() != n)
    return yield.emitOpError("expected ")
           << n << " values, found " << yield.getValues().size();
  for (unsigned i = 0; i < n; ++i)
    if (yield.getValues()[i].getType() != slices[i])
      return yield.emitOpError("value #")
             << i << " must be a slice of input #" << i << ", expected "
             << slices[i] << ", found " << yield.getValues()[i].getType();
  return success();
}

//===----------------------------------------------------------------------===//
// SoftmaxOp
//===----------------------------------------------------------------------===//

LogicalResult SoftmaxOp::verify() {
  auto type = getInput().getType();
  if (getResult().getType() != type)
    return emitOpError("expected the result type to be the input type ")
           << type << ", found " << getResult().getType();
  int64_t axis = getAxis();
  if (axis < 0 || axis >= type.getRank())
    return emitOpError("axis must be in [0, ")
           << type.getRank() << "), found " << axis;
  return success();
}

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

SmallVector<std::array<int64_t, 3>> AttentionOp::getMaskConstraints() {
  SmallVector<std::array<int64_t, 3>> constraints;
  if (std::optional<ArrayRef<int64_t>> mask = getMask())
    for (size_t i = 0; i + 2 < mask->size(); i += 3)
      constraints.push_back({(*mask)[i], (*mask)[i + 1], (*mask)[i + 2]});
  return constraints;
}

/// Whether static sizes `a` and `b` may be equal (either dynamic, or equal).
static bool compatible(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

LogicalResult AttentionOp::verify() {
  auto q = llvm::cast<RankedTensorType>(getQuery().getType());
  auto k = llvm::cast<RankedTensorType>(getKey().getType());
  auto v = llvm::cast<RankedTensorType>(getValue().getType());
  auto init = llvm::cast<RankedTensorType>(getInit().getType());
  int64_t rank = q.getRank();
  if (rank < 2)
    return emitOpError("expected the query to have rank at least 2 ([..., Tq, "
                       "D]), found rank ")
           << rank;
  for (auto [name, type] : {std::pair{"key", k}, {"value", v}, {"init", init}})
    if (type.getRank() != rank)
      return emitOpError("expected the ")
             << name << " to have the query's rank " << rank << ", found "
             << type.getRank();
  if (getResult().getType() != init)
    return emitOpError("expected the result type to be the init type ")
           << init << ", found " << getResult().getType();
  for (Type t : {q.getElementType(), k.getElementType(), v.getElementType(),
                 init.getElementType()})
    if (!llvm::isa<FloatType>(t))
      return emitOpError("expected float tensors, found element type ") << t;
  int64_t n = rank - 2;
  for (int64_t d = 0; d < n; ++d) {
    for (auto [name, type] : {std::pair{"key", k}, {"value", v}}) {
      int64_t size = type.getDimSize(d);
      if (size != 1 && !compatible(size, q.getDimSize(d)))
        return emitOpError("expected ")
               << name << " batch axis " << d
               << " to be 1 or the query's size " << q.getDimSize(d)
               << ", found " << size;
    }
    if (!compatible(init.getDimSize(d), q.getDimSize(d)))
      return emitOpError("expected init batch axis ")
             << d << " to be the query's size " << q.getDimSize(d)
             << ", found " << init.getDimSize(d);
  }
  if (!compatible(q.getDimSize(n + 1), k.getDimSize(n + 1)))
    return emitOpError("expected the query and key feature sizes to agree, "
                       "found ")
           << q.getDimSize(n + 1) << " and " << k.getDimSize(n + 1);
  if (!compatible(k.getDimSize(n), v.getDimSize(n)))
    return emitOpError("expected the key and value lengths to agree, found ")
           << k.getDimSize(n) << " and " << v.getDimSize(n);
  if (!compatible(init.getDimSize(n), q.getDimSize(n)))
    return emitOpError("expected the init length to be the query's, found ")
           << init.getDimSize(n) << " and " << q.getDimSize(n);
  if (!compatible(init.getDimSize(n + 1), v.getDimSize(n + 1)))
    return emitOpError("expected the init feature size to be the value's, "
                       "found ")
           << init.getDimSize(n + 1) << " and " << v.getDimSize(n + 1);
  if (std::optional<ArrayRef<int64_t>> mask = getMask())
    if (mask->size() % 3 != 0)
      return emitOpError("expected the mask to hold (a, b, c) triples, found ")
             << mask->size() << " values";
  return success();
}

LogicalResult AttentionOp::verifyRegions() {
  Block &block = getScoreBlock();
  int64_t n = getNumBatchDims();
  if (block.getNumArguments() != static_cast<unsigned>(n + 3))
    return emitOpError("expected the score region to take ")
           << n + 3 << " arguments (the score, " << n
           << " batch indices, the query and key positions), found "
           << block.getNumArguments();
  if (!block.getArgument(0).getType().isF32())
    return emitOpError("expected the score region's first argument to be "
                       "f32, found ")
           << block.getArgument(0).getType();
  for (BlockArgument arg : block.getArguments().drop_front())
    if (!arg.getType().isIndex())
      return emitOpError("expected score region argument #")
             << arg.getArgNumber() << " to be an index, found "
             << arg.getType();
  auto yield = block.mightHaveTerminator()
                   ? llvm::dyn_cast<YieldOp>(block.getTerminator())
                   : YieldOp();
  if (!yield || yield.getValues().size() != 1 ||
      !yield.getValues()[0].getType().isF32())
    return emitOpError("expected the score region to yield one f32");
  return success();
}

#define GET_OP_CLASSES
#include "dialects/Seq/SeqOps.cpp.inc"
