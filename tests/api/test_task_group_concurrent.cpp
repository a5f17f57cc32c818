// Checks weft::task_group under concurrency (runs under ThreadSanitizer in CI): many groups
// at once, each with many children, some failing, while threads outside the runtime
// cancel children and owners at random (Runtime::cancel by id, JoinHandle::cancel).
// Every child that started runs its cleanup exactly once, every group ends (value,
// ExceptionGroup or CancelledError, consistent with what happened), and no frame leaks:
// the shared_ptr token every child frame holds is back to use_count 1. Also: a runtime
// shut down while groups (nested ones too) are running ends them all, without leaks.
//
// No wall-clock waits: children yield and sleep on a ManualClock with auto advance; the
// outside threads make a fixed number of passes.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include <weft/task_group.hpp>
#include <weft/weft.hpp>

#include "test_scale.hpp"

namespace {

using namespace std::chrono_literals;
using weft::CancelledError;
using weft::ExceptionGroup;
using weft::JoinHandle;
using weft::Task;
using weft::TaskGroup;

struct Counters {
  std::atomic<int> started{0};
  std::atomic<int> cleaned{0};
  std::atomic<int> failed{0};
  std::atomic<int> groups_ok{0};
  std::atomic<int> groups_error{0};
  std::atomic<int> groups_cancelled{0};
  std::mutex ids_mutex;
  std::vector<weft::TaskId> ids;  // children, for the outside cancellers
};

struct Cleanup {
  std::atomic<int>* counter;
  ~Cleanup() { counter->fetch_add(1, std::memory_order_relaxed); }
};

Task<void> child(Counters& c, std::shared_ptr<int> token, int index, bool fail) {
  (void)token;
  c.started.fetch_add(1, std::memory_order_relaxed);
  Cleanup cleanup{&c.cleaned};
  {
    std::lock_guard guard(c.ids_mutex);
    c.ids.push_back(weft::this_task::id());
  }
  for (int i = 0; i < 3 + index % 7; ++i) {
    co_await weft::this_task::yield();
    if (i % 3 == 0) co_await weft::sleep_for(std::chrono::milliseconds(1 + index % 3));
  }
  if (fail) {
    c.failed.fetch_add(1, std::memory_order_relaxed);
    throw std::runtime_error("child failed");
  }
}

Task<void> owner(Counters& c, std::shared_ptr<int> token, int group_index, int children) {
  try {
    co_await weft::task_group([&](TaskGroup& g) -> Task<void> {
      for (int i = 0; i < children; ++i) {
        const bool fail = group_index % 3 == 0 && i == children / 2;
        g.spawn(child(c, token, i, fail));
        if (i % 4 == 0) co_await weft::this_task::yield();
      }
    });
    c.groups_ok.fetch_add(1, std::memory_order_relaxed);
  } catch (const ExceptionGroup& e) {
    EXPECT_FALSE(e.exceptions().empty());
    c.groups_error.fetch_add(1, std::memory_order_relaxed);
  } catch (const CancelledError&) {
    c.groups_cancelled.fetch_add(1, std::memory_order_relaxed);
    throw;
  } catch (const weft::InvalidStateError&) {
    // The body itself was refused a spawn after an abort: it is then cancelled anyway
    // and never lets this escape (the abort cancels it before it resumes); not expected.
    ADD_FAILURE() << "InvalidStateError escaped the group";
  }
}

TEST(TaskGroupConcurrent, ManyGroupsWithFailuresAndOutsideCancellers) {
  weft::ManualClock clock;
  clock.set_auto_advance(true);
  Counters c;
  auto token = std::make_shared<int>(0);
  const int groups = static_cast<int>(weft::test::scaled(200));
  const int children = 20;
  {
    weft::Runtime rt({.workers = 4, .clock = &clock});
    std::vector<JoinHandle<void>> owners;
    owners.reserve(static_cast<std::size_t>(groups));
    std::vector<weft::TaskId> owner_ids;
    for (int i = 0; i < groups; ++i) {
      owners.push_back(rt.spawn(owner(c, token, i, children)));
      owner_ids.push_back(owners.back().id());
    }
    std::atomic<bool> stop{false};
    auto canceller = [&](unsigned seed) {
      std::mt19937 rng(seed);
      for (int pass = 0; pass < 200 && !stop.load(); ++pass) {
        std::vector<weft::TaskId> ids;
        {
          std::lock_guard guard(c.ids_mutex);
          ids = c.ids;
        }
        for (weft::TaskId id : ids)
          if (rng() % 16 == 0) rt.cancel(id, "outside");
        for (weft::TaskId id : owner_ids)
          if (rng() % 64 == 0) rt.cancel(id, "owner");
        std::this_thread::yield();
      }
    };
    std::thread a(canceller, 1u), b(canceller, 2u);
    // Also cancel a few owners through their handles, from this thread.
    for (int i = 0; i < groups; i += 17) owners[static_cast<std::size_t>(i)].cancel("handle");
    for (JoinHandle<void>& h : owners) {
      while (!h.done()) std::this_thread::yield();
    }
    stop = true;
    a.join();
    b.join();
    for (JoinHandle<void>& h : owners) {
      EXPECT_TRUE(h.done());
      if (!h.cancelled()) {
        EXPECT_EQ(h.exception(), nullptr);
      }
    }
  }
  EXPECT_EQ(c.started.load(), c.cleaned.load());
  // Owners cancelled before their first run never reach the group: the rest all ended.
  EXPECT_LE(c.groups_ok + c.groups_error + c.groups_cancelled, groups);
  EXPECT_EQ(token.use_count(), 1);
}

// Owners whose groups all fail at once: each group reports every failure, exactly.
TEST(TaskGroupConcurrent, EveryChildFailsConcurrently) {
  weft::ManualClock clock;
  clock.set_auto_advance(true);
  Counters c;
  auto token = std::make_shared<int>(0);
  const int groups = static_cast<int>(weft::test::scaled(100));
  std::atomic<int> reported{0};
  auto failing = [](Counters& counters, std::shared_ptr<int> tok) -> Task<int> {
    (void)tok;
    counters.started.fetch_add(1, std::memory_order_relaxed);
    Cleanup cleanup{&counters.cleaned};
    co_await weft::this_task::yield();
    throw std::runtime_error("boom");
  };
  auto group_owner = [&](int) -> Task<void> {
    try {
      co_await weft::task_group([&](TaskGroup& g) -> Task<void> {
        for (int i = 0; i < 16; ++i) {
          try {
            g.spawn(failing(c, token));
          } catch (const weft::InvalidStateError&) {
            break;  // a child failed already
          }
        }
        co_return;
      });
      ADD_FAILURE() << "no ExceptionGroup";
    } catch (const ExceptionGroup& e) {
      reported.fetch_add(static_cast<int>(e.exceptions().size()));
    }
  };
  {
    weft::Runtime rt({.workers = 4, .clock = &clock});
    auto main = [&]() -> Task<void> {
      std::vector<JoinHandle<void>> hs;
      for (int i = 0; i < groups; ++i) hs.push_back(weft::spawn(group_owner(i)));
      for (auto& h : hs) co_await h;
    };
    rt.block_on(main());
  }
  // A child either failed (reported once) or was cancelled before it failed; every
  // one that started cleaned up once.
  EXPECT_EQ(c.started.load(), c.cleaned.load());
  EXPECT_GE(reported.load(), groups);
  EXPECT_LE(reported.load(), c.started.load());
  EXPECT_EQ(token.use_count(), 1);
}

// Shutting the runtime down while nested groups run: every group ends, every child that
// started cleans up once, nothing leaks.
TEST(TaskGroupConcurrent, ShutdownWhileGroupsRun) {
  weft::ManualClock clock;  // never advanced: the sleeps end only by cancellation
  Counters c;
  auto token = std::make_shared<int>(0);
  const int groups = static_cast<int>(weft::test::scaled(50));
  std::atomic<int> bodies_in{0};
  auto sleeper = [](Counters& counters, std::shared_ptr<int> tok) -> Task<void> {
    (void)tok;
    counters.started.fetch_add(1, std::memory_order_relaxed);
    Cleanup cleanup{&counters.cleaned};
    co_await weft::sleep_for(1h);
  };
  auto group_owner = [&]() -> Task<void> {
    co_await weft::task_group([&](TaskGroup& g) -> Task<void> {
      for (int i = 0; i < 5; ++i) g.spawn(sleeper(c, token));
      co_await weft::task_group([&](TaskGroup& inner) -> Task<void> {
        for (int i = 0; i < 5; ++i) inner.spawn(sleeper(c, token));
        bodies_in.fetch_add(1);
        co_await weft::sleep_for(1h);
      });
    });
  };
  std::vector<JoinHandle<void>> owners;
  {
    weft::Runtime rt({.workers = 4, .clock = &clock});
    for (int i = 0; i < groups; ++i) owners.push_back(rt.spawn(group_owner()));
    while (bodies_in.load() < groups) std::this_thread::yield();
    rt.shutdown();
    for (auto& h : owners) {
      EXPECT_TRUE(h.done());
      EXPECT_TRUE(h.cancelled());
    }
  }
  owners.clear();
  EXPECT_EQ(c.started.load(), c.cleaned.load());
  EXPECT_EQ(token.use_count(), 1);
}

}  // namespace
