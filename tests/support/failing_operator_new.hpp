#pragma once
// A replacement of the global operator new that fails on demand, for tests of what
// happens when an allocation fails (std::bad_alloc) in the middle of an operation.
// It defines the replaceable global functions, so a test binary includes it from one
// file only (each tests/<layer>/test_*.cpp is a binary of its own).
//
// weft::test::fail_allocation_in = k: the k-th allocation from now on this thread
// throws std::bad_alloc (1: the next one); 0: none does.
#include <cstddef>
#include <cstdlib>
#include <new>

namespace weft::test {
inline thread_local int fail_allocation_in = 0;
}  // namespace weft::test

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
