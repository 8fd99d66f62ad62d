//===- Passes.h - The seq lowering passes -----------------------*- C++ -*-===//
//
// The passes declared in Passes.td (generated `create...()` functions and
// `registerSeqPasses()`), the pattern sets they apply, and the named
// pipelines that take seq-level IR to linalg and down to the LLVM dialect.
//
//===----------------------------------------------------------------------===//

#ifndef SEQC_LOWERING_PASSES_H
#define SEQC_LOWERING_PASSES_H

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"

namespace mlir {
class RewritePatternSet;
} // namespace mlir

namespace seqc {

#define GEN_PASS_DECL
#include "lowering/Passes.h.inc"

/// The `file:line:col` of `loc` (its first file location), or "": how the
/// passes' remarks point at the model's source.
std::string formatLocation(mlir::Location loc);

/// The attribute marking an `scf.for` whose iterations may run in parallel
/// (convert-seq-parallel-to-runtime puts it on the runtime's pool), and the
/// runtime function that says how many threads the pool has.
inline constexpr llvm::StringLiteral kParallelAttr = "seq.parallel";
inline constexpr llvm::StringLiteral kNumThreads = "seqrt_num_threads";

/// On a `seq.parallel` loop for the GPU, the threads a block must have
/// (its iterations share shared memory and barriers; seq-gpu-map makes
/// blocks of exactly that many).
inline constexpr llvm::StringLiteral kBlockThreadsAttr = "seq.block_threads";

/// Interfaces the lowering needs of upstream ops that lack them: the memory
/// effects of `gpu.barrier` and of nvgpu's cp.async group and wait ops
/// (ownership-based buffer deallocation rejects an op whose effects are
/// unknown). For every registry the pipelines run with (seqc's and
/// seq-opt's).
void registerLoweringInterfaces(mlir::DialectRegistry &registry);

/// A `linalg.generic` writing `init` with `iterators` and `maps`, whose body
/// `fn` receives the block arguments and returns the yielded value.
mlir::Value generic(
    mlir::OpBuilder &b, mlir::Location loc, mlir::Value init,
    mlir::ValueRange inputs, llvm::ArrayRef<mlir::AffineMap> maps,
    llvm::ArrayRef<mlir::utils::IteratorType> iterators,
    llvm::function_ref<mlir::Value(mlir::OpBuilder &, mlir::Location,
                                   mlir::ValueRange)>
        fn);

/// `r` as indices into `sizes` (outermost first, the last varying
/// fastest): each the remainder by its size of the quotient the faster
/// ones leave. The outermost is that quotient itself where `r` is in
/// range, or with `wrap` its remainder too.
llvm::SmallVector<mlir::Value> delinearize(mlir::OpBuilder &b,
                                           mlir::Location loc, mlir::Value r,
                                           llvm::ArrayRef<mlir::Value> sizes,
                                           bool wrap);

/// Of `ops` (symbol-defining ops of one kind: functions, kernels), keeps
/// one of each set that are the same but for their names, and erases the
/// others. Returns each erased op's name -> the kept op's name, for the
/// caller to redirect its references. A model's layers lower to the same
/// outlined loop bodies and kernels, once per layer.
llvm::DenseMap<mlir::StringAttr, mlir::StringAttr>
dedupSymbols(llvm::ArrayRef<mlir::Operation *> ops);

/// Patterns lowering `seq.scan` and `seq.assoc_scan` to `scf.for` loops over
/// tensors.
void populateSeqToSCFPatterns(mlir::RewritePatternSet &patterns);

/// Patterns decomposing `seq.softmax` into linalg ops.
void populateSeqToLinalgPatterns(mlir::RewritePatternSet &patterns);

/// The forms of diagonal recurrences (`seqc --scan-form=`): `Auto` fuses
/// them (`seq-fuse-scan`) with the chunked parallel scan as the run-time
/// alternative when the channels do not fill the threads; `Fused` without
/// the alternative; `Parallel` always the chunked parallel scan
/// (`seq-recurrence-to-scan` alone: `--parallel-scans`); `Sequential` the
/// plain `scf.for` over time with the body's ops per step.
enum class ScanForm { Auto, Fused, Parallel, Sequential };

/// `auto`, `fused`, `parallel`, `sequential`; none for anything else.
std::optional<ScanForm> parseScanForm(llvm::StringRef name);

/// What the named pipelines do beyond the fixed passes.
enum class Target { CPU, CUDA };

struct PipelineOptions {
  /// Fuse attention (`seq-fuse-attention`); off, the scores are computed
  /// and stored as written (`seqc --no-fuse-attention`).
  bool fuseAttention = true;
  /// How diagonal recurrences are compiled (`seqc --scan-form=`).
  ScanForm scanForm = ScanForm::Auto;
  /// Compile matrix-state recurrences read by a contraction (linear
  /// attention, RetNet, GLA, Mamba2) to the chunkwise form
  /// (`seq-chunkwise`); off, they stay sequential scans
  /// (`seqc --no-chunkwise`).
  bool chunkwise = true;
  /// The chunkwise form for every chunk at once, as whole-tensor ops
  /// (`seq-chunkwise batched`): the GPU's (`restrictToCUDA`), on the CPU
  /// with `seqc --batched-chunkwise`.
  bool batchedChunkwise = false;
  /// Split a running max (`m' = max(m, x)`, `max(m + a, x)`) off its scan
  /// as a parallel max scan, so that the carries it rescales become affine
  /// (`seq-split-carries`; off with `seqc --no-split-carries`).
  bool splitCarries = true;
  /// Give stateful entries their step function (`seq-derive-step`; off
  /// with `seqc --no-step`).
  bool deriveStep = true;
  /// Whether the linalg pipeline starts with the seq-level stage
  /// (buildSeqLevelPipeline). seqc runs that stage on its own first, to
  /// describe the library (its step entries) before lowering.
  bool seqLevel = true;
  /// Where the code runs (`seqc --target=`): the host CPU, or NVIDIA GPUs
  /// (buildLowerToCUDAPipeline).
  Target target = Target::CPU;
  /// For `cuda`: the GPU (`seqc --gpu-arch=`), what the NVPTX backend and
  /// ptxas compile for, and the CUDA toolkit whose ptxas, fatbinary and
  /// libdevice they use.
  std::string gpuArch = "sm_90a";
  std::string cudaPath = "/usr/local/cuda";
  /// For `cuda`: f32 contractions on tensor cores as tf32 (`seqc --tf32`,
  /// as PyTorch's allow_tf32: operands keep 10 bits of mantissa, sums f32).
  bool tf32 = false;
  /// For `cuda`: stop at PTX (`gpu.binary` holding the assembly, for
  /// `seqc --emit=ptx`) instead of a fatbin with cubin and PTX.
  bool ptxOnly = false;
};
/// Turns off in `options` what the CUDA lowering does not handle yet
/// (seqc and seq-opt's `seq-lower-to-cuda` both use it).
void restrictToCUDA(PipelineOptions &options);

/// The seq-level stage: attention fusion and the step functions. What it
/// leaves is what the library exposes.
void buildSeqLevelPipeline(mlir::OpPassManager &pm,
                           const PipelineOptions &options = {});

/// seq-level IR -> linalg/tensor/scf on tensors, with the seq ops gone,
/// attention fused and tiled, and elementwise ops fused
/// (`seq-lower-to-linalg`).
void buildLowerToLinalgPipeline(mlir::OpPassManager &pm,
                                const PipelineOptions &options = {});

/// seq-level IR -> the LLVM dialect: the linalg pipeline, bufferization,
/// deallocation, loops and the conversions to LLVM; entries get
/// `_mlir_ciface_<name>` wrappers (`seq-lower-to-llvm`).
void buildLowerToLLVMPipeline(mlir::OpPassManager &pm,
                              const PipelineOptions &options = {});

/// seq-level IR -> the LLVM dialect for `--target=cuda`: the linalg
/// pipeline, bufferization, `seq-gpu-map`, the upstream GPU lowering to
/// kernels, NVVM and a `gpu.binary` (fatbin: cubin for `gpuArch` and its
/// PTX), and host code that launches through the runtime's `mgpu*`
/// functions (`seq-lower-to-cuda`; docs/gpu.md).
void buildLowerToCUDAPipeline(mlir::OpPassManager &pm,
                              const PipelineOptions &options = {});

#define GEN_PASS_REGISTRATION
#include "lowering/Passes.h.inc"

/// Registers `seq-lower-to-linalg` and `seq-lower-to-llvm` with the pass
/// pipeline registry (for seq-opt).
void registerSeqPipelines();

} // namespace seqc

#endif // SEQC_LOWERING_PASSES_H
