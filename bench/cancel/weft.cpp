// cancel/weft: cancel latency, from JoinHandle::cancel() on a task that sleeps for an
// hour (steady clock) to its awaiter catching TaskCancelled. Per measurement a fresh
// "sleeper" (co_await sleep_for(1h)) and a fresh "awaiter" (co_await sleeper_handle in
// a try/catch) are spawned; the measuring thread waits until the runtime reports both
// Suspended (Runtime::tasks()), gives the workers a moment to park, then times the
// path: the cancel wins the sleeper's wait, the sleeper is queued and run, throws,
// ends cancelled, its completion wakes the awaiter, which catches TaskCancelled and
// stamps the steady clock. Two variants:
//   * cancel_latency/weft: cancel() from a thread outside the runtime (t0 just
//     before the call, on that thread): it has to wake a parked worker.
//   * cancel_latency_in_runtime/weft: cancel() from a task (a "canceller" spawned for
//     the purpose; t0 stamped inside it just before the call): the worker is awake.
// Manual time: an iteration's time is its latency. Every sample is also kept and the
// median, p99 and max are reported as counters (median_us, p99_us, max_us). Each
// iteration checks that the awaiter saw TaskCancelled (not a value, not another error)
// and that the sleeper ended cancelled; anything else, or a wait that never ends, is
// reported with SkipWithError.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>
#include <weft/weft.hpp>

#include "common/args.hpp"

namespace {

using SteadyClock = std::chrono::steady_clock;

// What one measurement shares between the measuring thread and its tasks.
struct Probe {
  weft::JoinHandle<void>* sleeper = nullptr;
  // The awaiter's verdict: 0 pending, 1 caught TaskCancelled, 2 the wait returned
  // normally, 3 some other exception.
  std::atomic<int> verdict{0};
  SteadyClock::time_point t1{};  // written before verdict (release)
  // In-runtime variant: the canceller's stamp and cancel()'s result.
  std::atomic<int> cancel_sent{0};  // 0 pending, 1 cancel() returned true, 2 false
  SteadyClock::time_point t0{};     // written before cancel_sent (release)
};

weft::Task<void> sleeper() { co_await weft::sleep_for(std::chrono::hours(1)); }

weft::Task<void> awaiter(Probe* probe) {
  int verdict = 2;
  try {
    co_await *probe->sleeper;
  } catch (const weft::TaskCancelled&) {
    probe->t1 = SteadyClock::now();
    verdict = 1;
  } catch (...) {
    verdict = 3;
  }
  probe->verdict.store(verdict, std::memory_order_release);
}

weft::Task<void> canceller(Probe* probe) {
  probe->t0 = SteadyClock::now();
  bool sent = probe->sleeper->cancel();
  probe->cancel_sent.store(sent ? 1 : 2, std::memory_order_release);
  co_return;
}

constexpr auto kWaitLimit = std::chrono::seconds(5);  // "never": a library bug

// Spins until both tasks are Suspended (on a sleep and on a join respectively).
bool wait_suspended(const weft::Runtime& rt, weft::TaskId sleeper_id, weft::TaskId awaiter_id) {
  const auto limit = SteadyClock::now() + kWaitLimit;
  for (;;) {
    bool sleeper_ok = false, awaiter_ok = false;
    for (const weft::TaskInfo& info : rt.tasks()) {
      if (info.state != weft::TaskState::Suspended) continue;
      if (info.id == sleeper_id && info.awaiting.rfind("sleep", 0) == 0) sleeper_ok = true;
      if (info.id == awaiter_id && info.awaiting.rfind("task", 0) == 0) awaiter_ok = true;
    }
    if (sleeper_ok && awaiter_ok) return true;
    if (SteadyClock::now() > limit) return false;
  }
}

template <class Pred>
bool spin_until(Pred pred) {
  const auto limit = SteadyClock::now() + kWaitLimit;
  while (!pred()) {
    if (SteadyClock::now() > limit) return false;
  }
  return true;
}

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(rank, sorted.size() - 1)];
}

void report(benchmark::State& state, std::vector<double>& samples_ns) {
  std::sort(samples_ns.begin(), samples_ns.end());
  state.counters["median_us"] = percentile(samples_ns, 0.50) / 1e3;
  state.counters["p99_us"] = percentile(samples_ns, 0.99) / 1e3;
  state.counters["max_us"] = samples_ns.empty() ? 0 : samples_ns.back() / 1e3;
  state.counters["samples"] = static_cast<double>(samples_ns.size());
}

// in_runtime: the cancel comes from a task instead of the measuring thread.
void cancel_latency(benchmark::State& state, bool in_runtime) {
  weft::RuntimeOptions options;
  options.workers = static_cast<unsigned>(state.range(0));
  weft::Runtime rt(std::move(options));
  std::vector<double> samples_ns;
  samples_ns.reserve(static_cast<std::size_t>(state.max_iterations));

  auto fail = [&](const std::string& what) {
    state.SkipWithError(what.c_str());
    rt.shutdown();  // cancels and finishes what is left before the probe goes away
  };

  for (auto _ : state) {
    Probe probe;
    weft::JoinHandle<void> sleeping = rt.spawn(sleeper());
    probe.sleeper = &sleeping;
    weft::JoinHandle<void> waiting = rt.spawn(awaiter(&probe));
    if (!wait_suspended(rt, sleeping.id(), waiting.id())) {
      fail("sleeper and awaiter never both suspended:\n" + rt.dump());
      break;
    }
    // Workers park at once when out of work (no spinning); this lets them get there,
    // so that the outside cancel measures the wake-up of an idle runtime.
    std::this_thread::sleep_for(std::chrono::microseconds(50));

    SteadyClock::time_point t0;
    weft::JoinHandle<void> cancelling;
    if (in_runtime) {
      cancelling = rt.spawn(canceller(&probe));
    } else {
      t0 = SteadyClock::now();
      if (!sleeping.cancel()) {
        fail("cancel() returned false on a sleeping task");
        break;
      }
    }
    // In the runtime, the awaiter may catch before the canceller has stored its result.
    if (!spin_until([&] {
          return probe.verdict.load(std::memory_order_acquire) != 0 &&
                 (!in_runtime || probe.cancel_sent.load(std::memory_order_acquire) != 0);
        })) {
      fail("the awaiter never saw the cancel:\n" + rt.dump());
      break;
    }
    if (in_runtime) {
      int sent = probe.cancel_sent.load(std::memory_order_acquire);
      if (sent != 1) {
        fail("cancel() returned false on a sleeping task (from a task)");
        break;
      }
      t0 = probe.t0;
    }
    int verdict = probe.verdict.load(std::memory_order_acquire);
    if (verdict != 1) {
      fail(verdict == 2 ? "awaiting a cancelled task returned normally"
                        : "awaiting a cancelled task threw something other than TaskCancelled");
      break;
    }
    const double ns = std::chrono::duration<double, std::nano>(probe.t1 - t0).count();
    state.SetIterationTime(ns / 1e9);
    samples_ns.push_back(ns);

    // Leave nothing running into the next measurement.
    if (!spin_until([&] { return waiting.done() && (!in_runtime || cancelling.done()); })) {
      fail("the awaiter or canceller never finished:\n" + rt.dump());
      break;
    }
    if (!sleeping.cancelled()) {
      fail("the sleeper did not end cancelled");
      break;
    }
  }
  report(state, samples_ns);
}

void bm_cancel_latency_weft(benchmark::State& state) { cancel_latency(state, false); }
void bm_cancel_latency_in_runtime_weft(benchmark::State& state) { cancel_latency(state, true); }

// Fixed iteration counts: each iteration also pays for setup (two spawns, the wait for
// suspension, the pause), which manual time leaves out, so letting the library pick
// the count from the (tiny) measured time would run for minutes.
benchmark::IterationCount cancel_iterations() { return weft_bench::full_run() ? 20000 : 2000; }

void cancel_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"workers"});
  b->Arg(1);
  b->Arg(2);
}

BENCHMARK(bm_cancel_latency_weft)
    ->Name("cancel_latency/weft")
    ->Apply(cancel_args)
    ->Iterations(cancel_iterations())
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

BENCHMARK(bm_cancel_latency_in_runtime_weft)
    ->Name("cancel_latency_in_runtime/weft")
    ->Apply(cancel_args)
    ->Iterations(cancel_iterations())
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
