// With three or more workers, a pending timer keeps a parked worker with a timeout even
// when notifies for new work take both the timer driver and its deputy
// (scheduler/src/timer_driver.hpp): the worker left parked fires it while the two
// computations run, instead of the timer waiting for one of them to end.
//
// The case, built step by step (n workers; n - 2 of them are the "idle" ones):
//   1. n holder tasks spin, one per worker; the idle ones are released first and park
//      with no timer pending, so without a timeout.
//   2. A holder is released to sleep (S). Its insert finds no driver and unparks the
//      oldest sleeper, an idle worker X, to take the role. X's first look at the timers
//      reads the clock, and the test's clock holds X there; meanwhile S's worker parks
//      and takes the driver role, and the last holder's worker (released now) parks as
//      the deputy. Then X is let go: it finds both roles held and parks without a
//      timeout, older on the sleeper list than the driver and the deputy. (Unheld, X
//      took a role first in every round tried: the last holder is released only once
//      the driver is seen. In a real run the race is between X coming out of its futex
//      wait and two workers parking at that moment; the hold decides it.)
//   3. Two computing tasks are spawned. Notifies wake the newest sleepers, the deputy
//      and the driver, which leave their timeouts and compute until S has woken.
// S's timer must then fire while both still compute: each polls the flag S sets when
// it wakes, and gives up after kGiveUp (which only bounds a failing run). Before the
// deputy handed its role on when notified, nothing fired it: every round failed (the
// idle workers sleep without a timeout and the busy ones never look at the timers).
// Nothing waits on time to synchronise: each step waits for a state of the runtime
// (white-box: the driver and deputy roles, the idle counters, the workers' Parker
// words), and the set-up is checked before the computations come. S's
// sleep (kSleep) must outlast the set-up, else S wakes before the computations start
// and the round proves nothing; such a round is retried, and the test is skipped if
// every try was too slow.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <weft/weft.hpp>

#include "../../scheduler/src/runtime_core_impl.hpp"
#include "runtime_helpers.hpp"

namespace {

using namespace std::chrono_literals;
using weft::Task;
using Steady = std::chrono::steady_clock;
namespace wd = weft::detail;

constexpr auto kGiveUp = 5s;
constexpr auto kSleep = 200ms;
constexpr unsigned kMaxWorkers = 8;
constexpr int kRounds = 3;
constexpr int kTries = 10;  // per round, for rounds whose set-up outlasted kSleep

// The steady clock, except that a worker whose bit is set in `held_` waits inside now()
// until the test clears it, and that the test can move it ahead of the steady clock
// (jump): the workers park until steady time points, so a parked driver then wakes
// late by the jump, as one that the system scheduler runs late would.
class HoldingClock final : public weft::Clock {
 public:
  time_point now() const override {
    if (const wd::Worker* self = wd::current_worker()) {
      // Acquire: pairs with the release in let_go(): what the test did before it let
      // the worker go (nothing the worker reads) is ordered before its return.
      while (((held_.load(std::memory_order_acquire) >> self->index_) & 1u) != 0) std::this_thread::yield();
    }
    // Relaxed: the test jumps before it unparks the worker that is to see the jump
    // (a release exchange on its Parker that the worker acquires), which orders it.
    return Steady::now() + std::chrono::nanoseconds(ahead_ns_.load(std::memory_order_relaxed));
  }
  // Relaxed: set before the test releases the worker's holder task (a release store
  // the worker acquires), which orders it before any now() the worker then calls.
  void hold(unsigned worker) { held_.fetch_or(1u << worker, std::memory_order_relaxed); }
  void let_go() { held_.store(0, std::memory_order_release); }
  // Relaxed: see now().
  void jump(std::chrono::nanoseconds by) { ahead_ns_.fetch_add(by.count(), std::memory_order_relaxed); }

 private:
  std::atomic<std::uint32_t> held_{0};
  std::atomic<std::int64_t> ahead_ns_{0};
};

// The worker has announced a sleep on its Parker and nobody unparked it since.
bool announced_sleep(wd::Worker& worker) { return worker.parker_.announced_sleep(); }

unsigned unparked(const wd::RuntimeCore& core) {
  return core.idle.state_word().load(std::memory_order_acquire) >> wd::kIdleUnparkedShift;
}

// Spins until `flag`; false if it gave up first.
bool spin_until(const std::atomic<bool>& flag) {
  const auto give_up = Steady::now() + kGiveUp;
  while (!flag.load(std::memory_order_acquire))
    if (Steady::now() > give_up) return false;
  return true;
}

enum class Round { Passed, Failed, TooSlow };

// Joins every handle from the test's thread: true if every task returned true. Only once
// nothing spawned can change the outcome (block_on's task wakes workers).
bool join_all(weft::Runtime& rt, std::vector<weft::JoinHandle<bool>>& handles) {
  auto joiner = [&]() -> Task<bool> {
    bool all = true;
    for (auto& handle : handles) all = (co_await handle) && all;
    co_return all;
  };
  return rt.block_on(joiner());
}

// The computing tasks of a round: each spins until the sleeper under test has woken
// (`woke`), which it must do while they compute.
struct Computations {
  explicit Computations(const std::atomic<bool>& sleeper_woke) : woke(sleeper_woke) {}
  Task<bool> compute() {
    if (woke.load(std::memory_order_acquire)) woke_before_compute.store(true, std::memory_order_relaxed);
    const bool in_time = spin_until(woke);
    computed.fetch_add(1, std::memory_order_release);
    co_return in_time;
  }
  // Waits outside the runtime for `count` computations to end (block_on's task would
  // wake an idle worker, which would then drive the timer anyway).
  void wait_for(unsigned count) const {
    (void)weft::test::eventually([&] { return computed.load(std::memory_order_acquire) == count; }, 2 * kGiveUp);
  }
  const std::atomic<bool>& woke;
  std::atomic<unsigned> computed{0};  // release by each computation, acquire by the test
  // Relaxed: read after the joins, which order it.
  std::atomic<bool> woke_before_compute{false};
};

// kRounds rounds, each retried while its set-up was too slow to prove anything.
template <class RunRound>
void run_rounds(RunRound run_round, const std::string& what) {
  for (int round = 0; round < kRounds; ++round) {
    Round outcome = Round::TooSlow;
    std::string why;
    for (int attempt = 0; attempt < kTries && outcome == Round::TooSlow; ++attempt) outcome = run_round(why);
    if (outcome == Round::TooSlow) GTEST_SKIP() << "every set-up outlasted its margin (" << kTries << " tries)";
    ASSERT_TRUE(outcome == Round::Passed) << what << ", round " << round << ": " << why;
  }
}

// One round with `n` workers; `why` says what failed.
Round run_round(unsigned n, std::string& why) {
  HoldingClock clock;  // outlives the runtime
  weft::Runtime rt({.workers = n, .clock = &clock});
  // Written by the holders before they count themselves started (release), read by
  // the test after it sees them all started (acquire).
  std::atomic<wd::RuntimeCore*> core_ptr{nullptr};
  std::atomic<unsigned> worker_of[kMaxWorkers];  // the worker each holder runs on
  // Release by the test, acquire by the holder spinning on it.
  std::atomic<bool> go[kMaxWorkers];
  for (unsigned i = 0; i < n; ++i) go[i].store(false, std::memory_order_relaxed);
  std::atomic<unsigned> started{0};
  std::atomic<bool> s_woke{false};  // set by S once it has woken (release; the spinners acquire)
  const unsigned sleeper = n - 2;  // the holder that becomes S
  const unsigned deputy = n - 1;   // the holder whose worker becomes the deputy

  auto holder = [&](unsigned slot) -> Task<bool> {
    wd::Worker& self = *wd::current_worker();
    core_ptr.store(&self.runtime_, std::memory_order_relaxed);
    worker_of[slot].store(self.index_, std::memory_order_relaxed);
    started.fetch_add(1, std::memory_order_release);  // Release: the two stores above (see there)
    if (!spin_until(go[slot])) co_return false;
    if (slot == sleeper) {
      co_await weft::sleep_for(kSleep);
      s_woke.store(true, std::memory_order_release);  // Release: pairs with the spinners
    }
    co_return true;
  };
  Computations computations(s_woke);
  std::vector<weft::JoinHandle<bool>> handles;
  auto join_all = [&] { return ::join_all(rt, handles); };
  auto release_all = [&] {
    for (unsigned i = 0; i < n; ++i) go[i].store(true, std::memory_order_release);
    // block_on's task then wakes workers, and S's timer fires eventually.
  };

  // 1. One holder per worker (each spins, so no worker takes a second one).
  for (unsigned i = 0; i < n; ++i) handles.push_back(rt.spawn(holder(i)));
  if (!weft::test::eventually([&] { return started.load(std::memory_order_acquire) == n; }, kGiveUp)) {
    why = "the holders did not all start";
    release_all();
    join_all();
    return Round::Failed;
  }
  wd::RuntimeCore& core = *core_ptr.load(std::memory_order_relaxed);  // ordered by `started`
  auto worker = [&](unsigned slot) -> wd::Worker& { return core.worker(worker_of[slot].load(std::memory_order_relaxed)); };
  for (unsigned i = 0; i < sleeper; ++i) clock.hold(worker_of[i].load(std::memory_order_relaxed));
  for (unsigned i = 0; i < sleeper; ++i) go[i].store(true, std::memory_order_release);
  auto idle_asleep = [&] {
    for (unsigned i = 0; i < sleeper; ++i)
      if (!announced_sleep(worker(i))) return false;
    return true;
  };
  // No timer is pending: they park without a timeout (and read no clock).
  if (!weft::test::eventually([&] { return unparked(core) == 2 && idle_asleep(); }, kGiveUp)) {
    why = "the idle workers did not park";
    clock.let_go();
    release_all();
    join_all();
    return Round::Failed;
  }

  // 2. S sleeps; its worker parks and takes the driver role while X is held.
  const auto s_slept_at = Steady::now();
  go[sleeper].store(true, std::memory_order_release);
  const int driver = static_cast<int>(worker_of[sleeper].load(std::memory_order_relaxed));
  bool ok = weft::test::eventually([&] { return core.timers.role_holder() == driver; }, kGiveUp);
  // The last holder's worker parks and, the role being held, arms as the deputy.
  go[deputy].store(true, std::memory_order_release);
  ok = ok && weft::test::eventually([&] { return announced_sleep(worker(deputy)); }, kGiveUp);
  clock.let_go();
  // X finds both roles held and parks without a timeout.
  ok = ok && weft::test::eventually([&] { return unparked(core) == 0 && idle_asleep(); }, kGiveUp);
  ok = ok && core.timers.role_holder() == driver &&
       core.timers.deputy_holder() == static_cast<int>(worker_of[deputy].load(std::memory_order_relaxed));
  if (!ok) {
    why = "the driver and deputy were not set up";
    release_all();
    join_all();
    return Round::Failed;
  }
  if (s_woke.load(std::memory_order_acquire) || Steady::now() - s_slept_at > kSleep / 2) {
    release_all();
    join_all();
    return Round::TooSlow;
  }

  // 3. Two computations: the notifies take the deputy and the driver.
  handles.push_back(rt.spawn(computations.compute()));
  handles.push_back(rt.spawn(computations.compute()));
  computations.wait_for(2);
  const bool in_time = join_all();
  if (computations.woke_before_compute.load(std::memory_order_relaxed)) return Round::TooSlow;
  if (!in_time) {
    why = "S's timer waited for the computations to end";
    return Round::Failed;
  }
  return Round::Passed;
}

void run_rounds_with(unsigned workers) {
  run_rounds([workers](std::string& why) { return run_round(workers, why); }, std::to_string(workers) + " workers");
}

TEST(TimerDriverManyWorkers, ThreeWorkersATimerFiresWhileTheDriverAndTheDeputyCompute) { run_rounds_with(3); }

TEST(TimerDriverManyWorkers, FourWorkersATimerFiresWhileTheDriverAndTheDeputyCompute) { run_rounds_with(4); }

// ---- A driver taken for new work while no deputy is armed ------------------------
//
// The deputy that fires a timer itself, because the driver (still parked, still holding
// the role) is more than a grace late, leaves its place empty: it runs what it woke, and
// ensure_timer_driver finds the driver's role held. If a notify then takes the driver,
// the only sleeper left is one without a timeout, and a timer still pending waits for a
// computation to end, unless the notified driver hands the role on.
//
// The case, with 3 workers: X idle, S1's worker D, S2's worker Z.
//   1. Three holder tasks spin, one per worker. X's is released first: X parks with no
//      timer pending, so without a timeout.
//   2. S1 sleeps kFirst: its insert finds no driver and unparks X, which the test's clock
//      holds in its first look at the timers; D parks and takes the driver role. S2
//      sleeps kSecond (later: its insert wakes nobody); Z parks as the deputy (backing up
//      S1's deadline). X, let go, finds both places taken and parks without a timeout.
//   3. The driver is made late: the clock jumps kFirst ahead of the steady clock the
//      workers park on, so S1's timer is due while D sleeps on. Z is unparked, as its
//      own wake-up a grace after S1's deadline would: it fires S1's timer, and S1,
//      running on Z, computes until S2 has woken.
//   4. A computation is spawned: the notify takes the newest sleeper, D, which computes
//      until S2 has woken too.
// S2's timer must fire while both compute. Before a notified driver handed its role on,
// nothing fired it (X sleeps without a timeout, D and Z never look at the timers): the
// round failed, every time, after kGiveUp. As above, each step waits for a state of the
// runtime, not for time; a round whose set-up outlasted the margins is retried.

constexpr auto kFirst = 200ms;
constexpr auto kSecond = 3 * kFirst;  // due about kSecond - kFirst after S1 slept, once the clock has jumped

Round run_late_driver_round(std::string& why) {
  constexpr unsigned n = 3;
  HoldingClock clock;  // outlives the runtime
  weft::Runtime rt({.workers = n, .clock = &clock});
  // As in run_round: written by the holders before `started` (release), read after it.
  std::atomic<wd::RuntimeCore*> core_ptr{nullptr};
  std::atomic<unsigned> worker_of[n];
  std::atomic<bool> go[n];  // release by the test, acquire by the holder spinning on it
  for (unsigned i = 0; i < n; ++i) go[i].store(false, std::memory_order_relaxed);
  std::atomic<unsigned> started{0};
  // The worker S1 woke on (release by S1 before it computes; acquire by the test).
  std::atomic<int> s1_woke_on{-1};
  std::atomic<bool> s2_woke{false};  // set by S2 once it has woken (release; the spinners acquire)
  constexpr unsigned idle = 0, first = 1, second = 2;  // holder slots

  auto holder = [&](unsigned slot) -> Task<bool> {
    wd::Worker& self = *wd::current_worker();
    core_ptr.store(&self.runtime_, std::memory_order_relaxed);
    worker_of[slot].store(self.index_, std::memory_order_relaxed);
    started.fetch_add(1, std::memory_order_release);  // Release: the two stores above
    if (!spin_until(go[slot])) co_return false;
    if (slot == first) {
      co_await weft::sleep_for(kFirst);
      s1_woke_on.store(static_cast<int>(wd::current_worker()->index_), std::memory_order_release);
      co_return spin_until(s2_woke);  // S1 computes until S2 has woken
    }
    if (slot == second) {
      co_await weft::sleep_for(kSecond);
      s2_woke.store(true, std::memory_order_release);  // Release: pairs with the spinners
    }
    co_return true;
  };
  Computations computations(s2_woke);
  std::vector<weft::JoinHandle<bool>> handles;
  auto join_all = [&] { return ::join_all(rt, handles); };
  auto release_all = [&] {
    for (unsigned i = 0; i < n; ++i) go[i].store(true, std::memory_order_release);
  };
  auto give_up = [&](const char* what) {
    why = what;
    clock.let_go();
    release_all();
    join_all();
    return Round::Failed;
  };

  // 1. One holder per worker; X parks without a timeout.
  for (unsigned i = 0; i < n; ++i) handles.push_back(rt.spawn(holder(i)));
  if (!weft::test::eventually([&] { return started.load(std::memory_order_acquire) == n; }, kGiveUp))
    return give_up("the holders did not all start");
  wd::RuntimeCore& core = *core_ptr.load(std::memory_order_relaxed);  // ordered by `started`
  auto index = [&](unsigned slot) { return worker_of[slot].load(std::memory_order_relaxed); };
  wd::Worker& x = core.worker(index(idle));
  wd::Worker& d = core.worker(index(first));
  wd::Worker& z = core.worker(index(second));
  clock.hold(index(idle));
  go[idle].store(true, std::memory_order_release);
  if (!weft::test::eventually([&] { return unparked(core) == 2 && announced_sleep(x); }, kGiveUp))
    return give_up("X did not park");

  // 2. D the driver, Z the deputy, X parked without a timeout.
  const auto s1_slept_at = Steady::now();
  go[first].store(true, std::memory_order_release);
  bool ok = weft::test::eventually([&] { return core.timers.role_holder() == static_cast<int>(d.index_); }, kGiveUp);
  go[second].store(true, std::memory_order_release);
  ok = ok && weft::test::eventually([&] {
         return core.timers.deputy_holder() == static_cast<int>(z.index_) && announced_sleep(z);
       }, kGiveUp);
  clock.let_go();
  ok = ok && weft::test::eventually([&] { return unparked(core) == 0 && announced_sleep(x); }, kGiveUp);
  ok = ok && core.timers.role_holder() == static_cast<int>(d.index_) &&
       core.timers.deputy_holder() == static_cast<int>(z.index_);
  if (!ok) return give_up("the driver and the deputy were not set up");
  auto too_slow = [&] {
    release_all();
    join_all();
    return Round::TooSlow;
  };
  if (Steady::now() - s1_slept_at > kFirst / 2) return too_slow();

  // 3. The driver late: the deputy fires S1's timer and S1 computes on Z.
  clock.jump(kFirst + 10ms);  // past S1's deadline by more than a tick
  z.parker_.unpark();
  if (!weft::test::eventually([&] { return s1_woke_on.load(std::memory_order_acquire) >= 0; }, kGiveUp))
    return give_up("the deputy did not fire S1's timer");
  // D must still sleep as the driver (its own deadline, kFirst after S1 slept, not passed
  // yet), with no deputy armed, and S2's timer not yet due.
  if (s1_woke_on.load(std::memory_order_acquire) != static_cast<int>(z.index_) ||
      core.timers.role_holder() != static_cast<int>(d.index_) || !announced_sleep(d) ||
      core.timers.deputy_holder() != -1 || s2_woke.load(std::memory_order_acquire) ||
      Steady::now() - s1_slept_at > kFirst / 2)
    return too_slow();

  // 4. A computation: the notify takes D.
  handles.push_back(rt.spawn(computations.compute()));
  computations.wait_for(1);
  const bool in_time = join_all();
  if (computations.woke_before_compute.load(std::memory_order_relaxed)) return Round::TooSlow;
  if (!in_time) {
    why = "S2's timer waited for the computations to end";
    return Round::Failed;
  }
  return Round::Passed;
}

TEST(TimerDriverManyWorkers, ATimerFiresWhileADriverTakenForNewWorkComputesWithNoDeputy) {
  run_rounds(run_late_driver_round, "3 workers, a late driver");
}

}  // namespace
