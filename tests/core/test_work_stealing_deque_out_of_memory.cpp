// WorkStealingDeque when its growth runs out of memory. A full deque grows by three
// allocations (the new buffer, its slots, the retired-buffers list's room); each is
// failed in turn, with items wrapped around the ring and some already stolen:
//   * try_push_many answers OutOfMemory, pushes nothing, and leaves the deque as it
//     was: same size and capacity, and the items come back in the same order (owner
//     from the bottom, thieves from the top);
//   * push_many_reporting_empty (and push) throw std::bad_alloc with the same guarantee;
//   * the next push, with memory, grows the deque and keeps every item.
// The allocations come from a test-local operator new (tests/support/
// failing_operator_new.hpp); under ThreadSanitizer there is none and the tests skip.
#include "weft/core/work_stealing_deque.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <new>
#include <string>
#include <vector>

#include "failing_operator_new.hpp"

namespace {

using weft::detail::WorkStealingDeque;
using Deque = WorkStealingDeque<int*>;
using Pushed = Deque::PushResult;

constexpr std::size_t kCapacity = 8;
constexpr int kMaxAllocations = 10;  // far more than a growth makes

// A full deque whose ring has wrapped: 3 pushed and stolen first, then filled.
struct FullDeque {
  Deque deque{kCapacity};
  std::vector<int> values = std::vector<int>(64);
  std::vector<int*> expected;  // top first

  FullDeque() {
    for (int i = 0; i < 3; ++i) deque.push(&values[static_cast<std::size_t>(60 + i)]);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(deque.steal(), &values[static_cast<std::size_t>(60 + i)]);
    for (std::size_t i = 0; i < kCapacity; ++i) {
      deque.push(&values[i]);
      expected.push_back(&values[i]);
    }
    EXPECT_EQ(deque.capacity(), kCapacity);
  }

  // Two from the top (thieves), the rest from the bottom (the owner): all as expected.
  void drain_and_check(const std::vector<int*>& more = {}) {
    std::vector<int*> all = expected;
    all.insert(all.end(), more.begin(), more.end());
    EXPECT_EQ(deque.size_approx(), all.size());
    EXPECT_EQ(deque.steal(), all[0]);
    EXPECT_EQ(deque.steal(), all[1]);
    for (std::size_t i = all.size(); i-- > 2;) EXPECT_EQ(deque.pop(), all[i]) << "item " << i;
    EXPECT_EQ(deque.pop(), nullptr);
  }
};

// Runs `push` on a fresh full deque with the k-th allocation failing, k = 1, 2, ...
// until it grows; push(full) answers whether it grew, and checks the deque either way.
template <class Push>
void fail_each_allocation_in_turn(Push push) {
  int failures = 0;
  bool grew = false;
  for (int k = 1; k <= kMaxAllocations && !grew; ++k) {
    SCOPED_TRACE("allocation " + std::to_string(k));
    FullDeque full;
    weft::test::fail_allocation_in = k;
    grew = push(full);
    weft::test::fail_allocation_in = 0;
    if (!grew) ++failures;
  }
  EXPECT_TRUE(grew);
  EXPECT_GE(failures, 2) << "the growth should make at least two allocations (buffer, slots)";
}

TEST(WorkStealingDequeOutOfMemory, TryPushManyAnswersOutOfMemoryAndLeavesTheDequeAsItWas) {
  if (!WEFT_TEST_FAILING_NEW) GTEST_SKIP() << "no operator new replacement under ThreadSanitizer";
  fail_each_allocation_in_turn([](FullDeque& full) {
    int extra[3] = {100, 101, 102};
    const Pushed pushed = full.deque.try_push_many(3, [&](std::size_t i) { return &extra[i]; });
    weft::test::fail_allocation_in = 0;  // the checks below allocate
    if (pushed == Pushed::OutOfMemory) {
      EXPECT_EQ(full.deque.capacity(), kCapacity);
      full.drain_and_check();
      return false;
    }
    EXPECT_EQ(pushed, Pushed::NotEmpty);
    EXPECT_GT(full.deque.capacity(), kCapacity);
    full.drain_and_check({&extra[0], &extra[1], &extra[2]});
    return true;
  });
}

TEST(WorkStealingDequeOutOfMemory, PushThrowsBadAllocAndLeavesTheDequeAsItWas) {
  if (!WEFT_TEST_FAILING_NEW) GTEST_SKIP() << "no operator new replacement under ThreadSanitizer";
  fail_each_allocation_in_turn([](FullDeque& full) {
    int extra = 100;
    try {
      full.deque.push(&extra);
    } catch (const std::bad_alloc&) {
      weft::test::fail_allocation_in = 0;
      EXPECT_EQ(full.deque.capacity(), kCapacity);
      full.drain_and_check();
      return false;
    }
    weft::test::fail_allocation_in = 0;
    full.drain_and_check({&extra});
    return true;
  });
}

// After a failed growth the same deque grows with the next push that has memory, and
// a burst that fits needs no allocation at all.
TEST(WorkStealingDequeOutOfMemory, TheDequeGrowsAtTheNextPushAfterAFailure) {
  if (!WEFT_TEST_FAILING_NEW) GTEST_SKIP() << "no operator new replacement under ThreadSanitizer";
  FullDeque full;
  int extra[2] = {100, 101};
  weft::test::fail_allocation_in = 1;
  EXPECT_EQ(full.deque.try_push_many(1, [&](std::size_t) { return &extra[0]; }), Pushed::OutOfMemory);
  EXPECT_EQ(weft::test::fail_allocation_in, 0);
  EXPECT_EQ(full.deque.try_push_many(1, [&](std::size_t) { return &extra[0]; }), Pushed::NotEmpty);
  weft::test::fail_allocation_in = 1;  // room now: the next push must not allocate
  EXPECT_EQ(full.deque.try_push_many(1, [&](std::size_t) { return &extra[1]; }), Pushed::NotEmpty);
  EXPECT_EQ(weft::test::fail_allocation_in, 1) << "a push that fits allocated";
  weft::test::fail_allocation_in = 0;
  full.drain_and_check({&extra[0], &extra[1]});
}

}  // namespace
