//===- AllocTest.cpp - seqrt_alloc --------------------------------------===//

#include "seqrt.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>

namespace {

TEST(Alloc, SixtyFourByteAligned) {
  for (size_t bytes : {size_t(0), size_t(1), size_t(63), size_t(64),
                       size_t(65), size_t(1000), size_t(1) << 20}) {
    void *p = seqrt_alloc(bytes);
    ASSERT_NE(p, nullptr) << bytes;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % SEQRT_ALIGNMENT, 0u) << bytes;
    std::memset(p, 0xab, bytes);
    seqrt_free(p);
  }
  seqrt_free(nullptr);
}

TEST(Alloc, HugeRequestFailsWithMessage) {
  seqrt_clear_error();
  EXPECT_EQ(seqrt_alloc(SIZE_MAX - 8), nullptr);
  EXPECT_NE(std::string(seqrt_last_error()).find("cannot allocate"),
            std::string::npos);
}

} // namespace
