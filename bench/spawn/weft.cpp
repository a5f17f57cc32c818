// spawn/weft: spawn throughput. 1,000,000 independent empty tasks, detached (their
// handles dropped), each counting itself; the run ends when the last one has run.
//   spawn/weft/from:outside — spawned by the benchmark thread (Runtime::spawn, through
//     the injector queue); it then blocks until the count is complete.
//   spawn/weft/from:inside — spawned by one root task (weft::spawn, onto its worker's
//     deque, where the other workers steal them); the root then waits on an Event
//     that the last task sets.
// Counter ns_per_task = real time / tasks. Peer: spawn/tbb.
#include <atomic>
#include <cstdint>
#include <string>

#include <benchmark/benchmark.h>
#include <weft/weft.hpp>

#include "common/args.hpp"

namespace {

constexpr std::int64_t kTasks = 1'000'000;

struct Countdown {
  explicit Countdown(std::int64_t n) : left(n) {}
  std::atomic<std::int64_t> left;
  weft::Event done;  // set by the task that takes the count to zero
};

weft::Task<void> tick(Countdown* countdown) {
  // acq_rel: the last decrement sees every other task's work before it sets `done`.
  if (countdown->left.fetch_sub(1, std::memory_order_acq_rel) == 1) countdown->done.set();
  co_return;
}

weft::Task<void> spawn_all(Countdown* countdown, std::int64_t tasks) {
  for (std::int64_t i = 0; i < tasks; ++i) weft::spawn(tick(countdown));
  co_await countdown->done.wait();
}

weft::Task<void> wait_for_all(Countdown* countdown) { co_await countdown->done.wait(); }

void bm_spawn_weft(benchmark::State& state) {
  weft::RuntimeOptions options;
  options.workers = static_cast<unsigned>(state.range(0));
  weft::Runtime rt(std::move(options));
  const bool from_outside = state.range(1) == 0;
  auto round = [&] {
    Countdown countdown(kTasks);
    if (from_outside) {
      for (std::int64_t i = 0; i < kTasks; ++i) rt.spawn(tick(&countdown));
      rt.block_on(wait_for_all(&countdown));
    } else {
      rt.block_on(spawn_all(&countdown, kTasks));
    }
    return countdown.left.load() == 0;
  };
  // One untimed round first: the allocator's pools (and the pages under them) are then
  // as warm as in a service that spawns all day, and the figure does not depend on
  // which benchmark ran before (the memory benchmark empties the pools).
  round();
  for (auto _ : state) {
    if (!round()) {
      state.SkipWithError("not every task ran");
      break;
    }
  }
  state.counters["ns_per_task"] = benchmark::Counter(
      static_cast<double>(kTasks) * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

BENCHMARK(bm_spawn_weft)
    ->Name("spawn/weft")
    ->Apply([](benchmark::internal::Benchmark* b) { weft_bench::workers_and_origin(b); })
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
