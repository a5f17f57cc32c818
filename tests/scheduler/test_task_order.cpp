// Checks the order in which one worker runs what it has queued
// (scheduler/src/runtime_core_impl.hpp, "Order on one worker"). With RunOrder::Fifo,
// the order asyncio's single-threaded loop gives:
//   * tasks start in the order spawned;
//   * tasks made ready together (cancelled one after the other) run in that order;
//   * the one exception: the first task woken by the running one runs next, before
//     tasks queued earlier (the run-next slot), and a later wake-up does not take its
//     place;
//   * a gather whose inline chain is suspended has its other children started by the
//     worker's loop in their order (with either order).
// With the default, RunOrder::Lifo, the newest first: tasks start in the reverse order
// of their spawns, and the last task woken runs next.
// One worker throughout: on several, tasks run in parallel and no order is promised.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <tuple>
#include <vector>

#include <weft/weft.hpp>

#include "runtime_helpers.hpp"

namespace {

using namespace std::chrono_literals;
using weft::JoinHandle;
using weft::Task;
using weft::test::Log;  // what the tasks did, in order

Task<void> note(Log* trace, std::string entry) {
  trace->add(std::move(entry));
  co_return;
}

// Spawns make(trace, "0"), make(trace, "1"), ...
template <class Make>
std::vector<JoinHandle<void>> spawn_numbered(int count, Log* trace, Make make) {
  std::vector<JoinHandle<void>> tasks;
  for (int i = 0; i < count; ++i) tasks.push_back(weft::spawn(make(trace, std::to_string(i))));
  return tasks;
}

weft::RuntimeOptions fifo() { return {.workers = 1, .run_order = weft::RunOrder::Fifo}; }

TEST(TaskOrder, SpawnedTasksStartInTheOrderSpawned) {
  weft::Runtime rt(fifo());
  Log trace;
  rt.block_on([&]() -> Task<void> {
    std::vector<JoinHandle<void>> tasks = spawn_numbered(8, &trace, note);
    for (auto& task : tasks) co_await task;
  }());
  EXPECT_EQ(trace.lines(), (std::vector<std::string>{"0", "1", "2", "3", "4", "5", "6", "7"}));
}

// Sleeps until cancelled; its cleanup says who it is.
Task<void> sleeper(Log* trace, std::string name) {
  try {
    co_await weft::sleep_for(1h);
  } catch (const weft::CancelledError&) {
    trace->add(name);
    throw;
  }
}

TEST(TaskOrder, TasksCancelledTogetherRunTheirCleanupInTheOrderCancelled) {
  weft::Runtime rt(fifo());
  Log trace;
  rt.block_on([&]() -> Task<void> {
    std::vector<JoinHandle<void>> tasks = spawn_numbered(5, &trace, sleeper);
    // A yield goes behind everything queued: the sleepers have all started sleeping.
    co_await weft::this_task::yield();
    for (auto& task : tasks) EXPECT_TRUE(task.cancel());
    for (auto& task : tasks) {
      try {
        co_await task;
      } catch (const weft::TaskCancelled&) {
      }
    }
  }());
  EXPECT_EQ(trace.lines(), (std::vector<std::string>{"0", "1", "2", "3", "4"}));
}

Task<void> wait_then_note(weft::Event* event, Log* trace, std::string name) {
  co_await event->wait();
  trace->add(std::move(name));
}

TEST(TaskOrder, TheFirstTaskWokenRunsNextAheadOfOlderTasks) {
  weft::Runtime rt(fifo());
  Log trace;
  weft::Event first_event, second_event;
  rt.block_on([&]() -> Task<void> {
    JoinHandle<void> first = weft::spawn(wait_then_note(&first_event, &trace, "woken first"));
    JoinHandle<void> second = weft::spawn(wait_then_note(&second_event, &trace, "woken second"));
    co_await weft::this_task::yield();  // both wait now
    JoinHandle<void> older = weft::spawn(note(&trace, "spawned before the wake-ups"));
    first_event.set();   // the run-next slot
    second_event.set();  // behind the spawned task
    co_await first;
    co_await second;
    co_await older;
  }());
  EXPECT_EQ(trace.lines(),
            (std::vector<std::string>{"woken first", "spawned before the wake-ups", "woken second"}));
}

// The inline chain runs `first`, which yields: the chain is suspended, and the worker's
// loop takes the gather's other children from its fork-job deque, in order.
Task<int> first_child(Log* trace) {
  trace->add("first, before its yield");
  co_await weft::this_task::yield();
  trace->add("first, after its yield");
  co_return 0;
}

Task<int> later_child(Log* trace, int index) {
  trace->add("child " + std::to_string(index));
  co_return index;
}

class GatherOrder : public ::testing::TestWithParam<weft::RunOrder> {};

TEST_P(GatherOrder, OtherChildrenStartInOrderWhileTheInlineChildIsSuspended) {
  weft::Runtime rt({.workers = 1, .run_order = GetParam()});
  Log trace;
  const auto [a, b, c, d] = rt.block_on([&]() -> Task<std::tuple<int, int, int, int>> {
    co_return co_await weft::gather(first_child(&trace), later_child(&trace, 1), later_child(&trace, 2),
                                    later_child(&trace, 3));
  }());
  EXPECT_EQ(a + b + c + d, 6);
  const std::vector<std::string> entries = trace.lines();
  ASSERT_EQ(entries.size(), 5u);
  EXPECT_EQ(entries.front(), "first, before its yield");
  std::vector<std::string> children;
  for (const std::string& entry : entries)
    if (entry.rfind("child ", 0) == 0) children.push_back(entry);
  EXPECT_EQ(children, (std::vector<std::string>{"child 1", "child 2", "child 3"}));
}

INSTANTIATE_TEST_SUITE_P(TaskOrder, GatherOrder, ::testing::Values(weft::RunOrder::Lifo, weft::RunOrder::Fifo),
                         [](const ::testing::TestParamInfo<weft::RunOrder>& info) {
                           return std::string(info.param == weft::RunOrder::Lifo ? "Lifo" : "Fifo");
                         });

// The default: newest first, for throughput (run_order.hpp).
TEST(TaskOrder, ByDefaultTheNewestRunsFirst) {
  weft::Runtime rt({.workers = 1});
  Log trace;
  weft::Event first_event, second_event;
  rt.block_on([&]() -> Task<void> {
    std::vector<JoinHandle<void>> tasks = spawn_numbered(4, &trace, note);
    JoinHandle<void> first = weft::spawn(wait_then_note(&first_event, &trace, "woken first"));
    JoinHandle<void> second = weft::spawn(wait_then_note(&second_event, &trace, "woken second"));
    for (auto& task : tasks) co_await task;  // the two waiters ran first: they wait now
    first_event.set();
    second_event.set();  // takes the run-next slot from the first
    co_await first;
    co_await second;
  }());
  EXPECT_EQ(trace.lines(), (std::vector<std::string>{"3", "2", "1", "0", "woken second", "woken first"}));
}

}  // namespace
