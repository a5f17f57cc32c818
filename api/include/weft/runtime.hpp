#pragma once
// Runtime: a pool of worker threads running tasks. Not copyable, not movable; the
// destructor shuts it down (cancels what still runs, runs its cleanup, joins).
#include <chrono>
#include <exception>
#include <functional>
#include <string>
#include <vector>

#include <weft/clock.hpp>
#include <weft/errors.hpp>
#include <weft/join_handle.hpp>
#include <weft/scheduler/run_order.hpp>
#include <weft/spawn.hpp>
#include <weft/task.hpp>

namespace weft {

struct RuntimeOptions {
  unsigned workers = 0;                 // 0 = std::thread::hardware_concurrency()
  std::string name = "weft";            // worker threads are named "<name>-<i>"
  std::chrono::nanoseconds timer_tick = std::chrono::milliseconds(1);
  Clock* clock = nullptr;               // nullptr = steady clock
  std::function<void(const TaskInfo&, std::exception_ptr)> on_unobserved_exception;  // default: stderr
  RunOrder run_order = RunOrder::Lifo;  // the order a worker runs its queued tasks in (run_order.hpp)
};

class Runtime {
 public:
  explicit Runtime(RuntimeOptions options = {});
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // (Two overloads rather than a defaulted SpawnOptions: see weft::spawn.)
  template <class T>
  JoinHandle<T> spawn(Task<T> task, SpawnOptions options, detail::SpawnSite site = detail::SpawnSite::here()) {
    return detail::spawn_on(*core_, std::move(task), std::move(options), site);
  }
  template <class T>
  JoinHandle<T> spawn(Task<T> task, detail::SpawnSite site = detail::SpawnSite::here()) {
    return detail::spawn_on(*core_, std::move(task), SpawnOptions(), site);
  }

  // Runs the task to its end from a thread that is not a worker; returns its value or
  // rethrows its failure (TaskCancelled if it was cancelled).
  template <class T>
  T block_on(Task<T> task, detail::SpawnSite site = detail::SpawnSite::here()) {
    require_not_on_worker("block_on");
    JoinHandle<T> handle = spawn(std::move(task), site);
    wait_blocking(handle.header());
    return handle.result();
  }

  // Idempotent. Spawning afterwards throws RuntimeClosed. InvalidStateError from a
  // worker of this runtime (it would wait for itself).
  void shutdown();

  std::vector<TaskInfo> tasks() const;                 // live tasks (asyncio.all_tasks)
  bool cancel(TaskId id, std::string_view message = {});  // false if gone or done
  std::string dump() const;                            // the live task tree
  unsigned workers() const noexcept;

 private:
  void require_not_on_worker(const char* what) const;
  static void wait_blocking(detail::TaskHeader& task);

  RuntimeOptions options_;
  detail::RuntimeCore* core_;
};

// Coroutine frames and task headers freed by a thread are kept for reuse: up to two
// magazines per size on each thread, the surplus in one process-wide depot (at most
// 1 GiB) that every thread refills from (core/frame_allocator.hpp). After a burst of
// tasks that will not come again, this gives the calling thread's cached blocks and the
// depot's back to the allocator, which returns what it can to the OS. Other threads'
// magazines stay (a worker's hold at most 512 KiB per size). Safe to call anywhere.
void release_cached_memory() noexcept;

}  // namespace weft
