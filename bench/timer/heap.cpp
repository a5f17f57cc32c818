// timer/heap: the std::priority_queue baseline for timer/wheel: the same two workloads
// (insert_cancel, insert_expire), the same N, the same random deadlines (same generator
// and seed), timed per operation.
//   * Cancel is lazy deletion, the standard approach for a binary heap: bump the timer's
//     generation so that its node in the heap becomes stale, and drop stale nodes when
//     they reach the top. Without time passing few ever do, so, as Go's runtime does,
//     the heap is compacted (stale nodes filtered out, make_heap) once stale nodes
//     outnumber live ones: amortised O(1) per cancel, and the heap stays <= 2N nodes.
//   * Expire: pop while top <= now, checking each popped node against its waiter's
//     generation (the lazy-deletion test every pop must make).
// Every timer has its own waiter object, one cache line, as it would in a coroutine
// frame; it holds the generation (the "cancelled" mark). timer/wheel's waiters, which
// embed the TimerEntry, have the same size. Each run checks its answer (live nodes == N after insert_cancel; expired + live ==
// inserted, none early, population still about N after insert_expire).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <queue>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "common/timer_workload.hpp"

namespace {

using namespace weft_bench::timer;

// 16 bytes: the deadline, which timer, and that timer's generation when pushed.
struct Node {
  std::uint64_t deadline;
  std::uint32_t id;
  std::uint32_t gen;
};
struct Later {  // priority_queue keeps the "largest" on top: make that the earliest
  bool operator()(const Node& a, const Node& b) const noexcept { return a.deadline > b.deadline; }
};

// The waiting object (a coroutine frame, in a runtime): its generation is bumped by a
// cancel, so the heap node carrying the old one is stale. One cache line, like
// timer/wheel's Waiter.
struct alignas(64) Waiter {
  std::uint32_t gen = 0;
};
static_assert(sizeof(Waiter) == 64);

// priority_queue with its container exposed, for compaction.
class LazyHeap : public std::priority_queue<Node, std::vector<Node>, Later> {
 public:
  void reserve(std::size_t n) { c.reserve(n); }
  template <class Stale>
  void compact(Stale stale) {
    std::erase_if(c, stale);
    std::make_heap(c.begin(), c.end(), comp);
  }
  template <class Live>
  std::size_t count(Live live) const {
    return static_cast<std::size_t>(std::count_if(c.begin(), c.end(), live));
  }
};

void bm_heap_insert_cancel(benchmark::State& state) {
  const auto n = static_cast<std::uint64_t>(state.range(0));
  Rng rng;
  std::vector<Waiter> waiters(n);
  LazyHeap heap;
  heap.reserve(2 * n + 1);  // the most it holds between compactions: no growth while timed
  for (std::uint32_t id = 0; id < n; ++id) heap.push({delay(rng), id, 0});
  const std::uint64_t now = 0;
  std::uint64_t stale = 0;
  auto is_stale = [&](const Node& node) { return node.gen != waiters[node.id].gen; };
  for (auto _ : state) {
    const auto id = static_cast<std::uint32_t>(rng.below(n));
    const std::uint32_t gen = ++waiters[id].gen;  // cancel: the timer's node is now stale
    ++stale;
    heap.push({now + delay(rng), id, gen});
    while (is_stale(heap.top())) {  // lazy deletion: drop stale nodes that reached the top
      heap.pop();
      --stale;
    }
    if (stale > n) {
      heap.compact(is_stale);
      stale = 0;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  const std::size_t live = heap.count([&](const Node& node) { return !is_stale(node); });
  if (live != n || heap.size() != n + stale)
    state.SkipWithError(("wrong answer: " + std::to_string(live) + " live nodes, expected " +
                         std::to_string(n) + "; heap " + std::to_string(heap.size()) + ", stale " +
                         std::to_string(stale)).c_str());
}

void bm_heap_insert_expire(benchmark::State& state) {
  const auto n = static_cast<std::uint64_t>(state.range(0));
  Rng rng;
  // Waiters are recycled through a free list, as the wheel's entries are.
  std::vector<Waiter> waiters(n + n / 4 + 1024);
  std::vector<std::uint32_t> free_ids;
  for (auto id = static_cast<std::uint32_t>(waiters.size()); id-- > n;) free_ids.push_back(id);
  LazyHeap heap;
  heap.reserve(2 * n);
  for (std::uint32_t id = 0; id < n; ++id) heap.push({steady_delay(rng), id, 0});
  std::uint64_t inserted = n, expired = 0, early = 0, stale = 0, acc = 0, now = 0;
  for (auto _ : state) {
    if (free_ids.empty()) {
      state.SkipWithError("population swelled past the waiter pool");
      break;
    }
    const std::uint32_t id = free_ids.back();
    free_ids.pop_back();
    heap.push({now + delay(rng), id, waiters[id].gen});
    ++inserted;
    acc += kHalfDelay;  // the clock: kHalfDelay / n ticks per insert, as for the wheel
    if (acc >= n) {
      now += acc / n;
      acc %= n;
      while (!heap.empty() && heap.top().deadline <= now) {
        const Node top = heap.top();
        heap.pop();
        Waiter& w = waiters[top.id];
        if (top.gen != w.gen) {  // lazy deletion: a cancelled timer (none here)
          ++stale;
          continue;
        }
        early += top.deadline > now;  // cannot happen; mirrors the wheel's check
        ++w.gen;  // the waiter is done with this timer: a later reuse is a new one
        free_ids.push_back(top.id);
        ++expired;
      }
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["live"] = static_cast<double>(heap.size());
  const std::uint64_t live = heap.size();
  if (expired + live != inserted || early != 0 || stale != 0 || live < n * 3 / 4 || live > n * 5 / 4)
    state.SkipWithError(("wrong answer: inserted " + std::to_string(inserted) + ", expired " +
                         std::to_string(expired) + ", live " + std::to_string(live) + ", stale " +
                         std::to_string(stale)).c_str());
}

void timer_sizes(benchmark::internal::Benchmark* b) {
  b->ArgName("timers")->Arg(1'000)->Arg(100'000)->Arg(1'000'000);
  b->UseRealTime()->Unit(benchmark::kNanosecond);
}

BENCHMARK(bm_heap_insert_cancel)->Name("timer/heap/insert_cancel")->Apply(timer_sizes);
BENCHMARK(bm_heap_insert_expire)->Name("timer/heap/insert_expire")->Apply(timer_sizes);

}  // namespace
