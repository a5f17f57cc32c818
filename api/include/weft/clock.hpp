#pragma once
// Where a runtime reads the time (RuntimeOptions::clock): the steady clock by default;
// a ManualClock in tests, moved by advance() or, with set_auto_advance(true), jumped to
// the next timer deadline whenever every task is blocked. See core/clock.hpp.
#include <weft/core/clock.hpp>

namespace weft {

using Clock = detail::Clock;
using SteadyClock = detail::SteadyClock;
using ManualClock = detail::ManualClock;

}  // namespace weft
