#pragma once
// Shared argument grids for the benchmarks, so that every peer of a workload runs
// exactly the same points and their rows line up in one table.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

namespace weft_bench {

// Worker counts from 1 to the hardware thread count. Every count up to 4 (where
// scaling is most telling and cheap to run), then only powers of two and the maximum,
// to keep the suite short on big machines.
inline std::vector<std::int64_t> worker_counts() {
  unsigned hw = std::thread::hardware_concurrency();
  if (hw == 0) hw = 1;  // unknown: the standard allows 0
  std::vector<std::int64_t> counts;
  for (unsigned w = 1; w <= hw && w <= 4; ++w) counts.push_back(w);
  for (unsigned w = 8; w < hw; w *= 2) counts.push_back(w);
  if (hw > 4) counts.push_back(hw);
  return counts;
}

// WEFT_BENCH_FULL=1 adds a larger problem; by default the suite stays quick.
inline bool full_run() {
  const char* full = std::getenv("WEFT_BENCH_FULL");
  return full != nullptr && std::strcmp(full, "1") == 0;
}

// The problem sizes for fib. 30 is about 1.3 million spawns: enough to swamp the
// per-run cost of waking workers, small enough for a quick suite.
inline std::vector<std::int64_t> fib_sizes() {
  std::vector<std::int64_t> sizes{30};
  if (full_run()) sizes.push_back(32);
  return sizes;
}

// Arguments {workers, n} for the parallel peers.
inline void workers_and_n(benchmark::internal::Benchmark* b, const std::vector<std::int64_t>& sizes) {
  b->ArgNames({"workers", "n"});
  for (std::int64_t n : sizes)
    for (std::int64_t w : worker_counts()) b->Args({w, n});
}

// Arguments {n} for the serial baseline.
inline void n_only(benchmark::internal::Benchmark* b, const std::vector<std::int64_t>& sizes) {
  b->ArgNames({"n"});
  for (std::int64_t n : sizes) b->Args({n});
}

// skynet: a 10-ary tree; depth 6 has 1,000,000 leaves (the classic size).
inline constexpr std::uint64_t kSkynetFanout = 10;
inline void workers_and_depth(benchmark::internal::Benchmark* b) {
  b->ArgNames({"workers", "depth"});
  for (std::int64_t w : worker_counts()) b->Args({w, 6});
}
// The sum of the leaf ids 0 .. 10^depth - 1.
inline std::uint64_t skynet_expected(int depth) {
  std::uint64_t leaves = 1;
  for (int i = 0; i < depth; ++i) leaves *= kSkynetFanout;
  return leaves * (leaves - 1) / 2;
}

// spawn: {workers, from} where from 0 = outside the runtime, 1 = inside a task.
inline void workers_and_origin(benchmark::internal::Benchmark* b) {
  b->ArgNames({"workers", "from"});
  for (std::int64_t from : {0, 1})
    for (std::int64_t w : worker_counts()) b->Args({w, from});
}

// fanout: {workers, children}; one round spawns 10,000 children.
inline void workers_and_children(benchmark::internal::Benchmark* b) {
  b->ArgNames({"workers", "children"});
  for (std::int64_t w : worker_counts()) b->Args({w, 10000});
}
inline std::uint64_t fanout_expected(std::int64_t children) {
  const auto n = static_cast<std::uint64_t>(children);
  return n * (n - 1) / 2;
}

// The reference answer each benchmark checks against, computed iteratively so that
// it cannot share a bug with the code under test.
inline std::uint64_t fib_expected(int n) {
  std::uint64_t a = 0, b = 1;
  for (int i = 0; i < n; ++i) {
    std::uint64_t next = a + b;
    a = b;
    b = next;
  }
  return a;
}

}  // namespace weft_bench
