// Checks RunOrder::Fifo under contention (run under ThreadSanitizer by .ci/run): with
// four workers, the owner takes its task queue from the top while thieves steal from
// the top of both its deques (scheduler/src/runtime_core_impl.hpp, "Order on one
// worker"). Tasks spawn tasks, wake waiters in bulk, yield, and gather; every task must
// run exactly once, every wake-up be delivered, every gather's children end, and the
// runtime drain and shut down.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <tuple>
#include <vector>

#include <weft/weft.hpp>

namespace {

using weft::JoinHandle;
using weft::Task;

struct Counters {
  std::atomic<std::uint64_t> leaves{0};
  std::atomic<std::uint64_t> woken{0};
  std::atomic<std::uint64_t> gathered{0};
};

Task<std::uint64_t> leaf(Counters* counters, std::uint64_t value) {
  co_await weft::this_task::yield();
  counters->leaves.fetch_add(1, std::memory_order_relaxed);
  co_return value;
}

Task<void> waiter(weft::Event* event, Counters* counters) {
  co_await event->wait();
  counters->woken.fetch_add(1, std::memory_order_relaxed);
}

Task<std::uint64_t> pair(Counters* counters, std::uint64_t value) {
  auto [a, b] = co_await weft::gather(leaf(counters, value), leaf(counters, value + 1));
  counters->gathered.fetch_add(1, std::memory_order_relaxed);
  co_return a + b;
}

// Spawns `width` leaves and as many waiters, wakes the waiters together, then awaits
// everything; also gathers a few pairs. Returns the sum of what it awaited.
Task<std::uint64_t> branch(Counters* counters, std::uint64_t width) {
  auto event = std::make_unique<weft::Event>();
  std::vector<JoinHandle<std::uint64_t>> leaves;
  std::vector<JoinHandle<void>> waiters;
  for (std::uint64_t i = 0; i < width; ++i) {
    leaves.push_back(weft::spawn(leaf(counters, i)));
    waiters.push_back(weft::spawn(waiter(event.get(), counters)));
  }
  co_await weft::this_task::yield();
  event->set();
  std::uint64_t sum = 0;
  for (std::uint64_t i = 0; i < 4; ++i) sum += co_await pair(counters, i);
  for (auto& handle : leaves) sum += co_await handle;
  for (auto& handle : waiters) co_await handle;
  co_return sum;
}

TEST(TaskOrderConcurrent, FifoWorkersRunEveryTaskOnceUnderStealing) {
  constexpr std::uint64_t kBranches = 64, kWidth = 48;
  for (int round = 0; round < 5; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    Counters counters;
    std::uint64_t sum = 0;
    {
      weft::Runtime rt({.workers = 4, .run_order = weft::RunOrder::Fifo});
      sum = rt.block_on([&]() -> Task<std::uint64_t> {
        std::vector<JoinHandle<std::uint64_t>> branches;
        for (std::uint64_t i = 0; i < kBranches; ++i) branches.push_back(weft::spawn(branch(&counters, kWidth)));
        std::uint64_t total = 0;
        for (auto& handle : branches) total += co_await handle;
        co_return total;
      }());
    }
    // Each branch: the leaves 0..width-1, and pairs (i, i + 1) for i < 4: 1+3+5+7.
    const std::uint64_t per_branch = kWidth * (kWidth - 1) / 2 + 16;
    EXPECT_EQ(sum, kBranches * per_branch);
    EXPECT_EQ(counters.leaves.load(), kBranches * (kWidth + 8));
    EXPECT_EQ(counters.woken.load(), kBranches * kWidth);
    EXPECT_EQ(counters.gathered.load(), kBranches * 4);
  }
}

}  // namespace
