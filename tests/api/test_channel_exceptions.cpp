// Channel<T> and exceptions: a move of T that throws, or std::bad_alloc while the
// buffer grows, in the middle of a hand-over to or from a waiting task. The exception
// reaches the caller and nothing else changes: no waiter leaves its queue without its
// hand-over (it would wait forever), no value is lost. A test-local operator new fails
// the next allocation on the test thread on demand. (Found by a review: before the fix,
// a throw stranded the waiter.)
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include <weft/weft.hpp>

#include "failing_operator_new.hpp"
#include "runtime_helpers.hpp"

namespace {

using weft::Channel;
using weft::JoinHandle;
using weft::Task;
using weft::test::eventually;
using weft::test::wait_until_awaiting;

// Only bounds a failing run: a task handed over resumes within microseconds.
constexpr std::chrono::milliseconds kResumed{10000};

// A value whose move constructor throws on the N-th move from now (N counted from 0),
// once. Channel<T> documents only "T must be move-constructible; it may be move-only".
struct Fragile {
  static inline std::atomic<int> throw_in{-1};
  int v = 0;
  explicit Fragile(int x) : v(x) {}
  Fragile(Fragile&& other) : v(other.v) {
    int n = throw_in.load();
    if (n == 0) {
      throw_in = -1;
      throw std::runtime_error("Fragile: move failed");
    }
    if (n > 0) throw_in = n - 1;
  }
  Fragile& operator=(Fragile&&) = delete;
};

// A receive refills the buffer from the waiting sender. For each k, the k-th move in
// try_recv throws; afterwards the sender's value 2 must still be receivable and the
// sender must end (before the fix the sender left its queue before its value was moved,
// and a throw left it waiting forever).
TEST(ChannelExceptions, AThrowingRefillLeavesTheWaitingSenderQueued) {
  for (int k = 0; k < 3; ++k) {
    SCOPED_TRACE("throwing move #" + std::to_string(k));
    weft::Runtime rt({.workers = 1});
    Channel<Fragile> ch(1);
    ASSERT_TRUE(ch.try_send(Fragile(1)));
    auto sender = [&]() -> Task<void> { co_await ch.send(Fragile(2)); };
    auto s = rt.spawn(sender());
    wait_until_awaiting(rt, s.id(), "channel send");
    Fragile::throw_in = k;
    bool threw = false;
    try {
      (void)ch.try_recv();
    } catch (const std::runtime_error&) {
      threw = true;
    }
    Fragile::throw_in = -1;
    EXPECT_TRUE(threw);
    bool got_two = false;
    for (int i = 0; i < 3; ++i)
      if (std::optional<Fragile> v = ch.try_recv(); v && v->v == 2) got_two = true;
    EXPECT_TRUE(got_two) << "the waiting sender's value is unreachable";
    EXPECT_TRUE(eventually([&] { return s.done(); }, kResumed)) << "the sender is never resumed";
    if (!s.done()) {
      s.cancel();  // the only way out: its cell is still WAITING, its node in no queue
      ASSERT_TRUE(eventually([&] { return s.done(); }, kResumed));
    }
  }
}

// A send delivers into the waiting receiver's slot. If that move throws, the receiver
// stays queued and the next value goes to it, not to the buffer past it.
TEST(ChannelExceptions, AThrowingDeliveryLeavesTheWaitingReceiverQueued) {
  for (int k = 0; k < 2; ++k) {
    SCOPED_TRACE("throwing move #" + std::to_string(k));
    weft::Runtime rt({.workers = 1});
    Channel<Fragile> ch(1);
    auto receiver = [&]() -> Task<int> {
      Fragile f = co_await ch.recv();
      co_return f.v;
    };
    auto r = rt.spawn(receiver());
    wait_until_awaiting(rt, r.id(), "channel recv");
    {
      Fragile first(1);
      Fragile::throw_in = k;  // move 0: into try_send's holder; move 1: into the node
      EXPECT_THROW((void)ch.try_send(std::move(first)), std::runtime_error);
      Fragile::throw_in = -1;
    }
    EXPECT_TRUE(ch.try_send(Fragile(2)));
    EXPECT_TRUE(eventually([&] { return r.done(); }, kResumed)) << "the receiver is never resumed";
    EXPECT_EQ(ch.size(), 0u) << "the value went to the buffer, past the waiting receiver";
    if (!r.done()) {
      r.cancel();
      ASSERT_TRUE(eventually([&] { return r.done(); }, kResumed));
    } else {
      EXPECT_EQ(r.result(), 2);
    }
  }
}

// The same with a plain Channel<std::uint64_t>: the buffer's emplace_back in a receive
// may allocate a block, and std::bad_alloc there must lose neither the value at the
// front nor the waiting sender. The first allocation on this thread fails
// while weft::test::fail_allocation_in is 1; each round shifts the deque by one element,
// until the refill needs a new block.

TEST(ChannelExceptions, BadAllocInTheRefillLosesNoValueAndNoSender) {
  if (!WEFT_TEST_FAILING_NEW) GTEST_SKIP() << "no replaceable operator new under ThreadSanitizer";
  weft::Runtime rt({.workers = 1});
  Channel<std::uint64_t> ch(1);
  ASSERT_TRUE(ch.try_send(std::uint64_t{0}));
  std::uint64_t next = 1;
  bool hit = false;
  for (int round = 0; round < 2000 && !hit; ++round) {
    const std::uint64_t mine = next++;
    auto sender = [&ch](std::uint64_t v) -> Task<void> { co_await ch.send(std::uint64_t{v}); };
    auto s = rt.spawn(sender(mine));
    wait_until_awaiting(rt, s.id(), "channel send");
    std::optional<std::uint64_t> got;
    weft::test::fail_allocation_in = 1;
    try {
      got = ch.try_recv();
    } catch (const std::bad_alloc&) {
      hit = true;
    }
    weft::test::fail_allocation_in = 0;
    if (!hit) {
      ASSERT_TRUE(got.has_value());
      ASSERT_TRUE(eventually([&] { return s.done(); }, kResumed));
      continue;
    }
    std::cout << "[   INFO   ] bad_alloc in round " << round << ", size now " << ch.size() << std::endl;
    bool got_mine = false;
    for (int i = 0; i < 3; ++i)
      if (std::optional<std::uint64_t> v = ch.try_recv(); v && *v == mine) got_mine = true;
    EXPECT_TRUE(got_mine) << "the waiting sender's value " << mine << " is unreachable";
    EXPECT_TRUE(eventually([&] { return s.done(); }, kResumed)) << "the sender is never resumed";
    if (!s.done()) {
      s.cancel();
      ASSERT_TRUE(eventually([&] { return s.done(); }, kResumed));
    }
  }
  EXPECT_TRUE(hit) << "no allocation failed in take_front";
}

}  // namespace
