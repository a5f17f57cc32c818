#pragma once
// this_task: what a running task knows about itself. Outside a task these throw
// NotInRuntime.
#include <stop_token>
#include <string>
#include <string_view>

#include <weft/detail/promise.hpp>

namespace weft::this_task {

TaskId id();
std::string_view name();
// Cancel yourself: delivered at the next suspension point.
void cancel(std::string_view message = {});
// cancelling() > 0.
bool cancel_requested();
// A suspension point that does not suspend: throws CancelledError while a request is
// undelivered.
void throw_if_cancelled();
int cancelling();
int uncancel();
// A std::stop_token for blocking code: stop is requested when this task is first
// cancelled, and stays requested after uncancel().
std::stop_token stop_token();

namespace detail_yield {
class YieldAwaiter {
 public:
  explicit YieldAwaiter(weft::detail::TaskHeader& self) : self_(self) {}
  bool await_ready() {
    weft::detail::throw_if_cancel_pending(self_);
    return false;
  }
  void await_suspend(std::coroutine_handle<> handle) noexcept {
    self_.resume_point = handle;
    self_.set_awaiting(detail::Awaiting::Yield);
    weft::detail::yield_current(self_);
  }
  void await_resume() {
    self_.clear_awaiting();
    weft::detail::throw_if_cancel_pending(self_);
  }

 private:
  weft::detail::TaskHeader& self_;
};
struct YieldAwaitable {
  YieldAwaiter weft_awaiter(weft::detail::TaskHeader& self) const { return YieldAwaiter(self); }
};
}  // namespace detail_yield

// Awaitable: reschedule behind everything already queued.
inline detail_yield::YieldAwaitable yield() noexcept { return {}; }

}  // namespace weft::this_task
