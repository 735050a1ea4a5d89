"""The Python client (clients/python/dreamstream.py) against the real server.

- with the built-in CPU worker: a Streamer pushes JPEG fixtures over /ws/ingest, a Viewer gets
  processed frames (JPEGs unlike any input), the streamer sees status and the output too,
  the MJPEG endpoint yields parts, latest.jpg is a JPEG, post_frame works, bad keys are refused;
- with no built-in worker and a worker token: run_worker() serves the jobs and viewers get
  exactly its outputs (marked with a JPEG comment), a failing process() does not stop it, a
  bad token ends it, and it reconnects after the server closes it;
- the CLI push and worker commands.

Fixtures: tests/integration/fixtures/frame*.jpg (160x120, made by fixtures/make_fixtures.cpp).
"""

import http.client
import os
import struct
import subprocess
import sys
import threading
import time
import unittest

from harness import PASSWORD, ServerTestCase, register

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "clients", "python"))
import dreamstream as ds  # noqa: E402

FIXTURES = os.path.join(HERE, "fixtures")
CLIENT_PY = os.path.normpath(os.path.join(HERE, "..", "..", "clients", "python", "dreamstream.py"))
WORKER_TOKEN = "dsw_testtoken_0123456789abcdef"
MARK = b"py-worker"


def load_frames():
    frames = []
    for name in sorted(os.listdir(FIXTURES)):
        if name.endswith(".jpg"):
            with open(os.path.join(FIXTURES, name), "rb") as f:
                frames.append(f.read())
    assert len(frames) >= 3, "JPEG fixtures missing"
    return frames


FRAMES = load_frames()


def add_comment(jpeg, text):
    """Inserts a COM segment before EOI: still a valid JPEG, and recognisably ours."""
    assert jpeg[-2:] == b"\xff\xd9"
    return jpeg[:-2] + b"\xff\xfe" + struct.pack("!H", len(text) + 2) + text + b"\xff\xd9"


class Pusher(threading.Thread):
    """Feeds a Streamer the fixtures at ~fps until stopped."""

    def __init__(self, streamer, fps=10):
        super().__init__(daemon=True)
        self.streamer, self.fps, self.stop = streamer, fps, threading.Event()

    def run(self):
        i = 0
        while not self.stop.is_set():
            if not self.streamer.send_jpeg(FRAMES[i % len(FRAMES)]):
                return
            i += 1
            self.stop.wait(1.0 / self.fps)

    def halt(self):
        self.stop.set()
        self.join(5)


class ClientTestBase(ServerTestCase):
    def new_streamer_account(self):
        c = self.client()
        user = register(c)
        st, _, body = c.post("/api/me/stream-key")
        self.assertEqual(st, 201, body)
        key = body["stream_key"]
        self.assertTrue(key.startswith("dsk_"), key)
        return c, user["username"], key

    def wait_frames(self, viewer, count, timeout=30.0):
        frames, events = [], []
        deadline = time.monotonic() + timeout
        while len(frames) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                self.fail("viewer got %d of %d frames in %ss; events: %r"
                          % (len(frames), count, timeout, events[-10:]))
            kind, data = viewer.recv(timeout=left)
            if kind == "frame":
                frames.append(data)
            elif kind == "event":
                events.append(data)
            else:
                self.fail("viewer closed: %s %s" % (viewer.close_code, data))
        return frames, events


class TestClientWithBuiltinWorker(ClientTestBase):
    server_args = ["--builtin-workers", "1"]

    def test_push_watch_status_mjpeg_latest(self):
        c, name, key = self.new_streamer_account()
        viewer = ds.Viewer(self.server.url, name).connect()
        self.addCleanup(viewer.close)
        outputs = []
        streamer = ds.Streamer(self.server.url, key,
                               on_message=lambda kind, data: outputs.append((kind, data)))
        streamer.connect()
        self.addCleanup(streamer.close)
        pusher = Pusher(streamer)
        pusher.start()
        self.addCleanup(pusher.halt)

        frames, events = self.wait_frames(viewer, 3)
        for f in frames:
            self.assertTrue(ds.is_jpeg(f.jpeg))
            self.assertNotIn(f.jpeg, FRAMES, "viewers must get processed frames, not the camera's")
            self.assertIsInstance(f.seq, int)
            self.assertIsInstance(f.captured_ms, int)
        seqs = [f.seq for f in frames]
        self.assertEqual(seqs, sorted(seqs))
        self.assertIn("state", [e.get("type") for e in events])

        status = streamer.wait_status(lambda s: s.get("frames_in", 0) > 0, timeout=10)
        self.assertIsNotNone(status, "no status message on the ingest socket")
        self.assertEqual(status["state"], "live")
        # The ingest socket carries the processed output as well: a frame header, then a JPEG.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(k == "binary" for k, _ in outputs):
            time.sleep(0.05)
        binaries = [d for k, d in outputs if k == "binary"]
        self.assertTrue(binaries, "the streamer saw no processed output")
        self.assertTrue(ds.is_jpeg(binaries[0]))

        info = ds.Client(self.server.url).stream_info(name)
        self.assertTrue(info["live"])
        self.assertGreaterEqual(info["viewers"], 1)

        latest = ds.Client(self.server.url).latest_jpeg(name)
        self.assertIsInstance(latest, bytes)
        self.assertTrue(ds.is_jpeg(latest))
        self.assertNotIn(latest, FRAMES)

        parts = self.read_mjpeg_parts(name, 2)
        for p in parts:
            self.assertTrue(ds.is_jpeg(p))
            self.assertNotIn(p, FRAMES)

        pusher.halt()
        streamer.close()
        self.assertEqual(streamer.errors, [])
        st, _, body = c.post("/api/streams/stop")
        self.assertIn(st, (200, 409), body)

    def read_mjpeg_parts(self, name, count, timeout=20.0):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=timeout)
        try:
            conn.request("GET", "/u/%s/stream.mjpeg" % name)
            resp = conn.getresponse()
            self.assertEqual(resp.status, 200)
            ctype = resp.getheader("Content-Type", "")
            self.assertTrue(ctype.startswith("multipart/x-mixed-replace"), ctype)
            boundary = ctype.split("boundary=", 1)[1].strip().strip('"')
            parts = []
            while len(parts) < count:
                line = resp.fp.readline()
                if not line:
                    self.fail("MJPEG stream ended after %d parts" % len(parts))
                if line.strip() != b"--" + boundary.encode():
                    continue
                headers = {}
                while True:
                    h = resp.fp.readline().strip()
                    if not h:
                        break
                    k, _, v = h.decode("latin-1").partition(":")
                    headers[k.strip().lower()] = v.strip()
                self.assertEqual(headers.get("content-type"), "image/jpeg")
                parts.append(resp.fp.read(int(headers["content-length"])))
            return parts
        finally:
            conn.close()

    def test_post_frame_and_bad_keys(self):
        c, name, key = self.new_streamer_account()
        r = ds.post_frame(self.server.url, key, FRAMES[0])
        self.assertTrue(r["accepted"])
        r2 = ds.post_frame(self.server.url, key, FRAMES[1])
        self.assertGreater(r2["seq"], r["seq"])
        with self.assertRaises(ds.ApiError) as cm:
            ds.post_frame(self.server.url, "dsk_not_a_real_key", FRAMES[0])
        self.assertEqual(cm.exception.status, 401)
        with self.assertRaises(ds.ApiError) as cm:
            ds.post_frame(self.server.url, key, b"\xff\xd8 not really a jpeg")
        self.assertEqual(cm.exception.status, 400)
        self.assertIsInstance(cm.exception.code, str)

        # A bad key on the WebSocket: refused (HTTP 401, or accepted then closed with 4401).
        s = ds.Streamer(self.server.url, "dsk_not_a_real_key")
        try:
            s.connect()
        except ds.HandshakeError as e:
            self.assertEqual(e.status, 401)
        else:
            self.assertTrue(s.closed.wait(10), "a bad key was not closed")
            self.assertEqual(s.close_code, 4401)
            s.close(flush=False)

        st, _, body = c.post("/api/streams/stop")
        self.assertEqual(st, 200, body)

    def test_api_token_client(self):
        c, name, key = self.new_streamer_account()
        st, _, body = c.post("/api/me/tokens", {"name": "sdk test"})
        self.assertEqual(st, 201, body)
        api = ds.Client(self.server.url, token=body["token"])
        self.assertEqual(api.me()["user"]["username"], name)
        started = api.start_stream()
        self.assertEqual(started["url"], "/u/%s" % name)
        with self.assertRaises(ds.ApiError) as cm:
            api.start_stream()
        self.assertEqual(cm.exception.status, 409)
        self.assertTrue(api.stream_info(name)["live"])
        api.stop_stream()
        self.assertFalse(api.stream_info(name)["live"])
        with self.assertRaises(ds.ApiError) as cm:
            api.stream_info("nobody_here_at_all")
        self.assertEqual(cm.exception.status, 404)
        # Rotating the key through the token: the old key stops working.
        new_key = api.rotate_stream_key()
        self.assertNotEqual(new_key, key)
        with self.assertRaises(ds.ApiError) as cm:
            ds.post_frame(self.server.url, key, FRAMES[0])
        self.assertEqual(cm.exception.status, 401)
        # Password login works as well.
        pw = ds.Client(self.server.url)
        self.assertEqual(pw.login(name, PASSWORD)["username"], name)
        pw.start_stream()
        pw.stop_stream()

    def test_second_streamer_replaces_the_first(self):
        _, name, key = self.new_streamer_account()
        first = ds.Streamer(self.server.url, key).connect()
        self.addCleanup(first.close, flush=False)
        first.send_jpeg(FRAMES[0])
        first.flush()
        second = ds.Streamer(self.server.url, key).connect()
        self.addCleanup(second.close)
        self.assertTrue(first.closed.wait(10), "the older ingest socket stayed open")
        self.assertEqual(first.close_code, 4001)
        self.assertEqual(first.ended and first.ended.get("reason"), "replaced")
        self.assertTrue(second.send_jpeg(FRAMES[1]))
        self.assertFalse(second.closed.is_set())

    def test_watch_unknown_user(self):
        v = ds.Viewer(self.server.url, "nobody_here_at_all")
        try:
            v.connect()
        except ds.HandshakeError as e:
            self.assertEqual(e.status, 404)
            return
        kinds = []
        while True:
            kind, data = v.recv(timeout=10)
            kinds.append(kind)
            if kind == "close":
                break
        self.assertEqual(v.close_code, 4404)

    def test_cli_push(self):
        _, name, key = self.new_streamer_account()
        viewer = ds.Viewer(self.server.url, name).connect()
        self.addCleanup(viewer.close)
        out = subprocess.run([sys.executable, CLIENT_PY, "push", "--server", self.server.url,
                              "--key", key, "--dir", FIXTURES, "--fps", "10", "--count", "20"],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("done: sent", out.stdout)
        self.wait_frames(viewer, 1)
        bad = subprocess.run([sys.executable, CLIENT_PY, "push", "--server", self.server.url,
                              "--key", "dsk_wrong", "--dir", FIXTURES, "--count", "3"],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(bad.returncode, 3, bad.stdout + bad.stderr)
        self.assertIn("4401", bad.stderr)


class TestPythonWorker(ClientTestBase):
    server_args = ["--builtin-workers", "0", "--worker-token", WORKER_TOKEN]

    def start_worker(self, process, name="py-test"):
        stop = threading.Event()
        welcomed = threading.Event()
        logs = []
        errors = []

        def body():
            try:
                ds.run_worker(self.server.url, WORKER_TOKEN, process, name=name, stop=stop,
                              log=logs.append, on_welcome=lambda m: welcomed.set())
            except Exception as e:  # reported by the test
                errors.append(e)

        t = threading.Thread(target=body, daemon=True)
        t.start()

        def finish():
            stop.set()
            t.join(10)
            self.assertFalse(t.is_alive(), "run_worker did not stop")
        self.addCleanup(finish)
        self.assertTrue(welcomed.wait(15), "no welcome; logs: %r errors: %r" % (logs, errors))
        return stop, t, logs, errors

    def test_worker_outputs_reach_viewers(self):
        seen_params = []
        calls = [0]

        def process(jpeg, params):
            calls[0] += 1
            seen_params.append(params)
            if calls[0] == 2:
                raise RuntimeError("model fell over")  # answered with an error; loop goes on
            assert ds.is_jpeg(jpeg)
            return add_comment(jpeg, MARK)

        stop, thread, logs, errors = self.start_worker(process)
        _, name, key = self.new_streamer_account()
        viewer = ds.Viewer(self.server.url, name).connect()
        self.addCleanup(viewer.close)
        streamer = ds.Streamer(self.server.url, key).connect()
        self.addCleanup(streamer.close)
        pusher = Pusher(streamer)
        pusher.start()
        self.addCleanup(pusher.halt)

        frames, _ = self.wait_frames(viewer, 4)
        for f in frames:
            self.assertIn(MARK, f.jpeg)
            self.assertIn(f.jpeg, [add_comment(x, MARK) for x in FRAMES])
        self.assertGreaterEqual(calls[0], 5)
        self.assertTrue(all(isinstance(p, dict) for p in seen_params))
        self.assertTrue(any("model fell over" in line for line in logs), logs)
        status = streamer.wait_status(lambda s: s.get("workers", {}).get("total", 0) >= 1, timeout=10)
        self.assertIsNotNone(status, streamer.status)
        self.assertEqual(errors, [])
        pusher.halt()
        stop.set()
        thread.join(10)
        self.assertFalse(thread.is_alive())

    def test_worker_reconnects_after_a_restarted_connection(self):
        # Two workers with the same token: stopping one leaves the other serving; and a
        # worker whose socket is cut comes back on its own.
        conns = []
        orig_connect = ds.WebSocket.connect

        def spy_connect(url, *a, **kw):
            ws = orig_connect(url, *a, **kw)
            conns.append(ws)
            return ws

        ds.WebSocket.connect = spy_connect
        self.addCleanup(setattr, ds.WebSocket, "connect", orig_connect)
        stop, thread, logs, errors = self.start_worker(lambda j, p: add_comment(j, MARK), name="rc")
        self.assertEqual(len(conns), 1)
        conns[0].sock.shutdown(2)  # the connection breaks under the worker
        deadline = time.monotonic() + 15
        while len(conns) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertGreaterEqual(len(conns), 2, logs)
        ds.WebSocket.connect = orig_connect

        _, name, key = self.new_streamer_account()
        viewer = ds.Viewer(self.server.url, name).connect()
        self.addCleanup(viewer.close)
        r = ds.post_frame(self.server.url, key, FRAMES[2])
        self.assertTrue(r["accepted"])
        frames, _ = self.wait_frames(viewer, 1)
        self.assertEqual(frames[0].jpeg, add_comment(FRAMES[2], MARK))
        self.assertEqual(errors, [])

    def test_bad_worker_token_ends_the_loop(self):
        stop = threading.Event()
        with self.assertRaises(ds.AuthenticationError):
            ds.run_worker(self.server.url, "dsw_wrong", lambda j, p: j, stop=stop, log=lambda m: None)

    def test_cli_worker_identity(self):
        proc = subprocess.Popen([sys.executable, CLIENT_PY, "worker", "--server", self.server.url,
                                 "--token", WORKER_TOKEN, "--name", "cli"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            _, name, key = self.new_streamer_account()
            viewer = ds.Viewer(self.server.url, name).connect()
            self.addCleanup(viewer.close)
            deadline = time.monotonic() + 30
            got = None
            while got is None and time.monotonic() < deadline:
                ds.post_frame(self.server.url, key, FRAMES[3])
                try:
                    kind, data = viewer.recv(timeout=0.5)
                except TimeoutError:
                    continue
                if kind == "frame":
                    got = data
            self.assertIsNotNone(got, "the CLI worker produced nothing")
            self.assertEqual(got.jpeg, FRAMES[3])  # identity
        finally:
            proc.terminate()
            out, _ = proc.communicate(timeout=10)
        self.assertNotIn(WORKER_TOKEN.encode(), out, "the token leaked into the worker's output")

    def test_cli_worker_bad_token_exit_3(self):
        out = subprocess.run([sys.executable, CLIENT_PY, "worker", "--server", self.server.url,
                              "--token", "dsw_nope"], capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 3, out.stdout + out.stderr)


class TestDiffusersExample(unittest.TestCase):
    """The SD-Turbo example without a GPU: its parameter mapping, and a clear message when
    torch / diffusers are missing."""

    EXAMPLE = os.path.join(os.path.dirname(CLIENT_PY), "examples", "diffusers_worker.py")

    def load(self):
        import importlib.util
        spec = importlib.util.spec_from_file_location("diffusers_worker", self.EXAMPLE)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)  # must not import torch at module level
        return mod

    def test_plan_runs_at_least_one_step(self):
        mod = self.load()
        for i in range(0, 101):
            for steps in (1, 2, 4):
                prompt, strength, n, seed = mod.plan({"strength": i / 100, "steps": steps, "seed": 7})
                self.assertGreaterEqual(int(n * strength), 1, (i, steps, n))
                self.assertGreaterEqual(n, steps)
                self.assertTrue(0.05 <= strength <= 1.0)
        self.assertEqual(mod.plan({"prompt": " watercolour ", "seed": -1})[0], "watercolour")
        self.assertEqual(mod.plan({})[0], mod.DEFAULT_PROMPT)
        self.assertEqual(mod.plan({"strength": "x", "steps": None, "seed": "y"})[1:], (0.5, 2, 0))

    def test_missing_packages_message(self):
        import importlib.util
        if importlib.util.find_spec("torch") and importlib.util.find_spec("diffusers"):
            self.skipTest("torch and diffusers are installed")
        out = subprocess.run([sys.executable, self.EXAMPLE, "--server", "http://127.0.0.1:9",
                              "--token", "dsw_x"], capture_output=True, text=True, timeout=60)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("missing Python packages", out.stderr)
        self.assertIn("pip install", out.stderr)


if __name__ == "__main__":
    unittest.main()
