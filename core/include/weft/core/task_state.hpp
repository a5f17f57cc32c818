#pragma once
// The task state word: lifecycle, wake-up and cancellation flags and the reference
// count of one task in a single std::atomic<uint64_t>, so that one CAS decides every
// race between the worker running a task, whoever wakes it, whoever cancels it and
// whoever awaits it (the model is Tokio's runtime/task/state.rs).
//
// Bit layout
//   bits 0-1   lifecycle   IDLE (suspended, in no queue) | SCHEDULED (in exactly one
//                          queue) | RUNNING (a worker is inside resume()) | COMPLETE
//   bit  2     NOTIFIED    woken while RUNNING: the worker reschedules it once the
//                          coroutine has suspended, instead of leaving it IDLE
//   bit  3     CANCEL_REQUESTED  an undelivered cancellation request is pending
//   bit  4     JOIN_INTEREST     a JoinHandle exists
//   bit  5     JOIN_WAITER       someone (a task or a blocked thread) registered in the
//                                task's join slot and must be woken at completion
//   bit  6     STARTED     the body has begun running (a task cancelled before this bit
//                          is set never runs its body)
//   bit  7     JOIN_CLAIMED      an awaiter owns the join slot and is writing it (set by
//                                claim_join_slot, turned into JOIN_WAITER by set_join_waiter)
//   bits 8-15  reserved
//   bits 16-63 reference count (REF_ONE per reference)
//
// Who may change which bits
//   * lifecycle SCHEDULED -> RUNNING, RUNNING -> IDLE | SCHEDULED | COMPLETE, NOTIFIED
//     cleared, STARTED set: only the worker that popped the task from a queue. It is
//     the single owner of the coroutine while the lifecycle is SCHEDULED or RUNNING.
//   * IDLE -> SCHEDULED and NOTIFIED set (transition_to_notified): anyone who won the
//     right to wake the task (the CAS on its WaitCell). Exactly one party does this
//     per suspension, so a task is never in two queues.
//   * CANCEL_REQUESTED: set by any thread while not COMPLETE; cleared by the task
//     itself when the request is delivered, by uncancel (the task's own, or
//     JoinHandle::uncancel from any thread, under cancel_lock), and at completion.
//   * JOIN_INTEREST: set at spawn, cleared once by the JoinHandle's destructor.
//   * JOIN_CLAIMED: set by an awaiter before it writes the join slot, if neither
//     JOIN_CLAIMED nor JOIN_WAITER is set (a second awaiter finds one and is told
//     Busy without touching the slot, which the completer may be reading); turned into
//     JOIN_WAITER by the same awaiter. Left set if COMPLETE came first: it then blocks
//     nobody, as every later awaiter sees COMPLETE first.
//   * JOIN_WAITER: set and cleared by the registering awaiter while not COMPLETE;
//     once COMPLETE is set, the completer owns the join slot and the flag is frozen.
//   * references: whoever holds one may add one; the one that drops the last frees
//     the frame.
//
// Every transition is a function below with its pre- and post-condition.
#include <atomic>
#include <cassert>
#include <cstdint>

namespace weft::detail {

class TaskStateWord {
 public:
  using Bits = std::uint64_t;

  static constexpr Bits LIFECYCLE_MASK = 0b11;
  static constexpr Bits IDLE = 0;
  static constexpr Bits SCHEDULED = 1;
  static constexpr Bits RUNNING = 2;
  static constexpr Bits COMPLETE = 3;
  static constexpr Bits NOTIFIED = Bits{1} << 2;
  static constexpr Bits CANCEL_REQUESTED = Bits{1} << 3;
  static constexpr Bits JOIN_INTEREST = Bits{1} << 4;
  static constexpr Bits JOIN_WAITER = Bits{1} << 5;
  static constexpr Bits STARTED = Bits{1} << 6;
  static constexpr Bits JOIN_CLAIMED = Bits{1} << 7;
  static constexpr unsigned REF_SHIFT = 16;
  static constexpr Bits REF_ONE = Bits{1} << REF_SHIFT;
  static constexpr Bits FLAGS_MASK = REF_ONE - 1;

  // A decoded copy of the word.
  struct Snapshot {
    Bits bits;
    Bits lifecycle() const noexcept { return bits & LIFECYCLE_MASK; }
    bool is_complete() const noexcept { return lifecycle() == COMPLETE; }
    bool has(Bits flag) const noexcept { return (bits & flag) != 0; }
    std::uint64_t refs() const noexcept { return bits >> REF_SHIFT; }
  };

  // Post: SCHEDULED, STARTED clear, `refs` references, JOIN_INTEREST iff a handle.
  TaskStateWord(std::uint64_t refs, bool join_interest) noexcept
      : word_(SCHEDULED | (join_interest ? JOIN_INTEREST : 0) | refs * REF_ONE) {}

  Snapshot load(std::memory_order order = std::memory_order_acquire) const noexcept {
    return {word_.load(order)};
  }

  // Pre: SCHEDULED, called by the worker that popped the task.
  // Post: RUNNING, NOTIFIED clear, STARTED set. Returns the word before.
  // Acquire: synchronises with the release in transition_to_notified / spawn's push,
  // so the worker sees everything written before the task was queued.
  Snapshot transition_to_running() noexcept {
    Bits cur = word_.load(std::memory_order_relaxed);  // only a CAS seed; the CAS orders
    for (;;) {
      assert((cur & LIFECYCLE_MASK) == SCHEDULED && "transition_to_running: task not SCHEDULED");
      Bits next = (cur & ~(LIFECYCLE_MASK | NOTIFIED)) | RUNNING | STARTED;
      if (word_.compare_exchange_weak(cur, next, std::memory_order_acquire,
                                      std::memory_order_relaxed))
        return {cur};
    }
  }

  enum class IdleOutcome { Idle, Reschedule };
  // Pre: RUNNING, the coroutine has suspended (not at final suspend).
  // Post: IDLE, or SCHEDULED with NOTIFIED cleared if a wake came while running (then
  // the caller must push it to a queue). Release: the coroutine's writes before it
  // suspended are visible to whoever wakes it next (pairs with the acquire RMW in
  // transition_to_notified and transition_to_running).
  IdleOutcome transition_to_idle() noexcept {
    Bits cur = word_.load(std::memory_order_relaxed);  // only a CAS seed
    for (;;) {
      assert((cur & LIFECYCLE_MASK) == RUNNING && "transition_to_idle: task not RUNNING");
      const bool notified = (cur & NOTIFIED) != 0;
      Bits next = (cur & ~(LIFECYCLE_MASK | NOTIFIED)) | (notified ? SCHEDULED : IDLE);
      if (word_.compare_exchange_weak(cur, next, std::memory_order_acq_rel,
                                      std::memory_order_relaxed))
        return notified ? IdleOutcome::Reschedule : IdleOutcome::Idle;
    }
  }

  enum class NotifyOutcome { Submit, DoNothing };
  // Any thread that has won the right to wake the task.
  // IDLE -> SCHEDULED: returns Submit, the caller pushes the task to a queue.
  // RUNNING -> RUNNING|NOTIFIED: the running worker reschedules it (transition_to_idle).
  // SCHEDULED or COMPLETE: nothing to do.
  // acq_rel: acquire pairs with the release in transition_to_idle (the waker sees the
  // suspended coroutine's writes), release hands the waker's writes to the worker that
  // will run the task (pairs with the acquire in transition_to_running).
  NotifyOutcome transition_to_notified() noexcept {
    Bits cur = word_.load(std::memory_order_relaxed);  // only a CAS seed
    for (;;) {
      Bits life = cur & LIFECYCLE_MASK;
      Bits next;
      if (life == IDLE)
        next = (cur & ~LIFECYCLE_MASK) | SCHEDULED;
      else if (life == RUNNING)
        next = cur | NOTIFIED;
      else
        return NotifyOutcome::DoNothing;
      if (word_.compare_exchange_weak(cur, next, std::memory_order_acq_rel,
                                      std::memory_order_relaxed))
        return life == IDLE ? NotifyOutcome::Submit : NotifyOutcome::DoNothing;
    }
  }

  // Pre: RUNNING (the body has finished) or SCHEDULED and never STARTED (cancelled
  // before its first run). Post: COMPLETE, CANCEL_REQUESTED clear. Returns the word
  // before: its JOIN_WAITER says whether the join slot must be woken.
  // Release publishes the result slot to whoever sees COMPLETE (pairs with the acquire
  // loads in JoinHandle and with set_join_waiter's CAS); acquire pairs with the release
  // of set_join_waiter so the completer reads the join slot written before it. seq_cst:
  // with the completer's following try_wake on the awaiter's WaitCell it forms a
  // store-buffer pair with a canceller's rearm_after_forward + load of this word.
  Snapshot transition_to_complete() noexcept {
    Bits cur = word_.load(std::memory_order_relaxed);  // only a CAS seed
    for (;;) {
      assert((cur & LIFECYCLE_MASK) != COMPLETE && "transition_to_complete: completed twice");
      Bits next = (cur & ~(LIFECYCLE_MASK | NOTIFIED | CANCEL_REQUESTED)) | COMPLETE;
      if (word_.compare_exchange_weak(cur, next, std::memory_order_seq_cst,
                                      std::memory_order_relaxed))
        return {cur};
    }
  }

  // Any thread. Sets CANCEL_REQUESTED unless COMPLETE; returns the word before (the
  // caller tells "already complete" and "already pending" from it).
  // seq_cst: the canceller then loads the task's WaitCell; the task stores its cell
  // (seq_cst) before loading this word. One of the two sees the other (Dekker), so a
  // task that suspends as a cancel arrives is always woken.
  Snapshot request_cancel() noexcept {
    // Acquire: a caller told "already complete" may go on to read the result.
    Bits cur = word_.load(std::memory_order_acquire);
    for (;;) {
      if ((cur & LIFECYCLE_MASK) == COMPLETE) return {cur};
      if (word_.compare_exchange_weak(cur, cur | CANCEL_REQUESTED, std::memory_order_seq_cst,
                                      std::memory_order_acquire))
        return {cur};
    }
  }

  // The task itself (delivery) or uncancel: clears CANCEL_REQUESTED, returns whether
  // it was set. acq_rel: orders the message read after the canceller's writes.
  bool take_cancel_request() noexcept {
    return (word_.fetch_and(~CANCEL_REQUESTED, std::memory_order_acq_rel) & CANCEL_REQUESTED) != 0;
  }

  // Cheap check on every suspension point. seq_cst: the Dekker pair described at
  // request_cancel (a relaxed load would not be ordered after the cell store).
  bool cancel_requested_seq_cst() const noexcept {
    return (word_.load(std::memory_order_seq_cst) & CANCEL_REQUESTED) != 0;
  }
  bool cancel_requested_relaxed() const noexcept {
    // Hint only (fast path of await_transform); a true answer is confirmed by
    // take_cancel_request, a false one by the seq_cst check after arming a wait.
    return (word_.load(std::memory_order_relaxed) & CANCEL_REQUESTED) != 0;
  }

  enum class JoinRegistration { Registered, Complete, Busy };
  // The awaiter, BEFORE writing the join slot: claims it. Registered: the slot is ours
  // to write, then set_join_waiter. Complete: the result is ready (acquire). Busy:
  // another awaiter holds the slot (misuse); the slot must not be touched, since the
  // completer may be reading the other awaiter's registration in it.
  JoinRegistration claim_join_slot() noexcept {
    Bits cur = word_.load(std::memory_order_acquire);  // acquire: may return Complete from it
    for (;;) {
      if ((cur & LIFECYCLE_MASK) == COMPLETE) return JoinRegistration::Complete;
      if (cur & (JOIN_WAITER | JOIN_CLAIMED)) return JoinRegistration::Busy;
      if (word_.compare_exchange_weak(cur, cur | JOIN_CLAIMED, std::memory_order_acquire,
                                      std::memory_order_acquire))
        return JoinRegistration::Registered;
    }
  }

  // The awaiter, after claim_join_slot and writing the join slot. Sets JOIN_WAITER (and
  // drops the claim) unless COMPLETE (then the result is ready; the claim stays, it
  // blocks nobody: every later awaiter sees COMPLETE first).
  // acq_rel: release publishes the join slot to the completer (pairs with the acquire
  // in transition_to_complete); acquire on COMPLETE makes the result visible.
  JoinRegistration set_join_waiter() noexcept {
    Bits cur = word_.load(std::memory_order_acquire);  // acquire: may return Complete from it
    for (;;) {
      if ((cur & LIFECYCLE_MASK) == COMPLETE) return JoinRegistration::Complete;
      if (cur & JOIN_WAITER) return JoinRegistration::Busy;
      if (word_.compare_exchange_weak(cur, (cur & ~JOIN_CLAIMED) | JOIN_WAITER, std::memory_order_acq_rel,
                                      std::memory_order_acquire))
        return JoinRegistration::Registered;
    }
  }

  // The awaiter withdraws its registration. Returns false if COMPLETE was set first:
  // the completer owns the join slot and will (or did) try to wake it.
  // acquire on failure: the result is visible to the caller.
  bool unset_join_waiter() noexcept {
    Bits cur = word_.load(std::memory_order_acquire);
    for (;;) {
      if ((cur & LIFECYCLE_MASK) == COMPLETE) return false;
      assert((cur & JOIN_WAITER) && "unset_join_waiter: not registered");
      if (word_.compare_exchange_weak(cur, cur & ~JOIN_WAITER, std::memory_order_acq_rel,
                                      std::memory_order_acquire))
        return true;
    }
  }

  // The JoinHandle's destructor. Relaxed is enough: the handle's reference, dropped
  // right after with release, orders everything the handle did.
  void drop_join_interest() noexcept {
    word_.fetch_and(~JOIN_INTEREST, std::memory_order_relaxed);
  }

  // Pre: the caller holds a reference. Relaxed: a new reference is made from an
  // existing one, which keeps the task alive meanwhile (as std::shared_ptr does).
  void ref_inc() noexcept { word_.fetch_add(REF_ONE, std::memory_order_relaxed); }

  // Returns true if this dropped the last reference: the caller frees the task.
  // acq_rel: release so that this holder's uses happen before the free; acquire so
  // the freeing thread sees every other holder's uses.
  bool ref_dec() noexcept {
    Bits prev = word_.fetch_sub(REF_ONE, std::memory_order_acq_rel);
    assert((prev >> REF_SHIFT) >= 1 && "ref_dec: reference count underflow");
    return (prev >> REF_SHIFT) == 1;
  }

 private:
  std::atomic<Bits> word_;
};

}  // namespace weft::detail
