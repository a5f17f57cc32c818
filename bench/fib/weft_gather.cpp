// fib/weft_gather: recursive fib(n) on weft through gather, the structured fork-join
// primitive: each call gathers fib(n-1) and fib(n-2) as two children. Same workload
// and peers as fib/weft (spawn + await), fib/tbb and fib/serial. A child that no other
// worker steals runs inline in the gathering task, at about the cost of an inline
// co_await; a stolen one becomes a helper task (docs/CHANGES.md, 2026-11-21). This is
// the row the fork-join targets are read from (bench/README.md).
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
  auto [a, b] = co_await weft::gather(fib(n - 1), fib(n - 2));
  co_return a + b;
}

void bm_fib_weft_gather(benchmark::State& state) {
  weft_bench::run_on_weft(state, fib, weft_bench::fib_expected(static_cast<int>(state.range(1))));
}

BENCHMARK(bm_fib_weft_gather)
    ->Name("fib/weft_gather")
    ->Apply([](benchmark::internal::Benchmark* b) {
      weft_bench::workers_and_n(b, weft_bench::fib_sizes());
    })
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
