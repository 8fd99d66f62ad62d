//===- CompiledRun.h - `seqc run` on compiled code --------------*- C++ -*-===//
//
// `seqc run FILE.seq` without `--interpret`: builds the model into a shared
// library (BuildLibrary.h) or finds it in the cache (LibraryCache.h),
// dlopens it, and runs the entry through its `seqrt_library()` descriptor
// on the inputs and weights that prepareRun (Run.h) makes, so that the
// interpreter and the library see the same values. `--check` also runs the
// interpreter and compares (Compare.h); `--bench=N` times the entry.
//
// The compiler never links the runtime: this file uses only the types of
// runtime/include/seqrt.h and what the loaded library's descriptor offers.
//
//===----------------------------------------------------------------------===//

#ifndef SEQC_RUN_COMPILEDRUN_H
#define SEQC_RUN_COMPILEDRUN_H

#include "Run.h"

#include "llvm/Support/Error.h"

#include <cstdint>
#include <iosfwd>
#include <string>

namespace seqc {

struct CompiledRunOptions {
  RunOptions run;
  /// `--target`: only "cpu".
  std::string target = "cpu";
  /// `--mcpu`: empty or "native" for the host CPU.
  std::string mcpu;
  /// `-O0`..`-O3` (LibraryOptions::optLevel).
  int optLevel = 2;
  /// Where libseqrt_static.a is (defaultRuntimeDir when empty).
  std::string runtimeDir;
  /// `--no-fuse-attention`: compute the scores as written.
  bool fuseAttention = true;
  /// `--scan-form=`: how diagonal recurrences are compiled
  /// (BuildLibrary.h).
  std::string scanForm = "auto";
  /// `--no-chunkwise`: matrix-state recurrences stay sequential scans.
  bool chunkwise = true;
  /// `--batched-chunkwise`: the chunkwise form for every chunk at once.
  bool batchedChunkwise = false;
  /// `--no-split-carries`: a running max stays a carry of its scan.
  bool splitCarries = true;
  /// `--remarks`: print what the passes did and why not.
  bool remarks = false;
  /// `--check`: also run the interpreter and compare.
  bool check = false;
  /// `--check-tolerance=S`: multiplies every tolerance of `--check` (0:
  /// exact), to test the comparison itself.
  double checkTolerance = 1.0;
  /// `--chunk=N`: run the entry's step form (`<entry>_step`) over the
  /// inputs N tokens at a time, from a fresh state (0: the entry itself).
  int64_t chunk = 0;
  /// `--bench=N`: time N runs after one warm-up (0: no timing).
  int64_t bench = 0;
  /// `--no-cache`: build into a temporary file, leave the cache alone.
  bool noCache = false;
  /// `-v`: say on stderr whether the cache hit, and where the library is.
  bool verbose = false;
};

/// An error unless `target` is one `seqc run` can run on ("cpu").
llvm::Error checkRunTarget(const std::string &target);

/// Runs `o` on `p` (parsed from `source`, the text of file `sourceName`)
/// with compiled code. Prints the summary (as runInterpreter does), the
/// `check:` and `bench:` lines to `out` and each error as `seqc: error: ...`
/// to `err`. Returns the exit status (0 or 1).
int runCompiled(const Program &p, const std::string &sourceName,
                const std::string &source, const char *argv0,
                const CompiledRunOptions &o, std::ostream &out,
                std::ostream &err);

} // namespace seqc

#endif // SEQC_RUN_COMPILEDRUN_H
