//===- MLIRGen.cpp - Typed graph to the seq dialect -----------------------===//
//
// Turns each Entry of a Program into a `func.func` over tensors:
//   func.func @forward(%w0: tensor<..> {seq.weight = "blocks.0.attn.wq"}, ...,
//                      %x: tensor<?x?x512xf32> {seq.input = "x"}, ...)
//       -> (tensor<..> {seq.output = "out"}, ...)
// Weights the entry reads come first, in the Program's weight order, then the
// inputs in argument order. Runtime dims are `?`; each `dim` symbol becomes an
// `index` value (tensor.dim of an input that carries it alone) at the top of
// the function, where every size polynomial used later is also built, so
// they dominate every region.
//
// Nodes are emitted on demand (operands first). A Scan or AssocScan first
// emits every outer value its body captures, then builds its region and
// emits the body nodes inside it.
//
//===----------------------------------------------------------------------===//

#include "MLIRGen/MLIRGen.h"
#include "dialects/Seq/Seq.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Verifier.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SmallPtrSet.h"

#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <set>

using namespace mlir;
using namespace seqc;

void seqc::registerMLIRGenDialects(MLIRContext &ctx) {
  DialectRegistry registry;
  registry.insert<seq::SeqDialect, func::FuncDialect, arith::ArithDialect,
                  math::MathDialect, tensor::TensorDialect,
                  linalg::LinalgDialect, scf::SCFDialect,
                  bufferization::BufferizationDialect, memref::MemRefDialect>();
  ctx.appendDialectRegistry(registry);
  ctx.loadAllAvailableDialects();
}

namespace {

using BodyFn = std::function<Value(OpBuilder &, Location, ValueRange)>;

/// Emits one entry as a func.func.
class EntryGen {
public:
  EntryGen(MLIRContext &ctx, const Program &program, const Entry &entry,
           StringAttr file)
      : ctx(ctx), b(&ctx), program(program), entry(entry), file(file) {}

  func::FuncOp run(ModuleOp module);

private:
  MLIRContext &ctx;
  OpBuilder b;
  /// Inserts in the function's prologue (before `prologueEnd`).
  OpBuilder pb{&ctx};
  const Program &program;
  const Entry &entry;
  StringAttr file;
  bool failed = false;

  DenseMap<const Node *, Value> values;
  /// The `index` block argument of each ScanIndex node's scan.
  DenseMap<const Node *, Value> stepIndex;
  DenseMap<const Node *, Operation *> regionOps;
  std::map<std::string, Value> weightArgs;
  std::map<std::string, Value> symbols;
  std::map<Dim, Value> dimCache;

  Location loc(const Node *n) const { return loc(n->loc); }
  Location loc(Loc l) const {
    if (!l.valid())
      return UnknownLoc::get(&ctx);
    return FileLineColLoc::get(file, l.line, l.col);
  }

  Value error(const Node *n, const Twine &msg) {
    if (!failed)
      emitError(loc(n)) << msg;
    failed = true;
    return {};
  }

  //===--- Types and sizes
  //-------------------------------------------------===//

  mlir::Type elementType(DType t) {
    switch (t) {
    case DType::F32:
      return b.getF32Type();
    case DType::F16:
      return b.getF16Type();
    case DType::BF16:
      return b.getBF16Type();
    case DType::I32:
      return b.getI32Type();
    case DType::I64:
      return b.getI64Type();
    case DType::Bool:
      return b.getI1Type();
    }
    return b.getF32Type();
  }

  static int64_t staticSize(const Dim &d) {
    if (auto c = d.constant())
      return *c;
    return ShapedType::kDynamic;
  }

  RankedTensorType tensorType(const seqc::Type &t) {
    SmallVector<int64_t> shape;
    for (const Dim &d : t.shape)
      shape.push_back(staticSize(d));
    return RankedTensorType::get(shape, elementType(t.dtype));
  }

  Value indexConstant(int64_t c) { return dimValue(Dim(c)); }

  /// The `index` value of a size polynomial, built once in the prologue.
  Value dimValue(const Dim &d) {
    auto it = dimCache.find(d);
    if (it != dimCache.end())
      return it->second;
    Location l = loc(entry.loc);
    Value sum;
    for (const auto &[mono, coeff] : d.getTerms()) {
      Value term;
      for (const std::string &s : mono) {
        Value v = symbols.at(s);
        term = term ? arith::MulIOp::create(pb, l, term, v).getResult() : v;
      }
      if (!term)
        term = mono.empty() && coeff == d.constant()
                   ? arith::ConstantIndexOp::create(pb, l, coeff).getResult()
                   : dimValue(Dim(coeff));
      else if (coeff != 1)
        term = arith::MulIOp::create(pb, l, term, dimValue(Dim(coeff)));
      sum = sum ? arith::AddIOp::create(pb, l, sum, term).getResult() : term;
    }
    if (!sum)
      sum = arith::ConstantIndexOp::create(pb, l, 0);
    dimCache[d] = sum;
    return sum;
  }

  OpFoldResult foldResult(const Dim &d) {
    if (auto c = d.constant())
      return b.getIndexAttr(*c);
    return dimValue(d);
  }

  SmallVector<Value> dynamicSizes(const Shape &shape) {
    SmallVector<Value> sizes;
    for (const Dim &d : shape)
      if (!d.isConstant())
        sizes.push_back(dimValue(d));
    return sizes;
  }

  Value emptyTensor(const seqc::Type &t, Location l) {
    RankedTensorType type = tensorType(t);
    return tensor::EmptyOp::create(b, l, type.getShape(), type.getElementType(),
                                   dynamicSizes(t.shape));
  }

  TypedAttr scalarAttr(mlir::Type elt, double f, int64_t i) {
    if (auto ft = dyn_cast<FloatType>(elt))
      return b.getFloatAttr(ft, f);
    if (elt.isInteger(1))
      return b.getIntegerAttr(elt, (f != 0 || i != 0) ? 1 : 0);
    return b.getIntegerAttr(elt, i);
  }

  Value scalarConstant(mlir::Type elt, double f, int64_t i, Location l) {
    return arith::ConstantOp::create(b, l, scalarAttr(elt, f, i));
  }

  /// A tensor of type `t` filled with a scalar.
  Value filled(const seqc::Type &t, Value scalar, Location l) {
    Value empty = emptyTensor(t, l);
    return linalg::FillOp::create(b, l, ValueRange{scalar}, ValueRange{empty})
        .getResult(0);
  }

  //===--- Helpers for structured ops
  //--------------------------------------===//

  /// The map of an operand of shape `opShape` broadcast (NumPy) to a result
  /// of rank `rank`: right-aligned, size-1 dims read index 0.
  AffineMap broadcastMap(const Shape &opShape, const Shape &resShape) {
    int64_t rank = resShape.size(), r = opShape.size();
    SmallVector<AffineExpr> exprs;
    for (int64_t i = 0; i < r; ++i) {
      int64_t d = i + rank - r;
      if (opShape[i] == Dim(1) && resShape[d] != Dim(1))
        exprs.push_back(b.getAffineConstantExpr(0));
      else
        exprs.push_back(b.getAffineDimExpr(d));
    }
    return AffineMap::get(rank, 0, exprs, &ctx);
  }

  /// An elementwise linalg.generic producing `n`'s type from `ins`.
  Value elementwise(const Node *n, ValueRange ins,
                    ArrayRef<const Node *> inNodes, const BodyFn &body) {
    Location l = loc(n);
    SmallVector<AffineMap> maps;
    for (const Node *in : inNodes)
      maps.push_back(broadcastMap(in->type.shape, n->type.shape));
    maps.push_back(b.getMultiDimIdentityMap(n->type.rank()));
    SmallVector<utils::IteratorType> iters(n->type.rank(),
                                           utils::IteratorType::parallel);
    Value init = emptyTensor(n->type, l);
    auto op = linalg::GenericOp::create(
        b, l, TypeRange{tensorType(n->type)}, ins, ValueRange{init}, maps,
        iters, [&](OpBuilder &nb, Location nl, ValueRange args) {
          Value v = body(nb, nl, args.drop_back());
          linalg::YieldOp::create(nb, nl, v);
        });
    return op.getResult(0);
  }

  /// Inserts size-1 dims into `src` at the positions `newAxes` of `result`.
  Value expandUnitDims(Value src, const seqc::Type &result,
                       ArrayRef<int64_t> newAxes, Location l) {
    llvm::SmallDenseSet<int64_t> isNew(newAxes.begin(), newAxes.end());
    SmallVector<ReassociationIndices> reassoc;
    ReassociationIndices pending;
    bool scalar = cast<RankedTensorType>(src.getType()).getRank() == 0;
    for (int64_t i = 0; i < result.rank() && !scalar; ++i) {
      pending.push_back(i);
      if (!isNew.contains(i)) {
        reassoc.push_back(pending);
        pending.clear();
      }
    }
    if (!pending.empty() && !reassoc.empty())
      llvm::append_range(reassoc.back(), pending);
    SmallVector<OpFoldResult> outShape;
    for (const Dim &d : result.shape)
      outShape.push_back(foldResult(d));
    return tensor::ExpandShapeOp::create(b, l, tensorType(result), src, reassoc,
                                         outShape);
  }

  //===--- Node emission
  //---------------------------------------------------===//

  Value get(const Node *n);
  Value emit(const Node *n);
  Value emitUnary(const Node *n);
  Value emitBinary(const Node *n);
  Value emitCast(const Node *n);
  Value emitMatMul(const Node *n);
  Value emitEinsum(const Node *n);
  Value emitReduce(const Node *n);
  Value emitReshape(const Node *n);
  Value emitSlice(const Node *n);
  Value emitDynIndex(const Node *n);
  Value emitGather(const Node *n);
  Operation *emitScan(const Node *n);
  Operation *emitAssocScan(const Node *n);
  /// The seq.scan / seq.assoc_scan of a Scan / AssocScan node.
  Operation *regionOp(const Node *n) {
    if (Operation *op = regionOps.lookup(n))
      return op;
    if (failed)
      return nullptr;
    Operation *op = n->scan ? emitScan(n) : emitAssocScan(n);
    if (!op)
      error(n, Twine("cannot lower ") + nodeKindName(n->kind));
    regionOps[n] = op;
    return op;
  }
  Value castScalar(OpBuilder &nb, Location l, Value v, mlir::Type to,
                   bool fromBool);

  /// Emits every node outside `region` that the nodes inside it read.
  void emitCaptures(const Node *region, ArrayRef<Node *> roots);
  static bool isInside(const Node *n, const Node *region) {
    for (const Node *r = n->region; r; r = r->region)
      if (r == region)
        return true;
    return false;
  }

  void collectWeights(const Node *n, llvm::SmallPtrSetImpl<const Node *> &seen,
                      std::set<std::string> &names);
};

} // namespace

//===----------------------------------------------------------------------===//
// Entry
//===----------------------------------------------------------------------===//

/// The region-internal roots of a Scan / AssocScan, and its outer operands.
static void regionRoots(const Node *n, SmallVectorImpl<Node *> &outer,
                        SmallVectorImpl<Node *> &inner) {
  if (n->scan) {
    llvm::append_range(outer, n->scan->inits);
    llvm::append_range(inner, n->scan->newCarries);
    llvm::append_range(inner, n->scan->stepOutputs);
  }
  if (n->assoc) {
    llvm::append_range(outer, n->assoc->inputs);
    llvm::append_range(inner, n->assoc->combined);
  }
}

void EntryGen::collectWeights(const Node *n,
                              llvm::SmallPtrSetImpl<const Node *> &seen,
                              std::set<std::string> &names) {
  if (!n || !seen.insert(n).second)
    return;
  if (n->kind == NodeKind::Weight)
    names.insert(n->name);
  for (const Node *o : n->operands)
    collectWeights(o, seen, names);
  SmallVector<Node *> outer, inner;
  regionRoots(n, outer, inner);
  for (const Node *o : outer)
    collectWeights(o, seen, names);
  for (const Node *o : inner)
    collectWeights(o, seen, names);
}

func::FuncOp EntryGen::run(ModuleOp module) {
  // Signature: the weights this entry reads, then its inputs.
  llvm::SmallPtrSet<const Node *, 32> seen;
  std::set<std::string> used;
  for (const Node *r : entry.results)
    collectWeights(r, seen, used);

  SmallVector<mlir::Type> argTypes;
  SmallVector<DictionaryAttr> argAttrs;
  SmallVector<std::string> weightNames;
  for (const auto &[name, type] : program.weights) {
    if (!used.count(name))
      continue;
    weightNames.push_back(name);
    argTypes.push_back(tensorType(type));
    argAttrs.push_back(b.getDictionaryAttr(
        b.getNamedAttr("seq.weight", b.getStringAttr(name))));
  }
  for (const Node *in : entry.inputs) {
    argTypes.push_back(tensorType(in->type));
    argAttrs.push_back(b.getDictionaryAttr(
        b.getNamedAttr("seq.input", b.getStringAttr(in->name))));
  }
  SmallVector<mlir::Type> resultTypes;
  SmallVector<DictionaryAttr> resultAttrs;
  for (size_t i = 0; i < entry.results.size(); ++i) {
    resultTypes.push_back(tensorType(entry.results[i]->type));
    std::string name =
        i < entry.resultNames.size() ? entry.resultNames[i] : "out";
    resultAttrs.push_back(b.getDictionaryAttr(
        b.getNamedAttr("seq.output", b.getStringAttr(name))));
  }

  b.setInsertionPointToEnd(module.getBody());
  auto func = func::FuncOp::create(b, loc(entry.loc), entry.name,
                                   b.getFunctionType(argTypes, resultTypes));
  func.setAllArgAttrs(argAttrs);
  func.setAllResultAttrs(resultAttrs);
  if (!entry.dimSymbols.empty()) {
    SmallVector<Attribute> syms;
    for (const std::string &s : entry.dimSymbols)
      syms.push_back(b.getStringAttr(s));
    func->setAttr("seq.dims", b.getArrayAttr(syms));
  }
  mlir::Block *block = func.addEntryBlock();
  b.setInsertionPointToStart(block);

  for (size_t i = 0; i < weightNames.size(); ++i)
    weightArgs[weightNames[i]] = block->getArgument(i);
  size_t firstInput = weightNames.size();

  // Prologue: each dim symbol from an input dimension that is exactly it.
  for (const std::string &sym : entry.dimSymbols) {
    for (size_t i = 0; i < entry.inputs.size() && !symbols.count(sym); ++i) {
      const Node *in = entry.inputs[i];
      for (int64_t d = 0; d < in->type.rank(); ++d) {
        if (in->type.shape[d].asSymbol() != sym)
          continue;
        symbols[sym] = tensor::DimOp::create(
            b, loc(in), block->getArgument(firstInput + i), d);
        break;
      }
    }
    if (!symbols.count(sym)) {
      emitError(loc(entry.loc))
          << "dimension '" << sym << "' is not the size of any input axis";
      return nullptr;
    }
  }
  // Size polynomials go before this constant, in order of first use.
  Value zero = arith::ConstantIndexOp::create(b, loc(entry.loc), 0);
  pb.setInsertionPoint(zero.getDefiningOp());
  dimCache[Dim(0)] = zero;

  for (size_t i = 0; i < entry.inputs.size(); ++i)
    values[entry.inputs[i]] = block->getArgument(firstInput + i);

  SmallVector<Value> results;
  for (const Node *r : entry.results) {
    Value v = get(r);
    if (!v || failed)
      return nullptr;
    results.push_back(v);
  }
  func::ReturnOp::create(b, loc(entry.loc), results);
  return func;
}

//===----------------------------------------------------------------------===//
// Nodes
//===----------------------------------------------------------------------===//

Value EntryGen::get(const Node *n) {
  auto it = values.find(n);
  if (it != values.end())
    return it->second;
  if (failed)
    return {};
  Value v = emit(n);
  // `t` as a tensor is made where it is used, never cached: a copy made in
  // a nested region would not dominate later uses outside it.
  if (n->kind == NodeKind::ScanIndex)
    return v;
  if (!v && (n->kind == NodeKind::Scan || n->kind == NodeKind::AssocScan))
    return {}; // A scan with no results has no value; not an error.
  if (!v)
    return error(n, Twine("cannot lower ") + nodeKindName(n->kind));
  values[n] = v;
  return v;
}

Value EntryGen::emit(const Node *n) {
  Location l = loc(n);
  switch (n->kind) {
  case NodeKind::Input:
    return error(n, "input '" + n->name + "' is not an argument of the entry");
  case NodeKind::Weight: {
    auto it = weightArgs.find(n->name);
    if (it == weightArgs.end())
      return error(n, "unknown weight '" + n->name + "'");
    return it->second;
  }
  case NodeKind::Constant: {
    RankedTensorType type = tensorType(n->type);
    TypedAttr elt = scalarAttr(type.getElementType(), n->fval, n->ival);
    if (type.hasStaticShape())
      return arith::ConstantOp::create(b, l, DenseElementsAttr::get(type, elt));
    return filled(n->type, arith::ConstantOp::create(b, l, elt), l);
  }
  case NodeKind::Arange: {
    Value init = emptyTensor(n->type, l);
    auto op = linalg::GenericOp::create(
        b, l, TypeRange{tensorType(n->type)}, ValueRange{}, ValueRange{init},
        ArrayRef<AffineMap>{b.getMultiDimIdentityMap(1)},
        ArrayRef<utils::IteratorType>{utils::IteratorType::parallel},
        [&](OpBuilder &nb, Location nl, ValueRange) {
          Value i = linalg::IndexOp::create(nb, nl, 0);
          Value c = arith::IndexCastOp::create(nb, nl, nb.getI64Type(), i);
          linalg::YieldOp::create(nb, nl, c);
        });
    return op.getResult(0);
  }
  case NodeKind::ScanIndex: {
    Value t = stepIndex.lookup(n);
    if (!t)
      return error(n, "scan index used outside its scan");
    Value i64 = arith::IndexCastOp::create(b, l, b.getI64Type(), t);
    return tensor::FromElementsOp::create(
        b, l, RankedTensorType::get({}, b.getI64Type()), ValueRange{i64});
  }
  case NodeKind::ScanCarry:
  case NodeKind::CombineArg:
    return error(n, Twine(nodeKindName(n->kind)) +
                        " used outside the region that defines it");
  case NodeKind::Unary:
    return emitUnary(n);
  case NodeKind::Binary:
    return emitBinary(n);
  case NodeKind::Where: {
    SmallVector<Value> ins;
    for (const Node *o : n->operands)
      ins.push_back(get(o));
    if (llvm::any_of(ins, [](Value v) { return !v; }))
      return {};
    return elementwise(n, ins, n->operands,
                       [](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                         return arith::SelectOp::create(nb, nl, a[0], a[1],
                                                        a[2]);
                       });
  }
  case NodeKind::Cast:
    return emitCast(n);
  case NodeKind::MatMul:
    return emitMatMul(n);
  case NodeKind::Einsum:
    return emitEinsum(n);
  case NodeKind::Reduce:
    return emitReduce(n);
  case NodeKind::Softmax: {
    Value x = get(n->operands[0]);
    if (!x)
      return {};
    return seq::SoftmaxOp::create(b, l, tensorType(n->type), x,
                                  b.getI64IntegerAttr(n->ints[0]));
  }
  case NodeKind::Permute: {
    Value x = get(n->operands[0]);
    if (!x)
      return {};
    Value init = emptyTensor(n->type, l);
    return linalg::TransposeOp::create(b, l, x, init, n->ints).getResult()[0];
  }
  case NodeKind::Reshape:
    return emitReshape(n);
  case NodeKind::ExpandDims: {
    Value x = get(n->operands[0]);
    if (!x)
      return {};
    return expandUnitDims(x, n->type, n->ints, l);
  }
  case NodeKind::Concat: {
    SmallVector<Value> ins;
    for (const Node *o : n->operands)
      if (Value v = get(o))
        ins.push_back(v);
      else
        return {};
    return tensor::ConcatOp::create(b, l, tensorType(n->type), n->ints[0], ins);
  }
  case NodeKind::Slice:
    return emitSlice(n);
  case NodeKind::DynIndex:
    return emitDynIndex(n);
  case NodeKind::Gather:
    return emitGather(n);
  case NodeKind::Scan:
  case NodeKind::AssocScan: {
    // Only reached through emitCaptures; results are read by *Result nodes.
    Operation *op = regionOp(n);
    return op && op->getNumResults() ? op->getResult(0) : Value();
  }
  case NodeKind::ScanResult:
  case NodeKind::AssocScanResult: {
    Operation *op = regionOp(n->operands[0]);
    if (!op)
      return {};
    return op->getResult(n->ints[0]);
  }
  }
  return {};
}

Value EntryGen::emitUnary(const Node *n) {
  Value x = get(n->operands[0]);
  if (!x)
    return {};
  UnaryFn fn = n->unaryFn();
  DType dt = n->operands[0]->type.dtype;
  bool fl = isFloat(dt);
  if (!fl && fn != UnaryFn::Neg && fn != UnaryFn::Not && fn != UnaryFn::Abs &&
      fn != UnaryFn::Relu)
    return error(n, Twine(unaryFnName(fn)) +
                        " expects a float operand, found " + dtypeName(dt));
  auto body = [&, fn, fl](OpBuilder &nb, Location l, ValueRange a) -> Value {
    Value v = a[0];
    mlir::Type t = v.getType();
    auto cst = [&](double c) -> Value {
      if (fl)
        return arith::ConstantOp::create(nb, l, nb.getFloatAttr(t, c));
      return arith::ConstantOp::create(nb, l, nb.getIntegerAttr(t, (int64_t)c));
    };
    auto sigmoid = [&](Value x) -> Value {
      Value e = math::ExpOp::create(nb, l, arith::NegFOp::create(nb, l, x));
      return arith::DivFOp::create(nb, l, cst(1.0),
                                   arith::AddFOp::create(nb, l, cst(1.0), e));
    };
    switch (fn) {
    case UnaryFn::Neg:
      if (fl)
        return arith::NegFOp::create(nb, l, v);
      return arith::SubIOp::create(nb, l, cst(0), v);
    case UnaryFn::Not:
      return arith::XOrIOp::create(
          nb, l, v, arith::ConstantOp::create(nb, l, nb.getBoolAttr(true)));
    case UnaryFn::Exp:
      return math::ExpOp::create(nb, l, v);
    case UnaryFn::Log:
      return math::LogOp::create(nb, l, v);
    case UnaryFn::Sqrt:
      return math::SqrtOp::create(nb, l, v);
    case UnaryFn::Rsqrt:
      return math::RsqrtOp::create(nb, l, v);
    case UnaryFn::Tanh:
      return math::TanhOp::create(nb, l, v);
    case UnaryFn::Sigmoid:
      return sigmoid(v);
    case UnaryFn::Silu:
      return arith::MulFOp::create(nb, l, v, sigmoid(v));
    case UnaryFn::Gelu: {
      // 0.5 * x * (1 + erf(x / sqrt(2)))
      Value s = arith::MulFOp::create(nb, l, v, cst(M_SQRT1_2));
      Value e =
          arith::AddFOp::create(nb, l, cst(1.0), math::ErfOp::create(nb, l, s));
      return arith::MulFOp::create(
          nb, l, arith::MulFOp::create(nb, l, v, cst(0.5)), e);
    }
    case UnaryFn::Softplus: {
      // max(x, 0) + log1p(exp(-|x|)): never overflows.
      Value ax = math::AbsFOp::create(nb, l, v);
      Value e = math::ExpOp::create(nb, l, arith::NegFOp::create(nb, l, ax));
      return arith::AddFOp::create(nb, l,
                                   arith::MaximumFOp::create(nb, l, v, cst(0)),
                                   math::Log1pOp::create(nb, l, e));
    }
    case UnaryFn::Relu:
      if (fl)
        return arith::MaximumFOp::create(nb, l, v, cst(0));
      return arith::MaxSIOp::create(nb, l, v, cst(0));
    case UnaryFn::Abs:
      if (fl)
        return math::AbsFOp::create(nb, l, v);
      return math::AbsIOp::create(nb, l, v);
    case UnaryFn::Sin:
      return math::SinOp::create(nb, l, v);
    case UnaryFn::Cos:
      return math::CosOp::create(nb, l, v);
    case UnaryFn::Erf:
      return math::ErfOp::create(nb, l, v);
    }
    return v;
  };
  return elementwise(n, ValueRange{x}, n->operands, body);
}

Value EntryGen::emitBinary(const Node *n) {
  Value x = get(n->operands[0]), y = get(n->operands[1]);
  if (!x || !y)
    return {};
  BinaryFn fn = n->binaryFn();
  DType dt = n->operands[0]->type.dtype;
  bool fl = isFloat(dt), isBool = dt == DType::Bool;
  auto body = [fn, fl, isBool](OpBuilder &nb, Location l,
                               ValueRange a) -> Value {
    Value p = a[0], q = a[1];
    using FP = arith::CmpFPredicate;
    using IP = arith::CmpIPredicate;
    auto cmp = [&](FP f, IP si, IP ui) -> Value {
      if (fl)
        return arith::CmpFOp::create(nb, l, f, p, q);
      return arith::CmpIOp::create(nb, l, isBool ? ui : si, p, q);
    };
    switch (fn) {
    case BinaryFn::Add:
      return fl ? (Value)arith::AddFOp::create(nb, l, p, q)
                : (Value)arith::AddIOp::create(nb, l, p, q);
    case BinaryFn::Sub:
      return fl ? (Value)arith::SubFOp::create(nb, l, p, q)
                : (Value)arith::SubIOp::create(nb, l, p, q);
    case BinaryFn::Mul:
      return fl ? (Value)arith::MulFOp::create(nb, l, p, q)
                : (Value)arith::MulIOp::create(nb, l, p, q);
    case BinaryFn::Div:
      return fl ? (Value)arith::DivFOp::create(nb, l, p, q)
                : (Value)arith::DivSIOp::create(nb, l, p, q);
    case BinaryFn::Pow:
      return fl ? (Value)math::PowFOp::create(nb, l, p, q)
                : (Value)math::IPowIOp::create(nb, l, p, q);
    case BinaryFn::Max:
      if (fl)
        return arith::MaximumFOp::create(nb, l, p, q);
      return isBool ? (Value)arith::OrIOp::create(nb, l, p, q)
                    : (Value)arith::MaxSIOp::create(nb, l, p, q);
    case BinaryFn::Min:
      if (fl)
        return arith::MinimumFOp::create(nb, l, p, q);
      return isBool ? (Value)arith::AndIOp::create(nb, l, p, q)
                    : (Value)arith::MinSIOp::create(nb, l, p, q);
    case BinaryFn::Eq:
      return cmp(FP::OEQ, IP::eq, IP::eq);
    case BinaryFn::Ne:
      return cmp(FP::UNE, IP::ne, IP::ne);
    case BinaryFn::Lt:
      return cmp(FP::OLT, IP::slt, IP::ult);
    case BinaryFn::Le:
      return cmp(FP::OLE, IP::sle, IP::ule);
    case BinaryFn::Gt:
      return cmp(FP::OGT, IP::sgt, IP::ugt);
    case BinaryFn::Ge:
      return cmp(FP::OGE, IP::sge, IP::uge);
    case BinaryFn::And:
      return arith::AndIOp::create(nb, l, p, q);
    case BinaryFn::Or:
      return arith::OrIOp::create(nb, l, p, q);
    }
    return p;
  };
  return elementwise(n, ValueRange{x, y}, n->operands, body);
}

Value EntryGen::castScalar(OpBuilder &nb, Location l, Value v, mlir::Type to,
                           bool fromBool) {
  mlir::Type from = v.getType();
  if (from == to)
    return v;
  auto ff = dyn_cast<FloatType>(from), tf = dyn_cast<FloatType>(to);
  if (ff && tf) {
    if (tf.getWidth() > ff.getWidth())
      return arith::ExtFOp::create(nb, l, to, v);
    if (tf.getWidth() < ff.getWidth())
      return arith::TruncFOp::create(nb, l, to, v);
    // f16 <-> bf16: through f32.
    Value w = arith::ExtFOp::create(nb, l, nb.getF32Type(), v);
    return arith::TruncFOp::create(nb, l, to, w);
  }
  if (ff) {
    if (to.isInteger(1))
      return arith::CmpFOp::create(
          nb, l, arith::CmpFPredicate::UNE, v,
          arith::ConstantOp::create(nb, l, nb.getFloatAttr(from, 0)));
    return arith::FPToSIOp::create(nb, l, to, v);
  }
  if (tf)
    return fromBool ? (Value)arith::UIToFPOp::create(nb, l, to, v)
                    : (Value)arith::SIToFPOp::create(nb, l, to, v);
  // Integer to integer.
  unsigned fw = from.getIntOrFloatBitWidth(), tw = to.getIntOrFloatBitWidth();
  if (tw == 1)
    return arith::CmpIOp::create(
        nb, l, arith::CmpIPredicate::ne, v,
        arith::ConstantOp::create(nb, l, nb.getIntegerAttr(from, 0)));
  if (tw > fw)
    return fromBool ? (Value)arith::ExtUIOp::create(nb, l, to, v)
                    : (Value)arith::ExtSIOp::create(nb, l, to, v);
  return arith::TruncIOp::create(nb, l, to, v);
}

Value EntryGen::emitCast(const Node *n) {
  Value x = get(n->operands[0]);
  if (!x)
    return {};
  mlir::Type to = elementType(n->type.dtype);
  bool fromBool = n->operands[0]->type.dtype == DType::Bool;
  if (n->operands[0]->type.dtype == n->type.dtype &&
      n->operands[0]->type.shape == n->type.shape)
    return x;
  return elementwise(
      n, ValueRange{x}, n->operands,
      [&, to, fromBool](OpBuilder &nb, Location l, ValueRange a) -> Value {
        return castScalar(nb, l, a[0], to, fromBool);
      });
}

/// The multiply-accumulate body of a contraction over `n` operands.
static Value contractBody(OpBuilder &nb, Location l, ValueRange a) {
  Value acc = a.back();
  bool fl = isa<FloatType>(acc.getType());
  Value prod = a[0];
  for (Value v : a.drop_front().drop_back())
    prod = fl ? (Value)arith::MulFOp::create(nb, l, prod, v)
              : (Value)arith::MulIOp::create(nb, l, prod, v);
  return fl ? (Value)arith::AddFOp::create(nb, l, acc, prod)
            : (Value)arith::AddIOp::create(nb, l, acc, prod);
}

Value EntryGen::emitMatMul(const Node *n) {
  const Node *an = n->operands[0], *bn = n->operands[1];
  Value a = get(an), bv = get(bn);
  if (!a || !bv)
    return {};
  Location l = loc(n);
  mlir::Type elt = elementType(n->type.dtype);
  Value init = filled(n->type, scalarConstant(elt, 0, 0, l), l);
  RankedTensorType resType = tensorType(n->type);
  int64_t ra = an->type.rank(), rb = bn->type.rank(), r = n->type.rank();
  if (ra == 2 && rb == 2)
    return linalg::MatmulOp::create(b, l, TypeRange{resType}, ValueRange{a, bv},
                                    ValueRange{init})
        .getResult(0);
  if (ra == 3 && rb == 3 && an->type.shape[0] == bn->type.shape[0])
    return linalg::BatchMatmulOp::create(b, l, TypeRange{resType},
                                         ValueRange{a, bv}, ValueRange{init})
        .getResult(0);
  // General: dims d0..d(r-1) parallel, d(r) = K reduced.
  auto operandMap = [&](const Shape &shape, bool isA) {
    int64_t ro = shape.size();
    SmallVector<AffineExpr> exprs;
    for (int64_t i = 0; i < ro - 2; ++i) {
      int64_t d = i + (r - 2) - (ro - 2);
      if (shape[i] == Dim(1) && n->type.shape[d] != Dim(1))
        exprs.push_back(b.getAffineConstantExpr(0));
      else
        exprs.push_back(b.getAffineDimExpr(d));
    }
    if (isA) {
      exprs.push_back(b.getAffineDimExpr(r - 2));
      exprs.push_back(b.getAffineDimExpr(r));
    } else {
      exprs.push_back(b.getAffineDimExpr(r));
      exprs.push_back(b.getAffineDimExpr(r - 1));
    }
    return AffineMap::get(r + 1, 0, exprs, &ctx);
  };
  SmallVector<AffineExpr> outExprs;
  for (int64_t i = 0; i < r; ++i)
    outExprs.push_back(b.getAffineDimExpr(i));
  SmallVector<AffineMap> maps = {operandMap(an->type.shape, true),
                                 operandMap(bn->type.shape, false),
                                 AffineMap::get(r + 1, 0, outExprs, &ctx)};
  SmallVector<utils::IteratorType> iters(r, utils::IteratorType::parallel);
  iters.push_back(utils::IteratorType::reduction);
  return linalg::GenericOp::create(
             b, l, TypeRange{resType}, ValueRange{a, bv}, ValueRange{init},
             maps, iters,
             [](OpBuilder &nb, Location nl, ValueRange args) {
               linalg::YieldOp::create(nb, nl, contractBody(nb, nl, args));
             })
      .getResult(0);
}

Value EntryGen::emitEinsum(const Node *n) {
  SmallVector<Value> ins;
  for (const Node *o : n->operands)
    if (Value v = get(o))
      ins.push_back(v);
    else
      return {};
  Location l = loc(n);
  std::string spec = n->name;
  size_t arrow = spec.find("->");
  if (arrow == std::string::npos)
    return error(n, "einsum spec '" + spec + "' has no '->'");
  std::string lhs = spec.substr(0, arrow), out = spec.substr(arrow + 2);
  SmallVector<std::string> opSpecs;
  for (size_t start = 0;;) {
    size_t comma = lhs.find(',', start);
    opSpecs.push_back(lhs.substr(start, comma - start));
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  if (opSpecs.size() != ins.size())
    return error(n, "einsum spec '" + spec + "' does not match its operands");
  // Loop dims: output letters, then the reduced ones in order of appearance.
  std::string letters = out;
  for (const std::string &s : opSpecs)
    for (char c : s)
      if (letters.find(c) == std::string::npos)
        letters.push_back(c);
  int64_t nd = letters.size();
  auto mapOf = [&](const std::string &s) {
    SmallVector<AffineExpr> exprs;
    for (char c : s)
      exprs.push_back(b.getAffineDimExpr(letters.find(c)));
    return AffineMap::get(nd, 0, exprs, &ctx);
  };
  SmallVector<AffineMap> maps;
  for (const std::string &s : opSpecs)
    maps.push_back(mapOf(s));
  maps.push_back(mapOf(out));
  SmallVector<utils::IteratorType> iters;
  for (int64_t i = 0; i < nd; ++i)
    iters.push_back(i < (int64_t)out.size() ? utils::IteratorType::parallel
                                            : utils::IteratorType::reduction);
  mlir::Type elt = elementType(n->type.dtype);
  Value init = filled(n->type, scalarConstant(elt, 0, 0, l), l);
  return linalg::GenericOp::create(
             b, l, TypeRange{tensorType(n->type)}, ins, ValueRange{init}, maps,
             iters,
             [](OpBuilder &nb, Location nl, ValueRange args) {
               linalg::YieldOp::create(nb, nl, contractBody(nb, nl, args));
             })
      .getResult(0);
}

Value EntryGen::emitReduce(const Node *n) {
  const Node *xn = n->operands[0];
  Value x = get(xn);
  if (!x)
    return {};
  Location l = loc(n);
  ReduceFn fn = n->reduceFn();
  mlir::Type elt = elementType(n->type.dtype);
  bool fl = isa<FloatType>(elt);
  // The reduced type (axes removed), then keepdim's unit axes.
  seqc::Type reduced{n->type.dtype, {}};
  llvm::SmallDenseSet<int64_t> axes(n->ints.begin(), n->ints.end());
  Dim count(1);
  for (int64_t i = 0; i < xn->type.rank(); ++i) {
    if (axes.contains(i))
      count = count * xn->type.shape[i];
    else
      reduced.shape.push_back(xn->type.shape[i]);
  }
  double inf = std::numeric_limits<double>::infinity();
  unsigned width = fl ? 0 : elt.getIntOrFloatBitWidth();
  int64_t imax = width >= 64  ? std::numeric_limits<int64_t>::max()
                 : width == 1 ? 1
                              : (int64_t(1) << (width - 1)) - 1;
  int64_t imin = width == 1 ? 0 : -imax - 1;
  Value identity;
  switch (fn) {
  case ReduceFn::Sum:
  case ReduceFn::Mean:
    identity = scalarConstant(elt, 0, 0, l);
    break;
  case ReduceFn::Max:
    identity = scalarConstant(elt, -inf, imin, l);
    break;
  case ReduceFn::Min:
    identity = scalarConstant(elt, inf, imax, l);
    break;
  }
  Value init = filled(reduced, identity, l);
  bool isBool = elt.isInteger(1);
  Value r =
      linalg::ReduceOp::create(
          b, l, ValueRange{x}, ValueRange{init}, n->ints,
          [&](OpBuilder &nb, Location nl, ValueRange a) {
            Value v = a[0], acc = a[1], res;
            switch (fn) {
            case ReduceFn::Sum:
            case ReduceFn::Mean:
              res = fl ? (Value)arith::AddFOp::create(nb, nl, acc, v)
                       : (Value)arith::AddIOp::create(nb, nl, acc, v);
              break;
            case ReduceFn::Max:
              res = fl       ? (Value)arith::MaximumFOp::create(nb, nl, acc, v)
                    : isBool ? (Value)arith::OrIOp::create(nb, nl, acc, v)
                             : (Value)arith::MaxSIOp::create(nb, nl, acc, v);
              break;
            case ReduceFn::Min:
              res = fl       ? (Value)arith::MinimumFOp::create(nb, nl, acc, v)
                    : isBool ? (Value)arith::AndIOp::create(nb, nl, acc, v)
                             : (Value)arith::MinSIOp::create(nb, nl, acc, v);
              break;
            }
            linalg::YieldOp::create(nb, nl, res);
          })
          .getResult(0);
  if (fn == ReduceFn::Mean) {
    // Divide by the element count, which may be a runtime size.
    Value c;
    if (auto k = count.constant()) {
      c = scalarConstant(elt, (double)*k, *k, l);
    } else {
      Value i64 =
          arith::IndexCastOp::create(b, l, b.getI64Type(), dimValue(count));
      c = fl ? (Value)arith::SIToFPOp::create(b, l, elt, i64)
             : castScalar(b, l, i64, elt, false);
    }
    Value init2 = emptyTensor(reduced, l);
    SmallVector<AffineMap> maps(2, b.getMultiDimIdentityMap(reduced.rank()));
    SmallVector<utils::IteratorType> iters(reduced.rank(),
                                           utils::IteratorType::parallel);
    r = linalg::GenericOp::create(
            b, l, TypeRange{tensorType(reduced)}, ValueRange{r},
            ValueRange{init2}, maps, iters,
            [&](OpBuilder &nb, Location nl, ValueRange a) {
              Value q = fl ? (Value)arith::DivFOp::create(nb, nl, a[0], c)
                           : (Value)arith::DivSIOp::create(nb, nl, a[0], c);
              linalg::YieldOp::create(nb, nl, q);
            })
            .getResult(0);
  }
  if (n->ival && !n->ints.empty())
    r = expandUnitDims(r, n->type, n->ints, l);
  return r;
}

/// Groups the dims of `src` and `dst` into runs of equal products (as
/// polynomials): reassociation indices on each side. Fails where no such
/// grouping exists (e.g. [B*T, 2] -> [B, 2*T]).
static bool groupDims(const Shape &src, const Shape &dst,
                      SmallVectorImpl<ReassociationIndices> &srcGroups,
                      SmallVectorImpl<ReassociationIndices> &dstGroups) {
  size_t i = 0, j = 0;
  while (i < src.size() && j < dst.size()) {
    ReassociationIndices sg{(int64_t)i}, dg{(int64_t)j};
    Dim sp = src[i++], rp = dst[j++];
    while (sp != rp) {
      if (rp.divide(sp) && i < src.size())
        sg.push_back(i), sp = sp * src[i++];
      else if (sp.divide(rp) && j < dst.size())
        dg.push_back(j), rp = rp * dst[j++];
      else
        return false;
    }
    srcGroups.push_back(sg);
    dstGroups.push_back(dg);
  }
  // Leftover unit dims join the last group.
  for (; i < src.size(); ++i) {
    if (src[i] != Dim(1) || srcGroups.empty())
      return false;
    srcGroups.back().push_back(i);
  }
  for (; j < dst.size(); ++j) {
    if (dst[j] != Dim(1) || dstGroups.empty())
      return false;
    dstGroups.back().push_back(j);
  }
  return true;
}

Value EntryGen::emitReshape(const Node *n) {
  const Node *xn = n->operands[0];
  Value x = get(xn);
  if (!x)
    return {};
  Location l = loc(n);
  const Shape &src = xn->type.shape, &dst = n->type.shape;
  if (src == dst)
    return x;
  RankedTensorType resType = tensorType(n->type);
  // Pure merges and splits: collapse each group to one dim, then expand it.
  SmallVector<ReassociationIndices> sg, dg;
  if (src.empty() || dst.empty()) {
    if (src.empty())
      return expandUnitDims(x, n->type, {}, l);
    return tensor::CollapseShapeOp::create(b, l, resType, x, sg);
  }
  if (groupDims(src, dst, sg, dg)) {
    Value v = x;
    if (llvm::any_of(sg, [](auto &g) { return g.size() > 1; })) {
      seqc::Type mid{n->type.dtype, {}};
      for (auto &g : sg) {
        Dim p(1);
        for (int64_t k : g)
          p = p * src[k];
        mid.shape.push_back(p);
      }
      v = tensor::CollapseShapeOp::create(b, l, tensorType(mid), v, sg);
    }
    if (llvm::any_of(dg, [](auto &g) { return g.size() > 1; })) {
      SmallVector<OpFoldResult> outShape;
      for (const Dim &d : dst)
        outShape.push_back(foldResult(d));
      v = tensor::ExpandShapeOp::create(b, l, resType, v, dg, outShape);
    }
    return v;
  }
  SmallVector<Value> sizes;
  for (const Dim &d : dst)
    sizes.push_back(dimValue(d));
  Value shape = tensor::FromElementsOp::create(
      b, l, RankedTensorType::get({(int64_t)sizes.size()}, b.getIndexType()),
      sizes);
  return tensor::ReshapeOp::create(b, l, resType, x, shape);
}

Value EntryGen::emitSlice(const Node *n) {
  const Node *xn = n->operands[0];
  Value x = get(xn);
  if (!x)
    return {};
  SmallVector<OpFoldResult> offsets, sizes, strides;
  for (int64_t i = 0; i < xn->type.rank(); ++i) {
    offsets.push_back(foldResult(n->dims[3 * i]));
    sizes.push_back(foldResult(n->dims[3 * i + 1]));
    strides.push_back(foldResult(n->dims[3 * i + 2]));
  }
  return tensor::ExtractSliceOp::create(b, loc(n), tensorType(n->type), x,
                                        offsets, sizes, strides);
}

Value EntryGen::emitDynIndex(const Node *n) {
  const Node *xn = n->operands[0], *in = n->operands[1];
  Value x = get(xn);
  if (!x)
    return {};
  Location l = loc(n);
  Value index;
  if (in->kind == NodeKind::ScanIndex)
    index = stepIndex.lookup(in);
  if (!index) {
    Value t = get(in);
    if (!t)
      return {};
    Value i = tensor::ExtractOp::create(b, l, t, ValueRange{});
    index = arith::IndexCastOp::create(b, l, b.getIndexType(), i);
  }
  int64_t axis = n->ints[0];
  SmallVector<OpFoldResult> offsets, sizes, strides;
  for (int64_t i = 0; i < xn->type.rank(); ++i) {
    offsets.push_back(i == axis ? OpFoldResult(index) : b.getIndexAttr(0));
    sizes.push_back(i == axis ? b.getIndexAttr(1)
                              : foldResult(xn->type.shape[i]));
    strides.push_back(b.getIndexAttr(1));
  }
  return tensor::ExtractSliceOp::create(b, l, tensorType(n->type), x, offsets,
                                        sizes, strides);
}

Value EntryGen::emitGather(const Node *n) {
  const Node *tn = n->operands[0], *in = n->operands[1];
  Value table = get(tn), idx = get(in);
  if (!table || !idx)
    return {};
  Location l = loc(n);
  int64_t r = n->type.rank(), ri = in->type.rank();
  SmallVector<AffineExpr> inExprs;
  for (int64_t i = 0; i < ri; ++i)
    inExprs.push_back(b.getAffineDimExpr(i));
  SmallVector<AffineMap> maps = {AffineMap::get(r, 0, inExprs, &ctx),
                                 b.getMultiDimIdentityMap(r)};
  SmallVector<utils::IteratorType> iters(r, utils::IteratorType::parallel);
  Value init = emptyTensor(n->type, l);
  return linalg::GenericOp::create(
             b, l, TypeRange{tensorType(n->type)}, ValueRange{idx},
             ValueRange{init}, maps, iters,
             [&](OpBuilder &nb, Location nl, ValueRange a) {
               SmallVector<Value> coords;
               coords.push_back(
                   arith::IndexCastOp::create(nb, nl, nb.getIndexType(), a[0]));
               for (int64_t d = ri; d < r; ++d)
                 coords.push_back(linalg::IndexOp::create(nb, nl, d));
               Value v = tensor::ExtractOp::create(nb, nl, table, coords);
               linalg::YieldOp::create(nb, nl, v);
             })
      .getResult(0);
}

//===----------------------------------------------------------------------===//
// Regions
//===----------------------------------------------------------------------===//

void EntryGen::emitCaptures(const Node *region, ArrayRef<Node *> roots) {
  llvm::SmallPtrSet<const Node *, 32> seen;
  SmallVector<const Node *> stack(roots.begin(), roots.end());
  while (!stack.empty()) {
    const Node *m = stack.pop_back_val();
    if (!m || !seen.insert(m).second)
      continue;
    if (!isInside(m, region)) {
      if (m->kind != NodeKind::ScanIndex)
        get(m); // Emitted here, before the region op.
      continue;
    }
    for (Node *o : m->operands)
      stack.push_back(o);
    SmallVector<Node *> outer, inner;
    regionRoots(m, outer, inner);
    stack.append(outer.begin(), outer.end());
    stack.append(inner.begin(), inner.end());
  }
}

Operation *EntryGen::emitScan(const Node *n) {
  const ScanInfo &s = *n->scan;
  Location l = loc(n);
  SmallVector<Value> inits;
  for (const Node *i : s.inits)
    if (Value v = get(i))
      inits.push_back(v);
    else
      return {};
  SmallVector<Node *> inner(s.newCarries.begin(), s.newCarries.end());
  llvm::append_range(inner, s.stepOutputs);
  emitCaptures(n, inner);
  if (failed)
    return {};
  Value length = dimValue(s.length);

  SmallVector<mlir::Type> resultTypes;
  for (Value v : inits)
    resultTypes.push_back(v.getType());
  for (size_t j = 0; j < s.stepOutputs.size(); ++j) {
    seqc::Type t = s.stepOutputs[j]->type;
    t.shape.insert(t.shape.begin() + s.outputAxes[j], s.length);
    resultTypes.push_back(tensorType(t));
  }
  auto op = seq::ScanOp::create(b, l, resultTypes, length, inits, s.reverse,
                                s.outputAxes);
  mlir::Block *body = b.createBlock(&op.getBody());
  body->addArgument(b.getIndexType(), l);
  for (size_t i = 0; i < s.carries.size(); ++i)
    values[s.carries[i]] = body->addArgument(inits[i].getType(), l);
  if (s.index)
    stepIndex[s.index] = body->getArgument(0);
  SmallVector<Value> yielded;
  for (const Node *v : inner)
    if (Value y = get(v))
      yielded.push_back(y);
    else
      return {};
  seq::YieldOp::create(b, l, yielded);
  b.setInsertionPointAfter(op);
  return op;
}

Operation *EntryGen::emitAssocScan(const Node *n) {
  const AssocScanInfo &s = *n->assoc;
  Location l = loc(n);
  SmallVector<Value> inputs;
  for (const Node *i : s.inputs)
    if (Value v = get(i))
      inputs.push_back(v);
    else
      return {};
  emitCaptures(n, s.combined);
  if (failed)
    return {};
  auto op = seq::AssocScanOp::create(b, l, inputs, s.axis, s.reverse);
  mlir::Block *body = b.createBlock(&op.getCombiner());
  for (size_t i = 0; i < s.args.size(); ++i) {
    seqc::Type t = s.inputs[i % s.inputs.size()]->type;
    t.shape.erase(t.shape.begin() + s.axis);
    values[s.args[i]] = body->addArgument(tensorType(t), l);
  }
  SmallVector<Value> yielded;
  for (const Node *v : s.combined)
    if (Value y = get(v))
      yielded.push_back(y);
    else
      return {};
  seq::YieldOp::create(b, l, yielded);
  b.setInsertionPointAfter(op);
  return op;
}

//===----------------------------------------------------------------------===//
// Module
//===----------------------------------------------------------------------===//

OwningOpRef<ModuleOp> seqc::mlirGen(MLIRContext &ctx, const Program &program,
                                    const std::string &fileName) {
  registerMLIRGenDialects(ctx);
  StringAttr file = StringAttr::get(&ctx, fileName);
  Location modLoc = program.modelLoc.valid()
                        ? (Location)FileLineColLoc::get(
                              file, program.modelLoc.line, program.modelLoc.col)
                        : (Location)UnknownLoc::get(&ctx);
  OwningOpRef<ModuleOp> module = ModuleOp::create(modLoc);
  if (!program.modelName.empty())
    (*module)->setAttr("seq.model", StringAttr::get(&ctx, program.modelName));
  for (const Entry &e : program.entries) {
    EntryGen gen(ctx, program, e, file);
    if (!gen.run(*module))
      return nullptr;
  }
  if (failed(verify(*module)))
    return nullptr;
  return module;
}
