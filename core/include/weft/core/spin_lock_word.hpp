#pragma once
// A spin lock that shares its 32-bit word with the data it guards: bit 0 is the lock,
// bits 1..31 belong to whoever holds it. For a lock and a few bits of state that would
// otherwise take a byte and a word of their own in an object that must stay small (a
// task's cancel lock, its cancelling() count and a sticky flag: the task header,
// bench/memory).
//
// Rules. Only the holder writes the word: lock() sets bit 0 by a CAS that expects it
// clear, so while it is set every other writer's CAS fails, and the holder may store
// new data (keeping bit 0 set) with plain relaxed stores. unlock() stores the data with
// bit 0 clear, release; the next lock()'s acquire CAS reads that store. The data may be
// read only under the lock. The waiting is SpinLock's (spin_wait_step,
// core/spin_lock.hpp): test-and-test-and-set on a relaxed load.
#include <atomic>
#include <cstdint>

#include <weft/core/spin_lock.hpp>

namespace weft::detail {

class SpinLockWord {
 public:
  static constexpr std::uint32_t kDataMax = ~std::uint32_t{0} >> 1;

  void lock() noexcept {
    for (unsigned spins = 0;; spin_wait_step(spins)) {
      // Relaxed: a hint of the current data and whether the lock is free; the CAS
      // below decides.
      std::uint32_t seen = word_.load(std::memory_order_relaxed);
      // Acquire: pairs with the release store in unlock(), so the critical section
      // sees the previous holder's writes (its data among them).
      if ((seen & kLocked) == 0 &&
          word_.compare_exchange_weak(seen, seen | kLocked, std::memory_order_acquire, std::memory_order_relaxed))
        return;
    }
  }
  // Release: publishes the critical section to the next locker (its acquire CAS).
  // Relaxed load: the holder reads back its own word.
  void unlock() noexcept { word_.store(word_.load(std::memory_order_relaxed) & ~kLocked, std::memory_order_release); }

  // The holder's data. Relaxed: only the holder writes the word (see the essay).
  std::uint32_t data() const noexcept { return word_.load(std::memory_order_relaxed) >> 1; }
  void set_data(std::uint32_t data) noexcept {
    word_.store(data << 1 | kLocked, std::memory_order_relaxed);  // published by unlock()
  }

 private:
  static constexpr std::uint32_t kLocked = 1;
  std::atomic<std::uint32_t> word_{0};
};

}  // namespace weft::detail
