// The worker loop: where tasks are found, run, requeued and where workers sleep.
// The order of the sources and the idle protocol are described in
// runtime_core_impl.hpp and idle.hpp.
#include <pthread.h>

#include <cassert>
#include <string>

#include "runtime_core_impl.hpp"

namespace weft::detail {

namespace {
std::uint64_t xorshift(std::uint64_t& state) noexcept {
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}
}  // namespace


Worker::Worker(RuntimeCore& runtime, unsigned index)
    : runtime_(runtime),
      index_(index),
      fifo_(runtime.config.run_order == RunOrder::Fifo),
      task_queue_(fifo_ ? &tasks_ : &deque_),
      rng_(0x9E3779B97F4A7C15ull * (index + 1)),
      next_id_(index + 1),
      injector_token_(runtime.injector) {}

void Worker::run() {
  tls_worker = this;
  tls_fork_queue = ForkQueue{&deque_, &runtime_.idle.state_word(), runtime_.workers, &runtime_};
  // Linux limits thread names to 15 characters.
  std::string name = runtime_.config.name + "-" + std::to_string(index_);
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());

  // Acquire: pairs with the release store in RuntimeCore::shutdown.
  while (!runtime_.stopping.load(std::memory_order_acquire)) {
    Runnable* task = next_local();
    if (task == nullptr) task = take_injector();
    if (task == nullptr) {
      if (!searching_) searching_ = runtime_.idle.transition_worker_to_searching();
      if (searching_) task = steal();
    }
    if (task == nullptr) {
      park();
      continue;
    }
    if (searching_) {
      searching_ = false;
      // The last searcher found work: if more is visible, keep one worker looking. A
      // pusher that saw us searching did not wake anyone, so look for its work here:
      // the fence orders our decrement before the queue reads, the store-buffer pair
      // with the fence in Idle::worker_to_notify (see idle.hpp). Waking a worker when
      // nothing else is queued would only cost a futex call on the latency path.
      if (runtime_.idle.transition_worker_from_searching()) {
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (runtime_.any_work_visible()) runtime_.notify_one();
      }
    }
    if (task->is_fork_job()) {
      // A child of a fork-join that its gatherer did not take back: it becomes a task
      // of its own, queued here (scheduler/fork_job.hpp).
      start_fork_job(static_cast<ForkJob&>(*task));
      continue;
    }
    run_task(static_cast<TaskHeader&>(*task));
  }
  tls_fork_queue = ForkQueue{};
  tls_worker = nullptr;
}

Runnable* Worker::next_local() {
  ++tick_;
  if (tick_ % INJECTOR_INTERVAL == 0) {
    // A busy runtime still fires its timers: tasks woken here go to our own queues.
    if (runtime_.timers.due()) runtime_.timers.fire_due();
    if (TaskHeader* task = take_injector()) return task;
  }
  if (run_next_ != nullptr) {
    if (run_next_runs_ < MAX_RUN_NEXT_RUNS) {
      ++run_next_runs_;
      TaskHeader* task = run_next_;
      run_next_ = nullptr;
      return task;
    }
    // Two tasks waking each other would keep the queues waiting forever: the task in
    // the slot waits behind one other.
    TaskHeader* displaced = run_next_;
    run_next_ = nullptr;
    run_next_runs_ = 0;
    if (!fifo_) {
      // The deque's bottom first: pushed first, the displaced task would be popped
      // straight back (tests/scheduler/test_run_next_fairness.cpp).
      Runnable* other = deque_.pop();
      if (other == nullptr) other = take_injector();
      if (other == nullptr) return displaced;  // nothing else here: carry on with it
      push_local(*displaced);
      return other;
    }
    push_local(*displaced);  // the back of the task queue
  }
  run_next_runs_ = 0;
  if (!fifo_) return deque_.pop();
  // The owner's relaxed look is exact about its own pushes: a pop (and its fence) only
  // when there is something to take, fork jobs being rare in this deque.
  if (!deque_.empty_approx())
    if (Runnable* job = deque_.pop()) return job;
  return take_oldest_task();
}

Runnable* Worker::take_oldest_task() {
  // The front of the line, taken as a thief takes it: only a lost race with a thief
  // returns nothing while tasks are left, so try again.
  for (;;) {
    const auto [task, retry] = tasks_.steal_detailed();
    if (task != nullptr || !retry) return task;
  }
}

TaskHeader* Worker::take_injector() {
  TaskHeader* task = nullptr;
  // Relaxed size check: a cheap hint that avoids touching the queue's producers when
  // it is empty; a missed item is found on the next turn or by the parking re-check.
  if (runtime_.injector.size_approx() == 0) return nullptr;
  return runtime_.injector.try_dequeue(injector_token_, task) ? task : nullptr;
}

Runnable* Worker::steal() {
  const unsigned n = runtime_.workers;
  if (n > 1) {
    const unsigned start = static_cast<unsigned>(xorshift(rng_) % n);
    for (unsigned i = 0; i < n; ++i) {
      unsigned victim = (start + i) % n;
      if (victim == index_) continue;
      Worker& other = runtime_.worker(victim);
      if (Runnable* item = other.deque_.steal()) return item;
      // Relaxed look first: the task queue is empty but with Fifo, and a steal from an
      // empty deque still pays its fence. A miss is caught where a miss of steal() is:
      // the parking protocol looks at every queue after its fence (idle.hpp).
      if (!other.tasks_.empty_approx())
        if (Runnable* task = other.tasks_.steal()) return task;
    }
  }
  return take_injector();
}

void Worker::park() {
  const bool nobody_searches = runtime_.idle.transition_worker_to_parked(index_, searching_);
  searching_ = false;
  if (nobody_searches) {
    // A pusher that saw us unparked woke nobody: look once more (idle.hpp). Orders the
    // RMW in transition_worker_to_parked before the queue reads below; pairs with the
    // fence in Idle::worker_to_notify. The worker notified may be this one.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (runtime_.any_work_visible()) runtime_.notify_one();
  }
  // With auto-advance, the last worker to park may be what lets the clock jump.
  if (runtime_.auto_advancing()) {
    // Our RMW on the idle word (transition_worker_to_parked) before the look at the
    // role; pairs with the fence in sleep_parked between taking the role and its look
    // at all_parked() (store buffering: either we see the driver or it sees us parked).
    std::atomic_thread_fence(std::memory_order_seq_cst);
    runtime_.wake_timer_driver();
  }
  for (;;) {
    // Acquire: pairs with the release store in RuntimeCore::shutdown.
    if (runtime_.stopping.load(std::memory_order_acquire)) {
      if (!runtime_.idle.unpark_self(index_)) searching_ = true;
      return;
    }
    // Due timers wake their tasks onto this worker's own queues (its run-next slot, which
    // no other worker can see): leave the parked state first, so that nobody counts
    // this worker as idle while it holds them (auto-advance would jump the clock past
    // a runnable task). If another worker fired them first, we simply park again.
    if (runtime_.timers.due()) {
      if (!runtime_.idle.unpark_self(index_)) searching_ = true;
      // What we woke runs here: if timers remain, a parked worker must drive them.
      runtime_.timers.fire_due();
      runtime_.ensure_timer_driver();
      return;
    }
    const SleptAs slept_as = sleep_parked();
    if (runtime_.idle.was_notified(index_)) {
      searching_ = true;  // the notifier counted us as searching
      // A deputy taken for new work hands its role on to another sleeper, if timers are
      // pending: else, if the driver is taken too, nobody parked has a timeout
      // (timer_driver.hpp). It has disarmed already (in sleep_parked). A driver taken
      // for new work hands the role on only if no deputy is armed to back the timers up
      // (it has released the role already, in sleep_parked): the common case, a deputy
      // armed, wakes nobody.
      if (slept_as == SleptAs::Deputy) runtime_.hand_on_deputy();
      if (slept_as == SleptAs::Driver) runtime_.hand_on_driver();
      return;
    }
  }
}

Worker::SleptAs Worker::sleep_parked() {
  TimerDriver& timers = runtime_.timers;
  if (!timers.pending()) {
    // Auto-advance: no timer of ours, but another runtime on the clock may have been
    // refused a jump while we were busy; now that we are idle, time may move for it.
    if (runtime_.auto_advancing() && runtime_.idle.all_parked() && !runtime_.any_work_visible() &&
        runtime_.manual_clock->try_auto_advance())
      return SleptAs::Plain;
    parker_.park();
    return SleptAs::Plain;
  }
  if (!timers.try_take_role(index_)) {
    // The driver is another worker; back it up as the deputy (timer_driver.hpp) in case
    // a notify takes it for new work. A ManualClock moves only by advance(), which
    // unparks every worker: no deputy there.
    std::optional<Clock::time_point> until;
    if (runtime_.manual_clock == nullptr) until = timers.arm_deputy(index_);
    if (!until) {
      parker_.park();
      return SleptAs::Plain;
    }
    parker_.park_until(*until);
    timers.disarm_deputy(index_);
    return SleptAs::Deputy;
  }
  // The driver: sleep until the earliest deadline (taken after the role: an insert that
  // lowered it before we took the role had nobody to wake).
  TimerDriver::DriverArm arm = timers.arm_driver();
  if (arm.deputy_to_rearm >= 0) runtime_.worker(static_cast<unsigned>(arm.deputy_to_rearm)).parker_.unpark();
  if (arm.deadline) {
    // Auto-advance only: our CAS taking the role before the look at the idle word;
    // pairs with the fence in park() between the last parker's RMW on that word and
    // its look at the role (a store-buffering pair: one of the two sees the other).
    const bool may_jump = runtime_.manual_clock != nullptr && runtime_.manual_clock->auto_advance();
    if (may_jump) std::atomic_thread_fence(std::memory_order_seq_cst);
    if (runtime_.manual_clock == nullptr) {
      parker_.park_until(*arm.deadline);
    } else if (may_jump && runtime_.idle.all_parked() && !runtime_.any_work_visible()) {
      // Every task is blocked: time jumps to the next deadline (the loop fires it), if
      // every other runtime on the clock is idle too (ManualClock::try_auto_advance);
      // else the last of them to go idle makes the jump.
      if (!runtime_.manual_clock->try_auto_advance() && *arm.deadline > runtime_.clock.now()) parker_.park();
    } else {
      parker_.park();  // a ManualClock moves only by advance(), which unparks us
    }
  } else {
    parker_.park();  // the pending timers were all cancelled
  }
  timers.release_role();
  return SleptAs::Driver;
}

void Worker::push_local(TaskHeader& task) noexcept {
  // Always on this worker's own thread: tls_fork_queue is ours (scheduler/fork_job.hpp).
  assert(tls_worker == this && "push_local: not on the worker's own thread");
  assert(task.runtime == &runtime_ && "push_local: a task of another runtime");
  const auto pushed = task_queue_->try_push_many(1, [&task](std::size_t) -> Runnable* { return &task; });
  // The deque could not grow (runtime_core_impl.hpp, "Out of memory while queuing").
  // Through the task's runtime pointer, not `this`: the common path then keeps one
  // register fewer live (5 instructions a push).
  if (!wake_after_own_push(pushed)) [[unlikely]] task.runtime->push_injector(task);
}

void Worker::push_run_next(TaskHeader& task) noexcept {
  if (run_next_ == nullptr) {
    run_next_ = &task;
  } else if (fifo_) {
    push_local(task);  // the first woken keeps the slot: the others go behind it, in order
  } else {
    push_local(*run_next_);  // the newest takes the slot
    run_next_ = &task;
  }
}

void Worker::run_task(TaskHeader& task) {
  TaskStateWord::Snapshot before = task.state.transition_to_running();
  if (!before.has(TaskStateWord::STARTED) && before.has(TaskStateWord::CANCEL_REQUESTED)) {
    // Cancelled before its first run: the body never runs. The message of the
    // request becomes the message its awaiters see.
    std::string message;
    take_cancel_request(task, message);
    task.keep_outcome_message(std::move(message));  // failure stays null
    // Relaxed: published by the release in transition_to_complete.
    task.outcome.store(Outcome::Cancelled, std::memory_order_relaxed);
    runtime_.complete(task);
    return;
  }
  tls_current_task = &task;
  task.resume_point.resume();
  tls_current_task = nullptr;
  if (task.root.done()) {
    runtime_.complete(task);
    return;
  }
  if (task.state.transition_to_idle() == TaskStateWord::IdleOutcome::Reschedule) {
    if (task.yielded) {
      task.yielded = false;
      runtime_.push_injector(task);  // the back of the line: everything queued runs first
    } else {
      push_local(task);
    }
  }
}

}  // namespace weft::detail
