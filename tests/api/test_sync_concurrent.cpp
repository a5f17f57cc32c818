// Checks Mutex, Semaphore and Event under cancellation storms (many tasks, several
// workers, two outside threads cancelling random tasks), run under ThreadSanitizer in CI:
//   * Mutex: every task does lock -> critical section (an atomic "holders" count must go
//     0 -> 1 -> 0; a plain counter is incremented) -> yield -> unlock. Never two holders,
//     the plain counter equals the number of critical sections entered, every task
//     ends (normally or cancelled), the mutex is free at the end. The tasks first wait
//     on a gate Event, set once the storm is under way;
//   * Semaphore(3): the same with at most 3 holders; at the end available() == 3;
//   * Event: many waiters, set from an outside thread while others cancel: every waiter
//     ends, woken or cancelled.
//   * hand-over against cancel: a few tasks that swallow CancelledError and keep
//     cycling through a Mutex and a Semaphore(2) while the storm runs, so that unlock's
//     and release's hand-overs race with cancels of the next waiter all the time (in
//     the storms above most tasks are cancelled before they first lock). Never two
//     holders, never three permits out, the mutex free and both permits back at the end.
// The cancellers pick tasks from a seeded generator (printed; WEFT_TEST_SEED replays).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <random>
#include <thread>
#include <vector>

#include <weft/event.hpp>
#include <weft/mutex.hpp>
#include <weft/semaphore.hpp>
#include <weft/weft.hpp>

#include "test_scale.hpp"
#include "test_seed.hpp"

namespace {

using weft::CancelledError;
using weft::JoinHandle;
using weft::Task;
using weft::TaskCancelled;

using weft::test::test_seed;

// Two threads cancel random tasks of `ids` until `stop`.
class CancelStorm {
 public:
  CancelStorm(weft::Runtime& rt, const std::vector<weft::TaskId>& ids, std::uint64_t seed) {
    for (int t = 0; t < 2; ++t) {
      threads_.emplace_back([this, &rt, &ids, seed, t] {
        std::mt19937_64 rng(seed + static_cast<std::uint64_t>(t));
        std::uniform_int_distribution<std::size_t> pick(0, ids.size() - 1);
        while (!stop_.load(std::memory_order_relaxed)) {
          rt.cancel(ids[pick(rng)]);
          attempts_.fetch_add(1, std::memory_order_relaxed);
          std::this_thread::yield();
        }
      });
    }
  }
  ~CancelStorm() { stop(); }
  // Until the storm has made `count` cancel attempts (then it is well under way).
  void wait_for_attempts(std::size_t count) const {
    while (attempts_.load(std::memory_order_relaxed) < count) std::this_thread::yield();
  }
  std::size_t attempts() const { return attempts_.load(std::memory_order_relaxed); }
  void stop() {
    stop_ = true;
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> attempts_{0};  // relaxed: a progress hint only
  std::vector<std::thread> threads_;
};

struct Outcomes {
  std::size_t completed = 0;
  std::size_t cancelled = 0;
};

// Awaits every handle; counts normal ends and cancellations.
template <class T>
Outcomes join_all(weft::Runtime& rt, std::vector<JoinHandle<T>>& handles) {
  auto joiner = [&]() -> Task<Outcomes> {
    Outcomes out;
    for (auto& h : handles) {
      try {
        co_await h;
        ++out.completed;
      } catch (const TaskCancelled&) {
        ++out.cancelled;
      }
    }
    co_return out;
  };
  return rt.block_on(joiner());
}

TEST(SyncConcurrent, MutexUnderACancellationStorm) {
  const std::uint64_t seed = test_seed();
  const std::size_t n = weft::test::scaled(2000);
  weft::Runtime rt({.workers = 4});
  weft::Mutex m;
  std::atomic<int> holders{0};
  std::atomic<int> violations{0};
  std::atomic<std::size_t> entered{0};
  std::size_t counter = 0;  // plain: the mutex is its only protection
  weft::Event gate;  // the storm starts before the tasks go: cancels hit every phase
  auto body = [&]() -> Task<void> {
    co_await gate.wait();
    for (int i = 0; i < 3; ++i) {
      weft::Mutex::Guard guard = co_await m.lock();
      if (holders.fetch_add(1) != 0) violations.fetch_add(1);
      ++counter;
      entered.fetch_add(1);
      if (holders.fetch_sub(1) != 1) violations.fetch_add(1);
      co_await weft::this_task::yield();  // still holding: a cancel lands here too
    }
  };
  std::vector<JoinHandle<void>> handles;
  std::vector<weft::TaskId> ids;
  for (std::size_t i = 0; i < n; ++i) {
    handles.push_back(rt.spawn(body()));
    ids.push_back(handles.back().id());
  }
  CancelStorm storm(rt, ids, seed);
  storm.wait_for_attempts(n / 20);
  gate.set();
  Outcomes out = join_all(rt, handles);
  storm.stop();
  EXPECT_EQ(violations.load(), 0);
  EXPECT_EQ(out.completed + out.cancelled, n);
  EXPECT_EQ(counter, entered.load());
  EXPECT_GE(counter, 3 * out.completed);
  EXPECT_FALSE(m.locked());
  std::cout << out.completed << " completed, " << out.cancelled << " cancelled, " << counter << " sections\n";
}

TEST(SyncConcurrent, SemaphoreUnderACancellationStorm) {
  const std::uint64_t seed = test_seed();
  const std::size_t n = weft::test::scaled(2000);
  constexpr int permits = 3;
  weft::Runtime rt({.workers = 4});
  weft::Semaphore s(permits);
  std::atomic<int> holders{0};
  std::atomic<int> violations{0};
  std::atomic<std::size_t> entered{0};
  weft::Event gate;  // the storm starts before the tasks go: cancels hit every phase
  auto guarded_body = [&]() -> Task<void> {
    co_await gate.wait();
    for (int i = 0; i < 3; ++i) {
      co_await s.acquire();
      struct Hold {
        weft::Semaphore& s;
        std::atomic<int>& holders;
        ~Hold() {
          holders.fetch_sub(1);
          s.release();
        }
      };
      if (holders.fetch_add(1) >= permits) violations.fetch_add(1);
      Hold hold{s, holders};
      entered.fetch_add(1);
      co_await weft::this_task::yield();
    }
  };
  std::vector<JoinHandle<void>> handles;
  std::vector<weft::TaskId> ids;
  for (std::size_t i = 0; i < n; ++i) {
    handles.push_back(rt.spawn(guarded_body()));
    ids.push_back(handles.back().id());
  }
  CancelStorm storm(rt, ids, seed);
  storm.wait_for_attempts(n / 20);
  gate.set();
  Outcomes out = join_all(rt, handles);
  storm.stop();
  EXPECT_EQ(violations.load(), 0);
  EXPECT_EQ(out.completed + out.cancelled, n);
  EXPECT_GE(entered.load(), 3 * out.completed);
  EXPECT_EQ(holders.load(), 0);
  EXPECT_EQ(s.available(), permits);
}

TEST(SyncConcurrent, EventWaitersUnderACancellationStorm) {
  const std::uint64_t seed = test_seed();
  const std::size_t n = weft::test::scaled(2000);
  weft::Runtime rt({.workers = 4});
  for (int round = 0; round < 3; ++round) {
    weft::Event ev;
    std::atomic<std::size_t> woken{0};
    auto body = [&]() -> Task<void> {
      co_await ev.wait();
      woken.fetch_add(1);
    };
    std::vector<JoinHandle<void>> handles;
    std::vector<weft::TaskId> ids;
    for (std::size_t i = 0; i < n; ++i) {
      handles.push_back(rt.spawn(body()));
      ids.push_back(handles.back().id());
    }
    CancelStorm storm(rt, ids, seed + static_cast<std::uint64_t>(round));
    // Set from outside while the storm runs, some waiters not yet suspended. (Not "once
    // half the tasks are live": the storm may end more than half before anyone looks.)
    std::thread setter([&] {
      storm.wait_for_attempts(n / 4);
      ev.set();
    });
    Outcomes out = join_all(rt, handles);
    setter.join();
    storm.stop();
    EXPECT_EQ(out.completed + out.cancelled, n);
    EXPECT_EQ(out.completed, woken.load());
    EXPECT_TRUE(ev.is_set());
  }
}

// From a review: the storms above cancel most tasks before they lock, so the race they
// target (a hand-over to a waiter that is being cancelled) is rarely hit. Here every
// task swallows its CancelledError and goes on, so cancels land at every point.
TEST(SyncConcurrent, HandOversRaceWithCancelsOfTheNextWaiter) {
  const std::uint64_t seed = test_seed();
  constexpr std::size_t kTasks = 12;
  // Each task runs at least `rounds` rounds and until the storm made `attempts` cancel
  // attempts, so that the two overlap however the threads are scheduled.
  const std::size_t rounds = weft::test::scaled(4000);
  const std::size_t attempts = weft::test::scaled(20000);
  std::atomic<const CancelStorm*> running_storm{nullptr};
  auto storm_done = [&] {
    const CancelStorm* storm = running_storm.load(std::memory_order_acquire);
    return storm != nullptr && storm->attempts() >= attempts;
  };
  weft::Runtime rt({.workers = 2});
  weft::Mutex m;
  weft::Semaphore sem(2);
  std::atomic<int> holders{0};
  std::atomic<int> permits_out{0};
  std::atomic<int> violations{0};
  std::atomic<std::size_t> sections{0};
  std::atomic<std::size_t> cancels_caught{0};
  std::atomic<std::size_t> started{0};
  auto body = [&]() -> Task<void> {
    started.fetch_add(1);  // a cancel before the first run would skip the body
    for (std::size_t i = 0; i < rounds || !storm_done(); ++i) {
      try {
        {
          weft::Mutex::Guard guard = co_await m.lock();
          if (holders.fetch_add(1) != 0) violations.fetch_add(1);
          sections.fetch_add(1);
          holders.fetch_sub(1);
        }
        co_await sem.acquire();
        struct Permit {
          weft::Semaphore& sem;
          std::atomic<int>& out;
          ~Permit() {
            out.fetch_sub(1);
            sem.release();
          }
        };
        if (permits_out.fetch_add(1) >= 2) violations.fetch_add(1);
        Permit permit{sem, permits_out};
        co_await weft::this_task::yield();  // holding a permit: a cancel lands here too
      } catch (const weft::CancelledError&) {
        cancels_caught.fetch_add(1);  // swallowed: the task goes on
      }
    }
  };
  std::vector<JoinHandle<void>> handles;
  std::vector<weft::TaskId> ids;
  for (std::size_t i = 0; i < kTasks; ++i) {
    handles.push_back(rt.spawn(body()));
    ids.push_back(handles.back().id());
  }
  while (started.load() < kTasks) std::this_thread::yield();
  CancelStorm storm(rt, ids, seed);
  running_storm.store(&storm, std::memory_order_release);
  Outcomes out = join_all(rt, handles);
  storm.stop();
  EXPECT_EQ(violations.load(), 0);
  EXPECT_EQ(out.completed, kTasks) << "every task swallows its cancels and ends normally";
  EXPECT_FALSE(m.locked());
  EXPECT_EQ(sem.available(), 2);
  std::cout << sections.load() << " sections, " << cancels_caught.load() << " cancels caught\n";
}

}  // namespace
