#pragma once
// A test-and-test-and-set spin lock for critical sections of a few instructions
// (a registry shard's list links, a task's cancel message). It spins on a plain load
// so waiting cores do not bounce the line, and yields the CPU after a while so that a
// holder preempted on a 2-core machine gets to run.
#include <atomic>
#include <thread>

namespace weft::detail {

// One step of waiting for a spin lock (SpinLock, SpinLockWord): spin, and after a while
// yield the CPU, so that a holder preempted on a 2-core machine gets to run.
inline void spin_wait_step(unsigned& spins) noexcept {
  if (++spins > 64) std::this_thread::yield();
}

class SpinLock {
 public:
  void lock() noexcept {
    for (unsigned spins = 0;; ++spins) {
      // Acquire: pairs with the release store in unlock(), so the critical section
      // sees the previous holder's writes.
      if (!locked_.exchange(true, std::memory_order_acquire)) return;
      // Relaxed: only a hint of when to retry the exchange above.
      while (locked_.load(std::memory_order_relaxed)) spin_wait_step(spins);
    }
  }
  bool try_lock() noexcept {
    // Acquire: as in lock().
    return !locked_.load(std::memory_order_relaxed) &&
           !locked_.exchange(true, std::memory_order_acquire);
  }
  // Release: publishes the critical section to the next locker (its acquire exchange).
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace weft::detail
