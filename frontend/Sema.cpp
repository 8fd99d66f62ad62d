//===- Sema.cpp - Checking and elaboration of model files ----------------===//
//
// Walks the AST of a module and builds the typed graph (TypedIR.h) of each
// entry of its model. Elaboration is by abstract evaluation: expressions
// evaluate to Values (a graph node, a compile-time number, a layer instance,
// a tuple ...); user functions are evaluated at each call with their
// arguments, which inlines them and binds their generic dims; `for` loops
// run at compile time. Every shape rule of docs/language.md is checked here,
// so the interpreter and MLIRGen never see an ill-typed graph.
//
// Errors are reported once, where they arise; the failing expression then
// evaluates to an Invalid value that every caller passes on silently, so one
// mistake gives one message.
//
//===----------------------------------------------------------------------===//

#include "Sema.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <sstream>

using namespace seqc;

namespace {

constexpr size_t kMaxNodes = 1u << 21;  // elaboration size guard
constexpr int64_t kMaxUnroll = 4096;    // `for` iterations
constexpr int kMaxCallDepth = 64;

struct LayerInst;

/// What an expression evaluates to during elaboration.
struct Value {
  enum Kind {
    Invalid,    // an error was already reported
    Tensor,     // a graph node
    Number,     // a compile-time (weak) number: literals, consts
    Bool,       // a compile-time boolean
    DTypeV,     // an element type: `bf16`
    String,     // "bhtk,bhsk->bhts"
    Tuple,      // results of split, tuple-returning fns, (a, b)
    Layer,      // a layer instance: `attn`
    LayerArray, // an array of instances: `blocks`
  };
  Kind kind = Invalid;
  Node *node = nullptr;
  double num = 0;
  int64_t inum = 0;
  bool isInt = false;
  bool b = false;
  DType dtype = DType::F32;
  std::string str;
  std::vector<Value> elems;
  LayerInst *layer = nullptr;
  const std::vector<std::unique_ptr<LayerInst>> *array = nullptr;

  static Value tensor(Node *n) {
    Value v;
    v.kind = n ? Tensor : Invalid;
    v.node = n;
    return v;
  }
  static Value integer(int64_t i) {
    Value v;
    v.kind = Number;
    v.isInt = true;
    v.inum = i;
    v.num = (double)i;
    return v;
  }
  static Value real(double d) {
    Value v;
    v.kind = Number;
    v.num = d;
    return v;
  }
  static Value boolean(bool b) {
    Value v;
    v.kind = Bool;
    v.b = b;
    return v;
  }
  bool ok() const { return kind != Invalid; }
};

/// One instance of a layer (or the model): where its weights are named.
struct LayerInst {
  const LayerDecl *decl = nullptr;
  std::string prefix; // "blocks.0.attn." ("" for the model)
  std::map<std::string, std::unique_ptr<LayerInst>> subs;
  std::map<std::string, std::vector<std::unique_ptr<LayerInst>>> arrays;
  std::map<std::string, Value> consts;
  std::map<std::string, Type> paramTypes;
};

/// A lexical scope: a function body or a scan body.
struct Scope {
  std::map<std::string, Value> vars;
  Scope *parent = nullptr;    // enclosing scope within the same function
};

/// The function being elaborated.
struct FnContext {
  LayerInst *self = nullptr;          // null for file-level functions
  std::map<std::string, Dim> dims;    // generic dims bound at this call
  Scope *scope = nullptr;             // innermost scope
  std::vector<Value> *results = nullptr;
  bool returned = false;
  const FnDecl *fn = nullptr;
};

/// Reference to one call argument: an expression, or a value already
/// evaluated (the receiver of a method call).
struct ArgRef {
  const Expr *expr = nullptr;
  Value pre;
  bool hasPre = false;
  Loc loc;
};

struct CallArgs {
  std::vector<ArgRef> pos;
  std::map<std::string, ArgRef> kw;
  Loc loc;
};

class Sema {
public:
  Sema(const Module &m, DiagEngine &diags) : mod(m), diags(diags) {}
  std::unique_ptr<Program> run();

private:
  const Module &mod;
  DiagEngine &diags;
  std::unique_ptr<Program> prog;

  std::set<std::string> dimNames;
  std::map<std::string, Value> fileConsts;
  std::map<std::string, const FnDecl *> fileFns;
  std::map<std::string, const LayerDecl *> layers;
  std::unique_ptr<LayerInst> root;
  std::map<std::string, Node *> weightNodes;

  FnContext *ctx = nullptr;
  Node *region = nullptr; // the scan / assoc_scan body being built
  std::vector<const FnDecl *> callStack;
  bool aborted = false;

  // Declarations.
  bool collectDecls();
  std::unique_ptr<LayerInst> instantiate(const LayerDecl &decl,
                                         const std::string &prefix, Loc use,
                                         std::vector<const LayerDecl *> &stack);
  void elaborateEntry(const FnDecl &fn);

  // Errors.
  Value fail(Loc loc, const std::string &msg) {
    diags.error(loc, msg);
    return Value();
  }

  // Node creation.
  Node *make(NodeKind k, Type t, Loc loc, std::vector<Node *> ops = {});
  Node *constant(double v, DType dt, Loc loc, Shape shape = {});

  // Sizes and types.
  std::optional<Dim> evalDim(const Expr &e);
  std::optional<Dim> lookupDimName(const std::string &name, Loc loc,
                                   bool report);
  std::optional<Type> evalType(const TypeExpr &t);
  std::optional<int64_t> evalConstInt(const Expr &e, const char *what);

  // Expressions.
  Value eval(const Expr &e);
  Value evalArg(const ArgRef &a) { return a.hasPre ? a.pre : eval(*a.expr); }
  Value lookup(const std::string &name, Loc loc);
  Value evalUnary(const UnaryExpr &e);
  Value evalBinary(const BinaryExpr &e);
  Value binary(BinaryFn fn, Value a, Value b, Loc loc,
               const Expr *lhsExpr = nullptr, const Expr *rhsExpr = nullptr);
  Value matmul(Value a, Value b, Loc loc, const Expr *lhsExpr,
               const Expr *rhsExpr);
  Value unary(UnaryFn fn, Value a, Loc loc);
  Value evalIndex(const IndexExpr &e);
  Value indexTensor(Value base, const std::vector<IndexItem> &items, Loc loc);
  Value member(Value base, const std::string &name, Loc loc);
  Value callNamed(const std::string &name, CallArgs &args, Loc loc,
                  LayerInst *self);
  Value callFn(const FnDecl &fn, LayerInst *self, CallArgs &args, Loc loc);
  /// Checks what `fn` returned against its declared results (when it
  /// declares them). A number becomes a scalar of the declared type; an
  /// entry must return tensors.
  bool checkResults(const FnDecl &fn, std::vector<Value> &results,
                    bool isEntry);
  Value callBuiltin(const std::string &name, CallArgs &args, Loc loc,
                    bool &found);
  CallArgs makeArgs(const std::vector<Arg> &args, Loc loc);

  // Helpers for builtins.
  Node *asTensor(const Value &v, Loc loc, const char *what);
  Node *toTensor(const Value &v, DType dt, Loc loc);
  std::optional<Shape> broadcast(const Shape &a, const Shape &b, Loc loc,
                                 const Type &ta, const Type &tb);
  std::optional<int64_t> normAxis(int64_t axis, int64_t rank, Loc loc);
  std::optional<std::vector<int64_t>> axesArg(const ArgRef *a, int64_t rank);
  std::optional<Shape> shapeArg(const ArgRef &a);
  Value reduce(ReduceFn fn, CallArgs &args, Loc loc);
  Value permute(Node *x, std::vector<int64_t> perm, Loc loc);
  Value reshape(Node *x, const Shape &shape, Loc loc);
  Value softmax(Node *x, int64_t axis, Loc loc);
  Value einsum(const std::string &spec, std::vector<Node *> ops, Loc loc);
  Value attention(CallArgs &args, Loc loc);
  Value assocScan(CallArgs &args, Loc loc);

  // Statements.
  void execBlock(const Block &b);
  void exec(const Stmt &s);
  void assign(const std::string &name, Value v, Loc loc);
  void execScan(const ScanStmt &s);
  void execScanImpl(const ScanStmt &s);
  struct ScanState;
  ScanState *scanState = nullptr;
};

struct Sema::ScanState {
  Node *scan;
  Scope *scope;
  std::map<std::string, std::pair<Node *, Loc>> outputs; // name -> value
  std::vector<std::string> outputOrder;
  std::map<std::string, int64_t> outputAxes;
};

//===----------------------------------------------------------------------===//
// Small helpers
//===----------------------------------------------------------------------===//

static std::string typeName(const Value &v) {
  switch (v.kind) {
  case Value::Invalid: return "an invalid value";
  case Value::Tensor: return v.node->type.str();
  case Value::Number: return v.isInt ? "an integer" : "a number";
  case Value::Bool: return "a boolean";
  case Value::DTypeV: return "an element type";
  case Value::String: return "a string";
  case Value::Tuple: return "a tuple of " + std::to_string(v.elems.size());
  case Value::Layer: return "a layer";
  case Value::LayerArray: return "a layer array";
  }
  return "?";
}

/// How an operand is called in messages: its name if it is an identifier.
static std::string operandName(const Expr *e, const char *fallback) {
  if (e && e->kind == Expr::Ident)
    return static_cast<const IdentExpr *>(e)->name;
  return fallback;
}

Node *Sema::make(NodeKind k, Type t, Loc loc, std::vector<Node *> ops) {
  if (prog->nodes().size() >= kMaxNodes) {
    if (!aborted)
      diags.error(loc, "model too large: elaboration made more than " +
                           std::to_string(kMaxNodes) + " nodes");
    aborted = true;
    return nullptr;
  }
  Node *n = prog->create(k, std::move(t), loc, std::move(ops));
  n->region = region;
  return n;
}

Node *Sema::constant(double v, DType dt, Loc loc, Shape shape) {
  Node *n = make(NodeKind::Constant, Type{dt, std::move(shape)}, loc);
  if (!n)
    return nullptr;
  if (isInt(dt))
    n->ival = (int64_t)v;
  n->fval = dt == DType::Bool ? (v != 0) : v;
  return n;
}

//===----------------------------------------------------------------------===//
// Declarations
//===----------------------------------------------------------------------===//

bool Sema::collectDecls() {
  std::map<std::string, Loc> seen;
  auto declare = [&](const std::string &name, Loc loc, const char *what) {
    auto [it, inserted] = seen.emplace(name, loc);
    if (!inserted) {
      diags.error(loc, std::string("redefinition of ") + what + " '" + name +
                           "'");
      diags.note(it->second, "'" + name + "' was first declared here");
      return false;
    }
    return true;
  };
  for (const auto &[name, loc] : mod.dims)
    if (declare(name, loc, "dim")) {
      dimNames.insert(name);
      prog->dimNames.push_back(name);
    }
  for (const ConstDecl &c : mod.consts) {
    if (!declare(c.name, c.loc, "const"))
      continue;
    Value v = eval(*c.value);
    if (v.ok() && v.kind != Value::Number && v.kind != Value::Bool) {
      diags.error(c.value->loc, "const '" + c.name +
                                    "' must be a compile-time number, found " +
                                    typeName(v));
      continue;
    }
    if (v.ok())
      fileConsts[c.name] = v;
  }
  for (const auto &f : mod.fns)
    if (declare(f->name, f->loc, "function"))
      fileFns[f->name] = f.get();
  const LayerDecl *model = nullptr;
  for (const auto &l : mod.layers) {
    if (!declare(l->name, l->loc, l->isModel ? "model" : "layer"))
      continue;
    layers[l->name] = l.get();
    if (l->isModel) {
      if (model) {
        diags.error(l->loc, "a file holds one model; found a second, '" +
                                l->name + "'");
        diags.note(model->loc, "the first model is '" + model->name + "'");
        continue;
      }
      model = l.get();
    }
  }
  // Every sub-layer names a layer, instantiated or not.
  for (const auto &l : mod.layers)
    for (const SubLayerDecl &s : l->sublayers) {
      auto it = layers.find(s.layerName);
      if (it == layers.end() || it->second->isModel)
        diags.error(s.layerLoc, "unknown layer '" + s.layerName + "'");
    }
  if (!model) {
    diags.error(Loc{1, 1}, "no model in this file: declare `model Name { fn "
                           "forward(...) -> ... { ... } }` to export entry "
                           "points");
    return false;
  }
  prog->modelName = model->name;
  prog->modelLoc = model->loc;
  std::vector<const LayerDecl *> stack;
  root = instantiate(*model, "", model->loc, stack);
  return root != nullptr && !diags.hasErrors();
}

std::unique_ptr<LayerInst>
Sema::instantiate(const LayerDecl &decl, const std::string &prefix, Loc use,
                  std::vector<const LayerDecl *> &stack) {
  if (std::find(stack.begin(), stack.end(), &decl) != stack.end()) {
    diags.error(use, "layer '" + decl.name + "' contains itself");
    return nullptr;
  }
  if (stack.size() > 32) {
    diags.error(use, "layers nest too deeply (more than 32 levels)");
    return nullptr;
  }
  stack.push_back(&decl);
  auto inst = std::make_unique<LayerInst>();
  inst->decl = &decl;
  inst->prefix = prefix;
  // Constants first: params and sub-layer counts may use them.
  FnContext layerCtx;
  layerCtx.self = inst.get();
  FnContext *saved = ctx;
  ctx = &layerCtx;
  std::set<std::string> names;
  auto unique = [&](const std::string &n, Loc loc) {
    if (!names.insert(n).second) {
      diags.error(loc, "redefinition of '" + n + "' in layer '" + decl.name +
                           "'");
      return false;
    }
    return true;
  };
  for (const ConstDecl &c : decl.consts) {
    if (!unique(c.name, c.loc))
      continue;
    Value v = eval(*c.value);
    if (v.ok() && v.kind != Value::Number && v.kind != Value::Bool)
      diags.error(c.value->loc, "const '" + c.name +
                                    "' must be a compile-time number, found " +
                                    typeName(v));
    else if (v.ok())
      inst->consts[c.name] = v;
  }
  for (const Param &p : decl.params) {
    if (!unique(p.name, p.loc))
      continue;
    std::optional<Type> t = evalType(p.type);
    if (!t)
      continue;
    bool constant = true;
    for (const Dim &d : t->shape)
      if (!d.isConstant())
        constant = false;
    if (!constant) {
      diags.error(p.type.loc, "weight '" + prefix + p.name + "' has type " +
                                  t->str() +
                                  "; weights need constant sizes, not "
                                  "runtime dims");
      continue;
    }
    for (const Dim &d : t->shape)
      if (*d.constant() <= 0) {
        diags.error(p.type.loc, "weight '" + prefix + p.name +
                                    "' has a size of " + d.str() +
                                    "; sizes must be positive");
        constant = false;
        break;
      }
    if (!constant)
      continue;
    inst->paramTypes[p.name] = *t;
    prog->weights.push_back({prefix + p.name, *t});
  }
  for (const SubLayerDecl &s : decl.sublayers) {
    if (!unique(s.name, s.loc))
      continue;
    auto it = layers.find(s.layerName);
    if (it == layers.end() || it->second->isModel)
      continue; // reported by collectDecls

    if (!s.count) {
      auto sub = instantiate(*it->second, prefix + s.name + ".", s.loc, stack);
      if (sub)
        inst->subs[s.name] = std::move(sub);
      continue;
    }
    std::optional<int64_t> n = evalConstInt(*s.count, "a layer array size");
    if (!n)
      continue;
    if (*n <= 0 || *n > 1024) {
      diags.error(s.count->loc, "a layer array needs 1 to 1024 instances, "
                                "found " + std::to_string(*n));
      continue;
    }
    auto &arr = inst->arrays[s.name];
    for (int64_t i = 0; i < *n; ++i) {
      auto sub = instantiate(*it->second,
                             prefix + s.name + "." + std::to_string(i) + ".",
                             s.loc, stack);
      if (!sub)
        break;
      arr.push_back(std::move(sub));
    }
  }
  for (const auto &f : decl.fns)
    unique(f->name, f->loc);
  ctx = saved;
  stack.pop_back();
  return inst;
}

std::unique_ptr<Program> Sema::run() {
  prog = std::make_unique<Program>();
  if (!collectDecls())
    return nullptr;
  const LayerDecl *model = root->decl;
  if (model->fns.empty()) {
    diags.error(model->loc, "model '" + model->name +
                                "' exports no function: add `fn forward(...)`");
    return nullptr;
  }
  for (const auto &fn : model->fns) {
    elaborateEntry(*fn);
    if (aborted)
      break;
  }
  if (diags.hasErrors())
    return nullptr;
  return std::move(prog);
}

void Sema::elaborateEntry(const FnDecl &fn) {
  FnContext fc;
  fc.self = root.get();
  fc.fn = &fn;
  Scope scope;
  fc.scope = &scope;
  std::vector<Value> results;
  fc.results = &results;
  ctx = &fc;
  callStack = {&fn};

  Entry entry;
  entry.name = fn.name;
  entry.loc = fn.loc;
  // Generic names in an entry's signature are runtime dims of that entry.
  for (const Param &p : fn.params)
    for (const ExprPtr &d : p.type.dims)
      if (d->kind == Expr::Ident) {
        const std::string &n = static_cast<const IdentExpr &>(*d).name;
        if (!lookupDimName(n, d->loc, /*report=*/false))
          fc.dims[n] = Dim::symbol(n);
      }
  std::set<std::string> symbols, alone;
  bool ok = true;
  for (size_t i = 0; i < fn.params.size(); ++i) {
    const Param &p = fn.params[i];
    if (scope.vars.count(p.name)) {
      diags.error(p.loc, "duplicate argument '" + p.name + "'");
      ok = false;
      continue;
    }
    std::optional<Type> t = evalType(p.type);
    if (!t) {
      ok = false;
      continue;
    }
    Node *in = make(NodeKind::Input, *t, p.loc);
    if (!in)
      return;
    in->name = p.name;
    in->ints = {(int64_t)i};
    entry.inputs.push_back(in);
    scope.vars[p.name] = Value::tensor(in);
    for (const Dim &d : t->shape) {
      for (const std::string &s : d.symbols())
        symbols.insert(s);
      if (auto s = d.asSymbol())
        alone.insert(*s);
    }
  }
  for (const std::string &s : symbols) {
    if (!alone.count(s)) {
      diags.error(fn.loc, "runtime dim '" + s + "' of entry '" + fn.name +
                              "' cannot be known from its inputs: give some "
                              "input a dimension that is exactly '" + s + "'");
      ok = false;
    }
    entry.dimSymbols.push_back(s);
  }
  if (!ok)
    return;
  unsigned before = diags.numErrors();
  execBlock(fn.body);
  if (diags.numErrors() != before || aborted)
    return;
  if (!fc.returned || results.empty()) {
    diags.error(fn.loc, "entry '" + fn.name + "' must return a value");
    return;
  }
  if (!checkResults(fn, results, /*isEntry=*/true))
    return;
  for (size_t i = 0; i < results.size(); ++i) {
    entry.results.push_back(results[i].node);
    entry.resultNames.push_back(results.size() == 1
                                    ? "out"
                                    : "out" + std::to_string(i));
  }
  prog->entries.push_back(std::move(entry));
}

//===----------------------------------------------------------------------===//
// Sizes and types
//===----------------------------------------------------------------------===//

std::optional<Dim> Sema::lookupDimName(const std::string &name, Loc loc,
                                       bool report) {
  if (ctx) {
    // Compile-time integers in scope: `for` variables, integer locals.
    for (Scope *s = ctx->scope; s; s = s->parent) {
      auto v = s->vars.find(name);
      if (v == s->vars.end())
        continue;
      if (v->second.kind == Value::Number && v->second.isInt)
        return Dim(v->second.inum);
      if (report)
        diags.error(loc, "'" + name + "' is used as a size but is " +
                             typeName(v->second) +
                             ", not a compile-time integer");
      return std::nullopt;
    }
    auto it = ctx->dims.find(name);
    if (it != ctx->dims.end())
      return it->second;
    if (ctx->self) {
      auto c = ctx->self->consts.find(name);
      if (c != ctx->self->consts.end()) {
        if (c->second.kind == Value::Number && c->second.isInt)
          return Dim(c->second.inum);
        if (report)
          diags.error(loc, "'" + name + "' is used as a size but is " +
                               typeName(c->second) + ", not an integer");
        return std::nullopt;
      }
    }
  }
  if (dimNames.count(name))
    return Dim::symbol(name);
  auto c = fileConsts.find(name);
  if (c != fileConsts.end()) {
    if (c->second.kind == Value::Number && c->second.isInt)
      return Dim(c->second.inum);
    if (report)
      diags.error(loc, "'" + name + "' is used as a size but is " +
                           typeName(c->second) + ", not an integer");
    return std::nullopt;
  }
  if (report)
    diags.error(loc, "unknown size '" + name +
                         "': expected a dim, a const or a generic dimension "
                         "of the function's signature");
  return std::nullopt;
}

std::optional<Dim> Sema::evalDim(const Expr &e) {
  switch (e.kind) {
  case Expr::IntLit:
    return Dim(static_cast<const IntLitExpr &>(e).value);
  case Expr::Ident:
    return lookupDimName(static_cast<const IdentExpr &>(e).name, e.loc, true);
  case Expr::Unary: {
    const auto &u = static_cast<const UnaryExpr &>(e);
    if (u.op != UnaryOp::Neg)
      break;
    auto d = evalDim(*u.operand);
    if (!d)
      return std::nullopt;
    return Dim(0) - *d;
  }
  case Expr::Binary: {
    const auto &b = static_cast<const BinaryExpr &>(e);
    if (b.op != BinaryOp::Add && b.op != BinaryOp::Sub &&
        b.op != BinaryOp::Mul && b.op != BinaryOp::Div)
      break;
    auto l = evalDim(*b.lhs);
    auto r = evalDim(*b.rhs);
    if (!l || !r)
      return std::nullopt;
    switch (b.op) {
    case BinaryOp::Add: return *l + *r;
    case BinaryOp::Sub: return *l - *r;
    case BinaryOp::Mul: return *l * *r;
    default: break;
    }
    if (r->constant() && *r->constant() == 0) {
      diags.error(e.loc, "division by zero in a size");
      return std::nullopt;
    }
    auto q = l->divide(*r);
    if (!q)
      diags.error(e.loc, "size " + l->str() + " / " + r->str() +
                             " is not exact: sizes must divide evenly");
    return q;
  }
  default:
    break;
  }
  diags.error(e.loc, "expected a size: dims, consts and integers with "
                     "+ - * /");
  return std::nullopt;
}

std::optional<int64_t> Sema::evalConstInt(const Expr &e, const char *what) {
  Value v = eval(e);
  if (!v.ok())
    return std::nullopt;
  if (v.kind == Value::Number && v.isInt)
    return v.inum;
  diags.error(e.loc, std::string("expected a compile-time integer for ") +
                         what + ", found " + typeName(v));
  return std::nullopt;
}

std::optional<Type> Sema::evalType(const TypeExpr &te) {
  Type t;
  t.dtype = te.dtype;
  bool ok = true;
  for (const ExprPtr &d : te.dims) {
    std::optional<Dim> dim = evalDim(*d);
    if (!dim) {
      ok = false;
      continue;
    }
    if (auto c = dim->constant(); c && *c <= 0) {
      diags.error(d->loc, "a dimension must be positive, found " +
                              std::to_string(*c));
      ok = false;
    }
    t.shape.push_back(*dim);
  }
  if (!ok)
    return std::nullopt;
  return t;
}

//===----------------------------------------------------------------------===//
// Expressions
//===----------------------------------------------------------------------===//

Value Sema::lookup(const std::string &name, Loc loc) {
  if (ctx) {
    for (Scope *s = ctx->scope; s; s = s->parent) {
      auto it = s->vars.find(name);
      if (it != s->vars.end())
        return it->second;
    }
    if (LayerInst *self = ctx->self) {
      if (self->paramTypes.count(name)) {
        std::string full = self->prefix + name;
        auto it = weightNodes.find(full);
        if (it != weightNodes.end())
          return Value::tensor(it->second);
        Node *saved = region;
        region = nullptr; // weights belong to no body
        Node *w = make(NodeKind::Weight, self->paramTypes[name], loc);
        region = saved;
        if (!w)
          return Value();
        w->name = full;
        weightNodes[full] = w;
        return Value::tensor(w);
      }
      if (auto it = self->subs.find(name); it != self->subs.end()) {
        Value v;
        v.kind = Value::Layer;
        v.layer = it->second.get();
        return v;
      }
      if (auto it = self->arrays.find(name); it != self->arrays.end()) {
        Value v;
        v.kind = Value::LayerArray;
        v.array = &it->second;
        return v;
      }
      if (auto it = self->consts.find(name); it != self->consts.end())
        return it->second;
      for (const auto &f : self->decl->fns)
        if (f->name == name)
          return fail(loc, "'" + name + "' is a function: call it, as in `" +
                               name + "(...)`");
    }
    if (auto it = ctx->dims.find(name); it != ctx->dims.end()) {
      if (auto c = it->second.constant())
        return Value::integer(*c);
      return fail(loc, "'" + name + "' is a runtime size (" +
                           it->second.str() +
                           "), not a value: use arange(" + name +
                           ") or a const");
    }
  }
  if (auto it = fileConsts.find(name); it != fileConsts.end())
    return it->second;
  if (dimNames.count(name))
    return fail(loc, "'" + name + "' is a runtime dim, not a value: use "
                                  "arange(" + name + ") or a const");
  if (fileFns.count(name))
    return fail(loc, "'" + name + "' is a function: call it, as in `" + name +
                         "(...)`");
  if (layers.count(name))
    return fail(loc, "'" + name + "' is a layer type; declare an instance "
                                  "with `layer x: " + name + "`");
  return fail(loc, "unknown name '" + name + "'");
}

Value Sema::eval(const Expr &e) {
  if (aborted)
    return Value();
  switch (e.kind) {
  case Expr::IntLit:
    return Value::integer(static_cast<const IntLitExpr &>(e).value);
  case Expr::FloatLit:
    return Value::real(static_cast<const FloatLitExpr &>(e).value);
  case Expr::BoolLit:
    return Value::boolean(static_cast<const BoolLitExpr &>(e).value);
  case Expr::InfLit:
    return Value::real(std::numeric_limits<double>::infinity());
  case Expr::StringLit: {
    Value v;
    v.kind = Value::String;
    v.str = static_cast<const StringLitExpr &>(e).value;
    return v;
  }
  case Expr::NoneLit:
    return fail(e.loc, "'None' is only allowed inside an index, as in "
                       "`x[:, None]`");
  case Expr::DTypeLit: {
    Value v;
    v.kind = Value::DTypeV;
    v.dtype = static_cast<const DTypeLitExpr &>(e).dtype;
    return v;
  }
  case Expr::Ident:
    return lookup(static_cast<const IdentExpr &>(e).name, e.loc);
  case Expr::Unary:
    return evalUnary(static_cast<const UnaryExpr &>(e));
  case Expr::Binary:
    return evalBinary(static_cast<const BinaryExpr &>(e));
  case Expr::Call: {
    const auto &c = static_cast<const CallExpr &>(e);
    CallArgs args = makeArgs(c.args, c.loc);
    return callNamed(c.callee, args, c.loc, ctx ? ctx->self : nullptr);
  }
  case Expr::Member: {
    const auto &m = static_cast<const MemberExpr &>(e);
    Value base = eval(*m.base);
    if (!base.ok())
      return base;
    return member(base, m.name, m.loc);
  }
  case Expr::MethodCall: {
    const auto &m = static_cast<const MethodCallExpr &>(e);
    Value base = eval(*m.base);
    if (!base.ok())
      return base;
    CallArgs args = makeArgs(m.args, m.loc);
    if (base.kind == Value::Layer)
      return callNamed(m.name, args, m.loc, base.layer);
    if (base.kind != Value::Tensor && base.kind != Value::Number)
      return fail(m.loc, "cannot call '." + m.name + "(...)' on " +
                             typeName(base));
    ArgRef self;
    self.pre = base;
    self.hasPre = true;
    self.loc = m.base->loc;
    args.pos.insert(args.pos.begin(), self);
    bool found = false;
    Value r = callBuiltin(m.name, args, m.loc, found);
    if (!found)
      return fail(m.loc, "no method '" + m.name + "' on a tensor: `x.f(...)` "
                         "calls builtin f with x first");
    return r;
  }
  case Expr::Index:
    return evalIndex(static_cast<const IndexExpr &>(e));
  case Expr::List:
    return fail(e.loc, "a list is only allowed as an argument (a shape, or "
                       "the operands of concat)");
  case Expr::Tuple: {
    Value v;
    v.kind = Value::Tuple;
    for (const ExprPtr &el : static_cast<const TupleExpr &>(e).elements) {
      Value x = eval(*el);
      if (!x.ok())
        return x;
      v.elems.push_back(x);
    }
    return v;
  }
  }
  return fail(e.loc, "unsupported expression");
}

CallArgs Sema::makeArgs(const std::vector<Arg> &args, Loc loc) {
  CallArgs out;
  out.loc = loc;
  for (const Arg &a : args) {
    ArgRef r;
    r.expr = a.value.get();
    r.loc = a.value ? a.value->loc : a.loc;
    if (a.name.empty()) {
      if (!out.kw.empty())
        diags.error(r.loc, "a positional argument cannot follow a keyword "
                           "argument");
      out.pos.push_back(r);
    } else if (!out.kw.emplace(a.name, r).second) {
      diags.error(a.loc, "keyword argument '" + a.name + "' given twice");
    }
  }
  return out;
}

Value Sema::member(Value base, const std::string &name, Loc loc) {
  if (base.kind == Value::Layer) {
    FnContext tmp;
    tmp.self = base.layer;
    FnContext *saved = ctx;
    ctx = &tmp;
    // Only members, not the caller's locals: lookup with an empty scope.
    Value v;
    if (base.layer->paramTypes.count(name) || base.layer->subs.count(name) ||
        base.layer->arrays.count(name) || base.layer->consts.count(name))
      v = lookup(name, loc);
    else if (std::any_of(base.layer->decl->fns.begin(),
                         base.layer->decl->fns.end(),
                         [&](const auto &f) { return f->name == name; }))
      v = fail(loc, "'" + name + "' is a function of layer '" +
                        base.layer->decl->name + "': call it, as in `." +
                        name + "(...)`");
    else
      v = fail(loc, "layer '" + base.layer->decl->name + "' has no member '" +
                        name + "'");
    ctx = saved;
    return v;
  }
  if (base.kind == Value::Tensor && name == "T") {
    Node *x = base.node;
    int64_t r = x->type.rank();
    if (r < 2)
      return fail(loc, "`.T` swaps the last two axes and needs rank >= 2, "
                       "found " + x->type.str());
    std::vector<int64_t> perm(r);
    for (int64_t i = 0; i < r; ++i)
      perm[i] = i;
    std::swap(perm[r - 1], perm[r - 2]);
    return permute(x, perm, loc);
  }
  if (base.kind == Value::Tuple)
    return fail(loc, "a tuple has no member '" + name + "'; destructure it: "
                     "`a, b = ...`");
  return fail(loc, "no member '" + name + "' on " + typeName(base));
}

//===----------------------------------------------------------------------===//
// Elementwise arithmetic
//===----------------------------------------------------------------------===//

Node *Sema::toTensor(const Value &v, DType dt, Loc loc) {
  if (v.kind == Value::Tensor)
    return v.node;
  if (v.kind == Value::Bool)
    return constant(v.b ? 1 : 0, DType::Bool, loc);
  if (v.kind == Value::Number)
    return constant(v.isInt && isInt(dt) ? (double)v.inum : v.num, dt, loc);
  return nullptr;
}

Node *Sema::asTensor(const Value &v, Loc loc, const char *what) {
  if (v.kind == Value::Tensor)
    return v.node;
  if (!v.ok())
    return nullptr;
  if (v.kind == Value::Number)
    return constant(v.num, v.isInt ? DType::I64 : DType::F32, loc);
  if (v.kind == Value::Bool)
    return constant(v.b, DType::Bool, loc);
  diags.error(loc, std::string("expected a tensor for ") + what + ", found " +
                       typeName(v));
  return nullptr;
}

std::optional<Shape> Sema::broadcast(const Shape &a, const Shape &b, Loc loc,
                                     const Type &ta, const Type &tb) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = n; i-- > 0;) {
    const Dim *da = i < n - a.size() ? nullptr : &a[i - (n - a.size())];
    const Dim *db = i < n - b.size() ? nullptr : &b[i - (n - b.size())];
    if (!da || (db && *da == Dim(1)))
      out[i] = *db;
    else if (!db || *db == Dim(1) || *da == *db)
      out[i] = *da;
    else {
      diags.error(loc, "cannot broadcast " + ta.str() + " with " + tb.str() +
                           ": size " + da->str() + " against " + db->str());
      return std::nullopt;
    }
  }
  return out;
}

/// How an elementwise function is written in source, for messages.
static const char *spelling(BinaryFn f) {
  static const char *names[] = {"+",  "-",  "*", "/",  "pow", "max", "min", "==",
                                "!=", "<", "<=", ">", ">=", "&",   "|"};
  return names[(int)f];
}
static const char *spelling(UnaryFn f) {
  return f == UnaryFn::Neg ? "-" : f == UnaryFn::Not ? "!" : unaryFnName(f);
}

static bool isComparison(BinaryFn f) {
  return f >= BinaryFn::Eq && f <= BinaryFn::Ge;
}

static std::optional<double> foldBinary(BinaryFn fn, double a, double b) {
  switch (fn) {
  case BinaryFn::Add: return a + b;
  case BinaryFn::Sub: return a - b;
  case BinaryFn::Mul: return a * b;
  case BinaryFn::Div: return a / b;
  case BinaryFn::Pow: return std::pow(a, b);
  case BinaryFn::Max: return std::max(a, b);
  case BinaryFn::Min: return std::min(a, b);
  default: return std::nullopt;
  }
}

Value Sema::binary(BinaryFn fn, Value a, Value b, Loc loc, const Expr *le,
                   const Expr *re) {
  if (!a.ok() || !b.ok())
    return Value();
  const char *opName = spelling(fn);
  bool logical = fn == BinaryFn::And || fn == BinaryFn::Or;
  // Compile-time numbers fold.
  if (a.kind == Value::Number && b.kind == Value::Number) {
    if (isComparison(fn)) {
      bool r = false;
      switch (fn) {
      case BinaryFn::Eq: r = a.num == b.num; break;
      case BinaryFn::Ne: r = a.num != b.num; break;
      case BinaryFn::Lt: r = a.num < b.num; break;
      case BinaryFn::Le: r = a.num <= b.num; break;
      case BinaryFn::Gt: r = a.num > b.num; break;
      default: r = a.num >= b.num; break;
      }
      return Value::boolean(r);
    }
    if (logical)
      return fail(loc, std::string("'") + opName + "' needs booleans, found " +
                           "numbers");
    if (a.isInt && b.isInt && fn != BinaryFn::Div && fn != BinaryFn::Pow) {
      int64_t x = a.inum, y = b.inum, r = 0;
      switch (fn) {
      case BinaryFn::Add: r = x + y; break;
      case BinaryFn::Sub: r = x - y; break;
      case BinaryFn::Mul: r = x * y; break;
      case BinaryFn::Max: r = std::max(x, y); break;
      default: r = std::min(x, y); break;
      }
      return Value::integer(r);
    }
    if (a.isInt && b.isInt && fn == BinaryFn::Div && b.inum != 0 &&
        a.inum % b.inum == 0)
      return Value::integer(a.inum / b.inum);
    return Value::real(*foldBinary(fn, a.num, b.num));
  }
  if (a.kind == Value::Bool && b.kind == Value::Bool && logical)
    return Value::boolean(fn == BinaryFn::And ? (a.b && b.b) : (a.b || b.b));
  for (const Value *v : {&a, &b})
    if (v->kind != Value::Tensor && v->kind != Value::Number &&
        v->kind != Value::Bool)
      return fail(loc, std::string("operator '") + opName +
                           "' needs tensors or numbers, found " + typeName(*v));
  // Give a weak operand the other's element type.
  DType dt;
  if (a.kind == Value::Tensor && b.kind == Value::Tensor) {
    dt = a.node->type.dtype;
    if (dt != b.node->type.dtype)
      return fail(loc, std::string("'") + opName + "' mixes " +
                           dtypeName(a.node->type.dtype) + " and " +
                           dtypeName(b.node->type.dtype) +
                           "; convert one with cast(x, " +
                           dtypeName(a.node->type.dtype) + ")");
  } else {
    const Value &t = a.kind == Value::Tensor ? a : b;
    const Value &w = a.kind == Value::Tensor ? b : a;
    if (t.kind != Value::Tensor)
      return fail(loc, std::string("'") + opName + "' on " + typeName(a) +
                           " and " + typeName(b));
    dt = t.node->type.dtype;
    if (w.kind == Value::Bool && dt != DType::Bool)
      return fail(loc, std::string("'") + opName + "' mixes a boolean with " +
                           dtypeName(dt));
    if (w.kind == Value::Number && dt == DType::Bool)
      return fail(loc, std::string("'") + opName + "' mixes a number with " +
                           "bool; use where(c, a, b)");
    if (w.kind == Value::Number && isInt(dt) &&
        (!w.isInt && w.num != std::floor(w.num)))
      return fail(loc, "the number " + std::to_string(w.num) +
                           " cannot take the integer type " + dtypeName(dt) +
                           "; cast the tensor to a float type first");
  }
  if (logical && dt != DType::Bool)
    return fail(loc, std::string("'") + opName + "' needs bool operands, "
                                                 "found " + dtypeName(dt));
  if (!logical && !isComparison(fn) && dt == DType::Bool)
    return fail(loc, std::string("'") + opName +
                         "' needs numbers, found bool; use & | ! or where()");
  if ((fn == BinaryFn::Div || fn == BinaryFn::Pow) && isInt(dt))
    return fail(loc, std::string("'") + opName +
                         "' needs float operands, found " + dtypeName(dt) +
                         "; cast first");
  Node *x = toTensor(a, dt, le ? le->loc : loc);
  Node *y = toTensor(b, dt, re ? re->loc : loc);
  if (!x || !y)
    return Value();
  auto shape = broadcast(x->type.shape, y->type.shape, loc, x->type, y->type);
  if (!shape)
    return Value();
  Type rt{isComparison(fn) ? DType::Bool : dt, *shape};
  Node *n = make(NodeKind::Binary, rt, loc, {x, y});
  if (n)
    n->sub = (int)fn;
  return Value::tensor(n);
}

Value Sema::unary(UnaryFn fn, Value a, Loc loc) {
  if (!a.ok())
    return a;
  if (fn == UnaryFn::Not) {
    if (a.kind == Value::Bool)
      return Value::boolean(!a.b);
    if (a.kind != Value::Tensor || a.node->type.dtype != DType::Bool)
      return fail(loc, "'!' needs a bool operand, found " + typeName(a));
  } else if (a.kind == Value::Number) {
    double x = a.num, r = 0;
    switch (fn) {
    case UnaryFn::Neg:
      if (a.isInt)
        return Value::integer(-a.inum);
      r = -x;
      break;
    case UnaryFn::Exp: r = std::exp(x); break;
    case UnaryFn::Log: r = std::log(x); break;
    case UnaryFn::Sqrt: r = std::sqrt(x); break;
    case UnaryFn::Rsqrt: r = 1 / std::sqrt(x); break;
    case UnaryFn::Tanh: r = std::tanh(x); break;
    case UnaryFn::Sigmoid: r = 1 / (1 + std::exp(-x)); break;
    case UnaryFn::Silu: r = x / (1 + std::exp(-x)); break;
    case UnaryFn::Gelu: r = 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); break;
    case UnaryFn::Softplus: r = std::log1p(std::exp(x)); break;
    case UnaryFn::Relu: r = std::max(x, 0.0); break;
    case UnaryFn::Abs:
      if (a.isInt)
        return Value::integer(a.inum < 0 ? -a.inum : a.inum);
      r = std::fabs(x);
      break;
    case UnaryFn::Sin: r = std::sin(x); break;
    case UnaryFn::Cos: r = std::cos(x); break;
    case UnaryFn::Erf: r = std::erf(x); break;
    default: break;
    }
    return Value::real(r);
  } else if (a.kind != Value::Tensor) {
    return fail(loc, std::string("'") + spelling(fn) +
                         "' needs a tensor or a number, found " + typeName(a));
  } else {
    DType dt = a.node->type.dtype;
    bool intOk = fn == UnaryFn::Neg || fn == UnaryFn::Abs ||
                 fn == UnaryFn::Relu;
    if (dt == DType::Bool)
      return fail(loc, std::string("'") + spelling(fn) +
                           "' needs numbers, found bool");
    if (isInt(dt) && !intOk)
      return fail(loc, std::string("'") + spelling(fn) +
                           "' needs a float operand, found " + dtypeName(dt) +
                           "; cast it first");
  }
  Node *n = make(NodeKind::Unary, a.node->type, loc, {a.node});
  if (n)
    n->sub = (int)fn;
  return Value::tensor(n);
}

Value Sema::evalUnary(const UnaryExpr &e) {
  Value v = eval(*e.operand);
  return unary(e.op == UnaryOp::Neg ? UnaryFn::Neg : UnaryFn::Not, v, e.loc);
}

Value Sema::evalBinary(const BinaryExpr &e) {
  Value a = eval(*e.lhs);
  Value b = eval(*e.rhs);
  if (!a.ok() || !b.ok())
    return Value();
  BinaryFn fn = BinaryFn::Add;
  switch (e.op) {
  case BinaryOp::Add: fn = BinaryFn::Add; break;
  case BinaryOp::Sub: fn = BinaryFn::Sub; break;
  case BinaryOp::Mul: fn = BinaryFn::Mul; break;
  case BinaryOp::Div: fn = BinaryFn::Div; break;
  case BinaryOp::MatMul:
    return matmul(a, b, e.loc, e.lhs.get(), e.rhs.get());
  case BinaryOp::Eq: fn = BinaryFn::Eq; break;
  case BinaryOp::Ne: fn = BinaryFn::Ne; break;
  case BinaryOp::Lt: fn = BinaryFn::Lt; break;
  case BinaryOp::Le: fn = BinaryFn::Le; break;
  case BinaryOp::Gt: fn = BinaryFn::Gt; break;
  case BinaryOp::Ge: fn = BinaryFn::Ge; break;
  case BinaryOp::And: fn = BinaryFn::And; break;
  case BinaryOp::Or: fn = BinaryFn::Or; break;
  }
  return binary(fn, a, b, e.loc, e.lhs.get(), e.rhs.get());
}

Value Sema::matmul(Value a, Value b, Loc loc, const Expr *le,
                   const Expr *re) {
  std::string ln = operandName(le, "the left operand");
  std::string rn = operandName(re, "the right operand");
  if (a.kind != Value::Tensor || b.kind != Value::Tensor)
    return fail(loc, "matmul needs two tensors, found " + typeName(a) +
                         " and " + typeName(b));
  const Type &ta = a.node->type, &tb = b.node->type;
  if (ta.rank() < 2 || tb.rank() < 2)
    return fail(loc, "matmul needs operands of rank >= 2, found " + ta.str() +
                         " @ " + tb.str() + "; use x[None, :] or einsum");
  if (ta.dtype != tb.dtype)
    return fail(loc, std::string("matmul mixes ") + dtypeName(ta.dtype) +
                         " and " + dtypeName(tb.dtype) + "; cast one");
  if (!isFloat(ta.dtype))
    return fail(loc, std::string("matmul needs float operands, found ") +
                         dtypeName(ta.dtype));
  const Dim &k1 = ta.shape.back(), &k2 = tb.shape[tb.rank() - 2];
  if (k1 != k2)
    return fail(loc, "matmul needs " + ln + "'s last dim (" + k1.str() +
                         ") to equal " + rn + "'s " +
                         (tb.rank() == 2 ? "first" : "second-to-last") +
                         " dim (" + k2.str() + ")");
  Shape ba(ta.shape.begin(), ta.shape.end() - 2);
  Shape bb(tb.shape.begin(), tb.shape.end() - 2);
  auto batch = broadcast(ba, bb, loc, ta, tb);
  if (!batch)
    return Value();
  Shape out = *batch;
  out.push_back(ta.shape[ta.rank() - 2]);
  out.push_back(tb.shape.back());
  return Value::tensor(make(NodeKind::MatMul, Type{ta.dtype, out}, loc,
                            {a.node, b.node}));
}

//===----------------------------------------------------------------------===//
// Indexing
//===----------------------------------------------------------------------===//

Value Sema::evalIndex(const IndexExpr &e) {
  Value base = eval(*e.base);
  if (!base.ok())
    return base;
  if (base.kind == Value::LayerArray || base.kind == Value::Tuple) {
    if (e.items.size() != 1 || e.items[0].kind != IndexItem::Value)
      return fail(e.loc, "index " + typeName(base) + " with one integer");
    std::optional<int64_t> i = evalConstInt(*e.items[0].value, "an index");
    if (!i)
      return Value();
    int64_t n = base.kind == Value::Tuple ? (int64_t)base.elems.size()
                                          : (int64_t)base.array->size();
    int64_t k = *i < 0 ? *i + n : *i;
    if (k < 0 || k >= n)
      return fail(e.items[0].loc,
                  "index " + std::to_string(*i) + " is out of range for " +
                      (base.kind == Value::Tuple ? "a tuple" : "a layer array") +
                      " of size " + std::to_string(n));
    if (base.kind == Value::Tuple)
      return base.elems[k];
    Value v;
    v.kind = Value::Layer;
    v.layer = (*base.array)[k].get();
    return v;
  }
  if (base.kind != Value::Tensor)
    return fail(e.loc, "cannot index " + typeName(base));
  return indexTensor(base, e.items, e.loc);
}

Value Sema::indexTensor(Value base, const std::vector<IndexItem> &items,
                        Loc loc) {
  Node *x = base.node;
  const Shape &shape = x->type.shape;
  int64_t rank = x->type.rank();

  // A lone integer tensor of rank >= 1 gathers rows.
  if (items.size() == 1 && items[0].kind == IndexItem::Value) {
    Value idx = eval(*items[0].value);
    if (!idx.ok())
      return idx;
    if (idx.kind == Value::Tensor && idx.node->type.rank() >= 1) {
      if (!isInt(idx.node->type.dtype))
        return fail(items[0].loc, "a tensor index must hold integers (it "
                                  "gathers rows), found " +
                                      idx.node->type.str());
      if (rank < 1)
        return fail(loc, "cannot gather from a scalar");
      Shape out = idx.node->type.shape;
      out.insert(out.end(), shape.begin() + 1, shape.end());
      return Value::tensor(make(NodeKind::Gather, Type{x->type.dtype, out},
                                loc, {x, idx.node}));
    }
  }

  int64_t consumed = 0;
  bool ellipsis = false;
  for (const IndexItem &it : items) {
    if (it.kind == IndexItem::Ellipsis) {
      if (ellipsis)
        return fail(it.loc, "an index may hold one '...'");
      ellipsis = true;
    } else if (it.kind != IndexItem::NewAxis) {
      ++consumed;
    }
  }
  if (consumed > rank)
    return fail(loc, "too many indices: " + std::to_string(consumed) +
                         " for a tensor of rank " + std::to_string(rank) +
                         " (" + x->type.str() + ")");

  // Per source axis: start, size, step, dropped; dynamic indices apart.
  std::vector<Dim> bounds;
  std::vector<int64_t> dropped;
  std::vector<std::pair<int64_t, Node *>> dynamic; // source axis, index
  std::vector<int64_t> newAxes;                     // result positions
  int64_t axis = 0, resultAxis = 0;
  bool trivial = true;
  for (const IndexItem &it : items) {
    if (it.kind == IndexItem::NewAxis) {
      newAxes.push_back(resultAxis++);
      continue;
    }
    if (it.kind == IndexItem::Ellipsis) {
      for (int64_t k = 0; k < rank - consumed; ++k, ++axis, ++resultAxis) {
        bounds.insert(bounds.end(), {Dim(0), shape[axis], Dim(1)});
      }
      continue;
    }
    const Dim &d = shape[axis];
    if (it.kind == IndexItem::Value) {
      Value v = eval(*it.value);
      if (!v.ok())
        return v;
      if (v.kind == Value::Tensor) {
        if (v.node->type.rank() != 0 || !isInt(v.node->type.dtype))
          return fail(it.loc, "an index must be an integer or a scalar "
                              "integer tensor (like the scan step t); a "
                              "tensor of indices gathers only as `x[idx]`, "
                              "found " + v.node->type.str());
        dynamic.push_back({axis, v.node});
        bounds.insert(bounds.end(), {Dim(0), d, Dim(1)});
        ++axis;
        continue;
      }
      if (v.kind != Value::Number || !v.isInt)
        return fail(it.loc, "an index must be an integer, found " +
                                typeName(v));
      int64_t i = v.inum;
      Dim start = i < 0 ? d + Dim(i) : Dim(i);
      if (auto c = d.constant(); c && (i >= *c || i < -*c))
        return fail(it.loc, "index " + std::to_string(i) +
                                " is out of range for a dimension of size " +
                                std::to_string(*c));
      bounds.insert(bounds.end(), {start, Dim(1), Dim(1)});
      dropped.push_back(axis);
      trivial = false;
      ++axis;
      continue;
    }
    // A slice.
    int64_t step = 1;
    if (it.step) {
      std::optional<int64_t> s = evalConstInt(*it.step, "a slice step");
      if (!s)
        return Value();
      if (*s <= 0)
        return fail(it.step->loc, "a slice step must be positive, found " +
                                      std::to_string(*s));
      step = *s;
    }
    auto bound = [&](const ExprPtr &e, Dim dflt) -> std::optional<Dim> {
      if (!e)
        return dflt;
      std::optional<Dim> b = evalDim(*e);
      if (!b)
        return std::nullopt;
      if (auto c = b->constant(); c && *c < 0)
        b = d + *b;
      if (auto c = b->constant(), dc = d.constant(); c && dc)
        b = Dim(std::clamp<int64_t>(*c, 0, *dc));
      return b;
    };
    std::optional<Dim> start = bound(it.start, Dim(0));
    std::optional<Dim> stop = bound(it.stop, d);
    if (!start || !stop)
      return Value();
    Dim len = *stop - *start;
    if (auto c = len.constant(); c && *c <= 0)
      return fail(it.loc, "empty slice: " + start->str() + ":" + stop->str() +
                              " of a dimension of size " + d.str());
    Dim size = len;
    if (step != 1) {
      if (auto c = len.constant())
        size = Dim((*c + step - 1) / step);
      else if (auto q = len.divide(Dim(step)))
        size = *q;
      else
        return fail(it.loc, "a slice with step " + std::to_string(step) +
                                " over the runtime length " + len.str() +
                                " must divide it evenly");
    }
    if (!(*start == Dim(0)) || size != d || step != 1)
      trivial = false;
    bounds.insert(bounds.end(), {*start, size, Dim(step)});
    ++axis;
    ++resultAxis;
  }
  for (; axis < rank; ++axis, ++resultAxis)
    bounds.insert(bounds.end(), {Dim(0), shape[axis], Dim(1)});

  Node *cur = x;
  if (!trivial) {
    Shape out;
    for (int64_t a = 0; a < rank; ++a)
      if (std::find(dropped.begin(), dropped.end(), a) == dropped.end())
        out.push_back(bounds[3 * a + 1]);
    cur = make(NodeKind::Slice, Type{x->type.dtype, out}, loc, {x});
    if (!cur)
      return Value();
    cur->dims = bounds;
    cur->ints = dropped;
  }
  // Dynamic indices, highest axis first so lower axes keep their numbers.
  for (auto it = dynamic.rbegin(); it != dynamic.rend(); ++it) {
    int64_t a = it->first;
    for (int64_t dr : dropped)
      if (dr < it->first)
        --a;
    Shape out = cur->type.shape;
    out.erase(out.begin() + a);
    Node *n = make(NodeKind::DynIndex, Type{x->type.dtype, out}, loc,
                   {cur, it->second});
    if (!n)
      return Value();
    n->ints = {a};
    cur = n;
  }
  if (!newAxes.empty()) {
    Shape out = cur->type.shape;
    for (int64_t p : newAxes)
      out.insert(out.begin() + p, Dim(1));
    Node *n = make(NodeKind::ExpandDims, Type{x->type.dtype, out}, loc, {cur});
    if (!n)
      return Value();
    n->ints = newAxes;
    cur = n;
  }
  return Value::tensor(cur);
}

//===----------------------------------------------------------------------===//
// Calls
//===----------------------------------------------------------------------===//

Value Sema::callNamed(const std::string &name, CallArgs &args, Loc loc,
                      LayerInst *self) {
  // A method of the given layer, then file-level functions, then builtins.
  if (self)
    for (const auto &f : self->decl->fns)
      if (f->name == name)
        return callFn(*f, self, args, loc);
  bool viaLayer = ctx && self != ctx->self;
  if (viaLayer)
    return fail(loc, "layer '" + self->decl->name + "' has no function '" +
                         name + "'");
  if (auto it = fileFns.find(name); it != fileFns.end())
    return callFn(*it->second, nullptr, args, loc);
  bool found = false;
  Value r = callBuiltin(name, args, loc, found);
  if (found)
    return r;
  if (layers.count(name))
    return fail(loc, "'" + name + "' is a layer type, not a function");
  return fail(loc, "unknown function '" + name + "'");
}

Value Sema::callFn(const FnDecl &fn, LayerInst *self, CallArgs &args,
                   Loc loc) {
  if (std::find(callStack.begin(), callStack.end(), &fn) != callStack.end())
    return fail(loc, "recursive call to '" + fn.name +
                         "': functions are inlined, so recursion is not "
                         "allowed");
  if ((int)callStack.size() >= kMaxCallDepth)
    return fail(loc, "calls nest too deeply");
  if (!args.kw.empty())
    return fail(args.kw.begin()->second.loc,
                "'" + fn.name + "' takes positional arguments only");
  if (args.pos.size() != fn.params.size())
    return fail(loc, "'" + fn.name + "' takes " +
                         std::to_string(fn.params.size()) + " argument" +
                         (fn.params.size() == 1 ? "" : "s") + ", found " +
                         std::to_string(args.pos.size()));
  // Evaluate the arguments in the caller's context.
  std::vector<Value> vals;
  for (ArgRef &a : args.pos) {
    Value v = evalArg(a);
    if (!v.ok())
      return v;
    vals.push_back(v);
  }
  FnContext fc;
  fc.self = self;
  fc.fn = &fn;
  Scope scope;
  fc.scope = &scope;
  std::vector<Value> results;
  fc.results = &results;
  FnContext *saved = ctx;
  ctx = &fc;
  // A callee does not see the caller's scan: its `return` and outputs are
  // its own (its nodes still land in the caller's scan body, `region`).
  struct Restore {
    Sema &s;
    FnContext *saved;
    ScanState *savedScan;
    ~Restore() {
      s.ctx = saved;
      s.scanState = savedScan;
      s.callStack.pop_back();
    }
  } restore{*this, saved, scanState};
  scanState = nullptr;
  callStack.push_back(&fn);

  // Bind generic dims: bare names first, then check compound sizes.
  auto isGeneric = [&](const Expr &d) {
    if (d.kind != Expr::Ident)
      return false;
    const std::string &n = static_cast<const IdentExpr &>(d).name;
    return !lookupDimName(n, d.loc, false) || fc.dims.count(n);
  };
  for (size_t i = 0; i < fn.params.size(); ++i) {
    const Param &p = fn.params[i];
    Node *arg = vals[i].kind == Value::Tensor ? vals[i].node : nullptr;
    if (!arg) {
      if (vals[i].kind == Value::Number && p.type.dims.empty()) {
        arg = toTensor(vals[i], p.type.dtype, args.pos[i].loc);
        if (vals[i].kind == Value::Number && !vals[i].isInt &&
            isInt(p.type.dtype))
          return fail(args.pos[i].loc, "argument '" + p.name + "' of '" +
                                           fn.name + "' is an integer; found "
                                           "a float number");
        vals[i] = Value::tensor(arg);
        if (!arg)
          return Value();
      } else {
        return fail(args.pos[i].loc, "argument '" + p.name + "' of '" +
                                         fn.name + "' must be a tensor, found " +
                                         typeName(vals[i]));
      }
    }
    if ((int64_t)p.type.dims.size() != arg->type.rank())
      return fail(args.pos[i].loc,
                  "argument '" + p.name + "' of '" + fn.name + "' has rank " +
                      std::to_string(p.type.dims.size()) + " but " +
                      arg->type.str() + " was passed");
    for (size_t k = 0; k < p.type.dims.size(); ++k) {
      const Expr &d = *p.type.dims[k];
      if (d.kind != Expr::Ident || !isGeneric(d))
        continue;
      const std::string &n = static_cast<const IdentExpr &>(d).name;
      if (!fc.dims.count(n))
        fc.dims[n] = arg->type.shape[k];
    }
  }
  for (size_t i = 0; i < fn.params.size(); ++i) {
    const Param &p = fn.params[i];
    std::optional<Type> t = evalType(p.type);
    if (!t)
      return Value();
    Node *arg = vals[i].node;
    if (t->dtype != arg->type.dtype || t->shape != arg->type.shape)
      return fail(args.pos[i].loc, "argument '" + p.name + "' of '" +
                                       fn.name + "' expects " + t->str() +
                                       ", found " + arg->type.str());
    if (scope.vars.count(p.name))
      return fail(p.loc, "duplicate argument '" + p.name + "'");
    scope.vars[p.name] = vals[i];
  }
  unsigned before = diags.numErrors();
  execBlock(fn.body);
  if (diags.numErrors() != before || aborted)
    return Value();
  if (!fc.returned) {
    if (fn.hasResultArrow)
      return fail(fn.loc, "function '" + fn.name + "' must end in a return");
    return fail(loc, "'" + fn.name + "' returns nothing, so its call has no "
                                     "value");
  }
  if (!checkResults(fn, results, /*isEntry=*/false))
    return Value();
  if (results.size() == 1)
    return results[0];
  Value tup;
  tup.kind = Value::Tuple;
  tup.elems = results;
  return tup;
}

bool Sema::checkResults(const FnDecl &fn, std::vector<Value> &results,
                        bool isEntry) {
  std::string what = (isEntry ? "entry '" : "function '") + fn.name + "'";
  if (fn.hasResultArrow && fn.results.size() != results.size()) {
    diags.error(fn.loc, what + " declares " +
                            std::to_string(fn.results.size()) +
                            " results but returns " +
                            std::to_string(results.size()));
    return false;
  }
  for (size_t i = 0; i < results.size(); ++i) {
    Value &r = results[i];
    if (isEntry && r.kind != Value::Tensor) {
      diags.error(fn.loc, what + " must return tensors, found " + typeName(r));
      return false;
    }
    if (!fn.hasResultArrow)
      continue;
    std::optional<Type> t = evalType(fn.results[i]);
    if (!t)
      return false;
    if (r.kind == Value::Number || r.kind == Value::Bool) {
      if (!t->shape.empty()) {
        diags.error(fn.results[i].loc, what + " returns a number where " +
                                           t->str() + " is declared");
        return false;
      }
      r = Value::tensor(toTensor(r, t->dtype, fn.results[i].loc));
      if (!r.ok())
        return false;
      continue;
    }
    if (r.kind != Value::Tensor || r.node->type != *t) {
      diags.error(fn.results[i].loc, what + " is declared to return " +
                                         t->str() + " but returns " +
                                         typeName(r));
      return false;
    }
  }
  return true;
}

//===----------------------------------------------------------------------===//
// Builtins
//===----------------------------------------------------------------------===//

std::optional<int64_t> Sema::normAxis(int64_t axis, int64_t rank, Loc loc) {
  int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) {
    diags.error(loc, "axis " + std::to_string(axis) +
                         " is out of range for rank " + std::to_string(rank));
    return std::nullopt;
  }
  return a;
}

std::optional<std::vector<int64_t>> Sema::axesArg(const ArgRef *a,
                                                  int64_t rank) {
  std::vector<int64_t> axes;
  if (!a) {
    for (int64_t i = 0; i < rank; ++i)
      axes.push_back(i);
    return axes;
  }
  std::vector<const Expr *> exprs;
  if (!a->hasPre && a->expr->kind == Expr::List)
    for (const ExprPtr &e : static_cast<const ListExpr *>(a->expr)->elements)
      exprs.push_back(e.get());
  else if (!a->hasPre)
    exprs.push_back(a->expr);
  for (const Expr *e : exprs) {
    std::optional<int64_t> v = evalConstInt(*e, "an axis");
    if (!v)
      return std::nullopt;
    std::optional<int64_t> n = normAxis(*v, rank, e->loc);
    if (!n)
      return std::nullopt;
    if (std::find(axes.begin(), axes.end(), *n) != axes.end()) {
      diags.error(e->loc, "axis " + std::to_string(*v) + " is given twice");
      return std::nullopt;
    }
    axes.push_back(*n);
  }
  std::sort(axes.begin(), axes.end());
  return axes;
}

std::optional<Shape> Sema::shapeArg(const ArgRef &a) {
  if (a.hasPre || a.expr->kind != Expr::List) {
    diags.error(a.loc, "expected a shape: a list of sizes such as [B, T, D]");
    return std::nullopt;
  }
  Shape s;
  bool ok = true;
  for (const ExprPtr &e : static_cast<const ListExpr *>(a.expr)->elements) {
    std::optional<Dim> d = evalDim(*e);
    if (!d)
      ok = false;
    else
      s.push_back(*d);
  }
  if (!ok)
    return std::nullopt;
  return s;
}

Value Sema::permute(Node *x, std::vector<int64_t> perm, Loc loc) {
  Shape out;
  for (int64_t p : perm)
    out.push_back(x->type.shape[p]);
  bool identity = true;
  for (size_t i = 0; i < perm.size(); ++i)
    identity &= perm[i] == (int64_t)i;
  if (identity)
    return Value::tensor(x);
  Node *n = make(NodeKind::Permute, Type{x->type.dtype, out}, loc, {x});
  if (n)
    n->ints = perm;
  return Value::tensor(n);
}

static Dim product(const Shape &s) {
  Dim p(1);
  for (const Dim &d : s)
    p = p * d;
  return p;
}

Value Sema::reshape(Node *x, const Shape &shape, Loc loc) {
  Dim total = product(x->type.shape);
  Shape out = shape;
  int infer = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (auto c = out[i].constant(); c && *c == -1) {
      if (infer >= 0)
        return fail(loc, "reshape takes at most one -1");
      infer = (int)i;
    } else if (auto c2 = out[i].constant(); c2 && *c2 <= 0) {
      return fail(loc, "reshape sizes must be positive, found " +
                           std::to_string(*c2));
    }
  }
  if (infer >= 0) {
    Shape rest = out;
    rest.erase(rest.begin() + infer);
    std::optional<Dim> q = total.divide(product(rest));
    if (!q)
      return fail(loc, "cannot infer the -1 of reshape: " + total.str() +
                           " elements do not divide by " +
                           product(rest).str());
    out[infer] = *q;
  }
  if (product(out) != total)
    return fail(loc, "reshape from " + x->type.str() + " to " +
                         shapeStr(out) + " changes the number of elements (" +
                         total.str() + " vs " + product(out).str() + ")");
  if (out == x->type.shape)
    return Value::tensor(x);
  return Value::tensor(
      make(NodeKind::Reshape, Type{x->type.dtype, out}, loc, {x}));
}

Value Sema::softmax(Node *x, int64_t axis, Loc loc) {
  if (!isFloat(x->type.dtype))
    return fail(loc, std::string("softmax needs a float tensor, found ") +
                         x->type.str());
  Node *n = make(NodeKind::Softmax, x->type, loc, {x});
  if (n)
    n->ints = {axis};
  return Value::tensor(n);
}

Value Sema::reduce(ReduceFn fn, CallArgs &args, Loc loc) {
  const char *name = reduceFnName(fn);
  if (args.pos.empty())
    return fail(loc, std::string(name) + " needs a tensor");
  if (args.pos.size() > 3)
    return fail(loc, std::string(name) + " takes (x, axis, keepdim)");
  Value v = evalArg(args.pos[0]);
  Node *x = asTensor(v, args.pos[0].loc, name);
  if (!x)
    return Value();
  const ArgRef *axisArg = args.pos.size() > 1 ? &args.pos[1] : nullptr;
  if (auto it = args.kw.find("axis"); it != args.kw.end()) {
    if (axisArg)
      return fail(it->second.loc, "axis given twice");
    axisArg = &it->second;
  }
  const ArgRef *keepArg = args.pos.size() > 2 ? &args.pos[2] : nullptr;
  if (auto it = args.kw.find("keepdim"); it != args.kw.end())
    keepArg = &it->second;
  for (const auto &[k, a] : args.kw)
    if (k != "axis" && k != "keepdim")
      return fail(a.loc, std::string(name) + " has no argument '" + k +
                             "' (it takes axis and keepdim)");
  bool keep = false;
  if (keepArg) {
    Value kv = evalArg(*keepArg);
    if (!kv.ok())
      return kv;
    if (kv.kind != Value::Bool)
      return fail(keepArg->loc, "keepdim must be true or false");
    keep = kv.b;
  }
  auto axes = axesArg(axisArg, x->type.rank());
  if (!axes)
    return Value();
  if (x->type.dtype == DType::Bool)
    return fail(loc, std::string(name) + " needs numbers, found bool");
  if (fn == ReduceFn::Mean && !isFloat(x->type.dtype))
    return fail(loc, "mean needs a float tensor, found " + x->type.str());
  Shape out;
  for (int64_t i = 0; i < x->type.rank(); ++i) {
    bool reduced = std::find(axes->begin(), axes->end(), i) != axes->end();
    if (!reduced)
      out.push_back(x->type.shape[i]);
    else if (keep)
      out.push_back(Dim(1));
  }
  Node *n = make(NodeKind::Reduce, Type{x->type.dtype, out}, loc, {x});
  if (!n)
    return Value();
  n->sub = (int)fn;
  n->ints = *axes;
  n->ival = keep;
  return Value::tensor(n);
}

Value Sema::einsum(const std::string &spec, std::vector<Node *> ops,
                   Loc loc) {
  size_t arrow = spec.find("->");
  if (arrow == std::string::npos)
    return fail(loc, "einsum needs an explicit output: \"ij,jk->ik\"");
  std::string lhs = spec.substr(0, arrow), out = spec.substr(arrow + 2);
  std::vector<std::string> terms;
  std::string cur;
  for (char c : lhs) {
    if (c == ',') {
      terms.push_back(cur);
      cur.clear();
    } else if (c != ' ') {
      cur += c;
    }
  }
  terms.push_back(cur);
  std::string outClean;
  for (char c : out)
    if (c != ' ')
      outClean += c;
  out = outClean;
  if (terms.size() != ops.size())
    return fail(loc, "einsum \"" + spec + "\" names " +
                         std::to_string(terms.size()) + " operands but " +
                         std::to_string(ops.size()) + " were given");
  std::map<char, Dim> sizes;
  DType dt = ops[0]->type.dtype;
  for (size_t i = 0; i < ops.size(); ++i) {
    const std::string &t = terms[i];
    if ((int64_t)t.size() != ops[i]->type.rank())
      return fail(loc, "einsum operand " + std::to_string(i) + " is " +
                           ops[i]->type.str() + " (rank " +
                           std::to_string(ops[i]->type.rank()) +
                           ") but \"" + t + "\" has " +
                           std::to_string(t.size()) + " letters");
    if (ops[i]->type.dtype != dt)
      return fail(loc, "einsum mixes element types; cast first");
    for (size_t k = 0; k < t.size(); ++k) {
      char c = t[k];
      if (!std::isalpha((unsigned char)c))
        return fail(loc, std::string("einsum takes letters only, found '") +
                             c + "'");
      const Dim &d = ops[i]->type.shape[k];
      auto [it, inserted] = sizes.emplace(c, d);
      if (!inserted && it->second != d)
        return fail(loc, std::string("einsum letter '") + c + "' has size " +
                             it->second.str() + " and " + d.str());
    }
  }
  Shape rs;
  std::set<char> seen;
  for (char c : out) {
    if (!sizes.count(c))
      return fail(loc, std::string("einsum output letter '") + c +
                           "' is in no operand");
    if (!seen.insert(c).second)
      return fail(loc, std::string("einsum output letter '") + c +
                           "' appears twice");
    rs.push_back(sizes[c]);
  }
  if (!isFloat(dt))
    return fail(loc, "einsum needs float operands");
  Node *n = make(NodeKind::Einsum, Type{dt, rs}, loc, ops);
  if (n) {
    std::string canon;
    for (size_t i = 0; i < terms.size(); ++i)
      canon += (i ? "," : "") + terms[i];
    n->name = canon + "->" + out;
  }
  return Value::tensor(n);
}

Value Sema::attention(CallArgs &args, Loc loc) {
  if (args.pos.size() != 3)
    return fail(loc, "attention takes (q, k, v, causal = false, scale = ...)");
  Node *q = asTensor(evalArg(args.pos[0]), args.pos[0].loc, "q");
  Node *k = asTensor(evalArg(args.pos[1]), args.pos[1].loc, "k");
  Node *v = asTensor(evalArg(args.pos[2]), args.pos[2].loc, "v");
  if (!q || !k || !v)
    return Value();
  if (q->type.rank() < 2 || k->type.rank() < 2 || v->type.rank() < 2)
    return fail(loc, "attention needs q, k, v of rank >= 2 ([..., T, d])");
  bool causal = false;
  Value scale;
  for (auto &[name, a] : args.kw) {
    Value x = evalArg(a);
    if (!x.ok())
      return x;
    if (name == "causal") {
      if (x.kind != Value::Bool)
        return fail(a.loc, "causal must be true or false");
      causal = x.b;
    } else if (name == "scale") {
      if (x.kind != Value::Number)
        return fail(a.loc, "scale must be a number");
      scale = x;
    } else {
      return fail(a.loc, "attention has no argument '" + name + "'");
    }
  }
  const Dim &dh = q->type.shape.back();
  if (!scale.ok()) {
    auto c = dh.constant();
    if (!c)
      return fail(loc, "attention needs `scale = ...` when the head size is "
                       "a runtime dim");
    scale = Value::real(1.0 / std::sqrt((double)*c));
  }
  Value kt = member(Value::tensor(k), "T", loc);
  Value s = matmul(Value::tensor(q), kt, loc, nullptr, nullptr);
  s = binary(BinaryFn::Mul, s, scale, loc);
  if (!s.ok())
    return s;
  if (causal) {
    const Shape &ss = s.node->type.shape;
    Dim tq = ss[ss.size() - 2], tk = ss.back();
    Node *qi = make(NodeKind::Arange, Type{DType::I64, {tq}}, loc);
    Node *ki = make(NodeKind::Arange, Type{DType::I64, {tk}}, loc);
    if (!qi || !ki)
      return Value();
    Node *qc = make(NodeKind::ExpandDims, Type{DType::I64, {tq, Dim(1)}}, loc,
                    {qi});
    Node *kr = make(NodeKind::ExpandDims, Type{DType::I64, {Dim(1), tk}}, loc,
                    {ki});
    if (!qc || !kr)
      return Value();
    qc->ints = {1};
    kr->ints = {0};
    Value mask = binary(BinaryFn::Ge, Value::tensor(qc), Value::tensor(kr), loc);
    Node *ninf = constant(-std::numeric_limits<double>::infinity(),
                          s.node->type.dtype, loc);
    if (!mask.ok() || !ninf)
      return Value();
    auto shape = broadcast(mask.node->type.shape, s.node->type.shape, loc,
                           mask.node->type, s.node->type);
    if (!shape)
      return Value();
    s = Value::tensor(make(NodeKind::Where, Type{s.node->type.dtype, *shape},
                           loc, {mask.node, s.node, ninf}));
    if (!s.ok())
      return s;
  }
  Value p = softmax(s.node, s.node->type.rank() - 1, loc);
  if (!p.ok())
    return p;
  return matmul(p, Value::tensor(v), loc, nullptr, nullptr);
}

Value Sema::assocScan(CallArgs &args, Loc loc) {
  if (args.pos.size() < 2 || args.pos[0].hasPre ||
      args.pos[0].expr->kind != Expr::Ident)
    return fail(loc, "assoc_scan takes (combine_fn, x0, x1, ..., axis = a, "
                     "reverse = false)");
  const std::string &fnName =
      static_cast<const IdentExpr *>(args.pos[0].expr)->name;
  const FnDecl *fn = nullptr;
  LayerInst *self = nullptr;
  if (ctx && ctx->self)
    for (const auto &f : ctx->self->decl->fns)
      if (f->name == fnName) {
        fn = f.get();
        self = ctx->self;
      }
  if (!fn) {
    auto it = fileFns.find(fnName);
    if (it == fileFns.end())
      return fail(args.pos[0].loc, "assoc_scan's first argument must name a "
                                   "function, found '" + fnName + "'");
    fn = it->second;
  }
  int64_t axisVal = 0;
  bool reverse = false;
  for (auto &[name, a] : args.kw) {
    Value x = evalArg(a);
    if (!x.ok())
      return x;
    if (name == "axis" && x.kind == Value::Number && x.isInt)
      axisVal = x.inum;
    else if (name == "reverse" && x.kind == Value::Bool)
      reverse = x.b;
    else
      return fail(a.loc, "assoc_scan takes `axis = <integer>` and "
                         "`reverse = <bool>`, found '" + name + "'");
  }
  std::vector<Node *> inputs;
  for (size_t i = 1; i < args.pos.size(); ++i) {
    Node *x = asTensor(evalArg(args.pos[i]), args.pos[i].loc, "assoc_scan");
    if (!x)
      return Value();
    if (!inputs.empty() && x->type.shape != inputs[0]->type.shape)
      return fail(args.pos[i].loc, "assoc_scan inputs must share one shape: " +
                                       inputs[0]->type.str() + " and " +
                                       x->type.str());
    inputs.push_back(x);
  }
  if (inputs[0]->type.rank() == 0)
    return fail(loc, "assoc_scan needs inputs of rank >= 1");
  std::optional<int64_t> axis =
      normAxis(axisVal, inputs[0]->type.rank(), loc);
  if (!axis)
    return Value();
  size_t n = inputs.size();
  Node *op = make(NodeKind::AssocScan, Type{DType::F32, {}}, loc, inputs);
  if (!op)
    return Value();
  op->assoc = std::make_unique<AssocScanInfo>();
  op->assoc->reverse = reverse;
  op->assoc->axis = *axis;
  op->assoc->inputs = inputs;
  Node *savedRegion = region;
  region = op;
  CallArgs cargs;
  cargs.loc = loc;
  for (size_t i = 0; i < 2 * n; ++i) {
    Type t = inputs[i % n]->type;
    t.shape.erase(t.shape.begin() + *axis);
    Node *arg = make(NodeKind::CombineArg, t, loc);
    if (!arg) {
      region = savedRegion;
      return Value();
    }
    arg->ints = {(int64_t)i};
    op->assoc->args.push_back(arg);
    ArgRef r;
    r.pre = Value::tensor(arg);
    r.hasPre = true;
    r.loc = loc;
    cargs.pos.push_back(r);
  }
  Value res = callFn(*fn, self, cargs, loc);
  region = savedRegion;
  if (!res.ok())
    return res;
  std::vector<Value> parts =
      res.kind == Value::Tuple ? res.elems : std::vector<Value>{res};
  if (parts.size() != n)
    return fail(loc, "assoc_scan's combine function must return " +
                         std::to_string(n) + " values, one per input; '" +
                         fnName + "' returns " + std::to_string(parts.size()));
  for (size_t i = 0; i < n; ++i) {
    Type want = op->assoc->args[i]->type;
    if (parts[i].kind != Value::Tensor || parts[i].node->type != want)
      return fail(loc, "assoc_scan's combine function must return " +
                           want.str() + " for input " + std::to_string(i) +
                           ", found " + typeName(parts[i]));
    op->assoc->combined.push_back(parts[i].node);
  }
  Value out;
  out.kind = Value::Tuple;
  for (size_t i = 0; i < n; ++i) {
    Node *r = make(NodeKind::AssocScanResult, inputs[i]->type, loc, {op});
    if (!r)
      return Value();
    r->ints = {(int64_t)i};
    out.elems.push_back(Value::tensor(r));
  }
  return n == 1 ? out.elems[0] : out;
}

Value Sema::callBuiltin(const std::string &name, CallArgs &args, Loc loc,
                        bool &found) {
  found = true;
  static const std::map<std::string, UnaryFn> unaries = {
      {"exp", UnaryFn::Exp},       {"log", UnaryFn::Log},
      {"sqrt", UnaryFn::Sqrt},     {"rsqrt", UnaryFn::Rsqrt},
      {"tanh", UnaryFn::Tanh},     {"sigmoid", UnaryFn::Sigmoid},
      {"silu", UnaryFn::Silu},     {"gelu", UnaryFn::Gelu},
      {"softplus", UnaryFn::Softplus}, {"relu", UnaryFn::Relu},
      {"abs", UnaryFn::Abs},       {"sin", UnaryFn::Sin},
      {"cos", UnaryFn::Cos},       {"erf", UnaryFn::Erf}};
  auto expectArgs = [&](size_t n, const char *sig) {
    if (args.pos.size() != n) {
      diags.error(loc, std::string(name) + " takes " + sig + ", found " +
                           std::to_string(args.pos.size()) + " argument" +
                           (args.pos.size() == 1 ? "" : "s"));
      return false;
    }
    return true;
  };
  auto noKw = [&](std::initializer_list<const char *> allowed) {
    for (const auto &[k, a] : args.kw) {
      bool ok = false;
      for (const char *al : allowed)
        ok |= k == al;
      if (!ok) {
        diags.error(a.loc, name + " has no argument '" + k + "'");
        return false;
      }
    }
    return true;
  };

  if (auto it = unaries.find(name); it != unaries.end()) {
    if (!expectArgs(1, "one argument") || !noKw({}))
      return Value();
    return unary(it->second, evalArg(args.pos[0]), loc);
  }
  if (name == "pow" || ((name == "max" || name == "min") &&
                        args.pos.size() == 2 && args.kw.empty())) {
    if (!expectArgs(2, "two arguments") || !noKw({}))
      return Value();
    BinaryFn fn = name == "pow"   ? BinaryFn::Pow
                  : name == "max" ? BinaryFn::Max
                                  : BinaryFn::Min;
    return binary(fn, evalArg(args.pos[0]), evalArg(args.pos[1]), loc,
                  args.pos[0].expr, args.pos[1].expr);
  }
  if (name == "sum" || name == "mean" || name == "max" || name == "min") {
    ReduceFn fn = name == "sum"    ? ReduceFn::Sum
                  : name == "mean" ? ReduceFn::Mean
                  : name == "max"  ? ReduceFn::Max
                                   : ReduceFn::Min;
    return reduce(fn, args, loc);
  }
  if (name == "where") {
    if (!expectArgs(3, "(cond, a, b)") || !noKw({}))
      return Value();
    Value c = evalArg(args.pos[0]), a = evalArg(args.pos[1]),
          b = evalArg(args.pos[2]);
    if (!c.ok() || !a.ok() || !b.ok())
      return Value();
    Node *cn = asTensor(c, args.pos[0].loc, "where's condition");
    if (!cn)
      return Value();
    if (cn->type.dtype != DType::Bool)
      return fail(args.pos[0].loc, "where's condition must be bool, found " +
                                       cn->type.str());
    DType dt;
    if (a.kind == Value::Tensor)
      dt = a.node->type.dtype;
    else if (b.kind == Value::Tensor)
      dt = b.node->type.dtype;
    else
      dt = (a.kind == Value::Number && !a.isInt) ||
                   (b.kind == Value::Number && !b.isInt)
               ? DType::F32
               : DType::I64;
    for (const Value *v : {&a, &b})
      if (v->kind != Value::Tensor && v->kind != Value::Number &&
          v->kind != Value::Bool)
        return fail(loc, "where's values must be tensors or numbers, found " +
                             typeName(*v));
    Node *an = toTensor(a, dt, args.pos[1].loc);
    Node *bn = toTensor(b, dt, args.pos[2].loc);
    if (!an || !bn)
      return Value();
    if (an->type.dtype != bn->type.dtype)
      return fail(loc, std::string("where's values mix ") +
                           dtypeName(an->type.dtype) + " and " +
                           dtypeName(bn->type.dtype) + "; cast one");
    if (isInt(an->type.dtype) && ((a.kind == Value::Number && !a.isInt) ||
                                  (b.kind == Value::Number && !b.isInt)))
      return fail(loc, "where mixes a float number with an integer tensor");
    auto s1 = broadcast(cn->type.shape, an->type.shape, loc, cn->type,
                        an->type);
    if (!s1)
      return Value();
    auto s2 = broadcast(*s1, bn->type.shape, loc, Type{cn->type.dtype, *s1},
                        bn->type);
    if (!s2)
      return Value();
    return Value::tensor(make(NodeKind::Where, Type{an->type.dtype, *s2}, loc,
                              {cn, an, bn}));
  }
  if (name == "softmax") {
    if (!noKw({"axis"}))
      return Value();
    if (args.pos.empty() || args.pos.size() > 2)
      return fail(loc, "softmax takes (x, axis = -1)");
    Node *x = asTensor(evalArg(args.pos[0]), args.pos[0].loc, "softmax");
    if (!x)
      return Value();
    if (x->type.rank() == 0)
      return fail(loc, "softmax needs a tensor of rank >= 1");
    int64_t axis = -1;
    const ArgRef *a = args.pos.size() > 1 ? &args.pos[1] : nullptr;
    if (auto it = args.kw.find("axis"); it != args.kw.end())
      a = &it->second;
    if (a) {
      std::optional<int64_t> v = evalConstInt(*a->expr, "softmax's axis");
      if (!v)
        return Value();
      axis = *v;
    }
    std::optional<int64_t> ax = normAxis(axis, x->type.rank(), loc);
    if (!ax)
      return Value();
    return softmax(x, *ax, loc);
  }
  if (name == "transpose") {
    if (!expectArgs(3, "(x, axis_a, axis_b)") || !noKw({}))
      return Value();
    Node *x = asTensor(evalArg(args.pos[0]), args.pos[0].loc, "transpose");
    if (!x)
      return Value();
    std::optional<int64_t> a = evalConstInt(*args.pos[1].expr, "an axis");
    std::optional<int64_t> b = evalConstInt(*args.pos[2].expr, "an axis");
    if (!a || !b)
      return Value();
    auto na = normAxis(*a, x->type.rank(), args.pos[1].loc);
    auto nb = normAxis(*b, x->type.rank(), args.pos[2].loc);
    if (!na || !nb)
      return Value();
    std::vector<int64_t> perm(x->type.rank());
    for (size_t i = 0; i < perm.size(); ++i)
      perm[i] = (int64_t)i;
    std::swap(perm[*na], perm[*nb]);
    return permute(x, perm, loc);
  }
  if (name == "permute") {
    if (!noKw({}))
      return Value();
    if (args.pos.size() < 2)
      return fail(loc, "permute takes (x, p0, p1, ...) or (x, [p0, p1, ...])");
    Node *x = asTensor(evalArg(args.pos[0]), args.pos[0].loc, "permute");
    if (!x)
      return Value();
    std::vector<const Expr *> items;
    if (args.pos.size() == 2 && args.pos[1].expr->kind == Expr::List)
      for (const ExprPtr &e :
           static_cast<const ListExpr *>(args.pos[1].expr)->elements)
        items.push_back(e.get());
    else
      for (size_t i = 1; i < args.pos.size(); ++i)
        items.push_back(args.pos[i].expr);
    if ((int64_t)items.size() != x->type.rank())
      return fail(loc, "permute of " + x->type.str() + " needs " +
                           std::to_string(x->type.rank()) + " axes, found " +
                           std::to_string(items.size()));
    std::vector<int64_t> perm;
    std::vector<bool> used(x->type.rank(), false);
    for (const Expr *e : items) {
      std::optional<int64_t> v = evalConstInt(*e, "an axis");
      if (!v)
        return Value();
      auto a = normAxis(*v, x->type.rank(), e->loc);
      if (!a)
        return Value();
      if (used[*a])
        return fail(e->loc, "permute names axis " + std::to_string(*v) +
                                " twice");
      used[*a] = true;
      perm.push_back(*a);
    }
    return permute(x, perm, loc);
  }
  if (name == "reshape") {
    if (!expectArgs(2, "(x, [sizes])") || !noKw({}))
      return Value();
    Node *x = asTensor(evalArg(args.pos[0]), args.pos[0].loc, "reshape");
    if (!x)
      return Value();
    std::optional<Shape> s = shapeArg(args.pos[1]);
    if (!s)
      return Value();
    return reshape(x, *s, loc);
  }
  if (name == "concat" || name == "split") {
    bool isConcat = name == "concat";
    if (!noKw({"axis"}))
      return Value();
    if (args.pos.empty() || args.pos.size() > (isConcat ? 2u : 3u))
      return fail(loc, isConcat ? "concat takes ([a, b, ...], axis = a)"
                                : "split takes (x, n or [sizes], axis = a)");
    const ArgRef *axisArg =
        args.pos.size() > (isConcat ? 1u : 2u) ? &args.pos.back() : nullptr;
    if (auto it = args.kw.find("axis"); it != args.kw.end())
      axisArg = &it->second;
    int64_t axisVal = 0;
    if (axisArg) {
      std::optional<int64_t> v = evalConstInt(*axisArg->expr, "an axis");
      if (!v)
        return Value();
      axisVal = *v;
    }
    if (isConcat) {
      if (args.pos[0].hasPre || args.pos[0].expr->kind != Expr::List)
        return fail(args.pos[0].loc, "concat takes a list of tensors: "
                                     "concat([a, b], axis = -1)");
      std::vector<Node *> ops;
      for (const ExprPtr &e :
           static_cast<const ListExpr *>(args.pos[0].expr)->elements) {
        Node *t = asTensor(eval(*e), e->loc, "concat");
        if (!t)
          return Value();
        ops.push_back(t);
      }
      if (ops.size() < 2)
        return fail(loc, "concat needs at least two tensors");
      auto axis = normAxis(axisVal, ops[0]->type.rank(), loc);
      if (!axis)
        return Value();
      Shape out = ops[0]->type.shape;
      for (size_t i = 1; i < ops.size(); ++i) {
        const Type &t = ops[i]->type;
        if (t.dtype != ops[0]->type.dtype || t.rank() != ops[0]->type.rank())
          return fail(loc, "concat needs tensors of one element type and "
                           "rank: " + ops[0]->type.str() + " and " + t.str());
        for (int64_t k = 0; k < t.rank(); ++k)
          if (k != *axis && t.shape[k] != out[k])
            return fail(loc, "concat along axis " + std::to_string(*axis) +
                                 " needs the other sizes to match: " +
                                 ops[0]->type.str() + " and " + t.str());
        out[*axis] = out[*axis] + t.shape[*axis];
      }
      Node *n = make(NodeKind::Concat, Type{ops[0]->type.dtype, out}, loc, ops);
      if (n)
        n->ints = {*axis};
      return Value::tensor(n);
    }
    if (args.pos.size() < 2)
      return fail(loc, "split takes (x, n or [sizes], axis = a)");
    Node *x = asTensor(evalArg(args.pos[0]), args.pos[0].loc, "split");
    if (!x)
      return Value();
    auto axis = normAxis(axisVal, x->type.rank(), loc);
    if (!axis)
      return Value();
    const Dim &d = x->type.shape[*axis];
    std::vector<Dim> sizes;
    if (!args.pos[1].hasPre && args.pos[1].expr->kind == Expr::List) {
      std::optional<Shape> s = shapeArg(args.pos[1]);
      if (!s)
        return Value();
      sizes = *s;
      Dim total(0);
      for (const Dim &sz : sizes)
        total = total + sz;
      if (total != d)
        return fail(args.pos[1].loc, "split sizes add up to " + total.str() +
                                         " but the axis has size " + d.str());
    } else {
      std::optional<int64_t> n = evalConstInt(*args.pos[1].expr,
                                              "the number of parts");
      if (!n)
        return Value();
      if (*n <= 0)
        return fail(args.pos[1].loc, "split needs a positive number of parts");
      std::optional<Dim> part = d.divide(Dim(*n));
      if (!part)
        return fail(args.pos[1].loc, "cannot split size " + d.str() +
                                         " into " + std::to_string(*n) +
                                         " equal parts");
      sizes.assign(*n, *part);
    }
    Value out;
    out.kind = Value::Tuple;
    Dim start(0);
    for (const Dim &sz : sizes) {
      Shape s = x->type.shape;
      s[*axis] = sz;
      Node *n = make(NodeKind::Slice, Type{x->type.dtype, s}, loc, {x});
      if (!n)
        return Value();
      for (int64_t k = 0; k < x->type.rank(); ++k) {
        if (k == *axis)
          n->dims.insert(n->dims.end(), {start, sz, Dim(1)});
        else
          n->dims.insert(n->dims.end(), {Dim(0), x->type.shape[k], Dim(1)});
      }
      start = start + sz;
      out.elems.push_back(Value::tensor(n));
    }
    return out;
  }
  if (name == "einsum") {
    if (!noKw({}))
      return Value();
    if (args.pos.size() < 2)
      return fail(loc, "einsum takes (\"spec\", operands...)");
    Value spec = evalArg(args.pos[0]);
    if (!spec.ok())
      return spec;
    if (spec.kind != Value::String)
      return fail(args.pos[0].loc, "einsum's first argument must be a string "
                                   "such as \"bhtk,bhsk->bhts\"");
    std::vector<Node *> ops;
    for (size_t i = 1; i < args.pos.size(); ++i) {
      Node *t = asTensor(evalArg(args.pos[i]), args.pos[i].loc, "einsum");
      if (!t)
        return Value();
      ops.push_back(t);
    }
    return einsum(spec.str, ops, loc);
  }
  if (name == "arange") {
    if (!expectArgs(1, "one size") || !noKw({}))
      return Value();
    if (args.pos[0].hasPre)
      return fail(loc, "arange takes a size");
    std::optional<Dim> n = evalDim(*args.pos[0].expr);
    if (!n)
      return Value();
    if (auto c = n->constant(); c && *c <= 0)
      return fail(loc, "arange needs a positive size, found " +
                           std::to_string(*c));
    return Value::tensor(make(NodeKind::Arange, Type{DType::I64, {*n}}, loc));
  }
  if (name == "zeros" || name == "ones" || name == "full") {
    bool isFull = name == "full";
    size_t want = isFull ? 2 : 1;
    if (!noKw({"dtype"}))
      return Value();
    if (args.pos.size() < want || args.pos.size() > want + 1)
      return fail(loc, name + (isFull ? " takes ([sizes], value, dtype = f32)"
                                      : " takes ([sizes], dtype = f32)"));
    std::optional<Shape> s = shapeArg(args.pos[0]);
    if (!s)
      return Value();
    DType dt = DType::F32;
    const ArgRef *dta = args.pos.size() > want ? &args.pos[want] : nullptr;
    if (auto it = args.kw.find("dtype"); it != args.kw.end())
      dta = &it->second;
    if (dta) {
      Value v = evalArg(*dta);
      if (!v.ok())
        return v;
      if (v.kind != Value::DTypeV)
        return fail(dta->loc, "expected an element type such as bf16");
      dt = v.dtype;
    }
    double val = name == "ones" ? 1 : 0;
    if (isFull) {
      Value v = evalArg(args.pos[1]);
      if (!v.ok())
        return v;
      if (v.kind == Value::Bool)
        val = v.b;
      else if (v.kind == Value::Number)
        val = v.num;
      else
        return fail(args.pos[1].loc, "full's value must be a number");
    }
    for (const Dim &d : *s)
      if (auto c = d.constant(); c && *c <= 0)
        return fail(loc, "sizes must be positive");
    return Value::tensor(constant(val, dt, loc, *s));
  }
  if (name == "cast") {
    if (!expectArgs(2, "(x, element_type)") || !noKw({}))
      return Value();
    Value x = evalArg(args.pos[0]);
    Value t = evalArg(args.pos[1]);
    if (!x.ok() || !t.ok())
      return Value();
    if (t.kind != Value::DTypeV)
      return fail(args.pos[1].loc, "cast's second argument must be an "
                                   "element type (f32 f16 bf16 i32 i64 "
                                   "bool), found " + typeName(t));
    if (x.kind == Value::Number || x.kind == Value::Bool)
      return Value::tensor(toTensor(x, t.dtype, loc));
    if (x.kind != Value::Tensor)
      return fail(args.pos[0].loc, "cannot cast " + typeName(x));
    if (x.node->type.dtype == t.dtype)
      return x;
    return Value::tensor(make(NodeKind::Cast,
                              Type{t.dtype, x.node->type.shape}, loc,
                              {x.node}));
  }
  if (name == "attention")
    return attention(args, loc);
  if (name == "assoc_scan")
    return assocScan(args, loc);
  found = false;
  return Value();
}

//===----------------------------------------------------------------------===//
// Statements
//===----------------------------------------------------------------------===//

void Sema::execBlock(const Block &b) {
  for (const StmtPtr &s : b) {
    if (aborted)
      return;
    if (ctx->returned) {
      diags.error(s->loc, "statement after return is never run");
      return;
    }
    exec(*s);
  }
}

void Sema::assign(const std::string &name, Value v, Loc loc) {
  if (!v.ok()) {
    // Bind anyway so later uses do not report a second, unhelpful error.
    ctx->scope->vars[name] = v;
    return;
  }
  if (LayerInst *self = ctx->self)
    if (self->paramTypes.count(name) || self->subs.count(name) ||
        self->arrays.count(name)) {
      diags.error(loc, "cannot assign to '" + name +
                           "': it is a weight or a layer of '" +
                           self->decl->name + "'");
      return;
    }
  if (scanState) {
    auto it = scanState->scope->vars.find(name);
    if (it != scanState->scope->vars.end() &&
        it->second.kind == Value::Tensor &&
        it->second.node == scanState->scan->scan->index) {
      diags.error(loc, "cannot assign to the scan step '" + name + "'");
      return;
    }
  }
  // Rebind where the name lives, up to the innermost scan body; otherwise
  // bind in the innermost scope.
  for (Scope *s = ctx->scope; s; s = s->parent) {
    auto it = s->vars.find(name);
    if (it != s->vars.end()) {
      it->second = v;
      return;
    }
    if (scanState && s == scanState->scope)
      break;
  }
  ctx->scope->vars[name] = v;
}

void Sema::exec(const Stmt &s) {
  switch (s.kind) {
  case Stmt::Assign: {
    const auto &a = static_cast<const AssignStmt &>(s);
    Value v = eval(*a.value);
    if (a.targets.size() == 1) {
      if (v.kind == Value::Tuple) {
        diags.error(a.loc, "this expression gives " +
                               std::to_string(v.elems.size()) +
                               " values; unpack them: `a, b = ...`");
        v = Value();
      }
      assign(a.targets[0], v, a.targetLocs[0]);
      return;
    }
    if (v.ok() && (v.kind != Value::Tuple ||
                   v.elems.size() != a.targets.size())) {
      diags.error(a.loc, "cannot unpack " + typeName(v) + " into " +
                             std::to_string(a.targets.size()) + " names");
      v = Value();
    }
    for (size_t i = 0; i < a.targets.size(); ++i)
      assign(a.targets[i], v.ok() ? v.elems[i] : Value(), a.targetLocs[i]);
    return;
  }
  case Stmt::IndexAssign: {
    const auto &a = static_cast<const IndexAssignStmt &>(s);
    if (!scanState) {
      diags.error(a.loc, "`" + a.target + "[...] = ...` declares a per-step "
                         "output and is only allowed in a scan body; tensors "
                         "are values: build a new one instead");
      return;
    }
    ScanInfo &si = *scanState->scan->scan;
    Value v = eval(*a.value);
    if (!v.ok())
      return;
    Node *x = v.kind == Value::Tensor ? v.node : nullptr;
    if (!x) {
      if (v.kind != Value::Number) {
        diags.error(a.value->loc, "a per-step output must be a tensor, found " +
                                      typeName(v));
        return;
      }
      x = toTensor(v, v.isInt ? DType::I64 : DType::F32, a.value->loc);
      if (!x)
        return;
    }
    if (scanState->outputs.count(a.target)) {
      diags.error(a.targetLoc, "per-step output '" + a.target +
                                   "' is assigned twice in this scan body");
      return;
    }
    // Find `t` among the items; the rest must be `:` or one `...`.
    int tPos = -1, ell = -1;
    for (size_t i = 0; i < a.items.size(); ++i) {
      const IndexItem &it = a.items[i];
      bool isStep = false;
      if (it.kind == IndexItem::Value && it.value->kind == Expr::Ident) {
        Value iv = lookup(static_cast<const IdentExpr &>(*it.value).name,
                          it.loc);
        isStep = iv.kind == Value::Tensor && iv.node == si.index;
      }
      if (isStep) {
        if (tPos >= 0) {
          diags.error(it.loc, "the scan step may appear once in an output "
                              "index");
          return;
        }
        tPos = (int)i;
      } else if (it.kind == IndexItem::Ellipsis && ell < 0) {
        ell = (int)i;
      } else if (it.kind != IndexItem::Slice || it.start || it.stop ||
                 it.step) {
        diags.error(it.loc, "a per-step output is indexed with ':' (or one "
                            "'...') and the scan step, as in `y[:, t] = e`");
        return;
      }
    }
    if (tPos < 0) {
      diags.error(a.targetLoc, "a per-step output must be indexed by the "
                               "scan step, as in `" + a.target + "[:, t] = e`");
      return;
    }
    int64_t rank = x->type.rank();
    int64_t axis;
    if (ell >= 0) {
      int64_t explicitItems = (int64_t)a.items.size() - 1;
      if (explicitItems > rank + 1) {
        diags.error(a.loc, "too many index items for a per-step value of "
                           "type " + x->type.str());
        return;
      }
      axis = ell < tPos ? rank - ((int64_t)a.items.size() - 1 - tPos)
                        : tPos;
    } else {
      // As in NumPy, trailing `:` may be left out: `o[:, :, t] = e`.
      if ((int64_t)a.items.size() > rank + 1) {
        diags.error(a.loc, "the per-step value has type " + x->type.str() +
                               ", so `" + a.target + "[...]` takes at most " +
                               std::to_string(rank + 1) +
                               " index items (one is the step), found " +
                               std::to_string(a.items.size()));
        return;
      }
      axis = tPos;
    }
    scanState->outputs[a.target] = {x, a.loc};
    scanState->outputOrder.push_back(a.target);
    scanState->outputAxes[a.target] = axis;
    return;
  }
  case Stmt::Return: {
    const auto &r = static_cast<const ReturnStmt &>(s);
    if (scanState) {
      diags.error(r.loc, "return inside a scan body; per-step values are "
                         "outputs: `y[:, t] = e`");
      return;
    }
    for (const ExprPtr &e : r.values) {
      Value v = eval(*e);
      if (v.kind == Value::Tuple && r.values.size() == 1) {
        for (const Value &el : v.elems)
          ctx->results->push_back(el);
        continue;
      }
      if (v.ok() && v.kind != Value::Tensor && v.kind != Value::Number &&
          v.kind != Value::Bool)
        diags.error(e->loc, "cannot return " + typeName(v));
      ctx->results->push_back(v);
    }
    ctx->returned = true;
    return;
  }
  case Stmt::For: {
    const auto &f = static_cast<const ForStmt &>(s);
    std::optional<int64_t> lo = evalConstInt(*f.lo, "a loop bound");
    std::optional<int64_t> hi = evalConstInt(*f.hi, "a loop bound");
    if (!lo || !hi)
      return;
    if (*hi - *lo > kMaxUnroll) {
      diags.error(f.loc, "for loops are unrolled: at most " +
                             std::to_string(kMaxUnroll) + " iterations, "
                             "found " + std::to_string(*hi - *lo));
      return;
    }
    for (int64_t i = *lo; i < *hi && !aborted; ++i) {
      assign(f.var, Value::integer(i), f.varLoc);
      unsigned before = diags.numErrors();
      execBlock(f.body);
      if (diags.numErrors() != before || ctx->returned)
        return; // report an error once, not per iteration
    }
    return;
  }
  case Stmt::Scan:
    execScan(static_cast<const ScanStmt &>(s));
    return;
  case Stmt::ExprStmt:
    diags.error(s.loc, "this expression's value is unused: statements are "
                       "assignments, scans, for loops and return");
    return;
  }
}

/// The per-step outputs a scan body declares, in nested `for`s too.
static void collectOutputs(const Block &b, std::vector<std::string> &out) {
  for (const StmtPtr &s : b) {
    if (s->kind == Stmt::IndexAssign)
      out.push_back(static_cast<const IndexAssignStmt &>(*s).target);
    else if (s->kind == Stmt::For)
      collectOutputs(static_cast<const ForStmt &>(*s).body, out);
  }
}

void Sema::execScan(const ScanStmt &s) {
  unsigned before = diags.numErrors();
  execScanImpl(s);
  if (diags.numErrors() == before)
    return;
  // Bind what the scan defines, so later uses give no second error.
  std::vector<std::string> names;
  for (const CarryDecl &c : s.carries)
    names.push_back(c.name);
  collectOutputs(s.body, names);
  for (const std::string &n : names)
    assign(n, Value(), s.loc);
}

void Sema::execScanImpl(const ScanStmt &s) {
  std::optional<Dim> length = evalDim(*s.length);
  if (!length)
    return;
  if (auto c = length->constant(); c && *c <= 0) {
    diags.error(s.length->loc, "a scan needs a positive length, found " +
                                   length->str());
    return;
  }
  // Carries: types and initial values, in the enclosing scope.
  std::vector<Type> types;
  std::vector<Node *> inits;
  for (const CarryDecl &c : s.carries) {
    std::optional<Type> t = evalType(c.type);
    Value init = eval(*c.init);
    if (!t || !init.ok())
      return;
    Node *in = nullptr;
    if (init.kind == Value::Number || init.kind == Value::Bool) {
      if (init.kind == Value::Number && isInt(t->dtype) && !init.isInt &&
          !std::isinf(init.num)) {
        diags.error(c.init->loc, "carry '" + c.name + "' is " + t->str() +
                                     ", so its initial value must be an "
                                     "integer");
        return;
      }
      in = constant(init.kind == Value::Bool ? init.b : init.num, t->dtype,
                    c.init->loc, t->shape);
    } else if (init.kind == Value::Tensor) {
      in = init.node;
      if (in->type.dtype != t->dtype) {
        diags.error(c.init->loc, "carry '" + c.name + "' is " + t->str() +
                                     " but its initial value is " +
                                     in->type.str());
        return;
      }
      if (in->type.shape != t->shape) {
        auto b = broadcast(in->type.shape, t->shape, c.init->loc, in->type, *t);
        if (!b)
          return;
        if (*b != t->shape) {
          diags.error(c.init->loc, "carry '" + c.name + "' is " + t->str() +
                                       " but its initial value is " +
                                       in->type.str());
          return;
        }
        Node *z = constant(0, t->dtype, c.init->loc, t->shape);
        in = make(NodeKind::Binary, *t, c.init->loc, {in, z});
        if (!in)
          return;
        in->sub = (int)BinaryFn::Add;
      }
    } else {
      diags.error(c.init->loc, "carry '" + c.name + "' needs a tensor or a "
                               "number as its initial value, found " +
                                   typeName(init));
      return;
    }
    if (!in)
      return;
    types.push_back(*t);
    inits.push_back(in);
  }
  Node *scan = make(NodeKind::Scan, Type{DType::F32, {}}, s.loc, inits);
  if (!scan)
    return;
  scan->scan = std::make_unique<ScanInfo>();
  ScanInfo &si = *scan->scan;
  si.reverse = s.reverse;
  si.length = *length;
  si.inits = inits;
  Node *savedRegion = region;
  region = scan;
  si.index = make(NodeKind::ScanIndex, Type{DType::I64, {}}, s.varLoc);
  Scope body;
  body.parent = ctx->scope;
  if (!si.index) {
    region = savedRegion;
    return;
  }
  body.vars[s.var] = Value::tensor(si.index);
  for (size_t i = 0; i < s.carries.size(); ++i) {
    const CarryDecl &c = s.carries[i];
    if (body.vars.count(c.name)) {
      diags.error(c.loc, "'" + c.name + "' is declared twice in this scan");
      region = savedRegion;
      return;
    }
    Node *carry = make(NodeKind::ScanCarry, types[i], c.loc);
    if (!carry) {
      region = savedRegion;
      return;
    }
    carry->ints = {(int64_t)i};
    si.carries.push_back(carry);
    si.carryNames.push_back(c.name);
    body.vars[c.name] = Value::tensor(carry);
  }
  ScanState state{scan, &body, {}, {}, {}};
  ScanState *savedState = scanState;
  scanState = &state;
  Scope *savedScope = ctx->scope;
  ctx->scope = &body;
  unsigned before = diags.numErrors();
  execBlock(s.body);
  ctx->scope = savedScope;
  scanState = savedState;
  region = savedRegion;
  if (diags.numErrors() != before || aborted)
    return;
  // New carries must keep their types.
  for (size_t i = 0; i < s.carries.size(); ++i) {
    const CarryDecl &c = s.carries[i];
    Value v = body.vars[c.name];
    Node *n = v.kind == Value::Tensor ? v.node : nullptr;
    if (!n && v.kind == Value::Number)
      n = constant(v.num, types[i].dtype, c.loc, types[i].shape);
    if (!n || n->type != types[i]) {
      diags.error(c.loc, "carry '" + c.name + "' is " + types[i].str() +
                             " but the scan body gives it " +
                             (n ? n->type.str() : typeName(v)) +
                             " at the end of a step");
      return;
    }
    si.newCarries.push_back(n);
  }
  for (const std::string &name : state.outputOrder) {
    Node *v = state.outputs[name].first;
    si.stepOutputs.push_back(v);
    si.outputNames.push_back(name);
    si.outputAxes.push_back(state.outputAxes[name]);
  }
  // Bind the results in the enclosing scope.
  size_t nc = si.carries.size();
  for (size_t i = 0; i < nc; ++i) {
    Node *r = make(NodeKind::ScanResult, types[i], s.loc, {scan});
    if (!r)
      return;
    r->ints = {(int64_t)i};
    assign(si.carryNames[i], Value::tensor(r), s.carries[i].loc);
  }
  for (size_t j = 0; j < si.stepOutputs.size(); ++j) {
    Type t = si.stepOutputs[j]->type;
    t.shape.insert(t.shape.begin() + si.outputAxes[j], si.length);
    Node *r = make(NodeKind::ScanResult, t, s.loc, {scan});
    if (!r)
      return;
    r->ints = {(int64_t)(nc + j)};
    assign(si.outputNames[j], Value::tensor(r), state.outputs[si.outputNames[j]].second);
  }
}

} // namespace

std::unique_ptr<Program> seqc::analyze(const Module &m, DiagEngine &diags) {
  return Sema(m, diags).run();
}
