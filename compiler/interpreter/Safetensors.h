//===- Safetensors.h - Read and write .safetensors files ---------*- C++
//-*-===//
//
// The weights format: an 8-byte little-endian header length, a JSON header
// mapping each tensor name to {dtype, shape, data_offsets} (plus an ignored
// `__metadata__`), then the raw little-endian data. Supported dtypes: F32
// F16 BF16 F64 I32 I64 BOOL. F64 tensors read as f32-tagged tensors with
// their values kept exactly.
//
//===----------------------------------------------------------------------===//

#ifndef SEQC_INTERPRETER_SAFETENSORS_H
#define SEQC_INTERPRETER_SAFETENSORS_H

#include "Tensor.h"
#include "TypedIR.h"

#include "llvm/Support/Error.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace seqc {

using TensorMap = std::map<std::string, Tensor>;

/// Reads every tensor of `path`.
llvm::Expected<TensorMap> readSafetensors(const std::string &path);

/// Writes `tensors` in the given order (dtypes as tagged; bool as BOOL).
llvm::Error
writeSafetensors(const std::string &path,
                 const std::vector<std::pair<std::string, Tensor>> &tensors);

/// Loads the weights `p` declares from `path`: each must be present with
/// exactly its declared (constant) shape and a compatible dtype; values are
/// rounded to the declared dtype. Tensors the model does not use are
/// ignored. Errors name the weight and the file.
llvm::Expected<TensorMap> loadWeights(const Program &p,
                                      const std::string &path);

} // namespace seqc

#endif // SEQC_INTERPRETER_SAFETENSORS_H
