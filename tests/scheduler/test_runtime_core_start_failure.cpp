// A runtime whose worker threads cannot all be started (std::thread throws
// std::system_error: EAGAIN, a thread limit) must not leave the ones already started
// behind: the constructor's exception used to leave them parked forever on a runtime
// that nobody could reach or free any more. Found by a review.
//
// pthread_create is interposed and fails its second call while armed; the test counts
// the process's threads (/proc/self/task) before and after. Under a sanitizer (whose
// runtime intercepts pthread_create itself) the test skips.
#include <gtest/gtest.h>

#include <dirent.h>
#include <dlfcn.h>
#include <pthread.h>

#include <atomic>
#include <cerrno>
#include <system_error>

#include <weft/weft.hpp>

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define WEFT_TEST_SANITIZER 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define WEFT_TEST_SANITIZER 1
#endif

#ifndef WEFT_TEST_SANITIZER
namespace {
std::atomic<int> g_fail_at{0};  // the armed call to fail (1-based); 0: none
std::atomic<int> g_calls{0};

int thread_count() {
  int n = 0;
  if (DIR* dir = opendir("/proc/self/task")) {
    while (dirent* entry = readdir(dir))
      if (entry->d_name[0] != '.') ++n;
    closedir(dir);
  }
  return n;
}
}  // namespace

extern "C" int pthread_create(pthread_t* thread, const pthread_attr_t* attr, void* (*start)(void*), void* arg) {
  using Fn = int (*)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);
  static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "pthread_create"));
  if (g_fail_at.load() != 0 && g_calls.fetch_add(1) + 1 == g_fail_at.load()) return EAGAIN;
  return real(thread, attr, start, arg);
}

namespace {

TEST(RuntimeCoreStart, AWorkerThatCannotStartLeavesNoThreadBehind) {
  const int before = thread_count();
  g_fail_at = 2;  // the first worker starts, the second cannot
  EXPECT_THROW(weft::Runtime rt({.workers = 2}), std::system_error);
  g_fail_at = 0;
  EXPECT_EQ(g_calls.load(), 2);
  // The started worker has been joined before the exception left the constructor.
  EXPECT_EQ(thread_count(), before) << "a worker of the runtime that failed to start still runs";
  // Nothing was broken for later runtimes.
  weft::Runtime rt({.workers = 2});
  EXPECT_EQ(rt.block_on([]() -> weft::Task<int> { co_return 7; }()), 7);
}

}  // namespace
#else
TEST(RuntimeCoreStart, NeedsNoSanitizer) { GTEST_SKIP() << "the sanitizer runtime intercepts pthread_create"; }
#endif
