//===- GPUMapping.cpp - Buffers and loops of the entries onto the GPU -----===//
//
// `seq-gpu-map` (docs/gpu.md): after bufferization, the entries of a
// `--target=cuda` build are host code that must not touch memory; every
// buffer lives on the device and every loop over elements becomes a kernel.
//  1. Buffers: `memref.alloc` / `dealloc` become `gpu.alloc` / `dealloc`
//     (the runtime allocates them stream-ordered from the device's pool);
//     a `memref.get_global` (a constant the program wrote) is copied to a
//     device buffer where it is used (`gpu.memcpy`); `memref.copy` becomes a
//     `linalg.copy`, a kernel like any other.
//  2. Loops: a scan's task loop (an `scf.for` marked `seq.parallel` that
//     carries nothing and neither allocates nor holds linalg ops) becomes an
//     `scf.parallel`, a thread per task, in blocks of `task-block-size`; a
//     bf16 or f16 contraction (f32 with `tf32`) runs on tensor cores
//     (mma.sync, a block of 4 warps per 128 x 128 or 64 tile of its
//     output), any other f32 one is block-tiled in shared memory, the rest
//     register-tiled, a thread per `contraction-tile`^2 block of its output; every other linalg op
//     becomes an `scf.parallel`
//     over its parallel loops with its reductions as `scf.for` inside (one
//     thread per output element); an op with no parallel loop (a reduction
//     to a scalar) runs
//     in a one-iteration `scf.parallel`, as a single thread, and so does a
//     lone `memref.store` the host would otherwise make.
//  3. Mapping: each outermost `scf.parallel` is collapsed to one dimension
//     (the linear index runs along the innermost, contiguous axis, so
//     neighbouring threads touch neighbouring elements), tiled by
//     `block-size` and mapped to blocks (the tiles) and threads (inside a
//     tile); `scf.parallel`s inside run sequentially in their thread.
//     `convert-parallel-loops-to-gpu` then makes the launches.
// A value read from device memory by the host (a `memref.load` outside any
// loop, used by host code) cannot be compiled: the pass says where.
//
//===----------------------------------------------------------------------===//

#include "lowering/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/ParallelLoopMapper.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/Utils/Utils.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Pass/PassManager.h"

namespace seqc {
#define GEN_PASS_DEF_SEQGPUMAP
#define GEN_PASS_DEF_SEQGPUMERGEKERNELS
#define GEN_PASS_DEF_SEQGPULOWERMMA
#define GEN_PASS_DEF_SEQGPUMODULETOBINARY
#define GEN_PASS_DEF_SEQGPUWORKGROUPBUFFERS
#include "lowering/Passes.h.inc"
} // namespace seqc

using namespace mlir;
using namespace seqc;

/// Whether `op` allocates a block's shared memory (address space 3 or the
/// GPU dialect's workgroup space): the kernel's, not a buffer of the host.
static bool isSharedAlloca(Operation *op) {
  auto alloca = dyn_cast<memref::AllocaOp>(op);
  return alloca &&
         nvgpu::NVGPUDialect::hasSharedMemoryAddressSpace(alloca.getType());
}

namespace {

/// A block's barrier, and a cp.async group's commit and wait, order the
/// threads' accesses to shared memory: they read and write memory.
template <typename OpTy>
struct OrderingEffects
    : MemoryEffectOpInterface::ExternalModel<OrderingEffects<OpTy>, OpTy> {
  void
  getEffects(Operation *,
             SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
                 &effects) const {
    effects.emplace_back(MemoryEffects::Read::get());
    effects.emplace_back(MemoryEffects::Write::get());
  }
};

} // namespace

void seqc::registerLoweringInterfaces(DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *ctx, nvgpu::NVGPUDialect *) {
    nvgpu::DeviceAsyncCreateGroupOp::attachInterface<
        OrderingEffects<nvgpu::DeviceAsyncCreateGroupOp>>(*ctx);
    nvgpu::DeviceAsyncWaitOp::attachInterface<
        OrderingEffects<nvgpu::DeviceAsyncWaitOp>>(*ctx);
  });
  registry.addExtension(+[](MLIRContext *ctx, gpu::GPUDialect *) {
    gpu::BarrierOp::attachInterface<OrderingEffects<gpu::BarrierOp>>(*ctx);
  });
}

namespace {

/// Whether `op` runs on the device already: inside an `scf.parallel` (which
/// becomes a kernel) or a launch.
static bool onDevice(Operation *op) {
  return op->getParentOfType<scf::ParallelOp>() ||
         op->getParentOfType<gpu::LaunchOp>();
}

/// Puts `op` alone in a one-iteration `scf.parallel`: a single-thread
/// kernel.
static scf::ParallelOp wrapInSingleIteration(RewriterBase &rewriter,
                                             Operation *op) {
  rewriter.setInsertionPoint(op);
  Location loc = op->getLoc();
  Value zero = arith::ConstantIndexOp::create(rewriter, loc, 0);
  Value one = arith::ConstantIndexOp::create(rewriter, loc, 1);
  auto loop = scf::ParallelOp::create(rewriter, loc, ValueRange{zero},
                                      ValueRange{one}, ValueRange{one});
  rewriter.moveOpBefore(op, loop.getBody()->getTerminator());
  return loop;
}

/// Builds the async form of a gpu op that `gpu-to-llvm` lowers only so
/// (alloc, dealloc, memcpy): `%t = gpu.wait async`, the op on [%t], then
/// `gpu.wait [its token]`. The runtime runs all of a call on one stream,
/// so these cost nothing (runtime/lib/Cuda.c).
template <typename OpTy, typename... Args>
static OpTy createAsync(RewriterBase &rewriter, Location loc, Args &&...args) {
  Type token = gpu::AsyncTokenType::get(rewriter.getContext());
  Value start =
      gpu::WaitOp::create(rewriter, loc, token, ValueRange{}).getAsyncToken();
  auto op = OpTy::create(rewriter, loc, std::forward<Args>(args)...);
  op.getAsyncDependenciesMutable().append(start);
  gpu::WaitOp::create(rewriter, loc, Type(), ValueRange{op.getAsyncToken()});
  return op;
}

static gpu::AllocOp deviceAlloc(RewriterBase &rewriter, Location loc,
                                MemRefType type, ValueRange dynamicSizes,
                                ValueRange symbols) {
  Type token = gpu::AsyncTokenType::get(rewriter.getContext());
  return createAsync<gpu::AllocOp>(rewriter, loc, type, token, ValueRange{},
                                   dynamicSizes, symbols, false);
}

static void deviceFree(RewriterBase &rewriter, Location loc, Value memref) {
  Type token = gpu::AsyncTokenType::get(rewriter.getContext());
  createAsync<gpu::DeallocOp>(rewriter, loc, token, ValueRange{}, memref);
}

/// Whether `v` is a step function's position: a host scalar the runtime
/// passes (`seq.position`), which the host reads.
static bool isPosition(Value v) {
  auto arg = dyn_cast<BlockArgument>(v);
  if (!arg)
    return false;
  auto fn = dyn_cast<func::FuncOp>(arg.getOwner()->getParentOp());
  return fn && fn.getArgAttr(arg.getArgNumber(), "seq.position");
}

/// Step 1: device buffers.
static LogicalResult mapBuffers(RewriterBase &rewriter, func::FuncOp fn) {
  // The position stays on the host for the host's loads; anything else
  // (an op that becomes a kernel) reads a device copy.
  for (BlockArgument arg : fn.getArguments()) {
    auto type = dyn_cast<MemRefType>(arg.getType());
    if (!type || !isPosition(arg) ||
        llvm::all_of(arg.getUsers(),
                     [](Operation *u) { return isa<memref::LoadOp>(u); }))
      continue;
    rewriter.setInsertionPointToStart(&fn.getBody().front());
    Location loc = arg.getLoc();
    auto copy = deviceAlloc(rewriter, loc, type, {}, {});
    Type token = gpu::AsyncTokenType::get(rewriter.getContext());
    auto memcpy = createAsync<gpu::MemcpyOp>(rewriter, loc, token, ValueRange{},
                                             copy.getMemref(), arg);
    rewriter.replaceUsesWithIf(arg, copy.getMemref(), [&](OpOperand &use) {
      return use.getOwner() != memcpy && !isa<memref::LoadOp>(use.getOwner());
    });
    rewriter.setInsertionPoint(fn.getBody().back().getTerminator());
    deviceFree(rewriter, loc, copy.getMemref());
  }
  SmallVector<Operation *> ops;
  fn.walk([&](Operation *op) {
    if (!onDevice(op) && !isSharedAlloca(op) &&
        isa<memref::AllocOp, memref::DeallocOp, memref::GetGlobalOp,
            memref::CopyOp, memref::AllocaOp>(op))
      ops.push_back(op);
  });
  for (Operation *op : ops) {
    rewriter.setInsertionPoint(op);
    Location loc = op->getLoc();
    if (auto alloc = dyn_cast<memref::AllocOp>(op)) {
      auto buffer =
          deviceAlloc(rewriter, loc, alloc.getType(), alloc.getDynamicSizes(),
                      alloc.getSymbolOperands());
      rewriter.replaceOp(alloc, buffer.getMemref());
    } else if (auto dealloc = dyn_cast<memref::DeallocOp>(op)) {
      deviceFree(rewriter, loc, dealloc.getMemref());
      rewriter.eraseOp(dealloc);
    } else if (auto global = dyn_cast<memref::GetGlobalOp>(op)) {
      // The constant is host memory: a device copy for this call.
      auto type = cast<MemRefType>(global.getType());
      rewriter.setInsertionPointAfter(global);
      auto copy = deviceAlloc(rewriter, loc, type, {}, {});
      Type token = gpu::AsyncTokenType::get(rewriter.getContext());
      auto memcpy =
          createAsync<gpu::MemcpyOp>(rewriter, loc, token, ValueRange{},
                                     copy.getMemref(), global.getResult());
      rewriter.replaceAllUsesExcept(global.getResult(), copy.getMemref(),
                                    memcpy);
      rewriter.setInsertionPoint(copy->getBlock()->getTerminator());
      deviceFree(rewriter, loc, copy.getMemref());
    } else if (auto copy = dyn_cast<memref::CopyOp>(op)) {
      rewriter.replaceOpWithNewOp<linalg::CopyOp>(copy, copy.getSource(),
                                                  copy.getTarget());
    } else if (auto alloca = dyn_cast<memref::AllocaOp>(op)) {
      // A stack buffer of the host is no use to a kernel: device memory
      // for the rest of the block.
      auto buffer =
          deviceAlloc(rewriter, loc, alloca.getType(), alloca.getDynamicSizes(),
                      alloca.getSymbolOperands());
      rewriter.replaceOp(alloca, buffer.getMemref());
      rewriter.setInsertionPoint(buffer->getBlock()->getTerminator());
      deviceFree(rewriter, loc, buffer.getMemref());
    }
  }
  return success();
}

/// Marks the `scf.parallel` of a task loop: its blocks are
/// `task-block-size` threads.
constexpr llvm::StringLiteral kTaskLoopAttr = "seq.task_loop";

/// A `seq.parallel` `scf.for` (the tasks of a scan, seq-fuse-scan and
/// seq-lower-assoc-scan) whose iterations write disjoint parts of buffers
/// and carry nothing (after bufferization) becomes an `scf.parallel`: a
/// kernel with a thread per task. Marked loops inside it stay sequential.
static void mapTaskLoops(RewriterBase &rewriter, func::FuncOp fn) {
  // A thread cannot allocate device memory nor launch kernels: a task that
  // allocates or holds linalg ops (seq-chunkwise's per-chunk work) stays a
  // host loop whose ops become kernels of their own.
  // A block's shared memory (an alloca in address space 3) is the kernel's.
  auto threadable = [](scf::ForOp loop) {
    WalkResult r = loop.getBody()->walk([](Operation *op) {
      if (isSharedAlloca(op))
        return WalkResult::advance();
      return isa<gpu::AllocOp, gpu::DeallocOp, gpu::MemcpyOp, gpu::WaitOp,
                 memref::AllocOp, memref::AllocaOp, memref::DeallocOp,
                 memref::CopyOp, linalg::LinalgOp>(op)
                 ? WalkResult::interrupt()
                 : WalkResult::advance();
    });
    return !r.wasInterrupted();
  };
  SmallVector<scf::ForOp> tasks;
  fn.walk<WalkOrder::PreOrder>([&](scf::ForOp loop) {
    if (!loop->hasAttr(kParallelAttr))
      return WalkResult::advance();
    if (loop.getNumResults() == 0 && !onDevice(loop) && threadable(loop)) {
      tasks.push_back(loop);
      return WalkResult::skip();
    }
    return WalkResult::advance();
  });
  for (scf::ForOp loop : tasks) {
    rewriter.setInsertionPoint(loop);
    auto parallel = scf::ParallelOp::create(
        rewriter, loop.getLoc(), ValueRange{loop.getLowerBound()},
        ValueRange{loop.getUpperBound()}, ValueRange{loop.getStep()});
    Block *body = parallel.getBody();
    rewriter.eraseOp(body->getTerminator());
    rewriter.eraseOp(loop.getBody()->getTerminator());
    rewriter.mergeBlocks(loop.getBody(), body, {parallel.getInductionVars()});
    rewriter.setInsertionPointToEnd(body);
    scf::ReduceOp::create(rewriter, loop.getLoc());
    parallel->setAttr(kTaskLoopAttr, rewriter.getUnitAttr());
    if (Attribute threads = loop->getAttr(kBlockThreadsAttr))
      parallel->setAttr(kBlockThreadsAttr, threads);
    rewriter.eraseOp(loop);
  }
}

/// A contraction that a thread computes a `tile` x `tile` block of: two
/// inputs and one output on buffers, one reduction loop, every indexing
/// map a projected permutation, an m and an n loop indexing the output.
struct Contraction {
  linalg::LinalgOp op;
  unsigned m, n, k; // the loops tiled by threads (m, n) and walked (k)
};

static std::optional<Contraction> matchContraction(linalg::LinalgOp op) {
  if (!op.hasPureBufferSemantics() || op.getNumDpsInputs() != 2 ||
      op.getNumDpsInits() != 1 || op.getNumReductionLoops() != 1 ||
      !linalg::isaContractionOpInterface(op))
    return std::nullopt;
  for (AffineMap map : op.getIndexingMapsArray())
    if (!map.isProjectedPermutation())
      return std::nullopt;
  FailureOr<linalg::ContractionDimensions> dims =
      linalg::inferContractionDims(op);
  if (failed(dims) || dims->m.empty() || dims->n.empty() ||
      dims->k.size() != 1)
    return std::nullopt;
  return Contraction{op, dims->m.back(), dims->n.back(), dims->k.front()};
}

/// The indices of `operand` of contraction `c` with its loop m at `m`, n
/// at `n`, k at `k` and every other loop d at `iv[d]` (those `operand`
/// does not read may be null).
static SmallVector<Value> operandIndices(const Contraction &c,
                                         OpOperand *operand, Value m, Value n,
                                         Value k, ArrayRef<Value> iv) {
  linalg::LinalgOp op = c.op;
  SmallVector<Value> idx;
  for (AffineExpr e : op.getMatchingIndexingMap(operand).getResults()) {
    unsigned d = cast<AffineDimExpr>(e).getPosition();
    idx.push_back(d == c.m ? m : d == c.n ? n : d == c.k ? k : iv[d]);
  }
  return idx;
}

/// Whether `operand` of contraction `c` varies along loop `d`.
static bool readsLoop(const Contraction &c, OpOperand *operand, unsigned d) {
  linalg::LinalgOp op = c.op;
  return llvm::is_contained(op.getMatchingIndexingMap(operand).getResults(),
                            getAffineDimExpr(d, op->getContext()));
}

/// The fill of the whole output just before `op` (the zeros a matmul
/// starts from), if any: ops in between must not touch the output.
static linalg::FillOp outputFill(linalg::LinalgOp op) {
  Value output = op.getDpsInitOperand(0)->get();
  if (op.getMatchingIndexingMap(op.getDpsInitOperand(0)).getNumResults() !=
      op.getNumParallelLoops())
    return {};
  for (Operation *prev = op->getPrevNode(); prev; prev = prev->getPrevNode()) {
    auto f = dyn_cast<linalg::FillOp>(prev);
    if (f && f.getOutputs()[0] == output)
      return f;
    if (prev->getNumRegions() > 0 ||
        llvm::is_contained(prev->getOperands(), output))
      return {};
  }
  return {};
}

/// The payload of contraction `op` on (a, b, acc), its products and sums
/// marked for contraction into FMAs (as the CPU's outer products are).
static Value contractStep(OpBuilder &b, linalg::LinalgOp op, Value a, Value bv,
                          Value acc) {
  Block &payload = op->getRegion(0).front();
  IRMapping map;
  map.map(payload.getArgument(0), a);
  map.map(payload.getArgument(1), bv);
  map.map(payload.getArgument(2), acc);
  for (Operation &p : payload.without_terminator()) {
    Operation *clone = b.clone(p, map);
    if (auto fm = dyn_cast<arith::ArithFastMathInterface>(clone))
      clone->setAttr(fm.getFastMathAttrName(),
                     arith::FastMathFlagsAttr::get(
                         b.getContext(), fm.getFastMathFlagsAttr().getValue() |
                                             arith::FastMathFlags::contract));
  }
  return map.lookupOrDefault(payload.getTerminator()->getOperand(0));
}

/// The stores of a thread's block of contraction `c`'s output: `values`
/// (row-major, `rows` x `cols`) where their row is inside `sizeM` and
/// their column inside `sizeN`; `iv` gives the other loops' indices.
static void storeBlock(OpBuilder &b, const Contraction &c, ValueRange values,
                       ArrayRef<Value> rows, ArrayRef<Value> cols, Value sizeM,
                       Value sizeN, ArrayRef<Value> iv) {
  linalg::LinalgOp op = c.op;
  Location loc = op.getLoc();
  OpOperand *init = op.getDpsInitOperand(0);
  for (auto [i, row] : llvm::enumerate(rows))
    for (auto [j, col] : llvm::enumerate(cols)) {
      Value inM =
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, row, sizeM);
      Value inN =
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, col, sizeN);
      auto guard = scf::IfOp::create(
          b, loc, arith::AndIOp::create(b, loc, inM, inN), false);
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(guard.thenBlock());
      memref::StoreOp::create(b, loc, values[i * cols.size() + j], init->get(),
                              operandIndices(c, init, row, col, Value(), iv));
    }
}

/// Whether `memref`'s rows (its last dim) start 16-byte aligned: a
/// buffer the function allocates (the runtime's device allocations are
/// 256-byte aligned), seen through reshapes, of 4-byte elements with the
/// identity layout and a static last dim that is a multiple of 4. Buffers
/// the caller passes are not assumed aligned.
static bool hasAlignedRows(Value memref) {
  auto type = dyn_cast<MemRefType>(memref.getType());
  if (!type || !type.getLayout().isIdentity() || type.getRank() == 0 ||
      type.getElementTypeBitWidth() != 32 ||
      ShapedType::isDynamic(type.getShape().back()) ||
      type.getShape().back() % 4 != 0)
    return false;
  Operation *def = memref.getDefiningOp();
  while (def && isa<memref::ExpandShapeOp, memref::CollapseShapeOp>(def)) {
    Value src = def->getOperand(0);
    auto srcType = cast<MemRefType>(src.getType());
    if (!srcType.getLayout().isIdentity())
      return false;
    def = src.getDefiningOp();
  }
  return isa_and_nonnull<gpu::AllocOp, memref::AllocOp>(def);
}

/// A contraction (a matmul, batched or not, or a linalg.generic that is one)
/// as a register-tiled kernel: a thread per `tile` x `tile` block of the
/// output (the m and n loops; every other parallel loop a thread dim too),
/// its tile x tile accumulators in registers across the k loop, which reads
/// `tile` values of each input per step for tile x tile payloads (FMAs).
/// Reads past the edges are clamped to the last row or column (their
/// products are not stored); stores are guarded. Threads next to each
/// other take neighbouring n blocks: their reads of the second input are
/// contiguous, their reads of the first the same address. Where the input
/// read along n has n innermost, aligned rows (`hasAlignedRows`) and n a
/// static multiple of `tile`, a step reads its `tile` values as 16-byte
/// vectors: scalar reads of a thread's 8 neighbouring floats took 8
/// accesses of 8 cache lines each a warp, the vectors 2 of 4. An output
/// filled just before (a matmul's zeros) is neither filled nor read: the
/// accumulators start at the fill's value (on the chunkwise RetNet at B8
/// H16 T4096 K128, the fills of its 537 MB of chunk updates and of the
/// outputs and scores took 0.6 ms).
static void tileContraction(RewriterBase &rewriter, const Contraction &c,
                            int64_t tile) {
  linalg::LinalgOp op = c.op;
  Location loc = op.getLoc();
  linalg::FillOp fill = outputFill(op);
  rewriter.setInsertionPoint(op);
  SmallVector<Range> ranges = op.createLoopRanges(rewriter, loc);
  auto cst = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(rewriter, loc, v);
  };
  auto value = [&](OpFoldResult f) {
    return getValueOrCreateConstantIndexOp(rewriter, loc, f);
  };
  Value zero = cst(0), one = cst(1), tileV = cst(tile);
  // Thread dims: every parallel loop, m and n counted in tiles.
  SmallVector<unsigned> threadLoops;
  SmallVector<Value> lbs, ubs, steps;
  for (unsigned d = 0; d < op.getNumLoops(); ++d) {
    if (d == c.k)
      continue;
    threadLoops.push_back(d);
    Value size = value(ranges[d].size);
    if (d == c.m || d == c.n)
      size = arith::CeilDivUIOp::create(rewriter, loc, size, tileV);
    lbs.push_back(zero);
    ubs.push_back(size);
    steps.push_back(one);
  }
  Value sizeM = value(ranges[c.m].size), sizeN = value(ranges[c.n].size);
  Value lastM = arith::SubIOp::create(rewriter, loc, sizeM, one);
  Value lastN = arith::SubIOp::create(rewriter, loc, sizeN, one);
  auto parallel = scf::ParallelOp::create(rewriter, loc, lbs, ubs, steps);
  rewriter.setInsertionPoint(parallel.getBody()->getTerminator());
  SmallVector<Value> iv(op.getNumLoops());
  for (auto [d, v] : llvm::zip(threadLoops, parallel.getInductionVars()))
    iv[d] = v;
  Value m0 = arith::MulIOp::create(rewriter, loc, iv[c.m], tileV);
  Value n0 = arith::MulIOp::create(rewriter, loc, iv[c.n], tileV);
  // Row i of the block (clamped for reads), column j likewise.
  SmallVector<Value> rows, cols, rowsIn, colsIn;
  for (int64_t i = 0; i < tile; ++i) {
    Value r = arith::AddIOp::create(rewriter, loc, m0, cst(i));
    Value q = arith::AddIOp::create(rewriter, loc, n0, cst(i));
    rows.push_back(r);
    cols.push_back(q);
    rowsIn.push_back(arith::MinUIOp::create(rewriter, loc, r, lastM));
    colsIn.push_back(arith::MinUIOp::create(rewriter, loc, q, lastN));
  }
  OpOperand *init = op.getDpsInitOperand(0);
  OpOperand *lhs = op.getDpsInputOperand(0), *rhs = op.getDpsInputOperand(1);
  auto loadAt = [&](OpOperand *operand, Value m, Value n, Value k) -> Value {
    return memref::LoadOp::create(rewriter, loc, operand->get(),
                                  operandIndices(c, operand, m, n, k, iv));
  };
  // The accumulators start as the output (clamped reads, as above), or as
  // the value it was filled with.
  SmallVector<Value> acc;
  for (int64_t i = 0; i < tile; ++i)
    for (int64_t j = 0; j < tile; ++j)
      acc.push_back(fill ? fill.getInputs()[0]
                         : loadAt(init, rowsIn[i], colsIn[j], Value()));
  // Which of the rows (columns) an input's element varies with.
  bool lhsHasM = readsLoop(c, lhs, c.m), lhsHasN = readsLoop(c, lhs, c.n);
  // The input read along n (by column), as vectors where it can be.
  OpOperand *byColumn = lhsHasM ? rhs : lhs;
  AffineMap columnMap = op.getMatchingIndexingMap(byColumn);
  std::optional<int64_t> staticN = getConstantIntValue(ranges[c.n].size);
  bool vectorColumns = tile % 4 == 0 && staticN && *staticN % tile == 0 &&
                       columnMap.getNumResults() > 0 &&
                       columnMap.getResults().back() ==
                           getAffineDimExpr(c.n, rewriter.getContext()) &&
                       hasAlignedRows(byColumn->get());
  // The k loop unrolled by 2 where its static size allows, the reads of
  // both steps first: ncu on RetNet's chunk updates (a batched 128 x 128 x
  // 64 contraction, 96 registers, 4 warps a scheduler) showed warps waiting
  // on each step's reads, 17 cycles an issued instruction; unrolled by 2
  // (114 registers) the chunkwise RetNet took 8.73 ms against 9.75, by 4
  // (151) 9.20 and by 8 9.08.
  std::optional<int64_t> staticK = getConstantIntValue(ranges[c.k].size);
  int64_t unroll = staticK && *staticK % 2 == 0 ? 2 : 1;
  // The operand reads of step `k`: by row for the input indexed by m, by
  // column for the one indexed by n.
  auto read = [&](OpBuilder &b, Location l, Value k) {
    SmallVector<Value> a, bv;
    SmallVector<Value> &columns = lhsHasM ? bv : a;
    if (vectorColumns) {
      auto quad = VectorType::get({4}, rewriter.getF32Type());
      for (int64_t t = 0; t < tile; t += 4) {
        Value v = vector::LoadOp::create(
            b, l, quad, byColumn->get(),
            operandIndices(c, byColumn, Value(), cols[t], k, iv),
            /*nontemporal=*/false, llvm::MaybeAlign(16));
        for (int64_t e = 0; e < 4; ++e)
          columns.push_back(vector::ExtractOp::create(b, l, v, e));
      }
    }
    for (int64_t t = 0; t < tile; ++t) {
      if (!vectorColumns || byColumn != lhs)
        a.push_back(
            loadAt(lhs, rowsIn[lhsHasM ? t : 0], colsIn[lhsHasN ? t : 0], k));
      if (!vectorColumns || byColumn != rhs)
        bv.push_back(
            loadAt(rhs, rowsIn[lhsHasM ? 0 : t], colsIn[lhsHasM ? t : 0], k));
    }
    return std::make_pair(a, bv);
  };
  auto loop = scf::ForOp::create(
      rewriter, loc, value(ranges[c.k].offset), value(ranges[c.k].size),
      cst(unroll), acc,
      [&](OpBuilder &b, Location l, Value k0, ValueRange accs0) {
        SmallVector<std::pair<SmallVector<Value>, SmallVector<Value>>> reads;
        for (int64_t u = 0; u < unroll; ++u)
          reads.push_back(read(
              b, l,
              u == 0 ? k0
                     : arith::AddIOp::create(
                           b, l, k0, arith::ConstantIndexOp::create(b, l, u))
                           .getResult()));
        SmallVector<Value> next(accs0);
        for (auto &[a, bv] : reads) {
          SmallVector<Value> accs = next;
          next.clear();
          // lhs varies with m (rows) or n: pick its element accordingly.
          for (int64_t i = 0; i < tile; ++i)
            for (int64_t j = 0; j < tile; ++j)
              next.push_back(contractStep(b, op, lhsHasM ? a[i] : a[j],
                                          lhsHasM ? bv[j] : bv[i],
                                          accs[i * tile + j]));
        }
        scf::YieldOp::create(b, l, next);
      });
  // Guarded stores of the block.
  storeBlock(rewriter, c, loop.getResults(), rows, cols, sizeM, sizeN, iv);
  rewriter.eraseOp(op);
  if (fill)
    rewriter.eraseOp(fill);
}

/// Where a thread of a block-tiled contraction is: the grid of
/// `blockTiles`.
struct BlockTile {
  Value sizeM, sizeN, sizeK;
  Value tid;             // the thread in its block
  Value bm, bn;          // the block's first row and column of the output
  SmallVector<Value> iv; // by loop: the other parallel loops' indices
};

/// The grid of a block-tiled contraction `c`: an `scf.parallel` task loop
/// of blocks of `threads` threads, a block per `BM` x `BN` tile of the
/// output and every other parallel loop (them first, the n tiles fastest).
/// Leaves the insertion point in the loop's body.
static BlockTile blockTiles(RewriterBase &rewriter, const Contraction &c,
                            int64_t BM, int64_t BN, int64_t threads) {
  linalg::LinalgOp op = c.op;
  Location loc = op.getLoc();
  SmallVector<Range> ranges = op.createLoopRanges(rewriter, loc);
  auto cst = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(rewriter, loc, v);
  };
  auto value = [&](OpFoldResult f) {
    return getValueOrCreateConstantIndexOp(rewriter, loc, f);
  };
  BlockTile t;
  t.sizeM = value(ranges[c.m].size);
  t.sizeN = value(ranges[c.n].size);
  t.sizeK = value(ranges[c.k].size);
  SmallVector<unsigned> batchLoops;
  SmallVector<Value> blockDims;
  for (unsigned d = 0; d < op.getNumLoops(); ++d)
    if (d != c.m && d != c.n && d != c.k) {
      batchLoops.push_back(d);
      blockDims.push_back(value(ranges[d].size));
    }
  blockDims.push_back(
      arith::CeilDivUIOp::create(rewriter, loc, t.sizeM, cst(BM)));
  blockDims.push_back(
      arith::CeilDivUIOp::create(rewriter, loc, t.sizeN, cst(BN)));
  Value tasks = cst(threads);
  for (Value d : blockDims)
    tasks = arith::MulIOp::create(rewriter, loc, tasks, d);
  auto parallel = scf::ParallelOp::create(
      rewriter, loc, ValueRange{cst(0)}, ValueRange{tasks}, ValueRange{cst(1)});
  parallel->setAttr(kTaskLoopAttr, rewriter.getUnitAttr());
  parallel->setAttr(kBlockThreadsAttr, rewriter.getI64IntegerAttr(threads));
  rewriter.setInsertionPoint(parallel.getBody()->getTerminator());
  Value task = parallel.getInductionVars()[0];
  t.tid = arith::RemUIOp::create(rewriter, loc, task, cst(threads));
  SmallVector<Value> at = delinearize(
      rewriter, loc, arith::DivUIOp::create(rewriter, loc, task, cst(threads)),
      blockDims, /*wrap=*/false);
  t.iv.resize(op.getNumLoops());
  for (auto [d, v] : llvm::zip(batchLoops, at))
    t.iv[d] = v;
  t.bm = arith::MulIOp::create(rewriter, loc, at[at.size() - 2], cst(BM));
  t.bn = arith::MulIOp::create(rewriter, loc, at.back(), cst(BN));
  return t;
}

/// An f32 contraction as a block-tiled kernel: a block of 256 threads per
/// `BM` x `BN` tile of the output (64 or 128 each; every other parallel
/// loop a block dim too), a thread per BM / 16 x BN / 16 of it in
/// registers. The k loop goes 16 steps at a time: the block copies the
/// inputs' BM x 16 and BN x 16 slices into shared memory (4 or 8 values a
/// thread each, neighbouring threads reading along each input's innermost
/// dim; rows, columns and steps past the edges clamped, the steps' values
/// zero), then each thread reads its rows and columns of a step as 16-byte
/// vectors from shared memory, a loop over the slice's steps. An output
/// filled just before (a matmul's zeros) is neither filled nor read. On
/// the H100, gelu(x @ w1) @ w2 at 4096 x 512 x 2048 took 0.79 ms (cuBLAS
/// without TF32 0.66; 8 steps a slice: 0.83; 16 steps unrolled: 0.72-0.78,
/// but 16 times the code: hybrid's cuda build took 3.5 s against 2.2).
static void tileContractionShared(RewriterBase &rewriter, const Contraction &c,
                                  int64_t BM, int64_t BN) {
  constexpr int64_t BK = 16, kThreads = 256;
  const int64_t TM = BM / 16, TN = BN / 16;
  constexpr int64_t kPad = 4; // a shared row's padding: no bank conflicts
  linalg::LinalgOp op = c.op;
  Location loc = op.getLoc();
  MLIRContext *ctx = rewriter.getContext();
  linalg::FillOp fill = outputFill(op);
  rewriter.setInsertionPoint(op);
  auto cst = [&](OpBuilder &b, int64_t v) -> Value {
    return arith::ConstantIndexOp::create(b, loc, v);
  };
  OpBuilder::InsertionGuard guard(rewriter);
  BlockTile t = blockTiles(rewriter, c, BM, BN, kThreads);
  OpBuilder &b = rewriter;
  Value sizeM = t.sizeM, sizeN = t.sizeN, sizeK = t.sizeK, tid = t.tid,
        bm = t.bm, bn = t.bn;
  ArrayRef<Value> iv = t.iv;
  Value lastM = arith::SubIOp::create(b, loc, sizeM, cst(b, 1));
  Value lastN = arith::SubIOp::create(b, loc, sizeN, cst(b, 1));
  Value lastK = arith::SubIOp::create(b, loc, sizeK, cst(b, 1));
  Value ty = arith::DivUIOp::create(b, loc, tid, cst(b, BN / TN));
  Value tx = arith::RemUIOp::create(b, loc, tid, cst(b, BN / TN));
  Value tm = arith::MulIOp::create(b, loc, ty, cst(b, TM));
  Value tn = arith::MulIOp::create(b, loc, tx, cst(b, TN));
  Value m0 = arith::AddIOp::create(b, loc, bm, tm);
  Value n0 = arith::AddIOp::create(b, loc, bn, tn);

  OpOperand *init = op.getDpsInitOperand(0);
  OpOperand *lhs = op.getDpsInputOperand(0), *rhs = op.getDpsInputOperand(1);
  // The input varying along m (its slices are As[k][m]), the one along n.
  bool lhsHasM = readsLoop(c, lhs, c.m);
  OpOperand *aOp = lhsHasM ? lhs : rhs, *bOp = lhsHasM ? rhs : lhs;
  Type f32 = b.getF32Type();
  auto shared = [&](int64_t width) {
    return MemRefType::get(
        {BK, width + kPad}, f32, AffineMap(),
        b.getI64IntegerAttr(nvgpu::NVGPUDialect::kSharedMemoryAddressSpace));
  };
  Value as = memref::AllocaOp::create(b, loc, shared(BM));
  Value bs = memref::AllocaOp::create(b, loc, shared(BN));
  Value zeroF = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));

  // Accumulators: the fill's value, or the output (clamped reads).
  SmallVector<Value> rows, cols;
  for (int64_t i = 0; i < TM; ++i)
    rows.push_back(arith::AddIOp::create(b, loc, m0, cst(b, i)));
  for (int64_t j = 0; j < TN; ++j)
    cols.push_back(arith::AddIOp::create(b, loc, n0, cst(b, j)));
  SmallVector<Value> acc;
  for (int64_t i = 0; i < TM; ++i)
    for (int64_t j = 0; j < TN; ++j) {
      if (fill) {
        acc.push_back(fill.getInputs()[0]);
        continue;
      }
      Value r = arith::MinUIOp::create(b, loc, rows[i], lastM);
      Value q = arith::MinUIOp::create(b, loc, cols[j], lastN);
      acc.push_back(memref::LoadOp::create(
          b, loc, init->get(), operandIndices(c, init, r, q, Value(), iv)));
    }

  // A slice's copy: `operand`'s BK x 128 values at step k0 along `dim`
  // (m or n) from `base`, into `dst`[k][x]; neighbouring threads take
  // neighbouring elements of the operand's innermost dim.
  auto copySlice = [&](OpBuilder &lb, OpOperand *operand, unsigned dim,
                       int64_t width, Value base, Value last, Value k0,
                       Value dst) {
    AffineMap map = op.getMatchingIndexingMap(operand);
    bool kInner = map.getResults().back() == getAffineDimExpr(c.k, ctx);
    for (int64_t r = 0; r < BK * width / kThreads; ++r) {
      Value e = arith::AddIOp::create(lb, loc, tid, cst(lb, r * kThreads));
      Value kk, xx;
      if (kInner) {
        kk = arith::RemUIOp::create(lb, loc, e, cst(lb, BK));
        xx = arith::DivUIOp::create(lb, loc, e, cst(lb, BK));
      } else {
        kk = arith::DivUIOp::create(lb, loc, e, cst(lb, width));
        xx = arith::RemUIOp::create(lb, loc, e, cst(lb, width));
      }
      Value k = arith::AddIOp::create(lb, loc, k0, kk);
      Value kIn = arith::MinUIOp::create(lb, loc, k, lastK);
      Value x = arith::MinUIOp::create(
          lb, loc, arith::AddIOp::create(lb, loc, base, xx), last);
      Value v = memref::LoadOp::create(
          lb, loc, operand->get(),
          operandIndices(c, operand, dim == c.m ? x : Value(),
                         dim == c.n ? x : Value(), kIn, iv));
      Value inK =
          arith::CmpIOp::create(lb, loc, arith::CmpIPredicate::ult, k, sizeK);
      v = arith::SelectOp::create(lb, loc, inK, v, zeroF);
      memref::StoreOp::create(lb, loc, v, dst, ValueRange{kk, xx});
    }
  };
  auto quad = VectorType::get({4}, f32);
  auto loop = scf::ForOp::create(
      b, loc, cst(b, 0), sizeK, cst(b, BK), acc,
      [&](OpBuilder &lb, Location l, Value k0, ValueRange accs) {
        copySlice(lb, aOp, c.m, BM, bm, lastM, k0, as);
        copySlice(lb, bOp, c.n, BN, bn, lastN, k0, bs);
        gpu::BarrierOp::create(lb, l);
        // The slice's steps, a loop (unrolled: 16 times the code).
        auto steps = scf::ForOp::create(
            lb, l, cst(lb, 0), cst(lb, BK), cst(lb, 1), accs,
            [&](OpBuilder &sb, Location sl, Value kk, ValueRange stepAccs) {
              auto rowOf = [&](Value slice, Value base, int64_t count) {
                SmallVector<Value> values;
                for (int64_t q = 0; q < count; q += 4) {
                  Value v = vector::LoadOp::create(
                      sb, sl, quad, slice,
                      ValueRange{
                          kk, arith::AddIOp::create(sb, sl, base, cst(sb, q))},
                      false, llvm::MaybeAlign(16));
                  for (int64_t e = 0; e < 4; ++e)
                    values.push_back(vector::ExtractOp::create(sb, sl, v, e));
                }
                return values;
              };
              SmallVector<Value> av = rowOf(as, tm, TM), bv = rowOf(bs, tn, TN);
              SmallVector<Value> next(stepAccs);
              for (int64_t i = 0; i < TM; ++i)
                for (int64_t j = 0; j < TN; ++j)
                  next[i * TN + j] =
                      contractStep(sb, op, lhsHasM ? av[i] : bv[j],
                                   lhsHasM ? bv[j] : av[i], next[i * TN + j]);
              scf::YieldOp::create(sb, sl, next);
            });
        SmallVector<Value> next(steps.getResults());
        gpu::BarrierOp::create(lb, l);
        scf::YieldOp::create(lb, l, next);
      });
  // Guarded stores of the thread's block.
  storeBlock(b, c, loop.getResults(), rows, cols, sizeM, sizeN, iv);
  rewriter.eraseOp(op);
  if (fill)
    rewriter.eraseOp(fill);
}

/// Whether contraction `op`'s payload is `acc + a * b` on its two inputs
/// (each maybe widened first): what a tensor-core mma computes.
static bool isMulAdd(linalg::LinalgOp op) {
  Block &payload = op->getRegion(0).front();
  auto arg = [&](Value v) -> int64_t {
    while (auto ext = v.getDefiningOp<arith::ExtFOp>())
      v = ext.getIn();
    auto a = dyn_cast<BlockArgument>(v);
    return a && a.getOwner() == &payload ? a.getArgNumber() : -1;
  };
  auto add =
      payload.getTerminator()->getOperand(0).getDefiningOp<arith::AddFOp>();
  if (!add)
    return false;
  for (auto [acc, prod] : {std::pair(add.getLhs(), add.getRhs()),
                           std::pair(add.getRhs(), add.getLhs())}) {
    auto mul = prod.getDefiningOp<arith::MulFOp>();
    if (arg(acc) != 2 || !mul)
      continue;
    std::array<int64_t, 2> ins{arg(mul.getLhs()), arg(mul.getRhs())};
    if ((ins == std::array<int64_t, 2>{0, 1} ||
         ins == std::array<int64_t, 2>{1, 0}) &&
        llvm::all_of(payload.without_terminator(), [](Operation &p) {
          return isa<arith::ExtFOp, arith::MulFOp, arith::AddFOp>(p);
        }))
      return true;
  }
  return false;
}

/// Whether contraction `c` goes on tensor cores (`tileContractionMMA`):
/// `acc + a * b` with both inputs bf16 or both f16 (or f32, as tf32 where
/// `tf32`) and the output the same or f32, each input's innermost dim its
/// k or its m / n (the two layouts `ldmatrix` reads, as they are or
/// transposed).
static bool onTensorCores(const Contraction &c, bool tf32) {
  linalg::LinalgOp op = c.op;
  Type elt = getElementTypeOrSelf(op.getDpsInputOperand(0)->get().getType());
  Type out = getElementTypeOrSelf(op.getDpsInitOperand(0)->get().getType());
  if (!(elt.isBF16() || elt.isF16() || (tf32 && elt.isF32())) ||
      getElementTypeOrSelf(op.getDpsInputOperand(1)->get().getType()) != elt ||
      !(out == elt || out.isF32()) || !isMulAdd(op))
    return false;
  for (OpOperand *in : op.getDpsInputOperands()) {
    AffineMap map = op.getMatchingIndexingMap(in);
    if (map.getNumResults() == 0)
      return false;
    unsigned inner = cast<AffineDimExpr>(map.getResults().back()).getPosition();
    if (inner != c.k && inner != (readsLoop(c, in, c.m) ? c.m : c.n))
      return false;
  }
  return true;
}

/// A contraction of 16-bit floats (bf16 or f16; the output 16-bit or f32),
/// or of f32 as tf32, on tensor cores: a block of 128 threads (4 warps, 2
/// along m by 2 along n) per `BM` x `BN` tile of the output (64 or 128
/// each; every other parallel loop a block dim too), a warp per BM / 2 x
/// BN / 2 of it as `mma.sync` tiles (m16n8k16; tf32 m16n8k8) whose f32
/// accumulators stay in registers (the sum is f32 whatever the output
/// type, as the interpreter's is exact: a 16-bit sum of 512 products keeps
/// 2-3 digits). k goes 64 bytes of a row a slice (32 steps; tf32 16)
/// through 3 shared-memory stages: a step waits for its slice, then puts
/// the slice two ahead in flight (cp.async) before its mmas. A slice keeps
/// each input's layout (its innermost dim k or its m / n), rows padded so
/// that `ldmatrix` (transposing where k is not innermost; for tf32 there
/// a lane reads its elements) reads the fragments without bank conflicts.
/// The copies are 16-byte cp.async where the input's rows are 16-byte
/// aligned, a check at run time (a caller's tensor may be a slice); else
/// element by element. Steps past k are zeros; rows and columns past the
/// edges repeat the last (their results are not stored).
static void tileContractionMMA(RewriterBase &rewriter, const Contraction &c,
                               int64_t BM, int64_t BN) {
  // 4 warps of 64 x 64 (or 32): on the H100 at 4096^3, 8 warps of 64 x
  // 32 did 217 TFLOP/s, these 252-258; 8 warps of 64 x 64 (a 128 x 256
  // tile) 217-255 and half the blocks for a narrow output. 3 stages of 32
  // steps: 2 did 162-197, 4 and 5 or 64 steps no better.
  constexpr int64_t kStages = 3, warpsM = 2, warpsN = 2;
  constexpr int64_t kThreads = 32 * warpsM * warpsN;
  // 16-bit floats: m16n8k16, 32 steps a slice; f32 (as tf32): m16n8k8, 16
  // steps: either way 64 bytes of a row. kVec elements are 16 bytes.
  Type elt = getElementTypeOrSelf(c.op->getOperand(0).getType());
  const bool tf32 = elt.isF32();
  const int64_t kVec = tf32 ? 4 : 8, kStep = tf32 ? 8 : 16, BK = 2 * kStep;
  // A row along k is padded by 16 bytes, a row along m or n by 8 elements:
  // the 8 rows an ldmatrix reads (or, for tf32 rows along m or n, the 4
  // rows of a fragment's element loads) fall in distinct banks.
  const int64_t kPadK = kVec, kPadX = 8;
  const int64_t WM = BM / warpsM, WN = BN / warpsN, MT = WM / 16, NT = WN / 8;
  linalg::LinalgOp op = c.op;
  Location loc = op.getLoc();
  MLIRContext *ctx = rewriter.getContext();
  linalg::FillOp fill = outputFill(op);
  rewriter.setInsertionPoint(op);
  auto cst = [&](OpBuilder &b, int64_t v) -> Value {
    return arith::ConstantIndexOp::create(b, loc, v);
  };
  OpBuilder::InsertionGuard guard(rewriter);
  BlockTile t = blockTiles(rewriter, c, BM, BN, kThreads);
  OpBuilder &b = rewriter;
  Value sizeM = t.sizeM, sizeN = t.sizeN, sizeK = t.sizeK, tid = t.tid,
        bm = t.bm, bn = t.bn;
  ArrayRef<Value> iv = t.iv;
  auto add = [&](OpBuilder &lb, Value x, int64_t v) -> Value {
    return arith::AddIOp::create(lb, loc, x, cst(lb, v));
  };
  auto mul = [&](OpBuilder &lb, Value x, int64_t v) -> Value {
    return arith::MulIOp::create(lb, loc, x, cst(lb, v));
  };
  auto div = [&](OpBuilder &lb, Value x, int64_t v) -> Value {
    return arith::DivUIOp::create(lb, loc, x, cst(lb, v));
  };
  auto rem = [&](OpBuilder &lb, Value x, int64_t v) -> Value {
    return arith::RemUIOp::create(lb, loc, x, cst(lb, v));
  };
  Value warp = div(b, tid, 32), lane = rem(b, tid, 32);
  Value wm = mul(b, div(b, warp, warpsN), WM),
        wn = mul(b, rem(b, warp, warpsN), WN);
  Value g = div(b, lane, 4), q = rem(b, lane, 4);

  OpOperand *init = op.getDpsInitOperand(0);
  OpOperand *lhs = op.getDpsInputOperand(0), *rhs = op.getDpsInputOperand(1);
  bool lhsHasM = readsLoop(c, lhs, c.m);
  Type f32 = b.getF32Type();
  Type outElt = getElementTypeOrSelf(init->get().getType());

  // An input's slices: its stages, rows along its innermost dim.
  struct Input {
    OpOperand *operand;
    unsigned dim;     // m or n
    int64_t width;    // BM or BN
    Value base, size; // the block's first row / column, and the length
    bool kInner;      // k innermost (else dim)
    Value stages;  // [kStages, width, BK + pad] or [kStages, BK, width + pad]
    Value aligned; // whether its rows start 16-byte aligned
  };
  auto makeInput = [&](OpOperand *operand, unsigned dim, int64_t width,
                       Value base, Value size) {
    AffineMap map = op.getMatchingIndexingMap(operand);
    Input in{operand, dim,
             width,   base,
             size,    map.getResults().back() == getAffineDimExpr(c.k, ctx),
             {},      {}};
    SmallVector<int64_t> shape =
        in.kInner ? SmallVector<int64_t>{kStages, width, BK + kPadK}
                  : SmallVector<int64_t>{kStages, BK, width + kPadX};
    in.stages = memref::AllocaOp::create(
        b, loc,
        MemRefType::get(shape, elt, AffineMap(),
                        b.getI64IntegerAttr(
                            nvgpu::NVGPUDialect::kSharedMemoryAddressSpace)));
    // Rows 16-byte aligned: the identity layout, the base address and the
    // row length (the innermost size) in whole 16-byte vectors.
    auto type = cast<MemRefType>(operand->get().getType());
    if (!type.getLayout().isIdentity()) {
      in.aligned = arith::ConstantIntOp::create(b, loc, b.getI1Type(), 0);
      return in;
    }
    Value ptr =
        memref::ExtractAlignedPointerAsIndexOp::create(b, loc, operand->get());
    Value rowLen =
        memref::DimOp::create(b, loc, operand->get(), type.getRank() - 1);
    Value zero = cst(b, 0);
    auto isZero = [&](Value v) {
      return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, v, zero);
    };
    in.aligned = arith::AndIOp::create(b, loc, isZero(rem(b, ptr, 16)),
                                       isZero(rem(b, rowLen, kVec)));
    return in;
  };
  Input inA = makeInput(lhsHasM ? lhs : rhs, c.m, BM, bm, sizeM);
  Input inB = makeInput(lhsHasM ? rhs : lhs, c.n, BN, bn, sizeN);

  // Accumulators: the fill's value, or the output (clamped reads).
  auto accType = VectorType::get({2, 2}, f32);
  Value lastM = add(b, sizeM, -1), lastN = add(b, sizeN, -1);
  SmallVector<Value> acc;
  for (int64_t mt = 0; mt < MT; ++mt)
    for (int64_t nt = 0; nt < NT; ++nt) {
      SmallVector<Value> elements;
      for (int64_t i = 0; i < 4; ++i) {
        Value v;
        if (fill) {
          v = fill.getInputs()[0];
        } else {
          Value r = arith::AddIOp::create(b, loc,
                                          arith::AddIOp::create(b, loc, bm, wm),
                                          add(b, g, mt * 16 + 8 * (i / 2)));
          r = arith::MinUIOp::create(b, loc, r, lastM);
          Value col = arith::AddIOp::create(
              b, loc, arith::AddIOp::create(b, loc, bn, wn),
              add(b, mul(b, q, 2), nt * 8 + i % 2));
          col = arith::MinUIOp::create(b, loc, col, lastN);
          v = memref::LoadOp::create(
              b, loc, init->get(),
              operandIndices(c, init, r, col, Value(), iv));
        }
        if (v.getType() != f32)
          v = arith::ExtFOp::create(b, loc, f32, v);
        elements.push_back(v);
      }
      acc.push_back(vector::FromElementsOp::create(b, loc, accType, elements));
    }

  // Slice `k0` of `in` into stage `stage`: 16-byte cp.async where the rows
  // are aligned (neighbouring threads along the innermost dim; a vector
  // past k reads nothing and fills zeros), else element by element.
  Value zeroElt = arith::ConstantOp::create(b, loc, b.getZeroAttr(elt));
  auto copySlice = [&](OpBuilder &lb, const Input &in, Value k0, Value stage) {
    Value last = add(lb, in.size, -1), lastK = add(lb, sizeK, -1);
    auto load = [&](Value k, Value x) {
      return operandIndices(c, in.operand, in.dim == c.m ? x : Value(),
                            in.dim == c.n ? x : Value(), k, iv);
    };
    auto ifOp = scf::IfOp::create(lb, loc, in.aligned, /*withElse=*/true);
    {
      OpBuilder ib = ifOp.getThenBodyBuilder();
      auto tokenType = nvgpu::DeviceAsyncTokenType::get(ctx);
      int64_t perRow = (in.kInner ? BK : in.width) / kVec;
      for (int64_t r = 0; r < in.width * BK / kVec / kThreads; ++r) {
        Value e = add(ib, tid, r * kThreads);
        Value along = mul(ib, rem(ib, e, perRow), kVec),
              across = div(ib, e, perRow);
        Value kk = in.kInner ? along : across, xx = in.kInner ? across : along;
        Value k = arith::AddIOp::create(ib, loc, k0, kk);
        Value inK =
            arith::CmpIOp::create(ib, loc, arith::CmpIPredicate::ult, k, sizeK);
        // A vector along x starts at most a vector before the end.
        Value x = arith::AddIOp::create(ib, loc, in.base, xx);
        x = arith::MinUIOp::create(ib, loc, x,
                                   in.kInner ? last : add(ib, in.size, -kVec));
        Value kIn = arith::SelectOp::create(ib, loc, inK, k, cst(ib, 0));
        Value count =
            arith::SelectOp::create(ib, loc, inK, cst(ib, kVec), cst(ib, 0));
        SmallVector<Value> dst{stage, in.kInner ? xx : kk, in.kInner ? kk : xx};
        nvgpu::DeviceAsyncCopyOp::create(
            ib, loc, tokenType, in.stages, dst, in.operand->get(), load(kIn, x),
            ib.getIndexAttr(kVec), count, ib.getUnitAttr());
      }
    }
    {
      // A loop, not unrolled: the slow path, kept small (unrolled, its
      // loads in flight made ptxas spill the accumulators).
      OpBuilder eb = ifOp.getElseBodyBuilder();
      int64_t perRow = in.kInner ? BK : in.width;
      scf::ForOp::create(
          eb, loc, cst(eb, 0), cst(eb, in.width * BK), cst(eb, kThreads),
          ValueRange{}, [&](OpBuilder &fb, Location l, Value r, ValueRange) {
            Value e = arith::AddIOp::create(fb, l, tid, r);
            Value along = rem(fb, e, perRow), across = div(fb, e, perRow);
            Value kk = in.kInner ? along : across,
                  xx = in.kInner ? across : along;
            Value k = arith::AddIOp::create(fb, l, k0, kk);
            Value kIn = arith::MinUIOp::create(fb, l, k, lastK);
            Value x = arith::MinUIOp::create(
                fb, l, arith::AddIOp::create(fb, l, in.base, xx), last);
            Value v =
                memref::LoadOp::create(fb, l, in.operand->get(), load(kIn, x));
            Value inK = arith::CmpIOp::create(fb, l, arith::CmpIPredicate::ult,
                                              k, sizeK);
            v = arith::SelectOp::create(fb, l, inK, v, zeroElt);
            memref::StoreOp::create(
                fb, l, v, in.stages,
                ValueRange{stage, in.kInner ? xx : kk, in.kInner ? kk : xx});
            scf::YieldOp::create(fb, l);
          });
    }
  };
  // Both inputs' slice k0 as one cp.async group (empty where the copies
  // were element by element).
  auto tokenType = nvgpu::DeviceAsyncTokenType::get(ctx);
  auto copyStage = [&](OpBuilder &lb, Value k0, Value stage) -> Value {
    copySlice(lb, inA, k0, stage);
    copySlice(lb, inB, k0, stage);
    return nvgpu::DeviceAsyncCreateGroupOp::create(lb, loc, tokenType,
                                                   ValueRange{});
  };
  // The x4 fragments a lane's `ldmatrix` row address gives: matrix j =
  // lane / 8 (row lane % 8) at offsets (k + kOff(j), x + xOff(j)), each
  // 8 rows of 16 bytes. A: matrices (m 0, k 0), (m 8, k 0), (m 0, k h),
  // (m 8, k h); B: (n 0, k 0), (n 0, k h), (n 8, k 0), (n 8, k h), h half
  // an mma's k. For tf32, where k is not innermost (no transposing
  // ldmatrix of 32-bit elements), a lane reads its elements: A's (row g
  // + 8 (i % 2), step q + 4 (i / 2)), B's two (column g of two n8 tiles,
  // steps q and q + 4).
  auto fragType =
      tf32 ? VectorType::get({4, 1}, elt) : VectorType::get({4, 2}, elt);
  auto fragments = [&](OpBuilder &lb, const Input &in, Value stage, Value k,
                       Value x, bool isA) -> Value {
    if (tf32 && !in.kInner) {
      SmallVector<Value> elements;
      for (int64_t i = 0; i < 4; ++i) {
        int64_t xOff = isA ? 8 * (i % 2) : 8 * (i / 2);
        int64_t kOff = isA ? 4 * (i / 2) : 4 * (i % 2);
        Value kk = arith::AddIOp::create(lb, loc, k, add(lb, q, kOff));
        Value xx = arith::AddIOp::create(lb, loc, x, add(lb, g, xOff));
        elements.push_back(memref::LoadOp::create(lb, loc, in.stages,
                                                  ValueRange{stage, kk, xx}));
      }
      return vector::FromElementsOp::create(lb, loc, fragType, elements);
    }
    Value j = div(lb, lane, 8), r = rem(lb, lane, 8);
    Value low = rem(lb, j, 2), high = div(lb, j, 2);
    Value kOff = mul(lb, isA ? high : low, kStep / 2),
          xOff = mul(lb, isA ? low : high, 8);
    Value kk = arith::AddIOp::create(lb, loc, k, kOff);
    Value xx = arith::AddIOp::create(lb, loc, x, xOff);
    if (in.kInner)
      xx = arith::AddIOp::create(lb, loc, xx, r);
    else
      kk = arith::AddIOp::create(lb, loc, kk, r);
    SmallVector<Value> idx{stage, in.kInner ? xx : kk, in.kInner ? kk : xx};
    return nvgpu::LdMatrixOp::create(lb, loc, fragType, in.stages, idx,
                                     !in.kInner, 4);
  };
  // The first kStages - 1 slices in flight; then each step waits for its
  // slice, and (after a barrier: every warp is done with the stage it
  // overwrites) puts slice + kStages - 1 in flight before computing.
  Value first;
  for (int64_t st = 0; st + 1 < kStages; ++st) {
    Value g0 = copyStage(b, cst(b, st * BK), cst(b, st));
    if (!first)
      first = g0;
  }
  auto loop = scf::ForOp::create(
      b, loc, cst(b, 0), sizeK, cst(b, BK), acc,
      [&](OpBuilder &lb, Location l, Value k0, ValueRange accs) {
        Value slice = div(lb, k0, BK);
        Value stage = rem(lb, slice, kStages);
        nvgpu::DeviceAsyncWaitOp::create(lb, l, first,
                                         lb.getI32IntegerAttr(kStages - 2));
        gpu::BarrierOp::create(lb, l);
        copyStage(lb, add(lb, k0, (kStages - 1) * BK),
                  rem(lb, add(lb, slice, kStages - 1), kStages));
        SmallVector<Value> next(accs);
        for (int64_t ks = 0; ks < BK; ks += kStep) {
          SmallVector<Value> a, bf;
          for (int64_t mt = 0; mt < MT; ++mt)
            a.push_back(fragments(lb, inA, stage, cst(lb, ks),
                                  add(lb, wm, mt * 16), /*isA=*/true));
          for (int64_t nt = 0; nt < NT; nt += 2) {
            Value four = fragments(lb, inB, stage, cst(lb, ks),
                                   add(lb, wn, nt * 8), /*isA=*/false);
            for (int64_t h = 0; h < 2; ++h)
              bf.push_back(vector::ExtractStridedSliceOp::create(
                  lb, l, four, ArrayRef<int64_t>{2 * h, 0},
                  ArrayRef<int64_t>{2, fragType.getDimSize(1)},
                  ArrayRef<int64_t>{1, 1}));
          }
          for (int64_t mt = 0; mt < MT; ++mt)
            for (int64_t nt = 0; nt < NT; ++nt)
              next[mt * NT + nt] = nvgpu::MmaSyncOp::create(
                  lb, l, a[mt], bf[nt], next[mt * NT + nt],
                  ArrayRef<int64_t>{16, 8, kStep}, tf32);
        }
        scf::YieldOp::create(lb, l, next);
      });
  // The last group (past k: nothing) drained, then the stores: a lane holds
  // rows g and g + 8 of each m16 tile, columns 2 q and 2 q + 1 of each n8
  // tile. Where the output's innermost dim is n, its layout the identity,
  // its base and row length in whole pairs (a check at run time), each
  // pair is one store (in range whole: its first column is even);
  // else element by element (storeBlock).
  nvgpu::DeviceAsyncWaitOp::create(b, loc, first, b.getI32IntegerAttr(0));
  auto outType = cast<MemRefType>(init->get().getType());
  AffineMap outMap = op.getMatchingIndexingMap(init);
  Value pairs = arith::ConstantIntOp::create(b, loc, b.getI1Type(), 0);
  if (outType.getLayout().isIdentity() && outType.getRank() > 0 &&
      outMap.getResults().back() == getAffineDimExpr(c.n, ctx)) {
    int64_t pairBytes = 2 * outType.getElementTypeBitWidth() / 8;
    Value ptr =
        memref::ExtractAlignedPointerAsIndexOp::create(b, loc, init->get());
    Value rowLen =
        memref::DimOp::create(b, loc, init->get(), outType.getRank() - 1);
    auto isZero = [&](Value v) {
      return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, v,
                                   cst(b, 0));
    };
    pairs = arith::AndIOp::create(b, loc, isZero(rem(b, ptr, pairBytes)),
                                  isZero(rem(b, rowLen, 2)));
  }
  auto store = scf::IfOp::create(b, loc, pairs, /*withElse=*/true);
  for (bool paired : {true, false}) {
    OpBuilder sb =
        paired ? store.getThenBodyBuilder() : store.getElseBodyBuilder();
    for (int64_t mt = 0; mt < MT; ++mt) {
      Value row = arith::AddIOp::create(
          sb, loc, arith::AddIOp::create(sb, loc, bm, wm), add(sb, g, mt * 16));
      SmallVector<Value> rows{row, add(sb, row, 8)}, cols, values;
      for (int64_t nt = 0; nt < NT; ++nt) {
        Value col = arith::AddIOp::create(
            sb, loc, arith::AddIOp::create(sb, loc, bn, wn),
            add(sb, mul(sb, q, 2), nt * 8));
        cols.append({col, add(sb, col, 1)});
      }
      auto element = [&](OpBuilder &eb, int64_t h, int64_t nt,
                         int64_t e) -> Value {
        Value v = vector::ExtractOp::create(
            eb, loc, loop.getResult(mt * NT + nt), ArrayRef<int64_t>{h, e});
        return outElt == f32 ? v : arith::TruncFOp::create(eb, loc, outElt, v);
      };
      if (!paired) {
        for (int64_t h = 0; h < 2; ++h)
          for (int64_t nt = 0; nt < NT; ++nt)
            for (int64_t e = 0; e < 2; ++e)
              values.push_back(element(sb, h, nt, e));
        storeBlock(sb, c, values, rows, cols, sizeM, sizeN, iv);
        continue;
      }
      auto pairType = VectorType::get({2}, outElt);
      for (int64_t h = 0; h < 2; ++h)
        for (int64_t nt = 0; nt < NT; ++nt) {
          Value col = cols[2 * nt];
          Value in = arith::AndIOp::create(
              sb, loc,
              arith::CmpIOp::create(sb, loc, arith::CmpIPredicate::ult, rows[h],
                                    sizeM),
              arith::CmpIOp::create(sb, loc, arith::CmpIPredicate::ult, col,
                                    sizeN));
          auto guard = scf::IfOp::create(sb, loc, in, /*withElse=*/false);
          OpBuilder gb = guard.getThenBodyBuilder();
          Value pair = vector::FromElementsOp::create(
              gb, loc, pairType,
              ValueRange{element(gb, h, nt, 0), element(gb, h, nt, 1)});
          vector::StoreOp::create(
              gb, loc, pair, init->get(),
              operandIndices(c, init, rows[h], col, Value(), iv),
              /*nontemporal=*/false,
              llvm::MaybeAlign(2 * outType.getElementTypeBitWidth() / 8));
        }
    }
  }
  rewriter.eraseOp(op);
  if (fill)
    rewriter.eraseOp(fill);
}

/// Step 2: loops. Linalg ops become parallel loops; what would touch memory
/// on the host runs in a single-thread loop.
static LogicalResult mapLoops(RewriterBase &rewriter, func::FuncOp fn,
                              int64_t contractionTile, bool tf32) {
  mapTaskLoops(rewriter, fn);
  if (contractionTile > 1) {
    SmallVector<Contraction> contractions;
    fn.walk([&](linalg::LinalgOp op) {
      if (onDevice(op))
        return;
      if (std::optional<Contraction> c = matchContraction(op))
        contractions.push_back(*c);
    });
    for (const Contraction &c : contractions) {
      // f32 in shared memory, in tiles of 128 along m and n, or of 64 where
      // the length is known to be at most 64. On the H100, gelu(x @ w1) @
      // w2 (4096 x 512 x 2048) took 0.79 ms against 1.46 register-tiled
      // (cuBLAS 0.66); the chunkwise RetNet (its 64 x 128 x 128, 128 x 128
      // x 64, 64 x 64 x 128 and 64 x 128 x 64 chunk contractions) 6.86 ms
      // against 7.70 (then 6.38 with the steps of a slice a loop).
      bool allF32 = llvm::all_of(c.op->getOperandTypes(), [](Type t) {
        return getElementTypeOrSelf(t).isF32();
      });
      SmallVector<int64_t> lengths =
          linalg::LinalgOp(c.op).getStaticLoopRanges();
      auto tileOf = [&](unsigned d) -> int64_t {
        return !ShapedType::isDynamic(lengths[d]) && lengths[d] <= 64 ? 64
                                                                      : 128;
      };
      if (contractionTile == 8 && onTensorCores(c, tf32))
        tileContractionMMA(rewriter, c, tileOf(c.m), tileOf(c.n));
      else if (allF32 && contractionTile == 8)
        tileContractionShared(rewriter, c, tileOf(c.m), tileOf(c.n));
      else
        tileContraction(rewriter, c, contractionTile);
    }
  }
  SmallVector<linalg::LinalgOp> linalgOps;
  fn.walk([&](linalg::LinalgOp op) { linalgOps.push_back(op); });
  for (linalg::LinalgOp op : linalgOps) {
    if (!onDevice(op) && op.getNumParallelLoops() == 0)
      wrapInSingleIteration(rewriter, op);
    rewriter.setInsertionPoint(op);
    if (failed(linalg::linalgOpToParallelLoops(rewriter, op)))
      return op->emitError("cannot lower to loops for the GPU");
    rewriter.eraseOp(op);
  }
  SmallVector<memref::StoreOp> stores;
  fn.walk([&](memref::StoreOp store) {
    if (!onDevice(store))
      stores.push_back(store);
  });
  for (memref::StoreOp store : stores)
    wrapInSingleIteration(rewriter, store);
  WalkResult bad = fn.walk([&](Operation *op) {
    auto load = dyn_cast<memref::LoadOp>(op);
    if (load && isPosition(load.getMemref()))
      return WalkResult::advance();
    if (isa<memref::LoadOp, memref::AtomicRMWOp>(op) && !onDevice(op)) {
      op->emitError("cuda target: the host would read device memory here "
                    "(a scalar used by host code, such as a loop bound); "
                    "not supported yet");
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return failure(bad.wasInterrupted());
}

/// Step 3: blocks and threads.
static LogicalResult mapToProcessors(RewriterBase &rewriter, func::FuncOp fn,
                                     int64_t elementBlockSize,
                                     int64_t taskBlockSize) {
  SmallVector<scf::ParallelOp> outermost;
  fn.walk([&](scf::ParallelOp loop) {
    if (!loop->getParentOfType<scf::ParallelOp>())
      outermost.push_back(loop);
  });
  MLIRContext *ctx = fn.getContext();
  AffineMap id = AffineMap::getMultiDimIdentityMap(1, ctx);
  auto dim = [&](gpu::Processor p) {
    return gpu::ParallelLoopDimMappingAttr::get(ctx, p, id, id);
  };
  for (scf::ParallelOp loop : outermost) {
    // A task loop's threads each walk time: small blocks, so that the few
    // there are spread over every multiprocessor.
    // A loop whose iterations share a block's memory asks for its size.
    int64_t blockSize =
        loop->hasAttr(kTaskLoopAttr) ? taskBlockSize : elementBlockSize;
    if (auto threads = loop->getAttrOfType<IntegerAttr>(kBlockThreadsAttr))
      blockSize = threads.getInt();
    // Inner parallel loops run in their thread.
    loop.getBody()->walk([&](scf::ParallelOp inner) {
      SmallVector<gpu::ParallelLoopDimMappingAttr> seq(
          inner.getNumLoops(), dim(gpu::Processor::Sequential));
      (void)gpu::setMappingAttr(inner, seq);
    });
    if (loop.getNumLoops() > 1) {
      Operation *next = loop->getNextNode();
      std::vector<unsigned> all;
      for (unsigned i = 0; i < loop.getNumLoops(); ++i)
        all.push_back(i);
      rewriter.setInsertionPoint(loop);
      collapseParallelLoops(rewriter, loop, {all});
      loop = cast<scf::ParallelOp>(next->getPrevNode());
    }
    // A loop known to be short is one block of that many threads.
    std::optional<int64_t> lb = getConstantIntValue(loop.getLowerBound()[0]),
                           ub = getConstantIntValue(loop.getUpperBound()[0]),
                           step = getConstantIntValue(loop.getStep()[0]);
    if (lb && ub && step && *step > 0 &&
        (*ub - *lb + *step - 1) / *step <= blockSize) {
      if (failed(gpu::setMappingAttr(loop, {dim(gpu::Processor::ThreadX)})))
        return loop.emitError("cannot map to GPU threads");
      continue;
    }
    auto [blocks, threads] =
        scf::tileParallelLoop(loop, {blockSize}, /*noMinMaxBounds=*/true);
    if (failed(gpu::setMappingAttr(blocks, {dim(gpu::Processor::BlockX)})) ||
        failed(gpu::setMappingAttr(threads, {dim(gpu::Processor::ThreadX)})))
      return loop.emitError("cannot map to GPU blocks and threads");
  }
  return success();
}

struct SeqGPUMap : seqc::impl::SeqGPUMapBase<SeqGPUMap> {
  using SeqGPUMapBase::SeqGPUMapBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    IRRewriter rewriter(&getContext());
    for (auto fn : module.getOps<func::FuncOp>()) {
      if (fn.isExternal())
        continue;
      if (failed(mapBuffers(rewriter, fn)) ||
          failed(mapLoops(rewriter, fn, contractionTile, tf32)) ||
          failed(mapToProcessors(rewriter, fn, blockSize, taskBlockSize)))
        return signalPassFailure();
    }
    module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                    UnitAttr::get(&getContext()));
  }
};

/// `seq-gpu-merge-kernels`: the kernels outlined into one `gpu.module`
/// each go into the first, so a library carries one GPU binary, loaded once.
struct SeqGPUMergeKernels
    : seqc::impl::SeqGPUMergeKernelsBase<SeqGPUMergeKernels> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<gpu::GPUModuleOp> kernels(module.getOps<gpu::GPUModuleOp>());
    if (kernels.size() < 2)
      return;
    gpu::GPUModuleOp into = kernels.front();
    SymbolTable table(into);
    // (module, kernel) -> the kernel's name in `into`: outlined kernels of
    // one function share its name, and a clash renames. The launches are
    // then redirected in one walk (a walk per module was 0.17 s of
    // hybrid.seq's 2.7 for cuda).
    llvm::DenseMap<std::pair<StringAttr, StringAttr>, StringAttr> renamed;
    for (gpu::GPUModuleOp from : llvm::drop_begin(kernels)) {
      for (Operation &op :
           llvm::make_early_inc_range(from.getBody()->getOperations())) {
        StringAttr old = SymbolTable::getSymbolName(&op);
        op.remove();
        renamed[{from.getNameAttr(), old}] = table.insert(&op);
      }
      from.erase();
    }
    module.walk([&](gpu::LaunchFuncOp launch) {
      if (StringAttr kernel = renamed.lookup(
              {launch.getKernelModuleName(), launch.getKernelName()}))
        launch.setKernelAttr(SymbolRefAttr::get(
            into.getNameAttr(), {FlatSymbolRefAttr::get(kernel)}));
    });
    dedupKernels(module, into);
  }

  /// Keeps one of each set of kernels that are the same but for their names
  /// (`dedupSymbols`): the launches of the others launch it.
  static void dedupKernels(ModuleOp module, gpu::GPUModuleOp into) {
    SmallVector<Operation *> kernels;
    for (auto f : into.getOps<gpu::GPUFuncOp>())
      if (f.isKernel())
        kernels.push_back(f);
    llvm::DenseMap<StringAttr, StringAttr> same = dedupSymbols(kernels);
    if (same.empty())
      return;
    module.walk([&](gpu::LaunchFuncOp launch) {
      if (launch.getKernelModuleName() != into.getName())
        return;
      if (StringAttr k = same.lookup(launch.getKernelName()))
        launch.setKernelAttr(SymbolRefAttr::get(
            into.getNameAttr(), {FlatSymbolRefAttr::get(k)}));
    });
  }
};

/// `seq-gpu-module-to-binary`: each `gpu.module` cut into parts that
/// upstream's `gpu-module-to-binary` serializes in parallel.
struct SeqGPUModuleToBinary
    : seqc::impl::SeqGPUModuleToBinaryBase<SeqGPUModuleToBinary> {
  using Base::Base;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    int64_t n = parts > 0 ? int64_t(parts)
                          : int64_t(std::max(1u, ctx->getNumThreads()));
    // Each part in a `builtin.module` of its own, in a holder outside the
    // module: the pass manager runs the nested pipelines in parallel. The
    // binaries go back before the op that followed the parts.
    OpBuilder b(ctx);
    OwningOpRef<ModuleOp> holder = ModuleOp::create(module.getLoc());
    SmallVector<std::pair<Operation *, SmallVector<ModuleOp>>> places;
    for (auto gpuModule :
         llvm::make_early_inc_range(module.getOps<gpu::GPUModuleOp>())) {
      SmallVector<gpu::GPUModuleOp> parts = cut(module, gpuModule, n);
      Operation *next = parts.back()->getNextNode();
      SmallVector<ModuleOp> wrappers;
      for (gpu::GPUModuleOp part : parts) {
        b.setInsertionPointToEnd(holder->getBody());
        auto wrapper = ModuleOp::create(b, part.getLoc());
        wrapper->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                         b.getUnitAttr());
        part->moveBefore(wrapper.getBody(), wrapper.getBody()->end());
        wrappers.push_back(wrapper);
      }
      places.push_back({next, std::move(wrappers)});
    }
    if (places.empty())
      return;
    PassManager pm(ctx, ModuleOp::getOperationName());
    GpuModuleToBinaryPassOptions options;
    options.toolkitPath = toolkitPath;
    options.cmdOptions = cmdOptions;
    options.compilationTarget = compilationTarget;
    pm.addNestedPass<ModuleOp>(createGpuModuleToBinaryPass(options));
    if (failed(pm.run(*holder)))
      return signalPassFailure();
    Block *body = module.getBody();
    for (auto &[next, wrappers] : places)
      for (ModuleOp wrapper : wrappers)
        for (Operation &op :
             llvm::make_early_inc_range(wrapper.getBody()->getOperations())) {
          if (next)
            op.moveBefore(next);
          else
            op.moveBefore(body, body->end());
        }
  }

  /// `gpuModule` as `n` modules (itself the first), each with a share of
  /// its kernels balanced by their number of ops; the launches follow.
  /// Everything else (declarations, device functions) is in each.
  static SmallVector<gpu::GPUModuleOp>
  cut(ModuleOp module, gpu::GPUModuleOp gpuModule, int64_t n) {
    // Kernels by the `gpu.kernel` mark (they are `llvm.func`s by now).
    StringAttr mark = StringAttr::get(module.getContext(),
                                      gpu::GPUDialect::getKernelFuncAttrName());
    auto isKernel = [&](Operation &op) { return op.hasAttr(mark); };
    // (size, position, kernel): sorted largest first, in module order for
    // equal sizes.
    SmallVector<std::tuple<int64_t, unsigned, Operation *>> kernels;
    for (Operation &f : gpuModule.getBody()->getOperations())
      if (isKernel(f)) {
        int64_t size = 0;
        f.walk([&](Operation *) { ++size; });
        kernels.push_back({size, kernels.size(), &f});
      }
    n = std::min<int64_t>(n, kernels.size());
    if (n < 2)
      return {gpuModule};
    // Largest first, each to the lightest part.
    llvm::sort(kernels, [](auto &x, auto &y) {
      return std::make_pair(-std::get<0>(x), std::get<1>(x)) <
             std::make_pair(-std::get<0>(y), std::get<1>(y));
    });
    SmallVector<int64_t> load(n, 0);
    llvm::DenseMap<StringAttr, int64_t> partOf;
    for (auto &[size, position, f] : kernels) {
      int64_t p = llvm::min_element(load) - load.begin();
      load[p] += size;
      partOf[SymbolTable::getSymbolName(f)] = p;
    }
    SmallVector<gpu::GPUModuleOp> out{gpuModule};
    SymbolTable top(module);
    OpBuilder b(module.getContext());
    b.setInsertionPointAfter(gpuModule);
    for (int64_t p = 1; p < n; ++p) {
      auto copy = llvm::cast<gpu::GPUModuleOp>(b.clone(*gpuModule));
      top.insert(copy); // renamed: @<name>_<k>
      out.push_back(copy);
    }
    for (auto [p, part] : llvm::enumerate(out))
      for (Operation &f :
           llvm::make_early_inc_range(part.getBody()->getOperations()))
        if (isKernel(f) &&
            partOf.lookup(SymbolTable::getSymbolName(&f)) != int64_t(p))
          f.erase();
    StringAttr name = gpuModule.getNameAttr();
    module.walk([&](gpu::LaunchFuncOp launch) {
      if (launch.getKernelModuleName() != name)
        return;
      int64_t p = partOf.lookup(launch.getKernelName());
      launch.setKernelAttr(
          SymbolRefAttr::get(out[p].getNameAttr(),
                             {FlatSymbolRefAttr::get(launch.getKernelName())}));
    });
    return out;
  }
};

/// `seq-gpu-workgroup-buffers`: shared-memory allocas of a kernel as its
/// workgroup attributions, or views into its dynamic shared memory beyond
/// the static 48 KiB.
struct SeqGPUWorkgroupBuffers
    : seqc::impl::SeqGPUWorkgroupBuffersBase<SeqGPUWorkgroupBuffers> {
  static constexpr int64_t kStaticBytes = 48 * 1024, kAlign = 16;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    // The dynamic shared memory each kernel needs, by its symbol.
    llvm::DenseMap<SymbolRefAttr, int64_t> dynamicBytes;
    WalkResult r = module.walk([&](gpu::GPUFuncOp fn) {
      SmallVector<memref::AllocaOp> allocas;
      SmallVector<int64_t> offsets;
      int64_t total = 0;
      WalkResult found = fn.walk([&](memref::AllocaOp alloca) {
        if (!isSharedAlloca(alloca))
          return WalkResult::advance();
        MemRefType type = alloca.getType();
        if (!type.hasStaticShape()) {
          alloca.emitError("shared memory of a kernel needs a static shape");
          return WalkResult::interrupt();
        }
        total = llvm::alignTo(total, alignment(alloca));
        allocas.push_back(alloca);
        offsets.push_back(total);
        total += type.getNumElements() * type.getElementTypeBitWidth() / 8;
        return WalkResult::advance();
      });
      if (found.wasInterrupted())
        return WalkResult::interrupt();
      if (allocas.empty())
        return WalkResult::advance();
      if (total <= kStaticBytes) {
        for (memref::AllocaOp alloca : allocas)
          toAttribution(fn, alloca);
        return WalkResult::advance();
      }
      OpBuilder b = OpBuilder::atBlockBegin(&fn.getBody().front());
      Location loc = fn.getLoc();
      auto workgroup = gpu::AddressSpaceAttr::get(b.getContext(),
                                                  gpu::AddressSpace::Workgroup);
      Value dynamic = gpu::DynamicSharedMemoryOp::create(
          b, loc,
          MemRefType::get({ShapedType::kDynamic}, b.getI8Type(), AffineMap(),
                          workgroup));
      Value bytes = memref::MemorySpaceCastOp::create(
          b, loc,
          MemRefType::get({ShapedType::kDynamic}, b.getI8Type(), AffineMap(),
                          allocas.front().getType().getMemorySpace()),
          dynamic);
      for (auto [alloca, offset] : llvm::zip(allocas, offsets)) {
        Value at = arith::ConstantIndexOp::create(b, loc, offset);
        Value view = memref::ViewOp::create(b, loc, alloca.getType(), bytes, at,
                                            ValueRange{});
        alloca.replaceAllUsesWith(view);
        alloca.erase();
      }
      auto kernels = fn->getParentOfType<gpu::GPUModuleOp>();
      dynamicBytes[SymbolRefAttr::get(
          kernels.getNameAttr(), {FlatSymbolRefAttr::get(fn.getNameAttr())})] =
          total;
      return WalkResult::advance();
    });
    if (r.wasInterrupted())
      return signalPassFailure();
    module.walk([&](gpu::LaunchFuncOp launch) {
      auto it = dynamicBytes.find(launch.getKernel());
      if (it == dynamicBytes.end())
        return;
      OpBuilder b(launch);
      launch.getDynamicSharedMemorySizeMutable().assign(
          arith::ConstantIntOp::create(b, launch.getLoc(), b.getI32Type(),
                                       it->second));
    });
  }

  /// The alignment of `alloca`'s buffer: 16 bytes at least (cp.async and
  /// vector loads of 16 bytes).
  static int64_t alignment(memref::AllocaOp alloca) {
    return std::max<int64_t>(alloca.getAlignment().value_or(0), kAlign);
  }

  /// `alloca` as a workgroup attribution of `fn`.
  static void toAttribution(gpu::GPUFuncOp fn, memref::AllocaOp alloca) {
    BlockArgument buffer =
        fn.addWorkgroupAttribution(alloca.getType(), alloca.getLoc());
    fn.setWorkgroupAttributionAttr(
        fn.getNumWorkgroupAttributions() - 1,
        LLVM::LLVMDialect::getAlignAttrName(),
        OpBuilder(fn).getI64IntegerAttr(alignment(alloca)));
    alloca.replaceAllUsesWith(buffer);
    alloca.erase();
  }
};

/// `seq-gpu-lower-mma`: `nvgpu.mma.sync` m16n8k16 on 16-bit floats as
/// `nvvm.mma.sync`, operand rows as registers (bf16 pairs as i32); an f32
/// `math.exp2` marked `afn` as one `ex2.approx.ftz` (libdevice's exp2f is
/// ex2.approx with its subnormal fix-ups: four instructions); float adds,
/// subtractions and products marked `contract`.
struct SeqGPULowerMMA : seqc::impl::SeqGPULowerMMABase<SeqGPULowerMMA> {
  void runOnOperation() override {
    // A kernel on tensor cores keeps its tiles in registers: ptxas may use
    // up to 255 a thread (.minnctapersm with the block size). Else it aims
    // at 128, and to stay there issues the loads of the next step's K and
    // V after this step's last use of their registers (so each step waits
    // for its K).
    // So does a kernel whose loop carries more than kManyCarried floats (a
    // fused scan's matrix state, a column of it a thread; not a register
    // tile of a contraction, 64 accumulators): there are few of its
    // threads, and at its default aim ptxas kept fewer of the step's loads
    // in flight (RetNet's K = 128 column: 168 registers and 3.5 times the
    // time of GLA's, which it gave 254).
    // And so does a kernel with a block of many loads (a time loop
    // unrolled with its reads first): the chunked scan's phase 1 got 40
    // registers and its loads one at a time (135 us, where phase 3, which
    // reads the same and writes too, took 87 us with 80).
    constexpr int64_t kManyCarried = 96, kManyLoads = 32;
    getOperation()->walk([&](gpu::GPUFuncOp fn) {
      std::optional<ArrayRef<int32_t>> block = fn.getKnownBlockSize();
      bool onTensorCores = false;
      fn.walk([&](nvgpu::MmaSyncOp) { onTensorCores = true; });
      int64_t carried = 0;
      for (Block &bb : fn.getBody().getBlocks())
        carried = std::max<int64_t>(
            carried, llvm::count_if(bb.getArgumentTypes(), [](Type t) {
              return llvm::isa<FloatType>(getElementTypeOrSelf(t));
            }));
      int64_t loads = 0;
      for (Block &bb : fn.getBody().getBlocks())
        loads = std::max<int64_t>(
            loads, llvm::count_if(bb, [](Operation &op) {
              return llvm::isa<memref::LoadOp, vector::LoadOp>(op);
            }));
      if (!(onTensorCores || carried > kManyCarried || loads >= kManyLoads) ||
          !block)
        return;
      // A multiprocessor's 64K registers over blocks of 256 a thread.
      constexpr int64_t kRegisters = 65536, kPerThread = 256;
      int64_t threads = 1;
      for (int32_t d : *block)
        threads *= d;
      int64_t blocks = kRegisters / (kPerThread * threads);
      if (blocks >= 1)
        fn->setAttr(NVVM::NVVMDialect::getMinctasmAttrName(),
                    OpBuilder(fn).getI32IntegerAttr(blocks));
    });
    // Float products and sums may contract to FMAs, as nvcc's default
    // (--fmad=true): else LLVM's NVPTX emits mul.rn and add.rn, which
    // ptxas may not fuse (a fused scan's step was 384 mul.rn and 256
    // add.rn for 256 FMAs and 128 products).
    getOperation()->walk([&](Operation *op) {
      if (!llvm::isa<arith::AddFOp, arith::SubFOp, arith::MulFOp>(op))
        return;
      auto fm = llvm::cast<arith::ArithFastMathInterface>(op);
      arith::FastMathFlags flags = fm.getFastMathFlagsAttr().getValue();
      op->setAttr(
          fm.getFastMathAttrName(),
          arith::FastMathFlagsAttr::get(
              op->getContext(), flags | arith::FastMathFlags::contract));
    });
    getOperation()->walk([&](math::Exp2Op op) {
      if (!op.getType().isF32() ||
          !bitEnumContainsAll(op.getFastmath(), arith::FastMathFlags::afn))
        return;
      OpBuilder b(op);
      Value r = LLVM::CallIntrinsicOp::create(
                    b, op.getLoc(), op.getType(),
                    b.getStringAttr("llvm.nvvm.ex2.approx.ftz.f32"),
                    ValueRange{op.getOperand()})
                    .getResult(0);
      op.replaceAllUsesWith(r);
      op.erase();
    });
    SmallVector<nvgpu::MmaSyncOp> ops;
    getOperation()->walk([&](nvgpu::MmaSyncOp op) { ops.push_back(op); });
    for (nvgpu::MmaSyncOp op : ops) {
      auto aType = llvm::cast<VectorType>(op.getMatrixA().getType());
      auto cType = llvm::cast<VectorType>(op.getMatrixC().getType());
      Type elt = aType.getElementType();
      std::array<int64_t, 3> shape = op.getMmaShapeAsArray();
      if (!(elt.isBF16() || elt.isF16()) ||
          shape != std::array<int64_t, 3>{16, 8, 16} ||
          aType.getShape() != ArrayRef<int64_t>{4, 2} ||
          cType != VectorType::get({2, 2}, Float32Type::get(op.getContext())))
        continue;
      OpBuilder b(op);
      Location loc = op.getLoc();
      auto registers = [&](Value m, int64_t count) {
        SmallVector<Value> regs;
        for (int64_t i = 0; i < count; ++i) {
          Value row = vector::ExtractOp::create(b, loc, m, ArrayRef<int64_t>{i});
          // NVVM takes f16 pairs as they are, bf16 pairs as i32.
          if (elt.isF16()) {
            regs.push_back(row);
            continue;
          }
          Value word = vector::BitCastOp::create(
              b, loc, VectorType::get({1}, b.getI32Type()), row);
          regs.push_back(
              vector::ExtractOp::create(b, loc, word, ArrayRef<int64_t>{0}));
        }
        return regs;
      };
      SmallVector<Value> c;
      for (int64_t i = 0; i < 4; ++i)
        c.push_back(vector::ExtractOp::create(b, loc, op.getMatrixC(),
                                              ArrayRef<int64_t>{i / 2, i % 2}));
      Type f32 = b.getF32Type();
      auto type = elt.isBF16() ? NVVM::MMATypes::bf16 : NVVM::MMATypes::f16;
      Value d = NVVM::MmaOp::create(
          b, loc,
          LLVM::LLVMStructType::getLiteral(op.getContext(), {f32, f32, f32, f32}),
          registers(op.getMatrixA(), 4), registers(op.getMatrixB(), 2), c,
          shape, std::nullopt, std::nullopt,
          std::array<NVVM::MMATypes, 2>{type, type},
          std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                         NVVM::MMALayout::col});
      SmallVector<Value> elements;
      for (int64_t i = 0; i < 4; ++i)
        elements.push_back(LLVM::ExtractValueOp::create(b, loc, d, i));
      op.replaceAllUsesWith(
          vector::FromElementsOp::create(b, loc, cType, elements).getResult());
      op.erase();
    }
  }
};

} // namespace
