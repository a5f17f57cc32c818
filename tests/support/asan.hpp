#pragma once
// For the tests whose evidence needs AddressSanitizer (a use after free that only its
// poisoned memory shows): WEFT_TEST_ASAN is defined in an ASan build (g++ or clang), and
// there __asan_address_is_poisoned tells whether an address lies in freed memory.
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT_TEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(WEFT_TEST_ASAN)
#define WEFT_TEST_ASAN 1
#endif

#ifdef WEFT_TEST_ASAN
extern "C" int __asan_address_is_poisoned(void const volatile* addr);
#endif
