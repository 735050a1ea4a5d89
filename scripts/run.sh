#!/usr/bin/env bash
# Quick start: installs what is missing, builds, and serves on http://127.0.0.1:8080
# with the embedded defaults (SQLite in ./data, one built-in CPU worker).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
exec build/dreamstream serve "$@"
