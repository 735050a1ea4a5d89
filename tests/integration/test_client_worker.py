"""The Python SDK worker's slots, batches and cancels (docs/protocol.md, "Slots" and "Batches").

- against a scripted server (exact messages, no binary needed): with slots=2 held jobs run one
  at a time in arrival order, a cancel drops a job that has not started (answered
  ``cancelled``) and is ignored for a started one, one message more than slots is held and
  the next is refused ``busy``; a ``batch`` goes to process_batch() in one call, each job is
  answered on its own (an Exception instance fails one item, a raising call fails them all),
  and without process_batch a batch's items go through process() one by one;
- against the real server: a worker with slots=2 gets its next job while its model runs (and
  cancels when a newer frame supersedes the waiting one), and a worker with max_batch=4 gets
  one batch of four streams' frames.
"""

import json
import os
import sys
import threading
import time
import unittest

from harness import ServerTestCase, register
from test_client_websocket import ScriptedServer, frame

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "clients", "python"))
import dreamstream as ds  # noqa: E402
from test_client import FRAMES, WORKER_TOKEN, Pusher  # noqa: E402 (shared fixtures)





# ---- a scripted /ws/worker server --------------------------------------------------------------


class WorkerPeer:
    """The server's side of one worker connection, in protocol messages."""

    def __init__(self, peer):
        self.peer = peer

    def read(self):
        """The next data message: a dict (text) or bytes (binary); pings are skipped."""
        while True:
            fin, op, data = self.peer.read_frame()
            assert fin, "the worker does not fragment"
            if op == 0x1:
                return json.loads(data.decode())
            if op == 0x2:
                return bytes(data)
            if op == 0x8:
                raise EOFError("the worker closed")

    def send(self, obj):
        self.peer.send(frame(0x1, json.dumps(obj).encode()))

    def send_jpeg(self, data):
        self.peer.send(frame(0x2, data))

    def job(self, job_id, stream="alice", jpeg=None, **params):
        self.send({"type": "job", "job_id": job_id, "stream": stream, "seq": 1,
                   "captured_ms": 1, "deadline_ms": 2 ** 50, "params": params})
        self.send_jpeg(jpeg or FRAMES[0])

    def batch(self, job_ids, jpegs=None):
        jobs = [{"job_id": j, "stream": "s-" + j, "seq": 1, "captured_ms": 1,
                 "deadline_ms": 2 ** 50, "params": {"prompt": "p-" + j}} for j in job_ids]
        self.send({"type": "batch", "jobs": jobs})
        for i, _ in enumerate(job_ids):
            self.send_jpeg((jpegs or FRAMES)[i % len(jpegs or FRAMES)])

    def answers(self, n):
        """n answers: (type, job_id, timings or None, jpeg or None)."""
        out = []
        while len(out) < n:
            m = self.read()
            assert isinstance(m, dict), "a JPEG without its result header"
            jpeg = self.read() if m["type"] == "result" else None
            out.append((m["type"], m.get("job_id"), m.get("timings") or m.get("message"), jpeg))
        return out


class ScriptedWorkerTest(unittest.TestCase):
    def run_worker(self, script, **kw):
        """Runs run_worker against script(WorkerPeer, hello) and waits for the script."""
        done = threading.Event()
        got = {}

        def serve(peer):
            try:
                wp = WorkerPeer(peer)
                got["hello"] = wp.read()
                wp.send({"type": "welcome", "name": "w", "slots": kw.get("slots", 1),
                         "max_batch": kw.get("max_batch", 1)})
                script(wp)
            finally:
                done.set()

        server = ScriptedServer(serve)
        self.addCleanup(server.close)
        stop = threading.Event()
        logs = []
        t = threading.Thread(target=ds.run_worker, args=(server.url, "dsw_x"),
                             kwargs=dict(kw, stop=stop, log=logs.append), daemon=True)
        t.start()
        self.assertTrue(done.wait(20), "the script did not finish; logs: %r" % logs)
        stop.set()
        t.join(10)
        self.assertFalse(t.is_alive(), "run_worker did not stop")
        self.assertEqual(server.errors, [], logs)
        return got["hello"], logs

    def test_slots_hold_jobs_in_order_and_cancel_drops_one_not_started(self):
        started = threading.Event()
        gate = threading.Event()
        calls = []

        def process(jpeg, params):
            calls.append(params.get("prompt"))
            started.set()
            gate.wait(10)
            return jpeg + params["prompt"].encode()

        seen = {}

        def script(wp):
            wp.job("j1", prompt="a")
            self.assertTrue(started.wait(10))  # j1 has started
            wp.job("j2", prompt="b")
            wp.job("j3", prompt="c")  # slots + 1: still held
            wp.job("j4", prompt="d")  # one more: refused
            seen["busy"] = wp.read()
            wp.send({"type": "cancel", "job_id": "j2"})  # waits: dropped
            wp.send({"type": "cancel", "job_id": "j1"})  # started: answered as usual
            wp.send({"type": "cancel", "job_id": "j99"})  # unknown: ignored
            seen["cancelled"] = wp.read()
            gate.set()
            seen["answers"] = wp.answers(2)

        hello, _ = self.run_worker(script, process=process, slots=2)
        self.assertEqual(hello["slots"], 2)
        self.assertNotIn("max_batch", hello)
        self.assertEqual(seen["busy"]["code"], "busy")
        self.assertEqual(seen["busy"]["job_id"], "j4")
        self.assertEqual(seen["cancelled"], {"type": "cancelled", "job_id": "j2"})
        self.assertEqual([(t, j) for t, j, _, _ in seen["answers"]],
                         [("result", "j1"), ("result", "j3")])
        self.assertEqual(seen["answers"][1][3], FRAMES[0] + b"c")
        self.assertEqual(calls, ["a", "c"])

    def test_one_slot_refuses_a_second_job_as_before(self):
        gate = threading.Event()
        started = threading.Event()

        def process(jpeg, params):
            started.set()
            gate.wait(10)
            return jpeg

        seen = {}

        def script(wp):
            wp.job("j1")
            self.assertTrue(started.wait(10))
            wp.job("j2")
            seen["busy"] = wp.read()
            gate.set()
            seen["answers"] = wp.answers(1)

        hello, _ = self.run_worker(script, process=process)
        self.assertNotIn("slots", hello)
        self.assertEqual(seen["busy"], {"type": "error", "job_id": "j2", "code": "busy",
                                        "message": "a job is already in flight"})
        self.assertEqual(seen["answers"][0][:2], ("result", "j1"))

    def test_a_batch_is_one_call_answered_job_by_job(self):
        calls = []

        def process_batch(items):
            calls.append([(len(jpeg), params, job["job_id"]) for jpeg, params, job in items])
            if len(items) == 2:
                raise RuntimeError("CUDA out of memory")
            if len(items) == 1:
                return ["not a list of outputs", "for one job"]
            time.sleep(0.05)
            return [items[0][0] + b"x", ValueError("bad input"), (items[2][0], {"model_ms": 7})]

        seen = {}

        def script(wp):
            wp.batch(["j1", "j2", "j3"])
            seen["three"] = wp.answers(3)
            wp.batch(["j4", "j5"])
            seen["two"] = wp.answers(2)
            wp.job("j6")  # no process(): a batch of one through process_batch
            seen["one"] = wp.answers(1)

        hello, logs = self.run_worker(script, process_batch=process_batch, max_batch=4)
        self.assertEqual(hello["max_batch"], 4)
        self.assertEqual(len(calls), 3)
        self.assertEqual([p["prompt"] for _, p, _ in calls[0]], ["p-j1", "p-j2", "p-j3"])
        self.assertEqual([j for _, _, j in calls[0]], ["j1", "j2", "j3"])
        (t1, id1, tm1, img1), (t2, id2, msg2, _), (t3, id3, tm3, img3) = seen["three"]
        self.assertEqual((t1, id1, t2, id2, t3, id3),
                         ("result", "j1", "error", "j2", "result", "j3"))
        self.assertEqual(img1, FRAMES[0] + b"x")
        self.assertEqual(img3, FRAMES[2])
        self.assertEqual(tm1["batch"], 3)
        self.assertGreaterEqual(tm1["infer_ms"], 50)
        self.assertEqual(tm3["model_ms"], 7)
        self.assertIn("ValueError: bad input", msg2)
        self.assertEqual([(t, j) for t, j, _, _ in seen["two"]], [("error", "j4"), ("error", "j5")])
        self.assertIn("CUDA out of memory", seen["two"][0][2])
        self.assertEqual(seen["one"][0][:2], ("error", "j6"))
        self.assertTrue(any("process_batch() failed on j5" in line for line in logs), logs)

    def test_a_batch_without_process_batch_runs_process_per_item(self):
        def process(jpeg, params):
            if params["prompt"] == "p-j2":
                raise RuntimeError("model fell over")
            return jpeg + params["prompt"].encode()

        seen = {}

        def script(wp):
            wp.batch(["j1", "j2", "j3"])
            seen["answers"] = wp.answers(3)

        self.run_worker(script, process=process, max_batch=3)
        self.assertEqual([(t, j) for t, j, _, _ in seen["answers"]],
                         [("result", "j1"), ("error", "j2"), ("result", "j3")])
        self.assertEqual(seen["answers"][2][3], FRAMES[2] + b"p-j3")
        self.assertNotIn("batch", seen["answers"][0][2])

    def test_cancel_of_one_job_of_a_waiting_batch_keeps_the_rest(self):
        started = threading.Event()
        gate = threading.Event()
        calls = []

        def process_batch(items):
            calls.append([job["job_id"] for _, _, job in items])
            started.set()
            gate.wait(10)
            return [jpeg for jpeg, _, _ in items]

        seen = {}

        def script(wp):
            wp.batch(["j1"])
            self.assertTrue(started.wait(10))
            wp.batch(["j2", "j3", "j4"])
            wp.send({"type": "cancel", "job_id": "j3"})
            seen["cancelled"] = wp.read()
            gate.set()
            seen["answers"] = wp.answers(3)

        self.run_worker(script, process_batch=process_batch, slots=2, max_batch=4)
        self.assertEqual(seen["cancelled"], {"type": "cancelled", "job_id": "j3"})
        self.assertEqual(calls, [["j1"], ["j2", "j4"]])
        self.assertEqual([j for _, j, _, _ in seen["answers"]], ["j1", "j2", "j4"])

    def test_bad_arguments_are_refused_at_once(self):
        with self.assertRaises(ValueError):
            ds.run_worker("ws://127.0.0.1:9", "dsw_x")
        for kw in ({"slots": 0}, {"slots": 9}, {"max_batch": 17}, {"slots": 1.5},
                   {"max_batch": True}):
            with self.assertRaises(ValueError, msg=kw):
                ds.run_worker("ws://127.0.0.1:9", "dsw_x", lambda j, p: j, **kw)


# ---- against the real server --------------------------------------------------------------------


class Recorder:
    """Wraps WebSocket.connect so every message a worker receives is timestamped."""

    def __init__(self, test):
        self.events = []  # (monotonic time, message dict)
        orig = ds.WebSocket.connect
        events = self.events

        def connect(url, *a, **kw):
            ws = orig(url, *a, **kw)
            recv = ws.recv

            def spying_recv(timeout=None):
                kind, data = recv(timeout=timeout)
                if kind == "text":
                    events.append((time.monotonic(), json.loads(data)))
                return kind, data
            ws.recv = spying_recv
            return ws

        ds.WebSocket.connect = connect
        test.addCleanup(setattr, ds.WebSocket, "connect", orig)


class ServerWorkerTest(ServerTestCase):
    server_args = ["--builtin-workers", "0", "--worker-token", WORKER_TOKEN]

    def start_worker(self, **kw):
        stop = threading.Event()
        welcome = {}
        welcomed = threading.Event()
        logs, errors = [], []

        def on_welcome(m):
            welcome.update(m)
            welcomed.set()

        def body():
            try:
                ds.run_worker(self.server.url, WORKER_TOKEN, stop=stop, log=logs.append,
                              on_welcome=on_welcome, **kw)
            except Exception as e:  # reported by the test
                errors.append(e)

        t = threading.Thread(target=body, daemon=True)
        t.start()

        def finish():
            stop.set()
            t.join(10)
        self.addCleanup(finish)
        self.assertTrue(welcomed.wait(15), "no welcome; logs: %r errors: %r" % (logs, errors))
        return welcome, logs, errors

    def stream(self, fps):
        """A new streamer pushing at fps, and a Viewer of it."""
        c = self.client()
        user = register(c)
        st, _, body = c.post("/api/me/stream-key")
        self.assertEqual(st, 201, body)
        viewer = ds.Viewer(self.server.url, user["username"]).connect()
        self.addCleanup(viewer.close)
        streamer = ds.Streamer(self.server.url, body["stream_key"]).connect()
        self.addCleanup(streamer.close)
        pusher = Pusher(streamer, fps)
        pusher.start()
        self.addCleanup(pusher.halt)
        return viewer

    def frames(self, viewer, count, timeout=30.0):
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < count:
            left = deadline - time.monotonic()
            self.assertGreater(left, 0, "viewer got %d of %d frames" % (len(got), count))
            kind, data = viewer.recv(timeout=left)
            if kind == "frame":
                got.append(data)
            self.assertNotEqual(kind, "close")
        return got

    def test_two_slots_get_the_next_job_while_the_model_runs(self):
        recorder = Recorder(self)
        runs = []  # (start, end) of each process() call

        def process(jpeg, params):
            t0 = time.monotonic()
            time.sleep(0.2)
            runs.append((t0, time.monotonic()))
            return jpeg

        welcome, logs, errors = self.start_worker(process=process, slots=2)
        self.assertEqual(welcome["slots"], 2)
        viewer = self.stream(fps=20)
        self.frames(viewer, 6)
        jobs = [t for t, m in recorder.events if m.get("type") == "job"]
        # A job arrived while process() ran: two were in flight at once.
        overlapping = [t for t in jobs if any(a < t < b for a, b in runs)]
        self.assertTrue(overlapping, (jobs, runs))
        # At 20 fps a waiting job is superseded by newer frames: cancelled, not processed.
        cancels = [m["job_id"] for _, m in recorder.events if m.get("type") == "cancel"]
        self.assertTrue(cancels, "no cancel at 20 fps with a 200 ms model")
        # Back to back: the model hardly waits between jobs.
        gaps = [b[0] - a[1] for a, b in zip(runs, runs[1:])]
        self.assertLess(sorted(gaps)[len(gaps) // 2], 0.05, gaps)
        self.assertEqual(errors, [])

    def test_max_batch_four_gets_four_streams_in_one_call(self):
        sizes = []
        streams = []

        def process_batch(items):
            sizes.append(len(items))
            streams.append(sorted(job["stream"] for _, _, job in items))
            time.sleep(0.2)
            return [jpeg for jpeg, _, _ in items]

        welcome, logs, errors = self.start_worker(process_batch=process_batch, max_batch=4)
        self.assertEqual(welcome["max_batch"], 4)
        viewers = [self.stream(fps=10) for _ in range(4)]
        for v in viewers:
            self.frames(v, 3)
        self.assertEqual(max(sizes), 4, sizes)
        for names in streams:
            self.assertEqual(len(set(names)), len(names), "a stream twice in one batch")
        self.assertEqual(errors, [])


if __name__ == "__main__":
    unittest.main()
