#pragma once
// Where a runtime reads the time. The default is the steady clock; tests give a
// ManualClock (see the time issue) so that timeouts are deterministic.
#include <chrono>

namespace weft {

class Clock {
 public:
  using duration = std::chrono::steady_clock::duration;
  using time_point = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  virtual time_point now() const = 0;
};

class SteadyClock final : public Clock {
 public:
  time_point now() const override { return std::chrono::steady_clock::now(); }
};

}  // namespace weft
