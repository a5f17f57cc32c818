#pragma once
// A wait for a task's completion or a deadline, whichever comes first: the primitive
// under wait_for, wait_until and move_on_after.
//
// One wait, two resources: the awaiting task arms its WaitCell once, writes that
// generation into the target's join slot and into a timer on the wheel. The completer
// and the timer both try_wake that generation; one wins, and `fired` on the timer says
// which. The loser finds the wait over: the completer just drops the registration's
// reference, the expired timer is already unlinked. Resuming, the awaiter removes what
// is left (timer or join registration). The awaiter's own cancellation is forwarded to
// the target, as for a plain join (see JoinAwaiter), and reported in the result.
#include <cstdint>
#include <string>

#include <weft/clock.hpp>
#include <weft/join_handle.hpp>

namespace weft::detail {

struct TimedJoinResult {
  bool completed = false;   // the target finished (else the deadline passed first)
  bool own_cancel = false;  // our own cancellation arrived (and may have gone to the target)
  bool timed_out = false;   // the deadline passed (the timer ended the wait)
};

class TimedJoinAwaiter {
 public:
  TimedJoinAwaiter(TaskHeader& target, TaskHeader& self, Clock::time_point deadline)
      : target_(target), self_(self), deadline_(deadline) {
    forward_.target = &target;
  }
  TimedJoinAwaiter(const TimedJoinAwaiter&) = delete;

  bool await_ready() {
    if (&target_ == &self_) throw InvalidStateError("weft: a task cannot await its own handle");
    // A pending request is the caller's to handle (it forwards it and waits): see
    // wait_handle_until. It checks before awaiting us.
    return target_.state.load(std::memory_order_acquire).is_complete();
  }

  bool await_suspend(std::coroutine_handle<> self_handle) {
    self_.resume_point = self_handle;
    self_.set_awaiting(Awaiting::Task, target_.id);
    // Claimed before the wait is armed, as in JoinAwaiter::await_suspend.
    switch (target_.state.claim_join_slot()) {
      case TaskStateWord::JoinRegistration::Registered:
        break;
      case TaskStateWord::JoinRegistration::Busy:
        misuse_ = true;
        return false;
      case TaskStateWord::JoinRegistration::Complete:
        return false;  // await_resume: complete before we suspended
    }
    const bool forwards = !runtime_closed(*self_.runtime);
    generation_ = self_.arm_wait(forwards ? &forward_ : nullptr);
    armed_ = true;
    if (register_claimed_join(target_, self_, generation_) == TaskStateWord::JoinRegistration::Complete)
      return !self_.wait.try_wake(generation_);
    registered_ = true;
    timer_.task = &self_;
    timer_.set_generation(generation_);
    timer_insert(*self_.runtime, timer_, deadline_);
    timer_armed_ = true;
    // The Dekker half (core/wait_cell.hpp): a request that came after the caller's
    // check ends the wait; the caller then forwards it and waits for the target.
    return suspend_unless_cancelled(self_, generation_);
  }

  TimedJoinResult await_resume() {
    self_.clear_awaiting();
    if (timer_armed_) timer_cancel(*self_.runtime, timer_);  // before this frame moves on
    if (misuse_) throw InvalidStateError("weft: two tasks await one JoinHandle at the same time");
    TimedJoinResult result;
    result.own_cancel = forward_.forwarded;
    if (!armed_) {
      result.completed = true;  // complete before we suspended
      return result;
    }
    const bool timed_out = timer_.fired;
    const bool cancelled = self_.wait.status() == WaitCell::CANCELLED;
    if ((timed_out || cancelled) && registered_) {
      withdraw_join(target_, self_);
    }
    if (cancelled) {
      // Not forwarded: the runtime shuts down (every suspension point throws), or we
      // won our own fresh wait in await_suspend (the caller forwards it).
      if (runtime_closed(*self_.runtime)) throw_after_cancelled_wait(self_);
      result.own_cancel = true;
      result.completed = target_.state.load(std::memory_order_acquire).is_complete();
      return result;
    }
    result.completed = !timed_out;
    result.timed_out = timed_out;
    return result;
  }

 private:
  TaskHeader& target_;
  TaskHeader& self_;
  Clock::time_point deadline_;
  WaitForward forward_;
  TimerWaiter timer_;
  std::uint64_t generation_ = 0;
  bool armed_ = false;
  bool registered_ = false;
  bool timer_armed_ = false;
  bool misuse_ = false;
};

struct TimedJoin {
  TaskHeader& target;
  Clock::time_point deadline;
  TimedJoinAwaiter weft_awaiter(TaskHeader& self) const { return TimedJoinAwaiter(target, self, deadline); }
};

// Awaits the end of the task only (no value, no rethrow), with the usual forwarding
// of the awaiter's own cancellation.
template <class T>
struct Completion {
  JoinHandle<T>& handle;
  JoinAwaiter<T, false> weft_awaiter(TaskHeader& self) const {
    return JoinAwaiter<T, false>(handle.header(), self, /*shielded=*/false);
  }
};

}  // namespace weft::detail
