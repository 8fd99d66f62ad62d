//===- LowerDeallocs.cpp - bufferization.dealloc without host lists -------===//
//
// `seq-lower-deallocs`: the ownership-based deallocation pipeline leaves
// `bufferization.dealloc (%m...) if (%c...) retain (%r...)`, which frees
// each m_i whose condition holds unless it aliases a retained buffer (or an
// earlier m_k already freed), and returns, per retained r_j, whether the
// caller now owns it. Upstream lowers the general case to a helper function
// over lists in memory the host allocates and fills; for `--target=cuda`
// that memory would be taken for device memory. Here the same decisions are
// made on SSA values: base pointers (`memref.extract_aligned_pointer_as_index`)
// compared pairwise, `scf.if` around each `memref.dealloc`:
//   free_i = c_i ∧ ⋀_j (p_i ≠ q_j) ∧ ⋀_{k<i} ¬(c_k ∧ p_k = p_i)
//   own_j  = ⋁_i (c_i ∧ p_i = q_j)
// Quadratic in the operands, which number a handful.
//
//===----------------------------------------------------------------------===//

#include "lowering/Passes.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"

namespace seqc {
#define GEN_PASS_DEF_SEQLOWERDEALLOCS
#include "lowering/Passes.h.inc"
} // namespace seqc

using namespace mlir;
using namespace seqc;

namespace {

static void lowerDealloc(OpBuilder &b, bufferization::DeallocOp op) {
  Location loc = op.getLoc();
  auto pointer = [&](Value m) -> Value {
    return memref::ExtractAlignedPointerAsIndexOp::create(b, loc, m);
  };
  auto same = [&](Value x, Value y) -> Value {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, x, y);
  };
  auto both = [&](Value x, Value y) -> Value {
    return arith::AndIOp::create(b, loc, x, y);
  };
  Value yes = arith::ConstantIntOp::create(b, loc, 1, 1);
  Value no = arith::ConstantIntOp::create(b, loc, 0, 1);
  SmallVector<Value> p, q;
  for (Value m : op.getMemrefs())
    p.push_back(pointer(m));
  for (Value r : op.getRetained())
    q.push_back(pointer(r));
  auto memrefs = op.getMemrefs();
  auto conditions = op.getConditions();
  for (unsigned i = 0; i < p.size(); ++i) {
    Value free = conditions[i];
    for (Value qj : q)
      free = both(free, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne,
                                              p[i], qj));
    for (unsigned k = 0; k < i; ++k) {
      Value freedBefore = both(conditions[k], same(p[k], p[i]));
      free = both(free, arith::XOrIOp::create(b, loc, freedBefore, yes));
    }
    auto ifOp = scf::IfOp::create(b, loc, free, /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    memref::DeallocOp::create(b, loc, memrefs[i]);
  }
  SmallVector<Value> owned;
  for (Value qj : q) {
    Value own = no;
    for (unsigned i = 0; i < p.size(); ++i)
      own = arith::OrIOp::create(b, loc, own,
                                 both(conditions[i], same(p[i], qj)));
    owned.push_back(own);
  }
  op.replaceAllUsesWith(owned);
  op.erase();
}

struct SeqLowerDeallocs : seqc::impl::SeqLowerDeallocsBase<SeqLowerDeallocs> {
  void runOnOperation() override {
    SmallVector<bufferization::DeallocOp> deallocs;
    getOperation().walk(
        [&](bufferization::DeallocOp op) { deallocs.push_back(op); });
    for (bufferization::DeallocOp op : deallocs) {
      OpBuilder b(op);
      lowerDealloc(b, op);
    }
  }
};

} // namespace
