//===- TypedIR.h - The typed, elaborated form of a model ---------*- C++ -*-===//
//
// Sema turns each model entry point into a graph of typed nodes: functions
// are inlined, `for` loops unrolled, layer instances resolved to weight
// names, builtins reduced to a small core, every shape inferred. This graph
// is "the typed AST" of DESIGN.md: the reference interpreter evaluates it,
// MLIRGen turns it into the seq dialect. Pure C++: no MLIR, no LLVM.
//
// Conventions every consumer may rely on (Sema guarantees them):
//  * Every node has a full Type: dtype and a shape of Dims.
//  * Elementwise nodes (Unary, Binary, Where, Cast) follow NumPy
//    broadcasting: operand shapes are right-aligned; a dim is either equal to
//    the result's or the constant 1 (or missing on the left). Sema has
//    checked this symbolically, so no runtime check is needed.
//  * Operand dtypes of Binary/Where value operands equal each other (weak
//    literals were given the other operand's dtype). Comparisons give Bool.
//  * Element types fit the op: Unary takes floats, except Neg, Abs and Relu
//    (also integers) and Not (bool); Div, Pow, Mean, MatMul, Einsum and
//    Softmax take floats; Max/Min and reductions never see bool.
//  * Einsum specs are canonical, `ab,bc->ac`: letters only, one term per
//    operand, an explicit output.
//  * Axes are non-negative and in range.
//  * Nodes created inside a scan body or an assoc_scan combiner point to it
//    through `region`; nodes outside have region == nullptr. A body node
//    may use outer nodes (captured values) but never the reverse.
//
//===----------------------------------------------------------------------===//

#ifndef SEQC_FRONTEND_TYPEDIR_H
#define SEQC_FRONTEND_TYPEDIR_H

#include "AST.h"

#include <cstdint>
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace seqc {

//===----------------------------------------------------------------------===//
// Dim: a size, a polynomial with integer coefficients over the runtime
// dimension symbols (`B`, `T`). Constants are the polynomial with only the
// empty monomial. Examples: 512, T, B*T, 2*T, T + S.
//===----------------------------------------------------------------------===//

class Dim {
public:
  /// Monomial: sorted symbol names with repetition (`{"B","T"}` is B*T).
  using Monomial = std::vector<std::string>;

  Dim() = default;
  Dim(int64_t c);                       // NOLINT: implicit on purpose
  static Dim symbol(const std::string &name);

  bool isConstant() const;              // no symbols
  std::optional<int64_t> constant() const;
  /// The symbol when this is exactly one symbol with coefficient 1.
  std::optional<std::string> asSymbol() const;
  /// All symbols this dim mentions.
  std::vector<std::string> symbols() const;

  Dim operator+(const Dim &o) const;
  Dim operator-(const Dim &o) const;
  Dim operator*(const Dim &o) const;
  /// Exact division; nullopt unless every term divides (by a constant, or a
  /// monomial that divides every term).
  std::optional<Dim> divide(const Dim &o) const;

  bool operator==(const Dim &o) const { return terms == o.terms; }
  bool operator!=(const Dim &o) const { return !(*this == o); }
  bool operator<(const Dim &o) const { return terms < o.terms; }

  /// Evaluates with concrete values for the symbols (missing: error -> -1).
  int64_t evaluate(const std::map<std::string, int64_t> &values) const;
  /// `B*T`, `2*T + 1`, `512`.
  std::string str() const;

  /// Terms with nonzero coefficients, canonical order.
  const std::map<Monomial, int64_t> &getTerms() const { return terms; }

private:
  std::map<Monomial, int64_t> terms;
  void normalize();
};

using Shape = std::vector<Dim>;
std::string shapeStr(const Shape &s); // "[B, T, 512]"

struct Type {
  DType dtype = DType::F32;
  Shape shape;
  int64_t rank() const { return (int64_t)shape.size(); }
  std::string str() const; // "f32[B, T, 512]", "f32[]" for a scalar
  bool operator==(const Type &o) const {
    return dtype == o.dtype && shape == o.shape;
  }
  bool operator!=(const Type &o) const { return !(*this == o); }
};

//===----------------------------------------------------------------------===//
// Nodes
//===----------------------------------------------------------------------===//

enum class NodeKind {
  // Leaves.
  Input,      // an entry argument; ints[0] = argument position, name
  Weight,     // a parameter; name = full weight name ("blocks.0.attn.wq")
  Constant,   // a splat: every element is fval (floats, bool as 0/1) or
              // ival (integers); the type may be a scalar or any shape
  Arange,     // i64[n]: 0, 1, ..., n-1 (n = type.shape[0])
  ScanIndex,  // i64[] : the time step of the enclosing scan (`t`)
  ScanCarry,  // the value of carry ints[0] at the start of the step
  CombineArg, // argument ints[0] of an assoc_scan combiner (0..2N-1)

  // Elementwise (NumPy broadcasting).
  Unary,      // sub = UnaryFn; one operand
  Binary,     // sub = BinaryFn; two operands
  Where,      // operands: cond (Bool), a, b
  Cast,       // one operand; result dtype = type.dtype

  // Structured.
  MatMul,     // a[..., M, K] @ b[..., K, N]; batch dims broadcast
  Einsum,     // str = spec "bhtk,bhsk->bhts"; operands in order
  Reduce,     // sub = ReduceFn; ints = reduced axes (sorted);
              // ival = keepdim (0/1)
  Softmax,    // ints[0] = axis; a row that is all -inf gives zeros
  Permute,    // ints = permutation: result dim i = operand dim ints[i]
  Reshape,    // to type.shape; same element count
  ExpandDims, // ints = positions (in the result) of new size-1 axes
  Concat,     // ints[0] = axis; two or more operands
  Slice,      // per axis: dims[3i] start, dims[3i+1] size, dims[3i+2] step
              // (all non-negative; step > 0 constant); ints = axes dropped
              // (integer indices: those axes have size 1 before dropping)
  DynIndex,   // operands: x, index (i64[]); ints[0] = axis; picks one
              // position along axis and drops it
  Gather,     // operands: table, indices (integer, any rank); result shape
              // = indices.shape + table.shape[1:] (rows of table)

  // Recurrences. A Scan is a node without a value of its own: ScanResult
  // nodes select its results.
  Scan,
  ScanResult,      // operands[0] = the Scan; ints[0] = result number
  AssocScan,
  AssocScanResult, // operands[0] = the AssocScan; ints[0] = result number
};

enum class UnaryFn {
  Neg, Not, Exp, Log, Sqrt, Rsqrt, Tanh, Sigmoid, Silu, Gelu, Softplus,
  Relu, Abs, Sin, Cos, Erf
};
enum class BinaryFn {
  Add, Sub, Mul, Div, Pow, Max, Min,
  Eq, Ne, Lt, Le, Gt, Ge,
  And, Or
};
enum class ReduceFn { Sum, Mean, Max, Min };

const char *nodeKindName(NodeKind k);
const char *unaryFnName(UnaryFn f);
const char *binaryFnName(BinaryFn f);
const char *reduceFnName(ReduceFn f);

struct Node;

/// The recurrence of a `scan` statement.
///   carries c_i (ScanCarry nodes) start at `inits[i]`;
///   each step t (ScanIndex) computes `newCarries[i]` and `stepOutputs[j]`;
///   results: final carries (nCarries) then stacked outputs, output j with
///   the time axis inserted at `outputAxes[j]`.
struct ScanInfo {
  bool reverse = false;
  Dim length;
  Node *index = nullptr;              // the ScanIndex node
  std::vector<Node *> carries;        // ScanCarry nodes, one per carry
  std::vector<std::string> carryNames;
  std::vector<Node *> inits;          // outer nodes, carry types
  std::vector<Node *> newCarries;     // body nodes (or outer, or carries)
  std::vector<Node *> stepOutputs;    // body nodes: per-step output values
  std::vector<std::string> outputNames;
  std::vector<int64_t> outputAxes;
};

/// An inclusive associative scan along `axis` of N inputs of one shape.
/// The combiner takes 2N slices (inputs with `axis` removed): the earlier
/// element's N values, then the later element's, and gives N slices.
/// Results: N tensors shaped like the inputs.
struct AssocScanInfo {
  bool reverse = false;
  int64_t axis = 0;
  std::vector<Node *> inputs;   // outer nodes
  std::vector<Node *> args;     // CombineArg nodes (2N)
  std::vector<Node *> combined; // combiner results (N)
};

struct Node {
  NodeKind kind;
  Type type;
  Loc loc;
  std::vector<Node *> operands;
  int sub = 0;                 // UnaryFn / BinaryFn / ReduceFn
  std::vector<int64_t> ints;   // axes, permutation, positions
  std::vector<Dim> dims;       // Slice bounds
  double fval = 0;             // Constant (float, bool)
  int64_t ival = 0;            // Constant (integer), Reduce keepdim
  std::string name;            // Input / Weight name, Einsum spec
  std::unique_ptr<ScanInfo> scan;
  std::unique_ptr<AssocScanInfo> assoc;
  Node *region = nullptr;      // the Scan / AssocScan whose body holds it
  unsigned id = 0;             // creation order within the graph

  UnaryFn unaryFn() const { return (UnaryFn)sub; }
  BinaryFn binaryFn() const { return (BinaryFn)sub; }
  ReduceFn reduceFn() const { return (ReduceFn)sub; }
};

/// One exported function of the model (`model M { fn forward(...) }`).
struct Entry {
  std::string name;
  Loc loc;
  std::vector<Node *> inputs;         // Input nodes, in argument order
  std::vector<Node *> results;        // one per declared result
  std::vector<std::string> resultNames; // "out" or "out0", "out1", ...
  /// Runtime dims (`dim` symbols) this entry's shapes use; each appears
  /// alone as some input dimension, so it is known from the inputs.
  std::vector<std::string> dimSymbols;
};

/// A model: its weights and entries. Owns every node.
struct Program {
  std::string modelName;
  Loc modelLoc;
  /// Every weight of the model (all instances), in declaration order,
  /// with its full name and type.
  std::vector<std::pair<std::string, Type>> weights;
  std::vector<Entry> entries;
  /// The `dim` names of the file, in order.
  std::vector<std::string> dimNames;

  Node *create(NodeKind kind, Type type, Loc loc,
               std::vector<Node *> operands = {});
  const std::vector<std::unique_ptr<Node>> &nodes() const { return all; }

private:
  std::vector<std::unique_ptr<Node>> all;
};

/// Prints an entry's graph in a stable text form (one node a line, `%N =`),
/// used by `seqc --emit=typed` and by Sema's tests.
void printEntry(const Program &p, const Entry &e, std::ostream &os);

} // namespace seqc

#endif // SEQC_FRONTEND_TYPEDIR_H
