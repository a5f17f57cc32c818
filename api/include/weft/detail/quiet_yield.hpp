#pragma once
// A reschedule that delivers no cancellation: the awaiting task goes to the back of the
// queue and resumes without looking at its cancel request. For waits that must go on
// while the runtime shuts down, when a pending request makes every other suspension
// point throw at once (a task group's owner waiting for its members, when_any and
// gather(return_exceptions) waiting for their children). It busy-waits, so it is used
// only there.
#include <coroutine>

#include <weft/scheduler/runtime_core.hpp>
#include <weft/scheduler/task_header.hpp>

namespace weft::detail {

class QuietYieldAwaiter {
 public:
  QuietYieldAwaiter(TaskHeader& self, Awaiting shown_as) : self_(self), shown_as_(shown_as) {}
  bool await_ready() noexcept { return false; }
  void await_suspend(std::coroutine_handle<> handle) noexcept {
    self_.resume_point = handle;
    self_.set_awaiting(shown_as_);
    yield_current(self_);
  }
  void await_resume() noexcept { self_.clear_awaiting(); }

 private:
  TaskHeader& self_;
  const Awaiting shown_as_;
};

// `shown_as`: what introspection (Runtime::tasks()) says the task awaits meanwhile.
struct QuietYield {
  Awaiting shown_as;
  QuietYieldAwaiter weft_awaiter(TaskHeader& self) const { return QuietYieldAwaiter(self, shown_as); }
};

}  // namespace weft::detail
