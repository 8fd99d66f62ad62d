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
  DType dtype;
  unsigned size;
};
} // namespace

// F64 is read as an f32-tagged tensor (values kept in double).
static const StDType stTypes[] = {
    {"F32", DType::F32, 4},   {"F16", DType::F16, 2}, {"BF16", DType::BF16, 2},
    {"F64", DType::F32, 8},   {"I32", DType::I32, 4}, {"I64", DType::I64, 8},
    {"BOOL", DType::Bool, 1},
};

static double readElement(const char *p, const StDType &t) {
  StringRef name = t.name;
  if (name == "F32") {
    float f;
    std::memcpy(&f, p, 4);
    return f;
  }
  if (name == "F64") {
    double d;
    std::memcpy(&d, p, 8);
    return d;
  }
  if (name == "F16" || name == "BF16") {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return name == "F16" ? halfBitsToDouble(h) : bf16BitsToDouble(h);
  }
  if (name == "I32") {
    int32_t x;
    std::memcpy(&x, p, 4);
    return x;
  }
  if (name == "I64") {
    int64_t x;
    std::memcpy(&x, p, 8);
    return (double)x;
  }
  return *p ? 1.0 : 0.0;
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
    if ((uint64_t)(*e - *b) != (uint64_t)n * type->size)
      return bad("data_offsets span " + llvm::Twine(*e - *b) +
                 " bytes, shape " + shapeString(shape) + " of " + *dtypeName +
                 " needs " + llvm::Twine(n * type->size));
    Tensor t(type->dtype, shape);
    const char *p = data.data() + *b;
    for (int64_t i = 0; i < n; ++i, p += type->size)
      t.data[i] = readElement(p, *type);
    out.emplace(name, std::move(t));
  }
  return std::move(out);
}

llvm::Error seqc::writeSafetensors(
    const std::string &path,
    const std::vector<std::pair<std::string, Tensor>> &tensors) {
  llvm::json::Object header;
  uint64_t offset = 0;
  auto stName = [](DType d) -> const char * {
    switch (d) {
    case DType::F32:
      return "F32";
    case DType::F16:
      return "F16";
    case DType::BF16:
      return "BF16";
    case DType::I32:
      return "I32";
    case DType::I64:
      return "I64";
    case DType::Bool:
      return "BOOL";
    }
    return "F32";
  };
  auto elemSize = [](DType d) -> unsigned {
    switch (d) {
    case DType::F16:
    case DType::BF16:
      return 2;
    case DType::I64:
      return 8;
    case DType::Bool:
      return 1;
    default:
      return 4;
    }
  };
  for (const auto &[name, t] : tensors) {
    llvm::json::Array shape;
    for (int64_t d : t.shape)
      shape.push_back(d);
    uint64_t bytes = (uint64_t)t.numel() * elemSize(t.dtype);
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
    for (double v : t.data) {
      char bytes[8];
      switch (t.dtype) {
      case DType::F32: {
        float f = (float)v;
        std::memcpy(bytes, &f, 4);
        break;
      }
      case DType::F16:
      case DType::BF16: {
        uint16_t h =
            t.dtype == DType::F16 ? doubleToHalfBits(v) : doubleToBF16Bits(v);
        std::memcpy(bytes, &h, 2);
        break;
      }
      case DType::I32: {
        int32_t x = (int32_t)v;
        std::memcpy(bytes, &x, 4);
        break;
      }
      case DType::I64: {
        int64_t x = (int64_t)v;
        std::memcpy(bytes, &x, 8);
        break;
      }
      case DType::Bool:
        bytes[0] = v != 0;
        break;
      }
      os.write(bytes, elemSize(t.dtype));
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
    auto shape = constantShape(type.shape);
    if (!shape)
      return llvm::createStringError(
          llvm::inconvertibleErrorCode(),
          "weight '" + name + "' has type " + type.str() +
              ", which uses a runtime dim; weights need constant shapes");
    auto it = file->find(name);
    if (it == file->end())
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "weight '" + name + "' is missing from " +
                                         path);
    Tensor &t = it->second;
    if (t.shape != *shape)
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "weight '" + name + "' has shape " +
                                         shapeString(t.shape) + " in " + path +
                                         ", expected " + shapeString(*shape));
    if (llvm::Error err =
            conformToDType(t, type.dtype, "weight '" + name + "' in " + path))
      return std::move(err);
    out.emplace(name, std::move(t));
  }
  return std::move(out);
}
