// Checks cancellation as the API contract states it (docs: API.md, "Cancellation"),
// asyncio 3.11+ semantics: cancel() returns true for a live task and false for a
// finished one; a cancelled task's result()/exception()/co_await throw TaskCancelled
// carrying the message; an awaiter's own cancellation is a plain CancelledError, is
// forwarded to the awaited task, and is thrown only once that task has finished (seed
// 001); a task cancelled before its first run never runs its body; a task can catch
// CancelledError, clean up and rethrow (cancelled) or swallow it (not cancelled); one
// request is one delivery; cancelling()/uncancel() count requests and an uncancel() to
// zero withdraws an undelivered one (3.13); this_task::cancel and throw_if_cancelled;
// shield(handle) and shield(Task); SpawnOptions::stop; chains of awaits; cancelling by
// id found through Runtime::tasks() (seed 000); and harmless bad input.
//
// No timing: tasks are held "forever" by yield loops (gate) or by awaiting such a
// task, and the test waits for a task to reach a suspension point by polling
// Runtime::tasks() or an atomic flag (condition waits, not sleeps).
#include <gtest/gtest.h>

#include <atomic>
#include <exception>
#include <latch>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <weft/weft.hpp>

#include "runtime_helpers.hpp"

namespace {

using weft::test::Log;

using weft::test::wait_until_awaiting;

using weft::CancelledError;
using weft::JoinHandle;
using weft::Task;
using weft::TaskCancelled;

static_assert(std::is_base_of_v<CancelledError, TaskCancelled>);

// ---- helpers ------------------------------------------------------------------------

// "TaskCancelled(msg)", "CancelledError(msg)", "nothing", "other(what)".
std::string describe(std::exception_ptr error) {
  if (!error) return "nothing";
  try {
    std::rethrow_exception(error);
  } catch (const TaskCancelled& e) {
    return std::string("TaskCancelled(") + e.what() + ")";
  } catch (const CancelledError& e) {
    return std::string("CancelledError(") + e.what() + ")";
  } catch (const std::exception& e) {
    return std::string("other(") + e.what() + ")";
  } catch (...) {
    return "unknown";
  }
}

template <class F>
std::string describe_call(F&& f) {
  try {
    f();
    return "nothing";
  } catch (...) {
    return describe(std::current_exception());
  }
}

// Counts its destruction (cleanup on the cancelled path).
struct Guard {
  std::atomic<int>* counter;
  ~Guard() { counter->fetch_add(1); }
};

// Cycles on yield until cancelled, or until *open (if given) becomes true; then returns
// `value`. Sets *started (if given) on its first run.
Task<int> gate(std::atomic<bool>* started = nullptr, std::atomic<bool>* open = nullptr, int value = 0) {
  if (started != nullptr) started->store(true);
  for (;;) {
    if (open != nullptr && open->load()) co_return value;
    co_await weft::this_task::yield();
  }
}

Task<int> answer() { co_return 42; }

// Awaits a handle; returns what the await produced, described.
Task<std::string> await_described(JoinHandle<int>* handle) {
  try {
    int value = co_await *handle;
    co_return "value(" + std::to_string(value) + ")";
  } catch (...) {
    co_return describe(std::current_exception());
  }
}

void wait_until(const std::atomic<bool>& flag) {
  while (!flag.load()) std::this_thread::yield();
}

template <class T>
void wait_done(const JoinHandle<T>& handle) {
  while (!handle.done()) std::this_thread::yield();
}


std::string task_word(weft::TaskId id) { return "task " + std::to_string(id); }

// ---- cancel(), done(), cancelled(), result(), exception() -----------------------------

// CPython: test_tasks.py::test_cancel, test_tasks.py::test_cancel_yield
TEST(Cancel, CancelReturnsTrueForALiveTaskAndFalseForAFinishedOne) {
  std::atomic<bool> started{false};
  weft::Runtime rt({.workers = 2});
  auto live = rt.spawn(gate(&started));
  wait_until(started);
  EXPECT_FALSE(live.done());
  EXPECT_FALSE(live.cancelled());
  EXPECT_TRUE(live.cancel());
  wait_done(live);
  EXPECT_TRUE(live.done());
  EXPECT_TRUE(live.cancelled());
  EXPECT_FALSE(live.cancel());  // finished now
  EXPECT_EQ(live.cancelling(), 1);

  auto finished = rt.spawn(answer());
  wait_done(finished);
  EXPECT_FALSE(finished.cancel());
  EXPECT_TRUE(finished.done());
  EXPECT_FALSE(finished.cancelled());
  EXPECT_EQ(finished.cancelling(), 0);
  EXPECT_EQ(finished.result(), 42);
}

// CPython: test_tasks.py::test_cancel_with_message_then_future_result,
//          test_tasks.py::test_cancel_with_message_then_future_exception
TEST(Cancel, ResultAndExceptionOfACancelledTaskThrowTaskCancelledWithTheMessage) {
  std::atomic<bool> started{false};
  weft::Runtime rt({.workers = 2});
  auto handle = rt.spawn(gate(&started));
  wait_until(started);
  EXPECT_TRUE(handle.cancel("my message"));
  wait_done(handle);
  EXPECT_EQ(describe_call([&] { (void)handle.result(); }), "TaskCancelled(my message)");
  EXPECT_EQ(describe_call([&] { (void)handle.exception(); }), "TaskCancelled(my message)");
  // Repeatable, and a generic handler catches it too.
  EXPECT_THROW((void)handle.result(), CancelledError);
  EXPECT_THROW((void)handle.exception(), TaskCancelled);
}

// CPython: test_tasks.py::test_cancel_inner_future (the awaited task is the one cancelled)
TEST(Cancel, AwaitingACancelledTaskThrowsTaskCancelledWithTheMessage) {
  std::atomic<bool> started{false};
  weft::Runtime rt({.workers = 2});
  auto child = rt.spawn(gate(&started));
  auto parent = rt.spawn(await_described(&child));
  wait_until(started);
  wait_until_awaiting(rt, parent.id(), task_word(child.id()));
  EXPECT_TRUE(child.cancel("child message"));
  wait_done(parent);
  EXPECT_EQ(parent.result(), "TaskCancelled(child message)");
  EXPECT_FALSE(parent.cancelled());
  EXPECT_EQ(parent.cancelling(), 0);
  EXPECT_TRUE(child.cancelled());
}

// ---- seed 001: "has the task I await been cancelled, or am I being cancelled?" ------

// The awaited task is cancelled: the awaiter catches TaskCancelled, is not cancelled
// itself, and can go on suspending.
Task<std::string> parent_telling_apart(JoinHandle<int>* child, Log* log) {
  try {
    co_await *child;
    log->add("parent: no exception");
  } catch (const TaskCancelled& e) {
    log->add(std::string("parent: child is cancelled now: ") + e.what());
  } catch (const CancelledError& e) {
    log->add(std::string("parent: I am cancelled: ") + e.what());
    throw;
  }
  co_await weft::this_task::yield();  // not cancelled: does not throw
  co_return weft::this_task::cancel_requested() ? "requested" : "not requested";
}

Task<int> child_logging(std::atomic<bool>* started, Log* log) {
  started->store(true);
  try {
    for (;;) co_await weft::this_task::yield();
  } catch (const CancelledError& e) {
    log->add(std::string("child: cancelled: ") + e.what());
    throw;
  }
}

// CPython: test_tasks.py::test_cancel_inner_future
TEST(Cancel, ChildCancelledParentCatchesTaskCancelled) {
  Log log;
  std::atomic<bool> started{false};
  weft::Runtime rt({.workers = 2});
  auto child = rt.spawn(child_logging(&started, &log));
  auto parent = rt.spawn(parent_telling_apart(&child, &log));
  wait_until(started);
  wait_until_awaiting(rt, parent.id(), task_word(child.id()));
  EXPECT_TRUE(child.cancel("by the test"));
  wait_done(parent);
  EXPECT_EQ(parent.result(), "not requested");
  EXPECT_FALSE(parent.cancelled());
  EXPECT_TRUE(child.cancelled());
  EXPECT_EQ(log.lines(), (std::vector<std::string>{"child: cancelled: by the test",
                                                   "parent: child is cancelled now: by the test"}));
}

// The awaiter is cancelled: asyncio forwards the request to the awaited task, waits for
// it to finish, then throws the awaiter's own plain CancelledError.
// CPython: test_tasks.py::test_task_cancel_waiter_future
TEST(Cancel, ParentCancelledSeesPlainCancelledErrorAfterTheChildWasCancelledAndFinished) {
  Log log;
  std::atomic<bool> started{false};
  weft::Runtime rt({.workers = 2});
  auto child = rt.spawn(child_logging(&started, &log));
  auto parent = rt.spawn(parent_telling_apart(&child, &log));
  wait_until(started);
  wait_until_awaiting(rt, parent.id(), task_word(child.id()));
  EXPECT_TRUE(parent.cancel("parent message"));
  wait_done(parent);
  EXPECT_TRUE(parent.cancelled());
  EXPECT_EQ(describe_call([&] { (void)parent.result(); }), "TaskCancelled(parent message)");
  EXPECT_TRUE(child.done());
  EXPECT_TRUE(child.cancelled());
  EXPECT_EQ(child.cancelling(), 1);
  EXPECT_EQ(describe_call([&] { (void)child.result(); }), "TaskCancelled(parent message)");
  // The child ended before the parent resumed.
  EXPECT_EQ(log.lines(), (std::vector<std::string>{"child: cancelled: parent message",
                                                   "parent: I am cancelled: parent message"}));
}

// ---- cancelled before the first run -----------------------------------------------------

Task<int> records_run(std::atomic<bool>* ran) {
  ran->store(true);
  co_return 1;
}

// CPython: test_tasks.py::test_cancel_with_message_before_starting_task
TEST(Cancel, AlreadyStoppedTokenAtSpawnMeansTheBodyNeverRuns) {
  std::atomic<bool> ran{false};
  std::stop_source source;
  source.request_stop();
  weft::Runtime rt({.workers = 2});
  auto handle = rt.spawn(records_run(&ran), {.stop = source.get_token()});
  auto awaiter = rt.spawn(await_described(&handle));
  wait_done(awaiter);
  EXPECT_EQ(awaiter.result(), "TaskCancelled(stop requested)");
  EXPECT_FALSE(ran.load());
  EXPECT_TRUE(handle.cancelled());
  EXPECT_EQ(handle.cancelling(), 1);
  EXPECT_FALSE(handle.cancel());
  EXPECT_EQ(describe_call([&] { (void)handle.result(); }), "TaskCancelled(stop requested)");
}

Task<void> hold_worker(std::latch* holding, std::latch* release) {
  holding->count_down();
  release->wait();  // blocks its worker thread on purpose
  co_return;
}

// CPython: test_tasks.py::test_cancel_with_message_before_starting_task
TEST(Cancel, CancelledWhileItsOnlyWorkerIsBusyTheBodyNeverRuns) {
  std::atomic<bool> ran{false};
  std::latch holding(1);
  std::latch release(1);
  weft::Runtime rt({.workers = 1});
  auto blocker = rt.spawn(hold_worker(&holding, &release));
  holding.wait();  // the only worker is taken: the next task cannot start
  auto victim = rt.spawn(records_run(&ran));
  EXPECT_TRUE(victim.cancel("too early"));
  EXPECT_FALSE(victim.done());
  release.count_down();
  auto awaiter = rt.spawn(await_described(&victim));
  wait_done(awaiter);
  EXPECT_EQ(awaiter.result(), "TaskCancelled(too early)");
  EXPECT_FALSE(ran.load());
  EXPECT_TRUE(victim.cancelled());
  EXPECT_EQ(describe_call([&] { (void)victim.exception(); }), "TaskCancelled(too early)");
  wait_done(blocker);
}

// ---- cleanup, rethrow, swallow ----------------------------------------------------------

struct Cleanup {
  std::atomic<int> destructors{0};
  std::atomic<int> catches{0};
};

Task<int> inner_cleaning(std::atomic<bool>* started, Cleanup* cleanup) {
  Guard guard{&cleanup->destructors};
  try {
    started->store(true);
    for (;;) co_await weft::this_task::yield();
  } catch (const CancelledError&) {
    cleanup->catches.fetch_add(1);
    throw;
  }
}

Task<int> outer_cleaning(std::atomic<bool>* started, Cleanup* cleanup) {
  Guard guard{&cleanup->destructors};
  try {
    co_return co_await inner_cleaning(started, cleanup);  // inline, shares the cancellation
  } catch (const CancelledError&) {
    cleanup->catches.fetch_add(1);
    throw;
  }
}

// Seed 000 (catch, print, re-raise); CPython: test_tasks.py::test_cancel_yield
TEST(Cancel, CatchCleanUpAndRethrowEndsCancelledAfterEveryCleanupRan) {
  Cleanup cleanup;
  std::atomic<bool> started{false};
  weft::Runtime rt({.workers = 2});
  auto handle = rt.spawn(outer_cleaning(&started, &cleanup));
  wait_until(started);
  EXPECT_TRUE(handle.cancel("clean up"));
  wait_done(handle);
  EXPECT_TRUE(handle.cancelled());
  EXPECT_EQ(cleanup.destructors.load(), 2);  // both frames' guards
  EXPECT_EQ(cleanup.catches.load(), 2);      // both catch blocks
  EXPECT_EQ(describe_call([&] { (void)handle.result(); }), "TaskCancelled(clean up)");
}

Task<int> swallowing(std::atomic<bool>* started) {
  try {
    started->store(true);
    for (;;) co_await weft::this_task::yield();
  } catch (const CancelledError&) {
    // Deliberately swallowed.
  }
  co_await weft::this_task::yield();  // delivered once: no second throw
  co_return 42;
}

// CPython: test_tasks.py::test_cancel_task_catching
TEST(Cancel, SwallowingCancelledErrorAndReturningAValueEndsNormally) {
  std::atomic<bool> started{false};
  weft::Runtime rt({.workers = 2});
  auto handle = rt.spawn(swallowing(&started));
  wait_until(started);
  EXPECT_TRUE(handle.cancel());
  wait_done(handle);
  EXPECT_FALSE(handle.cancelled());
  EXPECT_EQ(handle.result(), 42);
  EXPECT_EQ(handle.exception(), nullptr);
  EXPECT_EQ(handle.cancelling(), 1);  // only uncancel() takes a request away
}

// ---- one request, one delivery -----------------------------------------------------------

Task<int> counts_deliveries(std::atomic<int>* phase) {
  int delivered = 0;
  phase->store(1);
  try {
    for (;;) co_await weft::this_task::yield();
  } catch (const CancelledError&) {
    ++delivered;
  }
  // No new request: none of these suspension points throws.
  for (int i = 0; i < 3; ++i) co_await weft::this_task::yield();
  weft::this_task::throw_if_cancelled();
  auto child = weft::spawn(answer());
  int value = co_await child;
  co_await answer();
  phase->store(2);  // ready for a second request
  try {
    for (;;) co_await weft::this_task::yield();
  } catch (const CancelledError&) {
    ++delivered;
  }
  co_return delivered * 100 + value;
}

// CPython: test_tasks.py::test_cancel_task_ignoring
TEST(Cancel, OneRequestDeliversOneCancelledError) {
  std::atomic<int> phase{0};
  weft::Runtime rt({.workers = 2});
  auto handle = rt.spawn(counts_deliveries(&phase));
  while (phase.load() != 1) std::this_thread::yield();
  EXPECT_TRUE(handle.cancel());
  while (phase.load() != 2) std::this_thread::yield();
  EXPECT_TRUE(handle.cancel());  // a new request: delivered again
  wait_done(handle);
  EXPECT_FALSE(handle.cancelled());
  EXPECT_EQ(handle.result(), 242);
  EXPECT_EQ(handle.cancelling(), 2);
}

// ---- counting (asyncio 3.11) and withdrawal (3.13) ---------------------------------------

struct UncancelSteps {
  std::atomic<int> phase{0};
  int cancelling_at_catch = -1;
  bool requested_at_catch = false;
  int after_uncancel = -1;
  bool requested_after_uncancel = true;
  std::string second_message;
};

Task<void> uncancels_once(UncancelSteps* steps) {
  steps->phase.store(1);
  try {
    for (;;) co_await weft::this_task::yield();
  } catch (const CancelledError&) {
    steps->cancelling_at_catch = weft::this_task::cancelling();
    steps->requested_at_catch = weft::this_task::cancel_requested();
    steps->after_uncancel = weft::this_task::uncancel();
    steps->requested_after_uncancel = weft::this_task::cancel_requested();
  }
  steps->phase.store(2);
  try {
    for (;;) co_await weft::this_task::yield();
  } catch (const CancelledError& e) {
    steps->second_message = e.what();
    throw;
  }
}

// CPython: test_tasks.py::test_uncancel_basic, test_tasks.py::test_cancelling
TEST(Cancel, EachCancelCountsAndUncancelTakesOneAway) {
  UncancelSteps steps;
  weft::Runtime rt({.workers = 2});
  auto handle = rt.spawn(uncancels_once(&steps));
  while (steps.phase.load() != 1) std::this_thread::yield();
  EXPECT_EQ(handle.cancelling(), 0);
  EXPECT_TRUE(handle.cancel("first"));
  while (steps.phase.load() != 2) std::this_thread::yield();
  EXPECT_EQ(handle.cancelling(), 0);
  EXPECT_FALSE(handle.cancelled());  // still running
  EXPECT_TRUE(handle.cancel("second"));
  wait_done(handle);
  EXPECT_TRUE(handle.cancelled());
  EXPECT_EQ(handle.cancelling(), 1);
  EXPECT_EQ(steps.cancelling_at_catch, 1);
  EXPECT_TRUE(steps.requested_at_catch);  // cancel_requested() is cancelling() > 0
  EXPECT_EQ(steps.after_uncancel, 0);
  EXPECT_FALSE(steps.requested_after_uncancel);
  EXPECT_EQ(steps.second_message, "second");
}

Task<int> stubborn(std::atomic<bool>* started, std::atomic<bool>* finish, std::atomic<int>* delivered) {
  started->store(true);
  for (;;) {
    try {
      while (!finish->load()) co_await weft::this_task::yield();
      co_return delivered->load();
    } catch (const CancelledError&) {
      delivered->fetch_add(1);
    }
  }
}

// CPython: test_tasks.py::test_cancelling
TEST(Cancel, CancellingCountsEveryRequestUntilUncancel) {
  std::atomic<bool> started{false};
  std::atomic<bool> finish{false};
  std::atomic<int> delivered{0};
  weft::Runtime rt({.workers = 2});
  auto handle = rt.spawn(stubborn(&started, &finish, &delivered));
  wait_until(started);
  EXPECT_TRUE(handle.cancel());
  EXPECT_TRUE(handle.cancel());
  EXPECT_TRUE(handle.cancel());
  EXPECT_EQ(handle.cancelling(), 3);
  EXPECT_EQ(handle.uncancel(), 2);
  EXPECT_EQ(handle.cancelling(), 2);
  finish.store(true);
  wait_done(handle);
  EXPECT_FALSE(handle.cancelled());
  EXPECT_EQ(handle.cancelling(), 2);
  const int seen = handle.result();
  // Requests that arrive before delivery only count: at most one delivery per request.
  EXPECT_GE(seen, 0);
  EXPECT_LE(seen, 3);
}

struct Observed {
  std::atomic<bool> started{false};
  std::atomic<bool> finish{false};
  std::string message = "<none>";
  int cancelling = -1;
};

// Yields until `finish`; if cancelled, records the message and this_task::cancelling().
Task<int> observes_cancel(Observed* observed) {
  observed->started.store(true);
  try {
    while (!observed->finish.load()) co_await weft::this_task::yield();
    co_await weft::this_task::yield();
    weft::this_task::throw_if_cancelled();
    co_return 7;
  } catch (const CancelledError& e) {
    observed->message = e.what();
    observed->cancelling = weft::this_task::cancelling();
    throw;
  }
}

// Starts `observed`'s task, then occupies the runtime's only worker so the task sits in
// the queue, not running, until `release` is counted down.
JoinHandle<int> start_then_park(weft::Runtime& rt, Observed& observed, std::latch& holding,
                                std::latch& release, JoinHandle<void>& blocker) {
  JoinHandle<int> handle = rt.spawn(observes_cancel(&observed));
  wait_until(observed.started);
  blocker = rt.spawn(hold_worker(&holding, &release));
  holding.wait();
  return handle;
}

// CPython: test_tasks.py::test_cancelling (several cancel() before delivery), and
//          test_futures.py::test_future_cancel_message_getter
TEST(Cancel, TheFirstRequestsMessageIsDeliveredWhenMoreArriveBeforeDelivery) {
  Observed observed;
  std::latch holding(1);
  std::latch release(1);
  weft::Runtime rt({.workers = 1});
  JoinHandle<void> blocker;
  auto handle = start_then_park(rt, observed, holding, release, blocker);
  EXPECT_TRUE(handle.cancel("first"));
  EXPECT_TRUE(handle.cancel("second"));
  EXPECT_TRUE(handle.cancel("third"));
  EXPECT_EQ(handle.cancelling(), 3);
  release.count_down();
  wait_done(handle);
  EXPECT_TRUE(handle.cancelled());
  EXPECT_EQ(observed.message, "first");
  EXPECT_EQ(observed.cancelling, 3);
  EXPECT_EQ(describe_call([&] { (void)handle.result(); }), "TaskCancelled(first)");
}

// CPython: test_tasks.py::test_uncancel_resets_must_cancel (asyncio 3.13)
TEST(Cancel, UncancelToZeroWithdrawsAnUndeliveredRequest) {
  Observed observed;
  std::latch holding(1);
  std::latch release(1);
  weft::Runtime rt({.workers = 1});
  JoinHandle<void> blocker;
  auto handle = start_then_park(rt, observed, holding, release, blocker);
  EXPECT_TRUE(handle.cancel("withdrawn"));
  EXPECT_EQ(handle.cancelling(), 1);
  EXPECT_EQ(handle.uncancel(), 0);
  observed.finish.store(true);
  release.count_down();
  wait_done(handle);
  EXPECT_FALSE(handle.cancelled());
  EXPECT_EQ(handle.result(), 7);
  EXPECT_EQ(observed.message, "<none>");
  EXPECT_EQ(handle.cancelling(), 0);
}

TEST(Cancel, UncancelAboveZeroKeepsTheUndeliveredRequest) {
  Observed observed;
  std::latch holding(1);
  std::latch release(1);
  weft::Runtime rt({.workers = 1});
  JoinHandle<void> blocker;
  auto handle = start_then_park(rt, observed, holding, release, blocker);
  EXPECT_TRUE(handle.cancel("kept"));
  EXPECT_TRUE(handle.cancel("extra"));
  EXPECT_EQ(handle.uncancel(), 1);
  observed.finish.store(true);
  release.count_down();
  wait_done(handle);
  EXPECT_TRUE(handle.cancelled());
  EXPECT_EQ(observed.message, "kept");
  EXPECT_EQ(observed.cancelling, 1);
}

// ---- this_task -----------------------------------------------------------------------------

struct SelfCancel {
  bool requested_after_cancel = false;
  int cancelling_after_cancel = -1;
  bool code_after_cancel_ran = false;
  bool resumed_after_yield = false;
  std::string caught;
};

Task<int> cancels_itself(SelfCancel* record) {
  weft::this_task::cancel("self");
  record->requested_after_cancel = weft::this_task::cancel_requested();
  record->cancelling_after_cancel = weft::this_task::cancelling();
  record->code_after_cancel_ran = true;  // not a suspension point: nothing thrown yet
  try {
    co_await weft::this_task::yield();
    record->resumed_after_yield = true;
  } catch (const CancelledError& e) {
    record->caught = describe(std::current_exception());
    throw;
  }
  co_return 1;
}

// CPython: test_tasks.py::test_cancel_current_task
TEST(Cancel, SelfCancelIsDeliveredAtTheNextSuspensionPoint) {
  SelfCancel record;
  weft::Runtime rt({.workers = 2});
  auto handle = rt.spawn(cancels_itself(&record));
  wait_done(handle);
  EXPECT_TRUE(handle.cancelled());
  EXPECT_TRUE(record.requested_after_cancel);
  EXPECT_EQ(record.cancelling_after_cancel, 1);
  EXPECT_TRUE(record.code_after_cancel_ran);
  EXPECT_FALSE(record.resumed_after_yield);
  EXPECT_EQ(record.caught, "CancelledError(self)");
  EXPECT_EQ(describe_call([&] { (void)handle.result(); }), "TaskCancelled(self)");
}

Task<std::vector<std::string>> throw_if_cancelled_steps() {
  std::vector<std::string> steps;
  auto check = [&](const char* label) {
    steps.push_back(std::string(label) + ": " + describe_call([] { weft::this_task::throw_if_cancelled(); }));
  };
  check("no request");
  weft::this_task::cancel("m");
  check("undelivered");
  check("delivered");
  co_await weft::this_task::yield();  // delivered already: does not throw
  steps.push_back("cancelling " + std::to_string(weft::this_task::cancelling()));
  steps.push_back(std::string("requested ") + (weft::this_task::cancel_requested() ? "yes" : "no"));
  weft::this_task::uncancel();
  steps.push_back(std::string("requested ") + (weft::this_task::cancel_requested() ? "yes" : "no"));
  // A self-cancel withdrawn before delivery (asyncio 3.13) is never thrown.
  weft::this_task::cancel("withdrawn");
  weft::this_task::uncancel();
  check("withdrawn");
  co_await weft::this_task::yield();
  steps.push_back("yield ok");
  co_return steps;
}

TEST(Cancel, ThrowIfCancelledThrowsOnlyWhileARequestIsUndelivered) {
  weft::Runtime rt({.workers = 2});
  EXPECT_EQ(rt.block_on(throw_if_cancelled_steps()),
            (std::vector<std::string>{"no request: nothing", "undelivered: CancelledError(m)",
                                      "delivered: nothing", "cancelling 1", "requested yes",
                                      "requested no", "withdrawn: nothing", "yield ok"}));
}

TEST(Cancel, ThisTaskOutsideATaskIsNotInRuntime) {
  EXPECT_THROW(weft::this_task::cancel(), weft::NotInRuntime);
  EXPECT_THROW(weft::this_task::throw_if_cancelled(), weft::NotInRuntime);
  EXPECT_THROW((void)weft::this_task::cancelling(), weft::NotInRuntime);
  EXPECT_THROW((void)weft::this_task::uncancel(), weft::NotInRuntime);
  EXPECT_THROW((void)weft::this_task::cancel_requested(), weft::NotInRuntime);
}

// ---- shield ----------------------------------------------------------------------------------

Task<int> shielded_awaiter(JoinHandle<int>* inner, Log* log) {
  try {
    co_return co_await weft::shield(*inner);
  } catch (const TaskCancelled& e) {
    log->add(std::string("outer: TaskCancelled: ") + e.what());
    throw;
  } catch (const CancelledError& e) {
    log->add(std::string("outer: CancelledError: ") + e.what() + (inner->done() ? " (inner done)" : " (inner running)"));
    throw;
  }
}

// CPython: test_tasks.py::test_shield_effect, test_tasks.py::test_shield_cancel_outer
TEST(Cancel, ShieldedHandleTheAwaitersCancelThrowsAtOnceAndTheInnerKeepsRunning) {
  Log log;
  std::atomic<bool> started{false};
  std::atomic<bool> open{false};
  weft::Runtime rt({.workers = 2});
  auto inner = rt.spawn(gate(&started, &open, 5));
  auto outer = rt.spawn(shielded_awaiter(&inner, &log));
  wait_until(started);
  wait_until_awaiting(rt, outer.id(), "shielded task " + std::to_string(inner.id()));
  EXPECT_TRUE(outer.cancel("outer message"));
  wait_done(outer);
  EXPECT_TRUE(outer.cancelled());
  EXPECT_EQ(describe_call([&] { (void)outer.result(); }), "TaskCancelled(outer message)");
  EXPECT_EQ(log.lines(), (std::vector<std::string>{"outer: CancelledError: outer message (inner running)"}));
  EXPECT_FALSE(inner.done());
  EXPECT_EQ(inner.cancelling(), 0);
  // The inner task is untouched and can be awaited later, with its value.
  open.store(true);
  auto later = rt.spawn(await_described(&inner));
  wait_done(later);
  EXPECT_EQ(later.result(), "value(5)");
  EXPECT_FALSE(inner.cancelled());
  EXPECT_EQ(inner.result(), 5);
}


// CPython: test_tasks.py::test_shield_result
TEST(Cancel, ShieldedLazyTaskReturnsItsValue) {
  weft::Runtime rt({.workers = 2});
  auto body = []() -> Task<int> {
    auto shielded = weft::shield(answer());
    co_return co_await shielded;
  };
  EXPECT_EQ(rt.block_on(body()), 42);
}

// The same, written the way a user writes it: one expression (g++ 12 mis-compiled this
// while shield() and spawn() took a defaulted SpawnOptions; see docs/COMPILERS.md).
TEST(Cancel, ShieldedLazyTaskAndSpawnInOneCoAwaitExpression) {
  weft::Runtime rt({.workers = 2});
  auto body = []() -> Task<int> {
    int shielded = co_await weft::shield(answer());
    int spawned = co_await weft::spawn(answer());
    co_return shielded + spawned;
  };
  EXPECT_EQ(rt.block_on(body()), 84);
}

struct LazyInner {
  std::atomic<bool> started{false};
  std::atomic<bool> open{false};
  std::atomic<bool> was_cancelled{false};
  std::atomic<int> finished_with{0};
};

Task<int> lazy_inner(LazyInner* state) {
  state->started.store(true);
  try {
    while (!state->open.load()) co_await weft::this_task::yield();
  } catch (const CancelledError&) {
    state->was_cancelled.store(true);
    throw;
  }
  state->finished_with.store(9);
  co_return 9;
}

Task<int> shields_lazy(LazyInner* state, Log* log) {
  try {
    auto shielded = weft::shield(lazy_inner(state), {.name = "shielded-inner"});
    co_return co_await shielded;
  } catch (const TaskCancelled&) {
    log->add("outer: TaskCancelled");
    throw;
  } catch (const CancelledError& e) {
    log->add(std::string("outer: CancelledError: ") + e.what());
    throw;
  }
}

// CPython: test_tasks.py::test_shield_effect
TEST(Cancel, ShieldedLazyTaskGoesOnAfterTheAwaiterIsCancelled) {
  Log log;
  LazyInner state;
  weft::Runtime rt({.workers = 2});
  auto outer = rt.spawn(shields_lazy(&state, &log));
  wait_until(state.started);
  wait_until_awaiting(rt, outer.id(), [&] {
    for (;;) {
      for (const weft::TaskInfo& info : rt.tasks())
        if (info.name == "shielded-inner") return "shielded task " + std::to_string(info.id);
      std::this_thread::yield();
    }
  }());
  EXPECT_TRUE(outer.cancel("go away"));
  wait_done(outer);
  EXPECT_TRUE(outer.cancelled());
  EXPECT_EQ(log.lines(), (std::vector<std::string>{"outer: CancelledError: go away"}));
  bool inner_alive = false;
  for (const weft::TaskInfo& info : rt.tasks()) inner_alive = inner_alive || info.name == "shielded-inner";
  EXPECT_TRUE(inner_alive);
  state.open.store(true);
  while (state.finished_with.load() != 9) std::this_thread::yield();
  EXPECT_FALSE(state.was_cancelled.load());
}

// ---- SpawnOptions::stop ------------------------------------------------------------------------

Task<int> awaits_and_records(JoinHandle<int>* target, std::string* caught) {
  try {
    co_return co_await *target;
  } catch (...) {
    *caught = describe(std::current_exception());
    throw;
  }
}

TEST(Cancel, StopRequestCancelsASuspendedTaskWithMessageStopRequested) {
  std::string caught;
  std::atomic<bool> started{false};
  std::stop_source source;
  weft::Runtime rt({.workers = 2});
  auto target = rt.spawn(gate(&started));
  auto task = rt.spawn(awaits_and_records(&target, &caught), {.stop = source.get_token()});
  wait_until(started);
  wait_until_awaiting(rt, task.id(), task_word(target.id()));
  EXPECT_FALSE(task.done());
  EXPECT_TRUE(source.request_stop());
  wait_done(task);
  EXPECT_TRUE(task.cancelled());
  EXPECT_EQ(caught, "CancelledError(stop requested)");
  EXPECT_EQ(task.cancelling(), 1);
  EXPECT_EQ(describe_call([&] { (void)task.result(); }), "TaskCancelled(stop requested)");
  // Forwarded to the awaited task, as any cancellation of an awaiter.
  EXPECT_TRUE(target.cancelled());
  EXPECT_EQ(describe_call([&] { (void)target.result(); }), "TaskCancelled(stop requested)");
  EXPECT_FALSE(source.request_stop());  // a stop source stops once
  EXPECT_EQ(task.cancelling(), 1);
}

// ---- chains -------------------------------------------------------------------------------------

Task<int> chain_link(JoinHandle<int>* next, const char* name, Log* log) {
  try {
    co_return co_await *next;
  } catch (...) {
    log->add(std::string(name) + ": " + describe(std::current_exception()));
    throw;
  }
}

Task<int> chain_end(std::atomic<bool>* started, Log* log) {
  started->store(true);
  try {
    for (;;) co_await weft::this_task::yield();
  } catch (...) {
    log->add("C: " + describe(std::current_exception()));
    throw;
  }
}

TEST(Cancel, CancellationReachesThroughAChainOfAwaits) {
  Log log;
  std::atomic<bool> started{false};
  weft::Runtime rt({.workers = 2});
  auto c = rt.spawn(chain_end(&started, &log));
  auto b = rt.spawn(chain_link(&c, "B", &log));
  auto a = rt.spawn(chain_link(&b, "A", &log));
  wait_until(started);
  wait_until_awaiting(rt, b.id(), task_word(c.id()));
  wait_until_awaiting(rt, a.id(), task_word(b.id()));
  EXPECT_TRUE(a.cancel("chain"));
  wait_done(a);
  EXPECT_TRUE(a.cancelled());
  EXPECT_TRUE(b.done());
  EXPECT_TRUE(b.cancelled());
  EXPECT_TRUE(c.done());
  EXPECT_TRUE(c.cancelled());
  EXPECT_EQ(a.cancelling(), 1);
  EXPECT_EQ(b.cancelling(), 1);
  EXPECT_EQ(c.cancelling(), 1);
  // Innermost first; every link sees its own (forwarded) request, never TaskCancelled.
  EXPECT_EQ(log.lines(), (std::vector<std::string>{"C: CancelledError(chain)", "B: CancelledError(chain)",
                                                   "A: CancelledError(chain)"}));
}

// ---- Runtime::cancel by id (seed 000: the canceller finds the sleeper by name) -------------------

Task<void> sleeper(std::atomic<bool>* started, Log* log) {
  try {
    log->add("Going to sleep");
    auto forever = weft::spawn(gate());
    started->store(true);
    co_await forever;
    log->add("Woke up");
  } catch (const CancelledError&) {
    log->add("Interrupted");
    throw;
  }
}

Task<bool> canceller(weft::Runtime* rt) {
  for (const weft::TaskInfo& info : rt->tasks())
    if (info.name == "sleeper") co_return rt->cancel(info.id, "found you");
  co_return false;
}

TEST(Cancel, RuntimeCancelFindsATaskByNameThroughTasks) {
  Log log;
  std::atomic<bool> started{false};
  weft::Runtime rt({.workers = 2});
  auto sleeping = rt.spawn(sleeper(&started, &log), {.name = "sleeper"});
  wait_until(started);
  auto cancelling = rt.spawn(canceller(&rt), {.name = "canceller"});
  wait_done(cancelling);
  EXPECT_TRUE(cancelling.result());
  wait_done(sleeping);
  EXPECT_TRUE(sleeping.cancelled());
  EXPECT_EQ(describe_call([&] { sleeping.result(); }), "TaskCancelled(found you)");
  EXPECT_EQ(log.lines(), (std::vector<std::string>{"Going to sleep", "Interrupted"}));
  EXPECT_FALSE(rt.cancel(sleeping.id()));  // finished: gone from the registry
}

TEST(Cancel, RuntimeCancelOfAnUnknownIdIsFalse) {
  weft::Runtime rt({.workers = 1});
  EXPECT_FALSE(rt.cancel(0));
  EXPECT_FALSE(rt.cancel(0xFFFF'FFFF'FFFFull, "nobody"));
}

// ---- bad input ------------------------------------------------------------------------------------

TEST(Cancel, CancelOfADoneTaskIsFalseAndChangesNothing) {
  weft::Runtime rt({.workers = 2});
  auto handle = rt.spawn(answer());
  wait_done(handle);
  EXPECT_FALSE(handle.cancel("late"));
  EXPECT_FALSE(handle.cancel());
  EXPECT_FALSE(handle.cancelled());
  EXPECT_EQ(handle.cancelling(), 0);
  EXPECT_EQ(handle.result(), 42);
}

TEST(Cancel, DoubleCancelCountsTwiceFromAnyThread) {
  std::atomic<bool> started{false};
  std::atomic<bool> finish{false};
  std::atomic<int> delivered{0};
  weft::Runtime rt({.workers = 2});
  auto handle = rt.spawn(stubborn(&started, &finish, &delivered));
  wait_until(started);
  EXPECT_TRUE(handle.cancel());  // from the test's main thread (not a worker)
  bool from_thread = false;
  std::thread other([&] { from_thread = handle.cancel("from another thread"); });
  other.join();
  EXPECT_TRUE(from_thread);
  EXPECT_EQ(handle.cancelling(), 2);
  finish.store(true);
  wait_done(handle);
  EXPECT_FALSE(handle.cancelled());  // the stubborn task swallows every delivery
  EXPECT_EQ(handle.cancelling(), 2);
  // Both requests came before `finish`; they were delivered at most once (a request
  // that arrives after the last suspension point is not delivered at all).
  const int seen = handle.result();
  EXPECT_GE(seen, 0);
  EXPECT_LE(seen, 2);
}

TEST(Cancel, CancelOfAnEmptyHandleIsInvalidState) {
  JoinHandle<int> empty;
  EXPECT_THROW(empty.cancel(), weft::InvalidStateError);
  EXPECT_THROW((void)empty.cancelling(), weft::InvalidStateError);
}

}  // namespace
