// A task woken by a hand-over may destroy the primitive it waited on at once: an
// Event, a Semaphore or a Channel living in its own frame, set, released or fed from
// another thread (all three allow that). The thread that handed over still holds the
// primitive's mutex then, and unlocks it a moment later: if the woken task had already
// run to its end, that unlock wrote into its freed frame. Each primitive's destructor
// passes through its mutex, so it waits for that unlock (detail/wait_queue.hpp).
// Event, Semaphore and Mutex did already; Channel did not, and its test failed
// (an unlock of freed memory, on every run).
//
// The evidence needs AddressSanitizer (coroutine frames come from operator new there).
// A task waits on a primitive in its own frame, its handle dropped, so its frame is
// freed as soon as it ends. A plain thread hands the primitive over;
// pthread_mutex_unlock is interposed and holds that thread at its unlock of the
// primitive's mutex (the first mutex it locked) until the mutex's memory is freed, or
// 300 ms at most, and counts the unlocks of freed memory. With the destructor waiting
// for that unlock, every hold ends at its bound. Other builds skip the tests.
#include <gtest/gtest.h>

#include <dlfcn.h>
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <thread>

#include <weft/weft.hpp>

#include "asan.hpp"
#include "runtime_helpers.hpp"

#ifdef WEFT_TEST_ASAN

namespace {
constexpr auto kHeldAtMost = std::chrono::milliseconds(300);
std::atomic<pthread_t> g_handing_over{};
std::atomic<bool> g_armed{false};
std::atomic<void*> g_primitive_mutex{nullptr};  // the first mutex the thread locks
std::atomic<bool> g_held{false};
std::atomic<int> g_unlocks_of_freed{0};

bool on_handing_over_thread() { return g_armed.load() && pthread_equal(pthread_self(), g_handing_over.load()); }

template <class Fn>
Fn real(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
}
using MutexFn = int (*)(pthread_mutex_t*);
MutexFn real_lock() {
  static MutexFn fn = real<MutexFn>("pthread_mutex_lock");
  return fn;
}
MutexFn real_unlock() {
  static MutexFn fn = real<MutexFn>("pthread_mutex_unlock");
  return fn;
}
}  // namespace

extern "C" int pthread_mutex_lock(pthread_mutex_t* mutex) {
  if (on_handing_over_thread()) {
    void* expected = nullptr;
    g_primitive_mutex.compare_exchange_strong(expected, mutex);
  }
  return real_lock()(mutex);
}

extern "C" int pthread_mutex_unlock(pthread_mutex_t* mutex) {
  if (on_handing_over_thread() && g_primitive_mutex.load() == mutex && !g_held.exchange(true)) {
    const auto give_up = std::chrono::steady_clock::now() + kHeldAtMost;
    while (!__asan_address_is_poisoned(mutex) && std::chrono::steady_clock::now() < give_up)
      std::this_thread::yield();
    if (__asan_address_is_poisoned(mutex)) ++g_unlocks_of_freed;
  }
  return real_unlock()(mutex);
}

namespace {

// Spawns `waiter` (which publishes its primitive, then waits on it), drops its handle,
// and once it waits, hands the primitive over from a plain thread through `hand_over`.
template <class Primitive, class Waiter, class HandOver>
void check_hand_over(const char* awaiting, Waiter waiter, HandOver hand_over) {
  (void)real_lock();
  (void)real_unlock();
  g_primitive_mutex = nullptr;
  g_held = false;
  g_unlocks_of_freed = 0;
  std::atomic<Primitive*> published{nullptr};
  std::atomic<bool> ended{false};
  {
    weft::Runtime rt({.workers = 1});
    {
      auto handle = rt.spawn(waiter(published, ended));
      weft::test::wait_until_awaiting(rt, handle.id(), awaiting);
    }  // dropped: the frame, and the primitive in it, are freed when the task ends
    std::thread handing_over([&] {
      g_handing_over = pthread_self();
      g_armed = true;
      hand_over(*published.load());
      g_armed = false;
    });
    handing_over.join();
    EXPECT_TRUE(weft::test::eventually([&] { return ended.load(); }, std::chrono::seconds(10)));
  }
  EXPECT_TRUE(g_held.load()) << "the hand-over never unlocked the primitive's mutex: nothing was checked";
  EXPECT_EQ(g_unlocks_of_freed.load(), 0) << "the hand-over unlocked a mutex in a freed frame";
}

// Sets `ended` as the frame's last local goes (declared first, destroyed last).
struct EndFlag {
  std::atomic<bool>& ended;
  ~EndFlag() { ended = true; }
};

TEST(SyncLastTouch, AnEventSetFromAThreadIsNotTouchedAfterItsWaiterEnded) {
  check_hand_over<weft::Event>(
      "event",
      [](std::atomic<weft::Event*>& published, std::atomic<bool>& ended) -> weft::Task<void> {
        EndFlag flag{ended};
        weft::Event event;
        published = &event;
        co_await event.wait();
      },
      [](weft::Event& event) { event.set(); });
}

TEST(SyncLastTouch, ASemaphoreReleasedFromAThreadIsNotTouchedAfterItsWaiterEnded) {
  check_hand_over<weft::Semaphore>(
      "semaphore",
      [](std::atomic<weft::Semaphore*>& published, std::atomic<bool>& ended) -> weft::Task<void> {
        EndFlag flag{ended};
        weft::Semaphore semaphore(0);
        published = &semaphore;
        co_await semaphore.acquire();
      },
      [](weft::Semaphore& semaphore) { semaphore.release(); });
}

TEST(SyncLastTouch, AChannelFedFromAThreadIsNotTouchedAfterItsReceiverEnded) {
  check_hand_over<weft::Channel<int>>(
      "channel recv",
      [](std::atomic<weft::Channel<int>*>& published, std::atomic<bool>& ended) -> weft::Task<void> {
        EndFlag flag{ended};
        weft::Channel<int> channel(1);
        published = &channel;
        const int received = co_await channel.recv();
        EXPECT_EQ(received, 7);
      },
      [](weft::Channel<int>& channel) { EXPECT_TRUE(channel.try_send(7)); });
}

}  // namespace
#else
TEST(SyncLastTouch, NeedsAddressSanitizer) { GTEST_SKIP() << "the evidence needs AddressSanitizer"; }
#endif
