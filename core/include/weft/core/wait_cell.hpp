#pragma once
// The wait cell: the one atomic that decides who resumes a suspended task.
//
// A task that suspends on a resource (a timer, a channel, a lock, an event, another
// task's completion) first *arms* its cell: a new generation in state WAITING. It then
// hands (task, generation) to the resource. Later exactly one of two parties wins the
// CAS that ends the wait:
//   * the resource: WAITING -> WOKEN (try_wake): the value, lock, permit or completion
//     has been handed over, and the wait returns normally;
//   * a canceller: WAITING -> CANCELLED (try_cancel): the wait throws CancelledError.
// The winner reschedules the task (TaskStateWord::transition_to_notified); the loser
// does nothing. A resource that loses skips the waiter and hands the item to the next
// one, so nothing is lost.
//
// Layout: generation << 2 | status. The generation makes a late wake-up harmless: a
// resource still holding (task, g) after the task moved on to wait number g+1 fails its
// CAS, because it expects generation g. 62 bits of generation never wrap in practice.
//
// The cell lives in the task header, not in the awaiting frame, so a canceller holding
// a reference to the task can always touch it, whatever the task is doing.
//
// Only the task itself (while its worker owns it) arms the cell. Anyone may try_wake
// or try_cancel.
#include <atomic>
#include <cassert>
#include <cstdint>

namespace weft::detail {

class WaitCell {
 public:
  enum Status : std::uint64_t { IDLE = 0, WAITING = 1, WOKEN = 2, CANCELLED = 3 };
  static constexpr std::uint64_t STATUS_MASK = 0b11;

  // The task, before publishing itself to a resource. Returns the new generation.
  // seq_cst: the task loads its CANCEL_REQUESTED bit right after (seq_cst); a
  // canceller sets that bit (seq_cst RMW) then loads this cell (seq_cst): one of the two
  // sees the other, so a cancel racing with the start of a wait is never lost.
  std::uint64_t arm() noexcept {
    // Relaxed read: only the owning task writes a new generation.
    std::uint64_t generation = (word_.load(std::memory_order_relaxed) >> 2) + 1;
    word_.store(generation << 2 | WAITING, std::memory_order_seq_cst);
    return generation;
  }

  // The resource. True if it won: the task's wait for `generation` completes normally.
  // Release hands the resource's writes (the value handed over) to the task
  // (pairs with the acquire in status()); acquire orders after the task's arm().
  bool try_wake(std::uint64_t generation) noexcept {
    std::uint64_t expected = generation << 2 | WAITING;
    // seq_cst rather than acq_rel, on failure too: see rearm_after_forward. The case
    // that matters there is a try_wake that *fails* on CANCELLED; with a relaxed failure
    // order its read would not be part of the seq_cst order and the store-buffer pair
    // would not hold in the C++ model (x86's failed lock cmpxchg is a full barrier
    // anyway, so this costs nothing there). Found by a review.
    return word_.compare_exchange_strong(expected, generation << 2 | WOKEN,
                                         std::memory_order_seq_cst, std::memory_order_seq_cst);
  }

  // try_wake for a resource that kept only the low 32 bits of the generation (a timer in
  // a sleeping frame, one word smaller). Sound only where the resource's registration
  // is withdrawn before the task arms its next wait, so that while the resource may
  // still act the cell holds the registered generation or an ended state of it, never
  // a later generation: the timers, whose owners cancel them before moving on. Then
  // the full generation is the cell's own. Relaxed load: the CAS in try_wake decides,
  // and whoever registered the resource did so after arm() and published it to this
  // caller (the timer mutex), so the load sees that generation or a state of it.
  bool try_wake_low32(std::uint32_t generation_low) noexcept {
    const std::uint64_t generation = word_.load(std::memory_order_relaxed) >> 2;
    assert(static_cast<std::uint32_t>(generation) == generation_low &&
           "try_wake_low32: the task moved on to another wait while the resource was registered");
    if (static_cast<std::uint32_t>(generation) != generation_low) return false;
    return try_wake(generation);
  }

  // A canceller: cancels the current wait if one is in progress, whatever its
  // generation. True if it won. seq_cst load: the Dekker pair described at arm().
  bool try_cancel() noexcept {
    std::uint64_t cur = word_.load(std::memory_order_seq_cst);
    while ((cur & STATUS_MASK) == WAITING) {
      if (word_.compare_exchange_weak(cur, (cur & ~STATUS_MASK) | CANCELLED,
                                      std::memory_order_acq_rel, std::memory_order_seq_cst))
        return true;
    }
    return false;
  }

  // As try_cancel(), returning the generation whose wait it cancelled, 0 if none.
  std::uint64_t try_cancel_current() noexcept {
    std::uint64_t cur = word_.load(std::memory_order_seq_cst);
    while ((cur & STATUS_MASK) == WAITING) {
      if (word_.compare_exchange_weak(cur, (cur & ~STATUS_MASK) | CANCELLED,
                                      std::memory_order_seq_cst, std::memory_order_seq_cst))
        return cur >> 2;
    }
    return 0;
  }

  // The canceller that won generation g and chose not to end the wait (it forwarded
  // the cancellation to what the task awaits): WAITING again, for the same g, so the
  // resource can still wake it. seq_cst: the canceller then re-reads the resource's
  // state (seq_cst); the resource's own seq_cst update then try_wake make a
  // store-buffer pair with it, so a completion that failed on CANCELLED is seen.
  void rearm_after_forward(std::uint64_t generation) noexcept {
    [[maybe_unused]] std::uint64_t expected = generation << 2 | CANCELLED;
    [[maybe_unused]] bool rearmed = word_.compare_exchange_strong(
        expected, generation << 2 | WAITING, std::memory_order_seq_cst, std::memory_order_relaxed);
    assert(rearmed && "rearm_after_forward: the wait was not cancelled by this caller");
  }

  // The same, for one known generation only (the task cancelling its own fresh wait).
  bool try_cancel(std::uint64_t generation) noexcept {
    std::uint64_t expected = generation << 2 | WAITING;
    return word_.compare_exchange_strong(expected, generation << 2 | CANCELLED,
                                         std::memory_order_acq_rel, std::memory_order_relaxed);
  }

  // The task, after it was resumed: how its wait ended. Acquire: pairs with the
  // release of the winning CAS, so the handed-over value is visible.
  Status status() const noexcept {
    return static_cast<Status>(word_.load(std::memory_order_acquire) & STATUS_MASK);
  }

 private:
  std::atomic<std::uint64_t> word_{0};
};

}  // namespace weft::detail
