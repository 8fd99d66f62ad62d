//===- Seq.h - The seq dialect ----------------------------------*- C++ -*-===//
//
// Declares the seq dialect and its operations (generated from SeqDialect.td
// and SeqOps.td). Include this header to build or match seq ops.
//
//===----------------------------------------------------------------------===//

#ifndef SEQC_DIALECTS_SEQ_SEQ_H
#define SEQC_DIALECTS_SEQ_SEQ_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/ControlFlowInterfaces.h"
#include "mlir/Interfaces/DestinationStyleOpInterface.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "dialects/Seq/SeqOpsDialect.h.inc"

#define GET_OP_CLASSES
#include "dialects/Seq/SeqOps.h.inc"

#endif // SEQC_DIALECTS_SEQ_SEQ_H
