//===- Codegen.h - Native objects and shared libraries ----------*- C++ -*-===//
//
// The last stage of `seqc FILE.seq -o libNAME.so`:
//  1. buildModelMetadata: JSON that describes the model (dims, weights,
//     entries with their inputs and outputs), read at load time by the
//     runtime's generic shim (runtime/lib/Library.c);
//  2. addLibraryGlue: adds to the LLVM-dialect module, per entry,
//     `void seq_<entry>_packed(void **args)` (args[0]: the result struct,
//     then one memref descriptor pointer per weight and input, calling
//     `_mlir_ciface_<entry>`), the table `seq_entry_table` of those
//     functions (metadata entry order) and the NUL-terminated string
//     `seq_model_metadata`;
//  3. emitObjectFile: translates to LLVM IR, optimizes at -O2 and writes a
//     PIC object for the host;
//  4. linkSharedLibrary: `cc -shared` with libseqrt_static.a, exporting only
//     `seqrt_library`.
//
//===----------------------------------------------------------------------===//

#ifndef SEQC_CODEGEN_CODEGEN_H
#define SEQC_CODEGEN_CODEGEN_H

#include "TypedIR.h"

#include "mlir/IR/BuiltinOps.h"

#include <string>
#include <vector>

namespace seqc {

/// Collects, from the seq-level module (before lowering), the weights each
/// entry takes (their `seq.weight` names, in argument order) and builds the
/// metadata JSON. False with `err` set when an entry cannot be described
/// (an output dim that is neither a constant nor a dim symbol).
bool buildModelMetadata(const Program &program, mlir::ModuleOp seqModule,
                        std::string &json, std::vector<std::string> &entries,
                        std::string &err);

/// Adds the packed wrappers, `seq_entry_table` and `seq_model_metadata` to
/// the LLVM-dialect module.
bool addLibraryGlue(mlir::ModuleOp llvmModule, const std::string &json,
                    const std::vector<std::string> &entries, std::string &err);

/// Translates, optimizes (-O2) and writes a host object file (PIC). `cpu`
/// empty or "native": the host CPU and its features; otherwise that CPU
/// ("x86-64", "x86-64-v3", ...) with its default features.
bool emitObjectFile(mlir::ModuleOp llvmModule, const std::string &sourceName,
                    const std::string &objPath, const std::string &cpu,
                    std::string &err);

/// Links `objPath` with `runtimeDir`/libseqrt_static.a into `outPath`.
bool linkSharedLibrary(const std::string &objPath, const std::string &outPath,
                       const std::string &runtimeDir, std::string &err);

} // namespace seqc

#endif // SEQC_CODEGEN_CODEGEN_H
