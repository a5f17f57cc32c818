// Seed 003: a long-running task is cancelled after one second; it catches the
// cancellation, cleans up and re-raises, and main catches it when awaiting the task.
// Time is a ManualClock with auto-advance: sleeps take no real time and the order is exact.
#include <weft/weft.hpp>
#include <chrono>
#include <cstdio>

using namespace std::chrono_literals;

weft::Task<void> long_running_task() {
  try {
    std::puts("Task started.");
    co_await weft::sleep_for(5s);
    std::puts("Task finished.");
  } catch (const weft::CancelledError&) {
    std::puts("Task was cancelled.");
    throw;
  }
}

weft::Task<void> amain() {
  weft::JoinHandle<void> task = weft::spawn(long_running_task());
  co_await weft::sleep_for(1s);  // let the task run for a bit
  std::puts("Cancelling the task...");
  task.cancel();
  try {
    co_await task;
  } catch (const weft::CancelledError&) {  // TaskCancelled, the awaited task's cancellation
    std::puts("Caught task cancellation in main.");
  }
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
