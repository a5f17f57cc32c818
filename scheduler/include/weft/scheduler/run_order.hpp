#pragma once
// RunOrder: the order in which a worker runs the tasks queued on it. Part of the public
// API (RuntimeOptions::run_order, re-exported by <weft/weft.hpp>), defined here because
// the scheduler's worker loop is what it configures (scheduler/src/runtime_core_impl.hpp,
// "Order on one worker").
namespace weft {

enum class RunOrder {
  // Last in, first out (the default): a worker runs the task it queued last first, and
  // a task woken by the running one takes the run-next slot from an earlier one. For
  // throughput: a task just spawned or woken runs while its data is in the cache, and
  // a task that spawns and awaits its subtasks (a recursive spawn) goes depth first,
  // with a few tasks alive at once instead of the whole tree.
  Lifo,
  // First in, first out, as asyncio's call_soon: tasks start in the order spawned, and
  // tasks made ready together (cancelled one after the other, woken by one event) run
  // in that order; the first task woken by the running one still runs next (unless
  // that slot has run three times in a row, or timers fired on the worker's periodic
  // look at them already filled it). On one
  // worker, the order of asyncio's single-threaded loop. It costs a recursive spawn
  // dearly (breadth first: bench/README.md) and a spawn a little; gather is unaffected.
  Fifo,
};

}  // namespace weft
