// Checks the task header's cold parts (TaskExtras, scheduler/task_header.hpp), made on
// first need by whichever thread needs them first, under ThreadSanitizer in CI:
//   * first use from several threads at once (a default name, a cancel with a message,
//     a cancel without one): every thread sees the same name object, "task-<id>"; the
//     awaiter's TaskCancelled carries the message of the first registered request,
//     which is one of those sent with a message whenever any was;
//   * this_task::stop_token() made inside the task while other threads cancel it (for
//     about half of the tasks the cancels wait until the body has started): the token
//     is always stopped once the CancelledError arrives, whichever came first (the stop
//     source is made under the cancel lock that a cancel reads it under).
// The randomised orders print their seed; WEFT_TEST_SEED=<n> replays one.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <latch>
#include <random>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <weft/weft.hpp>

#include "runtime_helpers.hpp"
#include "test_scale.hpp"
#include "test_seed.hpp"

namespace {

using namespace std::chrono_literals;
using weft::CancelledError;
using weft::JoinHandle;
using weft::Task;

constexpr std::size_t kTasks = weft::test::scaled(2000);
constexpr int kThreads = 4;

using weft::test::test_seed;

// Sleeps on a clock nobody advances: only a cancel ends it.
Task<void> sleeper(std::atomic<std::size_t>* asleep) {
  asleep->fetch_add(1);
  co_await weft::sleep_for(1h);
}

// What an outside thread does to one task: name() first or a cancel first, the cancel
// with or without a message.
struct Plan {
  bool name_first = false;
  bool with_message = false;
};

TEST(TaskExtrasConcurrent, FirstUseFromSeveralThreadsMakesOneExtras) {
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE("WEFT_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  std::vector<std::vector<Plan>> plans(kThreads, std::vector<Plan>(kTasks));
  for (auto& per_thread : plans)
    for (Plan& plan : per_thread) plan = {rng() % 2 == 0, rng() % 3 != 0};

  weft::ManualClock clock;  // never advanced
  weft::Runtime rt({.workers = 2, .clock = &clock});
  std::atomic<std::size_t> asleep{0};
  std::vector<JoinHandle<void>> handles;
  handles.reserve(kTasks);
  for (std::size_t i = 0; i < kTasks; ++i) handles.push_back(rt.spawn(sleeper(&asleep)));
  while (asleep.load() < kTasks) std::this_thread::yield();

  // seen[t][i]: the name object thread t saw for task i.
  std::vector<std::vector<const char*>> seen(kThreads, std::vector<const char*>(kTasks));
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (std::size_t i = 0; i < kTasks; ++i) {
        const Plan plan = plans[t][i];
        auto look = [&] {
          std::string_view name = handles[i].name();
          seen[t][i] = name.data();
          EXPECT_EQ(name, "task-" + std::to_string(handles[i].id()));
        };
        if (plan.name_first) look();
        handles[i].cancel(plan.with_message ? "thread " + std::to_string(t) : std::string());
        if (!plan.name_first) look();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  for (std::size_t i = 0; i < kTasks; ++i) {
    for (int t = 1; t < kThreads; ++t) ASSERT_EQ(seen[t][i], seen[0][i]) << "task " << i << ": two name objects";
    bool any_message = false;
    for (int t = 0; t < kThreads; ++t) any_message = any_message || plans[t][i].with_message;
    std::string message;
    ASSERT_TRUE(weft::test::join_cancelled(rt, handles[i], &message)) << "task " << i;
    // The first registered request's message is kept; which thread came first is the
    // race. A request without a message that came first leaves none.
    if (!message.empty()) {
      ASSERT_TRUE(any_message) << "task " << i << ": a message nobody sent: " << message;
      ASSERT_EQ(message.rfind("thread ", 0), 0u) << message;
    }
  }
}

// Says it started, makes its stop token, then sleeps; reports whether the token was
// stopped when the CancelledError arrived (1) or not (0). Stays -1 if the body never ran.
Task<void> token_holder(std::atomic<bool>* started, std::atomic<int>* stopped_at_cancel) {
  started->store(true);
  std::stop_token token = weft::this_task::stop_token();
  try {
    co_await weft::sleep_for(1h);
  } catch (const CancelledError&) {
    stopped_at_cancel->store(token.stop_requested() ? 1 : 0);
    throw;
  }
}

TEST(TaskExtrasConcurrent, StopTokenMadeWhileOthersCancelIsAlwaysStopped) {
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE("WEFT_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  // For about half of the tasks the cancels wait until the body has started, so they
  // race with the making of the token; the others may come before the first run.
  std::vector<char> after_start(kTasks);
  for (char& flag : after_start) flag = rng() % 2 == 0;

  weft::ManualClock clock;  // never advanced
  weft::Runtime rt({.workers = 2, .clock = &clock});
  std::vector<std::atomic<bool>> started(kTasks);
  std::vector<std::atomic<int>> stopped(kTasks);
  for (auto& flag : stopped) flag.store(-1);
  std::vector<JoinHandle<void>> handles(kTasks);
  std::atomic<std::size_t> spawned{0};

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (std::size_t k = 0; k < kTasks; ++k) {
        while (spawned.load(std::memory_order_acquire) <= k) std::this_thread::yield();
        if (after_start[k])
          while (!started[k].load()) std::this_thread::yield();
        handles[k].cancel();
      }
    });
  }
  for (std::size_t k = 0; k < kTasks; ++k) {
    handles[k] = rt.spawn(token_holder(&started[k], &stopped[k]));
    spawned.store(k + 1, std::memory_order_release);
  }
  for (std::thread& thread : threads) thread.join();

  std::size_t ran = 0;
  for (std::size_t i = 0; i < kTasks; ++i) {
    ASSERT_TRUE(weft::test::join_cancelled(rt, handles[i])) << "task " << i;
    ASSERT_NE(stopped[i].load(), 0) << "task " << i << ": CancelledError with an unstopped token";
    // A body that started always reaches its sleep, where the cancel is delivered.
    if (after_start[i]) {
      ASSERT_EQ(stopped[i].load(), 1) << "task " << i;
    }
    if (stopped[i].load() == 1) ++ran;
  }
  std::cout << "[   INFO   ] " << ran << " of " << kTasks << " bodies ran before their cancel" << std::endl;
}

}  // namespace
