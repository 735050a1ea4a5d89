"""The JavaScript client (clients/js/dreamstream.js) against the real server, through Node.

clients/js/test/smoke.mjs runs a JS worker, a Streamer and a Viewer and checks that frames go
round, then comments and style requests through createApi() with two API tokens (a viewer asks,
the streamer approves; a Viewer socket sees the events; refusals carry the server's code); skipped when Node (>= 20 with --experimental-websocket, or >= 22) is not installed.
The JS client's close-code table (CLOSE_CODES, CloseCode) is checked against docs/protocol.md's.
clients/js/test/worker.test.mjs checks runWorker's slots, batches and cancels (node:test).
"""

import json
import os
import shutil
import subprocess
import unittest

from harness import ServerTestCase, doc_close_codes, register

HERE = os.path.dirname(os.path.abspath(__file__))
SMOKE = os.path.normpath(os.path.join(HERE, "..", "..", "clients", "js", "test", "smoke.mjs"))
CLIENT_JS = os.path.normpath(os.path.join(HERE, "..", "..", "clients", "js", "dreamstream.js"))
FIXTURES = os.path.join(HERE, "fixtures")
WORKER_TOKEN = "dsw_jstesttoken_0123456789abcdef"


def node_command():
    node = shutil.which("node")
    if not node:
        return None
    out = subprocess.run([node, "-e", "console.log(typeof WebSocket)"], capture_output=True, text=True)
    if out.stdout.strip() == "function":
        return [node]
    out = subprocess.run([node, "--experimental-websocket", "-e", "console.log(typeof WebSocket)"],
                         capture_output=True, text=True)
    if out.stdout.strip() == "function":
        return [node, "--experimental-websocket"]
    return None


NODE = node_command()


@unittest.skipIf(NODE is None, "Node with a WebSocket implementation is not installed")
class TestJsClient(ServerTestCase):
    server_args = ["--builtin-workers", "0", "--worker-token", WORKER_TOKEN]

    def test_smoke(self):
        c = self.client()
        user = register(c)
        st, _, body = c.post("/api/me/stream-key")
        self.assertEqual(st, 201, body)
        key = body["stream_key"]
        streamer_token = self.api_token(c)
        viewer_token = self.api_token(self.client(), new_user=True)
        out = subprocess.run(NODE + [SMOKE, self.server.url, user["username"], key,
                                     WORKER_TOKEN, FIXTURES, streamer_token, viewer_token],
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        summary = json.loads(out.stdout.strip().splitlines()[-1])
        self.assertEqual(summary["badToken"], "refused")
        self.assertGreaterEqual(summary["viewerFrames"], 3)
        self.assertGreaterEqual(summary["splitViewerFrames"], 3)
        self.assertGreaterEqual(summary["jobs"], 3)
        self.assertGreater(summary["streamerSent"], 0)
        self.assertNotIn(WORKER_TOKEN, out.stdout + out.stderr)
        self.assertEqual(summary["chat"]["events"], "ok")

    def api_token(self, c, new_user=False):
        if new_user:
            register(c)
        st, _, body = c.post("/api/me/tokens", {"name": "js smoke"})
        self.assertEqual(st, 201, body)
        return body["token"]


@unittest.skipIf(shutil.which("node") is None, "Node is not installed")
class TestJsWorkerSlots(unittest.TestCase):
    """runWorker's slots, batches and cancels against a scripted socket
    (clients/js/test/worker.test.mjs, node:test; no server needed)."""

    def test_worker_slots_batches_and_cancels(self):
        self.run_node_tests("worker.test.mjs")

    def test_api_request_shape(self):
        self.run_node_tests("api.test.mjs")

    def test_viewer_dispatches_video_units_on_the_header_type(self):
        # ?video=h264: onVideo gets the units, onFrame the JPEGs; dropVideo() reconnects without.
        self.run_node_tests("viewer.test.mjs")

    def test_inline_frames_follow_the_shared_vectors(self):
        # tests/vectors/inline_frames.json, read by the C++, Python and web page tests too.
        self.run_node_tests("vectors.test.mjs")

    def run_node_tests(self, name):
        script = os.path.join(os.path.dirname(SMOKE), name)
        out = subprocess.run(["node", "--test", script], capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("# fail 0", out.stdout)


@unittest.skipIf(shutil.which("node") is None, "Node is not installed")
class TestJsCloseCodes(unittest.TestCase):
    """The JS client's close-code table is docs/protocol.md's."""

    def test_table_matches_the_protocol_doc(self):
        script = ("import(process.argv[1]).then((m) => console.log(JSON.stringify({"
                  "table: m.CLOSE_CODES, byName: m.CloseCode, lost: m.closeMeaning(1006)})))")
        out = subprocess.run(["node", "--input-type=module", "-e", script, "--", "file://" + CLIENT_JS],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        got = json.loads(out.stdout)
        doc = doc_close_codes()
        self.assertGreaterEqual(len(doc), 12, "docs/protocol.md has a close-code table")
        self.assertEqual({int(code): e["name"] for code, e in got["table"].items()}, doc)
        self.assertTrue(all(e["meaning"] for e in got["table"].values()))
        self.assertEqual(got["byName"], {name: code for code, name in doc.items()})
        self.assertEqual(got["lost"], "connection lost")


if __name__ == "__main__":
    unittest.main()
