// Checks sleep_for / sleep_until on the timer wheel, with a ManualClock so that time is
// deterministic: a sleep ends exactly when the clock reaches its deadline (not before),
// auto-advance jumps an idle runtime to the next deadline (an hour-long sleep finishes
// at once), a cancel wakes a sleeper immediately and removes its timer, a non-positive
// duration or a past time point is a plain yield, sleep_until(time_point::max()) sleeps
// "forever" (also from a clock that starts before the epoch) and is still cancellable,
// tasks() shows "sleep <duration>", and on the steady clock a sleep never ends before
// its duration.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <latch>
#include <thread>

#include <weft/weft.hpp>

#include "runtime_helpers.hpp"

namespace {

using weft::test::wait_until_awaiting;

using namespace std::chrono_literals;
using weft::Task;


TEST(Time, SleepEndsWhenTheManualClockReachesTheDeadline) {
  weft::ManualClock clock;
  weft::Runtime rt({.workers = 2, .clock = &clock});
  std::atomic<bool> woke{false};
  auto sleeper = [&]() -> Task<void> {
    co_await weft::sleep_for(10s);
    woke = true;
  };
  auto handle = rt.spawn(sleeper());
  wait_until_awaiting(rt, handle.id(), "sleep 10s");
  clock.advance(9s);
  // Still asleep: 9 s < 10 s. (tasks() shows it suspended once the clock's listeners ran.)
  wait_until_awaiting(rt, handle.id(), "sleep");
  EXPECT_FALSE(woke.load());
  clock.advance(1s);
  auto waiter = [&]() -> Task<void> { co_await handle; };
  rt.block_on(waiter());
  EXPECT_TRUE(woke.load());
}

TEST(Time, AutoAdvanceRunsAnHourLongSleepAtOnce) {
  weft::ManualClock clock;
  clock.set_auto_advance(true);
  weft::Runtime rt({.workers = 2, .clock = &clock});
  const auto start = clock.now();
  auto sleeper = [&]() -> Task<std::chrono::nanoseconds> {
    co_await weft::sleep_for(1h);
    co_return clock.now() - start;
  };
  EXPECT_EQ(rt.block_on(sleeper()), std::chrono::nanoseconds(1h));
}

TEST(Time, SleepsEndInDeadlineOrder) {
  weft::ManualClock clock;
  clock.set_auto_advance(true);
  weft::Runtime rt({.workers = 2, .clock = &clock});
  std::vector<int> order;
  std::mutex order_mutex;
  auto sleeper = [&](int seconds) -> Task<void> {
    co_await weft::sleep_for(std::chrono::seconds(seconds));
    std::lock_guard guard(order_mutex);
    order.push_back(seconds);
  };
  auto main_task = [&]() -> Task<void> {
    auto c = weft::spawn(sleeper(3));
    auto a = weft::spawn(sleeper(1));
    auto b = weft::spawn(sleeper(2));
    co_await a;
    co_await b;
    co_await c;
  };
  rt.block_on(main_task());
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST(Time, CancelWakesASleeperAtOnce) {
  weft::ManualClock clock;  // never advanced: only the cancel can end the sleep
  weft::Runtime rt({.workers = 2, .clock = &clock});
  std::atomic<int> cleanups{0};
  auto sleeper = [&]() -> Task<void> {
    try {
      co_await weft::sleep_for(1h);
    } catch (const weft::CancelledError& error) {
      EXPECT_STREQ(error.what(), "wake up");
      ++cleanups;
      throw;
    }
  };
  auto handle = rt.spawn(sleeper());
  wait_until_awaiting(rt, handle.id(), "sleep 1h");
  EXPECT_TRUE(handle.cancel("wake up"));
  auto waiter = [&]() -> Task<bool> {
    try {
      co_await handle;
    } catch (const weft::TaskCancelled& error) {
      co_return std::string(error.what()) == "wake up";
    }
    co_return false;
  };
  EXPECT_TRUE(rt.block_on(waiter()));
  EXPECT_EQ(cleanups.load(), 1);
  EXPECT_TRUE(handle.cancelled());
}

TEST(Time, NonPositiveDurationsAndPastTimePointsYield) {
  weft::ManualClock clock;
  weft::Runtime rt({.workers = 1, .clock = &clock});
  auto body = [&]() -> Task<int> {
    co_await weft::sleep_for(0s);
    co_await weft::sleep_for(-5s);
    co_await weft::sleep_until(clock.now() - 1h);
    co_await weft::sleep_until(clock.now());
    co_return 4;
  };
  EXPECT_EQ(rt.block_on(body()), 4);  // never advanced, yet it finishes
}

TEST(Time, SleepUntilTheEndOfTimeNeverEndsByItselfAndIsCancellable) {
  // Starting before the epoch: the distance to time_point::max() does not fit a signed
  // count of nanoseconds (the tick computation must not overflow).
  weft::ManualClock clock(weft::ManualClock::time_point{} - 1h);
  weft::Runtime rt({.workers = 1, .clock = &clock});
  std::atomic<bool> woke{false};
  auto sleeper = [&]() -> Task<void> {
    co_await weft::sleep_until(weft::ManualClock::time_point::max());
    woke = true;
  };
  auto handle = rt.spawn(sleeper());
  wait_until_awaiting(rt, handle.id(), "sleep");
  clock.advance(24h * 365 * 100);  // a century later
  wait_until_awaiting(rt, handle.id(), "sleep");
  EXPECT_FALSE(woke.load());
  EXPECT_TRUE(handle.cancel());
  EXPECT_TRUE(weft::test::join_cancelled(rt, handle));
  EXPECT_FALSE(woke.load());
}

TEST(Time, ACancelPendingBeforeTheSleepIsDeliveredWithoutSleeping) {
  weft::ManualClock clock;
  weft::Runtime rt({.workers = 1, .clock = &clock});
  auto body = []() -> Task<bool> {
    weft::this_task::cancel("early");
    try {
      co_await weft::sleep_for(1h);
    } catch (const weft::CancelledError&) {
      co_return true;
    }
    co_return false;
  };
  EXPECT_TRUE(rt.block_on(body()));
}

TEST(Time, SteadyClockSleepNeverEndsEarly) {
  weft::Runtime rt({.workers = 2});
  auto body = []() -> Task<std::chrono::steady_clock::duration> {
    auto start = std::chrono::steady_clock::now();
    co_await weft::sleep_for(20ms);
    co_return std::chrono::steady_clock::now() - start;
  };
  EXPECT_GE(rt.block_on(body()), 20ms);
}

}  // namespace

namespace {

// this_task::stop_token(): requested at the first cancel, also when the token is asked
// for after the cancel, and it stays requested after uncancel().
TEST(StopToken, RequestedWhenTheTaskIsFirstCancelledAndStaysAfterUncancel) {
  weft::ManualClock clock;
  weft::Runtime rt({.workers = 2, .clock = &clock});
  std::atomic<bool> callback_ran{false};
  auto body = [&]() -> Task<bool> {
    std::stop_token token = weft::this_task::stop_token();
    std::stop_callback on_stop(token, [&] { callback_ran = true; });
    const bool before = token.stop_requested();
    weft::this_task::cancel();
    const bool after_cancel = token.stop_requested();
    weft::this_task::uncancel();
    co_await weft::this_task::yield();  // the withdrawn request is not delivered
    co_return !before && after_cancel && token.stop_requested() &&
        weft::this_task::stop_token().stop_requested();
  };
  EXPECT_TRUE(rt.block_on(body()));
  EXPECT_TRUE(callback_ran.load());
  auto late = []() -> Task<bool> {
    weft::this_task::cancel();
    weft::this_task::uncancel();
    co_return weft::this_task::stop_token().stop_requested();  // asked for after the cancel
  };
  EXPECT_TRUE(rt.block_on(late()));
}

}  // namespace
