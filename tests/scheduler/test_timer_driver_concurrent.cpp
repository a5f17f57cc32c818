// The timer driver role is handed on: while one worker computes, an idle worker drives
// the pending timers, so a sleeping task wakes on time instead of waiting for the
// computation to end. Two ways the role used to be lost (a helper's review found them;
// each left the idle worker parked without a timeout):
//   * the driver fires a timer and runs the task it woke, which computes;
//   * a timer is inserted while no worker holds the role (both parked when nothing was
//     pending), and its inserter goes on to compute.
// A third way is covered by the deputy (scheduler/src/timer_driver.hpp): the driver is
// the sleeper a notify picks for new work, which it computes; the other parked worker,
// parked until the deadline plus a grace, fires the timer. (With three workers or more
// a notify can take the deputy too: test_timer_driver_many_workers_concurrent.cpp.)
// In each, the computing task spins until the sleeping task has woken: with the role
// handed on that happens about when the timer is due; without it, never, until the
// test's give-up (10 s). The timers are on the steady clock, because a ManualClock's
// advance() wakes every worker and hides the loss; the sleeps are what is tested, and
// nothing waits on time to synchronise.
// The outcome does not depend on the timing: the give-up only bounds a failing run. On
// a build that loses the role, the first two failed in every run tried (3 of 3 each).
// The third sets up its case through a race that the code under test does not decide:
// the usual outcome makes the driver the newest sleeper, whom the notify picks; the
// other outcome passes with or without a deputy. On the build before the deputy it
// failed in every run tried (see the test).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

#include <weft/weft.hpp>

#include "runtime_helpers.hpp"

namespace {

using namespace std::chrono_literals;
using weft::Task;
using Steady = std::chrono::steady_clock;

constexpr auto kGiveUp = 10s;
constexpr int kRounds = 5;

// Spins (computes, never suspends) until `woke` is set; false if it gave up.
bool compute_until(const std::atomic<bool>& woke) {
  const auto give_up = Steady::now() + kGiveUp;
  while (!woke.load(std::memory_order_acquire))
    if (Steady::now() > give_up) return false;
  return true;
}

// White-box: waits until the runtime's idle counters (scheduler/src/idle.hpp, read
// through the pointer each worker keeps in tls_fork_queue) count no unparked worker.
bool wait_until_all_parked(const std::atomic<std::uint32_t>& idle_counters) {
  return weft::test::eventually(
      [&] { return (idle_counters.load(std::memory_order_acquire) >> weft::detail::kIdleUnparkedShift) == 0; },
      kGiveUp);
}

// The test's own thread waits for the same flag before it joins: block_on's task would
// wake the idle worker, which would then take the role anyway and hide a lost one.
void wait_outside_until(const std::atomic<bool>& woke) {
  (void)weft::test::eventually([&] { return woke.load(std::memory_order_acquire); }, kGiveUp);
}

// Joins both tasks; true if the computing one saw the sleeper wake before its give-up.
bool computed_in_time(weft::Runtime& rt, weft::JoinHandle<bool>& computing, weft::JoinHandle<void>& sleeping) {
  auto join = [&]() -> Task<bool> {
    const bool in_time = co_await computing;
    co_await sleeping;
    co_return in_time;
  };
  return rt.block_on(join());
}

TEST(TimerDriver, TheDriverRunsATaskItWokeAndAnotherWorkerDrivesTheRest) {
  for (int round = 0; round < kRounds; ++round) {
    weft::Runtime rt({.workers = 2});
    std::atomic<bool> b_woke{false};
    auto a = [&]() -> Task<bool> {
      co_await weft::sleep_for(5ms);
      co_return compute_until(b_woke);
    };
    auto b = [&]() -> Task<void> {
      co_await weft::sleep_for(15ms);
      b_woke.store(true, std::memory_order_release);
    };
    weft::JoinHandle<bool> computing = rt.spawn(a());
    weft::JoinHandle<void> sleeping = rt.spawn(b());
    ASSERT_TRUE(computed_in_time(rt, computing, sleeping)) << "round " << round << ": the second timer waited for the computation";
  }
}

TEST(TimerDriver, ATimerInsertedWithNoDriverWakesAnIdleWorkerToDriveIt) {
  for (int round = 0; round < kRounds; ++round) {
    weft::Runtime rt({.workers = 2});
    weft::Event go;
    std::atomic<bool> s_woke{false};
    // B waits for the event, then computes on the worker that set it (the woken task
    // runs where it was woken, after the setter suspends).
    std::atomic<const std::atomic<std::uint32_t>*> idle_counters{nullptr};
    auto b = [&]() -> Task<bool> {
      idle_counters.store(weft::detail::tls_fork_queue.idle_state, std::memory_order_release);
      co_await go.wait();
      co_return compute_until(s_woke);
    };
    weft::JoinHandle<bool> computing = rt.spawn(b());
    weft::test::wait_until_awaiting(rt, computing.id(), "event");
    // Both workers asleep before S comes, so that S runs on one of them and B then
    // computes there while the other stays parked. Otherwise the worker still awake
    // usually takes S, and the one a notify woke for S parks after S's insert and
    // drives it, which would hide a lost role. (The test passes either way when the
    // role is handed on.)
    ASSERT_TRUE(wait_until_all_parked(*idle_counters.load(std::memory_order_acquire))) << "round " << round;
    // No timer is pending, so no worker holds the driver role when S sleeps.
    auto s = [&]() -> Task<void> {
      go.set();
      co_await weft::sleep_for(5ms);
      s_woke.store(true, std::memory_order_release);
    };
    weft::JoinHandle<void> sleeping = rt.spawn(s());
    wait_outside_until(s_woke);
    ASSERT_TRUE(computed_in_time(rt, computing, sleeping)) << "round " << round << ": the timer waited for the computation";
  }
}

TEST(TimerDriver, ADriverANotifyTakesForNewWorkIsBackedUpByTheDeputy) {
  for (int round = 0; round < kRounds; ++round) {
    weft::Runtime rt({.workers = 2});
    std::atomic<const std::atomic<std::uint32_t>*> idle_counters{nullptr};
    auto probe = [&]() -> Task<void> {
      idle_counters.store(weft::detail::tls_fork_queue.idle_state, std::memory_order_release);
      co_return;
    };
    rt.block_on(probe());
    ASSERT_TRUE(wait_until_all_parked(*idle_counters.load(std::memory_order_acquire))) << "round " << round;
    // S runs on the worker a notify wakes (the newest sleeper, X). Its insert finds no
    // driver and unparks the other (Y) to drive; X parks again at once as S suspends,
    // and whichever of the two gets to the role first drives. X usually does (Y is
    // still coming out of its futex wait), and it is then also the newest sleeper.
    std::atomic<bool> s_woke{false};
    auto s = [&]() -> Task<void> {
      co_await weft::sleep_for(20ms);
      s_woke.store(true, std::memory_order_release);
    };
    weft::JoinHandle<void> sleeping = rt.spawn(s());
    ASSERT_TRUE(wait_until_all_parked(*idle_counters.load(std::memory_order_acquire))) << "round " << round;
    // C's notify picks the newest sleeper; when that is the driver, it computes and
    // leaves the role, and only a deputy (the other parked worker) can fire S's timer.
    auto c = [&]() -> Task<bool> { co_return compute_until(s_woke); };
    weft::JoinHandle<bool> computing = rt.spawn(c());
    wait_outside_until(s_woke);
    ASSERT_TRUE(computed_in_time(rt, computing, sleeping)) << "round " << round << ": the timer waited for the computation";
  }
}

}  // namespace
