//===- Interface.cpp - What a generated library exposes -------------------===//
//
// Builds the LibraryInterface of a program (Codegen.h) and its metadata JSON,
// which the runtime's shim (runtime/lib/Library.c) reads at load time:
//   {"abi":3, "model":"lstm", "target":"cpu", "dims":["B","T"],
//    "weights":[{"name":"w","dtype":"f32","shape":[64,256]}, ...],
//    "entries":[{"name":"forward", "weights":[0,3,...],
//                "inputs":[{"name":"x","dtype":"f32","dims":[-1,-2,64]}],
//                "outputs":[{"name":"out","dtype":"f32","dims":[-1,-2,64]}],
//                "size_checks":[{"size":"T - 1","at":"rwkv.seq:26:37",
//                                "terms":[[-1],[1,1]]}]}]}
// (size_checks only where the entry has sizes that can be negative).
//
//===----------------------------------------------------------------------===//

#include "codegen/Codegen.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinTypes.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <map>

using namespace mlir;

namespace seqc {

std::string libraryName(const std::string &path,
                        const std::string &sourcePath) {
  if (path.empty())
    return llvm::sys::path::stem(sourcePath).str();
  llvm::StringRef stem = llvm::sys::path::stem(path);
  if (llvm::sys::path::extension(path) == ".so" && stem.size() > 3 &&
      stem.starts_with("lib"))
    stem = stem.drop_front(3);
  return stem.str();
}

std::string libraryHeaderPath(const std::string &libPath) {
  llvm::SmallString<128> p(llvm::sys::path::parent_path(libPath));
  llvm::sys::path::append(p, libraryName(libPath, "") + ".h");
  return p.str().str();
}

/// `name` as a C identifier: other characters become `_`; a leading digit
/// gets `lib` in front (`2layer` -> `lib2layer`).
static std::string cIdentifier(const std::string &name) {
  std::string id = name.empty() ? "model" : name;
  for (char &c : id)
    if (!llvm::isAlnum(c) && c != '_')
      c = '_';
  if (llvm::isDigit(id[0]))
    id = "lib" + id;
  return id;
}

/// A dim as the ABI encodes it, or false for a polynomial.
static bool dimCode(const Dim &d, const std::map<std::string, int> &dimIndex,
                    int64_t &out) {
  if (auto c = d.constant()) {
    out = *c;
    return *c >= 0;
  }
  if (auto s = d.asSymbol()) {
    auto it = dimIndex.find(*s);
    if (it == dimIndex.end())
      return false;
    out = -(int64_t)it->second - 1;
    return true;
  }
  return false;
}

/// Whether some dim values (each >= 0) make `d` negative: a term with a
/// negative coefficient.
static bool canBeNegative(const Dim &d) {
  for (const auto &[mono, coeff] : d.getTerms())
    if (coeff < 0)
      return true;
  return false;
}

/// The sizes and slice bounds of `e`'s graph that can be negative, each
/// once, at the node (in creation order) where it first appears.
static std::vector<std::pair<Dim, Loc>> sizeChecks(const Entry &e) {
  std::vector<const Node *> stack(e.results.begin(), e.results.end());
  std::map<unsigned, const Node *> seen; // by id: creation order
  auto push = [&](const Node *n) {
    if (n && !seen.count(n->id))
      stack.push_back(n);
  };
  while (!stack.empty()) {
    const Node *n = stack.back();
    stack.pop_back();
    if (!seen.emplace(n->id, n).second)
      continue;
    for (const Node *o : n->operands)
      push(o);
    if (n->scan)
      for (const auto *list : {&n->scan->inits, &n->scan->newCarries,
                               &n->scan->stepOutputs})
        for (const Node *o : *list)
          push(o);
    if (n->assoc)
      for (const auto *list : {&n->assoc->inputs, &n->assoc->combined})
        for (const Node *o : *list)
          push(o);
  }
  std::map<Dim, Loc> first;
  std::vector<std::pair<Dim, Loc>> checks;
  auto add = [&](const Dim &d, Loc loc) {
    if (canBeNegative(d) && first.emplace(d, loc).second)
      checks.push_back({d, loc});
  };
  for (const auto &[id, n] : seen) {
    for (const Dim &d : n->dims)
      add(d, n->loc);
    if (n->scan)
      add(n->scan->length, n->loc);
    for (const Dim &d : n->type.shape)
      add(d, n->loc);
  }
  return checks;
}

bool buildLibraryInterface(const Program &program, ModuleOp seqModule,
                           const std::string &name, LibraryInterface &lib,
                           std::string &err) {
  lib = LibraryInterface();
  lib.model = program.modelName;
  lib.prefix = cIdentifier(name);
  llvm::StringRef prefix = lib.prefix;
  if (prefix == "seq" || prefix == "seqrt" || prefix.starts_with("seq_") ||
      prefix.starts_with("seqrt_"))
    return err = "the library name '" + name +
                 "' would give C functions that clash with the runtime's "
                 "(seq_*, seqrt_*): rename the library",
           false;
  std::map<std::string, int> dimIndex, weightIndex;
  for (size_t k = 0; k < program.dimNames.size(); ++k) {
    dimIndex[program.dimNames[k]] = (int)k;
    lib.dims.push_back(program.dimNames[k]);
  }
  auto describe = [&](const std::string &what, const std::string &argName,
                      const Type &type, LibraryArg &out) {
    out.name = argName;
    out.dtype = dtypeName(type.dtype);
    for (const Dim &d : type.shape) {
      int64_t code;
      if (!dimCode(d, dimIndex, code) || (what == "weight" && code < 0)) {
        err = what + " '" + argName + "' has dim " + d.str() + ", which is " +
              (what == "weight" ? "not a constant"
                                : "neither a constant nor a dim symbol") +
              ": the library ABI cannot describe it yet";
        return false;
      }
      out.dims.push_back(code);
    }
    return true;
  };
  for (const auto &[wname, type] : program.weights) {
    weightIndex[wname] = (int)lib.weights.size();
    if (!describe("weight", wname, type, lib.weights.emplace_back()))
      return false;
  }
  for (const Entry &e : program.entries) {
    if (e.name == "create" || e.name == "destroy" || e.name == "last_error" ||
        e.name == "state_create" || e.name == "state_destroy")
      return err = "entry '" + e.name + "' would clash with " + lib.prefix +
                   "_" + e.name + " of the library's C API: rename the entry",
             false;
    auto fn = seqModule.lookupSymbol<func::FuncOp>(e.name);
    if (!fn)
      return err = "no function for entry '" + e.name + "'", false;
    LibraryEntry &le = lib.entries.emplace_back();
    le.name = e.name;
    le.sizeChecks = sizeChecks(e); // over the file's dims (Sema's shapes)
    for (unsigned a = 0; a < fn.getNumArguments(); ++a)
      if (auto w = fn.getArgAttrOfType<StringAttr>(a, "seq.weight")) {
        auto it = weightIndex.find(w.str());
        if (it == weightIndex.end())
          return err = "entry '" + e.name + "' takes unknown weight '" +
                       w.str() + "'",
                 false;
        le.weights.push_back(it->second);
      }
    for (const Node *in : e.inputs)
      if (!describe("input", in->name, in->type, le.inputs.emplace_back()))
        return err = "entry '" + e.name + "': " + err, false;
    for (size_t r = 0; r < e.results.size(); ++r)
      if (!describe("output", e.resultNames[r], e.results[r]->type,
                    le.outputs.emplace_back()))
        return err = "entry '" + e.name + "': " + err, false;
  }
  // Step entries, after all the others (seq-derive-step's functions).
  size_t nEntries = lib.entries.size();
  for (size_t k = 0; k < nEntries; ++k) {
    const LibraryEntry base = lib.entries[k];
    auto fn = seqModule.lookupSymbol<func::FuncOp>(base.name + "_step");
    auto of = fn ? fn->getAttrOfType<StringAttr>("seq.step_of") : nullptr;
    if (!of || of.getValue() != base.name)
      continue;
    LibraryEntry le;
    le.name = base.name + "_step";
    le.stepOf = (int)k;
    le.sizeChecks = base.sizeChecks; // over each chunk's dims
    le.inputs = base.inputs;
    le.outputs = base.outputs;
    for (unsigned a = 0; a < fn.getNumArguments(); ++a)
      if (auto w = fn.getArgAttrOfType<StringAttr>(a, "seq.weight"))
        le.weights.push_back(weightIndex.at(w.str()));
    // The time dim: the symbol of the input axis seq.time_axis names.
    auto axis = fn->getAttrOfType<DenseI64ArrayAttr>("seq.time_axis");
    int64_t input = axis ? axis[0] - (int64_t)le.weights.size() : -1;
    if (!axis || input < 0 || input >= (int64_t)le.inputs.size() ||
        axis[1] >= (int64_t)le.inputs[input].dims.size() ||
        le.inputs[input].dims[axis[1]] >= 0)
      return err = "entry '" + le.name + "': its time axis is not a dim "
                   "symbol of an input", false;
    le.timeDim = (int)(-le.inputs[input].dims[axis[1]] - 1);
    for (unsigned a = 0; a < fn.getNumArguments(); ++a)
      if (auto st = fn.getArgAttrOfType<StringAttr>(a, "seq.state")) {
        auto type = llvm::cast<RankedTensorType>(fn.getArgumentTypes()[a]);
        LibraryArg &arg = le.states.emplace_back();
        arg.name = st.str();
        arg.dtype = dtypeName(type.getElementType());
        arg.dims.assign(type.getRank(), -1);
        if (arg.dtype.empty())
          return err = "entry '" + le.name + "': state '" + arg.name +
                       "' has an element type the ABI cannot describe",
                 false;
      }
    lib.entries.push_back(std::move(le));
  }
  // The runtime's shim has 64 entry slots (runtime/lib/Library.c).
  if (lib.entries.size() > 64)
    return err = "the library would have " +
                 std::to_string(lib.entries.size()) +
                 " entries (step entries included); the runtime handles 64: "
                 "split the model, or pass --no-step",
           false;
  return true;
}

std::string dtypeName(mlir::Type t) {
  if (t.isF32())
    return "f32";
  if (t.isF16())
    return "f16";
  if (t.isBF16())
    return "bf16";
  if (t.isF64())
    return "f64";
  if (t.isInteger(1))
    return "bool";
  if (t.isInteger(32))
    return "i32";
  if (t.isInteger(64))
    return "i64";
  return "";
}

static llvm::json::Array jsonArgs(const std::vector<LibraryArg> &args,
                                  const char *dimsKey) {
  llvm::json::Array out;
  for (const LibraryArg &a : args)
    out.push_back(llvm::json::Object{{"name", a.name},
                                     {"dtype", a.dtype},
                                     {dimsKey, llvm::json::Array(a.dims)}});
  return out;
}

/// A size check as the runtime reads it: {"size": "T - 1", "at":
/// "rwkv.seq:26:37", "terms": [[-1], [1, 1]]}, each term its coefficient
/// then the indices of the dims it multiplies.
static llvm::json::Object jsonSizeCheck(const LibraryInterface &lib,
                                        const Dim &d, Loc loc) {
  llvm::json::Array terms;
  for (const auto &[mono, coeff] : d.getTerms()) {
    llvm::json::Array term{coeff};
    for (const std::string &s : mono)
      term.push_back(
          (int64_t)(llvm::find(lib.dims, s) - lib.dims.begin()));
    terms.push_back(std::move(term));
  }
  std::string at = lib.source.empty() ? std::string("") : lib.source + ":";
  at += std::to_string(loc.line) + ":" + std::to_string(loc.col);
  return llvm::json::Object{
      {"size", d.str()}, {"at", at}, {"terms", std::move(terms)}};
}

std::string metadataJSON(const LibraryInterface &lib) {
  llvm::json::Array entries;
  for (const LibraryEntry &e : lib.entries) {
    llvm::json::Object entry{{"name", e.name},
                             {"weights", llvm::json::Array(e.weights)},
                             {"inputs", jsonArgs(e.inputs, "dims")},
                             {"outputs", jsonArgs(e.outputs, "dims")}};
    if (e.stepOf >= 0) {
      entry["step_of"] = e.stepOf;
      entry["time_dim"] = e.timeDim;
      entry["states"] = jsonArgs(e.states, "dims");
    }
    if (!e.sizeChecks.empty()) {
      llvm::json::Array checks;
      for (const auto &[d, loc] : e.sizeChecks)
        checks.push_back(jsonSizeCheck(lib, d, loc));
      entry["size_checks"] = std::move(checks);
    }
    entries.push_back(std::move(entry));
  }
  llvm::json::Object root{{"abi", 3},
                          {"model", lib.model},
                          {"target", lib.target},
                          {"dims", llvm::json::Array(lib.dims)},
                          {"weights", jsonArgs(lib.weights, "shape")},
                          {"entries", std::move(entries)}};
  std::string json;
  llvm::raw_string_ostream os(json);
  os << llvm::json::Value(std::move(root));
  return json;
}

} // namespace seqc
