// Operations on one task that are not part of the worker loop: cancellation requests
// and their delivery, reference release, introspection.
#include <mutex>

#include "runtime_core_impl.hpp"
#include "unobserved.hpp"

namespace weft::detail {

bool request_cancel(TaskHeader& task, std::string_view message) {
  {
    std::lock_guard guard(task.cancel_lock);
    TaskStateWord::Snapshot before = task.state.request_cancel();
    if (before.is_complete()) return false;
    ++task.cancelling;
    // The first undelivered request's message is the one delivered.
    if (!before.has(TaskStateWord::CANCEL_REQUESTED))
      task.cancel_message = message.empty() ? nullptr : std::make_unique<std::string>(message);
  }
  // request_cancel's seq_cst RMW, then try_cancel's seq_cst load of the cell: the
  // Dekker pair with the task's arm() + seq_cst check (see core/wait_cell.hpp).
  if (task.wait.try_cancel()) wake_task(task);
  return true;
}

bool take_cancel_request(TaskHeader& task, std::string& message) {
  std::lock_guard guard(task.cancel_lock);
  // Relaxed: the cancel lock orders this with request_cancel.
  if (!task.state.load(std::memory_order_relaxed).has(TaskStateWord::CANCEL_REQUESTED))
    return false;
  message = task.cancel_message ? *task.cancel_message : std::string();
  // While shutting down the request stays: every later suspension point throws too.
  if (!runtime_closed(*task.runtime)) {
    task.state.take_cancel_request();
    task.cancel_message.reset();
  }
  return true;
}

void release_task(TaskHeader& task) noexcept {
  if (!task.state.ref_dec()) return;
  // ref_dec's acq_rel made every other holder's writes visible.
  if (task.outcome.load(std::memory_order_relaxed) == Outcome::Exception &&
      !task.failure_observed.load(std::memory_order_relaxed)) {
    try {
      report_unobserved(task.runtime_uid, describe_task(task), task.failure);
    } catch (...) {
      // describe_task allocates; out of memory while reporting: drop the report.
    }
  }
  task.root.destroy();
}

TaskInfo describe_task(const TaskHeader& task) {
  TaskInfo info;
  info.id = task.id;
  info.name = task.name;
  info.parent = task.parent;
  info.spawned_file = task.spawned_file;
  info.spawned_line = task.spawned_line;
  // Relaxed: a snapshot, racy by contract.
  switch (task.state.load(std::memory_order_relaxed).lifecycle()) {
    case TaskStateWord::IDLE: info.state = TaskState::Suspended; break;
    case TaskStateWord::SCHEDULED: info.state = TaskState::Scheduled; break;
    case TaskStateWord::RUNNING: info.state = TaskState::Running; break;
    default: info.state = TaskState::Completed; break;
  }
  if (info.state == TaskState::Suspended || info.state == TaskState::Scheduled) {
    if (const char* what = task.awaiting.what.load(std::memory_order_relaxed)) {
      info.awaiting = what;
      std::uint64_t argument = task.awaiting.argument.load(std::memory_order_relaxed);
      if (argument != 0) info.awaiting += " " + std::to_string(argument);
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
  bool cancelled = false;
  // Under the shard lock the task cannot complete and be freed: complete() removes it
  // from the registry first.
  runtime.registry.for_each([&](TaskHeader& task) {
    if (task.id == id) cancelled = request_cancel(task, message);
  });
  return cancelled;
}

}  // namespace weft::detail
