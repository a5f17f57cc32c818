// WorkStealingDeque under concurrency: one owner pushing (one at a time and in bursts
// through push_many_reporting_empty) and popping a random mix while three thieves
// steal; every item must be taken exactly once (none lost, none duplicated),
// including while the buffer grows from capacity 2. Thieves
// also read the item's payload, written by the owner before push() and never
// synchronised otherwise, so ThreadSanitizer checks that push -> steal is a
// happens-before edge. A second test makes the owner pop the last item while
// the thieves race for it. Random choices use fixed seeds (printed on failure).
#include "weft/core/work_stealing_deque.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cstddef>
#include <cstdint>
#include <latch>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using weft::detail::WorkStealingDeque;

#if defined(WEFT_TSAN) || defined(WEFT_ASAN)
constexpr std::uint32_t kItems = 100'000;
constexpr int kLastItemRounds = 2'000;
#else
constexpr std::uint32_t kItems = 1'000'000;
constexpr int kLastItemRounds = 20'000;
#endif
constexpr std::size_t kThieves = 3;

struct Item {
  std::uint32_t id = 0;  // plain field: written by the owner before push()
};

void run_round(std::uint32_t seed) {
  SCOPED_TRACE("seed=" + std::to_string(seed));
  std::vector<Item> items(kItems);
  std::vector<std::atomic<std::uint8_t>> taken(kItems);
  for (auto& t : taken) t.store(0, std::memory_order_relaxed);
  std::atomic<std::uint32_t> bad_payloads{0};
  std::atomic<bool> owner_done{false};
  std::uint64_t owner_popped = 0;
  std::vector<std::uint64_t> stolen(kThieves, 0), retries(kThieves, 0);

  WorkStealingDeque<Item*> dq(2);
  std::latch start(static_cast<std::ptrdiff_t>(kThieves) + 1);

  auto take = [&](Item* it) {
    if (it->id != static_cast<std::uint32_t>(it - items.data())) {
      bad_payloads.fetch_add(1, std::memory_order_relaxed);
    }
    taken[static_cast<std::size_t>(it - items.data())].fetch_add(1, std::memory_order_relaxed);
  };

  std::vector<std::thread> thieves;
  for (std::size_t k = 0; k < kThieves; ++k) {
    thieves.emplace_back([&, k] {
      start.arrive_and_wait();
      for (;;) {
        // Read the flag before stealing: if it was set, the owner had already
        // found the deque empty and pushes no more, so an empty steal is final.
        const bool done = owner_done.load(std::memory_order_acquire);
        const auto r = dq.steal_detailed();
        if (r.item != nullptr) {
          take(r.item);
          ++stolen[k];
        } else if (r.retry) {
          ++retries[k];
        } else if (done) {
          break;
        } else {
          std::this_thread::yield();  // empty for now: let the owner run (2-core CI)
        }
      }
    });
  }

  {
    std::mt19937 rng(seed);
    start.arrive_and_wait();
    std::uint32_t next = 0;
    while (next < kItems) {
      // A burst of pushes, then a burst of pops: bursts up to 300 make the
      // buffer grow (from 2) while thieves are stealing from it.
      // Odd bursts go one push at a time, even ones in one push_many (one
      // publication of bottom, possibly growing the buffer more than once).
      const std::uint32_t burst = std::uniform_int_distribution<std::uint32_t>(1, 300)(rng);
      if (burst % 2 == 0) {
        const std::uint32_t count = std::min(burst, kItems - next);
        for (std::uint32_t i = 0; i < count; ++i) items[next + i].id = next + i;
        dq.push_many_reporting_empty(count, [&](std::size_t i) { return &items[next + i]; });
        next += count;
      } else {
        for (std::uint32_t i = 0; i < burst && next < kItems; ++i, ++next) {
          items[next].id = next;
          dq.push(&items[next]);
        }
      }
      const std::uint32_t pops = std::uniform_int_distribution<std::uint32_t>(0, burst)(rng);
      for (std::uint32_t i = 0; i < pops; ++i) {
        Item* it = dq.pop();
        if (it == nullptr) break;
        take(it);
        ++owner_popped;
      }
    }
    while (Item* it = dq.pop()) {
      take(it);
      ++owner_popped;
    }
    owner_done.store(true, std::memory_order_release);
  }
  for (auto& t : thieves) t.join();

  std::uint64_t total = owner_popped;
  for (auto s : stolen) total += s;
  EXPECT_EQ(total, kItems);
  EXPECT_EQ(bad_payloads.load(), 0u);
  std::uint32_t missing = 0, duplicated = 0, first_bad = kItems;
  for (std::uint32_t i = 0; i < kItems; ++i) {
    const auto n = taken[i].load(std::memory_order_relaxed);
    if (n != 1 && first_bad == kItems) first_bad = i;
    if (n == 0) ++missing;
    if (n > 1) ++duplicated;
  }
  EXPECT_EQ(missing, 0u) << "first bad id " << first_bad;
  EXPECT_EQ(duplicated, 0u) << "first bad id " << first_bad;
  EXPECT_TRUE(dq.empty_approx());
  std::uint64_t all_stolen = 0, all_retries = 0;
  for (std::size_t k = 0; k < kThieves; ++k) {
    all_stolen += stolen[k];
    all_retries += retries[k];
  }
  ::testing::Test::RecordProperty("seed_" + std::to_string(seed) + "_stolen", std::to_string(all_stolen));
  ::testing::Test::RecordProperty("seed_" + std::to_string(seed) + "_retries", std::to_string(all_retries));
}

TEST(WorkStealingDequeConcurrent, EveryItemTakenExactlyOnce) {
  for (std::uint32_t seed : {1u, 2u, 3u, 4u}) {
    run_round(seed);
    if (HasFatalFailure()) return;
  }
}

// The owner pushes one or two items, then the owner (pop) and three thieves
// (one steal each) race for them; every item must go to exactly one of them.
TEST(WorkStealingDequeConcurrent, OwnerAndThievesRaceForTheLastItem) {
  constexpr std::uint32_t seed = 99u;
  SCOPED_TRACE("seed=" + std::to_string(seed));
  std::mt19937 rng(seed);
  WorkStealingDeque<int*> dq(1);  // capacity 1: the second push of a round grows it
  std::vector<int> items(2);
  // Per-round results; each written by one thread before a barrier, read by the
  // owner after it.
  std::vector<int*> thief_got(kThieves, nullptr);
  int* owner_got = nullptr;
  std::barrier sync(static_cast<std::ptrdiff_t>(kThieves) + 1);
  int rounds_with_thief_win = 0, rounds_with_owner_win = 0;

  std::vector<std::thread> thieves;
  for (std::size_t k = 0; k < kThieves; ++k) {
    thieves.emplace_back([&, k] {
      for (int round = 0; round < kLastItemRounds; ++round) {
        sync.arrive_and_wait();  // items pushed
        thief_got[k] = dq.steal();
        sync.arrive_and_wait();  // results published
        sync.arrive_and_wait();  // results checked
      }
    });
  }
  for (int round = 0; round < kLastItemRounds; ++round) {
    const std::size_t n = std::uniform_int_distribution<std::size_t>(1, 2)(rng);
    for (std::size_t i = 0; i < n; ++i) dq.push(&items[i]);
    sync.arrive_and_wait();
    owner_got = dq.pop();
    sync.arrive_and_wait();
    int count[2] = {0, 0};
    if (owner_got != nullptr) {
      ++count[owner_got - items.data()];
      ++rounds_with_owner_win;
    }
    for (std::size_t k = 0; k < kThieves; ++k) {
      if (thief_got[k] != nullptr) {
        ++count[thief_got[k] - items.data()];
        ++rounds_with_thief_win;
      }
    }
    // Whatever nobody took (n == 2 and only one taker) is still in the deque.
    while (int* rest = dq.pop()) ++count[rest - items.data()];
    for (std::size_t i = 0; i < 2; ++i) {
      ASSERT_EQ(count[i], i < n ? 1 : 0) << "round " << round << " item " << i << " n " << n;
    }
    ASSERT_TRUE(dq.empty_approx()) << "round " << round;
    sync.arrive_and_wait();
  }
  for (auto& t : thieves) t.join();
  // Both sides must be able to win (not a correctness property, but a sign the
  // race was exercised); reported, not asserted, to stay deterministic.
  ::testing::Test::RecordProperty("owner_wins", rounds_with_owner_win);
  ::testing::Test::RecordProperty("thief_wins", rounds_with_thief_win);
}

}  // namespace
