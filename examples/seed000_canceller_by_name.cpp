// Seed 000, advanced: a canceller task finds the task named "sleeper" among the live
// tasks (asyncio.all_tasks) and cancels it; main waits for both (asyncio.wait).
// Time is a ManualClock with auto-advance: sleeps take no real time and the order is exact.
#include <weft/weft.hpp>
#include <chrono>
#include <cstdio>
#include <vector>

using namespace std::chrono_literals;

weft::Task<void> sleeper() {
  try {
    std::puts("Going to sleep");
    co_await weft::sleep_for(10s);  // sleep for 10 seconds or until cancelled
    std::puts("Woke up");
  } catch (const weft::CancelledError&) {
    std::puts("Interrupted");
    throw;
  }
}

weft::Task<void> canceller(weft::Runtime& rt) {
  co_await weft::sleep_for(3s);
  for (const weft::TaskInfo& task : rt.tasks()) {  // a snapshot of the live tasks
    if (task.name == "sleeper") {
      rt.cancel(task.id);
      break;
    }
  }
}

// task.result() in the seed's `for task in done:` loop.
void print_result(weft::JoinHandle<void>& task) {
  try {
    task.result();
    std::puts("Task result: None");  // void: Python's None
  } catch (const weft::CancelledError&) {
    std::puts("Task was cancelled");
  }
}

weft::Task<void> amain(weft::Runtime& rt) {
  weft::SpawnOptions named;
  named.name = "sleeper";
  std::vector<weft::JoinHandle<void>> tasks;
  tasks.push_back(weft::spawn(sleeper(), named));
  tasks.push_back(weft::spawn(canceller(rt)));
  weft::WaitResult result = co_await weft::wait(tasks);  // done, pending = await asyncio.wait(tasks)
  // for task in done: asyncio's `done` is a set, in no particular order, and the seed's
  // run printed the canceller first; weft's `done` lists indices in order, so walk it
  // backwards to print the same.
  for (auto i = result.done.rbegin(); i != result.done.rend(); ++i) print_result(tasks[*i]);
}

int main() {
  weft::ManualClock clock;
  clock.set_auto_advance(true);
  weft::RuntimeOptions options;
  options.clock = &clock;
  weft::Runtime rt(options);
  rt.block_on(amain(rt));
  std::fflush(stdout);
}
