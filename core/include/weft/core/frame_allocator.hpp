#pragma once
// Coroutine frames come from oneTBB's scalable allocator: per-thread pools, so a
// frame allocated on one worker and freed on another needs no global lock (a spawned
// task is typically created by one worker and finished, or freed, by another).
// `promise_type::operator new/delete` of every weft coroutine calls these.
//
// Under a sanitizer, frames come from the global operator new instead: ThreadSanitizer
// does not see the synchronisation inside tbbmalloc's cross-thread free lists (it would
// report a frame freed on one worker and reused on another as a race), and
// AddressSanitizer's use-after-free and leak checks only cover memory it allocates.
// The check uses the compilers' own macros, so a user's sanitizer build gets it too.
#include <cstddef>
#include <new>

#include <oneapi/tbb/scalable_allocator.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define WEFT_FRAMES_FROM_OPERATOR_NEW 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define WEFT_FRAMES_FROM_OPERATOR_NEW 1
#endif
#endif

namespace weft::detail {

inline void* allocate_frame(std::size_t size) {
#ifdef WEFT_FRAMES_FROM_OPERATOR_NEW
  return ::operator new(size);
#else
  void* frame = scalable_malloc(size);
  if (frame == nullptr) throw std::bad_alloc();
  return frame;
#endif
}

inline void free_frame(void* frame) noexcept {
#ifdef WEFT_FRAMES_FROM_OPERATOR_NEW
  ::operator delete(frame);
#else
  scalable_free(frame);
#endif
}

}  // namespace weft::detail
