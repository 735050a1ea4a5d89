"""The Python client (clients/python/dreamstream.py) against the real server.

- with the built-in CPU worker: a Streamer pushes JPEG fixtures over /ws/ingest, a Viewer gets
  processed frames (JPEGs unlike any input), the streamer sees status and the output too,
  the MJPEG endpoint yields parts, latest.jpg is a JPEG, post_frame works, bad keys are refused;
- with no built-in worker and a worker token: run_worker() serves the jobs and viewers get
  exactly its outputs (marked with a JPEG comment), a failing process() does not stop it, a
  bad token ends it, and it reconnects after the server closes it;
- the CLI push and worker commands;
- comments and style requests through the SDK (API tokens and a cookie login): a viewer
  comments and asks for a style, the streamer switches to policy approve and approves, rejects,
  skips and clears through the SDK, a Viewer socket (and the Streamer's ingest socket) sees the
  comment / comment_deleted / styles / settings events, and refusals raise ApiError with the
  server's code; the CLI comment and style commands;
- the close-code table (CloseCode, CLOSE_MEANINGS) against docs/protocol.md's.

Fixtures: tests/integration/fixtures/frame*.jpg (160x120, made by fixtures/make_fixtures.cpp).
"""

import http.client
import json
import os
import struct
import subprocess
import sys
import threading
import time
import unittest

from harness import PASSWORD, ServerTestCase, doc_close_codes, register, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "clients", "python"))
import dreamstream as ds  # noqa: E402

FIXTURES = os.path.join(HERE, "fixtures")
VECTORS_INLINE = os.path.join(HERE, "..", "vectors", "inline_frames.json")
VECTORS_HOLDING = os.path.join(HERE, "..", "vectors", "job_holding.json")
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

    def test_inline_frames_come_as_one_message_each_and_split_frames_still_work(self):
        c, name, key = self.new_streamer_account()
        path = "/ws/watch/%s?frames=inline" % name
        raw = ds.WebSocket.connect(ds._ws_url(self.server.url, path), None, timeout=10)
        self.addCleanup(raw.close)
        inline = ds.Viewer(self.server.url, name).connect()
        self.addCleanup(inline.close)
        self.assertTrue(inline.url.endswith("?frames=inline"), inline.url)
        split = ds.Viewer(self.server.url, name, frames="split").connect()
        self.addCleanup(split.close)
        streamer = ds.Streamer(self.server.url, key)
        streamer.connect()
        self.addCleanup(streamer.close)
        pusher = Pusher(streamer)
        pusher.start()
        self.addCleanup(pusher.halt)

        # On the wire: no "frame" text; each binary is length + frame JSON + the JPEG.
        seqs = []
        deadline = time.monotonic() + 30
        while len(seqs) < 3:
            self.assertGreater(deadline - time.monotonic(), 0, "no inline frames")
            kind, data = raw.recv(timeout=deadline - time.monotonic())
            if kind == "text":
                self.assertNotEqual(json.loads(data).get("type"), "frame", data)
                continue
            self.assertEqual(kind, "binary", data)
            (n,) = struct.unpack(">I", data[:4])
            header = json.loads(data[4:4 + n])
            self.assertEqual(header["type"], "frame")
            self.assertIsInstance(header["seq"], int)
            self.assertIsInstance(header["processed_ms"], int)
            self.assertTrue(ds.is_jpeg(data[4 + n:]))
            self.assertNotIn(data[4 + n:], FRAMES, "processed frames, not the camera's")
            seqs.append(header["seq"])
        self.assertEqual(seqs, sorted(set(seqs)))

        for viewer in (inline, split):
            frames, _ = self.wait_frames(viewer, 3)
            for f in frames:
                self.assertTrue(ds.is_jpeg(f.jpeg), viewer.frame_format)
                self.assertIsInstance(f.seq, int)
                self.assertIsInstance(f.captured_ms, int)
                self.assertEqual(f.info["seq"], f.seq)
            got = [f.seq for f in frames]
            self.assertEqual(got, sorted(set(got)), viewer.frame_format)
            # Viewer.frames() (the documented way to take frames only) in both formats; the
            # format once lived in an attribute of the same name that hid the method.
            more = list(viewer.frames(count=2, timeout=20))
            self.assertEqual(len(more), 2, viewer.frame_format)
            self.assertTrue(all(ds.is_jpeg(f.jpeg) for f in more))
            self.assertGreater(more[0].seq, got[-1])

    def test_a_video_viewer_yields_raw_h264_access_units_with_their_header(self):
        c, name, key = self.new_streamer_account()
        with self.assertRaises(ValueError):
            ds.Viewer(self.server.url, name, video="vp9")
        viewer = ds.Viewer(self.server.url, name, video="h264").connect()
        self.addCleanup(viewer.close)
        self.assertTrue(viewer.url.endswith("?video=h264"), viewer.url)
        jpeg_viewer = ds.Viewer(self.server.url, name).connect()  # the default stays JPEG
        self.addCleanup(jpeg_viewer.close)
        streamer = ds.Streamer(self.server.url, key)
        streamer.connect()
        self.addCleanup(streamer.close)
        pusher = Pusher(streamer)
        pusher.start()
        self.addCleanup(pusher.halt)

        units = list(viewer.video_units(count=5, timeout=30))
        self.assertEqual(len(units), 5)
        first = units[0]
        self.assertIsInstance(first, ds.VideoUnit)
        self.assertTrue(first.key)
        self.assertFalse(first.decode_only)
        self.assertTrue(first.codec.startswith("avc1."), first.codec)
        self.assertGreater(first.width, 0)
        self.assertGreater(first.height, 0)
        self.assertEqual(first.info["type"], "video")
        for u in units:
            self.assertTrue(u.data.startswith(b"\x00\x00\x00\x01"), u.data[:8])
            self.assertIsInstance(u.seq, int)
            self.assertIsInstance(u.ts_ms, int)
            self.assertIsInstance(u.captured_ms, int)
            self.assertIsInstance(u.processed_ms, int)
            self.assertEqual(u.key, u.codec is not None)
        ts = [u.ts_ms for u in units]
        self.assertEqual(ts, sorted(set(ts)))
        # After the first unit: units and events only, no JPEG frame.
        for _ in range(5):
            kind, _ = viewer.recv(timeout=30)
            self.assertIn(kind, ("video", "event"))
        frames, _ = self.wait_frames(jpeg_viewer, 2)
        self.assertTrue(all(ds.is_jpeg(f.jpeg) for f in frames))

        header = b'{"type":"video","seq":7,"key":false,"decode_only":true,"ts_ms":5}'
        self.assertEqual(ds.split_inline_frame(struct.pack(">I", len(header)) + header + b"\x00"),
                         (json.loads(header), b"\x00"))

    def test_split_inline_frame_checks_its_length(self):
        not_a_header = b'{"type":"state"}'
        msg = struct.pack(">I", len(not_a_header)) + not_a_header + b"\xff\xd8"
        self.assertEqual(ds.split_inline_frame(msg), ({}, b"\xff\xd8"))
        good = b'{"type":"frame","seq":5}'
        self.assertEqual(ds.split_inline_frame(struct.pack(">I", len(good)) + good + b"J"),
                         ({"type": "frame", "seq": 5}, b"J"))
        self.assertIsNone(ds.split_inline_frame(b"\x00\x00\x00"))
        self.assertIsNone(ds.split_inline_frame(struct.pack(">I", 50) + b"{}"))

    def test_split_inline_frame_follows_the_shared_vectors(self):
        # tests/vectors/inline_frames.json: the C++, JS SDK and web page tests read it too.
        with open(VECTORS_INLINE, encoding="utf-8") as f:
            cases = json.load(f)["cases"]
        self.assertGreaterEqual(len(cases), 8)
        for c in cases:
            got = ds.split_inline_frame(bytes.fromhex(c["message_hex"]))
            if c["expect"] is None:
                self.assertIsNone(got, c["name"])
                continue
            self.assertIsNotNone(got, c["name"])
            header, jpeg = got
            self.assertEqual(header, c["expect"]["frame_header"] or {}, c["name"])
            self.assertEqual(jpeg.hex(), c["expect"]["jpeg_hex"], c["name"])

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

        # The latest status may still be one sent before the first picture came out (frames in,
        # state waiting): the stream says live in a later one.
        status = streamer.wait_status(
            lambda s: s.get("frames_in", 0) > 0 and s.get("state") == "live", timeout=10)
        self.assertIsNotNone(status, "no status saying live on the ingest socket: %s"
                             % streamer.status)
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
        # close() says goodbye (1000): the stream ends at once, completed.
        wait_until(lambda: not ds.Client(self.server.url).stream_info(name)["live"], 5,
                   "the stream ended after the goodbye")
        st, _, body = c.post("/api/streams/stop")
        self.assertEqual(st, 404, body)

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
        # An ingest ticket through the token opens one ingest socket; the key stays as it was.
        ticket = api.create_ingest_ticket()
        self.assertEqual(ticket["expires_in_ms"], 60000)
        ws = ds.WebSocket.connect(self.server.url.replace("http", "ws", 1) +
                                  "/ws/ingest?ticket=" + ticket["ticket"], {}, timeout=10)
        ws.send_binary(FRAMES[0])
        while True:
            kind, data = ws.recv(timeout=10)
            self.assertNotEqual(kind, "close", data)
            if kind == "text" and json.loads(data)["type"] == "status":
                break
        ws.close()  # 1000: the streamer is done, the stream ends at once
        wait_until(lambda: not api.stream_info(name)["live"], 5, "the stream ended")
        self.assertEqual(ds.post_frame(self.server.url, key, FRAMES[0])["accepted"], True)
        api.stop_stream()
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


class TestCommentsAndStyles(ClientTestBase):
    """Issue 5 through the SDK: Client helpers, Viewer / Streamer events, the CLI."""

    # One test asks for four styles in a row: above the default 3 per 30 s.
    server_args = ["--builtin-workers", "0", "--style-limit", "20", "--style-window-ms", "60000"]

    def api_user(self, display_name):
        """A fresh account and a ds.Client holding an API token for it."""
        c = self.client()
        user = register(c, display_name=display_name)
        st, _, body = c.post("/api/me/tokens", {"name": "sdk"})
        self.assertEqual(st, 201, body)
        return ds.Client(self.server.url, token=body["token"]), user["username"]

    def assertApiError(self, fn, status, code):
        with self.assertRaises(ds.ApiError) as cm:
            fn()
        self.assertEqual((cm.exception.status, cm.exception.code), (status, code),
                         cm.exception.message)
        self.assertIsInstance(cm.exception.message, str)
        return cm.exception

    def live_channel(self):
        streamer, name = self.api_user("The Streamer")
        streamer.start_stream()
        self.addCleanup(lambda: self._stop_quietly(streamer))
        return streamer, name

    @staticmethod
    def _stop_quietly(api):
        try:
            api.stop_stream()
        except ds.ApiError:
            pass

    def watch(self, name):
        v = ds.Viewer(self.server.url, name).connect()
        self.addCleanup(v.close)
        return v

    def test_comment_and_approve_flow_reach_a_viewer(self):
        streamer, name = self.live_channel()
        fan, fan_name = self.api_user("A Fan")
        v = self.watch(name)
        joined = v.wait_event("styles")  # sent on joining
        self.assertEqual(v.styles, joined["styles"])
        self.assertIn(v.state, ("live", "waiting"))  # the state event comes first
        self.assertEqual(v.styles["policy"], "auto")

        # Settings through the SDK, applied live.
        self.assertEqual(streamer.settings()["style_policy"], "auto")
        s = streamer.update_settings(style_policy="approve", base_style="pencil sketch")
        self.assertEqual((s["style_policy"], s["base_style"]), ("approve", "pencil sketch"))
        self.assertTrue(s["comments_enabled"])
        ev = v.wait_event("settings")
        self.assertEqual(ev["settings"], s)
        self.assertEqual(v.settings, s)
        v.wait_event("styles", lambda e: e["styles"]["policy"] == "approve")
        self.assertEqual(v.styles["current"]["prompt"], "pencil sketch")
        self.assertEqual(streamer.settings(), s)

        # A comment: the SDK returns it, the viewer socket sees it, the list has it.
        comment = fan.post_comment(name, "  hello from the SDK  ")
        self.assertEqual(comment["body"], "hello from the SDK")
        self.assertEqual(comment["author"], {"username": fan_name, "display_name": "A Fan"})
        ev = v.wait_event("comment", lambda e: e["comment"]["id"] == comment["id"])
        self.assertEqual(ev["comment"], comment)
        second = fan.post_comment(name, "second")
        page = ds.Client(self.server.url).comments(name, limit=1)  # public
        self.assertEqual([c["id"] for c in page["comments"]], [second["id"]])
        self.assertIsNotNone(page["next_before"])
        rest = ds.Client(self.server.url).comments(name, before=page["next_before"])
        self.assertEqual([c["id"] for c in rest["comments"]], [comment["id"]])
        self.assertIsNone(rest["next_before"])

        # A style request under policy approve: pending until the streamer approves it.
        out = fan.request_style(name, "neon city")
        req = out["request"]
        self.assertEqual((req["prompt"], req["status"]), ("neon city", "pending"))
        self.assertEqual([r["id"] for r in out["styles"]["pending"]], [req["id"]])
        v.wait_event("styles", lambda e: [r["id"] for r in e["styles"]["pending"]] == [req["id"]])
        self.assertEqual(ds.Client(self.server.url).styles(name)["pending"][0]["id"], req["id"])
        # Only the streamer controls the queue.
        for control in (lambda: fan.approve_style(name, req["id"]),
                        lambda: fan.reject_style(name, req["id"]),
                        lambda: fan.skip_style(name), lambda: fan.clear_styles(name)):
            self.assertApiError(control, 403, "forbidden")
        state = streamer.approve_style(name, req["id"])
        self.assertEqual(state["current"]["source"], "request")
        self.assertEqual(state["current"]["prompt"], "neon city")
        self.assertEqual(state["current"]["request"]["id"], req["id"])
        self.assertEqual(state["pending"], [])
        ev = v.wait_event("styles", lambda e: e["styles"]["current"]["prompt"] == "neon city")
        self.assertEqual(ev["styles"]["current"]["request"]["status"], "active")
        self.assertEqual(v.styles, ev["styles"])
        self.assertApiError(lambda: streamer.approve_style(name, req["id"]), 409, "not_pending")
        self.assertApiError(lambda: streamer.reject_style(name, req["id"]), 409, "not_rejectable")
        self.assertApiError(lambda: streamer.approve_style(name, 999999), 404, "not_found")

        # Reject, queue, skip and clear.
        r2 = fan.request_style(name, "glitch")["request"]
        state = streamer.reject_style(name, r2["id"])
        self.assertEqual(state["pending"], [])
        r3 = fan.request_style(name, "oil painting")["request"]
        r4 = fan.request_style(name, "thermal")["request"]
        streamer.approve_style(name, r3["id"])
        state = streamer.approve_style(name, r4["id"])
        self.assertEqual([r["id"] for r in state["queue"]], [r3["id"], r4["id"]])
        state = streamer.skip_style(name)
        self.assertEqual(state["current"]["request"]["id"], r3["id"])
        v.wait_event("styles", lambda e: e["styles"]["current"]["prompt"] == "oil painting")
        state = streamer.clear_styles(name)
        self.assertEqual((state["queue"], state["pending"]), ([], []))
        self.assertEqual(state["current"]["prompt"], "oil painting")  # the playing one plays on
        state = streamer.skip_style(name)
        self.assertEqual((state["current"]["source"], state["current"]["prompt"]),
                         ("base", "pencil sketch"))
        self.assertEqual(streamer.stream_info(name)["current_style"], "pencil sketch")

        # Deleting: the author may, the viewer socket hears of it.
        self.assertEqual(fan.delete_comment(name, comment["id"]), {"deleted": True})
        self.assertEqual(v.wait_event("comment_deleted")["id"], comment["id"])
        self.assertEqual(streamer.delete_comment(name, second["id"]), {"deleted": True})
        self.assertEqual(v.wait_event("comment_deleted")["id"], second["id"])
        self.assertEqual(ds.Client(self.server.url).comments(name)["comments"], [])
        self.assertApiError(lambda: fan.delete_comment(name, comment["id"]), 404, "not_found")

        # The iterator yields the same events as ("event", dict).
        fan.post_comment(name, "via the iterator")
        for kind, item in v:
            if kind == "event" and item.get("type") == "comment":
                self.assertEqual(item["comment"]["body"], "via the iterator")
                break

    def test_refusals_raise_api_error_with_the_server_code(self):
        streamer, name = self.live_channel()
        fan, _ = self.api_user("Fan")
        anonymous = ds.Client(self.server.url)
        self.assertApiError(lambda: anonymous.post_comment(name, "hi"), 401, "unauthorized")
        self.assertApiError(lambda: anonymous.request_style(name, "neon"), 401, "unauthorized")
        self.assertApiError(lambda: anonymous.update_settings(base_style="x"), 401, "unauthorized")
        self.assertApiError(lambda: fan.post_comment("nobody_here_at_all", "hi"), 404, "not_found")
        self.assertApiError(lambda: fan.styles("nobody_here_at_all"), 404, "not_found")
        self.assertApiError(lambda: fan.post_comment(name, "   "), 400, "invalid_comment")
        self.assertApiError(lambda: fan.post_comment(name, "x" * 501), 400, "invalid_comment")
        self.assertApiError(lambda: fan.request_style(name, "y" * 201), 400, "invalid_prompt")
        self.assertApiError(lambda: streamer.update_settings(style_policy="sometimes"), 400,
                            "invalid_policy")
        self.assertApiError(lambda: streamer.update_settings(style_slot_seconds=1), 400, "invalid_slot")

        streamer.update_settings(comments_enabled=False, styles_enabled=False)
        e = self.assertApiError(lambda: fan.post_comment(name, "hi"), 403, "comments_disabled")
        self.assertIn(b"comments_disabled", e.body)
        self.assertApiError(lambda: fan.request_style(name, "neon"), 403, "styles_disabled")
        self.assertFalse(fan.styles(name)["enabled"])
        streamer.update_settings(comments_enabled=True, styles_enabled=True)
        self.assertEqual(fan.post_comment(name, "back on")["body"], "back on")

        streamer.stop_stream()
        self.assertApiError(lambda: fan.post_comment(name, "anyone?"), 409, "stream_offline")
        self.assertApiError(lambda: fan.request_style(name, "neon"), 409, "stream_offline")
        # Skip and clear on an offline stream change nothing and return the state.
        self.assertEqual(streamer.skip_style(name)["current"]["source"], "base")
        self.assertEqual(streamer.clear_styles(name)["queue"], [])

    def test_cookie_login_comments_and_deletes(self):
        # The password-login Client sends the cookie and the site's Origin on POST and DELETE.
        streamer, name = self.live_channel()
        c = self.client()
        user = register(c)
        before = streamer.settings()
        pw = ds.Client(self.server.url)
        pw.login(user["username"], PASSWORD)
        comment = pw.post_comment(name, "cookie hello")
        self.assertEqual(comment["author"]["username"], user["username"])
        self.assertEqual(pw.request_style(name, "vintage")["request"]["status"], "active")
        self.assertEqual(pw.delete_comment(name, comment["id"]), {"deleted": True})
        self.assertEqual(pw.update_settings(base_style="own channel")["base_style"], "own channel")
        self.assertEqual(streamer.settings(), before)  # only the caller's own

    def test_ingest_socket_gets_the_channel_events(self):
        c, name, key = self.new_streamer_account()
        st, _, body = c.post("/api/me/tokens", {"name": "sdk"})
        self.assertEqual(st, 201, body)
        owner = ds.Client(self.server.url, token=body["token"])
        seen = []
        streamer = ds.Streamer(self.server.url, key,
                               on_message=lambda kind, data: seen.append((kind, data)))
        streamer.connect()  # the key starts the stream
        self.addCleanup(streamer.close, flush=False)
        fan, _ = self.api_user("Fan")

        def wait_for(pred, what):
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if pred():
                    return
                time.sleep(0.05)
            self.fail("the ingest socket never saw %s; events: %r" % (what, seen[-10:]))

        wait_for(lambda: streamer.styles is not None, "styles on joining")
        owner.update_settings(style_slot_seconds=45)
        wait_for(lambda: (streamer.settings or {}).get("style_slot_seconds") == 45, "settings")
        comment = fan.post_comment(name, "to the cockpit")
        wait_for(lambda: any(k == "event" and d.get("type") == "comment"
                             and d["comment"]["id"] == comment["id"] for k, d in seen), "comment")
        fan.request_style(name, "neon")
        wait_for(lambda: streamer.styles["current"]["prompt"] == "neon", "the new style")
        self.assertEqual(streamer.styles["slot_seconds"], 45)
        owner.stop_stream()

    def test_cli_comment_and_style(self):
        streamer, name = self.live_channel()
        c = self.client()
        register(c)
        st, _, body = c.post("/api/me/tokens", {"name": "cli"})
        self.assertEqual(st, 201, body)
        env = dict(os.environ, DREAMSTREAM_API_TOKEN=body["token"])

        def cli(*args):
            return subprocess.run([sys.executable, CLIENT_PY] + list(args), capture_output=True,
                                  text=True, timeout=60, env=env)

        base = ["--server", self.server.url, "--user", name]
        out = cli("comment", *base, "hello from the CLI")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        cid = json.loads(out.stdout)["id"]
        out = cli("comment", *base, "--limit", "5")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout)["comments"][0]["id"], cid)
        out = cli("style", *base, "neon city")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertEqual(json.loads(out.stdout)["request"]["prompt"], "neon city")
        out = cli("style", *base)
        self.assertEqual(json.loads(out.stdout)["current"]["prompt"], "neon city")
        out = cli("style", *base, "--skip")  # not the streamer
        self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
        self.assertIn("forbidden", out.stderr)
        out = cli("comment", *base, "--delete", str(cid))
        self.assertEqual((out.returncode, json.loads(out.stdout)), (0, {"deleted": True}))
        streamer.update_settings(comments_enabled=False)
        out = cli("comment", *base, "muted?")
        self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
        self.assertIn("comments_disabled", out.stderr)
        env["DREAMSTREAM_API_TOKEN"] = "dst_not_a_real_token"
        out = cli("style", *base, "neon")
        self.assertEqual(out.returncode, 3, out.stdout + out.stderr)
        self.assertIn("401", out.stderr)


class TestCloseCodes(unittest.TestCase):
    """The SDK's close-code table is docs/protocol.md's, and it is what the SDK acts on."""

    def test_table_matches_the_protocol_doc(self):
        doc = doc_close_codes()
        self.assertGreaterEqual(len(doc), 12, "docs/protocol.md has a close-code table")
        self.assertEqual({int(c): c.name.lower() for c in ds.CloseCode}, doc)
        self.assertEqual(set(ds.CLOSE_MEANINGS), set(ds.CloseCode))
        self.assertTrue(all(ds.CLOSE_MEANINGS.values()))

    def test_meanings(self):
        self.assertEqual(ds.close_meaning(4001), "replaced by a newer connection")
        self.assertEqual(ds.close_meaning(ds.CloseCode.NO_CREDITS), "not enough credits")
        self.assertEqual(ds.close_meaning(1006), "connection lost")
        self.assertEqual(ds.close_meaning(None), "connection lost")
        self.assertTrue(ds.CloseCode.UNAUTHORIZED == 4401)


class TestJobHoldingVectors(unittest.TestCase):
    """The SDK worker's held messages against tests/vectors/job_holding.json (the C++ worker and
    the JS SDK are driven through the same steps)."""

    def test_held_messages_follow_the_shared_vectors(self):
        with open(VECTORS_HOLDING, encoding="utf-8") as f:
            cases = json.load(f)["cases"]
        self.assertGreaterEqual(len(cases), 8)
        ids = lambda jobs: [j["job_id"] for j in jobs]  # noqa: E731
        for c in cases:
            held = ds._Held(c["slots"])
            for i, step in enumerate(c["steps"]):
                where = "%s, step %d: %s" % (c["name"], i, step)
                op = step["op"]
                if op == "header":
                    jobs = [{"job_id": j, "stream": "alice"} for j in step["jobs"]]
                    self.assertEqual(ids(held.header(jobs, step.get("batch", False))),
                                     step["expect_lost"], where)
                elif op == "binary":
                    what, refused = held.binary(b"\xff\xd8 jpeg")
                    self.assertEqual(what, step["expect"], where)
                    self.assertEqual(ids(refused), step.get("refused", []), where)
                elif op == "cancel":
                    self.assertEqual(held.cancel(step["job"]), step["expect"], where)
                elif op == "start":
                    message = held.next(block=False)
                    if step["expect"] is None:
                        self.assertIsNone(message, where)
                    else:
                        self.assertIsNotNone(message, where)
                        self.assertEqual(ids(j for j, _ in message[1]), step["expect"], where)
                elif op == "finish":
                    held.finish()
                else:
                    self.fail("unknown op %s" % op)


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

    def test_a_batch_shares_one_call_per_strength_and_steps(self):
        mod = self.load()
        plans = [mod.plan(p) for p in ({"strength": 0.5}, {"strength": 0.5, "prompt": "x"},
                                       {"strength": 0.8}, {"strength": 0.5, "seed": 3})]
        self.assertEqual(mod.groups(plans), [(0.5, 2, [0, 1, 3]), (0.8, 2, [2])])
        self.assertEqual(mod.groups([]), [])

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
