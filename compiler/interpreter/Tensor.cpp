//===- Tensor.cpp - Dense tensors of doubles for the interpreter ----------===//
//
// Shape helpers and the element-type conversions the interpreter and the
// file readers share (half and bfloat16 bit patterns, rounding to a dtype).
//
//===----------------------------------------------------------------------===//

#include "Tensor.h"

#include <cmath>
#include <cstring>
#include <sstream>

using namespace seqc;

int64_t seqc::numElements(const Extents &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

Extents seqc::rowMajorStrides(const Extents &shape) {
  Extents s(shape.size(), 1);
  for (int64_t i = (int64_t)shape.size() - 2; i >= 0; --i)
    s[i] = s[i + 1] * shape[i + 1];
  return s;
}

std::string seqc::shapeString(const Extents &shape) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < shape.size(); ++i)
    os << (i ? ", " : "") << shape[i];
  os << "]";
  return os.str();
}

Tensor::Tensor(DType dtype, Extents shape)
    : dtype(dtype), shape(std::move(shape)) {
  data.assign(numElements(this->shape), 0.0);
}

std::string Tensor::typeString() const {
  return std::string(dtypeName(dtype)) + shapeString(shape);
}

uint16_t seqc::doubleToHalfBits(double v) {
  // Round the double directly to half (no double rounding through float).
  uint16_t sign = std::signbit(v) ? 0x8000 : 0;
  double a = std::fabs(v);
  if (std::isnan(v))
    return sign | 0x7e00;
  if (a >= 65520.0) // rounds to infinity
    return sign | 0x7c00;
  if (a < std::ldexp(1.0, -25)) // below half the smallest subnormal
    return a > std::ldexp(1.0, -25) ? sign | 1 : sign;
  int e;
  std::frexp(a, &e); // a = m * 2^e, m in [0.5, 1)
  int exp = e - 1;   // a = 1.f * 2^exp
  if (exp < -14) {
    // Subnormal: units of 2^-24.
    double q = std::nearbyint(a * std::ldexp(1.0, 24));
    return sign | (uint16_t)q; // q == 1024 becomes the smallest normal
  }
  double q = std::nearbyint(std::ldexp(a, 10 - exp)); // in [1024, 2048]
  int64_t mant = (int64_t)q;
  if (mant == 2048) {
    mant = 1024;
    ++exp;
  }
  if (exp > 15)
    return sign | 0x7c00;
  return sign | (uint16_t)((exp + 15) << 10) | (uint16_t)(mant - 1024);
}

double seqc::halfBitsToDouble(uint16_t bits) {
  double sign = (bits & 0x8000) ? -1.0 : 1.0;
  int exp = (bits >> 10) & 0x1f;
  int mant = bits & 0x3ff;
  if (exp == 0)
    return sign * std::ldexp((double)mant, -24);
  if (exp == 31)
    return mant ? NAN : sign * INFINITY;
  return sign * std::ldexp((double)(mant + 1024), exp - 25);
}

uint16_t seqc::doubleToBF16Bits(double v) {
  float f = (float)v;
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if (std::isnan(f))
    return (uint16_t)((u >> 16) | 0x40);
  // Round to nearest even on the upper 16 bits. (Rounding the double to
  // float first can double-round; negligible for a reference.)
  uint32_t rounding = 0x7fff + ((u >> 16) & 1);
  return (uint16_t)((u + rounding) >> 16);
}

double seqc::bf16BitsToDouble(uint16_t bits) {
  uint32_t u = (uint32_t)bits << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

double seqc::roundToDType(double v, DType dtype) {
  switch (dtype) {
  case DType::F32:
    return (double)(float)v;
  case DType::F16:
    return halfBitsToDouble(doubleToHalfBits(v));
  case DType::BF16:
    return bf16BitsToDouble(doubleToBF16Bits(v));
  case DType::I32: {
    double t = std::trunc(v);
    if (!std::isfinite(t))
      return t;
    return (double)(int32_t)(uint32_t)(uint64_t)(int64_t)std::fmod(
        t, 4294967296.0);
  }
  case DType::I64:
    return std::trunc(v);
  case DType::Bool:
    return v != 0 ? 1.0 : 0.0;
  }
  return v;
}

//===----------------------------------------------------------------------===//
// File encodings
//===----------------------------------------------------------------------===//

unsigned seqc::encodingSize(Encoding e) {
  switch (e) {
  case Encoding::F64:
  case Encoding::I64:
    return 8;
  case Encoding::F32:
  case Encoding::I32:
    return 4;
  case Encoding::F16:
  case Encoding::BF16:
    return 2;
  case Encoding::Bool:
    return 1;
  }
  return 4;
}

Encoding seqc::nativeEncoding(DType dtype) {
  switch (dtype) {
  case DType::F32: return Encoding::F32;
  case DType::F16: return Encoding::F16;
  case DType::BF16: return Encoding::BF16;
  case DType::I32: return Encoding::I32;
  case DType::I64: return Encoding::I64;
  case DType::Bool: return Encoding::Bool;
  }
  return Encoding::F32;
}

/// Loads a `T` from possibly unaligned bytes.
template <typename T> static T load(const char *p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

/// Stores a `T` to possibly unaligned bytes.
template <typename T> static void store(T v, char *p) {
  std::memcpy(p, &v, sizeof(T));
}

double seqc::decodeElement(const char *p, Encoding e) {
  switch (e) {
  case Encoding::F64: return load<double>(p);
  case Encoding::F32: return load<float>(p);
  case Encoding::F16: return halfBitsToDouble(load<uint16_t>(p));
  case Encoding::BF16: return bf16BitsToDouble(load<uint16_t>(p));
  case Encoding::I32: return load<int32_t>(p);
  case Encoding::I64: return (double)load<int64_t>(p);
  case Encoding::Bool: return *p ? 1.0 : 0.0;
  }
  return 0;
}

void seqc::encodeElement(double v, Encoding e, char *p) {
  switch (e) {
  case Encoding::F64: return store<double>(v, p);
  case Encoding::F32: return store<float>((float)v, p);
  case Encoding::F16: return store<uint16_t>(doubleToHalfBits(v), p);
  case Encoding::BF16: return store<uint16_t>(doubleToBF16Bits(v), p);
  case Encoding::I32: return store<int32_t>((int32_t)v, p);
  case Encoding::I64: return store<int64_t>((int64_t)v, p);
  case Encoding::Bool: *p = v != 0; return;
  }
}
