// Parker: the futex protocol.
//
// State word (32 bits), values chosen so that one fetch_sub does park's first step:
//   EMPTY    = 0           no token, owner not asleep
//   NOTIFIED = 1           a token is waiting to be consumed
//   PARKED   = 0xFFFFFFFF  (EMPTY - 1) the owner is asleep or about to sleep
//
// Who writes what:
//   * unpark (any thread): exchange(NOTIFIED). If it replaced PARKED, the owner is
//     (or is about to be) in FUTEX_WAIT: FUTEX_WAKE it. Otherwise no syscall.
//   * park (owner): fetch_sub(1): NOTIFIED -> EMPTY consumes the token and returns;
//     EMPTY -> PARKED announces the sleep. Then FUTEX_WAIT while the word is still
//     PARKED. The kernel compares the word with PARKED and queues the thread
//     atomically (under the futex's bucket lock), so an unpark that changes the
//     word before we sleep makes FUTEX_WAIT return EAGAIN, and one that changes it
//     after finds us queued and wakes us: no lost wake-up.
//   * After FUTEX_WAIT returns (woken, EINTR, EAGAIN, spurious, timeout) the owner
//     tries CAS NOTIFIED -> EMPTY; success = token consumed. Otherwise the word is
//     still PARKED (only unpark changes it, and only to NOTIFIED) and the owner
//     waits again, or on timeout swaps EMPTY in: if that swap returns NOTIFIED an
//     unpark won the race with the deadline and the token is consumed (true).
// Only the owner ever moves the word out of NOTIFIED or into PARKED; unparkers
// only move it to NOTIFIED. Two threads parking on one Parker is a bug (asserted).
#include "weft/core/parker.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <climits>
#include <ctime>

namespace weft::detail {
namespace {

constexpr std::uint32_t kEmpty = 0;
constexpr std::uint32_t kNotified = 1;
constexpr std::uint32_t kParked = kEmpty - 1;  // wraps to 0xFFFFFFFF on purpose

std::uint32_t* futex_word(std::atomic<std::uint32_t>& a) noexcept {
  // std::atomic<uint32_t> is a lock-free 32-bit object (static_assert in the header).
  return reinterpret_cast<std::uint32_t*>(&a);
}

// Sleeps while *word == expected, at most `timeout` (nullptr: no limit). Any
// return (woken, EAGAIN, EINTR, ETIMEDOUT, spurious) is handled by the caller,
// which re-reads the word.
void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                const timespec* timeout) noexcept {
  const long rc = syscall(SYS_futex, futex_word(word), FUTEX_WAIT_PRIVATE, expected, timeout,
                          nullptr, 0);
  assert((rc == 0 || errno == EAGAIN || errno == EINTR || errno == ETIMEDOUT) &&
         "FUTEX_WAIT failed unexpectedly");
  (void)rc;
}

void futex_wake_one(std::atomic<std::uint32_t>& word) noexcept {
  const long rc = syscall(SYS_futex, futex_word(word), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  assert(rc >= 0 && "FUTEX_WAKE failed");
  (void)rc;
}

// After a FUTEX_WAIT returned: consume the token if it is there.
bool try_consume(std::atomic<std::uint32_t>& state) noexcept {
  std::uint32_t expected = kNotified;
  // Acquire on success: pairs with the release exchange in unpark(), so the
  // waker's writes before unpark() are visible once park returns. Relaxed on
  // failure: then the word is still PARKED and we read nothing on its strength.
  return state.compare_exchange_strong(expected, kEmpty, std::memory_order_acquire,
                                       std::memory_order_relaxed);
}

}  // namespace

void Parker::park() noexcept {
  // Acquire: pairs with the release exchange in unpark() when we consume a token
  // (NOTIFIED -> EMPTY). When it was EMPTY (-> PARKED) the acquire is unused.
  const std::uint32_t prev = state_->fetch_sub(1, std::memory_order_acquire);
  assert(prev != kParked && "two threads park on the same Parker");
  if (prev == kNotified) {
    return;
  }
  for (;;) {
    futex_wait(*state_, kParked, nullptr);
    if (try_consume(*state_)) {
      return;
    }
    // Spurious wake-up or EINTR: still PARKED, sleep again.
  }
}

bool Parker::park_for(std::chrono::nanoseconds timeout) noexcept {
  const auto now = std::chrono::steady_clock::now();
  // Saturate instead of overflowing for huge timeouts (nanoseconds::max()).
  if (timeout > std::chrono::steady_clock::time_point::max() - now) {
    return park_until(std::chrono::steady_clock::time_point::max());
  }
  return park_until(now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(timeout));
}

bool Parker::park_until(std::chrono::steady_clock::time_point deadline) noexcept {
  // Acquire: as in park(), pairs with the release exchange in unpark().
  const std::uint32_t prev = state_->fetch_sub(1, std::memory_order_acquire);
  assert(prev != kParked && "two threads park on the same Parker");
  if (prev == kNotified) {
    return true;
  }
  for (;;) {
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) {
      // Timed out. Acquire: an unpark may have set NOTIFIED after our last look;
      // then we consume its token (pairs with its release exchange) and say so.
      // Its FUTEX_WAKE, if any, finds nobody waiting: harmless.
      return state_->exchange(kEmpty, std::memory_order_acquire) == kNotified;
    }
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    futex_wait(*state_, kParked, &ts);  // relative timeout on CLOCK_MONOTONIC
    if (try_consume(*state_)) {
      return true;
    }
    // Spurious, EINTR or ETIMEDOUT: the loop re-checks the deadline.
  }
}

void Parker::unpark() noexcept {
  // Release: pairs with the acquire that consumes the token in park*() (fetch_sub,
  // the CAS in try_consume, or the exchange on timeout): our prior writes become
  // visible to the woken owner. An exchange (not a store) because we must know
  // whether the owner was PARKED, i.e. whether it needs the system call.
  if (state_->exchange(kNotified, std::memory_order_release) == kParked) {
    futex_wake_one(*state_);
  }
}

bool Parker::announced_sleep() const noexcept {
  // Acquire: the owner's fetch_sub that wrote PARKED releases nothing itself, but as a
  // read-modify-write it continues the release sequence of the last unpark's exchange,
  // with which a caller that reads PARKED thus synchronises. Otherwise a snapshot.
  return state_->load(std::memory_order_acquire) == kParked;
}

}  // namespace weft::detail
