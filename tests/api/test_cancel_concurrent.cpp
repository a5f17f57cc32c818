// Checks cancellation races (API.md, "Cancellation": "Cancel races"), with many tasks
// and several threads, run under ThreadSanitizer in CI:
//   * complete vs cancel: tasks that finish at once while another thread cancels them
//     end in exactly one state; cancel() == false implies a normal completion; a task
//     with no suspension point after it started is never cancelled; the cleanup of
//     every started task runs exactly once, and a task that never started was cancelled;
//   * cancel vs cancel: four threads cancel the same suspended tasks (shielded waits,
//     and forwarding waits): one CancelledError per task, cancelling() equals the
//     number of cancel() calls that returned true; a forwarding wait's target was
//     cancelled at least once and at most once per such call;
//   * cancel vs wake: an awaiter is cancelled while the task it awaits completes: it
//     gets the value or a CancelledError at the await, never TaskCancelled, never both,
//     never hangs; a request that lost the race is delivered at the next suspension
//     point; every frame is freed (a shared_ptr token's use_count).
// The randomised orders print their seed; WEFT_TEST_SEED=<n> replays one.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <latch>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <weft/weft.hpp>

#include "test_seed.hpp"

namespace {

using weft::CancelledError;
using weft::JoinHandle;
using weft::Task;
using weft::TaskCancelled;

#ifdef WEFT_TSAN
constexpr int kTasks = 500;
#else
constexpr int kTasks = 2000;
#endif
constexpr unsigned kWorkers = 4;

using weft::test::test_seed;

std::vector<int> shuffled(int n, std::mt19937_64& rng) {
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  return order;
}

template <class T>
void wait_done(const JoinHandle<T>& handle) {
  while (!handle.done()) std::this_thread::yield();
}

// Polls Runtime::tasks() until every task in `expected` is suspended on its `awaiting`.
void wait_all_awaiting(const weft::Runtime& rt, const std::unordered_map<weft::TaskId, std::string>& expected) {
  for (;;) {
    std::size_t ready = 0;
    for (const weft::TaskInfo& info : rt.tasks()) {
      auto it = expected.find(info.id);
      if (it != expected.end() && info.state == weft::TaskState::Suspended && info.awaiting == it->second)
        ++ready;
    }
    if (ready == expected.size()) return;
    std::this_thread::yield();
  }
}

struct Guard {
  std::atomic<int>* counter;
  ~Guard() { counter->fetch_add(1); }
};

// Cycles on yield until cancelled.
Task<int> gate() {
  for (;;) co_await weft::this_task::yield();
}

// ---- complete vs cancel ------------------------------------------------------------------

struct QuickSlot {
  bool plan_cancel = false;     // [main, before the canceller starts]
  bool suspends = false;        // [main, before the spawn]
  int lead = 0;                 // [main, before the spawn] see quick()
  int gap = 0;                  // [main] the canceller waits for task (index - gap) to start
  std::atomic<bool> started{false};
  std::atomic<int> cleanups{0};
  std::atomic<int> cancel_result{-1};  // -1 not called, 0 false, 1 true
};

// Finishes at once, after at most one yield. So that the race happens on any number of
// cores, its body keeps pace with the cancelling thread without suspending: it goes on
// once the canceller has decided about task `index + lead` (lead > 0: its own cancel()
// certainly came while the body ran; lead <= 0: the two race).
Task<int> quick(int index, QuickSlot* slot, const std::atomic<int>* decided) {
  slot->started.store(true);
  Guard guard{&slot->cleanups};
  const int wanted = std::clamp(index + slot->lead + 1, 0, kTasks);
  while (decided->load() < wanted) std::this_thread::yield();  // not a suspension point
  if (slot->suspends) co_await weft::this_task::yield();
  co_return index;
}

Task<void> hold_worker(std::latch* holding, std::latch* release) {
  holding->count_down();
  release->wait();  // blocks its worker thread on purpose
  co_return;
}

TEST(CancelConcurrent, CompleteVsCancelEachTaskEndsInExactlyOneState) {
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE("WEFT_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  std::vector<QuickSlot> slots(kTasks);
  for (QuickSlot& slot : slots) {
    slot.plan_cancel = rng() % 4 != 0;
    slot.suspends = rng() % 2 == 0;
    slot.lead = static_cast<int>(rng() % 5) - 3;  // -3 .. 1
    slot.gap = static_cast<int>(rng() % 4);       // 0 .. 3
  }
  std::vector<JoinHandle<int>> handles(kTasks);
  std::atomic<int> decided{0};  // tasks the canceller has cancelled or skipped
  std::latch holding(kWorkers);
  std::latch release(1);
  weft::Runtime rt({.workers = kWorkers});
  // Every worker is held while the tasks are queued; then the workers run them in queue
  // order while a thread cancels them in the same order.
  std::vector<JoinHandle<void>> blockers;
  for (unsigned w = 0; w < kWorkers; ++w) blockers.push_back(rt.spawn(hold_worker(&holding, &release)));
  holding.wait();
  for (int i = 0; i < kTasks; ++i) handles[i] = rt.spawn(quick(i, &slots[i], &decided));
  std::latch start(2);
  std::thread canceller([&] {
    start.arrive_and_wait();
    for (int i = 0; i < kTasks; ++i) {
      // Keep pace with the workers too (they might run far ahead while this thread is
      // off its core): wait until task (i - gap) has started, or ended before its start.
      // No deadlock: the queue hands the tasks out in index order, and a task waits for
      // this thread only after it has started.
      if (const int j = i - slots[i].gap; j >= 0)
        while (!slots[j].started.load() && !handles[j].done()) std::this_thread::yield();
      if (slots[i].plan_cancel) slots[i].cancel_result.store(handles[i].cancel("race") ? 1 : 0);
      decided.store(i + 1);
    }
  });
  start.arrive_and_wait();
  release.count_down();
  canceller.join();

  int cancelled_unstarted = 0, cancelled_started = 0, completed = 0, true_but_completed = 0;
  for (int i = 0; i < kTasks; ++i) {
    SCOPED_TRACE("task " + std::to_string(i));
    JoinHandle<int>& handle = handles[i];
    QuickSlot& slot = slots[i];
    wait_done(handle);
    const bool started = slot.started.load();
    const int cancel_result = slot.cancel_result.load();
    // Exactly one state: cancelled (TaskCancelled) or its value.
    if (handle.cancelled()) {
      EXPECT_THROW((void)handle.result(), TaskCancelled);
      EXPECT_EQ(cancel_result, 1);
      // Without a suspension point after the start, a started task always finishes.
      EXPECT_TRUE(!started || slot.suspends);
      (started ? cancelled_started : cancelled_unstarted)++;
    } else {
      EXPECT_EQ(handle.result(), i);
      EXPECT_EQ(handle.exception(), nullptr);
      EXPECT_TRUE(started);
      ++completed;
      if (cancel_result == 1) ++true_but_completed;
    }
    if (cancel_result == 0) {
      EXPECT_FALSE(handle.cancelled());  // false: it had completed
    }
    if (!slot.plan_cancel) {
      EXPECT_FALSE(handle.cancelled());
    }
    if (slot.gap == 0 && slot.plan_cancel) {
      EXPECT_TRUE(started);  // the canceller waited for its start
    }
    if (slot.lead > 0 && started && slot.plan_cancel) {
      // Its cancel() came while the body ran: delivered at the yield, or (no suspension
      // point left) not delivered, the value kept and cancel() still true.
      EXPECT_EQ(cancel_result, 1);
      EXPECT_EQ(handle.cancelled(), slot.suspends);
    }
    // The cleanup of a started task ran once; a task that never started has none.
    EXPECT_EQ(slot.cleanups.load(), started ? 1 : 0);
    EXPECT_EQ(handle.cancelling(), cancel_result == 1 ? 1 : 0);
  }
  std::cout << "[   INFO   ] cancelled before start " << cancelled_unstarted << ", cancelled at a yield "
            << cancelled_started << ", completed " << completed << " (of which cancel() was true "
            << true_but_completed << ")" << std::endl;
}

// ---- cancel vs cancel ----------------------------------------------------------------------

struct VictimSlot {
  std::atomic<int> delivered{0};       // plain CancelledError caught
  std::atomic<int> task_cancelled{0};  // TaskCancelled caught (must not happen)
  std::atomic<int> completed{0};       // the wait returned (must not happen)
  std::atomic<int> cancel_true{0};
  std::string message;                 // written by the task before it ends
};

Task<void> victim(JoinHandle<int>* target, bool shielded, VictimSlot* slot) {
  try {
    if (shielded) {
      co_await weft::shield(*target);
    } else {
      co_await *target;
    }
    slot->completed.fetch_add(1);
  } catch (const TaskCancelled&) {
    slot->task_cancelled.fetch_add(1);
    throw;
  } catch (const CancelledError& e) {
    slot->message = e.what();
    slot->delivered.fetch_add(1);
    throw;
  }
}

void cancel_vs_cancel(bool shielded) {
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE("WEFT_TEST_SEED=" + std::to_string(seed));
  constexpr int kThreads = 4;
  std::vector<VictimSlot> slots(kTasks);
  std::vector<JoinHandle<int>> targets(kTasks);
  std::vector<JoinHandle<void>> victims(kTasks);
  weft::Runtime rt({.workers = kWorkers});
  std::unordered_map<weft::TaskId, std::string> expected;
  for (int i = 0; i < kTasks; ++i) {
    targets[i] = rt.spawn(gate());
    victims[i] = rt.spawn(victim(&targets[i], shielded, &slots[i]));
    expected[victims[i].id()] = (shielded ? "shielded task " : "task ") + std::to_string(targets[i].id());
  }
  wait_all_awaiting(rt, expected);

  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(seed + static_cast<std::uint64_t>(t));
      const std::vector<int> order = shuffled(kTasks, rng);
      const std::string message = "canceller-" + std::to_string(t);
      start.arrive_and_wait();
      for (int i : order)
        if (victims[i].cancel(message)) slots[i].cancel_true.fetch_add(1);
    });
  }
  for (std::thread& thread : threads) thread.join();

  for (int i = 0; i < kTasks; ++i) {
    SCOPED_TRACE("task " + std::to_string(i));
    wait_done(victims[i]);
    VictimSlot& slot = slots[i];
    EXPECT_TRUE(victims[i].cancelled());
    EXPECT_EQ(slot.delivered.load(), 1);
    EXPECT_EQ(slot.task_cancelled.load(), 0);
    EXPECT_EQ(slot.completed.load(), 0);
    EXPECT_GE(slot.cancel_true.load(), 1);
    EXPECT_EQ(victims[i].cancelling(), slot.cancel_true.load());
    EXPECT_EQ(slot.message.rfind("canceller-", 0), 0u) << slot.message;
    if (shielded) {
      EXPECT_FALSE(targets[i].done());  // the shield left it running
      EXPECT_EQ(targets[i].cancelling(), 0);
    } else {
      // Every request is forwarded unless the target still holds an undelivered one
      // (asyncio's Task.cancel calls the awaited task's cancel each time): at least
      // one reached it, at most one per request that counted.
      EXPECT_TRUE(targets[i].done());
      EXPECT_TRUE(targets[i].cancelled());
      EXPECT_GE(targets[i].cancelling(), 1);
      EXPECT_LE(targets[i].cancelling(), slot.cancel_true.load());
    }
  }
  if (shielded) {
    for (JoinHandle<int>& target : targets) EXPECT_TRUE(target.cancel());
    for (JoinHandle<int>& target : targets) {
      wait_done(target);
      EXPECT_TRUE(target.cancelled());
    }
  }
}

TEST(CancelConcurrent, CancelVsCancelFromFourThreadsShieldedWaitsDeliverOneCancelledErrorPerTask) {
  cancel_vs_cancel(/*shielded=*/true);
}

TEST(CancelConcurrent, CancelVsCancelFromFourThreadsForwardingWaitsDeliverOneCancelledErrorPerTask) {
  cancel_vs_cancel(/*shielded=*/false);
}

// ---- cancel vs wake ------------------------------------------------------------------------

enum class AtAwait : int { NotReached, Value, Cancelled, WrongTaskCancelled };

struct WakeSlot {
  bool plan_cancel = false;          // [main, before the threads start]
  bool chase = false;                // [main] cancel right after the release, not before
  std::atomic<bool> go{false};       // lets the target complete
  std::atomic<int> cancel_true{0};
  // Written by the awaiter before it ends, read after done().
  AtAwait at_await = AtAwait::NotReached;
  int value = -1;
  bool cancelled_at_next = false;
};

Task<int> completes_on_go(int index, WakeSlot* slot, std::shared_ptr<int> token) {
  while (!slot->go.load()) co_await weft::this_task::yield();
  co_return index + *token;
}

Task<int> wake_awaiter(JoinHandle<int>* target, bool shielded, WakeSlot* slot, std::shared_ptr<int> token) {
  int value = -1;
  try {
    if (shielded) {
      value = co_await weft::shield(*target);
    } else {
      value = co_await *target;
    }
    slot->at_await = AtAwait::Value;
    slot->value = value;
  } catch (const TaskCancelled&) {
    slot->at_await = AtAwait::WrongTaskCancelled;
    throw;
  } catch (const CancelledError&) {
    slot->at_await = AtAwait::Cancelled;
    throw;
  }
  try {
    co_await weft::this_task::yield();  // a request that lost the race lands here
  } catch (const CancelledError&) {
    slot->cancelled_at_next = true;
    throw;
  }
  co_return value + *token;
}

void cancel_vs_wake(bool shielded) {
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE("WEFT_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  auto token = std::make_shared<int>(0);
  std::vector<WakeSlot> slots(kTasks);
  for (WakeSlot& slot : slots) {
    slot.plan_cancel = rng() % 4 != 0;
    slot.chase = rng() % 2 == 0;
  }
  std::vector<JoinHandle<int>> targets(kTasks);
  std::vector<JoinHandle<int>> awaiters(kTasks);
  weft::Runtime rt({.workers = kWorkers});
  std::unordered_map<weft::TaskId, std::string> expected;
  for (int i = 0; i < kTasks; ++i) {
    targets[i] = rt.spawn(completes_on_go(i, &slots[i], token));
    awaiters[i] = rt.spawn(wake_awaiter(&targets[i], shielded, &slots[i], token));
    expected[awaiters[i].id()] = (shielded ? "shielded task " : "task ") + std::to_string(targets[i].id());
  }
  wait_all_awaiting(rt, expected);

  // One thread lets the targets complete, another cancels their awaiters, in the same
  // random order and in step (the releaser does not pass the canceller by more than one):
  // a "chasing" cancel waits until its target was released (it then races the
  // completion), the others do not (they race the release).
  const std::vector<int> order = shuffled(kTasks, rng);
  std::atomic<int> released{0};
  std::atomic<int> decided{0};
  std::latch start(2);
  std::thread releaser([&] {
    start.arrive_and_wait();
    for (int k = 0; k < kTasks; ++k) {
      while (decided.load() < k - 1) std::this_thread::yield();
      slots[order[k]].go.store(true);
      released.store(k + 1);
    }
  });
  std::thread canceller([&] {
    start.arrive_and_wait();
    for (int k = 0; k < kTasks; ++k) {
      WakeSlot& slot = slots[order[k]];
      if (slot.plan_cancel) {
        if (slot.chase)
          while (released.load() <= k) std::this_thread::yield();
        if (awaiters[order[k]].cancel("lost or won")) slot.cancel_true.fetch_add(1);
      }
      decided.store(k + 1);
    }
  });
  releaser.join();
  canceller.join();

  int value_won = 0, cancel_won = 0, delivered_later = 0, arrived_after_the_end = 0;
  for (int i = 0; i < kTasks; ++i) {
    SCOPED_TRACE("task " + std::to_string(i));
    wait_done(awaiters[i]);
    wait_done(targets[i]);
    const WakeSlot& slot = slots[i];
    const bool requested = slot.cancel_true.load() > 0;
    EXPECT_NE(slot.at_await, AtAwait::WrongTaskCancelled);  // its own cancel: plain CancelledError
    EXPECT_NE(slot.at_await, AtAwait::NotReached);
    EXPECT_EQ(awaiters[i].cancelled(), slot.at_await == AtAwait::Cancelled || slot.cancelled_at_next);
    EXPECT_EQ(awaiters[i].cancelling(), slot.cancel_true.load());
    if (slot.at_await == AtAwait::Value) {
      EXPECT_EQ(slot.value, i);  // nothing handed over is lost
      if (slot.cancelled_at_next) {
        EXPECT_TRUE(requested);
        ++delivered_later;
      } else {
        EXPECT_FALSE(awaiters[i].cancelled());
        EXPECT_EQ(awaiters[i].result(), i);
        if (requested) ++arrived_after_the_end;
      }
      ++value_won;
    } else if (slot.at_await == AtAwait::Cancelled) {
      EXPECT_TRUE(requested);
      EXPECT_FALSE(slot.cancelled_at_next);  // one request, one delivery
      ++cancel_won;
    }
    if (!requested) {
      EXPECT_EQ(slot.at_await, AtAwait::Value);
      EXPECT_FALSE(awaiters[i].cancelled());
    }
    if (shielded) {
      // The shield never passes the cancellation on.
      EXPECT_FALSE(targets[i].cancelled());
      EXPECT_EQ(targets[i].result(), i);
    } else if (targets[i].cancelled()) {
      // Only the awaiter's forwarded request cancels a target.
      EXPECT_EQ(slot.at_await, AtAwait::Cancelled);
    } else {
      EXPECT_EQ(targets[i].result(), i);
    }
  }
  std::cout << "[   INFO   ] value won " << value_won << " (then delivered at the next yield "
            << delivered_later << ", after the last one " << arrived_after_the_end << "), cancel won "
            << cancel_won << std::endl;

  // Every frame is freed: after the handles go and the workers have finished, the
  // token is held by this test alone.
  targets.clear();
  awaiters.clear();
  rt.shutdown();
  EXPECT_EQ(token.use_count(), 1);
}

TEST(CancelConcurrent, CancelVsWakeForwardingAwaitGetsTheValueOrCancelledErrorNeverBoth) {
  cancel_vs_wake(/*shielded=*/false);
}

TEST(CancelConcurrent, CancelVsWakeShieldedAwaitGetsTheValueOrCancelledErrorNeverBoth) {
  cancel_vs_wake(/*shielded=*/true);
}

}  // namespace
