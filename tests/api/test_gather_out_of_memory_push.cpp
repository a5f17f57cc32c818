// A gather whose children do not fit in its worker's deque, whose growth then runs out
// of memory (ForkJoin::start is noexcept: that used to be std::terminate). One worker:
// an outer gather of 100 children queues 99 of them and runs the first inline, which
// gathers 200 more (prepared beforehand, so that nothing else allocates): 99 + 199 do
// not fit in the deque's first 256 slots, and it grows inside the inner gather's burst
// push, with the outer gather's children already queued below the new ones. (Two
// gathers, not one of 300, since clang 14 could not instantiate a gather of a
// std::array of more than 256 until 2026-11-22, docs/COMPILERS.md.) A test-local operator
// new fails the k-th allocation from the outer co_await on, for k = 1, 2, ... until the
// gathers succeed, so every allocation of the growth fails once. Each time:
//   * the inner gather raises std::bad_alloc without running a child; the outer one
//     then fails with it too, its other children never started;
//   * every leaf's frame is cleaned up exactly once (a token among its parameters),
//     nothing leaks (ASan's leak check);
//   * the same runtime then runs the next attempt.
// The attempt whose allocations all succeed is the control: every leaf ran once and
// the sums are right; the next attempt on the grown deque allocates nothing more.
//
// Under ThreadSanitizer there is no operator new replacement: the test skips.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <new>
#include <string>
#include <utility>

#include <weft/weft.hpp>

#include "cleanup_token.hpp"
#include "failing_operator_new.hpp"

namespace {

using weft::Task;
using weft::test::CleanupToken;

constexpr std::size_t kOuter = 100, kInner = 200;
constexpr int kLeaves = static_cast<int>(kOuter - 1 + kInner);
constexpr int kMaxAllocations = 20;  // far more than a growth makes

struct Counts {
  std::atomic<int> bodies{0};
  std::atomic<int> cleaned{0};
};

Task<int> leaf(Counts* counts, int value, CleanupToken) {
  counts->bodies.fetch_add(1, std::memory_order_relaxed);
  co_return value;
}

template <std::size_t N>
std::array<Task<int>, N> leaves(Counts* counts) {
  std::array<Task<int>, N> tasks;
  for (std::size_t i = 0; i < N; ++i) tasks[i] = leaf(counts, 1, CleanupToken(&counts->cleaned));
  return tasks;
}

// The outer gather's first child: gathers the prepared leaves.
Task<int> inner(std::array<Task<int>, kInner> tasks) {
  const std::array<int, kInner> values = co_await weft::gather(std::move(tasks));
  int sum = 0;
  for (int value : values) sum += value;
  co_return sum;
}

enum class Ending { Values, BadAlloc, Other };

// The two gathers with the k-th allocation from the outer co_await on failing (k = 0:
// none fails).
Task<Ending> attempt(Counts* counts, int k) {
  std::array<Task<int>, kOuter> outer = leaves<kOuter>(counts);
  outer[0] = inner(leaves<kInner>(counts));  // replaces (and cleans up) one leaf
  counts->cleaned.store(0, std::memory_order_relaxed);
  Ending ending = Ending::Other;
  weft::test::fail_allocation_in = k;
  try {
    const std::array<int, kOuter> values = co_await weft::gather(std::move(outer));
    int sum = 0;
    for (int value : values) sum += value;
    ending = sum == kLeaves ? Ending::Values : Ending::Other;
  } catch (const std::bad_alloc&) {
    ending = Ending::BadAlloc;
  } catch (...) {
  }
  weft::test::fail_allocation_in = 0;
  co_return ending;
}

TEST(GatherOutOfMemoryPush, AGatherFailsWithBadAllocWhenItsDequeCannotGrow) {
  if (!WEFT_TEST_FAILING_NEW) GTEST_SKIP() << "no operator new replacement under ThreadSanitizer";
  weft::Runtime rt({.workers = 1});
  int failures = 0;
  bool succeeded = false;
  for (int k = 1; k <= kMaxAllocations && !succeeded; ++k) {
    SCOPED_TRACE("allocation " + std::to_string(k));
    Counts counts;
    const Ending ending = rt.block_on(attempt(&counts, k));
    if (ending == Ending::BadAlloc) {
      ++failures;
      EXPECT_EQ(counts.bodies.load(), 0) << "a child ran although the gather could not queue them";
    } else {
      ASSERT_EQ(ending, Ending::Values);
      EXPECT_EQ(counts.bodies.load(), kLeaves);
      succeeded = true;
    }
    EXPECT_EQ(counts.cleaned.load(), kLeaves);
  }
  EXPECT_TRUE(succeeded);
  EXPECT_GE(failures, 1) << "no allocation failed: the deque did not grow in the gather";
  // The grown deque holds them now: nothing fails even if the next allocation would.
  Counts counts;
  EXPECT_EQ(rt.block_on(attempt(&counts, 1)), Ending::Values);
  EXPECT_EQ(counts.cleaned.load(), kLeaves);
}

}  // namespace
