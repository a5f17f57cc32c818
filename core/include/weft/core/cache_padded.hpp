#pragma once
// Cache padding: a value alone on its cache line(s), so that two workers writing
// neighbouring values do not invalidate each other's lines (false sharing).
//
// 128 bytes rather than 64: Intel's adjacent-line prefetcher pulls lines in pairs,
// so two hot values 64 bytes apart still interfere (the figure Tokio, crossbeam and
// folly use). std::hardware_destructive_interference_size is not used because g++
// warns that its value may differ between translation units (-Winterference-size).
#include <cstddef>
#include <utility>

namespace weft::detail {

inline constexpr std::size_t cache_line_size = 128;

template <class T>
struct alignas(cache_line_size) CachePadded {
  T value;

  CachePadded() = default;
  template <class... Args>
  explicit CachePadded(Args&&... args) : value(std::forward<Args>(args)...) {}

  T& operator*() noexcept { return value; }
  const T& operator*() const noexcept { return value; }
  T* operator->() noexcept { return &value; }
  const T* operator->() const noexcept { return &value; }
};

}  // namespace weft::detail
