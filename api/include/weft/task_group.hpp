#pragma once
// task_group: structured concurrency with asyncio.TaskGroup semantics (Python 3.11+).
//
//   co_await weft::task_group([&](weft::TaskGroup& g) -> weft::Task<void> {
//     JoinHandle<int> a = g.spawn(child());
//     ...
//     co_return;
//   });
//
// * Finishes when the body and every child have finished (and are done(): their
//   JoinHandles can be read at once).
// * The first failure (an exception that is not a CancelledError) of a child or of the
//   body aborts the group: the body and every other child are cancelled. Once all have
//   finished, every failure, in order of occurrence, is thrown together as
//   ExceptionGroup.
// * Cancelling the owner (the task awaiting task_group) aborts the group the same way;
//   once all have finished it throws CancelledError with the owner's message, unless a
//   failure was recorded (a child failing in its cleanup, say): then ExceptionGroup,
//   and the owner's cancellation is requested again (cancelling() unchanged), so that its
//   next suspension point throws CancelledError (asyncio 3.13, gh-116720).
// * A body that lets a CancelledError of its own escape (not caused by the group nor by
//   the owner) aborts the group too, which then throws CancelledError (asyncio
//   propagates the body's CancelledError).
// * From the first failure or the owner's cancellation on (and once the group has
//   finished), TaskGroup::spawn throws InvalidStateError; the Task passed is destroyed.
// * Children that end cancelled, whoever cancelled them, are not failures.
//
// Design
//   The body runs as a child task of the group, like the children (so the group's
//   cancellation of its members never touches the owner's cancel count: asyncio needs
//   uncancel() tricks for that, we do not). The owner only waits. The one place the
//   owner's count is touched is an owner's cancellation that an ExceptionGroup hides:
//   it is withdrawn and requested again (count unchanged), as in asyncio 3.13.
//
//   Every member (body or child) is spawned as a small wrapper coroutine that awaits the
//   user's Task inline and destroys its frame before the wrapper ends, so the user's
//   coroutine parameters are gone before the group can finish. The member's end is seen
//   through a ChildLink installed as the task header's completion_link: the runtime destroys
//   the completion_link in RuntimeCore::complete(), for every way a task ends, including a task
//   cancelled before its first run (whose body, and thus the wrapper, never runs). The
//   link's destructor (running on the completing worker, after the outcome was written):
//     1. destroys the user's Task if the wrapper never took it;
//     2. under the group mutex, records a failure (marking it observed: the group
//        retrieves it), and on the first failure marks the group aborted and snapshots
//        the other members, each with a reference taken;
//     3. outside the mutex, request_cancel()s the snapshot, then drops those references;
//     4. under the mutex, decrements the live count; at zero, wins the owner's
//        registered wait (WaitCell::try_wake, under the mutex, so that an owner that
//        leaves after a cancel, which passes through the mutex to withdraw, cannot be
//        freed meanwhile) and reschedules it.
//   The link chains any StopCallbackLink that SpawnOptions::stop made.
//
//   The owner waits with DrainAwaiter, a wait-protocol awaiter (core/wait_cell.hpp):
//   arm, register (task, generation) under the mutex, Dekker re-check of its own
//   cancellation. Its cancellation does not end the wait: the awaiter reports it, the
//   owner aborts the group (cancels all members) and waits again. While the runtime
//   shuts down the request stays pending, so the drain ignores it (it would spin) and
//   just waits: shutdown cancels every member anyway, so the owner never leaves while
//   the body (which may reference the body lambda stored in the owner's frame) runs.
//
//   The link's destructor runs just before the task is marked COMPLETE, so after the
//   live count reached zero the owner yields (without delivering cancellation) until
//   every member's header reads COMPLETE. The group holds one reference on every
//   member's header, dropped when the group finishes.
//
//   Locking: the group mutex is a leaf. It is never held while calling request_cancel
//   (which takes cancel locks and can run stop callbacks), wake_task or release_task;
//   under it only the group's fields, WaitCell::try_wake (one atomic) and reference
//   increments are touched.
//
//   Lifetimes: GroupState is shared (owner's frame, TaskGroup, every ChildLink); the
//   group's references on the members keep their headers valid for the abort snapshot,
//   which takes references of its own before leaving the mutex. The owner leaves only
//   after every member ended, also during shutdown, so the body lambda (kept in the
//   owner's task_group frame) and whatever its captures point to outlive the members.
#include <algorithm>
#include <atomic>
#include <concepts>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <weft/detail/quiet_yield.hpp>
#include <weft/errors.hpp>
#include <weft/join_handle.hpp>
#include <weft/spawn.hpp>
#include <weft/task.hpp>

namespace weft {

class TaskGroup;

namespace detail {

struct GroupState {
  explicit GroupState(RuntimeCore& rt) : runtime(rt) {}
  GroupState(const GroupState&) = delete;
  GroupState& operator=(const GroupState&) = delete;
  ~GroupState() {
    for (TaskHeader* member : members) release_task(*member);
  }

  RuntimeCore& runtime;
  std::mutex mutex;
  // Guarded by mutex.
  std::size_t live = 0;                  // members spawned and not ended
  std::vector<TaskHeader*> members;      // every member, with the group's reference
  std::vector<std::exception_ptr> errors;
  bool aborted = false;                  // first failure / owner cancel / body cancel
  bool finished = false;                 // the owner saw live == 0: no more spawns
  bool owner_cancelled = false;
  std::string owner_message;
  bool body_cancelled = false;           // the body's own CancelledError escaped
  std::string body_message;
  TaskHeader* body = nullptr;
  TaskHeader* waiter = nullptr;          // the owner, while it waits for live == 0
  std::uint64_t waiter_generation = 0;

  // Under mutex: marks the group aborted and returns the members to cancel (except
  // `except`), each with a reference taken. Empty if it was aborted already.
  std::vector<TaskHeader*> abort_locked(TaskHeader* except) {
    std::vector<TaskHeader*> out;
    if (aborted) return out;
    aborted = true;
    out.reserve(members.size());
    for (TaskHeader* member : members) {
      if (member == except) continue;
      member->state.ref_inc();
      out.push_back(member);
    }
    return out;
  }

  // Outside the mutex.
  static void cancel_all(std::vector<TaskHeader*>& victims) noexcept {
    for (TaskHeader* victim : victims) {
      try {
        request_cancel(*victim, {});
      } catch (...) {
        // Allocation failure for the message; the request itself is registered.
      }
      release_task(*victim);
    }
    victims.clear();
  }

  // Under mutex: one member fewer. At zero, wins the owner's wait and returns the owner,
  // for the caller to wake_task() once it has let go of the mutex (having won, nobody
  // else resumes the owner, so it stays alive until then). The try_wake itself happens
  // under the mutex: an owner woken by a canceller withdraws under it before it goes on,
  // so it is alive here.
  [[nodiscard]] TaskHeader* leave_locked() noexcept {
    if (--live != 0 || waiter == nullptr) return nullptr;
    TaskHeader* owner = std::exchange(waiter, nullptr);
    return owner->wait.try_wake(waiter_generation) ? owner : nullptr;
  }
  static void wake(TaskHeader* owner) noexcept {
    if (owner != nullptr) wake_task(*owner);
  }

  // Called from the member's ChildLink destructor when the member ended.
  void member_ended(TaskHeader& member) noexcept {
    std::vector<TaskHeader*> victims;
    // Same thread as the writer of the outcome (or ordered by the worker hand-off).
    const Outcome outcome = member.outcome.load(std::memory_order_relaxed);
    {
      std::lock_guard guard(mutex);
      if (outcome == Outcome::Exception) {
        member.mark_failure_observed();  // the group retrieves it
        try {
          errors.push_back(member.failure());
        } catch (...) {
          // Out of memory: the failure is lost, the abort still happens.
        }
        victims = abort_locked(&member);
      } else if (outcome == Outcome::Cancelled && &member == body && !aborted) {
        // The body's own CancelledError (asyncio propagates it): abort, throw it at the end.
        body_cancelled = true;
        try {
          if (const TaskExtras* extras = member.find_extras()) body_message = extras->outcome_message;
        } catch (...) {
          // Out of memory for the message: CancelledError without it.
        }
        victims = abort_locked(&member);
      }
    }
    cancel_all(victims);
    TaskHeader* owner = nullptr;
    {
      std::lock_guard guard(mutex);
      owner = leave_locked();
    }
    wake(owner);
  }
};

// Installed as the member's completion_link: its destruction (RuntimeCore::complete) is the
// member's end. Owns the user's Task until the wrapper takes it, and any stop-token link.
template <class T>
struct ChildLink final : CompletionLink {
  ChildLink(std::shared_ptr<GroupState> group, Task<T>&& task)
      : state(std::move(group)), inner(std::move(task)) {}
  ~ChildLink() override {
    chained.reset();                 // no stop request from now on
    inner = Task<T>();               // never started: the user's frame goes now
    if (armed) state->member_ended(*member);
  }

  std::shared_ptr<GroupState> state;
  Task<T> inner;
  std::unique_ptr<CompletionLink> chained;
  TaskHeader* member = nullptr;
  bool armed = false;  // registered in the group and queued
};

// The member's coroutine: runs the user's Task inline and destroys its frame before
// it ends (the local goes at co_return, or while the failure unwinds).
template <class T>
Task<T> group_member(ChildLink<T>* link) {
  Task<T> inner = std::move(link->inner);
  if constexpr (std::is_void_v<T>) {
    co_await std::move(inner);
  } else {
    co_return co_await std::move(inner);
  }
}

// What a drain wait reports.
struct DrainResult {
  bool own_cancel = false;
  std::string message;
};

// The owner's wait for live == 0 (see the design notes above).
class DrainAwaiter {
 public:
  DrainAwaiter(GroupState& group, TaskHeader& self) : group_(group), self_(self) {}
  DrainAwaiter(const DrainAwaiter&) = delete;

  bool await_ready() {
    const bool closing = runtime_closed(*self_.runtime);
    if (self_.state.cancel_requested_relaxed() && take_cancel_request(self_, result_.message)) {
      result_.own_cancel = true;
      if (!closing) return true;  // the owner aborts the group, then waits again
    }
    std::lock_guard guard(group_.mutex);
    return group_.live == 0;
  }

  bool await_suspend(std::coroutine_handle<> handle) {
    self_.resume_point = handle;
    self_.set_awaiting(detail::Awaiting::TaskGroup);
    generation_ = self_.arm_wait();
    armed_ = true;
    {
      std::lock_guard guard(group_.mutex);
      if (group_.live != 0) {
        group_.waiter = &self_;
        group_.waiter_generation = generation_;
        registered_ = true;
      }
    }
    // Everything ended meanwhile: win our own wait back (a canceller that won wakes us).
    if (!registered_) return !self_.wait.try_wake(generation_);
    // The Dekker half (core/wait_cell.hpp). Not while shutting down: the request stays
    // pending then, and the drain just waits for the members, which shutdown cancels.
    if (!runtime_closed(*self_.runtime) && self_.state.cancel_requested_seq_cst() &&
        self_.wait.try_cancel(generation_))
      return false;
    return true;
  }

  DrainResult await_resume() {
    self_.clear_awaiting();
    if (armed_ && self_.wait.status() == WaitCell::CANCELLED) {
      {
        std::lock_guard guard(group_.mutex);
        if (group_.waiter == &self_) group_.waiter = nullptr;
      }
      std::string message;
      if (take_cancel_request(self_, message)) {
        if (!result_.own_cancel) result_.message = std::move(message);
        result_.own_cancel = true;
      }
    }
    return std::move(result_);
  }

 private:
  GroupState& group_;
  TaskHeader& self_;
  std::uint64_t generation_ = 0;
  bool armed_ = false;
  bool registered_ = false;
  DrainResult result_;
};

struct Drain {
  GroupState& group;
  DrainAwaiter weft_awaiter(TaskHeader& self) const { return DrainAwaiter(group, self); }
};

}  // namespace detail

class TaskGroup {
 public:
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;

  // Spawns a child of the group on the group's runtime. InvalidStateError once the
  // group is aborting or finished (the Task is destroyed), RuntimeClosed during
  // shutdown. Two overloads rather than a defaulted SpawnOptions: see weft::spawn.
  template <class T>
  JoinHandle<T> spawn(Task<T> task, SpawnOptions options, detail::SpawnSite site = detail::SpawnSite::here()) {
    return spawn_member(std::move(task), std::move(options), site, false);
  }
  template <class T>
  JoinHandle<T> spawn(Task<T> task, detail::SpawnSite site = detail::SpawnSite::here()) {
    return spawn_member(std::move(task), SpawnOptions(), site, false);
  }

 private:
  template <class F>
  friend Task<void> task_group(F body);

  explicit TaskGroup(std::shared_ptr<detail::GroupState> state) : state_(std::move(state)) {}

  template <class T>
  JoinHandle<T> spawn_member(Task<T>&& task, SpawnOptions&& options, detail::SpawnSite site,
                             bool is_body) {
    if (!task.valid()) throw InvalidStateError("weft: TaskGroup::spawn of an empty Task");
    detail::GroupState& group = *state_;
    {
      // Early refusal, before allocating anything (checked again below).
      std::lock_guard guard(group.mutex);
      if (group.aborted || group.finished) throw_refused(group);
    }
    auto link = std::make_unique<detail::ChildLink<T>>(state_, std::move(task));
    detail::TaskHeader& header = detail::adopt_task(detail::group_member<T>(link.get()));
    header.set_name(std::move(options.name));
    header.spawned_at = site;
    struct FrameGuard {
      detail::TaskHeader* task;
      ~FrameGuard() {
        if (task != nullptr) detail::discard_task(*task);
      }
    } frame_guard{&header};
    detail::attach_stop_token(header, options.stop);
    detail::TaskExtras& extras = header.extras();
    link->chained = std::move(extras.completion_link);
    link->member = &header;
    {
      std::lock_guard guard(group.mutex);
      if (group.aborted || group.finished) {
        // `link` (and the user's Task in it) and the frame go on the way out.
        throw_refused(group);
      }
      // May throw: nothing changed yet. Geometric: reserve(size() + 1) reallocates (and
      // copies every member, under the mutex) on every spawn.
      if (group.members.size() == group.members.capacity())
        group.members.reserve(std::max<std::size_t>(8, 2 * group.members.capacity()));
      ++group.live;
      group.members.push_back(&header);
      header.state.ref_inc();  // the group's reference
      if (is_body) group.body = &header;
      link->armed = true;
    }
    detail::ChildLink<T>* raw_link = link.get();
    extras.completion_link = std::move(link);
    if (detail::submit_task(group.runtime, header) == detail::SubmitResult::Closed) {
      detail::TaskHeader* owner = nullptr;
      {
        std::lock_guard guard(group.mutex);
        raw_link->armed = false;
        std::erase(group.members, static_cast<detail::TaskHeader*>(&header));
        if (is_body) group.body = nullptr;
        owner = group.leave_locked();
      }
      detail::GroupState::wake(owner);
      // Drop all three references (group, execution, handle) instead of destroying the
      // frame: a sibling's abort may hold one for a moment (it snapshotted us). The last
      // one frees the frame, with the link (disarmed) and the user's Task in it.
      frame_guard.task = nullptr;
      detail::release_task(header);
      detail::release_task(header);
      detail::release_task(header);
      throw RuntimeClosed();
    }
    frame_guard.task = nullptr;
    return JoinHandle<T>(&header);
  }

  [[noreturn]] static void throw_refused(const detail::GroupState& group) {
    if (group.finished) throw InvalidStateError("weft: TaskGroup is finished");
    throw InvalidStateError("weft: TaskGroup is shutting down");
  }

  std::shared_ptr<detail::GroupState> state_;
};

namespace detail {

[[noreturn]] inline void throw_group_errors(std::vector<std::exception_ptr> errors) {
  const std::size_t n = errors.size();
  throw ExceptionGroup("unhandled errors in a TaskGroup (" + std::to_string(n) +
                           (n == 1 ? " sub-exception)" : " sub-exceptions)"),
                       std::move(errors));
}

}  // namespace detail

// Runs `body(g)` (a callable returning Task<void>) as the group's body; awaitable
// (`co_await task_group(...)`) inside a task only. `body` is kept in this coroutine's
// frame until every member has ended, so a lambda's captures outlive the body.
template <class F>
Task<void> task_group(F body) {
  static_assert(std::is_invocable_r_v<Task<void>, F&, TaskGroup&>,
                "weft::task_group: the body must be callable as Task<void>(TaskGroup&)");
  detail::TaskHeader* self = detail::current_task();
  if (self == nullptr) throw NotInRuntime("weft::task_group: not in a task");
  auto state = std::make_shared<detail::GroupState>(*self->runtime);
  TaskGroup group(state);
  group.spawn_member(body(group), SpawnOptions(), detail::SpawnSite::here(), true);

  for (;;) {
    detail::DrainResult result = co_await detail::Drain{*state};
    std::vector<detail::TaskHeader*> victims;
    bool done = false;
    {
      std::lock_guard guard(state->mutex);
      if (result.own_cancel) {
        if (!state->owner_cancelled) state->owner_message = std::move(result.message);
        state->owner_cancelled = true;
        victims = state->abort_locked(nullptr);
      }
      if (state->live == 0) {
        state->finished = true;
        done = true;
      }
    }
    detail::GroupState::cancel_all(victims);
    if (done) break;
  }

  // The members' links ran just before they were marked COMPLETE: wait for that mark.
  // No lock needed: finished, so `members` no longer changes.
  for (detail::TaskHeader* member : state->members) {
    while (!member->state.load(std::memory_order_acquire).is_complete()) {
      co_await detail::QuietYield{detail::Awaiting::TaskGroup};
    }
  }

  std::vector<std::exception_ptr> errors;
  std::vector<detail::TaskHeader*> members;
  bool owner_cancelled = false;
  bool body_cancelled = false;
  std::string message;
  {
    std::lock_guard guard(state->mutex);
    errors = std::move(state->errors);
    owner_cancelled = state->owner_cancelled;
    body_cancelled = state->body_cancelled;
    message = owner_cancelled ? state->owner_message : state->body_message;
    members.swap(state->members);
  }
  // The group's references go now (outside the mutex: a frame may be freed here).
  for (detail::TaskHeader* member : members) release_task(*member);
  if (!errors.empty()) {
    // asyncio 3.13 (gh-116720): the failures win over the owner's cancellation, but that
    // cancellation is not lost: it is requested again (cancelling() unchanged), so the
    // owner's next suspension point throws CancelledError.
    if (owner_cancelled) {
      detail::task_uncancel(*self);
      detail::request_cancel(*self, message);
    }
    detail::throw_group_errors(std::move(errors));
  }
  if (owner_cancelled || body_cancelled) throw CancelledError(std::move(message));
}

}  // namespace weft
