// The two orders of failed starts that test_gather_out_of_memory cannot reach, made
// deterministic (ForkJoin's "Out of memory on the slow path", detail/fork_join.hpp):
//   (a) a failed start listed behind another (the marker) before any record exists;
//   (b) the record made while the marker is still inside its cancel request on the
//       gathering task (kMarkPending set): the maker leaves the marker's child to the
//       marker, which reports it, and its request, through the record.
//
// Three workers: W0 runs the gathering task; W1 and W2 each run a holder task that keeps
// them busy until released, then arms the worker's next allocation to fail (the
// record's, in start_fork_job). Before them the gathering task spawns a task X, which
// W1 or W2 runs until it waits on an event. gather(a, b, c) leaves c on top of W0's
// fork-job deque and b below it; the inline child a spawns the sentinels S and S1
// (W0's task queue), sets X's event and awaits X. Woken by a, X takes W0's run-next
// slot and runs there next, before W0 would start b itself (a worker's loop takes its
// fork jobs before its tasks: scheduler/src/runtime_core_impl.hpp). X registers a stop
// callback and releases W1. W1
// steals c and fails: it is the marker, and its request on the gathering task is
// forwarded to X, whose stop callback runs on W1, inside the request. X then releases
// W2, which steals b and fails (listed behind c: (a)), then steals S, which says so and
// keeps W2 busy until S1 ran. Nobody can make the record meanwhile: W0 runs X, W1 is in
// the callback, W2's start failed.
//   HoldUntilTheGathererWaits, (a) then (b): the callback returns only once the
//   gathering task waits in the gather, which it does after making the record (X ends
//   once b is listed; the inline child, cancelled, fails; the gathering task makes the
//   record, counting b and leaving c to the marker).
//   HoldUntilBIsListed, (a) then the marker's own clearing of kMarkPending: the callback
//   returns once b is listed; the marker clears kMarkPending and, free, steals S1 (W0
//   and W2 are busy), which lets X end: the gathering task makes the record from a
//   list of two with the marker's request in orphan_mark_.
// Each time the gather raises std::bad_alloc, neither b nor c ran, every frame is
// cleaned up once and the gathering task's cancel count is back to 0.
//
// Under ThreadSanitizer there is no operator new replacement: the tests skip.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <new>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>

#include <weft/weft.hpp>

#include "cleanup_token.hpp"
#include "failing_operator_new.hpp"

namespace {

using namespace std::chrono_literals;
using weft::Task;
using weft::test::CleanupToken;
using weft::test::spin_until;

constexpr auto kDeadline = 60s;

struct Shared {
  weft::Runtime* runtime = nullptr;
  weft::TaskId gatherer = 0;
  bool hold_until_gatherer_waits = false;
  std::atomic<bool> w1_running{false}, w2_running{false};
  std::atomic<bool> release_w1{false}, release_w2{false};
  std::atomic<bool> in_callback{false};  // the marker is inside its request
  std::atomic<bool> b_listed{false};     // S ran on W2, after W2's start of b failed
  std::atomic<bool> marker_done{false};  // S1 ran
  std::atomic<bool> gatherer_waited{false};
  weft::Event x_go;  // set by the inline child: X runs on W0 from then on
  std::atomic<int> bodies[3]{};
  std::atomic<int> cleaned[3]{};
  std::optional<weft::JoinHandle<void>> s_handle, s1_handle, x_handle;
  std::optional<std::stop_callback<std::function<void()>>> x_callback;
  std::string failure;  // a timeout in the stop callback (no exception may leave it)
};

// Keeps its worker busy until released, then fails the worker's next allocation.
Task<void> holder(std::atomic<bool>* running, std::atomic<bool>* release) {
  running->store(true, std::memory_order_release);
  spin_until(*release, "holder never released", kDeadline);
  weft::test::fail_allocation_in = 1;
  co_return;
}

// Run by W2 once its start of b failed; keeps W2 busy until S1 ran.
Task<void> sentinel(Shared* shared) {
  shared->b_listed.store(true, std::memory_order_release);
  spin_until(shared->marker_done, "S1 never ran", kDeadline);
  co_return;
}

Task<void> sentinel1(Shared* shared) {
  shared->marker_done.store(true, std::memory_order_release);
  co_return;
}

bool gatherer_waits_in_the_gather(const Shared& shared) {
  for (const weft::TaskInfo& info : shared.runtime->tasks())
    if (info.id == shared.gatherer && info.awaiting.rfind("gather", 0) == 0) return true;
  return false;
}

// On the marker's thread, inside its request on the gathering task.
void hold_the_marker(Shared* shared) {
  shared->in_callback.store(true, std::memory_order_release);
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  for (;;) {
    if (shared->hold_until_gatherer_waits ? gatherer_waits_in_the_gather(*shared)
                                          : shared->b_listed.load(std::memory_order_acquire))
      break;
    if (std::chrono::steady_clock::now() > deadline) {
      shared->failure = "timeout in the stop callback";
      break;
    }
    std::this_thread::yield();
  }
  if (shared->hold_until_gatherer_waits) shared->gatherer_waited.store(true, std::memory_order_release);
}

// Run by W0 while the inline child awaits it (once it was woken there).
Task<void> x_task(Shared* shared) {
  co_await shared->x_go.wait();
  // Outlives X: a stop_callback's destructor waits for a callback running elsewhere.
  shared->x_callback.emplace(weft::this_task::stop_token(), std::function<void()>([shared] { hold_the_marker(shared); }));
  shared->release_w1.store(true, std::memory_order_release);
  spin_until(shared->in_callback, "the marker's request never reached X", kDeadline);
  shared->release_w2.store(true, std::memory_order_release);
  spin_until(shared->b_listed, "b was never listed", kDeadline);
  if (!shared->hold_until_gatherer_waits) spin_until(shared->marker_done, "the marker never came back", kDeadline);
  co_return;
}

Task<int> inline_child(Shared* shared, CleanupToken) {
  shared->bodies[0].fetch_add(1);
  shared->s_handle.emplace(weft::spawn(sentinel(shared)));
  shared->s1_handle.emplace(weft::spawn(sentinel1(shared)));
  shared->x_go.set();          // X to W0's run-next slot
  co_await *shared->x_handle;  // W0 runs X next
  weft::this_task::throw_if_cancelled();
  throw std::runtime_error("the marker's request never reached the gathering task");
}

Task<int> stolen_child(Shared* shared, int index, CleanupToken) {
  shared->bodies[index].fetch_add(1);
  co_return index;
}

struct Result {
  bool bad_alloc = false;
  std::string other;
  int cancelling_after = -1;
};

// X has reached its wait on x_go, on another worker: the event's set() will queue it.
bool x_waits(const Shared& shared) {
  for (const weft::TaskInfo& info : shared.runtime->tasks())
    if (info.id == shared.x_handle->id() && info.state == weft::TaskState::Suspended) return true;
  return false;
}

Task<Result> attempt(Shared* shared) {
  shared->gatherer = weft::this_task::id();
  shared->x_handle.emplace(weft::spawn(x_task(shared)));
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  while (!x_waits(*shared)) {
    if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("timeout: X never waited");
    std::this_thread::yield();
  }
  auto w1 = weft::spawn(holder(&shared->w1_running, &shared->release_w1));
  spin_until(shared->w1_running, "holder 1 never ran", kDeadline);
  auto w2 = weft::spawn(holder(&shared->w2_running, &shared->release_w2));
  spin_until(shared->w2_running, "holder 2 never ran", kDeadline);
  // No suspension from here to the gather: W0 stays ours; W1 and W2 are held.
  Result result;
  try {
    (void)co_await weft::gather(inline_child(shared, CleanupToken(&shared->cleaned[0])),
                                stolen_child(shared, 1, CleanupToken(&shared->cleaned[1])),
                                stolen_child(shared, 2, CleanupToken(&shared->cleaned[2])));
  } catch (const std::bad_alloc&) {
    result.bad_alloc = true;
  } catch (const std::exception& error) {
    result.other = error.what();
  }
  result.cancelling_after = weft::this_task::cancelling();
  co_await w1;
  co_await w2;
  if (shared->s_handle) co_await *shared->s_handle;
  if (shared->s1_handle) co_await *shared->s1_handle;
  shared->s_handle.reset();
  shared->s1_handle.reset();
  shared->x_handle.reset();
  co_return result;
}

void run(bool hold_until_gatherer_waits) {
  if (!WEFT_TEST_FAILING_NEW) GTEST_SKIP() << "no operator new replacement under ThreadSanitizer";
  for (int round = 0; round < 20; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    Shared shared;  // outlives the runtime, which waits for every task
    weft::Runtime rt({.workers = 3});
    shared.runtime = &rt;
    shared.hold_until_gatherer_waits = hold_until_gatherer_waits;
    const Result result = rt.block_on(attempt(&shared));
    EXPECT_TRUE(result.bad_alloc) << result.other;
    EXPECT_EQ(shared.failure, "");
    EXPECT_EQ(result.cancelling_after, 0);
    EXPECT_EQ(shared.bodies[0].load(), 1);
    EXPECT_EQ(shared.bodies[1].load(), 0);
    EXPECT_EQ(shared.bodies[2].load(), 0);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(shared.cleaned[i].load(), 1) << "child " << i;
    if (hold_until_gatherer_waits) {
      EXPECT_TRUE(shared.gatherer_waited.load());
    }
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(GatherOutOfMemoryLists, HoldUntilTheGathererWaits) { run(/*hold_until_gatherer_waits=*/true); }

TEST(GatherOutOfMemoryLists, HoldUntilBIsListed) { run(/*hold_until_gatherer_waits=*/false); }

}  // namespace
