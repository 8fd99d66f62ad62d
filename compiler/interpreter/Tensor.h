//===- Tensor.h - Dense tensors of doubles for the interpreter ---*- C++
//-*-===//
//
// The reference interpreter's value: a dense, row-major array of `double`
// with a concrete int64 shape and the element type it stands for. Every
// element type is held in double: bool as 0/1, integers exactly (up to 2^53),
// f16/bf16/f32 as the double of their value.
//
//===----------------------------------------------------------------------===//

#ifndef SEQC_INTERPRETER_TENSOR_H
#define SEQC_INTERPRETER_TENSOR_H

#include "AST.h"

#include <cstdint>
#include <string>
#include <vector>

namespace seqc {

/// A concrete shape.
using Extents = std::vector<int64_t>;

/// Number of elements of a shape (1 for a scalar).
int64_t numElements(const Extents &shape);
/// Row-major strides, in elements.
Extents rowMajorStrides(const Extents &shape);
/// "[2, 16, 64]", "[]" for a scalar.
std::string shapeString(const Extents &shape);

struct Tensor {
  DType dtype = DType::F32;
  Extents shape;
  std::vector<double> data;

  Tensor() = default;
  /// A zero-filled tensor.
  Tensor(DType dtype, Extents shape);

  int64_t rank() const { return (int64_t)shape.size(); }
  int64_t numel() const { return (int64_t)data.size(); }
  /// "f32[2, 16, 64]".
  std::string typeString() const;
};

/// IEEE half / bfloat16 conversions (round to nearest even).
uint16_t doubleToHalfBits(double v);
double halfBitsToDouble(uint16_t bits);
uint16_t doubleToBF16Bits(double v);
double bf16BitsToDouble(uint16_t bits);

/// The value `v` takes when stored as `dtype`: rounded to f32/f16/bf16,
/// truncated toward zero for integers (i32 wraps), 0/1 for bool.
double roundToDType(double v, DType dtype);

/// How one element is laid out in a file (.npy, safetensors): the file's
/// element type, which may differ from the tensor's (f64 data read into an
/// f32 tensor; bf16 written to .npy as f32).
enum class Encoding { F64, F32, F16, BF16, I32, I64, Bool };

/// Bytes of one element.
unsigned encodingSize(Encoding e);
/// The encoding that stores `dtype` exactly.
Encoding nativeEncoding(DType dtype);
/// Reads the element at `p`.
double decodeElement(const char *p, Encoding e);
/// Writes `v` at `p` (encodingSize(e) bytes), rounded as the encoding needs.
void encodeElement(double v, Encoding e, char *p);

} // namespace seqc

#endif // SEQC_INTERPRETER_TENSOR_H
