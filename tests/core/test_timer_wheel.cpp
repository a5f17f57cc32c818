// TimerWheel, single-threaded: insert / cancel / advance basics; deadlines in the past
// and at now; deadlines on every level boundary (64^k - 1, 64^k, 64^k + 1, from aligned
// and unaligned starting ticks); deadlines beyond the wheel's 64^6-tick range, up to
// UINT64_MAX; cascade correctness tick by tick; cancelling an entry after it cascaded;
// the exact next_deadline() after inserts, cancels and advances; inserts and cancels
// from inside on_expire; expiry order; an exception thrown by on_expire; and a model
// test: millions of random insert / cancel / advance operations checked against a
// trivially correct std::multimap<deadline, id> (same expired set after every
// advance, same minimum and size after every operation), fixed seed, printed on failure.
#include "weft/core/timer_wheel.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <vector>

namespace {

using weft::detail::TimerEntry;
using weft::detail::TimerWheel;

#if defined(WEFT_TSAN) || defined(WEFT_ASAN)
constexpr std::size_t kModelOps = 200'000;
#else
constexpr std::size_t kModelOps = 2'000'000;
#endif

constexpr std::uint64_t pow64(unsigned k) { return std::uint64_t{1} << (6 * k); }
constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

// An entry that knows its index, as the scheduler's awaiter would know its task.
struct Node : TimerEntry {
  std::uint32_t id = 0;
};

// Collects what one advance() expired, in order.
struct Collector {
  std::vector<const TimerEntry*> got;
  void operator()(TimerEntry& e) {
    EXPECT_FALSE(e.linked()) << "on_expire must get an unlinked entry";
    got.push_back(&e);
  }
};

TEST(TimerWheel, EmptyWheel) {
  TimerWheel wheel(42);
  EXPECT_EQ(wheel.now(), 42u);
  EXPECT_TRUE(wheel.empty());
  EXPECT_EQ(wheel.size(), 0u);
  EXPECT_EQ(wheel.next_deadline(), std::nullopt);
  Collector c;
  EXPECT_EQ(wheel.advance(42, std::ref(c)), 0u);
  EXPECT_EQ(wheel.advance(1'000'000, std::ref(c)), 0u);
  EXPECT_EQ(wheel.now(), 1'000'000u);
  EXPECT_TRUE(c.got.empty());
}

TEST(TimerWheel, InsertAndExpireAtDeadline) {
  TimerEntry a, b;
  TimerWheel wheel;
  wheel.insert(a, 5);
  wheel.insert(b, 7);
  EXPECT_TRUE(a.linked());
  EXPECT_EQ(a.deadline(), 5u);
  EXPECT_EQ(wheel.size(), 2u);
  EXPECT_EQ(wheel.next_deadline(), 5u);
  Collector c;
  EXPECT_EQ(wheel.advance(4, std::ref(c)), 0u);
  EXPECT_EQ(wheel.advance(5, std::ref(c)), 1u);
  ASSERT_EQ(c.got.size(), 1u);
  EXPECT_EQ(c.got[0], &a);
  EXPECT_FALSE(a.linked());
  EXPECT_EQ(wheel.next_deadline(), 7u);
  EXPECT_EQ(wheel.advance(100, std::ref(c)), 1u);
  EXPECT_EQ(c.got.back(), &b);
  EXPECT_TRUE(wheel.empty());
  EXPECT_EQ(wheel.next_deadline(), std::nullopt);
  // An expired entry can be inserted again.
  wheel.insert(a, 101);
  EXPECT_EQ(wheel.advance(101, std::ref(c)), 1u);
}

TEST(TimerWheel, CancelRemovesOnce) {
  TimerEntry a, b;
  TimerWheel wheel;
  wheel.insert(a, 10);
  wheel.insert(b, 10);
  EXPECT_TRUE(wheel.cancel(a));
  EXPECT_FALSE(a.linked());
  EXPECT_FALSE(wheel.cancel(a)) << "second cancel";
  EXPECT_EQ(wheel.size(), 1u);
  EXPECT_EQ(wheel.next_deadline(), 10u);
  Collector c;
  EXPECT_EQ(wheel.advance(10, std::ref(c)), 1u);
  ASSERT_EQ(c.got.size(), 1u);
  EXPECT_EQ(c.got[0], &b);
  EXPECT_FALSE(wheel.cancel(b)) << "cancel after expiry";
  TimerEntry never;
  EXPECT_FALSE(wheel.cancel(never)) << "cancel of an entry never inserted";
}

TEST(TimerWheel, DeadlineInThePastOrNowExpiresAtNextAdvance) {
  TimerEntry past, zero, at_now, later;
  TimerWheel wheel(1000);
  wheel.insert(past, 999);
  wheel.insert(zero, 0);
  wheel.insert(at_now, 1000);
  wheel.insert(later, 1001);
  EXPECT_EQ(wheel.next_deadline(), 0u) << "exact minimum, even when overdue";
  EXPECT_EQ(wheel.size(), 4u);
  Collector c;
  EXPECT_EQ(wheel.advance(1000, std::ref(c)), 3u) << "advance(now()) expires the overdue";
  EXPECT_EQ(wheel.next_deadline(), 1001u);
  EXPECT_TRUE(later.linked());
  // Cancelling an overdue entry before the advance works too.
  wheel.insert(past, 5);
  EXPECT_EQ(wheel.next_deadline(), 5u);
  EXPECT_TRUE(wheel.cancel(past));
  EXPECT_EQ(wheel.next_deadline(), 1001u);
  EXPECT_EQ(wheel.advance(1000, std::ref(c)), 0u);
  EXPECT_EQ(wheel.advance(1001, std::ref(c)), 1u);
}

// Inserts one entry at `deadline` into a wheel at `start`; checks it is reported
// exactly, survives every advance before its deadline (taken in `steps` pieces,
// geometrically growing, so that cascades happen on the way) and expires exactly at it.
void check_single(std::uint64_t start, std::uint64_t deadline, int steps) {
  SCOPED_TRACE(testing::Message() << "start " << start << " deadline " << deadline << " steps " << steps);
  TimerEntry e;
  TimerWheel wheel(start);
  wheel.insert(e, deadline);
  ASSERT_EQ(wheel.next_deadline(), deadline);
  Collector c;
  if (deadline > start) {
    std::uint64_t t = start;
    const std::uint64_t gap = deadline - 1 - start;
    for (int i = steps; i >= 1; --i) {
      // Advance to deadline - 1 - gap / 2^i, then finally to deadline - 1.
      const std::uint64_t target = deadline - 1 - (i < 64 ? gap >> i : 0);
      if (target < t) continue;
      t = target;
      ASSERT_EQ(wheel.advance(t, std::ref(c)), 0u) << "early at " << t;
      ASSERT_TRUE(e.linked());
      ASSERT_EQ(wheel.next_deadline(), deadline) << "after advancing to " << t;
    }
    ASSERT_EQ(wheel.advance(deadline - 1, std::ref(c)), 0u);
    ASSERT_EQ(wheel.next_deadline(), deadline);
  }
  ASSERT_EQ(wheel.advance(deadline, std::ref(c)), 1u) << "late";
  EXPECT_FALSE(e.linked());
  EXPECT_TRUE(wheel.empty());
}

TEST(TimerWheel, LevelBoundaries) {
  const std::uint64_t starts[] = {0, 1, 63, 64, 12345, 4095, pow64(3) * 7 - 1, 987'654'321'012ull,
                                  pow64(6) - 1, pow64(6) * 5 + 3};
  for (std::uint64_t start : starts) {
    for (unsigned k = 1; k <= 6; ++k) {
      for (int off = -1; off <= 1; ++off) {
        // Relative: start + 64^k + off.
        const std::uint64_t rel = start + pow64(k) + static_cast<std::uint64_t>(off);
        for (int steps : {0, 1, 8, 40}) check_single(start, rel, steps);
        // Absolute: the next multiple of 64^k after start, +- 1.
        const std::uint64_t aligned = ((start >> (6 * k)) + 1) << (6 * k);
        const std::uint64_t abs = aligned + static_cast<std::uint64_t>(off);
        for (int steps : {0, 1, 8, 40}) check_single(start, abs, steps);
        if (HasFatalFailure()) return;
      }
    }
  }
}

TEST(TimerWheel, BeyondRangeExpiresExactly) {
  const std::uint64_t range = pow64(6);
  for (std::uint64_t start : {std::uint64_t{0}, range - 1, range + 17, std::uint64_t{1} << 50}) {
    for (std::uint64_t dist : {range - 1, range, range + 1, 2 * range + 5, std::uint64_t{1} << 40,
                               (std::uint64_t{1} << 44) + 12345}) {
      for (int steps : {0, 3, 40}) check_single(start, start + dist, steps);
    }
  }
  for (int steps : {0, 10, 63}) {
    check_single(0, kMax, steps);
    check_single(0, std::uint64_t{1} << 63, steps);
    check_single(kMax - 5, kMax, steps);
  }
}

TEST(TimerWheel, ManyBeyondRangeEntriesAcrossEpochs) {
  // Several far entries in different epochs, and in the same epoch, all exact.
  const std::uint64_t range = pow64(6);
  const std::vector<std::uint64_t> deadlines = {range + 3, range + 3, 3 * range - 1, 3 * range,
                                                3 * range + pow64(5) + 9, 40 * range + 1, kMax};
  std::vector<Node> nodes(deadlines.size());
  TimerWheel wheel;
  for (std::size_t i = 0; i < deadlines.size(); ++i) wheel.insert(nodes[i], deadlines[i]);
  std::vector<std::uint64_t> sorted = deadlines;
  std::sort(sorted.begin(), sorted.end());
  std::size_t done = 0;
  for (std::uint64_t d : sorted) {
    if (done > 0 && sorted[done - 1] == d) continue;
    ASSERT_EQ(wheel.next_deadline(), d);
    Collector c;
    ASSERT_EQ(wheel.advance(d - 1, std::ref(c)), 0u);
    ASSERT_EQ(wheel.next_deadline(), d);
    const std::size_t n = wheel.advance(d, std::ref(c));
    ASSERT_EQ(n, static_cast<std::size_t>(std::count(sorted.begin(), sorted.end(), d)));
    for (const TimerEntry* e : c.got) EXPECT_EQ(e->deadline(), d);
    done += n;
  }
  EXPECT_TRUE(wheel.empty());
}

TEST(TimerWheel, CascadeTickByTick) {
  // Every tick of [1, 64^2 + 200] holds one entry, plus random extra entries up to
  // 64^3: advancing one tick at a time (then in odd strides) must expire each exactly
  // at its tick, across the cascades of levels 1 and 2.
  constexpr std::uint64_t kDense = pow64(2) + 200;
  constexpr std::size_t kSparse = 3000;
  std::vector<Node> nodes(kDense + kSparse);
  TimerWheel wheel;
  std::mt19937_64 rng(7);
  for (std::uint64_t i = 0; i < kDense; ++i) wheel.insert(nodes[i], i + 1);
  for (std::size_t i = 0; i < kSparse; ++i)
    wheel.insert(nodes[kDense + i], 1 + rng() % (pow64(3) + 100));
  std::multimap<std::uint64_t, const TimerEntry*> model;
  for (auto& n : nodes) model.emplace(n.deadline(), &n);
  std::uint64_t t = 0;
  std::uint64_t stride = 1;
  while (!model.empty()) {
    t += stride;
    if (t > kDense) stride = 1 + rng() % 97;  // odd strides after the dense part
    Collector c;
    const std::size_t n = wheel.advance(t, std::ref(c));
    std::vector<const TimerEntry*> want;
    while (!model.empty() && model.begin()->first <= t) {
      want.push_back(model.begin()->second);
      model.erase(model.begin());
    }
    ASSERT_EQ(n, want.size()) << "at tick " << t;
    std::sort(want.begin(), want.end());
    std::sort(c.got.begin(), c.got.end());
    ASSERT_EQ(c.got, want) << "at tick " << t;
    if (!model.empty()) {
      ASSERT_EQ(wheel.next_deadline(), model.begin()->first) << "at tick " << t;
    }
  }
  EXPECT_TRUE(wheel.empty());
}

TEST(TimerWheel, CancelAfterCascade) {
  TimerEntry a, b;
  TimerWheel wheel;
  const std::uint64_t d = pow64(3) + pow64(2) + 10;  // starts at level 3
  wheel.insert(a, d);
  wheel.insert(b, d + 1);
  Collector c;
  // Reach the start of a's level-3 slot, then of its level-2 slot: it has cascaded twice.
  EXPECT_EQ(wheel.advance(pow64(3), std::ref(c)), 0u);
  EXPECT_EQ(wheel.advance(pow64(3) + pow64(2) + 1, std::ref(c)), 0u);
  EXPECT_EQ(wheel.next_deadline(), d);
  EXPECT_TRUE(wheel.cancel(a));
  EXPECT_EQ(wheel.next_deadline(), d + 1);
  EXPECT_EQ(wheel.advance(d, std::ref(c)), 0u);
  EXPECT_EQ(wheel.advance(d + 1, std::ref(c)), 1u);
  ASSERT_EQ(c.got.size(), 1u);
  EXPECT_EQ(c.got[0], &b);
}

TEST(TimerWheel, NextDeadlineTracksInsertsCancelsAdvances) {
  TimerEntry a, b, c, d;
  TimerWheel wheel(100);
  wheel.insert(a, 100 + pow64(4) + 3);  // high level
  EXPECT_EQ(wheel.next_deadline(), 100 + pow64(4) + 3);
  wheel.insert(b, 100 + pow64(2) + 7);
  EXPECT_EQ(wheel.next_deadline(), 100 + pow64(2) + 7);
  wheel.insert(c, 100 + pow64(2) + 5);  // same level-2 slot as b, earlier
  EXPECT_EQ(wheel.next_deadline(), 100 + pow64(2) + 5);
  wheel.insert(d, 120);  // level 0
  EXPECT_EQ(wheel.next_deadline(), 120u);
  EXPECT_TRUE(wheel.cancel(d));
  EXPECT_EQ(wheel.next_deadline(), 100 + pow64(2) + 5) << "rescan of the earliest high slot";
  EXPECT_TRUE(wheel.cancel(c));
  EXPECT_EQ(wheel.next_deadline(), 100 + pow64(2) + 7);
  Collector col;
  EXPECT_EQ(wheel.advance(100 + pow64(2), std::ref(col)), 0u);
  EXPECT_EQ(wheel.next_deadline(), 100 + pow64(2) + 7);
  EXPECT_EQ(wheel.advance(100 + pow64(2) + 7, std::ref(col)), 1u);
  EXPECT_EQ(wheel.next_deadline(), 100 + pow64(4) + 3);
  EXPECT_TRUE(wheel.cancel(a));
  EXPECT_EQ(wheel.next_deadline(), std::nullopt);
  // Equal deadlines: cancelling one holder of the minimum keeps the other.
  wheel.insert(a, 5000);
  wheel.insert(b, 5000);
  EXPECT_TRUE(wheel.cancel(a));
  EXPECT_EQ(wheel.next_deadline(), 5000u);
  EXPECT_TRUE(wheel.cancel(b));
  EXPECT_TRUE(wheel.empty());
}

TEST(TimerWheel, InsertAndCancelFromOnExpire) {
  TimerEntry first, victim, same_call, next_call, far, rearmed;
  TimerWheel wheel;
  wheel.insert(first, 10);
  wheel.insert(victim, 11);  // due in the same advance, after first
  std::vector<TimerEntry*> order;
  std::uint64_t now_seen = 0;
  auto on_expire = [&](TimerEntry& e) {
    order.push_back(&e);
    if (&e == &first) {
      now_seen = wheel.now();
      EXPECT_TRUE(wheel.cancel(victim)) << "a due entry can still be cancelled";
      wheel.insert(same_call, wheel.now() + 5);  // > now(), <= 100: this call
      wheel.insert(next_call, wheel.now());      // <= now(): the next advance
      wheel.insert(far, 1000);                   // > 100: stays
    } else if (&e == &same_call) {
      wheel.insert(rearmed, wheel.now() + 1);  // chains forward in time: this call too
    }
  };
  EXPECT_EQ(wheel.advance(100, on_expire), 3u);
  EXPECT_EQ(now_seen, 10u) << "now() inside on_expire is the tick being expired";
  ASSERT_EQ(order.size(), 3u);
  EXPECT_EQ(order[0], &first);
  EXPECT_EQ(order[1], &same_call);
  EXPECT_EQ(order[2], &rearmed);
  EXPECT_FALSE(victim.linked());
  EXPECT_TRUE(next_call.linked()) << "inserted at now() during advance: next advance";
  EXPECT_TRUE(far.linked());
  EXPECT_EQ(wheel.now(), 100u);
  EXPECT_EQ(wheel.next_deadline(), 10u) << "the overdue entry is the minimum";
  order.clear();
  EXPECT_EQ(wheel.advance(100, on_expire), 1u);
  ASSERT_EQ(order.size(), 1u);
  EXPECT_EQ(order[0], &next_call);
  EXPECT_EQ(wheel.next_deadline(), 1000u);
  EXPECT_TRUE(wheel.cancel(far));
}

TEST(TimerWheel, CancelSameTickPeerFromOnExpire) {
  // Two entries of one tick, both already moved to the draining list: whichever comes
  // first cancels the other, which must then not be handed out.
  TimerEntry p, q;
  TimerWheel wheel;
  wheel.insert(p, pow64(2) + 3);  // cascades twice on the way
  wheel.insert(q, pow64(2) + 3);
  int calls = 0;
  const std::size_t n = wheel.advance(pow64(3), [&](TimerEntry& e) {
    ++calls;
    TimerEntry& other = &e == &p ? q : p;
    EXPECT_TRUE(wheel.cancel(other));
  });
  EXPECT_EQ(n, 1u);
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(p.linked());
  EXPECT_FALSE(q.linked());
  EXPECT_TRUE(wheel.empty());
}

TEST(TimerWheel, SelfRearmAtNowTerminates) {
  // A callback that re-inserts its entry at now() every time: each advance expires it
  // exactly once instead of spinning.
  TimerEntry e;
  TimerWheel wheel;
  wheel.insert(e, 3);
  int calls = 0;
  auto rearm = [&](TimerEntry& x) {
    ++calls;
    wheel.insert(x, wheel.now());
  };
  EXPECT_EQ(wheel.advance(10, rearm), 1u);
  EXPECT_EQ(wheel.advance(10, rearm), 1u);
  EXPECT_EQ(calls, 2);
  EXPECT_TRUE(wheel.cancel(e));
}

TEST(TimerWheel, SameTickAndOrder) {
  // 300 entries on 3 ticks at different levels: all expire, once, in non-decreasing
  // deadline order (same tick: any order).
  std::vector<Node> nodes(300);
  TimerWheel wheel(7);
  const std::uint64_t ticks[] = {7 + 40, 7 + pow64(2) + 1, 7 + pow64(4)};
  for (std::size_t i = 0; i < nodes.size(); ++i) wheel.insert(nodes[i], ticks[i % 3]);
  Collector c;
  EXPECT_EQ(wheel.advance(kMax / 2, std::ref(c)), 300u);
  ASSERT_EQ(c.got.size(), 300u);
  for (std::size_t i = 1; i < c.got.size(); ++i)
    EXPECT_LE(c.got[i - 1]->deadline(), c.got[i]->deadline());
  std::sort(c.got.begin(), c.got.end());
  EXPECT_EQ(std::unique(c.got.begin(), c.got.end()), c.got.end()) << "each entry exactly once";
}

TEST(TimerWheel, HugeJumpsAreCheap) {
  // Would take forever if advance walked empty slots or epochs one by one.
  TimerWheel wheel;
  Collector c;
  for (int i = 1; i <= 100'000; ++i) wheel.advance(wheel.now() + (std::uint64_t{1} << 40), std::ref(c));
  std::vector<Node> nodes(1000);
  std::mt19937_64 rng(3);
  for (auto& n : nodes) wheel.insert(n, wheel.now() + 1 + rng() % (std::uint64_t{1} << 45));
  TimerEntry last;
  wheel.insert(last, kMax);
  EXPECT_EQ(wheel.advance(kMax - 1, std::ref(c)), 1000u);
  EXPECT_EQ(wheel.next_deadline(), kMax);
  EXPECT_EQ(wheel.advance(kMax, std::ref(c)), 1u);
}

TEST(TimerWheel, ThrowingOnExpireLeavesWheelConsistent) {
  std::vector<Node> nodes(6);
  TimerWheel wheel;
  for (std::size_t i = 0; i < nodes.size(); ++i) wheel.insert(nodes[i], 10 + i);  // 10..15
  TimerEntry overdue;
  wheel.insert(overdue, 0);
  std::size_t seen = 0;
  auto throw_at_12 = [&](TimerEntry& e) {
    ++seen;
    if (e.deadline() == 12) throw std::runtime_error("boom");
  };
  EXPECT_THROW(wheel.advance(20, throw_at_12), std::runtime_error);
  EXPECT_EQ(seen, 4u);  // overdue, 10, 11, 12
  EXPECT_EQ(wheel.size(), 3u);
  EXPECT_EQ(wheel.next_deadline(), 13u);
  Collector c;
  EXPECT_EQ(wheel.advance(14, std::ref(c)), 2u);
  EXPECT_EQ(wheel.advance(20, std::ref(c)), 1u);
  EXPECT_TRUE(wheel.empty());
}

TEST(TimerWheel, ClearAndDestructorUnlink) {
  TimerEntry a, b, c;
  {
    TimerWheel wheel;
    wheel.insert(a, 5);
    wheel.insert(b, pow64(5));
    wheel.insert(c, kMax);
    wheel.clear();
    EXPECT_FALSE(a.linked());
    EXPECT_TRUE(wheel.empty());
    EXPECT_EQ(wheel.next_deadline(), std::nullopt);
    wheel.insert(a, 1);
    wheel.insert(b, 0);
  }  // the wheel dies first and unlinks a and b
  EXPECT_FALSE(a.linked());
  EXPECT_FALSE(b.linked());
}

// ---- model test ------------------------------------------------------------------

class Model {
 public:
  explicit Model(std::size_t pool) : where_(pool), pos_(pool, kNone) {}
  void insert(std::uint32_t id, std::uint64_t d) {
    where_[id] = map_.emplace(d, id);
    pos_[id] = live_.size();
    live_.push_back(id);
  }
  void erase(std::uint32_t id) {
    map_.erase(where_[id]);
    const std::size_t p = pos_[id];
    live_[p] = live_.back();  // swap-remove keeps random picks O(1)
    pos_[live_[p]] = p;
    live_.pop_back();
    pos_[id] = kNone;
  }
  bool live(std::uint32_t id) const { return pos_[id] != kNone; }
  std::size_t size() const { return map_.size(); }
  const std::vector<std::uint32_t>& live_ids() const { return live_; }
  std::optional<std::uint64_t> min() const {
    if (map_.empty()) return std::nullopt;
    return map_.begin()->first;
  }
  // Removes and returns (sorted) every id due at t.
  std::vector<std::uint32_t> take_due(std::uint64_t t) {
    std::vector<std::uint32_t> ids;
    while (!map_.empty() && map_.begin()->first <= t) {
      const std::uint32_t id = map_.begin()->second;
      ids.push_back(id);
      erase(id);
    }
    std::sort(ids.begin(), ids.end());
    return ids;
  }

 private:
  static constexpr std::size_t kNone = ~std::size_t{0};
  std::multimap<std::uint64_t, std::uint32_t> map_;
  std::vector<std::multimap<std::uint64_t, std::uint32_t>::iterator> where_;
  std::vector<std::size_t> pos_;
  std::vector<std::uint32_t> live_;
};

TEST(TimerWheel, ModelRandomOps) {
  constexpr std::uint64_t kSeed = 0x5eed'7133'2024ull;
  constexpr std::uint32_t kPool = 6000;
  constexpr std::size_t kMaxLive = 4000;
  std::mt19937_64 rng(kSeed);
  auto below = [&](std::uint64_t n) { return n == 0 ? 0 : rng() % n; };
  // Log-uniform in [0, 2^bits): a random bit count, then a random value of that size.
  auto log_uniform = [&](unsigned max_bits) {
    const unsigned b = static_cast<unsigned>(below(max_bits + 1));
    return b == 0 ? 0 : (std::uint64_t{1} << (b - 1)) + below(std::uint64_t{1} << (b - 1));
  };

  std::unique_ptr<Node[]> nodes(new Node[kPool]);  // declared before the wheel: outlives it
  for (std::uint32_t i = 0; i < kPool; ++i) nodes[i].id = i;
  std::vector<std::uint32_t> free_ids;
  for (std::uint32_t i = kPool; i-- > 0;) free_ids.push_back(i);
  TimerWheel wheel(below(std::uint64_t{1} << 40));
  Model model(kPool);
  std::vector<std::uint32_t> got;
  std::size_t expirations = 0, advances = 0, far_inserts = 0;

  for (std::size_t op = 0; op < kModelOps; ++op) {
    SCOPED_TRACE(testing::Message() << "seed " << kSeed << " op " << op);
    const std::uint64_t now = wheel.now();
    const unsigned kind = static_cast<unsigned>(below(100));
    if (kind < 45 && !free_ids.empty() && model.size() < kMaxLive) {
      // Insert.
      const std::uint32_t id = free_ids.back();
      free_ids.pop_back();
      const unsigned how = static_cast<unsigned>(below(100));
      std::uint64_t d;
      if (how < 85) {
        d = now + log_uniform(30);  // 0 .. 64^5
      } else if (how < 90) {
        d = now - below(std::min<std::uint64_t>(now, 5000) + 1);  // in the past
      } else if (how < 97) {
        const unsigned k = 1 + static_cast<unsigned>(below(6));  // on a level boundary
        d = (((now >> (6 * k)) + 1 + below(3)) << (6 * k)) + below(3) - 1;
      } else {
        d = now + log_uniform(44);  // often beyond the range
        ++far_inserts;
      }
      wheel.insert(nodes[id], d);
      model.insert(id, d);
    } else if (kind < 70) {
      // Cancel: mostly a live entry, sometimes any (maybe dead) one.
      if (!model.live_ids().empty() && below(10) != 0) {
        const std::uint32_t id = model.live_ids()[below(model.live_ids().size())];
        ASSERT_TRUE(wheel.cancel(nodes[id]));
        model.erase(id);
        free_ids.push_back(id);
      } else {
        const std::uint32_t id = static_cast<std::uint32_t>(below(kPool));
        const bool live = model.live(id);
        ASSERT_EQ(nodes[id].linked(), live);
        ASSERT_EQ(wheel.cancel(nodes[id]), live);
        if (live) {
          model.erase(id);
          free_ids.push_back(id);
        }
      }
    } else {
      // Advance.
      const unsigned how = static_cast<unsigned>(below(1000));
      const std::optional<std::uint64_t> next = model.min();
      std::uint64_t t;
      if (how < 100) t = now;
      else if (how < 300) t = now + 1;
      else if (how < 600) t = now + 1 + below(64);
      else if (how < 900) t = now + log_uniform(24);  // up to 64^4
      else if (how < 950) t = next ? std::max(now, *next) : now + 1;  // exactly the next deadline
      else if (how < 995) t = next ? std::max(now, *next - 1) : now;  // one tick before it
      else t = now + log_uniform(40);  // rare huge jump: crosses epochs
      got.clear();
      const std::uint64_t before = now;
      bool past_overdue = false;
      std::uint64_t last = 0;
      const std::size_t n = wheel.advance(t, [&](TimerEntry& e) {
        const auto& node = static_cast<const Node&>(e);
        EXPECT_FALSE(e.linked());
        EXPECT_LE(e.deadline(), t) << "early";
        // Order: the overdue (deadline <= the old now) first, then non-decreasing.
        if (e.deadline() > before) {
          EXPECT_GE(e.deadline(), last) << "out of order";
          past_overdue = true;
          last = e.deadline();
        } else {
          EXPECT_FALSE(past_overdue) << "overdue entry after a later one";
        }
        got.push_back(node.id);
      });
      ASSERT_EQ(wheel.now(), t);
      ASSERT_EQ(n, got.size());
      std::sort(got.begin(), got.end());
      const std::vector<std::uint32_t> want = model.take_due(t);
      ASSERT_EQ(got, want) << "advance " << before << " -> " << t;
      for (std::uint32_t id : got) free_ids.push_back(id);
      expirations += n;
      ++advances;
    }
    ASSERT_EQ(wheel.size(), model.size());
    ASSERT_EQ(wheel.empty(), model.size() == 0);
    ASSERT_EQ(wheel.next_deadline(), model.min());
  }
  // The run must have exercised what it claims to.
  EXPECT_GT(expirations, kModelOps / 10);
  EXPECT_GT(advances, kModelOps / 5);
  EXPECT_GT(far_inserts, kModelOps / 200);
}

}  // namespace
