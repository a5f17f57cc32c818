// Parker: token semantics (an unpark before park makes park return at once; many
// unparks leave one token), timeouts (park_for/park_until return false when no
// token comes; only the result is asserted, never the elapsed time), and no lost
// wake-up across threads: 100,000 ping-pong handoffs between two threads, many
// wakers on one parker, and unpark() publishing the waker's writes (checked by
// ThreadSanitizer through a plain, otherwise unsynchronised field); announced_sleep()
// from the park's announcement until the unpark.
#include "weft/core/parker.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <latch>
#include <thread>
#include <vector>

namespace {

using weft::detail::Parker;
using namespace std::chrono_literals;

#if defined(WEFT_TSAN) || defined(WEFT_ASAN)
constexpr std::uint64_t kHandoffs = 20'000;
#else
constexpr std::uint64_t kHandoffs = 100'000;
#endif

// Long enough never to expire in a correct run; a park that hits it means the
// wake-up was lost. Counted and asserted zero rather than hanging the test.
constexpr auto kLostWakeupGuard = 60s;

TEST(Parker, UnparkBeforeParkReturnsAtOnce) {
  Parker p;
  p.unpark();
  p.park();  // would block forever if the token were lost
  p.unpark();
  EXPECT_TRUE(p.park_for(1h));
  p.unpark();
  EXPECT_TRUE(p.park_until(std::chrono::steady_clock::now() + 1h));
  p.unpark();
  EXPECT_TRUE(p.park_for(0ns)) << "a zero timeout still consumes an existing token";
}

TEST(Parker, AnnouncedSleepHoldsFromTheParkUntilAnUnpark) {
  Parker p;
  EXPECT_FALSE(p.announced_sleep());
  p.unpark();
  EXPECT_FALSE(p.announced_sleep()) << "a token is not a sleep";
  p.park();
  EXPECT_FALSE(p.announced_sleep()) << "a park that consumed a token never slept";
  std::thread owner([&] { p.park(); });
  // Bounded only for a failing run: the owner announces its sleep before the futex wait.
  const auto give_up = std::chrono::steady_clock::now() + kLostWakeupGuard;
  while (!p.announced_sleep() && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
  EXPECT_TRUE(p.announced_sleep());
  p.unpark();
  EXPECT_FALSE(p.announced_sleep()) << "the unpark replaced the announcement with a token";
  owner.join();
  EXPECT_FALSE(p.announced_sleep());
}

TEST(Parker, TimesOutWithoutToken) {
  Parker p;
  EXPECT_FALSE(p.park_for(1ms));
  EXPECT_FALSE(p.park_for(0ns));
  EXPECT_FALSE(p.park_for(-5ms));
  EXPECT_FALSE(p.park_until(std::chrono::steady_clock::now() - 1s));
  EXPECT_FALSE(p.park_until(std::chrono::steady_clock::now() + 1ms));
  // Still usable after timeouts.
  p.unpark();
  EXPECT_TRUE(p.park_for(1ms));
}

TEST(Parker, HugeTimeoutDoesNotOverflow) {
  Parker p;
  p.unpark();
  EXPECT_TRUE(p.park_for(std::chrono::nanoseconds::max()));
  p.unpark();
  EXPECT_TRUE(p.park_until(std::chrono::steady_clock::time_point::max()));
}

TEST(Parker, TokenIsConsumedOnce) {
  Parker p;
  p.unpark();
  EXPECT_TRUE(p.park_for(1ms));
  EXPECT_FALSE(p.park_for(1ms)) << "the token was already consumed";
}

TEST(Parker, ManyUnparksCoalesceIntoOneToken) {
  Parker p;
  for (int i = 0; i < 1000; ++i) p.unpark();
  p.park();
  EXPECT_FALSE(p.park_for(1ms)) << "1000 unparks must leave a single token";
}

TEST(Parker, ManyUnparksFromManyThreadsCoalesce) {
  Parker p;
  constexpr int kThreads = 4;
  std::latch start(kThreads);
  std::vector<std::thread> ts;
  for (int i = 0; i < kThreads; ++i) {
    ts.emplace_back([&] {
      start.arrive_and_wait();
      for (int j = 0; j < 1000; ++j) p.unpark();
    });
  }
  for (auto& t : ts) t.join();
  p.park();
  EXPECT_FALSE(p.park_for(1ms));
}

// Two threads pass a turn back and forth through a shared counter: thread A may
// act when the counter is even, B when it is odd. Each publishes the next value
// and unparks the other, then parks until its turn comes back. A lost wake-up
// would leave a thread asleep with its turn pending.
TEST(Parker, PingPongHasNoLostWakeup) {
  Parker pa, pb;
  std::atomic<std::uint64_t> turn{0};
  std::atomic<std::uint64_t> guard_hits{0};
  std::latch start(2);

  auto player = [&](Parker& self, Parker& other, std::uint64_t parity) {
    start.arrive_and_wait();
    for (std::uint64_t i = 0; i < kHandoffs; ++i) {
      const std::uint64_t mine = 2 * i + parity;
      // Acquire: pairs with the other player's release store of `turn`.
      while (turn.load(std::memory_order_acquire) != mine) {
        if (!self.park_for(kLostWakeupGuard)) guard_hits.fetch_add(1);
      }
      turn.store(mine + 1, std::memory_order_release);
      other.unpark();
    }
  };
  std::thread a(player, std::ref(pa), std::ref(pb), 0);
  std::thread b(player, std::ref(pb), std::ref(pa), 1);
  a.join();
  b.join();
  EXPECT_EQ(turn.load(), 2 * kHandoffs);
  EXPECT_EQ(guard_hits.load(), 0u) << "a park timed out: an unpark was lost";
}

// Same protocol with park() and no timeout at all: a lost wake-up hangs the test
// (ctest's timeout catches it); a correct parker finishes.
TEST(Parker, PingPongWithUntimedPark) {
  Parker pa, pb;
  std::atomic<std::uint64_t> turn{0};
  std::latch start(2);
  auto player = [&](Parker& self, Parker& other, std::uint64_t parity) {
    start.arrive_and_wait();
    for (std::uint64_t i = 0; i < kHandoffs / 2; ++i) {
      const std::uint64_t mine = 2 * i + parity;
      while (turn.load(std::memory_order_acquire) != mine) self.park();
      turn.store(mine + 1, std::memory_order_release);
      other.unpark();
    }
  };
  std::thread a(player, std::ref(pa), std::ref(pb), 0);
  std::thread b(player, std::ref(pb), std::ref(pa), 1);
  a.join();
  b.join();
  EXPECT_EQ(turn.load(), kHandoffs);
}

// Several wakers each add to a counter and unpark; the owner parks until it has
// seen them all. Every increment is followed by an unpark, so the owner cannot
// sleep forever with the count short.
TEST(Parker, ManyWakersNoLostWakeup) {
  constexpr int kWakers = 3;
  constexpr std::uint64_t kPerWaker = kHandoffs / 4;
  Parker p;
  std::atomic<std::uint64_t> count{0};
  std::uint64_t guard_hits = 0;
  std::latch start(kWakers + 1);
  std::vector<std::thread> ws;
  for (int w = 0; w < kWakers; ++w) {
    ws.emplace_back([&] {
      start.arrive_and_wait();
      for (std::uint64_t i = 0; i < kPerWaker; ++i) {
        count.fetch_add(1, std::memory_order_release);
        p.unpark();
      }
    });
  }
  start.arrive_and_wait();
  while (count.load(std::memory_order_acquire) != kWakers * kPerWaker) {
    if (!p.park_for(kLostWakeupGuard)) ++guard_hits;
  }
  for (auto& t : ws) t.join();
  EXPECT_EQ(guard_hits, 0u) << "a park timed out: an unpark was lost";
}

// unpark() releases and a consumed token acquires: a plain field written before
// unpark() is readable after park() returns, with no other synchronisation.
// (ThreadSanitizer reports a race here if the orderings are too weak.)
TEST(Parker, UnparkPublishesPriorWrites) {
  Parker p;
  for (int round = 0; round < 1000; ++round) {
    int payload = 0;
    std::thread waker([&] {
      payload = round + 1;
      p.unpark();
    });
    p.park();
    EXPECT_EQ(payload, round + 1);
    waker.join();
  }
}

}  // namespace
