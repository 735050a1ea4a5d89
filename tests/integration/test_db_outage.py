"""Database outages mid-stream: PostgreSQL stopped for 20 s, and SQLite's write lock held for
20 s by another connection (longer than the busy timeout).

During the outage a streamer keeps pushing JPEGs on /ws/ingest and a viewer on /ws/watch keeps
getting processed frames (the built-in CPU worker); a DB-backed request answers 503
database_unavailable within a few seconds and /healthz says the database is unavailable.
The outage spans the start of the stream's second minute: once the database is back, requests
succeed again without a restart, minute 2 is charged exactly once, the stream's charges equal
its started minutes, and `admin ledger verify` passes.

The SQLite case runs as integration.test_db_outage; the PostgreSQL case only under
with_postgres.py (integration_postgres), which tells it how to stop and start its server.
"""

import math
import os
import threading
import time
import unittest

import dreamstream as ds
from harness import (PASSWORD, Server, SqliteWriteLock, postgres_control, postgres_start,
                     postgres_stop)
from test_live import StreamerMixin, fixture, ws_url
from test_payments import run_admin

SIGNUP_CENTS = 1200
MINUTE_CENTS = 20
OUTAGE_S = 20.0
# The outage starts this long after the first frame, so minute 2 starts while it lasts.
OUTAGE_AT_S = 48.0
# A request during the outage must be answered within this (busy/connect timeouts are 3 s).
ANSWER_WITHIN_S = 10.0


class FrameFlow:
    """Pushes a frame every 100 ms on the ingest socket and timestamps what the viewer gets."""

    def __init__(self, ingest, viewer):
        self.ingest = ingest
        self.viewer = viewer
        self.received = []  # time.monotonic() of each processed frame
        self.errors = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._push, daemon=True),
                         threading.Thread(target=self._watch, daemon=True)]

    def start(self):
        for t in self._threads:
            t.start()
        return self

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10)

    def frames_between(self, t0, t1):
        return sum(1 for t in list(self.received) if t0 <= t <= t1)

    def _push(self):
        n = 0
        while not self._stop.is_set():
            try:
                self.ingest.send_binary(fixture(1 + n % 4))
            except Exception as e:  # noqa: BLE001 - reported by the test
                self.errors.append("ingest: %r" % (e,))
                return
            n += 1
            time.sleep(0.1)

    def _watch(self):
        while not self._stop.is_set():
            try:
                kind, _ = self.viewer.recv(timeout=0.5)
            except TimeoutError:
                continue
            except Exception as e:  # noqa: BLE001
                self.errors.append("viewer: %r" % (e,))
                return
            if kind == "binary":
                self.received.append(time.monotonic())
            elif kind == "close":
                self.errors.append("viewer closed")
                return


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


class OutageCase(StreamerMixin):
    def setUp(self):
        self.server = Server()
        self.server.start()
        self.addCleanup(self.server.cleanup)

    def client(self):
        return self.server.client()

    def run(self, result=None):
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        out = super().run(result)
        if len(result.failures) + len(result.errors) > before and getattr(self, "server", None):
            print("\n---- server log ----\n%s\n---- end ----" % self.server.logs()[-20000:])
        return out

    def assertError(self, response, status, code):
        st, headers, body = response
        self.assertEqual(st, status, "body: %r" % (response.body[:500],))
        self.assertTrue((headers.get("Content-Type") or "").startswith("application/json"))
        self.assertEqual(body["error"]["code"], code)
        self.assertIsInstance(body["error"].get("message"), str)

    def usage(self, user_id):
        return self.server.query(
            "SELECT COUNT(*), COUNT(DISTINCT minute_index) FROM credit_transactions "
            "WHERE user_id = ? AND kind = 'stream_usage'", (user_id,))[0]

    def outage_while_streaming(self, down, up):
        c, user, key = self.new_streamer()
        name = user["username"]
        viewer = ds.WebSocket.connect(ws_url(self.server, "/ws/watch/" + name), timeout=10)
        self.addCleanup(viewer.close)
        ingest = self.ingest(key)
        self.addCleanup(ingest.close)
        flow = FrameFlow(ingest, viewer).start()
        self.addCleanup(flow.stop)
        wait_for(lambda: self.usage(user["id"])[0] == 1, 20, "minute 1")
        wait_for(lambda: self.server.query(
            "SELECT first_frame_ms FROM stream_sessions WHERE user_id = ?",
            (user["id"],))[0][0] is not None, 20, "progress")
        first_ms = self.server.query("SELECT first_frame_ms FROM stream_sessions WHERE user_id = ?",
                                     (user["id"],))[0][0]
        wait = OUTAGE_AT_S - (time.time() * 1000 - first_ms) / 1000
        if wait > 0:
            time.sleep(wait)

        down()
        t_down = time.monotonic()
        try:
            other = self.client()
            t = time.monotonic()
            r = other.post("/api/auth/login", {"login": user["username"], "password": PASSWORD})
            self.assertError(r, 503, "database_unavailable")
            self.assertLess(time.monotonic() - t, ANSWER_WITHIN_S)
            t = time.monotonic()
            st, _, body = other.get("/healthz")
            self.assertEqual((st, body.get("database")), (503, "unavailable"))
            self.assertLess(time.monotonic() - t, ANSWER_WITHIN_S)
            left = OUTAGE_S - (time.monotonic() - t_down)
            if left > 0:
                time.sleep(left)
            t_up = time.monotonic()
            # Frames kept reaching the viewer all through the outage: some in every 5 s.
            for k in range(int(OUTAGE_S // 5)):
                self.assertGreater(flow.frames_between(t_down + 5 * k, t_down + 5 * (k + 1)), 0,
                                   "no frame in second %d..%d of the outage" % (5 * k, 5 * k + 5))
            if self.server.postgres is None:  # SQLite still answers reads
                self.assertEqual(self.usage(user["id"]), (1, 1))
        finally:
            up()

        # Requests succeed again, without restarting the server.
        def login_ok():
            return self.client().post("/api/auth/login", {"login": user["username"],
                                                          "password": PASSWORD}).status == 200
        wait_for(login_ok, 20, "login after the outage")
        self.assertEqual(self.client().get("/healthz").status, 200)
        # Billing catches up: minute 2, which started during the outage, is charged once.
        wait_for(lambda: self.usage(user["id"])[0] >= 2, 20, "minute 2")
        flow.stop()
        self.assertEqual(flow.errors, [])
        st, _, body = c.post("/api/streams/stop")
        self.assertEqual(st, 200, body)
        status, first, last, minutes, cost = self.server.query(
            "SELECT status, first_frame_ms, last_frame_ms, duration_minutes, cost_cents "
            "FROM stream_sessions WHERE user_id = ?", (user["id"],))[0]
        self.assertEqual(status, "completed")
        started = max(1, math.ceil((last - first) / 60000))
        self.assertEqual(started, 2)
        self.assertEqual((minutes, cost), (started, started * MINUTE_CENTS))
        self.assertEqual(self.usage(user["id"]), (started, started))
        st, _, credits = c.get("/api/credits")
        self.assertEqual(credits["balance_cents"], SIGNUP_CENTS - started * MINUTE_CENTS)
        r = run_admin(self.server, "ledger", "verify")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(self.server.alive())
        self.assertNotIn("event=handler_error", self.server.logs())


class TestSqliteLocked(OutageCase, unittest.TestCase):
    def setUp(self):
        if os.environ.get("DS_TEST_POSTGRES"):
            self.skipTest("SQLite only")
        super().setUp()

    def test_write_lock_held_for_20s_mid_stream(self):
        lock = []
        self.outage_while_streaming(lambda: lock.append(SqliteWriteLock(self.server)),
                                    lambda: lock and lock.pop().release())


class TestPostgresStopped(OutageCase, unittest.TestCase):
    def setUp(self):
        if postgres_control() is None:
            self.skipTest("needs the PostgreSQL of with_postgres.py")
        super().setUp()

    def test_postgres_stopped_for_20s_mid_stream(self):
        self.outage_while_streaming(postgres_stop, postgres_start)


if __name__ == "__main__":
    unittest.main()
