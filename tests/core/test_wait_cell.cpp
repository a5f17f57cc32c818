// WaitCell, single-threaded: arm() returns strictly increasing generations (1, 2, ...)
// and puts the cell in WAITING; try_wake(g) and try_cancel(g) succeed only from
// WAITING of generation g and move it to WOKEN / CANCELLED; once the wait has ended
// nothing else wins; a stale generation's try_wake / try_cancel(g) fails after a
// re-arm; try_cancel() (no generation) cancels whatever wait is in progress while
// try_cancel(g) needs the right one; status() is checked after every step, and a
// failed attempt never changes it.
#include "weft/core/wait_cell.hpp"

#include <gtest/gtest.h>

#include <cstdint>

namespace {

using weft::detail::WaitCell;

TEST(WaitCell, FreshCellIsIdleAndNothingWins) {
  WaitCell c;
  EXPECT_EQ(c.status(), WaitCell::IDLE);
  for (std::uint64_t g : {0u, 1u, 2u}) {
    EXPECT_FALSE(c.try_wake(g)) << g;
    EXPECT_FALSE(c.try_cancel(g)) << g;
    EXPECT_EQ(c.status(), WaitCell::IDLE);
  }
  EXPECT_FALSE(c.try_cancel());
  EXPECT_EQ(c.status(), WaitCell::IDLE);
}

TEST(WaitCell, ArmReturnsIncreasingGenerations) {
  WaitCell c;
  std::uint64_t prev = 0;
  for (int i = 0; i < 1000; ++i) {
    const std::uint64_t g = c.arm();
    EXPECT_EQ(g, prev + 1);
    EXPECT_EQ(c.status(), WaitCell::WAITING);
    // End the wait in turn by a wake, a targeted cancel, an untargeted cancel, or not
    // at all (re-armed while still WAITING): the next generation is still prev + 1.
    switch (i % 4) {
      case 0: EXPECT_TRUE(c.try_wake(g)); EXPECT_EQ(c.status(), WaitCell::WOKEN); break;
      case 1: EXPECT_TRUE(c.try_cancel(g)); EXPECT_EQ(c.status(), WaitCell::CANCELLED); break;
      case 2: EXPECT_TRUE(c.try_cancel()); EXPECT_EQ(c.status(), WaitCell::CANCELLED); break;
      default: break;
    }
    prev = g;
  }
}

TEST(WaitCell, TryWakeRightGenerationWinsOnce) {
  WaitCell c;
  const auto g = c.arm();
  EXPECT_TRUE(c.try_wake(g));
  EXPECT_EQ(c.status(), WaitCell::WOKEN);
  // The wait is over: a second wake, and any cancel, lose.
  EXPECT_FALSE(c.try_wake(g));
  EXPECT_FALSE(c.try_cancel(g));
  EXPECT_FALSE(c.try_cancel());
  EXPECT_EQ(c.status(), WaitCell::WOKEN);
}

TEST(WaitCell, TryWakeWrongGenerationFails) {
  WaitCell c;
  c.arm();
  c.arm();
  const auto g = c.arm();  // 3
  ASSERT_EQ(g, 3u);
  for (std::uint64_t other : {std::uint64_t{0}, g - 2, g - 1, g + 1, g + 100}) {
    EXPECT_FALSE(c.try_wake(other)) << other;
    EXPECT_FALSE(c.try_cancel(other)) << other;
    EXPECT_EQ(c.status(), WaitCell::WAITING);
  }
  EXPECT_TRUE(c.try_wake(g));
  EXPECT_EQ(c.status(), WaitCell::WOKEN);
}

TEST(WaitCell, TryCancelWithGenerationWinsOnce) {
  WaitCell c;
  const auto g = c.arm();
  EXPECT_TRUE(c.try_cancel(g));
  EXPECT_EQ(c.status(), WaitCell::CANCELLED);
  EXPECT_FALSE(c.try_cancel(g));
  EXPECT_FALSE(c.try_wake(g));  // the resource loses: it skips this waiter
  EXPECT_FALSE(c.try_cancel());
  EXPECT_EQ(c.status(), WaitCell::CANCELLED);
}

TEST(WaitCell, StaleGenerationFailsAfterRearm) {
  // After the wait for g1 ended (woken), the task waits again (g2): a resource still
  // holding g1 cannot wake the new wait; the one holding g2 can.
  {
    WaitCell c;
    const auto g1 = c.arm();
    ASSERT_TRUE(c.try_wake(g1));
    const auto g2 = c.arm();
    EXPECT_GT(g2, g1);
    EXPECT_EQ(c.status(), WaitCell::WAITING);
    EXPECT_FALSE(c.try_wake(g1));
    EXPECT_FALSE(c.try_cancel(g1));
    EXPECT_EQ(c.status(), WaitCell::WAITING);
    EXPECT_TRUE(c.try_wake(g2));
    EXPECT_EQ(c.status(), WaitCell::WOKEN);
  }
  // The same after the earlier wait was cancelled, and with several waits in between.
  {
    WaitCell c;
    const auto g1 = c.arm();
    ASSERT_TRUE(c.try_cancel());
    c.arm();
    const auto g3 = c.arm();
    EXPECT_EQ(c.status(), WaitCell::WAITING);
    EXPECT_FALSE(c.try_wake(g1));
    EXPECT_FALSE(c.try_wake(g3 - 1));
    EXPECT_EQ(c.status(), WaitCell::WAITING);
    EXPECT_TRUE(c.try_cancel(g3));
    EXPECT_EQ(c.status(), WaitCell::CANCELLED);
  }
}

TEST(WaitCell, TryCancelAnyGenerationVersusTryCancelGeneration) {
  WaitCell c;
  const auto g1 = c.arm();
  ASSERT_TRUE(c.try_wake(g1));
  const auto g2 = c.arm();
  // A targeted cancel of an old wait fails...
  EXPECT_FALSE(c.try_cancel(g1));
  EXPECT_EQ(c.status(), WaitCell::WAITING);
  // ...an untargeted one cancels the wait in progress, whatever its generation.
  EXPECT_TRUE(c.try_cancel());
  EXPECT_EQ(c.status(), WaitCell::CANCELLED);
  // It kept the generation: the cancelled wait's resource can no longer wake it, and
  // the next arm is g2 + 1.
  EXPECT_FALSE(c.try_wake(g2));
  EXPECT_FALSE(c.try_cancel());
  EXPECT_EQ(c.status(), WaitCell::CANCELLED);
  EXPECT_EQ(c.arm(), g2 + 1);
  EXPECT_EQ(c.status(), WaitCell::WAITING);

  // With no wait in progress (IDLE, WOKEN, CANCELLED) try_cancel() does nothing.
  WaitCell idle;
  EXPECT_FALSE(idle.try_cancel());
  EXPECT_EQ(idle.status(), WaitCell::IDLE);
}

}  // namespace
