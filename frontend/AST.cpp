//===- AST.cpp - Element types, operator spellings and the AST dump -------===//
//
// dumpAST prints the tree for `seqc FILE --emit=ast`: one node a line,
// indented two spaces a level, each node with `@line:col`. Children that
// play a named role are prefixed with it (`init: Int 0 @3:40`); types are
// printed as written (`f32[B, T, H*K]`). Lit tests match this format, so
// keep it stable.
//
//===----------------------------------------------------------------------===//

#include "AST.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <ostream>
#include <sstream>

using namespace seqc;

const char *seqc::dtypeName(DType t) {
  switch (t) {
  case DType::F32:
    return "f32";
  case DType::F16:
    return "f16";
  case DType::BF16:
    return "bf16";
  case DType::I32:
    return "i32";
  case DType::I64:
    return "i64";
  case DType::Bool:
    return "bool";
  }
  return "?";
}

bool seqc::isFloat(DType t) {
  return t == DType::F32 || t == DType::F16 || t == DType::BF16;
}

bool seqc::isInt(DType t) { return t == DType::I32 || t == DType::I64; }

const char *seqc::binaryOpSpelling(BinaryOp op) {
  switch (op) {
  case BinaryOp::Add:
    return "+";
  case BinaryOp::Sub:
    return "-";
  case BinaryOp::Mul:
    return "*";
  case BinaryOp::Div:
    return "/";
  case BinaryOp::MatMul:
    return "@";
  case BinaryOp::Eq:
    return "==";
  case BinaryOp::Ne:
    return "!=";
  case BinaryOp::Lt:
    return "<";
  case BinaryOp::Le:
    return "<=";
  case BinaryOp::Gt:
    return ">";
  case BinaryOp::Ge:
    return ">=";
  case BinaryOp::And:
    return "&";
  case BinaryOp::Or:
    return "|";
  }
  return "?";
}

/// Binding strength of a binary operator (docs/language.md's levels).
static int precedence(BinaryOp op) {
  switch (op) {
  case BinaryOp::Or:
    return 1;
  case BinaryOp::And:
    return 2;
  case BinaryOp::Eq:
  case BinaryOp::Ne:
  case BinaryOp::Lt:
  case BinaryOp::Le:
  case BinaryOp::Gt:
  case BinaryOp::Ge:
    return 3;
  case BinaryOp::Add:
  case BinaryOp::Sub:
    return 4;
  case BinaryOp::Mul:
  case BinaryOp::Div:
  case BinaryOp::MatMul:
    return 5;
  }
  return 0;
}

/// The shortest decimal spelling that reads back as the same double.
static std::string formatFloat(double v) {
  char buf[64];
  // Whole numbers print plainly (`2500.0`, not `2.5e+03`).
  if (v > -1e15 && v < 1e15 &&
      v == static_cast<double>(static_cast<int64_t>(v))) {
    std::snprintf(buf, sizeof buf, "%.1f", v);
    return buf;
  }
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v)
      break;
  }
  std::string s = buf;
  // Keep a float looking like one: `1` would read as an integer.
  if (s.find_first_of(".eEni") == std::string::npos)
    s += ".0";
  return s;
}

static std::string exprText(const Expr &e, int context = 0);

/// Source-like text of call arguments: `x, axis = -1`.
static std::string argsText(const std::vector<Arg> &args) {
  std::string s;
  for (size_t i = 0; i < args.size(); ++i) {
    if (i)
      s += ", ";
    if (!args[i].name.empty())
      s += args[i].name + " = ";
    s += args[i].value ? exprText(*args[i].value) : "?";
  }
  return s;
}

/// Source-like text of an expression, parenthesised only where the
/// precedence table needs it (`context` is the binding strength around it).
/// `* / @` print tight (`H*K`), the looser operators with spaces.
static std::string exprText(const Expr &e, int context) {
  switch (e.kind) {
  case Expr::IntLit:
    return std::to_string(static_cast<const IntLitExpr &>(e).value);
  case Expr::FloatLit:
    return formatFloat(static_cast<const FloatLitExpr &>(e).value);
  case Expr::BoolLit:
    return static_cast<const BoolLitExpr &>(e).value ? "true" : "false";
  case Expr::InfLit:
    return "inf";
  case Expr::StringLit:
    return "\"" + static_cast<const StringLitExpr &>(e).value + "\"";
  case Expr::NoneLit:
    return "None";
  case Expr::DTypeLit:
    return dtypeName(static_cast<const DTypeLitExpr &>(e).dtype);
  case Expr::Ident:
    return static_cast<const IdentExpr &>(e).name;
  case Expr::Unary: {
    auto &u = static_cast<const UnaryExpr &>(e);
    std::string s =
        (u.op == UnaryOp::Neg ? "-" : "!") + exprText(*u.operand, 6);
    return context > 6 ? "(" + s + ")" : s;
  }
  case Expr::Binary: {
    auto &b = static_cast<const BinaryExpr &>(e);
    int p = precedence(b.op);
    std::string op = binaryOpSpelling(b.op);
    if (p < 5)
      op = " " + op + " ";
    // Left-associative: the right operand binds one level tighter.
    std::string s = exprText(*b.lhs, p) + op + exprText(*b.rhs, p + 1);
    return context > p ? "(" + s + ")" : s;
  }
  case Expr::Call: {
    auto &c = static_cast<const CallExpr &>(e);
    return c.callee + "(" + argsText(c.args) + ")";
  }
  case Expr::Member: {
    auto &m = static_cast<const MemberExpr &>(e);
    return exprText(*m.base, 7) + "." + m.name;
  }
  case Expr::MethodCall: {
    auto &m = static_cast<const MethodCallExpr &>(e);
    return exprText(*m.base, 7) + "." + m.name + "(" + argsText(m.args) + ")";
  }
  case Expr::Index: {
    auto &ix = static_cast<const IndexExpr &>(e);
    std::string s = exprText(*ix.base, 7) + "[";
    for (size_t i = 0; i < ix.items.size(); ++i) {
      const IndexItem &it = ix.items[i];
      if (i)
        s += ", ";
      switch (it.kind) {
      case IndexItem::Value:
        s += exprText(*it.value);
        break;
      case IndexItem::Slice:
        if (it.start)
          s += exprText(*it.start);
        s += ":";
        if (it.stop)
          s += exprText(*it.stop);
        if (it.step)
          s += ":" + exprText(*it.step);
        break;
      case IndexItem::NewAxis:
        s += "None";
        break;
      case IndexItem::Ellipsis:
        s += "...";
        break;
      }
    }
    return s + "]";
  }
  case Expr::List:
  case Expr::Tuple: {
    const auto &elts = e.kind == Expr::List
                           ? static_cast<const ListExpr &>(e).elements
                           : static_cast<const TupleExpr &>(e).elements;
    std::string s = e.kind == Expr::List ? "[" : "(";
    for (size_t i = 0; i < elts.size(); ++i)
      s += (i ? ", " : "") + exprText(*elts[i]);
    return s + (e.kind == Expr::List ? "]" : ")");
  }
  }
  return "?";
}

/// A type as written: `f32[B, T, H*K]`.
static std::string typeText(const TypeExpr &t) {
  std::string s = dtypeName(t.dtype);
  if (t.dims.empty())
    return s;
  s += "[";
  for (size_t i = 0; i < t.dims.size(); ++i)
    s += (i ? ", " : "") + exprText(*t.dims[i]);
  return s + "]";
}

/// The `@line:col` suffix of a dumped node.
static std::string at(Loc l) {
  return "@" + std::to_string(l.line) + ":" + std::to_string(l.col);
}

/// Prints one declaration or member; sorted by its location.
using Printer = std::pair<Loc, std::function<void()>>;

/// Runs the printers in source order (ties keep their order).
static void inSourceOrder(std::vector<Printer> &printers) {
  std::vector<size_t> order(printers.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    Loc la = printers[a].first, lb = printers[b].first;
    if (la.line != lb.line)
      return la.line < lb.line;
    if (la.col != lb.col)
      return la.col < lb.col;
    return a < b;
  });
  for (size_t i : order)
    printers[i].second();
}

namespace {

/// Prints the AST in the `--emit=ast` format.
class Dumper {
public:
  explicit Dumper(std::ostream &os) : os(os) {}

  void module(const Module &m) {
    os << "Module\n";
    // Declarations are kept by kind; print them in source order.
    std::vector<Printer> decls;
    for (auto &d : m.dims)
      decls.push_back({d.second, [&, this] {
                         line(1, "", "Dim " + d.first, d.second);
                       }});
    for (auto &c : m.consts)
      decls.push_back({c.loc, [&, this] { constDecl(1, c); }});
    for (auto &f : m.fns)
      decls.push_back({f->loc, [&, this] { fn(1, *f); }});
    for (auto &l : m.layers)
      decls.push_back({l->loc, [&, this] { layer(1, *l); }});
    inSourceOrder(decls);
  }

private:
  void indent(int depth) {
    for (int i = 0; i < depth; ++i)
      os << "  ";
  }

  void line(int depth, const std::string &role, const std::string &text,
            Loc loc) {
    indent(depth);
    os << role << text << " " << at(loc) << "\n";
  }

  void constDecl(int d, const ConstDecl &c) {
    line(d, "", "Const " + c.name, c.loc);
    expr(d + 1, "", c.value.get());
  }

  void layer(int d, const LayerDecl &l) {
    line(d, "", std::string(l.isModel ? "Model " : "Layer ") + l.name, l.loc);
    std::vector<Printer> members;
    for (auto &p : l.params)
      members.push_back({p.loc, [&, this] {
                           line(d + 1, "",
                                "Param " + p.name + ": " + typeText(p.type),
                                p.loc);
                         }});
    for (auto &s : l.sublayers)
      members.push_back({s.loc, [&, this] {
                           std::string text =
                               "SubLayer " + s.name + ": " + s.layerName;
                           if (s.count)
                             text += "[" + exprText(*s.count) + "]";
                           line(d + 1, "", text, s.loc);
                         }});
    for (auto &c : l.consts)
      members.push_back({c.loc, [&, this] { constDecl(d + 1, c); }});
    for (auto &f : l.fns)
      members.push_back({f->loc, [&, this] { fn(d + 1, *f); }});
    inSourceOrder(members);
  }

  void fn(int d, const FnDecl &f) {
    line(d, "", "Fn " + f.name, f.loc);
    for (auto &p : f.params)
      line(d + 1, "", "Param " + p.name + ": " + typeText(p.type), p.loc);
    for (auto &r : f.results)
      line(d + 1, "", "Result " + typeText(r), r.loc);
    block(d + 1, f.body);
  }

  void block(int d, const Block &b) {
    indent(d);
    os << "Body\n";
    for (auto &s : b)
      stmt(d + 1, *s);
  }

  void items(int d, const std::vector<IndexItem> &its) {
    for (auto &it : its) {
      switch (it.kind) {
      case IndexItem::Value:
        expr(d, "", it.value.get());
        break;
      case IndexItem::Slice:
        line(d, "", "Slice", it.loc);
        if (it.start)
          expr(d + 1, "start: ", it.start.get());
        if (it.stop)
          expr(d + 1, "stop: ", it.stop.get());
        if (it.step)
          expr(d + 1, "step: ", it.step.get());
        break;
      case IndexItem::NewAxis:
        line(d, "", "NewAxis", it.loc);
        break;
      case IndexItem::Ellipsis:
        line(d, "", "Ellipsis", it.loc);
        break;
      }
    }
  }

  void args(int d, const std::vector<Arg> &as) {
    for (auto &a : as) {
      if (a.name.empty()) {
        expr(d, "", a.value.get());
      } else {
        line(d, "", "KwArg " + a.name, a.loc);
        expr(d + 1, "", a.value.get());
      }
    }
  }

  void stmt(int d, const Stmt &s) {
    switch (s.kind) {
    case Stmt::Assign: {
      auto &a = static_cast<const AssignStmt &>(s);
      std::string names;
      for (size_t i = 0; i < a.targets.size(); ++i)
        names += (i ? ", " : "") + a.targets[i];
      line(d, "", "Assign " + names, s.loc);
      expr(d + 1, "", a.value.get());
      return;
    }
    case Stmt::IndexAssign: {
      auto &a = static_cast<const IndexAssignStmt &>(s);
      line(d, "", "IndexAssign " + a.target, s.loc);
      items(d + 1, a.items);
      expr(d + 1, "value: ", a.value.get());
      return;
    }
    case Stmt::Return: {
      auto &r = static_cast<const ReturnStmt &>(s);
      line(d, "", "Return", s.loc);
      for (auto &v : r.values)
        expr(d + 1, "", v.get());
      return;
    }
    case Stmt::For: {
      auto &f = static_cast<const ForStmt &>(s);
      line(d, "", "For " + f.var, s.loc);
      expr(d + 1, "from: ", f.lo.get());
      expr(d + 1, "to: ", f.hi.get());
      block(d + 1, f.body);
      return;
    }
    case Stmt::Scan: {
      auto &sc = static_cast<const ScanStmt &>(s);
      line(d, "",
           std::string("Scan ") + sc.var +
               (sc.reverse ? " reverse=true" : " reverse=false"),
           s.loc);
      expr(d + 1, "length: ", sc.length.get());
      for (auto &c : sc.carries) {
        line(d + 1, "", "Carry " + c.name + ": " + typeText(c.type), c.loc);
        expr(d + 2, "init: ", c.init.get());
      }
      block(d + 1, sc.body);
      return;
    }
    case Stmt::ExprStmt:
      line(d, "", "ExprStmt", s.loc);
      expr(d + 1, "", static_cast<const ExprStmt &>(s).value.get());
      return;
    }
  }

  void expr(int d, const std::string &role, const Expr *e) {
    if (!e) {
      indent(d);
      os << role << "<null>\n";
      return;
    }
    switch (e->kind) {
    case Expr::IntLit:
      line(d, role,
           "Int " + std::to_string(static_cast<const IntLitExpr *>(e)->value),
           e->loc);
      return;
    case Expr::FloatLit:
      line(d, role,
           "Float " + formatFloat(static_cast<const FloatLitExpr *>(e)->value),
           e->loc);
      return;
    case Expr::BoolLit:
      line(d, role,
           static_cast<const BoolLitExpr *>(e)->value ? "Bool true"
                                                      : "Bool false",
           e->loc);
      return;
    case Expr::InfLit:
      line(d, role, "Inf", e->loc);
      return;
    case Expr::StringLit:
      line(d, role,
           "String \"" + static_cast<const StringLitExpr *>(e)->value + "\"",
           e->loc);
      return;
    case Expr::NoneLit:
      line(d, role, "None", e->loc);
      return;
    case Expr::DTypeLit:
      line(d, role,
           std::string("DType ") +
               dtypeName(static_cast<const DTypeLitExpr *>(e)->dtype),
           e->loc);
      return;
    case Expr::Ident:
      line(d, role, "Ident " + static_cast<const IdentExpr *>(e)->name,
           e->loc);
      return;
    case Expr::Unary: {
      auto *u = static_cast<const UnaryExpr *>(e);
      line(d, role, u->op == UnaryOp::Neg ? "Unary '-'" : "Unary '!'", e->loc);
      expr(d + 1, "", u->operand.get());
      return;
    }
    case Expr::Binary: {
      auto *b = static_cast<const BinaryExpr *>(e);
      line(d, role, std::string("Binary '") + binaryOpSpelling(b->op) + "'",
           e->loc);
      expr(d + 1, "", b->lhs.get());
      expr(d + 1, "", b->rhs.get());
      return;
    }
    case Expr::Call: {
      auto *c = static_cast<const CallExpr *>(e);
      line(d, role, "Call " + c->callee, e->loc);
      args(d + 1, c->args);
      return;
    }
    case Expr::Member: {
      auto *m = static_cast<const MemberExpr *>(e);
      line(d, role, "Member " + m->name, e->loc);
      expr(d + 1, "", m->base.get());
      return;
    }
    case Expr::MethodCall: {
      auto *m = static_cast<const MethodCallExpr *>(e);
      line(d, role, "MethodCall " + m->name, e->loc);
      expr(d + 1, "", m->base.get());
      args(d + 1, m->args);
      return;
    }
    case Expr::Index: {
      auto *ix = static_cast<const IndexExpr *>(e);
      line(d, role, "Index", e->loc);
      expr(d + 1, "", ix->base.get());
      items(d + 1, ix->items);
      return;
    }
    case Expr::List:
    case Expr::Tuple: {
      const auto &elts = e->kind == Expr::List
                             ? static_cast<const ListExpr *>(e)->elements
                             : static_cast<const TupleExpr *>(e)->elements;
      line(d, role, e->kind == Expr::List ? "List" : "Tuple", e->loc);
      for (auto &x : elts)
        expr(d + 1, "", x.get());
      return;
    }
    }
  }

  std::ostream &os;
};

} // namespace

void seqc::dumpAST(const Module &m, std::ostream &os) { Dumper(os).module(m); }
