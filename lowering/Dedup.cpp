//===- Dedup.cpp - One of each set of symbols that are the same -----------===//
//
// `dedupSymbols`: a model's layers lower to the same outlined loop bodies
// (convert-seq-parallel-to-runtime) and the same kernels
// (seq-gpu-merge-kernels), once per layer. Keeping one of each lets
// everything after, LLVM's code generation and ptxas, see it once.
//
//===----------------------------------------------------------------------===//

#include "lowering/Passes.h"

#include "mlir/IR/OperationSupport.h"
#include "mlir/IR/SymbolTable.h"

#include <map>

using namespace mlir;

llvm::DenseMap<StringAttr, StringAttr>
seqc::dedupSymbols(ArrayRef<Operation *> ops) {
  llvm::DenseMap<StringAttr, StringAttr> same;
  if (ops.empty())
    return same;
  // Compared under one name: the symbol is the only attribute that may
  // differ. Buckets by the hash of the op with its body.
  StringAttr probe =
      StringAttr::get(ops.front()->getContext(), "__seq_same_symbol");
  auto underProbe = [&](Operation *op, auto fn) {
    StringAttr name = SymbolTable::getSymbolName(op);
    SymbolTable::setSymbolName(op, probe);
    auto r = fn();
    SymbolTable::setSymbolName(op, name);
    return r;
  };
  std::map<size_t, SmallVector<Operation *>> kept;
  for (Operation *op : ops) {
    size_t hash = underProbe(op, [&] {
      return (size_t)OperationEquivalence::computeHash(
          op, OperationEquivalence::ignoreHashValue,
          OperationEquivalence::ignoreHashValue,
          OperationEquivalence::IgnoreLocations);
    });
    SmallVector<Operation *> &bucket = kept[hash];
    Operation *match = nullptr;
    for (Operation *k : bucket)
      if (underProbe(op, [&] {
            return underProbe(k, [&] {
              return OperationEquivalence::isEquivalentTo(
                  op, k, OperationEquivalence::IgnoreLocations);
            });
          })) {
        match = k;
        break;
      }
    if (!match) {
      bucket.push_back(op);
      continue;
    }
    same[SymbolTable::getSymbolName(op)] = SymbolTable::getSymbolName(match);
    op->erase();
  }
  return same;
}
