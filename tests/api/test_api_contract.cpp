// Checks the public API contract of docs (design/API.md) mechanically, as a user of
// <weft/weft.hpp> would meet it: every name API.md gives (Runtime, RuntimeOptions,
// SpawnOptions, Task, spawn, JoinHandle, this_task::, TaskId, TaskState, shield,
// sleep_for/sleep_until, wait_for/wait_until, move_on_after, cancel_after, Clock,
// ManualClock, gather and its return_exceptions tag and Outcome, when_any and
// WhenAnyResult, wait/ReturnWhen/WaitResult, task_group/TaskGroup, Channel, Event,
// Mutex, Semaphore, the error types, TaskInfo) exists with the argument and result
// types the document gives (static_assert, std::is_same_v, requires-expressions, and
// `auto v = co_await ...` for what an awaitable yields), and short runtime checks of the
// documented meanings: defaults (worker names "<name>-<i>", task names "task-<id>"),
// `spawn(task, {})` meaning the default SpawnOptions, misuse errors, the cancellation
// counting rules, timeouts, the combinators, the synchronisation objects from outside
// the runtime, and introspection. Time comes from a ManualClock (auto-advance or
// advance()); nothing synchronises by sleeping.
#include <gtest/gtest.h>

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <concepts>
#include <exception>
#include <functional>
#include <latch>
#include <memory>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <type_traits>
#include <variant>
#include <vector>

#include <weft/weft.hpp>

#include "runtime_helpers.hpp"

namespace {

using namespace std::chrono_literals;
using weft::JoinHandle;
using weft::Task;
using weft::test::wait_until_awaiting;

// ---------------------------------------------------------------------------------
// Signatures (compile-time). A failure here is a compile error naming the line.
// ---------------------------------------------------------------------------------

// Runtime: not copyable, not movable; explicit Runtime(RuntimeOptions = {}).
static_assert(!std::is_copy_constructible_v<weft::Runtime> && !std::is_copy_assignable_v<weft::Runtime>);
static_assert(!std::is_move_constructible_v<weft::Runtime> && !std::is_move_assignable_v<weft::Runtime>);
static_assert(std::is_default_constructible_v<weft::Runtime>);
static_assert(std::is_constructible_v<weft::Runtime, weft::RuntimeOptions>);
static_assert(!std::is_convertible_v<weft::RuntimeOptions, weft::Runtime>, "explicit");

// RuntimeOptions' members and their types.
static_assert(std::is_same_v<decltype(weft::RuntimeOptions::workers), unsigned>);
static_assert(std::is_same_v<decltype(weft::RuntimeOptions::name), std::string>);
static_assert(std::is_same_v<decltype(weft::RuntimeOptions::timer_tick), std::chrono::nanoseconds>);
static_assert(std::is_same_v<decltype(weft::RuntimeOptions::clock), weft::Clock*>);
static_assert(std::is_same_v<decltype(weft::RuntimeOptions::on_unobserved_exception),
                             std::function<void(const weft::TaskInfo&, std::exception_ptr)>>);

// SpawnOptions.
static_assert(std::is_same_v<decltype(weft::SpawnOptions::name), std::string>);
static_assert(std::is_same_v<decltype(weft::SpawnOptions::stop), std::stop_token>);

// Runtime's members.
static_assert(requires(weft::Runtime& rt, const weft::Runtime& crt, Task<int> t, Task<void> v,
                       weft::SpawnOptions o, weft::TaskId id, std::string msg) {
  { rt.spawn(std::move(t)) } -> std::same_as<JoinHandle<int>>;
  { rt.spawn(std::move(t), std::move(o)) } -> std::same_as<JoinHandle<int>>;
  { rt.spawn(std::move(v)) } -> std::same_as<JoinHandle<void>>;
  { rt.block_on(std::move(t)) } -> std::same_as<int>;
  { rt.block_on(std::move(v)) } -> std::same_as<void>;
  { rt.shutdown() } -> std::same_as<void>;
  { crt.tasks() } -> std::same_as<std::vector<weft::TaskInfo>>;
  { rt.cancel(id) } -> std::same_as<bool>;
  { rt.cancel(id, msg) } -> std::same_as<bool>;
  { crt.dump() } -> std::same_as<std::string>;
  { crt.workers() } -> std::same_as<unsigned>;
});

// Task<T>: T may be void; not copyable; movable.
static_assert(!std::is_copy_constructible_v<Task<int>> && !std::is_copy_assignable_v<Task<int>>);
static_assert(std::is_move_constructible_v<Task<int>> && std::is_move_assignable_v<Task<int>>);
static_assert(std::is_move_constructible_v<Task<void>>);

// Free spawn.
static_assert(requires(Task<int> t, weft::SpawnOptions o) {
  { weft::spawn(std::move(t)) } -> std::same_as<JoinHandle<int>>;
  { weft::spawn(std::move(t), std::move(o)) } -> std::same_as<JoinHandle<int>>;
});

// JoinHandle<T>: movable, not copyable, and its members.
static_assert(!std::is_copy_constructible_v<JoinHandle<int>> && !std::is_copy_assignable_v<JoinHandle<int>>);
static_assert(std::is_move_constructible_v<JoinHandle<int>> && std::is_move_assignable_v<JoinHandle<int>>);
static_assert(requires(JoinHandle<int>& h, const JoinHandle<int>& ch, std::string msg) {
  { h.cancel() } -> std::same_as<bool>;
  { h.cancel(msg) } -> std::same_as<bool>;
  { ch.done() } -> std::same_as<bool>;
  { ch.cancelled() } -> std::same_as<bool>;
  { ch.exception() } -> std::same_as<std::exception_ptr>;
  { h.result() } -> std::same_as<int>;
  { ch.cancelling() } -> std::same_as<int>;
  { h.uncancel() } -> std::same_as<int>;
  { ch.id() } -> std::same_as<weft::TaskId>;
  { ch.name() } -> std::same_as<std::string_view>;
});
static_assert(requires(JoinHandle<void>& h) {
  { h.result() } -> std::same_as<void>;
});

// this_task::.
static_assert(requires(std::string msg) {
  { weft::this_task::id() } -> std::same_as<weft::TaskId>;
  weft::this_task::name();
  { weft::this_task::cancel() } -> std::same_as<void>;
  { weft::this_task::cancel(msg) } -> std::same_as<void>;
  { weft::this_task::cancel_requested() } -> std::same_as<bool>;
  weft::this_task::throw_if_cancelled();
  { weft::this_task::cancelling() } -> std::same_as<int>;
  { weft::this_task::uncancel() } -> std::same_as<int>;
  { weft::this_task::stop_token() } -> std::same_as<std::stop_token>;
  weft::this_task::yield();
});
static_assert(std::is_convertible_v<decltype(weft::this_task::name()), std::string_view>);

// Plain types.
static_assert(std::is_same_v<weft::TaskId, std::uint64_t>);
static_assert(std::is_enum_v<weft::TaskState> && !std::is_convertible_v<weft::TaskState, int>, "enum class");
[[maybe_unused]] constexpr weft::TaskState kStates[] = {weft::TaskState::Scheduled, weft::TaskState::Running,
                                                        weft::TaskState::Suspended, weft::TaskState::Completed};

// TaskInfo's fields.
static_assert(std::is_same_v<decltype(weft::TaskInfo::id), weft::TaskId>);
static_assert(std::is_same_v<decltype(weft::TaskInfo::name), std::string>);
static_assert(std::is_same_v<decltype(weft::TaskInfo::state), weft::TaskState>);
static_assert(std::is_same_v<decltype(weft::TaskInfo::parent), weft::TaskId>);
static_assert(std::is_same_v<decltype(weft::TaskInfo::awaiting), std::string>);
static_assert(std::is_same_v<decltype(weft::TaskInfo::spawned_file), const char*>);
static_assert(std::is_same_v<decltype(weft::TaskInfo::spawned_line), unsigned>);

// shield(JoinHandle<T>&) / shield(Task<T>).
static_assert(requires(JoinHandle<int>& h, Task<int> t) {
  weft::shield(h);
  weft::shield(std::move(t));
});

// Time: sleep_for(any duration), sleep_until(TimePoint), wait_for/wait_until on a Task
// or a JoinHandle&, move_on_after, cancel_after.
static_assert(requires(Task<int> t, Task<void> v, JoinHandle<int>& h, JoinHandle<void>& hv,
                       std::stop_source source, weft::Clock::time_point when) {
  weft::sleep_for(1ms);
  weft::sleep_for(std::chrono::duration<double>(0.5));
  weft::sleep_for(std::chrono::hours(1));
  weft::sleep_until(when);
  { weft::wait_for(std::move(t), 1s) } -> std::same_as<Task<int>>;
  { weft::wait_for(h, 1s) } -> std::same_as<Task<int>>;
  { weft::wait_until(std::move(t), when) } -> std::same_as<Task<int>>;
  { weft::wait_until(h, when) } -> std::same_as<Task<int>>;
  { weft::move_on_after(1s, std::move(t)) } -> std::same_as<Task<std::optional<int>>>;
  { weft::move_on_after(1s, h) } -> std::same_as<Task<std::optional<int>>>;
  { weft::move_on_after(1s, std::move(v)) } -> std::same_as<Task<bool>>;
  { weft::move_on_after(1s, hv) } -> std::same_as<Task<bool>>;
  weft::cancel_after(source, 1s);
});

// Clock / ManualClock.
static_assert(std::is_same_v<weft::Clock::time_point, std::chrono::steady_clock::time_point>);
static_assert(std::is_polymorphic_v<weft::Clock>);
static_assert(std::is_base_of_v<weft::Clock, weft::ManualClock>);
static_assert(requires(const weft::Clock& c, weft::ManualClock& m) {
  { c.now() } -> std::same_as<weft::Clock::time_point>;
  { m.now() } -> std::same_as<weft::Clock::time_point>;
  m.advance(1s);
  m.advance(std::chrono::duration<double, std::milli>(2.5));
  m.set_auto_advance(true);
});

// Combinators.
static_assert(requires(Task<int> a, Task<void> b, std::vector<Task<int>> many) {
  weft::gather(std::move(a), std::move(b));
  weft::gather(std::move(many));
  weft::gather(weft::return_exceptions, std::move(a), std::move(b));
  weft::gather(weft::return_exceptions, std::move(many));
  { weft::when_any(std::move(a), std::move(a)) } -> std::same_as<Task<weft::WhenAnyResult<int>>>;
  { weft::when_any(std::move(many)) } -> std::same_as<Task<weft::WhenAnyResult<int>>>;
  { weft::when_any(std::move(b), std::move(b)) } -> std::same_as<Task<weft::WhenAnyResult<void>>>;
});
static_assert(std::is_same_v<decltype(weft::WhenAnyResult<int>::index), std::size_t>);
static_assert(std::is_same_v<decltype(weft::WhenAnyResult<int>::value), int>);
static_assert(std::is_same_v<decltype(weft::WhenAnyResult<void>::index), std::size_t>);
static_assert(requires(weft::Outcome<int>& o) {
  { o.result() } -> std::convertible_to<int>;
  { o.exception() } -> std::same_as<std::exception_ptr>;
  { o.cancelled() } -> std::same_as<bool>;
});
static_assert(requires(std::vector<JoinHandle<int>>& handles) {
  { weft::wait(handles) } -> std::same_as<Task<weft::WaitResult>>;
  { weft::wait(handles, weft::ReturnWhen::FirstCompleted) } -> std::same_as<Task<weft::WaitResult>>;
  { weft::wait(handles, weft::ReturnWhen::FirstException, 1s) } -> std::same_as<Task<weft::WaitResult>>;
  { weft::wait(handles, weft::ReturnWhen::AllCompleted, 1s) } -> std::same_as<Task<weft::WaitResult>>;
});
static_assert(std::is_same_v<decltype(weft::WaitResult::done), std::vector<std::size_t>>);
static_assert(std::is_same_v<decltype(weft::WaitResult::pending), std::vector<std::size_t>>);
static_assert(requires(weft::TaskGroup& g, Task<int> t, weft::SpawnOptions o) {
  { g.spawn(std::move(t)) } -> std::same_as<JoinHandle<int>>;
  { g.spawn(std::move(t), std::move(o)) } -> std::same_as<JoinHandle<int>>;
  { weft::task_group([](weft::TaskGroup&) -> Task<void> { co_return; }) } -> std::same_as<Task<void>>;
});

// Synchronisation.
static_assert(std::is_constructible_v<weft::Channel<int>, std::size_t>);
static_assert(requires(weft::Channel<int>& ch, int v) {
  { weft::Channel<int>::unbounded() } -> std::same_as<weft::Channel<int>>;
  ch.send(v);
  ch.send(1);
  ch.recv();
  { ch.try_send(v) } -> std::same_as<bool>;
  { ch.try_send(1) } -> std::same_as<bool>;
  { ch.try_recv() } -> std::same_as<std::optional<int>>;
  ch.close();
});
static_assert(requires(weft::Event& e, const weft::Event& ce) {
  { e.set() } -> std::same_as<void>;
  { e.clear() } -> std::same_as<void>;
  { ce.is_set() } -> std::same_as<bool>;
  e.wait();
});
static_assert(requires(weft::Mutex& m, weft::Semaphore& s) {
  m.lock();
  s.acquire();
  { s.release() } -> std::same_as<void>;
});
static_assert(std::is_constructible_v<weft::Semaphore, int>);
static_assert(std::is_class_v<weft::Mutex::Guard>);

// Errors: the hierarchy.
static_assert(std::is_base_of_v<weft::CancelledError, weft::TaskCancelled>);
static_assert(std::is_base_of_v<std::exception, weft::CancelledError>);
static_assert(std::is_base_of_v<std::exception, weft::TimeoutError>);
static_assert(std::is_base_of_v<std::exception, weft::ExceptionGroup>);
static_assert(std::is_base_of_v<std::exception, weft::InvalidStateError>);
static_assert(std::is_base_of_v<std::exception, weft::RuntimeClosed>);
static_assert(std::is_base_of_v<std::exception, weft::NotInRuntime>);
static_assert(std::is_base_of_v<std::exception, weft::ChannelClosed>);
static_assert(requires(const weft::ExceptionGroup& g) {
  { g.exceptions() } -> std::convertible_to<const std::vector<std::exception_ptr>&>;
});

// ---------------------------------------------------------------------------------
// Meanings (runtime).
// ---------------------------------------------------------------------------------

// One runtime on an auto-advancing ManualClock.
struct Fixture {
  explicit Fixture(unsigned workers = 2) : rt(options(workers)) {}
  weft::RuntimeOptions options(unsigned workers) {
    clock.set_auto_advance(true);
    weft::RuntimeOptions o;
    o.workers = workers;
    o.clock = &clock;
    return o;
  }
  weft::ManualClock clock;
  weft::Runtime rt;
};

Task<int> value(int v) { co_return v; }
Task<void> nothing() { co_return; }
Task<int> sleep_then(std::chrono::nanoseconds d, int v) {
  co_await weft::sleep_for(d);
  co_return v;
}
Task<int> fail_after(std::chrono::nanoseconds d) {
  co_await weft::sleep_for(d);
  throw std::runtime_error("boom");
}

std::string thread_name() {
  char name[16] = {};
  pthread_getname_np(pthread_self(), name, sizeof name);
  return name;
}

TEST(ApiContract, RuntimeOptionsDefaults) {
  weft::RuntimeOptions o;
  EXPECT_EQ(o.workers, 0u);
  EXPECT_EQ(o.name, "weft");
  EXPECT_EQ(o.timer_tick, std::chrono::milliseconds(1));
  EXPECT_EQ(o.clock, nullptr);
  weft::SpawnOptions s;
  EXPECT_TRUE(s.name.empty());
  EXPECT_FALSE(s.stop.stop_possible());
}

TEST(ApiContract, WorkersDefaultToHardwareConcurrencyAndAreNamed) {
  weft::ManualClock clock;
  {
    weft::Runtime rt({.clock = &clock});
    const unsigned hardware = std::thread::hardware_concurrency();
    EXPECT_EQ(rt.workers(), hardware == 0 ? 1u : hardware);
    EXPECT_EQ(rt.block_on([]() -> Task<std::string> { co_return thread_name(); }()).rfind("weft-", 0), 0u);
  }
  weft::Runtime rt({.workers = 1, .name = "apiq", .clock = &clock});
  EXPECT_EQ(rt.workers(), 1u);
  EXPECT_EQ(rt.block_on([]() -> Task<std::string> { co_return thread_name(); }()), "apiq-0");
}

TEST(ApiContract, SpawnNamesAndIdentity) {
  Fixture f;
  auto handle = f.rt.spawn(value(1));
  EXPECT_NE(handle.id(), 0u);
  EXPECT_EQ(handle.name(), "task-" + std::to_string(handle.id()));
  auto named = f.rt.spawn(value(2), {.name = "named"});
  EXPECT_EQ(named.name(), "named");
  auto self = [](weft::TaskId* id, std::string* name) -> Task<void> {
    *id = weft::this_task::id();
    *name = std::string(weft::this_task::name());
    co_return;
  };
  weft::TaskId id = 0;
  std::string name;
  auto h = f.rt.spawn(self(&id, &name), {.name = "me"});
  (void)weft::test::join_cancelled(f.rt, h);
  EXPECT_EQ(id, h.id());
  EXPECT_EQ(name, "me");
}


std::optional<weft::TaskInfo> info_of(const weft::Runtime& rt, weft::TaskId id) {
  for (weft::TaskInfo& info : rt.tasks())
    if (info.id == id) return std::move(info);
  return std::nullopt;
}

std::string file_of(const weft::Runtime& rt, weft::TaskId id) {
  std::optional<weft::TaskInfo> info = info_of(rt, id);
  if (!info) return "(not listed)";
  return info->spawned_file == nullptr ? "(null)" : info->spawned_file;
}

Task<void> sleep_void(std::chrono::nanoseconds d) { co_await weft::sleep_for(d); }

// API.md: `spawn(Task<T>, SpawnOptions = {})` (also Runtime::spawn and TaskGroup::spawn,
// through SpawnOptions). A user who writes the default out, `spawn(task, {})`, gets the
// default SpawnOptions, and TaskInfo still says where spawn was called.
TEST(ApiContract, SpawnWithEmptyBracedOptionsIsTheDefault) {
  weft::ManualClock clock;  // never advanced: the sleepers stay asleep until cancelled
  weft::Runtime rt({.workers = 1, .clock = &clock});
  const unsigned line = __LINE__ + 1;
  auto handle = rt.spawn(sleep_then(1h, 0), {});
  wait_until_awaiting(rt, handle.id(), "sleep");
  EXPECT_EQ(handle.name(), "task-" + std::to_string(handle.id()));
  std::optional<weft::TaskInfo> info = info_of(rt, handle.id());
  ASSERT_TRUE(info.has_value());
  EXPECT_NE(info->spawned_file, nullptr);
  EXPECT_NE(file_of(rt, handle.id()).find("test_api_contract.cpp"), std::string::npos);
  EXPECT_EQ(info->spawned_line, line);
  const std::string dump = rt.dump();
  EXPECT_NE(dump.find("test_api_contract.cpp:" + std::to_string(line)), std::string::npos) << dump;

  // The free spawn and TaskGroup::spawn, inside a task.
  auto inside = [&]() -> Task<std::string> {
    auto child = weft::spawn(sleep_then(1h, 1), {});
    std::string files = file_of(rt, child.id());
    co_await weft::task_group([&](weft::TaskGroup& g) -> Task<void> {
      auto member = g.spawn(sleep_then(1h, 2), {});
      files += " " + file_of(rt, member.id());
      member.cancel();
      co_return;
    });
    child.cancel();
    co_return files;
  };
  const std::string files = rt.block_on(inside());
  EXPECT_EQ(files.find("(null)"), std::string::npos) << files;
  EXPECT_EQ(files.find("(not listed)"), std::string::npos) << files;
  handle.cancel();
  EXPECT_TRUE(weft::test::join_cancelled(rt, handle));
}

// `co_await task` runs it inline, in the awaiting task; dropping a JoinHandle detaches
// the task, which keeps running.
TEST(ApiContract, InlineAwaitSharesTheTaskAndDroppedHandlesDetach) {
  Fixture f;
  auto inner = []() -> Task<weft::TaskId> { co_return weft::this_task::id(); };
  auto outer = [&]() -> Task<bool> {
    const weft::TaskId mine = weft::this_task::id();
    const weft::TaskId seen = co_await inner();
    co_return mine == seen;
  };
  EXPECT_TRUE(f.rt.block_on(outer()));

  weft::Event finished;
  auto detached = [&]() -> Task<void> {
    co_await weft::sleep_for(1s);
    finished.set();
  };
  (void)f.rt.spawn(detached());  // the handle is dropped at once
  auto wait_finished = [&]() -> Task<void> { co_await finished.wait(); };
  f.rt.block_on(wait_finished());
  EXPECT_TRUE(finished.is_set());
}

TEST(ApiContract, FreeSpawnAndThisTaskOutsideARuntimeThrowNotInRuntime) {
  EXPECT_THROW((void)weft::spawn(value(1)), weft::NotInRuntime);
  EXPECT_THROW((void)weft::this_task::id(), weft::NotInRuntime);
  EXPECT_THROW((void)weft::this_task::cancelling(), weft::NotInRuntime);
  std::stop_source source;
  EXPECT_THROW((void)weft::cancel_after(source, 1s), weft::NotInRuntime);
}

TEST(ApiContract, ShutdownIsIdempotentAndSpawnAfterwardsThrowsRuntimeClosed) {
  Fixture f;
  f.rt.shutdown();
  f.rt.shutdown();
  EXPECT_THROW((void)f.rt.spawn(value(1)), weft::RuntimeClosed);
}

// ~Runtime = shutdown(): cancels what still runs and runs its cleanup; a task that
// swallows one cancel still ends (every suspension point throws during shutdown).
TEST(ApiContract, DestructorCancelsWhatRunsAndRunsItsCleanup) {
  weft::ManualClock clock;  // never advanced
  std::atomic<bool> cleaned{false};
  std::atomic<int> catches{0};
  struct Cleanup {
    std::atomic<bool>* flag;
    ~Cleanup() { *flag = true; }
  };
  auto stubborn = [](std::atomic<bool>* flag, std::atomic<int>* caught) -> Task<void> {
    Cleanup cleanup{flag};
    for (int i = 0; i < 2; ++i) {
      try {
        co_await weft::sleep_for(1h);
      } catch (const weft::CancelledError&) {
        caught->fetch_add(1);
        if (i == 1) throw;
      }
    }
  };
  {
    weft::Runtime rt({.workers = 1, .clock = &clock});
    auto h = rt.spawn(stubborn(&cleaned, &catches));
    wait_until_awaiting(rt, h.id(), "sleep");
  }
  EXPECT_TRUE(cleaned.load());
  EXPECT_EQ(catches.load(), 2);
}

TEST(ApiContract, BlockOnReturnsRethrowsAndRefusesWorkers) {
  Fixture f;
  EXPECT_EQ(f.rt.block_on(value(4)), 4);
  f.rt.block_on(nothing());
  EXPECT_THROW(f.rt.block_on(fail_after(1s)), std::runtime_error);
  auto self_cancel = []() -> Task<int> {
    weft::this_task::cancel("bye");
    co_await weft::this_task::yield();
    co_return 0;
  };
  EXPECT_THROW(f.rt.block_on(self_cancel()), weft::TaskCancelled);
  auto nested = [&]() -> Task<bool> {
    try {
      f.rt.block_on(value(1));
    } catch (const weft::InvalidStateError&) {
      co_return true;
    }
    co_return false;
  };
  EXPECT_TRUE(f.rt.block_on(nested()));
}

TEST(ApiContract, JoinHandleMembers) {
  weft::ManualClock clock;  // moved by hand
  weft::Runtime rt({.workers = 1, .clock = &clock});
  auto handle = rt.spawn(sleep_then(1s, 7));
  wait_until_awaiting(rt, handle.id(), "sleep");
  EXPECT_FALSE(handle.done());
  EXPECT_FALSE(handle.cancelled());
  EXPECT_THROW((void)handle.result(), weft::InvalidStateError);
  EXPECT_THROW((void)handle.exception(), weft::InvalidStateError);
  clock.advance(1s);
  auto join = [&]() -> Task<int> {
    auto v = co_await handle;
    static_assert(std::is_same_v<decltype(v), int>);
    co_return v;
  };
  EXPECT_EQ(rt.block_on(join()), 7);
  EXPECT_TRUE(handle.done());
  EXPECT_FALSE(handle.cancelled());
  EXPECT_EQ(handle.exception(), nullptr);
  EXPECT_EQ(handle.result(), 7);  // repeated after the end: a copy
  EXPECT_EQ(rt.block_on(join()), 7);
  EXPECT_FALSE(handle.cancel());  // already done

  auto failing = rt.spawn(fail_after(0s));
  auto join_failing = [&]() -> Task<void> { co_await failing; };
  EXPECT_THROW(rt.block_on(join_failing()), std::runtime_error);
  EXPECT_TRUE(failing.done());
  EXPECT_FALSE(failing.cancelled());
  EXPECT_NE(failing.exception(), nullptr);
  EXPECT_THROW((void)failing.result(), std::runtime_error);

  auto sleeper = rt.spawn(sleep_then(1h, 0));
  wait_until_awaiting(rt, sleeper.id(), "sleep");
  EXPECT_TRUE(sleeper.cancel("stop"));
  std::string message;
  EXPECT_TRUE(weft::test::join_cancelled(rt, sleeper, &message));
  EXPECT_EQ(message, "stop");
  EXPECT_TRUE(sleeper.done());
  EXPECT_TRUE(sleeper.cancelled());
  EXPECT_THROW((void)sleeper.result(), weft::TaskCancelled);
  EXPECT_THROW((void)sleeper.exception(), weft::TaskCancelled);
  EXPECT_FALSE(sleeper.cancel());
}

TEST(ApiContract, MoveOnlyValueIsMovedOutOnce) {
  Fixture f;
  auto make = []() -> Task<std::unique_ptr<int>> { co_return std::make_unique<int>(5); };
  auto handle = f.rt.spawn(make());
  auto join = [&]() -> Task<std::unique_ptr<int>> { co_return co_await handle; };
  std::unique_ptr<int> p = f.rt.block_on(join());
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 5);
  EXPECT_THROW((void)handle.result(), weft::InvalidStateError);
  EXPECT_THROW(f.rt.block_on(join()), weft::InvalidStateError);
}

TEST(ApiContract, AwaitingYourOwnHandleIsInvalidState) {
  Fixture f;
  weft::Event ready;
  JoinHandle<bool> me;
  auto body = [&]() -> Task<bool> {
    co_await ready.wait();
    try {
      co_await me;
    } catch (const weft::InvalidStateError&) {
      co_return true;
    }
    co_return false;
  };
  me = f.rt.spawn(body());
  ready.set();
  auto join = [&]() -> Task<bool> { co_return co_await me; };
  EXPECT_TRUE(f.rt.block_on(join()));
}

TEST(ApiContract, ThisTaskCancellation) {
  Fixture f;
  auto body = []() -> Task<std::string> {
    std::string log;
    EXPECT_FALSE(weft::this_task::cancel_requested());
    std::stop_token token = weft::this_task::stop_token();
    weft::this_task::cancel(std::string("self"));
    log += weft::this_task::cancel_requested() ? "requested " : "none ";
    log += std::to_string(weft::this_task::cancelling()) + " ";
    log += token.stop_requested() ? "stop " : "nostop ";
    try {
      weft::this_task::throw_if_cancelled();
    } catch (const weft::CancelledError& error) {
      log += std::string("caught:") + error.what() + " ";
    }
    weft::this_task::throw_if_cancelled();  // delivered once: no second throw
    co_await weft::this_task::yield();
    log += std::to_string(weft::this_task::cancelling()) + " ";
    log += std::to_string(weft::this_task::uncancel()) + " ";
    log += token.stop_requested() ? "still-stop" : "unstopped";
    co_return log;
  };
  // Swallowed, so the task is not cancelled.
  EXPECT_EQ(f.rt.block_on(body()), "requested 1 stop caught:self 1 0 still-stop");

  // Two requests before delivery: both count, the first one's message is delivered.
  auto twice = []() -> Task<std::string> {
    weft::this_task::cancel("first");
    weft::this_task::cancel("second");
    std::string log = std::to_string(weft::this_task::cancelling());
    try {
      co_await weft::this_task::yield();
    } catch (const weft::CancelledError& error) {
      log += std::string(" ") + error.what();
    }
    co_return log;
  };
  EXPECT_EQ(f.rt.block_on(twice()), "2 first");

  // An uncancel() to 0 withdraws an undelivered request (asyncio 3.13).
  auto withdrawn = []() -> Task<int> {
    weft::this_task::cancel();
    EXPECT_EQ(weft::this_task::uncancel(), 0);
    co_await weft::this_task::yield();
    co_await weft::sleep_for(1s);
    co_return 1;
  };
  EXPECT_EQ(f.rt.block_on(withdrawn()), 1);
}

// Each cancel() by handle, by Runtime::cancel and by a stop token adds one; the first
// request's message is delivered, also to the awaiter's TaskCancelled.
TEST(ApiContract, EveryKindOfRequestCountsAndTheFirstMessageWins) {
  Fixture f(1);
  std::latch started(1);
  std::latch release(1);
  std::stop_source stop;
  auto body = [&]() -> Task<int> {
    started.count_down();
    release.wait();  // blocking, not a suspension point: the requests stay undelivered
    const int n = weft::this_task::cancelling();
    co_await weft::this_task::yield();
    co_return n;
  };
  auto handle = f.rt.spawn(body(), {.stop = stop.get_token()});
  started.wait();
  EXPECT_TRUE(handle.cancel("first"));
  EXPECT_TRUE(f.rt.cancel(handle.id(), "second"));
  stop.request_stop();
  EXPECT_EQ(handle.cancelling(), 3);
  release.count_down();
  std::string message;
  EXPECT_TRUE(weft::test::join_cancelled(f.rt, handle, &message));
  EXPECT_EQ(message, "first");
  EXPECT_FALSE(f.rt.cancel(handle.id()));  // done
  EXPECT_FALSE(f.rt.cancel(0));
}

// A request after the body's last suspension point: the value wins, cancel() said true.
TEST(ApiContract, CancelAtTheEndKeepsTheValue) {
  Fixture f(1);
  std::latch started(1);
  std::latch release(1);
  auto body = [&]() -> Task<int> {
    co_await weft::this_task::yield();
    started.count_down();
    release.wait();
    co_return 5;
  };
  auto handle = f.rt.spawn(body());
  started.wait();
  EXPECT_TRUE(handle.cancel());
  release.count_down();
  auto join = [&]() -> Task<int> { co_return co_await handle; };
  EXPECT_EQ(f.rt.block_on(join()), 5);
  EXPECT_FALSE(handle.cancelled());
}

TEST(ApiContract, StopTokenAlreadyRequestedAtSpawnNeverRunsTheBody) {
  Fixture f;
  std::stop_source stop;
  stop.request_stop();
  std::atomic<bool> ran{false};
  auto body = [&]() -> Task<void> {
    ran = true;
    co_return;
  };
  auto handle = f.rt.spawn(body(), {.stop = stop.get_token()});
  EXPECT_TRUE(weft::test::join_cancelled(f.rt, handle));
  EXPECT_FALSE(ran.load());
}

// seed 001: the awaited task's cancellation is TaskCancelled; the awaiter's own is plain
// CancelledError, after its cancel was forwarded to the awaited task; shield does not
// forward.
TEST(ApiContract, TaskCancelledAgainstCancelledErrorAndShield) {
  weft::ManualClock clock;  // never advanced
  weft::Runtime rt({.workers = 2, .clock = &clock});
  auto classify = [](JoinHandle<int>* inner, bool shielded) -> Task<std::string> {
    try {
      if (shielded)
        co_await weft::shield(*inner);
      else
        co_await *inner;
    } catch (const weft::TaskCancelled&) {
      co_return "TaskCancelled";
    } catch (const weft::CancelledError&) {
      co_return "CancelledError";
    }
    co_return "value";
  };
  auto inner = rt.spawn(sleep_then(1h, 0));
  auto outer = rt.spawn(classify(&inner, false));
  wait_until_awaiting(rt, outer.id(), "task");
  outer.cancel();
  auto join_outer = [&]() -> Task<std::string> { co_return co_await outer; };
  EXPECT_EQ(rt.block_on(join_outer()), "CancelledError");
  EXPECT_TRUE(inner.cancelled());  // forwarded, and awaited before the awaiter threw

  auto inner2 = rt.spawn(sleep_then(1h, 0));
  auto awaiting_cancelled = rt.spawn(classify(&inner2, false));
  wait_until_awaiting(rt, awaiting_cancelled.id(), "task");
  inner2.cancel();
  auto join2 = [&]() -> Task<std::string> { co_return co_await awaiting_cancelled; };
  EXPECT_EQ(rt.block_on(join2()), "TaskCancelled");

  auto inner3 = rt.spawn(sleep_then(1h, 0));
  auto shielded = rt.spawn(classify(&inner3, true));
  wait_until_awaiting(rt, shielded.id(), "shielded task");
  shielded.cancel();
  auto join3 = [&]() -> Task<std::string> { co_return co_await shielded; };
  EXPECT_EQ(rt.block_on(join3()), "CancelledError");
  EXPECT_FALSE(inner3.done());  // left running
  inner3.cancel();
  EXPECT_TRUE(weft::test::join_cancelled(rt, inner3));

  // shield(Task<T>) yields the value.
  auto shield_task = []() -> Task<int> {
    auto v = co_await weft::shield(value(9));
    static_assert(std::is_same_v<decltype(v), int>);
    co_return v;
  };
  EXPECT_EQ(rt.block_on(shield_task()), 9);
}

TEST(ApiContract, TimeAndTimeoutsOnAManualClock) {
  Fixture f;  // auto-advance
  auto body = [&]() -> Task<void> {
    const auto t0 = f.clock.now();
    co_await weft::sleep_for(-5s);  // non-positive: a plain yield
    co_await weft::sleep_for(0s);
    EXPECT_EQ(f.clock.now(), t0);
    co_await weft::sleep_until(t0 + 2s);
    EXPECT_EQ(f.clock.now(), t0 + 2s);
    co_await weft::sleep_for(std::chrono::duration<double>(0.5));
    EXPECT_EQ(f.clock.now(), t0 + 2500ms);

    auto in_time = co_await weft::wait_for(sleep_then(1s, 1), 2s);
    static_assert(std::is_same_v<decltype(in_time), int>);
    EXPECT_EQ(in_time, 1);
    bool timed_out = false;
    try {
      (void)co_await weft::wait_for(sleep_then(1h, 2), 1s);
    } catch (const weft::TimeoutError&) {
      timed_out = true;
    }
    EXPECT_TRUE(timed_out);
    EXPECT_EQ(weft::this_task::cancelling(), 0);  // a handled timeout leaves the caller alone

    bool started = false;
    auto probe = [&started]() -> Task<int> {
      started = true;
      co_return 3;
    };
    timed_out = false;
    try {
      (void)co_await weft::wait_for(probe(), 0s);
    } catch (const weft::TimeoutError&) {
      timed_out = true;
    }
    EXPECT_TRUE(timed_out);
    EXPECT_FALSE(started);  // a non-positive timeout on a lazy task never starts it

    auto handle = weft::spawn(sleep_then(1h, 4));
    timed_out = false;
    try {
      (void)co_await weft::wait_for(handle, 1s);
    } catch (const weft::TimeoutError&) {
      timed_out = true;
    }
    EXPECT_TRUE(timed_out);
    EXPECT_TRUE(handle.cancelled());  // cancelled and awaited before TimeoutError
    auto until = co_await weft::wait_until(sleep_then(1s, 5), f.clock.now() + 2s);
    EXPECT_EQ(until, 5);

    std::optional<int> none = co_await weft::move_on_after(1s, sleep_then(1h, 6));
    EXPECT_FALSE(none.has_value());
    std::optional<int> some = co_await weft::move_on_after(2s, sleep_then(1s, 7));
    EXPECT_EQ(some, 7);
    const bool completed = co_await weft::move_on_after(2s, sleep_void(1s));
    EXPECT_TRUE(completed);
    const bool not_completed = co_await weft::move_on_after(1s, sleep_void(1h));
    EXPECT_FALSE(not_completed);

    std::stop_source stop;
    weft::cancel_after(stop, 3s);
    auto stopped = weft::spawn(sleep_then(1h, 8), {.stop = stop.get_token()});
    const auto before = f.clock.now();
    bool cancelled = false;
    try {
      (void)co_await stopped;
    } catch (const weft::TaskCancelled&) {
      cancelled = true;
    }
    EXPECT_TRUE(cancelled);
    EXPECT_TRUE(stop.stop_requested());
    EXPECT_EQ(f.clock.now() - before, 3s);
  };
  f.rt.block_on(body());
}

TEST(ApiContract, ManualClockAdvance) {
  weft::ManualClock clock;
  const weft::Clock& base = clock;
  const auto t0 = base.now();
  clock.advance(90min);
  EXPECT_EQ(clock.now() - t0, 90min);
  clock.advance(std::chrono::duration<double, std::milli>(2.5));
  EXPECT_EQ(clock.now() - t0, 90min + 2500us);
}

TEST(ApiContract, GatherWhenAnyWait) {
  Fixture f;
  std::atomic<bool> sibling_cancelled{false};
  auto sibling = [&]() -> Task<int> {
    try {
      co_await weft::sleep_for(1h);
    } catch (const weft::CancelledError&) {
      sibling_cancelled = true;
      throw;
    }
    co_return 0;
  };
  auto body = [&]() -> Task<void> {
    auto [a, b] = co_await weft::gather(value(1), nothing());
    static_assert(std::is_same_v<decltype(a), int>);
    static_assert(std::is_same_v<decltype(b), std::monostate>);
    EXPECT_EQ(a, 1);
    std::vector<Task<int>> tasks;
    tasks.push_back(value(1));
    tasks.push_back(sleep_then(1s, 2));
    auto values = co_await weft::gather(std::move(tasks));
    static_assert(std::is_same_v<decltype(values), std::vector<int>>);
    EXPECT_EQ(values, (std::vector<int>{1, 2}));

    // First failure: the others are cancelled and awaited, then it is rethrown.
    const auto t0 = f.clock.now();
    bool failed = false;
    try {
      (void)co_await weft::gather(fail_after(1s), sibling());
    } catch (const std::runtime_error&) {
      failed = true;
    }
    EXPECT_TRUE(failed);
    EXPECT_TRUE(sibling_cancelled.load());
    EXPECT_EQ(f.clock.now() - t0, 1s);

    // return_exceptions: one Outcome per child, no sibling cancelled.
    auto [o1, o2, o3] = co_await weft::gather(weft::return_exceptions, value(1), fail_after(1s), sleep_then(2s, 3));
    static_assert(std::is_same_v<decltype(o1), weft::Outcome<int>>);
    EXPECT_EQ(o1.result(), 1);
    EXPECT_EQ(o1.exception(), nullptr);
    EXPECT_FALSE(o1.cancelled());
    EXPECT_NE(o2.exception(), nullptr);
    EXPECT_FALSE(o2.cancelled());
    EXPECT_THROW((void)o2.result(), std::runtime_error);
    EXPECT_EQ(o3.result(), 3);
    std::vector<Task<int>> more;
    more.push_back(value(4));
    more.push_back(fail_after(0s));
    auto outcomes = co_await weft::gather(weft::return_exceptions, std::move(more));
    static_assert(std::is_same_v<decltype(outcomes), std::vector<weft::Outcome<int>>>);
    EXPECT_EQ(outcomes.at(0).result(), 4);
    EXPECT_NE(outcomes.at(1).exception(), nullptr);

    // when_any: the first to finish wins; index and value.
    auto w = co_await weft::when_any(sleep_then(2s, 1), sleep_then(1s, 2));
    static_assert(std::is_same_v<decltype(w), weft::WhenAnyResult<int>>);
    EXPECT_EQ(w.index, 1u);
    EXPECT_EQ(w.value, 2);
    auto wv = co_await weft::when_any(sleep_void(2s), sleep_void(1s));
    static_assert(std::is_same_v<decltype(wv), weft::WhenAnyResult<void>>);
    EXPECT_EQ(wv.index, 1u);
    std::vector<Task<int>> racers;
    racers.push_back(sleep_then(3s, 0));
    racers.push_back(sleep_then(1s, 1));
    auto wvec = co_await weft::when_any(std::move(racers));
    EXPECT_EQ(wvec.index, 1u);
    failed = false;
    try {
      (void)co_await weft::when_any(fail_after(1s), sleep_then(2s, 0));
    } catch (const std::runtime_error&) {
      failed = true;
    }
    EXPECT_TRUE(failed);  // the winner's failure is rethrown

    // wait: cancels nothing; a timeout just returns.
    std::vector<JoinHandle<int>> handles;
    handles.push_back(weft::spawn(sleep_then(1s, 1)));
    handles.push_back(weft::spawn(sleep_then(3s, 2)));
    weft::WaitResult first = co_await weft::wait(handles, weft::ReturnWhen::FirstCompleted);
    EXPECT_EQ(first.done, (std::vector<std::size_t>{0}));
    EXPECT_EQ(first.pending, (std::vector<std::size_t>{1}));
    weft::WaitResult timed = co_await weft::wait(handles, weft::ReturnWhen::AllCompleted, 1s);
    EXPECT_EQ(timed.pending, (std::vector<std::size_t>{1}));
    EXPECT_FALSE(handles[1].done());
    weft::WaitResult all = co_await weft::wait(handles);
    EXPECT_EQ(all.done, (std::vector<std::size_t>{0, 1}));
    EXPECT_TRUE(all.pending.empty());
    EXPECT_EQ(handles[1].result(), 2);
    std::vector<JoinHandle<int>> risky;
    risky.push_back(weft::spawn(fail_after(1s)));
    risky.push_back(weft::spawn(sleep_then(1h, 0)));
    weft::WaitResult exc = co_await weft::wait(risky, weft::ReturnWhen::FirstException);
    EXPECT_EQ(exc.done, (std::vector<std::size_t>{0}));
    EXPECT_NE(risky[0].exception(), nullptr);
    risky[1].cancel();
    std::vector<JoinHandle<int>> empty;
    bool invalid = false;
    try {
      (void)co_await weft::wait(empty);
    } catch (const std::invalid_argument&) {
      invalid = true;
    }
    EXPECT_TRUE(invalid);
  };
  f.rt.block_on(body());
}

TEST(ApiContract, TaskGroup) {
  Fixture f;
  auto body = [&]() -> Task<void> {
    JoinHandle<int> slow;
    JoinHandle<int> fast;
    co_await weft::task_group([&](weft::TaskGroup& g) -> Task<void> {
      slow = g.spawn(sleep_then(2s, 1));
      fast = g.spawn(value(2), {.name = "fast"});
      co_return;
    });
    EXPECT_TRUE(slow.done() && fast.done());  // every child finished
    EXPECT_EQ(slow.result() + fast.result(), 3);

    bool refused = false;
    std::size_t failures = 0;
    try {
      co_await weft::task_group([&](weft::TaskGroup& g) -> Task<void> {
        (void)g.spawn(fail_after(1s));
        (void)g.spawn(sleep_then(1h, 0));
        try {
          co_await weft::sleep_for(1h);
        } catch (const weft::CancelledError&) {
          try {
            (void)g.spawn(value(1));
          } catch (const weft::InvalidStateError&) {
            refused = true;
          }
          throw;
        }
      });
    } catch (const weft::ExceptionGroup& group) {
      failures = group.exceptions().size();
    }
    EXPECT_EQ(failures, 1u);
    EXPECT_TRUE(refused);
  };
  f.rt.block_on(body());
}

TEST(ApiContract, ChannelEventMutexSemaphore) {
  EXPECT_THROW(weft::Channel<int>(0), std::invalid_argument);
  EXPECT_THROW(weft::Semaphore(-1), std::invalid_argument);
  Fixture f;

  // Outside the runtime: try_send / try_recv / close.
  weft::Channel<int> ch(1);
  EXPECT_TRUE(ch.try_send(1));
  EXPECT_FALSE(ch.try_send(2));  // full
  EXPECT_EQ(ch.try_recv(), std::optional<int>(1));
  EXPECT_EQ(ch.try_recv(), std::nullopt);
  weft::Channel<int> unbounded = weft::Channel<int>::unbounded();
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(unbounded.try_send(i));

  auto channel_body = [&]() -> Task<void> {
    co_await ch.send(3);
    auto v = co_await ch.recv();
    static_assert(std::is_same_v<decltype(v), int>);
    EXPECT_EQ(v, 3);
    co_await ch.send(4);
    ch.close();
    EXPECT_FALSE(ch.try_send(5));  // closed
    bool closed = false;
    try {
      co_await ch.send(5);
    } catch (const weft::ChannelClosed&) {
      closed = true;
    }
    EXPECT_TRUE(closed);
    const int drained = co_await ch.recv();  // closed but not drained
    EXPECT_EQ(drained, 4);
    closed = false;
    try {
      (void)co_await ch.recv();
    } catch (const weft::ChannelClosed&) {
      closed = true;
    }
    EXPECT_TRUE(closed);
  };
  f.rt.block_on(channel_body());

  // A receiver woken from another thread by try_send.
  weft::Channel<int> handoff(1);
  auto receiver = [&]() -> Task<int> { co_return co_await handoff.recv(); };
  auto r = f.rt.spawn(receiver());
  wait_until_awaiting(f.rt, r.id(), "channel recv");
  std::thread([&] { EXPECT_TRUE(handoff.try_send(11)); }).join();
  auto join_r = [&]() -> Task<int> { co_return co_await r; };
  EXPECT_EQ(f.rt.block_on(join_r()), 11);

  // Event: set-then-clear still wakes the waiters present at set (from outside).
  weft::Event event;
  auto waiter = [&]() -> Task<int> {
    co_await event.wait();
    co_return 1;
  };
  auto w = f.rt.spawn(waiter());
  wait_until_awaiting(f.rt, w.id(), "event");
  std::thread([&] {
    event.set();
    event.clear();
  }).join();
  EXPECT_FALSE(event.is_set());
  auto join_w = [&]() -> Task<int> { co_return co_await w; };
  EXPECT_EQ(f.rt.block_on(join_w()), 1);

  // Mutex: lock() gives a Guard that unlocks when destroyed.
  weft::Mutex mutex;
  auto locker = [&]() -> Task<void> {
    {
      auto guard = co_await mutex.lock();
      static_assert(std::is_same_v<decltype(guard), weft::Mutex::Guard>);
      EXPECT_TRUE(mutex.locked());
    }
    EXPECT_FALSE(mutex.locked());
  };
  f.rt.block_on(locker());

  // Semaphore(n): acquire waits for a release from outside the runtime.
  weft::Semaphore semaphore(0);
  auto acquirer = [&]() -> Task<int> {
    co_await semaphore.acquire();
    co_return 2;
  };
  auto a = f.rt.spawn(acquirer());
  wait_until_awaiting(f.rt, a.id(), "semaphore");
  std::thread([&] { semaphore.release(); }).join();
  auto join_a = [&]() -> Task<int> { co_return co_await a; };
  EXPECT_EQ(f.rt.block_on(join_a()), 2);
}

TEST(ApiContract, CancelFromAnotherThread) {
  weft::ManualClock clock;  // never advanced
  weft::Runtime rt({.workers = 1, .clock = &clock});
  auto by_handle = rt.spawn(sleep_then(1h, 0));
  auto by_runtime = rt.spawn(sleep_then(1h, 0));
  wait_until_awaiting(rt, by_handle.id(), "sleep");
  wait_until_awaiting(rt, by_runtime.id(), "sleep");
  std::thread([&] {
    EXPECT_TRUE(by_handle.cancel("h"));
    EXPECT_TRUE(rt.cancel(by_runtime.id(), "r"));
  }).join();
  std::string message;
  EXPECT_TRUE(weft::test::join_cancelled(rt, by_handle, &message));
  EXPECT_EQ(message, "h");
  EXPECT_TRUE(weft::test::join_cancelled(rt, by_runtime, &message));
  EXPECT_EQ(message, "r");
}

TEST(ApiContract, IntrospectionParentAwaitingAndDump) {
  weft::ManualClock clock;  // never advanced
  weft::Runtime rt({.workers = 2, .clock = &clock});
  std::atomic<weft::TaskId> kid_id{0};
  auto parent = [&]() -> Task<int> {
    auto kid = weft::spawn(sleep_then(120ms, 3), {.name = "kid"});
    kid_id = kid.id();
    co_return co_await kid;
  };
  auto mom = rt.spawn(parent(), {.name = "mom"});
  wait_until_awaiting(rt, mom.id(), "task");
  wait_until_awaiting(rt, kid_id.load(), "sleep");
  std::optional<weft::TaskInfo> mom_info = info_of(rt, mom.id());
  std::optional<weft::TaskInfo> kid_info = info_of(rt, kid_id.load());
  ASSERT_TRUE(mom_info && kid_info);
  EXPECT_EQ(mom_info->name, "mom");
  EXPECT_EQ(mom_info->parent, 0u);
  EXPECT_EQ(mom_info->awaiting, "task " + std::to_string(kid_id.load()));
  EXPECT_EQ(mom_info->state, weft::TaskState::Suspended);
  EXPECT_EQ(kid_info->parent, mom.id());
  EXPECT_EQ(kid_info->awaiting, "sleep 120ms");
  const std::string dump = rt.dump();
  const auto indent_of = [&](std::string_view name) -> std::size_t {
    const std::size_t at = dump.find(name);
    if (at == std::string::npos) return std::string::npos;
    const std::size_t line_start = dump.rfind('\n', at) == std::string::npos ? 0 : dump.rfind('\n', at) + 1;
    return dump.find_first_not_of(' ', line_start) - line_start;
  };
  ASSERT_NE(indent_of("mom"), std::string::npos) << dump;
  ASSERT_NE(indent_of("kid"), std::string::npos) << dump;
  EXPECT_GT(indent_of("kid"), indent_of("mom")) << dump;
  clock.advance(120ms);
  auto join = [&]() -> Task<int> { co_return co_await mom; };
  EXPECT_EQ(rt.block_on(join()), 3);
}

TEST(ApiContract, UnobservedFailureReachesTheHook) {
  weft::ManualClock clock;
  std::latch reported(1);
  std::string name;
  std::string what;
  {
    weft::Runtime rt({.workers = 1,
                      .clock = &clock,
                      .on_unobserved_exception = [&](const weft::TaskInfo& info, std::exception_ptr failure) {
                        name = info.name;
                        try {
                          std::rethrow_exception(failure);
                        } catch (const std::exception& error) {
                          what = error.what();
                        }
                        reported.count_down();
                      }});
    (void)rt.spawn(fail_after(0s), {.name = "lost"});
    reported.wait();
  }
  EXPECT_EQ(name, "lost");
  EXPECT_EQ(what, "boom");
}

TEST(ApiContract, ErrorTypes) {
  const weft::CancelledError cancelled("why");
  EXPECT_STREQ(cancelled.what(), "why");
  const weft::TaskCancelled task_cancelled("because");
  const weft::CancelledError& as_base = task_cancelled;
  EXPECT_STREQ(as_base.what(), "because");
  const weft::ExceptionGroup group("two", {std::make_exception_ptr(std::runtime_error("a")),
                                           std::make_exception_ptr(weft::TimeoutError())});
  EXPECT_EQ(group.exceptions().size(), 2u);
}

}  // namespace
