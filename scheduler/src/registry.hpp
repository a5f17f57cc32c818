#pragma once
// The registry of live tasks (spawned, not yet completed): what Runtime::tasks(),
// Runtime::cancel(id), dump() and shutdown walk.
//
// Sharded to keep spawn cheap: one shard per worker (tasks spawned on that worker) and
// one for tasks spawned from outside. Each shard is an intrusive doubly linked list
// under a spin lock; a task records its shard at spawn. Insert and remove are O(1);
// the lock is normally uncontended (a task finishing on another worker than the one
// that spawned it is the only cross-worker access).
//
// Closing: close() sets `closed_` and then takes every shard lock once. insert() reads
// `closed_` under its shard lock, so an insert either happens before close() passes
// its shard (and shutdown's cancel-all, which also walks the shards under their locks,
// sees the task) or sees the flag and refuses.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <memory>

#include <weft/core/cache_padded.hpp>
#include <weft/core/spin_lock.hpp>
#include <weft/scheduler/task_header.hpp>

namespace weft::detail {

class Registry {
 public:
  // One shard per worker, up to kMaxWorkerShards (a task keeps its shard's index in a
  // byte of its header: bench/memory), beyond which workers share them, and one for the
  // tasks spawned from outside.
  static constexpr unsigned kMaxWorkerShards = 255;
  explicit Registry(unsigned workers)
      : worker_shards_(workers == 0 ? 1 : std::min(workers, kMaxWorkerShards)),
        shard_count_(worker_shards_ + 1),
        shards_(new CachePadded<Shard>[shard_count_]) {}

  unsigned shard_of_worker(unsigned worker_index) const noexcept { return worker_index % worker_shards_; }
  unsigned outside_shard() const noexcept { return worker_shards_; }

  unsigned shard_count() const noexcept { return shard_count_; }

  // False if the registry is closed (the task was not inserted).
  bool insert(TaskHeader& task, unsigned shard_index) {
    Shard& shard = *shards_[shard_index];
    std::lock_guard guard(shard.lock);
    // Relaxed: ordered by the shard lock against close() (see the essay).
    if (closed_.load(std::memory_order_relaxed)) return false;
    task.registry_shard = static_cast<std::uint8_t>(shard_index);
    task.registry_prev = nullptr;
    task.registry_next = shard.head;
    if (shard.head) shard.head->registry_prev = &task;
    shard.head = &task;
    ++shard.count;
    return true;
  }

  void remove(TaskHeader& task) {
    Shard& shard = *shards_[task.registry_shard];
    std::lock_guard guard(shard.lock);
    if (task.registry_prev)
      task.registry_prev->registry_next = task.registry_next;
    else
      shard.head = task.registry_next;
    if (task.registry_next) task.registry_next->registry_prev = task.registry_prev;
    task.registry_prev = task.registry_next = nullptr;
    --shard.count;
  }

  void close() {
    // Relaxed store: published to inserters by the shard locks taken below.
    closed_.store(true, std::memory_order_relaxed);
    for (unsigned i = 0; i < shard_count_; ++i) {
      std::lock_guard guard(shards_[i]->lock);
    }
  }
  bool closed() const noexcept { return closed_.load(std::memory_order_relaxed); }

  // Calls f(TaskHeader&) for every live task, one shard lock held at a time. f must not
  // insert or remove tasks, nor run user code (a cancel request runs the task's stop
  // callbacks, which may walk the registry and would spin on the lock held here): to act
  // on a task, take a reference in f and act after the walk (cancel_task_by_id).
  template <class F>
  void for_each(F&& f) const {
    for (unsigned i = 0; i < shard_count_; ++i) {
      Shard& shard = *shards_[i];
      std::lock_guard guard(shard.lock);
      for (TaskHeader* task = shard.head; task; task = task->registry_next) f(*task);
    }
  }

  std::size_t size() const {
    std::size_t total = 0;
    for (unsigned i = 0; i < shard_count_; ++i) {
      Shard& shard = *shards_[i];
      std::lock_guard guard(shard.lock);
      total += shard.count;
    }
    return total;
  }

 private:
  struct Shard {
    SpinLock lock;
    TaskHeader* head = nullptr;
    std::size_t count = 0;
  };
  const unsigned worker_shards_;
  const unsigned shard_count_;
  std::unique_ptr<CachePadded<Shard>[]> shards_;
  std::atomic<bool> closed_{false};
};

}  // namespace weft::detail
