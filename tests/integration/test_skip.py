"""Unchanged frames skipped (docs/architecture.md), over real sockets with the built-in CPU
worker: a still camera costs few model jobs, a change is processed at once."""

import time
import unittest

import dreamstream as ds
from harness import ServerTestCase
from test_live import StreamerMixin, fixture, is_event, recv_until, ws_url


def metric(client, name):
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def frame_seq(viewer, seq, timeout=10.0):
    """Reads the viewer until the processed frame of seq (or a newer one); returns its header."""
    deadline = time.monotonic() + timeout
    while True:
        kind, data = viewer.recv(timeout=max(0.01, deadline - time.monotonic()))
        if kind == "frame" and data.seq >= seq:
            return data


class TestSkipUnchanged(StreamerMixin, ServerTestCase):
    server_args = ("--builtin-workers", "1")  # --skip-similar and --skip-max-ms at their defaults

    def test_a_still_camera_is_processed_once_and_a_change_at_once(self):
        c, user, key = self.new_streamer()
        viewer = ds.Viewer(self.server.url, user["username"]).connect()
        jobs0 = metric(c, "dreamstream_jobs_sent_total")
        skipped0 = metric(c, "dreamstream_frames_skipped_total")
        ing = self.ingest(key)
        ing.send_binary(fixture(1))
        frame_seq(viewer, 1)  # the first frame is always processed
        for _ in range(29):  # a second of a still camera at 30 fps
            ing.send_binary(fixture(1))
            time.sleep(1 / 30)
        # The streamer's status and /metrics count them; none went to the worker.
        recv_until(ing, is_event("status", frames_in=30, frames_skipped=29, frames_dropped=0),
                   timeout=5)
        self.assertEqual(metric(c, "dreamstream_jobs_sent_total") - jobs0, 1)
        self.assertEqual(metric(c, "dreamstream_frames_skipped_total") - skipped0, 29)
        # A different frame goes to the idle worker at once: its own output comes back.
        sent = time.monotonic()
        ing.send_binary(fixture(3))
        out = frame_seq(viewer, 31, timeout=5)
        self.assertEqual(out.seq, 31)
        self.assertLess(time.monotonic() - sent, 2.0)
        self.assertEqual(metric(c, "dreamstream_jobs_sent_total") - jobs0, 2)
        viewer.close()
        ing.close()
        c.post("/api/streams/stop")


class TestSkipMaxMs(StreamerMixin, ServerTestCase):
    server_args = ("--builtin-workers", "1", "--skip-max-ms", "400")

    def test_an_unchanged_frame_is_processed_every_skip_max_ms(self):
        c, user, key = self.new_streamer()
        jobs0 = metric(c, "dreamstream_jobs_sent_total")
        ing = self.ingest(key)
        start = time.monotonic()
        while time.monotonic() - start < 2.0:  # 2 s of a still camera: about 5 forced frames
            ing.send_binary(fixture(2))
            time.sleep(1 / 30)
        time.sleep(0.3)
        jobs = metric(c, "dreamstream_jobs_sent_total") - jobs0
        self.assertGreaterEqual(jobs, 4)
        self.assertLessEqual(jobs, 7)
        self.assertGreater(metric(c, "dreamstream_frames_skipped_total"), 40)
        ing.close()
        c.post("/api/streams/stop")


class TestSkipOff(StreamerMixin, ServerTestCase):
    server_args = ("--builtin-workers", "1", "--skip-similar", "0")

    def test_zero_processes_every_frame(self):
        c, user, key = self.new_streamer()
        viewer = ds.Viewer(self.server.url, user["username"]).connect()
        ing = self.ingest(key)
        for n in range(1, 11):
            ing.send_binary(fixture(1))
            frame_seq(viewer, n)  # each one processed before the next is sent
        self.assertEqual(metric(c, "dreamstream_frames_skipped_total"), 0)
        self.assertEqual(metric(c, "dreamstream_jobs_sent_total"), 10)
        viewer.close()
        ing.close()
        c.post("/api/streams/stop")


if __name__ == "__main__":
    unittest.main()
