#pragma once
// Where coroutine frames (and task headers) come from.
//
// Per-thread magazines in front of a process-wide depot in front of oneTBB's scalable
// allocator (Bonwick's magazine design, as in Solaris' kmem and jemalloc's tcache).
// Fork-join code allocates and frees a frame for every call (fib(30): 2.7 million),
// almost always on the same thread and in nearly LIFO order, so a block freed is the
// next one wanted: allocation is popping a singly linked list, with no lock, no atomic
// and no call. Ground rules:
//   * Sizes are rounded up to a class of kGranule bytes, so a cached block fits every
//     request of its class. Frames larger than the biggest class go straight to tbbmalloc.
//   * A block may be freed on another thread than the one that allocated it (a spawned
//     task finishes, or is dropped, anywhere). It joins the freeing thread's cache: the
//     cache holds memory, not ownership, and tbbmalloc accepts any block from any thread.
//   * Per thread and class there is a *loaded* magazine (the list allocation pops and
//     freeing pushes, up to magazine_size blocks) and at most one full *spare*. A free
//     into a full loaded magazine makes it the spare and starts an empty one; an older
//     full spare goes to the depot first. An allocation from an empty loaded magazine
//     takes the spare, else a full magazine from the depot, else one block from
//     tbbmalloc. Two magazines give hysteresis: a thread that alternates allocating and
//     freeing at a magazine boundary touches the depot at most once per magazine.
//   * The depot (core/src/frame_allocator.cpp) is a mutex-guarded stack of full
//     magazines per class, holding at most kDepotMaxBytes; beyond that a magazine's
//     blocks go back to tbbmalloc. It is what lets memory freed by one thread serve
//     another's allocations: a task spawned on one worker and finished on another, or
//     spawned from outside the runtime. Without it the freeing thread's surplus went back
//     to tbbmalloc, which unmaps a region as soon as it is empty, and every burst of
//     tasks paid its page faults again (1M spawns from a task: 268 ns a task, of which
//     about 150 in the kernel).
//   * release_cached_frames() empties the calling thread's magazines and the depot (the
//     memory benchmark, and users after a burst, before measuring or to give memory back).
//   * What is kept: a thread at most two magazines per class, 512 KiB (at least 64
//     blocks), so 32 MiB if it used all 64 classes to the full; the depot at most 1 GiB.
//   * The cache is plain thread-local data with a constant initialiser, so the fast path
//     is a TLS-relative load; the object that returns the magazines at thread exit (the
//     full ones to the depot, a partly filled one to tbbmalloc) is touched only on the
//     slow path. A thread whose first frame is freed from a pthread-key destructor, after
//     the thread-local destructors ran, keeps what it caches then (glibc runs no
//     thread-local destructor registered that late): at most two magazines per class.
//
// Under a sanitizer, frames come from the global operator new instead: ThreadSanitizer
// does not see the synchronisation inside tbbmalloc's cross-thread free lists (it would
// report a frame freed on one worker and reused on another as a race), and
// AddressSanitizer's use-after-free and leak checks only cover memory it allocates (a
// cache would hide a use after free). The check uses the compilers' own macros, so a
// user's sanitizer build gets it too.
#include <array>
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
  static constexpr std::size_t kMagazineBytes = 256 * 1024;
  static constexpr std::uint32_t kMinMagazine = 32;
  // Counts above any magazine size, so that the fast paths send the thread to the
  // slow ones: kUntouched until the thread first uses the class (the slow path then
  // arms the exit hook), kClosed once the hook ran (every later free goes straight to
  // tbbmalloc).
  static constexpr std::uint32_t kUntouched = ~std::uint32_t{0} - 1;
  static constexpr std::uint32_t kClosed = ~std::uint32_t{0};

  // A free block. The first block of a magazine in the depot also links the next one.
  struct FreeBlock {
    FreeBlock* next;
    FreeBlock* next_magazine;
  };
  static_assert(sizeof(FreeBlock) <= kGranule, "the smallest class must hold a depot link");

  FreeBlock* heads[kClasses] = {};  // the loaded magazines
  std::array<std::uint32_t, kClasses> counts = filled(kUntouched);  // their blocks (or a mark above)
  FreeBlock* spares[kClasses] = {};  // a full magazine each, or null

  static constexpr std::array<std::uint32_t, kClasses> filled(std::uint32_t value) noexcept {
    std::array<std::uint32_t, kClasses> counts{};
    for (std::uint32_t& count : counts) count = value;
    return counts;
  }
  static constexpr std::size_t class_of(std::size_t size) noexcept { return (size - 1) / kGranule; }
  static constexpr std::size_t class_size(std::size_t size_class) noexcept { return (size_class + 1) * kGranule; }
  static constexpr std::uint32_t magazine_size(std::size_t size_class) noexcept {
    const std::size_t by_bytes = kMagazineBytes / class_size(size_class);
    return static_cast<std::uint32_t>(by_bytes > kMinMagazine ? by_bytes : kMinMagazine);
  }
};

inline constinit thread_local FrameCache tls_frame_cache;

// The slow paths: an empty or full loaded magazine (frame_allocator.cpp).
void* allocate_frame_slow(std::size_t size);
void free_frame_slow(void* frame, std::size_t size) noexcept;

// Gives the calling thread's cached blocks and the depot's back to tbbmalloc, then asks
// tbbmalloc to return what it can to the OS. Other threads' magazines stay as they are.
void release_cached_frames() noexcept;

// For tests: how many full magazines of `size`'s class the depot holds.
std::size_t depot_magazines(std::size_t size) noexcept;

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
  if (size_class < FrameCache::kClasses && cache.counts[size_class] < FrameCache::magazine_size(size_class)) {
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
