// The example of README.md: spawn, await a handle, cancel a task and tell its
// cancellation (TaskCancelled) from our own. Prints "not needed".
#include <weft/weft.hpp>
#include <cstdio>

weft::Task<int> twice(int x) { co_return 2 * x; }
weft::Task<int> busy() {                             // runs until cancelled
  for (;;) co_await weft::this_task::yield();
}

weft::Task<int> run() {
  weft::JoinHandle<int> a = weft::spawn(twice(21));  // runs on some worker
  weft::JoinHandle<int> b = weft::spawn(busy());
  b.cancel("not needed");                            // CancelledError at its next co_await
  try { co_await b; } catch (const weft::TaskCancelled& e) { std::puts(e.what()); }
  co_return co_await a;                              // 42
}

int main() { weft::Runtime rt; return rt.block_on(run()) == 42 ? 0 : 1; }
