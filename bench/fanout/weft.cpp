// fanout/weft: fan-out / fan-in. One task spawns 10,000 children (each adds its index
// to a shared sum) and then awaits every handle in turn; an iteration is one such
// round. Checks the sum. Peer: fanout/tbb.
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <weft/weft.hpp>

#include "common/args.hpp"

namespace {

weft::Task<std::uint64_t> child(std::uint64_t index) { co_return index; }

weft::Task<std::uint64_t> fan_out(std::int64_t children) {
  std::vector<weft::JoinHandle<std::uint64_t>> handles;
  handles.reserve(static_cast<std::size_t>(children));
  for (std::int64_t i = 0; i < children; ++i) handles.push_back(weft::spawn(child(static_cast<std::uint64_t>(i))));
  std::uint64_t sum = 0;
  for (auto& handle : handles) sum += co_await handle;
  co_return sum;
}

void bm_fanout_weft(benchmark::State& state) {
  weft::RuntimeOptions options;
  options.workers = static_cast<unsigned>(state.range(0));
  weft::Runtime rt(std::move(options));
  const std::int64_t children = state.range(1);
  const std::uint64_t expected = weft_bench::fanout_expected(children);
  (void)rt.block_on(fan_out(children));  // untimed: warm pools, as in spawn/weft
  for (auto _ : state) {
    const std::uint64_t got = rt.block_on(fan_out(children));
    if (got != expected) {
      state.SkipWithError(("wrong sum: " + std::to_string(got)).c_str());
      break;
    }
  }
}

BENCHMARK(bm_fanout_weft)
    ->Name("fanout/weft")
    ->Apply([](benchmark::internal::Benchmark* b) { weft_bench::workers_and_children(b); })
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
