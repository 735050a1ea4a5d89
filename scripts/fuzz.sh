#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang with ASan+UBSan) into build-fuzz/ and runs
# each for SECONDS (default 60) on a scratch copy of its seed corpus. Prints one line per
# target and exits non-zero if any target crashed; the crashing input stays under
# build-fuzz/artifacts/<target>/ (replay it: build-fuzz/fuzz/fuzz_<target> <file>).
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -eq 0 ] &&
  targets=(http_request api_json worker_message ingest_message jpeg mjpeg_splitter stripe_signature
            node_message)

export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
jobs=${DS_FUZZ_JOBS:-$(nproc)}
build_start=$SECONDS
mkdir -p build-fuzz
build_log=build-fuzz/build.log
if ! { CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDS_FUZZ=ON \
         -DDS_BUILD_TESTS=OFF -DDS_BUILD_BENCH=OFF &&
       cmake --build build-fuzz -j"$jobs" --target "${targets[@]/#/fuzz_}"; } >"$build_log" 2>&1; then
  tail -n 40 "$build_log"
  echo "fuzz: build failed (log: $build_log)"
  exit 1
fi
echo "fuzz: built ${#targets[@]} targets in $((SECONDS - build_start)) s"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
for t in "${targets[@]}"; do
  mkdir -p "$work/$t/corpus" "$work/$t/tmp" "build-fuzz/artifacts/$t"
  cp tests/fuzz/corpus/"$t"/* "$work/$t/corpus/"
  args=(-max_total_time="$seconds" -rss_limit_mb=2048 -timeout=25 -print_final_stats=1
        -artifact_prefix="build-fuzz/artifacts/$t/")
  [ -f "tests/fuzz/dict/$t.dict" ] && args+=(-dict="tests/fuzz/dict/$t.dict")
  # The API targets keep state between inputs (a database, the hub), so nearly every input
  # would trigger libFuzzer's per-input leak scan; LeakSanitizer still checks at exit.
  case "$t" in http_request | api_json) args+=(-detect_leaks=0) ;; esac
  log="build-fuzz/artifacts/$t/last-run.log"
  # The API targets keep their temporary database under TMPDIR, removed with the scratch dir.
  if TMPDIR="$work/$t/tmp" "build-fuzz/fuzz/fuzz_$t" "${args[@]}" "$work/$t/corpus" >"$log" 2>&1; then
    result=ok
  else
    artifact=$(grep -ao 'Test unit written to .*' "$log" | tail -1 | cut -d' ' -f5-)
    result="CRASH ${artifact:-(no input saved: see the log)}"
    failed=1
  fi
  execs=$(grep -ao 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)
  cov=$(grep -ao 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)
  corpus=$(find "$work/$t/corpus" -type f | wc -l)
  printf 'fuzz: %-17s %10s execs in %s s  cov %-6s corpus %-5s %s\n' "$t" "${execs:-?}" "$seconds" \
    "${cov:-?}" "$corpus" "$result"
  if [ "$result" != ok ]; then
    grep -aE 'ERROR: |fuzz invariant broken|runtime error|SUMMARY' "$log" | head -5 | sed 's/^/      /'
    echo "      log: $log"
  fi
done
exit "$failed"
