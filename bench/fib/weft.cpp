// fib/weft: recursive fib(n) as fork-join on weft. Each call spawns fib(n-1) as a task
// of its own (so an idle worker can steal it) and runs fib(n-2) inline, then awaits the
// handle. Nearly all the work is spawn, join and steal, so this measures their cost
// per task and how it scales with workers, against fib/tbb and fib/serial.
#include <cstdint>
#include <string>
#include <utility>

#include <benchmark/benchmark.h>
#include <weft/weft.hpp>

#include "common/args.hpp"
#include "common/weft_runner.hpp"

namespace {

weft::Task<std::uint64_t> fib(int n) {
  if (n < 2) co_return static_cast<std::uint64_t>(n);
  // Spawn before running the sibling inline, so the child is visible to thieves for
  // the whole time this worker spends on fib(n-2).
  auto a = weft::spawn(fib(n - 1));
  std::uint64_t b = co_await fib(n - 2);
  std::uint64_t x = co_await a;
  co_return x + b;
}

void bm_fib_weft(benchmark::State& state) {
  weft_bench::run_on_weft(state, fib, weft_bench::fib_expected(static_cast<int>(state.range(1))));
}

BENCHMARK(bm_fib_weft)
    ->Name("fib/weft")
    ->Apply([](benchmark::internal::Benchmark* b) {
      weft_bench::workers_and_n(b, weft_bench::fib_sizes());
    })
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
