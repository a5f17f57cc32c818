#pragma once
// Semaphore: asyncio.Semaphore, FIFO fair. A count of permits; acquire() takes one,
// waiting while there is none; release() gives one back.
//
// Invariants (all under mutex_)
//   * count_ > 0  =>  waiters_ is empty. A task queues only when count_ == 0, and
//     release() hands its permit directly to the first waiter instead of incrementing
//     count_ while anyone waits. So a newcomer can never take a permit a waiter is
//     owed (FIFO fairness).
//   * release() pops the first waiter and wins its WaitCell (WaitQueue::try_hand_over).
//     Losing means a canceller won first: that waiter throws CancelledError without a
//     permit, so release() takes the permit back and tries the next one, and finally
//     increments count_. A waiter whose hand-over won owns the permit even if a cancel
//     arrives a moment later: acquire() returns normally, the request is delivered at
//     the next suspension point. No permit is ever lost or held by a cancelled waiter.
//   * A cancelled waiter removes its node under mutex_ before its frame may go away
//     (detail/wait_queue.hpp).
//
// release() and try_acquire() may be called from any thread, also outside the runtime;
// like asyncio.Semaphore (not BoundedSemaphore), release() may raise the count above
// its initial value. acquire() is awaited inside weft tasks only. Destroying a
// Semaphore with tasks waiting on it is misuse (asserted in debug builds).
#include <cassert>
#include <coroutine>
#include <cstddef>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>

#include <weft/detail/promise.hpp>
#include <weft/detail/wait_queue.hpp>

namespace weft {

class Semaphore;

namespace detail {

class SemaphoreAcquireAwaiter {
 public:
  SemaphoreAcquireAwaiter(Semaphore& semaphore, TaskHeader& self) : semaphore_(semaphore), self_(self) {}
  SemaphoreAcquireAwaiter(const SemaphoreAcquireAwaiter&) = delete;

  inline bool await_ready();
  inline bool await_suspend(std::coroutine_handle<> handle);
  inline void await_resume();

 private:
  Semaphore& semaphore_;
  TaskHeader& self_;
  WaitNode node_;
  bool armed_ = false;
};

// What Semaphore::acquire() returns: awaitable inside a task (weft awaitable protocol).
class SemaphoreAcquire {
 public:
  explicit SemaphoreAcquire(Semaphore& semaphore) noexcept : semaphore_(semaphore) {}
  SemaphoreAcquireAwaiter weft_awaiter(TaskHeader& self) const { return SemaphoreAcquireAwaiter(semaphore_, self); }

 private:
  Semaphore& semaphore_;
};

}  // namespace detail

class Semaphore {
 public:
  // n permits; n < 0 is std::invalid_argument (asyncio's ValueError).
  explicit Semaphore(std::ptrdiff_t permits) : count_(permits) {
    if (permits < 0) throw std::invalid_argument("weft::Semaphore: initial value must be >= 0");
  }
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;
  ~Semaphore() {
    std::lock_guard guard(mutex_);  // for the analysers: see Event::~Event
    assert(waiters_.empty() && "weft::Semaphore destroyed with tasks still waiting on it");
  }

  // co_await s.acquire(): takes a permit, waiting in FIFO order while there is none.
  // Throws CancelledError if the task is cancelled before a permit is handed to it
  // (then it holds none).
  detail::SemaphoreAcquire acquire() noexcept { return detail::SemaphoreAcquire(*this); }

  // A permit if one is free now (no waiter can exist then). Any thread.
  bool try_acquire() {
    std::lock_guard guard(mutex_);
    if (count_ == 0) return false;
    --count_;
    return true;
  }

  // Gives a permit back: to the first waiter whose hand-over wins, else to the count.
  // Any thread.
  void release() {
    std::lock_guard guard(mutex_);
    while (detail::WaitNode* node = waiters_.pop_front()) {
      if (detail::WaitQueue::try_hand_over(*node)) return;  // the permit is theirs
      // Lost: a canceller won that waiter; take the permit back, try the next one.
    }
    ++count_;
  }

  // Free permits now (a snapshot). 0 while tasks wait.
  std::ptrdiff_t available() const {
    std::lock_guard guard(mutex_);
    return count_;
  }

  // asyncio's locked(): no permit is free now.
  bool locked() const { return available() == 0; }

 private:
  friend class detail::SemaphoreAcquireAwaiter;

  mutable std::mutex mutex_;
  std::ptrdiff_t count_;       // guarded by mutex_
  detail::WaitQueue waiters_;  // guarded by mutex_
};

namespace detail {

inline bool SemaphoreAcquireAwaiter::await_ready() {
  throw_if_cancel_pending(self_);  // a suspension point even when a permit is free
  std::lock_guard guard(semaphore_.mutex_);
  if (semaphore_.count_ == 0) return false;
  --semaphore_.count_;  // a free permit means nobody waits: taking it is fair
  return true;
}

inline bool SemaphoreAcquireAwaiter::await_suspend(std::coroutine_handle<> handle) {
  self_.resume_point = handle;
  {
    std::lock_guard guard(semaphore_.mutex_);
    if (semaphore_.count_ > 0) {  // released since await_ready: take it, do not wait
      --semaphore_.count_;
      return false;
    }
    self_.set_awaiting(detail::Awaiting::Semaphore);
    semaphore_.waiters_.enqueue(self_, node_);
    armed_ = true;
  }
  // The Dekker half of the task (core/wait_cell.hpp): a cancel that came after
  // await_ready's check is seen here; winning our own cell, we resume at once and
  // await_resume withdraws the node. If release() won it first, the permit is ours.
  return suspend_unless_cancelled(self_, node_.generation);
}

inline void SemaphoreAcquireAwaiter::await_resume() {
  if (!armed_) return;  // took a free permit
  self_.clear_awaiting();
  if (self_.wait.status() == WaitCell::CANCELLED) {
    {
      // Withdraw before this frame (and the node) may go away. False: release() popped
      // us, lost the hand-over and kept the permit for someone else.
      std::lock_guard guard(semaphore_.mutex_);
      semaphore_.waiters_.remove(node_);
    }
    throw_after_cancelled_wait(self_);
  }
  // WOKEN: release() handed us its permit.
}

}  // namespace detail

}  // namespace weft
