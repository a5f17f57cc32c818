// Operations on one task that are not part of the worker loop: cancellation requests
// and their delivery, reference release, introspection.
#include <mutex>
#include <new>

#include <weft/core/frame_allocator.hpp>

#include "runtime_core_impl.hpp"
#include "unobserved.hpp"

namespace weft::detail {

namespace {

// Who a request comes from. An internal one (request_internal_cancel) leaves the stop
// token alone: its maker withdraws it with uncancel, and a stop cannot be withdrawn.
enum class Requester { User, Internal };

// Counts a request and keeps the first undelivered one's message. False if complete.
// `mark`, if given, learns what an internal request met (see InternalCancel).
//
// A user's request stops the task's stop token (this_task::stop_token()) *before* it
// becomes visible: the task may take a pending request at any suspension point, and
// several cancellers race, so a stop requested after registering (by whichever
// canceller came first) could come after the task's CancelledError. request_stop runs
// user callbacks (which may cancel this very task), so it runs outside the lock: a
// canceller that finds an unstopped token under the lock stops it, then tries again.
// A token made after the registration is stopped by its maker (ever_cancelled).
bool register_cancel(TaskHeader& task, std::string_view message, Requester requester = Requester::User,
                     InternalCancel* mark = nullptr) {
  // The message's copy and the extras are made before the lock (allocation under a spin
  // lock keeps other cancellers spinning), and out of memory costs only the message: the
  // request itself is always registered (callers forward requests along chains of awaits
  // and have taken references for that).
  std::string text;
  // Relaxed: a hint that spares a finished task the allocation; the lock decides.
  if (!message.empty() && !task.state.load(std::memory_order_relaxed).is_complete()) {
    try {
      text.assign(message);
      (void)task.extras();
    } catch (...) {
      text.clear();
    }
  }
  for (;;) {
    std::stop_source to_stop(std::nostopstate);
    {
      std::lock_guard guard(task.cancel_lock);
      // Ours if made above; a stop source made by this_task::stop_token() is made under
      // this lock, so it is seen too. Null: no message to keep and nothing to stop.
      TaskExtras* const extras = task.find_extras();
      // Relaxed: the completer does not take this lock; request_cancel below decides.
      if (requester == Requester::User && extras != nullptr && extras->stop_source &&
          !extras->stop_source->stop_requested() && !task.state.load(std::memory_order_relaxed).is_complete()) {
        to_stop = *extras->stop_source;
      } else {
        TaskStateWord::Snapshot before = task.state.request_cancel();
        if (before.is_complete()) return false;
        task.set_cancelling(task.cancelling() + 1);
        if (mark != nullptr) {
          mark->was_pending = before.has(TaskStateWord::CANCEL_REQUESTED);
          mark->count_after = task.cancelling();
        }
        // A move: no allocation under the lock.
        if (!before.has(TaskStateWord::CANCEL_REQUESTED) && extras != nullptr) extras->cancel_message = std::move(text);
        if (requester == Requester::User) task.mark_ever_cancelled();
        return true;
      }
    }
    // Returns with stop_requested() true (the bit is set before the callbacks run, by
    // us or by whoever came first), so the next turn registers.
    to_stop.request_stop();
  }
}

// The canceller won `task`'s wait `generation` and the wait forwards: instead of ending
// it, re-arm it and (the first time only) cancel what it awaits. Returns the awaited
// task with a reference taken if it must be cancelled, else nullptr.
TaskHeader* forward_wait(TaskHeader& task, std::uint64_t generation) {
  // We own the cell: the task cannot resume, so its frame (and WaitForward) stay put.
  WaitForward& forward = *task.wait_forward;
  TaskHeader* target = forward.target;
  target->state.ref_inc();  // the awaiter's handle may go as soon as we re-arm
  // A second request only counts while the awaited task has not yet taken the one
  // forwarded before; once it has (it may have swallowed it and gone on), the request is
  // forwarded again, as asyncio's Task.cancel() cancels its _fut_waiter on every call.
  // Not forwarding to a task whose request is still pending also ends the walk around a
  // cycle of awaits (a deadlock before any cancel, and after).
  // Acquire: as register_cancel's reads; a stale answer only forwards one more count.
  const bool first =
      !forward.forwarded || !target->state.load(std::memory_order_acquire).has(TaskStateWord::CANCEL_REQUESTED);
  forward.forwarded = true;
  task.wait.rearm_after_forward(generation);
  // A completion whose try_wake met CANCELLED gave up; look at the target again
  // (seq_cst: the store-buffer pair described at WaitCell::rearm_after_forward).
  if (target->state.load(std::memory_order_seq_cst).is_complete() && task.wait.try_wake(generation))
    wake_task(task);
  if (first) return target;
  release_task(*target);
  return nullptr;
}

// The canceller won `task`'s wait `generation`, a wait on several tasks (see
// WaitForward): the hook cancels them and re-arms; we wake the task if all had ended.
void forward_to_hook(TaskHeader& task, std::uint64_t generation) {
  WaitForward& forward = *task.wait_forward;
  if (forward.hook(forward, task, generation) && task.wait.try_wake(generation)) wake_task(task);
}

bool request_cancel_from(TaskHeader& first, std::string_view message, Requester requester,
                         InternalCancel* mark = nullptr) {
  if (!register_cancel(first, message, requester, mark)) return false;
  // A chain of awaits (a awaits b awaits c ...) is cancelled link by link in a loop,
  // not by recursion: rings of thousands of awaiting tasks are legal.
  TaskHeader* task = &first;
  bool holding = false;  // whether we hold a reference on `task` (all but the first)
  for (;;) {
    TaskHeader* next = nullptr;
    // request_cancel's seq_cst RMW, then this seq_cst load of the cell: the Dekker
    // pair with the task's arm() + seq_cst check (see core/wait_cell.hpp).
    if (std::uint64_t generation = task->wait.try_cancel_current()) {
      // While the runtime shuts down every wait ends at once: forwarding would wait
      // for tasks that are being cancelled too, possibly in a cycle.
      if (task->wait_forward != nullptr && task->wait_forward->hook != nullptr)
        forward_to_hook(*task, generation);
      else if (task->wait_forward != nullptr && !runtime_closed(*task->runtime))
        next = forward_wait(*task, generation);
      else
        wake_task(*task);
    }
    if (holding) release_task(*task);
    if (next == nullptr) return true;
    if (!register_cancel(*next, message)) {
      release_task(*next);
      return true;
    }
    task = next;
    holding = true;
  }
}
}  // namespace

bool request_cancel(TaskHeader& first, std::string_view message) {
  return request_cancel_from(first, message, Requester::User);
}

InternalCancel request_internal_cancel(TaskHeader& task) {
  InternalCancel mark;
  mark.registered = request_cancel_from(task, {}, Requester::Internal, &mark);
  return mark;
}

bool take_cancel_request(TaskHeader& task, std::string& message) {
  std::lock_guard guard(task.cancel_lock);
  // Relaxed: the cancel lock orders this with request_cancel.
  if (!task.state.load(std::memory_order_relaxed).has(TaskStateWord::CANCEL_REQUESTED))
    return false;
  TaskExtras* extras = task.find_extras();
  message = extras != nullptr ? extras->cancel_message : std::string();
  // While shutting down the request stays: every later suspension point throws too.
  if (!runtime_closed(*task.runtime)) {
    task.state.take_cancel_request();
    if (extras != nullptr) extras->cancel_message.clear();
  }
  return true;
}

void release_task(TaskHeader& task) noexcept {
  if (!task.state.ref_dec()) return;
  // ref_dec's acq_rel made every other holder's writes visible.
  const TaskExtras* extras = task.find_extras();
  // Relaxed: as the outcome (the last owner). No failure in the extras (or no extras):
  // it was lost to out of memory (TaskHeader::failure), and with it the runtime to
  // report to. The extras may have been made since (JoinHandle::name()), empty.
  if (task.outcome.load(std::memory_order_relaxed) == Outcome::Exception && extras != nullptr &&
      extras->failure && !extras->failure_observed.load(std::memory_order_relaxed)) {
    try {
      report_unobserved(extras->runtime_uid, describe_task(task), extras->failure);
    } catch (...) {
      // describe_task allocates; out of memory while reporting: drop the report.
    }
  }
  discard_task(task);
}

TaskHeader* create_task(std::coroutine_handle<> root) {
  TaskHeader* task = new (allocate_frame(sizeof(TaskHeader))) TaskHeader;
  task->root = root;
  task->resume_point = root;
  return task;
}

void discard_task(TaskHeader& task) noexcept {
  std::coroutine_handle<> root = task.root;
  const bool borrowed = task.borrowed_root();
  task.~TaskHeader();
  free_frame(&task, sizeof(TaskHeader));
  if (!borrowed) root.destroy();
}

const char* awaiting_name(Awaiting what) noexcept {
  switch (what) {
    case Awaiting::Nothing: return nullptr;
    case Awaiting::Foreign: return "foreign awaitable";
    case Awaiting::Yield: return "yield";
    case Awaiting::Sleep: return "sleep";
    case Awaiting::Task: return "task";
    case Awaiting::ShieldedTask: return "shielded task";
    case Awaiting::Wait: return "wait";
    case Awaiting::Gather: return "gather";
    case Awaiting::Event: return "event";
    case Awaiting::Semaphore: return "semaphore";
    case Awaiting::Mutex: return "mutex";
    case Awaiting::TaskGroup: return "task group";
    case Awaiting::ChannelRecv: return "channel recv";
    case Awaiting::ChannelSend: return "channel send";
  }
  return nullptr;
}

namespace {
// "sleep 120ms": the largest unit that divides the duration exactly.
std::string format_duration(std::uint64_t ns) {
  static constexpr struct {
    std::uint64_t size;
    const char* unit;
  } units[] = {{3'600'000'000'000, "h"}, {60'000'000'000, "min"}, {1'000'000'000, "s"},
               {1'000'000, "ms"},        {1'000, "us"},            {1, "ns"}};
  for (const auto& u : units)
    if (ns >= u.size && ns % u.size == 0) return std::to_string(ns / u.size) + u.unit;
  return std::to_string(ns) + "ns";
}
}  // namespace

TaskInfo describe_task(const TaskHeader& task) {
  TaskInfo info;
  info.id = task.id;
  info.name = task.name_copy();
  info.parent = task.parent;
  info.spawned_file = task.spawned_at.file();
  info.spawned_line = task.spawned_at.line();
  // Relaxed: a snapshot, racy by contract.
  switch (task.state.load(std::memory_order_relaxed).lifecycle()) {
    case TaskStateWord::IDLE: info.state = TaskState::Suspended; break;
    case TaskStateWord::SCHEDULED: info.state = TaskState::Scheduled; break;
    case TaskStateWord::RUNNING: info.state = TaskState::Running; break;
    default: info.state = TaskState::Completed; break;
  }
  if (info.state == TaskState::Suspended || info.state == TaskState::Scheduled) {
    const auto [what, argument] = task.awaiting();
    if (const char* name = awaiting_name(what)) {
      info.awaiting = name;
      // append, not " " + text: g++ 12 -O2 warns about that (a false -Wrestrict).
      if (what == Awaiting::Sleep) {
        info.awaiting.push_back(' ');
        info.awaiting.append(format_duration(argument));
      } else if (argument != 0) {
        info.awaiting.push_back(' ');
        info.awaiting.append(std::to_string(argument));
      }
    }
  }
  return info;
}

std::vector<TaskInfo> snapshot_tasks(const RuntimeCore& runtime) {
  std::vector<TaskInfo> tasks;
  runtime.registry.for_each([&](TaskHeader& task) { tasks.push_back(describe_task(task)); });
  return tasks;
}

bool cancel_task_by_id(RuntimeCore& runtime, TaskId id, std::string_view message) {
  TaskHeader* found = nullptr;
  // Under the shard lock the task cannot complete and be freed (complete() removes it
  // from the registry first, still holding the execution reference), so a reference can
  // be taken there. The request runs outside the lock: it may run the task's stop
  // callbacks, user code that may walk the registry (Runtime::cancel, tasks(), dump()).
  runtime.registry.for_each([&](TaskHeader& task) {
    if (found == nullptr && task.id == id) {
      task.state.ref_inc();
      found = &task;
    }
  });
  if (found == nullptr) return false;
  const bool cancelled = request_cancel(*found, message);
  release_task(*found);
  return cancelled;
}

}  // namespace weft::detail
