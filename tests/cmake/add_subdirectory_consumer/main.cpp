// Smallest weft user: one lazy task, run to completion on a default runtime.
#include <weft/weft.hpp>

#include <cstdio>

weft::Task<int> answer() { co_return 42; }

int main() {
  weft::Runtime rt;
  const int got = rt.block_on(answer());
  std::printf("weft consumer: block_on(answer()) = %d\n", got);
  return got == 42 ? 0 : 1;
}
