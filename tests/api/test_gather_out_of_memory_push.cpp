// A gather whose children do not fit in its worker's deque, whose growth then runs out
// of memory (ForkJoin::start is noexcept: that used to be std::terminate). One worker,
// a gather of 300 children: the deque holds 256 until it grows, inside the burst push
// of children 1..299. A test-local operator new fails the k-th allocation from the
// co_await on, for k = 1, 2, ... until the gather succeeds, so every allocation of the
// growth fails once. Each time:
//   * the gather raises std::bad_alloc, and no child's body ran;
//   * every child's frame is cleaned up exactly once (a token among its parameters),
//     nothing leaks (ASan's leak check);
//   * the same runtime then runs the next attempt.
// The attempt whose allocations all succeed is the control: every child ran once, the
// values are right, and later gathers on the grown deque allocate nothing more.
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

constexpr std::size_t kChildren = 300;  // more than the deque's first 256 slots
constexpr int kMaxAllocations = 20;      // far more than a growth makes

struct Counts {
  std::atomic<int> bodies{0};
  std::atomic<int> cleaned{0};
};

Task<int> child(Counts* counts, int index, CleanupToken) {
  counts->bodies.fetch_add(1, std::memory_order_relaxed);
  co_return index;
}

enum class Ending { Values, BadAlloc, Other };

// Gathers kChildren children with the k-th allocation from the co_await on failing
// (k = 0: none fails).
Task<Ending> attempt(Counts* counts, int k) {
  std::array<Task<int>, kChildren> children;
  for (std::size_t i = 0; i < kChildren; ++i)
    children[i] = child(counts, static_cast<int>(i), CleanupToken(&counts->cleaned));
  Ending ending = Ending::Other;
  weft::test::fail_allocation_in = k;
  try {
    const std::array<int, kChildren> values = co_await weft::gather(std::move(children));
    bool right = true;
    for (std::size_t i = 0; i < kChildren; ++i) right = right && values[i] == static_cast<int>(i);
    ending = right ? Ending::Values : Ending::Other;
  } catch (const std::bad_alloc&) {
    ending = Ending::BadAlloc;
  } catch (...) {
  }
  weft::test::fail_allocation_in = 0;
  co_return ending;
}

TEST(GatherOutOfMemoryPush, TheGatherFailsWithBadAllocWhenItsDequeCannotGrow) {
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
      EXPECT_EQ(counts.bodies.load(), static_cast<int>(kChildren));
      succeeded = true;
    }
    EXPECT_EQ(counts.cleaned.load(), static_cast<int>(kChildren));
  }
  EXPECT_TRUE(succeeded);
  EXPECT_GE(failures, 1) << "no allocation failed: the deque did not grow in the gather";
  // The grown deque holds them now: nothing fails even if the next allocation would.
  Counts counts;
  EXPECT_EQ(rt.block_on(attempt(&counts, 1)), Ending::Values);
  EXPECT_EQ(counts.cleaned.load(), static_cast<int>(kChildren));
}

}  // namespace
