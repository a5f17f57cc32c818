#pragma once
// Mutex: asyncio.Lock, FIFO fair, with an RAII guard.
//
// Invariants (all under state_mutex_)
//   * locked_ == false  =>  waiters_ is empty. A task queues only while the mutex is
//     locked, and unlock() never frees a mutex someone waits for: it hands the lock
//     directly to the first waiter (ownership transfer, locked_ stays true). So a
//     newcomer can never barge past a waiter (FIFO fairness).
//   * unlock() pops the first waiter and wins its WaitCell (WaitQueue::try_hand_over).
//     Losing means a canceller won first: that waiter throws CancelledError and never
//     held the lock, so unlock() takes it back and tries the next one. A waiter whose
//     hand-over won owns the lock even if a cancel arrives a moment later: the wait
//     returns its Guard normally and the request is delivered at the next suspension
//     point, where unwinding destroys the Guard and passes the lock on. Nothing is held
//     forever by a cancelled task.
//   * A cancelled waiter removes its node under state_mutex_ before its frame may go
//     away (detail/wait_queue.hpp): nodes are touched only under the mutex.
//
// The lock is released only through a Guard (a weft task's Guard may be destroyed on
// any thread that runs the task), so "release a lock not held" (asyncio's
// RuntimeError) cannot be written. lock() is awaited inside weft tasks only; try_lock()
// works anywhere. Destroying a Mutex with tasks waiting on it, or while locked, is
// misuse (asserted in debug builds).
#include <cassert>
#include <coroutine>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include <weft/detail/promise.hpp>
#include <weft/detail/wait_queue.hpp>

namespace weft {

class Mutex;

namespace detail {

class MutexLockAwaiter;

}  // namespace detail

class Mutex {
 public:
  // Ownership of a locked Mutex. Movable; unlocks when destroyed unless unlocked early.
  class Guard {
   public:
    Guard() noexcept = default;
    Guard(Guard&& other) noexcept : mutex_(std::exchange(other.mutex_, nullptr)) {}
    Guard& operator=(Guard&& other) noexcept {
      if (this != &other) {
        unlock();
        mutex_ = std::exchange(other.mutex_, nullptr);
      }
      return *this;
    }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    ~Guard() { unlock(); }

    // Releases the lock now (hands it to the first waiter); a no-op if not owned.
    void unlock() noexcept {
      if (mutex_ != nullptr) std::exchange(mutex_, nullptr)->unlock_();
    }
    bool owns_lock() const noexcept { return mutex_ != nullptr; }
    explicit operator bool() const noexcept { return owns_lock(); }
    Mutex* mutex() const noexcept { return mutex_; }

   private:
    friend class Mutex;
    friend class detail::MutexLockAwaiter;
    explicit Guard(Mutex& mutex) noexcept : mutex_(&mutex) {}

    Mutex* mutex_ = nullptr;
  };

  // What lock() returns: awaitable inside a task (the weft awaitable protocol).
  class LockOperation {
   public:
    explicit LockOperation(Mutex& mutex) noexcept : mutex_(mutex) {}
    inline detail::MutexLockAwaiter weft_awaiter(detail::TaskHeader& self) const;

   private:
    Mutex& mutex_;
  };

  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;
  ~Mutex() {
    std::lock_guard guard(state_mutex_);  // for the analysers: see Event::~Event
    assert(waiters_.empty() && "weft::Mutex destroyed with tasks still waiting on it");
    assert(!locked_ && "weft::Mutex destroyed while a Guard still holds it");
  }

  // co_await m.lock() -> Guard. Waits in FIFO order; throws CancelledError if the task
  // is cancelled before the lock is handed to it (then it holds nothing).
  LockOperation lock() noexcept { return LockOperation(*this); }

  // The lock if it is free now (no waiter can exist then), else nothing. Any thread.
  std::optional<Guard> try_lock() {
    std::lock_guard guard(state_mutex_);
    if (locked_) return std::nullopt;
    locked_ = true;
    return Guard(*this);
  }

  // A snapshot, for tests and diagnostics.
  bool locked() const {
    std::lock_guard guard(state_mutex_);
    return locked_;
  }

 private:
  friend class detail::MutexLockAwaiter;

  // The owner lets go: ownership goes to the first waiter whose hand-over wins, else
  // the mutex becomes free.
  void unlock_() noexcept {
    std::lock_guard guard(state_mutex_);
    assert(locked_ && "weft::Mutex: unlock of a mutex that is not locked");
    while (detail::WaitNode* node = waiters_.pop_front()) {
      if (detail::WaitQueue::try_hand_over(*node)) return;  // locked_ stays true: it is theirs
      // Lost: a canceller won that waiter; it never owned the lock. Next one.
    }
    locked_ = false;
  }

  mutable std::mutex state_mutex_;
  bool locked_ = false;        // guarded by state_mutex_
  detail::WaitQueue waiters_;  // guarded by state_mutex_
};

namespace detail {

class MutexLockAwaiter {
 public:
  MutexLockAwaiter(Mutex& mutex, TaskHeader& self) : mutex_(mutex), self_(self) {}
  MutexLockAwaiter(const MutexLockAwaiter&) = delete;

  bool await_ready() {
    throw_if_cancel_pending(self_);  // a suspension point even when the lock is free
    std::lock_guard guard(mutex_.state_mutex_);
    if (mutex_.locked_) return false;
    mutex_.locked_ = true;  // free means nobody waits: taking it is fair
    return true;
  }

  bool await_suspend(std::coroutine_handle<> handle) {
    self_.resume_point = handle;
    {
      std::lock_guard guard(mutex_.state_mutex_);
      if (!mutex_.locked_) {  // freed since await_ready: take it, do not wait
        mutex_.locked_ = true;
        return false;
      }
      self_.set_awaiting(detail::Awaiting::Mutex);
      mutex_.waiters_.enqueue(self_, node_);
      armed_ = true;
    }
    // The Dekker half of the task (core/wait_cell.hpp): a cancel that came after
    // await_ready's check is seen here; winning our own cell, we resume at once and
    // await_resume withdraws the node. If unlock() won it first, the lock is ours.
    return suspend_unless_cancelled(self_, node_.generation);
  }

  Mutex::Guard await_resume() {
    if (armed_) {
      self_.clear_awaiting();
      if (self_.wait.status() == WaitCell::CANCELLED) {
        {
          // Withdraw before this frame (and the node) may go away. False: unlock()
          // popped us, lost the hand-over and kept the lock for the next waiter.
          std::lock_guard guard(mutex_.state_mutex_);
          mutex_.waiters_.remove(node_);
        }
        throw_after_cancelled_wait(self_);
      }
    }
    // WOKEN (or never waited): the lock was handed to us.
    return Mutex::Guard(mutex_);
  }

 private:
  Mutex& mutex_;
  TaskHeader& self_;
  WaitNode node_;
  bool armed_ = false;
};

}  // namespace detail

inline detail::MutexLockAwaiter Mutex::LockOperation::weft_awaiter(detail::TaskHeader& self) const {
  return detail::MutexLockAwaiter(mutex_, self);
}

}  // namespace weft
