//===- VerifyDiagnostics.h - expected-error checks for .seq files -*- C++ -*-===//
//
// `seqc FILE --verify-diagnostics` compares the diagnostics a run printed
// with the expectations written in the file's comments, in the manner of
// MLIR's `-verify-diagnostics`:
//
//   x = a @ b   # expected-error {{matmul needs a's last dim}}
//   # expected-error@+1 {{unknown name 'q'}}
//   y = q
//
// `expected-error`, `expected-note` and `expected-remark` match when the
// diagnostic of that kind is on the given line (`@+N`/`@-N` relative to the
// comment's line) and contains the text between `{{` and `}}`. Every
// expectation must be met and every diagnostic expected.
//
//===----------------------------------------------------------------------===//

#ifndef SEQC_FRONTEND_VERIFYDIAGNOSTICS_H
#define SEQC_FRONTEND_VERIFYDIAGNOSTICS_H

#include <iosfwd>
#include <string>

namespace seqc {

/// Checks `printed` (what a DiagEngine wrote for `fileName`) against the
/// expectations in `source`. Reports mismatches to `os`; true when all match.
bool verifyDiagnostics(const std::string &fileName, const std::string &source,
                       const std::string &printed, std::ostream &os);

} // namespace seqc

#endif // SEQC_FRONTEND_VERIFYDIAGNOSTICS_H
