#pragma once
// Helpers shared by the api tests: waiting (on a condition, not on time) until a task
// has reached a given suspension point, joining a task from outside the runtime, and a
// child whose cleanup after a cancel takes a while.
#include <chrono>
#include <exception>
#include <string>
#include <string_view>
#include <thread>

#include <weft/weft.hpp>

namespace weft::test {

// Polls Runtime::tasks() until task `id` is suspended on something whose description
// starts with `what` ("sleep", "mutex", "channel recv", "task 42"...). A condition wait
// on the runtime's own state: it synchronises with the task, it does not guess a time.
inline void wait_until_awaiting(const Runtime& rt, TaskId id, std::string_view what) {
  for (;;) {
    for (const TaskInfo& info : rt.tasks())
      if (info.id == id && info.state == TaskState::Suspended && info.awaiting.rfind(what, 0) == 0) return;
    std::this_thread::yield();
  }
}

// Awaits the handle from outside the runtime: true if the task ended cancelled (then
// `message`, if given, receives its TaskCancelled's message).
template <class T>
bool join_cancelled(Runtime& rt, JoinHandle<T>& handle, std::string* message = nullptr) {
  auto joiner = [&]() -> Task<bool> {
    try {
      co_await handle;
    } catch (const TaskCancelled& error) {
      if (message != nullptr) *message = error.message();
      co_return true;
    }
    co_return false;
  };
  return rt.block_on(joiner());
}

// Sleeps an hour; cancelled, it cleans up for `cleanup` (a sleep the delivered request
// does not cut short), then rethrows its CancelledError. Returns 0 if not cancelled.
inline Task<int> cancelled_after_slow_cleanup(std::chrono::nanoseconds cleanup = std::chrono::seconds(10)) {
  std::exception_ptr cancelled;
  try {
    co_await sleep_for(std::chrono::hours(1));
  } catch (const CancelledError&) {
    cancelled = std::current_exception();
  }
  if (cancelled) {
    co_await sleep_for(cleanup);
    std::rethrow_exception(cancelled);
  }
  co_return 0;
}

}  // namespace weft::test
