// Out-of-line parts of the promise: the cold paths (failure classification, a root's
// failure), kept out of every user's translation unit.
#include <cstring>
#include <typeinfo>

#include <weft/detail/promise.hpp>

namespace weft::detail {

// Whether `failure` is a CancelledError (any derived type), and its message. Cancelling
// is common (timeouts, shutdown), and a throw costs about a microsecond, so weft's own
// two types are recognised without one: libstdc++'s exception_ptr names the thrown type
// and holds a pointer to the thrown object (folly's exception_wrapper relies on the same
// layout). Any other type is classified by rethrowing it.
bool is_cancellation(const std::exception_ptr& failure, std::string& message) {
#if defined(__GLIBCXX__) && defined(__cpp_rtti)
  static_assert(sizeof(std::exception_ptr) == sizeof(void*), "libstdc++ exception_ptr layout");
  if (const std::type_info* type = failure.__cxa_exception_type()) {
    void* object = nullptr;
    std::memcpy(&object, &failure, sizeof object);
    if (*type == typeid(CancelledError)) {
      message = static_cast<const CancelledError*>(object)->message();
      return true;
    }
    if (*type == typeid(TaskCancelled)) {
      message = static_cast<const TaskCancelled*>(object)->message();
      return true;
    }
  }
#endif
  try {
    std::rethrow_exception(failure);
  } catch (const CancelledError& error) {
    message = error.message();
    return true;
  } catch (...) {
    return false;
  }
}

void publish_root_failure(TaskHeader& task, std::exception_ptr failure) noexcept {
  Outcome kind = Outcome::Exception;
  try {
    std::string message;
    if (is_cancellation(failure, message)) {
      kind = Outcome::Cancelled;
      task.keep_outcome_message(std::move(message));
    }
  } catch (...) {
    // Out of memory for the message: the outcome is still right, the message empty.
    kind = Outcome::Cancelled;
  }
  if (kind == Outcome::Exception) {
    try {
      TaskExtras& extras = task.extras();
      extras.failure = std::move(failure);
      extras.runtime_uid = runtime_uid(*task.runtime);
    } catch (...) {
      // Out of memory for the extras: the outcome stays right, and a std::bad_alloc
      // stands in for the failure (TaskHeader::failure).
    }
  }
  // Relaxed: published with the completion (release in transition_to_complete), which
  // the worker makes once the coroutine has reached its final suspension.
  task.outcome.store(kind, std::memory_order_relaxed);
}

}  // namespace weft::detail
