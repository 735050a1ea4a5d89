#!/usr/bin/env bash
# Copies the browser libraries the pages load out of npm into web/js/vendor/ (not in git), where
# the build embeds them with the rest of web/ and `serve --web-dir web` serves them from disk:
#   web/js/vendor/hls/hls.light.min.mjs  hls.js (vendor/web/package.json pins the version): the
#                                        watch and embed pages' HLS path (web/js/hls_player.js)
#   web/js/vendor/hls/LICENSE.txt        its licence (Apache-2.0), served next to it
# Run by scripts/setup.sh and scripts/build.sh; needs npm. Idempotent: npm runs only when
# vendor/web/node_modules is missing or older than the lockfile, and a file is copied only when
# it differs (an unchanged copy does not re-embed the assets).
set -euo pipefail
cd "$(dirname "$0")/.."
src=vendor/web
if [ ! -d "$src/node_modules/hls.js" ] || [ "$src/package-lock.json" -nt "$src/node_modules" ]; then
  (cd "$src" && npm ci --no-audit --no-fund --silent)
  touch "$src/node_modules"
fi
out=web/js/vendor/hls
mkdir -p "$out"
copy() {
  cmp -s "$1" "$2" || cp "$1" "$2"
}
copy "$src/node_modules/hls.js/dist/hls.light.min.mjs" "$out/hls.light.min.mjs"
copy "$src/node_modules/hls.js/LICENSE" "$out/LICENSE.txt"
