//===- Npy.cpp - Read and write NumPy .npy files --------------------------===//
//
// The .npy format: the magic "\x93NUMPY", a version, a little-endian header
// length (2 bytes in v1, 4 in v2/v3), a Python dict literal giving descr,
// fortran_order and shape, padded so the data starts aligned, then the raw
// elements.
//
//===----------------------------------------------------------------------===//

#include "Npy.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <cstring>

using namespace seqc;
using llvm::StringRef;

static llvm::Error fail(const std::string &path, const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 "'" + path + "': " + msg);
}

/// Finds the value text after `'key':` in the header dict.
static std::optional<StringRef> dictValue(StringRef dict, StringRef key) {
  std::string k1 = ("'" + key + "'").str(), k2 = ("\"" + key + "\"").str();
  size_t p = dict.find(k1);
  if (p == StringRef::npos)
    p = dict.find(k2);
  if (p == StringRef::npos)
    return std::nullopt;
  StringRef rest = dict.drop_front(p + k1.size()).ltrim();
  if (!rest.consume_front(":"))
    return std::nullopt;
  return rest.ltrim();
}

namespace {
struct NpyDType {
  const char *descr;
  DType dtype;       // the tensor's element type
  Encoding encoding; // the file's
};
} // namespace

// f8 is read into an f32-tagged tensor (values kept in double).
static const NpyDType npyTypes[] = {
    {"f4", DType::F32, Encoding::F32}, {"f8", DType::F32, Encoding::F64},
    {"f2", DType::F16, Encoding::F16}, {"i4", DType::I32, Encoding::I32},
    {"i8", DType::I64, Encoding::I64}, {"b1", DType::Bool, Encoding::Bool},
};

llvm::Expected<Tensor> seqc::readNpy(const std::string &path) {
  auto bufOr = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                           /*RequiresNullTerminator=*/false);
  if (!bufOr)
    return fail(path, "cannot read: " + bufOr.getError().message());
  StringRef buf = (*bufOr)->getBuffer();
  if (buf.size() < 10 || !buf.starts_with("\x93NUMPY"))
    return fail(path, "not a .npy file (bad magic)");
  unsigned major = (unsigned char)buf[6];
  size_t headerLen, headerStart;
  auto byteAt = [&](size_t i) { return (size_t)(unsigned char)buf[i]; };
  if (major == 1) {
    headerLen = byteAt(8) | byteAt(9) << 8;
    headerStart = 10;
  } else if (major == 2 || major == 3) {
    if (buf.size() < 12)
      return fail(path, "truncated .npy header");
    headerLen =
        byteAt(8) | byteAt(9) << 8 | byteAt(10) << 16 | byteAt(11) << 24;
    headerStart = 12;
  } else {
    return fail(path, "unsupported .npy version " + llvm::Twine(major));
  }
  if (headerStart + headerLen > buf.size())
    return fail(path, "truncated .npy header");
  StringRef dict = buf.substr(headerStart, headerLen);

  auto descrV = dictValue(dict, "descr");
  auto fortranV = dictValue(dict, "fortran_order");
  auto shapeV = dictValue(dict, "shape");
  if (!descrV || !fortranV || !shapeV)
    return fail(path, "malformed .npy header: " + dict.trim());
  StringRef descr = *descrV;
  char quote = descr.empty() ? 0 : descr[0];
  if (quote != '\'' && quote != '"')
    return fail(path, "unsupported dtype " + descr.split(',').first +
                          " (structured arrays are not supported)");
  descr = descr.drop_front().split(quote).first;
  if (fortranV->starts_with("True"))
    return fail(path, "fortran-order arrays are not supported; save a "
                      "C-contiguous array (np.ascontiguousarray)");
  if (descr.size() != 3 ||
      !(descr[0] == '<' || descr[0] == '|' || descr[0] == '='))
    return fail(path,
                "unsupported dtype '" + descr +
                    "' (expected little-endian f2, f4, f8, i4, i8 or b1)");
  const NpyDType *type = nullptr;
  for (const NpyDType &t : npyTypes)
    if (descr.drop_front() == t.descr)
      type = &t;
  if (!type)
    return fail(path, "unsupported dtype '" + descr +
                          "' (expected f2, f4, f8, i4, i8 or b1)");

  StringRef shapeText = *shapeV;
  if (!shapeText.consume_front("("))
    return fail(path, "malformed shape in .npy header");
  shapeText = shapeText.split(')').first;
  Extents shape;
  while (true) {
    shapeText = shapeText.ltrim(" ,");
    if (shapeText.empty())
      break;
    size_t n = shapeText.find_first_not_of("0123456789");
    StringRef num = shapeText.substr(0, n);
    int64_t v;
    if (num.empty() || num.getAsInteger(10, v))
      return fail(path, "malformed shape in .npy header");
    shape.push_back(v);
    shapeText = shapeText.drop_front(num.size());
  }

  size_t dataStart = headerStart + headerLen;
  int64_t n = numElements(shape);
  unsigned size = encodingSize(type->encoding);
  if ((uint64_t)buf.size() - dataStart < (uint64_t)n * size)
    return fail(path, "truncated data: " + shapeString(shape) + " needs " +
                          llvm::Twine(n * size) + " bytes, file has " +
                          llvm::Twine(buf.size() - dataStart));
  Tensor t(type->dtype, shape);
  const char *p = buf.data() + dataStart;
  for (int64_t i = 0; i < n; ++i, p += size)
    t.data[i] = decodeElement(p, type->encoding);
  return t;
}

llvm::Error seqc::writeNpy(const std::string &path, const Tensor &t) {
  // NumPy has no bf16: it is written as f32.
  DType stored = t.dtype == DType::BF16 ? DType::F32 : t.dtype;
  const NpyDType *type = nullptr;
  for (const NpyDType &nt : npyTypes)
    if (nt.dtype == stored && nt.encoding == nativeEncoding(stored))
      type = &nt;
  std::string descr =
      std::string(stored == DType::Bool ? "|" : "<") + type->descr;
  unsigned size = encodingSize(type->encoding);
  std::string shape = "(";
  for (size_t i = 0; i < t.shape.size(); ++i)
    shape += std::to_string(t.shape[i]) + (t.shape.size() == 1 ? "," : "") +
             (i + 1 < t.shape.size() ? ", " : "");
  shape += ")";
  std::string header = "{'descr': '" + descr +
                       "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad with spaces so that magic + version + length + header is a multiple
  // of 64, ending in a newline (what NumPy writes).
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';

  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_None);
  if (ec)
    return fail(path, "cannot write: " + ec.message());
  os << "\x93NUMPY" << '\x01' << '\x00';
  os << (char)(header.size() & 0xff) << (char)(header.size() >> 8);
  os << header;
  for (double v : t.data) {
    char bytes[8];
    encodeElement(v, type->encoding, bytes);
    os.write(bytes, size);
  }
  os.close();
  if (os.has_error())
    return fail(path, "write failed: " + os.error().message());
  return llvm::Error::success();
}
