// timer/wheel: the cost of one timer operation on weft's hierarchical TimerWheel with N
// live timers (N = 1,000 / 100,000 / 1,000,000), side by side with timer/heap, the
// std::priority_queue baseline:
//   * insert_cancel: per op, cancel a random live timer and insert a new one (the life
//     of a timeout whose operation finished first); the population stays exactly N.
//   * insert_expire: per op, insert one timer, and move the clock so that on average one
//     timer expires per insert; the population stays about N.
// Deadlines are random (fixed seed), 1..10,000 ticks ahead (1-10 s sleeps at 1 ms
// ticks). Every timer lives in its own waiter object, one cache line, as it would in a
// coroutine frame (timer/heap gives its waiters the same size). Time is per operation (one op per iteration, real time, ns). Each run checks
// its answer (every cancel found its timer; expired + live == inserted, none early,
// population still about N) and reports an error otherwise.
#include <cmath>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "common/timer_workload.hpp"

#include "weft/core/timer_wheel.hpp"

namespace {

using weft::detail::TimerEntry;
using weft::detail::TimerWheel;
using namespace weft_bench::timer;

// The waiting object a TimerEntry is embedded in (a coroutine frame, in the runtime):
// one cache line, like timer/heap's Waiter.
struct alignas(64) Waiter {
  TimerEntry entry;
};
static_assert(sizeof(Waiter) == 64);

void bm_wheel_insert_cancel(benchmark::State& state) {
  const auto n = static_cast<std::uint64_t>(state.range(0));
  Rng rng;
  std::unique_ptr<Waiter[]> waiters(new Waiter[n]);  // outlives the wheel
  TimerWheel wheel(0);
  for (std::uint64_t i = 0; i < n; ++i) wheel.insert(waiters[i].entry, delay(rng));
  std::uint64_t missed = 0;
  for (auto _ : state) {
    TimerEntry& e = waiters[rng.below(n)].entry;
    missed += !wheel.cancel(e);  // every entry is live: a miss is a bug
    wheel.insert(e, wheel.now() + delay(rng));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  if (missed != 0 || wheel.size() != n)
    state.SkipWithError(("wrong answer: " + std::to_string(missed) + " cancels missed, " +
                         std::to_string(wheel.size()) + " live, expected " + std::to_string(n)).c_str());
}

void bm_wheel_insert_expire(benchmark::State& state) {
  const auto n = static_cast<std::uint64_t>(state.range(0));
  Rng rng;
  std::deque<Waiter> pool;  // stable addresses; grows only if the population swells
  std::vector<TimerEntry*> free_list;
  free_list.reserve(n);
  TimerWheel wheel(0);  // declared after the pool: dies first, unlinking what is left
  for (std::uint64_t i = 0; i < n; ++i) {
    pool.emplace_back();
    wheel.insert(pool.back().entry, steady_delay(rng));
  }
  std::uint64_t inserted = n, expired = 0, early = 0, acc = 0, now = 0;
  auto on_expire = [&](TimerEntry& e) {
    early += e.deadline() > now;
    free_list.push_back(&e);
  };
  for (auto _ : state) {
    TimerEntry* e;
    if (free_list.empty()) {
      pool.emplace_back();
      e = &pool.back().entry;
    } else {
      e = free_list.back();
      free_list.pop_back();
    }
    wheel.insert(*e, now + delay(rng));
    ++inserted;
    // The clock moves kHalfDelay / n ticks per insert (fixed point, in 1/n ticks).
    acc += kHalfDelay;
    if (acc >= n) {
      now += acc / n;
      acc %= n;
      expired += wheel.advance(now, on_expire);
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["live"] = static_cast<double>(wheel.size());
  const std::uint64_t live = wheel.size();
  if (expired + live != inserted || early != 0 || live < n * 3 / 4 || live > n * 5 / 4)
    state.SkipWithError(("wrong answer: inserted " + std::to_string(inserted) + ", expired " +
                         std::to_string(expired) + ", live " + std::to_string(live) + ", early " +
                         std::to_string(early)).c_str());
}

void timer_sizes(benchmark::internal::Benchmark* b) {
  b->ArgName("timers")->Arg(1'000)->Arg(100'000)->Arg(1'000'000);
  b->UseRealTime()->Unit(benchmark::kNanosecond);
}

BENCHMARK(bm_wheel_insert_cancel)->Name("timer/wheel/insert_cancel")->Apply(timer_sizes);
BENCHMARK(bm_wheel_insert_expire)->Name("timer/wheel/insert_expire")->Apply(timer_sizes);

}  // namespace
