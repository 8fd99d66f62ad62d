//===- Run.cpp - `seqc run`: inputs in, outputs out -----------------------===//
//
// Input and weight gathering, dim binding, output files and the summary of
// `seqc run`, shared by the interpreter and compiled libraries.
//
//===----------------------------------------------------------------------===//

#include "Run.h"
#include "Npy.h"
#include "Random.h"
#include "Safetensors.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringRef.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ostream>

using namespace seqc;

static llvm::Error fail(const std::string &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

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

/// "a, b, c", or "none".
template <typename Range, typename Fn>
static std::string nameList(const Range &range, Fn name) {
  std::string names;
  for (const auto &x : range)
    names += (names.empty() ? "" : ", ") + name(x);
  return names.empty() ? "none" : names;
}

llvm::Expected<PreparedRun> seqc::prepareRun(const Program &p,
                                             const RunOptions &o) {
  PreparedRun r;

  // The entry.
  std::string want = o.entry.empty() ? "forward" : o.entry;
  for (const Entry &e : p.entries)
    if (e.name == want)
      r.entry = &e;
  if (!r.entry && o.entry.empty() && p.entries.size() == 1)
    r.entry = &p.entries[0];
  if (!r.entry)
    return fail(
        "model '" + p.modelName + "' has no entry '" + want + "' (entries: " +
        nameList(p.entries, [](const Entry &e) { return e.name; }) + ")");
  const Entry &e = *r.entry;

  // Inputs from files.
  r.inputs.resize(e.inputs.size());
  r.random.assign(e.inputs.size(), true);
  for (const auto &input : o.inputs) {
    const std::string &name = input.first, &path = input.second;
    auto it = llvm::find_if(e.inputs,
                            [&](const Node *in) { return in->name == name; });
    if (it == e.inputs.end())
      return fail(
          "entry '" + e.name + "' has no input '" + name + "' (inputs: " +
          nameList(e.inputs, [](const Node *in) { return in->name; }) + ")");
    size_t i = it - e.inputs.begin();
    if (!r.random[i])
      return fail("input '" + name + "' is given twice");
    auto t = readNpy(path);
    if (!t)
      return fail("input " + name + ": " + llvm::toString(t.takeError()));
    if (llvm::Error err = conformToDType(*t, e.inputs[i]->type.dtype,
                                         "input " + name + " in " + path))
      return std::move(err);
    r.inputs[i] = std::move(*t);
    r.random[i] = false;
  }
  for (size_t i = 0; i < e.inputs.size(); ++i)
    if (r.random[i] && !o.random)
      return fail("input '" + e.inputs[i]->name + "' of entry '" + e.name +
                  "' is not given: pass --input " + e.inputs[i]->name +
                  "=FILE.npy or --random");

  // Dims: from --dim and the inputs given; the rest must be known for the
  // random inputs.
  DimMap given;
  for (const auto &[name, value] : o.dims) {
    if (!llvm::is_contained(p.dimNames, name))
      return fail("--dim " + name + ": the model declares no dim '" + name +
                  "'");
    if (value < 0)
      return fail("--dim " + name + " must be non-negative");
    given[name] = value;
  }
  std::vector<const Tensor *> fromFiles;
  for (size_t i = 0; i < r.inputs.size(); ++i)
    fromFiles.push_back(r.random[i] ? nullptr : &r.inputs[i]);
  auto dims = bindDims(e, fromFiles, given);
  if (!dims)
    return dims.takeError();
  r.dims = std::move(*dims);
  for (size_t i = 0; i < e.inputs.size(); ++i) {
    if (!r.random[i])
      continue;
    auto t = randomInput(e, i, r.dims, o.seed);
    if (!t)
      return t.takeError();
    r.inputs[i] = std::move(*t);
  }
  for (const std::string &sym : e.dimSymbols)
    if (!r.dims.count(sym))
      return fail("runtime dim '" + sym + "' is not known: pass --dim " + sym +
                  "=N");

  // Weights.
  if (!o.weights.empty()) {
    auto w = loadWeights(p, o.weights);
    if (!w)
      return w.takeError();
    r.weights = std::move(*w);
  } else if (o.random) {
    auto w = randomWeights(p, o.seed);
    if (!w)
      return w.takeError();
    r.weights = std::move(*w);
  } else if (!p.weights.empty()) {
    return fail("model '" + p.modelName + "' has " +
                std::to_string(p.weights.size()) +
                " weights: pass --weights=W.safetensors or --random");
  }
  return std::move(r);
}

llvm::Error seqc::reportRun(const PreparedRun &r,
                            const std::vector<Tensor> &results,
                            const RunOptions &o, std::ostream &out) {
  const Entry &e = *r.entry;
  if (!o.output.empty())
    for (size_t i = 0; i < results.size(); ++i)
      if (llvm::Error err =
              writeNpy(outputPath(o.output, i, results.size()), results[i]))
        return err;

  out << "entry " << e.name << "\n";
  if (!r.dims.empty()) {
    out << "dims";
    for (const auto &[name, v] : r.dims)
      out << " " << name << "=" << v;
    out << "\n";
  }
  for (size_t i = 0; i < r.inputs.size(); ++i)
    out << "input " << e.inputs[i]->name << ": " << r.inputs[i].typeString()
        << (r.random[i] ? " (random)" : "") << "\n";
  for (size_t i = 0; i < results.size(); ++i) {
    const Tensor &t = results[i];
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
      out << " -> " << outputPath(o.output, i, results.size());
    out << "\n";
  }
  return llvm::Error::success();
}

int seqc::runInterpreter(const Program &p, const RunOptions &o,
                         std::ostream &out, std::ostream &err) {
  auto error = [&](llvm::Error e) {
    err << formatRunError(std::move(e), o.source) << "\n";
    return 1;
  };
  auto r = prepareRun(p, o);
  if (!r)
    return error(r.takeError());
  auto results = evaluate(p, *r->entry, r->inputs, r->weights, r->dims);
  if (!results)
    return error(results.takeError());
  if (llvm::Error e = reportRun(*r, *results, o, out))
    return error(std::move(e));
  return 0;
}
