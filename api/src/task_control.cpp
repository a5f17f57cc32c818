// Cancellation bookkeeping behind JoinHandle, this_task and SpawnOptions::stop.
#include <mutex>
#include <stop_token>

#include <weft/join_handle.hpp>
#include <weft/spawn.hpp>
#include <weft/this_task.hpp>

namespace weft::detail {

std::string cancelled_message(const TaskHeader& task) {
  // The message was kept when the task ended (publish_root_failure, or the worker for a
  // task cancelled before its first run): no rethrow to read it.
  const TaskExtras* extras = task.find_extras();
  return extras != nullptr ? extras->outcome_message : std::string();
}

int task_cancelling(TaskHeader& task) {
  std::lock_guard guard(task.cancel_lock);
  return task.cancelling();
}

int task_uncancel(TaskHeader& task) {
  std::lock_guard guard(task.cancel_lock);
  if (task.cancelling() > 0) task.set_cancelling(task.cancelling() - 1);
  // asyncio 3.13: back to zero withdraws a request not yet delivered (not while the
  // runtime shuts down: then every suspension point must throw).
  if (task.cancelling() == 0 && task.runtime != nullptr && !runtime_closed(*task.runtime) &&
      task.state.load(std::memory_order_relaxed).has(TaskStateWord::CANCEL_REQUESTED)) {
    task.state.take_cancel_request();
    if (TaskExtras* extras = task.find_extras()) extras->cancel_message.clear();
  }
  return task.cancelling();
}

namespace {
struct StopCallbackLink final : CompletionLink {
  struct Cancel {
    TaskHeader* task;
    void operator()() const noexcept {
      try {
        request_cancel(*task, "stop requested");
      } catch (...) {
        // Allocation of the message failed; the request itself is registered.
      }
    }
  };
  StopCallbackLink(const std::stop_token& stop, TaskHeader* task) : callback(stop, Cancel{task}) {}
  std::stop_callback<Cancel> callback;
};
}  // namespace

void attach_stop_token(TaskHeader& task, const std::stop_token& stop) {
  if (!stop.stop_possible()) return;
  // An already requested stop runs the callback here, before the task is queued.
  TaskExtras& extras = task.extras();
  extras.completion_link = std::make_unique<StopCallbackLink>(stop, &task);
}

void throw_not_in_runtime() { throw NotInRuntime("weft::spawn: not called from a task; use Runtime::spawn"); }

}  // namespace weft::detail

namespace weft::this_task {

namespace {
weft::detail::TaskHeader& self(const char* what) {
  weft::detail::TaskHeader* task = weft::detail::current_task();
  if (task == nullptr) throw NotInRuntime(std::string("weft::this_task::") + what + ": not in a task");
  return *task;
}
}  // namespace

TaskId id() { return self("id").id; }
std::string_view name() { return self("name").display_name(); }
void cancel(std::string_view message) { weft::detail::request_cancel(self("cancel"), message); }
bool cancel_requested() { return weft::detail::task_cancelling(self("cancel_requested")) > 0; }
void throw_if_cancelled() { weft::detail::throw_if_cancel_pending(self("throw_if_cancelled")); }
int cancelling() { return weft::detail::task_cancelling(self("cancelling")); }

std::stop_token stop_token() {
  weft::detail::TaskHeader& task = self("stop_token");
  std::stop_source source(std::nostopstate);
  bool stop_now = false;
  weft::detail::TaskExtras& extras = task.extras();
  {
    std::lock_guard guard(task.cancel_lock);
    if (!extras.stop_source) {
      extras.stop_source = std::make_unique<std::stop_source>();
      stop_now = task.ever_cancelled();  // cancelled before anyone asked for the token
    }
    source = *extras.stop_source;
  }
  if (stop_now) source.request_stop();
  return source.get_token();
}
int uncancel() { return weft::detail::task_uncancel(self("uncancel")); }

}  // namespace weft::this_task
