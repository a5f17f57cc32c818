// Checks shutdown with work in flight: 10,000 tasks suspended in a ring of joins (each
// awaits the next one's handle, so none could ever finish by itself), 10,000 tasks
// that yield forever (always queued or running), and tasks still queued that never
// started. shutdown() must return (no hang), every started task's cleanup must run
// exactly once (a guard's destructor), every frame must be freed (the parameters'
// reference counts drop back; ASan's leak check covers the rest), and spawning
// afterwards throws RuntimeClosed. Several threads calling shutdown() at once all
// return once it is done (before, each joined the workers: std::system_error or a
// race; found by a review).
#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <memory>
#include <thread>
#include <vector>

#include <weft/weft.hpp>

#include "test_scale.hpp"

namespace {

using weft::Task;

struct Counters {
  std::atomic<int> started{0};
  std::atomic<int> cleaned{0};
  std::atomic<int> saw_cancel{0};
};

struct Cleanup {
  Counters& counters;
  ~Cleanup() { counters.cleaned.fetch_add(1, std::memory_order_relaxed); }
};

using Ring = std::vector<weft::JoinHandle<void>>;

Task<void> ring_member(std::shared_ptr<Ring> ring, std::size_t next, Counters& counters,
                       std::latch& ring_ready, std::latch& in_place) {
  counters.started.fetch_add(1, std::memory_order_relaxed);
  Cleanup cleanup{counters};
  ring_ready.wait();  // every handle is stored before anyone awaits one
  in_place.count_down();
  try {
    co_await (*ring)[next];
  } catch (const weft::CancelledError&) {
    counters.saw_cancel.fetch_add(1, std::memory_order_relaxed);
    throw;
  }
}

Task<void> yield_forever(Counters& counters, std::shared_ptr<int> token) {
  counters.started.fetch_add(1, std::memory_order_relaxed);
  Cleanup cleanup{counters};
  (void)token;
  bool swallowed = false;
  for (;;) {
    if (swallowed) {
      co_await weft::this_task::yield();  // during shutdown this throws again
      continue;
    }
    try {
      co_await weft::this_task::yield();
    } catch (const weft::CancelledError&) {
      // Swallowed once, on purpose: shutdown must still end the task.
      swallowed = true;
      counters.saw_cancel.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

TEST(Shutdown, WithThousandsSuspendedQueuedAndUnstarted) {
  const std::size_t ring_size = weft::test::scaled(10'000);
  const std::size_t yielders = weft::test::scaled(10'000);
  Counters counters;
  auto ring = std::make_shared<Ring>();
  ring->reserve(ring_size);
  auto token = std::make_shared<int>(0);
  std::latch ring_ready(1);
  std::latch in_place(static_cast<std::ptrdiff_t>(ring_size));
  {
    weft::Runtime rt({.workers = 2});
    for (std::size_t i = 0; i < ring_size; ++i)
      ring->push_back(rt.spawn(ring_member(ring, (i + 1) % ring_size, counters, ring_ready, in_place)));
    ring_ready.count_down();
    in_place.wait();  // every ring member reached its await
    for (std::size_t i = 0; i < yielders; ++i) rt.spawn(yield_forever(counters, token));
    rt.shutdown();
    EXPECT_THROW(rt.spawn(yield_forever(counters, token)), weft::RuntimeClosed);
    for (auto& handle : *ring) {
      EXPECT_TRUE(handle.done());
      EXPECT_TRUE(handle.cancelled());
    }
  }
  ring->clear();
  EXPECT_EQ(counters.cleaned.load(), counters.started.load());
  EXPECT_GE(counters.saw_cancel.load(), static_cast<int>(ring_size));
  EXPECT_EQ(token.use_count(), 1) << "a yielder's frame (started or not) was not freed";
}

TEST(Shutdown, DestructorShutsDownAndFreesEverything) {
  Counters counters;
  auto token = std::make_shared<int>(0);
  {
    weft::Runtime rt({.workers = 2});
    for (int i = 0; i < 1000; ++i) rt.spawn(yield_forever(counters, token));
  }  // ~Runtime = shutdown()
  EXPECT_EQ(counters.cleaned.load(), counters.started.load());
  EXPECT_EQ(token.use_count(), 1);
}

TEST(Shutdown, FromAWorkerIsInvalidState) {
  weft::Runtime rt({.workers = 1});
  auto inside = [&]() -> Task<bool> {
    try {
      rt.shutdown();
    } catch (const weft::InvalidStateError&) {
      co_return true;
    }
    co_return false;
  };
  EXPECT_TRUE(rt.block_on(inside()));
}

TEST(Shutdown, FromSeveralThreadsAtOnceAllReturnWhenItIsDone) {
  Counters counters;
  auto token = std::make_shared<int>(0);
  weft::Runtime rt({.workers = 2});
  for (int i = 0; i < 1000; ++i) rt.spawn(yield_forever(counters, token));
  constexpr int kCallers = 4;
  std::latch start(kCallers);
  std::atomic<int> returned_after_cleanup{0};
  std::vector<std::thread> callers;
  for (int i = 0; i < kCallers; ++i) {
    callers.emplace_back([&] {
      start.arrive_and_wait();
      rt.shutdown();
      // Every caller returns only after the one shutdown finished: all cleanups ran.
      if (counters.cleaned.load() == counters.started.load()) returned_after_cleanup.fetch_add(1);
    });
  }
  for (std::thread& caller : callers) caller.join();
  EXPECT_EQ(returned_after_cleanup.load(), kCallers);
  EXPECT_THROW(rt.spawn(yield_forever(counters, token)), weft::RuntimeClosed);
}

}  // namespace
