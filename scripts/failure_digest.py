#!/usr/bin/env python3
"""Prints, for each failed ctest entry, the lines that say why it failed.

CI shows only the head and the tail of a run's output, and a failed entry's own output can be
thousands of lines (the unit tests' server logs, a browser test's TAP stream), so the line that
names the failing case is easily cut. scripts/test.sh runs this after a failing ctest, so the
reasons come last, where they are seen. Reads build/Testing/Temporary/LastTest.log.
"""

import re
import sys

# A line that tells why: gtest, node:test (TAP) and Python unittest failures and their details.
kWhy = re.compile(
    r"(: Failure$|\[  FAILED  \]|^not ok |^\s+not ok |Expected|Which is|Value of:|Actual:|"
    r"error:|Error:|Error \[|AssertionError|assert|timed out|TimeoutError|^FAIL:|^ERROR:|"
    r"^Traceback|^\s+File \"|failureType|ERR_|Timeout \d+ms exceeded|strict mode violation)"
)
kAfter = 4  # lines kept after each matching line, for the values a failure prints
kPerTest = 80


def entries(log):
    """Yields (name, output lines, passed) for each entry of a LastTest.log."""
    name, lines, inside = None, [], False
    for raw in log:
        line = raw.rstrip("\n")
        m = re.match(r"^\d+/\d+ Test: (.+)$", line)
        if m:
            name, lines, inside = m.group(1), [], False
            continue
        if line == "Output:":
            continue
        if name and line.startswith("----------") and not inside and not lines:
            inside = True
            continue
        if inside and line == "<end of output>":
            inside = False
            continue
        if inside:
            lines.append(line)
        elif name and line.startswith(("Test Passed", "Test Failed")):
            yield name, lines, line.startswith("Test Passed")
            name, lines = None, []


def digest(lines):
    keep, after = [], 0
    for line in lines:
        if kWhy.search(line):
            keep.append(line)
            after = kAfter
        elif after:
            keep.append(line)
            after -= 1
        if len(keep) >= kPerTest:
            keep.append("  [... more in build/Testing/Temporary/LastTest.log]")
            break
    return keep


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "Testing/Temporary/LastTest.log"
    try:
        with open(path, encoding="utf-8", errors="replace") as log:
            failed = [(n, lines) for n, lines, passed in entries(log) if not passed]
    except OSError as e:
        print(f"failure digest: cannot read {path}: {e}")
        return
    if not failed:
        return
    print("\n==== why the failed tests failed (from " + path + ") ====")
    for name, lines in failed:
        print(f"---- {name}")
        kept = digest(lines)
        for line in kept or lines[-20:]:
            print(line[:400])


if __name__ == "__main__":
    main()
