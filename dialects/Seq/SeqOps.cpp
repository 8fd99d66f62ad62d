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

#define GET_OP_CLASSES
#include "dialects/Seq/SeqOps.cpp.inc"
