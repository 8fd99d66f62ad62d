//===- Random.cpp - Deterministic random inputs and weights ---------------===//
//
// Generators for `--random`. The integer-input bound walks the entry's
// graph: each Gather's index operand is followed back through ops that move
// values without changing them (reshapes, slices, casts, ...) to the inputs
// it reads.
//
//===----------------------------------------------------------------------===//

#include "Random.h"

#include <cmath>
#include <set>

using namespace seqc;

static uint64_t streamSeed(uint64_t seed, const std::string &name) {
  uint64_t h = 0xcbf29ce484222325ULL; // FNV-1a
  for (unsigned char c : name)
    h = (h ^ c) * 0x100000001b3ULL;
  return SplitMix64(seed ^ h).next();
}

/// Visits every node reachable from the entry's results, scan and
/// assoc_scan bodies included.
template <typename F> static void walkEntry(const Entry &e, F f) {
  std::set<const Node *> seen;
  std::vector<const Node *> work(e.results.begin(), e.results.end());
  while (!work.empty()) {
    const Node *n = work.back();
    work.pop_back();
    if (!n || !seen.insert(n).second)
      continue;
    f(n);
    work.insert(work.end(), n->operands.begin(), n->operands.end());
    if (n->scan) {
      const ScanInfo &s = *n->scan;
      work.insert(work.end(), s.inits.begin(), s.inits.end());
      work.insert(work.end(), s.newCarries.begin(), s.newCarries.end());
      work.insert(work.end(), s.stepOutputs.begin(), s.stepOutputs.end());
    }
    if (n->assoc) {
      work.insert(work.end(), n->assoc->inputs.begin(), n->assoc->inputs.end());
      work.insert(work.end(), n->assoc->combined.begin(),
                  n->assoc->combined.end());
    }
  }
}

/// Whether the values of `n` are values of `input` (moved, not computed).
static bool carriesValuesOf(const Node *n, const Node *input, int depth = 0) {
  if (n == input)
    return true;
  if (depth > 64)
    return false;
  switch (n->kind) {
  case NodeKind::Reshape:
  case NodeKind::ExpandDims:
  case NodeKind::Permute:
  case NodeKind::Slice:
  case NodeKind::DynIndex:
  case NodeKind::Cast:
  case NodeKind::Gather: // indices gathered from a table of indices
    return carriesValuesOf(n->operands[0], input, depth + 1);
  case NodeKind::Concat:
    for (const Node *o : n->operands)
      if (carriesValuesOf(o, input, depth + 1))
        return true;
    return false;
  case NodeKind::Where:
    return carriesValuesOf(n->operands[1], input, depth + 1) ||
           carriesValuesOf(n->operands[2], input, depth + 1);
  default:
    return false;
  }
}

int64_t seqc::randomIndexBound(const Entry &e, const Node *input,
                               const DimMap &dims) {
  int64_t bound = -1;
  walkEntry(e, [&](const Node *n) {
    if (n->kind != NodeKind::Gather || n->operands.size() < 2 ||
        n->operands[0]->type.shape.empty())
      return;
    if (!carriesValuesOf(n->operands[1], input))
      return;
    const Dim &rows = n->operands[0]->type.shape[0];
    for (const std::string &s : rows.symbols())
      if (!dims.count(s))
        return;
    int64_t r = rows.evaluate(dims);
    if (r > 0 && (bound < 0 || r < bound))
      bound = r;
  });
  return bound < 0 ? 16 : bound;
}

llvm::Expected<Tensor> seqc::randomInput(const Entry &e, unsigned i,
                                         const DimMap &dims, uint64_t seed) {
  const Node *in = e.inputs[i];
  auto shape = concreteShape(in->type.shape, dims);
  if (!shape)
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "cannot make a random input " + in->name + " of type " +
            in->type.str() + ": " + llvm::toString(shape.takeError()) +
            " (pass --dim or an input that carries it)");
  double count = 1;
  for (int64_t d : *shape)
    count *= (double)d;
  if (count > 4294967296.0)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "random input " + in->name + " of shape " +
                                       shapeString(*shape) +
                                       " is too large for the interpreter");
  DType dt = in->type.dtype;
  Tensor t(dt, *shape);
  SplitMix64 rng(streamSeed(seed, "input:" + in->name));
  int64_t bound = isInt(dt) ? randomIndexBound(e, in, dims) : 0;
  for (double &v : t.data) {
    if (isFloat(dt))
      v = roundToDType(2 * rng.uniform() - 1, dt);
    else if (isInt(dt))
      v = (double)(int64_t)(rng.uniform() * (double)bound);
    else
      v = (double)(rng.next() >> 63);
  }
  return std::move(t);
}

llvm::Expected<TensorMap> seqc::randomWeights(const Program &p, uint64_t seed) {
  TensorMap out;
  for (const auto &[name, type] : p.weights) {
    Extents shape = weightShape(type);
    Tensor t(type.dtype, shape);
    SplitMix64 rng(streamSeed(seed, "weight:" + name));
    double scale = shape.size() >= 2 && shape[0] > 0
                       ? 1.0 / std::sqrt((double)shape[0])
                       : 1.0;
    for (double &v : t.data) {
      if (isFloat(type.dtype))
        v = roundToDType((2 * rng.uniform() - 1) * scale, type.dtype);
      else if (isInt(type.dtype))
        v = (double)(int64_t)(rng.uniform() * 16);
      else
        v = (double)(rng.next() >> 63);
    }
    out.emplace(name, std::move(t));
  }
  return std::move(out);
}
