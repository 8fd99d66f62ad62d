//===- Run.h - `seqc run`: inputs in, outputs out ---------------*- C++ -*-===//
//
// What `seqc run` does around the code that evaluates an entry, whichever
// runs it (the reference interpreter here, a compiled library in
// compiler/run/): pick the entry, gather the inputs (.npy files and/or
// random), load the weights (safetensors or random) and bind the runtime
// dims (prepareRun); then write the results as .npy and print the summary
// (reportRun). The driver parses flags into RunOptions.
//
//===----------------------------------------------------------------------===//

#ifndef SEQC_INTERPRETER_RUN_H
#define SEQC_INTERPRETER_RUN_H

#include "Interpreter.h"
#include "TypedIR.h"

#include "llvm/Support/Error.h"

#include <cstdint>
#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

namespace seqc {

struct RunOptions {
  /// The model's file, as errors at a place in the model name it.
  std::string source;
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

/// The values one run works on: the interpreter and a compiled library are
/// given the very same tensors.
struct PreparedRun {
  const Entry *entry = nullptr;
  /// In argument order, each with its declared dtype.
  std::vector<Tensor> inputs;
  /// `random[i]`: input i was made up (not read from a file).
  std::vector<bool> random;
  /// Every weight of the model, by full name, with its declared dtype.
  TensorMap weights;
  /// Every runtime dim the entry uses.
  DimMap dims;
};

/// Resolves `o` against `p`. Errors are messages without the `seqc: error:`
/// prefix.
llvm::Expected<PreparedRun> prepareRun(const Program &p, const RunOptions &o);

/// Writes `results` (one per entry result) to `--output` and prints the
/// summary: the entry, the dims, each input and each output with its type,
/// min, max, mean and sum.
llvm::Error reportRun(const PreparedRun &r, const std::vector<Tensor> &results,
                      const RunOptions &o, std::ostream &out);

/// `seqc run --interpret`: prepareRun, evaluate, reportRun. Prints each error
/// as `seqc: error: ...` to `err`. Returns the exit status (0 or 1).
int runInterpreter(const Program &p, const RunOptions &o, std::ostream &out,
                   std::ostream &err);

/// The file result `i` of `n` goes to for `--output=base` (`out.npy` ->
/// `out.0.npy`, `out.1.npy` when n > 1).
std::string outputPath(const std::string &base, size_t i, size_t n);

} // namespace seqc

#endif // SEQC_INTERPRETER_RUN_H
