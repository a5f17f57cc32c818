#pragma once
// The runtime's private parts: workers, injector, idle coordination, registry.
//
// Worker loop (Worker::run): the run-next slot (at most MAX_RUN_NEXT_RUNS in a row, so
// two tasks waking each other cannot starve the queues: then the task in the slot
// waits behind one other, the deque's bottom with Lifo, the task queue's front with
// Fifo), the local deque (and, with RunOrder::Fifo, the task queue), the injector
// first on every 61st turn (so spawns from outside never starve behind local work)
// and whenever the local queues are empty, then stealing from random victims as one of
// at most half the workers that search, then parking.
//
// Order on one worker (RuntimeOptions::run_order, scheduler/run_order.hpp).
//   * Lifo, the default: one Chase-Lev deque holds the worker's tasks and its fork
//     jobs (a gather's children: scheduler/fork_job.hpp), and the owner takes the
//     bottom: newest first. A task woken by the running one takes the run-next slot;
//     the one it displaces goes to the deque.
//   * Fifo: tasks run in the order they were made ready, as asyncio's call_soon runs
//     callbacks. A spawn, a wake-up, a requeue go to the back of a second deque, the
//     task queue, whose owner takes the top as thieves do. The first task woken by the
//     running one still takes the run-next slot, and a later wake-up does not displace
//     it: tasks woken together run in the order woken.
//   In both, fork jobs are taken from the bottom, newest first: the inline chain takes
//   back the child it pushed last, and pushes a gather's children last first, so that
//   the children of a gather whose chain was suspended also start in order. With Fifo
//   they come before the task queue: a gathering task waits for them. Thieves take the
//   top of the deque, then of the task queue.
//
// Out of memory while queuing. Queuing a task is noexcept: a wake-up (an Event::set, a
// timer firing, a cancel) must not fail half done. The worker's deques grow by
// allocation; when a growth fails, the task goes to the injector instead (push_local),
// which only changes the order it runs in. The injector allocates too (moodycamel's
// enqueue answers false when malloc fails): a task it cannot take has nowhere left to
// go, and losing it would hang whoever waits for it, so that is fatal, with a message
// (out_of_memory_queuing; Rust's runtimes abort the same way on a failed allocation).
//
// Shutdown steps (shutdown_runtime):
//   1. `closing_` is set and the registry closed: spawns now fail with RuntimeClosed.
//   2. Every live task gets a cancellation request; while closing, delivery leaves the
//      request pending, so every later suspension point throws as well.
//   3. The caller waits until the registry is empty: workers keep running the tasks'
//      cleanup to the end. The last task to leave the registry notifies the caller.
//   4. `stopping_` is set, every worker is unparked and joined, and shutdown waits for
//      threads outside the workers that are still in schedule() (a task they queued has
//      ended, but their notify_one may not have returned).
//   5. The queues are empty by then (every queued task was live): the injector, each
//      worker's deques and run-next slot; asserted.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <concurrentqueue/concurrentqueue.h>

#include <weft/core/cache_padded.hpp>
#include <weft/core/parker.hpp>
#include <weft/core/work_stealing_deque.hpp>
#include <weft/scheduler/runtime_core.hpp>

#include "idle.hpp"
#include "registry.hpp"
#include "timer_driver.hpp"

namespace weft::detail {

class Worker;

class RuntimeCore final : public ClockListener {
 public:
  explicit RuntimeCore(RuntimeConfig config);
  ~RuntimeCore();
  RuntimeCore(const RuntimeCore&) = delete;
  RuntimeCore& operator=(const RuntimeCore&) = delete;

  void start();
  void shutdown();

  // Queue a task that is SCHEDULED. `fresh` spawns go to the current worker's queue
  // (push_local: the deque with Lifo, the task queue with Fifo), wake-ups to its
  // run-next slot; from outside a worker both go to the injector.
  void schedule(TaskHeader& task, bool fresh) noexcept;
  void push_injector(TaskHeader& task) noexcept;
  void notify_one() noexcept;

  // After the coroutine of `task` reached its final suspend point, or was found
  // cancelled before its first run.
  void complete(TaskHeader& task);

  // Time moved (a ManualClock): parked workers look at the timers again.
  void on_clock_advanced() noexcept override;
  std::optional<Clock::time_point> idle_until() noexcept override;
  void wake_timer_driver() noexcept;
  // Some queue holds a task (the injector or one of a worker's two deques); relaxed looks, ordered
  // by the callers' fences where it matters (idle.hpp).
  bool any_work_visible() const;
  // Timers pending and nobody holds the driver role: wake a parked worker to take it.
  void ensure_timer_driver() noexcept;
  // Unparks one sleeper, which, not notified, parks again and takes the free role.
  void wake_a_sleeper_to_drive() noexcept;
  // A deputy was notified (and has disarmed): if timers are pending, unparks the oldest
  // sleeper other than the driver, which parks again as the deputy (or the driver).
  void hand_on_deputy() noexcept;
  // The driver was notified (and has released the role): if timers are pending and no
  // deputy is armed, unparks the oldest sleeper, which parks again as the driver.
  void hand_on_driver() noexcept;
  // With a ManualClock in auto-advance mode: may the idle runtime jump the clock?
  bool auto_advancing() const noexcept { return manual_clock != nullptr && manual_clock->auto_advance(); }

  const RuntimeConfig config;
  const unsigned workers;
  const std::uint64_t uid;
  SteadyClock steady_clock;
  Clock& clock;
  ManualClock* const manual_clock;  // &clock if it is a ManualClock
  TimerDriver timers;
  Registry registry;
  Idle idle;
  moodycamel::ConcurrentQueue<TaskHeader*> injector;
  std::vector<std::unique_ptr<CachePadded<Worker>>> worker_slots;

  std::atomic<bool> closing{false};
  std::atomic<bool> stopping{false};
  std::atomic<std::uint64_t> external_id_counter{0};
  std::atomic<std::uint32_t> outside_pushers{0};  // threads in schedule()'s injector path

  std::mutex shutdown_mutex;
  std::condition_variable shutdown_cv;
  bool shutdown_started = false;  // guarded by shutdown_mutex
  bool shutdown_done = false;     // guarded by shutdown_mutex

  Worker& worker(unsigned index);
};

class Worker {
 public:
  static constexpr unsigned MAX_RUN_NEXT_RUNS = 3;
  static constexpr unsigned INJECTOR_INTERVAL = 61;

  Worker(RuntimeCore& runtime, unsigned index);
  void run();  // the thread's body

  // Owner-only helpers (called on this worker's thread).
  void push_local(TaskHeader& task) noexcept;     // queued (see the opening comment), wakes a sleeper if needed
  void push_run_next(TaskHeader& task) noexcept;  // the run-next slot (see the opening comment)
  // Nothing queued here, run-next slot included: exact once the thread has been joined.
  bool queues_empty() const noexcept {
    return deque_.empty_approx() && tasks_.empty_approx() && run_next_ == nullptr;
  }
  std::uint64_t next_task_id() noexcept {
    std::uint64_t id = next_id_;
    next_id_ += runtime_.workers + 1;
    return id;
  }

  RuntimeCore& runtime_;
  const unsigned index_;
  const bool fifo_;  // RunOrder::Fifo
  // Fork jobs (scheduler/fork_job.hpp), bottom first; and the tasks too with Lifo.
  WorkStealingDeque<Runnable*> deque_;
  // With Fifo, the tasks: top first, for the owner too. Empty with Lifo.
  WorkStealingDeque<Runnable*> tasks_;
  // Where push_local puts a task: tasks_ with Fifo, deque_ with Lifo.
  WorkStealingDeque<Runnable*>* const task_queue_;
  Parker parker_;
  std::thread thread_;

 private:
  Runnable* next_local();
  Runnable* take_oldest_task();
  TaskHeader* take_injector();
  Runnable* steal();
  void run_task(TaskHeader& task);
  void park();
  // Parked: sleep until notified, a timer deadline (as the driver or the deputy), or a
  // clock change. Says which timer role it slept in (timer_driver.hpp).
  enum class SleptAs { Plain, Driver, Deputy };
  SleptAs sleep_parked();

  TaskHeader* run_next_ = nullptr;  // the run-next slot (see the opening comment)
  unsigned run_next_runs_ = 0;
  std::uint64_t tick_ = 0;
  std::uint64_t rng_;
  bool searching_ = false;
  std::uint64_t next_id_;
  moodycamel::ConsumerToken injector_token_;
};

inline Worker& RuntimeCore::worker(unsigned index) { return worker_slots[index]->value; }

// The worker the calling thread is, or nullptr (set for the length of Worker::run,
// with tls_fork_queue).
inline constinit thread_local Worker* tls_worker = nullptr;
inline Worker* current_worker() noexcept { return tls_worker; }

}  // namespace weft::detail
