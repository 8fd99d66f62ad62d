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
//  2. Loops: every linalg op becomes an `scf.parallel` over its parallel
//     loops with its reductions as `scf.for` inside (one thread per output
//     element); an op with no parallel loop (a reduction to a scalar) runs
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
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/Utils/Utils.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/PatternMatch.h"

namespace seqc {
#define GEN_PASS_DEF_SEQGPUMAP
#define GEN_PASS_DEF_SEQGPUMERGEKERNELS
#include "lowering/Passes.h.inc"
} // namespace seqc

using namespace mlir;
using namespace seqc;

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
    if (!onDevice(op) &&
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
  SmallVector<scf::ForOp> tasks;
  fn.walk<WalkOrder::PreOrder>([&](scf::ForOp loop) {
    if (!loop->hasAttr(kParallelAttr))
      return WalkResult::advance();
    if (loop.getNumResults() == 0 && !onDevice(loop)) {
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
    rewriter.eraseOp(loop);
  }
}

/// Step 2: loops. Linalg ops become parallel loops; what would touch memory
/// on the host runs in a single-thread loop.
static LogicalResult mapLoops(RewriterBase &rewriter, func::FuncOp fn) {
  mapTaskLoops(rewriter, fn);
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
    int64_t blockSize =
        loop->hasAttr(kTaskLoopAttr) ? taskBlockSize : elementBlockSize;
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
      if (failed(mapBuffers(rewriter, fn)) || failed(mapLoops(rewriter, fn)) ||
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
    for (gpu::GPUModuleOp from : llvm::drop_begin(kernels)) {
      // Outlined kernels of one function share its name: a clash renames.
      llvm::DenseMap<StringAttr, StringAttr> renamed;
      for (Operation &op :
           llvm::make_early_inc_range(from.getBody()->getOperations())) {
        StringAttr old = SymbolTable::getSymbolName(&op);
        op.remove();
        renamed[old] = table.insert(&op);
      }
      StringRef name = from.getName();
      module.walk([&](gpu::LaunchFuncOp launch) {
        if (launch.getKernelModuleName() != name)
          return;
        StringAttr kernel = renamed.lookup(launch.getKernelName());
        launch.setKernelAttr(SymbolRefAttr::get(
            into.getNameAttr(), {FlatSymbolRefAttr::get(kernel)}));
      });
      from.erase();
    }
  }
};

} // namespace
