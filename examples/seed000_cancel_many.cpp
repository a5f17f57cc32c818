// Seed 000, intermediate: four workers are started, worker-3 finishes after 1 s, and
// after 2 s the others are cancelled and gathered (asyncio.gather(return_exceptions=True)).
// Time is a ManualClock with auto-advance: sleeps take no real time and the order is exact.
// The runtime is asyncio's loop: one worker that runs tasks in the order they were made
// ready (RunOrder::Fifo), so the seed's structure gives the seed's output as it is.
#include <weft/weft.hpp>
#include <chrono>
#include <cstdio>
#include <string>
#include <utility>
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
  for (int i = 0; i < 4; ++i)
    tasks.push_back(weft::spawn(worker("worker-" + std::to_string(i), std::chrono::seconds(kSeconds[i]))));
  co_await weft::sleep_for(2s);  // wait for two seconds

  // cancel all tasks (cancel() is false for worker-3: it has already finished)
  for (weft::JoinHandle<void>& task : tasks) task.cancel();
  // use gather() to wait for all tasks and ignore the exceptions: a cancelled task is an
  // Outcome whose cancelled() is true
  std::vector<weft::Task<void>> gathered;
  for (weft::JoinHandle<void>& task : tasks) gathered.push_back(joined(task));
  co_await weft::gather(weft::return_exceptions, std::move(gathered));
}

int main() {
  weft::ManualClock clock;
  clock.set_auto_advance(true);
  weft::RuntimeOptions options;
  options.workers = 1;
  options.run_order = weft::RunOrder::Fifo;
  options.clock = &clock;
  weft::Runtime rt(options);
  rt.block_on(amain());
  std::fflush(stdout);
}
