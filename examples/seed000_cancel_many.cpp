// Seed 000, intermediate: four workers are started, worker-3 finishes after 1 s, and
// after 2 s the others are cancelled and gathered (asyncio.gather(return_exceptions=True)).
// Time is a ManualClock with auto-advance: sleeps take no real time and the order is exact.
#include <weft/weft.hpp>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

using namespace std::chrono_literals;

// The seed's random.randint(1, 5), fixed to the durations that give its output.
constexpr int kSeconds[4] = {3, 4, 5, 1};

weft::Task<void> worker(std::string name, std::chrono::seconds work) {
  try {
    std::printf("%s started\n", name.c_str());
    co_await weft::sleep_for(work);  // simulate some work
    std::printf("%s finished\n", name.c_str());
  } catch (const weft::CancelledError&) {
    std::printf("%s cancelled\n", name.c_str());
    throw;
  }
}

// asyncio.gather takes the tasks made by create_task; weft's gather takes lazy Tasks,
// so each spawned task is gathered through a Task that awaits its handle.
weft::Task<void> joined(weft::JoinHandle<void>& task) { co_await task; }

weft::Task<void> amain() {
  // create four tasks from the worker coroutine
  std::vector<weft::JoinHandle<void>> tasks;
  for (int i = 0; i < 4; ++i) {
    tasks.push_back(weft::spawn(worker("worker-" + std::to_string(i), std::chrono::seconds(kSeconds[i]))));
    // asyncio starts tasks in creation order; weft's workers pick them up in parallel.
    // Virtual time stands still while a task can run, so this lets worker-i print first.
    co_await weft::sleep_for(1ms);
  }
  co_await weft::sleep_for(2s);  // wait for two seconds

  // Cancel all tasks and gather them with return_exceptions (a cancelled task is an
  // Outcome whose cancelled() is true, not an exception). The Python code cancels all,
  // then gathers all; weft would run the three cancelled tasks in parallel, where
  // asyncio's one thread runs them in order, so each task is cancelled and gathered
  // before the next one to print the "cancelled" lines in the seed's order.
  for (weft::JoinHandle<void>& task : tasks) {
    task.cancel();  // false for worker-3: it has already finished
    co_await weft::gather(weft::return_exceptions, joined(task));
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
