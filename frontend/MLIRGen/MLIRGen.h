//===- MLIRGen.h - Typed graph to the seq dialect -----------------*- C++ -*-===//
//
// The only bridge between the front end and MLIR: turns each entry of a
// Program into a `func.func` over tensors, using the seq dialect for what
// upstream dialects cannot say (`seq.scan`, `seq.assoc_scan`,
// `seq.softmax`) and linalg/tensor/arith/math for the rest. Runtime dims
// are dynamic (`?`) dimensions. Every op carries the FileLineColLoc of the
// source expression it came from.
//
//===----------------------------------------------------------------------===//

#ifndef SEQC_FRONTEND_MLIRGEN_MLIRGEN_H
#define SEQC_FRONTEND_MLIRGEN_MLIRGEN_H

#include "TypedIR.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"

#include <string>

namespace seqc {

/// Registers the dialects MLIRGen produces in `ctx`.
void registerMLIRGenDialects(mlir::MLIRContext &ctx);

/// Builds the module for `program`; `fileName` names the source in every
/// location. Returns null (after emitting an MLIR diagnostic) on failure.
mlir::OwningOpRef<mlir::ModuleOp> mlirGen(mlir::MLIRContext &ctx,
                                          const Program &program,
                                          const std::string &fileName);

} // namespace seqc

#endif // SEQC_FRONTEND_MLIRGEN_MLIRGEN_H
