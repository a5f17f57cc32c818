#pragma once
// The task header: what the scheduler knows of one task. A spawned task is two blocks
// from the frame cache (core/frame_allocator.hpp): this header, made by spawn
// (create_task), and its root coroutine's frame, holding the promise and the result.
// Coroutines awaited inline, and fork-join children nobody stole, have no header of
// their own: they run in the header of the spawned task that awaits them
// (PromiseBase::task_). A stolen fork-join child gets a header whose root it borrows.
//
// Ownership rules
//   * `state` and `wait` are atomics, touched by anyone under their own protocols
//     (core/task_state.hpp, core/wait_cell.hpp).
//   * Fields marked [owner] are read and written only by whoever runs the task: the
//     worker that moved it to RUNNING, or the coroutine itself. The queue hand-off
//     (release push, acquire pop + transition_to_running) orders them between workers.
//   * Fields marked [spawn] are written once before the task is first queued and are
//     read-only afterwards.
//   * `join` is written by the registering awaiter after it claimed the slot
//     (JOIN_CLAIMED, so a second awaiter never writes it) and before it sets JOIN_WAITER
//     (release), and read by the completer after it set COMPLETE (acquire).
//   * asyncio's cancelling() count and whether a request was ever registered live in
//     `cancel_lock`'s own word (core/spin_lock_word.hpp), guarded by it.
//   * `registry_*` are guarded by the lock of the registry shard the task is in.
//   * `outcome` is written by the completer before COMPLETE (release), read by others
//     after seeing COMPLETE (acquire).
//   * The cold parts (a name, a cancel's message, a stop source, a completion link, a
//     cancelled outcome's message, a failure, block_on's flag) live in TaskExtras, made
//     on first need: most tasks never need one, and every task pays its header (a
//     sleeping one: bench/memory). Its fields keep the rules written beside them.
#include <atomic>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <memory>
#include <new>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>

#include <weft/core/spin_lock_word.hpp>
#include <weft/core/task_state.hpp>
#include <weft/core/wait_cell.hpp>
#include <weft/scheduler/fork_job.hpp>
#include <weft/scheduler/spawn_site.hpp>

namespace weft::detail {

class RuntimeCore;
struct TaskHeader;

// How a finished task ended.
enum class Outcome : std::uint8_t { Pending, Value, Exception, Cancelled };

// Who is registered to be woken when the task completes: an awaiting task, woken
// through its WaitCell for one wait generation (the registration holds a reference
// to that task, dropped by whoever ends the registration), or a thread blocked in
// block_on (`task` null), woken through TaskExtras::join_thread_done (the header's,
// so the completer never touches the blocked thread's stack; made by block_on before
// it registers). The completer stores 1 and wakes the thread, then stores 2 as its last
// touch of the header: the thread's JoinHandle keeps the header alive until it has
// seen 2 (before, it left at 1, and the wake could reach a freed header).
struct JoinSlot {
  TaskHeader* task = nullptr;
  std::uint64_t generation = 0;
};

// A link from something outside (a std::stop_token's callback, a task group's
// membership) tied to the task's life: destroyed by the completer, for every way a task
// ends (a value, a failure, a cancellation, also before its first run), before COMPLETE
// is set. task_group relies on that destructor as its "member ended" signal.
struct CompletionLink {
  virtual ~CompletionLink() = default;
};

// A wait whose cancellation is forwarded instead of ending it: awaiting another task's
// handle (not through shield). The canceller that wins the awaiting task's WaitCell
// finds this through TaskHeader::wait_forward, cancels `target` too, marks `forwarded`
// and re-arms the wait, so the awaiter resumes only when the target has finished and
// then throws its own CancelledError. Lives in the awaiting frame; touched by the
// canceller only while it owns the cell (the task cannot resume meanwhile).
//
// A wait on several tasks at once (a fork-join's children) sets `hook` instead of
// `target`: the canceller calls it while it owns the cell, and the hook cancels what the
// wait is for, re-arms the cell (rearm_after_forward) and returns whether everything
// awaited has already ended (the canceller then wakes the task). It runs also while the
// runtime shuts down: such a wait is structured and never ends before its children.
struct WaitForward {
  using Hook = bool (*)(WaitForward& forward, TaskHeader& task, std::uint64_t generation);
  TaskHeader* target = nullptr;
  Hook hook = nullptr;
  bool forwarded = false;
};

// What a task is waiting on, for Runtime::tasks() and dump(): a kind and a number
// (Sleep, 120'000'000 ns; Task, 42), spelt by awaiting_name(). Written by the owner,
// read racily by introspection: one relaxed atomic word in the header, the kind in its
// top byte and the number, saturated, below (a sleeping task costs its header;
// bench/memory).
enum class Awaiting : std::uint8_t {
  Nothing, Foreign, Yield, Sleep, Task, ShieldedTask, Wait, Gather,
  Event, Semaphore, Mutex, TaskGroup, ChannelRecv, ChannelSend,
};
const char* awaiting_name(Awaiting what) noexcept;  // "sleep", "channel recv", ...; null for Nothing

// The header's cold parts (see the ownership rules above). Made by TaskHeader::extras()
// on first need, by whichever thread needs it first (installed by CAS), never replaced,
// freed with the header.
struct TaskExtras {
  std::string cancel_message;                      // [cancel_lock] first undelivered request's ("" = none)
  std::unique_ptr<std::stop_source> stop_source;   // [cancel_lock] this_task::stop_token(), made on demand
  std::unique_ptr<CompletionLink> completion_link; // [spawn] set before the task is queued
  std::string outcome_message;                     // with Outcome::Cancelled: written before COMPLETE
  // With Outcome::Exception, written before COMPLETE: what escaped the body, and the
  // runtime's uid, which names it to the unobserved-failure report after it is gone.
  std::exception_ptr failure;
  std::uint64_t runtime_uid = 0;
  std::atomic<bool> failure_observed{false};       // someone retrieved `failure`
  std::atomic<std::uint32_t> join_thread_done{0};  // see JoinSlot

  // The name given at spawn ([spawn], before the task is queued), or else "task-<id>",
  // made on the first display_name() and installed by CAS (display_name is const and
  // may run on several threads at once). Owned.
  std::atomic<std::string*> name{nullptr};

  TaskExtras() = default;
  ~TaskExtras() { delete name.load(std::memory_order_relaxed); }  // Relaxed: the last owner
  TaskExtras(const TaskExtras&) = delete;
  TaskExtras& operator=(const TaskExtras&) = delete;
};

struct TaskHeader : Runnable {
  // Laid out for size: a sleeping task costs its header (bench/memory), and the header
  // fits tbbmalloc's 128-byte size class (the next one is 160). The small fields first,
  // behind Runnable's kind byte (which also says whether the root is borrowed: a
  // stolen fork-join child's).
  std::atomic<Outcome> outcome{Outcome::Pending};
  bool yielded = false;                          // [owner] suspended by this_task::yield()
  std::uint8_t registry_shard = 0;               // [spawn]
  SpinLockWord cancel_lock;                      // and, in its word: see cancelling()

  TaskStateWord state{2, true};
  WaitCell wait;

  std::coroutine_handle<> resume_point;  // [owner] what to resume when it next runs
  std::coroutine_handle<> root;          // [spawn] the spawned coroutine; destroying it frees all
  RuntimeCore* runtime = nullptr;        // [spawn]
  std::uint64_t id = 0;                  // [spawn]
  std::uint64_t parent = 0;              // [spawn] 0 = spawned from outside any task
  SpawnSite spawned_at = SpawnSite::unknown();  // [spawn]

  JoinSlot join;
  WaitForward* wait_forward = nullptr;   // [owner] for the current wait, see WaitForward

  TaskHeader* registry_prev = nullptr;
  TaskHeader* registry_next = nullptr;

 private:
  // [owner writes] see Awaiting: the kind << kAwaitingKindShift | the number.
  static constexpr unsigned kAwaitingKindShift = 56;
  static constexpr std::uint64_t kAwaitingNumberMax = (std::uint64_t{1} << kAwaitingKindShift) - 1;
  std::atomic<std::uint64_t> awaiting_{0};

  // cancel_lock's data: bit 0, a request was ever registered; the rest, the count.
  static constexpr std::uint32_t kEverCancelled = 1;
  mutable std::atomic<TaskExtras*> extras_{nullptr};  // see TaskExtras

 public:
  TaskHeader() noexcept : Runnable(Kind::Task) {}
  ~TaskHeader() { delete extras_.load(std::memory_order_relaxed); }  // Relaxed: the last owner
  TaskHeader(const TaskHeader&) = delete;
  TaskHeader& operator=(const TaskHeader&) = delete;

  // The cold parts if someone made them, else null.
  TaskExtras* find_extras() const noexcept {
    // Acquire: pairs with the CAS in extras(), so the constructed object is seen.
    return extras_.load(std::memory_order_acquire);
  }
  // The cold parts, made now if nobody has (may throw std::bad_alloc).
  TaskExtras& extras() const {
    if (TaskExtras* existing = find_extras()) return *existing;
    auto made = std::make_unique<TaskExtras>();
    TaskExtras* expected = nullptr;
    // acq_rel: publishes our object; on failure, acquire the winner's.
    if (extras_.compare_exchange_strong(expected, made.get(), std::memory_order_acq_rel, std::memory_order_acquire))
      return *made.release();
    return *expected;
  }

  void set_awaiting(Awaiting what, std::uint64_t argument = 0) noexcept {
    if (argument > kAwaitingNumberMax) argument = kAwaitingNumberMax;
    // Relaxed: introspection is a racy snapshot by contract.
    awaiting_.store(static_cast<std::uint64_t>(what) << kAwaitingKindShift | argument, std::memory_order_relaxed);
  }
  void clear_awaiting() noexcept { awaiting_.store(0, std::memory_order_relaxed); }  // Relaxed: as above
  // A racy snapshot: the kind and its number.
  std::pair<Awaiting, std::uint64_t> awaiting() const noexcept {
    const std::uint64_t word = awaiting_.load(std::memory_order_relaxed);  // Relaxed: as above
    return {static_cast<Awaiting>(word >> kAwaitingKindShift), word & kAwaitingNumberMax};
  }

  // Under cancel_lock: asyncio's cancelling() count (saturating far beyond any use),
  // and whether a user's request was ever registered.
  int cancelling() const noexcept { return static_cast<int>(cancel_lock.data() >> 1); }
  void set_cancelling(int count) noexcept {
    const std::uint32_t kept = count < 0 ? 0 : static_cast<std::uint32_t>(count);
    const std::uint32_t saturated = kept > (SpinLockWord::kDataMax >> 1) ? SpinLockWord::kDataMax >> 1 : kept;
    cancel_lock.set_data(saturated << 1 | (cancel_lock.data() & kEverCancelled));
  }
  bool ever_cancelled() const noexcept { return (cancel_lock.data() & kEverCancelled) != 0; }
  void mark_ever_cancelled() noexcept { cancel_lock.set_data(cancel_lock.data() | kEverCancelled); }

  bool borrowed_root() const noexcept { return kind == Kind::BorrowedTask; }

  // A failed task's failure (Outcome::Exception): kept in the extras, which the failure
  // made. If they could not be made (out of memory as the task failed), a
  // std::bad_alloc stands in for it.
  std::exception_ptr failure() const noexcept {
    if (const TaskExtras* extras = find_extras(); extras != nullptr && extras->failure) return extras->failure;
    return std::make_exception_ptr(std::bad_alloc());
  }
  // Someone retrieved the failure (no unobserved-failure report then).
  void mark_failure_observed() const noexcept {
    // Relaxed: read by the last owner, after the reference count's acq_rel.
    if (TaskExtras* extras = find_extras()) extras->failure_observed.store(true, std::memory_order_relaxed);
  }

  // Starts a wait (see core/wait_cell.hpp), forwarding its cancellation or not. The
  // field is written before arm()'s seq_cst store, which the canceller's winning CAS
  // reads, so the canceller sees it.
  std::uint64_t arm_wait(WaitForward* forward = nullptr) noexcept {
    wait_forward = forward;
    return wait.arm();
  }

  // The task's name: the one given at spawn, else "task-<id>" (allocated on first use).
  std::string_view display_name() const {
    std::atomic<std::string*>& name = extras().name;
    // Acquire: pairs with the release CAS below (or the queue hand-off of a given name).
    if (const std::string* given = name.load(std::memory_order_acquire)) return *given;
    auto made = std::make_unique<std::string>("task-" + std::to_string(id));
    std::string* expected = nullptr;
    // acq_rel: publishes our string; on failure, acquire the winner's.
    if (name.compare_exchange_strong(expected, made.get(), std::memory_order_acq_rel, std::memory_order_acquire))
      return *made.release();
    return *expected;
  }
  // Before COMPLETE: the message a cancelled task ended with, for the TaskCancelled its
  // awaiters see. Out of memory leaves it empty (the outcome itself stays right).
  void keep_outcome_message(std::string message) noexcept {
    if (message.empty()) return;
    try {
      extras().outcome_message = std::move(message);
    } catch (...) {
    }
  }
  // The name as a string, without making the extras of an unnamed task (Runtime::tasks()
  // and dump() list every task: they must not add the extras to each).
  std::string name_copy() const {
    if (const TaskExtras* extras = find_extras())
      // Acquire: as in display_name.
      if (const std::string* given = extras->name.load(std::memory_order_acquire)) return *given;
    return "task-" + std::to_string(id);
  }
  // At spawn, before the task is queued: the user's name (an empty one means none).
  void set_name(std::string given) {
    if (given.empty()) return;
    auto made = std::make_unique<std::string>(std::move(given));
    // Relaxed: not yet shared.
    delete extras().name.exchange(made.release(), std::memory_order_relaxed);
  }
};

// A sleeping task costs its header and its frame (bench/memory): the header stays within
// tbbmalloc's 128-byte size class (the next one is 160). Where SpawnSite is a file and
// a line (clang 14), 8 bytes more.
static_assert(sizeof(TaskHeader) <= 120 + sizeof(SpawnSite), "TaskHeader grew past 128 bytes: see bench/memory");

}  // namespace weft::detail
