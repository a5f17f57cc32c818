// Checks weft::Event (asyncio.Event semantics, API.md "Synchronisation"):
//   * set/clear/is_set; a wait on a set event returns at once, but is still a suspension
//     point (a pending cancel is delivered there);
//   * set() wakes every waiter present; set-then-clear still wakes them, while a wait
//     begun after the clear blocks until the next set;
//   * a cancelled waiter wakes at once with CancelledError and leaves the queue; the
//     others are still woken by the next set;
//   * set from a thread outside the runtime wakes tasks; tasks() shows "event".
// Waits are synchronised by polling tasks() for the "event" suspension, never by sleeps.
#include <gtest/gtest.h>

#include <atomic>
#include <string_view>
#include <thread>
#include <vector>

#include <weft/event.hpp>
#include <weft/weft.hpp>

#include "runtime_helpers.hpp"

namespace {

using weft::test::wait_until_awaiting;
using weft::test::join_cancelled;

using weft::CancelledError;
using weft::Event;
using weft::JoinHandle;
using weft::Task;
using weft::TaskCancelled;


// CPython: Lib/test/test_asyncio/test_locks.py::test_clear
TEST(Event, SetAndClear) {
  Event ev;
  EXPECT_FALSE(ev.is_set());
  ev.set();
  EXPECT_TRUE(ev.is_set());
  ev.set();
  EXPECT_TRUE(ev.is_set());
  ev.clear();
  EXPECT_FALSE(ev.is_set());
}

// CPython: Lib/test/test_asyncio/test_locks.py::test_wait_on_set
TEST(Event, WaitOnASetEventIsImmediate) {
  weft::Runtime rt({.workers = 2});
  Event ev;
  ev.set();
  auto body = [&]() -> Task<int> {
    co_await ev.wait();
    co_await ev.wait();
    co_return 1;
  };
  EXPECT_EQ(rt.block_on(body()), 1);
  EXPECT_TRUE(ev.is_set());
}

// A wait on a set event is still a suspension point: a pending cancel is delivered.
TEST(Event, WaitOnASetEventDeliversAPendingCancel) {
  weft::Runtime rt({.workers = 2});
  Event ev;
  ev.set();
  std::atomic<bool> go{false}, started{false}, returned{false};
  auto body = [&]() -> Task<void> {
    started = true;
    while (!go.load()) std::this_thread::yield();  // no suspension point: the request waits
    co_await ev.wait();
    returned = true;
  };
  JoinHandle<void> h = rt.spawn(body());
  while (!started.load()) std::this_thread::yield();
  EXPECT_TRUE(h.cancel());
  go = true;
  EXPECT_TRUE(join_cancelled(rt, h));
  EXPECT_FALSE(returned.load());
}

// CPython: Lib/test/test_asyncio/test_locks.py::test_wait
TEST(Event, SetWakesEveryWaiter) {
  weft::Runtime rt({.workers = 3});
  Event ev;
  std::atomic<int> woken{0};
  auto waiter = [&]() -> Task<void> {
    co_await ev.wait();
    woken.fetch_add(1);
  };
  std::vector<JoinHandle<void>> handles;
  for (int i = 0; i < 8; ++i) {
    handles.push_back(rt.spawn(waiter()));
    wait_until_awaiting(rt, handles.back().id(), "event");
  }
  EXPECT_EQ(woken.load(), 0);
  ev.set();
  for (auto& h : handles) EXPECT_FALSE(join_cancelled(rt, h));
  EXPECT_EQ(woken.load(), 8);
}

// CPython: Lib/test/test_asyncio/test_locks.py::test_clear_with_waiters
// set() then clear() at once still wakes the waiters present at set(); a wait that
// begins after the clear blocks until the next set().
TEST(Event, SetThenClearWakesThePresentWaiters) {
  weft::Runtime rt({.workers = 2});
  Event ev;
  std::atomic<int> woken{0};
  auto waiter = [&]() -> Task<void> {
    co_await ev.wait();
    woken.fetch_add(1);
  };
  JoinHandle<void> a = rt.spawn(waiter());
  wait_until_awaiting(rt, a.id(), "event");
  JoinHandle<void> b = rt.spawn(waiter());
  wait_until_awaiting(rt, b.id(), "event");
  ev.set();
  ev.clear();
  EXPECT_FALSE(ev.is_set());
  EXPECT_FALSE(join_cancelled(rt, a));
  EXPECT_FALSE(join_cancelled(rt, b));
  EXPECT_EQ(woken.load(), 2);
  JoinHandle<void> late = rt.spawn(waiter());
  wait_until_awaiting(rt, late.id(), "event");  // blocks: the event is clear
  EXPECT_EQ(woken.load(), 2);
  ev.set();
  EXPECT_FALSE(join_cancelled(rt, late));
  EXPECT_EQ(woken.load(), 3);
}

// CPython: Lib/test/test_asyncio/test_locks.py::test_wait_cancel
// A task blocked in wait() is woken at once by a cancel, with CancelledError; its node
// is gone, and the other waiter is still woken by set().
TEST(Event, CancelWakesABlockedWaiter) {
  weft::Runtime rt({.workers = 2});
  Event ev;
  std::atomic<bool> a_caught{false}, b_woke{false};
  auto a_body = [&]() -> Task<void> {
    try {
      co_await ev.wait();
    } catch (const CancelledError& e) {
      a_caught = std::string_view(e.what()).find("stop") != std::string_view::npos;
      throw;
    }
  };
  auto b_body = [&]() -> Task<void> {
    co_await ev.wait();
    b_woke = true;
  };
  JoinHandle<void> a = rt.spawn(a_body());
  wait_until_awaiting(rt, a.id(), "event");
  JoinHandle<void> b = rt.spawn(b_body());
  wait_until_awaiting(rt, b.id(), "event");
  EXPECT_TRUE(a.cancel("stop"));
  EXPECT_TRUE(join_cancelled(rt, a));
  EXPECT_TRUE(a_caught.load());
  EXPECT_FALSE(ev.is_set());
  EXPECT_FALSE(b_woke.load());
  ev.set();
  EXPECT_FALSE(join_cancelled(rt, b));
  EXPECT_TRUE(b_woke.load());
}

// Event::set from a thread outside the runtime wakes the waiting tasks.
TEST(Event, SetFromANonWorkerThreadWakesTasks) {
  weft::Runtime rt({.workers = 2});
  Event ev;
  auto body = [&]() -> Task<int> {
    co_await ev.wait();
    co_return 5;
  };
  JoinHandle<int> h = rt.spawn(body());
  wait_until_awaiting(rt, h.id(), "event");
  std::thread setter([&] { ev.set(); });
  setter.join();
  auto joiner = [&]() -> Task<int> { co_return co_await h; };
  EXPECT_EQ(rt.block_on(joiner()), 5);
}

}  // namespace
