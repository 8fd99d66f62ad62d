//===- Run.h - `seqc run --interpret`: inputs in, outputs out ----*- C++
//-*-===//
//
// What `seqc run` does around the interpreter once the model is checked:
// pick the entry, gather inputs (.npy files and/or random), load weights
// (safetensors or random), bind runtime dims, evaluate, write the results as
// .npy and print a summary. The driver parses flags into RunOptions.
//
//===----------------------------------------------------------------------===//

#ifndef SEQC_INTERPRETER_RUN_H
#define SEQC_INTERPRETER_RUN_H

#include "TypedIR.h"

#include <cstdint>
#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

namespace seqc {

struct RunOptions {
  /// Entry to run; empty: `forward`, or the model's only entry.
  std::string entry;
  /// Safetensors file; empty: random weights (with `random`) or an error
  /// when the model has weights.
  std::string weights;
  /// `--input NAME=FILE.npy`, in the order given.
  std::vector<std::pair<std::string, std::string>> inputs;
  /// `--random`: inputs not given by `--input` (and weights, without
  /// `--weights`) are random.
  bool random = false;
  uint64_t seed = 0;
  /// `--dim NAME=VALUE`.
  std::vector<std::pair<std::string, int64_t>> dims;
  /// `--output=OUT.npy`; several results go to OUT.0.npy, OUT.1.npy, ...
  std::string output;
};

/// Runs `o` on `p` with the reference interpreter. Prints the summary to
/// `out` and each error as `seqc: error: ...` to `err`. Returns the exit
/// status (0 or 1).
int runInterpreter(const Program &p, const RunOptions &o, std::ostream &out,
                   std::ostream &err);

/// The file result `i` of `n` goes to for `--output=base` (`out.npy` ->
/// `out.0.npy`, `out.1.npy` when n > 1).
std::string outputPath(const std::string &base, size_t i, size_t n);

} // namespace seqc

#endif // SEQC_INTERPRETER_RUN_H
