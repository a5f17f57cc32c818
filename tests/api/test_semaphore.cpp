// Checks weft::Semaphore (asyncio.Semaphore semantics, API.md "Synchronisation"):
//   * a negative initial value is std::invalid_argument; acquire/try_acquire/release and
//     available() count permits; release with no waiter raises the count;
//   * FIFO fairness: waiters get permits in the order they queued;
//   * a cancelled waiter wakes at once with CancelledError and leaves the queue: the next
//     release goes to the next waiter; a pending cancel is delivered before a free
//     permit is taken;
//   * a waiter cancelled right as it is handed a permit loses nothing: many rounds of
//     cancel and release from two threads at once end with every permit back;
//   * release from a thread outside the runtime wakes a task; tasks() shows "semaphore".
// Waits are synchronised by polling tasks() for the "semaphore" suspension, never by sleeps.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <latch>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <vector>

#include <weft/semaphore.hpp>
#include <weft/weft.hpp>

#include "runtime_helpers.hpp"

#include "test_scale.hpp"

namespace {

using weft::test::wait_until_awaiting;
using weft::test::join_cancelled;

using weft::CancelledError;
using weft::JoinHandle;
using weft::Semaphore;
using weft::Task;
using weft::TaskCancelled;


// CPython: Lib/test/test_asyncio/test_locks.py::test_semaphore_value
// CPython: Lib/test/test_asyncio/test_locks.py::test_initial_value_zero
TEST(Semaphore, InitialValue) {
  EXPECT_THROW(Semaphore(-1), std::invalid_argument);
  Semaphore zero(0);
  EXPECT_EQ(zero.available(), 0);
  EXPECT_TRUE(zero.locked());
  EXPECT_FALSE(zero.try_acquire());
  Semaphore two(2);
  EXPECT_EQ(two.available(), 2);
  EXPECT_TRUE(two.try_acquire());
  EXPECT_TRUE(two.try_acquire());
  EXPECT_FALSE(two.try_acquire());
  two.release();
  two.release();
  EXPECT_EQ(two.available(), 2);
}

// CPython: Lib/test/test_asyncio/test_locks.py::test_release_no_waiters
TEST(Semaphore, ReleaseWithoutWaitersRaisesTheCount) {
  weft::Runtime rt({.workers = 2});
  Semaphore s(1);
  auto body = [&]() -> Task<void> {
    co_await s.acquire();
    EXPECT_TRUE(s.locked());
    s.release();
    EXPECT_FALSE(s.locked());
    s.release();  // like asyncio.Semaphore (not Bounded): above the initial value
    EXPECT_EQ(s.available(), 2);
  };
  rt.block_on(body());
}

// CPython: Lib/test/test_asyncio/test_locks.py::test_acquire
// CPython: Lib/test/test_asyncio/test_locks.py::test_acquire_fifo_order_2
TEST(Semaphore, WaitersGetPermitsInFifoOrder) {
  weft::Runtime rt({.workers = 3});
  Semaphore s(0);
  std::vector<int> order;
  std::mutex order_mutex;
  auto waiter = [&](int index) -> Task<void> {
    co_await s.acquire();
    std::lock_guard g(order_mutex);
    order.push_back(index);
  };
  constexpr int n = 5;
  std::vector<JoinHandle<void>> handles;
  for (int i = 0; i < n; ++i) {
    handles.push_back(rt.spawn(waiter(i)));
    wait_until_awaiting(rt, handles.back().id(), "semaphore");
  }
  // One permit at a time: each goes to the oldest waiter.
  for (int i = 0; i < n; ++i) {
    s.release();
    EXPECT_FALSE(join_cancelled(rt, handles[static_cast<std::size_t>(i)]));
    std::lock_guard g(order_mutex);
    EXPECT_EQ(order.size(), static_cast<std::size_t>(i + 1));
  }
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(s.available(), 0);
}

// A permit released while someone waits goes to the waiter, never to the count: with one
// worker, the woken waiter cannot run before the releasing task ends.
TEST(Semaphore, ReleaseHandsThePermitOverDirectly) {
  weft::Runtime rt({.workers = 1});
  Semaphore s(0);
  auto waiter = [&]() -> Task<void> { co_await s.acquire(); };
  JoinHandle<void> w = rt.spawn(waiter());
  wait_until_awaiting(rt, w.id(), "semaphore");
  auto releaser = [&]() -> Task<bool> {
    s.release();
    co_return s.try_acquire();
  };
  EXPECT_FALSE(rt.block_on(releaser()));
  EXPECT_FALSE(join_cancelled(rt, w));
  EXPECT_EQ(s.available(), 0);
}

// CPython: Lib/test/test_asyncio/test_locks.py::test_acquire_cancel
// CPython: Lib/test/test_asyncio/test_locks.py::test_acquire_hang
// CPython: Lib/test/test_asyncio/test_locks.py::test_acquire_fifo_order_3
TEST(Semaphore, CancelledWaiterLeavesTheQueue) {
  weft::Runtime rt({.workers = 2});
  Semaphore s(0);
  std::atomic<bool> a_got{false}, b_got{false};
  auto a_body = [&]() -> Task<void> {
    co_await s.acquire();
    a_got = true;
  };
  auto b_body = [&]() -> Task<void> {
    co_await s.acquire();
    b_got = true;
  };
  JoinHandle<void> a = rt.spawn(a_body());
  wait_until_awaiting(rt, a.id(), "semaphore");
  JoinHandle<void> b = rt.spawn(b_body());
  wait_until_awaiting(rt, b.id(), "semaphore");
  EXPECT_TRUE(a.cancel());
  EXPECT_TRUE(join_cancelled(rt, a));  // woke at once, with no permit anywhere
  EXPECT_FALSE(a_got.load());
  EXPECT_EQ(s.available(), 0);
  s.release();
  EXPECT_FALSE(join_cancelled(rt, b));
  EXPECT_TRUE(b_got.load());
  EXPECT_EQ(s.available(), 0);
  s.release();  // nobody waits any more: the count
  EXPECT_EQ(s.available(), 1);
}

// A cancel pending when acquire() is awaited is delivered there, even with a free
// permit; the permit stays.
TEST(Semaphore, PendingCancelIsDeliveredBeforeTakingAFreePermit) {
  weft::Runtime rt({.workers = 2});
  Semaphore s(1);
  std::atomic<bool> go{false}, started{false};
  std::atomic<long> available_when_cancelled{-1};
  auto body = [&]() -> Task<void> {
    started = true;
    while (!go.load()) std::this_thread::yield();  // no suspension point: the request waits
    try {
      co_await s.acquire();
    } catch (const CancelledError&) {
      available_when_cancelled = static_cast<long>(s.available());
      throw;
    }
  };
  JoinHandle<void> h = rt.spawn(body());
  while (!started.load()) std::this_thread::yield();
  EXPECT_TRUE(h.cancel());
  go = true;
  EXPECT_TRUE(join_cancelled(rt, h));
  EXPECT_EQ(available_when_cancelled.load(), 1);
  EXPECT_EQ(s.available(), 1);
}

// CPython: Lib/test/test_asyncio/test_locks.py::test_acquire_cancel_before_awoken
// Waiters A, B on an empty semaphore; A is cancelled from one thread while a permit is
// released from another. Either A is skipped (the permit goes to B) or A got it and
// gives it back when its cancel lands at its next suspension point; B always gets one;
// at the end the permit is back.
TEST(Semaphore, WaiterCancelledAsItIsHandedAPermitLosesNothing) {
  weft::Runtime rt({.workers = 2});
  const int rounds = static_cast<int>(weft::test::scaled(300));
  int a_won = 0;
  for (int round = 0; round < rounds; ++round) {
    Semaphore s(0);
    std::atomic<bool> a_got{false};
    auto a_body = [&]() -> Task<void> {
      co_await s.acquire();
      a_got = true;
      struct Release {
        Semaphore& s;
        ~Release() { s.release(); }
      } release{s};
      co_await weft::sleep_for(std::chrono::hours(1));  // until the cancel lands here
      ADD_FAILURE() << "a cancelled task went on";
    };
    auto b_body = [&]() -> Task<void> {
      co_await s.acquire();
      s.release();
    };
    JoinHandle<void> a = rt.spawn(a_body());
    wait_until_awaiting(rt, a.id(), "semaphore");
    JoinHandle<void> b = rt.spawn(b_body());
    wait_until_awaiting(rt, b.id(), "semaphore");
    std::latch start(2);
    std::thread canceller([&] {
      start.arrive_and_wait();
      EXPECT_TRUE(a.cancel());
    });
    start.arrive_and_wait();
    s.release();
    canceller.join();
    EXPECT_TRUE(join_cancelled(rt, a));
    EXPECT_FALSE(join_cancelled(rt, b));
    EXPECT_EQ(s.available(), 1);
    if (a_got.load()) ++a_won;
  }
  std::cout << "A was handed the permit before its cancel in " << a_won << " of " << rounds << " rounds\n";
}

// Semaphore::release from a thread outside the runtime wakes a blocked task.
TEST(Semaphore, ReleaseFromANonWorkerThreadWakesATask) {
  weft::Runtime rt({.workers = 2});
  Semaphore s(0);
  auto body = [&]() -> Task<int> {
    co_await s.acquire();
    co_return 7;
  };
  JoinHandle<int> h = rt.spawn(body());
  wait_until_awaiting(rt, h.id(), "semaphore");
  std::thread releaser([&] { s.release(); });
  releaser.join();
  auto joiner = [&]() -> Task<int> { co_return co_await h; };
  EXPECT_EQ(rt.block_on(joiner()), 7);
  EXPECT_EQ(s.available(), 0);
}

}  // namespace
