#pragma once
// Where coroutine frames (and task headers) come from.
//
// A per-thread cache of free blocks in front of oneTBB's scalable allocator. Fork-join
// code allocates and frees a frame for every call (fib(30): 2.7 million), almost always
// on the same thread and in nearly LIFO order, so a block freed is the next one wanted:
// the cache turns allocation into popping a singly linked list, with no lock, no atomic
// and no call. Ground rules:
//   * Sizes are rounded up to a class of kGranule bytes, so a cached block fits every
//     request of its class. Frames larger than the biggest class go straight to tbbmalloc.
//   * A block may be freed on another thread than the one that allocated it (a spawned
//     task finishes, or is dropped, anywhere). It joins the freeing thread's cache: the
//     cache holds memory, not ownership, and tbbmalloc accepts any block from any thread.
//   * Each class keeps at most kMaxCachedBytes of blocks (at least kMinCached blocks);
//     the surplus goes back to tbbmalloc, so a thread that frees far more than it
//     allocates (a consumer of spawned tasks) does not hoard memory, while a burst of a
//     few thousand tasks (a fan-out) comes back to the cache instead of to the OS.
//     What is cached when a thread exits is returned then.
//   * The cache is plain thread-local data with a constant initialiser, so the fast path
//     is a TLS-relative load; the object that returns the blocks at thread exit is
//     touched only on the slow path (the first refill of a thread).
//
// Under a sanitizer, frames come from the global operator new instead: ThreadSanitizer
// does not see the synchronisation inside tbbmalloc's cross-thread free lists (it would
// report a frame freed on one worker and reused on another as a race), and
// AddressSanitizer's use-after-free and leak checks only cover memory it allocates (a
// cache would hide a use after free). The check uses the compilers' own macros, so a
// user's sanitizer build gets it too.
#include <cstddef>
#include <cstdint>
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

struct FrameCache {
  static constexpr std::size_t kGranule = 16;
  static constexpr std::size_t kClasses = 64;  // blocks of up to 1 KiB are cached
  static constexpr std::size_t kMaxCachedBytes = 512 * 1024;
  static constexpr std::uint32_t kMinCached = 64;

  struct FreeBlock {
    FreeBlock* next;
  };
  FreeBlock* heads[kClasses] = {};
  std::uint32_t counts[kClasses] = {};
  bool exit_hook_armed = false;

  static constexpr std::size_t class_of(std::size_t size) noexcept { return (size - 1) / kGranule; }
  static constexpr std::size_t class_size(std::size_t size_class) noexcept { return (size_class + 1) * kGranule; }
  static constexpr std::uint32_t max_cached(std::size_t size_class) noexcept {
    const std::size_t by_bytes = kMaxCachedBytes / class_size(size_class);
    return static_cast<std::uint32_t>(by_bytes > kMinCached ? by_bytes : kMinCached);
  }
};

inline constinit thread_local FrameCache tls_frame_cache;

// The slow paths: a refill from tbbmalloc (arming the exit hook), and an overflow.
void* allocate_frame_slow(std::size_t size);
void free_frame_slow(void* frame, std::size_t size) noexcept;

inline void* allocate_frame(std::size_t size) {
#ifdef WEFT_FRAMES_FROM_OPERATOR_NEW
  return ::operator new(size);
#else
  FrameCache& cache = tls_frame_cache;
  const std::size_t size_class = FrameCache::class_of(size);
  if (size_class < FrameCache::kClasses) {
    if (FrameCache::FreeBlock* block = cache.heads[size_class]) {
      cache.heads[size_class] = block->next;
      --cache.counts[size_class];
      return block;
    }
  }
  return allocate_frame_slow(size);
#endif
}

// `size` is the size given to allocate_frame for this block.
inline void free_frame(void* frame, std::size_t size) noexcept {
#ifdef WEFT_FRAMES_FROM_OPERATOR_NEW
  (void)size;
  ::operator delete(frame);
#else
  FrameCache& cache = tls_frame_cache;
  const std::size_t size_class = FrameCache::class_of(size);
  if (size_class < FrameCache::kClasses && cache.counts[size_class] < FrameCache::max_cached(size_class)) {
    auto* block = static_cast<FrameCache::FreeBlock*>(frame);
    block->next = cache.heads[size_class];
    cache.heads[size_class] = block;
    ++cache.counts[size_class];
    return;
  }
  free_frame_slow(frame, size);
#endif
}

}  // namespace weft::detail
