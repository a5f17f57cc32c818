// Checks wait_for / wait_until / move_on_after / cancel_after on an auto-advancing
// ManualClock (deterministic; an hour of virtual time costs nothing): a timeout cancels
// the inner, waits for it and throws TimeoutError at exactly the deadline; a result
// the inner produced anyway wins, and so does a failure raised in its cleanup; a
// non-positive timeout never starts a lazy inner; the caller's cancellation cancels
// the inner and surfaces as CancelledError; a handled timeout leaves the caller's
// cancelling() at 0; cancel_after stops a token when the time passes.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>

#include <weft/weft.hpp>

namespace {

using namespace std::chrono_literals;
using weft::Task;

struct Fixture : ::testing::Test {
  Fixture() { clock.set_auto_advance(true); }
  weft::ManualClock clock;
  weft::Runtime rt{{.workers = 2, .clock = &clock}};
  std::chrono::nanoseconds elapsed(weft::Clock::time_point since) const { return clock.now() - since; }
};

using Timeout = Fixture;

Task<int> sleepy(std::chrono::nanoseconds duration, int value, std::atomic<int>* cleanups = nullptr) {
  try {
    co_await weft::sleep_for(duration);
  } catch (const weft::CancelledError&) {
    if (cleanups) ++*cleanups;
    throw;
  }
  co_return value;
}

// CPython: test_waitfor.py::test_wait_for_timeout_less_then_0_or_0 (the positive case)
TEST_F(Timeout, InnerTooSlowIsCancelledAndTimeoutErrorIsThrownAtTheDeadline) {
  std::atomic<int> cleanups{0};
  auto start = clock.now();
  auto body = [&]() -> Task<bool> {
    try {
      co_await weft::wait_for(sleepy(1h, 1, &cleanups), 1s);
    } catch (const weft::TimeoutError&) {
      co_return true;
    }
    co_return false;
  };
  EXPECT_TRUE(rt.block_on(body()));
  EXPECT_EQ(cleanups.load(), 1);
  EXPECT_EQ(elapsed(start), std::chrono::nanoseconds(1s));
}

// CPython: test_waitfor.py::test_wait_for (result before the timeout)
TEST_F(Timeout, InnerFastEnoughReturnsItsValue) {
  auto body = [&]() -> Task<int> { co_return co_await weft::wait_for(sleepy(1s, 7), 1h); };
  EXPECT_EQ(rt.block_on(body()), 7);
}

// CPython: test_waitfor.py::test_wait_for_cancel_suppressed (the inner's result wins)
TEST_F(Timeout, InnerThatSwallowsTheCancelAndReturnsAValueWins) {
  auto stubborn = []() -> Task<int> {
    try {
      co_await weft::sleep_for(1h);
    } catch (const weft::CancelledError&) {
      co_return 99;
    }
    co_return 0;
  };
  auto body = [&]() -> Task<int> { co_return co_await weft::wait_for(stubborn(), 1s); };
  EXPECT_EQ(rt.block_on(body()), 99);
}

// CPython: test_waitfor.py::test_wait_for_raises_exception_in_cleanup (failure wins)
TEST_F(Timeout, AFailureRaisedInTheInnersCleanupWins) {
  auto failing_cleanup = []() -> Task<int> {
    try {
      co_await weft::sleep_for(1h);
    } catch (const weft::CancelledError&) {
      throw std::runtime_error("cleanup failed");
    }
    co_return 0;
  };
  auto body = [&]() -> Task<int> { co_return co_await weft::wait_for(failing_cleanup(), 1s); };
  EXPECT_THROW(rt.block_on(body()), std::runtime_error);
}

// CPython: test_waitfor.py::test_wait_for_timeout_less_then_0_or_0
TEST_F(Timeout, NonPositiveTimeoutNeverStartsALazyInner) {
  std::atomic<bool> started{false};
  auto inner = [&]() -> Task<int> {
    started = true;
    co_return 1;
  };
  auto body = [&]() -> Task<int> {
    int timeouts = 0;
    for (auto timeout : {0s, -1s}) {
      try {
        co_await weft::wait_for(inner(), timeout);
      } catch (const weft::TimeoutError&) {
        ++timeouts;
      }
    }
    co_return timeouts;
  };
  EXPECT_EQ(rt.block_on(body()), 2);
  EXPECT_FALSE(started.load());
}

// CPython: test_waitfor.py::test_wait_for_with_global_loop (awaiting a task object)
TEST_F(Timeout, WaitForOnAFinishedHandleReturnsItsValue) {
  auto body = [&]() -> Task<int> {
    auto handle = weft::spawn(sleepy(0s, 5));
    co_await handle;
    co_return co_await weft::wait_for(handle, 1s);
  };
  EXPECT_EQ(rt.block_on(body()), 5);
}

// CPython: test_waitfor.py::test_cancel_wait_for (the caller is cancelled)
TEST_F(Timeout, CallerCancelledWhileWaitingCancelsTheInnerAndGetsCancelledError) {
  std::atomic<int> cleanups{0};
  auto caller = [&]() -> Task<std::string> {
    try {
      co_await weft::wait_for(sleepy(1h, 1, &cleanups), 30min);
    } catch (const weft::TimeoutError&) {
      co_return "timeout";
    } catch (const weft::TaskCancelled&) {
      co_return "task cancelled";
    } catch (const weft::CancelledError& error) {
      co_return std::string("cancelled: ") + error.what();
    }
    co_return "value";
  };
  auto body = [&]() -> Task<std::string> {
    auto handle = weft::spawn(caller());
    co_await weft::sleep_for(1min);
    handle.cancel("stop");
    co_return co_await handle;
  };
  EXPECT_EQ(rt.block_on(body()), "cancelled: stop");
  EXPECT_EQ(cleanups.load(), 1);
}

// CPython: test_waitfor.py::test_wait_for_self_cancellation (cancelling() after a handled timeout)
TEST_F(Timeout, AHandledTimeoutLeavesTheCallersCancellingAtZero) {
  auto body = [&]() -> Task<int> {
    try {
      co_await weft::wait_for(sleepy(1h, 1), 1s);
    } catch (const weft::TimeoutError&) {
    }
    co_await weft::sleep_for(1s);  // and it is not cancelled at the next suspension point
    co_return weft::this_task::cancelling();
  };
  EXPECT_EQ(rt.block_on(body()), 0);
}

TEST_F(Timeout, WaitForOnAHandleTimesOutAndCancelsTheTask) {
  auto body = [&]() -> Task<bool> {
    auto handle = weft::spawn(sleepy(1h, 1));
    try {
      co_await weft::wait_for(handle, 2s);
    } catch (const weft::TimeoutError&) {
      co_return handle.done() && handle.cancelled();
    }
    co_return false;
  };
  EXPECT_TRUE(rt.block_on(body()));
}

TEST_F(Timeout, WaitUntilUsesAnAbsoluteDeadline) {
  auto start = clock.now();
  auto body = [&]() -> Task<bool> {
    try {
      co_await weft::wait_until(sleepy(1h, 1), start + 90s);
    } catch (const weft::TimeoutError&) {
      co_return true;
    }
    co_return false;
  };
  EXPECT_TRUE(rt.block_on(body()));
  EXPECT_EQ(elapsed(start), std::chrono::nanoseconds(90s));
}

TEST_F(Timeout, MoveOnAfterGivesNulloptOrTheValue) {
  auto body = [&]() -> Task<bool> {
    std::optional<int> late = co_await weft::move_on_after(1s, sleepy(1h, 1));
    std::optional<int> early = co_await weft::move_on_after(1h, sleepy(1s, 2));
    auto done_void = [&](std::chrono::nanoseconds d) -> Task<void> { co_await weft::sleep_for(d); };
    bool void_late = co_await weft::move_on_after(1s, done_void(1h));
    bool void_early = co_await weft::move_on_after(1h, done_void(1s));
    co_return !late && early == 2 && !void_late && void_early;
  };
  EXPECT_TRUE(rt.block_on(body()));
}

TEST_F(Timeout, CancelAfterStopsATokenWhenTheTimePasses) {
  auto start = clock.now();
  auto body = [&]() -> Task<std::string> {
    std::stop_source source;
    auto sleeper = weft::spawn(sleepy(1h, 1), {.name = "sleeper", .stop = source.get_token()});
    weft::cancel_after(source, 5s);
    try {
      co_await sleeper;
    } catch (const weft::TaskCancelled& error) {
      co_return error.what();
    }
    co_return "not cancelled";
  };
  EXPECT_EQ(rt.block_on(body()), "stop requested");
  EXPECT_EQ(elapsed(start), std::chrono::nanoseconds(5s));
}

}  // namespace
