//===- Diagnostics.h - Source locations and error reporting ------*- C++ -*-===//
//
// Every front-end error goes through a DiagEngine, which prints clang-style
// `file:line:col: error: message`, the source line and a caret under the
// column. Errors are collected, never thrown: the parser recovers and Sema
// goes on, so one run reports as many problems as it can. No MLIR here.
//
//===----------------------------------------------------------------------===//

#ifndef SEQC_FRONTEND_DIAGNOSTICS_H
#define SEQC_FRONTEND_DIAGNOSTICS_H

#include <iosfwd>
#include <string>
#include <vector>

namespace seqc {

/// A position in the model file: 1-based line and column. Line 0 means
/// "no location" (a compiler-made node).
struct Loc {
  int line = 0;
  int col = 0;
  bool valid() const { return line > 0; }
};

/// Collects and prints diagnostics for one source buffer.
class DiagEngine {
public:
  DiagEngine(std::string fileName, std::string source, std::ostream &os);

  /// Reports `file:line:col: error: msg`, the source line and a caret.
  void error(Loc loc, const std::string &msg);
  /// Reports a note attached to the previous error.
  void note(Loc loc, const std::string &msg);
  /// Reports a remark (used for optimisation remarks later).
  void remark(Loc loc, const std::string &msg);

  unsigned numErrors() const { return errors; }
  bool hasErrors() const { return errors != 0; }
  /// Stop reporting after this many errors (the rest are counted).
  void setErrorLimit(unsigned n) { limit = n; }

  const std::string &fileName() const { return file; }
  const std::string &source() const { return src; }
  /// The text of line `line` (1-based), without its newline.
  std::string lineText(int line) const;

private:
  void emit(const char *kind, Loc loc, const std::string &msg);

  std::string file;
  std::string src;
  std::vector<size_t> lineStarts;
  std::ostream &os;
  unsigned errors = 0;
  unsigned limit = 50;
};

} // namespace seqc

#endif // SEQC_FRONTEND_DIAGNOSTICS_H
