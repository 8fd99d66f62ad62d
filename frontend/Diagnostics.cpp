//===- Diagnostics.cpp - Clang-style error reporting ----------------------===//
//
// Prints `file:line:col: kind: message`, the source line, and a caret under
// the column. The caret line copies the tabs of the source line, so the
// caret lines up whatever the terminal's tab width. After the error limit,
// errors are only counted.
//
//===----------------------------------------------------------------------===//

#include "Diagnostics.h"

#include <ostream>

using namespace seqc;

DiagEngine::DiagEngine(std::string fileName, std::string source,
                       std::ostream &os)
    : file(std::move(fileName)), src(std::move(source)), os(os) {
  lineStarts.push_back(0);
  for (size_t i = 0; i < src.size(); ++i)
    if (src[i] == '\n')
      lineStarts.push_back(i + 1);
}

std::string DiagEngine::lineText(int line) const {
  if (line < 1 || static_cast<size_t>(line) > lineStarts.size())
    return "";
  size_t begin = lineStarts[line - 1];
  size_t end = src.find('\n', begin);
  if (end == std::string::npos)
    end = src.size();
  if (end > begin && src[end - 1] == '\r')
    --end;
  return src.substr(begin, end - begin);
}

void DiagEngine::emit(const char *kind, Loc loc, const std::string &msg) {
  if (!loc.valid()) {
    os << file << ": " << kind << ": " << msg << "\n";
    return;
  }
  os << file << ":" << loc.line << ":" << loc.col << ": " << kind << ": "
     << msg << "\n";
  std::string text = lineText(loc.line);
  // Control bytes (a NUL in a corrupt file) would garble the terminal; each
  // prints as one space, so the caret still lines up.
  for (char &c : text)
    if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f)
      c = ' ';
  std::string caret;
  for (int i = 0; i + 1 < loc.col; ++i)
    caret += static_cast<size_t>(i) < text.size() && text[i] == '\t' ? '\t'
                                                                      : ' ';
  caret += '^';
  os << text << "\n" << caret << "\n";
}

void DiagEngine::error(Loc loc, const std::string &msg) {
  ++errors;
  if (limit != 0 && errors > limit) {
    if (errors == limit + 1)
      os << file << ": error: too many errors emitted, stopping now\n";
    return;
  }
  emit("error", loc, msg);
}

void DiagEngine::note(Loc loc, const std::string &msg) {
  // Past the limit every error is suppressed, and so are their notes.
  if (limit != 0 && errors > limit)
    return;
  emit("note", loc, msg);
}

void DiagEngine::remark(Loc loc, const std::string &msg) {
  emit("remark", loc, msg);
}
