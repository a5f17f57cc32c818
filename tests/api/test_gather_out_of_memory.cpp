// A gather child stolen by a worker that runs out of memory while making it a task of
// its own (start_fork_job, noexcept: that used to be std::terminate). The thief's
// allocations are, in order: the fork-join's shared record (ForkJoinSlow and its two
// vectors), the helper's header (from operator new only in sanitizer builds; the frame
// allocator otherwise), its extras, its completion link (ForkChildLink). A test-local
// operator new fails the k-th allocation on the thief, for k = 1, 2, ... until the steal
// succeeds, so every allocation point fails once, in any build. Each time:
//   * the gather raises std::bad_alloc (the stolen child fails with it, as if its body
//     had thrown it), and the stolen child's body never ran;
//   * the inline child, blocked until the stolen one runs, is cancelled (CancelledError)
//     instead of waiting for ever, also when the record itself could not be made; the
//     children not yet started never run; the cancel request on the gathering task is
//     withdrawn afterwards (cancelling() is 0);
//   * every child's frame is cleaned up exactly once (a token among its parameters),
//     nothing leaks (ASan's leak check);
//   * the same runtime then runs the next attempt, and a last gather with no failure.
// The allocation that succeeds is the control: the stolen child ran, the gather returned
// its values. Gathers of 2 (the gathering task counts the failure into the record it
// makes), 3 and 5 children (another steal may make it), as a vector and a tuple.
//
// Making the steal deterministic, with 2 workers and no sleeps: the gathering task
// spawns a task that arms the failing allocation, then spins without suspending until
// that task ran: it ran on the other worker (this one is busy), which will be the
// thief. The gather's last child is on top of the deque, so it is the one stolen; the
// inline child spins (again without suspending, so its own worker cannot take the job
// back) until the stolen child ran or a cancel request reached the gathering task.
// Every spin is bounded by a generous deadline: a failure, not a hang.
//
// Under ThreadSanitizer there is no operator new replacement: the tests skip.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <weft/weft.hpp>

#include "cleanup_token.hpp"
#include "failing_operator_new.hpp"

namespace {

using namespace std::chrono_literals;
using weft::Task;
using weft::test::CleanupToken;
using weft::test::spin_until;

constexpr auto kDeadline = 60s;
constexpr int kMaxChildren = 5;
constexpr int kMaxAllocations = 40;  // far more than a start makes

struct Shared {
  std::atomic<bool> armed{false};
  std::atomic<bool> stolen_ran{false};
  std::array<std::atomic<int>, kMaxChildren> bodies{};   // bodies started, per child
  std::array<std::atomic<int>, kMaxChildren> cleaned{};  // frames cleaned up, per child
};

// Runs on the worker that will steal: its k-th allocation from now on fails.
Task<void> arm_this_worker(int k, std::atomic<bool>* armed) {
  weft::test::fail_allocation_in = k;
  armed->store(true, std::memory_order_release);
  co_return;
}

// Child 0, run inline by the gathering task.
Task<int> inline_child(Shared* shared, CleanupToken) {
  shared->bodies[0].fetch_add(1);
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  while (!shared->stolen_ran.load(std::memory_order_acquire)) {
    // The stolen child's failure reaches us as a cancel request on the gathering task.
    weft::this_task::throw_if_cancelled();
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("timeout: the stolen child neither ran nor failed");
    std::this_thread::yield();
  }
  co_return 0;
}

Task<int> middle_child(Shared* shared, int index, CleanupToken) {
  shared->bodies[index].fetch_add(1);
  co_return index;
}

// The last child: on top of the deque, the one the thief takes.
Task<int> stolen_child(Shared* shared, int index, CleanupToken) {
  weft::test::fail_allocation_in = 0;  // the start succeeded: nothing more fails here
  shared->bodies[index].fetch_add(1);
  shared->stolen_ran.store(true, std::memory_order_release);
  co_return index;
}

enum class Ending { Values, BadAlloc, Other };

struct Attempt {
  Ending ending = Ending::Other;
  std::string other;   // what Other was
  bool values_right = false;
  int cancelling_after = -1;
};

std::vector<Task<int>> children_of(Shared& shared, int count) {
  std::vector<Task<int>> children;
  children.push_back(inline_child(&shared, CleanupToken(&shared.cleaned[0])));
  for (int i = 1; i + 1 < count; ++i) children.push_back(middle_child(&shared, i, CleanupToken(&shared.cleaned[i])));
  children.push_back(stolen_child(&shared, count - 1, CleanupToken(&shared.cleaned[count - 1])));
  return children;
}

// The gathering task: `as_tuple` gathers 3 children as gather(a, b, c).
Task<Attempt> attempt(int k, int count, bool as_tuple, Shared* shared) {
  auto arming = weft::spawn(arm_this_worker(k, &shared->armed));
  // No suspension from here to the gather: this worker stays ours.
  spin_until(shared->armed, "the arming task never ran", kDeadline);
  Attempt result;
  try {
    if (as_tuple) {
      auto values = co_await weft::gather(inline_child(shared, CleanupToken(&shared->cleaned[0])),
                                          middle_child(shared, 1, CleanupToken(&shared->cleaned[1])),
                                          stolen_child(shared, 2, CleanupToken(&shared->cleaned[2])));
      result.values_right = values == std::tuple(0, 1, 2);
    } else {
      std::vector<int> values = co_await weft::gather(children_of(*shared, count));
      result.values_right = true;
      for (int i = 0; i < count; ++i) result.values_right = result.values_right && values[i] == i;
    }
    result.ending = Ending::Values;
  } catch (const std::bad_alloc&) {
    result.ending = Ending::BadAlloc;
  } catch (const std::exception& error) {
    result.other = error.what();
  } catch (...) {
    result.other = "not a std::exception";
  }
  result.cancelling_after = weft::this_task::cancelling();
  co_await arming;
  co_return result;
}

// Fails the thief's k-th allocation for k = 1, 2, ...; returns how many failed before
// the control (the first k past the start's allocations).
int failures_until_the_steal_succeeds(weft::Runtime& rt, int count, bool as_tuple) {
  for (int k = 1; k <= kMaxAllocations; ++k) {
    SCOPED_TRACE("children " + std::to_string(count) + ", failing allocation " + std::to_string(k));
    Shared shared;
    const Attempt result = rt.block_on(attempt(k, count, as_tuple, &shared));
    EXPECT_EQ(result.cancelling_after, 0);
    for (int i = 0; i < count; ++i) EXPECT_EQ(shared.cleaned[i].load(), 1) << "child " << i;
    if (result.ending == Ending::Values) {
      EXPECT_TRUE(result.values_right);
      EXPECT_TRUE(shared.stolen_ran.load());
      for (int i = 0; i < count; ++i) EXPECT_EQ(shared.bodies[i].load(), 1) << "child " << i;
      return k - 1;
    }
    EXPECT_EQ(result.ending, Ending::BadAlloc) << result.other;
    if (result.ending != Ending::BadAlloc) return -1;
    EXPECT_FALSE(shared.stolen_ran.load());
    EXPECT_EQ(shared.bodies[0].load(), 1);  // cancelled while it waited
    for (int i = 1; i < count; ++i) EXPECT_EQ(shared.bodies[i].load(), 0) << "child " << i;
  }
  ADD_FAILURE() << "the steal never succeeded";
  return -1;
}

// The record (3 allocations), the extras, the link; the header too in sanitizer builds.
constexpr int kStartAllocationsAtLeast = 5;

void expect_usable(weft::Runtime& rt) {
  auto values = rt.block_on([]() -> Task<std::vector<int>> {
    std::vector<Task<int>> children;
    for (int i = 0; i < 8; ++i) children.push_back([](int i) -> Task<int> { co_return i * i; }(i));
    co_return co_await weft::gather(std::move(children));
  }());
  ASSERT_EQ(values.size(), 8u);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(values[i], i * i);
}

struct GatherOutOfMemory : ::testing::TestWithParam<int> {};

TEST_P(GatherOutOfMemory, AThiefOutOfMemoryFailsTheStolenChildWithBadAlloc) {
  if (!WEFT_TEST_FAILING_NEW) GTEST_SKIP() << "no operator new replacement under ThreadSanitizer";
  weft::Runtime rt({.workers = 2});
  EXPECT_GE(failures_until_the_steal_succeeds(rt, GetParam(), /*as_tuple=*/false), kStartAllocationsAtLeast);
  expect_usable(rt);
}

INSTANTIATE_TEST_SUITE_P(Children, GatherOutOfMemory, ::testing::Values(2, 3, 5));

TEST(GatherOutOfMemoryTuple, AThiefOutOfMemoryFailsTheStolenChildWithBadAlloc) {
  if (!WEFT_TEST_FAILING_NEW) GTEST_SKIP() << "no operator new replacement under ThreadSanitizer";
  weft::Runtime rt({.workers = 2});
  EXPECT_GE(failures_until_the_steal_succeeds(rt, 3, /*as_tuple=*/true), kStartAllocationsAtLeast);
  expect_usable(rt);
}

}  // namespace
