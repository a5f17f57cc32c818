#include "unobserved.hpp"

#include <cstdio>
#include <mutex>
#include <string>
#include <unordered_map>

namespace weft::detail {

namespace {
struct HandlerTable {
  std::mutex mutex;
  std::unordered_map<std::uint64_t, UnobservedHandler> handlers;
};
HandlerTable& table() {
  static HandlerTable instance;  // never destroyed before the runtimes that use it
  return instance;
}

std::string describe(std::exception_ptr failure) {
  try {
    std::rethrow_exception(failure);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "a non-standard exception";
  }
}
}  // namespace

void register_unobserved_handler(std::uint64_t runtime_uid, UnobservedHandler handler) {
  if (!handler) return;
  std::lock_guard guard(table().mutex);
  table().handlers.emplace(runtime_uid, std::move(handler));
}

void unregister_unobserved_handler(std::uint64_t runtime_uid) {
  std::lock_guard guard(table().mutex);
  table().handlers.erase(runtime_uid);
}

void report_unobserved(std::uint64_t runtime_uid, const TaskInfo& task,
                       std::exception_ptr failure) noexcept {
  UnobservedHandler handler;
  {
    std::lock_guard guard(table().mutex);
    auto it = table().handlers.find(runtime_uid);
    if (it != table().handlers.end()) handler = it->second;
  }
  try {
    if (handler) {
      handler(task, failure);
      return;
    }
  } catch (...) {
    // A throwing handler must not take the worker down; fall back to stderr.
  }
  std::fprintf(stderr, "weft: task %llu (%s) failed and nobody retrieved the failure: %s\n",
               static_cast<unsigned long long>(task.id), task.name.c_str(),
               describe(failure).c_str());
}

}  // namespace weft::detail
