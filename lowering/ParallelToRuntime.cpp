//===- ParallelToRuntime.cpp - Run parallel loops on the runtime's pool ---===//
//
// `convert-seq-parallel-to-runtime`: on buffers, every outermost `scf.for`
// marked `seq.parallel` (by `seq-tile-and-vectorize`: the tile loop of a
// leading parallel dim, whose iterations write disjoint tiles) is outlined
// into a private `func.func @<fn>_par<N>(!llvm.ptr ctx, i64 begin, i64 end)`
// running iterations [begin, end) of the loop, and replaced by a call to the
// runtime's `seqrt_parallel_for(n, @<fn>_par<N>, ctx)`. The captured values
// (memref descriptors, indices, scalars) are stored into a struct on the
// caller's stack, `ctx`, which the body loads them back from. Everything
// the body allocates is allocated by each chunk (per thread).
//
// A marked loop is only taken when it carries no value (after bufferization
// the destination iter_args fold away when every tile was written in place;
// one that still carries a buffer copies it, and its iterations depend on
// each other), and when its trip count is unknown or at least
// `min-trip-count`. Marked loops nested in a taken one stay sequential.
//
//===----------------------------------------------------------------------===//

#include "lowering/Passes.h"

#include "mlir/Conversion/LLVMCommon/TypeConverter.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Transforms/RegionUtils.h"

namespace seqc {
#define GEN_PASS_DEF_CONVERTSEQPARALLELTORUNTIME
#include "lowering/Passes.h.inc"
} // namespace seqc

using namespace mlir;
using seqc::kParallelAttr;

namespace {

constexpr llvm::StringLiteral kParallelFor = "seqrt_parallel_for";

/// Whether a value of this type can travel through the ctx struct.
static bool isCapturable(Type type) {
  if (auto memref = llvm::dyn_cast<MemRefType>(type))
    return memref.getLayout().isIdentity() ||
           llvm::isa<StridedLayoutAttr>(memref.getLayout());
  if (llvm::isa<IndexType>(type))
    return true;
  if (type.isIntOrFloat())
    return true;
  if (auto vector = llvm::dyn_cast<VectorType>(type))
    return vector.getRank() == 1 && !vector.isScalable() &&
           vector.getElementType().isIntOrFloat();
  return false;
}

/// Whether `op` is recomputed in the outlined body rather than captured:
/// constants, and `vector.step` (an index vector, which the ctx struct
/// cannot hold; hoisted out of a loop by the mask of a tile).
static bool isRematerializable(Operation *op) {
  return op && op->getNumResults() == 1 &&
         (op->hasTrait<OpTrait::ConstantLike>() || llvm::isa<vector::StepOp>(op));
}

struct ConvertSeqParallelToRuntimePass
    : seqc::impl::ConvertSeqParallelToRuntimeBase<
          ConvertSeqParallelToRuntimePass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    LLVMTypeConverter typeConverter(ctx);

    // Outermost candidates first; a taken loop's nested marks are dropped.
    SmallVector<scf::ForOp> taken;
    module.walk<WalkOrder::PreOrder>([&](scf::ForOp loop) {
      if (!loop->hasAttr(kParallelAttr))
        return WalkResult::advance();
      if (isWorthIt(loop, typeConverter)) {
        taken.push_back(loop);
        loop.walk([](scf::ForOp inner) { inner->removeAttr(kParallelAttr); });
        return WalkResult::skip();
      }
      loop->removeAttr(kParallelAttr);
      return WalkResult::advance();
    });
    // Marks on loops that are not taken are dropped (the walk above visits
    // all that are not inside a taken loop).
    if (taken.empty())
      return;

    OpBuilder builder(ctx);
    auto ptrType = LLVM::LLVMPointerType::get(ctx);
    Type i64 = builder.getI64Type();
    auto bodyType = builder.getFunctionType({ptrType, i64, i64}, {});
    auto parallelForType =
        builder.getFunctionType({i64, bodyType, ptrType}, {});

    // `func.func private @seqrt_parallel_for(i64, (ptr, i64, i64) -> (), ptr)`:
    // the function-typed argument lowers to a pointer.
    if (!module.lookupSymbol(kParallelFor)) {
      builder.setInsertionPointToEnd(module.getBody());
      auto decl = func::FuncOp::create(builder, module.getLoc(), kParallelFor,
                                       parallelForType);
      decl.setPrivate();
    }

    SymbolTable symbols(module);
    llvm::DenseMap<Operation *, unsigned> counters;
    SmallVector<Operation *> bodies;
    for (scf::ForOp loop : taken) {
      auto parent = loop->getParentOfType<func::FuncOp>();
      if (!parent)
        continue;
      bodies.push_back(outline(loop, parent, symbols, counters[parent],
                               typeConverter, bodyType));
    }
    // One of each set of bodies that are the same (a model's layers, an
    // entry and its step function): LLVM compiles each once.
    llvm::DenseMap<StringAttr, StringAttr> same = seqc::dedupSymbols(bodies);
    if (same.empty())
      return;
    module.walk([&](func::ConstantOp ref) {
      if (StringAttr kept = same.lookup(ref.getValueAttr().getAttr()))
        ref.setValueAttr(FlatSymbolRefAttr::get(kept));
    });
  }

  bool isWorthIt(scf::ForOp loop, const LLVMTypeConverter &typeConverter) {
    if (loop.getNumResults() != 0 || !loop->getParentOfType<func::FuncOp>() ||
        !loop.getInductionVar().getType().isIndex())
      return false;
    if (std::optional<APInt> trips = loop.getStaticTripCount())
      if (trips->getSExtValue() < minTripCount)
        return false;
    llvm::SetVector<Value> captured;
    getUsedValuesDefinedAbove(loop->getRegions(), captured);
    for (Value v : captured)
      if (isRematerializable(v.getDefiningOp()))
        continue;
      else if (!isCapturable(v.getType()) || !typeConverter.convertType(v.getType()))
        return false;
    return true;
  }

  /// Outlines `loop`'s body into a function of its own; returns it.
  func::FuncOp outline(scf::ForOp loop, func::FuncOp parent,
                       SymbolTable &symbols, unsigned &counter,
                       const LLVMTypeConverter &typeConverter,
                       FunctionType bodyType) {
    MLIRContext *ctx = loop.getContext();
    Location loc = loop.getLoc();
    OpBuilder builder(ctx);
    auto ptrType = LLVM::LLVMPointerType::get(ctx);
    Type i64 = builder.getI64Type();

    // The bounds travel with the other captured values.
    llvm::SetVector<Value> captured;
    captured.insert(loop.getLowerBound());
    captured.insert(loop.getUpperBound());
    captured.insert(loop.getStep());
    getUsedValuesDefinedAbove(loop->getRegions(), captured);
    // Constants are cloned into the body rather than passed: static bounds
    // and steps stay static for LLVM.
    SmallVector<Operation *> constants;
    captured.remove_if([&](Value v) {
      Operation *def = v.getDefiningOp();
      if (!isRematerializable(def))
        return false;
      constants.push_back(def);
      return true;
    });

    SmallVector<Type> fieldTypes;
    for (Value v : captured)
      fieldTypes.push_back(typeConverter.convertType(v.getType()));
    auto structType = LLVM::LLVMStructType::getLiteral(ctx, fieldTypes);

    // The body: iterations [begin, end) of the loop.
    std::string name;
    do {
      name = (parent.getSymName() + "_par" + llvm::Twine(counter++)).str();
    } while (symbols.lookup(name));
    builder.setInsertionPointAfter(parent);
    auto body = func::FuncOp::create(builder, loc, name, bodyType);
    body.setPrivate();
    symbols.insert(body);
    Block *entry = body.addEntryBlock();
    builder.setInsertionPointToStart(entry);
    Value ctxArg = entry->getArgument(0);
    IRMapping mapping;
    for (Operation *def : constants)
      builder.clone(*def, mapping);
    for (auto [i, v] : llvm::enumerate(captured)) {
      Value addr = LLVM::GEPOp::create(
          builder, loc, ptrType, structType, ctxArg,
          ArrayRef<LLVM::GEPArg>{0, static_cast<int32_t>(i)});
      Value field = LLVM::LoadOp::create(builder, loc, fieldTypes[i], addr);
      Value value = field;
      if (llvm::isa<IndexType>(v.getType()))
        value = arith::IndexCastOp::create(builder, loc, v.getType(), field);
      else if (field.getType() != v.getType())
        value = UnrealizedConversionCastOp::create(builder, loc, v.getType(),
                                                   field)
                    .getResult(0);
      mapping.map(v, value);
    }
    Value lb = mapping.lookup(loop.getLowerBound());
    Value ub = mapping.lookup(loop.getUpperBound());
    Value step = mapping.lookup(loop.getStep());
    Type ivType = loop.getInductionVar().getType();
    auto toIv = [&](Value x) -> Value {
      return arith::IndexCastOp::create(builder, loc, ivType, x);
    };
    Value begin = toIv(entry->getArgument(1));
    Value end = toIv(entry->getArgument(2));
    // lb + begin * step .. min(ub, lb + end * step)
    Value chunkLb = arith::AddIOp::create(
        builder, loc, lb, arith::MulIOp::create(builder, loc, begin, step));
    Value chunkUb = arith::MinSIOp::create(
        builder, loc, ub,
        arith::AddIOp::create(builder, loc, lb,
                              arith::MulIOp::create(builder, loc, end, step)));
    auto chunk = llvm::cast<scf::ForOp>(builder.clone(*loop, mapping));
    chunk->removeAttr(kParallelAttr);
    chunk.setLowerBound(chunkLb);
    chunk.setUpperBound(chunkUb);
    func::ReturnOp::create(builder, loc);

    // The call: the ctx struct lives in the caller's entry block (one slot
    // per loop, reused by every call of it).
    builder.setInsertionPointToStart(&parent.getBody().front());
    Value one = LLVM::ConstantOp::create(builder, loc, i64,
                                         builder.getI64IntegerAttr(1));
    Value ctxPtr =
        LLVM::AllocaOp::create(builder, loc, ptrType, structType, one);
    builder.setInsertionPoint(loop);
    for (auto [i, v] : llvm::enumerate(captured)) {
      Value field = v;
      if (llvm::isa<IndexType>(v.getType()))
        field = arith::IndexCastOp::create(builder, loc, i64, v);
      else if (fieldTypes[i] != v.getType())
        field = UnrealizedConversionCastOp::create(builder, loc, fieldTypes[i],
                                                   v)
                    .getResult(0);
      Value addr = LLVM::GEPOp::create(
          builder, loc, ptrType, structType, ctxPtr,
          ArrayRef<LLVM::GEPArg>{0, static_cast<int32_t>(i)});
      LLVM::StoreOp::create(builder, loc, field, addr);
    }
    // n = max(ub - lb, 0) ceildiv step (steps are positive).
    Value zero = arith::ConstantOp::create(
        builder, loc, ivType, builder.getZeroAttr(ivType));
    Value span = arith::MaxSIOp::create(
        builder, loc,
        arith::SubIOp::create(builder, loc, loop.getUpperBound(),
                              loop.getLowerBound()),
        zero);
    Value trips =
        arith::CeilDivSIOp::create(builder, loc, span, loop.getStep());
    Value n = trips.getType() == i64
                  ? trips
                  : arith::IndexCastOp::create(builder, loc, i64, trips)
                        .getResult();
    Value fn = func::ConstantOp::create(builder, loc, bodyType,
                                        FlatSymbolRefAttr::get(body));
    func::CallOp::create(builder, loc, kParallelFor, TypeRange{},
                         ValueRange{n, fn, ctxPtr});
    loop.erase();
    return body;
  }
};

} // namespace
