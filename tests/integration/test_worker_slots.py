"""Worker slots, supersession and cross-stream batches over real sockets (docs/protocol.md
"Slots" and "Batches")."""

import json
import time
import unittest

import dreamstream as ds
from harness import ServerTestCase
from test_live import WORKER_TOKEN, StreamerMixin, fixture, is_event, recv_until, ws_url


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


if __name__ == "__main__":
    unittest.main()
