// Checks that a runtime's worker threads are named "<name>-<i>" (what top, gdb and
// perf show), i in 0..workers-1, and that workers() reports the count.
#include <gtest/gtest.h>
#include <pthread.h>

#include <mutex>
#include <set>
#include <string>

#include <weft/weft.hpp>

namespace {

std::string thread_name() {
  char name[16] = {};
  pthread_getname_np(pthread_self(), name, sizeof name);
  return name;
}

TEST(WorkerNames, WorkersAreNamedAfterTheRuntime) {
  weft::Runtime rt({.workers = 3, .name = "pool"});
  EXPECT_EQ(rt.workers(), 3u);
  std::set<std::string> seen;
  std::mutex seen_mutex;
  auto where = [&]() -> weft::Task<void> {
    std::lock_guard guard(seen_mutex);
    seen.insert(thread_name());
    co_return;
  };
  auto many = [&]() -> weft::Task<void> {
    for (int i = 0; i < 200; ++i) {
      auto handle = weft::spawn(where());
      co_await weft::this_task::yield();
      co_await handle;
    }
  };
  rt.block_on(many());
  ASSERT_FALSE(seen.empty());
  for (const std::string& name : seen)
    EXPECT_TRUE(name == "pool-0" || name == "pool-1" || name == "pool-2") << name;
}

TEST(WorkerNames, DefaultNameIsWeft) {
  weft::Runtime rt({.workers = 1});
  auto where = []() -> weft::Task<std::string> { co_return thread_name(); };
  EXPECT_EQ(rt.block_on(where()), "weft-0");
}

}  // namespace
