//===- TypedIR.cpp - Dims, types and the typed graph's printer -----------===//
//
// Dim arithmetic (polynomials over runtime dimension symbols), type
// printing, node creation and the `--emit=typed` text form.
//
//===----------------------------------------------------------------------===//

#include "TypedIR.h"

#include <algorithm>
#include <ostream>
#include <sstream>

using namespace seqc;

//===----------------------------------------------------------------------===//
// Dim
//===----------------------------------------------------------------------===//

Dim::Dim(int64_t c) {
  if (c != 0)
    terms[{}] = c;
}

Dim Dim::symbol(const std::string &name) {
  Dim d;
  d.terms[{name}] = 1;
  return d;
}

void Dim::normalize() {
  for (auto it = terms.begin(); it != terms.end();) {
    if (it->second == 0)
      it = terms.erase(it);
    else
      ++it;
  }
}

bool Dim::isConstant() const {
  return terms.empty() || (terms.size() == 1 && terms.begin()->first.empty());
}

std::optional<int64_t> Dim::constant() const {
  if (terms.empty())
    return 0;
  if (isConstant())
    return terms.begin()->second;
  return std::nullopt;
}

std::optional<std::string> Dim::asSymbol() const {
  if (terms.size() == 1 && terms.begin()->first.size() == 1 &&
      terms.begin()->second == 1)
    return terms.begin()->first[0];
  return std::nullopt;
}

std::vector<std::string> Dim::symbols() const {
  std::vector<std::string> out;
  for (const auto &[mono, coeff] : terms)
    for (const std::string &s : mono)
      if (std::find(out.begin(), out.end(), s) == out.end())
        out.push_back(s);
  return out;
}

Dim Dim::operator+(const Dim &o) const {
  Dim r = *this;
  for (const auto &[mono, coeff] : o.terms)
    r.terms[mono] += coeff;
  r.normalize();
  return r;
}

Dim Dim::operator-(const Dim &o) const {
  Dim r = *this;
  for (const auto &[mono, coeff] : o.terms)
    r.terms[mono] -= coeff;
  r.normalize();
  return r;
}

Dim Dim::operator*(const Dim &o) const {
  Dim r;
  for (const auto &[m1, c1] : terms)
    for (const auto &[m2, c2] : o.terms) {
      Monomial m = m1;
      m.insert(m.end(), m2.begin(), m2.end());
      std::sort(m.begin(), m.end());
      r.terms[m] += c1 * c2;
    }
  r.normalize();
  return r;
}

/// Removes the symbols of `divisor` from `mono`; false if one is missing.
static bool divideMonomial(const Dim::Monomial &mono,
                           const Dim::Monomial &divisor,
                           Dim::Monomial &quotient) {
  quotient = mono;
  for (const std::string &s : divisor) {
    auto it = std::find(quotient.begin(), quotient.end(), s);
    if (it == quotient.end())
      return false;
    quotient.erase(it);
  }
  return true;
}

std::optional<Dim> Dim::divide(const Dim &o) const {
  // Only division by a single term (c * monomial) is exact in general.
  if (o.terms.size() != 1)
    return *this == o ? std::optional<Dim>(Dim(1)) : std::nullopt;
  const auto &[dmono, dcoeff] = *o.terms.begin();
  Dim r;
  for (const auto &[mono, coeff] : terms) {
    Monomial q;
    if (coeff % dcoeff != 0 || !divideMonomial(mono, dmono, q))
      return std::nullopt;
    r.terms[q] += coeff / dcoeff;
  }
  r.normalize();
  return r;
}

int64_t Dim::evaluate(const std::map<std::string, int64_t> &values) const {
  int64_t total = 0;
  for (const auto &[mono, coeff] : terms) {
    int64_t v = coeff;
    for (const std::string &s : mono) {
      auto it = values.find(s);
      if (it == values.end())
        return -1;
      v *= it->second;
    }
    total += v;
  }
  return total;
}

std::string Dim::str() const {
  if (terms.empty())
    return "0";
  std::string out;
  // Highest-degree terms first, the constant last: `2*T + 1`.
  std::vector<std::pair<Monomial, int64_t>> ordered(terms.begin(),
                                                    terms.end());
  std::sort(ordered.begin(), ordered.end(), [](const auto &a, const auto &b) {
    if (a.first.size() != b.first.size())
      return a.first.size() > b.first.size();
    return a.first < b.first;
  });
  bool first = true;
  for (const auto &[mono, coeff] : ordered) {
    int64_t c = coeff;
    if (!first) {
      out += c < 0 ? " - " : " + ";
      c = c < 0 ? -c : c;
    } else if (c < 0 && !mono.empty()) {
      out += "-";
      c = -c;
    }
    first = false;
    std::string term;
    if (mono.empty() || c != 1)
      term = std::to_string(c);
    for (const std::string &s : mono)
      term += (term.empty() ? "" : "*") + s;
    out += term;
  }
  return out;
}

std::string seqc::shapeStr(const Shape &s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i)
    out += (i ? ", " : "") + s[i].str();
  return out + "]";
}

std::string Type::str() const { return std::string(dtypeName(dtype)) + shapeStr(shape); }

//===----------------------------------------------------------------------===//
// Names
//===----------------------------------------------------------------------===//

const char *seqc::nodeKindName(NodeKind k) {
  switch (k) {
  case NodeKind::Input: return "input";
  case NodeKind::Weight: return "weight";
  case NodeKind::Constant: return "constant";
  case NodeKind::Arange: return "arange";
  case NodeKind::ScanIndex: return "scan_index";
  case NodeKind::ScanCarry: return "scan_carry";
  case NodeKind::CombineArg: return "combine_arg";
  case NodeKind::Unary: return "unary";
  case NodeKind::Binary: return "binary";
  case NodeKind::Where: return "where";
  case NodeKind::Cast: return "cast";
  case NodeKind::MatMul: return "matmul";
  case NodeKind::Einsum: return "einsum";
  case NodeKind::Reduce: return "reduce";
  case NodeKind::Softmax: return "softmax";
  case NodeKind::Permute: return "permute";
  case NodeKind::Reshape: return "reshape";
  case NodeKind::ExpandDims: return "expand_dims";
  case NodeKind::Concat: return "concat";
  case NodeKind::Slice: return "slice";
  case NodeKind::DynIndex: return "dyn_index";
  case NodeKind::Gather: return "gather";
  case NodeKind::Scan: return "scan";
  case NodeKind::ScanResult: return "scan_result";
  case NodeKind::AssocScan: return "assoc_scan";
  case NodeKind::AssocScanResult: return "assoc_scan_result";
  }
  return "?";
}

const char *seqc::unaryFnName(UnaryFn f) {
  static const char *names[] = {"neg",  "not",     "exp",  "log",     "sqrt",
                                "rsqrt", "tanh",   "sigmoid", "silu", "gelu",
                                "softplus", "relu", "abs",  "sin",     "cos",
                                "erf"};
  return names[(int)f];
}

const char *seqc::binaryFnName(BinaryFn f) {
  static const char *names[] = {"add", "sub", "mul", "div", "pow",
                                "max", "min", "eq",  "ne",  "lt",
                                "le",  "gt",  "ge",  "and", "or"};
  return names[(int)f];
}

const char *seqc::reduceFnName(ReduceFn f) {
  static const char *names[] = {"sum", "mean", "max", "min"};
  return names[(int)f];
}

//===----------------------------------------------------------------------===//
// Program
//===----------------------------------------------------------------------===//

Node *Program::create(NodeKind kind, Type type, Loc loc,
                      std::vector<Node *> operands) {
  auto n = std::make_unique<Node>();
  n->kind = kind;
  n->type = std::move(type);
  n->loc = loc;
  n->operands = std::move(operands);
  n->id = (unsigned)all.size();
  all.push_back(std::move(n));
  return all.back().get();
}

//===----------------------------------------------------------------------===//
// Printer
//===----------------------------------------------------------------------===//

namespace {
/// Prints the nodes an entry reaches, operands before users, bodies nested.
class EntryPrinter {
public:
  EntryPrinter(std::ostream &os) : os(os) {}

  void print(const Entry &e) {
    os << "entry " << e.name << "(";
    for (size_t i = 0; i < e.inputs.size(); ++i) {
      os << (i ? ", " : "") << e.inputs[i]->name << ": "
         << e.inputs[i]->type.str();
      names[e.inputs[i]] = "%" + e.inputs[i]->name;
    }
    os << ") {\n";
    for (Node *r : e.results)
      visit(r, 1);
    indent(1);
    os << "return";
    for (size_t i = 0; i < e.results.size(); ++i)
      os << (i ? ", " : " ") << name(e.results[i]);
    os << "\n}\n";
  }

private:
  std::ostream &os;
  std::map<const Node *, std::string> names;
  unsigned counter = 0;

  void indent(int depth) {
    for (int i = 0; i < depth; ++i)
      os << "  ";
  }

  std::string name(const Node *n) {
    auto it = names.find(n);
    return it == names.end() ? "%?" : it->second;
  }

  /// Prints `n` (and what it needs first) if not printed yet, at `depth`; a
  /// scan or assoc_scan prints its body nested one level deeper.
  void visit(Node *n, int depth) {
    if (names.count(n))
      return;
    if (n->kind == NodeKind::ScanIndex || n->kind == NodeKind::ScanCarry ||
        n->kind == NodeKind::CombineArg)
      return; // named by their op
    for (Node *op : n->operands)
      visit(op, depth);
    if (n->kind == NodeKind::Scan)
      return printScan(n, depth);
    if (n->kind == NodeKind::AssocScan)
      return printAssocScan(n, depth);
    std::string nm = "%" + std::to_string(counter++);
    names[n] = nm;
    indent(depth);
    os << nm << " = " << nodeKindName(n->kind);
    switch (n->kind) {
    case NodeKind::Unary: os << "." << unaryFnName(n->unaryFn()); break;
    case NodeKind::Binary: os << "." << binaryFnName(n->binaryFn()); break;
    case NodeKind::Reduce: os << "." << reduceFnName(n->reduceFn()); break;
    default: break;
    }
    if (!n->name.empty())
      os << " \"" << n->name << "\"";
    if (n->kind == NodeKind::Constant) {
      if (isInt(n->type.dtype))
        os << " " << n->ival;
      else
        os << " " << n->fval;
    }
    for (size_t i = 0; i < n->operands.size(); ++i)
      os << (i ? ", " : " ") << name(n->operands[i]);
    if (!n->ints.empty()) {
      os << " [";
      for (size_t i = 0; i < n->ints.size(); ++i)
        os << (i ? ", " : "") << n->ints[i];
      os << "]";
    }
    if (n->kind == NodeKind::Reduce && n->ival)
      os << " keepdim";
    if (!n->dims.empty()) {
      os << " {";
      for (size_t i = 0; i < n->dims.size(); i += 3)
        os << (i ? ", " : "") << n->dims[i].str() << ":+" << n->dims[i + 1].str()
           << ":" << n->dims[i + 2].str();
      os << "}";
    }
    os << " : " << n->type.str() << " @" << n->loc.line << ":" << n->loc.col
       << "\n";
  }

  void printScan(Node *n, int depth) {
    ScanInfo &s = *n->scan;
    std::string nm = "%" + std::to_string(counter++);
    names[n] = nm;
    names[s.index] = "%t" + nm.substr(1);
    for (size_t i = 0; i < s.carries.size(); ++i)
      names[s.carries[i]] = "%" + s.carryNames[i] + nm.substr(1);
    indent(depth);
    os << nm << " = " << (s.reverse ? "reverse " : "") << "scan "
       << names[s.index] << " in " << s.length.str() << " carry";
    for (size_t i = 0; i < s.carries.size(); ++i)
      os << (i ? ", " : " ") << names[s.carries[i]] << " = "
         << name(s.inits[i]);
    os << " @" << n->loc.line << ":" << n->loc.col << " {\n";
    for (Node *c : s.newCarries)
      visit(c, depth + 1);
    for (Node *o : s.stepOutputs)
      visit(o, depth + 1);
    indent(depth + 1);
    os << "next";
    for (size_t i = 0; i < s.newCarries.size(); ++i)
      os << (i ? ", " : " ") << name(s.newCarries[i]);
    os << "; outputs";
    for (size_t i = 0; i < s.stepOutputs.size(); ++i)
      os << (i ? ", " : " ") << s.outputNames[i] << "[axis " << s.outputAxes[i]
         << "] = " << name(s.stepOutputs[i]);
    os << "\n";
    indent(depth);
    os << "}\n";
  }

  void printAssocScan(Node *n, int depth) {
    AssocScanInfo &a = *n->assoc;
    std::string nm = "%" + std::to_string(counter++);
    names[n] = nm;
    for (size_t i = 0; i < a.args.size(); ++i)
      names[a.args[i]] = "%arg" + std::to_string(i) + "_" + nm.substr(1);
    indent(depth);
    os << nm << " = " << (a.reverse ? "reverse " : "") << "assoc_scan axis "
       << a.axis;
    for (size_t i = 0; i < a.inputs.size(); ++i)
      os << (i ? ", " : " ") << name(a.inputs[i]);
    os << " @" << n->loc.line << ":" << n->loc.col << " {\n";
    for (Node *c : a.combined)
      visit(c, depth + 1);
    indent(depth + 1);
    os << "combine";
    for (size_t i = 0; i < a.combined.size(); ++i)
      os << (i ? ", " : " ") << name(a.combined[i]);
    os << "\n";
    indent(depth);
    os << "}\n";
  }
};
} // namespace

void seqc::printEntry(const Program &p, const Entry &e, std::ostream &os) {
  (void)p;
  EntryPrinter(os).print(e);
}
