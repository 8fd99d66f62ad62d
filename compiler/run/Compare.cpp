//===- Compare.cpp - `seqc run --check`: compiled vs. interpreter ---------===//
//
// The elementwise comparison and tolerances documented in Compare.h.
//
//===----------------------------------------------------------------------===//

#include "Compare.h"

#include <algorithm>
#include <cassert>
#include <cmath>

using namespace seqc;

Tolerance seqc::toleranceFor(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return {1e-4, 1e-5};
  case DType::F16:
    return {1e-2, 1e-3};
  case DType::BF16:
    return {4e-2, 4e-3};
  case DType::I32:
  case DType::I64:
  case DType::Bool:
    return {0, 0};
  }
  return {0, 0};
}

Comparison seqc::compareTensors(const Tensor &got, const Tensor &want,
                                Tolerance tol, double tolScale) {
  assert(got.shape == want.shape && "compareTensors: shapes differ");
  double scale = 0;
  for (double w : want.data)
    if (std::isfinite(w))
      scale = std::max(scale, std::fabs(w));
  if (scale == 0)
    scale = 1;
  double rtol = tol.rtol * tolScale, atol = tol.atol * tolScale * scale;

  Comparison c;
  // How far outside its bound the worst element is: err / bound, infinite
  // for an error where the bound is 0; ties go to the larger error.
  double worstRatio = -1;
  for (int64_t i = 0, n = want.numel(); i < n; ++i) {
    double g = got.data[i], w = want.data[i];
    double err;
    if (g == w || (std::isnan(g) && std::isnan(w)))
      err = 0;
    else if (!std::isfinite(g) || !std::isfinite(w))
      err = INFINITY;
    else
      err = std::fabs(g - w);
    double rel = err == 0 ? 0 : err / std::max(std::fabs(w), 1e-3 * scale);
    double bound = rtol * (std::isfinite(w) ? std::fabs(w) : 0) + atol;
    double ratio = err == 0 ? 0 : bound == 0 ? INFINITY : err / bound;
    c.maxAbsErr = std::max(c.maxAbsErr, err);
    c.maxRelErr = std::max(c.maxRelErr, rel);
    if (err > bound)
      c.ok = false;
    if (ratio > worstRatio || (ratio == worstRatio && err > c.worstAbsErr)) {
      worstRatio = ratio;
      c.worst = i;
      c.worstAbsErr = err;
      c.worstRelErr = rel;
      c.worstBound = bound;
    }
  }
  return c;
}

std::string seqc::indexString(const Extents &shape, int64_t index) {
  Extents strides = rowMajorStrides(shape);
  std::string s = "[";
  for (size_t d = 0; d < shape.size(); ++d) {
    int64_t k = strides[d] ? index / strides[d] : 0;
    index -= k * strides[d];
    s += (d ? ", " : "") + std::to_string(k);
  }
  return s + "]";
}
