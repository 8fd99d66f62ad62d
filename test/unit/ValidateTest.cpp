//===- ValidateTest.cpp - seqrt_check_args ------------------------------===//
//
// Every check of seqrt_check_args, and the message each one leaves.
//
//===----------------------------------------------------------------------===//

#include "seqrt.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

enum { B, T, NDims };
const char *const dimNames[NDims] = {"B", "T"};
const int64_t xDims[] = {SEQRT_DIM_SYM(B), SEQRT_DIM_SYM(T), 4};
const int64_t tokDims[] = {SEQRT_DIM_SYM(B), SEQRT_DIM_SYM(T)};

/// A CPU tensor over owned storage.
struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> storage;
  DLTensor t{};
  Tensor(std::vector<int64_t> s, DLDataType dtype = seqrt_dtype(kDLFloat, 32))
      : shape(std::move(s)) {
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    storage.assign(n * 2 + 1, 0.0f);
    t.data = storage.data();
    t.device = {kDLCPU, 0};
    t.ndim = (int)shape.size();
    t.dtype = dtype;
    t.shape = shape.data();
  }
};

struct Check {
  seqrt_status status;
  std::string message;
};

Check check(const std::vector<seqrt_arg_desc> &descs,
            const std::vector<const DLTensor *> &ts, int64_t *dims) {
  seqrt_clear_error();
  seqrt_status s = seqrt_check_args(descs.data(), ts.data(), (int)ts.size(),
                                    dims, NDims, dimNames);
  return {s, seqrt_last_error()};
}

seqrt_arg_desc xDesc() {
  return {"x", SEQRT_ARG_INPUT, seqrt_dtype(kDLFloat, 32), 3, xDims};
}

TEST(CheckArgs, AcceptsMatchingTensorAndBindsDims) {
  Tensor x({2, 16, 4});
  int64_t dims[NDims] = {-1, -1};
  Check c = check({xDesc()}, {&x.t}, dims);
  EXPECT_EQ(c.status, SEQRT_OK) << c.message;
  EXPECT_EQ(dims[B], 2);
  EXPECT_EQ(dims[T], 16);
}

TEST(CheckArgs, NullTensor) {
  int64_t dims[NDims] = {-1, -1};
  Check c = check({xDesc()}, {nullptr}, dims);
  EXPECT_EQ(c.status, SEQRT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(c.message, "input 'x': tensor is null");
}

TEST(CheckArgs, NullData) {
  Tensor x({2, 16, 4});
  x.t.data = nullptr;
  int64_t dims[NDims] = {-1, -1};
  Check c = check({xDesc()}, {&x.t}, dims);
  EXPECT_EQ(c.status, SEQRT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(c.message, "input 'x': data is null");
}

TEST(CheckArgs, NullDataAcceptedWhenEmpty) {
  Tensor x({2, 0, 4});
  x.t.data = nullptr;
  int64_t dims[NDims] = {-1, -1};
  EXPECT_EQ(check({xDesc()}, {&x.t}, dims).status, SEQRT_OK);
  EXPECT_EQ(dims[T], 0);
}

TEST(CheckArgs, WrongDevice) {
  Tensor x({2, 16, 4});
  x.t.device = {kDLCUDA, 1};
  int64_t dims[NDims] = {-1, -1};
  Check c = check({xDesc()}, {&x.t}, dims);
  EXPECT_EQ(c.status, SEQRT_ERR_DEVICE);
  EXPECT_EQ(c.message, "input 'x': expected a cpu tensor, got device cuda:1");
}

TEST(CheckArgs, WrongDtype) {
  Tensor x({2, 16, 4}, seqrt_dtype(kDLFloat, 16));
  int64_t dims[NDims] = {-1, -1};
  Check c = check({xDesc()}, {&x.t}, dims);
  EXPECT_EQ(c.status, SEQRT_ERR_DTYPE);
  EXPECT_NE(c.message.find("input 'x': expected dtype f32, got f16"),
            std::string::npos)
      << c.message;
}

TEST(CheckArgs, WrongLanesIsWrongDtype) {
  Tensor x({2, 16, 4});
  x.t.dtype.lanes = 4;
  int64_t dims[NDims] = {-1, -1};
  EXPECT_EQ(check({xDesc()}, {&x.t}, dims).status, SEQRT_ERR_DTYPE);
}

TEST(CheckArgs, BadRank) {
  Tensor x({2, 16});
  int64_t dims[NDims] = {-1, -1};
  Check c = check({xDesc()}, {&x.t}, dims);
  EXPECT_EQ(c.status, SEQRT_ERR_SHAPE);
  EXPECT_EQ(c.message, "input 'x': expected rank 3, got rank 2");
}

TEST(CheckArgs, WrongConstantDim) {
  Tensor x({2, 16, 5});
  int64_t dims[NDims] = {-1, -1};
  Check c = check({xDesc()}, {&x.t}, dims);
  EXPECT_EQ(c.status, SEQRT_ERR_SHAPE);
  EXPECT_EQ(c.message, "input 'x': dimension 2 is 5, expected 4");
}

TEST(CheckArgs, NegativeSize) {
  Tensor x({2, 16, 4});
  x.shape[1] = -3;
  int64_t dims[NDims] = {-1, -1};
  Check c = check({xDesc()}, {&x.t}, dims);
  EXPECT_EQ(c.status, SEQRT_ERR_SHAPE);
  EXPECT_EQ(c.message, "input 'x': dimension 1 has negative size -3");
}

TEST(CheckArgs, InconsistentDimsAcrossArgumentsNameBoth) {
  Tensor tokens({2, 12}, seqrt_dtype(kDLInt, 64));
  Tensor x({2, 16, 4});
  seqrt_arg_desc tok = {"tokens", SEQRT_ARG_INPUT, seqrt_dtype(kDLInt, 64), 2,
                        tokDims};
  int64_t dims[NDims] = {-1, -1};
  Check c = check({tok, xDesc()}, {&tokens.t, &x.t}, dims);
  EXPECT_EQ(c.status, SEQRT_ERR_SHAPE);
  EXPECT_EQ(c.message,
            "input 'x': dimension 1 (T) is 16, but 'tokens' gave T = 12");
}

TEST(CheckArgs, OutputsCheckedAgainstDimsBoundByInputs) {
  Tensor x({2, 16, 4});
  Tensor y({2, 8, 4});
  int64_t dims[NDims] = {-1, -1};
  ASSERT_EQ(check({xDesc()}, {&x.t}, dims).status, SEQRT_OK);
  seqrt_arg_desc yDesc = {"y", SEQRT_ARG_OUTPUT, seqrt_dtype(kDLFloat, 32), 3,
                          xDims};
  Check c = check({yDesc}, {&y.t}, dims);
  EXPECT_EQ(c.status, SEQRT_ERR_SHAPE);
  EXPECT_EQ(c.message,
            "output 'y': dimension 1 (T) is 8, but T = 16 was already bound");
}

TEST(CheckArgs, NonCompactStrides) {
  Tensor x({2, 16, 4});
  int64_t strides[] = {64, 1, 16}; // a transposed view
  x.t.strides = strides;
  int64_t dims[NDims] = {-1, -1};
  Check c = check({xDesc()}, {&x.t}, dims);
  EXPECT_EQ(c.status, SEQRT_ERR_SHAPE);
  EXPECT_EQ(c.message, "input 'x': strides [64, 1, 16] are not compact "
                       "row-major (expected [64, 4, 1]); pass a contiguous "
                       "tensor");
}

TEST(CheckArgs, CompactExplicitStridesAccepted) {
  Tensor x({2, 16, 4});
  int64_t strides[] = {64, 4, 1};
  x.t.strides = strides;
  int64_t dims[NDims] = {-1, -1};
  EXPECT_EQ(check({xDesc()}, {&x.t}, dims).status, SEQRT_OK);
}

TEST(CheckArgs, AnyStrideOnSizeOneDims) {
  Tensor x({1, 16, 4});
  int64_t strides[] = {12345, 4, 1}; // what PyTorch may give a size-1 dim
  x.t.strides = strides;
  int64_t dims[NDims] = {-1, -1};
  EXPECT_EQ(check({xDesc()}, {&x.t}, dims).status, SEQRT_OK);
}

TEST(CheckArgs, ByteOffsetMustKeepAlignment) {
  Tensor x({2, 16, 4});
  int64_t dims[NDims] = {-1, -1};
  x.t.byte_offset = 4; // one float in: fine
  EXPECT_EQ(check({xDesc()}, {&x.t}, dims).status, SEQRT_OK);
  x.t.byte_offset = 2;
  Check c = check({xDesc()}, {&x.t}, dims);
  EXPECT_EQ(c.status, SEQRT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(c.message,
            "input 'x': data + byte_offset (2) is not aligned to 4 bytes");
}

TEST(CheckArgs, PreboundDims) {
  Tensor x({2, 16, 4});
  int64_t dims[NDims] = {3, -1};
  Check c = check({xDesc()}, {&x.t}, dims);
  EXPECT_EQ(c.status, SEQRT_ERR_SHAPE);
  EXPECT_EQ(c.message,
            "input 'x': dimension 0 (B) is 2, but B = 3 was already bound");
}

TEST(CheckArgs, ScalarArgument) {
  float v = 1.0f;
  DLTensor s{};
  s.data = &v;
  s.device = {kDLCPU, 0};
  s.dtype = seqrt_dtype(kDLFloat, 32);
  seqrt_arg_desc d = {"scale", SEQRT_ARG_INPUT, seqrt_dtype(kDLFloat, 32), 0,
                      nullptr};
  int64_t dims[NDims] = {-1, -1};
  EXPECT_EQ(check({d}, {&s}, dims).status, SEQRT_OK);
}

TEST(CheckArgs, BadCallArguments) {
  EXPECT_EQ(seqrt_check_args(nullptr, nullptr, 1, nullptr, 0, nullptr),
            SEQRT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(seqrt_check_args(nullptr, nullptr, 0, nullptr, 0, nullptr),
            SEQRT_OK);
}

TEST(Status, NamesAndThreadLocalMessages) {
  EXPECT_STREQ(seqrt_status_name(SEQRT_OK), "SEQRT_OK");
  EXPECT_STREQ(seqrt_status_name(SEQRT_ERR_WEIGHT), "SEQRT_ERR_WEIGHT");
  EXPECT_STREQ(seqrt_status_name((seqrt_status)99), "SEQRT_ERR_UNKNOWN");
  EXPECT_EQ(seqrt_set_error(SEQRT_ERR_IO, "file %s: %d", "a", 3),
            SEQRT_ERR_IO);
  EXPECT_STREQ(seqrt_last_error(), "file a: 3");
  seqrt_clear_error();
  EXPECT_STREQ(seqrt_last_error(), "");
}

TEST(Dtype, Names) {
  EXPECT_STREQ(seqrt_dtype_name(seqrt_dtype(kDLFloat, 32)), "f32");
  EXPECT_STREQ(seqrt_dtype_name(seqrt_dtype(kDLBfloat, 16)), "bf16");
  EXPECT_STREQ(seqrt_dtype_name(seqrt_dtype(kDLInt, 64)), "i64");
  EXPECT_STREQ(seqrt_dtype_name(seqrt_dtype(SEQRT_DL_BOOL, 8)), "bool");
  EXPECT_STREQ(seqrt_dtype_name(seqrt_dtype(kDLFloat, 8)), "unknown");
  EXPECT_EQ(seqrt_dtype_bytes(seqrt_dtype(kDLFloat, 64)), 8u);
}

} // namespace
