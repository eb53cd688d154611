#!/usr/bin/env bash
# Quick start, command 2: sets up and runs every test: the Release build's
# suites, then the same suites built with AddressSanitizer and UBSan.
# Set RTREC_SKIP_SANITIZE=1 to run the Release suites only.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="${RTREC_JOBS:-$(nproc)}"

scripts/setup.sh
echo "== tests (Release) =="
ctest --test-dir build --output-on-failure -j "$jobs" --timeout 600

if [ "${RTREC_SKIP_SANITIZE:-0}" != "1" ]; then
  scripts/setup.sh --sanitize
  echo "== tests (AddressSanitizer + UBSan) =="
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j "$jobs" --timeout 900
fi
