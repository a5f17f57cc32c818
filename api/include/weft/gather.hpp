#pragma once
// gather: run lazy Tasks in parallel as children and collect their results (asyncio.gather,
// made structured: it never returns before every child it started has finished).
//
//   gather(a, b, c) -> std::tuple<A, B, C>       (void -> std::monostate)
//   gather(std::vector<Task<T>>) -> std::vector<T>
//   The first failure (an exception, or a child's cancellation) cancels the others;
//   once all have finished it is rethrown (a cancelled child as TaskCancelled).
//   gather(return_exceptions, ...) -> one Outcome<T> per child; cancels nothing.
//   Cancelling the gathering task cancels every child (with or without the tag),
//   waits for all of them, then throws CancelledError.
//
// Children are spawned as tasks on the current runtime (child stealing): idle workers
// steal them. Every other child's failure is marked retrieved, as asyncio does, so
// only the one rethrown is seen.
#include <cstddef>
#include <exception>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <weft/detail/siblings.hpp>
#include <weft/errors.hpp>
#include <weft/join_handle.hpp>
#include <weft/task.hpp>

namespace weft {

inline constexpr struct return_exceptions_t {
} return_exceptions{};

namespace detail {
template <class T>
using ValueOrMonostate = std::conditional_t<std::is_void_v<T>, std::monostate, T>;
}  // namespace detail

// How one child of gather(return_exceptions, ...) ended: as on JoinHandle, result()
// gives the value or rethrows, exception() is null on success, cancelled() tells a
// cancellation (result() and exception() then throw TaskCancelled).
template <class T>
class Outcome {
 public:
  using value_type = detail::ValueOrMonostate<T>;

  static Outcome of(JoinHandle<T>& handle) {
    Outcome outcome;
    if (handle.cancelled()) {
      try {
        (void)handle.exception();
      } catch (const TaskCancelled& cancelled) {
        outcome.state_.template emplace<2>(cancelled.message());
      }
    } else if (std::exception_ptr failure = handle.exception()) {
      outcome.state_.template emplace<1>(failure);
    } else if constexpr (std::is_void_v<T>) {
      outcome.state_.template emplace<0>(std::monostate{});
    } else {
      outcome.state_.template emplace<0>(handle.result());
    }
    return outcome;
  }

  bool cancelled() const noexcept { return state_.index() == 2; }
  std::exception_ptr exception() const {
    if (cancelled()) throw TaskCancelled(std::get<2>(state_));
    return state_.index() == 1 ? std::get<1>(state_) : nullptr;
  }
  value_type& result() & {
    rethrow();
    return std::get<0>(state_);
  }
  value_type result() && {
    rethrow();
    return std::move(std::get<0>(state_));
  }

 private:
  void rethrow() const {
    if (cancelled()) throw TaskCancelled(std::get<2>(state_));
    if (state_.index() == 1) std::rethrow_exception(std::get<1>(state_));
  }
  std::variant<value_type, std::exception_ptr, std::string> state_;
};

namespace detail {

template <class T>
ValueOrMonostate<T> take_value(JoinHandle<T>& handle) {
  if constexpr (std::is_void_v<T>) {
    handle.result();
    return std::monostate{};
  } else {
    return handle.result();
  }
}

// After every child ended: rethrow the decisive failure; mark the others retrieved.
template <class Handles>
void rethrow_first_failure(Handles& handles, Siblings& siblings) {
  const long decisive = siblings.decisive();
  std::exception_ptr first;
  std::size_t index = 0;
  std::apply(
      [&](auto&... handle) {
        auto look = [&](auto& h) {
          std::exception_ptr failure;
          try {
            failure = h.exception();  // marks it retrieved
          } catch (const TaskCancelled&) {
            failure = std::current_exception();
          }
          if (static_cast<long>(index) == decisive) first = failure;
          ++index;
        };
        (look(handle), ...);
      },
      handles);
  if (first) std::rethrow_exception(first);
}

template <class... Ts, std::size_t... Is>
std::tuple<JoinHandle<Ts>...> spawn_siblings(Siblings& siblings, std::index_sequence<Is...>, Task<Ts>... tasks) {
  // Braced init: spawned in argument order.
  return std::tuple<JoinHandle<Ts>...>{spawn_sibling(std::move(tasks), siblings, Is)...};
}

template <class... Ts>
Task<std::tuple<ValueOrMonostate<Ts>...>> gather_tuple(Task<Ts>... tasks) {
  Siblings siblings(Siblings::Decides::Failure);
  std::tuple<JoinHandle<Ts>...> handles =
      spawn_siblings(siblings, std::index_sequence_for<Ts...>{}, std::move(tasks)...);
  std::vector<TaskHeader*> children;
  std::apply([&](auto&... handle) { (children.push_back(&handle.header()), ...); }, handles);
  co_await await_all_ends(children, siblings);
  rethrow_first_failure(handles, siblings);
  co_return std::apply([](auto&... handle) { return std::tuple<ValueOrMonostate<Ts>...>(take_value(handle)...); },
                       handles);
}

template <class... Ts>
Task<std::tuple<weft::Outcome<Ts>...>> gather_outcomes(Task<Ts>... tasks) {
  // return_exceptions: nothing is decisive, nothing is cancelled by a failure.
  Siblings siblings(Siblings::Decides::Failure);
  std::tuple<JoinHandle<Ts>...> handles{spawn(std::move(tasks))...};
  std::vector<TaskHeader*> children;
  std::apply([&](auto&... handle) { (siblings.add(handle.header()), ...); }, handles);
  std::apply([&](auto&... handle) { (children.push_back(&handle.header()), ...); }, handles);
  co_await await_all_ends(children, siblings);
  co_return std::apply([](auto&... handle) { return std::tuple<weft::Outcome<Ts>...>(weft::Outcome<Ts>::of(handle)...); },
                       handles);
}

template <class T>
Task<std::vector<ValueOrMonostate<T>>> gather_vector(std::vector<Task<T>> tasks) {
  Siblings siblings(Siblings::Decides::Failure);
  std::vector<JoinHandle<T>> handles;
  handles.reserve(tasks.size());
  std::vector<TaskHeader*> children;
  children.reserve(tasks.size());
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    handles.push_back(spawn_sibling(std::move(tasks[i]), siblings, i));
    children.push_back(&handles.back().header());
  }
  co_await await_all_ends(children, siblings);
  const long decisive = siblings.decisive();
  std::exception_ptr first;
  for (std::size_t i = 0; i < handles.size(); ++i) {
    std::exception_ptr failure;
    try {
      failure = handles[i].exception();
    } catch (const TaskCancelled&) {
      failure = std::current_exception();
    }
    if (static_cast<long>(i) == decisive) first = failure;
  }
  if (first) std::rethrow_exception(first);
  std::vector<ValueOrMonostate<T>> values;
  values.reserve(handles.size());
  for (auto& handle : handles) values.push_back(take_value(handle));
  co_return values;
}

template <class T>
Task<std::vector<weft::Outcome<T>>> gather_vector_outcomes(std::vector<Task<T>> tasks) {
  Siblings siblings(Siblings::Decides::Failure);
  std::vector<JoinHandle<T>> handles;
  handles.reserve(tasks.size());
  std::vector<TaskHeader*> children;
  children.reserve(tasks.size());
  for (auto& task : tasks) {
    handles.push_back(spawn(std::move(task)));
    siblings.add(handles.back().header());
    children.push_back(&handles.back().header());
  }
  co_await await_all_ends(children, siblings);
  std::vector<weft::Outcome<T>> outcomes;
  outcomes.reserve(handles.size());
  for (auto& handle : handles) outcomes.push_back(weft::Outcome<T>::of(handle));
  co_return outcomes;
}

}  // namespace detail

template <class... Ts>
Task<std::tuple<detail::ValueOrMonostate<Ts>...>> gather(Task<Ts>... tasks) {
  return detail::gather_tuple(std::move(tasks)...);
}

template <class... Ts>
Task<std::tuple<Outcome<Ts>...>> gather(return_exceptions_t, Task<Ts>... tasks) {
  return detail::gather_outcomes(std::move(tasks)...);
}

template <class T>
Task<std::vector<detail::ValueOrMonostate<T>>> gather(std::vector<Task<T>> tasks) {
  return detail::gather_vector(std::move(tasks));
}

template <class T>
Task<std::vector<Outcome<T>>> gather(return_exceptions_t, std::vector<Task<T>> tasks) {
  return detail::gather_vector_outcomes(std::move(tasks));
}

}  // namespace weft
