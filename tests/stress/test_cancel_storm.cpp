// The cancel storm: 10,000 tasks (scaled under the sanitizers) on a 4-worker runtime
// sleep random short durations (0-2 ms, steady clock: no timing is asserted), await
// one another's handles (task i may await the handle of a random task j < i, each
// handle awaited by at most one task: a DAG, no cycles, no concurrent awaiters), fail,
// swallow or rethrow their cancellation, and are cancelled from 3 outside threads at
// random moments (random tasks, random number of cancels, through JoinHandle::cancel
// and Runtime::cancel). Checks:
//   * no hang: every task is done() within a generous deadline (else rt.dump());
//   * every task ended in exactly one of value / failure / cancelled, consistently
//     with its mode (the value is its index; only failing tasks fail);
//   * every task whose body started ran its cleanup (a guard's destructor) exactly
//     once, and its body started at most once;
//   * a task whose body never ran ended cancelled, without cleanup, and some cancel
//     reached it (a request registered on it, or forwarded by a cancelled awaiter);
//   * a started task that ended cancelled had a reason (a cancel reached it, or it let
//     the TaskCancelled of the task it awaited escape);
//   * no failure went unobserved;
//   * every frame was freed: a shared_ptr token held by every task's parameters is
//     back to use_count 1 once the handles are dropped and the runtime is shut down.
// The structure (plan of dependencies, sleeps, modes, cancel targets) comes from a
// printed seed; WEFT_TEST_SEED=<n> replays it (thread interleavings vary).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <weft/weft.hpp>

#include "test_scale.hpp"
#include "test_seed.hpp"

namespace {

using weft::CancelledError;
using weft::JoinHandle;
using weft::Task;
using weft::TaskCancelled;

using weft::test::test_seed;

enum Mode : int {
  kValue = 0,      // returns its index
  kFail = 1,       // throws std::runtime_error at the end
  kSwallow = 2,    // catches its own CancelledError and returns its index
  kRethrow = 3,    // catches its own CancelledError, counts it, rethrows
  kPropagate = 4,  // lets the TaskCancelled of the task it awaits escape
  kModes = 5,
};

struct Token {};

struct Counters {
  explicit Counters(std::size_t n) : started(n), cleanups(n), cancel_true(n), caught_own(n) {}
  std::vector<std::atomic<int>> started;      // body began
  std::vector<std::atomic<int>> cleanups;     // guard destroyed
  std::vector<std::atomic<int>> cancel_true;  // cancel() / Runtime::cancel returned true
  std::vector<std::atomic<int>> caught_own;   // own CancelledError caught (kSwallow, kRethrow)
};

struct Guard {
  std::atomic<int>* counter;
  ~Guard() { counter->fetch_add(1); }
};

Task<int> node(Counters* c, int i, std::shared_ptr<Token> token, JoinHandle<int>* dep, int sleep_us, int mode) {
  (void)token;  // held by the frame until it is freed
  c->started[i].fetch_add(1);
  Guard guard{&c->cleanups[i]};
  try {
    if (sleep_us > 0) {
      co_await weft::sleep_for(std::chrono::microseconds(sleep_us));
    } else {
      co_await weft::this_task::yield();
    }
    if (dep != nullptr) {
      try {
        (void)co_await *dep;
      } catch (const TaskCancelled&) {
        if (mode == kPropagate) throw;
      } catch (const std::runtime_error&) {
      }
    }
    if (mode == kFail) throw std::runtime_error("planned failure");
  } catch (const TaskCancelled&) {
    throw;  // the awaited task's cancellation (kPropagate)
  } catch (const CancelledError&) {
    if (mode == kSwallow || mode == kRethrow) c->caught_own[i].fetch_add(1);
    if (mode == kSwallow) co_return i;
    throw;
  }
  co_return i;
}

struct Plan {
  int dep = -1;
  int awaited_by = -1;
  int sleep_us = 0;
  int mode = kValue;
};

TEST(CancelStorm, TasksSleepingAwaitingEachOtherAndCancelledFromThreeThreads) {
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE("WEFT_TEST_SEED=" + std::to_string(seed));
  const std::size_t n = weft::test::scaled(10'000);

  // The plan.
  std::mt19937_64 rng(seed);
  std::vector<Plan> plan(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0 && rng() % 2 == 0) {
      const std::size_t j = rng() % i;
      if (plan[j].awaited_by < 0) {
        plan[j].awaited_by = static_cast<int>(i);
        plan[i].dep = static_cast<int>(j);
      }
    }
    plan[i].sleep_us = static_cast<int>(rng() % 2001);
    if (rng() % 8 == 0) plan[i].sleep_us = 0;  // some only yield
    plan[i].mode = static_cast<int>(rng() % kModes);
  }
  const unsigned canceller_count = 3;
  std::vector<std::uint64_t> canceller_seeds;
  std::vector<std::size_t> canceller_targets;
  for (unsigned t = 0; t < canceller_count; ++t) {
    canceller_seeds.push_back(rng());
    canceller_targets.push_back(n / 20 + rng() % (n / 2));
  }

  Counters counters(n);
  auto token = std::make_shared<Token>();
  std::atomic<int> unobserved{0};
  auto rt = std::make_unique<weft::Runtime>(weft::RuntimeOptions{
      .workers = 4,
      .name = "storm",
      .on_unobserved_exception = [&](const weft::TaskInfo&, std::exception_ptr) { unobserved.fetch_add(1); }});

  std::vector<JoinHandle<int>> handles(n);
  std::atomic<std::size_t> published{0};
  std::atomic<bool> go{false};

  std::vector<std::thread> cancellers;
  for (unsigned t = 0; t < canceller_count; ++t) {
    cancellers.emplace_back([&, t] {
      std::mt19937_64 crng(canceller_seeds[t]);
      while (!go.load()) std::this_thread::yield();
      for (std::size_t done = 0; done < canceller_targets[t];) {
        const std::size_t count = published.load(std::memory_order_acquire);
        if (count == 0) {
          std::this_thread::yield();
          continue;
        }
        // Half the time one of the latest tasks (most likely still running or not yet
        // started), otherwise any task (often finished: cancel() is then false).
        const std::size_t window = std::min<std::size_t>(count, 256);
        const std::size_t k = crng() % 2 == 0 ? count - 1 - crng() % window : crng() % count;
        const bool registered = crng() % 4 == 0 ? rt->cancel(handles[k].id(), "by id")
                                                : handles[k].cancel("storm " + std::to_string(t));
        if (registered) counters.cancel_true[k].fetch_add(1);
        ++done;
        // A random pause, so that cancels land at random moments of the tasks' lives.
        for (auto spin = crng() % 256; spin > 0; --spin) std::atomic_signal_fence(std::memory_order_seq_cst);
        if (crng() % 16 == 0) std::this_thread::yield();
        // Spread the cancels over the whole spawning: wait for a random number of new
        // tasks (about n / target on average) before the next cancel.
        const std::size_t step = crng() % (2 * n / canceller_targets[t] + 1);
        while (published.load(std::memory_order_acquire) < std::min(n, count + step)) std::this_thread::yield();
      }
    });
  }

  go.store(true);
  for (std::size_t i = 0; i < n; ++i) {
    JoinHandle<int>* dep = plan[i].dep >= 0 ? &handles[plan[i].dep] : nullptr;
    handles[i] = rt->spawn(node(&counters, static_cast<int>(i), token, dep, plan[i].sleep_us, plan[i].mode));
    published.store(i + 1, std::memory_order_release);
    // Give the cancellers and the workers a turn now and then, so that cancels land
    // among spawns rather than after them (pacing, not synchronisation).
    if (i % 32 == 31)
      for (int turn = 0; turn < 8; ++turn) std::this_thread::yield();
  }
  for (auto& thread : cancellers) thread.join();

  // No hang.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(300);
  for (std::size_t i = 0; i < n; ++i) {
    while (!handles[i].done()) {
      if (std::chrono::steady_clock::now() > deadline) {
        std::string dump = rt->dump();
        if (dump.size() > 20000) dump.resize(20000);
        FAIL() << "task " << i << " not done after 300 s (hang); rt.dump():\n" << dump;
      }
      std::this_thread::yield();
    }
  }

  // A cancel can reach task i directly, or through the awaiter it forwards its own to.
  std::vector<signed char> reached(n, -1);
  std::function<bool(int)> cancel_reached = [&](int i) -> bool {
    if (reached[i] >= 0) return reached[i] != 0;
    bool r = counters.cancel_true[i].load() > 0;
    const int a = plan[i].awaited_by;
    if (!r && a >= 0 && counters.started[a].load() > 0) r = cancel_reached(a);
    reached[i] = r ? 1 : 0;
    return r;
  };

  std::size_t values = 0, failures = 0, cancelled = 0, never_started = 0;
  for (std::size_t i = 0; i < n; ++i) {
    SCOPED_TRACE("task " + std::to_string(i) + " mode " + std::to_string(plan[i].mode) + " dep " +
                 std::to_string(plan[i].dep));
    JoinHandle<int>& h = handles[i];
    ASSERT_TRUE(h.done());
    const int started = counters.started[i].load();
    const int cleanups = counters.cleanups[i].load();
    ASSERT_LE(started, 1);
    EXPECT_EQ(cleanups, started);  // cleanup exactly once per started body, never otherwise
    int outcomes = 0;
    if (h.cancelled()) {
      ++outcomes;
      ++cancelled;
      EXPECT_THROW((void)h.exception(), TaskCancelled);
      EXPECT_THROW((void)h.result(), TaskCancelled);
      if (started == 0) {
        ++never_started;
        EXPECT_TRUE(cancel_reached(static_cast<int>(i))) << "cancelled before its start, by nobody";
      } else {
        const bool propagated = plan[i].mode == kPropagate && plan[i].dep >= 0 && handles[plan[i].dep].cancelled();
        EXPECT_TRUE(cancel_reached(static_cast<int>(i)) || propagated) << "cancelled for no reason";
        EXPECT_NE(plan[i].mode, kSwallow) << "a swallowing task ended cancelled";
      }
    } else {
      EXPECT_EQ(started, 1) << "ended without being cancelled, yet its body never ran";
      std::exception_ptr failure = h.exception();
      if (failure) {
        ++outcomes;
        ++failures;
        EXPECT_EQ(plan[i].mode, kFail);
        EXPECT_THROW((void)h.result(), std::runtime_error);
      } else {
        ++outcomes;
        ++values;
        EXPECT_EQ(h.result(), static_cast<int>(i));
        EXPECT_NE(plan[i].mode, kFail) << "a failing task returned a value";
      }
    }
    EXPECT_EQ(outcomes, 1);
    if (plan[i].mode == kRethrow && counters.caught_own[i].load() > 0) {
      EXPECT_TRUE(h.cancelled());
    }
    if (::testing::Test::HasFailure()) break;  // one task's story is enough
  }
  EXPECT_EQ(values + failures + cancelled, n);
  std::cout << "[ storm    ] " << n << " tasks: " << values << " values, " << failures << " failures, "
            << cancelled << " cancelled (" << never_started << " before their start)" << std::endl;

  // All frames freed.
  handles.clear();
  rt->shutdown();
  rt.reset();
  EXPECT_EQ(unobserved.load(), 0);
  EXPECT_EQ(token.use_count(), 1);
}

}  // namespace
