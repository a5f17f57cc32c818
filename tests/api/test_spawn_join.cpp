// Checks spawn, JoinHandle and block_on: values and void results travel back, an
// exception keeps its type and message through three levels of awaits, misuse is a
// named error (result() before the end, spawn outside a runtime, block_on on a worker,
// a task awaiting its own handle, spawn after shutdown, a second task awaiting a handle
// another task awaits), handles can be awaited again after the end, move-only results
// move out once, and dropping a handle detaches.
#include <gtest/gtest.h>

#include <latch>
#include <memory>
#include <stdexcept>
#include <string>

#include <weft/weft.hpp>

#include "runtime_helpers.hpp"

namespace {

using weft::Task;

Task<int> answer() { co_return 42; }
Task<void> nothing() { co_return; }

TEST(SpawnJoin, BlockOnReturnsTheValue) {
  weft::Runtime rt({.workers = 2});
  EXPECT_EQ(rt.block_on(answer()), 42);
  rt.block_on(nothing());
}

TEST(SpawnJoin, SpawnedTaskIsAwaitedFromAnotherTask) {
  weft::Runtime rt({.workers = 2});
  auto parent = []() -> Task<int> {
    auto handle = weft::spawn(answer());
    int value = co_await handle;
    co_return value + 1;
  };
  EXPECT_EQ(rt.block_on(parent()), 43);
}

struct DomainError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

Task<int> level3() {
  throw DomainError("deep failure");
  co_return 0;
}
Task<int> level2() { co_return co_await level3(); }
Task<int> level1() {
  auto handle = weft::spawn(level2());
  co_return co_await handle;
}

TEST(SpawnJoin, ExceptionTravelsThroughThreeLevelsWithTypeAndMessage) {
  weft::Runtime rt({.workers = 2});
  try {
    rt.block_on(level1());
    FAIL() << "no exception";
  } catch (const DomainError& error) {
    EXPECT_STREQ(error.what(), "deep failure");
  }
}

TEST(SpawnJoin, ResultBeforeTheEndIsInvalidState) {
  weft::Runtime rt({.workers = 1});
  std::latch release(1);
  auto blocked = [&]() -> Task<int> {
    release.wait();  // holds its worker until the test has looked
    co_return 7;
  };
  auto handle = rt.spawn(blocked());
  EXPECT_THROW(handle.result(), weft::InvalidStateError);
  EXPECT_THROW(handle.exception(), weft::InvalidStateError);
  EXPECT_FALSE(handle.done());
  release.count_down();
  auto waiter = [&]() -> Task<int> { co_return co_await handle; };
  EXPECT_EQ(rt.block_on(waiter()), 7);
  EXPECT_TRUE(handle.done());
  EXPECT_EQ(handle.result(), 7);
  EXPECT_EQ(handle.exception(), nullptr);
}

TEST(SpawnJoin, SpawnOutsideATaskIsNotInRuntime) {
  EXPECT_THROW(weft::spawn(answer()), weft::NotInRuntime);
  EXPECT_THROW(weft::this_task::id(), weft::NotInRuntime);
}

TEST(SpawnJoin, BlockOnFromAWorkerIsInvalidState) {
  weft::Runtime rt({.workers = 2});
  auto nested = [&]() -> Task<bool> {
    try {
      rt.block_on(answer());
    } catch (const weft::InvalidStateError&) {
      co_return true;
    }
    co_return false;
  };
  EXPECT_TRUE(rt.block_on(nested()));
}

TEST(SpawnJoin, ATaskAwaitingItsOwnHandleIsInvalidState) {
  weft::Runtime rt({.workers = 1});
  weft::JoinHandle<void> handle;  // outlives the task; the task only points at it
  std::latch stored(1);
  auto self_awaiting = [](weft::JoinHandle<void>* own, std::latch& ready) -> Task<void> {
    ready.wait();
    co_await *own;
  };
  handle = rt.spawn(self_awaiting(&handle, stored));
  stored.count_down();
  auto waiter = [&]() -> Task<void> { co_await handle; };
  EXPECT_THROW(rt.block_on(waiter()), weft::InvalidStateError);
  handle.exception();  // observed, so nothing is reported
}

TEST(SpawnJoin, AHandleCanBeAwaitedAgainAfterTheEnd) {
  weft::Runtime rt({.workers = 2});
  auto parent = []() -> Task<int> {
    auto handle = weft::spawn(answer());
    int first = co_await handle;
    int second = co_await handle;
    co_return first + second + handle.result();
  };
  EXPECT_EQ(rt.block_on(parent()), 126);
}

TEST(SpawnJoin, MoveOnlyResultMovesOutOnce) {
  weft::Runtime rt({.workers = 2});
  auto make = []() -> Task<std::unique_ptr<int>> { co_return std::make_unique<int>(5); };
  auto parent = [&]() -> Task<int> {
    auto handle = weft::spawn(make());
    std::unique_ptr<int> value = co_await handle;
    bool second_throws = false;
    try {
      (void)handle.result();
    } catch (const weft::InvalidStateError&) {
      second_throws = true;
    }
    co_return second_throws ? *value : -1;
  };
  EXPECT_EQ(rt.block_on(parent()), 5);
}

TEST(SpawnJoin, DroppedHandleDetachesTheTaskWhichStillRuns) {
  weft::Runtime rt({.workers = 2});
  std::latch ran(1);
  auto side_effect = [](std::latch& done) -> Task<void> {
    done.count_down();
    co_return;
  };
  rt.spawn(side_effect(ran));  // handle dropped at once
  ran.wait();
}

TEST(SpawnJoin, SpawnAfterShutdownIsRuntimeClosed) {
  weft::Runtime rt({.workers = 1});
  rt.shutdown();
  rt.shutdown();  // idempotent
  EXPECT_THROW(rt.spawn(answer()), weft::RuntimeClosed);
  EXPECT_THROW(rt.block_on(answer()), weft::RuntimeClosed);
}

TEST(SpawnJoin, NamesIdsAndParents) {
  weft::Runtime rt({.workers = 2});
  auto child = []() -> Task<std::string> { co_return std::string(weft::this_task::name()); };
  auto parent = [&]() -> Task<bool> {
    auto handle = weft::spawn(child(), {.name = "the-child"});
    std::string seen = co_await handle;
    auto unnamed = weft::spawn(answer());
    co_await unnamed;
    co_return seen == "the-child" && handle.name() == "the-child" &&
        unnamed.name() == "task-" + std::to_string(unnamed.id()) && handle.id() != unnamed.id();
  };
  EXPECT_TRUE(rt.block_on(parent()));
}

TEST(SpawnJoin, UnretrievedFailureIsReportedOnceAndObservedOneIsNot) {
  std::atomic<int> reports{0};
  std::string reported_name;
  std::latch reported(1);
  weft::Runtime rt({.workers = 2, .on_unobserved_exception = [&](const weft::TaskInfo& info, std::exception_ptr) {
                      reported_name = info.name;
                      reports.fetch_add(1);
                      reported.count_down();
                    }});
  auto failing = []() -> Task<void> {
    throw std::runtime_error("nobody looks");
    co_return;
  };
  auto observed = rt.spawn(failing(), {.name = "observed"});
  auto waiter = [&]() -> Task<void> {
    try {
      co_await observed;
    } catch (const std::runtime_error&) {
    }
  };
  rt.block_on(waiter());
  observed = {};                             // observed: dropping it reports nothing
  rt.spawn(failing(), {.name = "lonely"});   // detached: reported when it ends
  reported.wait();
  rt.shutdown();
  EXPECT_EQ(reports.load(), 1);
  EXPECT_EQ(reported_name, "lonely");
}

// Misuse by a second awaiter leaves the first one's registration alone: before the join
// slot was claimed first (TaskStateWord::claim_join_slot), the second awaiter wrote its
// own task into the slot before it learnt it was too late; the completer then tried to
// wake it instead of the first, which waited forever, and dropped a reference the
// second never held (a use after free under ASan). Found by a review.
TEST(SpawnJoin, ASecondAwaiterGetsInvalidStateErrorAndTheFirstStillGetsTheValue) {
  weft::Runtime rt({.workers = 2});
  weft::test::HandleAwaitedByAnother awaited(rt);
  auto second_body = [&]() -> Task<bool> {
    try {
      (void)co_await awaited.target;
    } catch (const weft::InvalidStateError&) {
      co_return true;
    }
    co_return false;
  };
  EXPECT_TRUE(rt.block_on(second_body())) << "the second awaiter is told at once";
  EXPECT_EQ(awaited.release_and_join_first(), 7) << "the first awaiter was woken with the value";
}

// The same with a cancel request pending in the second awaiter as it awaits: it gets
// InvalidStateError, its request stays pending (delivered at its next suspension
// point), and the first awaiter's target is not cancelled by it (the request is
// forwarded only once the join slot is ours).
TEST(SpawnJoin, ASecondAwaiterWithAPendingCancelDoesNotCancelTheFirstOnesTarget) {
  weft::Runtime rt({.workers = 2});
  weft::test::HandleAwaitedByAnother awaited(rt);
  auto second_body = [&]() -> Task<std::string> {
    weft::this_task::cancel("mine");
    std::string seen;
    try {
      (void)co_await awaited.target;
    } catch (const weft::InvalidStateError&) {
      seen = "InvalidStateError";
    }
    try {
      co_await weft::this_task::yield();
    } catch (const weft::CancelledError& error) {
      seen += std::string(", then CancelledError ") + error.what();
    }
    co_return seen;
  };
  EXPECT_EQ(rt.block_on(second_body()), "InvalidStateError, then CancelledError mine");
  EXPECT_EQ(awaited.target.cancelling(), 0) << "the misusing awaiter's request reached the target";
  EXPECT_EQ(awaited.release_and_join_first(), 7);
}

}  // namespace
