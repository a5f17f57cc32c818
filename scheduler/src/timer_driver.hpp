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
//     asks for the exact value (arm_driver) before it parks.
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
//   * The third way, a notify that picks the driver for new work, is covered by a
//     *deputy*: one other parked worker that, while timers are pending, parks until the
//     earliest deadline plus a grace (deputy_grace: two ticks, at least 1 ms) instead of
//     indefinitely. While the driver sleeps the deputy only ever wakes after it, finds
//     the timer fired (the earliest deadline moved on) and parks again: at most one
//     wake-up per grace period, none while no timer is pending. When the notified
//     driver computes, the deputy fires the timer a grace late (plus its wake-up) and, parking
//     again, becomes the driver. Handing the role on at the notify instead put a futex
//     wake on the path of every wake-up: cancel latency from outside went from 12 to
//     39 µs (medians of 9 alternating runs, 2 workers, a slow phase of the VM); so did
//     passing over the driver in the notify (it wakes an older sleeper than the newest).
//   * The deputy backs up the driver's deadline, not an older, later one: the driver is
//     woken by every insert that lowers the earliest deadline, and when it re-arms
//     (arm_driver) for a deadline more than a grace before the deputy's wake-up, it
//     unparks the deputy, which re-arms too. The deputy's fields are guarded by the
//     mutex, so arming and re-arming are ordered with the inserts and each other.
//   * A notify can take the deputy as well, and with three workers or more the driver
//     may be gone already. A sleeper woken to take the role (an insert that finds no
//     role holder wakes the oldest) races with the workers that park at that moment
//     (the inserter among them); if two of them take the driver's and the deputy's
//     places first, it sleeps without a timeout, older than both, and notifies take
//     the newest sleepers: two of them take the driver and the deputy and leave it
//     parked with the timer pending. Hence a deputy that leaves park because it was
//     notified, while timers are pending, hands its role on (hand_on_deputy): it
//     unparks the oldest sleeper other than the driver, which, not notified, parks
//     again as the deputy (or as the driver, if that has left too). That futex wake
//     is on the path of a notified deputy only, never of a notified driver that a
//     deputy backs up (next paragraph); with two workers the other sleeper, if any, is
//     normally the driver: nothing is woken. The deputy has disarmed before it looks,
//     so the idle lock orders the hand-off against a worker that parks at that
//     moment, as above: either the hand-off sees it on the sleeper list, or its
//     arm_deputy finds the place free. (Before this,
//     the timer then waited for one of the computations to end:
//     tests/scheduler/test_timer_driver_many_workers_concurrent.cpp.)
//   * The deputy's place can be empty while the driver sleeps: the deputy fired a timer
//     itself because the still-parked driver was a grace late (ensure_timer_driver
//     finds the role held and wakes nobody), or it is between a wake-up and its next
//     arm_deputy. A notify that takes the driver then, while another sleeper has no
//     timeout, left the pending timers to wait for a computation to end. Hence a
//     driver that leaves park because it was notified, while timers are pending, looks
//     at the deputy's place (under the mutex) and, if it is empty, hands the role on
//     (hand_on_driver, through ensure_timer_driver): the oldest sleeper, not notified,
//     parks again and takes the free role. An armed deputy needs nothing: it wakes a
//     grace late and becomes the driver, as above. So the futex wake comes only when
//     no deputy is armed: with two workers, the other one is then busy (its place
//     empty because it fired a timer and runs what it woke, or it has not parked since
//     the timers came) and off the sleeper list, so nothing is woken; if it has
//     parked, it found the driver's role held and armed as the deputy, short of the
//     moments between a deputy's wake-up and its next arm (it is awake then: the
//     unpark only leaves it a token, no futex call). The cost on the common path
//     is the look at the deputy's place: the timer mutex, on a notified driver's
//     wake-up while timers are pending only. The mutex orders the look with the
//     deputy's disarm (under it too): a deputy that disarms after the look sees the
//     role released (release_role came before the mutex) when it hands on, fires or
//     parks again; one that disarmed before leaves the place empty for the look. The
//     idle lock orders the hand-off against a worker that parks at that moment, as
//     above. (tests/scheduler/test_timer_driver_many_workers_concurrent.cpp, the late
//     driver; before this, the timer waited for the computations to end.)
//   * A deputy that wakes to find a timer due fires it, as any parked worker would; it
//     may have beaten a driver that was about to. The deputy is an idle worker, so this
//     costs no computation a wake-up.
//   * With a ManualClock there is no deputy: time moves only by advance(), which
//     unparks every worker, and with auto-advance the last worker to park wakes a
//     driver (Worker::park).
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

  // How late past the earliest deadline the deputy wakes, in ticks: two ticks, and at
  // least 1 ms so that a fine tick does not make the deputy wake thousands of times a
  // second while the driver keeps up.
  static std::uint64_t deputy_grace(std::chrono::nanoseconds tick) noexcept {
    const std::chrono::nanoseconds floor = std::chrono::milliseconds(1);
    const auto ticks_in_floor = static_cast<std::uint64_t>((floor + tick - std::chrono::nanoseconds(1)) / tick);
    return ticks_in_floor > 2 ? ticks_in_floor : 2;
  }

  TimerDriver(Clock& clock, std::chrono::nanoseconds tick)
      : clock_(clock),
        tick_(tick.count() > 0 ? tick : std::chrono::milliseconds(1)),
        origin_(clock.now()),
        deputy_grace_ticks_(deputy_grace(tick_)) {}

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
  // What the driver parks for: the exact earliest deadline (recomputed if a cancel left
  // the hint stale), and the deputy to unpark so that it re-arms, if its wake-up lies
  // more than a grace past that deadline (-1 if none).
  struct DriverArm {
    std::optional<Clock::time_point> deadline;
    int deputy_to_rearm = -1;
  };
  DriverArm arm_driver();
  // The exact earliest deadline (nullopt if none), without arming anything.
  std::optional<Clock::time_point> next_deadline();
  // `worker` becomes the deputy if timers are pending and nobody is: returns the time
  // until which it parks (the earliest deadline plus the grace).
  std::optional<Clock::time_point> arm_deputy(unsigned worker);
  void disarm_deputy(unsigned worker);
  // The deputy's worker, -1 if none (RuntimeCore::hand_on_driver; tests).
  int deputy_holder() {
    std::lock_guard guard(mutex_);
    return deputy_;
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
  Clock::time_point time_of_tick(std::uint64_t tick) const noexcept;
  std::optional<std::uint64_t> exact_next_tick();  // [mutex_]
  // The tick a deputy backing up a deadline at `next` wakes at: next plus the grace.
  std::uint64_t backup_tick(std::uint64_t next) const noexcept;
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
  const std::uint64_t deputy_grace_ticks_;
  int deputy_ = -1;                  // [mutex_] the deputy's worker, -1 if none
  std::uint64_t deputy_tick_ = NONE;  // [mutex_] the tick it wakes at (0: re-arm asked)
};

}  // namespace weft::detail
