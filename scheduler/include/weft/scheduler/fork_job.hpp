#pragma once
// What a worker's deque holds, and the fork-join fast path's access to the calling
// worker's deque.
//
// A deque item is a Runnable: either a task (TaskHeader) or a fork job, a child of a
// fork-join (gather) that has no task of its own yet. Fork jobs go to the deque this
// header reaches (tls_fork_queue); so do the worker's tasks with RunOrder::Lifo, the
// default, while with Fifo they have a queue of their own (scheduler/src/
// runtime_core_impl.hpp, "Order on one worker"). The gathering coroutine pushes
// its children 1..n-1 as fork jobs onto its own worker's deque and runs child 0 inline;
// when a child ends on that worker, it pops the next one back and runs it inline too.
// A fork job that any worker takes through its loop instead (a thief's steal, or its
// own worker after the inline chain moved on) is started as a task of its own by
// start_fork_job, which the api layer defines (api/src/fork_join.cpp): the scheduler
// never runs a fork job's coroutine itself.
//
// Ground rules
//   * Only the worker that owns a deque pushes and pops at its bottom; the fast path
//     runs on that worker (tls_fork_queue is the calling thread's own).
//   * A fork job is in at most one deque, once; whoever removes it (pop or steal) owns
//     it: the gatherer's pop runs it inline, anyone else calls start().
//   * A push onto a worker's own queues (push_fork_jobs for fork jobs,
//     Worker::push_local for the tasks it spawns or wakes) wakes a parked worker only
//     when one may be needed (wake_after_own_push): always when the deque was empty
//     (this push makes work visible: the protocol of idle.hpp with its fence),
//     otherwise only if a relaxed look at the idle counters shows a sleeper and no
//     searcher. A stale look costs parallelism until the next push, never
//     correctness: the owner drains its own queues. A gather's children go in as one
//     burst (push_fork_jobs): one publication of the deque's bottom and one such look.
#include <atomic>
#include <cstddef>
#include <cstdint>

#include <weft/core/work_stealing_deque.hpp>

namespace weft::detail {

class RuntimeCore;

// What a deque holds: a task, or a fork-join child nobody has made a task of yet. A
// task's kind also says whether its root coroutine is its own or borrowed (a stolen
// fork-join child's, whose frame its gatherer owns): one byte for both, since a
// sleeping task costs its header (bench/memory). Set before the entry is first queued,
// read-only afterwards.
struct Runnable {
  enum class Kind : std::uint8_t { Task, BorrowedTask, ForkJob };
  Kind kind;

  bool is_fork_job() const noexcept { return kind == Kind::ForkJob; }

 protected:
  explicit Runnable(Kind runnable_kind) noexcept : kind(runnable_kind) {}
  ~Runnable() = default;
};

struct ForkJob : Runnable {
  ForkJob() noexcept : Runnable(Kind::ForkJob) {}
};

// Called by a worker that took the job from a deque (not the gatherer's inline pop):
// makes it a task of its own and queues it, or, if the runtime is closed, reports that
// it will never run, or, out of memory, fails the child with std::bad_alloc without
// running it. Never throws. Defined by the api layer.
void start_fork_job(ForkJob& job) noexcept;

// The calling worker's deque and what push_fork_jobs needs to decide on a wake-up.
struct ForkQueue {
  WorkStealingDeque<Runnable*>* deque = nullptr;
  const std::atomic<std::uint32_t>* idle_state = nullptr;  // Idle's counters (idle.hpp)
  std::uint32_t workers = 0;
  RuntimeCore* runtime = nullptr;
};

// Set by each worker for its own thread; null elsewhere.
inline constinit thread_local ForkQueue tls_fork_queue;

// The slow path of wake_after_own_push: the fenced wake-up of idle.hpp.
void notify_after_push(RuntimeCore& runtime) noexcept;

// The idle counters' layout (scheduler/src/idle.hpp): searching workers in the low 16
// bits, unparked workers above. A wake-up may be needed when nobody searches and
// somebody sleeps: Idle's own rule, shared with wake_after_own_push's relaxed look.
inline constexpr unsigned kIdleUnparkedShift = 16;
inline constexpr std::uint32_t kIdleSearchingMask = (1u << kIdleUnparkedShift) - 1;
inline bool idle_wake_may_be_needed(std::uint32_t idle_state, std::uint32_t workers) noexcept {
  return (idle_state & kIdleSearchingMask) == 0 && (idle_state >> kIdleUnparkedShift) < workers;
}

// After a push onto a deque that was not empty: wakes a parked worker if the idle
// counters show a sleeper and no searcher (the ground rules above).
inline void wake_if_idle_counters_ask(ForkQueue& queue) noexcept {
  // Relaxed: a hint (see the ground rules); the fenced path re-reads properly.
  if (idle_wake_may_be_needed(queue.idle_state->load(std::memory_order_relaxed), queue.workers))
    notify_after_push(*queue.runtime);
}

// After a push (try_push_many) onto one of the calling worker's own deques: wakes a
// parked worker under the ground rules above. False if the push failed (the deque had
// to grow and ran out of memory; nothing was pushed). The failure sits behind the
// wake-up's first test: the common path (pushed onto a deque that was not empty) pays
// no more than a push that cannot fail, and the caller's test of the answer folds into
// it. On a worker only.
[[nodiscard]] inline bool wake_after_own_push(WorkStealingDeque<Runnable*>::PushResult pushed) noexcept {
  using PushResult = WorkStealingDeque<Runnable*>::PushResult;
  if (pushed != PushResult::NotEmpty) [[unlikely]] {
    if (pushed == PushResult::OutOfMemory) return false;
    notify_after_push(*tls_fork_queue.runtime);  // it was empty
    return true;
  }
  wake_if_idle_counters_ask(tls_fork_queue);
  return true;
}

// Pushes job_at(0), ..., job_at(count - 1) (the last ends at the bottom) in one
// publication, with one look at the idle workers: a gather's children. False, with
// nothing pushed, if the deque had to grow and ran out of memory. On a worker only.
template <class JobAt>
[[nodiscard]] inline bool push_fork_jobs(std::size_t count, JobAt job_at) noexcept {
  WorkStealingDeque<Runnable*>& deque = *tls_fork_queue.deque;
  // One job (a gather of two: fib) takes a push of a constant 1, which the compiler
  // folds into straight code; the loop's set-up costs it about 9 instructions.
  return wake_after_own_push(count == 1 ? deque.try_push_many(1, [&](std::size_t) -> Runnable* { return &job_at(0); })
                                        : deque.try_push_many(count, [&](std::size_t i) -> Runnable* { return &job_at(i); }));
}

// pop_fork_job's other item put back: out of line, so that the common path makes no
// call (see ForkJoin::next_inline). It fits: it was just popped.
[[gnu::noinline, gnu::cold]] inline void push_back_popped(WorkStealingDeque<Runnable*>& deque, Runnable* item) {
  deque.push(item);
}

// Takes `job` back if it is still at the bottom of the calling worker's deque. Anything
// else found there (a task spawned meanwhile) goes back where it was.
inline bool pop_fork_job(ForkJob& job) {
  WorkStealingDeque<Runnable*>& deque = *tls_fork_queue.deque;
  Runnable* bottom = deque.pop();
  if (bottom == &job) [[likely]] return true;
  if (bottom != nullptr) push_back_popped(deque, bottom);
  return false;
}

}  // namespace weft::detail
