//===- BuildLibrary.cpp - A checked program to a shared library -----------===//
//
// Drives the codegen stages in order on one MLIR context; see BuildLibrary.h.
//
//===----------------------------------------------------------------------===//

#include "BuildLibrary.h"
#include "MLIRGen/MLIRGen.h"
#include "codegen/Codegen.h"
#include "lowering/Passes.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cstdlib>
#include <set>

using namespace seqc;

struct RemarkPrinter::Impl {
  llvm::SourceMgr sources;
  mlir::SourceMgrDiagnosticHandler handler;
  /// The remarks printed, by place and text: a pass that sees a layer's
  /// scan in each entry (the forward and its step function, every layer
  /// instance at one place of the model) says it once.
  std::set<std::string> said;
  // Registered last, so it sees each diagnostic first: upstream's warnings
  // (attributes it does not know on the entries) are not the user's
  // business and are dropped, as they are without a handler; so are
  // repeated remarks.
  mlir::ScopedDiagnosticHandler filter;
  explicit Impl(mlir::MLIRContext &ctx)
      : handler(sources, &ctx, llvm::errs()),
        filter(&ctx, [this](mlir::Diagnostic &d) {
          if (d.getSeverity() == mlir::DiagnosticSeverity::Warning)
            return mlir::success();
          if (d.getSeverity() != mlir::DiagnosticSeverity::Remark)
            return mlir::failure();
          std::string key;
          llvm::raw_string_ostream os(key);
          os << d.getLocation() << ": " << d.str();
          return mlir::success(!said.insert(os.str()).second);
        }) {}
};

RemarkPrinter::RemarkPrinter(mlir::MLIRContext &ctx)
    : impl(std::make_unique<Impl>(ctx)) {}

RemarkPrinter::~RemarkPrinter() = default;

bool seqc::buildLibrary(const Program &program, const std::string &sourceName,
                        const std::string &outPath, const LibraryOptions &o,
                        std::string &err, LibraryInterface *interface) {
  StageTimer timer(std::getenv("SEQC_TIME_STAGES") != nullptr);
  mlir::MLIRContext ctx;
  registerLoweringDialects(ctx);
  registerMLIRGenDialects(ctx);

  auto mod = mlirGen(ctx, program, sourceName);
  if (!mod)
    return false;
  std::unique_ptr<RemarkPrinter> remarks;
  if (o.remarks)
    remarks = std::make_unique<RemarkPrinter>(ctx);
  PipelineOptions po = pipelineOptions(o);
  // The seq-level stage first: the step functions it adds are entries too.
  {
    mlir::PassManager seqLevel(&ctx);
    buildSeqLevelPipeline(seqLevel, po);
    if (mlir::failed(seqLevel.run(*mod)))
      return false;
  }
  // The interface comes from the seq-level module (its entries' weight
  // arguments, the step functions' states) and the typed program (dim
  // symbols of shapes).
  LibraryInterface iface;
  auto withFile = [&] {
    err = sourceName + ": " + err;
    return false;
  };
  if (!buildLibraryInterface(program, *mod,
                             o.name.empty() ? libraryName(outPath, sourceName)
                                            : o.name,
                             iface, err))
    return withFile();
  iface.target = o.target;
  iface.source = llvm::sys::path::filename(sourceName).str();
  timer.done("mlirgen");
  mlir::PassManager pm(&ctx);
  if (po.target == Target::CUDA)
    buildLowerToCUDAPipeline(pm, po);
  else
    buildLowerToLLVMPipeline(pm, po);
  if (timer.on && std::getenv("SEQC_TIME_STAGES")[0] == '2')
    pm.enableTiming();
  // The module is verified once, after the pipeline, not after each of its
  // passes (a fifth of the lowering's time: hybrid.seq for cuda, 0.5 s of
  // 2.9). seq-opt, which the lit tests run, verifies after each pass; so
  // does seqc with SEQC_VERIFY_EACH set.
  pm.enableVerifier(std::getenv("SEQC_VERIFY_EACH") != nullptr);
  if (mlir::failed(pm.run(*mod)) || mlir::failed(mlir::verify(*mod)))
    return false;
  if (!addLibraryGlue(*mod, iface, err))
    return withFile();
  timer.done("lower");
  if (interface)
    *interface = iface;
  ObjectOptions oo;
  oo.launchCode = po.target == Target::CUDA;
  oo.cpu = o.mcpu;
  oo.optLevel = o.optLevel;
  oo.timeStages = timer.on;
  if (o.objectOnly)
    return emitObjectFile(*mod, sourceName, outPath, oo, err);

  llvm::SmallString<128> objPath;
  if (auto ec = llvm::sys::fs::createTemporaryFile("seqc", "o", objPath)) {
    err = "cannot create a temporary file: " + ec.message();
    return false;
  }
  bool ok = emitObjectFile(*mod, sourceName, objPath.str().str(), oo, err);
  if (ok) {
    timer.last = std::chrono::steady_clock::now();
    ok = linkSharedLibrary(objPath.str().str(), outPath, o.runtimeDir, iface,
                           err);
    timer.done("link");
  }
  llvm::sys::fs::remove(objPath);
  return ok;
}

PipelineOptions seqc::pipelineOptions(const LibraryOptions &o) {
  PipelineOptions po;
  po.fuseAttention = o.fuseAttention;
  po.scanForm = parseScanForm(o.scanForm).value_or(ScanForm::Auto);
  po.deriveStep = o.deriveStep;
  po.chunkwise = o.chunkwise;
  po.batchedChunkwise = o.batchedChunkwise;
  po.splitCarries = o.splitCarries;
  po.seqLevel = false;
  if (o.target == "cuda") {
    po.target = Target::CUDA;
    po.gpuArch = o.gpuArch;
    po.cudaPath = o.cudaPath;
    po.tf32 = o.tf32;
    restrictToCUDA(po);
  }
  return po;
}

std::string seqc::defaultRuntimeDir(const char *argv0) {
  std::string exe = llvm::sys::fs::getMainExecutable(
      argv0, reinterpret_cast<void *>(&defaultRuntimeDir));
  llvm::SmallString<256> dir(llvm::sys::path::parent_path(exe));
  llvm::sys::path::append(dir, "..", "lib");
  return dir.str().str();
}
