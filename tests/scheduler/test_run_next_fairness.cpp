// MAX_RUN_NEXT_RUNS keeps two tasks that wake each other from starving the worker's
// queues (runtime_core_impl.hpp, opening comment). One worker; two players ping-pong
// through Events (each wake-up takes the run-next slot) for kLimit exchanges, while a
// task queued before the first wake-up waits in the queue. It must run after a few
// exchanges, not after the ping-pong ends, in both run orders. (With Lifo it waited for
// all 10,000 until 2026-11-22: the task displaced from the slot went to the deque's
// bottom and was popped straight back.)
#include <gtest/gtest.h>

#include <string>

#include <weft/weft.hpp>

namespace {

using weft::JoinHandle;
using weft::Task;

constexpr int kLimit = 10000;

struct PingPong {
  weft::Event a, b;
  int exchanges = 0;
  int victim_ran_at = -1;
};

Task<void> player(weft::Event* mine, weft::Event* other, PingPong* s) {
  for (;;) {
    co_await mine->wait();
    mine->clear();
    if (s->exchanges >= kLimit) {
      other->set();
      co_return;
    }
    ++s->exchanges;
    other->set();
  }
}

Task<void> victim(PingPong* s) {
  s->victim_ran_at = s->exchanges;
  co_return;
}

class RunNextFairness : public ::testing::TestWithParam<weft::RunOrder> {};

TEST_P(RunNextFairness, TwoTasksWakingEachOtherDoNotStarveTheQueue) {
  weft::Runtime rt({.workers = 1, .run_order = GetParam()});
  PingPong s;
  rt.block_on([&]() -> Task<void> {
    JoinHandle<void> pa = weft::spawn(player(&s.a, &s.b, &s));
    JoinHandle<void> pb = weft::spawn(player(&s.b, &s.a, &s));
    co_await weft::this_task::yield();  // both players wait now
    JoinHandle<void> v = weft::spawn(victim(&s));  // queued on this worker
    s.a.set();                                     // player a takes the run-next slot
    co_await v;
    co_await pa;
    co_await pb;
  }());
  EXPECT_GE(s.victim_ran_at, 0);
  // MAX_RUN_NEXT_RUNS is 3: the queued task should get its turn within a few exchanges.
  EXPECT_LT(s.victim_ran_at, 10) << "the queued task waited for " << s.victim_ran_at << " exchanges";
}

INSTANTIATE_TEST_SUITE_P(BothOrders, RunNextFairness, ::testing::Values(weft::RunOrder::Lifo, weft::RunOrder::Fifo),
                         [](const ::testing::TestParamInfo<weft::RunOrder>& info) {
                           return std::string(info.param == weft::RunOrder::Lifo ? "Lifo" : "Fifo");
                         });

}  // namespace
