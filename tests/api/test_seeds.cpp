// Checks every scenario of the four seeds (/work/shared/seeds/: Python asyncio
// cancellation tutorials) in C++, with the seed's printed output compared line by line.
// Tasks append to a mutex-protected log instead of printing, and each test compares
// the whole log to the seed's expected lines (EXPECT_EQ on vectors). Time is a
// ManualClock with auto-advance, so asyncio.sleep(0.5) and friends are exact and cost
// nothing; the virtual time at the end is checked too.
//
//   seed 000 basic         say_hello cancelled after 0.5 s
//   seed 000 intermediate  four workers with fixed sleeps (3, 4, 5, 1 s): worker-3
//                          finishes before the 2 s cancel, the others are cancelled;
//                          asyncio.gather(*tasks, return_exceptions=True) is
//                          weft::gather(return_exceptions, ...) over the handles
//   seed 000 advanced      a canceller finds the task named "sleeper" through
//                          Runtime::tasks() and cancels it by id (asyncio.all_tasks);
//                          asyncio.wait(tasks) is weft::wait(tasks)
//   seed 000 prose         the causes of CancelledError it lists: wait_for's timeout,
//                          a cancelled Queue.get() on an empty queue; a swallowed
//                          CancelledError hides the cancellation
//   seed 001               "main(): cancel_me is cancelled now"; then telling the two
//                          directions apart: the child cancelled (TaskCancelled) vs the
//                          parent cancelled (plain CancelledError), and the shielded
//                          variant (weft::shield) that behaves like the seed's
//                          detect_cancel(), also with the explicit child.cancel() the
//                          seed suggests; its .NET prose: one token cancels nested
//                          tasks, a task group cancelled before a child starts
//   seed 002               done()/cancelled()/exception() after a cancel; a task
//                          cancelled right after create_task never runs its body; a
//                          cancel stops the coroutine at its next await
//   seed 003               "Task started." ... "Caught task cancellation in main."
//
// asyncio.gather accepts tasks made by create_task; weft's gather takes lazy Tasks. A
// spawned task is gathered through joined(handle), a Task that awaits the handle (the
// return_exceptions form spawns each such Task; each awaits its handle).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <stop_token>
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
  explicit SeedRuntime(unsigned workers = 2, weft::RunOrder run_order = weft::RunOrder::Lifo)
      : start(clock.now()), rt({.workers = workers, .clock = &clock, .run_order = run_order}) {}
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

// Spawns worker-0..3. asyncio starts tasks in creation order, and so does one weft
// worker; several run them in parallel, so with `wait_for_each` each spawn waits
// (yielding: the virtual clock cannot move while a task is runnable) until the worker
// has printed "started".
Task<std::vector<JoinHandle<void>>> spawn_workers(Log* log, bool wait_for_each) {
  std::vector<JoinHandle<void>> tasks;
  for (int i = 0; i < 4; ++i) {
    const std::size_t before = log->size();
    tasks.push_back(weft::spawn(worker(log, "worker-" + std::to_string(i), kWorkerSeconds[i])));
    while (wait_for_each && log->size() == before) co_await weft::this_task::yield();
  }
  co_return tasks;
}

// asyncio.gather(*tasks) over tasks made by create_task: a lazy Task that awaits the
// spawned task's handle. Awaiting the handle forwards a cancellation of the gather to
// the task, as asyncio's gather cancels its children.
template <class T>
Task<T> joined(JoinHandle<T>& handle) {
  co_return co_await handle;
}

struct Seed000IntermediateOutcome {
  int cancel_true = 0;
  std::vector<weft::Outcome<void>> results;  // gather's return value
};

// The seed's main: cancel every task, then gather them with return_exceptions. `in_turn`
// cancels and gathers one task at a time instead, which fixes the order of the
// "cancelled" lines on several workers (see the tests below); `wait_for_each` as in
// spawn_workers.
Task<Seed000IntermediateOutcome> seed000_intermediate_main(Log* log, bool in_turn, bool wait_for_each = true) {
  Seed000IntermediateOutcome outcome;
  std::vector<JoinHandle<void>> tasks = co_await spawn_workers(log, wait_for_each);
  co_await weft::sleep_for(2s);  // wait for two seconds
  if (in_turn) {
    for (auto& task : tasks) {
      outcome.cancel_true += task.cancel() ? 1 : 0;
      auto [result] = co_await weft::gather(weft::return_exceptions, joined(task));
      outcome.results.push_back(std::move(result));
    }
    co_return outcome;
  }
  for (auto& task : tasks) outcome.cancel_true += task.cancel() ? 1 : 0;  // cancel all tasks
  // await asyncio.gather(*tasks, return_exceptions=True)
  std::vector<Task<void>> gathered;
  for (auto& task : tasks) gathered.push_back(joined(task));
  outcome.results = co_await weft::gather(weft::return_exceptions, std::move(gathered));
  co_return outcome;
}

const Lines kSeed000IntermediateOutput{
    "worker-0 started",  "worker-1 started",   "worker-2 started",   "worker-3 started",
    "worker-3 finished", "worker-0 cancelled", "worker-1 cancelled", "worker-2 cancelled",
};

void expect_seed000_intermediate_results(const Seed000IntermediateOutcome& outcome) {
  EXPECT_EQ(outcome.cancel_true, 3);  // worker-3 had finished: cancel() is false for it
  ASSERT_EQ(outcome.results.size(), 4u);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(outcome.results[i].cancelled()) << i;  // CancelledError()
  EXPECT_FALSE(outcome.results[3].cancelled());                                   // None
  EXPECT_EQ(outcome.results[3].exception(), nullptr);
}

// The seed's structure. The three cancelled tasks are woken at once and run in
// parallel, so the order of their "cancelled" lines is not fixed; the lines are the
// seed's, and the first five in the seed's order.
TEST(Seeds, Seed000IntermediateCancelAllThenGatherReturnExceptions) {
  Log log;
  SeedRuntime s;
  Seed000IntermediateOutcome outcome = s.rt.block_on(seed000_intermediate_main(&log, /*in_turn=*/false));
  Lines lines = log.lines();
  ASSERT_EQ(lines.size(), 8u);
  EXPECT_EQ(Lines(lines.begin(), lines.begin() + 5),
            Lines(kSeed000IntermediateOutput.begin(), kSeed000IntermediateOutput.begin() + 5));
  std::sort(lines.begin() + 5, lines.end());
  EXPECT_EQ(lines, kSeed000IntermediateOutput);
  expect_seed000_intermediate_results(outcome);
  EXPECT_EQ(s.elapsed(), std::chrono::nanoseconds(2s));
}

// The seed's output exactly: each task cancelled and gathered before the next.
TEST(Seeds, Seed000IntermediateCancelAndGatherInTurnSeedsExactOutput) {
  Log log;
  SeedRuntime s;
  Seed000IntermediateOutcome outcome = s.rt.block_on(seed000_intermediate_main(&log, /*in_turn=*/true));
  EXPECT_EQ(log.lines(), kSeed000IntermediateOutput);
  expect_seed000_intermediate_results(outcome);
  EXPECT_EQ(s.elapsed(), std::chrono::nanoseconds(2s));
}

// On one worker in asyncio's order (RunOrder::Fifo), as on asyncio's single-threaded
// loop, the seed's structure exactly (four create_task, cancel all, then gather) gives
// the seed's output exactly: tasks start in the order spawned and the cancelled ones
// run in the order cancelled, as call_soon runs them (scheduler/src/
// runtime_core_impl.hpp, "Order on one worker"). The default order (Lifo) starts the
// last spawned first: docs/ASYNCIO.md, "Scheduling".
TEST(Seeds, Seed000IntermediateOnOneWorkerInAsyncioOrderSeedsExactOutput) {
  Log log;
  SeedRuntime s(/*workers=*/1, weft::RunOrder::Fifo);
  Seed000IntermediateOutcome outcome =
      s.rt.block_on(seed000_intermediate_main(&log, /*in_turn=*/false, /*wait_for_each=*/false));
  EXPECT_EQ(log.lines(), kSeed000IntermediateOutput);
  expect_seed000_intermediate_results(outcome);
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

Task<weft::WaitResult> seed000_advanced_main(Log* log, weft::Runtime* rt, std::atomic<bool>* found) {
  // tasks = [asyncio.create_task(sleeper()), asyncio.create_task(canceller())]
  std::vector<JoinHandle<void>> tasks;
  tasks.push_back(weft::spawn(sleeper(log), {.name = "sleeper"}));
  tasks.push_back(weft::spawn(canceller(rt, found), {.name = "canceller"}));
  // done, pending = await asyncio.wait(tasks)
  weft::WaitResult result = co_await weft::wait(tasks);
  // for task in done: asyncio's `done` is a set, in no particular order; the seed's run
  // printed the canceller first, so walk weft's (index-ordered) `done` backwards.
  for (auto i = result.done.rbegin(); i != result.done.rend(); ++i) print_result(log, tasks[*i]);
  co_return result;
}

TEST(Seeds, Seed000AdvancedCancellerFindsTheSleeperByName) {
  Log log;
  SeedRuntime s;
  std::atomic<bool> found{false};
  weft::WaitResult result = s.rt.block_on(seed000_advanced_main(&log, &s.rt, &found));
  EXPECT_EQ(result.done, (std::vector<std::size_t>{0, 1}));
  EXPECT_TRUE(result.pending.empty());
  EXPECT_EQ(log.lines(), (Lines{
                             "Going to sleep",
                             "Interrupted",
                             "Task result: None",
                             "Task was cancelled",
                         }));
  EXPECT_TRUE(found.load());
  EXPECT_EQ(s.elapsed(), std::chrono::nanoseconds(3s));
}

// ---- seed 000, prose: "Some possible scenarios that can cause this exception" ----------

// "Using the asyncio.wait_for() function with a timeout and the timeout expires": the
// awaited operation gets CancelledError, the caller TimeoutError, at the timeout.
Task<void> slow_operation(Log* log) {
  try {
    log->print("slow operation started");
    co_await weft::sleep_for(10s);
    log->print("slow operation finished");
  } catch (const CancelledError&) {
    log->print("slow operation cancelled");
    throw;
  }
}

Task<int> seed000_wait_for_main(Log* log) {
  try {
    co_await weft::wait_for(slow_operation(log), 1s);  // await asyncio.wait_for(slow_operation(), 1)
  } catch (const weft::TimeoutError&) {
    log->print("timed out");
  }
  co_return weft::this_task::cancelling();
}

TEST(Seeds, Seed000WaitForTimeoutCancelsTheOperation) {
  Log log;
  SeedRuntime s;
  int cancelling = s.rt.block_on(seed000_wait_for_main(&log));
  EXPECT_EQ(log.lines(), (Lines{"slow operation started", "slow operation cancelled", "timed out"}));
  EXPECT_EQ(cancelling, 0);  // the timeout cancelled the operation, not main
  EXPECT_EQ(s.elapsed(), std::chrono::nanoseconds(1s));
}

// "Using the asyncio.Queue.get() function and the queue is empty": get() waits on the
// empty queue; cancelling the waiting task raises CancelledError in it (an empty queue
// alone does not). A value put afterwards is still in the queue: nothing is lost.
Task<void> consumer(Log* log, weft::Channel<int>* queue) {
  try {
    int item = co_await queue->recv();  // await queue.get()
    log->print("got " + std::to_string(item));
  } catch (const CancelledError&) {
    log->print("get() cancelled");
    throw;
  }
}

Task<std::optional<int>> seed000_queue_get_main(Log* log) {
  auto queue = weft::Channel<int>::unbounded();
  auto task = weft::spawn(consumer(log, &queue));
  co_await weft::sleep_for(1s);
  log->print(task.done() ? "consumer done" : "consumer still waiting");
  task.cancel();
  try {
    co_await task;
  } catch (const TaskCancelled&) {
    log->print("consumer was cancelled");
  }
  EXPECT_TRUE(queue.try_send(42));
  co_return queue.try_recv();
}

TEST(Seeds, Seed000CancelAGetOnAnEmptyQueue) {
  Log log;
  SeedRuntime s;
  std::optional<int> left = s.rt.block_on(seed000_queue_get_main(&log));
  EXPECT_EQ(log.lines(), (Lines{"consumer still waiting", "get() cancelled", "consumer was cancelled"}));
  EXPECT_EQ(left, 42);
  EXPECT_EQ(s.elapsed(), std::chrono::nanoseconds(1s));
}

// "If you don't handle asyncio.exceptions.CancelledError properly, it may ... hide the
// cancellation from other parts of your code": a task that catches it and does not
// re-raise goes on, and ends with its value, not cancelled.
Task<int> swallows_cancel(Log* log) {
  try {
    co_await weft::sleep_for(10s);
  } catch (const CancelledError&) {
    log->print("cancellation swallowed");  // no raise
  }
  co_return 42;
}

struct Seed000SwallowOutcome {
  int value = 0;
  bool cancel_returned = false;
  bool cancelled = true;
};

Task<Seed000SwallowOutcome> seed000_swallow_main(Log* log) {
  Seed000SwallowOutcome outcome;
  auto task = weft::spawn(swallows_cancel(log));
  co_await weft::sleep_for(1s);
  outcome.cancel_returned = task.cancel();
  outcome.value = co_await task;  // no CancelledError here
  outcome.cancelled = task.cancelled();
  log->print("main(): task returned " + std::to_string(outcome.value));
  co_return outcome;
}

TEST(Seeds, Seed000SwallowingCancelledErrorHidesTheCancellation) {
  Log log;
  SeedRuntime s;
  Seed000SwallowOutcome outcome = s.rt.block_on(seed000_swallow_main(&log));
  EXPECT_EQ(log.lines(), (Lines{"cancellation swallowed", "main(): task returned 42"}));
  EXPECT_TRUE(outcome.cancel_returned);
  EXPECT_FALSE(outcome.cancelled);
  EXPECT_EQ(s.elapsed(), std::chrono::nanoseconds(1s));
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
// two cases apart by type. Awaiting through weft::shield is the seed's detect_cancel
// exactly: the parent's cancellation leaves the child running ("cancelling the outer task
// will not automatically cancel the inner one"); ShieldAndCancelChild adds the
// "explicit call to child.cancel() in parent" the seed suggests.
enum class Await { Plain, Shield, ShieldAndCancelChild };

Task<void> parent(Log* log, JoinHandle<void>* child, Await how) {
  co_await weft::sleep_for(1ms);
  try {
    if (how == Await::Plain) {
      co_await *child;
    } else {
      co_await weft::shield(*child);  // await detect_cancel(task)
    }
  } catch (const TaskCancelled&) {
    log->print("parent(): child is cancelled now");
    throw;
  } catch (const CancelledError&) {
    log->print("parent(): I am cancelled");
    if (how == Await::ShieldAndCancelChild) child->cancel();
    throw;
  }
}

enum class Cancel { Child, Parent };

struct Seed001Outcome {
  bool child_cancelled = false;
  bool child_done_after_half_a_second = false;
  bool parent_cancelled = false;
};

Task<Seed001Outcome> seed001_second_main(Log* log, Cancel which, Await how) {
  JoinHandle<void> child_task = weft::spawn(cancel_me(log));
  JoinHandle<void> parent_task = weft::spawn(parent(log, &child_task, how));
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
  Seed001Outcome outcome = s.rt.block_on(seed001_second_main(&log, Cancel::Child, Await::Plain));
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
  Seed001Outcome outcome = s.rt.block_on(seed001_second_main(&log, Cancel::Parent, Await::Plain));
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
  Seed001Outcome outcome = s.rt.block_on(seed001_second_main(&log, Cancel::Parent, Await::Shield));
  EXPECT_EQ(log.lines(), (Lines{"cancel_me", "parent(): I am cancelled", "cancel_me(): after sleep"}));
  EXPECT_FALSE(outcome.child_done_after_half_a_second);
  EXPECT_TRUE(outcome.parent_cancelled);
  EXPECT_TRUE(outcome.child_cancelled);  // by main, at the end
}

// "that may be easily changed with an explicit call to child.cancel(), either in parent,
// or in detect_cancel itself": the child's cleanup then runs after the parent's line, at
// once (not at main's end).
TEST(Seeds, Seed001CancelTheShieldedParentThatCancelsTheChildExplicitly) {
  Log log;
  SeedRuntime s;
  Seed001Outcome outcome = s.rt.block_on(seed001_second_main(&log, Cancel::Parent, Await::ShieldAndCancelChild));
  EXPECT_EQ(log.lines(), (Lines{"cancel_me", "parent(): I am cancelled", "cancel_me(): after sleep"}));
  EXPECT_TRUE(outcome.child_done_after_half_a_second);
  EXPECT_TRUE(outcome.parent_cancelled);
  EXPECT_TRUE(outcome.child_cancelled);
  EXPECT_EQ(s.elapsed(), std::chrono::nanoseconds(600ms));
}

TEST(Seeds, Seed001CancelTheChildThroughAShieldParentSeesTaskCancelled) {
  Log log;
  SeedRuntime s;
  Seed001Outcome outcome = s.rt.block_on(seed001_second_main(&log, Cancel::Child, Await::Shield));
  EXPECT_EQ(log.lines(), (Lines{"cancel_me", "cancel_me(): after sleep", "parent(): child is cancelled now"}));
  EXPECT_TRUE(outcome.child_cancelled);
  EXPECT_TRUE(outcome.parent_cancelled);
}

// ---- seed 001, the .NET prose -------------------------------------------------------------

// "you must pass the same cancellation token to the constructor of any nested tasks ...
// to cancel all tasks simultaneously": weft takes a std::stop_token at spawn.
Task<void> sleeps_an_hour(Log* log, std::string name) {
  try {
    co_await weft::sleep_for(3600s);
  } catch (const CancelledError&) {
    log->print(name + " cancelled");
    throw;
  }
}

Task<void> outer_task(Log* log, std::stop_token token, std::optional<JoinHandle<void>>* inner) {
  inner->emplace(weft::spawn(sleeps_an_hour(log, "inner"), {.name = "inner", .stop = token}));  // nested task
  co_await sleeps_an_hour(log, "outer");
}

Task<int> seed001_token_main(Log* log) {
  std::stop_source source;
  std::optional<JoinHandle<void>> inner;
  auto outer = weft::spawn(outer_task(log, source.get_token(), &inner), {.name = "outer", .stop = source.get_token()});
  co_await weft::sleep_for(1s);
  source.request_stop();  // the token is cancelled
  int cancelled = 0;
  for (JoinHandle<void>* task : {&outer, &*inner}) {
    try {
      co_await *task;
    } catch (const TaskCancelled&) {
      ++cancelled;
    }
  }
  co_return cancelled;
}

TEST(Seeds, Seed001OneStopTokenCancelsNestedTasks) {
  Log log;
  SeedRuntime s;
  int cancelled = s.rt.block_on(seed001_token_main(&log));
  Lines lines = log.lines();
  std::sort(lines.begin(), lines.end());  // both are woken at once
  EXPECT_EQ(lines, (Lines{"inner cancelled", "outer cancelled"}));
  EXPECT_EQ(cancelled, 2);
  EXPECT_EQ(s.elapsed(), std::chrono::nanoseconds(1s));
}

// "if one task has not yet started, but it unblocks another active task, it will not
// start if the task group is canceled. This can cause deadlock": in weft too the child
// that had not started never runs its body, but the active child waiting for it is
// cancelled as well (every wait is cancellable), so the group ends: no deadlock.
Task<void> waits_to_be_unblocked(Log* log, weft::Event* unblock, std::atomic<bool>* waiting) {
  try {
    log->print("A waits");
    waiting->store(true);
    co_await unblock->wait();
    log->print("A unblocked");
  } catch (const CancelledError&) {
    log->print("A cancelled");
    throw;
  }
}

Task<void> unblocks(Log* log, weft::Event* unblock) {
  log->print("B started");
  unblock->set();
  co_return;
}

Task<void> group_owner(Log* log, JoinHandle<void>* const* owner) {
  weft::Event unblock;
  std::atomic<bool> waiting{false};
  try {
    co_await weft::task_group([&](weft::TaskGroup& g) -> Task<void> {
      g.spawn(waits_to_be_unblocked(log, &unblock, &waiting));
      while (!waiting.load()) co_await weft::this_task::yield();
      g.spawn(unblocks(log, &unblock));  // not started yet: the only worker runs this body
      (*owner)->cancel();                // the group is cancelled
      co_await weft::this_task::yield();
    });
  } catch (const CancelledError&) {
    log->print("group cancelled");
    throw;
  }
}

Task<bool> seed001_group_main(Log* log) {
  JoinHandle<void>* owner_handle = nullptr;
  JoinHandle<void> owner = weft::spawn(group_owner(log, &owner_handle));
  owner_handle = &owner;  // before the owner first runs: the only worker runs main
  try {
    co_await owner;
  } catch (const TaskCancelled&) {
  }
  co_return owner.cancelled();
}

TEST(Seeds, Seed001TaskGroupCancelledBeforeAChildStartsNoDeadlock) {
  Log log;
  SeedRuntime s(/*workers=*/1);
  bool cancelled = s.rt.block_on(seed001_group_main(&log));
  EXPECT_EQ(log.lines(), (Lines{"A waits", "A cancelled", "group cancelled"}));
  EXPECT_TRUE(cancelled);
  EXPECT_EQ(s.elapsed(), std::chrono::nanoseconds(0));
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
  bool done_at_once = true;
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
  status.done_at_once = task.done();  // what the seed's `if task.done()` sees: False
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

// One worker, like asyncio's loop: right after cancel() the task has not run again, so
// done() is false (in asyncio too: the seed's check, written right after cancel(),
// prints nothing there).
TEST(Seeds, Seed002DoneAndCancelledAfterCancel) {
  Log log;
  SeedRuntime s(/*workers=*/1);
  Seed002Status status = s.rt.block_on(seed002_detect_main(&log));
  EXPECT_EQ(log.lines(), (Lines{"Task was successfully cancelled."}));
  EXPECT_TRUE(status.cancel_returned);
  EXPECT_FALSE(status.done_at_once);
  EXPECT_TRUE(status.done);
  EXPECT_TRUE(status.cancelled);
  EXPECT_EQ(status.exception, "TaskCancelled");
  EXPECT_EQ(status.result, "TaskCancelled");
  EXPECT_EQ(s.elapsed(), std::chrono::nanoseconds(1s));
}

// "When a task is cancelled, the coroutine it is running will be stopped at the next
// await expression": code up to the next co_await still runs; that co_await throws.
// The task cancels itself (this_task::cancel()), so that the request certainly arrives
// while it runs.
Task<void> stops_at_next_await(Log* log) {
  weft::this_task::cancel();
  log->print("still running after cancel()");
  try {
    co_await weft::sleep_for(1s);
    log->print("not reached");
  } catch (const CancelledError&) {
    log->print("stopped at the next await");
    throw;
  }
}

Task<void> seed002_next_await_main(Log* log) {
  auto task = weft::spawn(stops_at_next_await(log));
  try {
    co_await task;
  } catch (const TaskCancelled&) {
    log->print("Task was cancelled!");
  }
}

TEST(Seeds, Seed002ACancelledCoroutineStopsAtItsNextAwait) {
  Log log;
  SeedRuntime s;
  s.rt.block_on(seed002_next_await_main(&log));
  EXPECT_EQ(log.lines(), (Lines{"still running after cancel()", "stopped at the next await", "Task was cancelled!"}));
  EXPECT_EQ(s.elapsed(), std::chrono::nanoseconds(0));
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
