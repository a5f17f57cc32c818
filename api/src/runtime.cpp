// weft::Runtime: the public face of detail::RuntimeCore.
#include <algorithm>
#include <map>
#include <sstream>
#include <thread>

#include <weft/core/frame_allocator.hpp>
#include <weft/runtime.hpp>

namespace weft {

namespace {
const char* state_name(TaskState state) {
  switch (state) {
    case TaskState::Scheduled: return "scheduled";
    case TaskState::Running: return "running";
    case TaskState::Suspended: return "suspended";
    case TaskState::Completed: return "completed";
  }
  return "?";
}
}  // namespace

Runtime::Runtime(RuntimeOptions options) : options_(std::move(options)) {
  detail::RuntimeConfig config;
  config.workers = options_.workers;
  config.name = options_.name;
  config.timer_tick = options_.timer_tick;
  config.clock = options_.clock;
  config.on_unobserved_exception = options_.on_unobserved_exception;
  config.run_order = options_.run_order;
  core_ = detail::create_runtime(std::move(config));
}

Runtime::~Runtime() {
  if (detail::on_worker_of(*core_)) {
    std::fputs("weft: a Runtime was destroyed by one of its own tasks; aborting\n", stderr);
    std::abort();
  }
  detail::destroy_runtime(core_);
}

void Runtime::shutdown() {
  require_not_on_worker("shutdown");
  detail::shutdown_runtime(*core_);
}

void Runtime::require_not_on_worker(const char* what) const {
  if (detail::current_runtime() != nullptr)
    throw InvalidStateError(std::string("weft::Runtime::") + what +
                            " called from a worker thread (it would block a worker)");
}

void Runtime::wait_blocking(detail::TaskHeader& task) {
  // The join slot's thread waiter: the completer stores 1 into the header's flag (which
  // the caller's JoinHandle keeps alive) and notifies.
  // The flag lives in the extras: made first (this may throw), so that the completer
  // finds them once it sees the registration.
  std::atomic<std::uint32_t>& done = task.extras().join_thread_done;
  if (task.state.claim_join_slot() != detail::TaskStateWord::JoinRegistration::Registered) return;
  task.join.task = nullptr;
  if (task.state.set_join_waiter() != detail::TaskStateWord::JoinRegistration::Registered) return;
  // Acquire: pairs with the completer's release store, so the result is visible.
  while (done.load(std::memory_order_acquire) == 0) done.wait(0, std::memory_order_acquire);
  // 1: the result is there, but the completer may still be inside notify_one on this
  // header; 2 is its last touch (see RuntimeCore::complete). A few instructions away.
  while (done.load(std::memory_order_acquire) != 2) std::this_thread::yield();
}

void release_cached_memory() noexcept { detail::release_cached_frames(); }

std::vector<TaskInfo> Runtime::tasks() const { return detail::snapshot_tasks(*core_); }

bool Runtime::cancel(TaskId id, std::string_view message) {
  return detail::cancel_task_by_id(*core_, id, message);
}

unsigned Runtime::workers() const noexcept { return detail::worker_count(*core_); }

std::string Runtime::dump() const {
  std::vector<TaskInfo> live = tasks();
  std::sort(live.begin(), live.end(), [](const TaskInfo& a, const TaskInfo& b) { return a.id < b.id; });
  std::multimap<TaskId, const TaskInfo*> children;
  std::map<TaskId, const TaskInfo*> by_id;
  for (const TaskInfo& info : live) by_id.emplace(info.id, &info);
  for (const TaskInfo& info : live)
    children.emplace(by_id.count(info.parent) ? info.parent : 0, &info);

  std::ostringstream out;
  auto print = [&](auto& self, TaskId parent, int depth) -> void {
    auto [first, last] = children.equal_range(parent);
    for (auto it = first; it != last; ++it) {
      const TaskInfo& info = *it->second;
      out << std::string(2 * depth, ' ') << info.name << " #" << info.id << " ["
          << state_name(info.state) << "]";
      if (!info.awaiting.empty()) out << " awaiting " << info.awaiting;
      out << " (" << info.spawned_file << ":" << info.spawned_line << ")\n";
      self(self, info.id, depth + 1);
    }
  };
  print(print, 0, 0);
  return out.str();
}

}  // namespace weft
