// Out-of-line parts of the promise: the cold paths (cancellation delivery, failure
// classification), kept out of every user's translation unit.
#include <weft/detail/promise.hpp>

namespace weft::detail {

void throw_cancelled(std::string message) { throw CancelledError(std::move(message)); }

void PromiseBase::unhandled_exception() noexcept {
  failure = std::current_exception();
  Outcome kind = Outcome::Exception;
  try {
    throw;
  } catch (const CancelledError&) {
    kind = Outcome::Cancelled;
  } catch (...) {
  }
  // Relaxed: published with the completion (see Promise::return_value).
  outcome.store(kind, std::memory_order_relaxed);
}

}  // namespace weft::detail
