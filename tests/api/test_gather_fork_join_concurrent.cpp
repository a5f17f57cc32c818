// Checks gather(Task...) and gather(vector) as the child-stealing fork-join
// (detail/fork_join.hpp) on several workers: recursive results (fib, a vector-gather
// tree sum) on 1, 2 and 4 workers; seeded random failures deep in recursive trees
// (the top rethrows a std::runtime_error, every started child's cleanup runs exactly
// once, nothing leaks, the gatherer's cancelling() is back to 0); a stolen child failing
// while the inline child blocks (the inline child gets CancelledError, the cancel
// request on the gathering task is withdrawn); cancelling the gathering task while
// children are suspended inline and stolen, nested (each child sees CancelledError once,
// the gatherer CancelledError, its handle cancelled()); children that spawn tasks (a
// foreign task above the next fork job on the deque); Runtime shutdown and destruction
// during a gather with many suspended children (no hang, cleanup once each, the gather
// returns only after all children ended); gather converted to a Task (awaited, spawned);
// an empty vector gather, and a gather of an empty Task (InvalidStateError, runs nothing).
// Time comes from an auto-advancing ManualClock; nothing synchronises by sleeping.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <random>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <weft/weft.hpp>

#include "test_scale.hpp"
#include "test_seed.hpp"

namespace {

using namespace std::chrono_literals;
using weft::Task;

// ---- fixtures and helpers -----------------------------------------------------------

struct GatherForkJoin : ::testing::TestWithParam<unsigned> {
  GatherForkJoin() { clock.set_auto_advance(true); }
  weft::ManualClock clock;
  weft::Runtime rt{{.workers = GetParam(), .clock = &clock}};
};

struct GatherForkJoinFib : GatherForkJoin {};
struct GatherForkJoinShutdown : ::testing::TestWithParam<unsigned> {};

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// How a gather ends, awaited inline in the calling task (so its children still run
// in that task): "no error", the std::runtime_error's text, or "cancelled".
template <class Gather>
Task<std::string> ending_of(Gather gather) {
  try {
    co_await gather;
  } catch (const std::runtime_error& error) {
    co_return error.what();
  } catch (const weft::CancelledError&) {
    co_return "cancelled";
  }
  co_return "no error";
}

using weft::test::test_seed;

// Counts the objects held in child frames: constructions against destructions, and
// per child id how many times its cleanup ran.
struct Ledger {
  explicit Ledger(std::size_t nodes) : started(nodes), cleaned(nodes) {}
  std::atomic<long> constructed{0};
  std::atomic<long> destroyed{0};
  std::deque<std::atomic<int>> started;
  std::deque<std::atomic<int>> cleaned;
};

// Held in a child's frame: its destructor is the child's cleanup.
class Tracked {
 public:
  Tracked(Ledger& ledger, std::size_t id) : ledger_(ledger), id_(id) {
    ledger_.constructed.fetch_add(1);
    ledger_.started[id_].fetch_add(1);
  }
  Tracked(const Tracked&) = delete;
  ~Tracked() {
    ledger_.cleaned[id_].fetch_add(1);
    ledger_.destroyed.fetch_add(1);
  }

 private:
  Ledger& ledger_;
  std::size_t id_;
};

void expect_balanced(const Ledger& ledger, const char* where) {
  EXPECT_EQ(ledger.constructed.load(), ledger.destroyed.load()) << where;
  for (std::size_t i = 0; i < ledger.started.size(); ++i) {
    const int started = ledger.started[i].load();
    ASSERT_LE(started, 1) << where << ": child " << i << " started more than once";
    ASSERT_EQ(ledger.cleaned[i].load(), started) << where << ": child " << i << " cleanup count";
  }
}

// ---- 1. recursive results -----------------------------------------------------------

Task<long> fib(int n) {
  if (n < 2) co_return n;
  auto [a, b] = co_await weft::gather(fib(n - 1), fib(n - 2));
  co_return a + b;
}

// A `branching`-ary tree of vector gathers; each leaf gives its own index.
Task<long> tree_sum(int depth, int branching, long first_leaf) {
  if (depth == 0) co_return first_leaf;
  long span = 1;
  for (int i = 1; i < depth; ++i) span *= branching;
  std::vector<Task<long>> children;
  for (int i = 0; i < branching; ++i) children.push_back(tree_sum(depth - 1, branching, first_leaf + i * span));
  std::vector<long> sums = co_await weft::gather(std::move(children));
  long total = 0;
  for (long s : sums) total += s;
  co_return total;
}

TEST_P(GatherForkJoinFib, RecursiveFibThroughGather) {
  EXPECT_EQ(rt.block_on(fib(18)), 2584);
  EXPECT_EQ(rt.block_on(fib(1)), 1);
}

TEST_P(GatherForkJoinFib, VectorGatherTreeSumsLeafIds) {
  const int depth = weft::test::scaled(10) >= 10 ? 5 : 4;
  long leaves = 1;
  for (int i = 0; i < depth; ++i) leaves *= 8;
  EXPECT_EQ(rt.block_on(tree_sum(depth, 8, 0)), leaves * (leaves - 1) / 2);
}

TEST_P(GatherForkJoinFib, RecursiveFibWithSuspendingLeaves) {
  // The leaves suspend (yield, or sleep on the ManualClock): the inline chain moves on
  // and the worker loop takes the remaining fork jobs as helpers.
  struct Local {
    static Task<long> fib(int n) {
      if (n < 2) {
        if (n == 0)
          co_await weft::this_task::yield();
        else
          co_await weft::sleep_for(1ms);
        co_return n;
      }
      auto [a, b] = co_await weft::gather(fib(n - 1), fib(n - 2));
      co_return a + b;
    }
  };
  EXPECT_EQ(rt.block_on(Local::fib(weft::test::scaled(10) >= 10 ? 14 : 11)),
            weft::test::scaled(10) >= 10 ? 377 : 89);
}

INSTANTIATE_TEST_SUITE_P(Workers, GatherForkJoinFib, ::testing::Values(1u, 2u, 4u));

// ---- 2. random failures deep in a recursive tree --------------------------------------

struct RandomTree {
  static constexpr int branching = 3;
  // fail_mod: about one leaf in fail_mod, one inner node in 2 * fail_mod, fails (0: none).
  RandomTree(std::uint64_t seed, int depth, std::uint64_t fail_mod)
      : seed(seed), depth(depth), fail_mod(fail_mod), ledger(node_count(depth)) {}

  static std::size_t node_count(int depth) {
    std::size_t count = 0, level = 1;
    for (int d = 0; d <= depth; ++d, level *= branching) count += level;
    return count;
  }
  std::uint64_t roll(std::size_t id, std::uint64_t salt) const { return splitmix64(seed ^ splitmix64(id * 8 + salt)); }
  bool leaf_fails(std::size_t id) const { return fail_mod != 0 && roll(id, 1) % fail_mod == 0; }
  bool inner_fails_after(std::size_t id) const { return fail_mod != 0 && roll(id, 2) % (2 * fail_mod) == 0; }

  // Whether any node is set to fail, and the sum of all leaf ids otherwise.
  bool any_failure(std::size_t id, int level) const {
    if (level == depth) return leaf_fails(id);
    if (inner_fails_after(id)) return true;
    for (int i = 1; i <= branching; ++i)
      if (any_failure(id * branching + i, level + 1)) return true;
    return false;
  }
  long leaf_sum(std::size_t id, int level) const {
    if (level == depth) return static_cast<long>(id);
    long total = 0;
    for (int i = 1; i <= branching; ++i) total += leaf_sum(id * branching + i, level + 1);
    return total;
  }

  Task<long> node(std::size_t id, int level) {
    Tracked held(ledger, id);
    if (level == depth) {
      switch (roll(id, 3) % 4) {
        case 0: break;
        case 1: co_await weft::this_task::yield(); break;
        case 2: co_await weft::sleep_for(std::chrono::milliseconds(roll(id, 4) % 50)); break;
        default:
          co_await weft::this_task::yield();
          co_await weft::sleep_for(std::chrono::milliseconds(roll(id, 4) % 5));
          break;
      }
      if (leaf_fails(id)) throw std::runtime_error("leaf " + std::to_string(id));
      co_return static_cast<long>(id);
    }
    long total = 0;
    if (roll(id, 5) % 2 == 0) {
      std::vector<Task<long>> children;
      for (int i = 1; i <= branching; ++i) children.push_back(node(id * branching + i, level + 1));
      for (long v : co_await weft::gather(std::move(children))) total += v;
    } else {
      static_assert(branching == 3);
      auto [a, b, c] = co_await weft::gather(node(id * 3 + 1, level + 1), node(id * 3 + 2, level + 1),
                                             node(id * 3 + 3, level + 1));
      total = a + b + c;
    }
    if (inner_fails_after(id)) throw std::runtime_error("inner " + std::to_string(id));
    co_return total;
  }

  std::uint64_t seed;
  int depth;
  std::uint64_t fail_mod;
  Ledger ledger;
};

TEST_P(GatherForkJoin, RandomFailuresDeepInTheTreeAreRethrownAndEveryChildCleansUpOnce) {
  const std::uint64_t base = test_seed();
  const int rounds = static_cast<int>(weft::test::scaled(40));
  const int depth = weft::test::scaled(10) >= 10 ? 5 : 4;
  int failed_rounds = 0;
  for (int round = 0; round < rounds; ++round) {
    const std::uint64_t seed = splitmix64(base + static_cast<std::uint64_t>(round));
    static constexpr std::uint64_t kFailMods[] = {40, 300, 1000, 0};
    RandomTree tree(seed, depth, kFailMods[round % 4]);
    const bool expect_failure = tree.any_failure(0, 0);
    struct Seen {
      std::string error;       // "runtime_error: ..." / "cancelled" / "other" / "" (value)
      long value = -1;
      int cancelling_after = -1;
      bool slept = false;
    };
    auto body = [&]() -> Task<Seen> {
      Seen seen;
      try {
        seen.value = co_await tree.node(0, 0);
      } catch (const std::runtime_error& error) {
        seen.error = std::string("runtime_error: ") + error.what();
      } catch (const weft::CancelledError& error) {
        seen.error = std::string("cancelled: ") + error.what();
      } catch (...) {
        seen.error = "other";
      }
      seen.cancelling_after = weft::this_task::cancelling();
      co_await weft::sleep_for(1s);
      seen.slept = true;
      co_return seen;
    };
    Seen seen = rt.block_on(body());
    SCOPED_TRACE("seed " + std::to_string(seed) + " round " + std::to_string(round));
    if (expect_failure) {
      ++failed_rounds;
      EXPECT_EQ(seen.error.rfind("runtime_error: ", 0), 0u) << seen.error;
    } else {
      EXPECT_EQ(seen.error, "");
      EXPECT_EQ(seen.value, tree.leaf_sum(0, 0));
    }
    EXPECT_EQ(seen.cancelling_after, 0);
    EXPECT_TRUE(seen.slept);
    EXPECT_EQ(tree.ledger.started[0].load(), 1);
    expect_balanced(tree.ledger, "random tree");
    if (::testing::Test::HasFailure()) break;
  }
  std::printf("[ info     ] %d of %d rounds failed on purpose\n", failed_rounds, rounds);
}

// ---- 3. a stolen child fails while the inline child blocks ----------------------------

TEST_P(GatherForkJoin, StolenChildFailsWhileInlineChildWaitsOnAnEvent) {
  weft::Event never;
  std::atomic<int> inline_cancelled{0};
  std::atomic<weft::TaskId> inline_id{0}, helper_id{0};
  auto blocked = [&]() -> Task<int> {
    inline_id = weft::this_task::id();
    try {
      co_await never.wait();
    } catch (const weft::CancelledError&) {
      ++inline_cancelled;
      throw;
    }
    co_return 0;
  };
  auto failing = [&]() -> Task<int> {
    helper_id = weft::this_task::id();
    co_await weft::this_task::yield();
    throw std::runtime_error("stolen");
  };
  struct Seen {
    std::string error;
    weft::TaskId self = 0;
    int cancelling_after = -1;
    bool slept = false;
    bool token_stopped = true;        // a stop_token made before the gather
    bool later_token_stopped = true;  // ... and one made after it
  };
  auto body = [&]() -> Task<Seen> {
    Seen seen;
    seen.self = weft::this_task::id();
    std::stop_token token = weft::this_task::stop_token();
    seen.error = co_await ending_of(weft::gather(blocked(), failing()));
    seen.cancelling_after = weft::this_task::cancelling();
    // The cancel that reached the inline child was the gather's own, withdrawn at the
    // end: the gathering task was never cancelled, so its stop token never stopped.
    seen.token_stopped = token.stop_requested();
    seen.later_token_stopped = weft::this_task::stop_token().stop_requested();
    co_await weft::sleep_for(1s);
    seen.slept = true;
    co_return seen;
  };
  for (int i = 0; i < 20; ++i) {
    inline_cancelled = 0;
    Seen seen = rt.block_on(body());
    EXPECT_EQ(seen.error, "stolen");
    EXPECT_EQ(inline_cancelled.load(), 1);
    EXPECT_EQ(inline_id.load(), seen.self);  // the inline child runs in the gathering task
    EXPECT_NE(helper_id.load(), seen.self);  // the other one was taken: a helper task
    EXPECT_EQ(seen.cancelling_after, 0);
    EXPECT_TRUE(seen.slept);
    EXPECT_FALSE(seen.token_stopped);
    EXPECT_FALSE(seen.later_token_stopped);
    if (HasFailure()) break;
  }
}

TEST_P(GatherForkJoin, AnOutsideCancelTakenWithTheGathersOwnIsStillDelivered) {
  // A stolen child fails; the gather's own cancel request on the gathering task (to
  // reach its inline child) and a cancel from outside are both pending when the
  // inline child reaches its next suspension point, which takes them as one
  // CancelledError. The gather rethrows the failure and withdraws its own request;
  // the outside one must still reach the gathering task at its next suspension point.
  // Each step waits for the previous one through the counts, spinning, not sleeping.
  using Steady = std::chrono::steady_clock;
  const auto give_up = Steady::now() + std::chrono::seconds(20);
  std::atomic<bool> timed_out{false};
  auto spin_until = [&](auto done) {
    while (!done()) {
      if (Steady::now() > give_up) {
        timed_out = true;
        return;
      }
      std::this_thread::yield();
    }
  };
  auto inline_child = [&]() -> Task<int> {
    spin_until([] { return weft::this_task::cancelling() >= 2; });  // both requests counted
    co_await weft::this_task::yield();  // takes the pending request: throws
    co_return 0;
  };
  auto failing = []() -> Task<int> {
    throw std::runtime_error("stolen");
    co_return 0;
  };
  struct Seen {
    std::string error;
    bool next_suspension_threw = false;
    int cancelling_after = -1;
  };
  auto body = [&]() -> Task<Seen> {
    Seen seen;
    seen.error = co_await ending_of(weft::gather(inline_child(), failing()));
    seen.cancelling_after = weft::this_task::cancelling();
    try {
      co_await weft::sleep_for(1s);
    } catch (const weft::CancelledError&) {
      seen.next_suspension_threw = true;
    }
    co_return seen;
  };
  weft::JoinHandle<Seen> handle = rt.spawn(body());
  // The gather's own request is counted once the stolen child failed: cancel from outside.
  spin_until([&] { return handle.cancelling() >= 1; });
  handle.cancel("outside");
  Seen seen = rt.block_on([](weft::JoinHandle<Seen>& h) -> Task<Seen> { co_return co_await h; }(handle));
  // A give-up means no thief took the failing child while the inline child spun: the
  // idle protocol's guarantee that a queued child wakes a sleeping worker (idle.hpp).
  ASSERT_FALSE(timed_out.load()) << "no worker took the stolen child in 20 s:\n" << rt.dump();
  EXPECT_EQ(seen.error, "stolen");
  EXPECT_EQ(seen.cancelling_after, 1);  // the outside request, still counted
  EXPECT_TRUE(seen.next_suspension_threw);
}

TEST_P(GatherForkJoin, StolenChildFailsWhileInlineChildSleepsAndNestedGathersBlock) {
  // The inline child is itself a gather, whose own inline child sleeps an hour and
  // whose helper waits on an event; more helpers wait on the event; one fails.
  weft::Event never;
  std::atomic<int> cancelled{0};
  std::atomic<int> finished_normally{0};
  auto sleeper = [&](std::chrono::nanoseconds d) -> Task<int> {
    try {
      co_await weft::sleep_for(d);
    } catch (const weft::CancelledError&) {
      ++cancelled;
      throw;
    }
    ++finished_normally;
    co_return 1;
  };
  auto waiter = [&]() -> Task<int> {
    try {
      co_await never.wait();
    } catch (const weft::CancelledError&) {
      ++cancelled;
      throw;
    }
    co_return 1;
  };
  auto nested = [&]() -> Task<int> {
    auto [a, b] = co_await weft::gather(sleeper(1h), waiter());
    co_return a + b;
  };
  auto failing = [&]() -> Task<int> {
    co_await weft::this_task::yield();
    co_await weft::sleep_for(1s);
    throw std::runtime_error("late failure");
  };
  struct Seen {
    std::string error;
    int cancelling_after = -1;
    bool slept = false;
  };
  auto body = [&]() -> Task<Seen> {
    Seen seen;
    std::vector<Task<int>> children;
    children.push_back(nested());
    children.push_back(waiter());
    children.push_back(failing());
    children.push_back(waiter());
    children.push_back(nested());
    seen.error = co_await ending_of(weft::gather(std::move(children)));
    seen.cancelling_after = weft::this_task::cancelling();
    co_await weft::sleep_for(1s);
    seen.slept = true;
    co_return seen;
  };
  for (int i = 0; i < 20; ++i) {
    cancelled = 0;
    finished_normally = 0;
    const auto start = clock.now();
    Seen seen = rt.block_on(body());
    EXPECT_EQ(seen.error, "late failure");
    EXPECT_EQ(cancelled.load(), 6);  // 2 nested gathers of 2, and 2 waiters
    EXPECT_EQ(finished_normally.load(), 0);
    EXPECT_EQ(seen.cancelling_after, 0);
    EXPECT_TRUE(seen.slept);
    EXPECT_EQ(clock.now() - start, std::chrono::nanoseconds(2s));  // the failure at 1 s, the sleep after
    if (HasFailure()) break;
  }
}

TEST_P(GatherForkJoin, InlineChildFailsWhileStolenChildrenWait) {
  weft::Event never;
  std::atomic<int> cancelled{0};
  auto waiter = [&]() -> Task<int> {
    try {
      co_await never.wait();
    } catch (const weft::CancelledError&) {
      ++cancelled;
      throw;
    }
    co_return 1;
  };
  auto failing = []() -> Task<int> {
    co_await weft::this_task::yield();  // the worker loop takes the others meanwhile
    co_await weft::sleep_for(1s);
    throw std::runtime_error("inline");
  };
  auto body = [&]() -> Task<std::string> {
    std::string what = "no error";
    try {
      co_await weft::gather(failing(), waiter(), waiter(), waiter());
    } catch (const std::runtime_error& error) {
      what = error.what();
    }
    if (weft::this_task::cancelling() != 0) co_return "cancelling";
    co_await weft::sleep_for(1s);
    co_return what;
  };
  for (int i = 0; i < 20; ++i) {
    cancelled = 0;
    EXPECT_EQ(rt.block_on(body()), "inline");
    EXPECT_EQ(cancelled.load(), 3);
    if (HasFailure()) break;
  }
}

TEST(GatherForkJoinOneWorker, AnInlineFailureBeforeAnySuspensionRunsNoOtherChild) {
  // One worker: nobody can take the fork jobs, and the inline chain never suspends, so
  // the children after the failing one are skipped, never started.
  weft::Runtime rt({.workers = 1});
  std::atomic<int> ran{0};
  auto counted = [&]() -> Task<int> {
    ++ran;
    co_return 1;
  };
  auto fail_now = []() -> Task<int> {
    throw std::runtime_error("now");
    co_return 0;
  };
  auto body = [&]() -> Task<std::string> {
    std::string what;
    try {
      co_await weft::gather(fail_now(), counted(), counted());
    } catch (const std::runtime_error& error) {
      what = error.what();
    }
    std::vector<Task<int>> v;
    v.push_back(counted());
    v.push_back(fail_now());
    for (int i = 0; i < 8; ++i) v.push_back(counted());
    try {
      co_await weft::gather(std::move(v));
    } catch (const std::runtime_error& error) {
      what += error.what();
    }
    if (weft::this_task::cancelling() != 0) co_return "cancelling";
    co_await weft::this_task::yield();
    co_return what;
  };
  EXPECT_EQ(rt.block_on(body()), "nownow");
  EXPECT_EQ(ran.load(), 1);  // only the first child of the vector gather
}

TEST_P(GatherForkJoin, AnInlineFailureBeforeAnySuspensionCleansUpWhateverStarted) {
  // Child 0 throws at once: the ones thieves took meanwhile are cancelled, the others
  // are skipped. Whatever started cleans up once.
  for (int i = 0; i < 20; ++i) {
    Ledger ledger(64);
    auto child = [&](std::size_t id) -> Task<int> {
      Tracked held(ledger, id);
      if (id % 16 == 0) throw std::runtime_error("early");
      co_await weft::this_task::yield();
      co_return 1;
    };
    auto body = [&]() -> Task<std::string> {
      std::vector<Task<int>> v;
      for (std::size_t i = 0; i < 64; ++i) v.push_back(child(i));
      try {
        co_await weft::gather(std::move(v));
      } catch (const std::runtime_error& error) {
        if (weft::this_task::cancelling() != 0) co_return "cancelling";
        co_return error.what();
      }
      co_return "no error";
    };
    EXPECT_EQ(rt.block_on(body()), "early");
    EXPECT_EQ(ledger.started[0].load(), 1);
    expect_balanced(ledger, "early failure");
    if (HasFailure()) break;
  }
}

TEST_P(GatherForkJoin, AStolenFailureWhileTheInlineChildRunsWithoutSuspendingIsWithdrawn) {
  // The inline child is busy (no suspension point) when a thief's child fails: the
  // cancel request on the gathering task is never delivered, and must be withdrawn.
  std::atomic<bool> helper_failed{false};
  std::atomic<int> stolen_rounds{0};
  auto busy = [&]() -> Task<int> {
    const auto give_up = std::chrono::steady_clock::now() + 2s;  // only a bound, not a sync
    while (!helper_failed.load() && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
    if (helper_failed.load()) ++stolen_rounds;
    co_return 1;
  };
  auto failing = [&]() -> Task<int> {
    struct Flag {
      std::atomic<bool>& flag;
      ~Flag() { flag = true; }  // after the throw left the body
    } flag{helper_failed};
    throw std::runtime_error("thief");
    co_return 0;
  };
  struct Seen {
    std::string error;
    int cancelling_after = -1;
    bool slept = false;
  };
  auto body = [&]() -> Task<Seen> {
    Seen seen;
    seen.error = co_await ending_of(weft::gather(busy(), failing()));
    seen.cancelling_after = weft::this_task::cancelling();
    try {
      co_await weft::sleep_for(1s);
      seen.slept = true;
    } catch (const weft::CancelledError&) {
    }
    co_return seen;
  };
  for (int i = 0; i < 10; ++i) {
    helper_failed = false;
    Seen seen = rt.block_on(body());
    EXPECT_EQ(seen.error, "thief");
    EXPECT_EQ(seen.cancelling_after, 0);
    EXPECT_TRUE(seen.slept);
    if (HasFailure()) break;
  }
  std::printf("[ info     ] the failing child was stolen in %d of 10 rounds\n", stolen_rounds.load());
}

TEST_P(GatherForkJoin, CancellingCountIsRestoredWhenItWasAlreadyNonZero) {
  // The gatherer caught a cancellation earlier (cancelling() == 1, not uncancelled);
  // a gather whose stolen child fails marks and unmarks it: back to 1, not 0 or 2.
  weft::Event never;
  auto blocked = [&]() -> Task<int> {
    co_await never.wait();
    co_return 0;
  };
  auto failing = []() -> Task<int> {
    co_await weft::this_task::yield();
    throw std::runtime_error("stolen");
  };
  auto body = [&]() -> Task<std::string> {
    weft::this_task::cancel("earlier");
    try {
      co_await weft::this_task::yield();
    } catch (const weft::CancelledError&) {
    }
    const int before = weft::this_task::cancelling();
    std::string what = "no error";
    try {
      co_await weft::gather(blocked(), failing());
    } catch (const std::runtime_error& error) {
      what = error.what();
    } catch (const weft::CancelledError&) {
      what = "cancelled";
    }
    const int after = weft::this_task::cancelling();
    co_await weft::sleep_for(1s);
    co_return what + " " + std::to_string(before) + " " + std::to_string(after);
  };
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(rt.block_on(body()), "stolen 1 1");
    if (HasFailure()) break;
  }
}

// ---- 4. cancelling the gathering task --------------------------------------------------

TEST_P(GatherForkJoin, CancellingTheGathererReachesEveryChildInlineAndStolenOnce) {
  constexpr int kLeaves = 12;
  weft::Event never;
  weft::Event all_arrived;
  std::atomic<int> arrived{0};
  std::vector<std::atomic<int>> cancelled(kLeaves);
  std::atomic<int> finished_normally{0};
  auto leaf = [&](int id, bool sleeps) -> Task<int> {
    if (arrived.fetch_add(1) + 1 == kLeaves) all_arrived.set();
    try {
      if (sleeps)
        co_await weft::sleep_for(1000h);
      else
        co_await never.wait();
    } catch (const weft::CancelledError&) {
      cancelled[id].fetch_add(1);
      throw;
    }
    ++finished_normally;
    co_return id;
  };
  auto pair = [&](int first) -> Task<int> {
    auto [a, b] = co_await weft::gather(leaf(first, false), leaf(first + 1, true));
    co_return a + b;
  };
  auto triple = [&](int first) -> Task<int> {
    std::vector<Task<int>> v;
    v.push_back(leaf(first, true));
    v.push_back(pair(first + 1));
    auto sums = co_await weft::gather(std::move(v));
    co_return sums[0] + sums[1];
  };
  std::atomic<weft::TaskId> gatherer_id{0};
  auto gatherer = [&]() -> Task<std::string> {
    gatherer_id = weft::this_task::id();
    std::vector<Task<int>> children;
    children.push_back(pair(0));     // inline: a nested gather, inline leaf on the event
    children.push_back(leaf(2, false));
    children.push_back(triple(3));   // leaves 3, 4, 5
    children.push_back(leaf(6, true));
    children.push_back(pair(7));
    children.push_back(triple(9));   // leaves 9, 10, 11
    try {
      co_await weft::gather(std::move(children));
    } catch (const weft::TaskCancelled&) {
      co_return "TaskCancelled";
    } catch (const weft::CancelledError&) {
      throw;  // what we want: ends the task cancelled
    } catch (...) {
      co_return "other";
    }
    co_return "finished";
  };
  struct Seen {
    bool join_threw_task_cancelled = false;
    bool handle_cancelled = false;
    std::string value;
  };
  auto controller = [&]() -> Task<Seen> {
    Seen seen;
    auto handle = weft::spawn(gatherer());
    co_await all_arrived.wait();
    handle.cancel("stop");
    try {
      seen.value = co_await handle;
    } catch (const weft::TaskCancelled&) {
      seen.join_threw_task_cancelled = true;
    }
    seen.handle_cancelled = handle.cancelled();
    co_return seen;
  };
  for (int round = 0; round < 20; ++round) {
    arrived = 0;
    all_arrived.clear();
    finished_normally = 0;
    for (auto& c : cancelled) c = 0;
    Seen seen = rt.block_on(controller());
    EXPECT_TRUE(seen.join_threw_task_cancelled) << seen.value;
    EXPECT_TRUE(seen.handle_cancelled);
    EXPECT_EQ(finished_normally.load(), 0);
    for (int i = 0; i < kLeaves; ++i) EXPECT_EQ(cancelled[i].load(), 1) << "leaf " << i;
    if (HasFailure()) break;
  }
}

TEST_P(GatherForkJoin, CancelledGathererSeesCancelledErrorAndNoChildRunsAfter) {
  // As above, but the gatherer records what it caught and the children's count at that
  // moment: the gather returns only after every child ended.
  constexpr int kChildren = 16;
  weft::Event never;
  weft::Event all_arrived;
  std::atomic<int> arrived{0};
  std::atomic<int> ended{0};
  auto child = [&]() -> Task<void> {
    struct End {
      std::atomic<int>& ended;
      ~End() { ended.fetch_add(1); }
    } end{ended};
    if (arrived.fetch_add(1) + 1 == kChildren) all_arrived.set();
    co_await never.wait();
  };
  struct Caught {
    std::string what;
    int ended_then = -1;
  };
  auto gatherer = [&](Caught& caught) -> Task<void> {
    std::vector<Task<void>> children;
    for (int i = 0; i < kChildren; ++i) children.push_back(child());
    try {
      co_await weft::gather(std::move(children));
      caught.what = "nothing";
    } catch (const weft::TaskCancelled&) {
      caught.what = "TaskCancelled";
    } catch (const weft::CancelledError&) {
      caught.what = "CancelledError";
    }
    caught.ended_then = ended.load();
  };
  for (int round = 0; round < 20; ++round) {
    arrived = 0;
    ended = 0;
    all_arrived.clear();
    Caught caught;
    auto controller = [&]() -> Task<bool> {
      auto handle = weft::spawn(gatherer(caught));
      co_await all_arrived.wait();
      handle.cancel();
      try {
        co_await handle;
      } catch (const weft::TaskCancelled&) {
      }
      co_return handle.done();
    };
    EXPECT_TRUE(rt.block_on(controller()));
    EXPECT_EQ(caught.what, "CancelledError");
    EXPECT_EQ(caught.ended_then, kChildren);
    if (HasFailure()) break;
  }
}

// ---- 5. children that spawn ------------------------------------------------------------

Task<long> spawning_fib(int n, std::atomic<int>& side) {
  // A fresh task goes onto this worker's deque, above the next fork job.
  weft::spawn([](std::atomic<int>& s) -> Task<void> {
    s.fetch_add(1);
    co_return;
  }(side));
  if (n < 2) co_return n;
  auto [a, b] = co_await weft::gather(spawning_fib(n - 1, side), spawning_fib(n - 2, side));
  co_return a + b;
}

TEST_P(GatherForkJoin, ChildrenThatSpawnStillGiveTheRightResults) {
  std::atomic<int> side{0};
  EXPECT_EQ(rt.block_on(spawning_fib(15, side)), 610);

  // Children that spawn, keep the handle, and return it: awaited after the gather.
  auto spawned_value = [](int v) -> Task<int> {
    co_await weft::this_task::yield();
    co_return v * 10;
  };
  auto spawner = [&](int v) -> Task<weft::JoinHandle<int>> { co_return weft::spawn(spawned_value(v)); };
  auto body = [&]() -> Task<long> {
    std::vector<Task<weft::JoinHandle<int>>> children;
    for (int i = 0; i < 32; ++i) children.push_back(spawner(i));
    std::vector<weft::JoinHandle<int>> handles = co_await weft::gather(std::move(children));
    long total = 0;
    for (auto& h : handles) total += co_await h;
    auto [x, y] = co_await weft::gather(spawner(1), spawner(2));
    total += co_await x + co_await y;
    co_return total;
  };
  for (int i = 0; i < 20; ++i) EXPECT_EQ(rt.block_on(body()), 10L * (31 * 32 / 2) + 30);

  // A child that spawns and awaits what it spawned before returning.
  auto spawn_and_join = [&](int v) -> Task<int> {
    auto h = weft::spawn(spawned_value(v));
    co_return co_await h + 1;
  };
  auto body2 = [&]() -> Task<long> {
    std::vector<Task<int>> children;
    for (int i = 0; i < 32; ++i) children.push_back(spawn_and_join(i));
    long total = 0;
    for (int v : co_await weft::gather(std::move(children))) total += v;
    co_return total;
  };
  for (int i = 0; i < 20; ++i) EXPECT_EQ(rt.block_on(body2()), 10L * (31 * 32 / 2) + 32);
}

// ---- 6. shutdown during a gather --------------------------------------------------------

struct ShutdownScene {
  static constexpr int kChildren = 100;
  weft::Event never;  // outlives the runtime's tasks: declared before the Runtime
  Ledger ledger{kChildren + 1};
  std::atomic<int> arrived{0};
  std::atomic<int> gather_returned_with_cleanups{-1};
  std::atomic<int> gatherer_saw{0};  // 1 CancelledError, 2 TaskCancelled, 3 other, 4 value

  Task<int> child(std::size_t id) {
    Tracked held(ledger, id);
    arrived.fetch_add(1);
    arrived.notify_all();
    co_await never.wait();
    co_return 1;
  }
  Task<int> group(std::size_t first, std::size_t count) {
    std::vector<Task<int>> children;
    for (std::size_t i = 0; i < count; ++i) children.push_back(child(first + i));
    int total = 0;
    for (int v : co_await weft::gather(std::move(children))) total += v;
    co_return total;
  }
  Task<void> gatherer(bool nested) {
    Tracked held(ledger, kChildren);
    std::vector<Task<int>> children;
    if (nested) {
      for (std::size_t g = 0; g < 10; ++g) children.push_back(group(g * 10, 10));
    } else {
      for (std::size_t i = 0; i < kChildren; ++i) children.push_back(child(i));
    }
    try {
      co_await weft::gather(std::move(children));
      gatherer_saw = 4;
    } catch (const weft::TaskCancelled&) {
      gatherer_saw = 2;
    } catch (const weft::CancelledError&) {
      gatherer_saw = 1;
    } catch (...) {
      gatherer_saw = 3;
    }
    int cleaned = 0;
    for (int i = 0; i < kChildren; ++i) cleaned += ledger.cleaned[i].load();
    gather_returned_with_cleanups = cleaned;
  }
  void wait_all_arrived() {
    for (int seen = arrived.load(); seen < kChildren; seen = arrived.load()) arrived.wait(seen);
  }
  void check(bool all_started) {
    if (all_started) {
      for (int i = 0; i <= kChildren; ++i) EXPECT_EQ(ledger.started[i].load(), 1) << i;
      EXPECT_EQ(gather_returned_with_cleanups.load(), kChildren);
    } else {
      // Whatever started ended before the gather returned.
      int started = 0;
      for (int i = 0; i < kChildren; ++i) started += ledger.started[i].load();
      if (ledger.started[kChildren].load() == 1 && gatherer_saw.load() != 0) {
        EXPECT_EQ(gather_returned_with_cleanups.load(), started);
      }
    }
    EXPECT_NE(gatherer_saw.load(), 3);
    EXPECT_NE(gatherer_saw.load(), 4);
    expect_balanced(ledger, "shutdown");
  }
};

TEST_P(GatherForkJoinShutdown, DestroyingTheRuntimeDuringAGatherOfSuspendedChildren) {
  for (bool nested : {false, true}) {
    for (int round = 0; round < 5; ++round) {
      ShutdownScene scene;
      {
        weft::Runtime rt({.workers = GetParam()});
        rt.spawn(scene.gatherer(nested));  // detached
        scene.wait_all_arrived();
      }  // ~Runtime: cancels everything, waits for it
      SCOPED_TRACE(nested ? "nested" : "flat");
      scene.check(true);
      if (HasFailure()) return;
    }
  }
}

TEST_P(GatherForkJoinShutdown, ShutdownFromOutsideDuringAGatherOfSuspendedChildren) {
  for (bool nested : {false, true}) {
    for (int round = 0; round < 5; ++round) {
      ShutdownScene scene;
      weft::Runtime rt({.workers = GetParam()});
      auto handle = rt.spawn(scene.gatherer(nested));
      scene.wait_all_arrived();
      rt.shutdown();
      SCOPED_TRACE(nested ? "nested" : "flat");
      EXPECT_TRUE(handle.done());
      scene.check(true);
      if (HasFailure()) return;
    }
  }
}

TEST_P(GatherForkJoinShutdown, ShutdownRightAfterTheGatherStartsRunsNothingTwice) {
  // The gather may be anywhere: not started, children on the deque (taken after the
  // runtime closed: never queued), some running. Whatever started ends exactly once.
  for (bool nested : {false, true}) {
    for (int round = 0; round < 10; ++round) {
      ShutdownScene scene;
      {
        weft::Runtime rt({.workers = GetParam()});
        rt.spawn(scene.gatherer(nested));
        if (round % 2 == 1) {
          for (int seen = scene.arrived.load(); seen < 1; seen = scene.arrived.load()) scene.arrived.wait(seen);
        }
        rt.shutdown();
      }
      SCOPED_TRACE(nested ? "nested" : "flat");
      scene.check(false);
      if (HasFailure()) return;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Workers, GatherForkJoinShutdown, ::testing::Values(2u, 4u));

// ---- 7. gather as a Task ----------------------------------------------------------------

TEST_P(GatherForkJoin, GatherConvertsToATaskThatCanBeAwaitedOrSpawned) {
  auto a = []() -> Task<int> {
    co_await weft::sleep_for(2s);
    co_return 1;
  };
  auto b = []() -> Task<int> {
    co_await weft::this_task::yield();
    co_return 2;
  };
  auto none = []() -> Task<void> { co_return; };
  auto body = [&]() -> Task<bool> {
    Task<std::tuple<int, int>> t = weft::gather(a(), b());
    auto [x, y] = co_await std::move(t);
    Task<std::tuple<int, int>> t2 = weft::gather(b(), a());
    auto handle = weft::spawn(std::move(t2));
    auto [p, q] = co_await handle;
    std::vector<Task<int>> many;
    for (int i = 0; i < 5; ++i) many.push_back(b());
    Task<std::vector<int>> t3 = weft::gather(std::move(many));
    auto handle3 = weft::spawn(std::move(t3));
    std::vector<int> values = co_await handle3;
    Task<std::tuple<std::monostate, int>> t4 = weft::gather(none(), a());
    auto [m, r] = co_await std::move(t4);
    (void)m;
    co_return x == 1 && y == 2 && p == 2 && q == 1 && values == std::vector<int>(5, 2) && r == 1;
  };
  EXPECT_TRUE(rt.block_on(body()));
  // From outside: a gather Task given to block_on.
  Task<std::tuple<int, int>> outer = weft::gather(a(), b());
  EXPECT_EQ(rt.block_on(std::move(outer)), std::make_tuple(1, 2));
}

// ---- 8. empty gathers --------------------------------------------------------------------

TEST_P(GatherForkJoin, EmptyVectorGatherReturnsAnEmptyVector) {
  auto body = []() -> Task<bool> {
    std::vector<int> values = co_await weft::gather(std::vector<Task<int>>{});
    std::vector<std::monostate> voids = co_await weft::gather(std::vector<Task<void>>{});
    Task<std::vector<int>> as_task = weft::gather(std::vector<Task<int>>{});
    std::vector<int> from_task = co_await std::move(as_task);
    co_return values.empty() && voids.empty() && from_task.empty() && weft::this_task::cancelling() == 0;
  };
  EXPECT_TRUE(rt.block_on(body()));
}

TEST_P(GatherForkJoin, GatherOfAnEmptyTaskThrowsInvalidStateErrorAndRunsNothing) {
  std::atomic<int> ran{0};
  auto counted = [&]() -> Task<int> {
    ++ran;
    co_return 1;
  };
  auto body = [&]() -> Task<int> {
    int invalid = 0;
    try {
      co_await weft::gather(counted(), Task<int>{}, counted());
    } catch (const weft::InvalidStateError&) {
      ++invalid;
    }
    try {
      co_await weft::gather(Task<int>{});
    } catch (const weft::InvalidStateError&) {
      ++invalid;
    }
    try {
      std::vector<Task<int>> v;
      v.push_back(counted());
      v.push_back(Task<int>{});
      co_await weft::gather(std::move(v));
    } catch (const weft::InvalidStateError&) {
      ++invalid;
    }
    // The gatherer is fine afterwards.
    auto [x, y] = co_await weft::gather(counted(), counted());
    co_return invalid * 10 + x + y;
  };
  EXPECT_EQ(rt.block_on(body()), 32);
  EXPECT_EQ(ran.load(), 2);  // only the last gather's children ran
}

INSTANTIATE_TEST_SUITE_P(Workers, GatherForkJoin, ::testing::Values(2u, 4u));

}  // namespace
