"""Several `serve` nodes on one PostgreSQL and one Redis (issue 10), over real sockets.

One cluster of three nodes A, B, C (tests/integration/cluster.py) serves the whole module; no
node has a built-in worker, so the only model worker is the Python one a test connects, and in
each scenario the ingest, that worker and the viewers sit on different nodes. The numbered
tests follow the issue's points 1-9. A test that kills a node or stops Redis brings it back
in tearDown, so every test starts with three live nodes and a running Redis.

    python3 tests/integration/test_cluster.py [-k test_7]     (or ctest -R integration_cluster)

Needs PostgreSQL, redis-server and python3-psycopg2 (scripts/setup.sh --test) and a
`dreamstream` with --redis and --node-id (DREAMSTREAM_BIN, else build/dreamstream).

Checking the tests themselves against a binary from before issue 10:
DS_CLUSTER_NO_REDIS=1 leaves out --redis/--node-id (nodes share only the database), and
DS_CLUSTER_COLLAPSE=1 also plays every role on node A; then every test but the three that
kill or stop the (only) node should pass (4, 7 and 9 cannot).

Every detail of the wire format that these tests rely on beyond docs/protocol.md's examples
is read through the small helpers under "Contract details" below, so a shape that turns out
different is fixed in one place.
"""

import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(1, os.path.join(HERE, "..", "..", "clients", "python"))

import dreamstream as ds  # noqa: E402
from cluster import Cluster, Postgres, RedisSniffer, wait_until  # noqa: E402
from harness import PASSWORD, Client, binary_path, login, raw_request, register  # noqa: E402
from test_video import Collector, ffprobe  # noqa: E402

FIXTURES = os.path.join(HERE, "fixtures")
WORKER_TOKEN = "dsw_cluster_test_token_0123456789"
GRACE_MS = 3000          # --grace-ms: a stream whose home died ends this long after
JOB_TIMEOUT_MS = 4000    # --job-timeout-ms
NODE_ARGS = ["--builtin-workers", "0", "--worker-token", WORKER_TOKEN,
             "--grace-ms", str(GRACE_MS), "--job-timeout-ms", str(JOB_TIMEOUT_MS)]

PUSH_INTERVAL_S = 0.1    # the test streamers send 10 frames a second
FRAMES_S = 15.0          # time allowed for frames to show up somewhere (first job included)
EVENT_S = 10.0           # time allowed for an event to cross nodes
CONVERGE_S = 10.0        # time allowed for a viewer count to follow a dead node
ENDED_S = GRACE_MS / 1000.0 + 3.0   # a dead home's streams end within grace + a little
REDIS_DOWN_S = 10.0
RECOVER_S = 10.0         # cross-node frames are back this long after Redis returns
SIGNUP_CENTS = 1200
MINUTE_CENTS = 20


def fixture(n):
    with open(os.path.join(FIXTURES, "frame%d.jpg" % n), "rb") as f:
        return f.read()


FRAMES = [fixture(i) for i in range(1, 5)]


# -- Contract details (adjust here) -----------------------------------------------------------
def ws_url(node, path):
    return node.url.replace("http://", "ws://") + path


def is_state(msg, state):
    """A viewer's `{"type":"state","state":...}` event."""
    return msg.get("type") == "state" and msg.get("state") == state


def viewer_count(msg):
    """The count of a `{"type":"viewers","count":N}` event (viewers and the streamer get it)."""
    return msg.get("count")


def ended_reason(msg):
    """The reason of the streamer's `{"type":"ended","reason":...}`."""
    return msg.get("reason")


def frame_seq(msg):
    """The seq of the `{"type":"frame","seq":N,...}` header sent before each viewer JPEG."""
    return msg.get("seq")


def job_prompt(job):
    """The prompt a worker's job carries (`params.prompt`)."""
    return (job.get("params") or {}).get("prompt") or ""


def current_style(styles_event_or_state):
    """The current prompt of a `styles` event (`{"styles":StyleState}`) or of a StyleState."""
    state = styles_event_or_state.get("styles", styles_event_or_state)
    return ((state or {}).get("current") or {}).get("prompt")


def style_ids(styles_event_or_state):
    """(id of the playing request or None, [ids of the queued ones]) of a StyleState."""
    state = styles_event_or_state.get("styles", styles_event_or_state) or {}
    playing = (state.get("current") or {}).get("request") or {}
    return playing.get("id"), [r["id"] for r in state.get("queue") or []]


def healthz_answers(status):
    """During a Redis outage a node must answer /healthz; it may call itself degraded (503)."""
    return status in (200, 503)


def stream_info(client, username):
    """GET /api/streams/<username> -> its JSON (live, viewers, settings, styles)."""
    r = client.get("/api/streams/" + username)
    assert r.status == 200, (r.status, r.body[:300])
    return r.json


def metric(node, name, labels=""):
    """The value of one sample of node's /metrics (0 when absent)."""
    r = Client(node).get("/metrics")
    assert r.status == 200, r.status
    text = r.body if isinstance(r.body, str) else r.body.decode()
    for line in text.splitlines():
        if line.startswith(name + labels + " "):
            return float(line.split()[-1])
    return 0


def dropped(node, reason):
    return metric(node, "dreamstream_cluster_messages_dropped_total", '{reason="%s"}' % reason)


def started_minutes(first_frame_ms, last_frame_ms):
    """Minutes billed for frames from first to last: every started minute (2 s -> 1, 64 s -> 2)."""
    return (last_frame_ms - first_frame_ms) // 60000 + 1


# -- sockets read by a background thread ------------------------------------------------------
class Msg:
    __slots__ = ("kind", "data", "json", "t")

    def __init__(self, kind, data):
        self.kind = kind
        self.data = data
        self.t = time.monotonic()
        self.json = None
        if kind == "text":
            try:
                self.json = json.loads(data)
            except ValueError:
                self.json = None

    @property
    def type(self):
        return self.json.get("type") if isinstance(self.json, dict) else None


class Conn:
    """A WebSocket whose messages a thread of its own reads and keeps, so a test can wait on
    several sockets at once. frames: (seq, jpeg, time) of each binary message, seq from the
    `frame` header before it (None without one)."""

    def __init__(self, url, headers=None, label=""):
        self.label = label
        self.ws = ds.WebSocket.connect(url, headers or {}, timeout=10, max_message=8 << 20)
        self.msgs = []
        self.frames = []
        self.cond = threading.Condition()
        self.close_code = None
        self.closed_at = None
        self._stopping = False
        self._seq = None
        self.thread = threading.Thread(target=self._read, daemon=True, name="ws-" + label)
        self.thread.start()

    # reading
    def _read(self):
        while not self._stopping:
            try:
                kind, data = self.ws.recv(timeout=0.25)
            except TimeoutError:
                continue
            except (ds.WebSocketError, OSError) as e:
                self._closed(getattr(e, "code", None) or self.ws.close_code or 1006)
                return
            if kind == "close":
                self._closed(self.ws.close_code)
                return
            msg = Msg(kind, data)
            try:
                self.on_message(msg)
            except (ds.WebSocketError, OSError):
                pass
            with self.cond:
                self.msgs.append(msg)
                if kind == "text" and msg.type == "frame":
                    self._seq = frame_seq(msg.json)
                elif kind == "binary":
                    self.frames.append((self._seq, data, msg.t))
                    self._seq = None
                self.cond.notify_all()

    def _closed(self, code):
        with self.cond:
            self.close_code = code
            self.closed_at = time.monotonic()
            self.cond.notify_all()

    def on_message(self, msg):
        pass

    @property
    def closed(self):
        return self.closed_at is not None

    # waiting
    def mark(self):
        """(messages, frames) seen so far, for `since=`."""
        with self.cond:
            return len(self.msgs), len(self.frames)

    def _wait(self, check, timeout, what):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                got = check()
                if got is not None:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("%s: timed out after %.1fs waiting for %s (closed: %s; "
                                         "last messages: %s)"
                                         % (self.label, timeout, what, self.close_code,
                                            self._tail()))
                self.cond.wait(min(left, 0.25))

    def _tail(self, n=6):
        return [m.data if m.kind == "text" else "<%d bytes>" % len(m.data)
                for m in self.msgs[-n:]]

    def wait_event(self, type_, pred=lambda m: True, timeout=EVENT_S, since=None):
        """The first text event of type_ (after since[0] messages) for which pred(json) holds."""
        start = since[0] if since else 0

        def check():
            for m in self.msgs[start:]:
                if m.type == type_ and pred(m.json):
                    return m.json
            return None
        return self._wait(check, timeout, "a %r event" % type_)

    def wait_latest(self, type_, pred, timeout=EVENT_S, what=None):
        """Waits until the latest event of type_ satisfies pred(json) (e.g. a count *now*)."""
        def check():
            for m in reversed(self.msgs):
                if m.type == type_:
                    return m.json if pred(m.json) else None
            return None
        return self._wait(check, timeout, what or "the latest %r event to match" % type_)

    def latest(self, type_):
        with self.cond:
            for m in reversed(self.msgs):
                if m.type == type_:
                    return m.json
        return None

    def wait_frames(self, n, timeout=FRAMES_S, since=None):
        """Waits for n binary frames after since[1]; returns them."""
        start = since[1] if since else 0

        def check():
            got = self.frames[start:]
            return got if len(got) >= n else None
        return self._wait(check, timeout, "%d frames" % n)

    def wait_closed(self, timeout=EVENT_S):
        return self._wait(lambda: self.close_code if self.closed else None, timeout,
                          "the socket to close")

    def seqs(self):
        with self.cond:
            return [f[0] for f in self.frames]

    # sending and closing
    def send_binary(self, data):
        self.ws.send_binary(data)

    def send_json(self, obj):
        self.ws.send_json(obj)

    def close(self):
        self._stopping = True
        self.thread.join(2)  # one reader at a time: the SDK's close reads the peer's answer
        if not self.closed:
            try:
                self.ws.close(timeout=1)
            except (ds.WebSocketError, OSError):
                pass
        try:
            self.ws._abort()
        except Exception:
            pass


    def drop(self):
        """The line drops: no close frame (a streamer's close is a goodbye that ends the stream)."""
        self._stopping = True
        try:
            self.ws._abort()
        except Exception:
            pass
        self.thread.join(2)


class Viewer(Conn):
    def __init__(self, node, username):
        super().__init__(ws_url(node, "/ws/watch/" + username), label="viewer@%s" % node.node_id)

    def wait_state(self, state, timeout=EVENT_S, since=None):
        return self.wait_event("state", lambda m: is_state(m, state), timeout, since)


class Pusher(Conn):
    """The streamer's /ws/ingest (stream key, or a login cookie plus this node's Origin),
    sending the fixture frames every PUSH_INTERVAL_S from a thread until stop_pushing()."""

    def __init__(self, node, key=None, cookie=None, interval=PUSH_INTERVAL_S, ticket=None):
        path = "/ws/ingest"
        if ticket:
            headers = {}
            path += "?ticket=" + ticket
        elif key:
            headers = {"Authorization": "Bearer " + key}
        else:
            headers = {"Cookie": "ds_session=" + cookie, "Origin": node.origin}
        super().__init__(ws_url(node, path), headers, label="ingest@%s" % node.node_id)
        self.interval = interval
        self.sent = 0
        self._push = threading.Event()
        self._push.set()
        self.pusher = threading.Thread(target=self._pump, daemon=True)
        self.pusher.start()

    def _pump(self):
        while self._push.is_set() and not self.closed and not self._stopping:
            try:
                self.send_binary(FRAMES[self.sent % len(FRAMES)])
            except (ds.WebSocketError, OSError):
                return
            self.sent += 1
            time.sleep(self.interval)

    def stop_pushing(self):
        self._push.clear()
        self.pusher.join(2)

    def close(self):
        self.stop_pushing()
        super().close()


class Worker(Conn):
    """A model worker on /ws/worker that answers each job with its input JPEG (when
    `answering`; otherwise it keeps the job and never answers). jobs: (header, jpeg, time,
    answered)."""

    def __init__(self, node, name="py-worker", slots=1):
        super().__init__(ws_url(node, "/ws/worker"), {"Authorization": "Bearer " + WORKER_TOKEN},
                         label="worker@%s" % node.node_id)
        self.jobs = []
        self.answering = True
        self._job = None
        hello = {"type": "hello", "name": name, "backend": "echo", "protocol": 1}
        if slots != 1:
            hello["slots"] = slots
        self.send_json(hello)
        self.wait_event("welcome")

    def on_message(self, msg):
        if msg.type == "job":
            self._job = msg.json
        elif msg.kind == "binary" and self._job is not None:
            job, self._job = self._job, None
            answer = self.answering
            with self.cond:
                self.jobs.append((job, msg.data, msg.t, answer))
            if answer:
                self.send_json({"type": "result", "job_id": job["job_id"],
                                "timings": {"infer_ms": 1}})
                self.send_binary(msg.data)

    def wait_job(self, pred=lambda job: True, timeout=FRAMES_S, since=0):
        def check():
            for job, _, _, _ in self.jobs[since:]:
                if pred(job):
                    return job
            return None
        return self._wait(check, timeout, "a matching job")

    def wait_held_job(self, timeout=FRAMES_S):
        """The job it took without answering (answering = False)."""
        def check():
            for job, _, _, answered in self.jobs:
                if not answered:
                    return job
            return None
        return self._wait(check, timeout, "a job to hold")

    def streams(self, since=0):
        with self.cond:
            return {job["stream"] for job, _, _, _ in self.jobs[since:]}

    def job_count(self):
        with self.cond:
            return len(self.jobs)


def via(client, node):
    """The same user agent (one cookie jar) talking to another node, as behind a balancer."""
    c = Client(node)
    c.cookies = client.cookies
    return c


class Streamer:
    def __init__(self, client, user, key):
        self.c = client
        self.user = user
        self.name = user["username"]
        self.id = user["id"]
        self.key = key


# -- the cluster ------------------------------------------------------------------------------
_pg = None
_cluster = None


def setUpModule():
    global _pg, _cluster
    _pg = Postgres().start()
    try:
        _cluster = Cluster(_pg, nodes=3, node_args=NODE_ARGS).start()
    except Exception:
        _pg.stop()
        raise


def tearDownModule():
    if _cluster is not None:
        _cluster.cleanup()
    if _pg is not None:
        _pg.stop()


class ClusterCase(unittest.TestCase):
    maxDiff = None

    @property
    def cl(self):
        return _cluster

    # DS_CLUSTER_COLLAPSE=1 plays every role on node A: a check of the tests themselves against
    # a binary from before issue 10 (the node-killing tests then kill that one node).
    COLLAPSE = bool(os.environ.get("DS_CLUSTER_COLLAPSE"))

    def _node(self, i):
        return _cluster.nodes[0 if self.COLLAPSE else i]

    @property
    def A(self):
        return self._node(0)

    @property
    def B(self):
        return self._node(1)

    @property
    def C(self):
        return self._node(2)

    def index(self, node):
        return _cluster.nodes.index(node)

    def tearDown(self):
        # Leave three live nodes and a running Redis for the next test.
        if self.cl.redis is not None and not self.cl.redis.alive():
            self.cl.redis.start()
        for i, node in enumerate(self.cl.nodes):
            if not node.alive():
                self.cl.revive(i)

    def run(self, result=None):
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        out = super().run(result)
        if len(result.failures) + len(result.errors) > before and _cluster is not None:
            sys.stderr.write("\n==== cluster logs (%s) ====\n%s\n==== end ====\n"
                             % (self.id(), _cluster.logs()))
        return out

    # -- building blocks -----------------------------------------------------------------------
    def streamer(self, node):
        """A new user registered through node, with a stream key."""
        c = node.client()
        user = register(c, display_name="Streamer")
        r = c.post("/api/me/stream-key")
        self.assertEqual(r.status, 201, r.body[:300])
        return Streamer(c, user, r.json["stream_key"])

    def user(self, node, display_name="Fan"):
        c = node.client()
        return c, register(c, display_name=display_name)

    def _own(self, conn):
        self.addCleanup(conn.close)
        return conn

    def viewer(self, node, username):
        return self._own(Viewer(node, username))

    def pusher(self, node, key=None, cookie=None, ticket=None):
        return self._own(Pusher(node, key=key, cookie=cookie, ticket=ticket))

    def worker(self, node, name="py-worker", slots=1):
        return self._own(Worker(node, name, slots))

    def assertError(self, response, status, code=None):
        self.assertEqual(response.status, status, response.body[:500])
        if code is not None:
            self.assertEqual((response.json or {}).get("error", {}).get("code"), code)

    def assertLedgerVerifies(self):
        ok, out = self.cl.ledger_verify()
        self.assertTrue(ok, out)

    def assertSeqsIncrease(self, viewer):
        seqs = viewer.seqs()
        self.assertNotIn(None, seqs, "a JPEG without a frame header before it")
        for a, b in zip(seqs, seqs[1:]):
            self.assertLess(a, b, "frames went backwards (or repeated): %s" % seqs)

    def session_row(self, user_id):
        rows = self.cl.query(
            "SELECT id, status, first_frame_ms, last_frame_ms, ended_ms, duration_minutes, "
            "cost_cents FROM stream_sessions WHERE user_id = %s ORDER BY id DESC LIMIT 1",
            (user_id,))
        if not rows:
            return None
        keys = ("id", "status", "first_frame_ms", "last_frame_ms", "ended_ms",
                "duration_minutes", "cost_cents")
        return dict(zip(keys, rows[0]))

    def usage_rows(self, session_id):
        return self.cl.query("SELECT minute_index, amount_cents FROM credit_transactions "
                             "WHERE stream_session_id = %s AND kind = 'stream_usage' "
                             "ORDER BY minute_index", (session_id,))

    def home_of(self, username):
        """The node id the registry (ds:streams) names as the stream's home, or None."""
        entry = self.cl.redis.command("HGET", "ds:streams", username)
        return json.loads(entry).get("node") if entry.startswith("{") else None

    def wait_first_minute_billed(self, s):
        wait_until(lambda: (self.session_row(s.id) or {}).get("last_frame_ms") is not None
                   and self.cl.query("SELECT COUNT(*) FROM credit_transactions WHERE user_id = %s "
                                     "AND kind = 'stream_usage'", (s.id,))[0][0] >= 1,
                   EVENT_S, "the first minute to be billed")


class TestCluster(ClusterCase):
    # 1 -----------------------------------------------------------------------------------------
    def test_1_start_on_a_ingest_on_b_second_start_on_c_is_409(self):
        s = self.streamer(self.A)
        self.assertEqual(via(s.c, self.A).post("/api/streams/start").status, 201)
        for node in (self.A, self.B, self.C):
            self.assertTrue(stream_info(node.client(), s.name)["live"], node.node_id)
        self.assertError(via(s.c, self.C).post("/api/streams/start"), 409, "stream_active")
        self.assertError(via(s.c, self.B).post("/api/streams/start"), 409, "stream_active")

        w = self.worker(self.C)
        v = self.viewer(self.A, s.name)
        ing = self.pusher(self.B, cookie=s.c.session)  # the cookie socket, on another node
        ing.wait_event("status", timeout=FRAMES_S)
        v.wait_frames(3)
        self.assertIn(s.name, w.streams())
        self.assertFalse(ing.closed)
        self.assertEqual(self.cl.query("SELECT COUNT(*) FROM stream_sessions WHERE user_id = %s "
                                       "AND ended_ms IS NULL", (s.id,))[0][0], 1)
        self.assertError(via(s.c, self.C).post("/api/streams/start"), 409, "stream_active")

    def test_1_concurrent_starts_on_three_nodes_give_one_stream(self):
        s = self.streamer(self.A)
        results = []
        lock = threading.Lock()

        def go(node):
            st = via(s.c, node).post("/api/streams/start").status
            with lock:
                results.append(st)
        threads = [threading.Thread(target=go, args=(self._node(i % 3),)) for i in range(9)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(sorted(results), [201] + [409] * 8)
        self.assertEqual(via(s.c, self.C).post("/api/streams/stop").status, 200)

    def test_1_stop_on_c_ends_the_stream_homed_on_b(self):
        s = self.streamer(self.A)
        w = self.worker(self.C)  # noqa: F841 (the only worker)
        ing = self.pusher(self.B, key=s.key)
        v = self.viewer(self.A, s.name)
        v.wait_frames(1)
        r = via(s.c, self.C).post("/api/streams/stop")
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertEqual(ended_reason(ing.wait_event("ended")), "stopped")
        v.wait_state("ended")
        self.assertEqual(self.session_row(s.id)["status"], "completed")

    def test_1_a_credential_revoked_on_any_node_ends_the_ingest_on_the_home(self):
        s = self.streamer(self.A)
        self.worker(self.C)
        # A stream key rotated on C (it leaked) cuts off the pusher on B, the stream's home.
        ing = self.pusher(self.B, key=s.key)
        ing.wait_event("status", timeout=FRAMES_S)
        self.assertEqual(via(s.c, self.C).post("/api/me/stream-key").status, 201)
        self.assertEqual(ended_reason(ing.wait_event("ended")), "revoked")
        self.assertEqual(ing.wait_closed(), 4401)
        wait_until(lambda: not stream_info(self.A.client(), s.name)["live"], EVENT_S,
                   "the stream to stop")
        # A web app's ticket socket on B ends when its API token is revoked on A.
        tok = via(s.c, self.A).post("/api/me/tokens", {"name": "web app"}).json
        r = self.C.client().post("/api/ingest/ticket", cookies=False, origin=None,
                                 headers={"Authorization": "Bearer " + tok["token"]})
        self.assertEqual(r.status, 201, r.body[:300])
        web = self.pusher(self.B, ticket=r.json["ticket"])
        web.wait_event("status", timeout=FRAMES_S)
        self.assertEqual(via(s.c, self.A).delete("/api/me/tokens/%d" % tok["id"]).status, 200)
        self.assertEqual(ended_reason(web.wait_event("ended")), "revoked")
        self.assertEqual(web.wait_closed(), 4401)
        # A cookie socket on B ends when that session logs out on C.
        self.assertEqual(via(s.c, self.A).post("/api/streams/start").status, 201)
        cookie = self.pusher(self.B, cookie=s.c.session)
        cookie.wait_event("status", timeout=FRAMES_S)
        self.assertEqual(via(s.c, self.C).post("/api/auth/logout").status, 200)
        self.assertEqual(ended_reason(cookie.wait_event("ended")), "revoked")
        self.assertEqual(cookie.wait_closed(), 4401)
        self.assertLedgerVerifies()

    # 2 -----------------------------------------------------------------------------------------
    def test_2_one_worker_on_c_serves_streams_homed_on_a_and_b(self):
        w = self.worker(self.C)
        s1, s2 = self.streamer(self.A), self.streamer(self.B)
        v1 = self.viewer(self.B, s1.name)   # stream 1: home A, worker C, viewer B
        v2 = self.viewer(self.A, s2.name)   # stream 2: home B, worker C, viewer A
        self.pusher(self.A, key=s1.key)
        self.pusher(self.B, key=s2.key)
        v1.wait_frames(5)
        v2.wait_frames(5)
        self.assertLessEqual({s1.name, s2.name}, w.streams())
        for v in (v1, v2):
            self.assertSeqsIncrease(v)
            self.assertTrue(all(f[1] in FRAMES for f in v.frames))  # our echo, intact

        # The worker stops answering and drops with a job in hand: only that job is lost.
        w.answering = False
        held = w.wait_held_job()
        w.close()
        m1, m2 = v1.mark(), v2.mark()
        w2 = self.worker(self.C, "py-worker-2")
        v1.wait_frames(3, since=m1)
        v2.wait_frames(3, since=m2)
        lost = v1 if held["stream"] == s1.name else v2
        self.assertNotIn(held["seq"], lost.seqs(), "the dropped worker's job was shown")
        self.assertGreater(lost.seqs()[-1], held["seq"])
        self.assertLessEqual({s1.name, s2.name}, w2.streams())
        for v in (v1, v2):
            self.assertSeqsIncrease(v)

    def test_2_a_two_slot_worker_on_another_node_holds_two_jobs_and_the_waiting_one_is_superseded(
            self):
        # Issue 21, 8: with --redis a worker used to hold one job whatever its slots.
        s = self.streamer(self.A)
        v = self.viewer(self.C, s.name)  # home A, worker B, viewer C
        w = self.worker(self.B, "py-slots", slots=2)
        w.answering = False  # it holds what it gets, as if its model were busy
        self.pusher(self.A, key=s.key)
        first, second = w._wait(lambda: [j for j, _, _, _ in w.jobs[:2]] if len(w.jobs) >= 2
                                else None, FRAMES_S, "two jobs held at once")
        self.assertEqual(first["stream"], s.name)
        self.assertEqual(second["stream"], s.name)
        self.assertLess(first["seq"], second["seq"])
        # The home's next frame supersedes the waiting job, as on one node: a cancel, then a
        # job of a newer frame. The first (taken to be running) is never cancelled.
        w.wait_event("cancel", lambda m: m.get("job_id") == second["job_id"])
        third = w.wait_job(lambda j: j["seq"] > second["seq"], since=2)
        with w.cond:
            cancelled = {m.json["job_id"] for m in w.msgs if m.type == "cancel"}
            held = [j for j, _, _, _ in w.jobs]
        self.assertNotIn(first["job_id"], cancelled)
        # Never more than slots + 1 outstanding (a cancel may cross its job's start).
        self.assertLessEqual(len(held) - len(cancelled), 3)
        # The worker answers: cancelled for each cancelled job, a result for the first; the
        # viewer on C gets it, and the slot it frees takes the newest frame again.
        for job_id in cancelled:
            w.send_json({"type": "cancelled", "job_id": job_id})
        m = w.mark()
        jpeg = next(data for j, data, _, _ in w.jobs if j["job_id"] == first["job_id"])
        w.send_json({"type": "result", "job_id": first["job_id"], "timings": {"infer_ms": 1}})
        w.send_binary(jpeg)
        v.wait_frames(1)
        self.assertEqual(v.seqs()[0], first["seq"])
        w.wait_event("job", lambda j: j["seq"] > third["seq"], since=m)

    # 3 -----------------------------------------------------------------------------------------
    def test_3_hls_on_nodes_other_than_the_home(self):
        s = self.streamer(self.A)
        self.worker(self.C)
        self.pusher(self.A, key=s.key)
        base = "/u/%s/" % s.name

        def relay_metric(node, name):
            text = node.client().get("/metrics").text
            return int(re.search(r"(?m)^dreamstream_hls_relay_%s (\d+)$" % name, text).group(1))

        # B is not the home: it passes the request to A and gives A's answer.
        def playlist():
            r = self.B.client().get(base + "live.m3u8")
            return r if r.status == 200 else None
        r = wait_until(playlist, FRAMES_S, "the live playlist through node B")
        self.assertEqual(r.headers.get("Content-Type"), "application/vnd.apple.mpegurl")
        self.assertEqual(r.headers.get_all("Access-Control-Allow-Origin"), ["*"])
        self.assertIn("#EXT-X-PART:", r.text)
        self.assertGreater(relay_metric(self.B, "fetches_total"), 0)
        self.assertEqual(relay_metric(self.A, "fetches_total"), 0, "the home asks nobody")

        # A blocking reload through B waits (at the home, no thread held) for the hinted part.
        hint = re.search(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="[^"]*/(\d+)\.(\d+)\.m4s"', r.text)
        msn, part = int(hint.group(1)), int(hint.group(2))
        r = self.B.client().get(base + "live.m3u8?_HLS_msn=%d&_HLS_part=%d" % (msn, part))
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertIn("/%d.%d.m4s" % (msn, part), r.text)
        self.assertEqual(r.headers.get("Cache-Control"), "public, max-age=6")
        # The same reload with parameters the server does not read (a cache buster, a player's
        # own) is the same URI to B: answered from what B kept, not asked of the home again.
        fetched = relay_metric(self.B, "fetches_total")
        again = self.B.client().get(base + "live.m3u8?cb=%d&_HLS_part=%d&_HLS_msn=%d&x=y"
                                    % (time.time_ns(), part, msn))
        self.assertEqual(again.status, 200, again.body[:300])
        self.assertEqual(again.body, r.body)
        self.assertEqual(relay_metric(self.B, "fetches_total"), fetched)

        # Twenty players on B ask for one segment: B asks the home once, and every one of them
        # gets the home's bytes.
        seg = re.findall(r"^(hls/\d+/\d+\.m4s)$", r.text, re.M)[-1]
        before = relay_metric(self.B, "fetches_total")
        got = []
        threads = [threading.Thread(target=lambda: got.append(self.B.client().get(base + seg)))
                   for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(EVENT_S)
        self.assertEqual(len(got), 20)
        home = self.A.client().get(base + seg)
        self.assertEqual(home.status, 200)
        for g in got:
            self.assertEqual(g.status, 200)
            self.assertEqual(g.headers.get("Cache-Control"), "public, max-age=31536000, immutable")
            self.assertEqual(g.body, home.body)
        self.assertEqual(relay_metric(self.B, "fetches_total") - before, 1)

        # An outside player on C, which has nothing of the stream: ffprobe reads it as H.264.
        out = subprocess.run(
            ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
             "stream=codec_name", "-of", "csv=p=0",
             "http://127.0.0.1:%d%slive.m3u8" % (self.C.port, base)],
            capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.split()[0], "h264")

    def test_3_viewers_mjpeg_and_latest_jpg_on_nodes_other_than_the_home(self):
        s = self.streamer(self.A)
        self.worker(self.C)
        self.pusher(self.B, key=s.key)
        # MJPEG on A, where no WebSocket viewer of this stream is.
        conn = http.client.HTTPConnection("127.0.0.1", self.A.port, timeout=FRAMES_S)
        try:
            conn.request("GET", "/u/%s/stream.mjpeg" % s.name)
            resp = conn.getresponse()
            self.assertEqual(resp.status, 200)
            self.assertIn("multipart/x-mixed-replace", resp.getheader("Content-Type"))
            got = b""
            deadline = time.monotonic() + FRAMES_S
            while time.monotonic() < deadline:
                got += resp.read1(65536)
                start = got.find(b"\xff\xd8")
                if start >= 0 and got.find(b"\xff\xd9", start) >= 0:
                    break
            self.assertIn(b"Content-Type: image/jpeg", got)
            start = got.find(b"\xff\xd8")
            self.assertTrue(start >= 0 and got.find(b"\xff\xd9", start) >= 0, "no JPEG part")
        finally:
            conn.close()
        # latest.jpg on C, which has no viewer of it either.
        c = self.C.client()

        def latest():
            r = c.get("/u/%s/latest.jpg" % s.name)
            return r if r.status == 200 else None
        r = wait_until(latest, FRAMES_S, "latest.jpg on node C")
        self.assertEqual(r.headers.get("Content-Type"), "image/jpeg")
        self.assertTrue(r.body.startswith(b"\xff\xd8"))
        self.assertIn(r.body, FRAMES)
        # WebSocket viewers on A and C.
        va, vc = self.viewer(self.A, s.name), self.viewer(self.C, s.name)
        va.wait_frames(3)
        vc.wait_frames(3)
        self.assertSeqsIncrease(va)
        self.assertSeqsIncrease(vc)

    # 4 -----------------------------------------------------------------------------------------
    def test_4_viewer_counts_are_global_and_follow_a_dead_node(self):
        s = self.streamer(self.B)
        self.worker(self.C)
        ing = self.pusher(self.B, key=s.key)
        viewers = [self.viewer(self.A, s.name), self.viewer(self.A, s.name),
                   self.viewer(self.C, s.name)]
        for conn in viewers + [ing]:
            conn.wait_latest("viewers", lambda m: viewer_count(m) == 3, CONVERGE_S,
                             "viewers = 3")
        for node in (self.A, self.B, self.C):
            wait_until(lambda: stream_info(node.client(), s.name)["viewers"] == 3, CONVERGE_S,
                       "GET /api/streams on %s to say 3" % node.node_id)

        self.cl.kill(self.index(self.A))  # node A and its two viewers
        for conn in (viewers[2], ing):
            conn.wait_latest("viewers", lambda m: viewer_count(m) == 1, CONVERGE_S,
                             "viewers = 1 after node A died")
        for node in (self.B, self.C):
            wait_until(lambda: stream_info(node.client(), s.name)["viewers"] == 1, CONVERGE_S,
                       "GET /api/streams on %s to say 1" % node.node_id)

    # 5 -----------------------------------------------------------------------------------------
    def test_5_comments_styles_and_settings_cross_nodes(self):
        s = self.streamer(self.B)
        w = self.worker(self.C)
        ing = self.pusher(self.B, key=s.key)
        va, vc = self.viewer(self.A, s.name), self.viewer(self.C, s.name)
        va.wait_frames(1)
        fan, _ = self.user(self.C)

        # A comment posted on C reaches a viewer on A and the streamer's socket on B.
        r = via(fan, self.C).post("/api/streams/%s/comments" % s.name, {"body": "hello from C"})
        self.assertEqual(r.status, 201, r.body[:300])
        cid = r.json["comment"]["id"]
        for conn in (va, ing, vc):
            conn.wait_event("comment", lambda m: m["comment"]["id"] == cid
                            and m["comment"]["body"] == "hello from C")

        # Settings saved on A reach viewers on C (and the streamer on B).
        r = via(s.c, self.A).patch("/api/streams/settings",
                                   {"styles_enabled": True, "style_policy": "approve"})
        self.assertEqual(r.status, 200, r.body[:300])
        for conn in (vc, ing):
            conn.wait_event("settings", lambda m: m["settings"]["style_policy"] == "approve")
        self.assertEqual(stream_info(self.C.client(), s.name)["settings"]["style_policy"],
                         "approve")

        # A style request from a viewer on A, approved by the streamer through C: everyone sees
        # it and the worker's next job carries it.
        r = via(fan, self.A).post("/api/streams/%s/styles" % s.name, {"prompt": "neon city"})
        self.assertEqual(r.status, 201, r.body[:300])
        rid = r.json["request"]["id"]
        r = via(s.c, self.C).post("/api/streams/%s/styles/%d/approve" % (s.name, rid))
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertEqual(current_style(r.json), "neon city")
        mark = w.job_count()
        for conn in (va, vc, ing):
            conn.wait_event("styles", lambda m: current_style(m) == "neon city")
        w.wait_job(lambda j: "neon city" in job_prompt(j), since=mark)

        # Reject (on B) and skip and clear (on A) work from other nodes too.
        r = via(fan, self.C).post("/api/streams/%s/styles" % s.name, {"prompt": "oil painting"})
        self.assertEqual(r.status, 201, r.body[:300])
        r = via(s.c, self.B).post("/api/streams/%s/styles/%d/reject"
                                  % (s.name, r.json["request"]["id"]))
        self.assertEqual(r.status, 200, r.body[:300])
        r = via(fan, self.B).post("/api/streams/%s/styles" % s.name, {"prompt": "pencil"})
        self.assertEqual(r.status, 201, r.body[:300])
        self.assertEqual(via(s.c, self.A).post("/api/streams/%s/styles/clear" % s.name).status,
                         200)
        r = via(s.c, self.A).post("/api/streams/%s/styles/skip" % s.name)
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertNotEqual(current_style(r.json), "neon city")
        vc.wait_latest("styles", lambda m: current_style(m) == current_style(r.json))

    def test_5_the_style_queue_moves_with_the_stream_home(self):
        slot_s = 8
        s = self.streamer(self.A)
        w = self.worker(self.C)
        r = via(s.c, self.A).patch("/api/streams/settings",
                                   {"styles_enabled": True, "style_policy": "auto",
                                    "style_slot_seconds": slot_s})
        self.assertEqual(r.status, 200, r.body[:300])
        ing = self.pusher(self.A, key=s.key)
        vc = self.viewer(self.C, s.name)
        vc.wait_frames(1)

        # One request plays, two wait, all asked on B of the stream homed on A.
        fan, _ = self.user(self.B)
        ids = []
        for prompt in ("neon city", "oil painting", "pencil"):
            r = via(fan, self.B).post("/api/streams/%s/styles" % s.name, {"prompt": prompt})
            self.assertEqual(r.status, 201, r.body[:300])
            ids.append(r.json["request"]["id"])
        before = vc.wait_latest("styles", lambda m: style_ids(m) == (ids[0], ids[1:]))["styles"]
        self.assertEqual(self.cl.query("SELECT id, status FROM style_requests WHERE id IN "
                                       "(%s, %s, %s) ORDER BY id" % tuple(ids)),
                         [(ids[0], "active"), (ids[1], "queued"), (ids[2], "queued")])
        time.sleep(2)  # into the slot, so a slot that restarted on the move would show

        # The ingest drops and comes back on B: the stream's home moves to B.
        m, jobs = vc.mark(), w.job_count()
        ing.stop_pushing()
        ing.drop()
        ing_b = self.pusher(self.B, key=s.key)
        ing_b.wait_event("status", timeout=FRAMES_S)
        wait_until(lambda: self.home_of(s.name) == self.cl.node_id(1), EVENT_S,
                   "the stream's home to be B")

        # Viewers on C get one styles event: the same request playing on in the same slot,
        # the same queue; not a cleared queue.
        after = vc.wait_event("styles", since=m)["styles"]
        self.assertEqual(style_ids(after), (ids[0], ids[1:]))
        self.assertEqual(after["current"], before["current"])
        self.assertEqual(after["queue"], before["queue"])
        self.assertEqual(style_ids(ing_b.wait_event("styles")), (ids[0], ids[1:]))
        self.assertEqual(style_ids(stream_info(self.C.client(), s.name)["styles"]),
                         (ids[0], ids[1:]))
        w.wait_job(lambda j: job_prompt(j) == "neon city" and j.get("stream") == s.name,
                   since=jobs)
        self.assertEqual(self.cl.query("SELECT id, status, ended_ms FROM style_requests WHERE id "
                                       "IN (%s, %s, %s) ORDER BY id" % tuple(ids)),
                         [(ids[0], "active", None), (ids[1], "queued", None),
                          (ids[2], "queued", None)])

        # The slot ends when it would have on A, and the next request plays.
        nxt = vc.wait_event("styles", lambda e: style_ids(e)[0] == ids[1], since=m,
                            timeout=slot_s + EVENT_S)["styles"]
        self.assertEqual(style_ids(nxt), (ids[1], ids[2:]))
        ends_ms = before["current"]["ends_ms"]
        self.assertLess(abs(nxt["current"]["started_ms"] - ends_ms), 1500,
                        "the slot went on from where it was, it did not restart on the move")
        for e in vc.msgs[m[0]:]:
            if e.type == "styles":
                self.assertIsNotNone(style_ids(e.json)[0], "viewers saw the queue cleared")
        rows = self.cl.query("SELECT id, status, started_ms, ended_ms FROM style_requests "
                             "WHERE id IN (%s, %s, %s) ORDER BY id" % tuple(ids))
        self.assertEqual([(i, st) for i, st, _, _ in rows],
                         [(ids[0], "done"), (ids[1], "active"), (ids[2], "queued")])
        self.assertEqual(rows[0][2], before["current"]["started_ms"])
        self.assertGreaterEqual(rows[0][3], ends_ms)

        # A real end still ends every request.
        self.assertEqual(via(s.c, self.C).post("/api/streams/stop").status, 200)
        wait_until(lambda: [st for _, st in self.cl.query(
            "SELECT id, status FROM style_requests WHERE id IN (%s, %s, %s) ORDER BY id"
            % tuple(ids))] == ["done", "done", "cleared"], EVENT_S, "the requests to end")

    # 6 -----------------------------------------------------------------------------------------
    def test_6_login_throttle_is_shared_across_nodes(self):
        _, user = self.user(self.A)
        statuses = []
        for i in range(6):
            node = self._node(i % 3)
            statuses.append(node.client().post("/api/auth/login", {
                "login": user["username"], "password": "wrong password"}).status)
        self.assertEqual(statuses, [401] * 5 + [429])  # as on one node: 5 failures, then 429
        for node in (self.A, self.B, self.C):
            self.assertError(node.client().post("/api/auth/login", {
                "login": user["username"], "password": PASSWORD}), 429, "rate_limited")

    def test_6_parallel_guesses_on_three_nodes_cannot_outrun_the_limit(self):
        _, user = self.user(self.B)
        statuses = []
        lock = threading.Lock()

        def guess(node):
            st = node.client().post("/api/auth/login", {"login": user["username"],
                                                        "password": "wrong password"}).status
            with lock:
                statuses.append(st)
        threads = [threading.Thread(target=guess, args=(self._node(i % 3),))
                   for i in range(9)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(sorted(statuses), [401] * 5 + [429] * 4)

    def test_6_comment_rate_limit_is_shared_across_nodes(self):
        s = self.streamer(self.A)
        self.pusher(self.B, key=s.key)
        self.assertEqual(via(s.c, self.C).post("/api/streams/start").status, 409)  # it is live
        fan, _ = self.user(self.C)
        statuses = [via(fan, self._node(i % 3)).post(
            "/api/streams/%s/comments" % s.name, {"body": "c%d" % i}).status for i in range(6)]
        self.assertEqual(statuses, [201] * 5 + [429])  # 5 per 10 s per user, on one node too

    # 7 -----------------------------------------------------------------------------------------
    def test_7_sigkill_of_the_home_node(self):
        s = self.streamer(self.A)
        self.worker(self.C)
        self.pusher(self.B, key=s.key)
        va, vc = self.viewer(self.A, s.name), self.viewer(self.C, s.name)
        va.wait_frames(2)
        vc.wait_frames(2)
        self.wait_first_minute_billed(s)
        fan, _ = self.user(self.A)
        for prompt in ("neon city", "pencil sketch"):  # one plays, one waits, on B's queue
            r = via(fan, self.C).post("/api/streams/%s/styles" % s.name, {"prompt": prompt})
            self.assertEqual(r.status, 201, r.body[:300])
        marks = va.mark(), vc.mark()

        self.cl.kill(self.index(self.B))
        killed = time.monotonic()
        for v, m in zip((va, vc), marks):
            v.wait_state("ended", timeout=ENDED_S, since=m)
        self.assertLess(time.monotonic() - killed, ENDED_S)
        row = wait_until(lambda: (lambda r: r if r and r["ended_ms"] else None)(
            self.session_row(s.id)), EVENT_S, "the session to be closed")
        self.assertEqual(row["status"], "interrupted")
        self.assertFalse(stream_info(self.C.client(), s.name)["live"])
        # The node that ended it had no queue for it: the requests end from the database.
        wait_until(lambda: self.cl.query(
            "SELECT status FROM style_requests WHERE stream_session_id = %s ORDER BY id",
            (row["id"],)) == [("done",), ("cleared",)], EVENT_S, "the style requests to end")

        # Billed every started minute up to the last frame, each exactly once.
        minutes = started_minutes(row["first_frame_ms"], row["last_frame_ms"])
        self.assertEqual(row["duration_minutes"], minutes)
        self.assertEqual(row["cost_cents"], minutes * MINUTE_CENTS)
        usage = self.usage_rows(row["id"])
        self.assertEqual(len(usage), minutes, usage)
        self.assertEqual(len({m for m, _ in usage}), minutes, usage)
        self.assertEqual(sum(-a for _, a in usage), row["cost_cents"])
        r = via(s.c, self.C).get("/api/credits")
        self.assertEqual(r.json["balance_cents"], SIGNUP_CENTS - row["cost_cents"])
        self.assertLedgerVerifies()

        # The streamer goes live again through another node.
        self.assertEqual(via(s.c, self.C).post("/api/streams/start").status, 201)
        ing = self.pusher(self.A, key=s.key)
        ing.wait_event("status", timeout=FRAMES_S)
        self.viewer(self.C, s.name).wait_frames(1)
        self.assertEqual(via(s.c, self.C).post("/api/streams/stop").status, 200)
        self.assertLedgerVerifies()

    # 8 -----------------------------------------------------------------------------------------
    def test_8_redis_outage(self):
        s = self.streamer(self.A)
        self.worker(self.A)   # the home's own worker keeps its local viewers going
        ing = self.pusher(self.A, key=s.key)
        va, vb = self.viewer(self.A, s.name), self.viewer(self.B, s.name)
        va.wait_frames(3)
        vb.wait_frames(3)

        self.cl.redis.stop()
        down = time.monotonic()
        half = None
        while time.monotonic() - down < REDIS_DOWN_S:
            for node in self.cl.nodes:
                self.assertTrue(node.alive(), "%s died without Redis" % node.node_id)
                st = node.client().get("/healthz").status
                self.assertTrue(healthz_answers(st), "%s /healthz: %s" % (node.node_id, st))
            if half is None and time.monotonic() - down >= REDIS_DOWN_S / 2:
                half = va.mark()
            time.sleep(0.5)
        # The local viewer kept getting frames through the second half of the outage.
        self.assertIsNotNone(half)
        self.assertGreaterEqual(len(va.frames) - half[1], 5,
                                "the home's own viewer starved while Redis was down")
        self.assertFalse(ing.closed)

        self.cl.redis.start()
        if vb.closed:  # a node may drop its remote viewers during the outage; they reconnect
            vb = self.viewer(self.B, s.name)
        vb.wait_frames(3, timeout=RECOVER_S, since=vb.mark())
        vc = self.viewer(self.C, s.name)
        vc.wait_frames(1, timeout=RECOVER_S)
        self.assertSeqsIncrease(va)
        self.assertFalse(ing.closed, "the stream ended during the outage")
        for node in (self.A, self.B, self.C):
            self.assertEqual(node.client().get("/healthz").status, 200)
            # A node that is still reconnecting to Redis (backoff up to 1 s), or whose lookup
            # missed its 250 ms on a loaded machine, cannot find the home for a moment.
            wait_until(lambda n=node: stream_info(n.client(), s.name)["live"], RECOVER_S,
                       "%s to say the stream is live again" % node.node_id)
        self.assertIsNone(self.session_row(s.id)["ended_ms"])
        self.assertEqual(via(s.c, self.B).post("/api/streams/stop").status, 200)
        self.assertLedgerVerifies()

    def test_8_a_key_rotated_while_redis_is_down_still_ends_the_ingest(self):
        # No node can tell another (no Redis): the home finds the revocation in the database at
        # its next credential recheck (every 5 s) and ends the socket and the stream.
        s = self.streamer(self.A)
        ing = self.pusher(self.B, key=s.key)
        ing.wait_event("status", timeout=FRAMES_S)
        self.cl.redis.stop()
        self.assertEqual(via(s.c, self.C).post("/api/me/stream-key").status, 201)
        self.assertEqual(ended_reason(ing.wait_event("ended", timeout=EVENT_S)), "revoked")
        self.assertEqual(ing.wait_closed(), 4401)
        wait_until(lambda: self.session_row(s.id)["ended_ms"] is not None, EVENT_S,
                   "the stream to end in the database")
        self.cl.redis.start()
        self.assertLedgerVerifies()

    # 9 -----------------------------------------------------------------------------------------
    # Hostile or silent parties on Redis ------------------------------------------------------
    def test_10_a_silent_home_gives_503_and_garbage_on_the_channels_changes_nothing(self):
        redis = self.cl.redis
        # A stream announced by a node that beats but never answers a call.
        real = self.streamer(self.A)
        self.worker(self.C)
        self.pusher(self.A, key=real.key)
        v = self.viewer(self.B, real.name)
        v.wait_frames(2)
        entry = json.loads(redis.command("HGET", "ds:streams", real.name))
        ghost_user = self.streamer(self.B)
        entry["node"] = "ghost-node"
        entry["s"]["username"] = ghost_user.name
        entry["s"]["session_id"] = 987654321
        self.assertEqual(redis.command("SET", "ds:node:ghost-node", "1", "PX", "30000"), "+OK")
        self.addCleanup(redis.command, "DEL", "ds:node:ghost-node")
        self.addCleanup(redis.command, "HDEL", "ds:streams", ghost_user.name)
        redis.command("HSET", "ds:streams", ghost_user.name, json.dumps(entry))
        started = time.monotonic()
        r = self.C.client().get("/api/streams/" + ghost_user.name)
        self.assertError(r, 503, "home_unavailable")
        self.assertLess(time.monotonic() - started, 8.0, "the forward waited too long")
        # A credential is still withdrawn while the home does not answer (the key may have
        # leaked): the new key is made here, and the old one no longer starts anything.
        started = time.monotonic()
        r = via(ghost_user.c, self.C).post("/api/me/stream-key")
        self.assertEqual(r.status, 201, r.body[:300])
        self.assertLess(time.monotonic() - started, 8.0, "the forward waited too long")
        self.assertEqual(self.C.client().post(
            "/api/ingest/frame", raw=FRAMES[0], cookies=False, origin=None,
            headers={"Authorization": "Bearer " + ghost_user.key,
                     "Content-Type": "image/jpeg"}).status, 401)
        # Garbage where nodes listen: channels of a followed stream, a node's call channel,
        # the wake-up channel. Nothing crashes, and the stream goes on.
        node_b = self.cl.node_id(1)
        junk = [b"", b"{", b"\x00\xff" * 10, b"not json\n\xff\xd8",
                json.dumps({"k": "r", "s": "x", "q": -1}).encode() + b"\n" + b"\xff\xd8",
                b"r" + json.dumps({"s": 1}).encode(), b"t{}", b"x" * (2 << 20),
                json.dumps({"id": "1", "from": "nobody", "op": "http"}).encode() + b"\n"]
        for payload in junk:
            redis.command("PUBLISH", "ds:c:" + real.name, payload)
            redis.command("PUBLISH", "ds:n:" + node_b, payload)
            redis.command("PUBLISH", "ds:ready", payload)
        m = v.mark()
        v.wait_frames(3, since=m)
        self.assertSeqsIncrease(v)
        for node in (self.A, self.B, self.C):
            self.assertTrue(node.alive())
            self.assertEqual(node.client().get("/healthz").status, 200)

    # 11 (issue 20, item 3): the wire between nodes is sealed ----------------------------------
    def test_11_a_redis_sniffer_finds_no_secret_of_a_login_password_change_or_new_key(self):
        s = self.streamer(self.A)
        self.worker(self.C)
        ing = self.pusher(self.B, key=s.key)  # B is the stream's home
        ing.wait_event("status", timeout=FRAMES_S)
        wait_until(lambda: self.home_of(s.name) == self.B.node_id, EVENT_S, "B to be home")
        sniffer = RedisSniffer(self.cl.redis)
        self.addCleanup(sniffer.close)
        secrets = {"old password": PASSWORD, "old stream key": s.key}

        # On C, not the home: log in, use the cookie on forwarded routes, change the password,
        # rotate the stream key.
        c = self.C.client()
        r = login(c, s.name)
        self.assertEqual(r.status, 200, r.body[:300])
        secrets["session cookie"] = c.session
        r = c.patch("/api/streams/settings", {"prompt": "sealed ink"})
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertEqual(stream_info(c, s.name)["live"], True)
        sniffer.snapshot()
        new_password = "brand new password " + s.name
        secrets["new password"] = new_password
        r = c.post("/api/me/password", {"current_password": PASSWORD,
                                        "new_password": new_password})
        self.assertEqual(r.status, 200, r.body[:300])
        sniffer.snapshot()
        r = c.post("/api/me/stream-key")
        self.assertEqual(r.status, 201, r.body[:300])
        secrets["new stream key"] = r.json["stream_key"]
        # The effect still reaches the home: the pusher on B with the old key is cut off.
        self.assertEqual(ended_reason(ing.wait_event("ended")), "revoked")
        self.assertEqual(ing.wait_closed(), 4401)
        # An HTTP ingest frame sent to C with the new key is passed to the home (B) without it.
        wait_until(lambda: not stream_info(self.A.client(), s.name)["live"], EVENT_S,
                   "the stream to stop")
        self.assertEqual(via(c, self.B).post("/api/streams/start").status, 201)
        wait_until(lambda: self.home_of(s.name) == self.B.node_id, EVENT_S, "B to be home")
        r = self.C.client().post("/api/ingest/frame?key=" + secrets["new stream key"],
                                 raw=FRAMES[0], cookies=False, origin=None,
                                 headers={"Content-Type": "image/jpeg"})
        self.assertEqual(r.status, 202, r.body[:300])
        sniffer.snapshot()
        self.assertEqual(via(c, self.B).post("/api/streams/stop").status, 200)
        sniffer.snapshot()
        # Everything published before this marker has reached the sniffer.
        self.cl.redis.command("PUBLISH", "test:marker", "end")
        wait_until(lambda: any(ch == b"test:marker" for ch, _ in list(sniffer.messages)),
                   EVENT_S, "the sniffer to see the marker")

        seen = sniffer.published()
        self.assertGreater(len(sniffer.messages), 3, "the sniffer saw no traffic at all")
        for what, secret in secrets.items():
            self.assertNotIn(secret.encode(), seen, "%s crossed Redis" % what)
            self.assertNotIn(secret.encode(), sniffer.keys_seen, "%s stored in Redis" % what)
        # Nor any log line of any node.
        logs = self.cl.logs(tail=10 ** 9)
        for what, secret in list(secrets.items()) + [
                ("cluster secret", self.cl.secret)] + [
                ("redis password", p) for p in self.cl.redis.secrets()]:
            self.assertNotIn(secret, logs, "%s in a log" % what)

    def test_11_forged_and_replayed_node_messages_are_dropped_and_counted(self):
        s = self.streamer(self.A)
        self.worker(self.C)
        ing = self.pusher(self.B, key=s.key)  # B is the stream's home
        ing.wait_event("status", timeout=FRAMES_S)
        session_id = self.session_row(s.id)["id"]
        sniffer = RedisSniffer(self.cl.redis)
        self.addCleanup(sniffer.close)
        # A sealed call to B, captured on its way: a stop sent to C, the stream's non-home.
        r = via(s.c, self.C).patch("/api/streams/settings", {"prompt": "captured"})
        self.assertEqual(r.status, 200, r.body[:300])
        channel = ("ds:n:" + self.B.node_id).encode()
        calls = wait_until(lambda: [p for ch, p in sniffer.messages if ch == channel], EVENT_S,
                           "a call to B on Redis")
        forged0, replayed0 = dropped(self.B, "forged"), dropped(self.B, "replayed")

        redis = self.cl.redis
        # Someone with write access to Redis: the call again, word for word ...
        redis.command("PUBLISH", channel, calls[0])
        # ... and calls of their own, in the clear, or sealed with a guessed key.
        far = str(int(time.time() * 1000) + 60000)
        for payload in [
                b"Q1 node-a " + far.encode() + b"\n" + json.dumps(
                    {"op": "release", "session_id": session_id}).encode() + b"\n",
                b"Q2 node-a " + far.encode() + b"\n" + json.dumps(
                    {"op": "http", "method": "POST", "path": "/api/streams/stop", "query": "",
                     "headers": [], "remote_addr": "127.0.0.1",
                     "principal": {"user_id": s.id, "username": s.name, "session_id": 0,
                                   "api_token_id": 0, "via_cookie": False}}).encode() + b"\n",
                b"\x01" + os.urandom(24) + os.urandom(80)]:
            redis.command("PUBLISH", channel, payload)
        wait_until(lambda: dropped(self.B, "forged") >= forged0 + 3, EVENT_S,
                   "B to count the forged calls")
        wait_until(lambda: dropped(self.B, "replayed") >= replayed0 + 1, EVENT_S,
                   "B to count the replayed call")
        # The stream goes on: nothing released or stopped it.
        self.assertFalse(ing.closed)
        self.assertIsNone(self.session_row(s.id)["ended_ms"])
        self.assertTrue(stream_info(self.A.client(), s.name)["live"])
        self.assertEqual(via(s.c, self.C).post("/api/streams/stop").status, 200)

    def test_11_no_node_starts_without_a_cluster_secret_and_no_refusal_shows_a_password(self):
        import subprocess
        import tempfile
        env = {k: v for k, v in os.environ.items() if not k.startswith("DREAMSTREAM_")}
        password = "Hunter2-redis-" + os.urandom(4).hex()
        cases = [
            (["--redis", "redis://:%s@127.0.0.1:%d" % (password, self.cl.redis.port)],
             "--cluster-secret"),
            (["--redis", "redis://:%s@127.0.0.1:notaport" % password,
              "--cluster-secret", self.cl.secret], "--redis"),
            (["--redis", "redis://:%s@127.0.0.1:%d" % (password, self.cl.redis.port),
              "--cluster-secret", "short"], "--cluster-secret"),
        ]
        for args, names in cases:
            with tempfile.TemporaryDirectory() as data:
                r = subprocess.run([binary_path(), "serve", "--listen", "127.0.0.1:0", "--data",
                                    data, "--db", self.cl.db_url] + args,
                                   capture_output=True, text=True, timeout=30, env=env)
            out = r.stdout + r.stderr
            self.assertNotEqual(r.returncode, 0, out)
            self.assertIn(names, out)
            self.assertNotIn(password, out)
            self.assertEqual(len([line for line in out.splitlines() if "error" in line]), 1,
                             out)

    def test_11_nodes_log_in_to_redis_as_an_acl_user_with_the_password_in_the_url(self):
        self.assertIn(":" + self.cl.redis.user_password + "@", self.cl.redis.url)
        clients = self.cl.redis.command("CLIENT", "LIST")
        self.assertIn("user=ds-node", clients)
        for node in (self.A, self.B, self.C):
            self.assertIn("dreamstream_cluster_healthy 1", Client(node).get("/metrics").text)

    def test_metrics_show_the_redis_link(self):
        for node in (self.A, self.B, self.C):
            r = Client(node).get("/metrics")
            self.assertEqual(r.status, 200)
            text = r.body if isinstance(r.body, str) else r.body.decode()
            self.assertIn("dreamstream_cluster_healthy 1", text)
            commands = [line for line in text.splitlines()
                        if line.startswith("dreamstream_redis_commands_total ")]
            self.assertEqual(len(commands), 1, text)
            self.assertGreater(int(commands[0].split()[1]), 0)

    def test_9_sigterm_of_the_home_node(self):
        s = self.streamer(self.A)
        wb = self.worker(self.B)
        ing = self.pusher(self.B, key=s.key)
        vb, va = self.viewer(self.B, s.name), self.viewer(self.A, s.name)
        vb.wait_frames(2)
        va.wait_frames(2)
        self.wait_first_minute_billed(s)
        mark = va.mark()

        self.cl.terminate(self.index(self.B))
        self.assertEqual(ended_reason(ing.wait_event("ended", timeout=15)), "server_shutdown")
        vb.wait_closed(15)  # so that it reconnects elsewhere
        wb.wait_closed(15)
        va.wait_state("ended", timeout=ENDED_S, since=mark)
        self.assertEqual(self.cl.wait_exit(self.index(self.B)), 0)
        row = self.session_row(s.id)
        self.assertEqual(row["status"], "interrupted")
        self.assertIsNotNone(row["ended_ms"])
        self.assertEqual(row["duration_minutes"],
                         started_minutes(row["first_frame_ms"], row["last_frame_ms"]))
        self.assertEqual(len(self.usage_rows(row["id"])), row["duration_minutes"])
        self.assertLedgerVerifies()
        # Its viewer and worker reconnect to a surviving node.
        self.viewer(self.C, s.name).wait_event(
            "state", lambda m: is_state(m, "offline") or is_state(m, "ended"))
        self.worker(self.C)



def metric_value(node, name):
    """A counter from the node's /metrics (loopback may read it)."""
    for line in node.client().get("/metrics").body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


class TestVideo(ClusterCase):
    """Issue 22: `?video=h264` on many nodes. Each node with video viewers of a stream encodes it
    from the processed JPEGs it follows anyway; one encoder per node, none on a node without
    video viewers, nothing encoded on the shared line."""

    def test_each_node_with_video_viewers_encodes_the_stream_once(self):
        s = self.streamer(self.A)
        self.worker(self.C)
        self.pusher(self.B, key=s.key)  # home: B
        jpeg_b = self.viewer(self.B, s.name)
        video = {"A": [Collector(ds.Viewer(self.A.url, s.name, video="h264").connect())],
                 "C": [Collector(ds.Viewer(self.C.url, s.name, video="h264").connect())
                       for _ in range(2)]}
        every = video["A"] + video["C"]
        for v in every:
            self.addCleanup(v.close)
        wait_until(lambda: all(len(v.units()) >= 10 for v in every), FRAMES_S * 2,
                   "10 video units on every video viewer")
        for v in every:
            units = v.units()
            self.assertTrue(units[0].key)
            self.assertTrue(units[0].codec.startswith("avc1."))
            self.assertEqual(int(ffprobe(units)["nb_read_frames"]), len(units))
        # The two viewers on C share one encoding: the same bytes for the same picture.
        c1, c2 = ({u.seq: u.data for u in v.units()} for v in video["C"])
        common = set(c1) & set(c2)
        self.assertTrue(common)
        for seq in common:
            self.assertEqual(c1[seq], c2[seq])
        started = "event=video_encoder_started stream=%s" % s.name
        self.assertEqual(self.A.logs().count(started), 1)
        self.assertEqual(self.C.logs().count(started), 1)
        self.assertNotIn(started, self.B.logs())  # the home has no video viewer
        jpeg_b.wait_frames(5)
        self.assertSeqsIncrease(jpeg_b)
        # The stream ends on its home: the nodes that follow it stop their encoders (and let go
        # of their GOPs) while the video viewers stay connected.
        stopped = "event=video_encoder_stopped stream=%s" % s.name
        self.assertNotIn(stopped, self.A.logs() + self.C.logs())
        self.assertEqual(s.c.post("/api/streams/stop").status, 200)
        wait_until(lambda: stopped in self.A.logs() and stopped in self.C.logs(), EVENT_S,
                   "the encoders on A and C stopped")
        for v in every:
            v.close()


class TestRemotePictures(ClusterCase):
    """Issue 20 item 5: anonymous latest.jpg (GET and HEAD) on a node that is not the stream's
    home pulls the picture across Redis at most once per stream per second, however many ask
    and however many at once; a node that follows the stream answers from its own copy; HEAD
    sends no body; forwarded calls are limited per client address."""

    FETCHES = "dreamstream_remote_picture_fetches_total"

    def test_latest_jpg_on_another_node_is_fetched_at_most_once_a_second(self):
        s = self.streamer(self.A)
        self.worker(self.A)
        self.pusher(self.A, key=s.key)
        path = "/u/%s/latest.jpg" % s.name
        c = self.C.client()
        wait_until(lambda: c.get(path).status == 200, FRAMES_S, "latest.jpg on node C")
        picture = c.get(path).body
        before = metric_value(self.C, self.FETCHES)
        received = metric_value(self.C, "dreamstream_redis_received_bytes_total")
        # 40 at once, GET and HEAD, then asked again and again for 2 s.
        results, lock = [], threading.Lock()

        def ask(method):
            conn = http.client.HTTPConnection("127.0.0.1", self.C.port, timeout=10)
            try:
                conn.request(method, path)
                r = conn.getresponse()
                body = r.read()
                with lock:
                    results.append((method, r.status, body))
            finally:
                conn.close()
        started = time.monotonic()
        threads = [threading.Thread(target=ask, args=("GET" if i % 2 else "HEAD",))
                   for i in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        while time.monotonic() - started < 2.0:
            ask("GET")
        elapsed = time.monotonic() - started
        # What crossed Redis to C: a few pictures and the usual announcements, not one picture
        # per request (that was the amplifier).
        received = metric_value(self.C, "dreamstream_redis_received_bytes_total") - received
        self.assertLess(received, len(results) * len(picture) / 4,
                        "%d bytes from Redis for %d requests of a %d-byte picture"
                        % (received, len(results), len(picture)))
        self.assertIsNotNone(before, "no %s on /metrics" % self.FETCHES)
        fetched = metric_value(self.C, self.FETCHES) - before
        self.assertEqual({(m, st) for m, st, _ in results}, {("GET", 200), ("HEAD", 200)})
        self.assertTrue(all(b.startswith(b"\xff\xd8") for m, _, b in results if m == "GET"))
        # One per started second at most (the first may still be fresh from the wait above).
        self.assertLessEqual(fetched, int(elapsed) + 1,
                             "%d fetches for %d requests in %.1f s" % (fetched, len(results),
                                                                      elapsed))
        # HEAD: the headers of the picture, no body on the wire.
        status, headers, rest = raw_request(self.C.port, "HEAD", path, {"Connection": "close"},
                                            to_end=True)
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("content-type"), "image/jpeg")
        self.assertEqual(rest, b"")
        # A node that follows the stream (a viewer there) answers from its own copy.
        v = self.viewer(self.C, s.name)
        v.wait_frames(2)
        before = metric_value(self.C, self.FETCHES)
        for _ in range(20):
            r = c.get(path)
            self.assertEqual(r.status, 200)
            self.assertIn(r.body, FRAMES)
        time.sleep(1.1)  # past the interval: a fetch would happen now if the copy were not used
        self.assertEqual(c.get(path).status, 200)
        self.assertEqual(metric_value(self.C, self.FETCHES) - before, 0)

    def test_forwarded_calls_are_rate_limited_per_client_address(self):
        s = self.streamer(self.A)
        self.pusher(self.A, key=s.key)
        c = self.B.client()
        wait_until(lambda: c.get("/api/streams/" + s.name).status == 200, FRAMES_S,
                   "the stream's info on node B")
        statuses = []
        while 429 not in statuses and len(statuses) < 400:  # faster than 50 a second
            statuses.append(c.get("/api/streams/" + s.name).status)
        self.assertIn(429, statuses)
        self.assertEqual(set(statuses), {200, 429})
        time.sleep(1.1)  # a new second: forwarded again
        self.assertEqual(c.get("/api/streams/" + s.name).status, 200)

if __name__ == "__main__":
    try:
        import psycopg2  # noqa: F401
    except ImportError:  # e.g. a pyenv python3: Debian's python3 has python3-psycopg2
        if os.path.exists("/usr/bin/python3") and sys.executable != "/usr/bin/python3":
            os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
        raise
    unittest.main(verbosity=2)
