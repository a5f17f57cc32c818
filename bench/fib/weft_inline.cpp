// fib/weft_inline: the same recursion as fib/weft with both calls awaited inline (no
// parallelism): the cost of a coroutine frame and an inline co_await, the floor under
// any fork-join path whose children nobody steals.
#include <cstdint>

#include <benchmark/benchmark.h>
#include <weft/weft.hpp>

#include "common/args.hpp"
#include "common/weft_runner.hpp"

namespace {

weft::Task<std::uint64_t> fib(int n) {
  if (n < 2) co_return static_cast<std::uint64_t>(n);
  std::uint64_t a = co_await fib(n - 1);
  std::uint64_t b = co_await fib(n - 2);
  co_return a + b;
}

void bm_fib_weft_inline(benchmark::State& state) {
  weft_bench::run_on_weft(state, fib, weft_bench::fib_expected(static_cast<int>(state.range(1))));
}

BENCHMARK(bm_fib_weft_inline)
    ->Name("fib/weft_inline")
    ->ArgNames({"workers", "n"})
    ->Args({1, 30})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
