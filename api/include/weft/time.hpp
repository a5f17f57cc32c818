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

// A sleeping task costs its frame (bench/memory), and g++ keeps the awaitable and its
// awaiter of a co_await in the frame for the whole suspension: both are laid out for
// size. The awaiter is its timer alone. Until the timer is inserted, the timer's
// deadline word (TimerEntry::owner_word) holds the target: the duration (sleep_for)
// until await_ready turns it into the deadline, or the deadline (sleep_until), in
// nanoseconds; or kYieldOnly for a plain yield. Once the task resumes, the insert may
// have overwritten it with a tick of any value: `fired` tells a sleep its timer may
// still be in the wheel (see await_resume).
template <bool Relative>
class SleepAwaiter {
 public:
  SleepAwaiter(TaskHeader& self, std::chrono::nanoseconds duration) requires Relative {
    timer_.task = &self;
    set_target(duration.count());
  }
  SleepAwaiter(TaskHeader& self, Clock::time_point deadline) requires(!Relative) {
    timer_.task = &self;
    set_target(deadline.time_since_epoch().count());
  }
  SleepAwaiter(const SleepAwaiter&) = delete;

  bool await_ready() {
    TaskHeader& self = this->self();
    throw_if_cancel_pending(self);
    const Clock::time_point now = runtime_clock(*self.runtime).now();
    Clock::time_point deadline;
    if constexpr (Relative)
      deadline = now + std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(target()));
    else
      deadline = Clock::time_point(Clock::duration(target()));
    if (deadline <= now) {
      timer_.set_owner_word(kYieldOnly);
      timer_.fired = true;  // never inserted: see await_resume
    } else {
      set_target(deadline.time_since_epoch().count());
      // Here rather than in await_suspend, where `now` is gone; await_suspend follows.
      self.set_awaiting(Awaiting::Sleep, nanoseconds_after(deadline, now));
    }
    return false;
  }

  bool await_suspend(std::coroutine_handle<> handle) {
    TaskHeader& self = this->self();
    self.resume_point = handle;
    if (yield_only()) {
      self.set_awaiting(Awaiting::Yield);
      yield_current(self);
      return true;
    }
    const Clock::time_point deadline{Clock::duration(target())};
    const std::uint64_t generation = self.arm_wait();
    timer_.set_generation(generation);
    timer_insert(*self.runtime, timer_, deadline);
    // The Dekker half of the task (core/wait_cell.hpp): a cancel that came after
    // await_ready's check is seen here; winning our own cell, we resume at once.
    return suspend_unless_cancelled(self, generation);
  }

  void await_resume() {
    TaskHeader& self = this->self();
    self.clear_awaiting();
    // Whether the timer may still be in the wheel is `fired`, not the deadline word: the
    // insert writes a tick there, and a tick can equal kYieldOnly (a clock before the
    // epoch, a 1 ns tick), so a cancelled sleep passed for a yield and its frame went
    // on with the timer linked. The insert clears `fired`, the timer sets it when it
    // wins the wait, a yield sets it in await_ready: false means a sleep that a
    // canceller ended (or we, in await_suspend).
    if (!timer_.fired) {
      timer_cancel(*self.runtime, timer_);  // before this frame may move on
      // The cancel-latency path (bench/cancel): thrown in this frame.
      if (self.state.cancel_requested_relaxed()) deliver_cancel_here(self);
      return;  // withdrawn (uncancel) in the meantime: the sleep just ends early
    }
    // A yield, or a sleep whose timer fired (whose tick may read as kYieldOnly: it then
    // delivers a pending request here, as any suspension point may).
    if (yield_only()) throw_if_cancel_pending(self);
  }

 private:
  // time_point::min()'s count, so no target in the future; but a tick the insert may
  // write (see await_resume): it decides only before the insert.
  static constexpr std::uint64_t kYieldOnly = std::uint64_t{1} << 63;

  // The sleeping task, kept in the timer (one pointer less in every sleeping frame).
  TaskHeader& self() const noexcept { return *timer_.task; }
  std::int64_t target() const noexcept { return static_cast<std::int64_t>(timer_.owner_word()); }
  void set_target(std::int64_t nanoseconds) noexcept { timer_.set_owner_word(static_cast<std::uint64_t>(nanoseconds)); }
  bool yield_only() const noexcept { return timer_.owner_word() == kYieldOnly; }

  TimerWaiter timer_;
};
static_assert(sizeof(SleepAwaiter<true>) == 40, "SleepAwaiter: its timer alone (see bench/memory)");

// The awaitables sleep_for and sleep_until return: one word each. The deadline of
// sleep_for is fixed when it is awaited.
class SleepFor {
 public:
  explicit SleepFor(std::chrono::nanoseconds duration) : duration_(duration) {}
  SleepAwaiter<true> weft_awaiter(TaskHeader& self) const { return SleepAwaiter<true>(self, duration_); }

 private:
  std::chrono::nanoseconds duration_;
};

class SleepUntil {
 public:
  explicit SleepUntil(Clock::time_point deadline) : deadline_(deadline) {}
  SleepAwaiter<false> weft_awaiter(TaskHeader& self) const { return SleepAwaiter<false>(self, deadline_); }

 private:
  Clock::time_point deadline_;
};

// A timeout too large to add to a clock's now() (nanoseconds::max(), seconds::max()):
// no timeout. Compared as double seconds: converting seconds::max() (or hours::max())
// to nanoseconds would overflow.
template <class Rep, class Period>
bool beyond_any_deadline(std::chrono::duration<Rep, Period> timeout) {
  return std::chrono::duration<double>(timeout) >= std::chrono::duration<double>(std::chrono::nanoseconds::max() / 4);
}

}  // namespace detail

template <class Rep, class Period>
detail::SleepFor sleep_for(std::chrono::duration<Rep, Period> duration) {
  // Saturate instead of overflowing: sleep_for(hours::max()) sleeps "forever".
  using ns = std::chrono::nanoseconds;
  // A non-positive duration is a yield; converting a large negative one would overflow.
  if (duration <= duration.zero()) return detail::SleepFor(ns::zero());
  if (duration >= std::chrono::duration_cast<std::chrono::duration<Rep, Period>>(ns::max() / 2))
    return detail::SleepFor(ns::max() / 2);
  return detail::SleepFor(std::chrono::duration_cast<ns>(duration));
}

inline detail::SleepUntil sleep_until(Clock::time_point deadline) { return detail::SleepUntil(deadline); }

}  // namespace weft
