#pragma once
// Timeouts (asyncio.wait_for and friends) and cancel_after.
//
// wait_for(inner, d) runs or awaits the inner (a lazy Task, run as a child task so
// the timeout cancels only it, or a JoinHandle&). On timeout it cancels the inner,
// waits for it to finish, and throws TimeoutError, unless the inner finished anyway:
// then its result, or a failure raised in its cleanup, wins. A handled timeout leaves
// the caller's cancelling() unchanged (the caller itself is never cancelled). If the
// caller is cancelled while waiting, the inner is cancelled too, awaited, and the
// caller's CancelledError is thrown (as for `co_await handle`). A non-positive timeout
// on a lazy Task never starts it.
// move_on_after(d, inner) is the same with std::optional<T> (bool for void: true =
// completed) instead of TimeoutError.
#include <chrono>
#include <optional>
#include <stop_token>

#include <weft/clock.hpp>
#include <weft/detail/timed_join.hpp>
#include <weft/join_handle.hpp>
#include <weft/spawn.hpp>
#include <weft/task.hpp>
#include <weft/this_task.hpp>
#include <weft/time.hpp>

namespace weft {

namespace detail {

// Marks a Task to take a pending cancel request itself rather than have it delivered at
// its co_await (see PromiseBase::defer_entry_cancel): the waits on a handle, so that a
// caller whose cancellation is pending as the wait begins cancels the awaited task too,
// waits for it and throws its own CancelledError, as `co_await handle` does (API.md).
template <class T>
Task<T> forwarding_entry(Task<T> task) noexcept {
  TaskAccess::frame(task).promise().defer_entry_cancel();
  return task;
}

// True if the inner finished by itself (its outcome is in the handle), false if it
// ended by the timeout's cancellation.
template <class T>
Task<bool> wait_handle_until(JoinHandle<T>& handle, Clock::time_point deadline) {
  TaskHeader& self = *current_task();
  bool timed_out = false;
  if (!self.state.cancel_requested_relaxed()) {
    TimedJoinResult outcome = co_await TimedJoin{handle.header(), deadline};
    if (outcome.completed && !outcome.own_cancel) co_return true;
    timed_out = outcome.timed_out;
    if (!outcome.own_cancel) handle.cancel();  // the deadline passed
  }
  // Wait for the end. With our own cancellation pending this forwards it to the inner,
  // waits, and throws our CancelledError; otherwise it just waits for the timeout's
  // cancellation to take effect.
  co_await Completion<T>{handle};
  // No timeout unless the deadline passed: the inner may also have ended cancelled by a
  // request of ours that was forwarded and then withdrawn (uncancel), as for
  // `co_await handle` (then TaskCancelled), or by someone else's.
  co_return !(timed_out && handle.cancelled());
}

template <class T>
T take_result(JoinHandle<T>& handle) {
  if constexpr (std::is_void_v<T>)
    handle.result();
  else
    return handle.result();
}

template <class T>
using MoveOnResult = std::conditional_t<std::is_void_v<T>, bool, std::optional<T>>;

template <class Rep, class Period>
Clock::time_point deadline_after(std::chrono::duration<Rep, Period> timeout) {
  TaskHeader* self = current_task();
  if (self == nullptr) throw NotInRuntime("weft: timeouts are awaited inside a task");
  auto now = runtime_clock(*self->runtime).now();
  // Expired at once; converting a large negative timeout would overflow.
  if (timeout <= timeout.zero()) return now;
  if (beyond_any_deadline(timeout)) return Clock::time_point::max() - std::chrono::hours(24 * 365);
  return now + std::chrono::duration_cast<Clock::duration>(timeout);
}

inline bool deadline_passed(Clock::time_point deadline) {
  return deadline <= runtime_clock(*current_task()->runtime).now();
}

}  // namespace detail

// (A co_await inside an if-condition loses the awaited Task under g++ 12: the value is
// taken into a variable first. See docs/COMPILERS.md.)

namespace detail {
// wait_until on a handle; marked by wait_until, as is the wait inside it.
template <class T>
Task<T> wait_handle_until_or_throw(JoinHandle<T>& inner, Clock::time_point deadline) {
  const bool finished = co_await forwarding_entry(wait_handle_until(inner, deadline));
  if (!finished) throw TimeoutError();
  co_return take_result(inner);
}
}  // namespace detail

template <class T>
Task<T> wait_until(JoinHandle<T>& inner, Clock::time_point deadline) {
  return detail::forwarding_entry(detail::wait_handle_until_or_throw(inner, deadline));
}

// The inner task is spawned (listed by Runtime::tasks() and dump() at the caller's line).
template <class T>
Task<T> wait_until(Task<T> inner, Clock::time_point deadline, detail::SpawnSite site = detail::SpawnSite::here()) {
  if (detail::deadline_passed(deadline)) throw TimeoutError();  // never started
  JoinHandle<T> handle = spawn(std::move(inner), site);
  // The wait on the handle, marked (forwarding_entry): a request that came since the
  // co_await of wait_until cancels the child too.
  co_return co_await wait_until(handle, deadline);
}

template <class T, class Rep, class Period>
Task<T> wait_for(JoinHandle<T>& inner, std::chrono::duration<Rep, Period> timeout) {
  return wait_until(inner, detail::deadline_after(timeout));
}

template <class T, class Rep, class Period>
Task<T> wait_for(Task<T> inner, std::chrono::duration<Rep, Period> timeout,
                 detail::SpawnSite site = detail::SpawnSite::here()) {
  return wait_until(std::move(inner), detail::deadline_after(timeout), site);
}

namespace detail {

template <class T>
Task<MoveOnResult<T>> move_on_until(JoinHandle<T>& inner, Clock::time_point deadline) {
  const bool finished = co_await forwarding_entry(wait_handle_until(inner, deadline));
  if constexpr (std::is_void_v<T>) {
    if (finished) inner.result();  // rethrows a failure
    co_return finished;
  } else {
    if (!finished) co_return std::nullopt;
    co_return inner.result();
  }
}

Task<void> stop_when_due(std::stop_source source, Clock::time_point deadline);

}  // namespace detail

template <class Rep, class Period, class T>
Task<detail::MoveOnResult<T>> move_on_after(std::chrono::duration<Rep, Period> timeout, JoinHandle<T>& inner) {
  return detail::forwarding_entry(detail::move_on_until(inner, detail::deadline_after(timeout)));
}

template <class Rep, class Period, class T>
Task<detail::MoveOnResult<T>> move_on_after(std::chrono::duration<Rep, Period> timeout, Task<T> inner,
                                            detail::SpawnSite site = detail::SpawnSite::here()) {
  const Clock::time_point deadline = detail::deadline_after(timeout);
  if (detail::deadline_passed(deadline)) co_return detail::MoveOnResult<T>{};  // never started
  JoinHandle<T> handle = spawn(std::move(inner), site);
  co_return co_await detail::forwarding_entry(detail::move_on_until(handle, deadline));
}

// Requests stop on `source` once `delay` has passed, from a small task on the current
// runtime; a stop requested earlier by anyone ends that task at once. Inside a task
// only (NotInRuntime elsewhere). The handle may be dropped: the task runs detached.
template <class Rep, class Period>
JoinHandle<void> cancel_after(std::stop_source source, std::chrono::duration<Rep, Period> delay,
                              detail::SpawnSite site = detail::SpawnSite::here()) {
  return spawn(detail::stop_when_due(std::move(source), detail::deadline_after(delay)),
               {.name = "cancel_after", .stop = {}}, site);
}

}  // namespace weft
