#!/usr/bin/env bash
# Packaging check: weft used from another CMake project, both supported ways.
#   1. build weft alone, `cmake --install` it into a temporary prefix, then build
#      and run find_package_consumer/ against that prefix;
#   2. build and run add_subdirectory_consumer/, which vendors this checkout.
# Everything happens in a temporary directory (removed afterwards; set
# WEFT_KEEP_TMP=1 to keep it). Usage: tests/cmake/check_packaging.sh
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
JOBS="${WEFT_JOBS:-$(nproc 2>/dev/null || echo 1)}"
CXX="${CXX:-g++}"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/weft-packaging.XXXXXX")"
cleanup() {
  if [[ "${WEFT_KEEP_TMP:-0}" == 1 ]]; then
    echo "packaging: kept $TMP" >&2
  else
    rm -rf "$TMP"
  fi
}
trap cleanup EXIT

step() { printf 'packaging: %s\n' "$*"; }

# quiet_run <log> <command...>: show the output only when the command fails.
quiet_run() {
  local log="$1"; shift
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2
    printf 'packaging: FAILED: %s\n' "$*" >&2
    exit 1
  fi
}

step "building weft (library only) and installing it into a temporary prefix"
quiet_run "$TMP/weft-configure.log" cmake -S "$ROOT" -B "$TMP/weft-build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER="$CXX" \
  -DWEFT_BUILD_TESTS=OFF -DWEFT_BUILD_BENCH=OFF -DWEFT_BUILD_EXAMPLES=OFF \
  -DWEFT_INSTALL=ON -DCMAKE_INSTALL_PREFIX="$TMP/prefix"
quiet_run "$TMP/weft-build.log" cmake --build "$TMP/weft-build" -j "$JOBS"
quiet_run "$TMP/weft-install.log" cmake --install "$TMP/weft-build"
[[ -f "$TMP/prefix/include/weft/weft.hpp" ]] || { echo "packaging: weft/weft.hpp not installed" >&2; exit 1; }
config="$(find "$TMP/prefix" -name weftConfig.cmake -print -quit)"
[[ -n "$config" ]] || { echo "packaging: weftConfig.cmake not installed" >&2; exit 1; }
step "installed: ${config#"$TMP/prefix/"}"

step "find_package consumer: configure, build, run"
quiet_run "$TMP/fp-configure.log" cmake -S "$HERE/find_package_consumer" -B "$TMP/fp-build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER="$CXX" -DCMAKE_PREFIX_PATH="$TMP/prefix"
quiet_run "$TMP/fp-build.log" cmake --build "$TMP/fp-build" -j "$JOBS"
# The installed CMake package must not point back into this source tree.
cmakedir="$(dirname "$config")"
if grep -rqF "$ROOT" "$cmakedir"; then
  echo "packaging: installed CMake files mention the source tree $ROOT:" >&2
  grep -rnF "$ROOT" "$cmakedir" >&2
  exit 1
fi
"$TMP/fp-build/consumer"

step "add_subdirectory consumer: configure, build, run"
quiet_run "$TMP/as-configure.log" cmake -S "$HERE/add_subdirectory_consumer" -B "$TMP/as-build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER="$CXX" -DWEFT_SOURCE_DIR="$ROOT"
quiet_run "$TMP/as-build.log" cmake --build "$TMP/as-build" -j "$JOBS"
"$TMP/as-build/consumer"

step "OK"
