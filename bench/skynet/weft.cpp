// skynet/weft: the skynet benchmark on weft. A 10-ary tree of depth 6: every inner
// node gathers its ten children (gather of a std::array, the fork-join path), every one
// of the 1,000,000 leaves returns its own id, and the root returns their sum,
// 499,999,500,000. Peer: skynet/tbb, whose nodes keep their sums in a std::array too;
// skynet/weft_vector is the same tree through gather(std::vector).
#include <array>
#include <cstdint>
#include <string>

#include <benchmark/benchmark.h>
#include <weft/weft.hpp>

#include "common/args.hpp"
#include "common/weft_runner.hpp"

namespace {

weft::Task<std::uint64_t> skynet(std::uint64_t id, int depth) {
  if (depth == 0) co_return id;
  std::array<weft::Task<std::uint64_t>, weft_bench::kSkynetFanout> children;
  for (std::uint64_t i = 0; i < weft_bench::kSkynetFanout; ++i)
    children[i] = skynet(id * weft_bench::kSkynetFanout + i, depth - 1);
  const std::array<std::uint64_t, weft_bench::kSkynetFanout> sums = co_await weft::gather(std::move(children));
  std::uint64_t total = 0;
  for (std::uint64_t sum : sums) total += sum;
  co_return total;
}

void bm_skynet_weft(benchmark::State& state) {
  const int depth = static_cast<int>(state.range(1));
  weft_bench::run_on_weft(state, [](int d) { return skynet(0, d); }, weft_bench::skynet_expected(depth));
}

BENCHMARK(bm_skynet_weft)
    ->Name("skynet/weft")
    ->Apply([](benchmark::internal::Benchmark* b) { weft_bench::workers_and_depth(b); })
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
