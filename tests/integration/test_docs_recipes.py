"""The commands docs/integration.md gives a newcomer work as written (issue 24).

- the fresh-machine curl steps (register, stream key, API token with a cookie session and the
  Origin header), run by bash against a real server;
- the npm tarball recipe, run in a fresh project folder offline: the package lands in
  node_modules and no tarball is left in clients/js;
- on Node 20, the flag the docs name gives Node a global WebSocket.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import ServerTestCase

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
DOC = os.path.join(ROOT, "docs", "integration.md")
NODE = shutil.which("node")
NPM = shutil.which("npm")


def doc_text():
    with open(DOC, encoding="utf-8") as f:
        return f.read()


def sh_block_after(marker):
    """The first ```sh block after the line containing marker."""
    text = doc_text()
    at = text.index(marker)
    m = re.compile(r"```sh\n(.*?)```", re.S).search(text, at)
    return m.group(1)


class TestCurlSteps(ServerTestCase):
    def test_fresh_machine_curl_steps_work_as_written(self):
        block = sh_block_after("The same from a terminal")
        self.assertIn("DS=http://127.0.0.1:8080", block)
        script = "set -e\n" + block.replace("DS=http://127.0.0.1:8080", "DS=" + self.server.url)
        tmp = tempfile.mkdtemp(prefix="ds-curl-")
        self.addCleanup(shutil.rmtree, tmp, True)
        out = subprocess.run(["bash", "-c", script], cwd=tmp, capture_output=True, text=True,
                             timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertNotIn('"error"', out.stdout, out.stdout)
        self.assertRegex(out.stdout, r'"stream_key":"dsk_')
        self.assertRegex(out.stdout, r'"token":"dst_')

    def test_a_cookie_request_without_origin_is_told_which_origin(self):
        tmp = tempfile.mkdtemp(prefix="ds-curl-")
        self.addCleanup(shutil.rmtree, tmp, True)
        ds = self.server.url
        script = ("set -e\n"
                  "curl -sS -c jar -H \"Origin: %s\" -H 'Content-Type: application/json' "
                  "-d '{\"username\":\"bob_o\",\"email\":\"bob_o@example.com\","
                  "\"password\":\"correct horse battery\"}' %s/api/auth/register >/dev/null\n"
                  "curl -sS -b jar -X POST %s/api/me/stream-key\n") % (ds, ds, ds)
        out = subprocess.run(["bash", "-c", script], cwd=tmp, capture_output=True, text=True,
                             timeout=60)
        body = json.loads(out.stdout)
        self.assertIn(ds, body["error"]["message"], "the refusal names the expected origin")
        self.assertIn("Origin", body["error"]["message"])


@unittest.skipUnless(NPM and NODE, "needs node and npm")
class TestNpmRecipe(unittest.TestCase):
    def test_the_tarball_recipe_installs_and_leaves_nothing_in_the_checkout(self):
        block = sh_block_after("## JavaScript and TypeScript: the npm package")
        line = next(l for l in block.splitlines() if "npm pack" in l and not l.startswith("#"))
        with open(os.path.join(ROOT, "clients", "js", "package.json")) as f:
            version = json.load(f)["version"]
        self.assertIn("dreamstream-%s.tgz" % version, line, "the docs name the real tarball")
        before = set(os.listdir(os.path.join(ROOT, "clients", "js")))
        project = tempfile.mkdtemp(prefix="ds-npm-")
        self.addCleanup(shutil.rmtree, project, True)
        env = dict(os.environ, npm_config_offline="true", npm_config_audit="false",
                   npm_config_fund="false", npm_config_update_notifier="false")
        out = subprocess.run(["bash", "-c", line.replace("/path/to/dreamstream", ROOT)],
                             cwd=project, capture_output=True, text=True, timeout=120, env=env)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertTrue(os.path.isfile(os.path.join(project, "node_modules", "dreamstream",
                                                    "package.json")))
        after = set(os.listdir(os.path.join(ROOT, "clients", "js")))
        self.assertEqual(after - before, set(), "no tarball left in clients/js")

    def test_node_20_flag_in_the_docs_gives_a_websocket(self):
        major = int(subprocess.run([NODE, "-p", "process.versions.node.split('.')[0]"],
                                   capture_output=True, text=True).stdout)
        self.assertIn("--experimental-websocket", doc_text())
        if major != 20:
            self.skipTest("Node %d" % major)
        plain = subprocess.run([NODE, "-p", "typeof WebSocket"], capture_output=True, text=True)
        flagged = subprocess.run([NODE, "--experimental-websocket", "-p", "typeof WebSocket"],
                                 capture_output=True, text=True)
        self.assertEqual(plain.stdout.strip(), "undefined")
        self.assertEqual(flagged.stdout.strip(), "function")


if __name__ == "__main__":
    unittest.main()
