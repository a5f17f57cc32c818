#pragma once
// Where a task was spawned, for Runtime::tasks() and dump(): taken from the caller of
// spawn by a defaulted argument, `SpawnSite site = SpawnSite::here()`, whose own
// defaulted argument names the caller's line (a source-location builtin in a defaulted
// argument is evaluated at the outermost call).
//
// Every task header holds one, and a sleeping task costs its header (bench/memory): one
// pointer where the compiler has std::source_location (g++ 12, clang 15), a file and a
// line elsewhere (clang 14, which weft uses for its sanitizer builds only).
#include <version>
#if defined(__cpp_lib_source_location)
#include <source_location>
#endif

namespace weft::detail {

// No default constructor, on purpose: `spawn(task, {})` must mean the SpawnOptions
// overload (API.md), and an empty brace list that could also make a SpawnSite would
// make the call ambiguous (or, with a pointer here, pick the wrong overload).
class SpawnSite {
 public:
#if defined(__cpp_lib_source_location)
  static constexpr SpawnSite unknown() noexcept { return SpawnSite(std::source_location()); }  // "" and line 0
#else
  static constexpr SpawnSite unknown() noexcept { return SpawnSite("", 0); }
#endif
#if defined(__cpp_lib_source_location)
  static constexpr SpawnSite here(std::source_location where = std::source_location::current()) noexcept {
    return SpawnSite(where);
  }
  const char* file() const noexcept { return where_.file_name(); }
  unsigned line() const noexcept { return where_.line(); }

 private:
  explicit constexpr SpawnSite(std::source_location where) noexcept : where_(where) {}
  std::source_location where_;
#else
  static constexpr SpawnSite here(const char* file = __builtin_FILE(), unsigned line = __builtin_LINE()) noexcept {
    return SpawnSite(file, line);
  }
  const char* file() const noexcept { return file_; }
  unsigned line() const noexcept { return line_; }

 private:
  constexpr SpawnSite(const char* file, unsigned line) noexcept : file_(file != nullptr ? file : ""), line_(line) {}
  const char* file_;
  unsigned line_;
#endif
};

}  // namespace weft::detail
