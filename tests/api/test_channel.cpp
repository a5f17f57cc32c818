// Checks weft::Channel<T> (API.md, "Synchronisation"), deterministically:
//   * FIFO order of values; receivers served in arrival order; a bounded channel's
//     sender waits while the buffer is full (and its value moves into the buffer, in
//     order, when a place frees); an unbounded one never makes a sender wait;
//   * try_send / try_recv on full, empty and closed channels (a failed try_send leaves
//     a move-only argument with the caller); capacity 0, or a negative one (which must
//     not wrap into a huge size), is std::invalid_argument;
//   * close: waiting receivers and senders get ChannelClosed, buffered values are still
//     received, then recv throws ChannelClosed; send after close throws;
//   * move-only values; the "channel recv" / "channel send" descriptions in tasks();
//   * cancellation: a cancelled receiver leaves the queue (the next value goes to the
//     next receiver), a cancelled sender's value is not delivered; and the two races of
//     the hand-over protocol, made deterministic by keeping the only worker busy while a
//     waiter's cell is cancelled and the channel then tries to hand over to it: the value
//     is taken back and goes to the next receiver / stays with the cancelled sender;
//   * try_send from a thread outside the runtime wakes a waiting receiver.
// CPython citations name the asyncio.Queue tests (Lib/test/test_asyncio/test_queues.py)
// whose behaviour each test mirrors.
#include <gtest/gtest.h>

#include <cstdint>

#include <atomic>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <weft/channel.hpp>
#include <weft/weft.hpp>

#include "runtime_helpers.hpp"

namespace {

using weft::test::wait_until_awaiting;

using weft::CancelledError;
using weft::Channel;
using weft::ChannelClosed;
using weft::JoinHandle;
using weft::Task;


template <class T>
void wait_done(const JoinHandle<T>& handle) {
  while (!handle.done()) std::this_thread::yield();
}

// Occupies the only worker of a one-worker runtime until released, so that tasks woken
// meanwhile (by a cancel or a hand-over) cannot run yet.
struct WorkerBlocker {
  std::atomic<bool> started{false};
  std::atomic<bool> release{false};
  Task<void> run() {
    started = true;
    while (!release.load()) std::this_thread::yield();
    co_return;
  }
  void wait_started() {
    while (!started.load()) std::this_thread::yield();
  }
};

TEST(Channel, CapacityZeroIsInvalidArgument) {
  EXPECT_THROW(Channel<int>(0), std::invalid_argument);
  Channel<int> one(1);
  EXPECT_EQ(one.capacity(), 1u);
}

TEST(Channel, NegativeCapacityIsInvalidArgument) {
  EXPECT_THROW(Channel<int>(-1), std::invalid_argument);
  EXPECT_THROW(Channel<int>(std::int64_t{-5}), std::invalid_argument);
  Channel<int> three(3);  // a signed literal that is valid
  EXPECT_EQ(three.capacity(), 3u);
  Channel<int> sized(std::size_t{2});
  EXPECT_EQ(sized.capacity(), 2u);
}

TEST(Channel, BoundedPreservesFifoOrder) {
  weft::Runtime rt({.workers = 2});
  Channel<int> ch(3);
  constexpr int kCount = 1000;
  auto producer = [&]() -> Task<void> {
    for (int i = 0; i < kCount; ++i) co_await ch.send(i);
  };
  auto consumer = [&]() -> Task<std::vector<int>> {
    std::vector<int> got;
    for (int i = 0; i < kCount; ++i) {
      int v = co_await ch.recv();
      got.push_back(v);
    }
    co_return got;
  };
  auto p = rt.spawn(producer());
  std::vector<int> got = rt.block_on(consumer());
  wait_done(p);
  ASSERT_EQ(got.size(), static_cast<std::size_t>(kCount));
  for (int i = 0; i < kCount; ++i) ASSERT_EQ(got[i], i);
  EXPECT_EQ(ch.size(), 0u);
}

// CPython: test_queues.py::QueueGetTests::test_get_with_waiting_putters
TEST(Channel, FullChannelMakesTheSenderWaitAndRecvPullsItsValue) {
  weft::Runtime rt({.workers = 2});
  Channel<std::string> ch(2);
  std::atomic<bool> third_sent{false};
  auto sender = [&]() -> Task<void> {
    co_await ch.send(std::string("a"));
    co_await ch.send(std::string("b"));
    co_await ch.send(std::string("c"));  // waits: the buffer holds two
    third_sent = true;
  };
  auto s = rt.spawn(sender());
  wait_until_awaiting(rt, s.id(), "channel send");
  EXPECT_FALSE(third_sent.load());
  EXPECT_EQ(ch.size(), 2u);
  // The recv frees a place: "c" moves into the buffer at once, behind "b".
  EXPECT_EQ(ch.try_recv(), std::optional<std::string>("a"));
  EXPECT_EQ(ch.size(), 2u);
  wait_done(s);
  EXPECT_TRUE(third_sent.load());
  EXPECT_FALSE(s.cancelled());
  EXPECT_EQ(ch.try_recv(), std::optional<std::string>("b"));
  EXPECT_EQ(ch.try_recv(), std::optional<std::string>("c"));
  EXPECT_EQ(ch.try_recv(), std::nullopt);
}

TEST(Channel, UnboundedSendNeverWaits) {
  weft::Runtime rt({.workers = 2});
  auto ch = Channel<int>::unbounded();
  constexpr int kCount = 10000;
  auto sender = [&]() -> Task<void> {
    for (int i = 0; i < kCount; ++i) co_await ch.send(i);
  };
  rt.block_on(sender());  // no receiver at all: it would hang if a send waited
  EXPECT_EQ(ch.size(), static_cast<std::size_t>(kCount));
  for (int i = 0; i < kCount; ++i) ASSERT_EQ(ch.try_recv(), std::optional<int>(i));
  EXPECT_TRUE(ch.try_send(1));
}

// CPython: test_queues.py::QueueGetTests::test_nonblocking_get,
//          test_queues.py::QueuePutTests::test_nonblocking_put
TEST(Channel, TrySendAndTryRecvNeverWait) {
  Channel<int> ch(2);
  EXPECT_EQ(ch.try_recv(), std::nullopt);  // empty
  EXPECT_TRUE(ch.try_send(1));
  EXPECT_TRUE(ch.try_send(2));
  EXPECT_FALSE(ch.try_send(3));  // full
  EXPECT_EQ(ch.size(), 2u);
  EXPECT_EQ(ch.try_recv(), std::optional<int>(1));
  EXPECT_TRUE(ch.try_send(4));
  ch.close();
  EXPECT_TRUE(ch.closed());
  EXPECT_FALSE(ch.try_send(5));  // closed
  EXPECT_EQ(ch.try_recv(), std::optional<int>(2));  // buffered values survive close
  EXPECT_EQ(ch.try_recv(), std::optional<int>(4));
  EXPECT_EQ(ch.try_recv(), std::nullopt);  // closed and drained
}

TEST(Channel, MoveOnlyValues) {
  weft::Runtime rt({.workers = 2});
  Channel<std::unique_ptr<int>> ch(1);
  auto pingpong = [&]() -> Task<int> {
    co_await ch.send(std::make_unique<int>(41));
    std::unique_ptr<int> p = co_await ch.recv();
    co_return *p + 1;
  };
  EXPECT_EQ(rt.block_on(pingpong()), 42);
  // A failed try_send leaves the argument with the caller.
  EXPECT_TRUE(ch.try_send(std::make_unique<int>(1)));
  auto keep = std::make_unique<int>(2);
  EXPECT_FALSE(ch.try_send(std::move(keep)));
  ASSERT_NE(keep, nullptr);
  EXPECT_EQ(*keep, 2);
  std::optional<std::unique_ptr<int>> got = ch.try_recv();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(**got, 1);
}

// CPython: test_queues.py::QueueGetTests::test_why_are_getters_waiting
TEST(Channel, ReceiversAreServedInArrivalOrder) {
  weft::Runtime rt({.workers = 2});
  Channel<int> ch(4);
  auto receiver = [&]() -> Task<int> {
    int v = co_await ch.recv();
    co_return v;
  };
  std::vector<JoinHandle<int>> receivers;
  for (int i = 0; i < 3; ++i) {
    receivers.push_back(rt.spawn(receiver()));
    wait_until_awaiting(rt, receivers.back().id(), "channel recv");
  }
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(ch.try_send(i));
  for (int i = 0; i < 3; ++i) {
    wait_done(receivers[i]);
    EXPECT_EQ(receivers[i].result(), i);
  }
  EXPECT_EQ(ch.size(), 0u);
}

TEST(Channel, SendersAreServedInArrivalOrder) {
  weft::Runtime rt({.workers = 2});
  Channel<int> ch(1);
  ASSERT_TRUE(ch.try_send(0));
  auto sender = [&](int v) -> Task<void> { co_await ch.send(v); };
  std::vector<JoinHandle<void>> senders;
  for (int i = 1; i <= 3; ++i) {
    senders.push_back(rt.spawn(sender(i)));
    wait_until_awaiting(rt, senders.back().id(), "channel send");
  }
  auto drain = [&]() -> Task<std::vector<int>> {
    std::vector<int> got;
    for (int i = 0; i < 4; ++i) {
      int v = co_await ch.recv();
      got.push_back(v);
    }
    co_return got;
  };
  EXPECT_EQ(rt.block_on(drain()), (std::vector<int>{0, 1, 2, 3}));
  for (auto& s : senders) wait_done(s);
}

// CPython: test_queues.py::QueueShutdownTests::test_shutdown_empty,
//          test_queues.py::QueueShutdownTests::test_shutdown_nonempty
TEST(Channel, CloseWakesWaitingReceiversWithChannelClosed) {
  weft::Runtime rt({.workers = 2});
  Channel<int> ch(2);
  auto receiver = [&]() -> Task<bool> {
    try {
      (void)co_await ch.recv();
    } catch (const ChannelClosed&) {
      co_return true;
    }
    co_return false;
  };
  auto r1 = rt.spawn(receiver());
  auto r2 = rt.spawn(receiver());
  wait_until_awaiting(rt, r1.id(), "channel recv");
  wait_until_awaiting(rt, r2.id(), "channel recv");
  ch.close();
  wait_done(r1);
  wait_done(r2);
  EXPECT_TRUE(r1.result());
  EXPECT_TRUE(r2.result());
  // recv on a closed, drained channel throws at once; so does send.
  auto late = [&]() -> Task<int> {
    int closed_errors = 0;
    try {
      (void)co_await ch.recv();
    } catch (const ChannelClosed&) {
      ++closed_errors;
    }
    try {
      co_await ch.send(1);
    } catch (const ChannelClosed&) {
      ++closed_errors;
    }
    co_return closed_errors;
  };
  EXPECT_EQ(rt.block_on(late()), 2);
}

// CPython: test_queues.py::QueueShutdownTests::test_shutdown_nonempty (values put before
// shutdown are still got; then get raises)
TEST(Channel, BufferedValuesAreStillReceivedAfterClose) {
  weft::Runtime rt({.workers = 2});
  Channel<int> ch(4);
  ASSERT_TRUE(ch.try_send(1));
  ASSERT_TRUE(ch.try_send(2));
  ch.close();
  auto drain = [&]() -> Task<std::vector<int>> {
    std::vector<int> got;
    for (;;) {
      try {
        int v = co_await ch.recv();
        got.push_back(v);
      } catch (const ChannelClosed&) {
        break;
      }
    }
    co_return got;
  };
  EXPECT_EQ(rt.block_on(drain()), (std::vector<int>{1, 2}));
}

// CPython: test_queues.py::QueueShutdownTests::test_shutdown_put (a putter waiting on a
// full queue raises QueueShutDown)
TEST(Channel, CloseWakesWaitingSendersWithChannelClosed) {
  weft::Runtime rt({.workers = 2});
  Channel<int> ch(1);
  ASSERT_TRUE(ch.try_send(1));
  auto sender = [&]() -> Task<bool> {
    try {
      co_await ch.send(2);
    } catch (const ChannelClosed&) {
      co_return true;
    }
    co_return false;
  };
  auto s = rt.spawn(sender());
  wait_until_awaiting(rt, s.id(), "channel send");
  ch.close();
  wait_done(s);
  EXPECT_TRUE(s.result());
  // The waiting sender's value was dropped; the buffered one remains.
  EXPECT_EQ(ch.try_recv(), std::optional<int>(1));
  EXPECT_EQ(ch.try_recv(), std::nullopt);
}

// CPython: test_queues.py::QueueGetTests::test_cancelled_getters_not_being_held_in_self_getters,
//          test_queues.py::QueueGetTests::test_get_cancelled_race
TEST(Channel, CancelledReceiverLeavesTheQueue) {
  weft::Runtime rt({.workers = 2});
  Channel<int> ch(1);
  auto receiver = [&]() -> Task<int> {
    int v = co_await ch.recv();
    co_return v;
  };
  auto r1 = rt.spawn(receiver());
  wait_until_awaiting(rt, r1.id(), "channel recv");
  auto r2 = rt.spawn(receiver());
  wait_until_awaiting(rt, r2.id(), "channel recv");
  EXPECT_TRUE(r1.cancel("stop"));
  wait_done(r1);
  EXPECT_TRUE(r1.cancelled());
  // The next value goes to r2, not to the cancelled r1.
  EXPECT_TRUE(ch.try_send(42));
  wait_done(r2);
  EXPECT_EQ(r2.result(), 42);
  EXPECT_EQ(ch.size(), 0u);
}

// CPython: test_queues.py::QueuePutTests::test_put_cancelled_race
TEST(Channel, CancelledSendersValueIsNotDelivered) {
  weft::Runtime rt({.workers = 2});
  Channel<int> ch(1);
  ASSERT_TRUE(ch.try_send(1));
  std::atomic<bool> caught{false};
  auto sender = [&](int v) -> Task<void> {
    try {
      co_await ch.send(v);
    } catch (const CancelledError&) {
      caught = true;
      throw;
    }
  };
  auto s1 = rt.spawn(sender(2));
  wait_until_awaiting(rt, s1.id(), "channel send");
  auto s2 = rt.spawn(sender(3));
  wait_until_awaiting(rt, s2.id(), "channel send");
  EXPECT_TRUE(s1.cancel());
  wait_done(s1);
  EXPECT_TRUE(s1.cancelled());
  EXPECT_TRUE(caught.load());
  EXPECT_EQ(ch.try_recv(), std::optional<int>(1));
  wait_done(s2);  // its value moved into the buffer when 1 left
  EXPECT_FALSE(s2.cancelled());
  EXPECT_EQ(ch.try_recv(), std::optional<int>(3));
  EXPECT_EQ(ch.try_recv(), std::nullopt);
}

// The receiver's cell is cancelled, but the receiver has not run yet (the only worker
// is busy), so its node is still queued when the value arrives: the hand-over loses,
// the value is taken back and goes to the next receiver. API.md: "A receiver cancelled
// while a value was being handed to it must not lose the value."
// CPython: test_queues.py::QueueGetTests::test_get_cancelled_race
TEST(Channel, ValueHandedToACancelledReceiverGoesToTheNextOne) {
  weft::Runtime rt({.workers = 1});
  Channel<int> ch(1);
  auto receiver = [&]() -> Task<int> {
    int v = co_await ch.recv();
    co_return v;
  };
  auto r1 = rt.spawn(receiver());
  wait_until_awaiting(rt, r1.id(), "channel recv");
  auto r2 = rt.spawn(receiver());
  wait_until_awaiting(rt, r2.id(), "channel recv");
  WorkerBlocker blocker;
  auto b = rt.spawn(blocker.run());
  blocker.wait_started();
  EXPECT_TRUE(r1.cancel());      // wins r1's cell; r1 cannot run to remove its node
  EXPECT_TRUE(ch.try_send(7));   // pops r1 (lost hand-over), takes 7 back, gives it to r2
  EXPECT_EQ(ch.size(), 0u);
  blocker.release = true;
  wait_done(b);
  wait_done(r1);
  wait_done(r2);
  EXPECT_TRUE(r1.cancelled());
  EXPECT_EQ(r2.result(), 7);
}

// As above with no other receiver: the value taken back is buffered, not lost.
TEST(Channel, ValueHandedToTheOnlyCancelledReceiverIsBuffered) {
  weft::Runtime rt({.workers = 1});
  Channel<int> ch(1);
  auto receiver = [&]() -> Task<int> {
    int v = co_await ch.recv();
    co_return v;
  };
  auto r1 = rt.spawn(receiver());
  wait_until_awaiting(rt, r1.id(), "channel recv");
  WorkerBlocker blocker;
  auto b = rt.spawn(blocker.run());
  blocker.wait_started();
  EXPECT_TRUE(r1.cancel());
  EXPECT_TRUE(ch.try_send(9));
  EXPECT_EQ(ch.size(), 1u);
  blocker.release = true;
  wait_done(b);
  wait_done(r1);
  EXPECT_TRUE(r1.cancelled());
  EXPECT_EQ(ch.try_recv(), std::optional<int>(9));
}

// The sender's cell is cancelled before a recv frees a place: the recv pulls its value
// into the buffer, loses the hand-over and gives the value back: it is not delivered.
// CPython: test_queues.py::QueuePutTests::test_put_cancelled_race
TEST(Channel, ValuePulledFromACancelledSenderIsGivenBack) {
  weft::Runtime rt({.workers = 1});
  Channel<int> ch(1);
  ASSERT_TRUE(ch.try_send(1));
  auto sender = [&](int v) -> Task<void> { co_await ch.send(v); };
  auto s1 = rt.spawn(sender(2));
  wait_until_awaiting(rt, s1.id(), "channel send");
  auto s2 = rt.spawn(sender(3));
  wait_until_awaiting(rt, s2.id(), "channel send");
  WorkerBlocker blocker;
  auto b = rt.spawn(blocker.run());
  blocker.wait_started();
  EXPECT_TRUE(s1.cancel());
  EXPECT_EQ(ch.try_recv(), std::optional<int>(1));  // skips s1, pulls 3 from s2
  EXPECT_EQ(ch.size(), 1u);
  blocker.release = true;
  wait_done(b);
  wait_done(s1);
  wait_done(s2);
  EXPECT_TRUE(s1.cancelled());
  EXPECT_FALSE(s2.cancelled());
  EXPECT_EQ(ch.try_recv(), std::optional<int>(3));
  EXPECT_EQ(ch.try_recv(), std::nullopt);
}

// A send that won its hand-over completes normally even if the cancel arrives right
// after; the request is delivered at the next suspension point.
TEST(Channel, CompletedRecvReturnsItsValueThoughCancelledAfterwards) {
  weft::Runtime rt({.workers = 1});
  Channel<int> ch(1);
  std::atomic<int> received{0};
  auto receiver = [&]() -> Task<void> {
    int v = co_await ch.recv();
    received = v;
    co_await weft::this_task::yield();  // the cancel is delivered here
    received = -1;
  };
  auto r = rt.spawn(receiver());
  wait_until_awaiting(rt, r.id(), "channel recv");
  WorkerBlocker blocker;
  auto b = rt.spawn(blocker.run());
  blocker.wait_started();
  EXPECT_TRUE(ch.try_send(5));  // wins the hand-over
  EXPECT_TRUE(r.cancel());      // too late for this wait
  blocker.release = true;
  wait_done(b);
  wait_done(r);
  EXPECT_TRUE(r.cancelled());
  EXPECT_EQ(received.load(), 5);
  EXPECT_EQ(ch.size(), 0u);
}

TEST(Channel, TrySendFromAForeignThreadWakesAReceiver) {
  weft::Runtime rt({.workers = 2});
  Channel<int> ch(1);
  auto receiver = [&]() -> Task<int> {
    int v = co_await ch.recv();
    co_return v;
  };
  auto r = rt.spawn(receiver());
  wait_until_awaiting(rt, r.id(), "channel recv");
  bool sent = false;
  std::thread foreign([&] { sent = ch.try_send(11); });
  foreign.join();
  EXPECT_TRUE(sent);
  wait_done(r);
  EXPECT_EQ(r.result(), 11);
}

TEST(Channel, CancelPendingBeforeRecvThrowsWithoutTakingAValue) {
  weft::Runtime rt({.workers = 2});
  Channel<int> ch(1);
  ASSERT_TRUE(ch.try_send(1));
  std::atomic<bool> go{false};
  auto receiver = [&]() -> Task<void> {
    while (!go.load()) std::this_thread::yield();
    (void)co_await ch.recv();
  };
  auto r = rt.spawn(receiver());
  while (true) {  // wait until it runs, so the request is pending rather than pre-start
    bool running = false;
    for (const weft::TaskInfo& info : rt.tasks())
      if (info.id == r.id() && info.state == weft::TaskState::Running) running = true;
    if (running) break;
    std::this_thread::yield();
  }
  EXPECT_TRUE(r.cancel());
  go = true;
  wait_done(r);
  EXPECT_TRUE(r.cancelled());
  EXPECT_EQ(ch.try_recv(), std::optional<int>(1));
}

}  // namespace
