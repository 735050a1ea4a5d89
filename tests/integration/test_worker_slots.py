"""Worker slots, supersession and cross-stream batches over real sockets (docs/protocol.md
"Slots" and "Batches")."""

import base64
import json
import os
import socket
import struct
import threading
import time
import unittest

import dreamstream as ds
from harness import ServerTestCase, rss_kib
from test_live import (WORKER_TOKEN, StreamerMixin, big_frame, fixture, is_event, recv_until,
                       ws_url)


def metric(client, name):
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


class TestWorkerSlots(StreamerMixin, ServerTestCase):
    server_args = ("--builtin-workers", "0", "--worker-token", WORKER_TOKEN)

    def worker(self, **hello):
        ws = ds.WebSocket.connect(ws_url(self.server, "/ws/worker"),
                                  {"Authorization": "Bearer " + WORKER_TOKEN}, timeout=10)
        ws.send_json(dict({"type": "hello", "name": "slots-test", "protocol": 1}, **hello))
        _, welcome = recv_until(ws, is_event("welcome"))
        return ws, json.loads(welcome)

    def next_message(self, ws, timeout=10):
        """The next job, batch or cancel: (message, [binaries])."""
        _, text = recv_until(ws, lambda k, d: k == "text" and json.loads(d)["type"] in
                             ("job", "batch", "cancel"), timeout)
        msg = json.loads(text)
        n = {"job": 1, "batch": len(msg.get("jobs", [])), "cancel": 0}[msg["type"]]
        binaries = []
        for _ in range(n):
            kind, data = ws.recv(timeout=timeout)
            self.assertEqual(kind, "binary")
            binaries.append(data)
        return msg, binaries

    def test_two_slots_hold_two_jobs_and_a_newer_frame_cancels_the_waiting_one(self):
        c, user, key = self.new_streamer()
        viewer = ds.WebSocket.connect(ws_url(self.server, "/ws/watch/" + user["username"]),
                                      timeout=10)
        w, welcome = self.worker(slots=2)
        self.assertEqual((welcome["slots"], welcome["max_batch"]), (2, 1))
        ing = self.ingest(key)
        ing.send_binary(fixture(1))
        job1, (jpeg1,) = self.next_message(w)
        ing.send_binary(fixture(2))
        job2, (jpeg2,) = self.next_message(w)  # the second slot: held while job1 runs
        self.assertEqual((job1["type"], job2["type"]), ("job", "job"))
        self.assertEqual((jpeg1, jpeg2), (fixture(1), fixture(2)))
        ing.send_binary(fixture(3))
        # job2 waits behind job1: it is cancelled, and the newer frame comes right behind.
        cancel, _ = self.next_message(w)
        self.assertEqual(cancel, {"type": "cancel", "job_id": job2["job_id"]})
        job3, (jpeg3,) = self.next_message(w)
        self.assertEqual(jpeg3, fixture(3))
        self.assertGreater(job3["seq"], job2["seq"])
        w.send_json({"type": "cancelled", "job_id": job2["job_id"]})
        # One result at a time: the viewer's slot is latest-wins, so a second result that
        # arrives before the first is written to the viewer would rightly replace it.
        for job, out in ((job1, fixture(4)), (job3, fixture(2))):
            w.send_json({"type": "result", "job_id": job["job_id"]})
            w.send_binary(out)
            _, frame = recv_until(viewer, lambda k, d: k == "binary")
            self.assertEqual(frame, out)
        # A second `cancelled` for the same job is unknown; nothing was counted as failed.
        w.send_json({"type": "cancelled", "job_id": job2["job_id"]})
        self.assertEqual(json.loads(recv_until(w, is_event("error"))[1])["code"], "unknown_job")
        self.assertEqual(metric(c, "dreamstream_jobs_cancelled_total"), 1)
        self.assertEqual(metric(c, "dreamstream_jobs_failed_total"), 0)
        for s in (viewer, w, ing):
            s.close()
        c.post("/api/streams/stop")

    def test_a_batch_worker_gets_one_frame_of_each_waiting_stream(self):
        streamers = [self.new_streamer() for _ in range(3)]
        viewers, ingests = [], []
        for i, (c, user, key) in enumerate(streamers):
            viewers.append(ds.WebSocket.connect(
                ws_url(self.server, "/ws/watch/" + user["username"]), timeout=10))
            ing = self.ingest(key)
            ing.send_binary(fixture(1 + i))
            ing.send_binary(fixture(4))  # replaces the first: newest frame wins
            ingests.append(ing)
        time.sleep(0.5)  # every frame is in before the worker asks
        w, welcome = self.worker(max_batch=4)
        self.assertEqual(welcome["max_batch"], 4)
        batch, jpegs = self.next_message(w)
        self.assertEqual(batch["type"], "batch")
        names = [s[1]["username"] for s in streamers]
        self.assertEqual(sorted(j["stream"] for j in batch["jobs"]), sorted(names))
        self.assertEqual(jpegs, [fixture(4)] * 3)
        for j in batch["jobs"]:
            self.assertNotIn("type", j)
            self.assertTrue(j["job_id"].startswith("j"))
        # Each job answered on its own, in another order than sent.
        for n, j in enumerate(reversed(batch["jobs"])):
            w.send_json({"type": "result", "job_id": j["job_id"]})
            w.send_binary(fixture(1 + n))
        for v in viewers:
            kind, frame = recv_until(v, lambda k, d: k == "binary")
            self.assertIn(frame, (fixture(1), fixture(2), fixture(3)))
        for s in viewers + ingests + [w]:
            s.close()
        for c, _, _ in streamers:
            c.post("/api/streams/stop")

    def test_hello_with_slots_out_of_range_is_refused_and_changes_nothing(self):
        ws = ds.WebSocket.connect(ws_url(self.server, "/ws/worker"),
                                  {"Authorization": "Bearer " + WORKER_TOKEN}, timeout=10)
        for bad in ({"slots": 0}, {"slots": 9}, {"max_batch": "4"}, {"max_batch": 17}):
            ws.send_json(dict({"type": "hello"}, **bad))
            _, err = recv_until(ws, is_event("error"))
            self.assertEqual(json.loads(err)["code"], "bad_message")
        ws.send_json({"type": "hello", "slots": 8, "max_batch": 16})
        _, welcome = recv_until(ws, is_event("welcome"))
        self.assertEqual(json.loads(welcome)["slots"], 8)
        ws.close()


def masked_frame(opcode, payload):
    """One final client frame (masked, as a client must)."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + body


class StuckWorker:
    """A raw WebSocket worker with a tiny receive window that says hello with 8 slots and then
    never reads again; it keeps sending pings, so it never looks idle to the server."""

    def __init__(self, port):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(("GET /ws/worker HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                           "Authorization: Bearer %s\r\n\r\n" % (port, key, WORKER_TOKEN)).encode())
        head = b""
        while b"\r\n\r\n" not in head:  # byte by byte: nothing after the head is read
            head += self.sock.recv(1)
        assert head.startswith(b"HTTP/1.1 101"), head
        hello = {"type": "hello", "name": "stuck", "protocol": 1, "slots": 8}
        self.sock.sendall(masked_frame(0x1, json.dumps(hello).encode()))
        self.stop = threading.Event()
        self.pinger = threading.Thread(target=self._ping, daemon=True)
        self.pinger.start()

    def _ping(self):
        while not self.stop.wait(0.5):
            try:
                self.sock.sendall(masked_frame(0x9, b"p"))
            except OSError:
                return

    def read_to_end(self, timeout):
        """Reads what the server left in the socket: how the connection ended ("reset",
        "eof") or None if it is still open after timeout."""
        self.stop.set()
        self.sock.settimeout(timeout)
        try:
            while self.sock.recv(65536):
                pass
            return "eof"
        except ConnectionResetError:
            return "reset"
        except socket.timeout:
            return None
        finally:
            self.sock.close()


class GoodWorker(threading.Thread):
    """Answers every job at once with a small picture."""

    def __init__(self, server):
        super().__init__(daemon=True)
        self.ws = ds.WebSocket.connect(ws_url(server, "/ws/worker"),
                                       {"Authorization": "Bearer " + WORKER_TOKEN}, timeout=10)
        self.ws.send_json({"type": "hello", "name": "good", "protocol": 1})
        self.stop = threading.Event()
        self.served = {}

    def run(self):
        job = None
        while not self.stop.is_set():
            try:
                kind, data = self.ws.recv(timeout=0.5)
            except TimeoutError:
                continue
            except Exception:
                return
            if kind == "text":
                msg = json.loads(data)
                job = msg if msg.get("type") == "job" else None
            elif kind == "binary" and job is not None:
                self.ws.send_json({"type": "result", "job_id": job["job_id"]})
                self.ws.send_binary(fixture(3))
                self.served[job["stream"]] = self.served.get(job["stream"], 0) + 1
                job = None
            elif kind == "close":
                return


class Pusher(threading.Thread):
    """Sends large frames on an ingest socket, and reads what comes back (status, previews)."""

    def __init__(self, ws, frame, fps=10):
        super().__init__(daemon=True)
        self.ws, self.frame, self.fps = ws, frame, fps
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                self.ws.send_binary(self.frame)
                try:
                    self.ws.recv(timeout=1.0 / self.fps)
                except TimeoutError:
                    pass
            except Exception:
                return


class Viewer(threading.Thread):
    """Reads a stream's frames (so it answers pings) and notes when the last one came."""

    def __init__(self, server, name):
        super().__init__(daemon=True)
        self.ws = ds.WebSocket.connect(ws_url(server, "/ws/watch/" + name), timeout=10)
        self.stop = threading.Event()
        self.frames, self.last = 0, None

    def run(self):
        while not self.stop.is_set():
            try:
                kind, _ = self.ws.recv(timeout=0.5)
            except TimeoutError:
                continue
            except Exception:
                return
            if kind == "binary":
                self.frames, self.last = self.frames + 1, time.monotonic()
            elif kind == "close":
                return


def wait_for(pred, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return pred()


class TestWorkerThatStopsReading(StreamerMixin, ServerTestCase):
    """Issue 20 item 4: a worker token holder that announces 8 slots and stops reading while
    three streams send large frames cannot grow the server's memory: it is sent no new job once
    its socket holds too much, it is dropped (1008) when a write does not finish in time, its
    jobs go back to their streams, and a worker that reads serves them all meanwhile."""

    # A worker's write may take 10 s (under the 60 s idle timeout, and under the job timeout,
    # raised here so that only the write deadline can drop the worker).
    server_args = ("--builtin-workers", "0", "--worker-token", WORKER_TOKEN,
                   "--job-timeout-ms", "60000",
                   "--skip-similar", "0")  # the same picture again and again is still a job
    WRITE_TIMEOUT_S = 10

    def test_rss_stays_bounded_and_the_stuck_worker_is_dropped_with_1008(self):
        pid = self.server.proc.pid
        good = GoodWorker(self.server)
        good.start()
        frame = big_frame()
        streams, pushers, viewers = [], [], []
        for _ in range(3):
            c, user, key = self.new_streamer()
            streams.append((c, user["username"]))
            viewers.append(Viewer(self.server, user["username"]))
            pushers.append(Pusher(self.ingest(key), frame))
        for t in pushers + viewers:
            t.start()
        # Every stream is served before the stuck worker comes.
        self.assertTrue(wait_for(lambda: all(v.frames > 0 for v in viewers), 15))
        time.sleep(1)
        baseline = rss_kib(pid)
        stuck = StuckWorker(self.server.port)
        connected = time.monotonic()
        peak, dropped_after = baseline, None
        while time.monotonic() - connected < self.WRITE_TIMEOUT_S + 6:
            peak = max(peak, rss_kib(pid))
            if dropped_after is None and "event=ws_dropped code=1008" in self.server.logs():
                dropped_after = time.monotonic() - connected
            time.sleep(0.1)
        growth_mib = (peak - baseline) / 1024.0
        self.assertIsNotNone(dropped_after, "the worker that stopped reading was never dropped")
        self.assertLess(dropped_after, self.WRITE_TIMEOUT_S + 4)
        # Its queue is bounded (16 MiB for the hub's mark, plus a message); without the bound it
        # grows by all three streams' frames (about 15 MB/s here).
        self.assertLess(growth_mib, 80, "RSS grew by %.0f MiB" % growth_mib)
        self.assertIn(stuck.read_to_end(5), ("reset", "eof"))
        # One worker left, and it serves every stream after the drop.
        text = self.client().get("/metrics").text
        workers = sum(float(l.split()[1]) for l in text.splitlines()
                      if l.startswith("dreamstream_workers{"))
        self.assertEqual(workers, 1)
        now = time.monotonic()
        self.assertTrue(wait_for(lambda: all(v.last and v.last > now for v in viewers), 10),
                        "a stream is no longer served")
        for t in pushers + viewers + [good]:
            t.stop.set()
        for t in pushers + viewers:
            t.join(5)
            t.ws.close()
        for c, _ in streams:
            c.post("/api/streams/stop")


if __name__ == "__main__":
    unittest.main()
