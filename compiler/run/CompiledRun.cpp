//===- CompiledRun.cpp - `seqc run` on compiled code ----------------------===//
//
// Getting the library (cache or build), loading it, converting tensors to
// and from DLTensors, calling the entry, `--check` and `--bench`.
//
//===----------------------------------------------------------------------===//

#include "CompiledRun.h"
#include "BuildLibrary.h"
#include "Compare.h"
#include "LibraryCache.h"
#include "Safetensors.h"

#include "seqrt.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FileUtilities.h"
#include "llvm/Support/Path.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <dlfcn.h>
#include <memory>
#include <ostream>

using namespace seqc;

static llvm::Error fail(const std::string &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

static std::string format(const char *fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

llvm::Error seqc::checkRunTarget(const std::string &target) {
  if (target == "cpu")
    return llvm::Error::success();
  if (target == "cuda")
    return fail("seqc run runs on the cpu only: build a cuda library with "
                "`seqc FILE.seq --target=cuda -o libNAME.so` and run it with "
                "seqrt-run where the GPU is");
  return fail("seqc run cannot run on target '" + target + "' (expected cpu)");
}

//===----------------------------------------------------------------------===//
// Tensors across the library boundary
//===----------------------------------------------------------------------===//

static DLDataType dlType(DType d) {
  switch (d) {
  case DType::F32:
    return seqrt_dtype(kDLFloat, 32);
  case DType::F16:
    return seqrt_dtype(kDLFloat, 16);
  case DType::BF16:
    return seqrt_dtype(kDLBfloat, 16);
  case DType::I32:
    return seqrt_dtype(kDLInt, 32);
  case DType::I64:
    return seqrt_dtype(kDLInt, 64);
  case DType::Bool:
    return seqrt_dtype(SEQRT_DL_BOOL, 8);
  }
  return seqrt_dtype(kDLFloat, 32);
}

/// "f32", ... for the dtypes seqc has (seqrt_dtype_name is the runtime's,
/// which the compiler does not link).
static std::string dlTypeName(DLDataType t) {
  for (DType d : {DType::F32, DType::F16, DType::BF16, DType::I32, DType::I64,
                  DType::Bool})
    if (seqrt_dtype_equal(t, dlType(d)))
      return dtypeName(d);
  return "dtype(code " + std::to_string(t.code) + ", " +
         std::to_string(t.bits) + " bits)";
}

namespace {
/// A compact CPU DLTensor that owns its shape and elements.
struct OwnedTensor {
  DType dtype;
  Extents shape;
  /// 8-byte words, so every element type is aligned.
  std::vector<uint64_t> storage;
  DLTensor dl;

  OwnedTensor(DType dtype, Extents extents) : dtype(dtype), shape(extents) {
    size_t bytes = numElements(shape) * seqrt_dtype_bytes(dlType(dtype));
    storage.assign(bytes / 8 + 1, 0);
    std::memset(&dl, 0, sizeof dl);
    dl.data = storage.data();
    dl.device = {kDLCPU, 0};
    dl.ndim = (int)shape.size();
    dl.dtype = dlType(dtype);
    dl.shape = shape.data();
  }
  OwnedTensor(const OwnedTensor &) = delete;
  OwnedTensor &operator=(const OwnedTensor &) = delete;

  /// Stores the elements of `t`, which has this dtype and shape.
  void store(const Tensor &t) {
    char *p = static_cast<char *>(dl.data);
    Encoding enc = nativeEncoding(dtype);
    for (double v : t.data) {
      encodeElement(v, enc, p);
      p += encodingSize(enc);
    }
  }

  /// The elements as the interpreter's Tensor.
  Tensor load() const {
    Tensor t(dtype, shape);
    const char *p = static_cast<const char *>(dl.data);
    Encoding enc = nativeEncoding(dtype);
    for (double &v : t.data) {
      v = decodeElement(p, enc);
      p += encodingSize(enc);
    }
    return t;
  }
};

/// A dlopened generated library.
class LoadedLibrary {
public:
  static llvm::Expected<std::unique_ptr<LoadedLibrary>>
  open(const std::string &path) {
    void *handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle)
      return fail("cannot load " + path + ": " + dlerror());
    std::unique_ptr<LoadedLibrary> lib(new LoadedLibrary(handle));
    auto get =
        reinterpret_cast<seqrt_library_fn>(dlsym(handle, SEQRT_LIBRARY_SYMBOL));
    if (!get)
      return fail(path + " is not a seqc library: it exports no '" +
                  SEQRT_LIBRARY_SYMBOL + "'");
    lib->desc = get();
    if (!lib->desc)
      return fail(path + ": " SEQRT_LIBRARY_SYMBOL "() returned null");
    if (lib->desc->abi_version != SEQRT_ABI_VERSION)
      return fail(path + " was built for runtime ABI " +
                  std::to_string(lib->desc->abi_version) + ", expected " +
                  std::to_string(SEQRT_ABI_VERSION));
    return std::move(lib);
  }
  ~LoadedLibrary() { dlclose(handle); }

  /// The message of the library's last failed call.
  std::string lastError() const {
    const char *m = desc->last_error ? desc->last_error() : nullptr;
    return m && *m ? m : "unknown error";
  }

  const seqrt_library_desc *desc = nullptr;

private:
  explicit LoadedLibrary(void *handle) : handle(handle) {}
  void *handle;
};
} // namespace

//===----------------------------------------------------------------------===//
// The library: from the cache or built
//===----------------------------------------------------------------------===//

namespace {
/// The library file to load; removed afterwards when it is not cached.
struct LibraryFile {
  std::string path;
  std::unique_ptr<llvm::FileRemover> remover;
};
} // namespace

static llvm::Expected<LibraryFile>
getLibrary(const Program &p, const std::string &sourceName,
           const std::string &source, const char *argv0,
           const CompiledRunOptions &o, std::ostream &err) {
  LibraryOptions lo;
  lo.mcpu = o.mcpu;
  lo.optLevel = o.optLevel;
  lo.fuseAttention = o.fuseAttention;
  lo.scanForm = o.scanForm;
  lo.chunkwise = o.chunkwise;
  lo.batchedChunkwise = o.batchedChunkwise;
  lo.splitCarries = o.splitCarries;
  lo.remarks = o.remarks;
  // The named C functions as `seqc FILE.seq -o libFILE.so` names them; the
  // library's file name is the cache's.
  lo.name = libraryName("", sourceName);
  lo.runtimeDir =
      o.runtimeDir.empty() ? defaultRuntimeDir(argv0) : o.runtimeDir;
  auto build = [&](const std::string &path) -> llvm::Error {
    std::string msg;
    auto start = std::chrono::steady_clock::now();
    if (!buildLibrary(p, sourceName, path, lo, msg))
      return fail(msg.empty() ? "cannot compile " + sourceName +
                                    " (pass --interpret to run the "
                                    "reference interpreter)"
                              : msg);
    if (o.verbose)
      err << "seqc: compiled " << sourceName << " in "
          << format("%.2f", std::chrono::duration<double>(
                                std::chrono::steady_clock::now() - start)
                                .count())
          << " s\n";
    return llvm::Error::success();
  };

  LibraryFile lib;
  std::string dir = o.noCache ? "" : cacheDirectory();
  if (dir.empty()) {
    llvm::SmallString<128> tmp;
    if (auto ec = llvm::sys::fs::createTemporaryFile("seqc-run", "so", tmp))
      return fail("cannot create a temporary file: " + ec.message());
    lib.path = tmp.str().str();
    lib.remover = std::make_unique<llvm::FileRemover>(lib.path);
    if (o.verbose)
      err << "seqc: cache: off\n";
    if (llvm::Error e = build(lib.path))
      return std::move(e);
    return std::move(lib);
  }

  // The level goes into the key with the target.
  std::string key =
      libraryKey(source,
                 o.target + " -O" + std::to_string(o.optLevel) +
                     (o.fuseAttention ? "" : " --no-fuse-attention") +
                     (o.scanForm == "auto" ? "" : " --scan-form=" + o.scanForm) +
                     (o.chunkwise ? "" : " --no-chunkwise") +
                     (o.batchedChunkwise ? " --batched-chunkwise" : "") +
                     (o.splitCarries ? "" : " --no-split-carries"),
                 o.mcpu, compilerIdentity(argv0, lo.runtimeDir));
  llvm::SmallString<256> path(dir);
  llvm::sys::path::append(path, p.modelName + "-" + key.substr(0, 32) + ".so");
  lib.path = path.str().str();
  if (llvm::sys::fs::exists(lib.path)) {
    if (o.verbose)
      err << "seqc: cache: hit " << lib.path << "\n";
    return std::move(lib);
  }
  if (o.verbose)
    err << "seqc: cache: miss " << lib.path << "\n";
  if (auto ec = llvm::sys::fs::create_directories(dir))
    return fail("cannot create the cache directory '" + dir +
                "': " + ec.message() +
                " (set SEQC_CACHE_DIR or pass "
                "--no-cache)");
  // Build next to the final name and rename, so that a run in parallel
  // never loads a half-written library.
  llvm::SmallString<256> tmp;
  int fd;
  if (auto ec =
          llvm::sys::fs::createUniqueFile(lib.path + ".%%%%%%%%.tmp", fd, tmp))
    return fail("cannot write to the cache directory '" + dir +
                "': " + ec.message());
  llvm::sys::fs::closeFile(fd);
  llvm::FileRemover removeTmp(tmp);
  if (llvm::Error e = build(tmp.str().str()))
    return std::move(e);
  if (auto ec = llvm::sys::fs::rename(tmp, lib.path))
    return fail("cannot write '" + lib.path + "': " + ec.message());
  return std::move(lib);
}

//===----------------------------------------------------------------------===//
// Running
//===----------------------------------------------------------------------===//

namespace {
/// What one compiled run produced, and what later calls (--bench) need.
struct CompiledEntry {
  std::unique_ptr<LoadedLibrary> lib;
  const seqrt_entry_desc *entry = nullptr;
  seqrt_model *model = nullptr;
  std::vector<std::unique_ptr<OwnedTensor>> inputs, outputs;
  std::vector<const DLTensor *> inPtrs;
  std::vector<DLTensor *> outPtrs;

  /// `--chunk=N`: the step entry, run N tokens at a time from a fresh
  /// state in place of the entry.
  const seqrt_entry_desc *step = nullptr;
  int64_t chunk = 0;

  ~CompiledEntry() {
    if (model)
      lib->desc->destroy(model);
  }
  llvm::Error call() {
    if (step)
      return callSteps();
    if (entry->fn(model, inPtrs.data(), outPtrs.data()) != SEQRT_OK)
      return fail("entry '" + std::string(entry->name) +
                  "': " + lib->lastError());
    return llvm::Error::success();
  }

private:
  llvm::Error callSteps();
};

/// The axis of `desc` along the dim symbol `dim`, or -1.
static int axisOf(const seqrt_arg_desc &desc, int dim) {
  for (int a = 0; a < desc.rank; ++a)
    if (desc.dims[a] == SEQRT_DIM_SYM(dim))
      return a;
  return -1;
}

/// Copies rows [t0, t0 + n) along `axis` of the compact `whole` to or from
/// the compact `part`.
static void copyRows(const DLTensor &whole, const DLTensor &part, int axis,
                     int64_t t0, int64_t n, bool toPart) {
  size_t elem = seqrt_dtype_bytes(whole.dtype);
  int64_t outer = 1, inner = 1;
  for (int a = 0; a < axis; ++a)
    outer *= whole.shape[a];
  for (int a = axis + 1; a < whole.ndim; ++a)
    inner *= whole.shape[a];
  int64_t T = whole.shape[axis];
  auto *w = static_cast<char *>(whole.data);
  auto *c = static_cast<char *>(part.data);
  for (int64_t o = 0; o < outer; ++o) {
    char *wp = w + (size_t)((o * T + t0) * inner) * elem;
    char *cp = c + (size_t)(o * n * inner) * elem;
    size_t bytes = (size_t)(n * inner) * elem;
    if (toPart)
      std::memcpy(cp, wp, bytes);
    else
      std::memcpy(wp, cp, bytes);
  }
}

llvm::Error CompiledEntry::callSteps() {
  const seqrt_library_desc &d = *lib->desc;
  int64_t T = -1;
  for (int i = 0; i < step->n_inputs && T < 0; ++i)
    if (int a = axisOf(step->inputs[i], step->time_dim); a >= 0)
      T = inPtrs[i]->shape[a];
  if (T < 0)
    return fail("entry '" + std::string(step->name) + "': no input has " +
                d.dim_names[step->time_dim]);
  seqrt_state *state = nullptr;
  if (d.state_create(model, &state) != SEQRT_OK)
    return fail("cannot create a state: " + lib->lastError());
  llvm::Error result = llvm::Error::success();
  for (int64_t t0 = 0; t0 < T && !result; t0 += chunk) {
    int64_t n = std::min(chunk, T - t0);
    // Chunks of the time-indexed arguments; the others as they are.
    std::vector<std::unique_ptr<OwnedTensor>> parts;
    std::vector<const DLTensor *> ins;
    std::vector<DLTensor *> outs;
    auto part = [&](const DLTensor &whole, const seqrt_arg_desc &desc,
                    bool input) -> DLTensor * {
      int a = axisOf(desc, step->time_dim);
      if (a < 0)
        return const_cast<DLTensor *>(&whole);
      Extents shape(whole.shape, whole.shape + whole.ndim);
      shape[a] = n;
      DType dtype = DType::F32;
      for (DType t : {DType::F32, DType::F16, DType::BF16, DType::I32,
                      DType::I64, DType::Bool})
        if (seqrt_dtype_equal(dlType(t), whole.dtype))
          dtype = t;
      parts.push_back(std::make_unique<OwnedTensor>(dtype, shape));
      if (input)
        copyRows(whole, parts.back()->dl, a, t0, n, true);
      return &parts.back()->dl;
    };
    for (int i = 0; i < step->n_inputs; ++i)
      ins.push_back(part(*inPtrs[i], step->inputs[i], true));
    for (int i = 0; i < step->n_outputs; ++i)
      outs.push_back(part(*outPtrs[i], step->outputs[i], false));
    if (step->step(model, state, ins.data(), outs.data()) != SEQRT_OK) {
      result = fail("entry '" + std::string(step->name) +
                    "': " + lib->lastError());
      break;
    }
    for (int i = 0; i < step->n_outputs; ++i)
      if (int a = axisOf(step->outputs[i], step->time_dim); a >= 0)
        copyRows(*outPtrs[i], *outs[i], a, t0, n, false);
  }
  d.state_destroy(state);
  return result;
}
} // namespace

/// Loads `path`, creates the model on `r`'s weights and binds the entry's
/// inputs and outputs.
static llvm::Error setUp(const Program &p, const PreparedRun &r,
                         const std::string &path, CompiledEntry &c) {
  auto lib = LoadedLibrary::open(path);
  if (!lib)
    return lib.takeError();
  c.lib = std::move(*lib);
  const seqrt_library_desc &d = *c.lib->desc;
  const Entry &e = *r.entry;
  for (int i = 0; i < d.n_entries; ++i)
    if (e.name == d.entries[i].name)
      c.entry = &d.entries[i];
  if (!c.entry)
    return fail("the library of model '" + p.modelName + "' has no entry '" +
                e.name + "'");
  if ((size_t)c.entry->n_inputs != e.inputs.size() ||
      (size_t)c.entry->n_outputs != e.results.size())
    return fail("the library's entry '" + e.name + "' takes " +
                std::to_string(c.entry->n_inputs) + " inputs and " +
                std::to_string(c.entry->n_outputs) + " outputs, the model " +
                std::to_string(e.inputs.size()) + " and " +
                std::to_string(e.results.size()));

  // The weights go to the library as a file: the same values the
  // interpreter gets, in the declared dtypes.
  llvm::SmallString<128> weightsPath;
  std::unique_ptr<llvm::FileRemover> removeWeights;
  if (!p.weights.empty()) {
    if (auto ec = llvm::sys::fs::createTemporaryFile(
            "seqc-weights", "safetensors", weightsPath))
      return fail("cannot create a temporary file: " + ec.message());
    removeWeights = std::make_unique<llvm::FileRemover>(weightsPath);
    std::vector<std::pair<std::string, Tensor>> ordered;
    for (const auto &[name, type] : p.weights)
      ordered.push_back({name, r.weights.at(name)});
    if (llvm::Error e = writeSafetensors(weightsPath.str().str(), ordered))
      return e;
  }
  if (d.create(p.weights.empty() ? nullptr : weightsPath.c_str(),
               DLDevice{kDLCPU, 0}, &c.model) != SEQRT_OK)
    return fail("cannot create model '" + p.modelName +
                "': " + c.lib->lastError());

  for (size_t i = 0; i < r.inputs.size(); ++i) {
    const Tensor &t = r.inputs[i];
    if (!seqrt_dtype_equal(dlType(t.dtype), c.entry->inputs[i].dtype))
      return fail("input '" + e.inputs[i]->name + "' is " + dtypeName(t.dtype) +
                  " but the library expects " +
                  dlTypeName(c.entry->inputs[i].dtype));
    c.inputs.push_back(std::make_unique<OwnedTensor>(t.dtype, t.shape));
    c.inputs.back()->store(t);
    c.inPtrs.push_back(&c.inputs.back()->dl);
  }
  for (size_t i = 0; i < e.results.size(); ++i) {
    const seqrt_arg_desc &out = c.entry->outputs[i];
    Extents shape;
    for (int k = 0; k < out.rank; ++k) {
      int64_t dim = out.dims[k];
      if (SEQRT_DIM_IS_SYM(dim)) {
        const char *sym = d.dim_names[SEQRT_DIM_SYM_INDEX(dim)];
        auto it = r.dims.find(sym);
        if (it == r.dims.end())
          return fail("output '" + e.resultNames[i] + "': dim " + sym +
                      " is not known: pass --dim " + sym + "=N");
        dim = it->second;
      }
      shape.push_back(dim);
    }
    DType dtype = e.results[i]->type.dtype;
    if (!seqrt_dtype_equal(dlType(dtype), out.dtype))
      return fail("output '" + e.resultNames[i] + "' is " + dtypeName(dtype) +
                  " but the library gives " + dlTypeName(out.dtype));
    c.outputs.push_back(std::make_unique<OwnedTensor>(dtype, shape));
    c.outPtrs.push_back(&c.outputs.back()->dl);
  }
  return llvm::Error::success();
}

/// `--check`: compares each compiled result with the interpreter's. Prints
/// a `check:` line per output; false after printing the worst element of
/// the first output that differs beyond its tolerance.
static bool check(const PreparedRun &r, const std::vector<Tensor> &compiled,
                  const std::vector<Tensor> &reference, double tolScale,
                  std::ostream &out, std::ostream &err) {
  bool allOk = true;
  for (size_t i = 0; i < compiled.size(); ++i) {
    const Tensor &got = compiled[i], &want = reference[i];
    const std::string &name = r.entry->resultNames[i];
    if (got.shape != want.shape) {
      err << "seqc: error: check: output '" << name << "' is "
          << got.typeString() << ", the interpreter's " << want.typeString()
          << "\n";
      allOk = false;
      continue;
    }
    Tolerance tol = toleranceFor(want.dtype);
    Comparison c = compareTensors(got, want, tol, tolScale);
    out << "check: " << name << " max_abs_err=" << format("%.3g", c.maxAbsErr)
        << " max_rel_err=" << format("%.3g", c.maxRelErr)
        << (c.ok ? " (ok)" : " (FAILED)") << "\n";
    if (c.ok)
      continue;
    allOk = false;
    err << "seqc: error: check: output '" << name << "' ("
        << dtypeName(want.dtype)
        << ", rtol=" << format("%g", tol.rtol * tolScale)
        << " atol=" << format("%g", tol.atol * tolScale)
        << "*max|ref|) differs from the interpreter at "
        << indexString(want.shape, c.worst)
        << ": compiled=" << format("%.9g", got.data[c.worst])
        << " interpreter=" << format("%.9g", want.data[c.worst])
        << " abs_err=" << format("%.3g", c.worstAbsErr)
        << " rel_err=" << format("%.3g", c.worstRelErr)
        << " allowed=" << format("%.3g", c.worstBound) << "\n";
  }
  return allOk;
}

/// `--bench=N`: one warm-up call, then N timed ones.
static llvm::Error bench(CompiledEntry &c, int64_t runs, std::ostream &out) {
  if (llvm::Error e = c.call())
    return e;
  std::vector<double> ms;
  for (int64_t k = 0; k < runs; ++k) {
    auto start = std::chrono::steady_clock::now();
    if (llvm::Error e = c.call())
      return e;
    ms.push_back(std::chrono::duration<double, std::milli>(
                     std::chrono::steady_clock::now() - start)
                     .count());
  }
  std::sort(ms.begin(), ms.end());
  size_t n = ms.size();
  double median = n % 2 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]);
  out << "bench: '" << c.entry->name << "' median " << format("%.4g", median)
      << " ms over " << n << " runs (min " << format("%.4g", ms.front())
      << " ms, max " << format("%.4g", ms.back()) << " ms)\n";
  return llvm::Error::success();
}

int seqc::runCompiled(const Program &p, const std::string &sourceName,
                      const std::string &source, const char *argv0,
                      const CompiledRunOptions &o, std::ostream &out,
                      std::ostream &err) {
  auto error = [&](llvm::Error e) {
    err << formatRunError(std::move(e), o.run.source) << "\n";
    return 1;
  };
  if (llvm::Error e = checkRunTarget(o.target))
    return error(std::move(e));
  // Options and inputs first: a bad flag should not wait for a compile.
  auto r = prepareRun(p, o.run);
  if (!r)
    return error(r.takeError());
  auto lib = getLibrary(p, sourceName, source, argv0, o, err);
  if (!lib)
    return error(lib.takeError());

  CompiledEntry c;
  if (llvm::Error e = setUp(p, *r, lib->path, c))
    return error(std::move(e));
  if (o.chunk > 0) {
    std::string name = r->entry->name + "_step";
    const seqrt_library_desc &d = *c.lib->desc;
    for (int i = 0; i < d.n_entries; ++i)
      if (name == d.entries[i].name)
        c.step = &d.entries[i];
    if (!c.step)
      return error(fail("entry '" + r->entry->name +
                        "' has no step form (--remarks says why)"));
    c.chunk = o.chunk;
  }
  if (llvm::Error e = c.call())
    return error(std::move(e));
  std::vector<Tensor> results;
  for (const auto &t : c.outputs)
    results.push_back(t->load());
  if (llvm::Error e = reportRun(*r, results, o.run, out))
    return error(std::move(e));

  int status = 0;
  if (o.check) {
    auto reference = evaluate(p, *r->entry, r->inputs, r->weights, r->dims);
    if (!reference)
      return error(reference.takeError());
    if (!check(*r, results, *reference, o.checkTolerance, out, err))
      status = 1;
  }
  if (o.bench > 0)
    if (llvm::Error e = bench(c, o.bench, out))
      return error(std::move(e));
  return status;
}
