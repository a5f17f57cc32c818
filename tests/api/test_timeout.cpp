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

// CPython: test_waitfor.py::test_cancel_blocking_wait_for (Python issue #23219: the
// awaited task is cancelled too), with the caller's request already pending as the wait
// begins: API.md, "wait_for on a handle behaves the same [as co_await handle] when the
// caller is cancelled". The request was delivered at the co_await of the wait_for Task
// itself, before the wait began: the awaited task was left running, uncancelled.
TEST_F(Timeout, APendingCancelAtWaitForOnAHandleCancelsTheTaskToo) {
  auto describe = [](std::exception_ptr error) -> std::string {
    try {
      std::rethrow_exception(error);
    } catch (const weft::TaskCancelled&) {
      return "TaskCancelled;";
    } catch (const weft::CancelledError& e) {
      return std::string("CancelledError(") + e.what() + ");";
    } catch (const weft::TimeoutError&) {
      return "TimeoutError;";
    } catch (...) {
      return "other;";
    }
  };
  auto body = [&]() -> Task<std::string> {
    auto plain = weft::spawn(sleepy(1h, 1));
    auto timed = weft::spawn(sleepy(1h, 2));
    auto moved_on = weft::spawn(sleepy(1h, 3));
    std::string out;
    std::exception_ptr error;
    weft::this_task::cancel("pending");
    try {
      co_await plain;  // the reference: co_await handle
    } catch (...) {
      error = std::current_exception();
    }
    out += describe(error);
    weft::this_task::cancel("pending");
    try {
      co_await weft::wait_for(timed, 1min);
    } catch (...) {
      error = std::current_exception();
    }
    out += describe(error);
    weft::this_task::cancel("pending");
    try {
      co_await weft::move_on_after(1min, moved_on);
    } catch (...) {
      error = std::current_exception();
    }
    out += describe(error);
    for (auto* handle : {&plain, &timed, &moved_on})
      out += handle->done() && handle->cancelled() ? " cancelled" : " running";
    co_return out;
  };
  EXPECT_EQ(rt.block_on(body()),
            "CancelledError(pending);CancelledError(pending);CancelledError(pending); cancelled cancelled cancelled");
}

// A Clock whose now() cancels one task the second time that task reads it: a stand-in,
// at a deterministic instant, for another thread's cancel. wait_for(Task) and
// move_on_after(d, Task) read the clock (deadline_passed) right before they spawn the
// inner; a request registered there was delivered at the co_await of the internal wait
// that follows the spawn, which threw at once and dropped the handle: the inner went on
// running, detached and uncancelled, after the caller had ended.
struct CancelInTheWindowClock final : weft::Clock {
  std::atomic<weft::TaskId> target{0};
  mutable std::atomic<int> calls{0};
  time_point now() const override {
    if (const weft::TaskId id = target.load(); id != 0) {
      try {
        if (weft::this_task::id() == id && calls.fetch_add(1) == 1) weft::this_task::cancel("in the window");
      } catch (const weft::NotInRuntime&) {
        // a worker reading the time between tasks
      }
    }
    return time_point{};  // time never passes: only a cancel ends the inner
  }
};

TEST(TimeoutWindow, ACancelRightBeforeTheInnerIsSpawnedCancelsAndAwaitsIt) {
  CancelInTheWindowClock clock;
  weft::Runtime rt{{.workers = 2, .clock = &clock}};
  auto body = [&]() -> Task<std::string> {
    std::string out;
    for (int round = 0; round < 2; ++round) {
      clock.calls = 0;
      clock.target = weft::this_task::id();
      try {
        if (round == 0) {
          co_await weft::wait_for(sleepy(1h, 1), 1min);
        } else {
          co_await weft::move_on_after(1min, sleepy(1h, 1));
        }
        out += "value;";
      } catch (const weft::CancelledError& error) {
        out += std::string(error.what()) + ";";
      }
      clock.target = 0;
      out += std::to_string(rt.tasks().size()) + " live;";  // the caller alone
    }
    co_return out;
  };
  EXPECT_EQ(rt.block_on(body()), "in the window;1 live;in the window;1 live;");
}

// A cancel of the caller is forwarded to the inner, then withdrawn (uncancel) while the
// caller still waits; the inner ends cancelled. No time passed: that is no timeout. As
// for `co_await handle` (join_handle.hpp: "the request may have been withdrawn since:
// then the wait just ends"), the awaited task's cancellation is what the caller sees,
// TaskCancelled (asyncio 3.13: the awaited task's CancelledError, and the timeout, not
// expired, lets it through). wait_for threw TimeoutError: it took any cancelled end of
// the inner for the timeout's doing.
TEST(TimeoutWithdrawn, AForwardedThenWithdrawnCancelIsNoTimeout) {
  weft::ManualClock clock;  // never advanced: the deadline never passes
  weft::Runtime rt{{.workers = 1, .clock = &clock}};  // nothing runs between cancel and uncancel
  auto body = [&]() -> Task<std::string> {
    auto caller_body = [](weft::JoinHandle<int>* awaited, bool timed) -> Task<std::string> {
      try {
        if (timed)
          co_await weft::wait_for(*awaited, 1min);
        else
          co_await *awaited;
        co_return "value";
      } catch (const weft::TaskCancelled&) {
        co_return "TaskCancelled";
      } catch (const weft::CancelledError&) {
        co_return "CancelledError";
      } catch (const weft::TimeoutError&) {
        co_return "TimeoutError";
      }
    };
    std::string out;
    for (bool timed : {false, true}) {
      auto awaited = weft::spawn(sleepy(1h, 1));
      auto caller = weft::spawn(caller_body(&awaited, timed));
      for (;;) {  // until the caller waits for the awaited task
        bool waiting = false;
        for (const weft::TaskInfo& info : rt.tasks())
          if (info.id == caller.id() && info.awaiting == "task " + std::to_string(awaited.id())) waiting = true;
        if (waiting) break;
        co_await weft::this_task::yield();
      }
      caller.cancel("outer");  // forwarded to the awaited task at once
      caller.uncancel();       // and withdrawn from the caller
      out += co_await caller;
      out += awaited.cancelled() ? " (awaited cancelled);" : " (awaited not cancelled);";
    }
    co_return out;
  };
  EXPECT_EQ(rt.block_on(body()), "TaskCancelled (awaited cancelled);TaskCancelled (awaited cancelled);");
}

}  // namespace
