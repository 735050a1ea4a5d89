#!/usr/bin/env bash
# Fails when a C++ file under src/, tests/ or bench/ differs from what clang-format makes of it
# (.clang-format: Google style, 100 columns). ctest `format` runs it, so CI does. To fix:
#   scripts/check_format.sh --fix
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files 'src/*.cpp' 'src/*.hpp' 'tests/*.cpp' 'tests/*.hpp' \
                                  'bench/*.cpp' 'bench/*.hpp' 'cmake/*.hpp')
# Pinned: another clang-format version formats some constructs differently.
fmt=clang-format-14
command -v "$fmt" >/dev/null || fmt=clang-format
if [ "${1:-}" = "--fix" ]; then
  "$fmt" -i "${files[@]}"
  exit 0
fi
"$fmt" --dry-run --Werror "${files[@]}"
echo "format: ${#files[@]} files clean"
