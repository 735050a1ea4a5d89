"""Issue 8: what an anonymous or hostile client does to a server on the internet.

Each class is a regression test for one or more items of the issue (numbers in the names);
each test fails on the code before the fix.
"""

import json
import os
import re
import resource
import socket
import struct
import threading
import time
import unittest

import dreamstream as ds
from harness import (PASSWORD, Server, ServerTestCase, cpu_seconds, fd_count, login, register,
                     unique_name)
from test_live import StreamerMixin, fixture, is_event, recv_until, ws_url
from test_payments import run_admin

WORKER_TOKEN = "dsw_hardening_test_token_0123456789"
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:?\d\d level=\w+ ")


def reset_after(sock):
    """Closes with an RST instead of a FIN (SO_LINGER 0), as a client that vanishes."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def wait_for(pred, timeout=10.0, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(step)
    return pred()


def close_of(ws, timeout=10.0):
    """Reads until the close frame; returns (code, texts seen)."""
    texts = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no close")
        try:
            kind, data = ws.recv(timeout=left)
        except ds.ConnectionClosed as e:
            return e.code, texts
        if kind == "close":
            return (data[0] if isinstance(data, tuple) else ws.close_code), texts
        if kind == "text":
            texts.append(json.loads(data))


class Pusher(threading.Thread):
    """Sends fixture frames on an ingest socket until stopped or closed."""

    def __init__(self, ws, fps=10):
        super().__init__(daemon=True)
        self.ws, self.fps, self.stop_flag = ws, fps, threading.Event()
        self.frames = [fixture(1), fixture(2)]

    def run(self):
        i = 0
        while not self.stop_flag.is_set():
            try:
                self.ws.send_binary(self.frames[i % 2])
            except Exception:
                return
            i += 1
            time.sleep(1.0 / self.fps)

    def stop(self):
        self.stop_flag.set()


class TestMjpegViewers(StreamerMixin, ServerTestCase):
    server_args = ["--builtin-workers", "1", "--idle-timeout-ms", "2000"]

    def viewers(self, name):
        st, _, body = self.client().get("/api/streams/" + name)
        self.assertEqual(st, 200)
        return body["viewers"]

    def test_item1_reset_mjpeg_requests_leave_no_phantom_viewer_or_descriptor(self):
        _, user, _ = self.new_streamer()
        name = user["username"]
        pid = self.server.proc.pid
        self.assertEqual(self.client().get("/healthz").status, 200)
        baseline = fd_count(pid)
        request = ("GET /u/%s/stream.mjpeg HTTP/1.1\r\nHost: x\r\n\r\n" % name).encode()
        for _ in range(300):
            s = socket.create_connection(("127.0.0.1", self.server.port))
            s.sendall(request)
            reset_after(s)
        self.assertTrue(wait_for(lambda: self.viewers(name) == 0, 10), "phantom viewers remain")
        self.assertTrue(wait_for(lambda: fd_count(pid) <= baseline + 2, 10),
                        "descriptors %d, baseline %d" % (fd_count(pid), baseline))

    def test_item1_mjpeg_reader_that_stops_reading_is_dropped(self):
        _, user, key = self.new_streamer()
        name = user["username"]
        ingest = self.ingest(key)
        pusher = Pusher(ingest, fps=25)
        pusher.start()
        try:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(("127.0.0.1", self.server.port))
            s.sendall(("GET /u/%s/stream.mjpeg HTTP/1.1\r\nHost: x\r\n\r\n" % name).encode())
            self.assertTrue(wait_for(lambda: self.viewers(name) == 1, 10))
            # Never reads: once the buffers are full, a write stalls past the 2 s timeout.
            self.assertTrue(wait_for(lambda: self.viewers(name) == 0, 45, 0.5),
                            "a reader that never reads is still held")
            s.close()
        finally:
            pusher.stop()
            ingest.close()


class TestWebSocketIdle(StreamerMixin, ServerTestCase):
    """A WebSocket viewer that never reads (so never answers a ping) is dropped after the idle
    timeout; one that reads stays, though it never sends anything itself."""

    server_args = ["--builtin-workers", "0", "--idle-timeout-ms", "2000"]

    def viewers(self, name):
        _, _, body = self.client().get("/api/streams/" + name)
        return body["viewers"]

    def test_silent_viewer_is_dropped_and_reading_viewer_stays(self):
        _, user, _ = self.new_streamer()
        name = user["username"]
        mute = ds.WebSocket.connect(ws_url(self.server, "/ws/watch/" + name), timeout=10)
        reader = ds.WebSocket.connect(ws_url(self.server, "/ws/watch/" + name), timeout=10)
        self.assertTrue(wait_for(lambda: self.viewers(name) == 2, 5))
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:  # recv answers the server's pings
            try:
                reader.recv(timeout=0.2)
            except TimeoutError:
                pass
        self.assertEqual(self.viewers(name), 1)
        reader.close()
        mute.sock.close()


class TestWorkerMessages(ServerTestCase):
    server_args = ["--builtin-workers", "0", "--worker-token", WORKER_TOKEN]

    def worker(self):
        return ds.WebSocket.connect(ws_url(self.server, "/ws/worker"),
                                    {"Authorization": "Bearer " + WORKER_TOKEN}, timeout=10)

    def next_text(self, ws):
        kind, data = recv_until(ws, lambda k, d: k == "text")
        return json.loads(data)

    def test_item3_non_string_name_is_an_error_not_a_crash(self):
        ws = self.worker()
        ws.send_text(json.dumps({"type": "hello", "name": 5}))
        msg = self.next_text(ws)
        self.assertEqual((msg["type"], msg["code"]), ("error", "bad_message"))
        ws.close()
        self.assertHealthy()

    def test_item3_name_cut_inside_a_character_is_cut_before_it(self):
        ws = self.worker()
        ws.send_text(json.dumps({"type": "hello", "name": "a" * 59 + "é"}))
        msg = self.next_text(ws)
        self.assertEqual(msg, {"type": "welcome", "name": "a" * 59, "slots": 1, "max_batch": 1})
        ws.close()
        self.assertHealthy()

    def test_item10_job_zero_on_an_idle_worker_is_unknown(self):
        ws = self.worker()
        ws.send_text(json.dumps({"type": "hello", "name": "w"}))
        self.assertEqual(self.next_text(ws)["type"], "welcome")
        for _ in range(3):
            ws.send_text(json.dumps({"type": "error", "job_id": "j0"}))
            msg = self.next_text(ws)
            self.assertEqual(msg.get("code"), "bad_message")
        ws.close()

    def test_mistyped_and_deep_messages_get_errors(self):
        ws = self.worker()
        for bad in ['{"type":"result","job_id":7}', "[" * 5000 + "]" * 5000,
                    '{"type":"result","job_id":"j1","timings":' + "[" * 100 + "]" * 100 + "}",
                    '{"type":"error","job_id":"j1","message":{}}', "not json"]:
            ws.send_text(bad)
            self.assertEqual(self.next_text(ws)["type"], "error")
        ws.close()
        self.assertHealthy()


class OwnServer:
    """For tests that start their own server: what StreamerMixin needs of ServerTestCase."""

    def client(self, **kw):
        return self.server.client(**kw)


class TestStoreFailureOnConnect(StreamerMixin, OwnServer, unittest.TestCase):
    """Item 2 and the 'no exception escapes a handler' class: a store call that throws on every
    connect path (HTTP, ingest, watch, MJPEG, worker) is answered, and the server keeps serving."""

    def test_throwing_store_on_every_connect_path(self):
        server = Server(["--builtin-workers", "0"])
        server.start()
        self.server = server
        try:
            c = server.client()
            user = register(c)
            st, _, body = c.post("/api/me/stream-key")
            key = body["stream_key"]
            name = user["username"]
            # Every lookup of users or worker tokens now throws inside the store.
            server.execute("ALTER TABLE users RENAME TO users_gone")
            server.execute("ALTER TABLE worker_tokens RENAME TO worker_tokens_gone")

            st, _, body = server.client().get("/api/streams/" + name)
            self.assertEqual(st, 500)
            self.assertEqual(body["error"]["code"], "internal")

            for path, headers in [("/ws/ingest", {"Authorization": "Bearer " + key}),
                                  ("/ws/watch/" + name, {}),
                                  ("/ws/worker", {"Authorization": "Bearer dsw_not_in_config_x"})]:
                ws = ds.WebSocket.connect(ws_url(server, path), headers, timeout=10)
                code, texts = close_of(ws)
                self.assertEqual(code, 1011, path)
                self.assertEqual(texts[0]["code"], "internal", path)

            s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            s.sendall(("GET /u/%s/stream.mjpeg HTTP/1.1\r\nHost: x\r\n\r\n" % name).encode())
            head = s.recv(4096).decode("latin-1")
            s.close()
            self.assertTrue(head.startswith("HTTP/1.1 500"), head)

            self.assertTrue(server.alive())
            self.assertEqual(server.client().get("/healthz").status, 200)
            server.execute("ALTER TABLE users_gone RENAME TO users")
            server.execute("ALTER TABLE worker_tokens_gone RENAME TO worker_tokens")
            ws = self.ingest(key)
            ws.send_binary(fixture(1))
            ws.close()
        finally:
            server.cleanup()

    def test_item2_sqlite_write_lock_while_a_streamer_connects(self):
        server = Server(["--builtin-workers", "0"])
        server.start()
        self.server = server
        try:
            c = server.client()
            register(c)
            st, _, body = c.post("/api/me/stream-key")
            key = body["stream_key"]
            import sqlite3
            db = sqlite3.connect(server.db_path, timeout=1, isolation_level=None)
            db.execute("BEGIN IMMEDIATE")
            try:
                # Starting the stream needs a write; it waits out the busy timeout, then fails.
                ws = ds.WebSocket.connect(ws_url(server, "/ws/ingest"),
                                          {"Authorization": "Bearer " + key}, timeout=30)
                code, texts = close_of(ws, 30)
                self.assertIn(code, (1011, 1013))
                self.assertTrue(server.alive())
            finally:
                db.execute("ROLLBACK")
                db.close()
            ws = self.ingest(key)
            ws.send_binary(fixture(1))
            ws.close()
            self.assertEqual(server.client().get("/healthz").status, 200)
        finally:
            server.cleanup()


class TestRevocation(StreamerMixin, ServerTestCase):
    """Item 6 and 7: revoking a credential ends the live sockets it let in, at once."""

    server_args = ["--builtin-workers", "1"]

    def assert_revoked(self, ws):
        code, texts = close_of(ws)
        self.assertEqual(code, 4401)
        self.assertIn({"type": "ended", "reason": "revoked"},
                      [{k: t.get(k) for k in ("type", "reason")} for t in texts])

    def live(self, name):
        _, _, body = self.client().get("/api/streams/" + name)
        return body["live"]

    def cookie_ingest(self, c):
        st, _, _ = c.post("/api/streams/start")
        self.assertEqual(st, 201)
        return ds.WebSocket.connect(ws_url(self.server, "/ws/ingest"),
                                    {"Cookie": "ds_session=" + c.session,
                                     "Origin": self.server.origin}, timeout=10)

    def test_item6_new_stream_key_ends_the_socket_of_the_old_one(self):
        c, user, key = self.new_streamer()
        ws = self.ingest(key)
        ws.send_binary(fixture(1))
        self.assertTrue(wait_for(lambda: self.live(user["username"])))
        self.assertEqual(c.post("/api/me/stream-key").status, 201)
        self.assert_revoked(ws)
        self.assertFalse(self.live(user["username"]))

    def test_item6_logout_ends_the_sessions_socket(self):
        c, user, _ = self.new_streamer()
        ws = self.cookie_ingest(c)
        ws.send_binary(fixture(1))
        self.assertEqual(c.post("/api/auth/logout").status, 200)
        self.assert_revoked(ws)
        self.assertFalse(self.live(user["username"]))

    def test_item6_revoking_a_session_ends_its_socket(self):
        c, user, _ = self.new_streamer()
        ws = self.cookie_ingest(c)
        other = self.client()
        self.assertEqual(login(other, user["username"]).status, 200)
        _, _, body = other.get("/api/me/sessions")
        sessions = body["sessions"]
        victim = [s for s in sessions if not s["current"]][0]["id"]
        self.assertEqual(other.delete("/api/me/sessions/%d" % victim).status, 200)
        self.assert_revoked(ws)

    def test_item6_password_change_ends_other_sessions_sockets(self):
        c, user, _ = self.new_streamer()
        ws = self.cookie_ingest(c)
        other = self.client()
        self.assertEqual(login(other, user["username"]).status, 200)
        st, _, _ = other.post("/api/me/password", {"current_password": PASSWORD,
                                                   "new_password": PASSWORD + " 2"})
        self.assertEqual(st, 200)
        self.assert_revoked(ws)

    def test_item7_deleted_account_stream_ends_and_name_is_free(self):
        c, user, key = self.new_streamer()
        name = user["username"]
        ws = self.ingest(key)
        ws.send_binary(fixture(1))
        self.assertTrue(wait_for(lambda: self.live(name)))
        st, _, _ = c.delete("/api/me", {"password": PASSWORD})
        self.assertEqual(st, 200)
        self.assert_revoked(ws)
        fresh = self.client()
        register(fresh, username=name)
        self.assertFalse(self.live(name))
        self.assertEqual(fresh.post("/api/streams/start").status, 201)
        self.assertEqual(run_admin(self.server, "ledger", "verify").returncode, 0)


class TestConnectionLimits(ServerTestCase):
    server_args = ["--max-connections-per-address", "6", "--builtin-workers", "0"]

    def test_item8_per_address_limit_answers_503_and_frees_slots(self):
        held = []
        refused = None
        for _ in range(12):
            s = socket.create_connection(("127.0.0.1", self.server.port), timeout=5)
            s.settimeout(0.5)
            try:
                data = s.recv(4096)
            except socket.timeout:
                held.append(s)  # accepted and waiting for a request
                continue
            refused = data.decode("latin-1")
            s.close()
            break
        self.assertIsNotNone(refused, "no connection was refused")
        self.assertTrue(refused.startswith("HTTP/1.1 503"), refused)
        self.assertIn("too_many_connections", refused)
        self.assertLessEqual(len(held), 6)
        for s in held:
            s.close()
        self.assertTrue(wait_for(lambda: self.client().get("/healthz").status == 200, 5))


class TestDescriptorExhaustion(unittest.TestCase):
    def test_item8_accept_loop_backs_off_when_descriptors_run_out(self):
        def low_limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (96, 96))

        # --max-connections past the descriptor limit, so accept itself hits EMFILE.
        server = Server(["--builtin-workers", "0", "--max-connections", "1000",
                         "--max-connections-per-address", "0"], preexec_fn=low_limit)
        server.start()
        socks = []
        try:
            for _ in range(140):
                socks.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))
            time.sleep(0.5)
            before = cpu_seconds(server.proc.pid)
            time.sleep(3)
            used = cpu_seconds(server.proc.pid) - before
            self.assertLess(used, 0.6, "the accept loop spins: %.2f s of CPU in 3 s" % used)
            for s in socks:
                s.close()
            socks = []
            self.assertTrue(wait_for(lambda: _healthy(server), 10))
            self.assertIn("accept_backoff", server.logs())
        finally:
            for s in socks:
                s.close()
            server.cleanup()


def _healthy(server):
    try:
        return server.client().get("/healthz").status == 200
    except OSError:
        return False


class TestShutdown(StreamerMixin, OwnServer, unittest.TestCase):
    """Item 9 and the clean-shutdown class: SIGTERM with each kind of connection open (and then
    all of them at once) exits 0 after final billing."""

    def run_with(self, kinds):
        server = Server(["--builtin-workers", "1", "--worker-token", WORKER_TOKEN])
        server.start()
        self.server = server
        held = []
        pusher = None
        try:
            _, user, key = self.new_streamer()
            name = user["username"]
            ingest = self.ingest(key)
            held.append(ingest)
            pusher = Pusher(ingest)
            pusher.start()
            if "viewer" in kinds:
                viewer = ds.WebSocket.connect(ws_url(server, "/ws/watch/" + name), timeout=10)
                recv_until(viewer, lambda k, d: k == "binary", 20)
                held.append(viewer)
            if "mjpeg" in kinds:
                mjpeg = socket.create_connection(("127.0.0.1", server.port))
                mjpeg.sendall(("GET /u/%s/stream.mjpeg HTTP/1.1\r\nHost: x\r\n\r\n" % name).encode())
                self.assertTrue(mjpeg.recv(1024).startswith(b"HTTP/1.1 200"))
                held.append(mjpeg)
            if "worker" in kinds:
                worker = ds.WebSocket.connect(ws_url(server, "/ws/worker"),
                                              {"Authorization": "Bearer " + WORKER_TOKEN},
                                              timeout=10)
                worker.send_text(json.dumps({"type": "hello", "name": "external"}))
                held.append(worker)
            if "streamer" not in kinds:
                pusher.stop()
                pusher.join()
                ingest.close()
            time.sleep(1)
            self.assertEqual(server.stop(), 0, server.logs()[-3000:])
            self.assertNotIn("level=critical", server.logs())
            self.assertIn("event=exit", server.logs())
            self.assertEqual(run_admin(server, "ledger", "verify").returncode, 0)
        finally:
            if pusher:
                pusher.stop()
            for h in held:
                try:
                    h.close()
                except Exception:
                    pass
            server.cleanup()

    def test_item9_sigterm_with_a_viewer(self):
        self.run_with({"viewer"})

    def test_sigterm_with_an_mjpeg_reader(self):
        self.run_with({"mjpeg"})

    def test_sigterm_with_a_worker(self):
        self.run_with({"worker"})

    def test_sigterm_with_a_streamer(self):
        self.run_with({"streamer"})

    def test_sigterm_with_every_kind_at_once(self):
        self.run_with({"viewer", "mjpeg", "worker", "streamer"})


class TestLogs(StreamerMixin, ServerTestCase):
    server_args = ["--builtin-workers", "0", "--worker-token", WORKER_TOKEN]

    def test_item12_encoded_newline_in_a_path_cannot_forge_a_log_line(self):
        st, _, _ = self.client().get("/%0aevent=login%20user_id=1%0d%0a")
        self.assertEqual(st, 404)
        st, _, _ = self.client().get("/api/%0a%1b[31mred")
        time.sleep(0.3)
        lines = self.server.logs().splitlines()
        self.assertTrue(lines)
        for line in lines:
            self.assertRegex(line, LOG_LINE)
        self.assertFalse(any("\x1b" in line for line in lines))

    def test_no_secret_reaches_the_log(self):
        c, user, key = self.new_streamer()
        ws = ds.WebSocket.connect(ws_url(self.server, "/ws/ingest?key=" + key), timeout=10)
        ws.send_binary(fixture(1))
        ws.close()
        w = ds.WebSocket.connect(ws_url(self.server, "/ws/worker?token=" + WORKER_TOKEN),
                                 timeout=10)
        w.close()
        c.post("/api/me/tokens", {"name": "ci"})
        c.post("/api/auth/logout")
        login(c, user["username"], "wrong password here")
        time.sleep(0.3)
        log = self.server.logs()
        for secret in ("dsk_", "dss_", "dst_", "dsw_", PASSWORD, "wrong password here"):
            self.assertNotIn(secret, log)


if __name__ == "__main__":
    unittest.main()
