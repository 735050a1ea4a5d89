"""A streamer's clean end ends the stream at once (issue 24).

Every pusher that is done closes its ingest socket with 1000: a WebSocket client, `push` at the
end of a file or of stdin, the Python SDK's `with Streamer(...)` block and the JS SDK's close().
The server ends that stream `completed` within a second, billed to that moment, and a publish
right after starts a new stream. A line that drops without a close frame, or a close with any
other code (1001: a tab closing), keeps the grace period: reconnecting within it goes on with
the same stream.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

import dreamstream as ds
from harness import ServerTestCase, binary_path, register
from test_client_js import NODE
from test_push_input import Pusher, free_port, make_clip, publish

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
CLIENT_JS = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                          "clients", "js", "dreamstream.js"))
FFMPEG = shutil.which("ffmpeg")
GRACE_MS = 60_000  # long enough that only a goodbye can end a stream within these tests


def fixture(n):
    with open(os.path.join(FIXTURES, "frame%d.jpg" % n), "rb") as f:
        return f.read()


def ws_url(server, path):
    return server.url.replace("http://", "ws://") + path


class TestGoodbye(ServerTestCase):
    server_args = ["--grace-ms", str(GRACE_MS)]

    def new_streamer(self):
        c = self.client()
        user = register(c)
        st, _, body = c.post("/api/me/stream-key")
        self.assertEqual(st, 201, body)
        return c, user, body["stream_key"]

    def ingest(self, key):
        return ds.WebSocket.connect(ws_url(self.server, "/ws/ingest"),
                                    {"Authorization": "Bearer " + key}, timeout=10)

    def sessions(self, c):
        st, _, body = c.get("/api/streams/sessions")
        self.assertEqual(st, 200, body)
        return body["sessions"]

    def wait_live(self, c, user, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = self.sessions(c)
            if s and s[0]["status"] == "live":
                return s[0]
            time.sleep(0.05)
        self.fail("no live session for %s: %r" % (user["username"], self.sessions(c)))

    def assert_completed_within(self, c, session_id, seconds=1.0, since=None):
        """The session reads `completed` within `seconds` of `since` (default: now)."""
        since = since if since is not None else time.monotonic()
        while True:
            row = next(s for s in self.sessions(c) if s["id"] == session_id)
            if row["status"] == "completed":
                took = time.monotonic() - since
                self.assertLess(took, seconds, "ended after %.2f s" % took)
                return row
            if time.monotonic() - since > seconds:
                self.fail("session %d is %r %.1f s after the goodbye (want completed)"
                          % (session_id, row["status"], time.monotonic() - since))
            time.sleep(0.05)

    def stream_a_little(self, ws, frames=3):
        for i in range(frames):
            ws.send_binary(fixture(1 + i % 2))
            time.sleep(0.05)

    def test_close_1000_ends_the_stream_completed_and_billed(self):
        c, user, key = self.new_streamer()
        ws = self.ingest(key)
        self.stream_a_little(ws)
        live = self.wait_live(c, user)
        ws.close(1000, "done")
        row = self.assert_completed_within(c, live["id"])
        self.assertEqual(row["duration_minutes"], 1, "the started minute is billed")
        self.assertGreater(row["cost_cents"], 0)
        self.assertFalse(c.get("/api/streams/" + user["username"]).json["live"])
        # A publish right after starts a new stream instead of continuing the old one.
        ws2 = self.ingest(key)
        self.stream_a_little(ws2)
        again = self.wait_live(c, user)
        self.assertNotEqual(again["id"], live["id"])
        ws2.close(1000, "done")
        self.assert_completed_within(c, again["id"])

    def test_a_dropped_line_keeps_the_grace_period(self):
        c, user, key = self.new_streamer()
        ws = self.ingest(key)
        self.stream_a_little(ws)
        live = self.wait_live(c, user)
        ws._abort()  # no close frame: the line dropped
        ws2 = self.ingest(key)
        self.stream_a_little(ws2)
        rows = self.sessions(c)
        self.assertEqual(rows[0]["id"], live["id"], "the same stream goes on: %r" % rows)
        self.assertEqual(rows[0]["status"], "live")
        # 1001 (a browser tab going away) is not a goodbye either.
        ws2.close(1001, "going away")
        ws3 = self.ingest(key)
        self.stream_a_little(ws3)
        self.assertEqual(self.wait_live(c, user)["id"], live["id"])
        ws3.close(1000, "done")
        self.assert_completed_within(c, live["id"])

    def test_python_sdk_with_block_ends_the_stream(self):
        c, user, key = self.new_streamer()
        with ds.Streamer(self.server.url, key) as s:
            for i in range(3):
                s.send_jpeg(fixture(1 + i % 2))
                time.sleep(0.05)
            live = self.wait_live(c, user)
        self.assert_completed_within(c, live["id"])

    @unittest.skipUnless(NODE, "needs node")
    def test_js_sdk_close_ends_the_stream(self):
        c, user, key = self.new_streamer()
        script = """
import { Streamer } from %r;
import { readFileSync } from "node:fs";
const s = await new Streamer(process.argv[2], { key: process.argv[3] }).connect();
const jpeg = readFileSync(process.argv[4]);
for (let i = 0; i < 5; i++) { s.sendJpeg(jpeg); await new Promise((r) => setTimeout(r, 100)); }
console.log("sent");
await new Promise((r) => setTimeout(r, 500));
await s.close();
""" % CLIENT_JS
        tmp = tempfile.mkdtemp(prefix="ds-js-")
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, "push.mjs")
        with open(path, "w") as f:
            f.write(script)
        out = subprocess.run(NODE + [path, self.server.url, key,
                                     os.path.join(FIXTURES, "frame1.jpg")],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        row = self.sessions(c)[0]
        self.assert_completed_within(c, row["id"])

    def test_push_dir_at_its_end_ends_the_stream(self):
        c, user, key = self.new_streamer()
        tmp = tempfile.mkdtemp(prefix="ds-frames-")
        self.addCleanup(shutil.rmtree, tmp, True)
        for i in range(6):
            with open(os.path.join(tmp, "f%02d.jpg" % i), "wb") as f:
                f.write(fixture(1 + i % 2))
        out = subprocess.run([binary_path(), "push", "--server", self.server.url, "--key", key,
                              "--dir", tmp, "--fps", "10"],
                             capture_output=True, text=True, timeout=30)
        exited = time.monotonic()
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assert_completed_within(c, self.sessions(c)[0]["id"], since=exited)

    def test_push_stdin_mjpeg_at_end_of_input_ends_the_stream(self):
        c, user, key = self.new_streamer()
        mjpeg = b"".join(fixture(1 + i % 2) for i in range(6))
        out = subprocess.run([binary_path(), "push", "--server", self.server.url, "--key", key,
                              "--stdin-mjpeg", "--fps", "10"],
                             input=mjpeg, capture_output=True, timeout=30)
        exited = time.monotonic()
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assert_completed_within(c, self.sessions(c)[0]["id"], since=exited)

    @unittest.skipUnless(FFMPEG, "needs the ffmpeg CLI (scripts/setup.sh --test)")
    def test_push_input_of_a_short_file_ends_the_stream(self):
        c, user, key = self.new_streamer()
        tmp = tempfile.mkdtemp(prefix="ds-clip-")
        self.addCleanup(shutil.rmtree, tmp, True)
        clip = make_clip(os.path.join(tmp, "clip.mp4"), 1, "160x120", 10)
        out = subprocess.run([binary_path(), "push", "--server", self.server.url, "--key", key,
                              "--input", clip, "--fps", "10"],
                             capture_output=True, text=True, timeout=60)
        exited = time.monotonic()
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        row = self.assert_completed_within(c, self.sessions(c)[0]["id"], since=exited)
        self.assertGreater(row["frames_in"], 0)

    @unittest.skipUnless(FFMPEG, "needs the ffmpeg CLI (scripts/setup.sh --test)")
    def test_an_rtmp_publisher_leaving_push_listen_ends_its_stream(self):
        c, user, key = self.new_streamer()
        url = "rtmp://127.0.0.1:%d/live" % free_port()
        p = Pusher(self.server.url, key, "--input", url, "--listen", "--fps", "10",
                   "--size", "160x120")
        self.addCleanup(p.close)
        p.wait_log(r"event=listening")
        for _ in range(20):  # until the listener takes the publisher
            pub = publish(url, 3, size="160x120", rate=10)
            self.addCleanup(lambda q=pub: q.poll() is None and q.kill())
            try:
                pub.wait(1.0)
            except subprocess.TimeoutExpired:
                break
        live = self.wait_live(c, user, timeout=20)
        pub.wait(30)  # OBS's "Stop Streaming"
        p.wait_log(r"event=publisher_left", timeout=30)
        left = time.monotonic()
        self.assert_completed_within(c, live["id"], since=left)
        self.assertIsNone(p.proc.poll(), "push listens for the next publisher")
        self.assertEqual(p.stop(), 0, p.log())


if __name__ == "__main__":
    unittest.main()
