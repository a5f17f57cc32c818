// fib/serial: the same recursion with plain calls, no tasks. The floor for fib/weft and
// fib/tbb: their time at one worker minus this is the cost of spawn and join alone.
#include <cstdint>
#include <string>

#include <benchmark/benchmark.h>

#include "common/args.hpp"

namespace {

// noinline and the out-parameter keep both recursive calls real calls: otherwise the
// compiler turns one of them into a loop (or the whole thing into a closed form) and
// the baseline no longer does the work the parallel peers do.
__attribute__((noinline)) void fib(int n, std::uint64_t& out) {
  if (n < 2) {
    out = static_cast<std::uint64_t>(n);
    return;
  }
  std::uint64_t a = 0, b = 0;
  fib(n - 1, a);
  fib(n - 2, b);
  benchmark::DoNotOptimize(a);
  benchmark::DoNotOptimize(b);
  out = a + b;
}

void bm_fib_serial(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const std::uint64_t expected = weft_bench::fib_expected(n);
  for (auto _ : state) {
    std::uint64_t got = 0;
    fib(n, got);
    if (got != expected) {
      state.SkipWithError(("wrong answer: " + std::to_string(got) + ", expected " +
                           std::to_string(expected)).c_str());
      break;
    }
    benchmark::DoNotOptimize(got);
  }
}

BENCHMARK(bm_fib_serial)
    ->Name("fib/serial")
    ->Apply([](benchmark::internal::Benchmark* b) { weft_bench::n_only(b, weft_bench::fib_sizes()); })
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
