//===- SeqDialect.td - The seq dialect ---------------------*- tablegen -*-===//
//
// The seq dialect holds what upstream dialects cannot say about sequence
// models: the sequential recurrence (`seq.scan`), the associative scan
// (`seq.assoc_scan`) and a softmax with the model language's semantics for
// fully masked rows (`seq.softmax`). Plain tensor algebra stays in linalg,
// tensor, arith and math.
//
//===----------------------------------------------------------------------===//

#ifndef SEQ_DIALECT_TD
#define SEQ_DIALECT_TD

include "mlir/IR/OpBase.td"

def Seq_Dialect : Dialect {
  let name = "seq";
  let summary = "Recurrences, associative scans and attention for seqc";
  let description = [{
    The seq dialect is produced by seqc's MLIRGen from the typed graph of a
    model entry. Its ops work on ranked tensors and sit next to upstream
    linalg/tensor/arith/math ops, which express everything else.
  }];
  let cppNamespace = "::seqc::seq";
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect"];
}

class Seq_Op<string mnemonic, list<Trait> traits = []>
    : Op<Seq_Dialect, mnemonic, traits>;

#endif // SEQ_DIALECT_TD
