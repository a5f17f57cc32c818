// Checks that a Channel loses and duplicates nothing under a storm of cancellations
// (API.md, "Synchronisation": "all waits cancellable, FIFO fair, nothing lost"), run
// under ThreadSanitizer in CI. Four producers send distinct values, four consumers
// receive them, on four workers; an outside thread cancels consumers at random (each
// replaced by a fresh one, so producers always make progress) and two producers, and
// also uses try_send / try_recv itself. At the end every task still running (producers
// and consumers) is cancelled and, once all have ended, the channel is drained with
// try_recv. Then, value by value: it was received or drained
// exactly once iff its send completed (co_await send returned, or try_send returned
// true), and never otherwise; so the sums match too. Bounded (capacity 1 and 8) and
// unbounded. The random order prints its seed; WEFT_TEST_SEED=<n> replays one.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <test_scale.hpp>
#include <weft/channel.hpp>
#include <weft/weft.hpp>

#include "test_seed.hpp"

namespace {

using weft::CancelledError;
using weft::Channel;
using weft::ChannelClosed;
using weft::JoinHandle;
using weft::Task;

using weft::test::test_seed;

template <class T>
void wait_done(const JoinHandle<T>& handle) {
  while (!handle.done()) std::this_thread::yield();
}

constexpr int kProducers = 4;
constexpr int kConsumers = 4;
constexpr unsigned kWorkers = 4;

struct Ledger {
  explicit Ledger(std::size_t values) : sent(values + 1), seen(values + 1) {}
  // Per value: its send completed (1) or not (0); how often it was received or drained.
  std::vector<std::atomic<std::uint8_t>> sent;
  std::vector<std::atomic<std::uint32_t>> seen;
  std::atomic<std::uint64_t> sent_sum{0};
  std::atomic<std::uint64_t> sent_count{0};
  std::atomic<std::uint64_t> received_sum{0};
};

void storm(Channel<std::uint64_t>& ch) {
  const std::uint64_t seed = test_seed();
  const std::uint64_t per_producer = weft::test::scaled(200000);
  const int cancellations = static_cast<int>(weft::test::scaled(200));
  // Values: producer p sends p*per_producer+1 .. (p+1)*per_producer; the outside
  // thread's try_send values follow.
  const std::uint64_t foreign_base = kProducers * per_producer;
  const std::uint64_t foreign_values = 1000;
  Ledger ledger(foreign_base + foreign_values);

  weft::Runtime rt({.workers = kWorkers});

  auto producer = [&](int p) -> Task<void> {
    for (std::uint64_t i = 1; i <= per_producer; ++i) {
      const std::uint64_t v = static_cast<std::uint64_t>(p) * per_producer + i;
      co_await ch.send(v);  // a CancelledError here: v was not sent
      ledger.sent[v].store(1, std::memory_order_relaxed);
      ledger.sent_sum.fetch_add(v, std::memory_order_relaxed);
      ledger.sent_count.fetch_add(1, std::memory_order_relaxed);
    }
  };
  auto consumer = [&]() -> Task<void> {
    for (;;) {
      std::uint64_t v = 0;
      try {
        v = co_await ch.recv();
      } catch (const ChannelClosed&) {
        co_return;
      }
      // No suspension point between the recv and the bookkeeping.
      ledger.seen[v].fetch_add(1, std::memory_order_relaxed);
      ledger.received_sum.fetch_add(v, std::memory_order_relaxed);
    }
  };

  std::vector<JoinHandle<void>> producers;
  for (int p = 0; p < kProducers; ++p) producers.push_back(rt.spawn(producer(p)));
  std::vector<JoinHandle<void>> consumers;
  for (int c = 0; c < kConsumers; ++c) consumers.push_back(rt.spawn(consumer()));
  std::vector<JoinHandle<void>> retired;

  // The outside thread: cancels a random consumer and replaces it; cancels producers 0
  // and 1 at random moments; sends and receives now and then itself.
  std::thread outside([&] {
    std::mt19937_64 rng(seed);
    // Producers 0 and 1 are cancelled when the count of values sent passes a random
    // mark; the storm goes on until 2/5 of the producers' values were sent, so that the
    // final cancels catch the others mid-run (the two left alone can still get there).
    const std::uint64_t goal = foreign_base * 2 / 5;
    const std::uint64_t cancel_producer_at[2] = {rng() % goal, rng() % goal};
    bool producer_cancelled[2] = {false, false};
    std::uint64_t next_foreign = foreign_base + 1;
    for (int k = 0; k < cancellations || ledger.sent_count.load() < goal; ++k) {
      for (int spin = static_cast<int>(rng() % 16); spin > 0; --spin) std::this_thread::yield();
      const std::size_t c = rng() % kConsumers;
      consumers[c].cancel("storm");
      retired.push_back(std::move(consumers[c]));
      consumers[c] = rt.spawn(consumer());
      for (int p = 0; p < 2; ++p) {
        if (!producer_cancelled[p] && ledger.sent_count.load() >= cancel_producer_at[p]) {
          producers[p].cancel("storm");
          producer_cancelled[p] = true;
        }
      }
      if (rng() % 4 == 0 && next_foreign <= foreign_base + foreign_values) {
        const std::uint64_t v = next_foreign;
        // Recorded before the send: a consumer may see it before try_send returns.
        ledger.sent[v].store(1, std::memory_order_relaxed);
        if (ch.try_send(std::uint64_t{v})) {
          ledger.sent_sum.fetch_add(v, std::memory_order_relaxed);
          ++next_foreign;
        } else {
          ledger.sent[v].store(0, std::memory_order_relaxed);
        }
      }
      if (rng() % 4 == 0) {
        if (std::optional<std::uint64_t> v = ch.try_recv()) {
          ledger.seen[*v].fetch_add(1, std::memory_order_relaxed);
          ledger.received_sum.fetch_add(*v, std::memory_order_relaxed);
        }
      }
    }
  });
  outside.join();

  // The end: cancel everyone still running, producers (mid-send, probably) and
  // consumers alike, and wait for all; what is left is in the buffer.
  for (auto& p : producers) p.cancel("end");
  for (auto& c : consumers) c.cancel("end");
  for (auto& p : producers) wait_done(p);
  for (auto& c : consumers) wait_done(c);
  for (auto& c : retired) wait_done(c);

  std::uint64_t buffered_sum = 0;
  std::size_t buffered = 0;
  while (std::optional<std::uint64_t> v = ch.try_recv()) {
    ledger.seen[*v].fetch_add(1, std::memory_order_relaxed);
    buffered_sum += *v;
    ++buffered;
  }
  EXPECT_EQ(ch.size(), 0u);
  ch.close();

  std::size_t mismatches = 0;
  for (std::size_t v = 1; v < ledger.sent.size(); ++v) {
    const unsigned sent = ledger.sent[v].load();
    const unsigned seen = ledger.seen[v].load();
    if (sent != seen) {
      if (++mismatches <= 10) ADD_FAILURE() << "value " << v << ": sent " << sent << ", seen " << seen;
    }
  }
  EXPECT_EQ(mismatches, 0u);
  std::size_t cancelled_consumers = 0;
  for (auto& c : retired) cancelled_consumers += c.cancelled() ? 1 : 0;
  int cancelled_producers = 0;
  for (auto& p : producers) cancelled_producers += p.cancelled() ? 1 : 0;
  std::cout << "[   INFO   ] consumers cancelled " << cancelled_consumers << "/" << retired.size()
            << ", producers cancelled " << cancelled_producers
            << ", values sent " << ledger.sent_sum.load() << " (sum), buffered at the end " << buffered << std::endl;
  EXPECT_EQ(ledger.sent_sum.load(), ledger.received_sum.load() + buffered_sum)
      << "buffered at the end: " << buffered;
}

TEST(ChannelConcurrent, StormCapacity1) {
  Channel<std::uint64_t> ch(1);
  storm(ch);
}

TEST(ChannelConcurrent, StormCapacity8) {
  Channel<std::uint64_t> ch(8);
  storm(ch);
}

TEST(ChannelConcurrent, StormUnbounded) {
  auto ch = Channel<std::uint64_t>::unbounded();
  storm(ch);
}

// Receivers and a foreign try_send race with cancels of those receivers: every value
// the foreign thread sent ends up received exactly once or buffered.
TEST(ChannelConcurrent, ForeignTrySendRacesReceiverCancels) {
  const std::uint64_t seed = test_seed();
  const int rounds = static_cast<int>(weft::test::scaled(200));
  weft::Runtime rt({.workers = kWorkers});
  Channel<int> ch(4);
  std::atomic<long> received{0};
  auto receiver = [&]() -> Task<void> {
    int v = co_await ch.recv();
    received.fetch_add(v, std::memory_order_relaxed);
  };
  std::mt19937_64 rng(seed);
  long sent = 0;
  for (int round = 0; round < rounds; ++round) {
    auto r1 = rt.spawn(receiver());
    auto r2 = rt.spawn(receiver());
    std::thread canceller([&r1, &r2, spin = static_cast<int>(rng() % 64)] {
      for (int i = spin; i > 0; --i) std::this_thread::yield();
      r1.cancel();
      r2.cancel();
    });
    for (int i = static_cast<int>(rng() % 64); i > 0; --i) std::this_thread::yield();
    if (ch.try_send(1)) ++sent;
    canceller.join();
    wait_done(r1);
    wait_done(r2);
  }
  long buffered = 0;
  while (std::optional<int> v = ch.try_recv()) buffered += *v;
  EXPECT_EQ(sent, received.load() + buffered);
}

}  // namespace
