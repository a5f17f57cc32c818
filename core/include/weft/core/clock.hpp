#pragma once
// Clocks. A runtime reads time only through a Clock: the steady clock in production,
// a ManualClock in tests, where time moves only when the test says so (advance) or,
// with auto-advance, when every worker is idle and a timer is pending (the runtime
// then jumps the clock to that timer's deadline). Either way a test of a one-hour
// timeout runs in microseconds and is deterministic.
//
// Ground rules
//   * now() never goes backwards; advance() with a negative duration is an error.
//   * A ManualClock may drive several runtimes. Each registers a ClockListener, told
//     after every change of time so that it can fire the timers now due.
//   * Listeners are called on the thread that moves the clock, under the clock's
//     listener lock, so that a runtime unregistering itself waits for a call in
//     progress. A listener may read now() but must not add or remove listeners.
//   * Auto-advance is decided over every listener at once (try_auto_advance): time
//     jumps only while every runtime on the clock is idle, and only to the earliest
//     deadline among them. A runtime that jumped alone would move time under a task
//     of another runtime that is runnable, or past that runtime's earlier timers.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <vector>

namespace weft::detail {

class Clock {
 public:
  using duration = std::chrono::steady_clock::duration;
  using time_point = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  virtual time_point now() const = 0;
};

static_assert(std::is_same_v<Clock::duration, std::chrono::nanoseconds>, "time is counted in nanoseconds");

// The distance from `earlier` to `later` (later >= earlier) in nanoseconds, unsigned:
// it fits even where the signed difference overflows (time_point::max() seen from a
// clock that reads before the epoch: sleep_until(max) means "forever").
inline std::uint64_t nanoseconds_after(Clock::time_point later, Clock::time_point earlier) noexcept {
  return static_cast<std::uint64_t>(later.time_since_epoch().count()) -
         static_cast<std::uint64_t>(earlier.time_since_epoch().count());
}

class SteadyClock final : public Clock {
 public:
  time_point now() const override { return std::chrono::steady_clock::now(); }
};

class ClockListener {
 public:
  virtual void on_clock_advanced() noexcept = 0;
  // For auto-advance: nullopt while the listener has work that may run (time must not
  // jump), else its earliest timer deadline (time_point::max() if none).
  virtual std::optional<Clock::time_point> idle_until() noexcept { return Clock::time_point::max(); }

 protected:
  ~ClockListener() = default;
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(time_point start = time_point{}) : now_(start.time_since_epoch().count()) {}

  time_point now() const override {
    // Acquire: pairs with the release in move_to, so what the mover did before moving
    // time (e.g. a test's setup) is visible to whoever sees the new time.
    return time_point(duration(now_.load(std::memory_order_acquire)));
  }

  template <class Rep, class Period>
  void advance(std::chrono::duration<Rep, Period> by) {
    if (by < by.zero()) throw std::invalid_argument("weft::ManualClock::advance: negative duration");
    advance_to(now() + std::chrono::duration_cast<duration>(by));
  }

  // Moves time to `when` if that is later; never backwards.
  void advance_to(time_point when) {
    move_to(when);
    notify();
  }

  // With auto-advance, an idle runtime jumps this clock to its next timer deadline.
  void set_auto_advance(bool on) noexcept {
    auto_advance_.store(on, std::memory_order_relaxed);  // Relaxed: a mode flag
    if (on) notify();  // idle runtimes re-check now that they may jump
  }
  bool auto_advance() const noexcept { return auto_advance_.load(std::memory_order_relaxed); }

  // Auto-advance: if every listener is idle, moves time to the earliest deadline among
  // them and tells every listener. False if some listener is busy, none has a timer,
  // or the earliest deadline has already passed (its runtime was told when it did).
  bool try_auto_advance() {
    std::lock_guard guard(mutex_);
    if (!auto_advance()) return false;
    time_point earliest = time_point::max();
    for (ClockListener* listener : listeners_) {
      std::optional<time_point> until = listener->idle_until();
      if (!until) return false;
      if (*until < earliest) earliest = *until;
    }
    if (earliest == time_point::max() || earliest <= now()) return false;
    move_to(earliest);
    for (ClockListener* listener : listeners_) listener->on_clock_advanced();
    return true;
  }

  void add_listener(ClockListener* listener) {
    std::lock_guard guard(mutex_);
    listeners_.push_back(listener);
  }
  void remove_listener(ClockListener* listener) {
    std::lock_guard guard(mutex_);
    listeners_.erase(std::remove(listeners_.begin(), listeners_.end(), listener), listeners_.end());
  }

 private:
  void move_to(time_point when) {
    std::int64_t target = when.time_since_epoch().count();
    std::int64_t current = now_.load(std::memory_order_relaxed);  // only a CAS seed
    // Release: see now(). A max() by CAS: two movers never take time backwards.
    while (current < target &&
           !now_.compare_exchange_weak(current, target, std::memory_order_release,
                                       std::memory_order_relaxed)) {
    }
  }
  void notify() {
    std::lock_guard guard(mutex_);
    for (ClockListener* listener : listeners_) listener->on_clock_advanced();
  }

  std::atomic<std::int64_t> now_;
  std::atomic<bool> auto_advance_{false};
  std::mutex mutex_;
  std::vector<ClockListener*> listeners_;
};

}  // namespace weft::detail
