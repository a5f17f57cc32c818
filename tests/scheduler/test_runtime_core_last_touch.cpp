// A thread outside the runtime that makes a task runnable (Event::set, a cancel, a
// wake from another runtime's worker) pushes it into the injector and then wakes a
// worker (RuntimeCore::push_injector: enqueue, then notify_one on the idle state, its
// lock and a worker's parker). Once enqueued, the task may run and complete, and the
// runtime (whose destructor waits only for its tasks and its own workers) may be
// destroyed while that thread is still inside notify_one: it then locks and reads
// freed memory. Found by a review.
//
// The evidence needs AddressSanitizer (the runtime comes from operator new there).
// Two workers; a task T waits on an Event; both workers park (the futex waits are
// counted through the interposed syscall()); a spinning task A occupies one worker, so
// the other sleeps and nobody searches: a notify must take the idle lock. A thread sets
// the event; pthread_mutex_lock is interposed and holds that thread at its second lock
// (the idle lock; the first is the event's) until the runtime has been destroyed on
// the test thread (what a preemption there allows), then asks ASan whether the lock
// is freed memory. A sees the setter held and ends; its worker then takes T from the
// injector and T ends. With the fix the destructor waits for the setter, so the hold
// ends at its bound (kHeldAtMost). Other builds skip the test.
#include <gtest/gtest.h>

#include <dlfcn.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>

#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <thread>

#include <weft/weft.hpp>

#include "asan.hpp"
#include "interpose.hpp"
#include "runtime_helpers.hpp"

#ifdef WEFT_TEST_ASAN

namespace {
constexpr auto kHeldAtMost = std::chrono::milliseconds(300);
std::atomic<pthread_t> g_setter{};
std::atomic<bool> g_armed{false};
std::atomic<void*> g_first_lock{nullptr};  // the setter's first lock: the event's mutex
std::atomic<bool> g_held{false};           // the setter is held at the idle lock
std::atomic<bool> g_destroyed{false};      // the runtime's destructor has returned
std::atomic<int> g_locks_on_freed{0};
std::atomic<int> g_futex_waits{0};  // threads inside FUTEX_WAIT (parked workers)

using LockFn = int (*)(pthread_mutex_t*);
LockFn real_lock() {
  static LockFn real = reinterpret_cast<LockFn>(dlsym(RTLD_NEXT, "pthread_mutex_lock"));
  return real;
}
}  // namespace

extern "C" int pthread_mutex_lock(pthread_mutex_t* mutex) {
  if (g_armed.load() && pthread_equal(pthread_self(), g_setter.load())) {
    void* expected = nullptr;
    if (!g_first_lock.compare_exchange_strong(expected, mutex) && expected != mutex && !g_held.exchange(true)) {
      const auto give_up = std::chrono::steady_clock::now() + kHeldAtMost;
      while (!g_destroyed.load() && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
      if (__asan_address_is_poisoned(mutex)) {
        ++g_locks_on_freed;
        std::fprintf(stderr, "the setter's notify locks the idle lock of a destroyed runtime\n");
      }
    }
  }
  return real_lock()(mutex);
}

// Reads six arguments whatever the call passed, as glibc's own syscall() does; ASan
// would report the reads past the ones passed.
extern "C" __attribute__((no_sanitize("address"))) long syscall(long number, ...) {
  va_list ap;
  va_start(ap, number);
  long a[6];
  for (long& x : a) x = va_arg(ap, long);
  va_end(ap);
  const bool wait = number == SYS_futex && (a[1] & FUTEX_CMD_MASK) == FUTEX_WAIT;
  if (wait) ++g_futex_waits;
  const long rc = weft::test::real_syscall(number, a);
  if (wait) --g_futex_waits;
  return rc;
}

namespace {

TEST(RuntimeCoreLastTouch, AnOutsideWakerNeverNotifiesADestroyedRuntime) {
  (void)real_lock();
  weft::Event event;
  std::atomic<bool> spinner_running{false};
  std::atomic<bool> waiter_done{false};
  std::thread setter;
  {
    weft::Runtime rt({.workers = 2});
    auto waiter = rt.spawn([&]() -> weft::Task<void> {
      co_await event.wait();
      waiter_done = true;
    }());
    weft::test::wait_until_awaiting(rt, waiter.id(), "event");
    // Both workers asleep on their parkers (nothing else waits on a futex through syscall()).
    ASSERT_TRUE(weft::test::eventually([] { return g_futex_waits.load() == 2; }));
    auto spinner = rt.spawn([&]() -> weft::Task<void> {
      spinner_running = true;
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (!g_held.load() && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
      co_return;
    }());
    // The spinner's worker has left the search (it runs a task); the other sleeps.
    ASSERT_TRUE(weft::test::eventually([&] { return spinner_running.load(); }));
    ASSERT_TRUE(weft::test::eventually([] { return g_futex_waits.load() == 1; }));
    setter = std::thread([&] {
      g_setter = pthread_self();
      g_armed = true;
      event.set();
      g_armed = false;
    });
    EXPECT_TRUE(weft::test::eventually([&] { return waiter_done.load(); }, std::chrono::seconds(10)));
  }  // the handles, then the runtime
  g_destroyed = true;
  setter.join();
  EXPECT_TRUE(g_held.load()) << "the setter never reached the idle lock: nothing was checked";
  EXPECT_EQ(g_locks_on_freed.load(), 0) << "push_injector's notify touched a destroyed runtime";
}

}  // namespace
#else
TEST(RuntimeCoreLastTouch, NeedsAddressSanitizer) { GTEST_SKIP() << "the evidence needs AddressSanitizer"; }
#endif
