#pragma once
// Event: asyncio.Event. A flag that tasks wait for; set() wakes them all.
//
// Invariants (all under mutex_)
//   * set_ == true  =>  waiters_ is empty: set() hands the event over to every waiter
//     present, and a wait that finds the flag set does not queue.
//   * set() pops every queued waiter and hands the event over (WaitQueue::try_hand_over)
//     while holding mutex_: a node is touched only under the mutex, and a cancelled
//     waiter leaves only after passing through it (detail/wait_queue.hpp). A waiter
//     that a canceller won first is just skipped: there is nothing to take back.
//   * So set-then-clear wakes exactly the waiters present at set(): they were handed
//     the event inside set(); clear() only lowers the flag for later waits.
//   * A wait on a set event returns at once, but is still a suspension point: a pending
//     cancel request is delivered first (await_ready).
//
// set(), clear() and is_set() may be called from any thread, also outside the runtime.
// wait() is awaited inside weft tasks only. Destroying an Event with tasks still waiting
// is misuse (asserted in debug builds).
#include <cassert>
#include <coroutine>
#include <mutex>
#include <string>
#include <utility>

#include <weft/detail/promise.hpp>
#include <weft/detail/wait_queue.hpp>

namespace weft {

class Event;

namespace detail {

class EventWaitAwaiter {
 public:
  EventWaitAwaiter(Event& event, TaskHeader& self) : event_(event), self_(self) {}
  EventWaitAwaiter(const EventWaitAwaiter&) = delete;

  inline bool await_ready();
  inline bool await_suspend(std::coroutine_handle<> handle);
  inline void await_resume();

 private:
  Event& event_;
  TaskHeader& self_;
  WaitNode node_;
  bool armed_ = false;
};

// What Event::wait() returns: awaitable inside a task (the weft awaitable protocol).
class EventWait {
 public:
  explicit EventWait(Event& event) noexcept : event_(event) {}
  EventWaitAwaiter weft_awaiter(TaskHeader& self) const { return EventWaitAwaiter(event_, self); }

 private:
  Event& event_;
};

}  // namespace detail

class Event {
 public:
  Event() = default;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  ~Event() {
    // Under the lock only for the analysers' sake: a destructor racing with a waiter
    // is a bug whatever we do here.
    std::lock_guard guard(mutex_);
    assert(waiters_.empty() && "weft::Event destroyed with tasks still waiting on it");
  }

  // Sets the flag and wakes every task waiting now. Any thread.
  void set() {
    std::lock_guard guard(mutex_);
    if (set_) return;  // the invariant: nobody waits on a set event
    set_ = true;
    // A lost hand-over means a canceller won that waiter first: it throws
    // CancelledError and there is nothing to take back.
    while (detail::WaitNode* node = waiters_.pop_front()) detail::WaitQueue::try_hand_over(*node);
  }

  // Lowers the flag; later waits block until the next set(). Any thread.
  void clear() {
    std::lock_guard guard(mutex_);
    set_ = false;
  }

  bool is_set() const {
    std::lock_guard guard(mutex_);
    return set_;
  }

  // co_await ev.wait(): returns once the event is set (at once if it is set now).
  // Throws CancelledError if the task is cancelled first.
  detail::EventWait wait() noexcept { return detail::EventWait(*this); }

 private:
  friend class detail::EventWaitAwaiter;

  mutable std::mutex mutex_;
  bool set_ = false;             // guarded by mutex_
  detail::WaitQueue waiters_;    // guarded by mutex_
};

namespace detail {

inline bool EventWaitAwaiter::await_ready() {
  throw_if_cancel_pending(self_);  // a suspension point even when the event is set
  std::lock_guard guard(event_.mutex_);
  return event_.set_;
}

inline bool EventWaitAwaiter::await_suspend(std::coroutine_handle<> handle) {
  self_.resume_point = handle;
  {
    std::lock_guard guard(event_.mutex_);
    if (event_.set_) return false;  // set since await_ready: no wait at all
    self_.set_awaiting(detail::Awaiting::Event);
    event_.waiters_.enqueue(self_, node_);
    armed_ = true;
  }
  // The Dekker half of the task (core/wait_cell.hpp): a cancel that came after
  // await_ready's check is seen here; winning our own cell, we resume at once and
  // await_resume withdraws the node.
  return suspend_unless_cancelled(self_, node_.generation);
}

inline void EventWaitAwaiter::await_resume() {
  if (!armed_) return;  // found the event set
  self_.clear_awaiting();
  if (self_.wait.status() == WaitCell::CANCELLED) {
    {
      // Withdraw before this frame (and the node in it) may go away; false means set()
      // popped us and lost the hand-over, which needs nothing from us.
      std::lock_guard guard(event_.mutex_);
      event_.waiters_.remove(node_);
    }
    throw_after_cancelled_wait(self_);
  }
}

}  // namespace detail

}  // namespace weft
