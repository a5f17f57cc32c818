# WEFT_SANITIZE=thread|address (address means ASan + UBSan), for the whole build.
# Use clang for these builds: g++ 12 drops the symmetric-transfer tail call under
# -fsanitize, so the million-await test would overflow the stack.
set(WEFT_SANITIZE "" CACHE STRING "Sanitizer build: thread, address or empty")
if(WEFT_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
  add_compile_definitions(WEFT_TSAN=1)
elseif(WEFT_SANITIZE STREQUAL "address")
  # -fno-sanitize=function: clang 14's "function" check (part of "undefined") fails to
  # compile some coroutines ("Cannot represent a difference across sections").
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined
                      $<$<CXX_COMPILER_ID:Clang>:-fno-sanitize=function>)
  add_link_options(-fsanitize=address,undefined)
  add_compile_definitions(WEFT_ASAN=1)
elseif(NOT WEFT_SANITIZE STREQUAL "")
  message(FATAL_ERROR "WEFT_SANITIZE must be thread, address or empty")
endif()
