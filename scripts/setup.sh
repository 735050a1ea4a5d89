#!/usr/bin/env bash
# Installs what DreamStream needs on Debian 12, idempotently: only missing packages are fetched.
# Usage: scripts/setup.sh [--test]   (--test adds what the test suites need: chromium, postgres, redis, nginx, node deps)
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

packages=(
  build-essential cmake pkg-config ccache
  libboost1.74-dev nlohmann-json3-dev libsqlite3-dev libsoci-dev libpq-dev
  libhiredis-dev libsodium-dev libssl-dev libcurl4-openssl-dev libspdlog-dev libfmt-dev libcli11-dev
  libopencv-dev libgtest-dev libgmock-dev libbenchmark-dev
  libavformat-dev libavcodec-dev libavdevice-dev libswscale-dev libavutil-dev
  python3 curl ca-certificates
  # npm: scripts/vendor_web.sh puts hls.js (the pages' HLS path) into web/js/vendor/ before the build.
  nodejs npm
)
if [ "$want_test" = 1 ]; then
  # nginx: tests/browser/cluster_nginx.py runs deploy/nginx.conf in front of two nodes (Debian 12's
  # `nginx` has the proxy, upstream and map modules; nginx-light only adds the echo module to it).
  packages+=(chromium nodejs npm postgresql python3-psycopg2 redis-server sqlite3 nginx)
  # scripts/fuzz.sh: clang and its compiler-rt (libFuzzer, ASan, UBSan runtimes); ctest format:
  # scripts/check_format.sh pins clang-format 14, Debian 12's.
  packages+=(clang libclang-rt-14-dev clang-format-14)
  # push --input: the unit and integration tests publish generated test patterns with ffmpeg;
  # its ffprobe reads the video units and the HLS playlists (test_video, test_hls).
  packages+=(ffmpeg)
  # tests/integration/test_python_package.py: pip-installs clients/python into a venv offline
  # (--system-site-packages --no-build-isolation: Debian's setuptools and wheel build it).
  packages+=(python3-venv python3-setuptools python3-wheel)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# nodejs from another source may already provide node and npm.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
filtered=()
for p in "${missing[@]}"; do [ -n "$p" ] && filtered+=("$p"); done

if [ ${#filtered[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup: installing ${filtered[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${filtered[@]}" >/dev/null
fi

scripts/vendor_web.sh
if [ "$want_test" = 1 ] && [ -f tests/browser/package.json ]; then
  if [ ! -d tests/browser/node_modules ] || [ tests/browser/package-lock.json -nt tests/browser/node_modules ]; then
    (cd tests/browser && npm ci --no-audit --no-fund --silent)
  fi
fi
if [ "$want_test" = 1 ] && [ -f clients/js/package-lock.json ]; then
  if [ ! -d clients/js/node_modules ] || [ clients/js/package-lock.json -nt clients/js/node_modules ]; then
    (cd clients/js && npm ci --no-audit --no-fund --silent)
  fi
fi
# The Next.js example (ctest -L nextjs); scripts/run.sh never installs it.
if [ "$want_test" = 1 ] && [ -f examples/nextjs/package.json ]; then
  if [ ! -d examples/nextjs/node_modules ] || [ examples/nextjs/package-lock.json -nt examples/nextjs/node_modules ]; then
    (cd examples/nextjs && NEXT_TELEMETRY_DISABLED=1 npm ci --no-audit --no-fund --silent)
  fi
fi
if [ "$want_test" = 1 ] && [ -f bench/node-baseline/package.json ] && [ ! -d bench/node-baseline/node_modules ]; then
  (cd bench/node-baseline && npm ci --no-audit --no-fund --silent)
fi
echo "setup: ok"
