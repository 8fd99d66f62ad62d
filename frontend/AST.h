//===- AST.h - The surface syntax of .seq model files ------------*- C++ -*-===//
//
// The parser builds this tree; it mirrors what the user wrote, with a source
// location on every node. Sema reads it and elaborates each model entry into
// the typed graph of TypedIR.h; nothing after Sema looks at the AST. Pure
// C++: no MLIR, no LLVM.
//
//===----------------------------------------------------------------------===//

#ifndef SEQC_FRONTEND_AST_H
#define SEQC_FRONTEND_AST_H

#include "Diagnostics.h"

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

namespace seqc {

enum class DType { F32, F16, BF16, I32, I64, Bool };
const char *dtypeName(DType t);
bool isFloat(DType t);
bool isInt(DType t);

//===----------------------------------------------------------------------===//
// Expressions
//===----------------------------------------------------------------------===//

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum Kind {
    IntLit,    // 42
    FloatLit,  // 1.5, 1e-6
    BoolLit,   // true, false
    InfLit,    // inf  (-inf is Unary(Neg, InfLit))
    StringLit, // "bhtk,bhsk->bhts"
    NoneLit,   // None, only inside an index
    DTypeLit,  // f32 used as a value: cast(x, bf16)
    Ident,     // x
    Unary,     // -x, !x
    Binary,    // x + y, x @ y, x < y, a & b ...
    Call,      // f(a, b, axis = -1)
    Member,    // obj.name   (x.T, attn.wq)
    MethodCall,// obj.name(args)  (x.permute(0, 2, 1, 3), attn.forward(x))
    Index,     // base[items]
    List,      // [B, T, H, K]
    Tuple,     // (a, b) : only as a parenthesised list of two or more
  };
  Kind kind;
  Loc loc;
  explicit Expr(Kind k, Loc l) : kind(k), loc(l) {}
  virtual ~Expr() = default;
};

struct IntLitExpr : Expr {
  int64_t value;
  IntLitExpr(Loc l, int64_t v) : Expr(IntLit, l), value(v) {}
};
struct FloatLitExpr : Expr {
  double value;
  FloatLitExpr(Loc l, double v) : Expr(FloatLit, l), value(v) {}
};
struct BoolLitExpr : Expr {
  bool value;
  BoolLitExpr(Loc l, bool v) : Expr(BoolLit, l), value(v) {}
};
struct InfLitExpr : Expr {
  explicit InfLitExpr(Loc l) : Expr(InfLit, l) {}
};
struct StringLitExpr : Expr {
  std::string value;
  StringLitExpr(Loc l, std::string v) : Expr(StringLit, l), value(std::move(v)) {}
};
struct NoneLitExpr : Expr {
  explicit NoneLitExpr(Loc l) : Expr(NoneLit, l) {}
};
struct DTypeLitExpr : Expr {
  DType dtype;
  DTypeLitExpr(Loc l, DType t) : Expr(DTypeLit, l), dtype(t) {}
};
struct IdentExpr : Expr {
  std::string name;
  IdentExpr(Loc l, std::string n) : Expr(Ident, l), name(std::move(n)) {}
};

enum class UnaryOp { Neg, Not };
struct UnaryExpr : Expr {
  UnaryOp op;
  ExprPtr operand;
  UnaryExpr(Loc l, UnaryOp o, ExprPtr e)
      : Expr(Unary, l), op(o), operand(std::move(e)) {}
};

enum class BinaryOp {
  Add, Sub, Mul, Div, MatMul,
  Eq, Ne, Lt, Le, Gt, Ge,
  And, Or
};
const char *binaryOpSpelling(BinaryOp op);
struct BinaryExpr : Expr {
  BinaryOp op;
  ExprPtr lhs, rhs;
  BinaryExpr(Loc l, BinaryOp o, ExprPtr a, ExprPtr b)
      : Expr(Binary, l), op(o), lhs(std::move(a)), rhs(std::move(b)) {}
};

/// One argument of a call: positional (name empty) or `name = value`.
struct Arg {
  std::string name;
  Loc loc;
  ExprPtr value;
};

struct CallExpr : Expr {
  std::string callee;
  std::vector<Arg> args;
  CallExpr(Loc l, std::string c, std::vector<Arg> a)
      : Expr(Call, l), callee(std::move(c)), args(std::move(a)) {}
};
struct MemberExpr : Expr {
  ExprPtr base;
  std::string name;
  MemberExpr(Loc l, ExprPtr b, std::string n)
      : Expr(Member, l), base(std::move(b)), name(std::move(n)) {}
};
struct MethodCallExpr : Expr {
  ExprPtr base;
  std::string name;
  std::vector<Arg> args;
  MethodCallExpr(Loc l, ExprPtr b, std::string n, std::vector<Arg> a)
      : Expr(MethodCall, l), base(std::move(b)), name(std::move(n)),
        args(std::move(a)) {}
};

/// One item inside `x[...]`.
struct IndexItem {
  enum Kind { Value, Slice, NewAxis, Ellipsis } kind = Value;
  Loc loc;
  ExprPtr value;                  // Value: the index expression
  ExprPtr start, stop, step;      // Slice: each may be null
};

struct IndexExpr : Expr {
  ExprPtr base;
  std::vector<IndexItem> items;
  IndexExpr(Loc l, ExprPtr b, std::vector<IndexItem> i)
      : Expr(Index, l), base(std::move(b)), items(std::move(i)) {}
};
struct ListExpr : Expr {
  std::vector<ExprPtr> elements;
  ListExpr(Loc l, std::vector<ExprPtr> e)
      : Expr(List, l), elements(std::move(e)) {}
};
struct TupleExpr : Expr {
  std::vector<ExprPtr> elements;
  TupleExpr(Loc l, std::vector<ExprPtr> e)
      : Expr(Tuple, l), elements(std::move(e)) {}
};

//===----------------------------------------------------------------------===//
// Types as written: `f32[B, T, D / H]`, `f32` (a scalar)
//===----------------------------------------------------------------------===//

struct TypeExpr {
  Loc loc;
  DType dtype = DType::F32;
  /// Each dimension is an expression over dims, consts and integer
  /// literals (`B`, `64`, `H*K`, `D / H`). Empty for a scalar.
  std::vector<ExprPtr> dims;
};

//===----------------------------------------------------------------------===//
// Statements
//===----------------------------------------------------------------------===//

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Block = std::vector<StmtPtr>;

struct Stmt {
  enum Kind {
    Assign,      // a = e ; a, b = e
    IndexAssign, // y[:, t] = e   (a per-step output of a scan)
    Return,      // return e ; return a, b
    For,         // for i in lo..hi { ... }
    Scan,        // [reverse] scan t in T carry h: ty = init, ... { ... }
    ExprStmt,    // an expression on its own (an error in Sema: no effects)
  };
  Kind kind;
  Loc loc;
  Stmt(Kind k, Loc l) : kind(k), loc(l) {}
  virtual ~Stmt() = default;
};

struct AssignStmt : Stmt {
  std::vector<std::string> targets; // one, or several for destructuring
  std::vector<Loc> targetLocs;
  ExprPtr value;
  AssignStmt(Loc l) : Stmt(Assign, l) {}
};
struct IndexAssignStmt : Stmt {
  std::string target;
  Loc targetLoc;
  std::vector<IndexItem> items;
  ExprPtr value;
  IndexAssignStmt(Loc l) : Stmt(IndexAssign, l) {}
};
struct ReturnStmt : Stmt {
  std::vector<ExprPtr> values;
  ReturnStmt(Loc l) : Stmt(Return, l) {}
};
struct ForStmt : Stmt {
  std::string var;
  Loc varLoc;
  ExprPtr lo, hi; // compile-time integers; the range is [lo, hi)
  Block body;
  ForStmt(Loc l) : Stmt(For, l) {}
};
struct CarryDecl {
  std::string name;
  Loc loc;
  TypeExpr type;
  ExprPtr init;
};
struct ScanStmt : Stmt {
  bool reverse = false;
  std::string var; // the time index, `t`
  Loc varLoc;
  ExprPtr length;  // a dimension expression, `T`
  std::vector<CarryDecl> carries;
  Block body;
  ScanStmt(Loc l) : Stmt(Scan, l) {}
};
struct ExprStmt : Stmt {
  ExprPtr value;
  ExprStmt(Loc l, ExprPtr v) : Stmt(Kind::ExprStmt, l), value(std::move(v)) {}
};

//===----------------------------------------------------------------------===//
// Declarations
//===----------------------------------------------------------------------===//

struct Param {
  std::string name;
  Loc loc;
  TypeExpr type;
};

struct FnDecl {
  std::string name;
  Loc loc;
  std::vector<Param> params;
  /// Declared result types; empty when no `->` was written. A tuple result
  /// `-> (f32[B], f32[B])` has several.
  std::vector<TypeExpr> results;
  bool hasResultArrow = false;
  Block body;
};

/// `const D = 512, H = 8` (each constant is its own ConstDecl).
struct ConstDecl {
  std::string name;
  Loc loc;
  ExprPtr value;
};

/// `layer attn: Attention` or `layer blocks: Block[4]`.
struct SubLayerDecl {
  std::string name;
  Loc loc;
  std::string layerName;
  Loc layerLoc;
  ExprPtr count; // null for a single instance
};

/// `layer Name { ... }` or `model Name { ... }`.
struct LayerDecl {
  std::string name;
  Loc loc;
  bool isModel = false;
  std::vector<Param> params;          // `param wq: f32[D, D], ...`
  std::vector<SubLayerDecl> sublayers;
  std::vector<ConstDecl> consts;      // layer-local constants
  std::vector<std::unique_ptr<FnDecl>> fns;
};

/// The whole file, in source order within each kind.
struct Module {
  std::vector<std::pair<std::string, Loc>> dims; // `dim B, T`
  std::vector<ConstDecl> consts;
  std::vector<std::unique_ptr<FnDecl>> fns;
  std::vector<std::unique_ptr<LayerDecl>> layers; // layers and models
};

/// Prints the tree, one node a line, indented, with `@line:col` on each
/// node (the `--emit=ast` format).
void dumpAST(const Module &m, std::ostream &os);

} // namespace seqc

#endif // SEQC_FRONTEND_AST_H
