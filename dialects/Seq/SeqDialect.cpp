//===- SeqDialect.cpp - The seq dialect -----------------------------------===//
//
// Registers the seq dialect's operations.
//
//===----------------------------------------------------------------------===//

#include "dialects/Seq/Seq.h"

using namespace mlir;
using namespace seqc::seq;

#include "dialects/Seq/SeqOpsDialect.cpp.inc"

void SeqDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialects/Seq/SeqOps.cpp.inc"
      >();
}
