#pragma once
// shield: await a task without passing your own cancellation on to it. The awaiter's
// cancellation throws CancelledError in the awaiter at once; the inner task keeps
// running (asyncio.shield).
#include <weft/join_handle.hpp>
#include <weft/spawn.hpp>

namespace weft {

template <class T>
class ShieldedHandle {
 public:
  explicit ShieldedHandle(JoinHandle<T>& handle) : handle_(handle) {}
  detail::JoinAwaiter<T> weft_awaiter(detail::TaskHeader& self) {
    return detail::JoinAwaiter<T>(handle_.header(), self, /*shielded=*/true);
  }

 private:
  JoinHandle<T>& handle_;
};

// A lazy Task under a shield runs as a task of its own, so that it can outlive the
// awaiter; if the awaiter is cancelled, it goes on detached.
template <class T>
class ShieldedTask {
 public:
  explicit ShieldedTask(JoinHandle<T> handle) : handle_(std::move(handle)) {}
  detail::JoinAwaiter<T> weft_awaiter(detail::TaskHeader& self) {
    return detail::JoinAwaiter<T>(handle_.header(), self, /*shielded=*/true);
  }

 private:
  JoinHandle<T> handle_;
};

template <class T>
ShieldedHandle<T> shield(JoinHandle<T>& handle) {
  return ShieldedHandle<T>(handle);
}

// Inside a task only (it spawns on the current runtime). Two overloads rather than a
// defaulted SpawnOptions: see weft::spawn.
// The task is listed (Runtime::tasks(), dump()) as spawned at the caller's line.
template <class T>
ShieldedTask<T> shield(Task<T> task, SpawnOptions options, detail::SpawnSite site = detail::SpawnSite::here()) {
  return ShieldedTask<T>(spawn(std::move(task), std::move(options), site));
}
template <class T>
ShieldedTask<T> shield(Task<T> task, detail::SpawnSite site = detail::SpawnSite::here()) {
  return ShieldedTask<T>(spawn(std::move(task), site));
}

}  // namespace weft
