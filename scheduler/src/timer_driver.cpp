#include "timer_driver.hpp"

namespace weft::detail {

std::uint64_t TimerDriver::deadline_tick(Clock::time_point deadline) const {
  if (deadline <= origin_) return 0;
  const std::uint64_t since = nanoseconds_after(deadline, origin_);
  const auto tick = static_cast<std::uint64_t>(tick_.count());
  // Ceil: the first tick at or after the deadline, so a timer never fires early.
  return since / tick + (since % tick != 0 ? 1 : 0);
}

std::uint64_t TimerDriver::now_tick() const {
  Clock::time_point now = clock_.now();
  if (now <= origin_) return 0;
  return nanoseconds_after(now, origin_) / static_cast<std::uint64_t>(tick_.count());
}

void TimerDriver::publish_next() noexcept {
  std::optional<std::uint64_t> next = wheel_.next_deadline();
  // Release: a worker that reads the new earliest deadline also sees the wheel change
  // (it takes the mutex before touching the wheel anyway; this orders the hint).
  next_tick_.store(next ? *next : NONE, std::memory_order_release);
  stale_ = false;
}

Clock::time_point TimerDriver::time_of_tick(std::uint64_t tick) const noexcept {
  // Saturating, in unsigned arithmetic: the tick of sleep_until(time_point::max())
  // lies past the last representable time point.
  const auto tick_ns = static_cast<std::uint64_t>(tick_.count());
  if (tick > nanoseconds_after(Clock::time_point::max(), origin_) / tick_ns) return Clock::time_point::max();
  // Fits: origin + tick * tick_ns <= max (the sum is taken modulo 2^64, then read back).
  const auto origin = static_cast<std::uint64_t>(origin_.time_since_epoch().count());
  return Clock::time_point(Clock::duration(static_cast<Clock::duration::rep>(origin + tick * tick_ns)));
}

std::optional<std::uint64_t> TimerDriver::exact_next_tick() {
  if (stale_) publish_next();
  std::uint64_t next = next_tick_.load(std::memory_order_relaxed);  // Relaxed: under mutex_
  if (next == NONE) return std::nullopt;
  return next;
}

std::uint64_t TimerDriver::backup_tick(std::uint64_t next) const noexcept {
  // Saturating below NONE (which means "no deputy"): sleep_until(time_point::max()).
  return next > NONE - 1 - deputy_grace_ticks_ ? NONE - 1 : next + deputy_grace_ticks_;
}

TimerDriver::DriverArm TimerDriver::arm_driver() {
  std::lock_guard guard(mutex_);
  DriverArm arm;
  std::optional<std::uint64_t> next = exact_next_tick();
  if (!next) return arm;
  arm.deadline = time_of_tick(*next);
  // Ask the deputy to re-arm once (deputy_tick_ 0 until it does) if it would wake more
  // than a grace after this deadline: it armed before an insert lowered the earliest.
  if (deputy_ >= 0 && deputy_tick_ != 0 && deputy_tick_ > backup_tick(*next)) {
    arm.deputy_to_rearm = deputy_;
    deputy_tick_ = 0;
  }
  return arm;
}

std::optional<Clock::time_point> TimerDriver::next_deadline() {
  std::lock_guard guard(mutex_);
  std::optional<std::uint64_t> next = exact_next_tick();
  if (!next) return std::nullopt;
  return time_of_tick(*next);
}

std::optional<Clock::time_point> TimerDriver::arm_deputy(unsigned worker) {
  std::lock_guard guard(mutex_);
  if (deputy_ >= 0) return std::nullopt;
  std::optional<std::uint64_t> next = exact_next_tick();
  if (!next) return std::nullopt;
  deputy_ = static_cast<int>(worker);
  deputy_tick_ = backup_tick(*next);
  return time_of_tick(deputy_tick_);
}

void TimerDriver::disarm_deputy(unsigned worker) {
  std::lock_guard guard(mutex_);
  if (deputy_ != static_cast<int>(worker)) return;
  deputy_ = -1;
  deputy_tick_ = NONE;
}

bool TimerDriver::insert(TimerWaiter& waiter, Clock::time_point deadline) {
  std::uint64_t tick = deadline_tick(deadline);
  std::lock_guard guard(mutex_);
  std::uint64_t before = next_tick_.load(std::memory_order_relaxed);  // Relaxed: under mutex_
  waiter.fired = false;
  wheel_.insert(waiter, tick < wheel_.now() ? wheel_.now() : tick);
  publish_next();
  return next_tick_.load(std::memory_order_relaxed) < before;
}

bool TimerDriver::cancel(TimerWaiter& waiter) {
  std::lock_guard guard(mutex_);
  if (!wheel_.cancel(waiter)) return false;
  stale_ = true;  // see the header: the hint may now be early, never late
  return true;
}

std::size_t TimerDriver::fire_due() {
  std::uint64_t now = now_tick();
  std::size_t woken = 0;
  std::lock_guard guard(mutex_);
  if (now < wheel_.now()) now = wheel_.now();  // a tick computed before another firer's
  wheel_.advance(now, [&](TimerEntry& entry) {
    auto& waiter = static_cast<TimerWaiter&>(entry);
    // Win the task's wait; a canceller that won first resumes it instead, and the task
    // then finds its entry already gone.
    if (waiter.task->wait.try_wake_low32(waiter.generation_low)) {
      waiter.fired = true;  // read by the task after it resumes (ordered by wake_task)
      wake_task(*waiter.task);
      ++woken;
    }
  });
  publish_next();
  return woken;
}

}  // namespace weft::detail
