#!/usr/bin/env bash
# Installs what is missing (including Chromium, PostgreSQL, Redis), builds, and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
scripts/build.sh
cd build
ctest --output-on-failure --timeout 900 "$@"
