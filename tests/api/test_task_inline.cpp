// Checks lazy Tasks awaited inline: nothing runs before the await, values and void
// travel back, a Task destroyed without running frees its frame (ASan would report
// it), and a chain of one million inline co_awaits finishes without growing the stack:
// the stack depth at the first and at the last leaf is the same (symmetric transfer),
// in every build type.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>

#include <weft/weft.hpp>

#include "test_scale.hpp"

namespace {

using weft::Task;

Task<int> add_one(int x) { co_return x + 1; }

TEST(TaskInline, NothingRunsBeforeTheAwait) {
  bool ran = false;
  auto body = [](bool& flag) -> Task<void> {
    flag = true;
    co_return;
  };
  {
    Task<void> never_awaited = body(ran);
    EXPECT_TRUE(never_awaited.valid());
  }  // destroyed without running: its frame is freed
  EXPECT_FALSE(ran);
  weft::Runtime rt({.workers = 1});
  rt.block_on(body(ran));
  EXPECT_TRUE(ran);
}

TEST(TaskInline, AwaitedTaskReturnsItsValue) {
  weft::Runtime rt({.workers = 1});
  auto outer = []() -> Task<int> {
    Task<int> lazy = add_one(1);
    int a = co_await std::move(lazy);
    int b = co_await add_one(a);
    co_return b;
  };
  EXPECT_EQ(rt.block_on(outer()), 3);
}

TEST(TaskInline, ParametersLiveAsLongAsTheFrame) {
  weft::Runtime rt({.workers = 1});
  auto owner = std::make_shared<int>(9);
  auto reader = [](std::shared_ptr<int> value) -> Task<int> { co_return *value; };
  Task<int> task = reader(owner);
  EXPECT_EQ(owner.use_count(), 2);
  EXPECT_EQ(rt.block_on(std::move(task)), 9);
  EXPECT_EQ(owner.use_count(), 1);  // the frame, and its copy, are gone
}

std::uintptr_t stack_at_first_leaf = 0;
std::uintptr_t deepest_leaf = 0;

Task<std::uint64_t> leaf(std::uint64_t i) {
  int marker = 0;
  auto here = reinterpret_cast<std::uintptr_t>(&marker);
  if (stack_at_first_leaf == 0) stack_at_first_leaf = here;
  if (here < deepest_leaf || deepest_leaf == 0) deepest_leaf = here;
  co_return i;
}

Task<std::uint64_t> chain(std::uint64_t n) {
  std::uint64_t sum = 0;
  for (std::uint64_t i = 0; i < n; ++i) sum += co_await leaf(i);
  co_return sum;
}

TEST(TaskInline, AMillionInlineAwaitsDoNotGrowTheStack) {
  const std::uint64_t n = weft::test::scaled(1'000'000);
  weft::Runtime rt({.workers = 1});
  EXPECT_EQ(rt.block_on(chain(n)), n * (n - 1) / 2);
  // Every leaf ran at the same depth give or take a frame's worth of bytes: without
  // symmetric transfer each await would nest a resume() call and the stack would grow
  // by at least n * 16 bytes.
  EXPECT_LT(stack_at_first_leaf - deepest_leaf, 4096u);
}

Task<std::uint64_t> nested(std::uint64_t depth) {
  if (depth == 0) co_return 0;
  co_return 1 + co_await nested(depth - 1);
}

TEST(TaskInline, DeepRecursionOfInlineAwaitsRunsAtConstantStack) {
  // Recursion keeps every frame alive (heap) but each resume is a tail call.
  weft::Runtime rt({.workers = 1});
  const std::uint64_t depth = weft::test::scaled(100'000);
  EXPECT_EQ(rt.block_on(nested(depth)), depth);
}

}  // namespace
