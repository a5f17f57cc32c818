#pragma once
// Sizes for tests that are big on purpose: full size in normal builds, smaller under
// the sanitizers, which run the same code 5-20 times slower on CI's two cores.
#include <cstddef>

namespace weft::test {

constexpr std::size_t scaled(std::size_t full) {
#if defined(WEFT_TSAN)
  return full / 10;
#elif defined(WEFT_ASAN)
  return full / 4;
#else
  return full;
#endif
}

}  // namespace weft::test
