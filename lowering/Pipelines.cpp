//===- Pipelines.cpp - Named pipelines from seq IR down -------------------===//
//
// `seq-lower-to-linalg` removes the seq ops and fuses elementwise linalg ops
// on tensors; `seq-lower-to-llvm` continues through one-shot bufferization,
// buffer deallocation, loops and the upstream conversions to the LLVM
// dialect, with a `_mlir_ciface_<entry>` wrapper on every entry. seqc runs
// them through the build functions; seq-opt through the registry.
//
//===----------------------------------------------------------------------===//

#include "lowering/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Conversion/VectorToSCF/VectorToSCF.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/LLVMIR/Transforms/RequestCWrappers.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/ADT/StringSwitch.h"

using namespace mlir;

void seqc::buildSeqLevelPipeline(OpPassManager &pm,
                                 const PipelineOptions &options) {
  pm.addPass(createCSEPass());
  if (options.fuseAttention)
    pm.addPass(createSeqFuseAttention());
  // On fused attention (a KV cache) and on scans as written (carries).
  if (options.deriveStep)
    pm.addPass(createSeqDeriveStep());
}

void seqc::buildLowerToLinalgPipeline(OpPassManager &pm,
                                      const PipelineOptions &options) {
  if (options.seqLevel)
    buildSeqLevelPipeline(pm, options);
  // Recurrences first, while scans are still seq.scan over tensors (after
  // the step functions are derived from the scans as written): matrix
  // states read by a contraction to the chunkwise form, then the diagonal
  // ones as the scan form says.
  // A running max first becomes a max scan of its own (the carries it
  // rescales are then affine), so the forms below see Aaren's sums and
  // mLSTM's matrix state.
  bool gpu = options.target == Target::CUDA;
  if (options.splitCarries)
    pm.addPass(createSeqSplitCarries());
  if (options.chunkwise) {
    // Batched, in chunks of 64 steps (flash-linear-attention's), on the
    // GPU: a loop over chunks would stay on the host.
    SeqChunkwiseOptions chunkwise;
    if (options.batchedChunkwise) {
      chunkwise.batched = true;
      chunkwise.chunkSize = 64;
    }
    pm.addPass(createSeqChunkwise(chunkwise));
  }
  // On the GPU a task is one channel (a thread), its carries in registers
  // over all of time; the chunked parallel scan when there are too few
  // channels to fill the GPU (kGPUThreads), with chunks of at least 64
  // steps, two a thread of 2 kGPUThreads, at most 128 of them (phase 2
  // walks them one by one): on the H100, B1 T65536 D256 took 0.186 ms,
  // against 0.210 at 64 chunks of 16384 threads, 0.193 at 512 chunks and
  // 0.207 at 1024.
  constexpr int64_t kGPUThreads = 16384;
  switch (options.scanForm) {
  case ScanForm::Auto:
  case ScanForm::Fused: {
    SeqFuseScanOptions fuse;
    fuse.parallelAlternative = options.scanForm == ScanForm::Auto;
    // Scans that are not diagonal but whose channels are independent
    // (DeltaNet, RWKV) fused too where asked for, and on the GPU, where
    // the sequential scan would launch its step's kernels every step.
    fuse.independentChannels = gpu || options.scanForm == ScanForm::Fused;
    if (gpu) {
      fuse.vectorWidth = 1;
      fuse.maxUnroll = 1;
      fuse.timeBlock = int64_t(1) << 40;
      fuse.deviceThreads = kGPUThreads;
      fuse.minParallelLength = 256;
      fuse.timeUnroll = 32;
      // A head's K = 128 state points in registers (GLA, DeltaNet at the
      // sizes flash-linear-attention is measured at).
      fuse.maxState = 128;
    }
    pm.addPass(createSeqFuseScan(fuse));
    SeqRecurrenceToScanOptions toScan;
    toScan.onlyAlternatives = true;
    pm.addPass(createSeqRecurrenceToScan(toScan));
    break;
  }
  case ScanForm::Parallel:
    pm.addPass(createSeqRecurrenceToScan());
    break;
  case ScanForm::Sequential:
    break;
  }
  // Carry-free scans (the coefficients and outputs of the above) become
  // whole-tensor ops over time, tiled and parallelised like any other.
  pm.addPass(createSeqBatchScanSteps());
  pm.addPass(createConvertSeqToLinalg());
  // Elementwise associative scans as vector loops, parallel over channels
  // and chunks of time; the others (and seq.scan) as sequential loops.
  SeqLowerAssocScanOptions assocScan;
  if (gpu) {
    assocScan.vectorWidth = 1;
    assocScan.channelsPerTask = 1;
    assocScan.minChunk = 64;
    assocScan.maxChunks = 128;
    assocScan.deviceThreads = 2 * kGPUThreads;
    assocScan.timeUnroll = 32;
  }
  pm.addPass(createSeqLowerAssocScan(assocScan));
  pm.addPass(createConvertSeqToSCF());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addPass(createSeqFuseElementwise());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  // After elementwise fusion, which would otherwise fuse the online
  // softmax's steps on tiles into each other.
  // On the GPU a warp per 16 query rows on tensor cores (bf16 and f16),
  // a warp per row for a single query, else a thread per query row,
  // 4 keys a step; and key splits to fill the device.
  SeqLowerAttentionOptions attention;
  if (gpu) {
    attention.perThread = true;
    attention.tensorCores = true;
    attention.tileK = 4;
    attention.minParallel = kGPUThreads;
  }
  pm.addPass(createSeqLowerAttention(attention));
}

/// Entries write their outputs into the caller's tensors: the op computing
/// an output gets the caller's buffer as its destination. On whole ops
/// (before tiling, on the CPU): on deltanet's tiled loops,
/// eliminate-empty-tensors took 2.3 s comparing the slices' value bounds.
static void addDestinationOutputs(OpPassManager &pm) {
  pm.addPass(seqc::createSeqDestinationOutputs());
  pm.addPass(bufferization::createEmptyTensorEliminationPass());
}

/// Entries on tensors -> on buffers: one-shot bufferization, deallocation.
/// The same for every target but for how deallocations are lowered: for
/// the GPU (`gpuDeallocs`) without lists in host memory.
static void addBufferization(OpPassManager &pm, bool gpuDeallocs) {
  using namespace seqc;

  // Only the entries exist yet: they (and not the libm declarations or the
  // deallocation helpers made later) get `_mlir_ciface_` wrappers.
  pm.addNestedPass<func::FuncOp>(LLVM::createLLVMRequestCWrappersPass());

  // Entries take and return plain (identity-layout) memrefs, so a C caller
  // passes ordinary descriptors; results are fresh allocations the caller
  // owns. A scan's stacked outputs are new buffers each step before
  // deallocation cleans up, hence allow-return-allocs-from-loops.
  // Fold `tensor.dim`s of loop-carried tensors first: bufferization's
  // equivalence queries otherwise recurse through them at every tile loop
  // (on llama this took bufferization from about 5 s to under 1 s).
  pm.addNestedPass<func::FuncOp>(createSCFForLoopCanonicalizationPass());
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.allowReturnAllocsFromLoops = true;
  bufferize.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  if (gpuDeallocs) {
    // Upstream's buffer-deallocation-pipeline, with seq-lower-deallocs in
    // place of lower-deallocations (whose helper keeps lists in host
    // memory).
    memref::ExpandReallocPassOptions expandRealloc;
    expandRealloc.emitDeallocs = false;
    pm.addPass(memref::createExpandReallocPass(expandRealloc));
    pm.addPass(createCanonicalizerPass());
    pm.addPass(bufferization::createOwnershipBasedBufferDeallocationPass());
    pm.addPass(createCanonicalizerPass());
    pm.addPass(bufferization::createBufferDeallocationSimplificationPass());
    pm.addPass(createSeqLowerDeallocs());
    pm.addPass(createCSEPass());
    pm.addPass(createCanonicalizerPass());
  } else {
    bufferization::buildBufferDeallocationPipeline(pm);
  }
  // Deallocation clones a buffer that a function returns but does not own
  // (an entry that returns an input as is): clone -> alloc + copy.
  pm.addPass(createConvertBufferizationToMemRefPass());
}

/// Affine and scf to cf, and strided memref metadata to plain arithmetic
/// (which makes affine ops again), for every target.
static void addLoopsToCF(OpPassManager &pm) {
  pm.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
}

/// The host code's memref, arith, index, func, cf and ub ops to the LLVM
/// dialect, the same for every target. Host buffers come from the
/// runtime's allocator (`_mlir_memref_to_llvm_alloc` and `_free`,
/// runtime/lib/Library.c), which keeps large blocks for reuse.
static void addHostToLLVM(OpPassManager &pm) {
  FinalizeMemRefToLLVMConversionPassOptions memrefToLLVM;
  memrefToLLVM.useGenericFunctions = true;
  pm.addPass(createFinalizeMemRefToLLVMConversionPass(memrefToLLVM));
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createUBToLLVMConversionPass());
}

void seqc::buildLowerToLLVMPipeline(OpPassManager &pm,
                                    const PipelineOptions &options) {
  buildLowerToLinalgPipeline(pm, options);
  addDestinationOutputs(pm);
  // Tiles and vectors on tensors, where slices and their dependences are
  // explicit; bufferization then writes the tiles in place.
  pm.addNestedPass<func::FuncOp>(createSeqTileAndVectorize());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());

  addBufferization(pm, /*gpuDeallocs=*/false);

  // The outermost parallel tile loops run on the runtime's thread pool:
  // outlined (and the same bodies kept once) before the vector lowering,
  // which then sees each body once.
  pm.addPass(createConvertSeqParallelToRuntime());
  pm.addNestedPass<func::FuncOp>(createSeqLowerVectors());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  // Transfers that stay n-D (strided, transposed) unroll to 1-D ones.
  VectorTransferToSCFOptions vectorToSCF;
  vectorToSCF.unroll = true;
  pm.addPass(createConvertVectorToSCFPass(vectorToSCF));
  pm.addPass(createConvertLinalgToLoopsPass());
  addLoopsToCF(pm);
  // Intrinsics where LLVM has them, libm for the rest (erf, ...); the libm
  // calls of vector math are unrolled to vector.extract/insert, which the
  // vector conversion below then lowers.
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createConvertMathToLibmPass());
  ConvertVectorToLLVMPassOptions vectorToLLVM;
  vectorToLLVM.vectorContractLowering =
      vector::VectorContractLowering::OuterProduct;
  pm.addPass(createConvertVectorToLLVMPass(vectorToLLVM));
  addHostToLLVM(pm);
  pm.addPass(createReconcileUnrealizedCastsPass());
}

void seqc::buildLowerToCUDAPipeline(OpPassManager &pm,
                                    const PipelineOptions &options) {
  buildLowerToLinalgPipeline(pm, options);
  addDestinationOutputs(pm);
  addBufferization(pm, /*gpuDeallocs=*/true);
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());

  // Device buffers, loops mapped to blocks and threads, then kernels.
  SeqGPUMapOptions map;
  map.tf32 = options.tf32;
  pm.addPass(createSeqGPUMap(map));
  pm.addPass(createConvertParallelLoopToGpuPass());
  // The launches' block sizes folded to constants (outlining records them
  // as known_block_size, which becomes the kernel's .maxntid for ptxas);
  // then constants and index computations into the kernels: else every
  // constant is a kernel argument, and LLVM cannot fold it (a division by
  // 16 stays a 64-bit division).
  // Without region simplification: the same kernels, 0.13 s instead of
  // 0.18-0.34 of hybrid's cuda build.
  {
    GreedyRewriteConfig config;
    config.setRegionSimplificationLevel(GreedySimplifyRegionLevel::Disabled);
    pm.addPass(createCanonicalizerPass(config));
  }
  pm.addNestedPass<func::FuncOp>(createGpuLaunchSinkIndexComputationsPass());
  pm.addPass(createGpuKernelOutliningPass());
  pm.addPass(createSeqGPUMergeKernels());
  // Transfers that are not 1-D and contiguous unroll to 1-D ones.
  VectorTransferToSCFOptions kernelTransfers;
  kernelTransfers.unroll = true;
  pm.addNestedPass<gpu::GPUModuleOp>(
      createConvertVectorToSCFPass(kernelTransfers));
  addLoopsToCF(pm);
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());

  // The kernels: NVVM for the chosen GPU (libdevice for the math).
  GpuNVVMAttachTargetOptions target;
  target.chip = options.gpuArch;
  target.optLevel = 3;
  pm.addPass(createGpuNVVMAttachTarget(target));
  // Tensor-core ops on 16-bit floats to NVVM's, shared-memory allocas as
  // workgroup buffers, cp.async to NVVM, then vector ops of the kernels
  // (the scans' vector<1x..> transfers) to loads and stores.
  pm.addNestedPass<gpu::GPUModuleOp>(createSeqGPULowerMMA());
  pm.addPass(createSeqGPUWorkgroupBuffers());
  pm.addNestedPass<gpu::GPUModuleOp>(createConvertNVGPUToNVVMPass());
  pm.addNestedPass<gpu::GPUModuleOp>(createConvertVectorToLLVMPass());
  ConvertGpuOpsToNVVMOpsOptions toNVVM;
  toNVVM.indexBitwidth = 64;
  pm.addNestedPass<gpu::GPUModuleOp>(createConvertGpuOpsToNVVMOps(toNVVM));
  pm.addNestedPass<gpu::GPUModuleOp>(createCanonicalizerPass());
  pm.addNestedPass<gpu::GPUModuleOp>(createCSEPass());
  pm.addNestedPass<gpu::GPUModuleOp>(createReconcileUnrealizedCastsPass());

  // The host: launches and device memory become calls of the runtime's
  // mgpu* functions (runtime/lib/Cuda.c).
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createConvertMathToLibmPass());
  addHostToLLVM(pm);
  pm.addPass(createGpuToLLVMConversionPass());
  pm.addPass(createReconcileUnrealizedCastsPass());

  // ptxas (and fatbinary) of the toolkit: cubin and PTX in one fatbin;
  // ptxas compiles the kernels on every core of the build machine. The
  // kernels go in parts, one a thread of the context, serialized in
  // parallel (LLVM's NVPTX back end takes one thread a module); the PTX
  // that --emit=ptx prints stays one module, in the kernels' order.
  SeqGPUModuleToBinaryOptions binary;
  binary.toolkitPath = options.cudaPath;
  binary.cmdOptions = "--split-compile=0";
  binary.compilationTarget = options.ptxOnly ? "isa" : "fatbin";
  binary.parts = options.ptxOnly ? 1 : 0;
  pm.addPass(createSeqGPUModuleToBinary(binary));
}

void seqc::restrictToCUDA(PipelineOptions &options) {
  // What the GPU lowering handles so far: fused attention (the GPU forms
  // of seq-lower-attention), diagonal scans as kernels (fused, or chunked
  // parallel), the chunkwise form batched (whole-tensor ops; a loop over
  // chunks would run on the host), other matrix-state scans fused or as
  // loops over time whose steps are kernels.
  options.batchedChunkwise = true;
  options.splitCarries = false;
}

std::optional<seqc::ScanForm> seqc::parseScanForm(llvm::StringRef name) {
  return llvm::StringSwitch<std::optional<ScanForm>>(name)
      .Case("auto", ScanForm::Auto)
      .Case("fused", ScanForm::Fused)
      .Case("parallel", ScanForm::Parallel)
      .Case("sequential", ScanForm::Sequential)
      .Default(std::nullopt);
}

void seqc::registerSeqPipelines() {
  PassPipelineRegistration<>(
      "seq-lower-to-linalg",
      "Lower seq-level IR to linalg, tensor and scf on tensors",
      [](OpPassManager &pm) { buildLowerToLinalgPipeline(pm); });
  PassPipelineRegistration<>(
      "seq-lower-to-llvm",
      "Lower seq-level IR to the LLVM dialect (C-interface entries)",
      [](OpPassManager &pm) { buildLowerToLLVMPipeline(pm); });
  PassPipelineRegistration<>(
      "seq-lower-to-cuda",
      "Lower seq-level IR to the LLVM dialect with CUDA kernels (sm_90a)",
      [](OpPassManager &pm) {
        PipelineOptions options;
        options.target = Target::CUDA;
        restrictToCUDA(options);
        buildLowerToCUDAPipeline(pm, options);
      });
}
