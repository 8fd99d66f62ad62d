//===- seqc.cpp - The seqc driver ----------------------------------------===//
//
// The product's command line: parses a .seq file, checks it, and prints a
// stage (`--emit=ast|typed|seq`) or runs it (`seqc run ...`). See DESIGN.md
// for the full command line.
//
//===----------------------------------------------------------------------===//

#include "Driver.h"
#include "Sema.h"
#include "TypedIR.h"
#include "MLIRGen/MLIRGen.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OperationSupport.h"
#include "llvm/Support/raw_ostream.h"

#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

using namespace seqc;

static int usage() {
  std::cerr << "usage: seqc FILE.seq [--emit=ast|typed|seq] [-o OUT]\n"
               "       seqc run FILE.seq [run options] (see --help)\n";
  return 2;
}

static bool readFile(const std::string &path, std::string &out) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

int main(int argc, char **argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string file, emit = "seq", outPath;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string &a = args[i];
    if (a.rfind("--emit=", 0) == 0)
      emit = a.substr(7);
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
  std::string source;
  if (!readFile(file, source)) {
    std::cerr << "seqc: error: cannot read '" << file << "'\n";
    return 1;
  }

  DiagEngine diags(file, source, std::cerr);
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
  if (emit == "seq") {
    mlir::MLIRContext ctx;
    registerMLIRGenDialects(ctx);
    auto mod = mlirGen(ctx, *program, file);
    if (!mod)
      return 1;
    mod->print(llvm::outs(), mlir::OpPrintingFlags().enableDebugInfo(
                                 /*enable=*/false));
    llvm::outs() << "\n";
    return 0;
  }
  std::cerr << "seqc: error: unknown --emit kind '" << emit
            << "' (expected ast, typed or seq)\n";
  return 2;
}
