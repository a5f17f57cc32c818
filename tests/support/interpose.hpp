#pragma once
// For tests that interpose a libc function to hold a thread at a chosen point (the
// last-touch tests): the real function behind the interposed one.
#include <dlfcn.h>

namespace weft::test {

// glibc's syscall(), given the six arguments an interposed syscall() read from its
// va_list (it reads six whatever the call passed, as glibc's own does).
inline long real_syscall(long number, const long (&args)[6]) {
  using Fn = long (*)(long, ...);
  static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "syscall"));
  return real(number, args[0], args[1], args[2], args[3], args[4], args[5]);
}

}  // namespace weft::test
