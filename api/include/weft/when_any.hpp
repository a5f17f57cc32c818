#pragma once
// when_any: run lazy Tasks in parallel as children; the first to finish (with a value
// or a failure) wins, the others are cancelled and awaited, then the winner's value is
// returned (with its index) or its failure rethrown. Cancelling the awaiting task
// cancels every child, waits for them, and throws CancelledError.
#include <cstddef>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include <weft/detail/siblings.hpp>
#include <weft/errors.hpp>
#include <weft/join_handle.hpp>
#include <weft/task.hpp>

namespace weft {

template <class T>
struct WhenAnyResult {
  std::size_t index = 0;
  T value;
};
template <>
struct WhenAnyResult<void> {
  std::size_t index = 0;
};

namespace detail {

template <class T>
Task<WhenAnyResult<T>> when_any_vector(std::vector<Task<T>> tasks) {
  if (tasks.empty()) throw std::invalid_argument("weft::when_any: no tasks");
  for (const Task<T>& task : tasks)  // before anything runs, as gather does
    if (!task.valid()) throw InvalidStateError("weft::when_any: an empty Task");
  Siblings siblings(Siblings::Decides::AnyEnd);
  std::vector<JoinHandle<T>> handles;
  handles.reserve(tasks.size());
  std::vector<TaskHeader*> children;
  children.reserve(tasks.size());
  siblings.reserve(tasks.size());
  Task<void> all_ends = await_all_ends(children, siblings);  // allocated before any spawn
  // A spawn that fails (RuntimeClosed as the runtime shuts down, std::bad_alloc) must
  // not leave the children already spawned running: they report to `siblings`, in this
  // frame. They are cancelled and awaited, then the failure is rethrown.
  std::exception_ptr spawn_failure;
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    try {
      handles.push_back(spawn_sibling(std::move(tasks[i]), siblings, i));
    } catch (...) {
      spawn_failure = std::current_exception();
      break;
    }
    children.push_back(&handles.back().header());
  }
  if (spawn_failure) siblings.cancel_all();
  co_await std::move(all_ends);
  if (spawn_failure) {
    for (JoinHandle<T>& handle : handles) {
      try {
        (void)handle.exception();  // retrieved: none is reported as unobserved
      } catch (const TaskCancelled&) {
      }
    }
    std::rethrow_exception(spawn_failure);
  }
  // Nobody decided only if every child was cancelled before it ever ran (from outside):
  // then the first one's TaskCancelled is the answer.
  const long decisive = siblings.decisive();
  const std::size_t winner = decisive < 0 ? 0 : static_cast<std::size_t>(decisive);
  // The losers were cancelled by the winner (or failed on their own): their outcomes
  // are retrieved so that none is reported as unobserved.
  for (std::size_t i = 0; i < handles.size(); ++i) {
    if (i == winner) continue;
    try {
      (void)handles[i].exception();
    } catch (const TaskCancelled&) {
    }
  }
  if constexpr (std::is_void_v<T>) {
    handles[winner].result();
    co_return WhenAnyResult<void>{winner};
  } else {
    T value = handles[winner].result();
    co_return WhenAnyResult<T>{winner, std::move(value)};
  }
}

}  // namespace detail

template <class T>
Task<WhenAnyResult<T>> when_any(std::vector<Task<T>> tasks) {
  return detail::when_any_vector(std::move(tasks));
}

template <class T, class... More>
  requires(std::is_same_v<Task<T>, More> && ...)
Task<WhenAnyResult<T>> when_any(Task<T> first, More... more) {
  std::vector<Task<T>> tasks;
  tasks.reserve(1 + sizeof...(More));
  tasks.push_back(std::move(first));
  (tasks.push_back(std::move(more)), ...);
  return detail::when_any_vector(std::move(tasks));
}

}  // namespace weft
