// Seed 001: parent() awaits cancel_me(); was the child cancelled, or the parent itself?
// Run twice: first main cancels the child, then it cancels the parent.
// Time is a ManualClock with auto-advance: sleeps take no real time and the order is exact.
#include <weft/weft.hpp>
#include <chrono>
#include <cstdio>

using namespace std::chrono_literals;

// Python's `finally: print(...)`: prints when the frame is left, on every path.
struct PrintOnExit {
  const char* line;
  ~PrintOnExit() { std::puts(line); }
};

weft::Task<void> cancel_me() {
  std::puts("cancel_me");
  PrintOnExit after{"cancel_me(): after sleep"};
  co_await weft::sleep_for(3600s);
}

// No detect_cancel() helper is needed: weft tells the two cases apart by type.
// `co_await child` throws TaskCancelled when the awaited task was cancelled, and plain
// CancelledError when this task is cancelled (weft then cancels the child first and
// waits for it, as asyncio's `await task` does).
weft::Task<void> parent(weft::JoinHandle<void>& child) {
  co_await weft::sleep_for(1ms);
  try {
    co_await child;
  } catch (const weft::TaskCancelled&) {
    std::puts("parent(): child is cancelled now");
    throw;
  } catch (const weft::CancelledError&) {
    std::puts("parent(): I am cancelled");
    throw;
  }
}

weft::Task<void> amain(bool cancel_parent) {
  weft::JoinHandle<void> child_task = weft::spawn(cancel_me());
  weft::JoinHandle<void> parent_task = weft::spawn(parent(child_task));
  co_await weft::sleep_for(100ms);  // give a chance to child to start running
  if (cancel_parent)
    parent_task.cancel();
  else
    child_task.cancel();
  co_await weft::sleep_for(500ms);  // both have ended by now
}

int main() {
  weft::ManualClock clock;
  clock.set_auto_advance(true);
  weft::RuntimeOptions options;
  options.clock = &clock;
  weft::Runtime rt(options);
  rt.block_on(amain(/*cancel_parent=*/false));  // python seed.py child
  rt.block_on(amain(/*cancel_parent=*/true));   // python seed.py parent
  std::fflush(stdout);
}
