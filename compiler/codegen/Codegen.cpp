//===- Codegen.cpp - Native objects and shared libraries -----------------===//
//
// See Codegen.h. The metadata JSON, read by runtime/lib/Library.c:
//   {"abi":1, "model":"lstm", "dims":["B","T"],
//    "weights":[{"name":"w","dtype":"f32","shape":[64,256]}, ...],
//    "entries":[{"name":"forward", "weights":[0,3,...],
//                "inputs":[{"name":"x","dtype":"f32","dims":[-1,-2,64]}],
//                "outputs":[{"name":"out","dtype":"f32","dims":[-1,-2,64]}]}]}
// Dims are constants (>= 0) or SEQRT_DIM_SYM(k) = -(k + 1) for the file's
// dim k; an entry's "weights" index the model's weights, in the order the
// entry's function takes them.
//
//===----------------------------------------------------------------------===//

#include "codegen/Codegen.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/SubtargetFeature.h"

#include <map>

using namespace mlir;

namespace seqc {

static bool dimCode(const Dim &d, const std::map<std::string, int> &dimIndex,
                    int64_t &out) {
  if (auto c = d.constant()) {
    out = *c;
    return *c >= 0;
  }
  if (auto s = d.asSymbol()) {
    auto it = dimIndex.find(*s);
    if (it == dimIndex.end())
      return false;
    out = -(int64_t)it->second - 1;
    return true;
  }
  return false;
}

bool buildModelMetadata(const Program &program, ModuleOp seqModule,
                        std::string &json, std::vector<std::string> &entries,
                        std::string &err) {
  std::map<std::string, int> dimIndex, weightIndex;
  llvm::json::Array dims, weights, entryArr;
  for (size_t k = 0; k < program.dimNames.size(); ++k) {
    dimIndex[program.dimNames[k]] = (int)k;
    dims.push_back(program.dimNames[k]);
  }
  for (size_t i = 0; i < program.weights.size(); ++i) {
    const auto &[name, type] = program.weights[i];
    weightIndex[name] = (int)i;
    llvm::json::Array shape;
    for (const Dim &d : type.shape) {
      auto c = d.constant();
      if (!c) {
        err = "weight '" + name + "' has a runtime shape " + shapeStr(type.shape);
        return false;
      }
      shape.push_back(*c);
    }
    weights.push_back(llvm::json::Object{
        {"name", name}, {"dtype", dtypeName(type.dtype)}, {"shape", std::move(shape)}});
  }
  auto argDesc = [&](const std::string &what, const std::string &name,
                     const Type &type, llvm::json::Object &out) {
    llvm::json::Array ds;
    for (const Dim &d : type.shape) {
      int64_t code;
      if (!dimCode(d, dimIndex, code)) {
        err = what + " '" + name + "' has dim " + d.str() +
              ", which is neither a constant nor a dim symbol: the library "
              "ABI cannot describe it yet";
        return false;
      }
      ds.push_back(code);
    }
    out = llvm::json::Object{
        {"name", name}, {"dtype", dtypeName(type.dtype)}, {"dims", std::move(ds)}};
    return true;
  };
  for (const Entry &e : program.entries) {
    auto fn = seqModule.lookupSymbol<func::FuncOp>(e.name);
    if (!fn) {
      err = "no function for entry '" + e.name + "'";
      return false;
    }
    llvm::json::Array ws, ins, outs;
    for (unsigned a = 0; a < fn.getNumArguments(); ++a)
      if (auto w = fn.getArgAttrOfType<StringAttr>(a, "seq.weight")) {
        auto it = weightIndex.find(w.str());
        if (it == weightIndex.end()) {
          err = "entry '" + e.name + "' takes unknown weight '" + w.str() + "'";
          return false;
        }
        ws.push_back(it->second);
      }
    for (const Node *in : e.inputs) {
      llvm::json::Object o;
      if (!argDesc("input", in->name, in->type, o))
        return false;
      ins.push_back(std::move(o));
    }
    for (size_t r = 0; r < e.results.size(); ++r) {
      llvm::json::Object o;
      if (!argDesc("output", e.resultNames[r], e.results[r]->type, o)) {
        err = "entry '" + e.name + "': " + err;
        return false;
      }
      outs.push_back(std::move(o));
    }
    entryArr.push_back(llvm::json::Object{{"name", e.name},
                                          {"weights", std::move(ws)},
                                          {"inputs", std::move(ins)},
                                          {"outputs", std::move(outs)}});
    entries.push_back(e.name);
  }
  llvm::json::Object root{{"abi", 1},
                          {"model", program.modelName},
                          {"dims", std::move(dims)},
                          {"weights", std::move(weights)},
                          {"entries", std::move(entryArr)}};
  json.clear();
  llvm::raw_string_ostream os(json);
  os << llvm::json::Value(std::move(root));
  return true;
}

bool addLibraryGlue(ModuleOp module, const std::string &json,
                    const std::vector<std::string> &entries, std::string &err) {
  MLIRContext *ctx = module.getContext();
  OpBuilder b(ctx);
  Location loc = module.getLoc();
  b.setInsertionPointToEnd(module.getBody());
  auto ptrTy = LLVM::LLVMPointerType::get(ctx);
  auto voidTy = LLVM::LLVMVoidType::get(ctx);
  auto i64Ty = b.getI64Type();

  std::vector<std::string> packedNames;
  for (const std::string &name : entries) {
    auto callee =
        module.lookupSymbol<LLVM::LLVMFuncOp>("_mlir_ciface_" + name);
    if (!callee) {
      err = "no C interface function for entry '" + name + "'";
      return false;
    }
    auto calleeTy = callee.getFunctionType();
    for (mlir::Type t : calleeTy.getParams())
      if (!isa<LLVM::LLVMPointerType>(t)) {
        err = "entry '" + name + "': C interface takes a non-pointer argument";
        return false;
      }
    std::string packed = "seq_" + name + "_packed";
    auto fnTy = LLVM::LLVMFunctionType::get(voidTy, {ptrTy});
    auto fn = LLVM::LLVMFuncOp::create(b, loc, packed, fnTy);
    mlir::Block *body = fn.addEntryBlock(b);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(body);
    SmallVector<Value> args;
    for (unsigned i = 0; i < calleeTy.getNumParams(); ++i) {
      Value idx = LLVM::ConstantOp::create(b, loc, i64Ty, b.getI64IntegerAttr(i));
      Value slot = LLVM::GEPOp::create(b, loc, ptrTy, ptrTy, body->getArgument(0),
                                         ValueRange{idx});
      args.push_back(LLVM::LoadOp::create(b, loc, ptrTy, slot));
    }
    LLVM::CallOp::create(b, loc, callee, args);
    LLVM::ReturnOp::create(b, loc, ValueRange{});
    packedNames.push_back(packed);
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
  std::string text = json;
  text.push_back('\0');
  auto strTy = LLVM::LLVMArrayType::get(b.getI8Type(), text.size());
  LLVM::GlobalOp::create(b, loc, strTy, /*isConstant=*/true,
                           LLVM::Linkage::External, "seq_model_metadata",
                           b.getStringAttr(text));
  return true;
}

bool emitObjectFile(ModuleOp module, const std::string &sourceName,
                    const std::string &objPath, const std::string &cpu,
                    std::string &err) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  llvm::LLVMContext llvmCtx;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(module, llvmCtx, sourceName);
  if (!llvmModule) {
    err = "cannot translate '" + sourceName + "' to LLVM IR";
    return false;
  }
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
  std::unique_ptr<llvm::TargetMachine> tm(target->createTargetMachine(
      triple, native ? llvm::sys::getHostCPUName() : llvm::StringRef(cpu),
      features.getString(), options,
      llvm::Reloc::PIC_, std::nullopt, llvm::CodeGenOptLevel::Default));
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

  // -O2 over the module.
  {
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
    llvm::ModulePassManager mpm =
        pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O2);
    mpm.run(*llvmModule, mam);
  }

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
  return true;
}

bool linkSharedLibrary(const std::string &objPath, const std::string &outPath,
                       const std::string &runtimeDir, std::string &err) {
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
  // Only seqrt_library is exported.
  llvm::SmallString<128> script;
  int fd;
  if (auto ec = llvm::sys::fs::createTemporaryFile("seqc-exports", "map", fd,
                                                   script)) {
    err = "cannot create a temporary file: " + ec.message();
    return false;
  }
  {
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
    os << "{\n  global: seqrt_library;\n  local: *;\n};\n";
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
                                   "-lpthread"};
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
