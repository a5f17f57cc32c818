// A wake-up whose worker's queue must grow, and cannot (out of memory). Queuing a task
// is noexcept (an Event::set, a timer, a cancel must not fail half done): before, the
// deque's std::bad_alloc escaped a noexcept function and terminated the process. Now
// the task goes to the injector instead (scheduler/src/runtime_core_impl.hpp, "Out of
// memory while queuing"), and every waiter still runs.
//
// One worker. 300 tasks, spawned from outside (so they come through the injector and
// leave the worker's deques untouched), wait on an Event; a last task waits until all
// of them are suspended, then sets the event with the k-th allocation on its thread
// failing, for k = 1, 2, ... until set() makes fewer than k allocations. The event
// wakes the 300 into the run-next slot and the worker's queue, whose first 256 slots
// they overflow, so the queue grows inside set(). Each time every waiter must resume
// exactly once, and the runtime must carry on. With both run orders (RunOrder::Fifo
// has a queue of its own for tasks).
//
// Under ThreadSanitizer there is no operator new replacement: the test skips.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <vector>

#include <weft/weft.hpp>

#include "failing_operator_new.hpp"

namespace {

using weft::Task;

constexpr int kWaiters = 300;        // more than a deque's first 256 slots
constexpr int kMaxAllocations = 20;  // far more than a growth makes

struct Round {
  weft::Event event;
  std::atomic<int> suspended{0};
  std::atomic<int> resumed{0};
  int allocations_left = 0;  // what set() left of fail_allocation_in
};

Task<void> waiter(Round* round) {
  // The count and the wait in one run of this task: once the setter (on the only
  // worker) sees the count complete, every waiter is suspended on the event.
  round->suspended.fetch_add(1, std::memory_order_relaxed);
  co_await round->event.wait();
  round->resumed.fetch_add(1, std::memory_order_relaxed);
}

Task<void> setter(Round* round, int k) {
  while (round->suspended.load(std::memory_order_relaxed) < kWaiters) co_await weft::this_task::yield();
  weft::test::fail_allocation_in = k;
  round->event.set();
  round->allocations_left = weft::test::fail_allocation_in;
  weft::test::fail_allocation_in = 0;
}

class QueueOutOfMemory : public ::testing::TestWithParam<weft::RunOrder> {};

TEST_P(QueueOutOfMemory, AWakeUpWhoseQueueCannotGrowStillRunsEveryWaiter) {
  if (!WEFT_TEST_FAILING_NEW) GTEST_SKIP() << "no operator new replacement under ThreadSanitizer";
  bool some_allocation_failed = false;
  bool last_round_allocated_nothing_more = false;
  for (int k = 1; k <= kMaxAllocations && !last_round_allocated_nothing_more; ++k) {
    SCOPED_TRACE("allocation " + std::to_string(k));
    // A fresh runtime each round: its deques have never grown.
    weft::Runtime rt({.workers = 1, .run_order = GetParam()});
    Round round;
    std::vector<weft::JoinHandle<void>> waiters;
    for (int i = 0; i < kWaiters; ++i) waiters.push_back(rt.spawn(waiter(&round)));
    rt.block_on(setter(&round, k));
    rt.block_on([](std::vector<weft::JoinHandle<void>>& handles) -> Task<void> {
      for (auto& handle : handles) co_await handle;
    }(waiters));
    EXPECT_EQ(round.resumed.load(), kWaiters);
    // fail_allocation_in reached 0: the k-th allocation in set() was made, and failed.
    if (round.allocations_left == 0) some_allocation_failed = true;
    else last_round_allocated_nothing_more = true;
  }
  EXPECT_TRUE(some_allocation_failed) << "set() allocated nothing: the queue did not grow in it";
  EXPECT_TRUE(last_round_allocated_nothing_more) << "set() still allocating after " << kMaxAllocations;
}

INSTANTIATE_TEST_SUITE_P(BothOrders, QueueOutOfMemory, ::testing::Values(weft::RunOrder::Lifo, weft::RunOrder::Fifo),
                         [](const ::testing::TestParamInfo<weft::RunOrder>& info) {
                           return std::string(info.param == weft::RunOrder::Lifo ? "Lifo" : "Fifo");
                         });

}  // namespace
