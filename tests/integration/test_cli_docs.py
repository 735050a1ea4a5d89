"""`serve --help` and docs/operations.md's options table cannot drift (issue 24).

Every `serve` option has a DREAMSTREAM_* variable shown in --help, the table lists each option
with that variable, and no table row names an option `serve` does not have. `--log-level` works
before and after the subcommand, and from the environment; a bad level is refused.
"""

import os
import re
import subprocess
import unittest

from harness import Server, binary_path

HERE = os.path.dirname(os.path.abspath(__file__))
OPERATIONS = os.path.normpath(os.path.join(HERE, "..", "..", "docs", "operations.md"))


def help_options(text):
    """{--option: env or None} from CLI11's help text."""
    found = {}
    matches = list(re.finditer(r"^\s+(?:-\w,\s*)?(--[a-z0-9-]+)", text, re.M))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        env = re.search(r"\(Env:([A-Z0-9_]+)\)", text[m.start():end])
        found[m.group(1)] = env.group(1) if env else None
    found.pop("--help", None)
    return found


def doc_options():
    """{--option: env} from the first table of docs/operations.md ("| option | env | default |")."""
    with open(OPERATIONS, encoding="utf-8") as f:
        lines = f.read().split("\n")
    start = lines.index("| option | env | default |")
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        opts = re.findall(r"`(--[a-z0-9-]+)", cells[0])
        envs = re.findall(r"DREAMSTREAM_[A-Z0-9_]+", cells[1])
        if not opts:
            continue  # Stripe's variables
        if len(opts) != len(envs):
            raise AssertionError("row %r: %d options, %d variables" % (line, len(opts), len(envs)))
        rows.update(zip(opts, envs))
    return rows


def run(*args, env=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("DREAMSTREAM_")}
    e.update(env or {})
    return subprocess.run([binary_path()] + list(args), capture_output=True, text=True,
                          timeout=30, env=e)


class TestServeOptionsDocumented(unittest.TestCase):
    def test_help_and_table_agree(self):
        out = run("serve", "--help")
        self.assertEqual(out.returncode, 0, out.stderr)
        shown = help_options(out.stdout)
        self.assertGreater(len(shown), 20, out.stdout)
        no_env = sorted(o for o, e in shown.items() if e is None)
        self.assertEqual(no_env, [], "every serve option has a DREAMSTREAM_* variable")
        documented = doc_options()
        self.assertEqual(sorted(set(shown) - set(documented)), [],
                         "options missing from docs/operations.md")
        self.assertEqual(sorted(set(documented) - set(shown)), [],
                         "documented options serve does not have")
        for option, env in shown.items():
            self.assertEqual(documented[option], env, option)


class TestLogLevel(unittest.TestCase):
    def test_after_the_subcommand_and_from_the_environment(self):
        for args, env in ((["serve", "--log-level", "debug"], None),
                          (["--log-level", "debug", "serve"], None),
                          (["serve"], {"DREAMSTREAM_LOG_LEVEL": "debug"})):
            out = run(*args, "--help", env=env)
            self.assertEqual(out.returncode, 0, (args, out.stderr))
        out = run("serve", "--log-level", "loud")
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("--log-level", out.stderr + out.stdout)

    def test_level_after_the_subcommand_takes_effect(self):
        logs = {}
        for level in ("warn", "info"):
            with Server(args=["--log-level", level]) as server:
                server.client().get("/healthz")
                server.stop()
                logs[level] = server.logs()
        self.assertIn("event=listening", logs["info"])
        self.assertNotIn("event=listening", logs["warn"])


if __name__ == "__main__":
    unittest.main()
