// when_any when spawning a child fails partway (std::bad_alloc here; RuntimeClosed as
// the runtime shuts down is the other cause): the children already spawned report to
// an object in when_any's frame, so when_any must cancel and await them before the
// failure leaves it. Before (found by a review), it left at once and a child still
// running reported to the freed frame. A test-local operator new fails the k-th
// allocation on the worker thread that runs when_any, for every k in turn, until
// when_any runs through without a failure: for each k, either when_any returns the
// winner or throws std::bad_alloc, and then every child that started has ended.
// Under the sanitizers coroutine frames come from operator new too, so every spawn's
// allocations are among those tried; elsewhere frames come from weft's frame cache and
// the failing allocations are when_any's own vectors. An empty Task is refused before
// anything runs (InvalidStateError), as gather does.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <vector>

#include <weft/weft.hpp>

#include "failing_operator_new.hpp"

namespace {

using namespace std::chrono_literals;
using weft::Task;

using weft::test::fail_allocation_in;

struct Counters {
  std::atomic<int> started{0};
  std::atomic<int> ended{0};
};

struct EndGuard {
  Counters& counters;
  ~EndGuard() { counters.ended.fetch_add(1); }
};

Task<int> child(Counters& counters, int value, std::chrono::milliseconds d) {
  counters.started.fetch_add(1);
  EndGuard guard{counters};
  co_await weft::sleep_for(d);
  co_return value;
}

TEST(WhenAnySpawnFailure, EveryChildThatStartedHasEndedWhenTheFailureLeaves) {
  if (!WEFT_TEST_FAILING_NEW) GTEST_SKIP() << "no replaceable operator new under ThreadSanitizer";
  weft::ManualClock clock;
  clock.set_auto_advance(true);
  weft::Runtime rt({.workers = 2, .clock = &clock});
  int failures = 0;
  bool ran_through = false;
  for (int k = 1; k < 400 && !ran_through; ++k) {
    Counters counters;
    auto body = [&]() -> Task<int> {
      std::vector<Task<int>> tasks;
      for (int i = 0; i < 4; ++i) tasks.push_back(child(counters, i, std::chrono::milliseconds(10 * (i + 1))));
      fail_allocation_in = k;
      int winner = -1;
      try {
        auto result = co_await weft::when_any(std::move(tasks));
        winner = result.value;
      } catch (const std::bad_alloc&) {
        winner = -2;
      }
      fail_allocation_in = 0;
      if (winner == -2) {
        // Nothing may run on: every child that started has ended.
        EXPECT_EQ(counters.started.load(), counters.ended.load()) << "k = " << k;
      }
      co_return winner;
    };
    const int winner = rt.block_on(body());
    std::printf("k=%d winner=%d started=%d ended=%d\n", k, winner, counters.started.load(), counters.ended.load());
    if (winner == -2) {
      ++failures;
    } else {
      EXPECT_EQ(winner, 0) << "k = " << k;
      ran_through = true;
    }
    EXPECT_EQ(counters.started.load(), counters.ended.load()) << "k = " << k;
  }
  EXPECT_TRUE(ran_through);
  EXPECT_GT(failures, 0) << "no allocation failed inside when_any";
}

TEST(WhenAnySpawnFailure, AnEmptyTaskIsInvalidStateAndRunsNothing) {
  weft::Runtime rt({.workers = 2});
  Counters counters;
  auto body = [&]() -> Task<bool> {
    std::vector<Task<int>> tasks;
    tasks.push_back(child(counters, 1, 1ms));
    tasks.emplace_back();  // empty
    try {
      co_await weft::when_any(std::move(tasks));
    } catch (const weft::InvalidStateError&) {
      co_return true;
    }
    co_return false;
  };
  EXPECT_TRUE(rt.block_on(body()));
  EXPECT_EQ(counters.started.load(), 0);
}

}  // namespace
