#pragma once
// Where a failure that nobody retrieved is reported. The last reference to a task may
// be dropped after its runtime is gone (a JoinHandle outliving the Runtime), so the
// task names its runtime by uid and the handlers live in a process-wide table, kept
// under a mutex: this is a cold path.
#include <cstdint>
#include <exception>
#include <functional>

#include <weft/scheduler/task_info.hpp>

namespace weft::detail {

using UnobservedHandler = std::function<void(const TaskInfo&, std::exception_ptr)>;

void register_unobserved_handler(std::uint64_t runtime_uid, UnobservedHandler handler);
void unregister_unobserved_handler(std::uint64_t runtime_uid);
// Calls the runtime's handler, or writes one line on stderr if it has none or is gone.
void report_unobserved(std::uint64_t runtime_uid, const TaskInfo& task, std::exception_ptr failure) noexcept;

}  // namespace weft::detail
