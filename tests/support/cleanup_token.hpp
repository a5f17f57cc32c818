#pragma once
// Helpers of the tests that make a steal fail on purpose (test_gather_out_of_memory*):
// a parameter that counts its frame's cleanup, and a bounded spin on a flag that throws
// instead of hanging when the setting it waits for never comes.
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

namespace weft::test {

// Counts its frame's cleanup: owned by one frame at a time (a move takes it over), so a
// coroutine taking one by value adds 1 to `counter` exactly when its frame is destroyed.
class CleanupToken {
 public:
  explicit CleanupToken(std::atomic<int>* counter) : counter_(counter) {}
  CleanupToken(CleanupToken&& other) noexcept : counter_(std::exchange(other.counter_, nullptr)) {}
  CleanupToken& operator=(CleanupToken&&) = delete;
  ~CleanupToken() {
    if (counter_ != nullptr) counter_->fetch_add(1, std::memory_order_relaxed);
  }

 private:
  std::atomic<int>* counter_;
};

// Spins (yielding) until `flag` is set; throws std::runtime_error("timeout: what") after
// `give_up`, which only bounds a failing run.
inline void spin_until(const std::atomic<bool>& flag, const char* what, std::chrono::seconds give_up) {
  const auto deadline = std::chrono::steady_clock::now() + give_up;
  // Acquire: pairs with whoever sets the flag, for what it wrote before.
  while (!flag.load(std::memory_order_acquire)) {
    if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error(std::string("timeout: ") + what);
    std::this_thread::yield();
  }
}

}  // namespace weft::test
