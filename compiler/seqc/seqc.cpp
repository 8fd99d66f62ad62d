//===- seqc.cpp - The seqc driver ----------------------------------------===//
//
// The product's command line: parses a .seq file, checks it, and prints a
// stage (`--emit=...`), builds a library (`-o libNAME.so`) or runs it
// (`seqc run ...`, compiled or interpreted). See DESIGN.md for the full
// command line.
//
//===----------------------------------------------------------------------===//

#include "BuildLibrary.h"
#include "CompiledRun.h"
#include "Driver.h"
#include "Run.h"
#include "Sema.h"
#include "TypedIR.h"
#include "VerifyDiagnostics.h"
#include "MLIRGen/MLIRGen.h"
#include "codegen/Codegen.h"
#include "lowering/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OperationSupport.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

using namespace seqc;

static int usage() {
  std::cerr << "usage: seqc FILE.seq [--emit=ast|typed|seq|linalg|llvm|ptx|obj|lib|header] [-o OUT] [--verify-diagnostics] [--mlir-print-debuginfo]\n"
               "       seqc FILE.seq -o libNAME.so [--runtime-dir=DIR] [--mcpu=native|CPU] [-O0..-O3]   (a shared library and NAME.h)\n"
               "       target: [--target=cpu|cuda] [--gpu-arch=sm_90a] [--cuda-path=/usr/local/cuda] [--tf32]   (--emit=ptx: the kernels' PTX; --tf32: f32 contractions on tensor cores as tf32)\n"
               "       common: [--remarks] (what was fused, and why not) [--no-fuse-attention] [--scan-form=auto|fused|parallel|sequential] [--no-step] [--no-chunkwise] [--batched-chunkwise] [--no-split-carries]\n"
               "       seqc run FILE.seq [run options]   (see seqc run --help)\n";
  return 2;
}

static const char *runUsage =
    "usage: seqc run FILE.seq [--entry=NAME] [--weights=W.safetensors]\n"
    "                [--input NAME=FILE.npy ...] [--random [--seed=N]]\n"
    "                [--dim NAME=VALUE ...] [--output=OUT.npy]\n"
    "                [--interpret | --check] [--bench=N] [--target=cpu]\n"
    "                [--mcpu=native|CPU] [-O0..-O3] [--no-fuse-attention]\n"
    "                [--scan-form=FORM] [--remarks] [--no-cache] [-v]\n"
    "                [--chunk=N]\n"
    "  (default)         compile the model (cached) and run the compiled entry\n"
    "  --interpret       run the reference interpreter instead\n"
    "  --check           run both; fail if they differ beyond the tolerance\n"
    "  --bench=N         time N runs of the compiled entry after a warm-up\n"
    "  --chunk=N         run the entry's step form, N tokens per call, from a\n"
    "                    fresh state (with --check: step equals the entry)\n"
    "  --target=cpu      where to run (cpu is the only target so far)\n"
    "  --mcpu=CPU        the CPU to compile for (default: native)\n"
    "  -O0..-O3          the optimisation level to compile at (default: -O2)\n"
    "  --no-fuse-attention  compute attention scores as written (unfused)\n"
    "  --scan-form=FORM  diagonal recurrences: auto (fused, or the chunked\n"
    "                    parallel scan when channels leave threads idle and T\n"
    "                    is long: chosen at run time), fused, parallel,\n"
    "                    sequential (a loop over time, the step's ops each\n"
    "                    step); --parallel-scans is --scan-form=parallel\n"
    "  --no-chunkwise    matrix-state recurrences as sequential scans\n"
    "  --batched-chunkwise  the chunkwise form for every chunk at once, as\n"
    "                    whole-tensor ops (the GPU's form; one decay per\n"
    "                    batch item or none)\n"
    "  --no-split-carries  keep a running max (online softmax, mLSTM's\n"
    "                    stabiliser) a carry of its scan\n"
    "  --remarks         print what was fused and why not (compiles afresh)\n"
    "  --no-cache        compile afresh; the cache is $SEQC_CACHE_DIR, else\n"
    "                    $XDG_CACHE_HOME/seqc, else ~/.cache/seqc\n"
    "  -v                say on stderr whether the cache hit\n"
    "  --entry=NAME      the entry to run (default: forward, or the only one)\n"
    "  --weights=FILE    weights; without it, --random makes them up\n"
    "  --input N=F.npy   an input by name; with --random the others are random\n"
    "  --random          random inputs and weights (splitmix64), --seed=N\n"
    "  --dim N=V         a runtime dim that no input gives (checked if one does)\n"
    "  --output=OUT.npy  one result: OUT.npy; several: OUT.0.npy, OUT.1.npy, ...\n";

static bool readFile(const std::string &path, std::string &out) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

/// Writes `text` to `path`; false, with a message, when it cannot.
static bool writeText(const std::string &path, const std::string &text) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_Text);
  if (!ec)
    os << text;
  if (ec) {
    std::cerr << "seqc: error: cannot write '" << path << "': " << ec.message()
              << "\n";
    return false;
  }
  return true;
}

/// Splits `NAME=VALUE`; false when there is no `=` or a side is empty.
static bool splitAssign(const std::string &s, std::string &name,
                        std::string &value) {
  size_t eq = s.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == s.size())
    return false;
  name = s.substr(0, eq);
  value = s.substr(eq + 1);
  return true;
}

static bool parseInt(const std::string &s, int64_t &out) {
  if (s.empty())
    return false;
  char *end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno || *end)
    return false;
  out = v;
  return true;
}

/// `seqc run FILE.seq ...`: runs an entry, compiled or interpreted.
static int runMain(const std::vector<std::string> &args, const char *argv0) {
  auto error = [](const std::string &msg) {
    std::cerr << "seqc: error: " << msg << "\n";
    return 1;
  };
  CompiledRunOptions co;
  RunOptions &o = co.run;
  std::string file;
  bool interpret = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string &a = args[i];
    // `--flag=value` or `--flag value`.
    auto value = [&](const char *flag, std::string &out) {
      std::string f = flag;
      if (a.rfind(f + "=", 0) == 0) {
        out = a.substr(f.size() + 1);
        return true;
      }
      if (a == f && i + 1 < args.size()) {
        out = args[++i];
        return true;
      }
      return false;
    };
    std::string v, name, val;
    if (a == "--help" || a == "-h") {
      std::cout << runUsage;
      return 0;
    }
    if (a == "--interpret") {
      interpret = true;
    } else if (a == "--check") {
      co.check = true;
    } else if (a == "--no-cache") {
      co.noCache = true;
    } else if (a == "--no-fuse-attention") {
      co.fuseAttention = false;
    } else if (a == "--parallel-scans") {
      co.scanForm = "parallel";
    } else if (a.rfind("--scan-form=", 0) == 0) {
      co.scanForm = a.substr(12);
      if (!parseScanForm(co.scanForm)) {
        std::cerr << "seqc: error: unknown scan form '" << co.scanForm
                  << "' (auto, fused, parallel, sequential)\n";
        return 1;
      }
    } else if (a == "--no-chunkwise") {
      co.chunkwise = false;
    } else if (a == "--batched-chunkwise") {
      co.batchedChunkwise = true;
    } else if (a == "--no-split-carries") {
      co.splitCarries = false;
    } else if (a.rfind("--chunk=", 0) == 0) {
      char *end = nullptr;
      long long v = std::strtoll(a.c_str() + 8, &end, 10);
      if (a.size() == 8 || *end || v < 1) {
        std::cerr << "seqc: error: --chunk expects a positive number of "
                     "tokens, got '"
                  << a.substr(8) << "'\n";
        return 1;
      }
      co.chunk = v;
    } else if (a == "--remarks") {
      // Remarks come from compiling: no cached library.
      co.remarks = true;
      co.noCache = true;
    } else if (a == "-v") {
      co.verbose = true;
    } else if (a == "--random") {
      o.random = true;
    } else if (value("--entry", v)) {
      o.entry = v;
    } else if (value("--weights", v)) {
      o.weights = v;
    } else if (value("--output", v) || value("-o", v)) {
      o.output = v;
    } else if (value("--target", v)) {
      co.target = v;
    } else if (value("--mcpu", v)) {
      co.mcpu = v;
    } else if (a.size() == 3 && a[0] == '-' && a[1] == 'O' && a[2] >= '0' &&
               a[2] <= '3') {
      co.optLevel = a[2] - '0';
    } else if (value("--runtime-dir", v)) {
      co.runtimeDir = v;
    } else if (value("--seed", v)) {
      int64_t seed;
      if (!parseInt(v, seed))
        return error("--seed expects an integer, got '" + v + "'");
      o.seed = (uint64_t)seed;
    } else if (value("--bench", v)) {
      if (!parseInt(v, co.bench) || co.bench < 1)
        return error("--bench expects a positive number of runs, got '" + v +
                     "'");
    } else if (value("--check-tolerance", v)) {
      // Undocumented in --help: scales --check's tolerances (0: exact), so
      // that tests can see the comparison fail (docs/run.md).
      char *end = nullptr;
      co.checkTolerance = std::strtod(v.c_str(), &end);
      if (v.empty() || *end || co.checkTolerance < 0)
        return error("--check-tolerance expects a non-negative number, got '" +
                     v + "'");
    } else if (value("--input", v)) {
      if (!splitAssign(v, name, val))
        return error("--input expects NAME=FILE.npy, got '" + v + "'");
      o.inputs.push_back({name, val});
    } else if (value("--dim", v)) {
      int64_t d;
      if (!splitAssign(v, name, val) || !parseInt(val, d))
        return error("--dim expects NAME=VALUE, got '" + v + "'");
      o.dims.push_back({name, d});
    } else if (!a.empty() && a[0] == '-') {
      return error("unknown run option '" + a + "' (see seqc run --help)");
    } else if (file.empty()) {
      file = a;
    } else {
      return error("more than one input file ('" + file + "', '" + a + "')");
    }
  }
  if (file.empty()) {
    std::cerr << runUsage;
    return 1;
  }
  if (interpret && co.check)
    return error("--check runs the interpreter itself: drop --interpret");
  if (interpret && co.bench)
    return error("--bench times compiled code: drop --interpret");
  if (llvm::Error e = checkRunTarget(co.target))
    return error(llvm::toString(std::move(e)));

  std::string source;
  if (!readFile(file, source))
    return error("cannot read '" + file + "'");
  DiagEngine diags(file, source, std::cerr);
  std::unique_ptr<Module> module = parseModule(diags);
  if (diags.hasErrors())
    return 1;
  std::unique_ptr<Program> program = analyze(*module, diags);
  if (!program || diags.hasErrors())
    return 1;
  o.source = file;
  if (interpret)
    return runInterpreter(*program, o, std::cout, std::cerr);
  return runCompiled(*program, file, source, argv0, co, std::cout, std::cerr);
}

int main(int argc, char **argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "run")
    return runMain(std::vector<std::string>(args.begin() + 1, args.end()),
                   argv[0]);
  std::string file, emit, outPath, runtimeDir, mcpu;
  LibraryOptions defaults;
  std::string target = defaults.target, gpuArch = defaults.gpuArch,
              cudaPath = defaults.cudaPath;
  int optLevel = LibraryOptions().optLevel;
  bool verify = false, debugInfo = false, remarks = false, fuse = true,
       deriveStep = true, chunkwise = true, batchedChunkwise = false,
       splitCarries = true, tf32 = false;
  std::string scanForm = "auto";
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string &a = args[i];
    if (a.rfind("--emit=", 0) == 0)
      emit = a.substr(7);
    else if (a == "--verify-diagnostics")
      verify = true;
    else if (a == "--mlir-print-debuginfo")
      debugInfo = true;
    else if (a == "--remarks")
      remarks = true;
    else if (a == "--no-fuse-attention")
      fuse = false;
    else if (a == "--parallel-scans")
      scanForm = "parallel";
    else if (a.rfind("--scan-form=", 0) == 0 && parseScanForm(a.substr(12)))
      scanForm = a.substr(12);
    else if (a == "--no-chunkwise")
      chunkwise = false;
    else if (a == "--batched-chunkwise")
      batchedChunkwise = true;
    else if (a == "--tf32")
      tf32 = true;
    else if (a == "--no-split-carries")
      splitCarries = false;
    else if (a == "--no-step")
      deriveStep = false;
    else if (a.rfind("--runtime-dir=", 0) == 0)
      runtimeDir = a.substr(14);
    else if (a.rfind("--mcpu=", 0) == 0)
      mcpu = a.substr(7);
    else if (a.rfind("--target=", 0) == 0)
      target = a.substr(9);
    else if (a.rfind("--gpu-arch=", 0) == 0)
      gpuArch = a.substr(11);
    else if (a.rfind("--cuda-path=", 0) == 0)
      cudaPath = a.substr(12);
    else if (a.size() == 3 && a[0] == '-' && a[1] == 'O' && a[2] >= '0' &&
             a[2] <= '3')
      optLevel = a[2] - '0';
    else if (a == "-o" && i + 1 < args.size())
      outPath = args[++i];
    else if (!a.empty() && a[0] == '-')
      return std::cerr << "seqc: error: unknown option '" << a << "'\n", usage();
    else if (file.empty())
      file = a;
    else
      return usage();
  }
  if (file.empty())
    return usage();
  if (target != "cpu" && target != "cuda") {
    std::cerr << "seqc: error: unknown --target '" << target
              << "' (expected cpu or cuda)\n";
    return 2;
  }
  if (gpuArch.rfind("sm_", 0) != 0 || gpuArch.size() < 5) {
    std::cerr << "seqc: error: bad --gpu-arch '" << gpuArch
              << "' (expected sm_XY, e.g. sm_90a or sm_80)\n";
    return 2;
  }
  if (emit == "ptx")
    target = "cuda";
  if (tf32 && target != "cuda") {
    std::cerr << "seqc: error: --tf32 is for --target=cuda (the cpu "
                 "computes f32)\n";
    return 2;
  }
  if (target == "cuda" && emit != "ast" && emit != "typed" && emit != "seq" &&
      !llvm::sys::fs::exists(cudaPath + "/bin/ptxas")) {
    std::cerr << "seqc: error: --target=cuda needs the CUDA toolkit's ptxas: "
                 "no '"
              << cudaPath << "/bin/ptxas' (set --cuda-path)\n";
    return 1;
  }
  // `-o libNAME.so` without --emit builds a shared library.
  if (emit.empty())
    emit = outPath.size() > 3 && outPath.compare(outPath.size() - 3, 3, ".so") == 0
               ? "lib"
               : "seq";
  if ((emit == "obj" || emit == "lib") && outPath.empty()) {
    std::cerr << "seqc: error: --emit=" << emit << " needs -o OUT\n";
    return 2;
  }
  if (emit == "lib" && runtimeDir.empty())
    runtimeDir = defaultRuntimeDir(argv[0]);
  std::string source;
  if (!readFile(file, source)) {
    std::cerr << "seqc: error: cannot read '" << file << "'\n";
    return 1;
  }

  // With --verify-diagnostics, diagnostics are collected and compared with
  // the file's `expected-error {{...}}` comments instead of printed.
  std::ostringstream captured;
  DiagEngine diags(file, source, verify ? captured : std::cerr);
  if (verify) {
    diags.setErrorLimit(1000);
    std::unique_ptr<Module> module = parseModule(diags);
    if (!diags.hasErrors() && emit != "ast")
      analyze(*module, diags);
    return verifyDiagnostics(file, source, captured.str(), std::cerr) ? 0 : 1;
  }
  std::unique_ptr<Module> module = parseModule(diags);
  if (diags.hasErrors())
    return 1;
  if (emit == "ast") {
    dumpAST(*module, std::cout);
    return 0;
  }
  std::unique_ptr<Program> program = analyze(*module, diags);
  if (!program || diags.hasErrors())
    return 1;
  if (emit == "typed") {
    for (const Entry &e : program->entries)
      printEntry(*program, e, std::cout);
    return 0;
  }
  if (emit == "obj" || emit == "lib") {
    LibraryOptions lo;
    lo.objectOnly = emit == "obj";
    lo.runtimeDir = runtimeDir;
    lo.mcpu = mcpu;
    lo.optLevel = optLevel;
    lo.fuseAttention = fuse;
    lo.scanForm = scanForm;
    lo.chunkwise = chunkwise;
    lo.batchedChunkwise = batchedChunkwise;
    lo.splitCarries = splitCarries;
    lo.deriveStep = deriveStep;
    lo.remarks = remarks;
    lo.target = target;
    lo.gpuArch = gpuArch;
    lo.cudaPath = cudaPath;
    lo.tf32 = tf32;
    std::string err;
    LibraryInterface iface;
    if (!buildLibrary(*program, file, outPath, lo, err, &iface)) {
      if (!err.empty())
        std::cerr << "seqc: error: " << err << "\n";
      return 1;
    }
    // `-o dir/libNAME.so` also writes dir/NAME.h.
    if (emit == "lib" &&
        !writeText(libraryHeaderPath(outPath), buildHeader(iface, file)))
      return 1;
    return 0;
  }
  if (emit == "seq" || emit == "linalg" || emit == "llvm" ||
      emit == "ptx" || emit == "header") {
    mlir::MLIRContext ctx;
    if (emit != "seq")
      registerLoweringDialects(ctx);
    registerMLIRGenDialects(ctx);
    auto mod = mlirGen(ctx, *program, file);
    if (!mod)
      return 1;
    std::unique_ptr<RemarkPrinter> printer;
    if (remarks && emit != "seq")
      printer = std::make_unique<RemarkPrinter>(ctx);
    LibraryOptions lo;
    lo.fuseAttention = fuse;
    lo.scanForm = scanForm;
    lo.deriveStep = deriveStep;
    lo.chunkwise = chunkwise;
    lo.batchedChunkwise = batchedChunkwise;
    lo.splitCarries = splitCarries;
    lo.target = target;
    lo.gpuArch = gpuArch;
    lo.cudaPath = cudaPath;
    lo.tf32 = tf32;
    PipelineOptions po = pipelineOptions(lo);
    po.ptxOnly = emit == "ptx";
    if (emit != "seq") {
      // What the library exposes (its step entries) is decided here.
      mlir::PassManager pm(&ctx);
      buildSeqLevelPipeline(pm, po);
      if (mlir::failed(pm.run(*mod)))
        return 1;
    }
    if (emit == "header") {
      LibraryInterface iface;
      std::string err;
      if (!buildLibraryInterface(*program, *mod, libraryName(outPath, file),
                                 iface, err)) {
        std::cerr << "seqc: error: " << file << ": " << err << "\n";
        return 1;
      }
      std::string text = buildHeader(iface, file);
      if (outPath.empty())
        return llvm::outs() << text, 0;
      return writeText(outPath, text) ? 0 : 1;
    }
    if (emit != "seq") {
      mlir::PassManager pm(&ctx);
      if (emit == "linalg")
        buildLowerToLinalgPipeline(pm, po);
      else if (po.target == Target::CUDA)
        buildLowerToCUDAPipeline(pm, po);
      else
        buildLowerToLLVMPipeline(pm, po);
      if (mlir::failed(pm.run(*mod)))
        return 1;
    }
    if (emit == "ptx") {
      // Each gpu.binary holds its module's PTX as the object's assembly.
      std::string text;
      mod->walk([&](mlir::gpu::BinaryOp binary) {
        for (mlir::Attribute a : binary.getObjects())
          if (auto object = llvm::dyn_cast<mlir::gpu::ObjectAttr>(a))
            text += "// gpu.module @" + binary.getSymName().str() + "\n" +
                    object.getObject().getValue().str();
      });
      if (outPath.empty())
        return llvm::outs() << text, 0;
      return writeText(outPath, text) ? 0 : 1;
    }
    if (emit == "llvm") {
      llvm::LLVMContext llvmCtx;
      dropSeqArgumentAttributes(*mod);
      std::unique_ptr<llvm::Module> llvmModule =
          mlir::translateModuleToLLVMIR(*mod, llvmCtx, file);
      if (!llvmModule) {
        std::cerr << "seqc: error: cannot translate '" << file
                  << "' to LLVM IR\n";
        return 1;
      }
      llvmModule->print(llvm::outs(), nullptr);
      return 0;
    }
    mod->print(llvm::outs(), mlir::OpPrintingFlags().enableDebugInfo(
                                 /*enable=*/debugInfo));
    llvm::outs() << "\n";
    return 0;
  }
  std::cerr << "seqc: error: unknown --emit kind '" << emit
            << "' (expected ast, typed, seq, linalg, llvm, ptx, obj, lib or "
               "header)\n";
  return 2;
}
