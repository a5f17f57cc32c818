#pragma once
// A replacement of the global operator new that fails on demand, for tests of what
// happens when an allocation fails (std::bad_alloc) in the middle of an operation.
// It defines the replaceable global functions, so a test binary includes it from one
// file only (each tests/<layer>/test_*.cpp is a binary of its own).
//
// weft::test::fail_allocation_in = k: the k-th allocation from now on this thread
// throws std::bad_alloc (1: the next one); 0: none does.
//
// ThreadSanitizer's runtime defines operator new itself (a second definition does not
// link), so under TSan there is no replacement: WEFT_TEST_FAILING_NEW is 0 and the tests
// that need it skip (they run in the other builds, ASan's included).
#include <cstddef>
#include <cstdlib>
#include <new>

#if defined(__SANITIZE_THREAD__)
#define WEFT_TEST_FAILING_NEW 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WEFT_TEST_FAILING_NEW 0
#endif
#endif
#ifndef WEFT_TEST_FAILING_NEW
#define WEFT_TEST_FAILING_NEW 1
#endif

namespace weft::test {
inline thread_local int fail_allocation_in = 0;
}  // namespace weft::test

#if WEFT_TEST_FAILING_NEW
void* operator new(std::size_t size) {
  if (weft::test::fail_allocation_in > 0 && --weft::test::fail_allocation_in == 0) throw std::bad_alloc();
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
// operator new above allocates with malloc, so free is the matching release; g++ cannot
// see that through the replacement and warns.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop
#endif  // WEFT_TEST_FAILING_NEW
