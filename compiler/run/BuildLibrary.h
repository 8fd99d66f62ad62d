//===- BuildLibrary.h - A checked program to a shared library ---*- C++ -*-===//
//
// The whole back half of `seqc FILE.seq -o libNAME.so` (and `--emit=obj`):
// MLIRGen, the library metadata, lowering to the LLVM dialect, the glue, the
// object file and the link (compiler/codegen/Codegen.h has the stages).
// `seqc run` calls the same function to build the library it loads.
//
//===----------------------------------------------------------------------===//

#ifndef SEQC_RUN_BUILDLIBRARY_H
#define SEQC_RUN_BUILDLIBRARY_H

#include "TypedIR.h"
#include "codegen/Codegen.h"
#include "lowering/Passes.h"

#include <memory>
#include <string>

namespace mlir {
class MLIRContext;
} // namespace mlir

namespace seqc {

struct LibraryOptions {
  /// Stop at the object file (`--emit=obj`).
  bool objectOnly = false;
  /// Where libseqrt_static.a is; see defaultRuntimeDir.
  std::string runtimeDir;
  /// `--mcpu`: empty or "native" for the host CPU.
  std::string mcpu;
  /// `-O0`..`-O3` (ObjectOptions::optLevel in Codegen.h).
  int optLevel = 2;
  /// Fuse attention (`--no-fuse-attention` turns it off).
  bool fuseAttention = true;
  /// How diagonal recurrences are compiled (`--scan-form=auto|fused|
  /// parallel|sequential`, seqc::parseScanForm; `--parallel-scans` is
  /// `parallel`).
  std::string scanForm = "auto";
  /// Matrix-state recurrences in chunkwise form (`--no-chunkwise` turns it
  /// off).
  bool chunkwise = true;
  /// The chunkwise form for every chunk at once (`--batched-chunkwise`;
  /// always for cuda).
  bool batchedChunkwise = false;
  /// Split a running max off a scan as a parallel max scan
  /// (`--no-split-carries` turns it off).
  bool splitCarries = true;
  /// Give stateful entries a step function and the library a state
  /// (`--no-step` turns it off).
  bool deriveStep = true;
  /// Print the passes' remarks (what was fused and why not) to stderr
  /// (`--remarks`).
  bool remarks = false;
  /// Where the library runs: "cpu" or "cuda" (`--target`), and for cuda
  /// the GPU (`--gpu-arch`) and the CUDA toolkit (`--cuda-path`).
  std::string target = "cpu";
  std::string gpuArch = "sm_90a";
  /// f32 contractions on tensor cores as tf32 (`--tf32`; cuda only).
  bool tf32 = false;
  std::string cudaPath = "/usr/local/cuda";
  /// The NAME of the named C functions (`NAME_create`, ...); empty: from
  /// the output path (libraryName in Codegen.h).
  std::string name;
};

/// While alive, prints every diagnostic of `ctx`, remarks included, to
/// stderr as `file:line:col: remark: ...` with the source line; without
/// one, MLIR prints errors only.
class RemarkPrinter {
public:
  explicit RemarkPrinter(mlir::MLIRContext &ctx);
  ~RemarkPrinter();

private:
  struct Impl;
  std::unique_ptr<Impl> impl;
};

/// Builds `outPath` from `program` (`sourceName` names the file in
/// locations) and, when `interface` is not null, sets it to what the library
/// exposes (for its header). False on failure: with `err` set, or with `err`
/// empty when MLIR has already printed a diagnostic.
bool buildLibrary(const Program &program, const std::string &sourceName,
                  const std::string &outPath, const LibraryOptions &o,
                  std::string &err, LibraryInterface *interface = nullptr);

/// The pipeline options of `o`: for cuda, the forms the GPU lowering takes
/// so far (attention unfused, scans sequential, no step entries;
/// docs/gpu.md).
PipelineOptions pipelineOptions(const LibraryOptions &o);

/// `../lib` next to the running executable (build/bin/seqc ->
/// build/lib), where the build puts libseqrt_static.a.
std::string defaultRuntimeDir(const char *argv0);

} // namespace seqc

#endif // SEQC_RUN_BUILDLIBRARY_H
