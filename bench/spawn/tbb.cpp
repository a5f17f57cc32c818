// spawn/tbb: the same 1,000,000 empty counting tasks on oneTBB, in an arena of the same
// number of threads.
//   from:outside — task_arena::enqueue from the benchmark thread (fire and forget, like
//     a detached spawn), which then waits until the count is complete.
//   from:inside — task_group::run from inside the arena, then task_group::wait.
#include <atomic>
#include <cstdint>
#include <thread>

#include <benchmark/benchmark.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>

#include "common/args.hpp"

namespace {

constexpr std::int64_t kTasks = 1'000'000;

void bm_spawn_tbb(benchmark::State& state) {
  const int workers = static_cast<int>(state.range(0));
  const bool from_outside = state.range(1) == 0;
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(workers));
  tbb::task_arena arena(workers);
  arena.initialize();
  auto round = [&] {
    std::atomic<std::int64_t> left{kTasks};
    if (from_outside) {
      for (std::int64_t i = 0; i < kTasks; ++i)
        arena.enqueue([&left] { left.fetch_sub(1, std::memory_order_acq_rel); });
      // The enqueued tasks run on the arena's workers; the benchmark thread is not one.
      while (left.load(std::memory_order_acquire) != 0) std::this_thread::yield();
    } else {
      arena.execute([&] {
        tbb::task_group group;
        for (std::int64_t i = 0; i < kTasks; ++i)
          group.run([&left] { left.fetch_sub(1, std::memory_order_acq_rel); });
        group.wait();
      });
    }
    return left.load() == 0;
  };
  round();  // untimed, as in spawn/weft: warm pools
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

BENCHMARK(bm_spawn_tbb)
    ->Name("spawn/tbb")
    ->Apply([](benchmark::internal::Benchmark* b) { weft_bench::workers_and_origin(b); })
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
