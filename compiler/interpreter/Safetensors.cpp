//===- Safetensors.cpp - Read and write .safetensors files ----------------===//
//
// The header is parsed with llvm::json; the file is memory-mapped through
// llvm::MemoryBuffer. Offsets and sizes are checked against the file before
// any element is read, so a corrupt file gives an error, not a crash.
//
//===----------------------------------------------------------------------===//

#include "Safetensors.h"
#include "Interpreter.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <cstring>

using namespace seqc;
using llvm::StringRef;

static llvm::Error fail(const std::string &path, const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 "'" + path + "': " + msg);
}

namespace {
struct StDType {
  const char *name;
  DType dtype;       // the tensor's element type
  Encoding encoding; // the file's
};
} // namespace

// F64 is read into an f32-tagged tensor (values kept in double).
static const StDType stTypes[] = {
    {"F32", DType::F32, Encoding::F32},   {"F16", DType::F16, Encoding::F16},
    {"BF16", DType::BF16, Encoding::BF16}, {"F64", DType::F32, Encoding::F64},
    {"I32", DType::I32, Encoding::I32},   {"I64", DType::I64, Encoding::I64},
    {"BOOL", DType::Bool, Encoding::Bool},
};

/// The safetensors name of the exact encoding of `d`.
static const char *stName(DType d) {
  for (const StDType &t : stTypes)
    if (t.dtype == d && t.encoding == nativeEncoding(d))
      return t.name;
  return "F32";
}

llvm::Expected<TensorMap> seqc::readSafetensors(const std::string &path) {
  auto bufOr = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                           /*RequiresNullTerminator=*/false);
  if (!bufOr)
    return fail(path, "cannot read: " + bufOr.getError().message());
  StringRef buf = (*bufOr)->getBuffer();
  if (buf.size() < 8)
    return fail(path, "not a safetensors file (shorter than 8 bytes)");
  uint64_t headerLen = 0;
  for (int i = 7; i >= 0; --i)
    headerLen = headerLen << 8 | (unsigned char)buf[i];
  if (headerLen > buf.size() - 8)
    return fail(path, "not a safetensors file (header length " +
                          llvm::Twine(headerLen) + " exceeds the file)");
  auto json = llvm::json::parse(buf.substr(8, headerLen));
  if (!json)
    return fail(path, "bad JSON header: " + llvm::toString(json.takeError()));
  const llvm::json::Object *obj = json->getAsObject();
  if (!obj)
    return fail(path, "the JSON header is not an object");
  StringRef data = buf.drop_front(8 + headerLen);

  TensorMap out;
  for (const auto &kv : *obj) {
    std::string name = kv.first.str();
    if (name == "__metadata__")
      continue;
    const llvm::json::Object *info = kv.second.getAsObject();
    auto bad = [&](const llvm::Twine &why) {
      return fail(path, "tensor '" + name + "': " + why);
    };
    if (!info)
      return bad("entry is not an object");
    auto dtypeName = info->getString("dtype");
    const llvm::json::Array *shapeArr = info->getArray("shape");
    const llvm::json::Array *offs = info->getArray("data_offsets");
    if (!dtypeName || !shapeArr || !offs || offs->size() != 2)
      return bad("entry needs dtype, shape and data_offsets");
    const StDType *type = nullptr;
    for (const StDType &t : stTypes)
      if (*dtypeName == t.name)
        type = &t;
    if (!type)
      return bad("unsupported dtype " + *dtypeName +
                 " (expected F32, F16, BF16, F64, I32, I64 or BOOL)");
    Extents shape;
    for (const llvm::json::Value &d : *shapeArr) {
      auto v = d.getAsInteger();
      if (!v || *v < 0)
        return bad("shape entries must be non-negative integers");
      shape.push_back(*v);
    }
    auto b = (*offs)[0].getAsInteger(), e = (*offs)[1].getAsInteger();
    if (!b || !e || *b < 0 || *e < *b || (uint64_t)*e > data.size())
      return bad("data_offsets out of the file's data");
    int64_t n = numElements(shape);
    unsigned size = encodingSize(type->encoding);
    if ((uint64_t)(*e - *b) != (uint64_t)n * size)
      return bad("data_offsets span " + llvm::Twine(*e - *b) +
                 " bytes, shape " + shapeString(shape) + " of " + *dtypeName +
                 " needs " + llvm::Twine(n * size));
    Tensor t(type->dtype, shape);
    const char *p = data.data() + *b;
    for (int64_t i = 0; i < n; ++i, p += size)
      t.data[i] = decodeElement(p, type->encoding);
    out.emplace(name, std::move(t));
  }
  return std::move(out);
}

llvm::Error seqc::writeSafetensors(
    const std::string &path,
    const std::vector<std::pair<std::string, Tensor>> &tensors) {
  llvm::json::Object header;
  uint64_t offset = 0;
  for (const auto &[name, t] : tensors) {
    llvm::json::Array shape;
    for (int64_t d : t.shape)
      shape.push_back(d);
    uint64_t bytes =
        (uint64_t)t.numel() * encodingSize(nativeEncoding(t.dtype));
    header[name] = llvm::json::Object{
        {"dtype", stName(t.dtype)},
        {"shape", std::move(shape)},
        {"data_offsets",
         llvm::json::Array{(int64_t)offset, (int64_t)(offset + bytes)}}};
    offset += bytes;
  }
  std::string text;
  llvm::raw_string_ostream(text) << llvm::json::Value(std::move(header));
  text.append((8 - text.size() % 8) % 8, ' ');

  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_None);
  if (ec)
    return fail(path, "cannot write: " + ec.message());
  uint64_t len = text.size();
  for (int i = 0; i < 8; ++i)
    os << (char)((len >> (8 * i)) & 0xff);
  os << text;
  for (const auto &[name, t] : tensors) {
    Encoding enc = nativeEncoding(t.dtype);
    for (double v : t.data) {
      char bytes[8];
      encodeElement(v, enc, bytes);
      os.write(bytes, encodingSize(enc));
    }
  }
  os.close();
  if (os.has_error())
    return fail(path, "write failed: " + os.error().message());
  return llvm::Error::success();
}

llvm::Expected<TensorMap> seqc::loadWeights(const Program &p,
                                            const std::string &path) {
  auto file = readSafetensors(path);
  if (!file)
    return file.takeError();
  TensorMap out;
  for (const auto &[name, type] : p.weights) {
    Extents shape = weightShape(type);
    auto it = file->find(name);
    if (it == file->end())
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "weight '" + name + "' is missing from " +
                                         path);
    Tensor &t = it->second;
    if (t.shape != shape)
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "weight '" + name + "' has shape " +
                                         shapeString(t.shape) + " in " + path +
                                         ", expected " + shapeString(shape));
    if (llvm::Error err =
            conformToDType(t, type.dtype, "weight '" + name + "' in " + path))
      return std::move(err);
    out.emplace(name, std::move(t));
  }
  return std::move(out);
}
