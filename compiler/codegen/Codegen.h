//===- Codegen.h - Native objects and shared libraries ----------*- C++ -*-===//
//
// The last stages of `seqc FILE.seq -o libNAME.so` (docs/codegen.md):
//  1. buildLibraryInterface (before lowering): what the library exposes,
//     its dims, weights and entries with their argument signatures, and the
//     prefix of its C functions; metadataJSON describes it to the runtime's
//     generic shim (runtime/lib/Library.c) and buildHeader to C callers
//     (`NAME.h`, also `--emit=header`);
//  2. addLibraryGlue: adds to the LLVM-dialect module, per entry,
//     `void seq_<entry>_packed(void **args)` (args[0]: the result struct,
//     then one memref descriptor pointer per weight and input, calling
//     `_mlir_ciface_<entry>`), the table `seq_entry_table` of those
//     functions (metadata entry order), the NUL-terminated string
//     `seq_model_metadata`, and the named C functions (`NAME_create`,
//     `NAME_<entry>`, ...), which forward to the shim;
//  3. emitObjectFile: translates to LLVM IR, optimizes at -O0..-O3 (a lean
//     function pipeline at -O1/-O2, LLVM's default one at -O3) and writes a
//     PIC object for the host;
//  4. linkSharedLibrary: `cc -shared` with libseqrt_static.a, exporting only
//     `seqrt_library` and the named C functions.
//
//===----------------------------------------------------------------------===//

#ifndef SEQC_CODEGEN_CODEGEN_H
#define SEQC_CODEGEN_CODEGEN_H

#include "TypedIR.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"

#include <chrono>
#include <string>
#include <vector>

namespace seqc {

/// Prints how long each stage of a build took to stderr, when `on`
/// (SEQC_TIME_STAGES; docs/codegen.md): `done(stage)` prints the time since
/// the last stage and restarts the clock.
struct StageTimer {
  bool on;
  std::chrono::steady_clock::time_point last = std::chrono::steady_clock::now();
  explicit StageTimer(bool on) : on(on) {}
  void done(const char *stage);
};

/// Adds to `registry` the LLVM IR translations the lowering ends with: the
/// host module (builtin, LLVM) and, for --target=cuda, the kernels (NVVM;
/// gpu-module-to-binary translates them) and the gpu.binary the host
/// embeds. seq-opt registers them too.
void registerLoweringTranslations(mlir::DialectRegistry &registry);

/// Registers on `ctx` what lowering a seq module needs: every upstream
/// dialect with its interfaces (bufferization, conversion to LLVM), the
/// interfaces the lowering adds (`registerLoweringInterfaces`) and the LLVM
/// IR translations.
void registerLoweringDialects(mlir::MLIRContext &ctx);

/// A weight or an entry's argument as the library describes it. Each dim is
/// a constant (>= 0) or SEQRT_DIM_SYM(k) = -(k + 1) for the model's dim k.
struct LibraryArg {
  std::string name;
  std::string dtype; // "f32", "i64", "bool", ...
  std::vector<int64_t> dims;
};

struct LibraryEntry {
  std::string name;
  /// Indices into LibraryInterface::weights, in the order the entry's
  /// function takes them.
  std::vector<int> weights;
  std::vector<LibraryArg> inputs, outputs;
  /// A step entry (`forward_step`, from seq-derive-step): the entry it
  /// steps, the dim symbol of time (its inputs and outputs are that
  /// entry's, over a chunk of time), and its states, each with its rank
  /// (`dims` holds -1 per axis: their sizes are what the last step left).
  int stepOf = -1;
  int timeDim = -1;
  std::vector<LibraryArg> states;
  /// Sizes and slice bounds of the entry's graph that some dim values make
  /// negative (`T - 1` of `x[:, 0:T - 1]`), with where each first appears.
  /// The runtime checks them once the arguments have bound the dims, so a
  /// call at T = 0 gets an error status instead of a negative allocation.
  std::vector<std::pair<Dim, Loc>> sizeChecks;
};

/// What a generated library exposes.
struct LibraryInterface {
  std::string model;
  /// Where its code runs: "cpu" or "cuda" (seqc --target); the runtime
  /// reads it from the metadata.
  std::string target = "cpu";
  /// The C identifier the named functions start with: `gla` for
  /// `gla_create`, `gla_forward`, ...
  std::string prefix;
  /// The source file, as messages about the model's sizes name it.
  std::string source;
  std::vector<std::string> dims;
  std::vector<LibraryArg> weights;
  std::vector<LibraryEntry> entries;
};

/// NAME of a library or header path: `dir/libgla.so` and `gla.h` give `gla`;
/// with `path` empty, the stem of `sourcePath`.
std::string libraryName(const std::string &path, const std::string &sourcePath);

/// `dir/NAME.h` for the library `dir/libNAME.so`.
std::string libraryHeaderPath(const std::string &libPath);

/// Describes `program` (the weights each entry takes come from the
/// `seq.weight` arguments of the seq-level module) with the C prefix made
/// from `name` (see libraryName). False with `err` set when an entry cannot
/// be described (an output dim that is neither a constant nor a dim symbol)
/// or a C function name would clash.
bool buildLibraryInterface(const Program &program, mlir::ModuleOp seqModule,
                           const std::string &name, LibraryInterface &lib,
                           std::string &err);

/// The ABI's name of an MLIR element type ("f32", "bool", ...; "" for one
/// it cannot describe).
std::string dtypeName(mlir::Type t);

/// The JSON the runtime's shim reads (docs/codegen.md, "The metadata").
std::string metadataJSON(const LibraryInterface &lib);

/// The C header declaring the named functions, with each entry's
/// arguments documented. `sourceName` is mentioned in its banner.
std::string buildHeader(const LibraryInterface &lib,
                        const std::string &sourceName);

/// Adds the packed wrappers, `seq_entry_table`, `seq_model_metadata` and
/// the named C functions to the LLVM-dialect module.
bool addLibraryGlue(mlir::ModuleOp llvmModule, const LibraryInterface &lib,
                    std::string &err);

/// How emitObjectFile optimizes and for which CPU.
struct ObjectOptions {
  /// Empty or "native": the host CPU and its features; otherwise that CPU
  /// ("x86-64", "x86-64-v3", ...) with its default features.
  std::string cpu;
  /// `-O0`..`-O3`: the LLVM pass pipeline of that level (none at 0) and the
  /// code generator's level (None, Less, Default, Aggressive; None for
  /// `launchCode`).
  int optLevel = 2;
  /// Print the time of each stage to stderr (SEQC_TIME_STAGES).
  bool timeStages = false;
  /// The object is a CUDA library's host code, which only fills launch
  /// arguments and calls the runtime: FastISel and the code generator at
  /// None. Its launch sequences make basic blocks of thousands of stores,
  /// on which the SelectionDAG took most of a second (hybrid.seq: 1.1 s)
  /// and the optimizing code generator 0.69 s (now 0.25). The IR pipeline
  /// of `optLevel` still runs: without it, the unoptimized sequences take
  /// 1.3 s to generate.
  bool launchCode = false;
};

/// Drops the model's own argument and result attributes (`seq.input`,
/// `seq.weight`, ...; the library interface has read them) from the LLVM
/// functions: LLVM IR has no place for them, and the translation warns of
/// each, printing the whole function into every warning (0.05-0.08 s of
/// hybrid.seq for cuda).
void dropSeqArgumentAttributes(mlir::ModuleOp llvmModule);

/// Translates, optimizes and writes a host object file (PIC).
bool emitObjectFile(mlir::ModuleOp llvmModule, const std::string &sourceName,
                    const std::string &objPath, const ObjectOptions &o,
                    std::string &err);

/// Links `objPath` with `runtimeDir`/libseqrt_static.a into `outPath`,
/// exporting `seqrt_library` and the named functions of `lib`.
bool linkSharedLibrary(const std::string &objPath, const std::string &outPath,
                       const std::string &runtimeDir,
                       const LibraryInterface &lib, std::string &err);

} // namespace seqc

#endif // SEQC_CODEGEN_CODEGEN_H
