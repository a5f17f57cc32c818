#pragma once
// ForkJoin: the engine under gather(Task...): runs n lazy children in parallel on the
// pool, child stealing, at the cost of an inline co_await when nobody steals.
//
// The fast path (no thief, no failure) touches no atomic read-modify-write, no lock
// and allocates nothing beyond the children's frames:
//   1. start(): children 1..n-1 are pushed, last first, onto the calling worker's deque
//      as fork jobs (scheduler/fork_job.hpp); child 0 runs inline by symmetric transfer.
//   2. child_ended(i), from a child's final suspension: the next child is popped back
//      from the bottom of the deque (it is there unless somebody took it) and runs
//      inline; after the last one, the gathering coroutine resumes.
// Inline children run in the gathering task (promise.task_ is its header), exactly as
// a co_await of a Task does: they share its cancellation, and `this_task::` names it.
//
// The slow path begins when a worker's loop takes a fork job (a thief's steal, or the
// gatherer's own worker after the inline chain suspended or moved on): start_fork_job
// makes the child a *helper* task of its own (a header whose root is the child's frame,
// borrowed: the frame stays the gather's) and queues it. From then on the ForkJoinSlow
// record (allocated once, installed by CAS) and its mutex hold everything shared:
//   * helpers[i]: child i's helper, with a reference the gather holds until the end;
//   * detached_ended / detached_expected: a helper's end is counted by its completion
//     link (run by the runtime for every way a task ends, also cancelled before its
//     first run); once the inline chain has nothing left to run it waits on the
//     gathering task's WaitCell for the count to reach the number of children it did
//     not run, and the helper that completes the count wakes it;
//   * decisive: the first child to fail (an exception, a cancellation, or a child
//     that never ran). It cancels the others: helpers directly, children not yet
//     started are not started, and a child running inline is reached by a cancel
//     request on the gathering task itself ("marked"), withdrawn at the end. That
//     request is internal (request_internal_cancel): it leaves the task's stop token
//     alone. An outside cancel that the inline child took together with it is made
//     pending again when it is withdrawn (withdraw_mark).
//   * The gathering task's own cancel while it waits reaches the WaitForward hook,
//     which cancels every helper and re-arms the wait: the gather never returns before
//     its children ended, also during shutdown.
// The gathering coroutine, resumed, takes and drops the mutex once before reading
// anything: whoever woke it may still be inside its last critical section.
//
// Out of memory on the slow path. start_fork_job is noexcept (a worker's loop calls
// it) and allocates: the record, the helper's header, its extras and its completion
// link. If any of these fails, the child fails with that std::bad_alloc without running
// its body, as if its body had thrown it (its promise's failure_): it decides the
// gather like any failing child (the others are cancelled, the gather rethrows it).
// Everything is allocated before anything is published, so a failure has nothing to
// undo but the header (discarded unqueued, with no link that would count an end).
// With a record the failure is counted as an ended helper (detached_ended,
// StartFailed). Without one (its own allocation failed) there is nowhere to count it,
// and the failure must still reach the inline chain, which may be blocked in a child
// that waits for this one; waiting for memory, or handing the job back to the owner
// (whose chain may not take anything until its running child ends) could hang. So the
// record's job is deferred to whoever makes it: `state_` holds, instead of a record, a
// list of the children whose start failed (linked through their Child, which the
// thief owns and whose `frame` nobody reads again), tagged kFailedStarts. Whoever
// makes the record (make_slow: a later thief, or the gathering task at its next child,
// failure or wait, all of which need the record anyway) counts the listed children
// into it before installing it, by a CAS from exactly the list it counted. The owner
// cannot end before that: the gather waits for every child it did not run, and a
// listed child is counted only once it is in the record. The gathering task itself
// cannot make the record until the inline chain reaches a child boundary, so the
// first child listed (the push onto 0, the "marker") makes the request on the owner
// task that fail_locked would have made (inline_active holds: it is cleared only with
// a record). The request is made after the push (which decides who the marker is) but
// the marker's child is not counted until it is done: the push sets kMarkPending, and
// the record's maker, seeing it, sets owner_marked and leaves the marker's child to the
// marker. The marker then either clears kMarkPending by CAS, with the request's outcome
// in orphan_mark_ (read by the maker after its acquire of the cleared word), or, if a
// record was installed meanwhile, reports it and its child through the record. (Then the
// request may come after the inline chain ended: the gathering task waits in this
// gather, for the marker's child among others, and the request reaches the wait's hook
// as an outside cancel would; withdraw_mark withdraws it all the same. Both orders,
// and a failed start listed behind the marker's, are made deterministic in
// tests/api/test_gather_out_of_memory_lists.cpp.)
// A record that cannot be made on the gathering task's own thread still terminates
// (slow(): its inline chain cannot go on without one).
//
// Out of memory in start(). The burst push of children 1..n-1 grows the worker's deque
// when they do not fit; the growth may fail, leaving the deque unchanged. Then nothing
// was queued and no child has run: the gather ends at once with that std::bad_alloc
// (state_ = kQueueFull, thrown by finish_slow), and the children's frames are destroyed
// with their Tasks, unstarted (tests/api/test_gather_out_of_memory_push.cpp).
//
// What the gathering coroutine sees at the end (finish()): the decisive failure if it
// is not a cancellation; else the gathering task's own undelivered cancel request; else
// a cancelled child as CancelledError when the gathering task is being cancelled
// (cancelling() > 0), TaskCancelled otherwise; else the values.
#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <type_traits>
#include <vector>

#include <weft/detail/promise.hpp>
#include <weft/scheduler/fork_job.hpp>
#include <weft/scheduler/runtime_core.hpp>

namespace weft::detail {

class ForkJoin;

struct ForkJoinSlow : WaitForward {
  explicit ForkJoinSlow(std::size_t count) : helpers(count, nullptr), never_ran(count, 0) {}
  std::mutex lock;
  std::vector<TaskHeader*> helpers;       // [lock] with a reference each
  std::vector<unsigned char> never_ran;   // [lock] child i's body never ran
  std::size_t detached_ended = 0;         // [lock]
  std::size_t detached_expected = 0;      // [lock] valid once owner_waiting
  std::uint64_t generation = 0;           // [lock] the owner's wait, valid once owner_waiting
  bool owner_waiting = false;             // [lock]
  bool inline_active = true;              // [lock] the inline chain still runs children
  bool owner_marked = false;              // [lock] we asked the owner task to cancel (see above)
  InternalCancel mark;                    // [lock] what that request met (withdraw_mark)
  long decisive = -1;                     // [lock]
  // Set (under the lock) once the children are being cancelled; read without it by the
  // inline chain before it starts a child. Relaxed there: a child started just before
  // the flag is set is cancelled through the owner task instead.
  std::atomic<bool> cancelling{false};
};

class ForkJoin final {
 public:
  // One child: its frame and promise (set by the caller before start). The ForkJoin
  // is found through the promise (fork_parent_), the index by a search (cold paths).
  struct Child final : ForkJob {
    PromiseBase* promise = nullptr;
    union {
      std::coroutine_handle<> frame{};
      Child* next_failed;  // once its start failed: the next in state_'s list (see above)
    };
  };
  static_assert(std::is_trivially_destructible_v<Child>);

  // `children[i].promise/frame` are set by the caller. The first failure cancels the
  // others (gather's rule; gather(return_exceptions, ...) spawns tasks instead).
  ForkJoin(Child* children, std::size_t count, TaskHeader& owner) noexcept
      : children_(children), count_(count), owner_(owner) {}
  ForkJoin(const ForkJoin&) = delete;
  ForkJoin& operator=(const ForkJoin&) = delete;
  ~ForkJoin() {
    // Relaxed: the gathering coroutine, after finish() synchronised with everyone.
    if (state_.load(std::memory_order_relaxed) != 0) release_slow();
  }

  // await_suspend: binds the children, queues 1..n-1 and runs child 0.
  std::coroutine_handle<> start(std::coroutine_handle<> parent) noexcept {
    parent_ = parent;
    for (std::size_t i = 0; i < count_; ++i) {
      const Child& child = children_[i];
      child.promise->task_ = &owner_;
      child.promise->set_fork_parent(this);
    }
    // Last first, so that child 1 is at the bottom: the inline chain pops them in order.
    // (The last child's address in a local: the deque's slot stores could alias our
    // fields for all the compiler knows.)
    if (count_ > 1) {
      Child* const last = children_ + (count_ - 1);
      if (!push_fork_jobs(count_ - 1, [last](std::size_t i) -> ForkJob& { return *(last - i); })) {
        // The deque could not grow, and is unchanged: nothing was queued and no child
        // has run. The gather ends at once, with std::bad_alloc (finish_slow); the
        // children's frames are their Tasks' to destroy, as for any unstarted child.
        // Relaxed: nobody else knows this ForkJoin yet.
        state_.store(kQueueFull, std::memory_order_relaxed);
        return parent;
      }
    }
    next_ = 1;
    return children_[0].frame;
  }

  // From the child's final suspension (fork_child_ended): what its worker runs next.
  std::coroutine_handle<> child_ended(PromiseBase& child) noexcept {
    if (child.failed()) [[unlikely]] return failed_child_ended(child);
    // A helper's body ended: its completion link does the counting.
    if (child.task_ != &owner_) return std::noop_coroutine();
    return next_inline();
  }

  // await_resume, before the values are read: throws what the gather ends with.
  void finish() {
    // Acquire: pairs with the CAS that installed the record (make_slow).
    if (state_.load(std::memory_order_acquire) != 0) finish_slow();
  }

 private:
  // What the inline chain runs next. The skipping of children that must not start
  // (the gather is being cancelled) is out of line, and loops there: the common path
  // then keeps no value across a call, and the coroutine that inlines it saves fewer
  // registers at every entry (bench/README.md, fib).
  std::coroutine_handle<> next_inline() noexcept {
    // Every child ran on the inline chain: nothing else touches this ForkJoin.
    if (next_ == count_) return parent_;
    Child& child = children_[next_];
    if (!pop_fork_job(child)) return wait_for_detached();
    const std::size_t index = next_++;
    if (skipping_children()) [[unlikely]] return skip_unstarted_then_next(index);
    return child.frame;
  }

  // Whether a child taken back must not start: the children are being cancelled.
  bool skipping_children() const noexcept {
    // Acquire: pairs with the CAS that installed the record, or listed a failed start.
    // A listed failed start cancels the rest like a record's `cancelling`.
    const std::uintptr_t state = state_.load(std::memory_order_acquire);
    return state != 0 && (!is_record(state) || as_record(state)->cancelling.load(std::memory_order_relaxed));
  }

  // The cold paths (api/src/fork_join.cpp).
  friend void start_fork_job(ForkJob& job) noexcept;
  std::size_t index_of(const PromiseBase& child) const noexcept;
  static bool forward_owner_cancel(WaitForward& forward, TaskHeader& task, std::uint64_t generation);
  std::coroutine_handle<> wait_for_detached() noexcept;
  void skip_unstarted(std::size_t index) noexcept;
  // Out of line, for the reason given at next_inline; each returns what the chain runs
  // next.
  [[gnu::noinline, gnu::cold]] std::coroutine_handle<> skip_unstarted_then_next(std::size_t index) noexcept;
  [[gnu::noinline, gnu::cold]] std::coroutine_handle<> failed_child_ended(PromiseBase& child) noexcept;
  void child_failed(std::size_t index) noexcept;
  void fail_locked(ForkJoinSlow& slow, std::size_t index, std::vector<TaskHeader*>& to_cancel,
                   bool on_inline_chain) noexcept;
  static constexpr std::size_t kNoChild = ~std::size_t{0};
  static void collect_helpers_locked(ForkJoinSlow& slow, std::size_t except, std::vector<TaskHeader*>& to_cancel) noexcept;
  static void cancel_outside_lock(std::vector<TaskHeader*>& to_cancel) noexcept;
  // How a helper's child ended, for detached_ended: its body ran (its failure, if any,
  // was reported by child_ended), it never ran (cancelled before its first run, or never
  // queued), or its start failed (out of memory in start_fork_job: failure_ is set).
  enum class DetachedEnd { Ran, NeverRan, StartFailed };
  void detached_ended(std::size_t index, DetachedEnd how, const InternalCancel* marker_request = nullptr) noexcept;
  void start_failed(Child& child) noexcept;
  void mark_after_failed_start(std::size_t index) noexcept;
  void adopt_failed_starts(ForkJoinSlow& slow, std::uintptr_t state) const noexcept;
  ForkJoinSlow& make_slow();
  ForkJoinSlow& slow() noexcept;
  [[gnu::cold]] void finish_slow();
  void withdraw_mark();
  [[gnu::cold]] void release_slow() noexcept;

  friend struct ForkChildLink;

  Child* const children_;
  const std::size_t count_;
  TaskHeader& owner_;
  std::coroutine_handle<> parent_;
  std::size_t next_ = 1;  // [inline chain] the next child to take back from the deque

  // state_: 0, the record (a ForkJoinSlow*), or the children whose start failed before
  // any record existed: a Child* (linked by next_failed) | kFailedStarts, plus
  // kMarkPending while the first of them still makes its request on the owner task.
  // Once a record is installed it stays until the end (release_slow). kQueueFull (both
  // tags, no list): start() could not queue the children (out of memory growing the
  // deque), and nothing else ever happens to this ForkJoin.
  static constexpr std::uintptr_t kFailedStarts = 1;
  static constexpr std::uintptr_t kMarkPending = 2;
  static constexpr std::uintptr_t kTagMask = kFailedStarts | kMarkPending;
  static constexpr std::uintptr_t kQueueFull = kTagMask;
  static_assert(alignof(Child) > kTagMask && alignof(ForkJoinSlow) > kTagMask);
  static bool is_record(std::uintptr_t state) noexcept { return state != 0 && (state & kFailedStarts) == 0; }
  static ForkJoinSlow* as_record(std::uintptr_t state) noexcept { return reinterpret_cast<ForkJoinSlow*>(state); }
  static Child* failed_list(std::uintptr_t state) noexcept { return reinterpret_cast<Child*>(state & ~kTagMask); }
  std::atomic<std::uintptr_t> state_{0};
  // What the marker's request on the owner task met, while no record exists: written
  // by the marker before its release CAS that clears kMarkPending, read by the record's
  // maker only after an acquire of a word without it. Left uninitialised (a variant
  // member): the fast path pays nothing for it.
  union {
    InternalCancel orphan_mark_;
  };
};

// PromiseBase keeps a tag in a ForkJoin address's low bit (set_fork_parent).
static_assert(alignof(ForkJoin) >= 2);

}  // namespace weft::detail
