#pragma once
// The seed of a randomised test: WEFT_TEST_SEED=<n> replays one; otherwise a fresh one.
// Either way it is printed and recorded as the test's "seed" property, so that a
// failure seen in a log can be replayed.
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <random>
#include <string>

#include <gtest/gtest.h>

namespace weft::test {

inline std::uint64_t test_seed() {
  std::uint64_t seed = 0;
  if (const char* fixed = std::getenv("WEFT_TEST_SEED")) {
    seed = std::strtoull(fixed, nullptr, 10);
  } else {
    std::random_device device;
    seed = (static_cast<std::uint64_t>(device()) << 32) ^ device();
  }
  const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
  std::cout << "[   SEED   ] " << (test != nullptr ? test->name() : "") << " WEFT_TEST_SEED=" << seed << std::endl;
  ::testing::Test::RecordProperty("seed", std::to_string(seed));
  return seed;
}

}  // namespace weft::test
