#pragma once
// Coroutine frames come from oneTBB's scalable allocator: per-thread pools, so a
// frame allocated on one worker and freed on another needs no global lock (a spawned
// task is typically created by one worker and finished, or freed, by another).
// `promise_type::operator new/delete` of every weft coroutine calls these.
#include <cstddef>
#include <new>

#include <oneapi/tbb/scalable_allocator.h>

namespace weft::detail {

inline void* allocate_frame(std::size_t size) {
  void* frame = scalable_malloc(size);
  if (frame == nullptr) throw std::bad_alloc();
  return frame;
}

inline void free_frame(void* frame) noexcept { scalable_free(frame); }

}  // namespace weft::detail
