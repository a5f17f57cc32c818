// skynet/weft_vector: skynet/weft with the children in a std::vector, gathered into a
// vector of sums (gather(std::vector)): what a node whose number of children is known
// only at run time pays, two allocations per inner node more than skynet/weft.
#include <cstdint>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <weft/weft.hpp>

#include "common/args.hpp"
#include "common/weft_runner.hpp"

namespace {

weft::Task<std::uint64_t> skynet(std::uint64_t id, int depth) {
  if (depth == 0) co_return id;
  std::vector<weft::Task<std::uint64_t>> children;
  children.reserve(weft_bench::kSkynetFanout);
  for (std::uint64_t i = 0; i < weft_bench::kSkynetFanout; ++i)
    children.push_back(skynet(id * weft_bench::kSkynetFanout + i, depth - 1));
  std::vector<std::uint64_t> sums = co_await weft::gather(std::move(children));
  std::uint64_t total = 0;
  for (std::uint64_t sum : sums) total += sum;
  co_return total;
}

void bm_skynet_weft_vector(benchmark::State& state) {
  const int depth = static_cast<int>(state.range(1));
  weft_bench::run_on_weft(state, [](int d) { return skynet(0, d); }, weft_bench::skynet_expected(depth));
}

BENCHMARK(bm_skynet_weft_vector)
    ->Name("skynet/weft_vector")
    ->Apply([](benchmark::internal::Benchmark* b) { weft_bench::workers_and_depth(b); })
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
