//===- ThreadPoolTest.cpp - seqrt_parallel_for --------------------------===//
//
// Sums come out right with 1, 2 and 7 threads; chunks cover [0, n) exactly
// once; nested and concurrent calls finish.
//
//===----------------------------------------------------------------------===//

#include "seqrt.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace {

struct SumCtx {
  const std::vector<int64_t> *values;
  std::atomic<int64_t> sum{0};
  std::atomic<int> calls{0};
};

void sumChunk(void *p, int64_t begin, int64_t end) {
  auto *c = static_cast<SumCtx *>(p);
  int64_t s = 0;
  for (int64_t i = begin; i < end; ++i)
    s += (*c->values)[i];
  c->sum += s;
  ++c->calls;
}

int64_t parallelSum(int64_t n, int *calls = nullptr) {
  std::vector<int64_t> values(n);
  for (int64_t i = 0; i < n; ++i)
    values[i] = i * i % 1009;
  SumCtx c;
  c.values = &values;
  seqrt_parallel_for(n, sumChunk, &c);
  if (calls)
    *calls = c.calls;
  return c.sum;
}

int64_t serialSum(int64_t n) {
  int64_t s = 0;
  for (int64_t i = 0; i < n; ++i)
    s += i * i % 1009;
  return s;
}

class ThreadPool : public ::testing::TestWithParam<int> {
protected:
  void SetUp() override { ASSERT_EQ(seqrt_init_threads(GetParam()), SEQRT_OK); }
  void TearDown() override { seqrt_init_threads(0); }
};

TEST_P(ThreadPool, ParallelSum) {
  EXPECT_EQ(seqrt_num_threads(), GetParam());
  for (int64_t n : {0, 1, 2, 3, 7, 8, 100, 12345}) {
    int calls = 0;
    EXPECT_EQ(parallelSum(n, &calls), serialSum(n)) << "n = " << n;
    if (n > 0)
      EXPECT_EQ(calls, std::min<int64_t>(n, GetParam())) << "n = " << n;
  }
}

struct CoverCtx {
  std::vector<std::atomic<int>> *hits;
  std::atomic<bool> ordered{true};
};

void coverChunk(void *p, int64_t begin, int64_t end) {
  auto *c = static_cast<CoverCtx *>(p);
  if (begin >= end)
    c->ordered = false;
  for (int64_t i = begin; i < end; ++i)
    ++(*c->hits)[i];
}

TEST_P(ThreadPool, ChunksCoverRangeOnce) {
  const int64_t n = 1001;
  std::vector<std::atomic<int>> hits(n);
  CoverCtx c;
  c.hits = &hits;
  seqrt_parallel_for(n, coverChunk, &c);
  EXPECT_TRUE(c.ordered);
  for (int64_t i = 0; i < n; ++i)
    ASSERT_EQ(hits[i], 1) << i;
}

void nestedChunk(void *p, int64_t begin, int64_t end) {
  auto *total = static_cast<std::atomic<int64_t> *>(p);
  for (int64_t i = begin; i < end; ++i)
    *total += parallelSum(50 + i);
}

TEST_P(ThreadPool, NestedCallsFinish) {
  std::atomic<int64_t> total{0};
  seqrt_parallel_for(9, nestedChunk, &total);
  int64_t expected = 0;
  for (int64_t i = 0; i < 9; ++i)
    expected += serialSum(50 + i);
  EXPECT_EQ(total, expected);
}

TEST_P(ThreadPool, ConcurrentCallersFinish) {
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 6; ++t)
    threads.emplace_back([&, t] {
      for (int r = 0; r < 50; ++r)
        if (parallelSum(200 + t * 13 + r) != serialSum(200 + t * 13 + r))
          ++wrong;
    });
  for (auto &th : threads)
    th.join();
  EXPECT_EQ(wrong, 0);
}

INSTANTIATE_TEST_SUITE_P(Threads, ThreadPool, ::testing::Values(1, 2, 7),
                         [](const auto &info) {
                           return std::to_string(info.param) + "threads";
                         });

TEST(ThreadPoolEnv, NumThreadsFromEnvironment) {
  setenv("SEQRT_NUM_THREADS", "3", 1);
  ASSERT_EQ(seqrt_init_threads(0), SEQRT_OK);
  EXPECT_EQ(seqrt_num_threads(), 3);
  EXPECT_EQ(parallelSum(1000), serialSum(1000));
  unsetenv("SEQRT_NUM_THREADS");
  ASSERT_EQ(seqrt_init_threads(0), SEQRT_OK);
  EXPECT_GE(seqrt_num_threads(), 1);
}

} // namespace
