// sleep_lateness/weft: how late one sleep_for(d) wakes on an otherwise idle runtime
// (steady clock, 1 ms timer tick): the worker that drives the timers parks until the
// deadline, so lateness is the tick rounding (under 1 ms by design) plus the futex
// wake-up and the scheduling of the woken worker. Each iteration sleeps d = 2, 5 or
// 20 ms once; median, p99 and max lateness (µs) are reported as counters. A wake before
// the deadline is an error.
#include <algorithm>
#include <chrono>
#include <vector>

#include <benchmark/benchmark.h>

#include <weft/weft.hpp>

namespace {

using SteadyClock = std::chrono::steady_clock;

weft::Task<SteadyClock::duration> timed_sleep(std::chrono::milliseconds d) {
  const auto start = SteadyClock::now();
  co_await weft::sleep_for(d);
  co_return SteadyClock::now() - start - d;
}

void bm_sleep_lateness(benchmark::State& state) {
  const auto d = std::chrono::milliseconds(state.range(0));
  weft::RuntimeOptions options;
  options.workers = 2;
  weft::Runtime rt(options);
  std::vector<double> lateness_us;
  for (auto _ : state) {
    const auto late = rt.block_on(timed_sleep(d));
    if (late < SteadyClock::duration::zero()) {
      state.SkipWithError("a sleep ended before its duration");
      return;
    }
    lateness_us.push_back(std::chrono::duration<double, std::micro>(late).count());
  }
  std::sort(lateness_us.begin(), lateness_us.end());
  auto at = [&](double q) { return lateness_us[static_cast<std::size_t>(q * (lateness_us.size() - 1))]; };
  state.counters["median_late_us"] = at(0.5);
  state.counters["p99_late_us"] = at(0.99);
  state.counters["max_late_us"] = lateness_us.back();
}

BENCHMARK(bm_sleep_lateness)
    ->Name("sleep_lateness/weft")
    ->ArgName("ms")
    ->Arg(2)
    ->Arg(5)
    ->Arg(20)
    ->Iterations(100)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
