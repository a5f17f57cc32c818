// skynet/tbb: the same 10-ary tree of depth 6 on oneTBB: every inner node runs its ten
// children in a task_group (nine with run, the last inline) and waits, then sums.
// The peer skynet/weft is judged against.
#include <array>
#include <cstdint>
#include <string>

#include <benchmark/benchmark.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>

#include "common/args.hpp"

namespace {

std::uint64_t skynet(std::uint64_t id, int depth) {
  if (depth == 0) return id;
  std::array<std::uint64_t, weft_bench::kSkynetFanout> sums{};
  tbb::task_group group;
  for (std::uint64_t i = 0; i + 1 < weft_bench::kSkynetFanout; ++i)
    group.run([&sums, id, depth, i] { sums[i] = skynet(id * weft_bench::kSkynetFanout + i, depth - 1); });
  const std::uint64_t last = weft_bench::kSkynetFanout - 1;
  sums[last] = skynet(id * weft_bench::kSkynetFanout + last, depth - 1);
  group.wait();
  std::uint64_t total = 0;
  for (std::uint64_t sum : sums) total += sum;
  return total;
}

void bm_skynet_tbb(benchmark::State& state) {
  const int workers = static_cast<int>(state.range(0));
  const int depth = static_cast<int>(state.range(1));
  const std::uint64_t expected = weft_bench::skynet_expected(depth);
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(workers));
  tbb::task_arena arena(workers);
  arena.initialize();
  arena.execute([&] { benchmark::DoNotOptimize(skynet(0, depth)); });  // untimed warm-up, as the weft peers
  for (auto _ : state) {
    std::uint64_t got = 0;
    arena.execute([&] { got = skynet(0, depth); });
    if (got != expected) {
      state.SkipWithError(("wrong answer: " + std::to_string(got) + ", expected " + std::to_string(expected)).c_str());
      break;
    }
    benchmark::DoNotOptimize(got);
  }
}

BENCHMARK(bm_skynet_tbb)
    ->Name("skynet/tbb")
    ->Apply([](benchmark::internal::Benchmark* b) { weft_bench::workers_and_depth(b); })
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
