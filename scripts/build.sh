#!/usr/bin/env bash
# Configures and builds into build/ (binary: build/dreamstream). Extra args go to cmake.
set -euo pipefail
cd "$(dirname "$0")/.."
# Share compiled objects between checkouts (a CI clone hits the cache of an earlier build).
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
# The browser libraries the pages load (hls.js), embedded with web/: from npm (scripts/setup.sh
# installs it); without npm the server builds, and the pages' HLS path has no player to load.
if command -v npm >/dev/null; then
  scripts/vendor_web.sh
elif [ ! -f web/js/vendor/hls/hls.light.min.mjs ]; then
  echo "build: npm not found, web/js/vendor/ left empty (run scripts/setup.sh): the pages cannot play HLS" >&2
fi
werror=OFF
[ "${CI:-}" = "true" ] && werror=ON
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDS_WERROR=$werror "$@" >/dev/null
cmake --build build -j"$(nproc)"
