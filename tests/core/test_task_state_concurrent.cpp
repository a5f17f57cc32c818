// TaskStateWord under concurrency: the races that one CAS on the state word decides.
// Each test runs many rounds; in each round the main thread prepares a fresh word,
// releases the racing threads together through a std::barrier, waits for them at a
// second barrier, and checks the outcome:
//   (a) several wakers call transition_to_notified on an IDLE task: exactly one Submit;
//       and wakers racing with the worker's transition_to_idle: exactly one of them
//       (a Submit or the worker's Reschedule) queues the task, never both, never none;
//   (b) transition_to_complete racing with request_cancel: a cancel that saw the task
//       not COMPLETE is in the completer's returned snapshot (exact invariant below);
//   (c) set_join_waiter (and a following unset_join_waiter) racing with
//       transition_to_complete: the awaiter and the completer agree on who owns the
//       join slot (never both miss the wake-up, never both claim it);
//   (d) ref_inc/ref_dec from 4 threads: exactly one ref_dec returns true.
// Plain (non-atomic) payloads are written before each releasing transition and read
// after the acquiring one, so ThreadSanitizer checks the documented happens-before
// edges. Round counts are 10x smaller under WEFT_TSAN.
#include "weft/core/task_state.hpp"

#include <gtest/gtest.h>

#include <barrier>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

using weft::detail::TaskStateWord;
using Bits = TaskStateWord::Bits;
using IdleOutcome = TaskStateWord::IdleOutcome;
using NotifyOutcome = TaskStateWord::NotifyOutcome;
using JoinRegistration = TaskStateWord::JoinRegistration;

#ifdef WEFT_TSAN
constexpr int kRounds = 1'000;
#else
constexpr int kRounds = 10'000;
#endif

// Runs `rounds` rounds. Per round: setup(round) on the main thread, then every one of
// `threads` threads runs body(thread_index, round) after a common start barrier, then
// check(round) on the main thread after a common end barrier (which orders all the
// threads' plain writes before it). check returns an empty string when the round is
// right, else a description; the first failure is reported, all rounds still run (so
// no thread is left waiting at a barrier).
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

constexpr Bits kRefs = 3;

// (a) Four wakers on an IDLE task: exactly one gets Submit, the rest DoNothing, and the
// task ends SCHEDULED (in exactly one queue) with no NOTIFIED and nothing else moved.
TEST(TaskStateConcurrent, ConcurrentNotifyOnIdleSubmitsExactlyOnce) {
  constexpr int kThreads = 4;
  std::optional<TaskStateWord> w;
  NotifyOutcome out[kThreads];
  run_rounds(
      kRounds, kThreads,
      [&](int) {
        w.emplace(kRefs, true);
        w->transition_to_running();
        if (w->transition_to_idle() != IdleOutcome::Idle) ADD_FAILURE() << "setup";
      },
      [&](int t, int) { out[t] = w->transition_to_notified(); },
      [&](int) -> std::string {
        int submits = 0;
        for (auto o : out) submits += o == NotifyOutcome::Submit;
        if (submits != 1) return "submits=" + std::to_string(submits);
        const Bits want = TaskStateWord::SCHEDULED | TaskStateWord::STARTED |
                          TaskStateWord::JOIN_INTEREST | kRefs * TaskStateWord::REF_ONE;
        if (w->load().bits != want) return "final word " + std::to_string(w->load().bits);
        return {};
      });
}

// (a') The lost-wake-up race: the worker suspends the task (transition_to_idle) while
// three wakers call transition_to_notified. Exactly one party queues the task: either
// one waker gets Submit (it came after IDLE) or the worker gets Reschedule (a wake came
// while RUNNING), never both (two queues) and never neither (lost wake-up). The task
// ends SCHEDULED without NOTIFIED. The worker writes the coroutine's state (a plain
// field) before transition_to_idle; a waker that got Submit reads it: the documented
// release (idle) / acquire (notified) pair, checked by TSan.
TEST(TaskStateConcurrent, NotifyVersusIdleQueuesExactlyOnce) {
  constexpr int kThreads = 4;  // thread 0 is the worker, 1..3 wake
  std::optional<TaskStateWord> w;
  int frame_state = 0;  // plain: the suspended coroutine's writes
  IdleOutcome idle_out{};
  NotifyOutcome out[kThreads];
  int seen_by_submitter[kThreads];
  run_rounds(
      kRounds, kThreads,
      [&](int) {
        w.emplace(kRefs, false);
        w->transition_to_running();
        for (int& s : seen_by_submitter) s = -1;
      },
      [&](int t, int r) {
        if (t == 0) {
          frame_state = r + 1;
          idle_out = w->transition_to_idle();
        } else {
          out[t] = w->transition_to_notified();
          if (out[t] == NotifyOutcome::Submit) seen_by_submitter[t] = frame_state;
        }
      },
      [&](int r) -> std::string {
        int queued = idle_out == IdleOutcome::Reschedule ? 1 : 0;
        for (int t = 1; t < kThreads; ++t) {
          if (out[t] != NotifyOutcome::Submit) continue;
          ++queued;
          if (seen_by_submitter[t] != r + 1) return "submitter did not see the frame's writes";
        }
        if (queued != 1) return "queued " + std::to_string(queued) + " times";
        const Bits want = TaskStateWord::SCHEDULED | TaskStateWord::STARTED | kRefs * TaskStateWord::REF_ONE;
        if (w->load().bits != want) return "final word " + std::to_string(w->load().bits);
        return {};
      });
}

// (b) Completion versus cancellation. Thread 0 completes the RUNNING task; threads 1..3
// call request_cancel. All are RMWs of one atomic, so they are totally ordered. A
// cancel whose returned snapshot is not COMPLETE made its CAS before the completer's,
// and nothing clears CANCEL_REQUESTED in between, so:
//   * the completer's returned snapshot has CANCEL_REQUESTED  <=>  at least one cancel
//     returned a not-COMPLETE snapshot (no cancel request is "lost" into a completed
//     task, and none is invented);
//   * among the cancels that saw not-COMPLETE, exactly one saw CANCEL_REQUESTED clear
//     (the first; the others were told "already pending");
//   * every cancel that saw COMPLETE saw CANCEL_REQUESTED clear (completion clears it
//     and no cancel sets it afterwards), and a not-COMPLETE snapshot is RUNNING;
//   * the final word is COMPLETE with CANCEL_REQUESTED clear, all else unchanged.
TEST(TaskStateConcurrent, CompleteVersusCancel) {
  constexpr int kThreads = 4;
  std::optional<TaskStateWord> w;
  TaskStateWord::Snapshot prev[kThreads];
  int completer_first = 0, cancel_first = 0;  // who wins (coverage, not asserted)
  run_rounds(
      kRounds, kThreads,
      [&](int) {
        w.emplace(kRefs, true);
        w->transition_to_running();
      },
      [&](int t, int) { prev[t] = t == 0 ? w->transition_to_complete() : w->request_cancel(); },
      [&](int) -> std::string {
        const auto done = prev[0];
        if (done.lifecycle() != TaskStateWord::RUNNING) return "completer saw " + std::to_string(done.bits);
        int saw_live = 0, first_setters = 0;
        for (int t = 1; t < kThreads; ++t) {
          const auto p = prev[t];
          if (p.is_complete()) {
            if (p.has(TaskStateWord::CANCEL_REQUESTED)) return "COMPLETE snapshot with CANCEL_REQUESTED";
            continue;
          }
          if (p.lifecycle() != TaskStateWord::RUNNING) return "cancel saw " + std::to_string(p.bits);
          ++saw_live;
          first_setters += !p.has(TaskStateWord::CANCEL_REQUESTED);
        }
        if (done.has(TaskStateWord::CANCEL_REQUESTED) != (saw_live > 0))
          return "completer snapshot " + std::to_string(done.bits) + " but " +
                 std::to_string(saw_live) + " cancels saw the task live";
        if (first_setters != (saw_live > 0 ? 1 : 0))
          return std::to_string(first_setters) + " cancels saw no pending request";
        (saw_live > 0 ? cancel_first : completer_first) += 1;
        const Bits want = TaskStateWord::COMPLETE | TaskStateWord::STARTED |
                          TaskStateWord::JOIN_INTEREST | kRefs * TaskStateWord::REF_ONE;
        if (w->load().bits != want) return "final word " + std::to_string(w->load().bits);
        return {};
      });
  RecordProperty("cancel_first", cancel_first);
  RecordProperty("completer_first", completer_first);
}

// (c) An awaiter registers in the join slot (set_join_waiter) while the task completes.
// Exactly one of: the awaiter sees Complete (and then reads the result itself) and the
// completer's snapshot lacks JOIN_WAITER; or the awaiter gets Registered and the
// completer's snapshot has JOIN_WAITER (so the completer wakes it, reading the join
// slot the awaiter wrote). Never both missed, never both claimed; never Busy.
TEST(TaskStateConcurrent, SetJoinWaiterVersusComplete) {
  std::optional<TaskStateWord> w;
  int result = 0, join_slot = 0;  // plain: published by complete / by set_join_waiter
  int completer_read = -1, awaiter_read = -1;
  TaskStateWord::Snapshot done{};
  JoinRegistration reg{};
  run_rounds(
      kRounds, 2,
      [&](int) {
        w.emplace(kRefs, true);
        w->transition_to_running();
        completer_read = awaiter_read = -1;
      },
      [&](int t, int r) {
        if (t == 0) {
          result = r + 1;
          done = w->transition_to_complete();
          if (done.has(TaskStateWord::JOIN_WAITER)) completer_read = join_slot;
        } else {
          join_slot = r + 1;
          reg = w->set_join_waiter();
          if (reg == JoinRegistration::Complete) awaiter_read = result;
        }
      },
      [&](int r) -> std::string {
        if (reg == JoinRegistration::Busy) return "Busy with a single awaiter";
        const bool registered = reg == JoinRegistration::Registered;
        if (registered != done.has(TaskStateWord::JOIN_WAITER))
          return std::string("registered=") + (registered ? "1" : "0") + " completer snapshot " +
                 std::to_string(done.bits);
        if (registered && completer_read != r + 1) return "completer did not see the join slot";
        if (!registered && awaiter_read != r + 1) return "awaiter did not see the result";
        return {};
      });
}

// (c') The awaiter registers and at once withdraws (unset_join_waiter), racing with
// completion. The completer's snapshot has JOIN_WAITER exactly when the awaiter got
// Registered and its withdrawal failed (unset returned false: the completer owns the
// slot). An awaiter that learns of completion (Complete, or unset == false) reads the
// result.
TEST(TaskStateConcurrent, UnsetJoinWaiterVersusComplete) {
  std::optional<TaskStateWord> w;
  int result = 0;
  int awaiter_read = -1;
  TaskStateWord::Snapshot done{};
  JoinRegistration reg{};
  bool unset_ok = false;
  run_rounds(
      kRounds, 2,
      [&](int) {
        w.emplace(kRefs, true);
        w->transition_to_running();
        awaiter_read = -1;
        unset_ok = false;
      },
      [&](int t, int r) {
        if (t == 0) {
          result = r + 1;
          done = w->transition_to_complete();
        } else {
          reg = w->set_join_waiter();
          if (reg == JoinRegistration::Registered) {
            unset_ok = w->unset_join_waiter();
            if (!unset_ok) awaiter_read = result;
          } else if (reg == JoinRegistration::Complete) {
            awaiter_read = result;
          }
        }
      },
      [&](int r) -> std::string {
        if (reg == JoinRegistration::Busy) return "Busy with a single awaiter";
        const bool completer_owns = reg == JoinRegistration::Registered && !unset_ok;
        if (completer_owns != done.has(TaskStateWord::JOIN_WAITER))
          return "completer snapshot " + std::to_string(done.bits) + " vs awaiter reg=" +
                 std::to_string(static_cast<int>(reg)) + " unset=" + (unset_ok ? "1" : "0");
        const bool learned = reg == JoinRegistration::Complete || completer_owns;
        if (learned && awaiter_read != r + 1) return "awaiter did not see the result";
        // The final word keeps JOIN_WAITER frozen as the completer found it.
        if (w->load().has(TaskStateWord::JOIN_WAITER) != completer_owns) return "final JOIN_WAITER";
        return {};
      });
}

// (d) Four holders, each with one reference, each add and drop extra references, then
// drop their own. Only the very last ref_dec of the round returns true; it then reads
// every holder's plain writes (made before their ref_dec): the release/acquire of
// ref_dec, as std::shared_ptr's, checked by TSan. Flags are never touched.
TEST(TaskStateConcurrent, RefIncDecExactlyOneLast) {
  constexpr int kThreads = 4;
  constexpr int kPairs = 16;
  std::optional<TaskStateWord> w;
  int payload[kThreads] = {};
  bool early_true[kThreads] = {};
  bool last[kThreads] = {};
  bool last_saw_all[kThreads] = {};
  run_rounds(
      kRounds, kThreads,
      [&](int) {
        w.emplace(kThreads, true);  // one reference per thread
        for (int t = 0; t < kThreads; ++t) early_true[t] = last[t] = last_saw_all[t] = false;
      },
      [&](int t, int r) {
        payload[t] = r + 1;
        for (int i = 0; i < kPairs; ++i) {
          w->ref_inc();
          if (w->ref_dec()) early_true[t] = true;  // we still hold ours: must not happen
        }
        if (w->ref_dec()) {
          last[t] = true;
          bool all = true;
          for (int u = 0; u < kThreads; ++u) all = all && payload[u] == r + 1;
          last_saw_all[t] = all;
        }
      },
      [&](int) -> std::string {
        int lasts = 0;
        for (int t = 0; t < kThreads; ++t) {
          if (early_true[t]) return "ref_dec returned true while a reference was held";
          if (last[t]) {
            ++lasts;
            if (!last_saw_all[t]) return "last dropper did not see the others' writes";
          }
        }
        if (lasts != 1) return std::to_string(lasts) + " ref_dec calls returned true";
        const Bits want = TaskStateWord::SCHEDULED | TaskStateWord::JOIN_INTEREST;
        if (w->load().bits != want) return "final word " + std::to_string(w->load().bits);
        return {};
      });
}

}  // namespace
