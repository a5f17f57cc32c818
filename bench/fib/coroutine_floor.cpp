// fib/coroutine_floor: the recursion of fib/weft_inline (both calls awaited inline, one
// thread) on the smallest lazy coroutine Task that runs it: symmetric transfer to the
// callee and back, frames from a thread-local free list per 16-byte class, no
// cancellation check, no failure kept (an exception terminates), no runtime. What g++'s
// coroutine protocol costs by itself: weft_inline minus this is what weft's Task adds
// to an await (bench/README.md, fib), and no coroutine fork-join on g++ gets below it.
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <new>
#include <string>
#include <utility>

#include <benchmark/benchmark.h>

#include "common/args.hpp"

namespace {

struct FreeFrame {
  FreeFrame* next;
};
constexpr std::size_t kGranule = 16, kClasses = 64;
thread_local FreeFrame* free_frames[kClasses];  // never returned: a benchmark's frames

struct FloorPromiseBase {
  std::coroutine_handle<> continuation;

  static void* operator new(std::size_t size) {
    const std::size_t cls = (size + kGranule - 1) / kGranule;
    if (cls < kClasses)
      if (FreeFrame* frame = free_frames[cls]) {
        free_frames[cls] = frame->next;
        return frame;
      }
    if (void* frame = std::malloc(cls * kGranule)) return frame;
    throw std::bad_alloc();
  }
  static void operator delete(void* frame, std::size_t size) noexcept {
    const std::size_t cls = (size + kGranule - 1) / kGranule;
    if (cls >= kClasses) return std::free(frame);
    auto* block = static_cast<FreeFrame*>(frame);
    block->next = free_frames[cls];
    free_frames[cls] = block;
  }

  std::suspend_always initial_suspend() noexcept { return {}; }
  struct FinalAwaiter {
    bool await_ready() noexcept { return false; }
    template <class Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> self) noexcept {
      return self.promise().continuation;
    }
    void await_resume() noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }
  void unhandled_exception() noexcept { std::terminate(); }
};

template <class T>
class FloorTask {
 public:
  struct promise_type : FloorPromiseBase {
    T value{};
    FloorTask get_return_object() noexcept {
      return FloorTask(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    void return_value(T v) noexcept { value = v; }
  };

  explicit FloorTask(std::coroutine_handle<promise_type> frame) noexcept : frame_(frame) {}
  FloorTask(FloorTask&& other) noexcept : frame_(std::exchange(other.frame_, {})) {}
  FloorTask& operator=(FloorTask&&) = delete;
  ~FloorTask() {
    if (frame_) frame_.destroy();
  }

  bool await_ready() noexcept { return false; }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiter) noexcept {
    frame_.promise().continuation = awaiter;
    return frame_;
  }
  T await_resume() noexcept { return frame_.promise().value; }

  // Runs the coroutine to its end on this thread and returns its value.
  T run() {
    frame_.promise().continuation = std::noop_coroutine();
    frame_.resume();
    return frame_.promise().value;
  }

 private:
  std::coroutine_handle<promise_type> frame_;
};

FloorTask<std::uint64_t> fib(int n) {
  if (n < 2) co_return static_cast<std::uint64_t>(n);
  std::uint64_t a = co_await fib(n - 1);
  std::uint64_t b = co_await fib(n - 2);
  co_return a + b;
}

void bm_fib_coroutine_floor(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const std::uint64_t expected = weft_bench::fib_expected(n);
  for (auto _ : state) {
    const std::uint64_t got = fib(n).run();
    if (got != expected) {
      state.SkipWithError(("wrong answer: " + std::to_string(got) + ", expected " +
                           std::to_string(expected)).c_str());
      break;
    }
    benchmark::DoNotOptimize(got);
  }
}

BENCHMARK(bm_fib_coroutine_floor)
    ->Name("fib/coroutine_floor")
    ->Apply([](benchmark::internal::Benchmark* b) { weft_bench::n_only(b, weft_bench::fib_sizes()); })
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
