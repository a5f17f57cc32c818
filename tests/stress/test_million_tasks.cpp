// Checks that one million empty tasks, half spawned from outside the runtime (through
// the injector) and half from inside a task (onto the workers' deques), each run
// exactly once, on 1 and on 2+ workers.
#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <memory>
#include <vector>

#include <weft/weft.hpp>

#include "test_scale.hpp"

namespace {

using weft::Task;

struct Ledger {
  explicit Ledger(std::size_t n) : runs(n), finished(static_cast<std::ptrdiff_t>(n)) {}
  std::vector<std::atomic<std::uint8_t>> runs;
  std::latch finished;
};

Task<void> mark(Ledger& ledger, std::size_t index) {
  // Relaxed: the latch below orders it before the main thread's check.
  ledger.runs[index].fetch_add(1, std::memory_order_relaxed);
  ledger.finished.count_down();
  co_return;
}

Task<void> spawn_range(Ledger& ledger, std::size_t begin, std::size_t end) {
  for (std::size_t i = begin; i < end; ++i) weft::spawn(mark(ledger, i));  // detached
  co_return;
}

void run_million(unsigned workers) {
  const std::size_t total = weft::test::scaled(1'000'000);
  const std::size_t half = total / 2;
  auto ledger = std::make_unique<Ledger>(total);
  weft::Runtime rt({.workers = workers});
  // Inside: one task spawns the first half onto its worker's deque, stolen from there.
  rt.spawn(spawn_range(*ledger, 0, half));
  // Outside: the second half through the injector, concurrently with the inside ones.
  for (std::size_t i = half; i < total; ++i) rt.spawn(mark(*ledger, i));
  ledger->finished.wait();
  rt.shutdown();
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < total; ++i)
    if (ledger->runs[i].load(std::memory_order_relaxed) != 1) ++wrong;
  EXPECT_EQ(wrong, 0u) << "tasks that did not run exactly once, of " << total;
}

TEST(MillionTasks, EachRunsExactlyOnceOnOneWorker) { run_million(1); }
TEST(MillionTasks, EachRunsExactlyOnceOnSeveralWorkers) { run_million(4); }

}  // namespace
