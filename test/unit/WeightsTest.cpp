//===- WeightsTest.cpp - safetensors loading ----------------------------===//
//
// A good file, and every way a file or a request can be wrong, each with
// the message that names the weight and the file.
//
//===----------------------------------------------------------------------===//

#include "TempDir.h"
#include "seqrt.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace {

std::string safetensors(const std::string &header, const std::string &data) {
  std::string out;
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i)
    out += (char)((n >> (8 * i)) & 0xff);
  return out + header + data;
}

std::string floats(std::vector<float> v) {
  return std::string((const char *)v.data(), v.size() * sizeof(float));
}

const DLDataType f32 = seqrt_dtype(kDLFloat, 32);

/// wq: f32[2, 3] = 0..5, b: f32[3] = 10, 11, 12, plus metadata.
std::string goodFile() {
  std::vector<float> wq = {0, 1, 2, 3, 4, 5}, b = {10, 11, 12};
  return safetensors(
      R"({"__metadata__":{"format":"pt"},)"
      R"("blocks.0.attn.wq":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
      R"("b":{"dtype":"F32","shape":[3],"data_offsets":[24,36]}})",
      floats(wq) + floats(b));
}

struct Opened {
  seqrt_weights *w = nullptr;
  seqrt_status status;
  std::string message;
  Opened(const std::string &path) {
    seqrt_clear_error();
    status = seqrt_weights_open(path.c_str(), &w);
    message = seqrt_last_error();
  }
  ~Opened() { seqrt_weights_close(w); }
};

TEST(Weights, GoodFile) {
  TempDir dir;
  Opened o(dir.write("w.safetensors", goodFile()));
  ASSERT_EQ(o.status, SEQRT_OK) << o.message;
  EXPECT_EQ(seqrt_weights_count(o.w), 2);
  const void *data;
  int64_t shape[2] = {2, 3};
  ASSERT_EQ(seqrt_weights_get(o.w, "blocks.0.attn.wq", f32, 2, shape, &data),
            SEQRT_OK)
      << seqrt_last_error();
  EXPECT_EQ(static_cast<const float *>(data)[4], 4.0f);
  int64_t bshape[1] = {3};
  ASSERT_EQ(seqrt_weights_get(o.w, "b", f32, 1, bshape, &data), SEQRT_OK);
  EXPECT_EQ(static_cast<const float *>(data)[2], 12.0f);

  const char *name;
  DLDataType dtype;
  int rank;
  const int64_t *s;
  ASSERT_EQ(seqrt_weights_info(o.w, 1, &name, &dtype, &rank, &s), SEQRT_OK);
  EXPECT_STREQ(name, "b");
  EXPECT_EQ(rank, 1);
  EXPECT_EQ(s[0], 3);
  EXPECT_EQ(seqrt_weights_info(o.w, 2, &name, &dtype, &rank, &s),
            SEQRT_ERR_INVALID_ARGUMENT);
}

TEST(Weights, MissingWeight) {
  TempDir dir;
  std::string path = dir.write("w.safetensors", goodFile());
  Opened o(path);
  ASSERT_EQ(o.status, SEQRT_OK);
  const void *data = &data;
  int64_t shape[2] = {2, 3};
  EXPECT_EQ(seqrt_weights_get(o.w, "blocks.1.attn.wq", f32, 2, shape, &data),
            SEQRT_ERR_WEIGHT);
  EXPECT_EQ(std::string(seqrt_last_error()),
            "weight 'blocks.1.attn.wq' is missing from " + path);
  EXPECT_EQ(data, nullptr);
}

TEST(Weights, WrongShape) {
  TempDir dir;
  std::string path = dir.write("w.safetensors", goodFile());
  Opened o(path);
  const void *data;
  int64_t shape[2] = {3, 2};
  EXPECT_EQ(seqrt_weights_get(o.w, "blocks.0.attn.wq", f32, 2, shape, &data),
            SEQRT_ERR_WEIGHT);
  EXPECT_EQ(std::string(seqrt_last_error()),
            "weight 'blocks.0.attn.wq' has shape [2, 3] in " + path +
                ", expected [3, 2]");
  int64_t flat[1] = {6};
  EXPECT_EQ(seqrt_weights_get(o.w, "blocks.0.attn.wq", f32, 1, flat, &data),
            SEQRT_ERR_WEIGHT);
}

TEST(Weights, WrongDtype) {
  TempDir dir;
  std::string path = dir.write("w.safetensors", goodFile());
  Opened o(path);
  const void *data;
  int64_t shape[1] = {3};
  EXPECT_EQ(seqrt_weights_get(o.w, "b", seqrt_dtype(kDLFloat, 16), 1, shape,
                              &data),
            SEQRT_ERR_WEIGHT);
  EXPECT_EQ(std::string(seqrt_last_error()),
            "weight 'b' has dtype f32 in " + path + ", expected f16");
}

TEST(Weights, UnknownDtypeFailsOnlyWhenRequested) {
  TempDir dir;
  std::string path = dir.write(
      "w.safetensors",
      safetensors(R"({"q":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]},)"
                  R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                  "abcd" + floats({1})));
  Opened o(path);
  ASSERT_EQ(o.status, SEQRT_OK) << o.message;
  const void *data;
  int64_t shape[1] = {4};
  EXPECT_EQ(seqrt_weights_get(o.w, "q", seqrt_dtype(kDLFloat, 8), 1, shape,
                              &data),
            SEQRT_ERR_UNSUPPORTED);
  EXPECT_NE(std::string(seqrt_last_error()).find("dtype F8_E4M3"),
            std::string::npos);
}

TEST(Weights, MisalignedDataIsCopiedAligned) {
  TempDir dir;
  // An f16[3] (6 bytes) before an f32 leaves the f32 at offset 6.
  std::string path = dir.write(
      "w.safetensors",
      safetensors(R"({"h":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},)"
                  R"("f":{"dtype":"F32","shape":[2],"data_offsets":[6,14]}})",
                  std::string(6, '\0') + floats({1.5f, -2})));
  Opened o(path);
  ASSERT_EQ(o.status, SEQRT_OK) << o.message;
  const void *data;
  int64_t shape[1] = {2};
  ASSERT_EQ(seqrt_weights_get(o.w, "f", f32, 1, shape, &data), SEQRT_OK);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(data) % 4, 0u);
  EXPECT_EQ(static_cast<const float *>(data)[1], -2.0f);
}

TEST(Weights, MissingFile) {
  TempDir dir;
  std::string path = dir.path("nope.safetensors");
  Opened o(path);
  EXPECT_EQ(o.status, SEQRT_ERR_IO);
  EXPECT_EQ(o.message, "cannot open weights file '" + path +
                           "': No such file or directory");
  EXPECT_EQ(o.w, nullptr);
}

struct BadCase {
  const char *what;
  std::string bytes;
  const char *message;
};

TEST(Weights, CorruptFiles) {
  std::string good = goodFile();
  std::string header =
      R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  BadCase cases[] = {
      {"shorter than the length", "abc", "is truncated: 3 bytes"},
      {"header longer than the file", good.substr(0, 40),
       "is truncated or corrupt: the header claims"},
      {"truncated data", good.substr(0, good.size() - 4),
       "is truncated or corrupt: tensor 'b' has data_offsets [24, 36] "
       "outside the 32 data bytes"},
      {"bad JSON",
       safetensors(R"({"w":{"dtype":"F32","shape":[2],)", floats({1, 2})),
       "is corrupt: bad JSON header: at byte"},
      {"not an object", safetensors("[1, 2]", ""),
       "the JSON header is not an object"},
      {"offsets out of range",
       safetensors(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                   floats({1, 2})),
       "tensor 'w' has data_offsets [4, 12] outside the 8 data bytes"},
      {"reversed offsets",
       safetensors(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})",
                   floats({1, 2})),
       "tensor 'w' has data_offsets [8, 0]"},
      {"size disagrees with shape",
       safetensors(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})",
                   floats({1, 2})),
       "tensor 'w' (F32, 3 elements) has 8 data bytes"},
      {"no dtype",
       safetensors(R"({"w":{"shape":[2],"data_offsets":[0,8]}})",
                   floats({1, 2})),
       "tensor 'w' has no string 'dtype'"},
      {"negative size",
       safetensors(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})",
                   floats({1, 2})),
       "tensor 'w' has a shape entry that is not a size"},
      {"bad offsets",
       safetensors(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})",
                   floats({1, 2})),
       "tensor 'w' needs 'data_offsets' [begin, end]"},
      {"entry not an object", safetensors(R"({"w": 3})", ""),
       "the header entry of tensor 'w' is not an object"},
      {"control", safetensors(header, floats({1, 2})), nullptr},
  };
  TempDir dir;
  int i = 0;
  for (const BadCase &c : cases) {
    std::string path =
        dir.write("bad" + std::to_string(i++) + ".safetensors", c.bytes);
    Opened o(path);
    if (!c.message) {
      EXPECT_EQ(o.status, SEQRT_OK) << c.what << ": " << o.message;
      continue;
    }
    EXPECT_EQ(o.status, SEQRT_ERR_WEIGHT) << c.what;
    EXPECT_EQ(o.w, nullptr) << c.what;
    EXPECT_NE(o.message.find(path), std::string::npos)
        << c.what << ": " << o.message;
    EXPECT_NE(o.message.find(c.message), std::string::npos)
        << c.what << ": " << o.message;
  }
}

} // namespace
