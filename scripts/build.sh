#!/usr/bin/env bash
# Configures and builds into build/ (binary: build/dreamstream). Extra args go to cmake.
set -euo pipefail
cd "$(dirname "$0")/.."
# Share compiled objects between checkouts (a CI clone hits the cache of an earlier build).
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
werror=OFF
[ "${CI:-}" = "true" ] && werror=ON
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDS_WERROR=$werror "$@" >/dev/null
cmake --build build -j"$(nproc)"
