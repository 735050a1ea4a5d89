#!/usr/bin/env bash
# Configures and builds into build/ (binary: build/dreamstream). Extra args go to cmake.
set -euo pipefail
cd "$(dirname "$0")/.."
werror=OFF
[ "${CI:-}" = "true" ] && werror=ON
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDS_WERROR=$werror "$@" >/dev/null
cmake --build build -j"$(nproc)"
