// WaitCell under concurrency. Each round the main thread (the task) arms the cell,
// then racing threads are released together through a std::barrier:
//   * a waker try_wake(gen) against a canceller (try_cancel() on even rounds,
//     try_cancel(gen) on odd ones): exactly one wins, and status() is the winner's
//     (WOKEN or CANCELLED). A third thread plays the suspended task: it spins on
//     status() until the wait has ended and reads the winner's plain payload, written
//     before its CAS, so ThreadSanitizer checks the release (winning CAS) / acquire
//     (status) pair the header documents;
//   * a stale waker and a stale targeted canceller, holding the previous wait's
//     generation, race with the current generation's waker: the stale ones never win,
//     the current one always does; and with a canceller added, exactly one of the
//     current waker and the canceller wins, the stale ones never.
// Round counts are 10x smaller under WEFT_TSAN.
#include "weft/core/wait_cell.hpp"

#include <gtest/gtest.h>

#include <barrier>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace {

using weft::detail::WaitCell;

#ifdef WEFT_TSAN
constexpr int kRounds = 1'000;
#else
constexpr int kRounds = 10'000;
#endif

// setup(round) on the main thread; body(thread, round) on each of `threads` threads
// between a common start and end barrier; check(round) on the main thread after the
// end barrier, returning "" when right. Reports the first failing round; all rounds
// still run, so no thread is left waiting at a barrier.
void run_rounds(int rounds, int threads, const std::function<void(int)>& setup,
                const std::function<void(int, int)>& body,
                const std::function<std::string(int)>& check) {
  std::barrier sync(threads + 1);
  std::vector<std::thread> pool;
  pool.reserve(static_cast<std::size_t>(threads));
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int r = 0; r < rounds; ++r) {
        sync.arrive_and_wait();
        body(t, r);
        sync.arrive_and_wait();
      }
    });
  }
  int failures = 0;
  std::string first;
  for (int r = 0; r < rounds; ++r) {
    setup(r);
    sync.arrive_and_wait();
    sync.arrive_and_wait();
    std::string err = check(r);
    if (!err.empty() && failures++ == 0) first = "round " + std::to_string(r) + ": " + err;
  }
  for (auto& th : pool) th.join();
  EXPECT_EQ(failures, 0) << first;
}

const char* name(WaitCell::Status s) {
  switch (s) {
    case WaitCell::IDLE: return "IDLE";
    case WaitCell::WAITING: return "WAITING";
    case WaitCell::WOKEN: return "WOKEN";
    case WaitCell::CANCELLED: return "CANCELLED";
  }
  return "?";
}

TEST(WaitCellConcurrent, WakeVersusCancelExactlyOneWins) {
  // One cell for the whole test, as in a task header: generations keep increasing.
  WaitCell cell;
  std::uint64_t gen = 0;
  int wake_payload = 0, cancel_payload = 0;  // plain: the winner's handed-over value
  bool woke = false, cancelled = false;
  WaitCell::Status seen = WaitCell::IDLE;
  int task_read = -1;
  int wake_wins = 0, cancel_wins = 0;
  run_rounds(
      kRounds, 3,
      [&](int r) {
        const std::uint64_t g = cell.arm();
        if (g != gen + 1) ADD_FAILURE() << "round " << r << ": arm returned " << g << " after " << gen;
        gen = g;
        task_read = -1;
      },
      [&](int t, int r) {
        if (t == 0) {
          wake_payload = r + 1;
          woke = cell.try_wake(gen);
        } else if (t == 1) {
          cancel_payload = r + 1;
          cancelled = (r % 2 == 0) ? cell.try_cancel() : cell.try_cancel(gen);
        } else {
          // The task: resumed once its wait has ended; reads how, and the value.
          WaitCell::Status s;
          while ((s = cell.status()) == WaitCell::WAITING) std::this_thread::yield();
          seen = s;
          if (s == WaitCell::WOKEN) task_read = wake_payload;
          if (s == WaitCell::CANCELLED) task_read = cancel_payload;
        }
      },
      [&](int r) -> std::string {
        if (woke == cancelled)
          return std::string("woke=") + (woke ? "1" : "0") + " cancelled=" + (cancelled ? "1" : "0");
        const WaitCell::Status want = woke ? WaitCell::WOKEN : WaitCell::CANCELLED;
        if (cell.status() != want) return std::string("status ") + name(cell.status());
        if (seen != want) return std::string("task saw ") + name(seen);
        if (task_read != r + 1) return "task did not see the winner's payload";
        (woke ? wake_wins : cancel_wins) += 1;
        return {};
      });
  RecordProperty("wake_wins", wake_wins);
  RecordProperty("cancel_wins", cancel_wins);
}

TEST(WaitCellConcurrent, StaleWakerNeverWins) {
  WaitCell cell;
  std::uint64_t old_gen = 0, cur_gen = 0;
  bool stale_woke = false, stale_cancelled = false, cur_woke = false;
  run_rounds(
      kRounds, 3,
      [&](int r) {
        // The previous wait ended (woken or cancelled), then the task waits again.
        old_gen = cell.arm();
        const bool ended = (r % 2 == 0) ? cell.try_wake(old_gen) : cell.try_cancel();
        if (!ended) ADD_FAILURE() << "round " << r << ": setup";
        cur_gen = cell.arm();
      },
      [&](int t, int) {
        if (t == 0) stale_woke = cell.try_wake(old_gen);
        else if (t == 1) stale_cancelled = cell.try_cancel(old_gen);
        else cur_woke = cell.try_wake(cur_gen);
      },
      [&](int) -> std::string {
        if (stale_woke) return "stale try_wake won";
        if (stale_cancelled) return "stale try_cancel(gen) won";
        if (!cur_woke) return "current try_wake lost with no rival";
        if (cell.status() != WaitCell::WOKEN) return std::string("status ") + name(cell.status());
        return {};
      });
}

TEST(WaitCellConcurrent, StaleWakerCurrentWakerAndCanceller) {
  WaitCell cell;
  std::uint64_t old_gen = 0, cur_gen = 0;
  bool stale_woke = false, cur_woke = false, cancelled = false;
  run_rounds(
      kRounds, 3,
      [&](int r) {
        old_gen = cell.arm();
        const bool ended = (r % 2 == 0) ? cell.try_cancel(old_gen) : cell.try_wake(old_gen);
        if (!ended) ADD_FAILURE() << "round " << r << ": setup";
        cur_gen = cell.arm();
      },
      [&](int t, int) {
        if (t == 0) stale_woke = cell.try_wake(old_gen);
        else if (t == 1) cur_woke = cell.try_wake(cur_gen);
        else cancelled = cell.try_cancel();
      },
      [&](int) -> std::string {
        if (stale_woke) return "stale try_wake won";
        if (cur_woke == cancelled) return "current waker and canceller both won or both lost";
        const WaitCell::Status want = cur_woke ? WaitCell::WOKEN : WaitCell::CANCELLED;
        if (cell.status() != want) return std::string("status ") + name(cell.status());
        return {};
      });
}

}  // namespace
