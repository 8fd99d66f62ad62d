//===- Driver.h - Parse a .seq file into an AST ------------------*- C++ -*-===//
//
// The entry to the front end's syntax: runs the Flex scanner and the Bison
// parser over one source buffer. They share a ParseState (Parser.yy) that
// holds the Module being built and what error messages and recovery need;
// syntax errors go to the DiagEngine, and parsing goes on after them.
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
