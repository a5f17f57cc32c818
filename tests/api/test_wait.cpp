// Checks wait (asyncio.wait) and as_completed over spawned tasks' handles: the three
// ReturnWhen modes, a timeout that just returns (cancelling nothing), the waiter's own
// cancellation leaving the tasks running, an empty vector is invalid_argument, a
// timeout too large to add to now() is none (also for wait_for), and
// as_completed giving indices in completion order. Time: auto-advancing ManualClock.
#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <vector>

#include <weft/weft.hpp>

namespace {

using namespace std::chrono_literals;
using weft::JoinHandle;
using weft::Task;

struct Wait : ::testing::Test {
  Wait() { clock.set_auto_advance(true); }
  weft::ManualClock clock;
  weft::Runtime rt{{.workers = 2, .clock = &clock}};
};

Task<int> after(std::chrono::nanoseconds d, int value) {
  co_await weft::sleep_for(d);
  co_return value;
}
Task<int> fail_after(std::chrono::nanoseconds d) {
  co_await weft::sleep_for(d);
  throw std::runtime_error("failed");
}

// CPython: test_tasks.py::test_wait
TEST_F(Wait, AllCompletedWaitsForEveryTask) {
  auto body = [&]() -> Task<bool> {
    std::vector<weft::JoinHandle<int>> handles;
    handles.push_back(weft::spawn(after(2s, 1)));
    handles.push_back(weft::spawn(after(1s, 2)));
    auto result = co_await weft::wait(handles);
    co_return result.done == std::vector<std::size_t>{0, 1} && result.pending.empty() &&
        handles[0].result() == 1;
  };
  EXPECT_TRUE(rt.block_on(body()));
}

// CPython: test_tasks.py::test_wait_first_completed
TEST_F(Wait, FirstCompletedReturnsAfterTheFirstAndCancelsNothing) {
  auto body = [&]() -> Task<bool> {
    std::vector<weft::JoinHandle<int>> handles;
    handles.push_back(weft::spawn(after(10s, 1)));
    handles.push_back(weft::spawn(after(1s, 2)));
    auto result = co_await weft::wait(handles, weft::ReturnWhen::FirstCompleted);
    const bool shape = result.done == std::vector<std::size_t>{1} && result.pending == std::vector<std::size_t>{0};
    const int late = co_await handles[0];  // still running, not cancelled
    co_return shape && late == 1;
  };
  EXPECT_TRUE(rt.block_on(body()));
}

// CPython: test_tasks.py::test_wait_first_exception / test_wait_first_exception_in_wait
TEST_F(Wait, FirstExceptionReturnsAtTheFirstFailure) {
  auto body = [&]() -> Task<bool> {
    std::vector<weft::JoinHandle<int>> handles;
    handles.push_back(weft::spawn(after(10s, 1)));
    handles.push_back(weft::spawn(after(1s, 2)));
    handles.push_back(weft::spawn(fail_after(2s)));
    auto result = co_await weft::wait(handles, weft::ReturnWhen::FirstException);
    const bool shape = result.done == std::vector<std::size_t>{1, 2} && result.pending == std::vector<std::size_t>{0};
    handles[2].exception();  // retrieved
    handles[0].cancel();
    co_return shape;
  };
  EXPECT_TRUE(rt.block_on(body()));
}

// CPython: test_tasks.py::test_wait_with_timeout
TEST_F(Wait, ATimeoutJustReturnsWhatIsDoneAndPending) {
  auto body = [&]() -> Task<bool> {
    std::vector<weft::JoinHandle<int>> handles;
    handles.push_back(weft::spawn(after(1s, 1)));
    handles.push_back(weft::spawn(after(1h, 2)));
    auto start = clock.now();
    auto result = co_await weft::wait(handles, weft::ReturnWhen::AllCompleted, 10s);
    const bool shape = result.done == std::vector<std::size_t>{0} && result.pending == std::vector<std::size_t>{1} &&
                       clock.now() - start == std::chrono::nanoseconds(10s) && !handles[1].done();
    handles[1].cancel();
    co_return shape;
  };
  EXPECT_TRUE(rt.block_on(body()));
}

TEST_F(Wait, TheWaitersCancellationLeavesTheTasksRunning) {
  auto body = [&]() -> Task<bool> {
    std::vector<weft::JoinHandle<int>> handles;
    handles.push_back(weft::spawn(after(1h, 1)));
    auto waiter = [&]() -> Task<void> { co_await weft::wait(handles); };
    auto w = weft::spawn(waiter());
    co_await weft::sleep_for(1s);
    w.cancel();
    bool waiter_cancelled = false;
    try {
      co_await w;
    } catch (const weft::TaskCancelled&) {
      waiter_cancelled = true;
    }
    const bool still_running = !handles[0].done();
    const int value = co_await handles[0];
    co_return waiter_cancelled && still_running && value == 1;
  };
  EXPECT_TRUE(rt.block_on(body()));
}

// CPython: test_tasks.py::test_wait_errors (empty set)
TEST_F(Wait, AnEmptyVectorIsInvalidArgument) {
  auto body = [&]() -> Task<bool> {
    std::vector<weft::JoinHandle<int>> none;
    try {
      co_await weft::wait(none);
    } catch (const std::invalid_argument&) {
      co_return true;
    }
    co_return false;
  };
  EXPECT_TRUE(rt.block_on(body()));
}

// CPython: test_tasks.py::test_as_completed
TEST_F(Wait, AsCompletedGivesIndicesInCompletionOrder) {
  auto body = [&]() -> Task<std::vector<std::size_t>> {
    std::vector<weft::JoinHandle<int>> handles;
    handles.push_back(weft::spawn(after(3s, 0)));
    handles.push_back(weft::spawn(after(1s, 1)));
    handles.push_back(weft::spawn(after(2s, 2)));
    auto completed = weft::as_completed(handles);
    std::vector<std::size_t> order;
    for (;;) {
      std::optional<std::size_t> next = co_await completed.next();
      if (!next) break;
      order.push_back(*next);
    }
    co_return order;
  };
  EXPECT_EQ(rt.block_on(body()), (std::vector<std::size_t>{1, 2, 0}));
}

// A timeout too large to add to the clock's now() is no timeout (it overflowed, and the
// wait returned at once); the same for wait_for with seconds::max(), whose conversion to
// nanoseconds overflowed. Found by a review.
TEST(WaitHugeTimeout, NanosecondsMaxDoesNotExpireAtOnce) {
  weft::ManualClock clock{weft::Clock::time_point{} + 1h};
  clock.set_auto_advance(true);
  weft::Runtime rt{{.workers = 2, .clock = &clock}};
  auto body = [&]() -> Task<std::size_t> {
    std::vector<JoinHandle<void>> handles;
    handles.push_back(weft::spawn([]() -> Task<void> { co_await weft::sleep_for(1s); }()));
    auto result = co_await weft::wait(handles, weft::ReturnWhen::AllCompleted, std::chrono::nanoseconds::max());
    co_await handles[0];
    co_return result.done.size();
  };
  EXPECT_EQ(rt.block_on(body()), 1u);
}

TEST(WaitHugeTimeout, WaitForWithSecondsMaxIsNoTimeout) {
  weft::ManualClock clock{weft::Clock::time_point{} + 1h};
  clock.set_auto_advance(true);
  weft::Runtime rt{{.workers = 2, .clock = &clock}};
  auto body = [&]() -> Task<int> {
    co_return co_await weft::wait_for([]() -> Task<int> { co_await weft::sleep_for(1s); co_return 7; }(),
                                      std::chrono::seconds::max());
  };
  EXPECT_EQ(rt.block_on(body()), 7);
}

}  // namespace
