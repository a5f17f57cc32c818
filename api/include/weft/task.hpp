#pragma once
// Task<T>: a lazy coroutine. Nothing runs until it is awaited (inline, in the awaiting
// task, sharing its cancellation) or spawned (as a task of its own). Movable, not
// copyable; destroying a Task that never ran destroys its frame.
#include <coroutine>
#include <utility>

#include <weft/detail/promise.hpp>

namespace weft {

template <class T = void>
class [[nodiscard]] Task {
 public:
  using promise_type = detail::Promise<T>;
  using value_type = T;

  Task() noexcept = default;
  Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      reset();
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { reset(); }

  bool valid() const noexcept { return static_cast<bool>(handle_); }

  // The frame, now owned by the caller (spawn).
  std::coroutine_handle<promise_type> release() noexcept { return std::exchange(handle_, nullptr); }

 private:
  friend class detail::Promise<T>;
  template <class U>
  friend class detail::TaskAwaiter;
  friend class detail::PromiseBase;
  friend struct detail::TaskAccess;
  explicit Task(std::coroutine_handle<promise_type> handle) noexcept : handle_(handle) {}
  void reset() noexcept {
    if (handle_) handle_.destroy();
    handle_ = nullptr;
  }
  std::coroutine_handle<promise_type> handle_;
};

namespace detail {

// The frame of a Task that stays its owner's (combinators that run it in place).
struct TaskAccess {
  template <class T>
  static std::coroutine_handle<Promise<T>> frame(const Task<T>& task) noexcept {
    return task.handle_;
  }
};

template <class T>
Task<T> Promise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<Promise<T>>::from_promise(*this));
}
inline Task<void> Promise<void>::get_return_object() noexcept {
  return Task<void>(std::coroutine_handle<Promise<void>>::from_promise(*this));
}

template <class U>
auto PromiseBase::await_transform(Task<U>&& child) {
  return TaskAwaiter<U>(child.handle_, *task_);
}

}  // namespace detail
}  // namespace weft
