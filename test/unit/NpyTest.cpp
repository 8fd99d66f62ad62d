//===- NpyTest.cpp - .npy read and write --------------------------------===//

#include "TempDir.h"
#include "seqrt.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace {

template <typename T>
void roundTrip(const TempDir &dir, DLDataType dtype, std::vector<int64_t> shape,
               std::vector<T> values) {
  DLTensor t{};
  t.data = values.data();
  t.device = {kDLCPU, 0};
  t.ndim = (int)shape.size();
  t.dtype = dtype;
  t.shape = shape.data();
  std::string path = dir.path(std::string("t_") + seqrt_dtype_name(dtype) +
                              std::to_string(shape.size()) + ".npy");
  ASSERT_EQ(seqrt_npy_write(path.c_str(), &t), SEQRT_OK) << seqrt_last_error();
  DLTensor r;
  ASSERT_EQ(seqrt_npy_read(path.c_str(), &r), SEQRT_OK) << seqrt_last_error();
  EXPECT_TRUE(seqrt_dtype_equal(r.dtype, dtype));
  ASSERT_EQ(r.ndim, t.ndim);
  for (int i = 0; i < r.ndim; ++i)
    EXPECT_EQ(r.shape[i], shape[i]);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(r.data) % SEQRT_ALIGNMENT, 0u);
  if (!values.empty())
    EXPECT_EQ(std::memcmp(r.data, values.data(), values.size() * sizeof(T)), 0);
  EXPECT_EQ(r.device.device_type, kDLCPU);
  EXPECT_EQ(r.strides, nullptr);
  seqrt_npy_free(&r);
}

TEST(Npy, RoundTripEveryDtype) {
  TempDir dir;
  roundTrip<float>(dir, seqrt_dtype(kDLFloat, 32), {2, 3},
                   {1.5f, -2, 3, 4, 5, 6});
  roundTrip<double>(dir, seqrt_dtype(kDLFloat, 64), {3}, {1e300, -0.5, 7});
  roundTrip<uint16_t>(dir, seqrt_dtype(kDLFloat, 16), {2, 2},
                      {0x3c00, 0xc000, 0x7bff, 0});
  roundTrip<int32_t>(dir, seqrt_dtype(kDLInt, 32), {1, 2, 2},
                     {-1, 2, INT32_MAX, INT32_MIN});
  roundTrip<int64_t>(dir, seqrt_dtype(kDLInt, 64), {2}, {INT64_MIN, 42});
  roundTrip<uint8_t>(dir, seqrt_dtype(SEQRT_DL_BOOL, 8), {4}, {1, 0, 0, 1});
  roundTrip<float>(dir, seqrt_dtype(kDLFloat, 32), {}, {3.25f});
  roundTrip<float>(dir, seqrt_dtype(kDLFloat, 32), {0, 5}, {});
}

TEST(Npy, HeaderIsPaddedTo64Bytes) {
  TempDir dir;
  float v[3] = {1, 2, 3};
  int64_t shape[1] = {3};
  DLTensor t{};
  t.data = v;
  t.device = {kDLCPU, 0};
  t.ndim = 1;
  t.dtype = seqrt_dtype(kDLFloat, 32);
  t.shape = shape;
  std::string path = dir.path("a.npy");
  ASSERT_EQ(seqrt_npy_write(path.c_str(), &t), SEQRT_OK);
  FILE *f = std::fopen(path.c_str(), "rb");
  std::vector<char> bytes(4096);
  size_t n = std::fread(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
  ASSERT_EQ(n, 128u + 12u); // the dict is 57 characters: two lines of 64
  std::string header(bytes.data() + 10, 118);
  EXPECT_EQ(header.rfind("{'descr': '<f4', 'fortran_order': False, 'shape': "
                         "(3,), }",
                         0),
            0u)
      << header;
  EXPECT_EQ(header.back(), '\n');
}

std::string npyBytes(const std::string &dict, const std::string &data,
                     int version = 1) {
  std::string out = "\x93NUMPY";
  out += (char)version;
  out += '\0';
  std::string h = dict + "\n";
  if (version == 1) {
    out += (char)(h.size() & 0xff);
    out += (char)(h.size() >> 8);
  } else {
    for (int i = 0; i < 4; ++i)
      out += (char)((h.size() >> (8 * i)) & 0xff);
  }
  return out + h + data;
}

TEST(Npy, ReadsVersion2AndIgnoresKeyOrder) {
  TempDir dir;
  int32_t v[2] = {7, 8};
  std::string path = dir.write(
      "v2.npy", npyBytes("{'shape': (2,), 'fortran_order': False, 'descr': "
                         "'<i4'}",
                         std::string((const char *)v, 8), 2));
  DLTensor r;
  ASSERT_EQ(seqrt_npy_read(path.c_str(), &r), SEQRT_OK) << seqrt_last_error();
  EXPECT_EQ(((int32_t *)r.data)[1], 8);
  seqrt_npy_free(&r);
}

TEST(Npy, Errors) {
  TempDir dir;
  DLTensor r;
  struct Case {
    std::string bytes;
    seqrt_status status;
    std::string message;
  } cases[] = {
      {"not numpy at all", SEQRT_ERR_IO, "is not a .npy file"},
      {npyBytes("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }",
                "abcd"),
       SEQRT_ERR_UNSUPPORTED, "has dtype '>f4'"},
      {npyBytes("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }",
                "abcd"),
       SEQRT_ERR_UNSUPPORTED, "Fortran order"},
      {npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
                "abcd"),
       SEQRT_ERR_IO, "is truncated: expected 8 data bytes"},
      {npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }",
                "abcdefgh"),
       SEQRT_ERR_IO, "bytes after the 4 data bytes"},
      {npyBytes("{'descr': '<f4', 'shape': (1,), }", "abcd"), SEQRT_ERR_IO,
       "malformed .npy header"},
      {npyBytes("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }",
                "abcdefgh"),
       SEQRT_ERR_UNSUPPORTED, "has dtype '<c8'"},
  };
  int i = 0;
  for (const Case &c : cases) {
    std::string path = dir.write("e" + std::to_string(i++) + ".npy", c.bytes);
    EXPECT_EQ(seqrt_npy_read(path.c_str(), &r), c.status) << c.message;
    EXPECT_NE(std::string(seqrt_last_error()).find(c.message),
              std::string::npos)
        << seqrt_last_error();
    EXPECT_EQ(r.data, nullptr);
  }
  EXPECT_EQ(seqrt_npy_read(dir.path("missing.npy").c_str(), &r), SEQRT_ERR_IO);
  EXPECT_NE(std::string(seqrt_last_error()).find("No such file"),
            std::string::npos);
}

TEST(Npy, WriteRejectsNonCompact) {
  TempDir dir;
  float v[4] = {1, 2, 3, 4};
  int64_t shape[2] = {2, 2}, strides[2] = {1, 2};
  DLTensor t{};
  t.data = v;
  t.device = {kDLCPU, 0};
  t.ndim = 2;
  t.dtype = seqrt_dtype(kDLFloat, 32);
  t.shape = shape;
  t.strides = strides;
  EXPECT_EQ(seqrt_npy_write(dir.path("x.npy").c_str(), &t), SEQRT_ERR_SHAPE);
}

} // namespace
