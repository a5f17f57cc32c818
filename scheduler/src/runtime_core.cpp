// RuntimeCore: construction, scheduling entry points, completion and shutdown.
// The protocol is described in runtime_core_impl.hpp; the worker loop is worker.cpp.
#include <cassert>
#include <charconv>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "runtime_core_impl.hpp"
#include "unobserved.hpp"

namespace weft::detail {

namespace {

unsigned resolve_workers(unsigned requested) {
  if (requested != 0) return requested;
  unsigned hardware = std::thread::hardware_concurrency();
  return hardware == 0 ? 1 : hardware;
}

std::uint64_t next_runtime_uid() {
  static std::atomic<std::uint64_t> counter{0};
  // Relaxed: only uniqueness matters.
  return counter.fetch_add(1, std::memory_order_relaxed) + 1;
}

}  // namespace

RuntimeCore::RuntimeCore(RuntimeConfig cfg)
    : config(std::move(cfg)),
      workers(resolve_workers(config.workers)),
      uid(next_runtime_uid()),
      clock(config.clock != nullptr ? *config.clock : static_cast<Clock&>(steady_clock)),
      manual_clock(dynamic_cast<ManualClock*>(&clock)),
      timers(clock, config.timer_tick),
      registry(workers),
      idle(workers) {
  if (workers > 0xffff) throw std::invalid_argument("weft: at most 65535 workers");
  register_unobserved_handler(uid, config.on_unobserved_exception);
  worker_slots.reserve(workers);
  for (unsigned i = 0; i < workers; ++i)
    worker_slots.push_back(std::make_unique<CachePadded<Worker>>(*this, i));
}

void RuntimeCore::start() {
  // Threads start only once every worker exists: thieves index worker_slots.
  for (unsigned i = 0; i < workers; ++i) {
    Worker& w = worker(i);
    w.thread_ = std::thread([&w] { w.run(); });
  }
  // Only now: a clock change unparks workers, which must all exist.
  if (manual_clock != nullptr) manual_clock->add_listener(this);
}

RuntimeCore::~RuntimeCore() {
  shutdown();
  if (manual_clock != nullptr) manual_clock->remove_listener(this);
  unregister_unobserved_handler(uid);
}

void RuntimeCore::on_clock_advanced() noexcept {
  // Rare (a test moving its clock): every parked worker looks again; the ones with
  // nothing to do go back to sleep.
  for (unsigned i = 0; i < workers; ++i) worker(i).parker_.unpark();
}

bool RuntimeCore::any_work_visible() const {
  if (injector.size_approx() != 0) return true;
  for (unsigned i = 0; i < workers; ++i)
    if (!worker_slots[i]->value.deque_.empty_approx() || !worker_slots[i]->value.tasks_.empty_approx()) return true;
  return false;
}

std::optional<Clock::time_point> RuntimeCore::idle_until() noexcept {
  // Acquire: pairs with the release store in shutdown(); a stopped runtime holds no one back.
  if (stopping.load(std::memory_order_acquire)) return Clock::time_point::max();
  if (!idle.all_parked() || any_work_visible()) return std::nullopt;
  return timers.next_deadline().value_or(Clock::time_point::max());
}

void RuntimeCore::wake_timer_driver() noexcept {
  int holder = timers.role_holder();
  if (holder >= 0)
    worker(static_cast<unsigned>(holder)).parker_.unpark();
  else
    wake_a_sleeper_to_drive();
}

void RuntimeCore::ensure_timer_driver() noexcept {
  if (timers.pending() && timers.role_holder() < 0) wake_a_sleeper_to_drive();
}

void RuntimeCore::wake_a_sleeper_to_drive() noexcept {
  // No driver: the parked workers sleep without a timeout. One of them must re-arm.
  // (The idle lock orders this against a worker that parks now: either we see it on
  // the sleeper list, or its look at timers.pending() sees the pending timers.)
  if (auto sleeper = idle.any_sleeper()) worker(*sleeper).parker_.unpark();
}

void RuntimeCore::hand_on_deputy() noexcept {
  if (!timers.pending()) return;
  // The driver needs no wake-up: it sleeps with a timeout already (with two workers it
  // is normally the only other sleeper: nothing is woken). The role is read outside the
  // idle lock and may be stale: a driver that has left since is off the list anyway; a
  // worker that has taken the role since may be woken for nothing (it re-arms). The
  // idle lock orders this against a worker that parks now, as in
  // wake_a_sleeper_to_drive: either we see it on the list, or, our disarm being
  // earlier, its arm_deputy finds the deputy's place free.
  if (auto sleeper = idle.any_sleeper_except(timers.role_holder())) worker(*sleeper).parker_.unpark();
}

void RuntimeCore::hand_on_driver() noexcept {
  // A ManualClock moves only by advance(), which unparks every worker: no timeout to
  // hand on (nor a deputy).
  if (manual_clock != nullptr || !timers.pending()) return;
  // Backed up by an armed deputy: nothing to do (the common case; with two workers the
  // other one, if parked, is normally the deputy). The look takes the timer mutex, which
  // orders it with the deputy's disarm: a deputy that disarms after our look sees the
  // role we released before it (release_role, then the mutex) when it hands on, fires
  // or parks again. No deputy: ensure_timer_driver wakes the oldest sleeper if the role
  // is still free, ordered against a worker that parks now as in wake_a_sleeper_to_drive.
  if (timers.deputy_holder() >= 0) return;
  ensure_timer_driver();
}

void RuntimeCore::schedule(TaskHeader& task, bool fresh) noexcept {
  Worker* self = current_worker();
  if (self != nullptr && &self->runtime_ == this) {
    if (fresh)
      self->push_local(task);
    else
      self->push_run_next(task);
  } else {
    // Once queued, the task may run and end, and the runtime be destroyed (its shutdown
    // waits for the tasks and its workers, not for us), while this thread (an Event::set,
    // a cancel, another runtime's worker) is still in notify_one: counted, and shutdown
    // waits for the count to fall to zero. Relaxed: the queue's release and whatever
    // leads from the task's run to shutdown's registry check order it before that look.
    outside_pushers.fetch_add(1, std::memory_order_relaxed);
    push_injector(task);
    // Release: pairs with the acquire load in shutdown(); our last touch of the runtime.
    outside_pushers.fetch_sub(1, std::memory_order_release);
  }
}

namespace {

// The task cannot be queued anywhere (runtime_core_impl.hpp, "Out of memory while
// queuing"): say so, rather than lose it and hang whoever waits for it.
[[noreturn, gnu::cold, gnu::noinline]] void out_of_memory_queuing(const TaskHeader& task) noexcept {
  std::fprintf(stderr, "weft: out of memory queuing task %llu; aborting\n", static_cast<unsigned long long>(task.id));
  std::abort();
}

}  // namespace

void RuntimeCore::push_injector(TaskHeader& task) noexcept {
  // The queue's enqueue is a release and its dequeue an acquire (moodycamel's
  // contract), so the worker that takes the task sees everything written before.
  // It answers false only when it could not allocate.
  if (!injector.enqueue(&task)) [[unlikely]] out_of_memory_queuing(task);
  notify_one();
}

void notify_after_push(RuntimeCore& runtime) noexcept { runtime.notify_one(); }

void RuntimeCore::notify_one() noexcept {
  if (auto index = idle.worker_to_notify()) worker(*index).parker_.unpark();
}

void RuntimeCore::complete(TaskHeader& task) {
  // A stop request from now on has nothing left to cancel; the callback's destructor
  // waits for one that is running on another thread.
  if (TaskExtras* extras = task.find_extras()) extras->completion_link.reset();
  registry.remove(task);
  // Acquire: pairs with the seq_cst store in shutdown(); a shutdown waiting for the
  // registry to empty is told under its mutex, so the wake-up cannot be lost.
  if (closing.load(std::memory_order_acquire)) {
    std::lock_guard guard(shutdown_mutex);
    shutdown_cv.notify_all();
  }
  TaskStateWord::Snapshot before = task.state.transition_to_complete();
  if (!before.has(TaskStateWord::JOIN_WAITER)) {
    release_task(task);  // the execution reference
    return;
  }
  // transition_to_complete's acquire pairs with set_join_waiter's release: the slot
  // written by the registrant is visible. From here on the completer owns the slot.
  // The execution reference goes first, so that whoever we wake holds the last one and
  // the frame (with its parameters' destructors) is gone by the time its co_await or
  // block_on returns. The registrant's handle keeps the header alive meanwhile.
  TaskHeader* awaiting = task.join.task;
  const std::uint64_t generation = task.join.generation;
  release_task(task);
  if (awaiting != nullptr) {
    if (awaiting->wait.try_wake(generation)) wake_task(*awaiting);
    release_task(*awaiting);  // the registration's reference
  } else {
    // Release: the blocked thread's acquire load then sees the result.
    // block_on made the extras before it registered (published with the registration).
    std::atomic<std::uint32_t>& done = task.find_extras()->join_thread_done;
    done.store(1, std::memory_order_release);
    done.notify_one();
    // The last touch of the header: the blocked thread may drop the last reference (its
    // JoinHandle) as soon as it sees 2, not before: a notify after it could have seen 1
    // would be a futex wake on a freed (or already reused) header.
    done.store(2, std::memory_order_release);
  }
}

void RuntimeCore::shutdown() {
  {
    // One shutdown runs; a second caller (another thread, or the destructor after an
    // explicit shutdown) waits for it to end, so no thread is joined twice.
    std::unique_lock lock(shutdown_mutex);
    if (shutdown_started) {
      shutdown_cv.wait(lock, [&] { return shutdown_done; });
      return;
    }
    shutdown_started = true;
  }
  // seq_cst: pairs with the acquire load in complete() (see there) and is ordered
  // before the registry walk below.
  closing.store(true, std::memory_order_seq_cst);
  registry.close();
  // References taken under the shard locks, requests made outside them (they may run
  // user stop callbacks, which may walk the registry): see cancel_task_by_id. The
  // registry is closed, so it only shrinks: the reservation suffices.
  std::vector<TaskHeader*> live;
  live.reserve(registry.size());
  registry.for_each([&](TaskHeader& task) {
    task.state.ref_inc();
    live.push_back(&task);
  });
  for (TaskHeader* task : live) {
    request_cancel(*task, "runtime shutdown");
    release_task(*task);
  }
  {
    std::unique_lock lock(shutdown_mutex);
    shutdown_cv.wait(lock, [&] { return registry.size() == 0; });
  }
  // Release: pairs with the acquire loads of `stopping` in the worker loop.
  stopping.store(true, std::memory_order_release);
  for (unsigned i = 0; i < workers; ++i) worker(i).parker_.unpark();
  for (unsigned i = 0; i < workers; ++i)
    if (worker(i).thread_.joinable()) worker(i).thread_.join();
  // A thread outside the workers that queued one of the tasks may still be waking a
  // worker (see schedule()): a few instructions. No new one comes: every task has ended.
  // Acquire: pairs with its release decrement.
  while (outside_pushers.load(std::memory_order_acquire) != 0) std::this_thread::yield();
  TaskHeader* leftover = nullptr;
  assert(!injector.try_dequeue(leftover) && "shutdown: a task was left in the injector");
  (void)leftover;
  // Exact: the workers' threads have been joined.
  for (unsigned i = 0; i < workers; ++i) assert(worker(i).queues_empty() && "shutdown: a task was left on a worker");
  {
    std::lock_guard guard(shutdown_mutex);
    shutdown_done = true;
  }
  shutdown_cv.notify_all();
}

// ---- the free functions of runtime_core.hpp ------------------------------------

RuntimeCore* create_runtime(RuntimeConfig config) {
  auto* runtime = new RuntimeCore(std::move(config));
  try {
    runtime->start();
  } catch (...) {
    // A thread that could not be started (std::system_error): the destructor's shutdown
    // joins the workers already running, which would otherwise sleep forever.
    delete runtime;
    throw;
  }
  return runtime;
}

void destroy_runtime(RuntimeCore* runtime) noexcept { delete runtime; }

unsigned worker_count(const RuntimeCore& runtime) noexcept { return runtime.workers; }

SubmitResult submit_task(RuntimeCore& runtime, TaskHeader& task) noexcept {
  Worker* self = current_worker();
  const bool on_worker = self != nullptr && &self->runtime_ == &runtime;
  unsigned shard;
  if (on_worker) {
    shard = runtime.registry.shard_of_worker(self->index_);
    task.id = self->next_task_id();
  } else {
    shard = runtime.registry.outside_shard();
    // Relaxed: only uniqueness matters. Outside ids are multiples of workers + 1,
    // worker i's are i + 1 modulo workers + 1, so the two never collide.
    task.id = (runtime.external_id_counter.fetch_add(1, std::memory_order_relaxed) + 1) *
              (runtime.workers + 1);
  }
  // Spawned outside any task, a task keeps the parent its maker set (a fork-join helper:
  // the gathering task), else 0.
  if (TaskHeader* parent = current_task()) task.parent = parent->runtime == &runtime ? parent->id : 0;
  task.runtime = &runtime;
  if (!runtime.registry.insert(task, shard)) return SubmitResult::Closed;
  runtime.schedule(task, /*fresh=*/true);
  return SubmitResult::Submitted;
}

void wake_task(TaskHeader& task) noexcept {
  if (task.state.transition_to_notified() == TaskStateWord::NotifyOutcome::Submit)
    task.runtime->schedule(task, /*fresh=*/false);
}

void yield_current(TaskHeader& task) noexcept {
  task.yielded = true;
  // RUNNING -> RUNNING|NOTIFIED: the worker requeues it once it has suspended.
  task.state.transition_to_notified();
}

void shutdown_runtime(RuntimeCore& runtime) { runtime.shutdown(); }

Clock& runtime_clock(RuntimeCore& runtime) noexcept { return runtime.clock; }

void timer_insert(RuntimeCore& runtime, TimerWaiter& waiter, Clock::time_point deadline) {
  if (runtime.timers.insert(waiter, deadline)) runtime.wake_timer_driver();
}

bool timer_cancel(RuntimeCore& runtime, TimerWaiter& waiter) { return runtime.timers.cancel(waiter); }

std::uint64_t runtime_uid(const RuntimeCore& runtime) noexcept { return runtime.uid; }

bool runtime_closed(const RuntimeCore& runtime) noexcept {
  // Relaxed: a hint for callers; the registry's own check is authoritative.
  return runtime.closing.load(std::memory_order_relaxed);
}

}  // namespace weft::detail
