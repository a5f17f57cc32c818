// TaskStateWord, single-threaded: every transition's documented pre/post-condition
// and return value, one TEST each (initial state, transition_to_running, _idle,
// _notified from each lifecycle, _complete, request_cancel, take_cancel_request,
// set/unset_join_waiter, drop_join_interest, ref_inc/ref_dec). Every check compares
// the full word, so a transition that disturbs the reference count or a flag it does
// not own is caught; one TEST sweeps every transition over all combinations of the
// unrelated flags with a large reference count. Finally a random model test drives the
// word with 100,000 random *legal* operations (only operations whose documented
// preconditions hold in a simple independent model), comparing the real word, and
// every return value, with the model after each step (fixed seed, printed on failure).
#include "weft/core/task_state.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <random>
#include <string>

namespace {

using weft::detail::TaskStateWord;
using Bits = TaskStateWord::Bits;
using IdleOutcome = TaskStateWord::IdleOutcome;
using NotifyOutcome = TaskStateWord::NotifyOutcome;
using JoinRegistration = TaskStateWord::JoinRegistration;

constexpr Bits IDLE = TaskStateWord::IDLE;
constexpr Bits SCHEDULED = TaskStateWord::SCHEDULED;
constexpr Bits RUNNING = TaskStateWord::RUNNING;
constexpr Bits COMPLETE = TaskStateWord::COMPLETE;
constexpr Bits NOTIFIED = TaskStateWord::NOTIFIED;
constexpr Bits CANCEL_REQUESTED = TaskStateWord::CANCEL_REQUESTED;
constexpr Bits JOIN_INTEREST = TaskStateWord::JOIN_INTEREST;
constexpr Bits JOIN_WAITER = TaskStateWord::JOIN_WAITER;
constexpr Bits STARTED = TaskStateWord::STARTED;
constexpr Bits REF_ONE = TaskStateWord::REF_ONE;

// A reference count that fills most of the 48 reference bits, so a transition that
// carries into or masks the high bits shows up.
constexpr std::uint64_t kBigRefs = (std::uint64_t{1} << 47) + 0x1234;

Bits refs_bits(std::uint64_t refs) { return refs * REF_ONE; }

// Drives a fresh word (SCHEDULED, never started) to a given state through legal
// transitions only. `lifecycle` is the target; `started` matters for SCHEDULED only
// (IDLE, RUNNING and COMPLETE reached here are always STARTED). CANCEL_REQUESTED is
// not kept for COMPLETE (completion clears it).
void drive(TaskStateWord& w, Bits lifecycle, bool started, bool cancel, bool join_waiter) {
  if (join_waiter) {
    ASSERT_EQ(w.set_join_waiter(), JoinRegistration::Registered);
  }
  if (cancel) w.request_cancel();
  switch (lifecycle) {
    case SCHEDULED:
      if (started) {
        w.transition_to_running();
        w.transition_to_notified();
        ASSERT_EQ(w.transition_to_idle(), IdleOutcome::Reschedule);
      }
      break;
    case RUNNING:
      w.transition_to_running();
      break;
    case IDLE:
      w.transition_to_running();
      ASSERT_EQ(w.transition_to_idle(), IdleOutcome::Idle);
      break;
    case COMPLETE:
      w.transition_to_running();
      w.transition_to_complete();
      break;
    default:
      FAIL() << "bad lifecycle";
  }
}

TEST(TaskState, InitialStateIsScheduledWithRefsAndJoinInterest) {
  TaskStateWord a(3, true);
  auto s = a.load();
  EXPECT_EQ(s.bits, SCHEDULED | JOIN_INTEREST | refs_bits(3));
  EXPECT_EQ(s.lifecycle(), SCHEDULED);
  EXPECT_EQ(s.refs(), 3u);
  EXPECT_TRUE(s.has(JOIN_INTEREST));
  EXPECT_FALSE(s.has(STARTED));
  EXPECT_FALSE(s.has(NOTIFIED));
  EXPECT_FALSE(s.has(CANCEL_REQUESTED));
  EXPECT_FALSE(s.has(JOIN_WAITER));
  EXPECT_FALSE(s.is_complete());

  TaskStateWord b(1, false);
  EXPECT_EQ(b.load().bits, SCHEDULED | refs_bits(1));
  EXPECT_FALSE(b.load().has(JOIN_INTEREST));

  TaskStateWord c(kBigRefs, true);
  EXPECT_EQ(c.load().bits, SCHEDULED | JOIN_INTEREST | refs_bits(kBigRefs));
  EXPECT_EQ(c.load().refs(), kBigRefs);
  EXPECT_FALSE(c.cancel_requested_relaxed());
  EXPECT_FALSE(c.cancel_requested_seq_cst());
}

TEST(TaskState, TransitionToRunningSetsRunningAndStartedAndReturnsPrevious) {
  TaskStateWord w(2, true);
  auto prev = w.transition_to_running();
  EXPECT_EQ(prev.bits, SCHEDULED | JOIN_INTEREST | refs_bits(2));
  EXPECT_EQ(w.load().bits, RUNNING | STARTED | JOIN_INTEREST | refs_bits(2));

  // A second run (after a reschedule): the returned word already has STARTED, and the
  // NOTIFIED that caused the reschedule is not carried into RUNNING. (NOTIFIED is only
  // ever set while RUNNING and transition_to_idle clears it, so a SCHEDULED word never
  // carries it into transition_to_running through the API; we check it is clear after.)
  w.transition_to_notified();
  ASSERT_EQ(w.transition_to_idle(), IdleOutcome::Reschedule);
  prev = w.transition_to_running();
  EXPECT_EQ(prev.bits, SCHEDULED | STARTED | JOIN_INTEREST | refs_bits(2));
  EXPECT_EQ(w.load().bits, RUNNING | STARTED | JOIN_INTEREST | refs_bits(2));
  EXPECT_FALSE(w.load().has(NOTIFIED));
}

TEST(TaskState, TransitionToRunningKeepsCancelAndJoinWaiter) {
  TaskStateWord w(kBigRefs, true);
  ASSERT_EQ(w.set_join_waiter(), JoinRegistration::Registered);
  w.request_cancel();
  const Bits before = SCHEDULED | CANCEL_REQUESTED | JOIN_INTEREST | JOIN_WAITER | refs_bits(kBigRefs);
  ASSERT_EQ(w.load().bits, before);
  EXPECT_EQ(w.transition_to_running().bits, before);
  EXPECT_EQ(w.load().bits, RUNNING | STARTED | CANCEL_REQUESTED | JOIN_INTEREST | JOIN_WAITER |
                               refs_bits(kBigRefs));
}

TEST(TaskState, TransitionToIdleWithoutNotifiedGoesIdle) {
  TaskStateWord w(2, true);
  w.transition_to_running();
  EXPECT_EQ(w.transition_to_idle(), IdleOutcome::Idle);
  EXPECT_EQ(w.load().bits, IDLE | STARTED | JOIN_INTEREST | refs_bits(2));
  EXPECT_EQ(w.load().lifecycle(), IDLE);
  // Lifecycle after: IDLE is woken by transition_to_notified (Submit), not rescheduled.
  EXPECT_EQ(w.transition_to_notified(), NotifyOutcome::Submit);
  EXPECT_EQ(w.load().bits, SCHEDULED | STARTED | JOIN_INTEREST | refs_bits(2));
}

TEST(TaskState, TransitionToIdleWithNotifiedReschedules) {
  TaskStateWord w(2, false);
  w.transition_to_running();
  EXPECT_EQ(w.transition_to_notified(), NotifyOutcome::DoNothing);
  ASSERT_EQ(w.load().bits, RUNNING | NOTIFIED | STARTED | refs_bits(2));
  EXPECT_EQ(w.transition_to_idle(), IdleOutcome::Reschedule);
  // SCHEDULED with NOTIFIED cleared: the caller pushes it; the wake was consumed.
  EXPECT_EQ(w.load().bits, SCHEDULED | STARTED | refs_bits(2));
  // Lifecycle after: it is in a queue, so a further wake does nothing...
  EXPECT_EQ(w.transition_to_notified(), NotifyOutcome::DoNothing);
  EXPECT_EQ(w.load().bits, SCHEDULED | STARTED | refs_bits(2));
  // ...and the worker that pops it runs it again; suspending again now goes IDLE.
  w.transition_to_running();
  EXPECT_EQ(w.load().bits, RUNNING | STARTED | refs_bits(2));
  EXPECT_EQ(w.transition_to_idle(), IdleOutcome::Idle);
  EXPECT_EQ(w.load().bits, IDLE | STARTED | refs_bits(2));
}

TEST(TaskState, TransitionToNotifiedFromIdleSubmits) {
  TaskStateWord w(3, true);
  w.transition_to_running();
  ASSERT_EQ(w.transition_to_idle(), IdleOutcome::Idle);
  EXPECT_EQ(w.transition_to_notified(), NotifyOutcome::Submit);
  // IDLE -> SCHEDULED; NOTIFIED is for the RUNNING case only.
  EXPECT_EQ(w.load().bits, SCHEDULED | STARTED | JOIN_INTEREST | refs_bits(3));
  // Only one wake submits: the task is now in exactly one queue.
  EXPECT_EQ(w.transition_to_notified(), NotifyOutcome::DoNothing);
  EXPECT_EQ(w.load().bits, SCHEDULED | STARTED | JOIN_INTEREST | refs_bits(3));
}

TEST(TaskState, TransitionToNotifiedFromRunningSetsNotified) {
  TaskStateWord w(3, true);
  w.transition_to_running();
  EXPECT_EQ(w.transition_to_notified(), NotifyOutcome::DoNothing);
  EXPECT_EQ(w.load().bits, RUNNING | NOTIFIED | STARTED | JOIN_INTEREST | refs_bits(3));
  // Idempotent while running.
  EXPECT_EQ(w.transition_to_notified(), NotifyOutcome::DoNothing);
  EXPECT_EQ(w.load().bits, RUNNING | NOTIFIED | STARTED | JOIN_INTEREST | refs_bits(3));
}

TEST(TaskState, TransitionToNotifiedFromScheduledDoesNothing) {
  TaskStateWord w(3, true);
  const Bits before = w.load().bits;
  EXPECT_EQ(w.transition_to_notified(), NotifyOutcome::DoNothing);
  EXPECT_EQ(w.load().bits, before);
}

TEST(TaskState, TransitionToNotifiedFromCompleteDoesNothing) {
  TaskStateWord w(3, true);
  w.transition_to_running();
  w.transition_to_complete();
  const Bits before = w.load().bits;
  ASSERT_EQ(before, COMPLETE | STARTED | JOIN_INTEREST | refs_bits(3));
  EXPECT_EQ(w.transition_to_notified(), NotifyOutcome::DoNothing);
  EXPECT_EQ(w.load().bits, before);
}

TEST(TaskState, TransitionToCompleteReturnsPriorAndClearsCancelAndNotified) {
  TaskStateWord w(kBigRefs, true);
  ASSERT_EQ(w.set_join_waiter(), JoinRegistration::Registered);
  w.transition_to_running();
  w.request_cancel();
  w.transition_to_notified();
  const Bits before = RUNNING | NOTIFIED | CANCEL_REQUESTED | STARTED | JOIN_INTEREST |
                      JOIN_WAITER | refs_bits(kBigRefs);
  ASSERT_EQ(w.load().bits, before);
  auto prev = w.transition_to_complete();
  EXPECT_EQ(prev.bits, before);
  EXPECT_TRUE(prev.has(JOIN_WAITER));  // the join slot must be woken
  EXPECT_EQ(w.load().bits, COMPLETE | STARTED | JOIN_INTEREST | JOIN_WAITER | refs_bits(kBigRefs));
  EXPECT_TRUE(w.load().is_complete());
  EXPECT_FALSE(w.cancel_requested_seq_cst());
}

TEST(TaskState, TransitionToCompleteWithoutJoinWaiter) {
  TaskStateWord w(1, false);
  w.transition_to_running();
  auto prev = w.transition_to_complete();
  EXPECT_EQ(prev.bits, RUNNING | STARTED | refs_bits(1));
  EXPECT_FALSE(prev.has(JOIN_WAITER));
  EXPECT_EQ(w.load().bits, COMPLETE | STARTED | refs_bits(1));
}

TEST(TaskState, TransitionToCompleteFromScheduledNeverStarted) {
  // Cancelled before its first run: completes straight from SCHEDULED, STARTED stays clear.
  TaskStateWord w(2, true);
  w.request_cancel();
  auto prev = w.transition_to_complete();
  EXPECT_EQ(prev.bits, SCHEDULED | CANCEL_REQUESTED | JOIN_INTEREST | refs_bits(2));
  EXPECT_EQ(w.load().bits, COMPLETE | JOIN_INTEREST | refs_bits(2));
  EXPECT_FALSE(w.load().has(STARTED));
}

TEST(TaskState, RequestCancelBeforeCompleteSetsFlagAndReturnsPrior) {
  for (Bits life : {SCHEDULED, RUNNING, IDLE}) {
    SCOPED_TRACE("lifecycle=" + std::to_string(life));
    TaskStateWord w(4, true);
    drive(w, life, true, false, false);
    const Bits before = w.load().bits;
    ASSERT_FALSE(before & CANCEL_REQUESTED);
    auto prev = w.request_cancel();
    EXPECT_EQ(prev.bits, before);  // not complete, not already pending
    EXPECT_EQ(w.load().bits, before | CANCEL_REQUESTED);
    EXPECT_TRUE(w.cancel_requested_seq_cst());
    EXPECT_TRUE(w.cancel_requested_relaxed());
    // Again: the returned word tells the caller it was already pending.
    prev = w.request_cancel();
    EXPECT_EQ(prev.bits, before | CANCEL_REQUESTED);
    EXPECT_EQ(w.load().bits, before | CANCEL_REQUESTED);
  }
}

TEST(TaskState, RequestCancelAfterCompleteChangesNothing) {
  TaskStateWord w(4, true);
  w.transition_to_running();
  w.transition_to_complete();
  const Bits before = w.load().bits;
  auto prev = w.request_cancel();
  EXPECT_EQ(prev.bits, before);
  EXPECT_TRUE(prev.is_complete());
  EXPECT_EQ(w.load().bits, before);
  EXPECT_FALSE(w.cancel_requested_seq_cst());
}

TEST(TaskState, TakeCancelRequest) {
  TaskStateWord w(2, true);
  w.transition_to_running();
  const Bits running = w.load().bits;
  EXPECT_FALSE(w.take_cancel_request());  // nothing pending
  EXPECT_EQ(w.load().bits, running);
  w.request_cancel();
  EXPECT_TRUE(w.take_cancel_request());  // delivered: cleared
  EXPECT_EQ(w.load().bits, running);
  EXPECT_FALSE(w.take_cancel_request());
  EXPECT_EQ(w.load().bits, running);
  // A new request after delivery is pending again.
  EXPECT_FALSE(w.request_cancel().has(CANCEL_REQUESTED));
  EXPECT_EQ(w.load().bits, running | CANCEL_REQUESTED);
}

TEST(TaskState, SetJoinWaiterRegisteredBusyComplete) {
  TaskStateWord w(2, true);
  const Bits before = w.load().bits;
  EXPECT_EQ(w.set_join_waiter(), JoinRegistration::Registered);
  EXPECT_EQ(w.load().bits, before | JOIN_WAITER);
  EXPECT_EQ(w.set_join_waiter(), JoinRegistration::Busy);  // a second awaiter: misuse
  EXPECT_EQ(w.load().bits, before | JOIN_WAITER);

  // Complete: the result is ready, nothing is registered.
  TaskStateWord c(2, true);
  c.transition_to_running();
  c.transition_to_complete();
  const Bits done = c.load().bits;
  EXPECT_EQ(c.set_join_waiter(), JoinRegistration::Complete);
  EXPECT_EQ(c.load().bits, done);

  // COMPLETE wins over "already registered".
  TaskStateWord d(2, true);
  ASSERT_EQ(d.set_join_waiter(), JoinRegistration::Registered);
  d.transition_to_running();
  d.transition_to_complete();
  const Bits done_waiter = d.load().bits;
  ASSERT_TRUE(done_waiter & JOIN_WAITER);
  EXPECT_EQ(d.set_join_waiter(), JoinRegistration::Complete);
  EXPECT_EQ(d.load().bits, done_waiter);
}

TEST(TaskState, UnsetJoinWaiterBeforeAndAfterComplete) {
  TaskStateWord w(2, true);
  w.transition_to_running();
  const Bits running = w.load().bits;
  ASSERT_EQ(w.set_join_waiter(), JoinRegistration::Registered);
  EXPECT_TRUE(w.unset_join_waiter());  // withdrawn before completion
  EXPECT_EQ(w.load().bits, running);
  // Can register again after withdrawing.
  EXPECT_EQ(w.set_join_waiter(), JoinRegistration::Registered);
  auto prev = w.transition_to_complete();
  EXPECT_TRUE(prev.has(JOIN_WAITER));
  const Bits done = w.load().bits;
  EXPECT_FALSE(w.unset_join_waiter());  // the completer owns the slot
  EXPECT_EQ(w.load().bits, done);       // JOIN_WAITER is frozen once COMPLETE
  EXPECT_TRUE(w.load().has(JOIN_WAITER));
}

TEST(TaskState, DropJoinInterestClearsOnlyThatBit) {
  TaskStateWord w(kBigRefs, true);
  ASSERT_EQ(w.set_join_waiter(), JoinRegistration::Registered);
  w.transition_to_running();
  w.request_cancel();
  w.transition_to_notified();
  const Bits before = w.load().bits;
  ASSERT_TRUE(before & JOIN_INTEREST);
  w.drop_join_interest();
  EXPECT_EQ(w.load().bits, before & ~JOIN_INTEREST);

  TaskStateWord c(3, true);
  c.transition_to_running();
  c.transition_to_complete();
  const Bits done = c.load().bits;
  c.drop_join_interest();  // after completion too
  EXPECT_EQ(c.load().bits, done & ~JOIN_INTEREST);
}

TEST(TaskState, RefIncDecTrueOnlyForLast) {
  TaskStateWord w(1, true);
  w.transition_to_running();
  w.request_cancel();
  const Bits flags = w.load().bits & TaskStateWord::FLAGS_MASK;
  w.ref_inc();
  w.ref_inc();
  EXPECT_EQ(w.load().bits, flags | refs_bits(3));
  EXPECT_FALSE(w.ref_dec());
  EXPECT_EQ(w.load().bits, flags | refs_bits(2));
  EXPECT_FALSE(w.ref_dec());
  EXPECT_EQ(w.load().bits, flags | refs_bits(1));
  EXPECT_TRUE(w.ref_dec());  // the last one
  EXPECT_EQ(w.load().bits, flags);
  EXPECT_EQ(w.load().refs(), 0u);

  // Large counts: no carry into or borrow from the flags.
  TaskStateWord big(kBigRefs, false);
  const Bits big_flags = big.load().bits & TaskStateWord::FLAGS_MASK;
  big.ref_inc();
  EXPECT_EQ(big.load().bits, big_flags | refs_bits(kBigRefs + 1));
  EXPECT_FALSE(big.ref_dec());
  EXPECT_FALSE(big.ref_dec());
  EXPECT_EQ(big.load().bits, big_flags | refs_bits(kBigRefs - 1));
}

// Every transition, from every reachable lifecycle where its precondition holds, over
// every combination of the flags it does not own, with a large reference count: the
// word after is exactly the documented one (no other bit moves).
TEST(TaskState, NoTransitionDisturbsRefsOrUnrelatedFlags) {
  struct Start {
    Bits life;
    bool started;
  };
  const Start starts[] = {{SCHEDULED, false}, {SCHEDULED, true}, {RUNNING, true},
                          {IDLE, true},       {COMPLETE, true}};
  for (const Start st : starts) {
    for (int combo = 0; combo < 8; ++combo) {
      const bool ji = combo & 1, cancel = combo & 2, jw = combo & 4;
      // Builds a word in the start state, checks it, returns it.
      auto make = [&] {
        auto w = std::make_unique<TaskStateWord>(kBigRefs, ji);
        drive(*w, st.life, st.started, cancel, jw);
        return w;
      };
      const Bits keep = (ji ? JOIN_INTEREST : 0) | (jw ? JOIN_WAITER : 0) | refs_bits(kBigRefs) |
                        (st.started ? STARTED : 0);
      const Bits c = (cancel && st.life != COMPLETE) ? CANCEL_REQUESTED : 0;
      const Bits start = st.life | keep | c;
      SCOPED_TRACE("start=" + std::to_string(start));
      ASSERT_EQ(make()->load().bits, start);

      if (st.life == SCHEDULED) {
        auto w = make();
        EXPECT_EQ(w->transition_to_running().bits, start);
        EXPECT_EQ(w->load().bits, RUNNING | STARTED | keep | c);
      }
      if (st.life == RUNNING) {
        auto w = make();
        EXPECT_EQ(w->transition_to_idle(), IdleOutcome::Idle);
        EXPECT_EQ(w->load().bits, IDLE | keep | c);
        w = make();
        EXPECT_EQ(w->transition_to_notified(), NotifyOutcome::DoNothing);
        EXPECT_EQ(w->load().bits, RUNNING | NOTIFIED | keep | c);
        EXPECT_EQ(w->transition_to_idle(), IdleOutcome::Reschedule);
        EXPECT_EQ(w->load().bits, SCHEDULED | keep | c);
      }
      {
        auto w = make();
        const NotifyOutcome expect = st.life == IDLE ? NotifyOutcome::Submit : NotifyOutcome::DoNothing;
        EXPECT_EQ(w->transition_to_notified(), expect);
        const Bits after = st.life == IDLE      ? SCHEDULED | keep | c
                           : st.life == RUNNING ? start | NOTIFIED
                                                : start;
        EXPECT_EQ(w->load().bits, after);
      }
      if (st.life == RUNNING || (st.life == SCHEDULED && !st.started)) {
        auto w = make();
        auto prev = w->transition_to_complete();
        EXPECT_EQ(prev.bits, start);
        EXPECT_EQ(prev.has(JOIN_WAITER), jw);
        EXPECT_EQ(w->load().bits, COMPLETE | keep);
      }
      {
        auto w = make();
        EXPECT_EQ(w->request_cancel().bits, start);
        EXPECT_EQ(w->load().bits, st.life == COMPLETE ? start : start | CANCEL_REQUESTED);
      }
      {
        auto w = make();
        EXPECT_EQ(w->take_cancel_request(), c != 0);
        EXPECT_EQ(w->load().bits, start & ~CANCEL_REQUESTED);
      }
      {
        auto w = make();
        const JoinRegistration expect = st.life == COMPLETE ? JoinRegistration::Complete
                                        : jw               ? JoinRegistration::Busy
                                                           : JoinRegistration::Registered;
        EXPECT_EQ(w->set_join_waiter(), expect);
        EXPECT_EQ(w->load().bits, expect == JoinRegistration::Registered ? start | JOIN_WAITER : start);
      }
      if (jw || st.life == COMPLETE) {
        auto w = make();
        EXPECT_EQ(w->unset_join_waiter(), st.life != COMPLETE);
        EXPECT_EQ(w->load().bits, st.life == COMPLETE ? start : start & ~JOIN_WAITER);
      }
      if (ji) {
        auto w = make();
        w->drop_join_interest();
        EXPECT_EQ(w->load().bits, start & ~JOIN_INTEREST);
      }
      {
        auto w = make();
        w->ref_inc();
        EXPECT_EQ(w->load().bits, start + REF_ONE);
        EXPECT_FALSE(w->ref_dec());
        EXPECT_FALSE(w->ref_dec());
        EXPECT_EQ(w->load().bits, start - REF_ONE);
      }
    }
  }
}

// ---------------------------------------------------------------------------------
// Random model test.

// An independent, obviously-correct model: plain fields, no bit twiddling in the
// transitions; encode() builds the word the real implementation should hold.
struct Model {
  enum Life : Bits { Idle = 0, Scheduled = 1, Running = 2, Complete = 3 };
  Life life = Scheduled;
  bool notified = false;
  bool cancel = false;
  bool join_interest = false;
  bool join_waiter = false;
  bool started = false;
  std::uint64_t refs = 0;

  Bits encode() const {
    Bits b = static_cast<Bits>(life);
    if (notified) b |= NOTIFIED;
    if (cancel) b |= CANCEL_REQUESTED;
    if (join_interest) b |= JOIN_INTEREST;
    if (join_waiter) b |= JOIN_WAITER;
    if (started) b |= STARTED;
    return b | refs * REF_ONE;
  }
};

enum class Op {
  Running,
  Idle,
  Notified,
  Complete,
  RequestCancel,
  TakeCancel,
  SetJoinWaiter,
  UnsetJoinWaiter,
  DropJoinInterest,
  RefInc,
  RefDec,
  kCount
};

const char* op_name(Op op) {
  switch (op) {
    case Op::Running: return "transition_to_running";
    case Op::Idle: return "transition_to_idle";
    case Op::Notified: return "transition_to_notified";
    case Op::Complete: return "transition_to_complete";
    case Op::RequestCancel: return "request_cancel";
    case Op::TakeCancel: return "take_cancel_request";
    case Op::SetJoinWaiter: return "set_join_waiter";
    case Op::UnsetJoinWaiter: return "unset_join_waiter";
    case Op::DropJoinInterest: return "drop_join_interest";
    case Op::RefInc: return "ref_inc";
    case Op::RefDec: return "ref_dec";
    case Op::kCount: break;
  }
  return "?";
}

// The documented preconditions, on the model.
bool legal(const Model& m, Op op) {
  switch (op) {
    case Op::Running: return m.life == Model::Scheduled;
    case Op::Idle: return m.life == Model::Running;
    case Op::Notified: return true;
    case Op::Complete:
      return m.life == Model::Running || (m.life == Model::Scheduled && !m.started);
    case Op::RequestCancel: return true;
    case Op::TakeCancel: return true;
    case Op::SetJoinWaiter: return true;  // Busy when already set: defined, reported
    case Op::UnsetJoinWaiter: return m.life == Model::Complete || m.join_waiter;
    case Op::DropJoinInterest: return m.join_interest;  // cleared once
    case Op::RefInc: return m.refs >= 1 && m.refs < 16;  // bounded so refs also drain
    case Op::RefDec: return m.refs >= 1;
    case Op::kCount: break;
  }
  return false;
}

TEST(TaskState, RandomLegalOperationsMatchModel) {
  constexpr std::uint32_t kSeed = 0x7a5c5eedu;
  constexpr int kOps = 100'000;
  std::mt19937 rng(kSeed);
  SCOPED_TRACE("seed=" + std::to_string(kSeed));

  std::unique_ptr<TaskStateWord> w;
  Model m;
  int episodes = 0;
  int op_counts[static_cast<int>(Op::kCount)] = {};
  auto new_task = [&] {
    m = Model{};
    m.refs = 1 + rng() % 4;
    m.join_interest = rng() % 2;
    w = std::make_unique<TaskStateWord>(m.refs, m.join_interest);
    ++episodes;
  };
  new_task();

  for (int step = 0; step < kOps; ++step) {
    Op op;
    do {
      op = static_cast<Op>(rng() % static_cast<unsigned>(Op::kCount));
    } while (!legal(m, op));
    ++op_counts[static_cast<int>(op)];
    const Bits before = m.encode();
    auto where = [&] {
      return "seed=" + std::to_string(kSeed) + " step=" + std::to_string(step) + " op=" +
             op_name(op) + " model_before=" + std::to_string(before);
    };

    bool freed = false;
    switch (op) {
      case Op::Running: {
        auto prev = w->transition_to_running();
        ASSERT_EQ(prev.bits, before) << where();
        m.life = Model::Running;
        m.notified = false;
        m.started = true;
        break;
      }
      case Op::Idle: {
        auto got = w->transition_to_idle();
        const bool resched = m.notified;
        ASSERT_EQ(got, resched ? IdleOutcome::Reschedule : IdleOutcome::Idle) << where();
        m.life = resched ? Model::Scheduled : Model::Idle;
        m.notified = false;
        break;
      }
      case Op::Notified: {
        auto got = w->transition_to_notified();
        NotifyOutcome expect = NotifyOutcome::DoNothing;
        if (m.life == Model::Idle) {
          m.life = Model::Scheduled;
          expect = NotifyOutcome::Submit;
        } else if (m.life == Model::Running) {
          m.notified = true;
        }
        ASSERT_EQ(got, expect) << where();
        break;
      }
      case Op::Complete: {
        auto prev = w->transition_to_complete();
        ASSERT_EQ(prev.bits, before) << where();
        m.life = Model::Complete;
        m.notified = false;
        m.cancel = false;
        break;
      }
      case Op::RequestCancel: {
        auto prev = w->request_cancel();
        ASSERT_EQ(prev.bits, before) << where();
        if (m.life != Model::Complete) m.cancel = true;
        break;
      }
      case Op::TakeCancel: {
        const bool got = w->take_cancel_request();
        ASSERT_EQ(got, m.cancel) << where();
        m.cancel = false;
        break;
      }
      case Op::SetJoinWaiter: {
        auto got = w->set_join_waiter();
        JoinRegistration expect;
        if (m.life == Model::Complete) {
          expect = JoinRegistration::Complete;
        } else if (m.join_waiter) {
          expect = JoinRegistration::Busy;
        } else {
          expect = JoinRegistration::Registered;
          m.join_waiter = true;
        }
        ASSERT_EQ(got, expect) << where();
        break;
      }
      case Op::UnsetJoinWaiter: {
        const bool got = w->unset_join_waiter();
        const bool expect = m.life != Model::Complete;
        if (expect) m.join_waiter = false;
        ASSERT_EQ(got, expect) << where();
        break;
      }
      case Op::DropJoinInterest:
        w->drop_join_interest();
        m.join_interest = false;
        break;
      case Op::RefInc:
        w->ref_inc();
        ++m.refs;
        break;
      case Op::RefDec: {
        const bool got = w->ref_dec();
        --m.refs;
        ASSERT_EQ(got, m.refs == 0) << where();
        freed = m.refs == 0;
        break;
      }
      case Op::kCount:
        FAIL();
    }
    ASSERT_EQ(w->load().bits, m.encode()) << where();
    // Derived views agree too.
    ASSERT_EQ(w->load().refs(), m.refs) << where();
    ASSERT_EQ(w->cancel_requested_relaxed(), m.cancel) << where();
    ASSERT_EQ(w->load().is_complete(), m.life == Model::Complete) << where();
    if (freed) new_task();  // the frame is gone: start a new task
  }
  // The walk visited every operation, and many task lifetimes.
  for (int i = 0; i < static_cast<int>(Op::kCount); ++i)
    EXPECT_GT(op_counts[i], 100) << op_name(static_cast<Op>(i));
  EXPECT_GT(episodes, 50);
}

}  // namespace
