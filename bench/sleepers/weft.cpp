// sleepers/weft: many sleeping tasks, half of them cancelled mid-sleep. 200,000 tasks
// each sleep a random 1-100 ms (steady clock, fixed seed; the deadline is fixed when
// the task starts: start + duration, awaited with sleep_until). A random half (fixed
// seed) are cancelled, each at a random moment of its own sleep: such a task, as it
// starts, posts "cancel me at start + u * duration" (u uniform in [0, 1)) to a
// "canceller" task, which keeps the posted moments in a min-heap, cancels those due,
// and sleeps until the next one (at most 1 ms, to pick up new posts). A picked task
// that woke before its cancel came (a late canceller) is counted (woke_first), not an
// error. Measures
//   * wake lateness of the tasks that woke normally: actual wake (steady clock, first
//     thing after the sleep) minus the deadline; counters lateness_p50_us, _p99_us,
//     _max_us. The runtime's timer tick is 1 ms, so up to about 1 ms is by design.
//     The same over the tasks whose deadline came after every sleeper had started
//     (steady_p50_us, _p99_us, _max_us): without the start-up flood of 200,000 fresh
//     tasks competing with the woken ones. start_ms: from the first spawn until every
//     sleeper had started.
//   * CPU time of the whole process during the run (getrusage RUSAGE_SELF user+sys,
//     counter cpu_ms) and wall time (the iteration's real time, counter wall_ms).
// One iteration: spawning, sleeping, cancelling and joining (in spawn order, from one
// root task) all 200,000 tasks.
// Checks: no task woke before its deadline; every task that was not picked for a
// cancel woke normally; every picked one ended cancelled or (if it woke before its
// cancel came) normally; the canceller sent every cancel. Both outcomes of the picked
// ones are counted (cancelled, woke_first).
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>
#include <weft/weft.hpp>

#include "common/args.hpp"

namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr std::int64_t kTasks = 200000;

std::int64_t now_ns() { return SteadyClock::now().time_since_epoch().count(); }

// What one sleeper leaves behind; written by the sleeper, read after it was joined.
struct Slot {
  std::int64_t deadline_ns = 0;  // steady clock, since its epoch
  std::int64_t lateness_ns = 0;
  bool woke = false;       // the sleep ended normally
  bool cancelled = false;  // the join threw TaskCancelled
  bool other_error = false;
};

struct Plan {
  std::vector<std::chrono::nanoseconds> durations;
  std::vector<double> cancel_at;  // fraction of the sleep at which to cancel; < 0: never
  std::size_t picked = 0;
};

using CancelEvent = std::pair<std::int64_t, std::size_t>;  // (steady ns, task)

// What the tasks of one run share.
struct Run {
  const Plan* plan = nullptr;
  std::vector<Slot> slots;
  std::vector<weft::JoinHandle<void>> handles;  // complete before the canceller spawns
  std::mutex inbox_lock;
  std::vector<CancelEvent> inbox;               // posted by picked sleepers as they start
  std::atomic<std::size_t> started{0};
  std::atomic<std::int64_t> all_started_ns{0};  // stamped by the last sleeper to start
};

Plan make_plan(std::size_t n) {
  std::mt19937_64 rng(0x5EEDu);
  std::uniform_int_distribution<std::int64_t> duration_us(1000, 100000);  // 1-100 ms
  std::uniform_real_distribution<double> fraction(0.0, 1.0);
  Plan plan;
  plan.durations.reserve(n);
  for (std::size_t i = 0; i < n; ++i) plan.durations.emplace_back(std::chrono::microseconds(duration_us(rng)));
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  plan.cancel_at.assign(n, -1.0);
  plan.picked = n / 2;
  for (std::size_t k = 0; k < plan.picked; ++k) plan.cancel_at[order[k]] = fraction(rng);
  return plan;
}

weft::Task<void> sleeper(std::size_t index, Run* run) {
  Slot& slot = run->slots[index];
  const std::chrono::nanoseconds duration = run->plan->durations[index];
  const SteadyClock::time_point start = SteadyClock::now();
  const SteadyClock::time_point deadline = start + duration;
  slot.deadline_ns = deadline.time_since_epoch().count();
  if (const double u = run->plan->cancel_at[index]; u >= 0) {
    const auto offset = static_cast<std::int64_t>(u * static_cast<double>(duration.count()));
    std::lock_guard guard(run->inbox_lock);
    run->inbox.emplace_back(start.time_since_epoch().count() + offset, index);
  }
  if (run->started.fetch_add(1, std::memory_order_relaxed) + 1 == run->slots.size())
    run->all_started_ns.store(now_ns(), std::memory_order_relaxed);
  co_await weft::sleep_until(deadline);
  slot.lateness_ns = (SteadyClock::now() - deadline).count();
  slot.woke = true;
}

struct CancelCount {
  std::size_t sent = 0;       // cancel() returned true
  std::size_t too_late = 0;   // cancel() returned false: the task had finished
};

weft::Task<CancelCount> canceller(Run* run) {
  const std::size_t total = run->plan->picked;
  std::vector<CancelEvent> heap, posted;  // heap: a min-heap on the moment
  heap.reserve(total);
  CancelCount count;
  std::size_t handled = 0;
  while (handled < total) {
    {
      std::lock_guard guard(run->inbox_lock);
      posted.swap(run->inbox);
    }
    for (const CancelEvent& event : posted) {
      heap.push_back(event);
      std::push_heap(heap.begin(), heap.end(), std::greater<>());
    }
    posted.clear();
    const std::int64_t now = now_ns();
    while (!heap.empty() && heap.front().first <= now) {
      bool sent = run->handles[heap.front().second].cancel();
      if (sent)
        ++count.sent;
      else
        ++count.too_late;
      ++handled;
      std::pop_heap(heap.begin(), heap.end(), std::greater<>());
      heap.pop_back();
    }
    if (handled == total) break;
    std::int64_t wake = now + 1'000'000;  // look at the inbox again within 1 ms
    if (!heap.empty()) wake = std::min(wake, heap.front().first);
    co_await weft::sleep_until(SteadyClock::time_point(SteadyClock::duration(wake)));
  }
  co_return count;
}

weft::Task<CancelCount> run_all(Run* run) {
  const std::size_t n = run->slots.size();
  run->handles.reserve(n);
  for (std::size_t i = 0; i < n; ++i) run->handles.push_back(weft::spawn(sleeper(i, run)));
  weft::JoinHandle<CancelCount> cancelling = weft::spawn(canceller(run));
  for (std::size_t i = 0; i < n; ++i) {
    try {
      co_await run->handles[i];
    } catch (const weft::TaskCancelled&) {
      run->slots[i].cancelled = true;
    } catch (...) {
      run->slots[i].other_error = true;
    }
  }
  CancelCount count = co_await cancelling;
  co_return count;
}

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

double percentile(const std::vector<std::int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return static_cast<double>(sorted[std::min(rank, sorted.size() - 1)]);
}

void bm_sleepers_weft(benchmark::State& state) {
  const auto workers = static_cast<unsigned>(state.range(0));
  const auto n = static_cast<std::size_t>(state.range(1));
  const Plan plan = make_plan(n);
  weft::RuntimeOptions options;
  options.workers = workers;
  weft::Runtime rt(std::move(options));

  for (auto _ : state) {
    Run run;
    run.plan = &plan;
    run.slots.resize(n);
    const double cpu_before = cpu_seconds();
    const auto wall_before = SteadyClock::now();
    CancelCount count = rt.block_on(run_all(&run));
    const auto wall_after = SteadyClock::now();
    const double cpu_after = cpu_seconds();
    const std::vector<Slot>& slots = run.slots;

    std::vector<std::int64_t> lateness, steady;  // steady: deadline after all had started
    lateness.reserve(n);
    steady.reserve(n);
    std::size_t cancelled = 0, woke_first = 0, early = 0, unpicked_cancelled = 0, other = 0;
    std::int64_t earliest = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const Slot& s = slots[i];
      if (s.other_error || s.woke == s.cancelled) {  // neither or both: impossible
        ++other;
        continue;
      }
      if (s.woke) {
        lateness.push_back(s.lateness_ns);
        if (s.deadline_ns >= run.all_started_ns.load()) steady.push_back(s.lateness_ns);
        if (s.lateness_ns < 0) {
          ++early;
          earliest = std::min(earliest, s.lateness_ns);
        }
        if (plan.cancel_at[i] >= 0) ++woke_first;
      } else if (plan.cancel_at[i] >= 0) {
        ++cancelled;
      } else {
        ++unpicked_cancelled;
      }
    }
    std::sort(lateness.begin(), lateness.end());
    std::sort(steady.begin(), steady.end());
    state.counters["lateness_p50_us"] = percentile(lateness, 0.50) / 1e3;
    state.counters["lateness_p99_us"] = percentile(lateness, 0.99) / 1e3;
    state.counters["lateness_max_us"] = lateness.empty() ? 0 : static_cast<double>(lateness.back()) / 1e3;
    state.counters["steady_p50_us"] = percentile(steady, 0.50) / 1e3;
    state.counters["steady_p99_us"] = percentile(steady, 0.99) / 1e3;
    state.counters["steady_max_us"] = steady.empty() ? 0 : static_cast<double>(steady.back()) / 1e3;
    state.counters["steady_woke"] = static_cast<double>(steady.size());
    state.counters["start_ms"] =
        static_cast<double>(run.all_started_ns.load() - wall_before.time_since_epoch().count()) / 1e6;
    state.counters["cpu_ms"] = (cpu_after - cpu_before) * 1e3;
    state.counters["wall_ms"] = std::chrono::duration<double, std::milli>(wall_after - wall_before).count();
    state.counters["woke"] = static_cast<double>(lateness.size());
    state.counters["cancelled"] = static_cast<double>(cancelled);
    state.counters["woke_first"] = static_cast<double>(woke_first);

    if (early != 0) {
      state.SkipWithError((std::to_string(early) + " tasks woke before their deadline (earliest by " +
                           std::to_string(-earliest) + " ns)").c_str());
      break;
    }
    if (other != 0 || unpicked_cancelled != 0) {
      state.SkipWithError((std::to_string(other) + " tasks ended neither woken nor cancelled, " +
                           std::to_string(unpicked_cancelled) + " never-cancelled tasks ended cancelled")
                              .c_str());
      break;
    }
    if (count.sent + count.too_late != plan.picked || cancelled > count.sent) {
      state.SkipWithError(("cancel count mismatch: sent " + std::to_string(count.sent) + ", too late " +
                           std::to_string(count.too_late) + ", planned " + std::to_string(plan.picked) +
                           ", tasks cancelled " + std::to_string(cancelled))
                              .c_str());
      break;
    }
  }
}

BENCHMARK(bm_sleepers_weft)
    ->Name("sleepers/weft")
    ->Apply([](benchmark::internal::Benchmark* b) {
      b->ArgNames({"workers", "tasks"});
      for (std::int64_t w : weft_bench::worker_counts()) b->Args({w, kTasks});
    })
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
