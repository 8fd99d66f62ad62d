//===- Interpreter.cpp - The reference interpreter ------------------------===//
//
// A memoising evaluator over the typed graph. Values live in frames: the
// entry's frame holds outer nodes (each computed once); a scan step or an
// assoc_scan combination gets a fresh frame whose region is the Scan /
// AssocScan node, holding that step's body nodes and carry / argument
// values. A node is evaluated in the innermost enclosing frame whose region
// is the node's region, so captured outer values are shared across steps.
//
//===----------------------------------------------------------------------===//

#include "Interpreter.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringRef.h"

#include <cmath>
#include <limits>
#include <memory>
#include <sstream>
#include <unordered_map>

using namespace seqc;

static llvm::Error makeError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

std::optional<Extents> seqc::constantShape(const Shape &s) {
  Extents out;
  for (const Dim &d : s) {
    auto c = d.constant();
    if (!c)
      return std::nullopt;
    out.push_back(*c);
  }
  return out;
}

Extents seqc::weightShape(const Type &t) {
  std::optional<Extents> shape = constantShape(t.shape);
  assert(shape && "Sema gives every weight constant sizes");
  return *shape;
}

llvm::Expected<Extents> seqc::concreteShape(const Shape &s,
                                            const DimMap &dims) {
  Extents out;
  for (const Dim &d : s) {
    for (const std::string &sym : d.symbols())
      if (!dims.count(sym))
        return makeError("runtime dim '" + sym + "' is not known");
    out.push_back(d.evaluate(dims));
  }
  return out;
}

static const char *kindOf(DType t) {
  return isFloat(t) ? "float" : isInt(t) ? "integer" : "bool";
}

llvm::Error seqc::conformToDType(Tensor &t, DType dtype,
                                 const std::string &what) {
  if (isFloat(t.dtype) != isFloat(dtype) || isInt(t.dtype) != isInt(dtype))
    return makeError(what + ": expected " + kindOf(dtype) + " values (" +
                     dtypeName(dtype) + "), got " + dtypeName(t.dtype));
  t.dtype = dtype;
  for (double &v : t.data)
    v = roundToDType(v, dtype);
  return llvm::Error::success();
}

llvm::Expected<DimMap> seqc::bindDims(const Entry &e,
                                      const std::vector<const Tensor *> &inputs,
                                      const DimMap &given) {
  DimMap dims = given;
  // Which input bound each dim, for messages.
  std::map<std::string, std::string> boundBy;
  for (auto &kv : given)
    boundBy[kv.first] = "--dim " + kv.first + "=" + std::to_string(kv.second);
  auto declared = [](const Shape &s) {
    std::string str = shapeStr(s);
    return "(" + str.substr(1, str.size() - 2) + ")";
  };
  for (size_t i = 0; i < e.inputs.size() && i < inputs.size(); ++i) {
    const Tensor *t = inputs[i];
    if (!t)
      continue;
    const Node *in = e.inputs[i];
    const Shape &shape = in->type.shape;
    if (t->rank() != (int64_t)shape.size())
      return makeError("input " + in->name + ": expected rank " +
                       llvm::Twine(shape.size()) + " " + declared(shape) +
                       ", got shape " + shapeString(t->shape));
    for (size_t d = 0; d < shape.size(); ++d) {
      auto sym = shape[d].asSymbol();
      if (!sym)
        continue;
      auto it = dims.find(*sym);
      if (it == dims.end()) {
        dims[*sym] = t->shape[d];
        boundBy[*sym] = "input " + in->name;
      } else if (it->second != t->shape[d]) {
        return makeError("input " + in->name + ": dim " + *sym + " is " +
                         llvm::Twine(t->shape[d]) + " (axis " + llvm::Twine(d) +
                         " of shape " + shapeString(t->shape) + "), but " +
                         boundBy[*sym] + " has " + *sym + " = " +
                         llvm::Twine(it->second));
      }
    }
  }
  for (size_t i = 0; i < e.inputs.size() && i < inputs.size(); ++i) {
    const Tensor *t = inputs[i];
    if (!t)
      continue;
    const Node *in = e.inputs[i];
    const Shape &shape = in->type.shape;
    Extents expect;
    bool known = true;
    for (const Dim &d : shape) {
      for (const std::string &sym : d.symbols())
        known &= dims.count(sym) != 0;
      expect.push_back(known ? d.evaluate(dims) : -1);
    }
    if (!known)
      return makeError("input " + in->name + ": the dims of " +
                       declared(shape) + " are not all known from the inputs");
    if (expect != t->shape)
      return makeError("input " + in->name + ": expected shape " +
                       shapeString(expect) + " " + declared(shape) + ", got " +
                       shapeString(t->shape));
    if (t->dtype != in->type.dtype)
      return makeError("input " + in->name + ": expected dtype " +
                       dtypeName(in->type.dtype) + ", got " +
                       dtypeName(t->dtype));
  }
  return std::move(dims);
}

//===----------------------------------------------------------------------===//
// Helpers over concrete shapes
//===----------------------------------------------------------------------===//

/// Strides that read `inShape` (right-aligned, size-1 dims stretched) while
/// walking `outShape`.
static Extents broadcastStrides(const Extents &inShape,
                                const Extents &outShape) {
  Extents inStrides = rowMajorStrides(inShape);
  Extents s(outShape.size(), 0);
  size_t off = outShape.size() - inShape.size();
  for (size_t i = 0; i < inShape.size(); ++i)
    s[off + i] = inShape[i] == 1 ? 0 : inStrides[i];
  return s;
}

/// Calls f(index) for every multi-index of `shape`, in row-major order.
template <typename F> static void forEachIndex(const Extents &shape, F f) {
  int64_t n = numElements(shape);
  Extents idx(shape.size(), 0);
  for (int64_t lin = 0; lin < n; ++lin) {
    f(idx);
    for (int64_t d = (int64_t)shape.size() - 1; d >= 0; --d) {
      if (++idx[d] < shape[d])
        break;
      idx[d] = 0;
    }
  }
}

static int64_t dot(const Extents &idx, const Extents &strides) {
  int64_t o = 0;
  for (size_t i = 0; i < idx.size(); ++i)
    o += idx[i] * strides[i];
  return o;
}

static double sigmoid(double x) {
  if (x >= 0)
    return 1.0 / (1.0 + std::exp(-x));
  double e = std::exp(x);
  return e / (1.0 + e);
}

namespace {

using TensorRef = std::shared_ptr<const Tensor>;

/// Values of one region instance: the entry, one scan step, or one
/// application of an assoc_scan combiner.
struct Frame {
  Frame *parent = nullptr;
  const Node *region = nullptr;
  int64_t step = 0;            // scan: the value of `t`
  std::vector<TensorRef> args; // scan: carries; assoc_scan: combiner args
  std::unordered_map<const Node *, TensorRef> values;
  std::unordered_map<const Node *, std::vector<TensorRef>> multi;
};

class Evaluator {
public:
  Evaluator(const std::vector<Tensor> &inputs, const TensorMap &weights,
            const DimMap &dims)
      : inputs(inputs), weights(weights), dims(dims) {}

  /// The value of `n` in `frame`; null after an error (see `error`).
  TensorRef eval(const Node *n, Frame *frame);
  std::string error;
  Loc errorLoc; // where the model has the node of `error`, when known

private:
  const std::vector<Tensor> &inputs;
  const TensorMap &weights;
  const DimMap &dims;

  bool fail(const Node *n, const std::string &msg) {
    if (error.empty()) {
      error = msg;
      if (n)
        errorLoc = n->loc;
    }
    return false;
  }
  std::string describe(const Node *n) {
    if (n->kind == NodeKind::Weight)
      return "weight '" + n->name + "'";
    if (n->kind == NodeKind::Input)
      return "input '" + n->name + "'";
    return std::string("%") + std::to_string(n->id) + " (" +
           nodeKindName(n->kind) + ")";
  }

  bool shapeOf(const Node *n, Extents &out) {
    auto s = concreteShape(n->type.shape, dims);
    if (!s) {
      fail(n, llvm::toString(s.takeError()));
      return false;
    }
    for (int64_t d : *s)
      if (d < 0)
        return fail(n, "size " + shapeString(*s) + " of " + describe(n) + " (" +
                           n->type.str() + ") is negative");
    // Guard against allocation failure (no exceptions): 2^32 doubles.
    double count = 1;
    for (int64_t d : *s)
      count *= (double)d;
    if (count > 4294967296.0)
      return fail(n, describe(n) + " of shape " + shapeString(*s) +
                         " is too large for the interpreter");
    out = *s;
    return true;
  }
  int64_t dimValue(const Node *n, const Dim &d, bool &ok) {
    for (const std::string &sym : d.symbols())
      if (!dims.count(sym)) {
        ok = fail(n, "runtime dim '" + sym + "' is not known");
        return 0;
      }
    return d.evaluate(dims);
  }

  /// The frame holding `n`'s value (reports an error when there is none).
  Frame *ownerFrame(const Node *n, Frame *f);
  bool compute(const Node *n, Frame *f, Tensor &out);
  const std::vector<TensorRef> *evalMulti(const Node *n, Frame *f);
  bool runScan(const Node *n, Frame *f, std::vector<TensorRef> &results);
  bool runAssocScan(const Node *n, Frame *f, std::vector<TensorRef> &results);

  bool elementwise(const Node *n, const std::vector<TensorRef> &ops,
                   Tensor &out);
  bool matmul(const Node *n, const Tensor &a, const Tensor &b, Tensor &out);
  bool einsum(const Node *n, const std::vector<TensorRef> &ops, Tensor &out);
  bool reduce(const Node *n, const Tensor &x, Tensor &out);
  bool softmax(const Node *n, const Tensor &x, Tensor &out);
  bool slice(const Node *n, const Tensor &x, Tensor &out);
  bool gather(const Node *n, const Tensor &table, const Tensor &idx,
              Tensor &out);
};

} // namespace

Frame *Evaluator::ownerFrame(const Node *n, Frame *f) {
  // A node lives in the frame of its region (Sema puts a scan's step index
  // and carries, and a combiner's arguments, in that scan's region too).
  for (Frame *g = f; g; g = g->parent)
    if (g->region == n->region)
      return g;
  fail(n, "internal error: " + describe(n) +
              " is used outside the region that defines it");
  return nullptr;
}

TensorRef Evaluator::eval(const Node *n, Frame *f) {
  if (!error.empty())
    return nullptr;
  Frame *g = ownerFrame(n, f);
  if (!g)
    return nullptr;
  auto it = g->values.find(n);
  if (it != g->values.end())
    return it->second;
  Tensor out;
  if (!compute(n, g, out))
    return nullptr;
  Extents expect;
  if (!shapeOf(n, expect))
    return nullptr;
  if (out.shape != expect) {
    fail(n, "internal error: " + describe(n) + " computed shape " +
                shapeString(out.shape) + ", its type says " + n->type.str() +
                " = " + shapeString(expect));
    return nullptr;
  }
  out.dtype = n->type.dtype;
  auto ref = std::make_shared<const Tensor>(std::move(out));
  g->values[n] = ref;
  return ref;
}

const std::vector<TensorRef> *Evaluator::evalMulti(const Node *n, Frame *f) {
  if (!error.empty())
    return nullptr;
  Frame *g = ownerFrame(n, f);
  if (!g)
    return nullptr;
  auto it = g->multi.find(n);
  if (it != g->multi.end())
    return &it->second;
  std::vector<TensorRef> results;
  bool ok = n->kind == NodeKind::Scan ? runScan(n, g, results)
            : n->kind == NodeKind::AssocScan
                ? runAssocScan(n, g, results)
                : fail(n, "internal error: " + describe(n) +
                              " has no results to select");
  if (!ok)
    return nullptr;
  return &(g->multi[n] = std::move(results));
}

bool Evaluator::compute(const Node *n, Frame *f, Tensor &out) {
  Extents shape;
  if (!shapeOf(n, shape))
    return false;
  DType dt = n->type.dtype;

  // Leaves and selectors.
  switch (n->kind) {
  case NodeKind::Input: {
    int64_t pos = n->ints.empty() ? -1 : n->ints[0];
    if (pos < 0 || pos >= (int64_t)inputs.size())
      return fail(n, "internal error: input '" + n->name + "' has position " +
                         std::to_string(pos));
    out = inputs[pos];
    return true;
  }
  case NodeKind::Weight: {
    auto it = weights.find(n->name);
    if (it == weights.end())
      return fail(n, "weight '" + n->name + "' was not provided");
    if (it->second.shape != shape)
      return fail(n, "weight '" + n->name + "' has shape " +
                         shapeString(it->second.shape) + ", expected " +
                         shapeString(shape));
    out = it->second;
    return true;
  }
  case NodeKind::Constant:
    out = Tensor(dt, shape);
    std::fill(out.data.begin(), out.data.end(),
              isInt(dt) ? (double)n->ival : n->fval);
    return true;
  case NodeKind::Arange:
    out = Tensor(dt, shape);
    for (int64_t i = 0; i < out.numel(); ++i)
      out.data[i] = (double)i;
    return true;
  case NodeKind::ScanIndex:
    out = Tensor(dt, {});
    out.data[0] = (double)f->step;
    return true;
  case NodeKind::ScanCarry:
  case NodeKind::CombineArg: {
    int64_t i = n->ints.empty() ? -1 : n->ints[0];
    if (i < 0 || i >= (int64_t)f->args.size())
      return fail(n, "internal error: " + describe(n) + " selects argument " +
                         std::to_string(i) + " of " +
                         std::to_string(f->args.size()));
    out = *f->args[i];
    return true;
  }
  case NodeKind::ScanResult:
  case NodeKind::AssocScanResult: {
    if (n->operands.empty())
      return fail(n, "internal error: result selector without its scan");
    const std::vector<TensorRef> *rs = evalMulti(n->operands[0], f);
    if (!rs)
      return false;
    int64_t i = n->ints.empty() ? -1 : n->ints[0];
    if (i < 0 || i >= (int64_t)rs->size())
      return fail(n, "internal error: " + describe(n) + " selects result " +
                         std::to_string(i) + " of " +
                         std::to_string(rs->size()));
    out = *(*rs)[i];
    return true;
  }
  case NodeKind::Scan:
  case NodeKind::AssocScan:
    return fail(n, "internal error: " + describe(n) +
                       " used as a value; select a result");
  default:
    break;
  }

  std::vector<TensorRef> ops;
  for (const Node *o : n->operands) {
    TensorRef v = eval(o, f);
    if (!v)
      return false;
    ops.push_back(v);
  }
  auto needOps = [&](size_t k) {
    if (ops.size() >= k)
      return true;
    return fail(n, "internal error: " + describe(n) + " needs " +
                       std::to_string(k) + " operands");
  };

  switch (n->kind) {
  case NodeKind::Unary:
  case NodeKind::Binary:
  case NodeKind::Where:
  case NodeKind::Cast:
    if (!needOps(n->kind == NodeKind::Binary  ? 2
                 : n->kind == NodeKind::Where ? 3
                                              : 1))
      return false;
    out = Tensor(dt, shape);
    return elementwise(n, ops, out);
  case NodeKind::MatMul:
    if (!needOps(2))
      return false;
    out = Tensor(dt, shape);
    return matmul(n, *ops[0], *ops[1], out);
  case NodeKind::Einsum:
    out = Tensor(dt, shape);
    return einsum(n, ops, out);
  case NodeKind::Reduce:
    if (!needOps(1))
      return false;
    out = Tensor(dt, shape);
    return reduce(n, *ops[0], out);
  case NodeKind::Softmax:
    if (!needOps(1))
      return false;
    out = Tensor(dt, shape);
    return softmax(n, *ops[0], out);
  case NodeKind::Permute: {
    if (!needOps(1))
      return false;
    const Tensor &x = *ops[0];
    if (n->ints.size() != x.shape.size())
      return fail(n, "internal error: permutation rank mismatch");
    for (int64_t a : n->ints)
      if (a < 0 || a >= x.rank())
        return fail(n, "internal error: permutation entry out of range");
    Extents xs = rowMajorStrides(x.shape), s(n->ints.size());
    for (size_t i = 0; i < s.size(); ++i)
      s[i] = xs[n->ints[i]];
    out = Tensor(dt, shape);
    int64_t lin = 0;
    forEachIndex(shape, [&](const Extents &idx) {
      out.data[lin++] = x.data[dot(idx, s)];
    });
    return true;
  }
  case NodeKind::Reshape:
  case NodeKind::ExpandDims:
    if (!needOps(1))
      return false;
    if (ops[0]->numel() != numElements(shape))
      return fail(n, "cannot reshape " + ops[0]->typeString() + " to " +
                         shapeString(shape) + ": element counts differ");
    out = *ops[0];
    out.shape = shape;
    return true;
  case NodeKind::Concat: {
    if (!needOps(1) || n->ints.empty())
      return fail(n, "internal error: malformed concat");
    int64_t axis = n->ints[0];
    if (axis < 0 || axis >= (int64_t)shape.size())
      return fail(n, "internal error: concat axis out of range");
    out = Tensor(dt, shape);
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < axis; ++i)
      outer *= shape[i];
    for (size_t i = axis + 1; i < shape.size(); ++i)
      inner *= shape[i];
    int64_t outRow = shape[axis] * inner, pos = 0;
    for (const TensorRef &t : ops) {
      if (t->rank() != (int64_t)shape.size() ||
          t->numel() != outer * t->shape[axis] * inner)
        return fail(n, "internal error: concat operand " + t->typeString() +
                           " does not fit " + shapeString(shape));
      int64_t row = t->shape[axis] * inner;
      for (int64_t o = 0; o < outer; ++o)
        std::copy(t->data.begin() + o * row, t->data.begin() + (o + 1) * row,
                  out.data.begin() + o * outRow + pos);
      pos += row;
    }
    return true;
  }
  case NodeKind::Slice:
    if (!needOps(1))
      return false;
    out = Tensor(dt, shape);
    return slice(n, *ops[0], out);
  case NodeKind::DynIndex: {
    if (!needOps(2) || n->ints.empty())
      return fail(n, "internal error: malformed dynamic index");
    const Tensor &x = *ops[0];
    int64_t axis = n->ints[0];
    if (axis < 0 || axis >= x.rank())
      return fail(n, "internal error: dynamic index axis out of range");
    double iv = ops[1]->data.empty() ? -1 : ops[1]->data[0];
    int64_t len = x.shape[axis];
    if (iv < 0 || iv >= (double)len || iv != std::floor(iv))
      return fail(n, "index " + std::to_string((int64_t)iv) +
                         " is out of range for axis " + std::to_string(axis) +
                         " of " + describe(n->operands[0]) + " (size " +
                         std::to_string(len) + ")");
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < axis; ++i)
      outer *= x.shape[i];
    for (size_t i = axis + 1; i < x.shape.size(); ++i)
      inner *= x.shape[i];
    out = Tensor(dt, shape);
    for (int64_t o = 0; o < outer; ++o)
      std::copy_n(x.data.begin() + (o * len + (int64_t)iv) * inner, inner,
                  out.data.begin() + o * inner);
    return true;
  }
  case NodeKind::Gather:
    if (!needOps(2))
      return false;
    out = Tensor(dt, shape);
    return gather(n, *ops[0], *ops[1], out);
  default:
    return fail(n, std::string("internal error: cannot evaluate node kind ") +
                       nodeKindName(n->kind));
  }
}

bool Evaluator::elementwise(const Node *n, const std::vector<TensorRef> &ops,
                            Tensor &out) {
  const Extents &shape = out.shape;
  std::vector<Extents> strides;
  for (const TensorRef &t : ops) {
    if (t->shape.size() > shape.size())
      return fail(n, "internal error: operand " + t->typeString() +
                         " does not broadcast to " + shapeString(shape));
    for (size_t i = 0; i < t->shape.size(); ++i) {
      int64_t o = shape[shape.size() - t->shape.size() + i];
      if (t->shape[i] != o && t->shape[i] != 1)
        return fail(n, "internal error: operand " + t->typeString() +
                           " does not broadcast to " + shapeString(shape));
    }
    strides.push_back(broadcastStrides(t->shape, shape));
  }
  DType dt = n->type.dtype;
  bool intResult = isInt(dt);
  int64_t lin = 0;
  bool ok = true;
  auto arg = [&](size_t k, const Extents &idx) {
    return ops[k]->data[dot(idx, strides[k])];
  };
  forEachIndex(shape, [&](const Extents &idx) {
    if (!ok)
      return;
    double r = 0;
    double a = arg(0, idx);
    switch (n->kind) {
    case NodeKind::Cast:
      if (isInt(dt) && !std::isfinite(a)) {
        ok = fail(n,
                  "cannot cast " + std::to_string(a) + " to " + dtypeName(dt));
        return;
      }
      r = isFloat(dt) ? a : roundToDType(a, dt);
      break;
    case NodeKind::Where:
      r = a != 0 ? arg(1, idx) : arg(2, idx);
      break;
    case NodeKind::Unary:
      switch (n->unaryFn()) {
      case UnaryFn::Neg:
        r = -a;
        break;
      case UnaryFn::Not:
        r = a == 0 ? 1 : 0;
        break;
      case UnaryFn::Exp:
        r = std::exp(a);
        break;
      case UnaryFn::Log:
        r = std::log(a);
        break;
      case UnaryFn::Sqrt:
        r = std::sqrt(a);
        break;
      case UnaryFn::Rsqrt:
        r = 1.0 / std::sqrt(a);
        break;
      case UnaryFn::Tanh:
        r = std::tanh(a);
        break;
      case UnaryFn::Sigmoid:
        r = sigmoid(a);
        break;
      case UnaryFn::Silu:
        r = a * sigmoid(a);
        break;
      case UnaryFn::Gelu:
        r = 0.5 * a * (1.0 + std::erf(a / std::sqrt(2.0)));
        break;
      case UnaryFn::Softplus:
        r = std::max(a, 0.0) + std::log1p(std::exp(-std::fabs(a)));
        break;
      case UnaryFn::Relu:
        r = a > 0 ? a : (std::isnan(a) ? a : 0.0);
        break;
      case UnaryFn::Abs:
        r = std::fabs(a);
        break;
      case UnaryFn::Sin:
        r = std::sin(a);
        break;
      case UnaryFn::Cos:
        r = std::cos(a);
        break;
      case UnaryFn::Erf:
        r = std::erf(a);
        break;
      }
      break;
    case NodeKind::Binary: {
      double b = arg(1, idx);
      switch (n->binaryFn()) {
      case BinaryFn::Add:
        r = a + b;
        break;
      case BinaryFn::Sub:
        r = a - b;
        break;
      case BinaryFn::Mul:
        r = a * b;
        break;
      case BinaryFn::Div:
        if (intResult) {
          if (b == 0) {
            ok = fail(n, "integer division by zero");
            return;
          }
          r = std::trunc(a / b);
        } else {
          r = a / b;
        }
        break;
      case BinaryFn::Pow:
        r = std::pow(a, b);
        break;
      case BinaryFn::Max:
        r = std::isnan(a) || std::isnan(b) ? NAN : std::max(a, b);
        break;
      case BinaryFn::Min:
        r = std::isnan(a) || std::isnan(b) ? NAN : std::min(a, b);
        break;
      case BinaryFn::Eq:
        r = a == b;
        break;
      case BinaryFn::Ne:
        r = a != b;
        break;
      case BinaryFn::Lt:
        r = a < b;
        break;
      case BinaryFn::Le:
        r = a <= b;
        break;
      case BinaryFn::Gt:
        r = a > b;
        break;
      case BinaryFn::Ge:
        r = a >= b;
        break;
      case BinaryFn::And:
        r = (a != 0) && (b != 0);
        break;
      case BinaryFn::Or:
        r = (a != 0) || (b != 0);
        break;
      }
      break;
    }
    default:
      break;
    }
    if (intResult && n->kind != NodeKind::Cast && n->kind != NodeKind::Where)
      r = roundToDType(r, dt); // i32 arithmetic wraps
    out.data[lin++] = r;
  });
  return ok;
}

bool Evaluator::matmul(const Node *n, const Tensor &a, const Tensor &b,
                       Tensor &out) {
  if (a.rank() < 2 || b.rank() < 2 || out.rank() < 2)
    return fail(n, "internal error: matmul operands need rank >= 2");
  int64_t M = a.shape[a.rank() - 2], K = a.shape[a.rank() - 1];
  int64_t K2 = b.shape[b.rank() - 2], N = b.shape[b.rank() - 1];
  if (K != K2)
    return fail(n, "matmul of " + a.typeString() + " and " + b.typeString() +
                       ": inner sizes differ");
  Extents batch(out.shape.begin(), out.shape.end() - 2);
  Extents aBatch(a.shape.begin(), a.shape.end() - 2);
  Extents bBatch(b.shape.begin(), b.shape.end() - 2);
  if (aBatch.size() > batch.size() || bBatch.size() > batch.size())
    return fail(n, "internal error: matmul batch rank");
  // Batch strides in units of whole matrices.
  Extents as = broadcastStrides(aBatch, batch),
          bs = broadcastStrides(bBatch, batch);
  int64_t o = 0;
  forEachIndex(batch, [&](const Extents &idx) {
    const double *pa = a.data.data() + dot(idx, as) * M * K;
    const double *pb = b.data.data() + dot(idx, bs) * K * N;
    double *po = out.data.data() + o;
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double s = 0;
        for (int64_t k = 0; k < K; ++k)
          s += pa[i * K + k] * pb[k * N + j];
        po[i * N + j] = s;
      }
    o += M * N;
  });
  return true;
}

bool Evaluator::einsum(const Node *n, const std::vector<TensorRef> &ops,
                       Tensor &out) {
  std::string spec;
  for (char c : n->name)
    if (c != ' ')
      spec += c;
  llvm::StringRef lhs = spec, rhs;
  bool explicitOut = spec.find("->") != std::string::npos;
  if (explicitOut)
    std::tie(lhs, rhs) = llvm::StringRef(spec).split("->");
  llvm::SmallVector<llvm::StringRef> terms;
  lhs.split(terms, ',');
  if (terms.size() != ops.size())
    return fail(n, "einsum '" + n->name + "' names " +
                       std::to_string(terms.size()) + " operands, got " +
                       std::to_string(ops.size()));
  std::map<char, int64_t> size;
  std::map<char, int> count;
  for (size_t k = 0; k < terms.size(); ++k) {
    if ((int64_t)terms[k].size() != ops[k]->rank())
      return fail(n, "einsum '" + n->name + "': operand " + std::to_string(k) +
                         " has rank " + std::to_string(ops[k]->rank()));
    for (size_t i = 0; i < terms[k].size(); ++i) {
      char c = terms[k][i];
      auto it = size.find(c);
      if (it != size.end() && it->second != ops[k]->shape[i])
        return fail(n, std::string("einsum '") + n->name + "': letter '" + c +
                           "' has sizes " + std::to_string(it->second) +
                           " and " + std::to_string(ops[k]->shape[i]));
      size[c] = ops[k]->shape[i];
      ++count[c];
    }
  }
  std::string outLetters = rhs.str();
  if (!explicitOut)
    for (auto &kv : count)
      if (kv.second == 1)
        outLetters += kv.first;
  std::string sumLetters;
  for (auto &kv : size)
    if (outLetters.find(kv.first) == std::string::npos)
      sumLetters += kv.first;
  // Per operand, the stride of each output and summed letter.
  auto stridesFor = [&](const std::string &letters) {
    std::vector<Extents> s(ops.size(), Extents(letters.size(), 0));
    for (size_t k = 0; k < ops.size(); ++k) {
      Extents st = rowMajorStrides(ops[k]->shape);
      for (size_t i = 0; i < terms[k].size(); ++i) {
        size_t p = letters.find(terms[k][i]);
        if (p != std::string::npos)
          s[k][p] += st[i];
      }
    }
    return s;
  };
  std::vector<Extents> os = stridesFor(outLetters), ss = stridesFor(sumLetters);
  Extents outShape, sumShape;
  for (char c : outLetters) {
    if (!size.count(c))
      return fail(n, std::string("einsum '") + n->name + "': output letter '" +
                         c + "' is in no operand");
    outShape.push_back(size[c]);
  }
  for (char c : sumLetters)
    sumShape.push_back(size[c]);
  if (outShape != out.shape)
    return fail(n, "internal error: einsum '" + n->name + "' gives " +
                       shapeString(outShape) + ", type says " +
                       shapeString(out.shape));
  int64_t lin = 0;
  forEachIndex(outShape, [&](const Extents &oi) {
    std::vector<int64_t> base(ops.size());
    for (size_t k = 0; k < ops.size(); ++k)
      base[k] = dot(oi, os[k]);
    double total = 0;
    forEachIndex(sumShape, [&](const Extents &si) {
      double p = 1;
      for (size_t k = 0; k < ops.size(); ++k)
        p *= ops[k]->data[base[k] + dot(si, ss[k])];
      total += p;
    });
    out.data[lin++] = total;
  });
  return true;
}

bool Evaluator::reduce(const Node *n, const Tensor &x, Tensor &out) {
  std::vector<bool> reduced(x.rank(), false);
  for (int64_t a : n->ints) {
    if (a < 0 || a >= x.rank())
      return fail(n, "internal error: reduction axis out of range");
    reduced[a] = true;
  }
  // Output strides over the input's axes (0 on reduced axes).
  Extents keptShape;
  for (int64_t i = 0; i < x.rank(); ++i)
    keptShape.push_back(reduced[i] ? 1 : x.shape[i]);
  if (numElements(keptShape) != out.numel())
    return fail(n, "internal error: reduction result size");
  Extents ks = rowMajorStrides(keptShape);
  for (int64_t i = 0; i < x.rank(); ++i)
    if (reduced[i])
      ks[i] = 0;
  ReduceFn fn = n->reduceFn();
  double init = fn == ReduceFn::Max   ? -INFINITY
                : fn == ReduceFn::Min ? INFINITY
                                      : 0.0;
  std::fill(out.data.begin(), out.data.end(), init);
  int64_t lin = 0;
  forEachIndex(x.shape, [&](const Extents &idx) {
    double v = x.data[lin++];
    double &acc = out.data[dot(idx, ks)];
    switch (fn) {
    case ReduceFn::Sum:
    case ReduceFn::Mean:
      acc += v;
      break;
    case ReduceFn::Max:
      if (v > acc || std::isnan(v))
        acc = std::isnan(acc) ? acc : v;
      break;
    case ReduceFn::Min:
      if (v < acc || std::isnan(v))
        acc = std::isnan(acc) ? acc : v;
      break;
    }
  });
  if (fn == ReduceFn::Mean) {
    int64_t count = x.numel() / std::max<int64_t>(out.numel(), 1);
    for (double &v : out.data) {
      v = count ? v / (double)count : NAN;
      if (isInt(n->type.dtype))
        v = std::trunc(v);
    }
  }
  return true;
}

bool Evaluator::softmax(const Node *n, const Tensor &x, Tensor &out) {
  int64_t axis = n->ints.empty() ? x.rank() - 1 : n->ints[0];
  if (axis < 0 || axis >= x.rank())
    return fail(n, "internal error: softmax axis out of range");
  int64_t outer = 1, inner = 1, len = x.shape[axis];
  for (int64_t i = 0; i < axis; ++i)
    outer *= x.shape[i];
  for (int64_t i = axis + 1; i < x.rank(); ++i)
    inner *= x.shape[i];
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t in = 0; in < inner; ++in) {
      auto at = [&](int64_t k) { return o * len * inner + k * inner + in; };
      double m = -INFINITY;
      for (int64_t k = 0; k < len; ++k)
        m = std::isnan(x.data[at(k)]) || std::isnan(m)
                ? NAN
                : std::max(m, x.data[at(k)]);
      if (m == -INFINITY) { // a fully masked row
        for (int64_t k = 0; k < len; ++k)
          out.data[at(k)] = 0;
        continue;
      }
      double s = 0;
      for (int64_t k = 0; k < len; ++k)
        s += out.data[at(k)] = std::exp(x.data[at(k)] - m);
      for (int64_t k = 0; k < len; ++k)
        out.data[at(k)] /= s;
    }
  return true;
}

bool Evaluator::slice(const Node *n, const Tensor &x, Tensor &out) {
  if (n->dims.size() != 3 * x.shape.size())
    return fail(n, "internal error: slice bounds do not match the rank");
  Extents start, size, step;
  bool ok = true;
  for (size_t i = 0; i < x.shape.size(); ++i) {
    start.push_back(dimValue(n, n->dims[3 * i], ok));
    size.push_back(dimValue(n, n->dims[3 * i + 1], ok));
    step.push_back(dimValue(n, n->dims[3 * i + 2], ok));
    if (!ok)
      return false;
    if (start[i] < 0 || size[i] < 0 || step[i] <= 0 ||
        (size[i] > 0 && start[i] + (size[i] - 1) * step[i] >= x.shape[i]))
      return fail(n, "slice " + std::to_string(start[i]) + ", size " +
                         std::to_string(size[i]) + ", step " +
                         std::to_string(step[i]) +
                         " is out of range for axis " + std::to_string(i) +
                         " of " + x.typeString());
  }
  if (numElements(size) != out.numel())
    return fail(n, "internal error: slice result size");
  Extents xs = rowMajorStrides(x.shape), s(xs.size());
  int64_t base = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    base += start[i] * xs[i];
    s[i] = xs[i] * step[i];
  }
  int64_t lin = 0;
  forEachIndex(size, [&](const Extents &idx) {
    out.data[lin++] = x.data[base + dot(idx, s)];
  });
  return true;
}

bool Evaluator::gather(const Node *n, const Tensor &table, const Tensor &idx,
                       Tensor &out) {
  if (table.rank() < 1)
    return fail(n, "internal error: gather from a scalar");
  int64_t rows = table.shape[0];
  int64_t rowSize = rows ? table.numel() / rows : 0;
  if (idx.numel() * rowSize != out.numel())
    return fail(n, "internal error: gather result size");
  for (int64_t i = 0; i < idx.numel(); ++i) {
    double v = idx.data[i];
    if (!(v >= 0 && v < (double)rows)) {
      Extents pos(idx.rank());
      int64_t r = i;
      for (int64_t d = idx.rank() - 1; d >= 0; --d) {
        pos[d] = r % idx.shape[d];
        r /= idx.shape[d];
      }
      return fail(n, "gather index " + std::to_string((int64_t)v) + " at " +
                         shapeString(pos) + " of " + describe(n->operands[1]) +
                         " is out of range for " + describe(n->operands[0]) +
                         " with " + std::to_string(rows) + " rows");
    }
    std::copy_n(table.data.begin() + (int64_t)v * rowSize, rowSize,
                out.data.begin() + i * rowSize);
  }
  return true;
}

bool Evaluator::runScan(const Node *n, Frame *f,
                        std::vector<TensorRef> &results) {
  if (!n->scan)
    return fail(n, "internal error: scan without its ScanInfo");
  const ScanInfo &s = *n->scan;
  bool ok = true;
  int64_t T = dimValue(n, s.length, ok);
  if (!ok)
    return false;
  if (T < 0)
    return fail(n, "scan length " + s.length.str() + " is negative (" +
                       std::to_string(T) + ")");
  std::vector<TensorRef> carries;
  for (size_t i = 0; i < s.inits.size(); ++i) {
    TensorRef v = eval(s.inits[i], f);
    if (!v)
      return false;
    Extents cs;
    if (!shapeOf(s.carries[i], cs))
      return false;
    if (v->shape != cs) {
      if (v->numel() != 1)
        return fail(n, "internal error: carry " + s.carryNames[i] +
                           " starts as " + v->typeString() + ", expected " +
                           shapeString(cs));
      Tensor b(s.carries[i]->type.dtype, cs);
      std::fill(b.data.begin(), b.data.end(), v->data[0]);
      v = std::make_shared<const Tensor>(std::move(b));
    }
    carries.push_back(v);
  }
  size_t nOut = s.stepOutputs.size();
  std::vector<Tensor> stacked(nOut);
  std::vector<int64_t> outer(nOut), inner(nOut);
  for (size_t j = 0; j < nOut; ++j) {
    Extents stepShape;
    if (!shapeOf(s.stepOutputs[j], stepShape))
      return false;
    int64_t axis = s.outputAxes[j];
    if (axis < 0 || axis > (int64_t)stepShape.size())
      return fail(n, "internal error: scan output axis out of range");
    Extents full = stepShape;
    full.insert(full.begin() + axis, T);
    stacked[j] = Tensor(s.stepOutputs[j]->type.dtype, full);
    outer[j] =
        numElements(Extents(stepShape.begin(), stepShape.begin() + axis));
    inner[j] = numElements(Extents(stepShape.begin() + axis, stepShape.end()));
  }
  for (int64_t k = 0; k < T; ++k) {
    int64_t t = s.reverse ? T - 1 - k : k;
    Frame step;
    step.parent = f;
    step.region = n;
    step.step = t;
    step.args = carries;
    std::vector<TensorRef> next;
    for (const Node *c : s.newCarries) {
      TensorRef v = eval(c, &step);
      if (!v)
        return false;
      next.push_back(v);
    }
    for (size_t j = 0; j < nOut; ++j) {
      TensorRef v = eval(s.stepOutputs[j], &step);
      if (!v)
        return false;
      for (int64_t o = 0; o < outer[j]; ++o)
        std::copy_n(v->data.begin() + o * inner[j], inner[j],
                    stacked[j].data.begin() + (o * T + t) * inner[j]);
    }
    carries = std::move(next);
  }
  results = carries;
  for (Tensor &t : stacked)
    results.push_back(std::make_shared<const Tensor>(std::move(t)));
  return true;
}

bool Evaluator::runAssocScan(const Node *n, Frame *f,
                             std::vector<TensorRef> &results) {
  if (!n->assoc)
    return fail(n, "internal error: assoc_scan without its AssocScanInfo");
  const AssocScanInfo &a = *n->assoc;
  size_t N = a.inputs.size();
  if (a.args.size() != 2 * N || a.combined.size() != N || N == 0)
    return fail(n, "internal error: malformed assoc_scan");
  std::vector<TensorRef> xs;
  for (const Node *in : a.inputs) {
    TensorRef v = eval(in, f);
    if (!v)
      return false;
    if (!xs.empty() && v->shape != xs[0]->shape)
      return fail(n, "internal error: assoc_scan inputs differ in shape");
    xs.push_back(v);
  }
  const Extents &shape = xs[0]->shape;
  int64_t axis = a.axis;
  if (axis < 0 || axis >= (int64_t)shape.size())
    return fail(n, "internal error: assoc_scan axis out of range");
  int64_t L = shape[axis];
  int64_t outer = numElements(Extents(shape.begin(), shape.begin() + axis));
  int64_t inner = numElements(Extents(shape.begin() + axis + 1, shape.end()));
  Extents sliceShape = shape;
  sliceShape.erase(sliceShape.begin() + axis);
  auto take = [&](const Tensor &x, int64_t t) {
    Tensor s(x.dtype, sliceShape);
    for (int64_t o = 0; o < outer; ++o)
      std::copy_n(x.data.begin() + (o * L + t) * inner, inner,
                  s.data.begin() + o * inner);
    return std::make_shared<const Tensor>(std::move(s));
  };
  std::vector<Tensor> outs;
  for (size_t i = 0; i < N; ++i)
    outs.emplace_back(a.combined[i]->type.dtype, shape);
  auto put = [&](Tensor &x, int64_t t, const Tensor &s) {
    for (int64_t o = 0; o < outer; ++o)
      std::copy_n(s.data.begin() + o * inner, inner,
                  x.data.begin() + (o * L + t) * inner);
  };
  std::vector<TensorRef> acc;
  for (int64_t k = 0; k < L; ++k) {
    int64_t t = a.reverse ? L - 1 - k : k;
    std::vector<TensorRef> cur;
    for (size_t i = 0; i < N; ++i)
      cur.push_back(take(*xs[i], t));
    if (k == 0) {
      acc = cur;
    } else {
      Frame step;
      step.parent = f;
      step.region = n;
      step.args = acc;
      step.args.insert(step.args.end(), cur.begin(), cur.end());
      std::vector<TensorRef> next;
      for (const Node *c : a.combined) {
        TensorRef v = eval(c, &step);
        if (!v)
          return false;
        if (v->shape != sliceShape)
          return fail(c, "internal error: the combiner gives " +
                             v->typeString() + ", expected " +
                             shapeString(sliceShape));
        next.push_back(v);
      }
      acc = std::move(next);
    }
    for (size_t i = 0; i < N; ++i)
      put(outs[i], t, *acc[i]);
  }
  for (Tensor &t : outs)
    results.push_back(std::make_shared<const Tensor>(std::move(t)));
  return true;
}

char ModelError::ID = 0;

void ModelError::log(llvm::raw_ostream &os) const {
  os << msg << " (at line " << loc.line << ":" << loc.col << ")";
}

std::string seqc::formatRunError(llvm::Error e, const std::string &source) {
  std::string out;
  llvm::handleAllErrors(
      std::move(e),
      [&](const ModelError &m) {
        out = source + ":" + std::to_string(m.loc.line) + ":" +
              std::to_string(m.loc.col) + ": error: " + m.msg;
      },
      [&](const llvm::ErrorInfoBase &other) {
        out = "seqc: error: " + other.message();
      });
  return out;
}

llvm::Expected<std::vector<Tensor>>
seqc::evaluate(const Program &p, const Entry &e,
               const std::vector<Tensor> &inputs, const TensorMap &weights,
               const DimMap &given) {
  if (inputs.size() != e.inputs.size())
    return makeError("entry '" + e.name + "' takes " +
                     llvm::Twine(e.inputs.size()) + " inputs, got " +
                     llvm::Twine(inputs.size()));
  std::vector<const Tensor *> ptrs;
  for (const Tensor &t : inputs)
    ptrs.push_back(&t);
  auto dims = bindDims(e, ptrs, given);
  if (!dims)
    return dims.takeError();
  for (const std::string &sym : e.dimSymbols)
    if (!dims->count(sym))
      return makeError("runtime dim '" + sym + "' is not known");

  Evaluator ev(inputs, weights, *dims);
  Frame top;
  std::vector<Tensor> results;
  for (const Node *r : e.results) {
    TensorRef v = ev.eval(r, &top);
    if (!v) {
      if (ev.errorLoc.valid())
        return llvm::make_error<ModelError>(ev.errorLoc, ev.error);
      return makeError(ev.error);
    }
    results.push_back(*v);
  }
  return std::move(results);
}
