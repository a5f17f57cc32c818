// memory/weft: the resident memory a suspended task costs. 1,000,000 tasks are spawned
// from one root task, each going to sleep for an hour (a timer in the wheel); once all
// are asleep the process's resident set (/proc/self/statm) is compared with the one
// before the spawns. Counter bytes_per_task = (RSS asleep - RSS before) / tasks: the
// task's header, its coroutine frame (with the sleep's timer entry), its JoinHandle in
// the root's vector, and the allocator's overhead. Then every task is cancelled and
// joined (each must end cancelled). One iteration. Before the baseline is taken, the
// allocators give their free memory back to the OS (weft::release_cached_memory for
// weft's frame depot and tbbmalloc's buffers, glibc's malloc_trim): otherwise memory
// pooled by an earlier benchmark in the same process, or by an earlier repetition,
// would be reused and the figure would be zero. The call runs in the root task, on a worker;
// the other worker's magazines (at most 512 KiB per size) stay, within the noise.
#include <malloc.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <weft/weft.hpp>

namespace {

using namespace std::chrono_literals;

constexpr std::int64_t kTasks = 1'000'000;

std::int64_t resident_bytes() {
  long pages_total = 0, pages_resident = 0;
  std::FILE* statm = std::fopen("/proc/self/statm", "r");
  if (statm == nullptr) return 0;
  if (std::fscanf(statm, "%ld %ld", &pages_total, &pages_resident) != 2) pages_resident = 0;
  std::fclose(statm);
  return static_cast<std::int64_t>(pages_resident) * sysconf(_SC_PAGESIZE);
}

weft::Task<void> sleeper(std::atomic<std::int64_t>* asleep) {
  asleep->fetch_add(1, std::memory_order_relaxed);
  co_await weft::sleep_for(1h);
}

struct Measured {
  std::int64_t bytes = 0;
  std::int64_t cancelled = 0;
};

weft::Task<Measured> sleep_all(std::int64_t tasks) {
  std::atomic<std::int64_t> asleep{0};
  std::vector<weft::JoinHandle<void>> handles;
  handles.reserve(static_cast<std::size_t>(tasks));
  weft::release_cached_memory();  // our depot and magazines, then tbbmalloc's buffers
  malloc_trim(0);
  const std::int64_t before = resident_bytes();
  for (std::int64_t i = 0; i < tasks; ++i) handles.push_back(weft::spawn(sleeper(&asleep)));
  // Every sleeper has run up to its sleep once the count is complete and the root,
  // yielding, has let the workers drain their queues.
  while (asleep.load(std::memory_order_relaxed) < tasks) co_await weft::this_task::yield();
  Measured measured;
  measured.bytes = resident_bytes() - before;
  for (auto& handle : handles) handle.cancel();
  for (auto& handle : handles) {
    try {
      co_await handle;
    } catch (const weft::TaskCancelled&) {
      ++measured.cancelled;
    }
  }
  co_return measured;
}

void bm_memory_weft(benchmark::State& state) {
  weft::RuntimeOptions options;
  options.workers = 2;
  weft::Runtime rt(std::move(options));
  const std::int64_t tasks = state.range(0);
  double bytes_per_task = 0;
  for (auto _ : state) {
    Measured measured = rt.block_on(sleep_all(tasks));
    if (measured.cancelled != tasks) {
      state.SkipWithError(("only " + std::to_string(measured.cancelled) + " sleepers ended cancelled").c_str());
      break;
    }
    bytes_per_task = static_cast<double>(measured.bytes) / static_cast<double>(tasks);
  }
  state.counters["bytes_per_task"] = bytes_per_task;
}

BENCHMARK(bm_memory_weft)
    ->Name("memory/weft")
    ->ArgNames({"tasks"})
    ->Arg(kTasks)
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
