#pragma once
// The runtime's timers: one hierarchical wheel (core/timer_wheel.hpp) behind a mutex,
// shared by all workers; the timer benchmarks decide whether per-worker wheels would
// pay for their cross-thread cancellation.
//
// Ground rules
//   * Time is the runtime's Clock, counted in ticks of `tick` from `origin` (the clock
//     at construction). A deadline becomes the first tick at or after it (ceil) and a
//     timer fires once the current tick (floor) reaches that: never early, and at most
//     one tick late plus the time to notice.
//   * A TimerWaiter lives in the sleeping coroutine frame. Insert and cancel take the
//     mutex; so does firing, which unlinks each due entry and, still under the mutex,
//     wins its task's WaitCell (try_wake) and reschedules it. A task resumed by a
//     canceller instead removes its entry under the same mutex, so the wheel never
//     touches an entry after its frame moved on.
//   * `next_tick_` mirrors the wheel's earliest deadline (NONE when empty) so that
//     workers can look at it without the mutex. It is exact after an insert and after
//     firing. A cancel leaves it as it was (`stale_`): it can then only be early, which
//     costs one wake-up that finds nothing due, never a late timer. Recomputing it at
//     every cancel would cost a scan of the earliest slot each time the earliest entry
//     goes, quadratic for a million sleepers cancelled in deadline order. The driver
//     asks for the exact value (exact_next_deadline) before it parks.
//   * Who fires: any worker whose loop finds a timer due (checked every few dozen
//     tasks and before parking), and the one parked worker that holds the driver role,
//     which parks until the earliest deadline instead of indefinitely. An insert that
//     lowers the earliest deadline unparks the role holder so it re-arms its timeout.
//   * The role should not be left empty while timers are pending and a worker sleeps:
//     the other parked workers sleep without a timeout, so a pending timer without a
//     driver waits for some busy worker to finish its task. (A review measured
//     190-200 ms of lateness behind a 200 ms computation with a worker idle.) Hence:
//       - an insert that finds no role holder unparks a sleeper (wake_timer_driver),
//         which, not notified, parks again and takes the role;
//       - a driver that fires timers and goes on to run what they woke hands the role
//         on the same way if timers remain (ensure_timer_driver).
//     The idle lock orders the hand-off against a worker that parks at that moment:
//     either the hand-off sees it on the sleeper list, or it sees the timers pending.
//     Left open: a driver that a notify picks for new work leaves the role empty until
//     it parks again. Handing it on there (or passing over the driver in the notify)
//     put a futex wake on the path of wake-ups: cancel latency from outside went from
//     12 to 39 µs (medians of 9 alternating runs, 2 workers, a slow phase of the VM).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>

#include <weft/core/clock.hpp>
#include <weft/core/timer_wheel.hpp>
#include <weft/scheduler/runtime_core.hpp>

namespace weft::detail {

class TimerDriver {
 public:
  static constexpr std::uint64_t NONE = ~std::uint64_t{0};

  TimerDriver(Clock& clock, std::chrono::nanoseconds tick)
      : clock_(clock), tick_(tick.count() > 0 ? tick : std::chrono::milliseconds(1)), origin_(clock.now()) {}

  Clock& clock() const noexcept { return clock_; }
  Clock::time_point now() const { return clock_.now(); }

  // Returns true if this timer is now the earliest: the driver must re-arm.
  bool insert(TimerWaiter& waiter, Clock::time_point deadline);
  // False if it had fired already (its task was woken, or lost to a canceller).
  bool cancel(TimerWaiter& waiter);

  // Fires every timer due at the clock's current time. Returns how many tasks woke.
  std::size_t fire_due();
  bool due() const {
    std::uint64_t next = next_tick_.load(std::memory_order_acquire);  // Acquire: see next_tick_
    return next != NONE && next <= now_tick();
  }
  bool pending() const { return next_tick_.load(std::memory_order_acquire) != NONE; }
  // The exact earliest deadline (recomputed if a cancel left the hint stale).
  std::optional<Clock::time_point> exact_next_deadline();
  // The earliest deadline as a time point, if any timer is pending; possibly early.
  std::optional<Clock::time_point> next_deadline() const {
    std::uint64_t next = next_tick_.load(std::memory_order_acquire);
    if (next == NONE) return std::nullopt;
    // Saturating, in unsigned arithmetic: the tick of sleep_until(time_point::max())
    // lies past the last representable time point.
    const auto tick = static_cast<std::uint64_t>(tick_.count());
    if (next > nanoseconds_after(Clock::time_point::max(), origin_) / tick) return Clock::time_point::max();
    // Fits: origin + next * tick <= max (the sum is taken modulo 2^64, then read back).
    const auto origin = static_cast<std::uint64_t>(origin_.time_since_epoch().count());
    return Clock::time_point(Clock::duration(static_cast<Clock::duration::rep>(origin + next * tick)));
  }

  // The driver role: the worker that parks until the earliest deadline.
  bool try_take_role(unsigned worker) noexcept {
    int expected = -1;
    // acq_rel: the role is a lock on "who sleeps with a timeout" only; it guards no data.
    return role_.compare_exchange_strong(expected, static_cast<int>(worker), std::memory_order_acq_rel);
  }
  void release_role() noexcept { role_.store(-1, std::memory_order_release); }
  int role_holder() const noexcept { return role_.load(std::memory_order_acquire); }

 private:
  std::uint64_t deadline_tick(Clock::time_point deadline) const;
  std::uint64_t now_tick() const;
  void publish_next() noexcept;

  Clock& clock_;
  const std::chrono::nanoseconds tick_;
  const Clock::time_point origin_;
  std::mutex mutex_;
  TimerWheel wheel_;
  // Written under mutex_ with release after each change; read without it (acquire).
  std::atomic<std::uint64_t> next_tick_{NONE};
  bool stale_ = false;  // [mutex_] a cancel happened since next_tick_ was computed
  std::atomic<int> role_{-1};
};

}  // namespace weft::detail
