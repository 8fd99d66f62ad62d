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
// The graph is Sema's (see the guarantees in TypedIR.h): every node here is
// well-typed, so this file translates and never checks. The module verifier
// runs at the end.
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
#include "llvm/Support/ErrorHandling.h"

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

/// The MLIR location of a source position (unknown for compiler-made nodes).
static Location toLocation(StringAttr file, Loc l) {
  if (!l.valid())
    return UnknownLoc::get(file.getContext());
  return FileLineColLoc::get(file, l.line, l.col);
}

/// `FloatOp` on floats, `IntOp` on integers (and bools).
template <typename FloatOp, typename IntOp>
static Value floatOrInt(OpBuilder &b, Location l, Value x, Value y) {
  if (isa<FloatType>(x.getType()))
    return FloatOp::create(b, l, x, y);
  return IntOp::create(b, l, x, y);
}

/// The scalar op of a binary function on two values of one element type.
/// Comparisons of bools are unsigned; Sema gives Max and Min no bools.
static Value binaryScalar(OpBuilder &b, Location l, BinaryFn fn, Value x,
                          Value y) {
  using FP = arith::CmpFPredicate;
  using IP = arith::CmpIPredicate;
  auto cmp = [&](FP f, IP si, IP ui) -> Value {
    if (isa<FloatType>(x.getType()))
      return arith::CmpFOp::create(b, l, f, x, y);
    return arith::CmpIOp::create(b, l, x.getType().isInteger(1) ? ui : si, x,
                                 y);
  };
  switch (fn) {
  case BinaryFn::Add:
    return floatOrInt<arith::AddFOp, arith::AddIOp>(b, l, x, y);
  case BinaryFn::Sub:
    return floatOrInt<arith::SubFOp, arith::SubIOp>(b, l, x, y);
  case BinaryFn::Mul:
    return floatOrInt<arith::MulFOp, arith::MulIOp>(b, l, x, y);
  case BinaryFn::Div:
    return floatOrInt<arith::DivFOp, arith::DivSIOp>(b, l, x, y);
  case BinaryFn::Pow:
    return floatOrInt<math::PowFOp, math::IPowIOp>(b, l, x, y);
  case BinaryFn::Max:
    return floatOrInt<arith::MaximumFOp, arith::MaxSIOp>(b, l, x, y);
  case BinaryFn::Min:
    return floatOrInt<arith::MinimumFOp, arith::MinSIOp>(b, l, x, y);
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
    return arith::AndIOp::create(b, l, x, y);
  case BinaryFn::Or:
    return arith::OrIOp::create(b, l, x, y);
  }
  llvm_unreachable("unknown BinaryFn");
}

/// Converts a scalar to element type `to` (bools are unsigned).
static Value castScalar(OpBuilder &b, Location l, Value v, mlir::Type to) {
  mlir::Type from = v.getType();
  if (from == to)
    return v;
  bool fromBool = from.isInteger(1);
  auto ff = dyn_cast<FloatType>(from), tf = dyn_cast<FloatType>(to);
  if (ff && tf) {
    if (tf.getWidth() > ff.getWidth())
      return arith::ExtFOp::create(b, l, to, v);
    if (tf.getWidth() < ff.getWidth())
      return arith::TruncFOp::create(b, l, to, v);
    // f16 <-> bf16: through f32.
    Value w = arith::ExtFOp::create(b, l, b.getF32Type(), v);
    return arith::TruncFOp::create(b, l, to, w);
  }
  if (ff) {
    if (to.isInteger(1))
      return arith::CmpFOp::create(
          b, l, arith::CmpFPredicate::UNE, v,
          arith::ConstantOp::create(b, l, b.getFloatAttr(from, 0)));
    return arith::FPToSIOp::create(b, l, to, v);
  }
  if (tf)
    return fromBool ? (Value)arith::UIToFPOp::create(b, l, to, v)
                    : (Value)arith::SIToFPOp::create(b, l, to, v);
  // Integer to integer.
  unsigned fw = from.getIntOrFloatBitWidth(), tw = to.getIntOrFloatBitWidth();
  if (tw == 1)
    return arith::CmpIOp::create(
        b, l, arith::CmpIPredicate::ne, v,
        arith::ConstantOp::create(b, l, b.getIntegerAttr(from, 0)));
  if (tw > fw)
    return fromBool ? (Value)arith::ExtUIOp::create(b, l, to, v)
                    : (Value)arith::ExtSIOp::create(b, l, to, v);
  return arith::TruncIOp::create(b, l, to, v);
}

/// The multiply-accumulate body of a contraction: the product of every
/// operand but the last, added to the last (the accumulator).
static Value contractBody(OpBuilder &b, Location l, ValueRange a) {
  Value prod = a[0];
  for (Value v : a.drop_front().drop_back())
    prod = binaryScalar(b, l, BinaryFn::Mul, prod, v);
  return binaryScalar(b, l, BinaryFn::Add, a.back(), prod);
}

/// Builds a linalg body that yields `contractBody` of its arguments.
static void yieldContraction(OpBuilder &b, Location l, ValueRange args) {
  linalg::YieldOp::create(b, l, contractBody(b, l, args));
}

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

/// Whether `n` lies in the body of `region`, directly or nested.
static bool isInside(const Node *n, const Node *region) {
  for (const Node *r = n->region; r; r = r->region)
    if (r == region)
      return true;
  return false;
}

/// Adds the names of the weights `n` reads, through operands and regions.
static void collectWeights(const Node *n,
                           llvm::SmallPtrSetImpl<const Node *> &seen,
                           std::set<std::string> &names) {
  if (!n || !seen.insert(n).second)
    return;
  if (n->kind == NodeKind::Weight)
    names.insert(n->name);
  SmallVector<Node *> next(n->operands.begin(), n->operands.end());
  regionRoots(n, next, next);
  for (const Node *o : next)
    collectWeights(o, seen, names);
}

namespace {

using BodyFn = std::function<Value(OpBuilder &, Location, ValueRange)>;

/// Emits one entry as a func.func.
class EntryGen {
public:
  EntryGen(MLIRContext &ctx, const Program &program, const Entry &entry,
           StringAttr file)
      : ctx(ctx), b(&ctx), program(program), entry(entry), file(file) {}

  void run(ModuleOp module);

private:
  MLIRContext &ctx;
  OpBuilder b;
  /// Inserts in the function's prologue (before the `0 : index` constant).
  OpBuilder pb{&ctx};
  const Program &program;
  const Entry &entry;
  StringAttr file;

  DenseMap<const Node *, Value> values;
  /// The `index` block argument of each ScanIndex node's scan.
  DenseMap<const Node *, Value> stepIndex;
  DenseMap<const Node *, Operation *> regionOps;
  std::map<std::string, Value> weightArgs;
  std::map<std::string, Value> symbols;
  std::map<Dim, Value> dimCache;

  Location loc(const Node *n) const { return toLocation(file, n->loc); }

  //===--- Types and sizes ------------------------------------------------===//

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
    llvm_unreachable("unknown DType");
  }

  RankedTensorType tensorType(const seqc::Type &t) {
    SmallVector<int64_t> shape;
    for (const Dim &d : t.shape)
      shape.push_back(d.constant().value_or(ShapedType::kDynamic));
    return RankedTensorType::get(shape, elementType(t.dtype));
  }

  /// The `index` value of a size polynomial, built once in the prologue.
  Value dimValue(const Dim &d) {
    auto it = dimCache.find(d);
    if (it != dimCache.end())
      return it->second;
    Location l = toLocation(file, entry.loc);
    Value sum;
    if (auto c = d.constant()) {
      sum = arith::ConstantIndexOp::create(pb, l, *c);
    } else {
      for (const auto &[mono, coeff] : d.getTerms()) {
        Value term;
        for (const std::string &s : mono) {
          Value v = symbols.at(s);
          term = term ? arith::MulIOp::create(pb, l, term, v).getResult() : v;
        }
        if (!term)
          term = dimValue(Dim(coeff));
        else if (coeff != 1)
          term = arith::MulIOp::create(pb, l, term, dimValue(Dim(coeff)));
        sum = sum ? arith::AddIOp::create(pb, l, sum, term).getResult() : term;
      }
    }
    dimCache[d] = sum;
    return sum;
  }

  OpFoldResult foldResult(const Dim &d) {
    if (auto c = d.constant())
      return b.getIndexAttr(*c);
    return dimValue(d);
  }

  SmallVector<OpFoldResult> foldResults(const Shape &shape) {
    SmallVector<OpFoldResult> sizes;
    for (const Dim &d : shape)
      sizes.push_back(foldResult(d));
    return sizes;
  }

  Value emptyTensor(const seqc::Type &t, Location l) {
    return tensor::EmptyOp::create(b, l, foldResults(t.shape),
                                   elementType(t.dtype));
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

  /// A zero tensor of `n`'s type: the accumulator of a contraction.
  Value zeros(const Node *n, Location l) {
    return filled(n->type, scalarConstant(elementType(n->type.dtype), 0, 0, l),
                  l);
  }

  //===--- Helpers for structured ops -------------------------------------===//

  /// The map of an operand of shape `opShape` broadcast (NumPy) to a result
  /// of shape `resShape`: right-aligned, size-1 dims read index 0.
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

  /// An elementwise linalg.generic producing `n`'s type from `ins`, the
  /// values of `n`'s operands.
  Value elementwise(const Node *n, ValueRange ins, const BodyFn &body) {
    Location l = loc(n);
    SmallVector<AffineMap> maps;
    for (const Node *in : n->operands)
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
    return tensor::ExpandShapeOp::create(b, l, tensorType(result), src, reassoc,
                                         foldResults(result.shape));
  }

  //===--- Node emission --------------------------------------------------===//

  Value get(const Node *n);
  /// The values of `nodes`, in order.
  SmallVector<Value> getAll(ArrayRef<Node *> nodes) {
    SmallVector<Value> vs;
    for (const Node *n : nodes)
      vs.push_back(get(n));
    return vs;
  }
  Value emit(const Node *n);
  Value emitUnary(const Node *n);
  Value emitCast(const Node *n);
  Value emitMatMul(const Node *n);
  Value emitEinsum(const Node *n);
  Value emitReduce(const Node *n);
  Value emitReshape(const Node *n);
  Value emitSlice(const Node *n);
  Value emitDynIndex(const Node *n);
  Value emitGather(const Node *n);

  /// The seq.scan / seq.assoc_scan of a Scan / AssocScan node, built once.
  Operation *regionOp(const Node *n);
  /// Creates the seq.scan of `n` over `inits` and its body block, with the
  /// carries and the step bound; leaves the builder in the block.
  Operation *buildScan(const Node *n, ValueRange inits);
  /// The same for a seq.assoc_scan over `inputs` and its combiner.
  Operation *buildAssocScan(const Node *n, ValueRange inputs);
  /// Emits every node outside `region` that the nodes inside it read.
  void emitCaptures(const Node *region, ArrayRef<Node *> roots);
};

} // namespace

//===----------------------------------------------------------------------===//
// Entry
//===----------------------------------------------------------------------===//

void EntryGen::run(ModuleOp module) {
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
  for (auto [r, name] : llvm::zip_equal(entry.results, entry.resultNames)) {
    resultTypes.push_back(tensorType(r->type));
    resultAttrs.push_back(b.getDictionaryAttr(
        b.getNamedAttr("seq.output", b.getStringAttr(name))));
  }

  Location entryLoc = toLocation(file, entry.loc);
  b.setInsertionPointToEnd(module.getBody());
  auto func = func::FuncOp::create(b, entryLoc, entry.name,
                                   b.getFunctionType(argTypes, resultTypes));
  func.setAllArgAttrs(argAttrs);
  func.setAllResultAttrs(resultAttrs);
  if (!entry.dimSymbols.empty()) {
    SmallVector<Attribute> syms;
    for (const std::string &s : entry.dimSymbols)
      syms.push_back(b.getStringAttr(s));
    func->setAttr("seq.dims", b.getArrayAttr(syms));
    // Per input, the dim symbol of each axis ("" for a constant or a
    // polynomial): which axes are time, for seq-derive-step.
    SmallVector<Attribute> inputDims;
    for (const Node *in : entry.inputs) {
      SmallVector<Attribute> axes;
      for (const Dim &d : in->type.shape)
        axes.push_back(b.getStringAttr(d.asSymbol().value_or("")));
      inputDims.push_back(b.getArrayAttr(axes));
    }
    func->setAttr("seq.input_dims", b.getArrayAttr(inputDims));
  }
  mlir::Block *block = func.addEntryBlock();
  b.setInsertionPointToStart(block);

  for (size_t i = 0; i < weightNames.size(); ++i)
    weightArgs[weightNames[i]] = block->getArgument(i);
  size_t firstInput = weightNames.size();
  for (size_t i = 0; i < entry.inputs.size(); ++i)
    values[entry.inputs[i]] = block->getArgument(firstInput + i);

  // Prologue: each dim symbol from the first input dimension that is exactly
  // it (Sema guarantees there is one).
  for (const std::string &sym : entry.dimSymbols) {
    for (size_t i = 0; i < entry.inputs.size() && !symbols.count(sym); ++i) {
      const Node *in = entry.inputs[i];
      for (int64_t d = 0; d < in->type.rank(); ++d) {
        if (in->type.shape[d].asSymbol() != sym)
          continue;
        symbols[sym] = tensor::DimOp::create(b, loc(in), values[in], d);
        break;
      }
    }
    assert(symbols.count(sym) && "dim symbol is no input's dimension");
  }
  // Size polynomials go before this constant, in order of first use.
  Value zero = arith::ConstantIndexOp::create(b, entryLoc, 0);
  pb.setInsertionPoint(zero.getDefiningOp());
  dimCache[Dim(0)] = zero;

  SmallVector<Value> results = getAll(entry.results);
  func::ReturnOp::create(b, entryLoc, results);
}

//===----------------------------------------------------------------------===//
// Nodes
//===----------------------------------------------------------------------===//

Value EntryGen::get(const Node *n) {
  auto it = values.find(n);
  if (it != values.end())
    return it->second;
  Value v = emit(n);
  // `t` as a tensor is made where it is used, never cached: a copy made in
  // a nested region would not dominate later uses outside it.
  if (n->kind != NodeKind::ScanIndex)
    values[n] = v;
  return v;
}

Value EntryGen::emit(const Node *n) {
  Location l = loc(n);
  switch (n->kind) {
  case NodeKind::Input:
  case NodeKind::ScanCarry:
  case NodeKind::CombineArg:
    llvm_unreachable("block arguments are bound before they are read");
  case NodeKind::Weight:
    return weightArgs.at(n->name);
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
    assert(t && "scan index read outside its scan");
    Value i64 = arith::IndexCastOp::create(b, l, b.getI64Type(), t);
    return tensor::FromElementsOp::create(
        b, l, RankedTensorType::get({}, b.getI64Type()), ValueRange{i64});
  }
  case NodeKind::Unary:
    return emitUnary(n);
  case NodeKind::Binary: {
    BinaryFn fn = n->binaryFn();
    return elementwise(n, getAll(n->operands),
                       [fn](OpBuilder &nb, Location nl, ValueRange a) {
                         return binaryScalar(nb, nl, fn, a[0], a[1]);
                       });
  }
  case NodeKind::Where:
    return elementwise(n, getAll(n->operands),
                       [](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                         return arith::SelectOp::create(nb, nl, a[0], a[1],
                                                        a[2]);
                       });
  case NodeKind::Cast:
    return emitCast(n);
  case NodeKind::MatMul:
    return emitMatMul(n);
  case NodeKind::Einsum:
    return emitEinsum(n);
  case NodeKind::Reduce:
    return emitReduce(n);
  case NodeKind::Softmax:
    return seq::SoftmaxOp::create(b, l, tensorType(n->type),
                                  get(n->operands[0]),
                                  b.getI64IntegerAttr(n->ints[0]));
  case NodeKind::Permute: {
    Value x = get(n->operands[0]);
    Value init = emptyTensor(n->type, l);
    return linalg::TransposeOp::create(b, l, x, init, n->ints).getResult()[0];
  }
  case NodeKind::Reshape:
    return emitReshape(n);
  case NodeKind::ExpandDims:
    return expandUnitDims(get(n->operands[0]), n->type, n->ints, l);
  case NodeKind::Concat:
    return tensor::ConcatOp::create(b, l, tensorType(n->type), n->ints[0],
                                    getAll(n->operands));
  case NodeKind::Slice:
    return emitSlice(n);
  case NodeKind::DynIndex:
    return emitDynIndex(n);
  case NodeKind::Gather:
    return emitGather(n);
  case NodeKind::Scan:
  case NodeKind::AssocScan:
    // No value of its own: *Result nodes read its results.
    regionOp(n);
    return {};
  case NodeKind::ScanResult:
  case NodeKind::AssocScanResult:
    return regionOp(n->operands[0])->getResult(n->ints[0]);
  }
  llvm_unreachable("unknown NodeKind");
}

Value EntryGen::emitUnary(const Node *n) {
  Value x = get(n->operands[0]);
  UnaryFn fn = n->unaryFn();
  auto body = [fn](OpBuilder &nb, Location l, ValueRange a) -> Value {
    Value v = a[0];
    mlir::Type t = v.getType();
    bool fl = isa<FloatType>(t);
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
      return binaryScalar(nb, l, BinaryFn::Max, v, cst(0));
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
    llvm_unreachable("unknown UnaryFn");
  };
  return elementwise(n, ValueRange{x}, body);
}

Value EntryGen::emitCast(const Node *n) {
  Value x = get(n->operands[0]);
  if (n->operands[0]->type == n->type)
    return x;
  mlir::Type to = elementType(n->type.dtype);
  return elementwise(n, ValueRange{x},
                     [to](OpBuilder &nb, Location l, ValueRange a) {
                       return castScalar(nb, l, a[0], to);
                     });
}

Value EntryGen::emitMatMul(const Node *n) {
  const Node *an = n->operands[0], *bn = n->operands[1];
  Value a = get(an), bv = get(bn);
  Location l = loc(n);
  Value init = zeros(n, l);
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
  // General: dims d0..d(r-1) parallel, d(r) = K reduced; batch dims
  // broadcast as elementwise operands do.
  Shape batch(n->type.shape.begin(), n->type.shape.end() - 2);
  auto operandMap = [&](const Shape &shape, int64_t row, int64_t col) {
    Shape opBatch(shape.begin(), shape.end() - 2);
    SmallVector<AffineExpr> exprs(broadcastMap(opBatch, batch).getResults());
    exprs.push_back(b.getAffineDimExpr(row));
    exprs.push_back(b.getAffineDimExpr(col));
    return AffineMap::get(r + 1, 0, exprs, &ctx);
  };
  SmallVector<AffineMap> maps = {
      operandMap(an->type.shape, r - 2, r),
      operandMap(bn->type.shape, r, r - 1),
      AffineMap::get(r + 1, 0, b.getMultiDimIdentityMap(r).getResults(), &ctx)};
  SmallVector<utils::IteratorType> iters(r, utils::IteratorType::parallel);
  iters.push_back(utils::IteratorType::reduction);
  return linalg::GenericOp::create(b, l, TypeRange{resType}, ValueRange{a, bv},
                                   ValueRange{init}, maps, iters,
                                   yieldContraction)
      .getResult(0);
}

Value EntryGen::emitEinsum(const Node *n) {
  SmallVector<Value> ins = getAll(n->operands);
  Location l = loc(n);
  // Sema gives the canonical spec: "ab,bc->ac", no spaces.
  StringRef spec = n->name;
  auto [lhs, out] = spec.split("->");
  SmallVector<StringRef> opSpecs;
  lhs.split(opSpecs, ',');
  // Loop dims: output letters, then the reduced ones in order of appearance.
  std::string letters = out.str();
  for (StringRef s : opSpecs)
    for (char c : s)
      if (letters.find(c) == std::string::npos)
        letters.push_back(c);
  int64_t nd = letters.size();
  auto mapOf = [&](StringRef s) {
    SmallVector<AffineExpr> exprs;
    for (char c : s)
      exprs.push_back(b.getAffineDimExpr(letters.find(c)));
    return AffineMap::get(nd, 0, exprs, &ctx);
  };
  SmallVector<AffineMap> maps;
  for (StringRef s : opSpecs)
    maps.push_back(mapOf(s));
  maps.push_back(mapOf(out));
  SmallVector<utils::IteratorType> iters;
  for (int64_t i = 0; i < nd; ++i)
    iters.push_back(i < (int64_t)out.size() ? utils::IteratorType::parallel
                                            : utils::IteratorType::reduction);
  Value init = zeros(n, l);
  return linalg::GenericOp::create(b, l, TypeRange{tensorType(n->type)}, ins,
                                   ValueRange{init}, maps, iters,
                                   yieldContraction)
      .getResult(0);
}

Value EntryGen::emitReduce(const Node *n) {
  const Node *xn = n->operands[0];
  Value x = get(xn);
  Location l = loc(n);
  ReduceFn fn = n->reduceFn();
  mlir::Type elt = elementType(n->type.dtype);
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
  // Sema reduces numbers only (no bools), and Mean floats only.
  double inf = std::numeric_limits<double>::infinity();
  unsigned width = elt.getIntOrFloatBitWidth();
  int64_t imax = APInt::getSignedMaxValue(width).getSExtValue();
  int64_t imin = APInt::getSignedMinValue(width).getSExtValue();
  Value identity;
  BinaryFn combine = BinaryFn::Add;
  switch (fn) {
  case ReduceFn::Sum:
  case ReduceFn::Mean:
    identity = scalarConstant(elt, 0, 0, l);
    break;
  case ReduceFn::Max:
    identity = scalarConstant(elt, -inf, imin, l);
    combine = BinaryFn::Max;
    break;
  case ReduceFn::Min:
    identity = scalarConstant(elt, inf, imax, l);
    combine = BinaryFn::Min;
    break;
  }
  Value init = filled(reduced, identity, l);
  Value r = linalg::ReduceOp::create(
                b, l, ValueRange{x}, ValueRange{init}, n->ints,
                [&](OpBuilder &nb, Location nl, ValueRange a) {
                  linalg::YieldOp::create(
                      nb, nl, binaryScalar(nb, nl, combine, a[1], a[0]));
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
      c = arith::SIToFPOp::create(b, l, elt, i64);
    }
    Value init2 = emptyTensor(reduced, l);
    SmallVector<AffineMap> maps(2, b.getMultiDimIdentityMap(reduced.rank()));
    SmallVector<utils::IteratorType> iters(reduced.rank(),
                                           utils::IteratorType::parallel);
    r = linalg::GenericOp::create(
            b, l, TypeRange{tensorType(reduced)}, ValueRange{r},
            ValueRange{init2}, maps, iters,
            [&](OpBuilder &nb, Location nl, ValueRange a) {
              Value q = arith::DivFOp::create(nb, nl, a[0], c);
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
  Location l = loc(n);
  const Shape &src = xn->type.shape, &dst = n->type.shape;
  if (src == dst)
    return x;
  RankedTensorType resType = tensorType(n->type);
  // To or from a scalar: every dim is 1.
  if (src.empty())
    return expandUnitDims(x, n->type, {}, l);
  if (dst.empty())
    return tensor::CollapseShapeOp::create(b, l, resType, x,
                                           ArrayRef<ReassociationIndices>{});
  // Pure merges and splits: collapse each group to one dim, then expand it.
  SmallVector<ReassociationIndices> sg, dg;
  if (groupDims(src, dst, sg, dg)) {
    auto merges = [](ArrayRef<ReassociationIndices> groups) {
      return llvm::any_of(groups, [](auto &g) { return g.size() > 1; });
    };
    Value v = x;
    if (merges(sg)) {
      seqc::Type mid{n->type.dtype, {}};
      for (auto &g : sg) {
        Dim p(1);
        for (int64_t k : g)
          p = p * src[k];
        mid.shape.push_back(p);
      }
      v = tensor::CollapseShapeOp::create(b, l, tensorType(mid), v, sg);
    }
    if (merges(dg))
      v = tensor::ExpandShapeOp::create(b, l, resType, v, dg, foldResults(dst));
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
  Value x = get(n->operands[0]);
  SmallVector<OpFoldResult> offsets, sizes, strides;
  for (size_t i = 0; i < n->dims.size(); i += 3) {
    offsets.push_back(foldResult(n->dims[i]));
    sizes.push_back(foldResult(n->dims[i + 1]));
    strides.push_back(foldResult(n->dims[i + 2]));
  }
  return tensor::ExtractSliceOp::create(b, loc(n), tensorType(n->type), x,
                                        offsets, sizes, strides);
}

Value EntryGen::emitDynIndex(const Node *n) {
  const Node *xn = n->operands[0], *in = n->operands[1];
  Value x = get(xn);
  Location l = loc(n);
  // `x[t]` in a scan reads at the step index itself.
  Value index;
  if (in->kind == NodeKind::ScanIndex) {
    index = stepIndex.lookup(in);
  } else {
    Value i = tensor::ExtractOp::create(b, l, get(in), ValueRange{});
    index = arith::IndexCastOp::create(b, l, b.getIndexType(), i);
  }
  int64_t axis = n->ints[0];
  SmallVector<OpFoldResult> offsets, sizes;
  for (int64_t i = 0; i < xn->type.rank(); ++i) {
    offsets.push_back(i == axis ? OpFoldResult(index) : b.getIndexAttr(0));
    sizes.push_back(i == axis ? b.getIndexAttr(1)
                              : foldResult(xn->type.shape[i]));
  }
  SmallVector<OpFoldResult> strides(xn->type.rank(), b.getIndexAttr(1));
  return tensor::ExtractSliceOp::create(b, l, tensorType(n->type), x, offsets,
                                        sizes, strides);
}

Value EntryGen::emitGather(const Node *n) {
  const Node *tn = n->operands[0], *in = n->operands[1];
  Value table = get(tn), idx = get(in);
  Location l = loc(n);
  int64_t r = n->type.rank(), ri = in->type.rank();
  SmallVector<AffineMap> maps = {b.getMultiDimIdentityMap(r).getMajorSubMap(ri),
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
    SmallVector<Node *> next(m->operands.begin(), m->operands.end());
    regionRoots(m, next, next);
    stack.append(next.begin(), next.end());
  }
}

Operation *EntryGen::regionOp(const Node *n) {
  if (Operation *op = regionOps.lookup(n))
    return op;
  SmallVector<Node *> outer, inner;
  regionRoots(n, outer, inner);
  SmallVector<Value> operands = getAll(outer);
  emitCaptures(n, inner);
  Operation *op =
      n->scan ? buildScan(n, operands) : buildAssocScan(n, operands);
  seq::YieldOp::create(b, loc(n), getAll(inner));
  b.setInsertionPointAfter(op);
  regionOps[n] = op;
  return op;
}

Operation *EntryGen::buildScan(const Node *n, ValueRange inits) {
  const ScanInfo &s = *n->scan;
  Location l = loc(n);
  Value length = dimValue(s.length);
  SmallVector<mlir::Type> resultTypes(inits.getTypes());
  for (size_t j = 0; j < s.stepOutputs.size(); ++j) {
    seqc::Type t = s.stepOutputs[j]->type;
    t.shape.insert(t.shape.begin() + s.outputAxes[j], s.length);
    resultTypes.push_back(tensorType(t));
  }
  auto op = seq::ScanOp::create(b, l, resultTypes, length, inits, s.reverse,
                                s.outputAxes);
  mlir::Block *body = b.createBlock(&op.getBody());
  body->addArgument(b.getIndexType(), l);
  // Each carry's argument is named after it (`loc("h"(file:line:col))`), so
  // remarks about the recurrence can say which carry they mean.
  for (auto [carry, name, init] :
       llvm::zip_equal(s.carries, s.carryNames, inits))
    values[carry] = body->addArgument(
        init.getType(), mlir::NameLoc::get(b.getStringAttr(name), l));
  if (s.index)
    stepIndex[s.index] = op.getStepArg();
  return op;
}

Operation *EntryGen::buildAssocScan(const Node *n, ValueRange inputs) {
  const AssocScanInfo &s = *n->assoc;
  Location l = loc(n);
  auto op = seq::AssocScanOp::create(b, l, inputs, s.axis, s.reverse);
  mlir::Block *body = b.createBlock(&op.getCombiner());
  for (size_t i = 0; i < s.args.size(); ++i) {
    seqc::Type t = s.inputs[i % s.inputs.size()]->type;
    t.shape.erase(t.shape.begin() + s.axis);
    values[s.args[i]] = body->addArgument(tensorType(t), l);
  }
  return op;
}

//===----------------------------------------------------------------------===//
// Module
//===----------------------------------------------------------------------===//

OwningOpRef<ModuleOp> seqc::mlirGen(MLIRContext &ctx, const Program &program,
                                    const std::string &fileName) {
  registerMLIRGenDialects(ctx);
  StringAttr file = StringAttr::get(&ctx, fileName);
  OwningOpRef<ModuleOp> module =
      ModuleOp::create(toLocation(file, program.modelLoc));
  if (!program.modelName.empty())
    (*module)->setAttr("seq.model", StringAttr::get(&ctx, program.modelName));
  for (const Entry &e : program.entries)
    EntryGen(ctx, program, e, file).run(*module);
  if (failed(verify(*module)))
    return nullptr;
  return module;
}
