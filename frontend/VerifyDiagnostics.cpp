//===- VerifyDiagnostics.cpp - expected-error checks for .seq files ------===//
//
// Parses `expected-*` comments out of the source and the `file:line:col:
// kind: message` lines out of the printed diagnostics, then matches them.
//
//===----------------------------------------------------------------------===//

#include "VerifyDiagnostics.h"

#include <cctype>
#include <cstdlib>
#include <ostream>
#include <sstream>
#include <vector>

using namespace seqc;

namespace {
struct Expectation {
  std::string kind; // error, note, remark
  int line;
  std::string text;
  bool met = false;
};
struct Printed {
  std::string kind;
  int line;
  std::string message;
  bool expected = false;
};
} // namespace

static std::vector<Expectation> parseExpectations(const std::string &source,
                                                  std::ostream &os,
                                                  bool &ok) {
  std::vector<Expectation> out;
  std::istringstream in(source);
  std::string text;
  int lineNo = 0;
  while (std::getline(in, text)) {
    ++lineNo;
    size_t pos = 0;
    while ((pos = text.find("expected-", pos)) != std::string::npos) {
      size_t kindStart = pos + 9;
      size_t kindEnd = kindStart;
      while (kindEnd < text.size() && isalpha((unsigned char)text[kindEnd]))
        ++kindEnd;
      std::string kind = text.substr(kindStart, kindEnd - kindStart);
      pos = kindEnd;
      if (kind != "error" && kind != "note" && kind != "remark")
        continue;
      int target = lineNo;
      if (pos < text.size() && text[pos] == '@') {
        size_t numStart = pos + 1;
        size_t numEnd = numStart + 1;
        while (numEnd < text.size() && isdigit((unsigned char)text[numEnd]))
          ++numEnd;
        std::string offset = text.substr(numStart, numEnd - numStart);
        if (offset.size() < 2 || (offset[0] != '+' && offset[0] != '-')) {
          os << lineNo << ": malformed expected-" << kind
             << " offset: use @+N or @-N\n";
          ok = false;
          continue;
        }
        target = lineNo + std::stoi(offset);
        pos = numEnd;
      }
      size_t open = text.find("{{", pos);
      size_t close = open == std::string::npos ? open : text.find("}}", open);
      if (close == std::string::npos) {
        os << lineNo << ": expected-" << kind << " needs {{text}}\n";
        ok = false;
        continue;
      }
      out.push_back({kind, target, text.substr(open + 2, close - open - 2)});
      pos = close + 2;
    }
  }
  return out;
}

static std::vector<Printed> parsePrinted(const std::string &fileName,
                                         const std::string &printed) {
  std::vector<Printed> out;
  std::istringstream in(printed);
  std::string text;
  std::string prefix = fileName + ":";
  while (std::getline(in, text)) {
    if (text.compare(0, prefix.size(), prefix) != 0)
      continue;
    // file:LINE:COL: KIND: message
    size_t p = prefix.size();
    size_t c1 = text.find(':', p);
    if (c1 == std::string::npos)
      continue;
    size_t c2 = text.find(':', c1 + 1);
    if (c2 == std::string::npos)
      continue;
    size_t c3 = text.find(':', c2 + 1);
    if (c3 == std::string::npos)
      continue;
    Printed d;
    d.line = atoi(text.substr(p, c1 - p).c_str());
    d.kind = text.substr(c2 + 2, c3 - c2 - 2);
    d.message = c3 + 2 <= text.size() ? text.substr(c3 + 2) : "";
    out.push_back(d);
  }
  return out;
}

bool seqc::verifyDiagnostics(const std::string &fileName,
                             const std::string &source,
                             const std::string &printed, std::ostream &os) {
  bool ok = true;
  std::vector<Expectation> expected = parseExpectations(source, os, ok);
  std::vector<Printed> got = parsePrinted(fileName, printed);
  for (Expectation &e : expected)
    for (Printed &p : got)
      if (!p.expected && p.kind == e.kind && p.line == e.line &&
          p.message.find(e.text) != std::string::npos) {
        p.expected = e.met = true;
        break;
      }
  for (const Expectation &e : expected)
    if (!e.met) {
      os << fileName << ":" << e.line << ": expected " << e.kind
         << " not produced: {{" << e.text << "}}\n";
      ok = false;
    }
  for (const Printed &p : got)
    if (!p.expected) {
      os << fileName << ":" << p.line << ": unexpected " << p.kind << ": "
         << p.message << "\n";
      ok = false;
    }
  return ok;
}
