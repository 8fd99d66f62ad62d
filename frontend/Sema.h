//===- Sema.h - Names, shapes and types; elaboration of entries --*- C++ -*-===//
//
// Sema checks a parsed Module against LANGUAGE.md and elaborates the model's
// entry functions into the typed graph of TypedIR.h: it resolves names,
// evaluates `const`s and dimension expressions, binds generic dims at each
// call, inlines functions, unrolls `for` loops, names weights after their
// layer instances (`blocks.0.attn.wq`), infers every shape and dtype, and
// reduces builtins (attention, silu, mean, ...) to the core node kinds.
// Every error is reported with the location of the offending expression.
//
//===----------------------------------------------------------------------===//

#ifndef SEQC_FRONTEND_SEMA_H
#define SEQC_FRONTEND_SEMA_H

#include "AST.h"
#include "Diagnostics.h"
#include "TypedIR.h"

#include <memory>

namespace seqc {

/// Checks `m` and builds the Program for its (single) model. Returns null
/// when errors were reported to `diags`.
std::unique_ptr<Program> analyze(const Module &m, DiagEngine &diags);

} // namespace seqc

#endif // SEQC_FRONTEND_SEMA_H
