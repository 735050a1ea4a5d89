"""The live pipeline over real sockets: lifecycle, ingest validation, workers, fan-out, bad input."""

import json
import os
import socket
import threading
import time
import unittest

import dreamstream as ds
from harness import ServerTestCase, register, rss_kib

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
WORKER_TOKEN = "dsw_live_test_token_0123456789"


def fixture(n):
    with open(os.path.join(FIXTURES, "frame%d.jpg" % n), "rb") as f:
        return f.read()


def big_frame():
    """~512 KB processed frames (a fixture padded with JPEG comment segments): a socket that is
    not read fills the kernel's buffers within a few of them."""
    pad = b"".join(b"\xff\xfe\xff\xff" + bytes(65533) for _ in range(8))
    return fixture(2)[:2] + pad + fixture(2)[2:]


def ws_url(server, path):
    return server.url.replace("http://", "ws://") + path


def recv_until(ws, pred, timeout=10.0):
    """Reads messages until pred(kind, data) is true; returns (kind, data)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("condition not met")
        kind, data = ws.recv(timeout=left)
        if pred(kind, data):
            return kind, data
        if kind == "close":
            raise AssertionError("closed: %r" % (data,))


def is_event(type_, **fields):
    def pred(kind, data):
        if kind != "text":
            return False
        msg = json.loads(data)
        return msg.get("type") == type_ and all(msg.get(k) == v for k, v in fields.items())
    return pred


class StreamerMixin:
    def new_streamer(self):
        c = self.client()
        user = register(c)
        st, _, body = c.post("/api/me/stream-key")
        self.assertEqual(st, 201)
        return c, user, body["stream_key"]

    def ingest(self, key):
        return ds.WebSocket.connect(ws_url(self.server, "/ws/ingest"),
                                    {"Authorization": "Bearer " + key}, timeout=10)


class TestLifecycle(StreamerMixin, ServerTestCase):
    def test_start_stop_and_history(self):
        c, user, _ = self.new_streamer()
        st, _, body = c.post("/api/streams/start")
        self.assertEqual(st, 201)
        self.assertEqual(body["url"], "/u/" + user["username"])
        self.assertError(c.post("/api/streams/start"), 409, "stream_active")
        st, _, info = c.get("/api/streams/" + user["username"])
        self.assertTrue(info["live"])
        st, _, body = c.post("/api/streams/stop")
        self.assertEqual(st, 200)
        self.assertEqual(body["stream"]["status"], "completed")
        self.assertEqual(body["stream"]["cost_cents"], 0)  # no frame: nothing billed
        st, _, hist = c.get("/api/streams/sessions")
        self.assertEqual(len(hist["sessions"]), 1)
        self.assertError(c.post("/api/streams/stop"), 404)

    def test_start_needs_login(self):
        self.assertError(self.client().post("/api/streams/start"), 401)

    def test_concurrent_starts_give_one_stream(self):
        c, user, _ = self.new_streamer()
        results = []
        def go():
            results.append(c.post("/api/streams/start").status)
        threads = [threading.Thread(target=go) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(sorted(results), [201] + [409] * 7)
        self.assertEqual(self.server.db_count("stream_sessions", "user_id = ? AND ended_ms IS NULL",
                                              (user["id"],)), 1)
        c.post("/api/streams/stop")

    def test_unknown_streamer_is_404(self):
        self.assertError(self.client().get("/api/streams/nosuchuser"), 404)
        self.assertError(self.client().get("/u/nosuchuser/latest.jpg"), 404)


class TestPipeline(StreamerMixin, ServerTestCase):
    """Built-in CPU worker (the default)."""

    def test_viewer_receives_processed_frames_not_raw(self):
        c, user, key = self.new_streamer()
        name = user["username"]
        viewer = ds.WebSocket.connect(ws_url(self.server, "/ws/watch/" + name), timeout=10)
        recv_until(viewer, is_event("state", state="offline"))
        ing = self.ingest(key)
        raw = {fixture(i) for i in range(1, 5)}
        for i in range(1, 5):
            ing.send_binary(fixture(i))
        kind, frame = recv_until(viewer, lambda k, d: k == "binary", timeout=20)
        self.assertTrue(frame.startswith(b"\xff\xd8"))
        self.assertNotIn(frame, raw)
        st, headers, _ = c.get("/u/%s/latest.jpg" % name)
        self.assertEqual(st, 200)
        self.assertEqual(headers.get("Content-Type"), "image/jpeg")
        # The streamer gets status with processing figures.
        _, status = recv_until(ing, is_event("status"), timeout=10)
        status = json.loads(status)
        for k in ("fps_in", "fps_out", "model_ms", "frame_age_ms", "workers", "viewers",
                  "balance_cents", "remaining_minutes"):
            self.assertIn(k, status)
        self.assertEqual(status["viewers"], 1)
        c.post("/api/streams/stop")
        recv_until(viewer, is_event("state", state="ended"))
        recv_until(ing, is_event("ended", reason="stopped"))
        # The first frame billed minute 1.
        st, _, credits = c.get("/api/credits")
        self.assertEqual(credits["balance_cents"], 1180)

    def test_an_events_only_viewer_gets_no_pictures_but_counts(self):
        c, user, key = self.new_streamer()
        name = user["username"]
        quiet = ds.WebSocket.connect(ws_url(self.server, "/ws/watch/%s?frames=none&video=h264"
                                            % name), timeout=10)
        recv_until(quiet, is_event("state", state="offline"))
        seeing = ds.WebSocket.connect(ws_url(self.server, "/ws/watch/" + name), timeout=10)
        ing = self.ingest(key)
        for i in range(1, 5):
            ing.send_binary(fixture(i))
        recv_until(seeing, lambda k, d: k == "binary", timeout=20)
        # The quiet one hears the stream go live and the viewer count, and no picture.
        got = []
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                kind, data = quiet.recv(timeout=0.2)
            except TimeoutError:
                ing.send_binary(fixture(1))
                continue
            got.append((kind, data))
        kinds = {k for k, _ in got}
        self.assertEqual(kinds, {"text"}, "only events: %r" % kinds)
        types = {json.loads(d).get("type") for _, d in got}
        self.assertNotIn("frame", types)
        self.assertNotIn("video", types)
        self.assertTrue(any(json.loads(d).get("type") == "state" and
                            json.loads(d).get("state") == "live" for _, d in got), types)
        recv_until(ing, is_event("status", viewers=2), timeout=10)  # it counts as a viewer
        # Its video=h264 started no encoder: nobody here gets video.
        metrics = self.client().get("/metrics").text
        self.assertRegex(metrics, r"(?m)^dreamstream_video_encoders 0$")
        c.post("/api/streams/stop")

    def test_mjpeg_stream(self):
        c, user, key = self.new_streamer()
        ing = self.ingest(key)
        ing.send_binary(fixture(1))
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=20)
        conn.request("GET", "/u/%s/stream.mjpeg" % user["username"])
        resp = conn.getresponse()
        self.assertEqual(resp.status, 200)
        self.assertIn("multipart/x-mixed-replace", resp.getheader("Content-Type"))
        got = b""
        deadline = time.monotonic() + 20
        while b"\xff\xd9" not in got and time.monotonic() < deadline:
            ing.send_binary(fixture(2))
            got += resp.read1(65536)
        self.assertIn(b"Content-Type: image/jpeg", got)
        self.assertIn(b"\xff\xd8", got)
        conn.close()
        c.post("/api/streams/stop")

    def test_http_frame_post(self):
        c, user, key = self.new_streamer()
        r = ds.post_frame(self.server.url, key, fixture(1))
        self.assertTrue(r["accepted"])
        with self.assertRaises(ds.ApiError) as e:
            ds.post_frame(self.server.url, key, b"not a jpeg")
        self.assertEqual(e.exception.status, 400)
        with self.assertRaises(ds.ApiError) as e:
            ds.post_frame(self.server.url, "dsk_wrong", fixture(1))
        self.assertEqual(e.exception.status, 401)
        c.post("/api/streams/stop")


class TestIngestBadInput(StreamerMixin, ServerTestCase):
    server_args = ("--max-frame-bytes", "20000")

    def test_bad_frames_get_errors_then_close(self):
        c, user, key = self.new_streamer()
        ing = self.ingest(key)
        ing.send_binary(b"GIF89a not a jpeg")
        _, err = recv_until(ing, is_event("error"))
        self.assertEqual(json.loads(err)["code"], "bad_frame")
        good = fixture(1)
        ing.send_binary(good[: len(good) // 2])  # truncated
        self.assertEqual(json.loads(recv_until(ing, is_event("error"))[1])["code"], "bad_frame")
        ing.send_binary(b"\xff\xd8" + b"\x00" * 30000 + b"\xff\xd9")  # over the limit
        self.assertEqual(json.loads(recv_until(ing, is_event("error"))[1])["code"], "too_large")
        ing.send_text("hello")  # text where binary is expected
        self.assertEqual(json.loads(recv_until(ing, is_event("error"))[1])["code"], "bad_frame")
        for _ in range(10):
            ing.send_binary(b"junk")
        kind, _ = recv_until(ing, lambda k, d: k == "close", timeout=10)
        self.assertEqual(ing.close_code, 1008)
        self.assertHealthy()
        # Nothing was billed: no valid frame arrived.
        self.assertEqual(c.get("/api/credits").json["balance_cents"], 1200)
        c.post("/api/streams/stop")

    def test_ingest_without_auth_or_with_bad_key(self):
        for headers in ({}, {"Authorization": "Bearer dsk_nope"}):
            ws = ds.WebSocket.connect(ws_url(self.server, "/ws/ingest"), headers, timeout=10)
            recv_until(ws, lambda k, d: k == "close")
            self.assertEqual(ws.close_code, 4401)

    def test_cookie_ingest_from_foreign_origin_refused(self):
        c, user, key = self.new_streamer()
        c.post("/api/streams/start")
        ws = ds.WebSocket.connect(ws_url(self.server, "/ws/ingest"),
                                  {"Cookie": "ds_session=" + c.session, "Origin": "http://evil.example"},
                                  timeout=10)
        recv_until(ws, lambda k, d: k == "close")
        self.assertEqual(ws.close_code, 4403)
        c.post("/api/streams/stop")

    def test_key_of_one_user_cannot_feed_another_stream(self):
        c1, u1, key1 = self.new_streamer()
        c2, u2, key2 = self.new_streamer()
        ing = self.ingest(key1)
        ing.send_binary(fixture(1))
        recv_until(ing, is_event("status"), timeout=10)
        self.assertFalse(c2.get("/api/streams/" + u2["username"]).json["live"])
        self.assertTrue(c1.get("/api/streams/" + u1["username"]).json["live"])
        c1.post("/api/streams/stop")

    def test_second_ingest_replaces_first(self):
        c, user, key = self.new_streamer()
        first = self.ingest(key)
        first.send_binary(fixture(1))
        second = self.ingest(key)
        recv_until(first, lambda k, d: k == "close", timeout=10)
        self.assertEqual(first.close_code, 4001)
        second.send_binary(fixture(2))
        recv_until(second, is_event("status"), timeout=10)
        c.post("/api/streams/stop")

    def test_streamers_own_watch_socket_is_not_counted(self):
        c, user, _ = self.new_streamer()
        self.assertEqual(c.post("/api/streams/start").status, 201)
        url = ws_url(self.server, "/ws/watch/" + user["username"])
        own = ds.WebSocket.connect(url, {"Cookie": "ds_session=" + c.session}, timeout=10)
        recv_until(own, is_event("viewers", count=0))
        other = ds.WebSocket.connect(url, timeout=10)
        recv_until(other, is_event("viewers", count=1))
        recv_until(own, is_event("viewers", count=1))
        _, _, info = c.get("/api/streams/" + user["username"])
        self.assertEqual(info["viewers"], 1)
        own.close()
        other.close()
        c.post("/api/streams/stop")

    def test_watch_unknown_user_closes(self):
        ws = ds.WebSocket.connect(ws_url(self.server, "/ws/watch/nobody_here"), timeout=10)
        recv_until(ws, lambda k, d: k == "close")
        self.assertEqual(ws.close_code, 4404)
        ws = ds.WebSocket.connect(ws_url(self.server, "/ws/watch/BAD%20NAME"), timeout=10)
        recv_until(ws, lambda k, d: k == "close")
        self.assertEqual(ws.close_code, 4404)


class TestIngestTickets(StreamerMixin, ServerTestCase):
    """A web app's server asks for a single-use ticket with its API token and hands it to the
    browser for /ws/ingest?ticket=: the stream key stays secret and keeps working."""

    def ticket(self, token):
        r = self.client().post("/api/ingest/ticket", headers={"Authorization": "Bearer " + token},
                               cookies=False, origin=None)
        self.assertEqual(r.status, 201, r.body)
        self.assertTrue(r.json["ticket"].startswith("dit_"))
        self.assertEqual(r.json["expires_in_ms"], 60000)
        return r.json["ticket"]

    def by_ticket(self, ticket):
        return ds.WebSocket.connect(ws_url(self.server, "/ws/ingest?ticket=" + ticket), {},
                                    timeout=10)

    def test_a_ticket_starts_the_stream_once_and_the_stream_key_keeps_streaming(self):
        c, user, key = self.new_streamer()
        st, _, tok = c.post("/api/me/tokens", {"name": "web app"})
        self.assertEqual(st, 201)
        # OBS streams with the key; the web app goes live later with a ticket and replaces it
        # (4001, as any newer ingest does) without the key being rotated.
        obs = self.ingest(key)
        obs.send_binary(fixture(1))
        recv_until(obs, is_event("status"))
        stream_id = c.get("/api/streams/" + user["username"]).json["session_id"]
        t = self.ticket(tok["token"])
        web = self.by_ticket(t)
        recv_until(obs, lambda k, d: k == "close")
        self.assertEqual(obs.close_code, 4001)
        web.send_binary(fixture(2))
        _, status = recv_until(web, is_event("status"))
        self.assertEqual(json.loads(status)["stream_id"], stream_id)
        # Used up: the same ticket opens nothing.
        again = self.by_ticket(t)
        recv_until(again, lambda k, d: k == "close")
        self.assertEqual(again.close_code, 4401)
        web.close(1001, "going away")  # a tab closing: the stream waits for a reconnect
        # The key still opens the (same) stream.
        obs = self.ingest(key)
        obs.send_binary(fixture(1))
        _, status = recv_until(obs, is_event("status"))
        self.assertEqual(json.loads(status)["stream_id"], stream_id)
        obs.close()
        c.post("/api/streams/stop")

    def test_revoking_the_token_that_asked_ends_the_ticket_socket_and_bills(self):
        c, user, key = self.new_streamer()
        st, _, tok = c.post("/api/me/tokens", {"name": "web app"})
        web = self.by_ticket(self.ticket(tok["token"]))
        web.send_binary(fixture(1))
        recv_until(web, is_event("status"))
        self.assertEqual(c.delete("/api/me/tokens/%d" % tok["id"]).status, 200)
        _, ended = recv_until(web, is_event("ended"))
        self.assertEqual(json.loads(ended)["reason"], "revoked")
        recv_until(web, lambda k, d: k == "close")
        self.assertEqual(web.close_code, 4401)
        self.assertFalse(c.get("/api/streams/" + user["username"]).json["live"])
        sessions = c.get("/api/streams/sessions").json["sessions"]
        self.assertEqual(sessions[0]["cost_cents"], 20)  # one started minute

    def test_two_sockets_racing_with_one_ticket_let_one_in(self):
        c, user, key = self.new_streamer()
        for _ in range(3):
            t = c.post("/api/ingest/ticket").json["ticket"]
            codes = []

            def go():
                ws = self.by_ticket(t)
                ws.send_binary(fixture(1))
                kind, data = recv_until(ws, lambda k, d: k == "close" or is_event("status")(k, d))
                codes.append(ws.close_code if kind == "close" else "in")
                if kind != "close":
                    ws.close()
            threads = [threading.Thread(target=go) for _ in range(4)]
            for th in threads:
                th.start()
            for th in threads:
                th.join(15)
            self.assertEqual(sorted(codes, key=str), sorted(["in", 4401, 4401, 4401], key=str))
        c.post("/api/streams/stop")

    def test_tickets_need_a_login_and_are_capped(self):
        anon = self.client()
        self.assertEqual(anon.post("/api/ingest/ticket").status, 401)
        c, user, key = self.new_streamer()
        for _ in range(10):
            self.assertEqual(c.post("/api/ingest/ticket").status, 201)
        r = c.post("/api/ingest/ticket")
        self.assertEqual(r.status, 429)
        self.assertEqual(r.json["error"]["code"], "rate_limited")
        for bad in ("dit_forged", "dsk_not_a_ticket", "x" * 5000):
            ws = self.by_ticket(bad)
            recv_until(ws, lambda k, d: k == "close")
            self.assertEqual(ws.close_code, 4401)
        self.assertFalse(c.get("/api/streams/" + user["username"]).json["live"])
        self.assertHealthy()


class TestMetrics(StreamerMixin, ServerTestCase):
    """GET /metrics in the Prometheus text format, on a server of its own (counters start at 0)."""

    def metrics(self):
        r = self.client().get("/metrics")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers.get("Content-Type", "").startswith("text/plain; version=0.0.4"))
        values = {}
        for line in r.text.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                values[key] = int(value)
        return values

    def test_metrics_follow_the_pipeline(self):
        before = self.metrics()
        self.assertEqual(before["dreamstream_frames_received_total"], 0)
        self.assertEqual(before['dreamstream_workers{state="idle"}'], 1)  # the built-in worker
        c, user, key = self.new_streamer()
        name = user["username"]
        viewer = ds.WebSocket.connect(ws_url(self.server, "/ws/watch/" + name), timeout=10)
        ing = self.ingest(key)
        for i in range(1, 5):
            ing.send_binary(fixture(i))
        recv_until(viewer, lambda k, d: k == "binary", timeout=20)
        # The ingest socket has no acknowledgement: the first output can be shown before the
        # last frames have reached the server.
        deadline = time.monotonic() + 10
        after = self.metrics()
        while after["dreamstream_frames_received_total"] < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
            after = self.metrics()
        self.assertEqual(after['dreamstream_streams{state="live"}'], 1)
        self.assertEqual(after["dreamstream_viewers"], 1)
        self.assertEqual(after["dreamstream_frames_received_total"], 4)
        self.assertGreaterEqual(after["dreamstream_frames_shown_total"], 1)
        self.assertGreaterEqual(after["dreamstream_jobs_sent_total"],
                                after["dreamstream_frames_shown_total"])
        # Every frame was handed to the worker, dropped for a newer one, skipped as unchanged,
        # or still waits.
        handled = (after["dreamstream_jobs_sent_total"] + after["dreamstream_frames_dropped_total"]
                   + after["dreamstream_frames_skipped_total"])
        self.assertLessEqual(handled, 4)
        self.assertGreaterEqual(handled, 3)
        viewer.close()
        ing.close()
        c.post("/api/streams/stop")


class TestExternalWorkers(StreamerMixin, ServerTestCase):
    server_args = ("--builtin-workers", "0", "--worker-token", WORKER_TOKEN, "--job-timeout-ms", "1500")

    def worker(self, token=WORKER_TOKEN):
        ws = ds.WebSocket.connect(ws_url(self.server, "/ws/worker"),
                                  {"Authorization": "Bearer " + token}, timeout=10)
        ws.send_json({"type": "hello", "name": "test-worker", "protocol": 1})
        recv_until(ws, is_event("welcome"))
        return ws

    def next_job(self, ws, timeout=10):
        _, header = recv_until(ws, is_event("job"), timeout)
        kind, jpeg = ws.recv(timeout=timeout)
        self.assertEqual(kind, "binary")
        return json.loads(header), jpeg

    def answer_jobs(self, w, jpeg, stop):
        """Answers every job with jpeg until stop is set."""
        while not stop.is_set():
            try:
                job, _ = self.next_job(w, timeout=1)
            except (TimeoutError, OSError, AssertionError):
                continue
            w.send_json({"type": "result", "job_id": job["job_id"]})
            w.send_binary(jpeg)

    def small_window_viewer(self, name, query=""):
        """A raw viewer socket with a 4 KiB receive window, upgraded; the response is read
        byte by byte, so nothing after it is taken from the socket."""
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", self.server.port))
        sock.sendall(("GET /ws/watch/%s%s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n" % (name, query)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1)
        self.assertTrue(head.startswith(b"HTTP/1.1 101 "), head)
        return sock

    def test_a_viewer_that_stops_reading_holds_back_neither_the_stream_nor_others(self):
        c, user, key = self.new_streamer()
        name = user["username"]
        big = big_frame()
        stalled = self.small_window_viewer(name)  # and never reads again
        fast = ds.WebSocket.connect(ws_url(self.server, "/ws/watch/" + name), timeout=10,
                                    max_message=4 << 20)
        w = self.worker()
        ing = self.ingest(key)
        rss_before = rss_kib(self.server.proc.pid)
        stop = threading.Event()
        shown = []

        def watch():
            while not stop.is_set():
                try:
                    kind, data = fast.recv(timeout=0.5)
                except (TimeoutError, OSError):
                    continue
                if kind == "binary":
                    shown.append(time.monotonic())

        threads = [threading.Thread(target=self.answer_jobs, args=(w, big, stop)),
                   threading.Thread(target=watch)]
        for t in threads:
            t.start()
        try:
            started = time.monotonic()
            for n in range(100):  # 4 s at 25 fps
                ing.send_binary(fixture(1 + n % 4))
                time.sleep(0.04)
            time.sleep(1.0)
        finally:
            stop.set()
            for t in threads:
                t.join()
        rss_after = rss_kib(self.server.proc.pid)
        # The reading viewer kept getting frames through the whole push, not only at its start.
        self.assertGreaterEqual(len(shown), 20)
        self.assertGreater(shown[-1] - started, 3.0)
        # 100 frames of 512 KB queued for the stalled viewer would be 50 MB; latest-wins holds
        # at most two of them.
        self.assertLess(rss_after - rss_before, 24 * 1024,
                        "server RSS grew by %d KiB" % (rss_after - rss_before))
        stalled.close()
        fast.close()
        ing.close()
        w.close()
        c.post("/api/streams/stop")

    def test_a_slow_viewer_that_pings_gets_whole_frames_and_its_pongs_between_them(self):
        # Frames are written straight to the socket and the pongs through Beast
        # (net/frame_stream.hpp): with a small receive window every frame is written in parts,
        # and a pong must come between two frames, never inside one.
        c, user, key = self.new_streamer()
        name = user["username"]
        big = big_frame()
        sock = self.small_window_viewer(name, "?frames=inline")
        w = self.worker()
        ing = self.ingest(key)
        stop = threading.Event()
        sent_pings = []
        lock = threading.Lock()

        def push_and_ping():
            n = 0
            while not stop.is_set():
                ing.send_binary(fixture(1 + n % 4))
                payload = b"p%d" % n
                with lock:
                    sock.sendall(bytes([0x89, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
                    sent_pings.append(payload)
                n += 1
                time.sleep(0.05)

        threads = [threading.Thread(target=self.answer_jobs, args=(w, big, stop)),
                   threading.Thread(target=push_and_ping)]
        for t in threads:
            t.start()
        frames = 0
        pongs = []
        order = []
        data = b""
        sock.settimeout(10)

        def need(k):
            nonlocal data
            while len(data) < k:
                time.sleep(0.002)  # a slow reader: the server's writes go out in parts
                chunk = sock.recv(4096)
                if not chunk:
                    raise EOFError("closed after %d frames" % frames)
                data += chunk

        try:
            deadline = time.monotonic() + 30
            while (frames < 4 or len(pongs) < 4 or "pong" not in order[1:-1]) \
                    and time.monotonic() < deadline:
                need(2)
                b0, b1 = data[0], data[1]
                self.assertEqual(b0 & 0xF0, 0x80, "FIN set, no RSV bits: %r" % data[:16])
                self.assertFalse(b1 & 0x80, "server frames are not masked")
                n, pos = b1 & 0x7F, 2
                if n == 126:
                    need(4)
                    n, pos = int.from_bytes(data[2:4], "big"), 4
                elif n == 127:
                    need(10)
                    n, pos = int.from_bytes(data[2:10], "big"), 10
                need(pos + n)
                payload, data = data[pos:pos + n], data[pos + n:]
                opcode = b0 & 0x0F
                if opcode == 0x2:
                    meta_len = int.from_bytes(payload[:4], "big")
                    meta = json.loads(payload[4:4 + meta_len])
                    self.assertEqual(meta["type"], "frame")
                    self.assertEqual(payload[4 + meta_len:], big, "the whole JPEG, unbroken")
                    frames += 1
                    order.append("frame")
                elif opcode == 0xA:
                    pongs.append(payload)
                    order.append("pong")
                else:
                    self.assertEqual(opcode, 0x1, "only texts, frames and pongs: %r" % data[:16])
                    json.loads(payload)
        finally:
            stop.set()
            for t in threads:
                t.join()
        self.assertGreaterEqual(frames, 4)
        self.assertGreaterEqual(len(pongs), 4)
        self.assertIn("pong", order[1:-1], "a pong between two frames")
        with lock:
            self.assertEqual(pongs, sent_pings[:len(pongs)], "every ping answered, in order")
        sock.close()
        ing.close()
        w.close()
        c.post("/api/streams/stop")

    def test_worker_protocol_and_bad_results(self):
        c, user, key = self.new_streamer()
        viewer = ds.WebSocket.connect(ws_url(self.server, "/ws/watch/" + user["username"]), timeout=10)
        w = self.worker()
        ing = self.ingest(key)
        ing.send_binary(fixture(1))
        job, jpeg = self.next_job(w)
        self.assertEqual(jpeg, fixture(1))
        self.assertEqual(job["stream"], user["username"])
        self.assertIn("prompt", job["params"])
        # A result for a job it does not hold.
        w.send_json({"type": "result", "job_id": "j99999"})
        w.send_binary(fixture(3))
        self.assertEqual(json.loads(recv_until(w, is_event("error"))[1])["code"], "unknown_job")
        # Binary without a header.
        w.send_binary(fixture(3))
        self.assertEqual(json.loads(recv_until(w, is_event("error"))[1])["code"], "unexpected_binary")
        # The real answer reaches the viewer.
        w.send_json({"type": "result", "job_id": job["job_id"], "timings": {"infer_ms": 5}})
        w.send_binary(fixture(4))
        _, frame = recv_until(viewer, lambda k, d: k == "binary", timeout=10)
        self.assertEqual(frame, fixture(4))
        c.post("/api/streams/stop")

    def test_latest_frame_wins_while_worker_busy(self):
        c, user, key = self.new_streamer()
        w = self.worker()
        ing = self.ingest(key)
        ing.send_binary(fixture(1))
        job, _ = self.next_job(w)
        for i in (2, 3, 4):  # three frames while busy: only the newest survives
            ing.send_binary(fixture(i))
        time.sleep(0.5)
        w.send_json({"type": "result", "job_id": job["job_id"]})
        w.send_binary(fixture(1))
        job2, jpeg2 = self.next_job(w)
        self.assertEqual(jpeg2, fixture(4))
        self.assertGreater(job2["seq"], job["seq"] + 2)
        w.send_json({"type": "error", "job_id": job2["job_id"], "message": "oom"})
        c.post("/api/streams/stop")

    def test_stalled_worker_loses_job_and_stream_goes_on(self):
        c, user, key = self.new_streamer()
        stalled = self.worker()
        ing = self.ingest(key)
        ing.send_binary(fixture(1))
        self.next_job(stalled)
        # Never answers: past the 1.5 s deadline it is disconnected.
        recv_until(stalled, lambda k, d: k == "close", timeout=10)
        fresh = self.worker()
        ing.send_binary(fixture(2))
        job, jpeg = self.next_job(fresh)
        self.assertEqual(jpeg, fixture(2))
        c.post("/api/streams/stop")

    def test_disconnected_worker_job_is_lost_stream_continues(self):
        c, user, key = self.new_streamer()
        w1 = self.worker()
        ing = self.ingest(key)
        ing.send_binary(fixture(1))
        self.next_job(w1)
        w1.close()
        w2 = self.worker()
        ing.send_binary(fixture(3))
        _, jpeg = self.next_job(w2)
        self.assertEqual(jpeg, fixture(3))
        c.post("/api/streams/stop")

    def test_worker_without_valid_token_is_refused(self):
        ws = ds.WebSocket.connect(ws_url(self.server, "/ws/worker"),
                                  {"Authorization": "Bearer dsw_wrong"}, timeout=10)
        recv_until(ws, lambda k, d: k == "close")
        self.assertEqual(ws.close_code, 4401)


if __name__ == "__main__":
    unittest.main()
