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

// detect_cancel(task) is weft::shield(task): it awaits the task without forwarding the
// parent's cancellation to it. The two cases are told apart by type: `co_await
// shield(child)` throws TaskCancelled when the awaited task was cancelled, and plain
// CancelledError when this task is cancelled (at once, leaving the child running, as
// detect_cancel does: "cancelling the outer task will not automatically cancel the
// inner one"). A plain `co_await child` tells them apart the same way, but cancels the
// child too and waits for it, as asyncio's `await task` does.
weft::Task<void> parent(weft::JoinHandle<void>& child) {
  co_await weft::sleep_for(1ms);
  try {
    co_await weft::shield(child);  // await detect_cancel(task)
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
  co_await weft::sleep_for(500ms);
  // The seed's loop just stops here. When the parent was cancelled, the child is still
  // asleep (asyncio.run() would cancel it at its end; run_until_complete leaves it
  // pending): cancel it and wait for its cleanup.
  child_task.cancel();
  try {
    co_await child_task;
  } catch (const weft::TaskCancelled&) {
  }
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
