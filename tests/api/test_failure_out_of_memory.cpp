// A task's failure when memory runs out as it fails. The failure is kept in the
// header's extras, which the failure makes (a task that never fails never pays for
// them: bench/memory). If that allocation fails, the outcome stays "failed", and
// whoever retrieves the failure gets a std::bad_alloc in its place; nothing crashes,
// and the unobserved-failure report, which has lost its runtime with the extras, is
// dropped. A test-local operator new fails the first allocation after the body threw,
// on the worker that runs it (the extras: the exception object itself comes from the
// C++ runtime's own allocator, and copying a std::runtime_error shares its message).
#include <gtest/gtest.h>

#include <atomic>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include <weft/weft.hpp>

#include "failing_operator_new.hpp"

namespace {

using weft::Task;

Task<int> fail_with_memory_gone() {
  const std::runtime_error failure("boom");
  weft::test::fail_allocation_in = 1;  // the next operator new on this worker: the extras
  throw failure;
  co_return 0;
}

Task<int> fail_normally() {
  throw std::runtime_error("boom");
  co_return 0;
}

TEST(FailureOutOfMemory, TheAwaiterGetsBadAllocInsteadOfTheLostFailure) {
  if (!WEFT_TEST_FAILING_NEW) GTEST_SKIP() << "no operator new replacement under ThreadSanitizer";
  std::atomic<int> reports{0};
  weft::Runtime rt({.workers = 1, .on_unobserved_exception = [&](const weft::TaskInfo&, std::exception_ptr) { ++reports; }});
  auto outcome = rt.block_on([]() -> Task<int> {
    auto handle = weft::spawn(fail_with_memory_gone());
    try {
      co_await handle;
    } catch (const std::bad_alloc&) {
      co_return 1;
    } catch (const std::runtime_error&) {
      co_return 2;  // the extras were made after all: the test did not fail what it meant to
    }
    co_return 0;
  }());
  EXPECT_EQ(outcome, 1);
  EXPECT_EQ(reports.load(), 0);
}

// The control first: the same task failing with memory to spare is reported once.
int reports_after_dropping(Task<int> (*body)()) {
  std::atomic<int> reports{0};
  {
    weft::Runtime rt({.workers = 1, .on_unobserved_exception = [&](const weft::TaskInfo&, std::exception_ptr) { ++reports; }});
    rt.block_on([](Task<int> (*make)()) -> Task<void> {
      std::vector<weft::JoinHandle<int>> handles;
      handles.push_back(weft::spawn(make()));
      co_await weft::wait(handles);  // ends with the task; retrieves nothing
    }(body));
  }
  return reports.load();
}

TEST(FailureOutOfMemory, AnUnretrievedLostFailureIsNotReported) {
  if (!WEFT_TEST_FAILING_NEW) GTEST_SKIP() << "no operator new replacement under ThreadSanitizer";
  EXPECT_EQ(reports_after_dropping(fail_normally), 1);
  EXPECT_EQ(reports_after_dropping(fail_with_memory_gone), 0);
}

// The extras can still be made after the failure lost its own: JoinHandle::name() makes
// them (the name "task-<id>"). The report then found extras, with no failure and no
// runtime in them, and reported a null exception_ptr to runtime 0: no handler there, so
// the default report rethrew the null failure to describe it (a crash, SIGSEGV).
TEST(FailureOutOfMemory, ALostFailureIsNotReportedWhenTheExtrasAreMadeAfterIt) {
  if (!WEFT_TEST_FAILING_NEW) GTEST_SKIP() << "no operator new replacement under ThreadSanitizer";
  std::atomic<int> reports{0};
  testing::internal::CaptureStderr();
  {
    weft::Runtime rt({.workers = 1, .on_unobserved_exception = [&](const weft::TaskInfo&, std::exception_ptr) { ++reports; }});
    rt.block_on([]() -> Task<void> {
      std::vector<weft::JoinHandle<int>> handles;
      handles.push_back(weft::spawn(fail_with_memory_gone()));
      co_await weft::wait(handles);  // ends with the task; retrieves nothing
      EXPECT_FALSE(handles[0].name().empty());  // makes the extras now
    }());
  }
  const std::string printed = testing::internal::GetCapturedStderr();
  EXPECT_EQ(reports.load(), 0);
  EXPECT_EQ(printed.find("nobody retrieved"), std::string::npos) << printed;
}

}  // namespace
