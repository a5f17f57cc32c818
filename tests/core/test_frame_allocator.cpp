// The frame cache (core/frame_allocator.hpp): per-thread magazines and the process-wide
// depot. Checks that a freed block is the next one handed out on its thread, that a
// free into a full magazine keeps it as the spare and sends an older spare to the
// depot, that memory freed on one thread serves another thread's allocations through
// the depot (the cross-thread reuse it exists for), that a thread's full magazines
// reach the depot when it exits and a partly filled one does not, and that
// release_cached_memory empties the depot. Under a sanitizer frames come from operator
// new and there is no cache to check: the tests then skip.
#include <cstddef>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <weft/core/frame_allocator.hpp>
#include <weft/runtime.hpp>

namespace {

using weft::detail::allocate_frame;
using weft::detail::depot_magazines;
using weft::detail::FrameCache;
using weft::detail::free_frame;

#ifdef WEFT_FRAMES_FROM_OPERATOR_NEW
constexpr bool kCached = false;
#else
constexpr bool kCached = true;
#endif

// A size of its own in each test, so that the tests do not see each other's blocks
// (the depot is process-wide and the test runner's thread keeps its magazines).
constexpr std::size_t kSize = 200;
constexpr std::size_t kMagazine = FrameCache::magazine_size(FrameCache::class_of(kSize));

std::vector<void*> allocate_many(std::size_t size, std::size_t count) {
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < count; ++i) blocks.push_back(allocate_frame(size));
  return blocks;
}

void free_all(const std::vector<void*>& blocks, std::size_t size) {
  for (void* block : blocks) free_frame(block, size);
}

class FrameAllocator : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!kCached) GTEST_SKIP() << "frames come from operator new under a sanitizer";
    weft::release_cached_memory();
  }
  void TearDown() override { weft::release_cached_memory(); }
};

TEST_F(FrameAllocator, AFreedBlockIsTheNextOneAllocatedOnItsThread) {
  void* first = allocate_frame(kSize);
  free_frame(first, kSize);
  void* second = allocate_frame(kSize - 4);  // same 16-byte class (193..208)
  EXPECT_EQ(second, first);
  free_frame(second, kSize - 4);
}

TEST_F(FrameAllocator, AThreadKeepsTwoFullMagazinesAndSendsAThirdToTheDepot) {
  std::thread([] {
    auto blocks = allocate_many(kSize, 2 * kMagazine + 1);
    // The loaded magazine fills, becomes the spare, and a second one fills.
    for (std::size_t i = 0; i < 2 * kMagazine; ++i) free_frame(blocks[i], kSize);
    EXPECT_EQ(depot_magazines(kSize), 0u);
    // One more free finds both full: the spare goes to the depot.
    free_frame(blocks.back(), kSize);
    EXPECT_EQ(depot_magazines(kSize), 1u);
    // Hysteresis: emptying the loaded magazine loads the spare, and refilling it makes
    // it the spare again, without touching the depot either way.
    auto again = allocate_many(kSize, 2);
    free_all(again, kSize);
    free_frame(allocate_frame(kSize), kSize);
    EXPECT_EQ(depot_magazines(kSize), 1u);
    weft::release_cached_memory();
  }).join();
}

TEST_F(FrameAllocator, BlocksFreedOnOneThreadServeAnotherThroughTheDepot) {
  // A producer allocates (spawns), a consumer frees (the tasks end on a worker).
  std::vector<void*> blocks = allocate_many(kSize, 4 * kMagazine);
  const std::set<void*> produced(blocks.begin(), blocks.end());
  std::thread([&] { free_all(blocks, kSize); }).join();
  // The consumer sent two full magazines to the depot while freeing and kept two, both
  // full, which it sent too when it exited.
  const std::size_t in_depot = depot_magazines(kSize);
  EXPECT_EQ(in_depot, 4u);
  // This thread's magazines for the class are empty: its allocations come from the
  // depot, i.e. they are blocks the other thread freed.
  std::vector<void*> reused = allocate_many(kSize, kMagazine);
  for (void* block : reused) EXPECT_TRUE(produced.count(block)) << "a block not from the depot";
  EXPECT_EQ(depot_magazines(kSize), in_depot - 1);
  free_all(reused, kSize);
}

TEST_F(FrameAllocator, AtExitFullMagazinesGoToTheDepotAndAPartlyFilledOneDoesNot) {
  // Its full spare reaches the depot; the partly filled loaded one goes to tbbmalloc.
  std::vector<void*> blocks = allocate_many(kSize, kMagazine + kMagazine / 2);
  std::thread([&] { free_all(blocks, kSize); }).join();
  EXPECT_EQ(depot_magazines(kSize), 1u);
}

TEST_F(FrameAllocator, ReleaseCachedMemoryEmptiesTheDepot) {
  std::vector<void*> blocks = allocate_many(kSize, 4 * kMagazine);
  std::thread([&] { free_all(blocks, kSize); }).join();
  ASSERT_GE(depot_magazines(kSize), 1u);
  weft::release_cached_memory();
  EXPECT_EQ(depot_magazines(kSize), 0u);
  // The cache still works afterwards.
  void* block = allocate_frame(kSize);
  free_frame(block, kSize);
  EXPECT_EQ(allocate_frame(kSize), block);
  free_frame(block, kSize);
}

}  // namespace
