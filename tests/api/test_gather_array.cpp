// Checks gather(std::array<Task<T>, N>), the fork-join form for a number of children
// known at compile time: the values come back in a std::array in the children's order
// (void ones as monostate), the children run in parallel, the first failure cancels the
// others and is rethrown once all ended, cancelling the gathering task cancels every
// child and throws CancelledError, an empty array gives an empty array, an empty Task
// is refused with InvalidStateError, the awaitable converts to a Task that can be
// spawned, gather(return_exceptions, array) gives one Outcome per child and cancels
// nothing, a 10-ary fork-join tree sums right with steals on 2 workers, and arrays of
// 1,000 children (both forms) compile with every supported compiler (clang stops a fold
// expression at 256 operands) and give every value in order. Time comes from an
// auto-advancing ManualClock, except in the tree and the wide arrays.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <variant>

#include <weft/weft.hpp>

namespace {

using namespace std::chrono_literals;
using weft::Task;

struct GatherArray : ::testing::Test {
  GatherArray() { clock.set_auto_advance(true); }
  weft::ManualClock clock;
  weft::Runtime rt{{.workers = 2, .clock = &clock}};
};

Task<int> value_after(std::chrono::nanoseconds d, int value, std::atomic<int>* cancelled = nullptr) {
  try {
    co_await weft::sleep_for(d);
  } catch (const weft::CancelledError&) {
    if (cancelled != nullptr) ++*cancelled;
    throw;
  }
  co_return value;
}

Task<int> failure_after(std::chrono::nanoseconds d, const char* what) {
  co_await weft::sleep_for(d);
  throw std::runtime_error(what);
}

TEST_F(GatherArray, ValuesComeBackInTheChildrensOrderAndTheChildrenRunInParallel) {
  auto body = [&]() -> Task<bool> {
    std::array<Task<int>, 4> children{value_after(4s, 0), value_after(1s, 1), value_after(3s, 2), value_after(2s, 3)};
    const std::array<int, 4> values = co_await weft::gather(std::move(children));
    co_return values == std::array<int, 4>{0, 1, 2, 3};
  };
  const auto start = clock.now();
  EXPECT_TRUE(rt.block_on(body()));
  EXPECT_EQ(clock.now() - start, std::chrono::nanoseconds(4s));  // the longest, not the sum
}

TEST_F(GatherArray, VoidChildrenGiveMonostates) {
  auto pause = [](std::chrono::nanoseconds d) -> Task<void> { co_await weft::sleep_for(d); };
  auto body = [&]() -> Task<std::size_t> {
    std::array<Task<void>, 3> children{pause(1s), pause(2s), pause(3s)};
    const std::array<std::monostate, 3> values = co_await weft::gather(std::move(children));
    co_return values.size();
  };
  EXPECT_EQ(rt.block_on(body()), 3u);
}

TEST_F(GatherArray, TheFirstFailureCancelsTheOthersAndIsRethrownAfterAllEnded) {
  std::atomic<int> cancelled{0};
  auto body = [&]() -> Task<std::string> {
    std::array<Task<int>, 3> children{value_after(1h, 1, &cancelled), failure_after(1s, "boom"),
                                      value_after(2h, 2, &cancelled)};
    try {
      (void)co_await weft::gather(std::move(children));
    } catch (const std::runtime_error& error) {
      co_return error.what();
    }
    co_return "no failure";
  };
  const auto start = clock.now();
  EXPECT_EQ(rt.block_on(body()), "boom");
  EXPECT_EQ(cancelled.load(), 2);
  EXPECT_EQ(clock.now() - start, std::chrono::nanoseconds(1s));
}

TEST_F(GatherArray, CancellingTheGathererCancelsEveryChildAndThrowsCancelledError) {
  std::atomic<int> cancelled{0};
  auto gatherer = [&]() -> Task<std::string> {
    std::array<Task<int>, 2> children{value_after(1h, 1, &cancelled), value_after(2h, 2, &cancelled)};
    try {
      (void)co_await weft::gather(std::move(children));
    } catch (const weft::TaskCancelled&) {
      co_return "task cancelled";
    } catch (const weft::CancelledError&) {
      co_return "cancelled";
    }
    co_return "finished";
  };
  auto body = [&]() -> Task<std::string> {
    auto handle = weft::spawn(gatherer());
    co_await weft::sleep_for(1s);
    handle.cancel();
    co_return co_await handle;
  };
  EXPECT_EQ(rt.block_on(body()), "cancelled");
  EXPECT_EQ(cancelled.load(), 2);
}

TEST_F(GatherArray, AnEmptyArrayGivesAnEmptyArray) {
  auto body = []() -> Task<std::size_t> {
    const std::array<int, 0> values = co_await weft::gather(std::array<Task<int>, 0>{});
    co_return values.size() + 5;
  };
  EXPECT_EQ(rt.block_on(body()), 5u);
}

TEST_F(GatherArray, AnEmptyTaskIsRefusedWithInvalidStateError) {
  auto body = []() -> Task<bool> {
    std::array<Task<int>, 2> children{value_after(1s, 1), Task<int>{}};
    try {
      (void)co_await weft::gather(std::move(children));
    } catch (const weft::InvalidStateError&) {
      co_return true;
    }
    co_return false;
  };
  EXPECT_TRUE(rt.block_on(body()));
}

TEST_F(GatherArray, TheAwaitableConvertsToATaskThatCanBeSpawned) {
  auto body = []() -> Task<int> {
    std::array<Task<int>, 2> children{value_after(1s, 20), value_after(2s, 22)};
    Task<std::array<int, 2>> as_task = weft::gather(std::move(children));
    auto handle = weft::spawn(std::move(as_task));
    const std::array<int, 2> values = co_await handle;
    co_return values[0] + values[1];
  };
  EXPECT_EQ(rt.block_on(body()), 42);
}

// CPython: test_tasks.py::FutureGatherTests::test_return_exceptions, with an array.
TEST_F(GatherArray, ReturnExceptionsGivesOneOutcomePerChildAndCancelsNothing) {
  std::atomic<int> cancelled{0};
  auto body = [&]() -> Task<bool> {
    std::array<Task<int>, 3> children{value_after(2s, 1, &cancelled), failure_after(1s, "x"),
                                      value_after(3s, 3, &cancelled)};
    std::array<weft::Outcome<int>, 3> outcomes = co_await weft::gather(weft::return_exceptions, std::move(children));
    bool failure_seen = false;
    try {
      (void)outcomes[1].result();
    } catch (const std::runtime_error&) {
      failure_seen = true;
    }
    co_return outcomes[0].result() == 1 && failure_seen && outcomes[2].result() == 3;
  };
  const auto start = clock.now();
  EXPECT_TRUE(rt.block_on(body()));
  EXPECT_EQ(cancelled.load(), 0);
  EXPECT_EQ(clock.now() - start, std::chrono::nanoseconds(3s));
}

// A 10-ary tree of depth 4 (10,000 leaves) on the steady clock with 2 workers: the
// idle worker steals children, which then run as helper tasks. Run a few times so that
// steals happen at different depths.
Task<std::uint64_t> tree_sum(std::uint64_t id, int depth) {
  if (depth == 0) co_return id;
  std::array<Task<std::uint64_t>, 10> children;
  for (std::uint64_t i = 0; i < children.size(); ++i) children[i] = tree_sum(id * 10 + i, depth - 1);
  const std::array<std::uint64_t, 10> sums = co_await weft::gather(std::move(children));
  std::uint64_t total = 0;
  for (std::uint64_t sum : sums) total += sum;
  co_return total;
}

TEST(GatherArraySteady, ATenAryTreeSumsRightWithStealsOnTwoWorkers) {
  weft::Runtime rt({.workers = 2});
  for (int run = 0; run < 20; ++run) EXPECT_EQ(rt.block_on(tree_sum(0, 4)), 9'999u * 10'000u / 2) << "run " << run;
}

// Wider than clang's default nesting limit of 256 (docs/COMPILERS.md): the binding and
// the values are a loop and a flat pack expansion, not folds.
constexpr std::size_t kWide = 1'000;

Task<int> leaf(int value) { co_return value; }

TEST(GatherArraySteady, AThousandChildrenGiveEveryValueInOrder) {
  weft::Runtime rt({.workers = 2});
  auto body = []() -> Task<bool> {
    std::array<Task<int>, kWide> children;
    for (std::size_t i = 0; i < kWide; ++i) children[i] = leaf(static_cast<int>(i));
    const std::array<int, kWide> values = co_await weft::gather(std::move(children));
    for (std::size_t i = 0; i < kWide; ++i)
      if (values[i] != static_cast<int>(i)) co_return false;
    co_return true;
  };
  for (int run = 0; run < 5; ++run) EXPECT_TRUE(rt.block_on(body())) << "run " << run;
}

TEST(GatherArraySteady, AThousandChildrenWithReturnExceptionsGiveEveryOutcomeInOrder) {
  weft::Runtime rt({.workers = 2});
  auto body = []() -> Task<bool> {
    std::array<Task<int>, kWide> children;
    for (std::size_t i = 0; i < kWide; ++i) children[i] = leaf(static_cast<int>(i));
    std::array<weft::Outcome<int>, kWide> outcomes = co_await weft::gather(weft::return_exceptions, std::move(children));
    for (std::size_t i = 0; i < kWide; ++i)
      if (outcomes[i].result() != static_cast<int>(i)) co_return false;
    co_return true;
  };
  EXPECT_TRUE(rt.block_on(body()));
}

}  // namespace
