#pragma once
// gather: run lazy Tasks in parallel as children and collect their results (asyncio.gather,
// made structured: it never returns before every child it started has finished).
//
//   gather(a, b, c) -> std::tuple<A, B, C>       (void -> std::monostate)
//   gather(std::vector<Task<T>>) -> std::vector<T>
//   gather(std::array<Task<T>, N>) -> std::array<T, N>   (allocates nothing of its own)
//   The first failure (an exception, or a child's cancellation) cancels the others;
//   once all have finished it is rethrown (a cancelled child as TaskCancelled).
//   gather(return_exceptions, ...) -> one Outcome<T> per child; cancels nothing.
//   Cancelling the gathering task cancels every child (with or without the tag),
//   waits for all of them, then throws CancelledError.
//
// gather(Task...), gather(array) and gather(vector) are the fork-join primitive
// (detail/fork_join.hpp): the children are queued on the calling worker's deque, where
// idle workers steal them, and those nobody stole run inline, one after the other, at
// about the cost of a co_await each. A child runs in the gathering task (this_task::
// names it) unless a thief took it, which runs it as a helper task of its own. They
// return an awaitable that converts to a Task (to spawn it, or pass it where a Task is
// wanted).
// The return_exceptions forms spawn each child as a task (they collect every outcome
// and cancel nothing, so they are not the fork-join path); every other child's failure
// is marked retrieved, as asyncio does, so only the one rethrown is seen.
#include <array>
#include <cstddef>
#include <exception>
#include <iterator>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <weft/detail/fork_join.hpp>
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

// An inline child's value, void as std::monostate.
template <class T>
ValueOrMonostate<T> take_child_value(const Task<T>& task) {
  if constexpr (std::is_void_v<T>) {
    TaskAccess::frame(task).promise().take_inline_result();
    return std::monostate{};
  } else {
    return TaskAccess::frame(task).promise().take_inline_result();
  }
}

template <class T>
struct IsStdArray : std::false_type {};
template <class T, std::size_t N>
struct IsStdArray<std::array<T, N>> : std::true_type {};

template <class T>
void bind_child(ForkJoin::Child& child, const Task<T>& task) {
  if (!task.valid()) throw InvalidStateError("weft: gather of an empty Task");
  auto frame = TaskAccess::frame(task);
  child.frame = frame;
  child.promise = &frame.promise();
}

// gather of a number of children fixed at compile time: `Tasks` is std::tuple<Task<Ts>...>
// (gather(Task...)) or std::array<Task<T>, N> (gather(std::array)), `Result` the tuple or
// array of their values. Owns the children until the end of the co_await; the children's
// records live in the awaiter, so nothing here allocates. A g++ 12 double destruction of
// the co_await operand (docs/COMPILERS.md) is harmless: a destroyed Task forgets its frame.
template <class Tasks, class Result>
class [[nodiscard]] GatherFixed {
 public:
  using result_type = Result;
  static constexpr std::size_t kCount = std::tuple_size_v<Tasks>;
  static constexpr bool kIsArray = IsStdArray<Tasks>::value;

  explicit GatherFixed(Tasks&& tasks) : tasks_(std::move(tasks)) {}

  class Awaiter {
   public:
    Awaiter(Tasks& tasks, TaskHeader& self)
        : tasks_(tasks), self_(self), join_(children_.data(), kCount, self) {}
    Awaiter(const Awaiter&) = delete;

    bool await_ready() {
      if constexpr (kIsArray) {
        // A loop, not a fold: clang stops a fold expression at 256 nested operands.
        for (std::size_t i = 0; i < kCount; ++i) bind_child(children_[i], tasks_[i]);
      } else {
        std::apply([&](auto&... task) {
          std::size_t i = 0;
          (bind_child(children_[i++], task), ...);
        }, tasks_);
      }
      throw_if_cancel_pending(self_);
      // gather() of no Task: nothing to fork (ForkJoin::start needs a child 0).
      return kCount == 0;
    }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<> parent) noexcept { return join_.start(parent); }
    result_type await_resume() {
      join_.finish();
      // A pack expansion in a braced list (not nested, unlike a fold): any N compiles.
      return [&]<std::size_t... I>(std::index_sequence<I...>) {
        return result_type{take_child_value(std::get<I>(tasks_))...};
      }(std::make_index_sequence<kCount>{});
    }

   private:
    Tasks& tasks_;
    TaskHeader& self_;
    std::array<ForkJoin::Child, kCount> children_;
    ForkJoin join_;
  };

  Awaiter weft_awaiter(TaskHeader& self) { return Awaiter(tasks_, self); }

  // As a Task of its own (to spawn, to pass to wait_for, ...).
  operator Task<result_type>() && { return as_task(std::move(*this)); }

 private:
  static Task<result_type> as_task(GatherFixed gather) { co_return co_await gather; }
  Tasks tasks_;
};

template <class... Ts>
using GatherTuple = GatherFixed<std::tuple<Task<Ts>...>, std::tuple<ValueOrMonostate<Ts>...>>;

template <class T, std::size_t N>
using GatherArray = GatherFixed<std::array<Task<T>, N>, std::array<ValueOrMonostate<T>, N>>;

// gather(std::vector<Task<T>>). Fork-join code gathers a vector at every node of its
// recursion (skynet: 111,111 of them), so nothing here allocates beyond the result
// vector: the children's records live in the awaiter (up to kInlineChildren; more go to
// the heap) and the Tasks stay in the caller's vector, held in a union so that a g++ 12
// double destruction of the co_await operand (docs/COMPILERS.md) finds it gone.
template <class T>
class [[nodiscard]] GatherVector {
 public:
  using result_type = std::vector<ValueOrMonostate<T>>;
  static constexpr std::size_t kInlineChildren = 16;

  explicit GatherVector(std::vector<Task<T>> tasks) { new (&tasks_) std::vector<Task<T>>(std::move(tasks)); }
  GatherVector(GatherVector&& other) noexcept { new (&tasks_) std::vector<Task<T>>(std::move(other.tasks_)); }
  GatherVector& operator=(GatherVector&&) = delete;
  ~GatherVector() {
    if (destroyed_) return;  // the second of g++ 12's two destructor calls
    destroyed_ = true;
    tasks_.~vector();
  }

  class Awaiter {
   public:
    Awaiter(std::vector<Task<T>>& tasks, TaskHeader& self)
        : tasks_(tasks), self_(self), children_(make_children(tasks.size())),
          join_(children_, tasks.size(), self) {}
    Awaiter(const Awaiter&) = delete;

    bool await_ready() {
      for (std::size_t i = 0; i < tasks_.size(); ++i) bind_child(children_[i], tasks_[i]);
      throw_if_cancel_pending(self_);
      return tasks_.empty();
    }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<> parent) noexcept { return join_.start(parent); }
    result_type await_resume() {
      join_.finish();
      result_type values;
      values.reserve(tasks_.size());
      for (auto& task : tasks_) values.push_back(take_child_value(task));
      return values;
    }

   private:
    ForkJoin::Child* make_children(std::size_t count) {
      if (count > kInlineChildren) {
        heap_children_ = std::make_unique<ForkJoin::Child[]>(count);
        return heap_children_.get();
      }
      // Child is trivially destructible: constructing only the ones used is enough.
      auto* first = reinterpret_cast<ForkJoin::Child*>(inline_children_);
      for (std::size_t i = 0; i < count; ++i) new (first + i) ForkJoin::Child();
      return first;
    }

    std::vector<Task<T>>& tasks_;
    TaskHeader& self_;
    alignas(ForkJoin::Child) unsigned char inline_children_[kInlineChildren * sizeof(ForkJoin::Child)];
    std::unique_ptr<ForkJoin::Child[]> heap_children_;
    ForkJoin::Child* const children_;
    ForkJoin join_;
  };

  Awaiter weft_awaiter(TaskHeader& self) { return Awaiter(tasks_, self); }

  operator Task<result_type>() && { return as_task(std::move(*this)); }

 private:
  static Task<result_type> as_task(GatherVector gather) { co_return co_await gather; }
  union {
    std::vector<Task<T>> tasks_;
  };
  bool destroyed_ = false;
};

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

template <class T, std::size_t N>
Task<std::array<weft::Outcome<T>, N>> gather_array_outcomes(std::array<Task<T>, N> tasks) {
  std::vector<Task<T>> in_a_vector(std::make_move_iterator(tasks.begin()), std::make_move_iterator(tasks.end()));
  std::vector<weft::Outcome<T>> outcomes = co_await gather_vector_outcomes(std::move(in_a_vector));
  co_return [&]<std::size_t... I>(std::index_sequence<I...>) {
    return std::array<weft::Outcome<T>, N>{std::move(outcomes[I])...};
  }(std::make_index_sequence<N>{});
}

}  // namespace detail

template <class... Ts>
detail::GatherTuple<Ts...> gather(Task<Ts>... tasks) {
  return detail::GatherTuple<Ts...>(std::tuple<Task<Ts>...>(std::move(tasks)...));
}

// A fixed number of children of one type, without the two vectors of gather(vector):
// fork-join code that splits in a known number of parts (a 10-ary tree: bench/skynet).
template <class T, std::size_t N>
detail::GatherArray<T, N> gather(std::array<Task<T>, N>&& tasks) {
  return detail::GatherArray<T, N>(std::move(tasks));
}

template <class... Ts>
Task<std::tuple<Outcome<Ts>...>> gather(return_exceptions_t, Task<Ts>... tasks) {
  return detail::gather_outcomes(std::move(tasks)...);
}

template <class T>
detail::GatherVector<T> gather(std::vector<Task<T>> tasks) {
  return detail::GatherVector<T>(std::move(tasks));
}

template <class T>
Task<std::vector<Outcome<T>>> gather(return_exceptions_t, std::vector<Task<T>> tasks) {
  return detail::gather_vector_outcomes(std::move(tasks));
}

template <class T, std::size_t N>
Task<std::array<Outcome<T>, N>> gather(return_exceptions_t, std::array<Task<T>, N> tasks) {
  return detail::gather_array_outcomes(std::move(tasks));
}

}  // namespace weft
