// Seed 000, basic: say_hello() is cancelled after half a second, catches CancelledError,
// prints "Cancelled" and re-raises; main() sees the cancellation when it awaits the task.
// Time is a ManualClock with auto-advance: sleeps take no real time and the order is exact.
#include <weft/weft.hpp>
#include <chrono>
#include <cstdio>

using namespace std::chrono_literals;

weft::Task<void> say_hello() {
  try {
    std::puts("Hello buddy.");
    co_await weft::sleep_for(1s);
    std::puts("Welcome to Sling Academy.");
  } catch (const weft::CancelledError&) {
    std::puts("Cancelled");
    throw;  // re-raise the exception to propagate it to the caller
  }
}

weft::Task<void> amain() {
  weft::JoinHandle<void> task = weft::spawn(say_hello());  // asyncio.create_task
  co_await weft::sleep_for(500ms);                          // wait for half a second
  task.cancel();                                            // cancel the task before it finishes
  try {
    co_await task;  // wait for the task to finish
  } catch (const weft::TaskCancelled&) {  // the awaited task was cancelled
    std::puts("Task was cancelled before it finished.");
    std::puts("The second print statement (Welcome to Sling Academy!) was never executed.");
  }
}

int main() {
  weft::ManualClock clock;
  clock.set_auto_advance(true);
  weft::RuntimeOptions options;
  options.clock = &clock;
  weft::Runtime rt(options);
  rt.block_on(amain());  // asyncio.run(main())
  std::fflush(stdout);
}
