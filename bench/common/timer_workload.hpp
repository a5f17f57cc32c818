#pragma once
// The timer workload shared by bench/timer/wheel.cpp and bench/timer/heap.cpp: one
// generator, seed and pair of delay distributions, so that both peers see exactly the
// same deadlines.
#include <cmath>
#include <cstdint>

namespace weft_bench::timer {

struct Rng {
  std::uint64_t s = 0x7133'5eed'2024'0001ull;
  std::uint64_t next() noexcept {  // splitmix64
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) for n < 2^32: multiply-shift, no division.
  std::uint64_t below(std::uint64_t n) noexcept { return ((next() & 0xffff'ffffull) * n) >> 32; }
};

constexpr std::uint64_t kMaxDelay = 10'000;
// Mean delay 1 + (kMaxDelay - 1) / 2 ~ 5,000: at one insert per kMaxDelay / 2 / N ticks
// the population stays about N (Little's law).
constexpr std::uint64_t kHalfDelay = kMaxDelay / 2;

inline std::uint64_t delay(Rng& rng) noexcept { return 1 + rng.below(kMaxDelay); }

// The remaining time of a timer found alive in the steady state (density falling
// linearly from 1 to kMaxDelay), so that the prefilled population does not first
// swell by a quarter before settling.
inline std::uint64_t steady_delay(Rng& rng) noexcept {
  const double u = static_cast<double>(rng.next() >> 11) * 0x1.0p-53;
  const auto d = static_cast<std::uint64_t>(static_cast<double>(kMaxDelay) * (1.0 - std::sqrt(1.0 - u)));
  return d < 1 ? 1 : d > kMaxDelay ? kMaxDelay : d;
}

}  // namespace weft_bench::timer
