#pragma once
// Parker: puts one worker thread to sleep until another thread wakes it, with an
// optional deadline. One Parker per worker; only that worker calls park*();
// unpark() may be called from any thread, any number of times.
//
// Token semantics (as Rust's std::thread::park and Tokio's parker): unpark()
// leaves a single token; park*() consumes it. An unpark() that happens before
// park() therefore makes that park() return at once: no wake-up is lost however
// the two race. Tokens do not accumulate: many unparks before one park leave
// one token.
//
// park() returns only after consuming a token (never spuriously); park_for /
// park_until return true when they consumed a token and false when the deadline
// passed first. In both cases the caller re-checks its own condition anyway
// (the scheduler: "is there work?"), the token only says "look again".
//
// Memory: unpark() is a release operation and consuming the token an acquire, so
// what the waker wrote before unpark() is visible to the parked thread after
// park() returns true.
//
// Implementation: a 32-bit atomic state word and a Linux futex on it (see
// core/src/parker.cpp for the protocol). unpark() makes the wake system call only
// when the state was PARKED, so waking a thread that is not asleep costs one
// atomic exchange and no system call.
#include <atomic>
#include <chrono>
#include <cstdint>

#include "weft/core/cache_padded.hpp"

namespace weft::detail {

class Parker {
 public:
  Parker() noexcept = default;
  Parker(const Parker&) = delete;
  Parker& operator=(const Parker&) = delete;
  Parker(Parker&&) = delete;
  Parker& operator=(Parker&&) = delete;

  // Owner thread only. Blocks until a token is available, then consumes it.
  void park() noexcept;

  // Owner thread only. As park(), but gives up after `timeout`. Returns true when a
  // token was consumed, false on timeout. timeout <= 0 only consumes a token that
  // is already there.
  bool park_for(std::chrono::nanoseconds timeout) noexcept;

  // Owner thread only. As park_for, with an absolute deadline on steady_clock.
  bool park_until(std::chrono::steady_clock::time_point deadline) noexcept;

  // Any thread. Makes a token available; wakes the owner if it is parked.
  void unpark() noexcept;

  // Any thread. Whether the owner has announced a sleep (it is asleep, or about to
  // be) and no unpark came since: a snapshot, stale once returned (tests, statistics).
  bool announced_sleep() const noexcept;

 private:
  // The state word (values in parker.cpp). The futex needs a plain 32-bit word.
  CachePadded<std::atomic<std::uint32_t>> state_{0u};
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t) &&
                    std::atomic<std::uint32_t>::is_always_lock_free,
                "the futex word must be a lock-free 32-bit atomic");
};

}  // namespace weft::detail
