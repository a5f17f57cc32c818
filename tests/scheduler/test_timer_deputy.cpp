// The timer driver's deputy (scheduler/src/timer_driver.hpp), its decisions step by
// step on one thread with a ManualClock: a parked worker that is not the driver parks
// until the earliest deadline plus a grace; there is one deputy at a time and none
// while no timer is pending; a driver that arms for a deadline more than a grace before
// the deputy's wake-up asks it to re-arm, once. The end-to-end case (a notify taking
// the driver for new work) is in test_timer_driver_concurrent.cpp.
#include "../../scheduler/src/timer_driver.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace {

using namespace std::chrono_literals;
using weft::detail::Clock;
using weft::detail::ManualClock;
using weft::detail::TimerDriver;
using weft::detail::TimerWaiter;

constexpr auto kTick = 1ms;

Clock::time_point at(ManualClock& clock, std::chrono::milliseconds after_start) {
  return clock.now() + after_start;
}

TEST(TimerDeputy, TheGraceIsTwoTicksAndAtLeastOneMillisecond) {
  EXPECT_EQ(TimerDriver::deputy_grace(1ms), 2u);
  EXPECT_EQ(TimerDriver::deputy_grace(5ms), 2u);
  EXPECT_EQ(TimerDriver::deputy_grace(100us), 10u);
  EXPECT_EQ(TimerDriver::deputy_grace(300us), 4u) << "rounded up to cover a millisecond";
}

TEST(TimerDeputy, NoDeputyWhileNoTimerIsPending) {
  ManualClock clock;
  TimerDriver timers(clock, kTick);
  EXPECT_FALSE(timers.arm_deputy(1).has_value());
  EXPECT_EQ(timers.arm_driver().deadline, std::nullopt);
}

TEST(TimerDeputy, TheDeputyWakesAGraceAfterTheEarliestDeadlineAndIsAlone) {
  ManualClock clock;
  const Clock::time_point start = clock.now();
  TimerDriver timers(clock, kTick);
  TimerWaiter sleeper;
  timers.insert(sleeper, at(clock, 10ms));
  const auto driver = timers.arm_driver();
  EXPECT_EQ(driver.deadline, start + 10ms);
  EXPECT_EQ(driver.deputy_to_rearm, -1) << "no deputy yet";
  EXPECT_EQ(timers.arm_deputy(1), start + 12ms);
  EXPECT_FALSE(timers.arm_deputy(2).has_value()) << "one deputy at a time";
  timers.disarm_deputy(2);  // not the deputy: changes nothing
  EXPECT_FALSE(timers.arm_deputy(2).has_value());
  timers.disarm_deputy(1);
  EXPECT_EQ(timers.arm_deputy(2), start + 12ms);
  timers.disarm_deputy(2);
  EXPECT_TRUE(timers.cancel(sleeper));
  EXPECT_FALSE(timers.arm_deputy(2).has_value()) << "the only timer was cancelled (the stale hint is recomputed)";
}

TEST(TimerDeputy, ADriverArmingForAnEarlierDeadlineAsksTheDeputyToReArmOnce) {
  ManualClock clock;
  const Clock::time_point start = clock.now();
  TimerDriver timers(clock, kTick);
  TimerWaiter late;
  TimerWaiter early;
  TimerWaiter earlier;
  timers.insert(late, at(clock, 100ms));
  ASSERT_EQ(timers.arm_deputy(1), start + 102ms);
  EXPECT_EQ(timers.arm_driver().deputy_to_rearm, -1) << "the deputy backs up the driver's own deadline";
  // An insert lowers the earliest deadline; the driver, woken for it, re-arms.
  EXPECT_TRUE(timers.insert(early, at(clock, 10ms))) << "the new earliest: the driver is woken";
  const auto rearm = timers.arm_driver();
  EXPECT_EQ(rearm.deadline, start + 10ms);
  EXPECT_EQ(rearm.deputy_to_rearm, 1) << "the deputy would wake 90 ms after the new deadline";
  EXPECT_EQ(timers.arm_driver().deputy_to_rearm, -1) << "asked once, until it re-arms";
  // The deputy, unparked, disarms and arms again for the new earliest deadline.
  timers.disarm_deputy(1);
  EXPECT_EQ(timers.arm_deputy(1), start + 12ms);
  EXPECT_EQ(timers.arm_driver().deputy_to_rearm, -1);
  // A deadline later than the deputy's (its timer cancelled) needs no re-arm: the
  // deputy wakes early, finds nothing due and arms again.
  EXPECT_TRUE(timers.cancel(early));
  const auto later = timers.arm_driver();
  EXPECT_EQ(later.deadline, start + 100ms);
  EXPECT_EQ(later.deputy_to_rearm, -1);
  // One tick earlier than the deadline the deputy backs up is more than a grace before
  // its wake-up (12 > 9 + 2): asked again.
  EXPECT_TRUE(timers.insert(earlier, at(clock, 9ms)));
  EXPECT_EQ(timers.arm_driver().deputy_to_rearm, 1);
  EXPECT_TRUE(timers.cancel(earlier));
  EXPECT_TRUE(timers.cancel(late));
}

}  // namespace
