#pragma once
// Runs a weft fork-join benchmark body: one Runtime per run (thread start-up is not
// what is measured), one untimed round (the workers' frame caches and deques warm up,
// as they are in a runtime that has been running), then block_on(make(n)) per
// iteration, and the answer checked. The oneTBB peers do the same untimed round.
#include <cstdint>
#include <string>
#include <utility>

#include <benchmark/benchmark.h>
#include <weft/weft.hpp>

namespace weft_bench {

template <class MakeTask>
void run_on_weft(benchmark::State& state, MakeTask make, std::uint64_t expected) {
  weft::RuntimeOptions options;
  options.workers = static_cast<unsigned>(state.range(0));
  weft::Runtime rt(std::move(options));
  const int n = static_cast<int>(state.range(1));
  (void)rt.block_on(make(n));
  for (auto _ : state) {
    std::uint64_t got = rt.block_on(make(n));
    if (got != expected) {
      state.SkipWithError(("wrong answer: " + std::to_string(got) + ", expected " + std::to_string(expected)).c_str());
      break;
    }
    benchmark::DoNotOptimize(got);
  }
}

}  // namespace weft_bench
