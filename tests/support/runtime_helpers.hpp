#pragma once
// Helpers shared by the tests: waiting (on a condition, not on time) until a task has
// reached a given suspension point or a condition holds, joining a task from outside
// the runtime, an ordering log, and a child whose cleanup after a cancel takes a while.
#include <chrono>
#include <exception>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

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

// Polls `condition` (yielding) until it holds; false if it still does not after
// `give_up`, which only bounds a failing run.
template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds give_up = std::chrono::milliseconds(2000)) {
  const auto until = std::chrono::steady_clock::now() + give_up;
  while (std::chrono::steady_clock::now() < until) {
    if (condition()) return true;
    std::this_thread::yield();
  }
  return condition();
}

// An ordering log, written from any worker.
class Log {
 public:
  void add(std::string line) {
    std::lock_guard guard(mutex_);
    lines_.push_back(std::move(line));
  }
  std::vector<std::string> lines() const {
    std::lock_guard guard(mutex_);
    return lines_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
};

// The setting for a second awaiter's misuse: `target` returns 7 once `release` is set,
// and `first` is a task already awaiting target's handle.
class HandleAwaitedByAnother {
 public:
  explicit HandleAwaitedByAnother(Runtime& rt)
      : rt_(rt), target(rt.spawn(seven_once_released(&release))), first(rt.spawn(awaiting(&target))) {
    wait_until_awaiting(rt, first.id(), "task");
  }
  // Sets `release` and returns what `first` got.
  int release_and_join_first() {
    release.set();
    return rt_.block_on(awaiting(&first));
  }

 private:
  static Task<int> seven_once_released(Event* released) {
    co_await released->wait();
    co_return 7;
  }
  static Task<int> awaiting(JoinHandle<int>* handle) { co_return co_await *handle; }

  Runtime& rt_;

 public:
  Event release;
  JoinHandle<int> target;
  JoinHandle<int> first;
};

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
