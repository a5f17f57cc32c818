// The idle-worker protocol's decisions (scheduler/src/idle.hpp), step by step on one
// thread: who a pusher wakes, and which worker must look at the queues once more
// before it sleeps. The sequences are the interleavings the protocol's essay argues
// about, among them the one that lost a wake-up: a worker refused by the cap on
// searchers parked without looking, after a pusher had seen it awake and woken nobody.
#include "../../scheduler/src/idle.hpp"

#include <gtest/gtest.h>

namespace {

using weft::detail::Idle;

TEST(IdleProtocol, APusherWakesASleeperOnlyWhenNobodySearches) {
  Idle idle(2);
  EXPECT_FALSE(idle.worker_to_notify().has_value()) << "nobody sleeps";
  ASSERT_TRUE(idle.transition_worker_to_searching());
  idle.transition_worker_to_parked(1, /*was_searching=*/false);
  EXPECT_FALSE(idle.worker_to_notify().has_value()) << "worker 0 searches: it will find the work";
  EXPECT_TRUE(idle.transition_worker_from_searching()) << "worker 0 was the only searcher";
  const auto woken = idle.worker_to_notify();
  ASSERT_TRUE(woken.has_value());
  EXPECT_EQ(*woken, 1u);
  EXPECT_TRUE(idle.was_notified(1));
  EXPECT_EQ(idle.searching_now(), 1u) << "the woken worker is counted as searching";
}

TEST(IdleProtocol, TheLastSearcherToParkLooksAgain) {
  Idle idle(4);
  ASSERT_TRUE(idle.transition_worker_to_searching());
  ASSERT_TRUE(idle.transition_worker_to_searching());
  EXPECT_FALSE(idle.transition_worker_to_parked(0, /*was_searching=*/true)) << "another searcher is left";
  EXPECT_TRUE(idle.transition_worker_to_parked(1, /*was_searching=*/true)) << "the last searcher";
}

TEST(IdleProtocol, AWorkerRefusedByTheCapLooksAgainWhenNobodySearchesAnyMore) {
  // Two workers. Worker 0 searches, so the cap (half the workers) refuses worker 1,
  // which goes to park without searching. Meanwhile worker 0 finds a task, stops
  // searching (nothing else visible yet), runs it and pushes a fork-join child: its
  // pusher's look sees nobody searching and both workers awake, and wakes nobody.
  Idle idle(2);
  ASSERT_TRUE(idle.transition_worker_to_searching());
  EXPECT_FALSE(idle.transition_worker_to_searching()) << "the cap: 1 of 2 searches already";
  EXPECT_TRUE(idle.transition_worker_from_searching());
  EXPECT_FALSE(idle.worker_to_notify().has_value()) << "nobody sleeps yet";
  // Worker 1 parks. Nobody searches: it must look at the queues once more, find the
  // child and wake a worker (itself) instead of sleeping next to it.
  EXPECT_TRUE(idle.transition_worker_to_parked(1, /*was_searching=*/false));
  const auto woken = idle.worker_to_notify();
  ASSERT_TRUE(woken.has_value());
  EXPECT_EQ(*woken, 1u);
}

TEST(IdleProtocol, AWorkerThatNeverSearchedLeavesTheLookToASearcher) {
  Idle idle(4);
  ASSERT_TRUE(idle.transition_worker_to_searching());
  EXPECT_FALSE(idle.transition_worker_to_parked(2, /*was_searching=*/false))
      << "a searcher is still looking and looks again when it stops";
  EXPECT_TRUE(idle.transition_worker_to_parked(0, /*was_searching=*/true)) << "that searcher";
}

TEST(IdleProtocol, AWorkerThatWakesByItselfLeavesTheSleepers) {
  Idle idle(2);
  idle.transition_worker_to_parked(0, false);
  idle.transition_worker_to_parked(1, false);
  EXPECT_TRUE(idle.all_parked());
  EXPECT_TRUE(idle.unpark_self(0));
  EXPECT_FALSE(idle.all_parked());
  EXPECT_FALSE(idle.was_notified(1)) << "still asleep";
  const auto woken = idle.worker_to_notify();
  ASSERT_TRUE(woken.has_value());
  EXPECT_EQ(*woken, 1u);
  EXPECT_FALSE(idle.unpark_self(1)) << "a notifier took it off the list already";
}

}  // namespace
