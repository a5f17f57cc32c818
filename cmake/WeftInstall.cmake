# Install rules for weft (included from the top CMakeLists when WEFT_INSTALL is on).
#
#   <prefix>/lib/libweft.a                         the library
#   <prefix>/include/weft/...                      headers of core/, scheduler/, api/
#   <prefix>/lib/cmake/weft/weftTargets.cmake      the export set, as weft::weft
#   <prefix>/lib/cmake/weft/weftConfig.cmake       find_package(weft) entry point
#   <prefix>/lib/cmake/weft/weftConfigVersion.cmake
#   <prefix>/lib/cmake/weft/Findconcurrentqueue.cmake
#
# weft links concurrentqueue::concurrentqueue PRIVATE; for a static library the
# export still names it (as $<LINK_ONLY:...>), so the installed config defines it
# again through the same find module, installed beside the config.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(WEFT_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/weft"
    CACHE STRING "Where weft's CMake package files are installed, relative to the prefix")

install(TARGETS weft
  EXPORT weftTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# Must match the $<INSTALL_INTERFACE:include> of the weft target.
foreach(layer core scheduler api)
  install(DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}/${layer}/include/"
    DESTINATION include
    FILES_MATCHING PATTERN "*.hpp" PATTERN "*.h" PATTERN "*.ipp" PATTERN "*.inl")
endforeach()

install(EXPORT weftTargets
  NAMESPACE weft::
  FILE weftTargets.cmake
  DESTINATION "${WEFT_INSTALL_CMAKEDIR}")

configure_package_config_file(
  "${CMAKE_CURRENT_SOURCE_DIR}/cmake/weftConfig.cmake.in"
  "${CMAKE_CURRENT_BINARY_DIR}/weftConfig.cmake"
  INSTALL_DESTINATION "${WEFT_INSTALL_CMAKEDIR}")
write_basic_package_version_file(
  "${CMAKE_CURRENT_BINARY_DIR}/weftConfigVersion.cmake"
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMajorVersion)

install(FILES
  "${CMAKE_CURRENT_BINARY_DIR}/weftConfig.cmake"
  "${CMAKE_CURRENT_BINARY_DIR}/weftConfigVersion.cmake"
  "${CMAKE_CURRENT_SOURCE_DIR}/cmake/Findconcurrentqueue.cmake"
  DESTINATION "${WEFT_INSTALL_CMAKEDIR}")
