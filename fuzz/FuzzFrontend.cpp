//===- FuzzFrontend.cpp - libFuzzer entry for the seqc front end ----------===//
//
// Feeds arbitrary bytes to the scanner and parser, and a module that parses
// cleanly to Sema. Any crash, sanitizer report, hang or leak is a bug: the
// front end must answer every input with diagnostics, never by dying.
//
//===----------------------------------------------------------------------===//

#include "Driver.h"
#include "Sema.h"

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <streambuf>
#include <string>

namespace {
/// Swallows the diagnostics: printing them would only slow the fuzzer.
class NullBuffer : public std::streambuf {
protected:
  int overflow(int c) override { return c; }
  std::streamsize xsputn(const char *, std::streamsize n) override { return n; }
};
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static NullBuffer buffer;
  static std::ostream devNull(&buffer);
  seqc::DiagEngine diags("fuzz.seq",
                         std::string(reinterpret_cast<const char *>(data),
                                     size),
                         devNull);
  std::unique_ptr<seqc::Module> module = seqc::parseModule(diags);
  if (module && !diags.hasErrors())
    (void)seqc::analyze(*module, diags);
  return 0;
}
