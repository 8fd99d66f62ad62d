//===- Codegen.cpp - Native objects and shared libraries -----------------===//
//
// The glue that the runtime's shim and C callers call, the object file and
// the link; see Codegen.h. Interface.cpp describes the library, Header.cpp
// writes its C header.
//
//===----------------------------------------------------------------------===//

#include "codegen/Codegen.h"

#include "lowering/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/SubtargetFeature.h"

#include <chrono>

using namespace mlir;

namespace seqc {

/// Declares `name` in the module unless it is there already.
static LLVM::LLVMFuncOp declare(OpBuilder &b, ModuleOp module, StringRef name,
                                LLVM::LLVMFunctionType type) {
  if (auto fn = module.lookupSymbol<LLVM::LLVMFuncOp>(name))
    return fn;
  return LLVM::LLVMFuncOp::create(b, module.getLoc(), name, type);
}

/// Defines `name` of type `type` as a call to `callee` on the arguments
/// `makeArgs` builds from the function's own, returning what it returns.
static void defineForwarder(
    OpBuilder &b, ModuleOp module, StringRef name, LLVM::LLVMFunctionType type,
    LLVM::LLVMFuncOp callee,
    llvm::function_ref<SmallVector<Value>(mlir::Block *)> makeArgs) {
  Location loc = module.getLoc();
  auto fn = LLVM::LLVMFuncOp::create(b, loc, name, type);
  mlir::Block *body = fn.addEntryBlock(b);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(body);
  auto call = LLVM::CallOp::create(b, loc, callee, makeArgs(body));
  LLVM::ReturnOp::create(b, loc, call.getResults());
}

/// The named C functions of docs/codegen.md, "The C API": thin forwarders
/// to the shim's hidden seqrt_shim_* functions (runtime/lib/Library.c),
/// which go the way seqrt_library()'s descriptor goes.
static void addNamedFunctions(OpBuilder &b, ModuleOp module,
                              const LibraryInterface &lib) {
  MLIRContext *ctx = module.getContext();
  Location loc = module.getLoc();
  auto ptrTy = LLVM::LLVMPointerType::get(ctx);
  auto voidTy = LLVM::LLVMVoidType::get(ctx);
  auto i32Ty = b.getI32Type(), i64Ty = b.getI64Type();
  auto fnTy = [&](mlir::Type result, ArrayRef<mlir::Type> params) {
    return LLVM::LLVMFunctionType::get(result, params);
  };
  auto passThrough = [](mlir::Block *body) {
    return SmallVector<Value>(body->getArguments());
  };
  const std::string &P = lib.prefix;

  // DLDevice {int32, int32} travels by value as one i64 in the C calling
  // conventions of x86-64 (SysV) and AArch64, so create forwards an i64.
  auto createTy = fnTy(i32Ty, {ptrTy, i64Ty, ptrTy});
  defineForwarder(b, module, P + "_create", createTy,
                  declare(b, module, "seqrt_shim_create", createTy),
                  passThrough);
  auto destroyTy = fnTy(voidTy, {ptrTy});
  defineForwarder(b, module, P + "_destroy", destroyTy,
                  declare(b, module, "seqrt_shim_destroy", destroyTy),
                  passThrough);
  auto errorTy = fnTy(ptrTy, {});
  defineForwarder(b, module, P + "_last_error", errorTy,
                  declare(b, module, "seqrt_last_error", errorTy), passThrough);

  bool hasSteps = llvm::any_of(
      lib.entries, [](const LibraryEntry &e) { return e.stepOf >= 0; });
  if (hasSteps) {
    auto stateCreateTy = fnTy(i32Ty, {ptrTy, ptrTy});
    defineForwarder(
        b, module, P + "_state_create", stateCreateTy,
        declare(b, module, "seqrt_shim_state_create", stateCreateTy),
        passThrough);
    defineForwarder(b, module, P + "_state_destroy", destroyTy,
                    declare(b, module, "seqrt_shim_state_destroy", destroyTy),
                    passThrough);
  }

  // P_<entry>(m, in..., out...): seqrt_shim_call(k, m, {in...}, {out...});
  // P_<entry>_step(m, state, in..., out...):
  //   seqrt_shim_step(k, m, state, {in...}, {out...}).
  auto call = declare(b, module, "seqrt_shim_call",
                      fnTy(i32Ty, {i32Ty, ptrTy, ptrTy, ptrTy}));
  auto step = declare(b, module, "seqrt_shim_step",
                      fnTy(i32Ty, {i32Ty, ptrTy, ptrTy, ptrTy, ptrTy}));
  for (size_t k = 0; k < lib.entries.size(); ++k) {
    const LibraryEntry &e = lib.entries[k];
    size_t nIn = e.inputs.size(), nOut = e.outputs.size();
    size_t lead = e.stepOf >= 0 ? 2 : 1; // m (and the state)
    SmallVector<mlir::Type> params(lead + nIn + nOut, ptrTy);
    defineForwarder(
        b, module, P + "_" + e.name, fnTy(i32Ty, params),
        e.stepOf >= 0 ? step : call, [&](mlir::Block *body) {
          // A stack array of the arguments [first, first + n), or null.
          auto array = [&](size_t first, size_t n) -> Value {
            if (n == 0)
              return LLVM::ZeroOp::create(b, loc, ptrTy);
            Value size = LLVM::ConstantOp::create(b, loc, i64Ty, (int64_t)n);
            Value a = LLVM::AllocaOp::create(b, loc, ptrTy, ptrTy, size);
            for (size_t i = 0; i < n; ++i) {
              Value slot = LLVM::GEPOp::create(
                  b, loc, ptrTy, ptrTy, a, ArrayRef<LLVM::GEPArg>{(int32_t)i});
              LLVM::StoreOp::create(b, loc, body->getArgument(first + i), slot);
            }
            return a;
          };
          Value index = LLVM::ConstantOp::create(b, loc, i32Ty, (int64_t)k);
          SmallVector<Value> args = {index};
          for (size_t i = 0; i < lead; ++i)
            args.push_back(body->getArgument(i));
          args.push_back(array(lead, nIn));
          args.push_back(array(lead + nIn, nOut));
          return args;
        });
  }
}

bool addLibraryGlue(ModuleOp module, const LibraryInterface &lib,
                    std::string &err) {
  MLIRContext *ctx = module.getContext();
  OpBuilder b(ctx);
  Location loc = module.getLoc();
  b.setInsertionPointToEnd(module.getBody());
  auto ptrTy = LLVM::LLVMPointerType::get(ctx);
  auto voidTy = LLVM::LLVMVoidType::get(ctx);

  // seq_<entry>_packed(args): _mlir_ciface_<entry>(args[0], args[1], ...).
  std::vector<std::string> packedNames;
  for (const LibraryEntry &e : lib.entries) {
    auto callee =
        module.lookupSymbol<LLVM::LLVMFuncOp>("_mlir_ciface_" + e.name);
    if (!callee) {
      err = "no C interface function for entry '" + e.name + "'";
      return false;
    }
    auto calleeTy = callee.getFunctionType();
    for (mlir::Type t : calleeTy.getParams())
      if (!isa<LLVM::LLVMPointerType>(t)) {
        err =
            "entry '" + e.name + "': C interface takes a non-pointer argument";
        return false;
      }
    packedNames.push_back("seq_" + e.name + "_packed");
    defineForwarder(
        b, module, packedNames.back(),
        LLVM::LLVMFunctionType::get(voidTy, {ptrTy}), callee,
        [&](mlir::Block *body) {
          SmallVector<Value> args;
          for (unsigned i = 0; i < calleeTy.getNumParams(); ++i) {
            Value slot =
                LLVM::GEPOp::create(b, loc, ptrTy, ptrTy, body->getArgument(0),
                                    ArrayRef<LLVM::GEPArg>{(int32_t)i});
            args.push_back(LLVM::LoadOp::create(b, loc, ptrTy, slot));
          }
          return args;
        });
  }

  // seq_entry_table: the packed functions, in metadata entry order.
  auto tableTy = LLVM::LLVMArrayType::get(ptrTy, packedNames.size());
  auto table = LLVM::GlobalOp::create(b, loc, tableTy, /*isConstant=*/true,
                                      LLVM::Linkage::External,
                                      "seq_entry_table", Attribute());
  {
    OpBuilder::InsertionGuard guard(b);
    mlir::Block *init = b.createBlock(&table.getInitializerRegion());
    b.setInsertionPointToStart(init);
    Value arr = LLVM::UndefOp::create(b, loc, tableTy);
    for (size_t i = 0; i < packedNames.size(); ++i) {
      Value addr = LLVM::AddressOfOp::create(b, loc, ptrTy, packedNames[i]);
      arr = LLVM::InsertValueOp::create(b, loc, arr, addr,
                                        ArrayRef<int64_t>{(int64_t)i});
    }
    LLVM::ReturnOp::create(b, loc, arr);
  }

  // seq_model_metadata: the JSON, NUL-terminated.
  std::string text = metadataJSON(lib);
  text.push_back('\0');
  auto strTy = LLVM::LLVMArrayType::get(b.getI8Type(), text.size());
  LLVM::GlobalOp::create(b, loc, strTy, /*isConstant=*/true,
                         LLVM::Linkage::External, "seq_model_metadata",
                         b.getStringAttr(text));

  addNamedFunctions(b, module, lib);
  return true;
}

void registerLoweringTranslations(DialectRegistry &registry) {
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  registerGPUDialectTranslation(registry);
  gpu::registerOffloadingLLVMTranslationInterfaceExternalModels(registry);
  registerNVVMDialectTranslation(registry);
}

void registerLoweringDialects(MLIRContext &ctx) {
  DialectRegistry registry;
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registerLoweringTranslations(registry);
  seqc::registerLoweringInterfaces(registry);
  ctx.appendDialectRegistry(registry);
}

void StageTimer::done(const char *stage) {
  if (!on)
    return;
  auto now = std::chrono::steady_clock::now();
  llvm::errs() << llvm::format(
      "seqc: %-10s %7.3f s\n", stage,
      std::chrono::duration<double>(now - last).count());
  last = now;
}

void dropSeqArgumentAttributes(ModuleOp module) {
  auto strip = [](DictionaryAttr attrs) -> DictionaryAttr {
    if (!attrs)
      return attrs;
    SmallVector<NamedAttribute> kept;
    for (NamedAttribute a : attrs)
      if (!a.getName().getValue().starts_with("seq."))
        kept.push_back(a);
    return kept.size() == attrs.size()
               ? attrs
               : DictionaryAttr::get(attrs.getContext(), kept);
  };
  module.walk([&](LLVM::LLVMFuncOp fn) {
    for (unsigned i = 0, e = fn.getNumArguments(); i < e; ++i)
      fn.setArgAttrs(i, strip(fn.getArgAttrDict(i)));
    for (unsigned i = 0, e = fn.getNumResults(); i < e; ++i)
      fn.setResultAttrs(i, strip(fn.getResultAttrDict(i)));
  });
}

bool emitObjectFile(ModuleOp module, const std::string &sourceName,
                    const std::string &objPath, const ObjectOptions &o,
                    std::string &err) {
  StageTimer timer(o.timeStages);
  if (o.optLevel < 0 || o.optLevel > 3) {
    err = "unknown optimisation level -O" + std::to_string(o.optLevel);
    return false;
  }
  const std::string &cpu = o.cpu;
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  llvm::LLVMContext llvmCtx;
  dropSeqArgumentAttributes(module);
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(module, llvmCtx, sourceName);
  if (!llvmModule) {
    err = "cannot translate '" + sourceName + "' to LLVM IR";
    return false;
  }
  timer.done("translate");
  llvm::Triple triple(llvm::sys::getDefaultTargetTriple());
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, err);
  if (!target)
    return false;
  bool native = cpu.empty() || cpu == "native";
  llvm::SubtargetFeatures features;
  if (native)
    for (const auto &[name, enabled] : llvm::sys::getHostCPUFeatures())
      features.AddFeature(name, enabled);
  llvm::TargetOptions options;
  options.EnableFastISel = o.launchCode;
  static const llvm::CodeGenOptLevel cgLevels[] = {
      llvm::CodeGenOptLevel::None, llvm::CodeGenOptLevel::Less,
      llvm::CodeGenOptLevel::Default, llvm::CodeGenOptLevel::Aggressive};
  std::unique_ptr<llvm::TargetMachine> tm(target->createTargetMachine(
      triple, native ? llvm::sys::getHostCPUName() : llvm::StringRef(cpu),
      features.getString(), options, llvm::Reloc::PIC_, std::nullopt,
      o.launchCode ? llvm::CodeGenOptLevel::None : cgLevels[o.optLevel]));
  if (!tm) {
    err = "cannot create a target machine for " + triple.str();
    return false;
  }
  if (!native && !tm->getMCSubtargetInfo()->isCPUStringValid(cpu)) {
    err = "unknown --mcpu '" + cpu + "' for " + triple.str();
    return false;
  }
  llvmModule->setDataLayout(tm->createDataLayout());
  llvmModule->setTargetTriple(triple);

  // The LLVM pipeline of the level (docs/codegen.md, "Optimisation
  // levels"). The MLIR lowering has already tiled, vectorised and unrolled
  // the loops, so -O1 and -O2 only clean up what it leaves (the memref
  // descriptors' address arithmetic, loop-invariant loads) with a short
  // function pipeline: LLVM's default O2 pipeline costs 4-6x the time
  // (its loop, SLP and GVN passes over fully unrolled bodies) for a few
  // per cent of run time. -O3 runs LLVM's default O3 pipeline; -O0 none.
  if (o.optLevel > 0) {
    llvm::LoopAnalysisManager lam;
    llvm::FunctionAnalysisManager fam;
    llvm::CGSCCAnalysisManager cgam;
    llvm::ModuleAnalysisManager mam;
    llvm::PassBuilder pb(tm.get());
    pb.registerModuleAnalyses(mam);
    pb.registerCGSCCAnalyses(cgam);
    pb.registerFunctionAnalyses(fam);
    pb.registerLoopAnalyses(lam);
    pb.crossRegisterProxies(lam, fam, cgam, mam);
    llvm::ModulePassManager mpm;
    if (o.optLevel == 3) {
      mpm = pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
    } else {
      const char *lean =
          "function(sroa,early-cse<memssa>,instcombine<no-verify-fixpoint>,"
          "simplifycfg,loop-mssa(licm),gvn,instcombine<no-verify-fixpoint>,"
          "simplifycfg)";
      if (auto e = pb.parsePassPipeline(mpm, lean)) {
        err = "the LLVM pass pipeline: " + llvm::toString(std::move(e));
        return false;
      }
    }
    mpm.run(*llvmModule, mam);
  }
  timer.done("optimize");

  std::error_code ec;
  llvm::raw_fd_ostream os(objPath, ec, llvm::sys::fs::OF_None);
  if (ec) {
    err = "cannot write '" + objPath + "': " + ec.message();
    return false;
  }
  llvm::legacy::PassManager pm;
  if (tm->addPassesToEmitFile(pm, os, nullptr,
                              llvm::CodeGenFileType::ObjectFile)) {
    err = "the target cannot emit object files";
    return false;
  }
  pm.run(*llvmModule);
  os.flush();
  timer.done("codegen");
  return true;
}

bool linkSharedLibrary(const std::string &objPath, const std::string &outPath,
                       const std::string &runtimeDir,
                       const LibraryInterface &lib, std::string &err) {
  std::string archive = runtimeDir + "/libseqrt_static.a";
  if (!llvm::sys::fs::exists(archive)) {
    err = "cannot find the runtime '" + archive +
          "' (build seqrt_static, or pass --runtime-dir=DIR)";
    return false;
  }
  auto cc = llvm::sys::findProgramByName("cc");
  if (!cc) {
    err = "cannot find 'cc' on PATH to link '" + outPath + "'";
    return false;
  }
  // Only seqrt_library and the named C functions are exported.
  llvm::SmallString<128> script;
  int fd;
  if (auto ec = llvm::sys::fs::createTemporaryFile("seqc-exports", "map", fd,
                                                   script)) {
    err = "cannot create a temporary file: " + ec.message();
    return false;
  }
  {
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
    const std::string &P = lib.prefix;
    os << "{\n  global:\n    seqrt_library;\n    " << P << "_create;\n    " << P
       << "_destroy;\n    " << P << "_last_error;\n";
    for (const LibraryEntry &e : lib.entries)
      os << "    " << P << "_" << e.name << ";\n";
    if (llvm::any_of(lib.entries,
                     [](const LibraryEntry &e) { return e.stepOf >= 0; }))
      os << "    " << P << "_state_create;\n    " << P << "_state_destroy;\n";
    os << "  local: *;\n};\n";
  }
  std::vector<std::string> argv = {*cc,
                                   "-shared",
                                   "-o",
                                   outPath,
                                   objPath,
                                   "-Wl,--undefined=seqrt_library",
                                   archive,
                                   "-Wl,-Bsymbolic",
                                   "-Wl,--version-script=" + script.str().str(),
                                   "-Wl,--no-undefined",
                                   "-lm",
                                   "-lpthread",
                                   "-ldl"};
  std::vector<llvm::StringRef> refs(argv.begin(), argv.end());
  std::string msg;
  int rc = llvm::sys::ExecuteAndWait(*cc, refs, std::nullopt, {}, 0, 0, &msg);
  llvm::sys::fs::remove(script);
  if (rc != 0) {
    err = "linking '" + outPath + "' failed" + (msg.empty() ? "" : ": " + msg);
    return false;
  }
  return true;
}

} // namespace seqc
