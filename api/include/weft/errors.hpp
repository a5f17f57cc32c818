#pragma once
// weft's error types. Misuse is one of these, never undefined behaviour.
#include <exception>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace weft {

// Delivered at a task's next suspension point after a cancel request; what() is the
// request's message (empty when none was given).
class CancelledError : public std::exception {
 public:
  CancelledError() = default;
  explicit CancelledError(std::string message) : message_(std::move(message)) {}
  const char* what() const noexcept override { return message_.c_str(); }
  const std::string& message() const noexcept { return message_; }

 private:
  std::string message_;
};

// `co_await handle` (or result()) of a task that ended cancelled. The awaiting task's
// own cancellation is a plain CancelledError, so the two can be told apart.
class TaskCancelled : public CancelledError {
 public:
  using CancelledError::CancelledError;
};

class TimeoutError : public std::runtime_error {
 public:
  TimeoutError() : std::runtime_error("timed out") {}
  explicit TimeoutError(const std::string& what) : std::runtime_error(what) {}
};

// Several failures at once (a task group's children).
class ExceptionGroup : public std::exception {
 public:
  ExceptionGroup(std::string message, std::vector<std::exception_ptr> exceptions)
      : message_(std::move(message)), exceptions_(std::move(exceptions)) {}
  const char* what() const noexcept override { return message_.c_str(); }
  const std::vector<std::exception_ptr>& exceptions() const noexcept { return exceptions_; }

 private:
  std::string message_;
  std::vector<std::exception_ptr> exceptions_;
};

// An operation that the object's state does not allow (result() before the end, two
// concurrent awaiters of one handle, block_on from a worker, ...).
class InvalidStateError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

// spawn on a runtime that is shutting down or shut down.
class RuntimeClosed : public std::runtime_error {
 public:
  RuntimeClosed() : std::runtime_error("weft: the runtime is shut down") {}
};

// A free spawn() or this_task:: call from a thread that runs no weft task.
class NotInRuntime : public std::logic_error {
 public:
  NotInRuntime() : std::logic_error("weft: not called from a task of a weft runtime") {}
  explicit NotInRuntime(const std::string& what) : std::logic_error(what) {}
};

class ChannelClosed : public std::runtime_error {
 public:
  ChannelClosed() : std::runtime_error("weft: channel closed") {}
};

}  // namespace weft
