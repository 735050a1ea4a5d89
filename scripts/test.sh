#!/usr/bin/env bash
# Installs what is missing (including Chromium, PostgreSQL, Redis), builds, and runs every test.
# Extra arguments go to ctest (`scripts/test.sh -R unit`, `scripts/test.sh -j1`). Tests run
# side by side: most of them wait on servers, sockets and timers rather than compute, so the
# default is twice as many at once as there are cores (CTEST_PARALLEL_LEVEL or -jN changes it;
# docs/performance.md#8-the-test-suites-time).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
scripts/build.sh
cd build
export CTEST_PARALLEL_LEVEL="${CTEST_PARALLEL_LEVEL:-$(($(nproc) * 2))}"
status=0
ctest --output-on-failure --timeout 900 "$@" || status=$?
# The reasons last, where a log cut to its head and tail still shows them.
[ "$status" -eq 0 ] || python3 ../scripts/failure_digest.py Testing/Temporary/LastTest.log || true
exit "$status"
