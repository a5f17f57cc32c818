// fib/tbb: the same fork-join recursion as fib/weft on oneTBB's task_group (fib(n-1)
// in run, fib(n-2) inline, then wait), in an arena of the same number of threads. The
// peer weft's spawn/join/steal overhead and scaling are judged against.
#include <cstdint>
#include <string>

#include <benchmark/benchmark.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>

#include "common/args.hpp"

namespace {

std::uint64_t fib(int n) {
  if (n < 2) return static_cast<std::uint64_t>(n);
  std::uint64_t x = 0;
  tbb::task_group tg;
  tg.run([&x, n] { x = fib(n - 1); });
  std::uint64_t b = fib(n - 2);
  tg.wait();
  return x + b;
}

void bm_fib_tbb(benchmark::State& state) {
  const int workers = static_cast<int>(state.range(0));
  const int n = static_cast<int>(state.range(1));
  const std::uint64_t expected = weft_bench::fib_expected(n);
  // The arena's concurrency is only a cap; global_control keeps TBB's process-wide
  // pool from lending it more threads than weft gets, and from starving it of them.
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism,
                            static_cast<std::size_t>(workers));
  // Created once, like weft's runtime, so thread start-up stays out of the timing.
  tbb::task_arena arena(workers);
  arena.initialize();
  arena.execute([&] { benchmark::DoNotOptimize(fib(n)); });  // untimed warm-up, as the weft peers
  for (auto _ : state) {
    std::uint64_t got = 0;
    arena.execute([&] { got = fib(n); });
    if (got != expected) {
      state.SkipWithError(("wrong answer: " + std::to_string(got) + ", expected " +
                           std::to_string(expected)).c_str());
      break;
    }
    benchmark::DoNotOptimize(got);
  }
}

BENCHMARK(bm_fib_tbb)
    ->Name("fib/tbb")
    ->Apply([](benchmark::internal::Benchmark* b) {
      weft_bench::workers_and_n(b, weft_bench::fib_sizes());
    })
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
