#pragma once
// Siblings: the children of one gather or when_any, spawned as tasks, and the shared
// record of how the first of them ended.
//
// Each child runs inside a thin wrapper coroutine (run_sibling) that reports its end
// to the Siblings object, which lives in the parent's frame: the parent awaits every
// child before it returns, so the object outlives every report. The first report that
// counts (a failure for gather, any end for when_any) names the decisive child and
// cancels all the others, from the reporting child's worker, at once; the parent,
// meanwhile, simply awaits each child's completion in turn.
//
// The children's headers are appended under the mutex as they are spawned; a report
// that arrives before the last child is spawned cancels the ones spawned so far, and
// the spawning loop cancels each later one as soon as it is spawned.
#include <cstddef>
#include <mutex>
#include <vector>

#include <weft/detail/quiet_yield.hpp>
#include <weft/join_handle.hpp>
#include <weft/spawn.hpp>
#include <weft/task.hpp>

namespace weft::detail {

class Siblings {
 public:
  enum class Decides { Failure, AnyEnd };
  explicit Siblings(Decides decides) : decides_(decides) {}

  // Before spawning: room for every child, so that add() never allocates (a failure
  // there would leave a spawned child unknown to the others). May throw.
  void reserve(std::size_t children) { children_.reserve(children); }

  // After spawning child `index`; cancels it at once if the outcome is decided. Does
  // not allocate after reserve().
  void add(TaskHeader& child) {
    bool decided;
    {
      std::lock_guard guard(mutex_);
      children_.push_back(&child);
      decided = decisive_ >= 0;
    }
    if (decided) request_cancel(child, {});
  }

  // From the child's own task, as it ends. `failed`: it ends with an exception.
  void report(std::size_t index, bool failed) {
    if (decides_ == Decides::Failure && !failed) return;
    std::vector<TaskHeader*> others;
    {
      std::lock_guard guard(mutex_);
      if (decisive_ >= 0) return;
      decisive_ = static_cast<long>(index);
      others = children_;
    }
    for (std::size_t i = 0; i < others.size(); ++i)
      if (i != index) request_cancel(*others[i], {});
  }

  // The decisive child, or -1. Read by the parent after every child ended.
  long decisive() {
    std::lock_guard guard(mutex_);
    return decisive_;
  }

  void cancel_all() {
    std::vector<TaskHeader*> all;
    {
      std::lock_guard guard(mutex_);
      all = children_;
    }
    for (TaskHeader* child : all) request_cancel(*child, {});
  }

 private:
  const Decides decides_;
  std::mutex mutex_;
  std::vector<TaskHeader*> children_;
  long decisive_ = -1;
};

template <class T>
Task<T> run_sibling(Task<T> child, Siblings* siblings, std::size_t index) {
  try {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(child);
      siblings->report(index, false);
      co_return;
    } else {
      T value = co_await std::move(child);
      siblings->report(index, false);
      co_return value;
    }
  } catch (...) {
    siblings->report(index, true);
    throw;
  }
}

template <class T>
JoinHandle<T> spawn_sibling(Task<T> child, Siblings& siblings, std::size_t index) {
  JoinHandle<T> handle = spawn(run_sibling(std::move(child), &siblings, index));
  siblings.add(handle.header());
  return handle;
}

// Awaits the end of one task, whatever its type (no value, no rethrow), shielded: the
// awaiting task's own cancellation throws CancelledError at once and leaves the task
// running (await_all_ends cancels every child itself).
struct ShieldedEndOf {
  TaskHeader& task;
  JoinAwaiter<void, false> weft_awaiter(TaskHeader& self) const {
    return JoinAwaiter<void, false>(task, self, /*shielded=*/true);
  }
};

// Awaits the end of every child. If the awaiting task is cancelled meanwhile: every
// child is cancelled at once, all are awaited (also while the runtime shuts down: the
// children's wrappers report to `siblings`, which lives in the caller's frame), then
// the CancelledError is rethrown. `children` by reference: the caller makes this Task
// before it spawns anything (so that nothing allocates between the spawns and the
// awaiting: a failure there would leave children running that report to `siblings`),
// fills the vector, then awaits the Task at once; both live in the caller's frame.
inline Task<void> await_all_ends(const std::vector<TaskHeader*>& children, Siblings& siblings) {
  TaskHeader& self = *current_task();
  std::exception_ptr own_cancel;
  for (TaskHeader* child : children) {
    while (!child->state.load(std::memory_order_acquire).is_complete()) {
      if (own_cancel && runtime_closed(*self.runtime)) {
        co_await QuietYield{Awaiting::Yield};  // the request stays pending: every wait would throw
        continue;
      }
      try {
        co_await ShieldedEndOf{*child};
      } catch (const CancelledError&) {
        if (!own_cancel) own_cancel = std::current_exception();
        siblings.cancel_all();
      }
    }
  }
  if (own_cancel) std::rethrow_exception(own_cancel);
}

}  // namespace weft::detail
