// The frame cache's slow paths (see frame_allocator.hpp): magazine exchanges with the
// depot, refills from tbbmalloc, and the return of a thread's magazines at its exit.
#include <mutex>

#include <weft/core/frame_allocator.hpp>

namespace weft::detail {

#ifndef WEFT_FRAMES_FROM_OPERATOR_NEW
namespace {

using FreeBlock = FrameCache::FreeBlock;

// Full magazines shared by all threads. Touched once per magazine_size allocations or
// frees of a thread at most, so one mutex for every class is enough.
class Depot {
 public:
  static constexpr std::size_t kDepotMaxBytes = std::size_t{1} << 30;

  // Takes a full magazine of `size_class`, or null.
  FreeBlock* take(std::size_t size_class) noexcept {
    std::lock_guard guard(mutex_);
    FreeBlock* magazine = stacks_[size_class];
    if (magazine == nullptr) return nullptr;
    stacks_[size_class] = magazine->next_magazine;
    --counts_[size_class];
    bytes_ -= magazine_bytes(size_class);
    return magazine;
  }

  // Keeps a full magazine, or gives its blocks back to tbbmalloc when the depot is full.
  void put(std::size_t size_class, FreeBlock* magazine) noexcept {
    {
      std::lock_guard guard(mutex_);
      if (bytes_ + magazine_bytes(size_class) <= kDepotMaxBytes) {
        magazine->next_magazine = stacks_[size_class];
        stacks_[size_class] = magazine;
        ++counts_[size_class];
        bytes_ += magazine_bytes(size_class);
        return;
      }
    }
    free_list(magazine);
  }

  void release_all() noexcept {
    FreeBlock* taken[FrameCache::kClasses];
    {
      std::lock_guard guard(mutex_);
      for (std::size_t c = 0; c < FrameCache::kClasses; ++c) {
        taken[c] = stacks_[c];
        stacks_[c] = nullptr;
        counts_[c] = 0;
      }
      bytes_ = 0;
    }
    for (FreeBlock* magazine : taken) {
      while (magazine != nullptr) {
        FreeBlock* next = magazine->next_magazine;
        free_list(magazine);
        magazine = next;
      }
    }
  }

  std::size_t magazines(std::size_t size_class) noexcept {
    std::lock_guard guard(mutex_);
    return counts_[size_class];
  }

  static void free_list(FreeBlock* block) noexcept {
    while (block != nullptr) {
      FreeBlock* next = block->next;
      scalable_free(block);
      block = next;
    }
  }

 private:
  static std::size_t magazine_bytes(std::size_t size_class) noexcept {
    return FrameCache::magazine_size(size_class) * FrameCache::class_size(size_class);
  }

  std::mutex mutex_;
  FreeBlock* stacks_[FrameCache::kClasses] = {};  // [mutex_] linked by next_magazine
  std::size_t counts_[FrameCache::kClasses] = {};  // [mutex_]
  std::size_t bytes_ = 0;                          // [mutex_]
};

// Never destroyed: frames may be freed by other static or thread-local destructors
// after the depot's would have run.
Depot& depot() noexcept {
  static Depot* const instance = new Depot;
  return *instance;
}

// Empties a thread's magazines. Full ones go to the depot (another thread can use
// them) at thread exit, to tbbmalloc when memory is being given back; a partly filled
// loaded one always goes to tbbmalloc.
enum class FullMagazines { ToDepot, ToAllocator };
void drain(FrameCache& cache, FullMagazines full) noexcept {
  auto give_back = [full](std::size_t size_class, FreeBlock* magazine) {
    if (full == FullMagazines::ToDepot)
      depot().put(size_class, magazine);
    else
      Depot::free_list(magazine);
  };
  for (std::size_t c = 0; c < FrameCache::kClasses; ++c) {
    if (cache.counts[c] >= FrameCache::kUntouched) continue;  // nothing cached, or closed
    if (FreeBlock* spare = cache.spares[c]) give_back(c, spare);
    cache.spares[c] = nullptr;
    if (cache.counts[c] == FrameCache::magazine_size(c))
      give_back(c, cache.heads[c]);
    else
      Depot::free_list(cache.heads[c]);
    cache.heads[c] = nullptr;
    cache.counts[c] = 0;
  }
}

void* allocate_or_throw(std::size_t size) {
  void* block = scalable_malloc(size);
  if (block == nullptr) throw std::bad_alloc();
  return block;
}

// Returns the exiting thread's magazines. Its destructor runs at thread exit, after the
// thread's last frame was freed into the cache (frames are freed by the code that runs
// on the thread, which has returned by then).
struct FrameCacheReturn {
  ~FrameCacheReturn() {
    FrameCache& cache = tls_frame_cache;
    drain(cache, FullMagazines::ToDepot);
    // A frame freed later on this thread (another thread_local's destructor) goes
    // straight to tbbmalloc (free_frame_slow), and none is cached again.
    for (std::uint32_t& count : cache.counts) count = FrameCache::kClosed;
  }
};

// The thread's first use of a class: the hook that returns its magazines at exit.
void arm_exit_hook(FrameCache& cache, std::size_t size_class) {
  static thread_local FrameCacheReturn hook;
  (void)&hook;  // odr-use: constructs it (once per thread), registering its destructor
  cache.counts[size_class] = 0;
}

}  // namespace

void* allocate_frame_slow(std::size_t size) {
  FrameCache& cache = tls_frame_cache;
  const std::size_t size_class = FrameCache::class_of(size);
  if (size_class >= FrameCache::kClasses) return allocate_or_throw(size);
  if (cache.counts[size_class] == FrameCache::kUntouched) arm_exit_hook(cache, size_class);
  // The loaded magazine is empty: load the spare, else a full one from the depot.
  FreeBlock* magazine = cache.spares[size_class];
  cache.spares[size_class] = nullptr;
  if (magazine == nullptr && cache.counts[size_class] != FrameCache::kClosed) magazine = depot().take(size_class);
  if (magazine != nullptr) {
    cache.heads[size_class] = magazine->next;
    cache.counts[size_class] = FrameCache::magazine_size(size_class) - 1;
    return magazine;
  }
  // The whole class size, also once the thread's cache is closed: the block may be
  // freed into another thread's magazine, where any request of its class may get it.
  return allocate_or_throw(FrameCache::class_size(size_class));
}

void free_frame_slow(void* frame, std::size_t size) noexcept {
  FrameCache& cache = tls_frame_cache;
  const std::size_t size_class = FrameCache::class_of(size);
  if (size_class >= FrameCache::kClasses || cache.counts[size_class] == FrameCache::kClosed) {
    scalable_free(frame);
    return;
  }
  // A first use leaves both magazines empty, and the steps below then only start one.
  if (cache.counts[size_class] == FrameCache::kUntouched) arm_exit_hook(cache, size_class);
  // The loaded magazine is full: it becomes the spare (an older spare goes to the
  // depot), and the block starts a new one.
  if (FreeBlock* older = cache.spares[size_class]) depot().put(size_class, older);
  cache.spares[size_class] = cache.heads[size_class];
  auto* block = static_cast<FreeBlock*>(frame);
  block->next = nullptr;
  cache.heads[size_class] = block;
  cache.counts[size_class] = 1;
}

void release_cached_frames() noexcept {
  drain(tls_frame_cache, FullMagazines::ToAllocator);
  depot().release_all();
  scalable_allocation_command(TBBMALLOC_CLEAN_ALL_BUFFERS, nullptr);
}

std::size_t depot_magazines(std::size_t size) noexcept {
  const std::size_t size_class = FrameCache::class_of(size);
  return size_class < FrameCache::kClasses ? depot().magazines(size_class) : 0;
}
#else
void* allocate_frame_slow(std::size_t size) { return ::operator new(size); }
void free_frame_slow(void* frame, std::size_t) noexcept { ::operator delete(frame); }
void release_cached_frames() noexcept {}
std::size_t depot_magazines(std::size_t) noexcept { return 0; }
#endif

}  // namespace weft::detail
