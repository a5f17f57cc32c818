// WorkStealingDeque, single-threaded: every push/pop/steal is checked against a
// trivially correct model (std::deque: owner pop = back, steal = front) over
// millions of random operations with a fixed seed (pushes one at a time and in bursts,
// push_many_reporting_empty), starting from tiny capacities so that the buffer grows
// many times, also within a burst, with items wrapped around the ring; plus
// LIFO/FIFO order, growth, and the approximate size.
#include "weft/core/work_stealing_deque.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <random>
#include <string>
#include <vector>

namespace {

using weft::detail::WorkStealingDeque;

#if defined(WEFT_TSAN) || defined(WEFT_ASAN)
constexpr std::size_t kModelOps = 200'000;
#else
constexpr std::size_t kModelOps = 2'000'000;
#endif

TEST(WorkStealingDeque, EmptyAnswersNothing) {
  WorkStealingDeque<int*> dq(4);
  EXPECT_EQ(dq.pop(), nullptr);
  EXPECT_EQ(dq.steal(), nullptr);
  const auto r = dq.steal_detailed();
  EXPECT_EQ(r.item, nullptr);
  EXPECT_FALSE(r.retry);
  EXPECT_TRUE(dq.empty_approx());
  EXPECT_EQ(dq.size_approx(), 0u);
  // Popping an empty deque must leave it usable.
  EXPECT_EQ(dq.pop(), nullptr);
  int x = 7;
  dq.push(&x);
  EXPECT_EQ(dq.size_approx(), 1u);
  EXPECT_EQ(dq.pop(), &x);
  EXPECT_EQ(dq.pop(), nullptr);
}

TEST(WorkStealingDeque, CapacityIsRoundedToPowerOfTwo) {
  EXPECT_EQ(WorkStealingDeque<int*>(0).capacity(), 1u);
  EXPECT_EQ(WorkStealingDeque<int*>(1).capacity(), 1u);
  EXPECT_EQ(WorkStealingDeque<int*>(3).capacity(), 4u);
  EXPECT_EQ(WorkStealingDeque<int*>(256).capacity(), 256u);
  EXPECT_EQ(WorkStealingDeque<int*>().capacity(), 256u);
}

TEST(WorkStealingDeque, OwnerIsLifoThievesAreFifoAcrossGrowth) {
  std::vector<int> items(1000);
  WorkStealingDeque<int*> dq(2);
  for (auto& i : items) dq.push(&i);
  EXPECT_EQ(dq.size_approx(), items.size());
  EXPECT_GE(dq.capacity(), items.size());
  for (std::size_t i = 0; i < 500; ++i) ASSERT_EQ(dq.steal(), &items[i]) << "steal #" << i;
  for (std::size_t i = 1000; i-- > 500;) ASSERT_EQ(dq.pop(), &items[i]) << "pop of #" << i;
  EXPECT_EQ(dq.pop(), nullptr);
  EXPECT_EQ(dq.steal(), nullptr);
}

TEST(WorkStealingDeque, GrowsWhileWrappedAround) {
  // Move top/bottom far from 0 so that the live range wraps the ring, then grow.
  std::vector<int> items(64);
  WorkStealingDeque<int*> dq(4);
  for (int round = 0; round < 10; ++round) {
    dq.push(&items[0]);
    dq.push(&items[1]);
    dq.push(&items[2]);
    ASSERT_EQ(dq.steal(), &items[0]);
    ASSERT_EQ(dq.steal(), &items[1]);
    ASSERT_EQ(dq.pop(), &items[2]);
  }
  for (auto& i : items) dq.push(&i);  // grows from 4 to 64 with top == 20
  EXPECT_EQ(dq.capacity(), 64u);
  for (std::size_t i = 0; i < items.size(); ++i) ASSERT_EQ(dq.steal(), &items[i]) << i;
  EXPECT_TRUE(dq.empty_approx());
}

// One random run against the model. Items are pointers into `storage`, whose
// element holds its own index, so a wrong pointer is reported as an index.
void run_model(std::uint32_t seed, std::size_t initial_capacity, std::size_t ops) {
  SCOPED_TRACE("seed=" + std::to_string(seed) +
               " initial_capacity=" + std::to_string(initial_capacity));
  std::mt19937 rng(seed);
  std::vector<std::uint32_t> storage(ops);
  for (std::size_t i = 0; i < storage.size(); ++i) storage[i] = static_cast<std::uint32_t>(i);

  WorkStealingDeque<std::uint32_t*> dq(initial_capacity);
  std::deque<std::uint32_t*> model;
  std::size_t next = 0;
  std::size_t max_size = 0;
  // The push probability changes every few thousand operations, so the size
  // climbs (growth) and falls back to empty (last-item pops, empty steals).
  double push_p = 0.5;
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (std::size_t op = 0; op < ops; ++op) {
    if (op % 4096 == 0) push_p = 0.2 + 0.65 * unit(rng);
    const double r = unit(rng);
    if (r < push_p && next < storage.size()) {
      if (op % 5 == 0) {
        // A burst through push_many_reporting_empty: 1-40 items, one publication.
        const std::size_t burst =
            std::min<std::size_t>(std::uniform_int_distribution<std::size_t>(1, 40)(rng), storage.size() - next);
        const bool was_empty = dq.push_many_reporting_empty(burst, [&](std::size_t i) { return &storage[next + i]; });
        ASSERT_EQ(was_empty, model.empty()) << "push_many at op " << op;
        for (std::size_t i = 0; i < burst; ++i) model.push_back(&storage[next + i]);
        next += burst;
      } else {
        std::uint32_t* p = &storage[next++];
        dq.push(p);
        model.push_back(p);
      }
    } else if (r < push_p + (1.0 - push_p) / 2) {
      std::uint32_t* got = dq.pop();
      std::uint32_t* want = nullptr;
      if (!model.empty()) {
        want = model.back();
        model.pop_back();
      }
      ASSERT_EQ(got, want) << "pop at op " << op << " (got #" << (got ? *got : ~0u)
                           << ", want #" << (want ? *want : ~0u) << ")";
    } else {
      const auto got = dq.steal_detailed();
      ASSERT_FALSE(got.retry) << "single-threaded steal lost a race at op " << op;
      std::uint32_t* want = nullptr;
      if (!model.empty()) {
        want = model.front();
        model.pop_front();
      }
      ASSERT_EQ(got.item, want) << "steal at op " << op << " (got #"
                                << (got.item ? *got.item : ~0u) << ", want #"
                                << (want ? *want : ~0u) << ")";
    }
    ASSERT_EQ(dq.size_approx(), model.size()) << "size at op " << op;
    ASSERT_EQ(dq.empty_approx(), model.empty()) << "empty at op " << op;
    if (model.size() > max_size) max_size = model.size();
  }
  ASSERT_GE(dq.capacity(), max_size);
  // Drain: what is left comes out in model order.
  while (!model.empty()) {
    ASSERT_EQ(dq.steal(), model.front());
    model.pop_front();
  }
  ASSERT_EQ(dq.pop(), nullptr);
}

TEST(WorkStealingDeque, RandomOpsMatchModelFromCapacity2) { run_model(20240601u, 2, kModelOps); }

TEST(WorkStealingDeque, RandomOpsMatchModelFromCapacity1) { run_model(7u, 1, kModelOps / 4); }

TEST(WorkStealingDeque, RandomOpsMatchModelDefaultCapacity) { run_model(12345u, 256, kModelOps / 4); }

}  // namespace
