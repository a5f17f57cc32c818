#pragma once
// spawn: turn a lazy Task into a task of its own on a runtime's workers.
#include <stop_token>
#include <string>

#include <weft/errors.hpp>
#include <weft/join_handle.hpp>
#include <weft/task.hpp>

namespace weft {

struct SpawnOptions {
  std::string name;       // default "task-<id>"
  std::stop_token stop;   // a stop request cancels the task
};

namespace detail {

// Links a stop token to the task's cancellation (defined with the cancellation API).
void attach_stop_token(TaskHeader& task, const std::stop_token& stop);

// A header for the Task's frame, which it owns from now on (freed with it).
template <class T>
TaskHeader& adopt_task(Task<T>&& task) {
  std::coroutine_handle<Promise<T>> frame = task.release();
  TaskHeader* header;
  try {
    header = create_task(frame);
  } catch (...) {
    frame.destroy();
    throw;
  }
  frame.promise().task_ = header;
  frame.promise().clear_end();  // a spawned root (see PromiseBase::defer_entry_cancel)
  return *header;
}

// Sets up the frame's header and queues it. On a closed runtime the frame is
// destroyed and RuntimeClosed thrown.
template <class T>
JoinHandle<T> spawn_on(RuntimeCore& runtime, Task<T>&& task, SpawnOptions&& options,
                       detail::SpawnSite site) {
  if (!task.valid()) throw InvalidStateError("weft: spawn of an empty Task");
  TaskHeader& header = adopt_task(std::move(task));
  if (!options.name.empty()) header.set_name(std::move(options.name));
  header.spawned_at = site;
  // Before the task is queued: a token already stopped cancels it before its first run.
  attach_stop_token(header, options.stop);
  if (submit_task(runtime, header) == SubmitResult::Closed) {
    discard_task(header);
    throw RuntimeClosed();
  }
  return JoinHandle<T>(&header);
}

// The runtime of the calling worker thread, or NotInRuntime.
[[noreturn]] void throw_not_in_runtime();
inline RuntimeCore& require_current_runtime() {
  if (RuntimeCore* runtime = current_runtime()) return *runtime;
  throw_not_in_runtime();
}

}  // namespace detail

// Inside a task: spawn on the current runtime. Elsewhere: NotInRuntime.
// (Two overloads rather than `SpawnOptions options = {}`: g++ 12 mis-compiles a
// defaulted argument of class type inside a co_await expression; docs/COMPILERS.md.)
template <class T>
JoinHandle<T> spawn(Task<T> task, SpawnOptions options, detail::SpawnSite site = detail::SpawnSite::here()) {
  return detail::spawn_on(detail::require_current_runtime(), std::move(task), std::move(options),
                          site);
}
template <class T>
JoinHandle<T> spawn(Task<T> task, detail::SpawnSite site = detail::SpawnSite::here()) {
  return detail::spawn_on(detail::require_current_runtime(), std::move(task), SpawnOptions(), site);
}

}  // namespace weft
