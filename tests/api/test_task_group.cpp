// Checks weft::task_group against asyncio.TaskGroup (API.md, "Combinators and structured
// concurrency"): the group finishes when the body and every child finished; a child's or
// the body's failure cancels the body and the siblings and all failures come out together
// as ExceptionGroup; cancelling the owner cancels everything and throws CancelledError
// (ExceptionGroup if something failed in its cleanup, and then the owner is cancelled
// again, as asyncio 3.13 does); children cancelled by the group
// end cancelled and are not errors; spawn after the abort throws InvalidStateError and
// destroys the frame; nested groups; children spawning into the group; names.
//
// Each test translates one of CPython's Lib/test/test_asyncio/test_taskgroups.py (cited
// above it). Timing is deterministic: a ManualClock with auto advance, and sleep_for.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <set>
#include <stdexcept>
#include <stop_token>
#include <functional>
#include <string>
#include <typeinfo>
#include <vector>

#include <weft/task_group.hpp>
#include <weft/weft.hpp>

#include "runtime_helpers.hpp"

namespace {

using namespace std::chrono_literals;
using weft::CancelledError;
using weft::ExceptionGroup;
using weft::JoinHandle;
using weft::Task;
using weft::TaskCancelled;
using weft::TaskGroup;

struct ZeroDivision : std::runtime_error {
  ZeroDivision() : std::runtime_error("division by zero") {}
};
struct MyExc : std::runtime_error {
  MyExc() : std::runtime_error("MyExc") {}
};
struct ValueError : std::runtime_error {
  explicit ValueError(const std::string& w) : std::runtime_error(w) {}
};

// The set of the dynamic types of an ExceptionGroup's exceptions ("ZeroDivision", ...).
std::set<std::string> error_types(const ExceptionGroup& group) {
  std::set<std::string> out;
  for (const std::exception_ptr& e : group.exceptions()) {
    try {
      std::rethrow_exception(e);
    } catch (const ZeroDivision&) {
      out.insert("ZeroDivision");
    } catch (const MyExc&) {
      out.insert("MyExc");
    } catch (const ValueError&) {
      out.insert("ValueError");
    } catch (const ExceptionGroup&) {
      out.insert("ExceptionGroup");
    } catch (const weft::InvalidStateError&) {
      out.insert("InvalidStateError");
    } catch (const CancelledError&) {
      out.insert("CancelledError");
    } catch (...) {
      out.insert("other");
    }
  }
  return out;
}

class TaskGroupTest : public ::testing::Test {
 protected:
  TaskGroupTest() { clock.set_auto_advance(true); }
  weft::ManualClock clock;
  weft::Runtime rt{{.workers = 4, .clock = &clock}};
};

Task<int> sleep_then(std::chrono::milliseconds d, int value) {
  co_await weft::sleep_for(d);
  co_return value;
}

Task<void> sleep_then_fail(std::chrono::milliseconds d) {
  co_await weft::sleep_for(d);
  throw ZeroDivision();
}

// CPython: Lib/test/test_asyncio/test_taskgroups.py::test_taskgroup_01
TEST_F(TaskGroupTest, Results) {
  auto main = [&]() -> Task<void> {
    JoinHandle<int> t1, t2;
    co_await weft::task_group([&](TaskGroup& g) -> Task<void> {
      t1 = g.spawn(sleep_then(100ms, 42));
      t2 = g.spawn(sleep_then(200ms, 11));
      co_return;
    });
    EXPECT_TRUE(t1.done());
    EXPECT_TRUE(t2.done());
    EXPECT_EQ(t1.result(), 42);
    EXPECT_EQ(t2.result(), 11);
  };
  rt.block_on(main());
}

// CPython: Lib/test/test_asyncio/test_taskgroups.py::test_taskgroup_02
TEST_F(TaskGroupTest, SpawnAfterSleepInBody) {
  auto main = [&]() -> Task<void> {
    JoinHandle<int> t1, t2;
    co_await weft::task_group([&](TaskGroup& g) -> Task<void> {
      t1 = g.spawn(sleep_then(100ms, 42));
      co_await weft::sleep_for(150ms);
      t2 = g.spawn(sleep_then(200ms, 11));
    });
    EXPECT_EQ(t1.result(), 42);
    EXPECT_EQ(t2.result(), 11);
  };
  rt.block_on(main());
}

// CPython: Lib/test/test_asyncio/test_taskgroups.py::test_taskgroup_03
TEST_F(TaskGroupTest, CancellingOneChildExplicitlyIsNotAnError) {
  auto main = [&]() -> Task<void> {
    JoinHandle<int> t1, t2;
    co_await weft::task_group([&](TaskGroup& g) -> Task<void> {
      t1 = g.spawn(sleep_then(1000ms, 42));
      co_await weft::sleep_for(150ms);
      t1.cancel();
      t2 = g.spawn(sleep_then(200ms, 11));
    });
    EXPECT_TRUE(t1.cancelled());
    EXPECT_EQ(t2.result(), 11);
  };
  rt.block_on(main());
}

// CPython: Lib/test/test_asyncio/test_taskgroups.py::test_taskgroup_04
TEST_F(TaskGroupTest, ChildFailureCancelsSiblings) {
  std::atomic<int> num{0};
  std::atomic<bool> t2_cancel{false};
  JoinHandle<void> t2;
  auto foo2 = [&]() -> Task<void> {
    try {
      co_await weft::sleep_for(1s);
    } catch (const CancelledError&) {
      t2_cancel = true;
      throw;
    }
    num += 1;
  };
  auto runner = [&]() -> Task<void> {
    co_await weft::task_group([&](TaskGroup& g) -> Task<void> {
      g.spawn(sleep_then_fail(100ms));
      t2 = g.spawn(foo2());
      co_return;
    });
    num += 10;
  };
  try {
    rt.block_on(runner());
    FAIL() << "no ExceptionGroup";
  } catch (const ExceptionGroup& e) {
    EXPECT_EQ(error_types(e), std::set<std::string>{"ZeroDivision"});
  }
  EXPECT_EQ(num, 0);
  EXPECT_TRUE(t2_cancel);
  EXPECT_TRUE(t2.cancelled());
}

// CPython: Lib/test/test_asyncio/test_taskgroups.py::test_cancel_children_on_child_error
TEST_F(TaskGroupTest, ChildErrorCancelsChildrenAndBody) {
  std::atomic<int> num{0};
  std::atomic<bool> t2_cancel{false}, runner_cancel{false};
  auto foo2 = [&]() -> Task<void> {
    try {
      co_await weft::sleep_for(5s);
    } catch (const CancelledError&) {
      t2_cancel = true;
      throw;
    }
    num += 1;
  };
  auto runner = [&]() -> Task<void> {
    co_await weft::task_group([&](TaskGroup& g) -> Task<void> {
      g.spawn(sleep_then_fail(100ms));
      g.spawn(sleep_then_fail(100ms));
      g.spawn(sleep_then_fail(100ms));
      g.spawn(foo2());
      try {
        co_await weft::sleep_for(10s);
      } catch (const CancelledError&) {
        runner_cancel = true;
        throw;
      }
    });
    num += 10;
  };
  try {
    rt.block_on(runner());
    FAIL() << "no ExceptionGroup";
  } catch (const ExceptionGroup& e) {
    EXPECT_EQ(error_types(e), std::set<std::string>{"ZeroDivision"});
    EXPECT_GE(e.exceptions().size(), 1u);
  }
  EXPECT_EQ(num, 0);
  EXPECT_TRUE(t2_cancel);
  EXPECT_TRUE(runner_cancel);
}

// Runs `runner` as a task, lets it get going for `after`, cancels it with `message`, and
// returns what awaiting it threw.
template <class MakeRunner>
std::exception_ptr cancel_runner_after(weft::Runtime& rt, MakeRunner make_runner,
                                       std::chrono::milliseconds after, std::string message) {
  auto outer = [&]() -> Task<std::exception_ptr> {
    JoinHandle<void> r = weft::spawn(make_runner());
    co_await weft::sleep_for(after);
    EXPECT_FALSE(r.done());
    r.cancel(message);
    std::exception_ptr thrown;
    try {
      co_await r;
    } catch (...) {
      thrown = std::current_exception();
    }
    co_return thrown;
  };
  return rt.block_on(outer());
}

std::string cancelled_message(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const CancelledError& c) {
    return std::string("cancelled:") + c.what();
  } catch (const ExceptionGroup& g) {
    return "group";
  } catch (...) {
    return "other";
  }
}

// CPython: Lib/test/test_asyncio/test_taskgroups.py::test_cancellation (test_taskgroup_05)
TEST_F(TaskGroupTest, OwnerCancelCancelsAllChildren) {
  std::atomic<int> num{0};
  auto foo = [&]() -> Task<void> {
    try {
      co_await weft::sleep_for(5s);
    } catch (const CancelledError&) {
      num += 1;
      throw;
    }
  };
  auto runner = [&]() -> Task<void> {
    co_await weft::task_group([&](TaskGroup& g) -> Task<void> {
      for (int i = 0; i < 5; ++i) g.spawn(foo());
      co_return;
    });
  };
  std::exception_ptr e = cancel_runner_after(rt, runner, 100ms, "test");
  EXPECT_EQ(cancelled_message(e), "cancelled:test");
  EXPECT_EQ(num, 5);
}

// CPython: Lib/test/test_asyncio/test_taskgroups.py::test_taskgroup_07
TEST_F(TaskGroupTest, OwnerCancelCancelsBodyAndChildren) {
  std::atomic<int> num{0};
  auto foo = [&]() -> Task<void> {
    try {
      co_await weft::sleep_for(5s);
    } catch (const CancelledError&) {
      num += 1;
      throw;
    }
  };
  auto runner = [&]() -> Task<void> {
    co_await weft::task_group([&](TaskGroup& g) -> Task<void> {
      for (int i = 0; i < 5; ++i) g.spawn(foo());
      try {
        co_await weft::sleep_for(10s);
      } catch (const CancelledError&) {
        num += 10;
        throw;
      }
    });
  };
  std::exception_ptr e = cancel_runner_after(rt, runner, 100ms, "");
  EXPECT_EQ(cancelled_message(e), "cancelled:");
  EXPECT_EQ(num, 15);
}

// CPython: Lib/test/test_asyncio/test_taskgroups.py::test_taskgroup_08 (CPython 3.11)
TEST_F(TaskGroupTest, OwnerCancelledAndChildFailsInCleanupGivesExceptionGroup) {
  auto foo = []() -> Task<void> {
    try {
      co_await weft::sleep_for(10s);
    } catch (const CancelledError&) {
    }
    throw ZeroDivision();  // asyncio: `finally: 1 / 0`
  };
  auto runner = [&]() -> Task<void> {
    co_await weft::task_group([&](TaskGroup& g) -> Task<void> {
      for (int i = 0; i < 5; ++i) g.spawn(foo());
      co_await weft::sleep_for(10s);
    });
  };
  std::exception_ptr e = cancel_runner_after(rt, runner, 100ms, "");
  try {
    std::rethrow_exception(e);
  } catch (const ExceptionGroup& g) {
    EXPECT_EQ(error_types(g), std::set<std::string>{"ZeroDivision"});
    EXPECT_EQ(g.exceptions().size(), 5u);
  } catch (...) {
    FAIL() << "expected ExceptionGroup, got " << cancelled_message(e);
  }
}

// CPython: Lib/test/test_asyncio/test_taskgroups.py::test_cancellation_in_body
TEST_F(TaskGroupTest, OwnerCancelWhileBodySleepsKeepsMessage) {
  auto runner = [&]() -> Task<void> {
    co_await weft::task_group([&](TaskGroup& g) -> Task<void> {
      for (int i = 0; i < 5; ++i) g.spawn(sleep_then_fail(100ms));
      co_await weft::sleep_for(10s);
    });
  };
  // Cancelled at 50ms, before the children fail at 100ms.
  std::exception_ptr e = cancel_runner_after(rt, runner, 50ms, "test");
  EXPECT_EQ(cancelled_message(e), "cancelled:test");
}

// CPython: Lib/test/test_asyncio/test_taskgroups.py::test_taskgroup_09
TEST_F(TaskGroupTest, BodyFailureAfterSleepCancelsChildren) {
  JoinHandle<int> t1, t2;
  auto runner = [&]() -> Task<void> {
    co_await weft::task_group([&](TaskGroup& g) -> Task<void> {
      t1 = g.spawn(sleep_then(1s, 42));
      t2 = g.spawn(sleep_then(2s, 11));
      co_await weft::sleep_for(100ms);
      throw ZeroDivision();
    });
  };
  try {
    rt.block_on(runner());
    FAIL() << "no ExceptionGroup";
  } catch (const ExceptionGroup& e) {
    EXPECT_EQ(error_types(e), std::set<std::string>{"ZeroDivision"});
  }
  EXPECT_TRUE(t1.cancelled());
  EXPECT_TRUE(t2.cancelled());
}

// CPython: Lib/test/test_asyncio/test_taskgroups.py::test_taskgroup_10
TEST_F(TaskGroupTest, BodyFailureAtOnceCancelsChildren) {
  JoinHandle<int> t1, t2;
  auto runner = [&]() -> Task<void> {
    co_await weft::task_group([&](TaskGroup& g) -> Task<void> {
      t1 = g.spawn(sleep_then(1s, 42));
      t2 = g.spawn(sleep_then(2s, 11));
      throw ZeroDivision();
      co_return;
    });
  };
  try {
    rt.block_on(runner());
    FAIL() << "no ExceptionGroup";
  } catch (const ExceptionGroup& e) {
    EXPECT_EQ(error_types(e), std::set<std::string>{"ZeroDivision"});
  }
  EXPECT_TRUE(t1.cancelled());
  EXPECT_TRUE(t2.cancelled());
}

// CPython: Lib/test/test_asyncio/test_taskgroups.py::test_taskgroup_11
TEST_F(TaskGroupTest, NestedGroupsOwnerCancel) {
  auto runner = [&]() -> Task<void> {
    co_await weft::task_group([&](TaskGroup&) -> Task<void> {
      co_await weft::task_group([&](TaskGroup& g2) -> Task<void> {
        for (int i = 0; i < 5; ++i) g2.spawn(sleep_then_fail(100ms));
        co_await weft::sleep_for(10s);
      });
    });
  };
  std::exception_ptr e = cancel_runner_after(rt, runner, 50ms, "");
  EXPECT_EQ(cancelled_message(e), "cancelled:");
}

// CPython: Lib/test/test_asyncio/test_taskgroups.py::test_taskgroup_12
TEST_F(TaskGroupTest, NestedGroupsWithSleepingSiblingOwnerCancel) {
  auto sleeper = []() -> Task<void> { co_await weft::sleep_for(10s); };
  auto runner = [&]() -> Task<void> {
    co_await weft::task_group([&](TaskGroup& g1) -> Task<void> {
      g1.spawn(sleeper());
      co_await weft::task_group([&](TaskGroup& g2) -> Task<void> {
        for (int i = 0; i < 5; ++i) g2.spawn(sleep_then_fail(100ms));
        co_await weft::sleep_for(10s);
      });
    });
  };
  std::exception_ptr e = cancel_runner_after(rt, runner, 50ms, "");
  EXPECT_EQ(cancelled_message(e), "cancelled:");
}

Task<void> crash_after(std::chrono::milliseconds t) {
  co_await weft::sleep_for(t);
  throw ValueError(std::to_string(t.count()));
}

// CPython: Lib/test/test_asyncio/test_taskgroups.py::test_taskgroup_13
TEST_F(TaskGroupTest, OuterChildFailureCancelsInnerGroup) {
  auto runner = [&]() -> Task<void> {
    co_await weft::task_group([&](TaskGroup& g1) -> Task<void> {
      g1.spawn(crash_after(100ms));
      co_await weft::task_group([&](TaskGroup& g2) -> Task<void> {
        g2.spawn(crash_after(10s));
        co_return;
      });
    });
  };
  try {
    rt.block_on(runner());
    FAIL() << "no ExceptionGroup";
  } catch (const ExceptionGroup& e) {
    EXPECT_EQ(error_types(e), std::set<std::string>{"ValueError"});
  }
}

// CPython: Lib/test/test_asyncio/test_taskgroups.py::test_taskgroup_14
TEST_F(TaskGroupTest, InnerGroupFailureNestsExceptionGroups) {
  auto runner = [&]() -> Task<void> {
    co_await weft::task_group([&](TaskGroup& g1) -> Task<void> {
      g1.spawn(crash_after(10s));
      co_await weft::task_group([&](TaskGroup& g2) -> Task<void> {
        g2.spawn(crash_after(100ms));
        co_return;
      });
    });
  };
  try {
    rt.block_on(runner());
    FAIL() << "no ExceptionGroup";
  } catch (const ExceptionGroup& e) {
    ASSERT_EQ(error_types(e), std::set<std::string>{"ExceptionGroup"});
    try {
      std::rethrow_exception(e.exceptions().at(0));
    } catch (const ExceptionGroup& inner) {
      EXPECT_EQ(error_types(inner), std::set<std::string>{"ValueError"});
    }
  }
}

// CPython: Lib/test/test_asyncio/test_taskgroups.py::test_taskgroup_15
TEST_F(TaskGroupTest, OwnerCancelWhileBodyCleansUpAfterChildError) {
  auto runner = [&]() -> Task<void> {
    co_await weft::task_group([&](TaskGroup& g1) -> Task<void> {
      g1.spawn(sleep_then_fail(300ms));
      bool cancelled = false;
      try {
        co_await weft::sleep_for(10s);
      } catch (const CancelledError&) {
        cancelled = true;
      }
      if (cancelled) {
        co_await weft::sleep_for(500ms);  // cleanup that outlives the child's failure
        throw CancelledError();
      }
    });
  };
  // The owner's cancel (100ms) aborts the whole group at once: crash_soon is cancelled
  // before it would fail (300ms), so the body's cleanup ends in plain CancelledError, as
  // the CPython test expects.
  std::exception_ptr e = cancel_runner_after(rt, runner, 100ms, "");
  EXPECT_EQ(cancelled_message(e), "cancelled:");
}

// CPython: Lib/test/test_asyncio/test_taskgroups.py::test_taskgroup_16
TEST_F(TaskGroupTest, OwnerCancelReachesGroupThroughAwaitedTask) {
  auto nested_runner = [&]() -> Task<void> {
    co_await weft::task_group([&](TaskGroup& g1) -> Task<void> {
      g1.spawn(sleep_then_fail(300ms));
      bool cancelled = false;
      try {
        co_await weft::sleep_for(10s);
      } catch (const CancelledError&) {
        cancelled = true;
      }
      if (cancelled) throw CancelledError();
    });
  };
  auto runner = [&]() -> Task<void> {
    JoinHandle<void> t = weft::spawn(nested_runner());
    co_await t;
  };
  std::exception_ptr e = cancel_runner_after(rt, runner, 100ms, "");
  EXPECT_EQ(cancelled_message(e), "cancelled:");
}

// CPython: Lib/test/test_asyncio/test_taskgroups.py::test_taskgroup_17
TEST_F(TaskGroupTest, OwnerCancelWithNoChildren) {
  std::atomic<int> num{0};
  auto runner = [&]() -> Task<void> {
    co_await weft::task_group([&](TaskGroup&) -> Task<void> {
      try {
        co_await weft::sleep_for(10s);
      } catch (const CancelledError&) {
        num += 10;
        throw;
      }
    });
  };
  std::exception_ptr e = cancel_runner_after(rt, runner, 100ms, "");
  EXPECT_EQ(cancelled_message(e), "cancelled:");
  EXPECT_EQ(num, 10);
}

// CPython: Lib/test/test_asyncio/test_taskgroups.py::test_taskgroup_18
TEST_F(TaskGroupTest, BodyRaisingOnCancelGivesExceptionGroup) {
  std::atomic<int> num{0};
  auto runner = [&]() -> Task<void> {
    co_await weft::task_group([&](TaskGroup&) -> Task<void> {
      try {
        co_await weft::sleep_for(10s);
      } catch (const CancelledError&) {
        num += 10;
        throw MyExc();
      }
    });
  };
  std::exception_ptr e = cancel_runner_after(rt, runner, 100ms, "");
  try {
    std::rethrow_exception(e);
  } catch (const ExceptionGroup& g) {
    EXPECT_EQ(error_types(g), std::set<std::string>{"MyExc"});
  } catch (...) {
    FAIL() << "expected ExceptionGroup, got " << cancelled_message(e);
  }
  EXPECT_EQ(num, 10);
}

// CPython: Lib/test/test_asyncio/test_taskgroups.py::test_taskgroup_19
TEST_F(TaskGroupTest, ChildErrorAndBodyCleanupErrorAreBothReported) {
  auto nested = []() -> Task<void> {
    try {
      co_await weft::sleep_for(10s);
    } catch (...) {
    }
    throw MyExc();  // asyncio: `finally: raise MyExc`
  };
  auto runner = [&]() -> Task<void> {
    co_await weft::task_group([&](TaskGroup& g) -> Task<void> {
      g.spawn(sleep_then_fail(100ms));
      co_await nested();
    });
  };
  try {
    rt.block_on(runner());
    FAIL() << "no ExceptionGroup";
  } catch (const ExceptionGroup& e) {
    EXPECT_EQ(error_types(e), (std::set<std::string>{"MyExc", "ZeroDivision"}));
    ASSERT_EQ(e.exceptions().size(), 2u);
    // In order of occurrence: the child's failure came first.
    EXPECT_THROW(std::rethrow_exception(e.exceptions()[0]), ZeroDivision);
    EXPECT_THROW(std::rethrow_exception(e.exceptions()[1]), MyExc);
  }
}

// CPython: Lib/test/test_asyncio/test_taskgroups.py::test_taskgroup_20
// (and test_taskgroup_20a): weft has no BaseException; a cleanup failure of the body
// of any type is reported next to the child's.
TEST_F(TaskGroupTest, NonStdExceptionFromBodyIsReported) {
  auto nested = []() -> Task<void> {
    try {
      co_await weft::sleep_for(10s);
    } catch (...) {
    }
    throw 7;  // not a std::exception
  };
  auto runner = [&]() -> Task<void> {
    co_await weft::task_group([&](TaskGroup& g) -> Task<void> {
      g.spawn(sleep_then_fail(100ms));
      co_await nested();
    });
  };
  try {
    rt.block_on(runner());
    FAIL() << "no ExceptionGroup";
  } catch (const ExceptionGroup& e) {
    EXPECT_EQ(error_types(e), (std::set<std::string>{"other", "ZeroDivision"}));
  }
}

// CPython: Lib/test/test_asyncio/test_taskgroups.py::test_taskgroup_21a
// (asyncio raises RuntimeError("TaskGroup ... is shutting down") from create_task after
// the abort; weft throws InvalidStateError and destroys the frame it was given.)
TEST_F(TaskGroupTest, SpawnAfterFailureThrowsInvalidStateAndDestroysTheFrame) {
  auto token = std::make_shared<int>(0);
  std::atomic<bool> ran{false};
  auto child = [&ran](std::shared_ptr<int>) -> Task<void> {
    ran = true;
    co_return;
  };
  std::atomic<bool> refused{false};
  auto runner = [&]() -> Task<void> {
    co_await weft::task_group([&](TaskGroup& g) -> Task<void> {
      g.spawn(sleep_then_fail(100ms));
      try {
        co_await weft::sleep_for(10s);
      } catch (const CancelledError&) {
      }
      try {
        g.spawn(child(token));
      } catch (const weft::InvalidStateError&) {
        refused = true;
      }
      EXPECT_EQ(token.use_count(), 1);
      throw CancelledError();
    });
  };
  try {
    rt.block_on(runner());
    FAIL() << "no ExceptionGroup";
  } catch (const ExceptionGroup& e) {
    EXPECT_EQ(error_types(e), std::set<std::string>{"ZeroDivision"});
  }
  EXPECT_TRUE(refused);
  EXPECT_FALSE(ran);
  EXPECT_EQ(token.use_count(), 1);
}

// CPython: Lib/test/test_asyncio/test_taskgroups.py::test_taskgroup_22
TEST_F(TaskGroupTest, OwnerCancelBeforeChildrenFinish) {
  auto runner = [&]() -> Task<void> {
    co_await weft::task_group([&](TaskGroup& g) -> Task<void> {
      g.spawn(sleep_then(1s, 42));
      g.spawn(sleep_then(2s, 11));
      co_return;
    });
  };
  std::exception_ptr e = cancel_runner_after(rt, runner, 50ms, "");
  EXPECT_EQ(cancelled_message(e), "cancelled:");
}

// CPython: Lib/test/test_asyncio/test_taskgroups.py::test_taskgroup_24
TEST_F(TaskGroupTest, ChildSpawnsIntoTheGroup) {
  std::atomic<int> done{0};
  auto coro1 = [&](std::chrono::milliseconds d) -> Task<void> {
    co_await weft::sleep_for(d);
    done += 1;
  };
  auto root = [&](TaskGroup& g) -> Task<void> {
    co_await weft::sleep_for(100ms);
    g.spawn(coro1(100ms));
    g.spawn(coro1(200ms));
  };
  auto runner = [&]() -> Task<void> {
    co_await weft::task_group([&](TaskGroup& g) -> Task<void> {
      g.spawn(root(g));
      co_return;
    });
    EXPECT_EQ(done, 2);
  };
  rt.block_on(runner());
}

// CPython: Lib/test/test_asyncio/test_taskgroups.py::test_taskgroup_25
TEST_F(TaskGroupTest, HydraAndHercules) {
  std::atomic<int> nhydras{0};
  std::function<Task<void>(TaskGroup&)> hydra;
  hydra = [&](TaskGroup& g) -> Task<void> {
    nhydras += 1;
    co_await weft::sleep_for(10ms);
    try {
      g.spawn(hydra(g));
      g.spawn(hydra(g));
    } catch (const weft::InvalidStateError&) {
      // Another worker aborted the group meanwhile (asyncio, single-threaded, cannot
      // get here): end as cancelled, like the siblings.
      throw CancelledError();
    }
  };
  auto hercules = [&]() -> Task<void> {
    while (nhydras < 10) co_await weft::sleep_for(15ms);
    throw ZeroDivision();
  };
  auto runner = [&]() -> Task<void> {
    co_await weft::task_group([&](TaskGroup& g) -> Task<void> {
      g.spawn(hydra(g));
      g.spawn(hercules());
      co_return;
    });
  };
  try {
    rt.block_on(runner());
    FAIL() << "no ExceptionGroup";
  } catch (const ExceptionGroup& e) {
    EXPECT_EQ(error_types(e), std::set<std::string>{"ZeroDivision"});
  }
  EXPECT_GE(nhydras, 10);
}

// CPython: Lib/test/test_asyncio/test_taskgroups.py::test_taskgroup_task_name
TEST_F(TaskGroupTest, SpawnWithName) {
  auto coro = []() -> Task<void> { co_await weft::this_task::yield(); };
  auto runner = [&]() -> Task<void> {
    co_await weft::task_group([&](TaskGroup& g) -> Task<void> {
      JoinHandle<void> t = g.spawn(coro(), weft::SpawnOptions{.name = "yolo"});
      EXPECT_EQ(t.name(), "yolo");
      co_return;
    });
  };
  rt.block_on(runner());
}

// The group's children: cancelled before their first run (the body fails at once) still
// end, and the frames (with their parameters) are gone when the group returns.
// CPython: Lib/test/test_asyncio/test_taskgroups.py::test_taskgroup_10 (frames variant)
TEST_F(TaskGroupTest, ChildrenCancelledBeforeFirstRunReleaseTheirFrames) {
  auto token = std::make_shared<int>(0);
  auto child = [](std::shared_ptr<int>) -> Task<void> { co_await weft::sleep_for(1s); };
  auto runner = [&]() -> Task<void> {
    co_await weft::task_group([&](TaskGroup& g) -> Task<void> {
      for (int i = 0; i < 20; ++i) g.spawn(child(token));
      throw ZeroDivision();
      co_return;
    });
  };
  EXPECT_THROW(rt.block_on(runner()), ExceptionGroup);
  EXPECT_EQ(token.use_count(), 1);
}

// Children finish while the body is still spawning new ones; the group waits for all.
// CPython: Lib/test/test_asyncio/test_taskgroups.py::test_taskgroup_23
TEST_F(TaskGroupTest, ChildrenFinishWhileBodyStillSpawns) {
  std::atomic<int> live{0};
  auto do_job = [&](std::chrono::milliseconds d) -> Task<void> {
    live += 1;
    co_await weft::sleep_for(d);
    live -= 1;
  };
  auto runner = [&]() -> Task<void> {
    co_await weft::task_group([&](TaskGroup& g) -> Task<void> {
      for (int count = 0; count < 10; ++count) {
        co_await weft::sleep_for(100ms);
        g.spawn(do_job(300ms));
        if (count == 5) {
          EXPECT_LT(live, 5);
        }
      }
      co_await weft::sleep_for(1350ms);
      EXPECT_EQ(live, 0);
    });
  };
  rt.block_on(runner());
}

// The body, cancelled with the owner, tries to spawn during its cleanup: refused.
// CPython: Lib/test/test_asyncio/test_taskgroups.py::test_cancellation (spawn refused)
TEST_F(TaskGroupTest, SpawnAfterOwnerCancelThrowsInvalidState) {
  std::atomic<bool> refused{false};
  auto runner = [&]() -> Task<void> {
    co_await weft::task_group([&](TaskGroup& g) -> Task<void> {
      try {
        co_await weft::sleep_for(10s);
      } catch (const CancelledError&) {
      }
      try {
        g.spawn(sleep_then(1ms, 1));
      } catch (const weft::InvalidStateError&) {
        refused = true;
      }
    });
  };
  std::exception_ptr e = cancel_runner_after(rt, runner, 100ms, "bye");
  EXPECT_EQ(cancelled_message(e), "cancelled:bye");
  EXPECT_TRUE(refused);
}

// The body lets a CancelledError of its own escape (nobody cancelled the owner): the
// group aborts and, once all ended, throws CancelledError (asyncio propagates it).
// CPython: Lib/test/test_asyncio/test_taskgroups.py::test_taskgroup_17 (body variant)
TEST_F(TaskGroupTest, BodyCancellingItselfCancelsTheGroup) {
  JoinHandle<int> t;
  auto runner = [&]() -> Task<void> {
    co_await weft::task_group([&](TaskGroup& g) -> Task<void> {
      t = g.spawn(sleep_then(10s, 1));
      weft::this_task::cancel("self");
      co_await weft::sleep_for(1s);
    });
  };
  try {
    rt.block_on(runner());
    FAIL() << "no CancelledError";
  } catch (const ExceptionGroup&) {
    FAIL() << "ExceptionGroup";
  } catch (const CancelledError& e) {
    EXPECT_STREQ(e.what(), "self");
  }
  EXPECT_TRUE(t.cancelled());
}

// SpawnOptions::stop still works for a group's child: a stop request cancels it, which
// is not an error of the group.
// CPython: Lib/test/test_asyncio/test_taskgroups.py::test_taskgroup_03 (stop token)
TEST_F(TaskGroupTest, StopTokenCancelsAChildWithoutFailingTheGroup) {
  std::stop_source stop;
  JoinHandle<int> t1, t2;
  auto runner = [&]() -> Task<void> {
    co_await weft::task_group([&](TaskGroup& g) -> Task<void> {
      t1 = g.spawn(sleep_then(1s, 1), weft::SpawnOptions{.stop = stop.get_token()});
      t2 = g.spawn(sleep_then(200ms, 2));
      co_await weft::sleep_for(100ms);
      stop.request_stop();
    });
  };
  rt.block_on(runner());
  EXPECT_TRUE(t1.cancelled());
  EXPECT_EQ(t2.result(), 2);
}

// A group whose body spawns nothing and returns at once.
// CPython: Lib/test/test_asyncio/test_taskgroups.py::test_taskgroup_01 (empty group)
TEST_F(TaskGroupTest, EmptyGroup) {
  auto runner = [&]() -> Task<int> {
    co_await weft::task_group([](TaskGroup&) -> Task<void> { co_return; });
    co_return 5;
  };
  EXPECT_EQ(rt.block_on(runner()), 5);
}

Task<void> fail_after_seconds(std::chrono::seconds d) {
  co_await weft::sleep_for(d);
  throw std::runtime_error("boom");
}

// CPython 3.13: test_taskgroups.py::test_error_and_cancel (gh-116720): the group raises
// the ExceptionGroup, and the outside cancel is re-armed so that the next await raises
// CancelledError (the caller's cancelling() stays 1).
TEST_F(TaskGroupTest, AnOutsideCancelCollidingWithAFailureIsRequestedAgain) {
  std::atomic<int> cancelling_after_group{-1};
  auto inner = [&]() -> Task<std::string> {
    try {
      co_await weft::task_group([&](TaskGroup& g) -> Task<void> {
        g.spawn(fail_after_seconds(1s));
        g.spawn(weft::test::cancelled_after_slow_cleanup());  // keeps the group draining until 11 s
        co_await weft::sleep_for(1h);
      });
    } catch (const ExceptionGroup&) {
      cancelling_after_group = weft::this_task::cancelling();
    }
    co_await weft::sleep_for(1h);  // asyncio 3.13: CancelledError here
    co_return "not cancelled";
  };
  auto outer = [&]() -> Task<std::string> {
    auto t = weft::spawn(inner());
    co_await weft::sleep_for(2s);  // the child failed at 1 s; the group drains until 11 s
    t.cancel();
    try {
      co_return co_await t;
    } catch (const TaskCancelled&) {
      co_return "TaskCancelled";
    }
  };
  EXPECT_EQ(rt.block_on(outer()), "TaskCancelled");
  EXPECT_EQ(cancelling_after_group.load(), 1);
}

Task<void> fails_when_cancelled() {
  try {
    co_await weft::sleep_for(1h);
  } catch (const CancelledError&) {
    throw std::runtime_error("cleanup failed");
  }
}

// CPython 3.13: test_taskgroups.py::test_nested_groups_both_cancelled (gh-116720: "when
// two task groups are nested and both experience an exception in a child task
// simultaneously, it was possible that the outer task group would hang"). The outer
// group's body catches the inner group's ExceptionGroup; its next await must throw
// CancelledError (the outer group is aborting), not run on for an hour.
TEST_F(TaskGroupTest, NestedGroupsBothFailingTheOuterBodyIsStillCancelled) {
  std::atomic<bool> body_slept_through{false};
  auto main = [&]() -> Task<std::string> {
    try {
      co_await weft::task_group([&](TaskGroup& outer) -> Task<void> {
        outer.spawn(fail_after_seconds(1s));
        try {
          co_await weft::task_group([&](TaskGroup& inner) -> Task<void> {
            inner.spawn(fails_when_cancelled());
            co_return;
          });
        } catch (const ExceptionGroup&) {
        }
        co_await weft::sleep_for(1h);
        body_slept_through = true;
      });
    } catch (const ExceptionGroup&) {
      co_return "ExceptionGroup";
    }
    co_return "nothing";
  };
  const auto start = clock.now();
  EXPECT_EQ(rt.block_on(main()), "ExceptionGroup");
  EXPECT_FALSE(body_slept_through.load()) << "the outer group waited for its body's 1 h sleep";
  EXPECT_EQ(clock.now() - start, std::chrono::nanoseconds(1s));
}

}  // namespace
