//===- seq-opt.cpp - The seq optimizer driver -----------------------------===//
//
// MlirOptMain over the seq dialect, the upstream dialects seqc uses and
// every upstream pass (and the translations of kernels to PTX): the tool
// lit tests drive.
//
//===----------------------------------------------------------------------===//

#include "codegen/Codegen.h"
#include "dialects/Seq/Seq.h"
#include "lowering/Passes.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  seqc::registerSeqPasses();
  seqc::registerSeqPipelines();
  mlir::DialectRegistry registry;
  registry.insert<seqc::seq::SeqDialect>();
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  // Kernels to PTX (seq-gpu-module-to-binary), as in seqc.
  seqc::registerLoweringTranslations(registry);
  seqc::registerLoweringInterfaces(registry);
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "seq optimizer driver\n", registry));
}
