#pragma once
// The task header: what the scheduler knows of one task. Every weft coroutine promise
// derives from it, so a spawned task is one allocation (its coroutine frame) holding
// header, promise and result. A lazy Task awaited inline carries an unused header and
// runs inside the header of the spawned task that awaits it (PromiseBase::task).
//
// Ownership rules
//   * `state` and `wait` are atomics, touched by anyone under their own protocols
//     (core/task_state.hpp, core/wait_cell.hpp).
//   * Fields marked [owner] are read and written only by whoever runs the task: the
//     worker that moved it to RUNNING, or the coroutine itself. The queue hand-off
//     (release push, acquire pop + transition_to_running) orders them between workers.
//   * Fields marked [spawn] are written once before the task is first queued and are
//     read-only afterwards.
//   * `join` is written by the registering awaiter before it sets JOIN_WAITER (release)
//     and read by the completer after it set COMPLETE (acquire).
//   * `cancel_message` and `cancelling` are guarded by `cancel_lock`.
//   * `registry_*` are guarded by the lock of the registry shard the task is in.
//   * `outcome` is written by the completer before COMPLETE (release), read by others
//     after seeing COMPLETE (acquire).
#include <atomic>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>

#include <weft/core/spin_lock.hpp>
#include <weft/core/task_state.hpp>
#include <weft/core/wait_cell.hpp>
#include <weft/scheduler/fork_job.hpp>

namespace weft::detail {

class RuntimeCore;
struct TaskHeader;

// How a finished task ended.
enum class Outcome : std::uint8_t { Pending, Value, Exception, Cancelled };

// Who is registered to be woken when the task completes: an awaiting task, woken
// through its WaitCell for one wait generation (the registration holds a reference
// to that task, dropped by whoever ends the registration), or a thread blocked in
// block_on, woken through `thread_done` (here, in the header its JoinHandle keeps
// alive, so the completer never touches the blocked thread's stack).
struct JoinSlot {
  TaskHeader* task = nullptr;
  std::uint64_t generation = 0;
  std::atomic<std::uint32_t> thread_done{0};
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

// What a task is waiting on, for Runtime::tasks() and dump(): a static word and a
// number ("sleep", 120'000'000 ns; "task", 42). Written by the owner, read racily by
// introspection, hence relaxed atomics.
struct AwaitingWhat {
  std::atomic<const char*> what{nullptr};
  std::atomic<std::uint64_t> argument{0};
};

struct TaskHeader : Runnable {
  TaskStateWord state{2, true};
  WaitCell wait;

  std::coroutine_handle<> resume_point;  // [owner] what to resume when it next runs
  std::coroutine_handle<> root;          // [spawn] the spawned coroutine; destroying it frees all
  RuntimeCore* runtime = nullptr;        // [spawn]
  bool borrowed_root = false;            // [spawn] root belongs to someone else (a fork-join child)
  std::uint64_t runtime_uid = 0;         // [spawn] names the runtime after it is gone
  std::uint64_t id = 0;                  // [spawn]
  std::uint64_t parent = 0;              // [spawn] 0 = spawned from outside any task
  std::string name;                      // [spawn] given by the user; else see display_name()
  char default_name[26] = {};            // [spawn] "task-<id>", written without allocating
  const char* spawned_file = "";         // [spawn]
  unsigned spawned_line = 0;             // [spawn]
  bool yielded = false;                  // [owner] suspended by this_task::yield()

  JoinSlot join;
  WaitForward* wait_forward = nullptr;   // [owner] for the current wait, see WaitForward

  SpinLock cancel_lock;
  int cancelling = 0;                            // asyncio's cancelling() count
  bool ever_cancelled = false;                   // a request was ever registered
  std::unique_ptr<std::string> cancel_message;   // first undelivered request's message
  std::unique_ptr<std::stop_source> stop_source; // this_task::stop_token(), made on demand

  std::unique_ptr<CompletionLink> completion_link;           // [spawn] set before the task is queued

  std::atomic<Outcome> outcome{Outcome::Pending};
  std::exception_ptr failure;                    // what escaped the body, set before COMPLETE
  std::unique_ptr<std::string> outcome_message;  // with Outcome::Cancelled: its message (or null)
  std::atomic<bool> failure_observed{false};     // someone retrieved `failure`

  TaskHeader* registry_prev = nullptr;
  TaskHeader* registry_next = nullptr;
  std::uint32_t registry_shard = 0;              // [spawn]

  AwaitingWhat awaiting;

  TaskHeader() noexcept : Runnable(false) {}
  TaskHeader(const TaskHeader&) = delete;
  TaskHeader& operator=(const TaskHeader&) = delete;

  void set_awaiting(const char* what, std::uint64_t argument = 0) noexcept {
    // Relaxed: introspection is a racy snapshot by contract.
    awaiting.argument.store(argument, std::memory_order_relaxed);
    awaiting.what.store(what, std::memory_order_relaxed);
  }
  // Starts a wait (see core/wait_cell.hpp), forwarding its cancellation or not. The
  // field is written before arm()'s seq_cst store, which the canceller's winning CAS
  // reads, so the canceller sees it.
  std::uint64_t arm_wait(WaitForward* forward = nullptr) noexcept {
    wait_forward = forward;
    return wait.arm();
  }

  // The task's name: the one given at spawn, else "task-<id>".
  std::string_view display_name() const noexcept {
    return name.empty() ? std::string_view(default_name) : std::string_view(name);
  }

  void clear_awaiting() noexcept { awaiting.what.store(nullptr, std::memory_order_relaxed); }
};

}  // namespace weft::detail
