#pragma once
// sleep_for / sleep_until: a wait on the runtime's timer wheel (scheduler/timer_driver).
// Cancellable: a cancel wins the task's WaitCell, wakes it at once, and the sleeper
// removes its timer. A non-positive duration, or a time point not in the future, is a
// plain yield (still a suspension point).
#include <chrono>
#include <cstdint>

#include <weft/clock.hpp>
#include <weft/detail/promise.hpp>
#include <weft/this_task.hpp>

namespace weft {

namespace detail {

class SleepAwaiter {
 public:
  SleepAwaiter(TaskHeader& self, Clock::time_point deadline, std::uint64_t nanoseconds)
      : deadline_(deadline), nanoseconds_(nanoseconds) {
    timer_.task = &self;
  }
  SleepAwaiter(const SleepAwaiter&) = delete;

  bool await_ready() {
    throw_if_cancel_pending(self());
    yield_only_ = deadline_ <= runtime_clock(*self().runtime).now();
    return false;
  }

  bool await_suspend(std::coroutine_handle<> handle) {
    TaskHeader& self = this->self();
    self.resume_point = handle;
    if (yield_only_) {
      self.set_awaiting(Awaiting::Yield);
      yield_current(self);
      return true;
    }
    self.set_awaiting(Awaiting::Sleep, nanoseconds_);
    timer_.generation = self.arm_wait();
    armed_ = true;
    timer_insert(*self.runtime, timer_, deadline_);
    // The Dekker half of the task (core/wait_cell.hpp): a cancel that came after
    // await_ready's check is seen here; winning our own cell, we resume at once.
    return suspend_unless_cancelled(self, timer_.generation);
  }

  void await_resume() {
    TaskHeader& self = this->self();
    self.clear_awaiting();
    if (armed_ && self.wait.status() == WaitCell::CANCELLED) {
      timer_cancel(*self.runtime, timer_);  // before this frame may move on
      std::string message;
      if (take_cancel_request(self, message)) throw_cancelled(std::move(message));
      return;  // withdrawn (uncancel) in the meantime: the sleep just ends early
    }
    if (yield_only_) throw_if_cancel_pending(self);
  }

 private:
  // The sleeping task, kept in the timer (one pointer less in every sleeping frame).
  TaskHeader& self() const noexcept { return *timer_.task; }

  Clock::time_point deadline_;
  std::uint64_t nanoseconds_;
  TimerWaiter timer_;
  bool yield_only_ = false;
  bool armed_ = false;
};

// The awaitable sleep_for/sleep_until return; the deadline is fixed when it is awaited
// (sleep_for) or given (sleep_until).
class Sleep {
 public:
  Sleep(std::chrono::nanoseconds duration) : relative_(true), duration_(duration) {}
  Sleep(Clock::time_point deadline) : relative_(false), deadline_(deadline) {}

  SleepAwaiter weft_awaiter(TaskHeader& self) const {
    Clock::time_point now = runtime_clock(*self.runtime).now();
    Clock::time_point deadline = relative_ ? now + std::chrono::duration_cast<Clock::duration>(duration_) : deadline_;
    auto ns = deadline > now ? std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - now).count() : 0;
    return SleepAwaiter(self, deadline, static_cast<std::uint64_t>(ns));
  }

 private:
  bool relative_;
  std::chrono::nanoseconds duration_{};
  Clock::time_point deadline_{};
};

}  // namespace detail

template <class Rep, class Period>
detail::Sleep sleep_for(std::chrono::duration<Rep, Period> duration) {
  // Saturate instead of overflowing: sleep_for(hours::max()) sleeps "forever".
  using ns = std::chrono::nanoseconds;
  if (duration >= std::chrono::duration_cast<std::chrono::duration<Rep, Period>>(ns::max() / 2))
    return detail::Sleep(ns::max() / 2);
  return detail::Sleep(std::chrono::duration_cast<ns>(duration));
}

inline detail::Sleep sleep_until(Clock::time_point deadline) { return detail::Sleep(deadline); }

}  // namespace weft
