// Seed 002: how to know if a task is cancelled: await a task, catch a cancellation in
// the task and in its awaiter, then check done() and cancelled() after cancel().
// Time is a ManualClock with auto-advance: sleeps take no real time and the order is exact.
#include <weft/weft.hpp>
#include <chrono>
#include <cstdio>

using namespace std::chrono_literals;

weft::Task<void> my_coroutine() {
  std::puts("Hello, asyncio!");
  co_return;
}

weft::Task<void> cancellable_coroutine() {
  try {
    co_await weft::sleep_for(10s);
  } catch (const weft::CancelledError&) {
    std::puts("Coroutine was cancelled!");
    throw;
  }
}

weft::Task<void> another_coroutine() { co_await weft::sleep_for(5s); }

weft::Task<void> amain() {
  // Creating and awaiting a task.
  weft::JoinHandle<void> hello = weft::spawn(my_coroutine());
  co_await hello;

  // Cancelling a task. A task cancelled before it first runs never runs its body (in
  // asyncio too), so let it start first: then its catch block runs.
  weft::JoinHandle<void> task = weft::spawn(cancellable_coroutine());
  co_await weft::sleep_for(10ms);
  task.cancel();
  try {
    co_await task;
  } catch (const weft::TaskCancelled&) {
    std::puts("Task was cancelled!");
  }

  // Detecting the cancellation. cancel() is a request: wait for the task to end
  // before asking done() (asyncio's done() is also False right after cancel()).
  weft::JoinHandle<void> another = weft::spawn(another_coroutine());
  co_await weft::sleep_for(1s);
  another.cancel();
  try {
    co_await another;
  } catch (const weft::TaskCancelled&) {
  }
  if (another.done() && another.cancelled()) std::puts("Task was successfully cancelled.");
}

int main() {
  weft::ManualClock clock;
  clock.set_auto_advance(true);
  weft::RuntimeOptions options;
  options.clock = &clock;
  weft::Runtime rt(options);
  rt.block_on(amain());
  std::fflush(stdout);
}
