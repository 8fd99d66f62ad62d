//===- Npy.h - Read and write NumPy .npy files -------------------*- C++
//-*-===//
//
// The interpreter's input and output format. Supported: format versions 1
// to 3, C order, little-endian f16 f32 f64 i32 i64 and bool. bf16 has no
// NumPy dtype: bf16 tensors are written as f32. f64 arrays read as tensors
// tagged f32 with their values kept exactly; the caller converts to the
// dtype it expects (see conformToDType in Interpreter.h).
//
//===----------------------------------------------------------------------===//

#ifndef SEQC_INTERPRETER_NPY_H
#define SEQC_INTERPRETER_NPY_H

#include "Tensor.h"

#include "llvm/Support/Error.h"

#include <string>

namespace seqc {

/// Reads `path`. Errors name the file and what is unsupported.
llvm::Expected<Tensor> readNpy(const std::string &path);

/// Writes `t` to `path` with its dtype (bf16 as f32).
llvm::Error writeNpy(const std::string &path, const Tensor &t);

} // namespace seqc

#endif // SEQC_INTERPRETER_NPY_H
