//===- Run.cpp - `seqc run --interpret`: inputs in, outputs out -----------===//
//
// Input and weight gathering, dim binding, evaluation, output files and the
// summary of `seqc run --interpret`.
//
//===----------------------------------------------------------------------===//

#include "Run.h"
#include "Interpreter.h"
#include "Npy.h"
#include "Random.h"
#include "Safetensors.h"

#include "llvm/ADT/StringRef.h"

#include <cmath>
#include <cstdio>
#include <ostream>

using namespace seqc;

std::string seqc::outputPath(const std::string &base, size_t i, size_t n) {
  if (n <= 1)
    return base;
  llvm::StringRef b = base;
  std::string stem = b.ends_with(".npy") ? b.drop_back(4).str() : base;
  return stem + "." + std::to_string(i) + ".npy";
}

static std::string formatDouble(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return buf;
}

int seqc::runInterpreter(const Program &p, const RunOptions &o,
                         std::ostream &out, std::ostream &err) {
  auto error = [&](const std::string &msg) {
    err << "seqc: error: " << msg << "\n";
    return 1;
  };

  // The entry.
  const Entry *entry = nullptr;
  std::string want = o.entry.empty() ? "forward" : o.entry;
  for (const Entry &e : p.entries)
    if (e.name == want)
      entry = &e;
  if (!entry && o.entry.empty() && p.entries.size() == 1)
    entry = &p.entries[0];
  if (!entry) {
    std::string names;
    for (const Entry &e : p.entries)
      names += (names.empty() ? "" : ", ") + e.name;
    return error("model '" + p.modelName + "' has no entry '" + want +
                 "' (entries: " + (names.empty() ? "none" : names) + ")");
  }
  const Entry &e = *entry;

  // Inputs from files.
  std::vector<Tensor> inputs(e.inputs.size());
  std::vector<bool> given(e.inputs.size(), false);
  for (const auto &[name, path] : o.inputs) {
    size_t i = 0;
    while (i < e.inputs.size() && e.inputs[i]->name != name)
      ++i;
    if (i == e.inputs.size()) {
      std::string names;
      for (const Node *in : e.inputs)
        names += (names.empty() ? "" : ", ") + in->name;
      return error("entry '" + e.name + "' has no input '" + name +
                   "' (inputs: " + (names.empty() ? "none" : names) + ")");
    }
    if (given[i])
      return error("input '" + name + "' is given twice");
    auto t = readNpy(path);
    if (!t)
      return error("input " + name + ": " + llvm::toString(t.takeError()));
    if (llvm::Error err2 = conformToDType(*t, e.inputs[i]->type.dtype,
                                          "input " + name + " in " + path))
      return error(llvm::toString(std::move(err2)));
    inputs[i] = std::move(*t);
    given[i] = true;
  }
  for (size_t i = 0; i < e.inputs.size(); ++i)
    if (!given[i] && !o.random)
      return error("input '" + e.inputs[i]->name + "' of entry '" + e.name +
                   "' is not given: pass --input " + e.inputs[i]->name +
                   "=FILE.npy or --random");

  // Dims: from --dim and the inputs given; the rest must be known for the
  // random inputs.
  DimMap dimValues;
  for (const auto &[name, value] : o.dims) {
    if (!llvm::is_contained(p.dimNames, name))
      return error("--dim " + name + ": the model declares no dim '" + name +
                   "'");
    if (value < 0)
      return error("--dim " + name + " must be non-negative");
    dimValues[name] = value;
  }
  std::vector<const Tensor *> ptrs;
  for (size_t i = 0; i < inputs.size(); ++i)
    ptrs.push_back(given[i] ? &inputs[i] : nullptr);
  auto dims = bindDims(e, ptrs, dimValues);
  if (!dims)
    return error(llvm::toString(dims.takeError()));
  for (size_t i = 0; i < e.inputs.size(); ++i) {
    if (given[i])
      continue;
    auto t = randomInput(e, i, *dims, o.seed);
    if (!t)
      return error(llvm::toString(t.takeError()));
    inputs[i] = std::move(*t);
  }
  for (const std::string &sym : e.dimSymbols)
    if (!dims->count(sym))
      return error("runtime dim '" + sym + "' is not known: pass --dim " + sym +
                   "=N");

  // Weights.
  TensorMap weights;
  if (!o.weights.empty()) {
    auto w = loadWeights(p, o.weights);
    if (!w)
      return error(llvm::toString(w.takeError()));
    weights = std::move(*w);
  } else if (o.random) {
    auto w = randomWeights(p, o.seed);
    if (!w)
      return error(llvm::toString(w.takeError()));
    weights = std::move(*w);
  } else if (!p.weights.empty()) {
    return error("model '" + p.modelName + "' has " +
                 std::to_string(p.weights.size()) +
                 " weights: pass --weights=W.safetensors or --random");
  }

  auto results = evaluate(p, e, inputs, weights, *dims);
  if (!results)
    return error(llvm::toString(results.takeError()));

  // Outputs.
  if (!o.output.empty())
    for (size_t i = 0; i < results->size(); ++i) {
      std::string path = outputPath(o.output, i, results->size());
      if (llvm::Error err2 = writeNpy(path, (*results)[i]))
        return error(llvm::toString(std::move(err2)));
    }

  out << "entry " << e.name << "\n";
  if (!dims->empty()) {
    out << "dims";
    for (const auto &[name, v] : *dims)
      out << " " << name << "=" << v;
    out << "\n";
  }
  for (size_t i = 0; i < inputs.size(); ++i)
    out << "input " << e.inputs[i]->name << ": " << inputs[i].typeString()
        << (given[i] ? "" : " (random)") << "\n";
  for (size_t i = 0; i < results->size(); ++i) {
    const Tensor &t = (*results)[i];
    std::string name =
        i < e.resultNames.size() ? e.resultNames[i] : "out" + std::to_string(i);
    double lo = INFINITY, hi = -INFINITY, sum = 0;
    for (double v : t.data) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
      sum += v;
    }
    out << "output " << name << ": " << t.typeString();
    if (t.numel())
      out << " min=" << formatDouble(lo, 6) << " max=" << formatDouble(hi, 6)
          << " mean=" << formatDouble(sum / (double)t.numel(), 6)
          << " sum=" << formatDouble(sum, 12);
    if (!o.output.empty())
      out << " -> " << outputPath(o.output, i, results->size());
    out << "\n";
  }
  return 0;
}
