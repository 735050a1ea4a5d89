"""Metering against the real server: live balance on the ingest socket, the no-credits ending,
and a SIGKILL mid-stream after which the stream is closed as interrupted and the ledger verifies."""

import json
import signal
import time
import unittest

from harness import Server, ServerTestCase, register, wait_until
from test_live import StreamerMixin, fixture, is_event, recv_until
from test_payments import balance_cents, ledger_rows, run_admin

SIGNUP_CENTS = 1200
MINUTE_CENTS = 20


def session_row(server, user_id):
    rows = ledger_rows(server,
                       "SELECT status, ended_ms, duration_minutes, cost_cents FROM stream_sessions "
                       "WHERE user_id = ? ORDER BY id DESC LIMIT 1", (user_id,))
    return rows[0] if rows else None


def wait_for(pred, timeout=15.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


class TestLiveBalance(StreamerMixin, ServerTestCase):
    def test_status_messages_carry_balance_and_remaining_minutes(self):
        c, user, key = self.new_streamer()
        self.assertEqual(c.post("/api/streams/start").status, 201)
        ws = self.ingest(key)
        try:
            ws.send_binary(fixture(1))

            def charged(kind, data):
                if kind != "text":
                    return False
                msg = json.loads(data)
                return msg.get("type") == "status" and msg.get("balance_cents") == SIGNUP_CENTS - MINUTE_CENTS

            _, data = recv_until(ws, charged)
            msg = json.loads(data)
            self.assertEqual(msg["remaining_minutes"], 59)
            self.assertEqual(msg["balance"], "11.80")
        finally:
            ws.close()
        # The socket closed with 1000 (the streamer's goodbye): the stream ends, billed as it was.
        wait_until(lambda: c.get("/api/streams/sessions").json["sessions"][0]["status"]
                   == "completed", 5, "the stream completed")
        self.assertEqual(balance_cents(c), SIGNUP_CENTS - MINUTE_CENTS)
        st, _, credits = c.get("/api/credits")
        self.assertEqual(credits["remaining_minutes"], 59)
        self.assertEqual(c.post("/api/streams/stop").status, 404)
        self.assertEqual(run_admin(self.server, "ledger", "verify").returncode, 0)


class TestNoCredits(StreamerMixin, ServerTestCase):
    # 1000 credits an hour: one minute costs 16.67 credits, more than the 12-credit signup bonus.
    server_args = ["--credits-per-hour", "1000"]

    def test_unpayable_minute_ends_the_stream_and_tells_the_streamer(self):
        c, user, key = self.new_streamer()
        self.assertEqual(c.post("/api/streams/start").status, 201)
        ws = self.ingest(key)
        try:
            ws.send_binary(fixture(1))
            _, data = recv_until(ws, is_event("ended"))
            msg = json.loads(data)
            self.assertEqual(msg["reason"], "no_credits")
            self.assertIn("credits", msg["message"])
        finally:
            ws.close()
        wait_for(lambda: session_row(self.server, user["id"])[1] is not None, what="session end")
        status, _, _, cost = session_row(self.server, user["id"])
        self.assertEqual(status, "ended_no_credits")
        self.assertEqual(cost, 0)
        self.assertEqual(balance_cents(c), SIGNUP_CENTS)  # nothing charged that could not be paid
        self.assertEqual(run_admin(self.server, "ledger", "verify").returncode, 0)


class OwnServerCase(StreamerMixin, unittest.TestCase):
    """A server of the test's own, which the test may kill and start again."""

    def setUp(self):
        self.server = Server()
        self.server.start()
        self.addCleanup(self.server.cleanup)

    def client(self):
        return self.server.client()


class TestCrashMidStream(OwnServerCase):
    """SIGKILL while a stream is live: the restart closes it as interrupted, billed up to the
    last recorded frame, the ledger verifies and the streamer can start again."""

    def test_sigkill_mid_stream_then_restart(self):
        c, user, key = self.new_streamer()
        self.assertEqual(c.post("/api/streams/start").status, 201)
        ws = self.ingest(key)
        for n in range(20):
            ws.send_binary(fixture(1 + n % 4))
            time.sleep(0.05)
        # The first minute is charged and the progress (first/last frame) persisted.
        wait_for(lambda: self.server.db_count("credit_transactions",
                                              "user_id = ? AND kind = 'stream_usage'",
                                              (user["id"],)) == 1, what="usage entry")
        wait_for(lambda: ledger_rows(self.server,
                                     "SELECT last_frame_ms FROM stream_sessions WHERE user_id = ?",
                                     (user["id"],))[0][0] is not None, what="progress")
        self.server.proc.send_signal(signal.SIGKILL)
        self.server.proc.wait()
        ws.close()
        row = session_row(self.server, user["id"])
        self.assertIsNone(row[1])  # left open by the crash

        data_dir = self.server.data_dir
        self.server = Server(data_dir=data_dir)
        self.server.start()
        self.addCleanup(self.server.cleanup)
        status, ended_ms, minutes, cost = session_row(self.server, user["id"])
        self.assertEqual(status, "interrupted")
        self.assertIsNotNone(ended_ms)
        self.assertEqual((minutes, cost), (1, MINUTE_CENTS))
        r = run_admin(data_dir, "ledger", "verify")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

        c2 = self.server.client()
        st, _, _ = c2.post("/api/auth/login", {"login": user["username"],
                                               "password": "correct horse battery"})
        self.assertEqual(st, 200)
        self.assertEqual(balance_cents(c2), SIGNUP_CENTS - MINUTE_CENTS)
        self.assertEqual(c2.post("/api/streams/start").status, 201)
        self.assertEqual(c2.post("/api/streams/stop").status, 200)


class TestShutdownMidStream(OwnServerCase):
    """SIGTERM while a stream is live: the streamer is told, the stream is closed and billed
    before the process exits, and nothing is left for recovery."""

    def test_sigterm_finalises_the_live_stream(self):
        c, user, key = self.new_streamer()
        self.assertEqual(c.post("/api/streams/start").status, 201)
        ws = self.ingest(key)
        try:
            ws.send_binary(fixture(1))
            recv_until(ws, lambda k, d: k == "text" and json.loads(d).get("balance_cents")
                       == SIGNUP_CENTS - MINUTE_CENTS)
            self.server.proc.send_signal(signal.SIGTERM)
            _, data = recv_until(ws, is_event("ended"))
            self.assertEqual(json.loads(data)["reason"], "server_shutdown")
        finally:
            ws.close()
        self.assertEqual(self.server.proc.wait(timeout=15), 0)
        status, ended_ms, minutes, cost = session_row(self.server, user["id"])
        self.assertEqual(status, "interrupted")
        self.assertIsNotNone(ended_ms)
        self.assertEqual((minutes, cost), (1, MINUTE_CENTS))
        r = run_admin(self.server.data_dir, "ledger", "verify")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("event=stream_ended", self.server.logs())


if __name__ == "__main__":
    unittest.main()
