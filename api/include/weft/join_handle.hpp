#pragma once
// JoinHandle<T>: the owner's view of a spawned task. Holds one reference to the task;
// dropping it detaches the task, which keeps running.
//
// Awaiting a handle (JoinAwaiter) is a wait on the task's completion under the wait
// protocol (core/wait_cell.hpp): the awaiting task arms its cell, writes itself into
// the target's join slot, sets JOIN_WAITER, and suspends. The target's completer and a
// canceller of the awaiting task race on the cell; exactly one reschedules it. The
// registration holds a reference to the awaiting task, dropped by whoever ends it (the
// completer, or the awaiter when it withdraws), so the completer never touches a freed
// header.
#include <cassert>
#include <exception>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <weft/detail/promise.hpp>
#include <weft/errors.hpp>

namespace weft {

template <class T>
class JoinHandle;

namespace detail {

// The failure or cancellation of a completed task, as its awaiter sees it. The throws
// are forced inline for the reason given at throw_cancelled.
std::string cancelled_message(const TaskHeader& task);  // the message a cancelled task ended with
[[noreturn, gnu::always_inline]] inline void throw_task_cancelled(TaskHeader& task) {
  throw TaskCancelled(cancelled_message(task));
}
[[gnu::always_inline]] inline void rethrow_task_failure(TaskHeader& task) {
  // Acquire: the caller saw COMPLETE; the outcome was written before it.
  switch (task.outcome.load(std::memory_order_acquire)) {
    case Outcome::Cancelled:
      throw_task_cancelled(task);
    case Outcome::Exception:
      task.mark_failure_observed();
      std::rethrow_exception(task.failure());
    default:
      return;
  }
}

// Writes `self`'s wait `generation` into the target's join slot, which the caller has
// claimed (TaskStateWord::claim_join_slot), and sets JOIN_WAITER, taking the
// registration's reference on `self` (dropped by whoever ends the registration: the
// completer, or withdraw_join). Registered, or Complete if the target completed since
// the claim (nothing registered; the reference is given back at once, never the last:
// the caller runs).
inline TaskStateWord::JoinRegistration register_claimed_join(TaskHeader& target, TaskHeader& self,
                                                             std::uint64_t generation) noexcept {
  target.join.task = &self;
  target.join.generation = generation;
  self.state.ref_inc();
  TaskStateWord::JoinRegistration registration = target.state.set_join_waiter();
  assert(registration != TaskStateWord::JoinRegistration::Busy && "register_claimed_join: the slot was not claimed");
  if (registration != TaskStateWord::JoinRegistration::Registered) self.state.ref_dec();
  return registration;
}

// Claims the slot, then registers as above. Busy: another awaiter holds the slot
// (misuse); nothing was written, since the completer may be reading that awaiter's
// registration.
inline TaskStateWord::JoinRegistration register_join(TaskHeader& target, TaskHeader& self,
                                                     std::uint64_t generation) noexcept {
  if (TaskStateWord::JoinRegistration claim = target.state.claim_join_slot();
      claim != TaskStateWord::JoinRegistration::Registered)
    return claim;
  return register_claimed_join(target, self, generation);
}

// Ends a registration that no completion ended: unless the completer owns the slot
// already (it then drops the registration's reference itself).
inline void withdraw_join(TaskHeader& target, TaskHeader& self) noexcept {
  if (target.state.unset_join_waiter()) self.state.ref_dec();
}

// Awaiting a handle. Unshielded (plain `co_await handle`), the awaiting task's own
// cancellation is forwarded to the awaited task (see WaitForward): the awaiter waits
// until that task has finished, then throws its own CancelledError. Shielded
// (`co_await shield(handle)`), its cancellation ends the wait at once and leaves the
// awaited task running.
template <class T, bool Retrieve = true>
class JoinAwaiter {
 public:
  JoinAwaiter(TaskHeader& target, TaskHeader& self, bool shielded)
      : target_(target), self_(self), shielded_(shielded) {
    forward_.target = &target;
  }
  JoinAwaiter(const JoinAwaiter&) = delete;

  bool await_ready() {
    if (&target_ == &self_) throw InvalidStateError("weft: a task cannot await its own handle");
    // A request pending as the wait begins: shielded, it is delivered now; otherwise it
    // goes to the awaited task first (await_suspend, once the join slot is ours: a
    // misusing second awaiter must not cancel the first one's target) and stays pending
    // here, delivered once that task has finished (await_resume), as one that arrives
    // during the wait: further requests meanwhile only count, and an uncancel() to zero
    // withdraws it. A target already finished: delivered at once (await_resume).
    if (self_.state.cancel_requested_relaxed()) {
      if (!forwards()) {
        deliver_pending_cancel(self_);
      } else {
        pending_at_start_ = true;
      }
    }
    return target_.state.load(std::memory_order_acquire).is_complete();
  }

  bool await_suspend(std::coroutine_handle<> self_handle) {
    self_.resume_point = self_handle;
    self_.set_awaiting(shielded_ ? Awaiting::ShieldedTask : Awaiting::Task, target_.id);
    // The slot is claimed before the wait is armed: a second awaiter (misuse) or a
    // finished target resumes at once with nothing armed. Armed first, a canceller could
    // win the fresh wait of a misusing awaiter and forward it, re-armed, to a target that
    // will never wake it (found by two reviews).
    switch (target_.state.claim_join_slot()) {
      case TaskStateWord::JoinRegistration::Registered:
        break;
      case TaskStateWord::JoinRegistration::Busy:
        misuse_ = true;
        return false;
      case TaskStateWord::JoinRegistration::Complete:
        return false;
    }
    if (pending_at_start_) forward_pending_request();
    generation_ = self_.arm_wait(forwards() ? &forward_ : nullptr);
    armed_ = true;
    if (register_claimed_join(target_, self_, generation_) == TaskStateWord::JoinRegistration::Complete) {
      // Win our own cell back; if a canceller won it, its wake-up resumes us.
      return !self_.wait.try_wake(generation_);
    }
    // The Dekker half of the task (see core/wait_cell.hpp): a cancel that came
    // between the check in await_ready and arm_wait() is seen here. We then act as its
    // canceller; if another canceller won the cell, it does the same.
    if (!suspend_unless_cancelled(self_, generation_)) {
      if (self_.wait_forward == nullptr) return false;  // resume: await_resume withdraws, throws
      return !resume_after_forwarding();
    }
    return true;
  }

  // The awaited task's value (Retrieve), or nothing: the completion alone.
  std::conditional_t<Retrieve, T, void> await_resume() {
    self_.clear_awaiting();
    if (misuse_) throw InvalidStateError("weft: two tasks await one JoinHandle at the same time");
    if (armed_ && self_.wait.status() == WaitCell::CANCELLED) {
      // A shielded wait, or any during shutdown (others are re-armed by their
      // canceller). Withdraw from the join slot unless the completer owns it already (it then drops
      // the registration's reference itself).
      withdraw_join(target_, self_);
      throw_after_cancelled_wait(self_);
    }
    // The awaited task has finished. If our own cancellation was forwarded to it (or
    // was pending when we found it finished), that is what we throw now (asyncio: the
    // awaiter's CancelledError, not the awaited's).
    if (forward_.forwarded || pending_at_start_) deliver_own_cancel();
    if constexpr (Retrieve) {
      rethrow_task_failure(target_);
      return Promise<T>::of(target_).retrieve_value();
    }
  }

 private:
  // Whether our cancellation goes to the awaited task first (see the class comment).
  // Not while the runtime shuts down: then every suspension point throws at once.
  bool forwards() const { return !shielded_ && !runtime_closed(*self_.runtime); }

  // We won our own fresh wait because of a pending request: forward it like a
  // canceller would, re-arm, and report whether the target has already finished
  // (then we won the wake too and resume at once).
  // A request forwarded in await_suspend (pending at await_ready) is not forwarded again.
  bool resume_after_forwarding() {
    const bool first = !forward_.forwarded;
    forward_.forwarded = true;
    self_.wait.rearm_after_forward(generation_);
    if (first) {
      std::string message;
      {
        std::lock_guard guard(self_.cancel_lock);
        if (const TaskExtras* extras = self_.find_extras()) message = extras->cancel_message;
      }
      request_cancel(target_, message);
    }
    return target_.state.load(std::memory_order_seq_cst).is_complete() &&
           self_.wait.try_wake(generation_);
  }

  // await_suspend, the join slot claimed: forwards the request that was pending at
  // await_ready to the target, leaving it pending here.
  void forward_pending_request() {
    std::string message;
    {
      std::lock_guard guard(self_.cancel_lock);
      // Relaxed: the cancel lock orders this with request_cancel and uncancel.
      if (!self_.state.load(std::memory_order_relaxed).has(TaskStateWord::CANCEL_REQUESTED)) return;
      if (const TaskExtras* extras = self_.find_extras()) message = extras->cancel_message;
    }
    forward_.forwarded = true;
    request_cancel(target_, message);
  }

  // The request may have been withdrawn (uncancel) since: then the wait just ends.
  void deliver_own_cancel() { deliver_cancel_here(self_); }

  TaskHeader& target_;
  TaskHeader& self_;
  const bool shielded_;
  WaitForward forward_;
  std::uint64_t generation_ = 0;
  bool armed_ = false;
  bool misuse_ = false;
  bool pending_at_start_ = false;  // a request was pending at await_ready (forwarding waits)
};

}  // namespace detail

template <class T>
class JoinHandle {
 public:
  JoinHandle() noexcept = default;
  JoinHandle(JoinHandle&& other) noexcept : task_(std::exchange(other.task_, nullptr)) {}
  JoinHandle& operator=(JoinHandle&& other) noexcept {
    if (this != &other) {
      reset();
      task_ = std::exchange(other.task_, nullptr);
    }
    return *this;
  }
  JoinHandle(const JoinHandle&) = delete;
  JoinHandle& operator=(const JoinHandle&) = delete;
  ~JoinHandle() { reset(); }

  explicit operator bool() const noexcept { return task_ != nullptr; }

  // Requests cancellation (asyncio's Task.cancel); false if the task already finished.
  bool cancel(std::string_view message = {}) { return detail::request_cancel(header(), message); }

  bool done() const {
    return header().state.load(std::memory_order_acquire).is_complete();
  }
  bool cancelled() const {
    return done() && header().outcome.load(std::memory_order_acquire) == detail::Outcome::Cancelled;
  }

  // The failure, null on success. InvalidStateError before the end, TaskCancelled if
  // the task was cancelled.
  std::exception_ptr exception() const {
    require_done();
    detail::TaskHeader& task = header();
    switch (task.outcome.load(std::memory_order_acquire)) {
      case detail::Outcome::Cancelled:
        detail::throw_task_cancelled(task);
      case detail::Outcome::Exception:
        task.mark_failure_observed();
        return task.failure();
      default:
        return nullptr;
    }
  }

  // The value; rethrows the failure. InvalidStateError before the end, TaskCancelled if
  // cancelled.
  T result() {
    require_done();
    detail::rethrow_task_failure(header());
    return promise().retrieve_value();
  }

  // asyncio 3.11: pending cancel requests, and their withdrawal.
  int cancelling() const;
  int uncancel();

  TaskId id() const { return header().id; }
  std::string_view name() const { return header().display_name(); }

  // The weft awaitable protocol (used by the promise's await_transform).
  detail::JoinAwaiter<T> weft_awaiter(detail::TaskHeader& self) {
    return detail::JoinAwaiter<T>(header(), self, /*shielded=*/false);
  }

  // For the runtime (block_on) and combinators.
  detail::TaskHeader& header() const {
    if (task_ == nullptr) throw InvalidStateError("weft: empty JoinHandle");
    return *task_;
  }
  explicit JoinHandle(detail::TaskHeader* task) noexcept : task_(task) {}

 private:
  detail::Promise<T>& promise() { return detail::Promise<T>::of(header()); }
  void require_done() const {
    if (!done()) throw InvalidStateError("weft: the task has not finished");
  }
  void reset() noexcept {
    if (task_ != nullptr) {
      task_->state.drop_join_interest();
      detail::release_task(*task_);
      task_ = nullptr;
    }
  }

  detail::TaskHeader* task_ = nullptr;
};

namespace detail {
int task_cancelling(TaskHeader& task);
int task_uncancel(TaskHeader& task);
}  // namespace detail

template <class T>
int JoinHandle<T>::cancelling() const {
  return detail::task_cancelling(header());
}
template <class T>
int JoinHandle<T>::uncancel() {
  return detail::task_uncancel(header());
}

}  // namespace weft
