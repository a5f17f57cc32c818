// Checks that an idle runtime sleeps: after a burst of work, its workers park, and
// over two seconds the process uses less than 10 ms of CPU time per second
// (getrusage); the same with a task sleeping on an hour-long timer (the worker that
// drives the timers parks until the deadline, not in a polling loop). This is a
// measurement, so its sleep is the point, not a way to synchronise.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <chrono>
#include <thread>

#include <weft/weft.hpp>

namespace {

double process_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

weft::Task<int> small(int i) { co_return i; }
weft::Task<long> burst() {
  long sum = 0;
  for (int i = 0; i < 2000; ++i) {
    auto handle = weft::spawn(small(i));
    sum += co_await handle;
  }
  co_return sum;
}

TEST(IdleCpu, AnIdleRuntimeUsesNoCpu) {
  weft::Runtime rt({.workers = 4});
  ASSERT_EQ(rt.block_on(burst()), 1999L * 2000 / 2);
  const double before = process_cpu_seconds();
  std::this_thread::sleep_for(std::chrono::seconds(2));  // the measured idle period
  const double used = process_cpu_seconds() - before;
  EXPECT_LT(used, 0.020) << "CPU seconds used by an idle runtime over 2 s";
}

TEST(IdleCpu, AnIdleRuntimeWithAPendingTimerUsesNoCpu) {
  weft::Runtime rt({.workers = 4});
  auto sleeper = []() -> weft::Task<void> { co_await weft::sleep_for(std::chrono::hours(1)); };
  auto handle = rt.spawn(sleeper());
  // Wait (condition, not time) until the sleeper is suspended on its timer.
  for (bool asleep = false; !asleep; std::this_thread::yield())
    for (const weft::TaskInfo& info : rt.tasks())
      asleep = asleep || (info.id == handle.id() && info.state == weft::TaskState::Suspended);
  const double before = process_cpu_seconds();
  std::this_thread::sleep_for(std::chrono::seconds(2));  // the measured idle period
  const double used = process_cpu_seconds() - before;
  EXPECT_LT(used, 0.020) << "CPU seconds used over 2 s by a runtime waiting on a timer";
  EXPECT_TRUE(handle.cancel());
}

}  // namespace
