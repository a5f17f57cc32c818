// channel/weft: the cost of weft::Channel hand-overs.
//   * channel_pingpong: two tasks bounce a counter through two capacity-1 channels;
//     every round trip is two sends and two recvs, each (after the first) waking the
//     other task. Reported per round trip (items processed = round trips), so the time
//     per item is the latency of two wake-ups through the scheduler.
//   * channel_mpmc: P producers and P consumers share one capacity-64 channel; the
//     items/second is the throughput of the mutex-guarded queue under contention.
// Each run checks its answer (the final counter, the sum of the items received).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>
#include <weft/channel.hpp>
#include <weft/weft.hpp>

#include "common/args.hpp"

namespace {

constexpr std::int64_t kRoundTrips = 20000;

weft::Task<void> bouncer(weft::Channel<std::int64_t>& in, weft::Channel<std::int64_t>& out, std::int64_t trips) {
  for (std::int64_t i = 0; i < trips; ++i) {
    std::int64_t v = co_await in.recv();
    co_await out.send(v + 1);
  }
}

weft::Task<std::int64_t> pingpong(std::int64_t trips) {
  weft::Channel<std::int64_t> ping(1);
  weft::Channel<std::int64_t> pong(1);
  auto other = weft::spawn(bouncer(ping, pong, trips));
  std::int64_t v = 0;
  for (std::int64_t i = 0; i < trips; ++i) {
    co_await ping.send(v);
    v = co_await pong.recv();
  }
  co_await other;
  co_return v;
}

void bm_channel_pingpong(benchmark::State& state) {
  weft::RuntimeOptions options;
  options.workers = static_cast<unsigned>(state.range(0));
  weft::Runtime rt(std::move(options));
  for (auto _ : state) {
    std::int64_t got = rt.block_on(pingpong(kRoundTrips));
    if (got != kRoundTrips) {  // each round trip adds one
      state.SkipWithError(("wrong answer: " + std::to_string(got)).c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * kRoundTrips);
  // Seconds per round trip (shown with an SI prefix: 1.5u = 1.5 us).
  state.counters["per_round_trip"] = benchmark::Counter(
      static_cast<double>(kRoundTrips),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

BENCHMARK(bm_channel_pingpong)
    ->Name("channel_pingpong/weft")
    ->Apply([](benchmark::internal::Benchmark* b) {
      b->ArgNames({"workers"});
      for (std::int64_t w : weft_bench::worker_counts()) b->Args({w});
    })
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// Items in all, per run: 1M (about 60 ms on two cores, well inside the suite's budget).
std::int64_t mpmc_items() { return 1000000; }

weft::Task<void> mpmc_producer(weft::Channel<std::int64_t>& ch, std::int64_t first, std::int64_t count) {
  for (std::int64_t i = 0; i < count; ++i) co_await ch.send(first + i);
}

weft::Task<std::int64_t> mpmc_consumer(weft::Channel<std::int64_t>& ch) {
  std::int64_t sum = 0;
  for (;;) {
    std::int64_t v = 0;
    try {
      v = co_await ch.recv();
    } catch (const weft::ChannelClosed&) {
      break;
    }
    sum += v;
  }
  co_return sum;
}

weft::Task<std::int64_t> mpmc(std::int64_t pairs, std::int64_t items) {
  weft::Channel<std::int64_t> ch(64);
  const std::int64_t per_producer = items / pairs;
  std::vector<weft::JoinHandle<std::int64_t>> consumers;
  std::vector<weft::JoinHandle<void>> producers;
  for (std::int64_t c = 0; c < pairs; ++c) consumers.push_back(weft::spawn(mpmc_consumer(ch)));
  for (std::int64_t p = 0; p < pairs; ++p)
    producers.push_back(weft::spawn(mpmc_producer(ch, p * per_producer, per_producer)));
  for (auto& p : producers) co_await p;
  ch.close();  // the consumers drain what is left, then see ChannelClosed
  std::int64_t sum = 0;
  for (auto& c : consumers) {
    std::int64_t part = co_await c;
    sum += part;
  }
  co_return sum;
}

void bm_channel_mpmc(benchmark::State& state) {
  weft::RuntimeOptions options;
  options.workers = static_cast<unsigned>(state.range(0));
  const std::int64_t pairs = state.range(1);
  const std::int64_t per_producer = mpmc_items() / pairs;
  const std::int64_t items = per_producer * pairs;
  const std::int64_t expected = items * (items - 1) / 2;  // values 0 .. items-1
  weft::Runtime rt(std::move(options));
  for (auto _ : state) {
    std::int64_t got = rt.block_on(mpmc(pairs, items));
    if (got != expected) {
      state.SkipWithError(("wrong answer: " + std::to_string(got) + ", expected " +
                           std::to_string(expected)).c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * items);
}

BENCHMARK(bm_channel_mpmc)
    ->Name("channel_mpmc/weft")
    ->Apply([](benchmark::internal::Benchmark* b) {
      b->ArgNames({"workers", "producers"});
      for (std::int64_t w : weft_bench::worker_counts())
        for (std::int64_t p : {1, 4}) b->Args({w, p});
    })
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
