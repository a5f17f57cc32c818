#pragma once
// The promise of every weft coroutine (Task<T>), and how it turns each co_await into
// a suspension point that honours cancellation.
//
// A promise is small: the task it runs in, where to go when it ends, and its result.
// The scheduler's state of a spawned task (TaskHeader) is a separate object that spawn
// creates; an inline-awaited Task never has one and runs inside the header of the task
// that awaits it (`task_`). Keeping the header out of the frame is what makes an inline
// co_await cost a frame and two jumps, nothing more: the fork-join path (gather) runs
// millions of them.
//
// await_transform sorts what is awaited into three kinds:
//   * Task<U>: run inline by symmetric transfer. A suspension point only on the way
//     in: a pending cancel request is delivered before the child starts.
//   * weft awaitables (JoinHandle, yield, and later sleep, channels, locks): they have
//     `weft_awaiter(TaskHeader&)` and implement the wait protocol themselves (arm the
//     WaitCell, publish, re-check cancellation, suspend), so a cancel wakes them at once
//     and a value handed over is never lost.
//   * anything else (a foreign awaitable): checked for cancellation before suspending
//     and after resuming. It is handed a bounce handle instead of the task's own, so that
//     resuming it reschedules the task on its runtime instead of running it on the
//     foreign thread. Such a wait cannot be interrupted by a cancel: the request is
//     delivered once the awaitable resumes.
#include <cassert>
#include <concepts>
#include <cstdint>
#include <coroutine>
#include <exception>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include <weft/core/frame_allocator.hpp>
#include <weft/errors.hpp>
#include <weft/scheduler/runtime_core.hpp>

namespace weft {
template <class T>
class Task;
namespace detail {
struct TaskAccess;
}
}  // namespace weft

namespace weft::detail {

// Delivers a pending cancel request: throws CancelledError with its message. Forced
// inline, so that the throw happens in the frame of the coroutine that catches it (or
// whose promise does): the unwinder walks one frame less in each of its two phases,
// about a quarter of a throw (bench/README.md, "Cancel latency").
[[noreturn, gnu::always_inline]] inline void throw_cancelled(std::string message) {
  throw CancelledError(std::move(message));
}

// A pending request taken and thrown in the caller's frame (or withdrawn meanwhile:
// nothing). For the end of a wait that a cancel ended, the path of a cancel of a
// suspended task (bench/cancel): see throw_cancelled.
[[gnu::always_inline]] inline void deliver_cancel_here(TaskHeader& task) {
  std::string message;
  if (take_cancel_request(task, message)) throw_cancelled(std::move(message));
}

// The same, out of line, for a request found pending on the way into a suspension
// point. Inlined, its string and its throw made every coroutine that awaits anything
// save more registers at each of its entries (fib's inline awaits: 8 % of their
// instructions). The one extra frame its throw unwinds costs a task cancelled while it
// runs a fraction of a microsecond.
[[gnu::noinline, gnu::cold]] inline void deliver_pending_cancel(TaskHeader& task) { deliver_cancel_here(task); }

// The check at a suspension point. The relaxed load is a hint; the lock inside
// take_cancel_request confirms it.
inline void throw_if_cancel_pending(TaskHeader& task) {
  if (task.state.cancel_requested_relaxed()) [[unlikely]] deliver_pending_cancel(task);
}

// The task half of the wait protocol's Dekker pair (core/wait_cell.hpp), right after
// a wait was armed and published: a cancel that came after the check at await_ready is
// seen here. Winning our own cell for `generation`, the task resumes at once (false:
// do not suspend) and its await_resume finds the wait CANCELLED. Losing it means a
// resource or a canceller won and will reschedule the task: suspend.
inline bool suspend_unless_cancelled(TaskHeader& self, std::uint64_t generation) noexcept {
  return !(self.state.cancel_requested_seq_cst() && self.wait.try_cancel(generation));
}

// After a wait ended CANCELLED (and the awaiter left the resource): delivers the
// request. If it was withdrawn (uncancel) since, the wait is over all the same and has
// nothing to return, so it still throws, with no message.
[[noreturn]] inline void throw_after_cancelled_wait(TaskHeader& self) {
  std::string message;
  take_cancel_request(self, message);
  throw_cancelled(std::move(message));
}

// The weft awaitable protocol.
template <class A>
concept WeftAwaitable = requires(A&& a, TaskHeader& task) {
  { std::forward<A>(a).weft_awaiter(task) };
};

// operator co_await, member or free, as the language would apply it.
template <class A>
decltype(auto) get_awaiter(A&& a) {
  if constexpr (requires { std::forward<A>(a).operator co_await(); })
    return std::forward<A>(a).operator co_await();
  else if constexpr (requires { operator co_await(std::forward<A>(a)); })
    return operator co_await(std::forward<A>(a));
  else
    return std::forward<A>(a);
}

// A one-shot coroutine whose resumption reschedules a task. It destroys itself when
// it finishes, since the task it wakes may end (and destroy whatever holds it) at once.
class Bounce {
 public:
  struct promise_type {
    static void* operator new(std::size_t size) { return allocate_frame(size); }
    static void operator delete(void* frame, std::size_t size) noexcept { free_frame(frame, size); }
    Bounce get_return_object() noexcept {
      return Bounce(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };
  Bounce() = default;
  Bounce(Bounce&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  Bounce& operator=(Bounce&& other) noexcept {
    destroy_unused();
    handle_ = std::exchange(other.handle_, nullptr);
    return *this;
  }
  static Bounce to(TaskHeader* task) {
    wake_task(*task);
    co_return;
  }
  std::coroutine_handle<> handle() const noexcept { return handle_; }
  // Only for a bounce that was never resumed.
  void destroy_unused() noexcept {
    if (handle_) handle_.destroy();
    handle_ = nullptr;
  }
  void release() noexcept { handle_ = nullptr; }

 private:
  explicit Bounce(std::coroutine_handle<> handle) : handle_(handle) {}
  std::coroutine_handle<> handle_;
};

template <class Awaiter>
class ForeignAwaiter {
 public:
  ForeignAwaiter(Awaiter&& inner, TaskHeader& task) : inner_(std::forward<Awaiter>(inner)), task_(task) {}
  ForeignAwaiter(const ForeignAwaiter&) = delete;
  ~ForeignAwaiter() { bounce_.destroy_unused(); }

  bool await_ready() {
    throw_if_cancel_pending(task_);
    return inner_.await_ready();
  }

  template <class Promise>
  std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> self) {
    task_.resume_point = self;
    task_.set_awaiting(Awaiting::Foreign);
    bounce_ = Bounce::to(&task_);
    using Result = decltype(inner_.await_suspend(bounce_.handle()));
    if constexpr (std::is_void_v<Result>) {
      inner_.await_suspend(bounce_.handle());
      bounce_.release();  // owned by the foreign party now; it destroys itself when resumed
      return std::noop_coroutine();
    } else if constexpr (std::is_same_v<Result, bool>) {
      if (!inner_.await_suspend(bounce_.handle())) {
        bounce_.destroy_unused();  // not suspended: nobody will resume the bounce
        task_.clear_awaiting();
        return self;
      }
      bounce_.release();
      return std::noop_coroutine();
    } else {
      std::coroutine_handle<> next = inner_.await_suspend(bounce_.handle());
      bounce_.release();
      return next;
    }
  }

  decltype(auto) await_resume() {
    task_.clear_awaiting();
    throw_if_cancel_pending(task_);
    return inner_.await_resume();
  }

 private:
  Awaiter inner_;
  TaskHeader& task_;
  Bounce bounce_;
};

class PromiseBase;

// Where a coroutine that is neither spawned nor awaited inline goes when it ends: a
// child of a fork-join (gather) reports to its ForkJoin (fork_join.hpp, included at the
// end of this header), whose `child_ended` returns what the worker runs next. The final
// suspension calls it directly, two of them per gather on fork-join's hot path.
class ForkJoin;

// A fork-join child's end. `Join` is ForkJoin, deduced, so that it needs to be complete
// only where this is instantiated (fork_join.hpp includes this header and is included at
// its end: every translation unit that instantiates a promise's final suspension has
// ForkJoin by then).
template <class Join>
std::coroutine_handle<> fork_child_ended(Join* parent, PromiseBase& child) noexcept {
  return parent->child_ended(child);
}

// Whether `failure` is a CancelledError (any derived type), and its message.
bool is_cancellation(const std::exception_ptr& failure, std::string& message);

// A spawned coroutine's end that was a failure, published into its header for the
// scheduler and the JoinHandle: the outcome, the failure, a cancellation's message.
void publish_root_failure(TaskHeader& task, std::exception_ptr failure) noexcept;

// A spawned coroutine's end. A value is the common end of every spawned task: one
// store here, without a call; a failure goes out of line.
inline void publish_root_outcome(TaskHeader& task, std::exception_ptr& failure) noexcept {
  if (failure) {
    publish_root_failure(task, std::move(failure));
    return;
  }
  // Relaxed: published with the completion (release in transition_to_complete), which
  // the worker makes once the coroutine has reached its final suspension.
  task.outcome.store(Outcome::Value, std::memory_order_relaxed);
}

class PromiseBase {
 public:
  // The spawned task this coroutine runs in: its own header when spawned, the awaiting
  // coroutine's task when awaited inline, the gathering task's (or the thief's) in a
  // fork-join.
  TaskHeader* task_ = nullptr;

  // Where the coroutine goes when it ends. An inline-awaited coroutine resumes its
  // awaiter; a fork-join child reports to its parent; a spawned one returns to the
  // worker, which sees the root done. One word for the three (every frame carries it,
  // and a sleeping task costs its frame: bench/memory): null for a spawned root, the
  // awaiter's frame address, or the ForkJoin's address with the low bit set (both
  // are at least 8-aligned, so that bit is free).
  void set_continuation(std::coroutine_handle<> awaiter) noexcept {
    on_end_ = reinterpret_cast<std::uintptr_t>(awaiter.address());
  }
  void set_fork_parent(ForkJoin* parent) noexcept { on_end_ = reinterpret_cast<std::uintptr_t>(parent) | kForkParentBit; }
  ForkJoin* fork_parent() const noexcept {
    assert((on_end_ & kForkParentBit) != 0 && "fork_parent: not a fork-join child");
    return reinterpret_cast<ForkJoin*>(on_end_ & ~kForkParentBit);
  }

  // A Task not yet awaited may be marked to take a pending cancel request itself instead
  // of having it delivered on the way in (TaskAwaiter): wait_for on a handle, which
  // forwards the request to the awaited task and waits for it, as `co_await handle`
  // does. Kept in on_end_ until the Task is awaited, spawned or bound to a fork-join
  // (each overwrites it); 2 is no frame address and has no fork-parent bit.
  void defer_entry_cancel() noexcept { on_end_ = kDeferEntryCancel; }
  bool defers_entry_cancel() const noexcept { return on_end_ == kDeferEntryCancel; }
  void clear_end() noexcept { on_end_ = 0; }

  // What escaped the body (also a CancelledError); null when it returned.
  std::exception_ptr failure_;

  static void* operator new(std::size_t size) { return allocate_frame(size); }
  static void operator delete(void* frame, std::size_t size) noexcept { free_frame(frame, size); }

  std::suspend_always initial_suspend() noexcept { return {}; }

  struct FinalAwaiter {
    bool await_ready() noexcept { return false; }
    template <class Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> self) noexcept {
      PromiseBase& promise = self.promise();
      const std::uintptr_t on_end = promise.on_end_;
      if ((on_end & kForkParentBit) != 0) return fork_child_ended(promise.fork_parent(), promise);
      if (on_end != 0) return std::coroutine_handle<>::from_address(reinterpret_cast<void*>(on_end));
      publish_root_outcome(*promise.task_, promise.failure_);
      return std::noop_coroutine();
    }
    void await_resume() noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }

  void unhandled_exception() noexcept { failure_ = std::current_exception(); }

  template <class U>
  auto await_transform(Task<U>&& child);
  template <class U>
  auto await_transform(Task<U>& child) {
    return await_transform(std::move(child));
  }

  template <class A>
    requires WeftAwaitable<A>
  auto await_transform(A&& awaitable) {
    return std::forward<A>(awaitable).weft_awaiter(*task_);
  }

  template <class A>
    requires(!WeftAwaitable<A>)
  auto await_transform(A&& awaitable) {
    using Awaiter = decltype(get_awaiter(std::forward<A>(awaitable)));
    return ForeignAwaiter<Awaiter>(get_awaiter(std::forward<A>(awaitable)), *task_);
  }

  bool failed() const noexcept { return static_cast<bool>(failure_); }

 private:
  static constexpr std::uintptr_t kForkParentBit = 1;
  static constexpr std::uintptr_t kDeferEntryCancel = 2;
  std::uintptr_t on_end_ = 0;  // see set_continuation

 protected:
  // An inline child's failure propagates to its awaiter, which thereby observes it.
  void rethrow_if_failed() {
    if (failure_) [[unlikely]] rethrow_failure();
  }
  // Out of line: the exception_ptr's copy and the call would cost every coroutine that
  // awaits a Task registers at each of its entries (see ForkJoin::next_inline).
  [[noreturn, gnu::noinline, gnu::cold]] void rethrow_failure() const { std::rethrow_exception(failure_); }
};

// Every frame carries one (a sleeping task's among them: bench/memory).
static_assert(sizeof(PromiseBase) == 3 * sizeof(void*), "PromiseBase: the task, where to go at the end, the failure");

template <class T>
class Promise : public PromiseBase {
 public:
  Task<T> get_return_object() noexcept;

  template <class U>
    requires std::convertible_to<U&&, T>
  void return_value(U&& value) {
    value_.emplace(std::forward<U>(value));
  }

  // Inline await: the awaiter is the only reader, once.
  T take_inline_result() {
    rethrow_if_failed();
    return std::move(*value_);
  }

  // JoinHandle retrieval of a completed task: copies, or moves out once when T is
  // move-only (a second retrieval then throws InvalidStateError).
  T retrieve_value() {
    if constexpr (std::is_copy_constructible_v<T>) {
      return *value_;
    } else {
      if (value_taken_.exchange(true, std::memory_order_relaxed))  // Relaxed: one owner
        throw InvalidStateError("weft: the move-only result was already retrieved");
      return std::move(*value_);
    }
  }

  // The promise of a spawned task, found through its header.
  static Promise& of(const TaskHeader& task) noexcept {
    return std::coroutine_handle<Promise>::from_address(task.root.address()).promise();
  }

 private:
  std::optional<T> value_;
  std::atomic<bool> value_taken_{false};
};

template <>
class Promise<void> : public PromiseBase {
 public:
  Task<void> get_return_object() noexcept;
  void return_void() noexcept {}
  void take_inline_result() { rethrow_if_failed(); }
  void retrieve_value() {}
  static Promise& of(const TaskHeader& task) noexcept {
    return std::coroutine_handle<Promise>::from_address(task.root.address()).promise();
  }
};

// co_await of a lazy Task inside a task: runs the child inline by symmetric transfer.
template <class U>
class TaskAwaiter {
 public:
  TaskAwaiter(std::coroutine_handle<Promise<U>> child, TaskHeader& task) : child_(child), task_(task) {}

  bool await_ready() {
    if (!child_) throw InvalidStateError("weft: co_await of an empty Task");
    if (!child_.promise().defers_entry_cancel()) throw_if_cancel_pending(task_);
    return false;
  }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> parent) noexcept {
    child_.promise().task_ = &task_;
    child_.promise().set_continuation(parent);
    return child_;
  }
  U await_resume() { return child_.promise().take_inline_result(); }

 private:
  std::coroutine_handle<Promise<U>> child_;
  TaskHeader& task_;
};

}  // namespace weft::detail

// ForkJoin, for fork_child_ended.
#include <weft/detail/fork_join.hpp>
