//===- Driver.h - Parse a .seq file into an AST ------------------*- C++ -*-===//
//
// Owns the Flex scanner and the Bison parser for one source buffer, in the
// manner of Bison's calc++ example: the parser calls back into the Driver to
// report errors, and the Driver hands out the finished Module.
//
//===----------------------------------------------------------------------===//

#ifndef SEQC_FRONTEND_DRIVER_H
#define SEQC_FRONTEND_DRIVER_H

#include "AST.h"
#include "Diagnostics.h"

#include <memory>
#include <string>

namespace seqc {

/// Parses `diags.source()`. Returns the module (possibly partial) and
/// reports syntax errors to `diags`; the caller checks diags.hasErrors().
std::unique_ptr<Module> parseModule(DiagEngine &diags);

} // namespace seqc

#endif // SEQC_FRONTEND_DRIVER_H
