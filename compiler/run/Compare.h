//===- Compare.h - `seqc run --check`: compiled vs. interpreter -*- C++ -*-===//
//
// Compares one compiled result with the interpreter's. An element passes
// when |got - want| <= rtol * |want| + atol * scale, where scale is the
// largest |want| of the tensor (1 when that is 0), so that elements near
// zero in a tensor of large values are held to the tensor's precision
// rather than their own. The tolerances depend on the dtype:
//
//   f32  rtol 1e-4  atol 1e-5      f16   rtol 1e-2  atol 1e-3
//   bf16 rtol 4e-2  atol 4e-3      i32, i64, bool: exact
//
// (the interpreter keeps every intermediate in double; compiled code rounds
// each op to the dtype). NaN equals NaN; an infinity equals itself only.
//
//===----------------------------------------------------------------------===//

#ifndef SEQC_RUN_COMPARE_H
#define SEQC_RUN_COMPARE_H

#include "Tensor.h"

#include <cstdint>

namespace seqc {

struct Tolerance {
  double rtol = 0, atol = 0;
};

/// The tolerance of `dtype` (zero for integers and bool).
Tolerance toleranceFor(DType dtype);

struct Comparison {
  /// Every element within tolerance.
  bool ok = true;
  /// The largest |got - want| and relative error over the tensor. The
  /// relative error of an element is |got - want| / max(|want|, 1e-3 *
  /// scale), so that elements that are nearly zero do not dominate it.
  double maxAbsErr = 0, maxRelErr = 0;
  /// The element furthest outside its bound (or closest to it), as a flat
  /// row-major index; -1 for an empty tensor.
  int64_t worst = -1;
  double worstAbsErr = 0, worstRelErr = 0;
  /// The bound the worst element was held to.
  double worstBound = 0;
};

/// Compares `got` with `want` (same shape) with `tol`, each of its terms
/// multiplied by `tolScale` (`--check-tolerance`; 0: exact).
Comparison compareTensors(const Tensor &got, const Tensor &want, Tolerance tol,
                          double tolScale = 1.0);

/// "[1, 0, 5]": the index tuple of flat row-major `index` in `shape`.
std::string indexString(const Extents &shape, int64_t index);

} // namespace seqc

#endif // SEQC_RUN_COMPARE_H
