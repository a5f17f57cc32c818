#pragma once
// Idle-worker coordination (after Tokio's scheduler/multi_thread/idle.rs).
//
// One atomic word counts the workers that are *searching* (looking for work to steal,
// low 16 bits) and the workers that are *unparked* (not asleep, high 16 bits). A list
// of sleepers, under a lock, names the parked workers.
//
// Rules
//   * At most half the workers search at once (transition_worker_to_searching).
//   * Whoever makes work visible (a push to a deque or the injector) then calls
//     worker_to_notify(): it wakes one sleeper, and counts it as unparked and searching
//     at once, only when nobody searches and somebody sleeps. A searcher will find the
//     work, so waking another would only add contention.
//   * A searcher that finds work leaves the search; if it was the last searcher and
//     more work is visible, it wakes another worker.
//   * A worker parks only after transition_worker_to_parked. If nobody searches once it
//     is counted parked (it was the last searcher, or it was not searching and nobody
//     else was), it looks at every queue once more and wakes a worker if any holds work.
//
// Why no wake-up is lost: the pusher does [push; seq_cst fence; load state] and a
// worker that stops searching or parks does [seq_cst RMW on state; seq_cst fence; look
// at the queues]. By the fences' total order one of them sees the other: either the
// pusher sees the new state (no searcher, one more sleeper) and wakes a sleeper, or the
// worker sees the work. A pusher that saw a searcher relies on that searcher, which
// looks at the queues again when it stops. A pusher that saw nobody searching and
// everyone unparked wakes nobody, and relies on the next worker to park: that one looks
// again even if it never searched. It may not have: the cap on searchers refuses a
// worker out of work when half the workers search already, and it then goes straight
// to park. (Before this rule, a worker so refused in the runtime's first moments parked
// without looking while the other, having pushed a fork-join child, waited for a thief:
// the child sat in the busy worker's deque with the only thief asleep.)
#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

#include <weft/scheduler/fork_job.hpp>

namespace weft::detail {

class Idle {
 public:
  explicit Idle(unsigned workers) : workers_(workers), state_(workers << UNPARKED_SHIFT) {
    sleepers_.reserve(workers);
  }

  // After making work visible. Returns the worker to unpark, if any.
  std::optional<unsigned> worker_to_notify() {
    // Orders the push of the work before the load of the counters; pairs with the
    // fence in Worker::park after transition_worker_to_parked (see the essay).
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (!should_wake(state_.load(std::memory_order_relaxed))) return std::nullopt;
    std::lock_guard guard(lock_);
    // Under the lock the sleeper list and the unparked count change together.
    if (!should_wake(state_.load(std::memory_order_relaxed)) || sleepers_.empty())
      return std::nullopt;
    unsigned worker = sleepers_.back();
    sleepers_.pop_back();
    // seq_cst: the woken worker is counted as searching before anyone reads the word.
    state_.fetch_add(ONE_SEARCHING | ONE_UNPARKED, std::memory_order_seq_cst);
    return worker;
  }

  // A worker out of local work wants to steal. False if half the workers search already.
  bool transition_worker_to_searching() {
    // Relaxed: the cap is a heuristic; an occasional extra searcher is harmless.
    std::uint32_t state = state_.load(std::memory_order_relaxed);
    if (2 * searching(state) >= workers_) return false;
    // seq_cst: part of the Dekker pair with worker_to_notify's fence.
    state_.fetch_add(ONE_SEARCHING, std::memory_order_seq_cst);
    return true;
  }

  // A searcher found work. Returns true if it was the last searcher.
  bool transition_worker_from_searching() {
    // seq_cst: a pusher that reads the decremented count must also see our queues.
    std::uint32_t prev = state_.fetch_sub(ONE_SEARCHING, std::memory_order_seq_cst);
    return searching(prev) == 1;
  }

  // The worker goes to sleep. Returns true if nobody searches any more (it was the last
  // searcher, or it was not searching and nobody was): it must then look at the queues
  // once more (see the essay).
  bool transition_worker_to_parked(unsigned worker, bool was_searching) {
    std::lock_guard guard(lock_);
    std::uint32_t dec = ONE_UNPARKED | (was_searching ? ONE_SEARCHING : 0);
    // seq_cst: the Dekker pair with worker_to_notify (see the essay).
    std::uint32_t prev = state_.fetch_sub(dec, std::memory_order_seq_cst);
    sleepers_.push_back(worker);
    return searching(prev) == (was_searching ? 1u : 0u);
  }

  // After a wake-up: true if this worker was taken off the sleeper list by a notifier
  // (which counted it as unparked and searching).
  bool was_notified(unsigned worker) {
    std::lock_guard guard(lock_);
    for (unsigned sleeper : sleepers_)
      if (sleeper == worker) return false;
    return true;
  }

  // A sleeper woke by itself (a timer deadline, shutdown): takes itself off the list
  // and counts itself unparked, not searching. Returns false if a notifier had already
  // done so (then it is counted as searching).
  bool unpark_self(unsigned worker) {
    std::lock_guard guard(lock_);
    for (auto it = sleepers_.begin(); it != sleepers_.end(); ++it) {
      if (*it == worker) {
        sleepers_.erase(it);
        // seq_cst: as the other transitions of the counters.
        state_.fetch_add(ONE_UNPARKED, std::memory_order_seq_cst);
        return true;
      }
    }
    return false;
  }

  // A parked worker to hand the timer-driver role to, if any. It stays on the sleeper
  // list and counted parked: unparked, it finds itself not notified, parks again and
  // takes the role (Worker::sleep_parked). The oldest sleeper: notifies take the newest.
  std::optional<unsigned> any_sleeper() { return any_sleeper_except(-1); }

  // As any_sleeper, passing over `excluded` (a worker index, or -1): the oldest sleeper
  // that is not the timer driver, to hand the deputy's role to (RuntimeCore::hand_on_deputy).
  std::optional<unsigned> any_sleeper_except(int excluded) {
    std::lock_guard guard(lock_);
    for (unsigned sleeper : sleepers_)
      if (static_cast<int>(sleeper) != excluded) return sleeper;
    return std::nullopt;
  }

  // Every worker is parked (Relaxed: a hint for auto-advance, re-checked by its caller).
  bool all_parked() const { return unparked(state_.load(std::memory_order_relaxed)) == 0; }

  // The counters themselves, for the fork-join fast path's relaxed look (fork_job.hpp).
  const std::atomic<std::uint32_t>& state_word() const noexcept { return state_; }

  unsigned searching_now() const {
    return searching(state_.load(std::memory_order_relaxed));  // Relaxed: statistics only
  }

 private:
  static constexpr unsigned UNPARKED_SHIFT = kIdleUnparkedShift;
  static constexpr std::uint32_t ONE_SEARCHING = 1;
  static constexpr std::uint32_t ONE_UNPARKED = 1u << UNPARKED_SHIFT;
  static std::uint32_t searching(std::uint32_t state) { return state & kIdleSearchingMask; }
  static std::uint32_t unparked(std::uint32_t state) { return state >> UNPARKED_SHIFT; }
  bool should_wake(std::uint32_t state) const { return idle_wake_may_be_needed(state, workers_); }

  const unsigned workers_;
  std::atomic<std::uint32_t> state_;
  std::mutex lock_;
  std::vector<unsigned> sleepers_;
};

}  // namespace weft::detail
