#pragma once
// Plain introspection types. They are part of the public API (re-exported by
// <weft/weft.hpp>) but produced here, by the scheduler, which owns the task registry.
#include <cstdint>
#include <string>

namespace weft {

using TaskId = std::uint64_t;  // 0 = none (e.g. no parent)

enum class TaskState { Scheduled, Running, Suspended, Completed };

struct TaskInfo {
  TaskId id = 0;
  std::string name;
  TaskState state = TaskState::Scheduled;
  TaskId parent = 0;
  std::string awaiting;  // what a suspended task waits on ("task 42", "yield"), else empty
  const char* spawned_file = "";
  unsigned spawned_line = 0;
};

}  // namespace weft
