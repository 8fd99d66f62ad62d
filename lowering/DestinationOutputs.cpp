//===- DestinationOutputs.cpp - Entries write into the caller's tensors ---===//
//
// `seq-destination-outputs`: every entry returns its outputs through memref
// arguments the caller passes (its own tensors), instead of returning fresh
// buffers the runtime copies out. The outputs become trailing identity-layout
// memref arguments `{seq.output}`; before the return, each is written with
// `bufferization.materialize_in_destination ... restrict writable`, and
// `eliminate-empty-tensors` then lets the op that computes the output write
// straight into the argument (the `tensor.empty` it initialises becomes the
// argument), so no copy is left. Where the output cannot be written in place
// (an input or a weight returned as is, an output reached through a reshape)
// bufferization copies it, as the runtime did before. States (results marked
// `seq.state`) stay results: the runtime keeps those buffers.
//
//===----------------------------------------------------------------------===//

#include "lowering/Passes.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "llvm/ADT/BitVector.h"

namespace seqc {
#define GEN_PASS_DEF_SEQDESTINATIONOUTPUTS
#include "lowering/Passes.h.inc"
} // namespace seqc

using namespace mlir;
using namespace seqc;

namespace {

/// Writes `value` into `dest` at `b`. A value chosen by an `scf.if` (and
/// used only there) is written in each branch instead:
/// `eliminate-empty-tensors` follows one branch only, so the other would
/// fill a buffer of its own and the result would be copied (seq-fuse-scan's
/// run-time choice between its fused and chunked forms).
static void materialize(OpBuilder &b, Location loc, Value value, Value dest) {
  auto ifOp = value.getDefiningOp<scf::IfOp>();
  if (ifOp && value.hasOneUse() && !ifOp.getElseRegion().empty()) {
    unsigned index = cast<OpResult>(value).getResultNumber();
    for (Block *branch : {ifOp.thenBlock(), ifOp.elseBlock()}) {
      OpBuilder::InsertionGuard guard(b);
      Operation *yield = branch->getTerminator();
      b.setInsertionPoint(yield);
      materialize(b, loc, yield->getOperand(index), dest);
    }
    return;
  }
  auto m = bufferization::MaterializeInDestinationOp::create(
      b, loc, TypeRange{}, value, dest);
  m.setRestrict(true);
  m.setWritable(true);
}

/// Moves the outputs of `fn` (its results before the states) to arguments.
static LogicalResult toDestinations(func::FuncOp fn) {
  unsigned nResults = fn.getNumResults(), nStates = 0;
  for (unsigned i = 0; i < nResults; ++i)
    if (fn.getResultAttr(i, "seq.state"))
      ++nStates;
  unsigned nOutputs = nResults - nStates;
  if (nOutputs == 0)
    return success();
  for (unsigned i = 0; i < nOutputs; ++i)
    if (!isa<RankedTensorType>(fn.getResultTypes()[i]) ||
        fn.getResultAttr(i, "seq.state"))
      return fn.emitError("entry outputs must be ranked tensors before its "
                          "states");
  if (!fn.getBody().hasOneBlock())
    return fn.emitError("entry with more than one block");
  auto ret = cast<func::ReturnOp>(fn.getBody().front().getTerminator());

  Location loc = fn.getLoc();
  MLIRContext *ctx = fn.getContext();
  OpBuilder b(ret);
  SmallVector<unsigned> positions;
  SmallVector<Type> types;
  SmallVector<DictionaryAttr> attrs;
  SmallVector<Location> locs;
  for (unsigned i = 0; i < nOutputs; ++i) {
    auto t = cast<RankedTensorType>(fn.getResultTypes()[i]);
    positions.push_back(fn.getNumArguments());
    types.push_back(MemRefType::get(t.getShape(), t.getElementType()));
    attrs.push_back(DictionaryAttr::get(
        ctx, b.getNamedAttr("seq.output", b.getUnitAttr())));
    locs.push_back(loc);
  }
  if (failed(fn.insertArguments(positions, types, attrs, locs)))
    return failure();
  unsigned first = fn.getNumArguments() - nOutputs;
  for (unsigned i = 0; i < nOutputs; ++i)
    materialize(b, loc, ret.getOperand(i), fn.getArgument(first + i));
  ret->eraseOperands(0, nOutputs);
  llvm::BitVector drop(nResults);
  drop.set(0, nOutputs);
  return fn.eraseResults(drop);
}

struct SeqDestinationOutputs
    : seqc::impl::SeqDestinationOutputsBase<SeqDestinationOutputs> {
  void runOnOperation() override {
    for (auto fn : getOperation().getOps<func::FuncOp>())
      if (!fn.isExternal() && fn.isPublic() && failed(toDestinations(fn)))
        return signalPassFailure();
  }
};

} // namespace
