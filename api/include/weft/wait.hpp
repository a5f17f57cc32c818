#pragma once
// wait and as_completed (asyncio.wait, asyncio.as_completed) over spawned tasks'
// handles. Neither cancels anything: a timeout just returns, and the awaiting task's
// own cancellation throws CancelledError and leaves the tasks running.
//
// Mechanism: one wait of the awaiting task registered in the join slot of every handle
// still running, all with the same WaitCell generation, plus a timer with that
// generation when there is a deadline. The first completion (or the timer) wins the
// cell; resuming, the awaiter withdraws every registration still in place (a completer
// that got there first owns its slot and drops the registration's reference itself).
// Each round costs O(handles still running): FirstCompleted is one round; AllCompleted
// and FirstException take one round per completion they wait through.
#include <chrono>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <vector>

#include <weft/clock.hpp>
#include <weft/errors.hpp>
#include <weft/join_handle.hpp>
#include <weft/task.hpp>
#include <weft/time.hpp>

namespace weft {

enum class ReturnWhen { FirstCompleted, FirstException, AllCompleted };

struct WaitResult {
  std::vector<std::size_t> done;     // indices into the handles, in index order
  std::vector<std::size_t> pending;
};

namespace detail {

// One round: suspends until one of `targets` completes or the deadline passes.
class AnyEndAwaiter {
 public:
  AnyEndAwaiter(std::vector<TaskHeader*> targets, std::optional<Clock::time_point> deadline, TaskHeader& self)
      : targets_(std::move(targets)), registered_(targets_.size(), false), deadline_(deadline), self_(self) {}
  AnyEndAwaiter(const AnyEndAwaiter&) = delete;

  bool await_ready() {
    throw_if_cancel_pending(self_);
    for (TaskHeader* target : targets_) {
      if (target == &self_) throw InvalidStateError("weft::wait: a task cannot wait for itself");
      if (target->state.load(std::memory_order_acquire).is_complete()) return true;
    }
    return false;
  }

  bool await_suspend(std::coroutine_handle<> handle) {
    self_.resume_point = handle;
    self_.set_awaiting(detail::Awaiting::Wait, targets_.size());
    generation_ = self_.arm_wait();
    armed_ = true;
    bool end_now = false;
    for (std::size_t i = 0; i < targets_.size() && !end_now; ++i) {
      switch (register_join(*targets_[i], self_, generation_)) {
        case TaskStateWord::JoinRegistration::Registered:
          registered_[i] = true;
          break;
        case TaskStateWord::JoinRegistration::Busy:
          misuse_ = true;
          [[fallthrough]];
        case TaskStateWord::JoinRegistration::Complete:
          end_now = true;
          break;
      }
    }
    if (end_now) return !self_.wait.try_wake(generation_);  // lost: a completer/canceller resumes us
    if (deadline_) {
      timer_.task = &self_;
      timer_.set_generation(generation_);
      timer_insert(*self_.runtime, timer_, *deadline_);
      timer_armed_ = true;
    }
    return suspend_unless_cancelled(self_, generation_);
  }

  // True if the deadline passed (nothing else is promised: callers look at the tasks).
  bool await_resume() {
    self_.clear_awaiting();
    if (timer_armed_) timer_cancel(*self_.runtime, timer_);
    for (std::size_t i = 0; i < targets_.size(); ++i)
      if (registered_[i]) withdraw_join(*targets_[i], self_);
    if (misuse_) throw InvalidStateError("weft::wait: another task is awaiting one of these handles");
    if (armed_ && self_.wait.status() == WaitCell::CANCELLED) throw_after_cancelled_wait(self_);
    return timer_armed_ && timer_.fired;
  }

 private:
  std::vector<TaskHeader*> targets_;
  std::vector<bool> registered_;
  std::optional<Clock::time_point> deadline_;
  TaskHeader& self_;
  TimerWaiter timer_;
  std::uint64_t generation_ = 0;
  bool armed_ = false;
  bool timer_armed_ = false;
  bool misuse_ = false;
};

struct AnyEnd {
  std::vector<TaskHeader*> targets;
  std::optional<Clock::time_point> deadline;
  AnyEndAwaiter weft_awaiter(TaskHeader& self) const { return AnyEndAwaiter(targets, deadline, self); }
};

inline bool ended(TaskHeader& task) { return task.state.load(std::memory_order_acquire).is_complete(); }
inline bool failed(TaskHeader& task) {
  return ended(task) && task.outcome.load(std::memory_order_acquire) == Outcome::Exception;
}

template <class T>
Task<WaitResult> wait_until_impl(std::vector<JoinHandle<T>>& handles, ReturnWhen when,
                                 std::optional<Clock::time_point> deadline) {
  if (handles.empty()) throw std::invalid_argument("weft::wait: no handles");
  for (;;) {
    WaitResult result;
    std::vector<TaskHeader*> running;
    bool an_exception = false;
    for (std::size_t i = 0; i < handles.size(); ++i) {
      TaskHeader& task = handles[i].header();
      if (ended(task)) {
        result.done.push_back(i);
        an_exception = an_exception || failed(task);
      } else {
        result.pending.push_back(i);
        running.push_back(&task);
      }
    }
    const bool enough = running.empty() ||
                        (when == ReturnWhen::FirstCompleted && !result.done.empty()) ||
                        (when == ReturnWhen::FirstException && an_exception);
    if (enough) co_return result;
    // Named, not a temporary: g++ 12 destroys a non-trivial temporary in a co_await
    // operand twice (docs/COMPILERS.md).
    AnyEnd any_end{std::move(running), deadline};
    const bool timed_out = co_await any_end;
    if (timed_out) {
      // Recount: something may have finished as the deadline passed.
      WaitResult last;
      for (std::size_t i = 0; i < handles.size(); ++i)
        (ended(handles[i].header()) ? last.done : last.pending).push_back(i);
      co_return last;
    }
  }
}

}  // namespace detail

template <class T>
Task<WaitResult> wait(std::vector<JoinHandle<T>>& handles, ReturnWhen when) {
  return detail::wait_until_impl(handles, when, std::nullopt);
}
template <class T>
Task<WaitResult> wait(std::vector<JoinHandle<T>>& handles) {
  return detail::wait_until_impl(handles, ReturnWhen::AllCompleted, std::nullopt);
}
template <class T, class Rep, class Period>
Task<WaitResult> wait(std::vector<JoinHandle<T>>& handles, ReturnWhen when,
                      std::chrono::duration<Rep, Period> timeout) {
  detail::TaskHeader* self = detail::current_task();
  if (self == nullptr) throw NotInRuntime("weft::wait: awaited inside a task");
  if (detail::beyond_any_deadline(timeout)) return detail::wait_until_impl(handles, when, std::nullopt);
  const Clock::time_point deadline =
      detail::runtime_clock(*self->runtime).now() + std::chrono::duration_cast<Clock::duration>(timeout);
  return detail::wait_until_impl(handles, when, deadline);
}

// as_completed: `co_await next()` gives the index of the next handle to finish, in
// completion order (each index once), std::nullopt when all have been given.
template <class T>
class AsCompleted {
 public:
  explicit AsCompleted(std::vector<JoinHandle<T>>& handles) : handles_(handles), given_(handles.size(), false) {}

  Task<std::optional<std::size_t>> next() {
    for (;;) {
      std::vector<detail::TaskHeader*> running;
      for (std::size_t i = 0; i < handles_.size(); ++i) {
        if (given_[i]) continue;
        if (detail::ended(handles_[i].header())) {
          given_[i] = true;
          co_return i;
        }
        running.push_back(&handles_[i].header());
      }
      if (running.empty()) co_return std::nullopt;
      detail::AnyEnd any_end{std::move(running), std::nullopt};  // named: see wait_until_impl
      co_await any_end;
    }
  }

 private:
  std::vector<JoinHandle<T>>& handles_;
  std::vector<bool> given_;
};

template <class T>
AsCompleted<T> as_completed(std::vector<JoinHandle<T>>& handles) {
  return AsCompleted<T>(handles);
}

}  // namespace weft
