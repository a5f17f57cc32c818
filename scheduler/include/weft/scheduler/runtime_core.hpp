#pragma once
// The scheduler as the api layer sees it: an opaque RuntimeCore and the operations on
// tasks that need one. Everything here is weft::detail; users go through weft::Runtime.
//
// Reference counting (the high bits of TaskStateWord): a spawned task starts with two
// references, one held by the runtime until the task completes ("execution") and one
// held by its JoinHandle. Anyone else who must touch a task that it does not own (a
// registration in another task's join slot, Runtime::cancel) takes one first. The
// holder of the last reference frees the frame through release_task().
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <weft/core/clock.hpp>
#include <weft/core/timer_wheel.hpp>
#include <weft/scheduler/task_header.hpp>
#include <weft/scheduler/run_order.hpp>
#include <weft/scheduler/task_info.hpp>

namespace weft::detail {

struct RuntimeConfig {
  unsigned workers = 0;  // 0 = hardware threads
  std::string name = "weft";
  std::chrono::nanoseconds timer_tick = std::chrono::milliseconds(1);
  Clock* clock = nullptr;  // nullptr = the steady clock
  std::function<void(const TaskInfo&, std::exception_ptr)> on_unobserved_exception;
  RunOrder run_order = RunOrder::Lifo;
};

RuntimeCore* create_runtime(RuntimeConfig config);
// Shuts down (see shutdown_runtime) and frees the runtime.
void destroy_runtime(RuntimeCore* runtime) noexcept;
unsigned worker_count(const RuntimeCore& runtime) noexcept;

enum class SubmitResult { Submitted, Closed };
// Registers a task whose header is initialised (root, resume_point, name, file, line)
// and queues it: on the current worker's deque when called from one of this runtime's
// workers, else on the injector. Assigns its id and parent. On Closed nothing was
// queued and the caller still owns the frame.
SubmitResult submit_task(RuntimeCore& runtime, TaskHeader& task) noexcept;

// The caller won the task's WaitCell (or otherwise owns the right to wake it once).
void wake_task(TaskHeader& task) noexcept;

// this_task::yield(): called by the running task from await_suspend. The worker
// requeues it at the back (the injector) once it has suspended.
void yield_current(TaskHeader& task) noexcept;

// Registers a cancellation request (asyncio's Task.cancel): counts it, keeps the
// first undelivered request's message, and wakes the task if its wait is cancellable.
// Returns false if the task had already completed.
bool request_cancel(TaskHeader& task, std::string_view message);
// The same on weft's own behalf (a gather reaching a child that runs inline in the
// gathering task): counted and delivered alike, but it neither stops the task's
// stop_token nor counts as "ever cancelled" for one made later, because its maker
// withdraws it with uncancel and a stop cannot be withdrawn. Reports what it met, so
// that its maker can tell whether another request was delivered along with it.
struct InternalCancel {
  bool registered = false;   // false: the task had completed
  bool was_pending = false;  // another request was pending already (they merge)
  int count_after = 0;       // cancelling() right after this request was counted
};
InternalCancel request_internal_cancel(TaskHeader& task);

// Delivery at a suspension point: if a request is pending, consumes it and returns
// true with its message in `message`. While the runtime shuts down the request stays
// pending, so that every later suspension point throws too.
bool take_cancel_request(TaskHeader& task, std::string& message);

// A timer of a sleeping task: lives in its coroutine frame. When it fires, the driver
// wins the task's WaitCell for the wait the timer was armed for, sets `fired` and
// reschedules the task. A sleeping task's frame holds one (bench/memory), so it is laid
// out for size: `fired` and the wait's generation fill TimerEntry's tail padding, 40
// bytes in all. Only the generation's low 32 bits are kept, which is enough because a
// linked timer's task never moves on to another wait: every owner cancels its timer
// before the frame moves on (see WaitCell::try_wake_low32).
struct TimerWaiter : TimerEntry {
  bool fired = false;  // written by the driver before the wake-up, read by the task after
  std::uint32_t generation_low = 0;  // of the wait the timer wakes
  TaskHeader* task = nullptr;

  void set_generation(std::uint64_t generation) noexcept { generation_low = static_cast<std::uint32_t>(generation); }
};
static_assert(sizeof(TimerWaiter) == 40, "TimerWaiter: `fired` and the generation fill TimerEntry's tail padding (Itanium C++ ABI)");

Clock& runtime_clock(RuntimeCore& runtime) noexcept;
// Files the timer (task and generation set by the caller); wakes the timer driver if
// it is the new earliest deadline.
void timer_insert(RuntimeCore& runtime, TimerWaiter& waiter, Clock::time_point deadline);
// Removes the timer unless it has fired; safe against a concurrent expiry.
bool timer_cancel(RuntimeCore& runtime, TimerWaiter& waiter);

// A header for a coroutine about to be spawned: `root` is resumed first and owned by
// the header from now on. Freed with the frame by the last release_task, or (spawn
// refused) by discard_task.
TaskHeader* create_task(std::coroutine_handle<> root);
// A task that was never queued: destroys its frame and header, reports nothing.
void discard_task(TaskHeader& task) noexcept;

// Drops one reference; the last one reports an unretrieved failure (to the runtime's
// on_unobserved_exception, or stderr once the runtime is gone) and frees the frame.
void release_task(TaskHeader& task) noexcept;

// The task the calling worker is running: set by the worker around each resumption,
// null between them and on every other thread.
inline constinit thread_local TaskHeader* tls_current_task = nullptr;

// The runtime/task the calling thread is running, or nullptr. Inline (plain TLS reads):
// every spawn and every this_task:: call asks.
inline RuntimeCore* current_runtime() noexcept { return tls_fork_queue.runtime; }
inline TaskHeader* current_task() noexcept { return tls_current_task; }
inline bool on_worker_of(const RuntimeCore& runtime) noexcept { return tls_fork_queue.runtime == &runtime; }

// Refuses new spawns, cancels every live task (cancellation stays pending, so every
// suspension point throws), runs them until all have finished, joins the workers.
// Idempotent; must not be called from one of the runtime's own workers.
void shutdown_runtime(RuntimeCore& runtime);
bool runtime_closed(const RuntimeCore& runtime) noexcept;
// Names the runtime after it is gone (the unobserved-failure report).
std::uint64_t runtime_uid(const RuntimeCore& runtime) noexcept;

std::vector<TaskInfo> snapshot_tasks(const RuntimeCore& runtime);
TaskInfo describe_task(const TaskHeader& task);
bool cancel_task_by_id(RuntimeCore& runtime, TaskId id, std::string_view message);

}  // namespace weft::detail
