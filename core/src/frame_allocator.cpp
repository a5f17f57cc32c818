// The frame cache's slow paths (see frame_allocator.hpp): refills from tbbmalloc, the
// surplus going back to it, and the return of a thread's cache when the thread exits.
#include <weft/core/frame_allocator.hpp>

namespace weft::detail {

#ifndef WEFT_FRAMES_FROM_OPERATOR_NEW
namespace {

// Returns the exiting thread's cached blocks. Its destructor runs at thread exit, after
// the thread's last frame was freed into the cache (frames are freed by the code that
// runs on the thread, which has returned by then).
struct FrameCacheReturn {
  ~FrameCacheReturn() {
    FrameCache& cache = tls_frame_cache;
    for (std::size_t c = 0; c < FrameCache::kClasses; ++c) {
      while (FrameCache::FreeBlock* block = cache.heads[c]) {
        cache.heads[c] = block->next;
        scalable_free(block);
      }
      cache.counts[c] = 0;
    }
    // A frame freed later on this thread (another thread_local's destructor) goes
    // straight to tbbmalloc.
    for (std::uint32_t& count : cache.counts) count = ~std::uint32_t{0};
  }
};

void arm_exit_hook(FrameCache& cache) {
  static thread_local FrameCacheReturn hook;
  (void)&hook;  // odr-use: constructs it, registering its destructor
  cache.exit_hook_armed = true;
}

}  // namespace

void* allocate_frame_slow(std::size_t size) {
  FrameCache& cache = tls_frame_cache;
  if (!cache.exit_hook_armed) arm_exit_hook(cache);
  const std::size_t size_class = FrameCache::class_of(size);
  void* frame = scalable_malloc(size_class < FrameCache::kClasses ? FrameCache::class_size(size_class) : size);
  if (frame == nullptr) throw std::bad_alloc();
  return frame;
}

void free_frame_slow(void* frame, std::size_t) noexcept { scalable_free(frame); }
#else
void* allocate_frame_slow(std::size_t size) { return ::operator new(size); }
void free_frame_slow(void* frame, std::size_t) noexcept { ::operator delete(frame); }
#endif

}  // namespace weft::detail
