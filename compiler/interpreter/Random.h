//===- Random.h - Deterministic random inputs and weights --------*- C++
//-*-===//
//
// `seqc run --random --seed=N`: reproducible values from splitmix64, one
// stream per tensor (seeded from N and the tensor's name), so adding a
// weight does not change the others.
//  * float inputs: uniform in [-1, 1);
//  * float weights: rank >= 2 uniform in [-1, 1) / sqrt(shape[0]), rank <= 1
//    uniform in [-1, 1);
//  * integer inputs: uniform in [0, R), R the fewest rows of any table the
//    input indexes through a Gather, else [0, 16);
//  * bool: 0 or 1 with equal odds.
// Values are rounded to the tensor's dtype.
//
//===----------------------------------------------------------------------===//

#ifndef SEQC_INTERPRETER_RANDOM_H
#define SEQC_INTERPRETER_RANDOM_H

#include "Interpreter.h"

#include <cstdint>

namespace seqc {

/// splitmix64 (Steele, Lea, Flood 2014).
class SplitMix64 {
public:
  explicit SplitMix64(uint64_t seed) : state(seed) {}
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, 1), 53 bits.
  double uniform() { return (double)(next() >> 11) * 0x1.0p-53; }

private:
  uint64_t state;
};

/// The exclusive upper bound for random values of integer input `input` of
/// `e`: the fewest rows of a table it indexes, else 16.
int64_t randomIndexBound(const Entry &e, const Node *input, const DimMap &dims);

/// A random value for input `i` of `e`; every dim its type uses must be in
/// `dims`.
llvm::Expected<Tensor> randomInput(const Entry &e, unsigned i,
                                   const DimMap &dims, uint64_t seed);

/// Random values for every weight of `p`.
llvm::Expected<TensorMap> randomWeights(const Program &p, uint64_t seed);

} // namespace seqc

#endif // SEQC_INTERPRETER_RANDOM_H
