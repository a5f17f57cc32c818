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
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
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
