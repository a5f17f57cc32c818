// ForkJoin's cold paths: helpers for children other workers took, failures, the wait
// for helpers, cancellation both ways, and the end. The protocol is in fork_join.hpp.
#include <cassert>
#include <new>
#include <string>

#include <weft/detail/fork_join.hpp>
#include <weft/errors.hpp>
#include <weft/join_handle.hpp>

namespace weft::detail {


// Installed as a helper's completion link: the runtime destroys it for every way the
// helper ends (its body returned or threw, or it was cancelled before it first ran).
struct ForkChildLink final : CompletionLink {
  ForkChildLink(ForkJoin& join, std::size_t index, TaskHeader& helper) : join(join), index(index), helper(helper) {}
  ~ForkChildLink() override {
    // Outcome::Cancelled is only ever stored for a helper by the worker that found it
    // cancelled before its first run: a fork child's own end publishes no outcome.
    // Relaxed: written by the same thread (the completer) before it destroys us.
    const bool never_ran = never_queued || helper.outcome.load(std::memory_order_relaxed) == Outcome::Cancelled;
    join.detached_ended(index, never_ran ? ForkJoin::DetachedEnd::NeverRan : ForkJoin::DetachedEnd::Ran);
  }
  ForkJoin& join;
  const std::size_t index;
  TaskHeader& helper;
  bool never_queued = false;  // then the header is being destroyed: do not read it
};

// The gathering task's own: its inline chain cannot go on without the record, so out
// of memory here terminates (noexcept). A thief uses make_slow and survives it.
ForkJoinSlow& ForkJoin::slow() noexcept { return make_slow(); }

// The record, made and installed if nobody has; std::bad_alloc if it cannot be made.
ForkJoinSlow& ForkJoin::make_slow() {
  // Acquire: pairs with the release of the CAS below (the record's construction), and
  // with a failed start's CAS (its child's link and failure, read by adopt_failed_starts).
  std::uintptr_t state = state_.load(std::memory_order_acquire);
  if (is_record(state)) return *as_record(state);
  auto fresh = std::make_unique<ForkJoinSlow>(count_);
  fresh->hook = &ForkJoin::forward_owner_cancel;
  for (;;) {
    adopt_failed_starts(*fresh, state);
    // acq_rel: release publishes our record; acquire (also on failure) sees the
    // failed starts listed since, or the winner's record. Only from exactly the list we
    // counted: a start that fails meanwhile is listed again, or sees our record.
    if (state_.compare_exchange_weak(state, reinterpret_cast<std::uintptr_t>(fresh.get()), std::memory_order_acq_rel,
                                     std::memory_order_acquire))
      return *fresh.release();
    if (is_record(state)) return *as_record(state);
  }
}

// Before the record is published (nobody else sees it yet, so no lock): the failed
// starts `state` lists are its first events, as detached_ended would have counted them.
// The earliest listed (the list's last) decides. Called again for each retry of the CAS.
void ForkJoin::adopt_failed_starts(ForkJoinSlow& slow, std::uintptr_t state) const noexcept {
  slow.detached_ended = 0;
  slow.decisive = -1;
  slow.owner_marked = false;
  slow.mark = InternalCancel{};
  // Relaxed (both stores of `cancelling` here): the record is not shared yet; make_slow's
  // release CAS publishes it.
  slow.cancelling.store(false, std::memory_order_relaxed);
  if (state == 0) return;
  const bool mark_pending = (state & kMarkPending) != 0;
  const Child* earliest = nullptr;
  for (const Child* child = failed_list(state); child != nullptr; child = child->next_failed) {
    earliest = child;
    // The marker's child: counted by the marker once its request is made.
    if (mark_pending && child->next_failed == nullptr) continue;
    ++slow.detached_ended;
  }
  slow.decisive = static_cast<long>(earliest - children_);
  slow.cancelling.store(true, std::memory_order_relaxed);
  // The marker made (or makes) the request fail_locked makes; no helper exists yet.
  slow.owner_marked = true;
  if (!mark_pending) slow.mark = orphan_mark_;
}

// A thief's start of `child` failed (out of memory: the current exception). The child
// fails with it, its body never run; see "Out of memory on the slow path" above.
void ForkJoin::start_failed(Child& child) noexcept {
  const auto index = static_cast<std::size_t>(&child - children_);
  // As if its body had thrown it. We own the child (taken from the deque); the owner
  // reads this after the record's lock or the CAS below.
  child.promise->failure_ = std::current_exception();
  // Acquire: pairs with make_slow's CAS (the record's construction).
  std::uintptr_t state = state_.load(std::memory_order_acquire);
  while (!is_record(state)) {
    const bool marker = state == 0;
    child.next_failed = failed_list(state);  // `frame` is not read again
    const std::uintptr_t listed =
        reinterpret_cast<std::uintptr_t>(&child) | kFailedStarts | (marker ? kMarkPending : (state & kMarkPending));
    // Release: publishes the failure and the link to the record's maker (its acquire).
    // Acquire on failure: as the load above.
    if (state_.compare_exchange_weak(state, listed, std::memory_order_release, std::memory_order_acquire)) {
      // Counted by the record's maker: the gather may end at any moment, unless we are
      // the marker (our child stays uncounted while kMarkPending is set).
      if (marker) mark_after_failed_start(index);
      return;
    }
  }
  detached_ended(index, DetachedEnd::StartFailed);
}

// The marker: the request on the owner task that fail_locked would have made (the
// owner lives: our child is not counted yet). Then hands it to the record's maker by
// clearing kMarkPending, or to the record made meanwhile.
void ForkJoin::mark_after_failed_start(std::size_t index) noexcept {
  InternalCancel mark;
  try {
    mark = request_internal_cancel(owner_);
  } catch (...) {
  }
  // Acquire: pairs with make_slow's CAS, if the record was installed meanwhile.
  std::uintptr_t state = state_.load(std::memory_order_acquire);
  while (!is_record(state)) {
    orphan_mark_ = mark;
    // Release: publishes orphan_mark_ to the maker that sees kMarkPending cleared.
    if (state_.compare_exchange_weak(state, state & ~kMarkPending, std::memory_order_release, std::memory_order_acquire))
      return;
  }
  // The maker set owner_marked and left our child and our request to us.
  detached_ended(index, DetachedEnd::StartFailed, &mark);
}

void ForkJoin::release_slow() noexcept {
  // Relaxed: the owner, at the end. A list of failed starts never lasts until then: the
  // owner made the record before it waited for them.
  const std::uintptr_t state = state_.exchange(0, std::memory_order_relaxed);
  if (state == 0 || state == kQueueFull) return;
  assert(is_record(state));
  ForkJoinSlow* slow = as_record(state);
  for (TaskHeader*& helper : slow->helpers)
    if (helper != nullptr) release_task(*std::exchange(helper, nullptr));
  delete slow;
}

std::size_t ForkJoin::index_of(const PromiseBase& child) const noexcept {
  std::size_t index = 0;
  while (children_[index].promise != &child) ++index;
  return index;
}

void start_fork_job(ForkJob& job) noexcept {
  using Child = ForkJoin::Child;
  Child& child = static_cast<Child&>(job);
  ForkJoin& join = *child.promise->fork_parent();
  const std::size_t index = static_cast<std::size_t>(&child - join.children_);
  // Every allocation first, publishing nothing: out of memory then only discards the
  // header (see "Out of memory on the slow path" in fork_join.hpp).
  ForkJoinSlow* record;
  TaskHeader* helper = nullptr;
  ForkChildLink* raw_link;
  try {
    record = &join.make_slow();
    helper = create_task(child.frame);
    helper->kind = Runnable::Kind::BorrowedTask;  // discarding it leaves the gather's frame alone
    TaskExtras& extras = helper->extras();
    // Last: once the link exists its destructor counts an end.
    auto link = std::make_unique<ForkChildLink>(join, index, *helper);
    raw_link = link.get();
    extras.completion_link = std::move(link);
  } catch (...) {  // std::bad_alloc: nothing else above throws
    if (helper != nullptr) discard_task(*helper);  // never queued, never shared, no link
    join.start_failed(child);
    return;
  }
  ForkJoinSlow& slow = *record;
  helper->parent = join.owner_.id;  // listed under the gathering task (tasks(), dump())
  child.promise->task_ = helper;
  bool cancel_now;
  {
    std::lock_guard guard(slow.lock);
    slow.helpers[index] = helper;  // the gather's reference: the one a JoinHandle would hold
    cancel_now = slow.cancelling.load(std::memory_order_relaxed);
  }
  // Before it is queued: a child of a failed or cancelled gather never runs its body.
  if (cancel_now) {
    try {
      request_cancel(*helper, {});
    } catch (...) {
    }
  }
  if (submit_task(*join.owner_.runtime, *helper) == SubmitResult::Closed) {
    // Never queued (the runtime shuts down): nobody will complete it. Its end is
    // counted when its header goes, with the last reference (a canceller may hold one).
    {
      std::lock_guard guard(slow.lock);
      slow.helpers[index] = nullptr;
    }
    raw_link->never_queued = true;
    release_task(*helper);  // the execution reference
    release_task(*helper);  // the gather's
  }
}

void ForkJoin::skip_unstarted(std::size_t index) noexcept {
  ForkJoinSlow& slow = this->slow();
  std::vector<TaskHeader*> to_cancel;
  {
    std::lock_guard guard(slow.lock);
    slow.never_ran[index] = 1;
    fail_locked(slow, index, to_cancel, /*on_inline_chain=*/true);
  }
  cancel_outside_lock(to_cancel);
}

std::coroutine_handle<> ForkJoin::skip_unstarted_then_next(std::size_t index) noexcept {
  // next_inline's steps in a loop, not a recursion through it: a cancelled gather of a
  // long vector may skip every child it takes back.
  for (;;) {
    skip_unstarted(index);
    if (next_ == count_) return parent_;
    Child& child = children_[next_];
    if (!pop_fork_job(child)) return wait_for_detached();
    index = next_++;
    if (!skipping_children()) return child.frame;
  }
}

std::coroutine_handle<> ForkJoin::failed_child_ended(PromiseBase& child) noexcept {
  child_failed(index_of(child));
  if (child.task_ != &owner_) return std::noop_coroutine();  // a helper: see child_ended
  return next_inline();
}

void ForkJoin::child_failed(std::size_t index) noexcept {
  ForkJoinSlow& slow = this->slow();
  std::vector<TaskHeader*> to_cancel;
  {
    std::lock_guard guard(slow.lock);
    fail_locked(slow, index, to_cancel, children_[index].promise->task_ == &owner_);
  }
  cancel_outside_lock(to_cancel);
}

// The first failure decides: every other child is cancelled. Collects the helpers
// (with a reference each) to cancel once the lock is dropped. A child running on the
// inline chain is reached through the owner task ("marked", withdrawn in finish):
// requested here, under the lock, so that the request is registered before the chain
// can finish and the gather end; not when the failure comes from the chain itself.
void ForkJoin::fail_locked(ForkJoinSlow& slow, std::size_t index, std::vector<TaskHeader*>& to_cancel,
                           bool on_inline_chain) noexcept {
  if (slow.decisive >= 0) return;
  slow.decisive = static_cast<long>(index);
  slow.cancelling.store(true, std::memory_order_relaxed);  // Relaxed: see ForkJoinSlow
  collect_helpers_locked(slow, index, to_cancel);
  if (slow.inline_active && !on_inline_chain && !slow.owner_marked) {
    slow.owner_marked = true;
    // Internal: the owner's stop token stays as it was (the mark is withdrawn in
    // finish, a stop could not be), and the owner's stop callbacks do not run under
    // our lock. Those of deeper tasks may: if the owner waits in a nested gather, that
    // gather's hook cancels its helpers from here, and a helper's stop token runs its
    // callbacks (which, as std::stop_callback's must, should not block).
    try {
      slow.mark = request_internal_cancel(owner_);
    } catch (...) {
    }
  }
}

// Under the lock: every helper but child `except`'s, with a reference each, to be
// cancelled once the lock is dropped (cancel_outside_lock).
void ForkJoin::collect_helpers_locked(ForkJoinSlow& slow, std::size_t except, std::vector<TaskHeader*>& to_cancel) noexcept {
  try {
    for (std::size_t i = 0; i < slow.helpers.size(); ++i) {
      TaskHeader* helper = slow.helpers[i];
      if (i == except || helper == nullptr) continue;
      helper->state.ref_inc();
      to_cancel.push_back(helper);
    }
  } catch (const std::bad_alloc&) {
    // Without memory to list them the helpers are not cancelled; they still end.
  }
}

void ForkJoin::cancel_outside_lock(std::vector<TaskHeader*>& to_cancel) noexcept {
  // Outside the lock: a cancel runs stop callbacks (user code) and may reach further
  // gathers nested in the helpers.
  for (TaskHeader* helper : to_cancel) {
    try {
      request_cancel(*helper, {});
    } catch (...) {
      // Out of memory for a message: there is none to keep.
    }
    release_task(*helper);
  }
}

std::coroutine_handle<> ForkJoin::wait_for_detached() noexcept {
  ForkJoinSlow& slow = this->slow();
  std::uint64_t generation;
  {
    std::lock_guard guard(slow.lock);
    slow.inline_active = false;
    slow.detached_expected = count_ - next_;
    if (slow.detached_ended == slow.detached_expected) return parent_;
    owner_.resume_point = parent_;
    owner_.set_awaiting(Awaiting::Gather, count_);
    generation = owner_.arm_wait(&slow);
    slow.generation = generation;
    slow.owner_waiting = true;
  }
  // The owner task's half of the wait protocol (core/wait_cell.hpp): a cancel request
  // that came before the wait was armed is seen here, and forwarded like a canceller
  // would. Until the task actually suspends (below), a wake-up only marks it notified:
  // this frame stays ours meanwhile.
  if (!suspend_unless_cancelled(owner_, generation)) {
    if (forward_owner_cancel(slow, owner_, generation) && owner_.wait.try_wake(generation)) return parent_;
  }
  return std::noop_coroutine();
}

bool ForkJoin::forward_owner_cancel(WaitForward& forward, TaskHeader& task, std::uint64_t generation) {
  auto& slow = static_cast<ForkJoinSlow&>(forward);
  std::vector<TaskHeader*> to_cancel;
  bool all_ended;
  {
    std::lock_guard guard(slow.lock);
    slow.forwarded = true;
    slow.cancelling.store(true, std::memory_order_relaxed);  // Relaxed: see ForkJoinSlow
    collect_helpers_locked(slow, kNoChild, to_cancel);
    task.wait.rearm_after_forward(generation);
    all_ended = slow.detached_ended == slow.detached_expected;
  }
  // The gathering coroutine may resume as soon as the lock is dropped: from here on
  // only the helpers (referenced) are touched.
  cancel_outside_lock(to_cancel);
  return all_ended;
}

// `marker_request`: a failed start's request on the owner, made before the record was
// (the record's maker set owner_marked for it).
void ForkJoin::detached_ended(std::size_t index, DetachedEnd how, const InternalCancel* marker_request) noexcept {
  // Acquire: pairs with make_slow's CAS. Made by start_fork_job (or seen by start_failed).
  ForkJoinSlow& slow = *as_record(state_.load(std::memory_order_acquire));
  TaskHeader* to_wake = nullptr;
  std::uint64_t generation = 0;
  std::vector<TaskHeader*> to_cancel;
  {
    std::lock_guard guard(slow.lock);
    if (marker_request != nullptr) slow.mark = *marker_request;
    if (how == DetachedEnd::NeverRan) {
      slow.never_ran[index] = 1;
      fail_locked(slow, index, to_cancel, /*on_inline_chain=*/false);
    } else if (how == DetachedEnd::StartFailed) {
      fail_locked(slow, index, to_cancel, /*on_inline_chain=*/false);  // as child_failed for a helper
    }
    ++slow.detached_ended;
    if (slow.owner_waiting && slow.detached_ended == slow.detached_expected) {
      to_wake = &owner_;
      generation = slow.generation;
      to_wake->state.ref_inc();  // the gather may end (and its task with it) once we unlock
    }
  }
  cancel_outside_lock(to_cancel);
  if (to_wake != nullptr) {
    if (to_wake->wait.try_wake(generation)) wake_task(*to_wake);
    release_task(*to_wake);
  }
}

// Withdraws the request fail_locked made on the owner task. Another request that was
// pending when ours came, or that came while ours was pending, merges with it: the
// inline child takes both as one CancelledError. If that happened (nothing is pending
// now, yet another request was pending then or has been counted since), the other one
// is made pending again (counted once, as it was), so that the owner still sees it at
// its next suspension point. Runs on the owner, after everyone else is done with us.
void ForkJoin::withdraw_mark() {
  ForkJoinSlow& slow = *as_record(state_.load(std::memory_order_relaxed));
  // Relaxed: our own task's word; only cancellers set the bit, only we clear it.
  const bool pending = owner_.state.cancel_requested_relaxed();
  if (slow.mark.registered && !pending && (slow.mark.was_pending || task_cancelling(owner_) > slow.mark.count_after)) {
    request_internal_cancel(owner_);  // pending again (count + 1) ...
    task_uncancel(owner_);            // ... and the count back
  }
  task_uncancel(owner_);
}

void ForkJoin::finish_slow() {
  // Acquire: as finish()'s load (pairs with the CAS that installed the record).
  const std::uintptr_t state = state_.load(std::memory_order_acquire);
  if (state == kQueueFull) throw std::bad_alloc();  // start() could not queue the children
  assert(is_record(state));  // made by wait_for_detached at the latest
  ForkJoinSlow& slow = *as_record(state);
  {
    // Whoever woke us may still be inside its last critical section.
    std::lock_guard guard(slow.lock);
  }
  owner_.clear_awaiting();
  if (slow.owner_marked) withdraw_mark();
  if (slow.decisive < 0) {
    // No child failed. A cancel of the gathering task forwarded to the children is
    // delivered now (unless it was withdrawn meanwhile).
    if (slow.forwarded) throw_if_cancel_pending(owner_);
    return;
  }
  const auto decisive = static_cast<std::size_t>(slow.decisive);
  std::exception_ptr failure = slow.never_ran[decisive] ? nullptr : children_[decisive].promise->failure_;
  std::string message;
  if (failure && !is_cancellation(failure, message)) std::rethrow_exception(failure);
  // A cancellation decided. The gathering task's own pending request, if any, is
  // what it sees; else it tells its own cancellation from its child's.
  throw_if_cancel_pending(owner_);
  if (task_cancelling(owner_) > 0) throw_cancelled(std::move(message));
  throw TaskCancelled(std::move(message));
}

}  // namespace weft::detail
