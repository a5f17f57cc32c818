// Checks every scenario of the four seeds (/work/shared/seeds/: Python asyncio
// cancellation tutorials) in C++, with the seed's printed output compared line by line.
// Tasks append to a mutex-protected log instead of printing, and each test compares
// the whole log to the seed's expected lines (EXPECT_EQ on vectors). Time is a
// ManualClock with auto-advance, so asyncio.sleep(0.5) and friends are exact and cost
// nothing; the virtual time at the end is checked too.
//
//   seed 000 basic         say_hello cancelled after 0.5 s
//   seed 000 intermediate  four workers with fixed sleeps (3, 4, 5, 1 s): worker-3
//                          finishes before the 2 s cancel, the others are cancelled
//   seed 000 advanced      a canceller finds the task named "sleeper" through
//                          Runtime::tasks() and cancels it by id (asyncio.all_tasks)
//   seed 001               "main(): cancel_me is cancelled now"; then telling the two
//                          directions apart: the child cancelled (TaskCancelled) vs the
//                          parent cancelled (plain CancelledError), and the shielded
//                          variant that behaves like the seed's detect_cancel()
//   seed 002               done()/cancelled()/exception() after a cancel; a task
//                          cancelled right after create_task never runs its body
//   seed 003               "Task started." ... "Caught task cancellation in main."
//
// Not available yet: gather, wait. "gather(return_exceptions=True)" and
// "asyncio.wait" are written as awaiting each JoinHandle in turn, catching
// TaskCancelled, which gives the same observable outcome here.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include <weft/weft.hpp>

namespace {

using namespace std::chrono_literals;
using weft::CancelledError;
using weft::JoinHandle;
using weft::Task;
using weft::TaskCancelled;
using Lines = std::vector<std::string>;

// print(), from any worker.
class Log {
 public:
  void print(std::string line) {
    std::lock_guard guard(mutex_);
    lines_.push_back(std::move(line));
  }
  Lines lines() const {
    std::lock_guard guard(mutex_);
    return lines_;
  }
  std::size_t size() const {
    std::lock_guard guard(mutex_);
    return lines_.size();
  }

 private:
  mutable std::mutex mutex_;
  Lines lines_;
};

// Python's `finally: print(...)`: prints when the frame unwinds, on every path.
struct Finally {
  Log* log;
  std::string line;
  ~Finally() { log->print(line); }
};

// A ManualClock with auto-advance and a runtime on it. `workers` = 1 where the seed
// needs "cancel() right after create_task" to win the race with the first run (the
// only worker is busy running the spawning task).
struct SeedRuntime {
  explicit SeedRuntime(unsigned workers = 2) : start(clock.now()), rt({.workers = workers, .clock = &clock}) {}
  std::chrono::nanoseconds elapsed() const { return clock.now() - start; }
  weft::ManualClock clock{};
  weft::Clock::time_point start;
  bool auto_advance = (clock.set_auto_advance(true), true);
  weft::Runtime rt;
};

// ---- seed 000, basic ------------------------------------------------------------------

Task<void> say_hello(Log* log) {
  try {
    log->print("Hello buddy.");
    co_await weft::sleep_for(1s);
    log->print("Welcome to Sling Academy.");
  } catch (const CancelledError&) {
    log->print("Cancelled");
    throw;  // re-raise the exception to propagate it to the caller
  }
}

Task<void> seed000_basic_main(Log* log) {
  auto task = weft::spawn(say_hello(log));
  co_await weft::sleep_for(500ms);
  task.cancel();
  try {
    co_await task;
  } catch (const CancelledError&) {
    log->print("Task was cancelled before it finished.");
    log->print("The second print statement (Welcome to Sling Academy!) was never executed.");
  }
}

TEST(Seeds, Seed000BasicCancelSayHelloAfterHalfASecond) {
  Log log;
  SeedRuntime s;
  s.rt.block_on(seed000_basic_main(&log));
  EXPECT_EQ(log.lines(), (Lines{
                             "Hello buddy.",
                             "Cancelled",
                             "Task was cancelled before it finished.",
                             "The second print statement (Welcome to Sling Academy!) was never executed.",
                         }));
  EXPECT_EQ(s.elapsed(), std::chrono::nanoseconds(500ms));
}

// ---- seed 000, intermediate -----------------------------------------------------------

// random.randint(1, 5) made fixed: the durations that reproduce the seed's output
// (worker-3 finishes before the 2 s cancel; workers 0-2 are still sleeping then).
constexpr int kWorkerSeconds[4] = {3, 4, 5, 1};

Task<void> worker(Log* log, std::string name, int seconds) {
  try {
    log->print(name + " started");
    co_await weft::sleep_for(std::chrono::seconds(seconds));  // simulate some work
    log->print(name + " finished");
  } catch (const CancelledError&) {
    log->print(name + " cancelled");
    throw;
  }
}

// Spawns worker-0..3. asyncio starts tasks in creation order; weft's scheduler does
// not promise that, so each spawn waits (yielding: the virtual clock cannot move
// while a task is runnable) until the worker has printed "started".
Task<std::vector<JoinHandle<void>>> spawn_workers(Log* log) {
  std::vector<JoinHandle<void>> tasks;
  for (int i = 0; i < 4; ++i) {
    const std::size_t before = log->size();
    tasks.push_back(weft::spawn(worker(log, "worker-" + std::to_string(i), kWorkerSeconds[i])));
    while (log->size() == before) co_await weft::this_task::yield();
  }
  co_return tasks;
}

// The seed's order of events: cancel every task, then wait for each. Several tasks
// woken at once run in parallel on weft, so the order of their "cancelled" lines is
// not fixed; `in_turn` cancels and awaits one at a time, which makes the output the
// seed's exactly (asyncio's single thread delivers the cancels in loop order).
Task<void> seed000_intermediate_main(Log* log, bool in_turn, int* cancel_true) {
  std::vector<JoinHandle<void>> tasks = co_await spawn_workers(log);
  co_await weft::sleep_for(2s);  // wait for two seconds
  if (!in_turn)
    for (auto& task : tasks) *cancel_true += task.cancel() ? 1 : 0;
  // asyncio.gather(*tasks, return_exceptions=True)
  for (auto& task : tasks) {
    if (in_turn) *cancel_true += task.cancel() ? 1 : 0;
    try {
      co_await task;
    } catch (const TaskCancelled&) {
    }
  }
}

TEST(Seeds, Seed000IntermediateCancelFourWorkersInALoop) {
  Log log;
  SeedRuntime s;
  int cancel_true = 0;
  s.rt.block_on(seed000_intermediate_main(&log, /*in_turn=*/true, &cancel_true));
  EXPECT_EQ(log.lines(), (Lines{
                             "worker-0 started",
                             "worker-1 started",
                             "worker-2 started",
                             "worker-3 started",
                             "worker-3 finished",
                             "worker-0 cancelled",
                             "worker-1 cancelled",
                             "worker-2 cancelled",
                         }));
  EXPECT_EQ(cancel_true, 3);  // worker-3 had finished: cancel() is false for it
  EXPECT_EQ(s.elapsed(), std::chrono::nanoseconds(2s));
}

// The seed's exact structure (cancel all, then gather): the same lines, the three
// "cancelled" ones in some order.
TEST(Seeds, Seed000IntermediateCancelAllThenGatherSameLinesAnyCancelOrder) {
  Log log;
  SeedRuntime s;
  int cancel_true = 0;
  s.rt.block_on(seed000_intermediate_main(&log, /*in_turn=*/false, &cancel_true));
  Lines lines = log.lines();
  ASSERT_EQ(lines.size(), 8u);
  EXPECT_EQ(Lines(lines.begin(), lines.begin() + 5), (Lines{
                                                          "worker-0 started",
                                                          "worker-1 started",
                                                          "worker-2 started",
                                                          "worker-3 started",
                                                          "worker-3 finished",
                                                      }));
  Lines tail(lines.begin() + 5, lines.end());
  std::sort(tail.begin(), tail.end());
  EXPECT_EQ(tail, (Lines{"worker-0 cancelled", "worker-1 cancelled", "worker-2 cancelled"}));
  EXPECT_EQ(cancel_true, 3);
  EXPECT_EQ(s.elapsed(), std::chrono::nanoseconds(2s));
}

// ---- seed 000, advanced ---------------------------------------------------------------

Task<void> sleeper(Log* log) {
  try {
    log->print("Going to sleep");
    co_await weft::sleep_for(10s);  // sleep for 10 seconds or until cancelled
    log->print("Woke up");
  } catch (const CancelledError&) {
    log->print("Interrupted");
    throw;
  }
}

// asyncio.all_tasks(loop) + task.get_coro().__name__ == "sleeper": Runtime::tasks()
// and the name given at spawn.
Task<void> canceller(weft::Runtime* rt, std::atomic<bool>* found) {
  co_await weft::sleep_for(3s);
  for (const weft::TaskInfo& info : rt->tasks()) {
    if (info.name == "sleeper") {
      found->store(rt->cancel(info.id));
      break;
    }
  }
}

// task.result() in the seed's `for task in done:` loop.
template <class T>
void print_result(Log* log, JoinHandle<T>& task) {
  try {
    task.result();
    log->print("Task result: None");  // the canceller returns nothing (None)
  } catch (const CancelledError&) {
    log->print("Task was cancelled");
  }
}

Task<void> seed000_advanced_main(Log* log, weft::Runtime* rt, std::atomic<bool>* found) {
  JoinHandle<void> sleeper_task = weft::spawn(sleeper(log), {.name = "sleeper"});
  JoinHandle<void> canceller_task = weft::spawn(canceller(rt, found), {.name = "canceller"});
  // done, pending = await asyncio.wait(tasks)
  for (JoinHandle<void>* task : {&sleeper_task, &canceller_task}) {
    try {
      co_await *task;
    } catch (const TaskCancelled&) {
    }
  }
  // `done` is a set (unordered); the seed printed the canceller first.
  print_result(log, canceller_task);
  print_result(log, sleeper_task);
}

TEST(Seeds, Seed000AdvancedCancellerFindsTheSleeperByName) {
  Log log;
  SeedRuntime s;
  std::atomic<bool> found{false};
  s.rt.block_on(seed000_advanced_main(&log, &s.rt, &found));
  EXPECT_EQ(log.lines(), (Lines{
                             "Going to sleep",
                             "Interrupted",
                             "Task result: None",
                             "Task was cancelled",
                         }));
  EXPECT_TRUE(found.load());
  EXPECT_EQ(s.elapsed(), std::chrono::nanoseconds(3s));
}

// ---- seed 001 ---------------------------------------------------------------------------

// First snippet: cancel_me with `except CancelledError: raise` and `finally: print`.
Task<void> cancel_me_first(Log* log) {
  Finally after{log, "cancel_me(): after sleep"};
  try {
    co_await weft::sleep_for(3600s);
  } catch (const CancelledError&) {
    throw;
  }
}

Task<void> seed001_first_main(Log* log, std::string* caught) {
  auto task = weft::spawn(cancel_me_first(log));
  co_await weft::sleep_for(1s);
  task.cancel();
  try {
    co_await task;
  } catch (const TaskCancelled&) {
    // The answer to the seed's question: TaskCancelled = the awaited task was cancelled.
    *caught = "TaskCancelled";
    log->print("main(): cancel_me is cancelled now");
  } catch (const CancelledError&) {
    *caught = "CancelledError";
    log->print("main(): cancel_me is cancelled now");
  }
}

TEST(Seeds, Seed001MainCancelsCancelMe) {
  Log log;
  SeedRuntime s;
  std::string caught;
  s.rt.block_on(seed001_first_main(&log, &caught));
  EXPECT_EQ(log.lines(), (Lines{"cancel_me(): after sleep", "main(): cancel_me is cancelled now"}));
  EXPECT_EQ(caught, "TaskCancelled");
  EXPECT_EQ(s.elapsed(), std::chrono::nanoseconds(1s));
}

// Second snippet.
Task<void> cancel_me(Log* log) {
  log->print("cancel_me");
  Finally after{log, "cancel_me(): after sleep"};
  co_await weft::sleep_for(3600s);
}

// parent(): `co_await *child` replaces the seed's detect_cancel(task); weft tells the
// two cases apart by type. `shielded` awaits through shield(), which, like
// detect_cancel, leaves the child running when the parent is cancelled.
Task<void> parent(Log* log, JoinHandle<void>* child, bool shielded) {
  co_await weft::sleep_for(1ms);
  try {
    if (shielded) {
      co_await weft::shield(*child);
    } else {
      co_await *child;
    }
  } catch (const TaskCancelled&) {
    log->print("parent(): child is cancelled now");
    throw;
  } catch (const CancelledError&) {
    log->print("parent(): I am cancelled");
    throw;
  }
}

enum class Cancel { Child, Parent };

struct Seed001Outcome {
  bool child_cancelled = false;
  bool child_done_after_half_a_second = false;
  bool parent_cancelled = false;
};

Task<Seed001Outcome> seed001_second_main(Log* log, Cancel which, bool shielded) {
  JoinHandle<void> child_task = weft::spawn(cancel_me(log));
  JoinHandle<void> parent_task = weft::spawn(parent(log, &child_task, shielded));
  co_await weft::sleep_for(100ms);  // give a chance to child to start running
  if (which == Cancel::Parent)
    parent_task.cancel();
  else
    child_task.cancel();
  co_await weft::sleep_for(500ms);
  Seed001Outcome outcome;
  outcome.child_done_after_half_a_second = child_task.done();
  // The seed's loop just closes here; wait for both, ending the child if it still runs
  // (the shielded case).
  try {
    co_await parent_task;
  } catch (const TaskCancelled&) {
  }
  outcome.parent_cancelled = parent_task.cancelled();
  child_task.cancel();
  try {
    co_await child_task;
  } catch (const TaskCancelled&) {
  }
  outcome.child_cancelled = child_task.cancelled();
  co_return outcome;
}

TEST(Seeds, Seed001CancelTheChildParentSeesTaskCancelled) {
  Log log;
  SeedRuntime s;
  Seed001Outcome outcome = s.rt.block_on(seed001_second_main(&log, Cancel::Child, /*shielded=*/false));
  EXPECT_EQ(log.lines(), (Lines{"cancel_me", "cancel_me(): after sleep", "parent(): child is cancelled now"}));
  EXPECT_TRUE(outcome.child_cancelled);
  EXPECT_TRUE(outcome.parent_cancelled);  // parent re-raised the TaskCancelled
  EXPECT_EQ(s.elapsed(), std::chrono::nanoseconds(600ms));
}

// weft's plain `co_await handle` forwards the parent's cancellation to the child (as
// asyncio's `await task` does), waits for it, then throws the parent's own plain
// CancelledError: so the child's cleanup runs first.
TEST(Seeds, Seed001CancelTheParentItSeesPlainCancelledError) {
  Log log;
  SeedRuntime s;
  Seed001Outcome outcome = s.rt.block_on(seed001_second_main(&log, Cancel::Parent, /*shielded=*/false));
  EXPECT_EQ(log.lines(), (Lines{"cancel_me", "cancel_me(): after sleep", "parent(): I am cancelled"}));
  EXPECT_TRUE(outcome.child_cancelled);
  EXPECT_TRUE(outcome.child_done_after_half_a_second);
  EXPECT_TRUE(outcome.parent_cancelled);
  EXPECT_EQ(s.elapsed(), std::chrono::nanoseconds(600ms));
}

// The seed's detect_cancel() exactly: cancelling the parent does not cancel the child
// ("cancelling the outer task will not automatically cancel the inner one"). The child
// is still asleep half a second later; main ends it afterwards.
TEST(Seeds, Seed001CancelTheShieldedParentTheChildKeepsRunning) {
  Log log;
  SeedRuntime s;
  Seed001Outcome outcome = s.rt.block_on(seed001_second_main(&log, Cancel::Parent, /*shielded=*/true));
  EXPECT_EQ(log.lines(), (Lines{"cancel_me", "parent(): I am cancelled", "cancel_me(): after sleep"}));
  EXPECT_FALSE(outcome.child_done_after_half_a_second);
  EXPECT_TRUE(outcome.parent_cancelled);
  EXPECT_TRUE(outcome.child_cancelled);  // by main, at the end
}

TEST(Seeds, Seed001CancelTheChildThroughAShieldParentSeesTaskCancelled) {
  Log log;
  SeedRuntime s;
  Seed001Outcome outcome = s.rt.block_on(seed001_second_main(&log, Cancel::Child, /*shielded=*/true));
  EXPECT_EQ(log.lines(), (Lines{"cancel_me", "cancel_me(): after sleep", "parent(): child is cancelled now"}));
  EXPECT_TRUE(outcome.child_cancelled);
  EXPECT_TRUE(outcome.parent_cancelled);
}

// ---- seed 002 ---------------------------------------------------------------------------

Task<void> my_coroutine(Log* log) {
  log->print("Hello, asyncio!");
  co_return;
}

Task<void> seed002_basic_main(Log* log) {
  auto task = weft::spawn(my_coroutine(log));
  co_await task;
}

TEST(Seeds, Seed002CreateAndAwaitATask) {
  Log log;
  SeedRuntime s;
  s.rt.block_on(seed002_basic_main(&log));
  EXPECT_EQ(log.lines(), (Lines{"Hello, asyncio!"}));
}

Task<void> cancellable_coroutine(Log* log, std::atomic<bool>* ran) {
  ran->store(true);
  try {
    co_await weft::sleep_for(10s);
  } catch (const CancelledError&) {
    log->print("Coroutine was cancelled!");
    throw;
  }
}

Task<void> seed002_cancel_main(Log* log, std::atomic<bool>* ran) {
  auto task = weft::spawn(cancellable_coroutine(log, ran));
  task.cancel();  // right after create_task: before the task's first step
  try {
    co_await task;
  } catch (const CancelledError&) {
    log->print("Task was cancelled!");
  }
}

// asyncio: a task cancelled before its first step never runs its coroutine, so
// "Coroutine was cancelled!" is not printed. weft: the same, certain here because the
// only worker runs main until it awaits.
TEST(Seeds, Seed002CancelRightAfterCreateTaskTheBodyNeverRuns) {
  Log log;
  std::atomic<bool> ran{false};
  SeedRuntime s(/*workers=*/1);
  s.rt.block_on(seed002_cancel_main(&log, &ran));
  EXPECT_EQ(log.lines(), (Lines{"Task was cancelled!"}));
  EXPECT_FALSE(ran.load());
  EXPECT_EQ(s.elapsed(), std::chrono::nanoseconds(0));
}

Task<void> another_coroutine() { co_await weft::sleep_for(5s); }

struct Seed002Status {
  bool cancel_returned = false;
  bool done = false;
  bool cancelled = false;
  std::string exception;
  std::string result;
};

Task<Seed002Status> seed002_detect_main(Log* log) {
  Seed002Status status;
  auto task = weft::spawn(another_coroutine());
  co_await weft::sleep_for(1s);  // the seed forgot the await; the intent is: let it run
  status.cancel_returned = task.cancel();
  // The seed checks done() at once, which asyncio answers False until the loop has
  // run the task again; wait for the end first (asyncio.wait([task])).
  try {
    co_await task;
  } catch (const TaskCancelled&) {
  }
  status.done = task.done();
  status.cancelled = task.cancelled();
  try {
    (void)task.exception();
    status.exception = "returned";
  } catch (const TaskCancelled&) {
    status.exception = "TaskCancelled";  // asyncio: exception() raises CancelledError
  }
  try {
    task.result();
    status.result = "returned";
  } catch (const TaskCancelled&) {
    status.result = "TaskCancelled";
  }
  if (task.done() && task.cancelled()) log->print("Task was successfully cancelled.");
  co_return status;
}

TEST(Seeds, Seed002DoneAndCancelledAfterCancel) {
  Log log;
  SeedRuntime s;
  Seed002Status status = s.rt.block_on(seed002_detect_main(&log));
  EXPECT_EQ(log.lines(), (Lines{"Task was successfully cancelled."}));
  EXPECT_TRUE(status.cancel_returned);
  EXPECT_TRUE(status.done);
  EXPECT_TRUE(status.cancelled);
  EXPECT_EQ(status.exception, "TaskCancelled");
  EXPECT_EQ(status.result, "TaskCancelled");
  EXPECT_EQ(s.elapsed(), std::chrono::nanoseconds(1s));
}

// ---- seed 003 ---------------------------------------------------------------------------

Task<void> long_running_task(Log* log) {
  try {
    log->print("Task started.");
    co_await weft::sleep_for(5s);
    log->print("Task finished.");
  } catch (const CancelledError&) {
    log->print("Task was cancelled.");
    throw;
  }
}

Task<void> seed003_main(Log* log) {
  auto task = weft::spawn(long_running_task(log));
  co_await weft::sleep_for(1s);  // let the task run for a bit
  log->print("Cancelling the task...");
  task.cancel();
  try {
    co_await task;
  } catch (const CancelledError&) {
    log->print("Caught task cancellation in main.");
  }
}

TEST(Seeds, Seed003CancelALongRunningTask) {
  Log log;
  SeedRuntime s;
  s.rt.block_on(seed003_main(&log));
  EXPECT_EQ(log.lines(), (Lines{
                             "Task started.",
                             "Cancelling the task...",
                             "Task was cancelled.",
                             "Caught task cancellation in main.",
                         }));
  EXPECT_EQ(s.elapsed(), std::chrono::nanoseconds(1s));
}

}  // namespace
