// A task queued on a busy worker must reach an idle one, in both run orders: the root
// spawns a child onto its own worker's queue (the task queue with RunOrder::Fifo, the
// deque with Lifo) and then spins, never giving the worker back, until the child has
// run. Only the other worker can run it, so it must have been woken (or have seen the
// push before parking: idle.hpp's protocol) and stolen it. Many rounds, so that the
// push meets the other worker at every stage of parking. A lost wake-up shows as a
// round whose spin gives up (after 10 s: only a lost wake-up, or a machine stalled that
// long, gets there); the round then awaits the child, so the test ends either way.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>

#include <weft/weft.hpp>

#include "test_scale.hpp"

namespace {

using weft::Task;

Task<void> child(std::atomic<bool>* ran) {
  ran->store(true, std::memory_order_release);  // read by the spinning root (acquire)
  co_return;
}

// 1 if the child did not run elsewhere before the spin gave up.
Task<int> spin_until_stolen() {
  std::atomic<bool> ran{false};
  auto handle = weft::spawn(child(&ran));
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool gave_up = false;
  while (!ran.load(std::memory_order_acquire)) {
    if (std::chrono::steady_clock::now() > give_up) {
      gave_up = true;
      break;
    }
  }
  co_await handle;
  co_return gave_up ? 1 : 0;
}

class WakeIdleWorker : public ::testing::TestWithParam<weft::RunOrder> {};

TEST_P(WakeIdleWorker, AChildQueuedBehindASpinningTaskIsStolen) {
  weft::Runtime rt({.workers = 2, .run_order = GetParam()});
  const int rounds = static_cast<int>(weft::test::scaled(20'000));
  int lost = 0;
  for (int round = 0; round < rounds; ++round) lost += rt.block_on(spin_until_stolen());
  EXPECT_EQ(lost, 0) << "rounds whose child nobody stole";
}

INSTANTIATE_TEST_SUITE_P(BothOrders, WakeIdleWorker, ::testing::Values(weft::RunOrder::Lifo, weft::RunOrder::Fifo),
                         [](const ::testing::TestParamInfo<weft::RunOrder>& info) {
                           return std::string(info.param == weft::RunOrder::Lifo ? "Lifo" : "Fifo");
                         });

}  // namespace
