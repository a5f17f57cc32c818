// Checks introspection: Runtime::tasks() lists live tasks with their names, states,
// parents, spawn site (also of the tasks that shield, wait_for, move_on_after and
// cancel_after spawn for their caller) and what they await ("task <id>", "sleep 1h"), completed tasks
// leave the list, Runtime::cancel(id) reaches a task found there (also from a stop
// callback that the cancel of another task runs), and dump() prints the task tree with
// each child indented under its parent.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <weft/weft.hpp>

#include "runtime_helpers.hpp"

namespace {

using namespace std::chrono_literals;
using weft::Task;

const weft::TaskInfo* find(const std::vector<weft::TaskInfo>& tasks, std::string_view name) {
  for (const auto& info : tasks)
    if (info.name == name) return &info;
  return nullptr;
}

// The calling task's spawn site as listed by tasks(): "file:line".
Task<std::string> own_spawn_site(const weft::Runtime& rt) {
  const std::vector<weft::TaskInfo> tasks = rt.tasks();
  std::string site = "(not listed)";
  for (const weft::TaskInfo& info : tasks)
    if (info.id == weft::this_task::id()) site = std::string(info.spawned_file) + ":" + std::to_string(info.spawned_line);
  co_return site;
}

// The spawn site is the line that called spawn, also when the call is the operand of a
// co_await (the site is a defaulted argument of class type, which g++ 12 mis-passes
// inside co_await for some types: docs/COMPILERS.md) and when options are given.
TEST(Introspection, TheSpawnSiteIsTheCallersLine) {
  weft::Runtime rt({.workers = 1});
  auto own_site = [&] { return own_spawn_site(rt); };
  auto parent = [&]() -> Task<std::vector<std::string>> {
    std::vector<std::string> sites;
    // Named: g++ 12 destroys a temporary SpawnOptions in a co_await operand twice
    // (docs/COMPILERS.md).
    weft::SpawnOptions options{.name = "named", .stop = {}};
    const unsigned first = __LINE__ + 1;
    sites.push_back(co_await weft::spawn(own_site()));
    sites.push_back(co_await weft::spawn(own_site(), std::move(options)));
    auto handle = weft::spawn(own_site());
    sites.push_back(co_await handle);
    sites.push_back(std::to_string(first));
    co_return sites;
  };
  const unsigned outside = __LINE__ + 1;
  auto from_outside = rt.spawn(own_site());
  const std::vector<std::string> sites = rt.block_on(parent());
  ASSERT_EQ(sites.size(), 4u);
  const unsigned first = static_cast<unsigned>(std::stoul(sites[3]));
  for (unsigned i = 0; i < 3; ++i) {
    EXPECT_NE(sites[i].find("test_introspection.cpp:"), std::string::npos) << sites[i];
    EXPECT_TRUE(sites[i].ends_with(":" + std::to_string(first + i))) << sites[i];
  }
  const std::string outside_site = rt.block_on([&]() -> Task<std::string> { co_return co_await from_outside; }());
  EXPECT_TRUE(outside_site.ends_with("test_introspection.cpp:" + std::to_string(outside))) << outside_site;
}

// The tasks that shield(Task), wait_for(Task), wait_until(Task), move_on_after(Task) and
// cancel_after spawn on the caller's behalf are listed at the caller's line, not at a
// line of weft's headers.
TEST(Introspection, TasksSpawnedOnTheCallersBehalfNameTheCallersLine) {
  weft::ManualClock clock;  // never advanced: no timeout fires
  weft::Runtime rt({.workers = 1, .clock = &clock});
  auto own_site = [&] { return own_spawn_site(rt); };
  auto parent = [&]() -> Task<std::vector<std::string>> {
    std::vector<std::string> sites;
    const unsigned first = __LINE__ + 1;
    sites.push_back(co_await weft::shield(own_site()));
    sites.push_back(co_await weft::wait_for(own_site(), 1h));
    sites.push_back(co_await weft::wait_until(own_site(), clock.now() + 1h));
    sites.push_back((co_await weft::move_on_after(1h, own_site())).value_or("timed out"));
    std::stop_source source;
    auto stopper = weft::cancel_after(source, 1h);
    const std::vector<weft::TaskInfo> tasks = rt.tasks();
    for (const weft::TaskInfo& info : tasks)
      if (info.id == stopper.id()) sites.push_back(std::string(info.spawned_file) + ":" + std::to_string(info.spawned_line));
    source.request_stop();  // ends the stopper at once
    co_await stopper;
    sites.push_back(std::to_string(first));
    co_return sites;
  };
  const std::vector<std::string> sites = rt.block_on(parent());
  ASSERT_EQ(sites.size(), 6u);
  const unsigned first = static_cast<unsigned>(std::stoul(sites[5]));
  const unsigned lines[] = {first, first + 1, first + 2, first + 3, first + 5};
  for (unsigned i = 0; i < 5; ++i) {
    EXPECT_NE(sites[i].find("test_introspection.cpp:"), std::string::npos) << sites[i];
    EXPECT_TRUE(sites[i].ends_with(":" + std::to_string(lines[i]))) << sites[i];
  }
}

TEST(Introspection, TasksShowsNamesStatesParentsAndWhatTheyAwait) {
  weft::ManualClock clock;  // never advanced: the sleeper stays asleep until cancelled
  weft::Runtime rt({.workers = 2, .clock = &clock});
  auto sleeper = []() -> Task<void> { co_await weft::sleep_for(1h); };
  auto parent = [&]() -> Task<void> {
    auto child = weft::spawn(sleeper(), {.name = "child", .stop = {}});
    co_await child;
  };
  auto handle = rt.spawn(parent(), {.name = "parent", .stop = {}});
  std::vector<weft::TaskInfo> tasks;
  for (;;) {  // a condition wait on the runtime's own state
    tasks = rt.tasks();
    const auto* p = find(tasks, "parent");
    const auto* c = find(tasks, "child");
    if (p && c && p->state == weft::TaskState::Suspended && c->state == weft::TaskState::Suspended) break;
    std::this_thread::yield();
  }
  const auto* p = find(tasks, "parent");
  const auto* c = find(tasks, "child");
  EXPECT_EQ(p->id, handle.id());
  EXPECT_EQ(p->parent, 0u);  // spawned from outside any task
  EXPECT_EQ(c->parent, p->id);
  EXPECT_EQ(p->awaiting, "task " + std::to_string(c->id));
  EXPECT_EQ(c->awaiting, "sleep 1h");
  EXPECT_NE(std::string(p->spawned_file).find("test_introspection.cpp"), std::string::npos);
  EXPECT_GT(p->spawned_line, 0u);

  const std::string dump = rt.dump();
  const auto parent_at = dump.find("parent #");
  const auto child_at = dump.find("  child #");
  ASSERT_NE(parent_at, std::string::npos) << dump;
  ASSERT_NE(child_at, std::string::npos) << dump;
  EXPECT_LT(parent_at, child_at) << dump;
  EXPECT_NE(dump.find("awaiting sleep 1h"), std::string::npos) << dump;

  EXPECT_TRUE(rt.cancel(c->id, "from introspection"));
  auto waiter = [&]() -> Task<std::string> {
    try {
      co_await handle;
    } catch (const weft::CancelledError& error) {
      co_return error.what();
    }
    co_return "";
  };
  // The parent's own wait ended because its child was cancelled: TaskCancelled
  // propagated out of the parent, so the parent ended cancelled too.
  EXPECT_EQ(rt.block_on(waiter()), "from introspection");
  EXPECT_EQ(find(rt.tasks(), "parent"), nullptr);  // finished tasks leave the list
  EXPECT_FALSE(rt.cancel(c->id));
}

// Runtime::cancel(id) ran the task's stop callbacks (this_task::stop_token()) under a
// lock of the task registry; a callback that called Runtime::cancel, tasks() or dump()
// spun forever on that lock, held by its own thread. Found by a review: the request is
// now made outside the lock, with a reference taken under it.
TEST(Introspection, AStopCallbackMayCancelAnotherTaskById) {
  weft::Runtime rt({.workers = 2});
  weft::Event never;
  auto other_body = [&]() -> Task<void> { co_await never.wait(); };
  weft::JoinHandle<void> other = rt.spawn(other_body());
  const weft::TaskId other_id = other.id();
  std::atomic<bool> linked_cancel_taken{false};
  auto linked_body = [&]() -> Task<void> {
    // "When I am stopped, stop the other one too."
    std::stop_callback link(weft::this_task::stop_token(), [&] {
      linked_cancel_taken.store(rt.cancel(other_id, "linked"));
      (void)rt.tasks();
      (void)rt.dump();
    });
    co_await never.wait();
  };
  weft::JoinHandle<void> linked = rt.spawn(linked_body());
  weft::test::wait_until_awaiting(rt, linked.id(), "event");
  auto cancelling = std::async(std::launch::async, [&] { return rt.cancel(linked.id(), "stop"); });
  if (cancelling.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    ADD_FAILURE() << "Runtime::cancel(id) deadlocked in the stop callback";
    std::fflush(nullptr);
    std::_Exit(1);  // the canceller spins forever: nothing can unwind it
  }
  EXPECT_TRUE(cancelling.get());
  EXPECT_TRUE(linked_cancel_taken.load());
  auto join_linked = [&]() -> Task<void> { co_await linked; };
  auto join_other = [&]() -> Task<void> { co_await other; };
  EXPECT_THROW(rt.block_on(join_linked()), weft::TaskCancelled);
  EXPECT_THROW(rt.block_on(join_other()), weft::TaskCancelled) << "cancelled by the stop callback";
}

// A gather child that another worker stole runs as a helper task (docs/ASYNCIO.md): it
// is listed by tasks() and dump(), and belongs under the gathering task. It was listed
// with parent 0, as a root of the dump: submit_task took the parent from the thread's
// current task, and the thief starts the helper between tasks.
TEST(Introspection, AStolenGatherChildIsListedUnderTheGatheringTask) {
  weft::Runtime rt({.workers = 2});
  std::atomic<weft::TaskId> helper_id{0};
  std::atomic<bool> release{false};
  // Child 0 runs inline and holds its worker without suspending until child 1 has
  // started, which only the other worker can do: child 1 is certainly a helper.
  auto inline_child = [&]() -> Task<int> {
    while (helper_id.load() == 0) std::this_thread::yield();
    co_return 0;
  };
  auto stolen_child = [&]() -> Task<int> {
    helper_id.store(weft::this_task::id());
    while (!release.load()) std::this_thread::yield();
    co_return 1;
  };
  auto gatherer = [&]() -> Task<int> {
    auto [a, b] = co_await weft::gather(inline_child(), stolen_child());
    co_return a + b;
  };
  weft::JoinHandle<int> handle = rt.spawn(gatherer(), {.name = "gatherer", .stop = {}});
  while (helper_id.load() == 0) std::this_thread::yield();
  const std::vector<weft::TaskInfo> tasks = rt.tasks();
  const std::string dump = rt.dump();
  release.store(true);
  auto join = [&]() -> Task<int> { co_return co_await handle; };
  EXPECT_EQ(rt.block_on(join()), 1);

  const weft::TaskInfo* helper = nullptr;
  for (const weft::TaskInfo& info : tasks)
    if (info.id == helper_id.load()) helper = &info;
  ASSERT_NE(helper, nullptr) << dump;
  EXPECT_NE(helper->id, handle.id()) << "child 1 ran inline: not a helper";
  EXPECT_EQ(helper->parent, handle.id()) << dump;
  const std::string helper_line = "  task-" + std::to_string(helper_id.load()) + " #";
  EXPECT_NE(dump.find(helper_line), std::string::npos) << dump;
  EXPECT_LT(dump.find("gatherer #"), dump.find(helper_line)) << dump;
}

}  // namespace
