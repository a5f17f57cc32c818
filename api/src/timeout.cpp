#include <weft/timeout.hpp>

namespace weft::detail {

Task<void> stop_when_due(std::stop_source source, Clock::time_point deadline) {
  TaskHeader& self = *current_task();
  // A stop requested by someone else first has nothing left for us to do: end now.
  std::stop_callback on_stop(source.get_token(), [&self] { request_cancel(self, "stopped elsewhere"); });
  try {
    co_await sleep_until(deadline);
  } catch (const CancelledError&) {
    co_return;
  }
  source.request_stop();
}

}  // namespace weft::detail
