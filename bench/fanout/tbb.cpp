// fanout/tbb: the same fan-out / fan-in on oneTBB: one task_group runs 10,000 children
// (each storing its index in its own slot), waits, and sums. Peer of fanout/weft.
#include <cstdint>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>

#include "common/args.hpp"

namespace {

void bm_fanout_tbb(benchmark::State& state) {
  const int workers = static_cast<int>(state.range(0));
  const std::int64_t children = state.range(1);
  const std::uint64_t expected = weft_bench::fanout_expected(children);
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(workers));
  tbb::task_arena arena(workers);
  arena.initialize();
  std::vector<std::uint64_t> results(static_cast<std::size_t>(children));
  auto round = [&] {
    std::uint64_t got = 0;
    arena.execute([&] {
      tbb::task_group group;
      for (std::int64_t i = 0; i < children; ++i)
        group.run([&results, i] { results[static_cast<std::size_t>(i)] = static_cast<std::uint64_t>(i); });
      group.wait();
      for (std::uint64_t value : results) got += value;
    });
    return got;
  };
  (void)round();  // untimed: warm pools, as in fanout/weft
  for (auto _ : state) {
    const std::uint64_t got = round();
    if (got != expected) {
      state.SkipWithError(("wrong sum: " + std::to_string(got)).c_str());
      break;
    }
  }
}

BENCHMARK(bm_fanout_tbb)
    ->Name("fanout/tbb")
    ->Apply([](benchmark::internal::Benchmark* b) { weft_bench::workers_and_children(b); })
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
