"""H.264 video on the viewer socket (`/ws/watch/<name>?video=h264`, docs/protocol.md "Video"):
a real server, a real `dreamstream worker` running the CPU look, real JPEG frames pushed on the
ingest socket; what a video viewer receives is decoded by Debian's ffprobe."""

import json
import os
import subprocess
import tempfile
import threading
import time
import unittest

import dreamstream as ds
from harness import ServerTestCase, binary_path, register, wait_until

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
WORKER_TOKEN = "dsw_video_test_token_0123456789"


def fixture(n):
    with open(os.path.join(FIXTURES, "frame%d.jpg" % n), "rb") as f:
        return f.read()


def jpeg_size(jpeg):
    """(width, height) from a JPEG's SOF marker."""
    i = 2
    while i + 9 < len(jpeg):
        if jpeg[i] != 0xFF:
            i += 1
            continue
        marker = jpeg[i + 1]
        length = int.from_bytes(jpeg[i + 2:i + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2):
            return int.from_bytes(jpeg[i + 7:i + 9], "big"), int.from_bytes(jpeg[i + 5:i + 7], "big")
        i += 2 + length
    raise AssertionError("no SOF marker")


def ffprobe(units):
    """Frames ffprobe decodes from the units concatenated, and the size it reads."""
    with tempfile.NamedTemporaryFile(suffix=".h264", delete=False) as f:
        for u in units:
            f.write(u.data)
        path = f.name
    try:
        out = subprocess.run(
            ["ffprobe", "-v", "error", "-f", "h264", "-count_frames", "-select_streams", "v:0",
             "-show_entries", "stream=nb_read_frames,width,height,codec_name", "-of", "json", path],
            capture_output=True, text=True, timeout=60, check=True)
    finally:
        os.unlink(path)
    stream = json.loads(out.stdout)["streams"][0]
    return stream


class Pusher:
    """Sends the fixtures in turn on the ingest socket, one every `interval` s, until stopped."""

    def __init__(self, ws, interval=0.08):
        self.ws = ws
        self.interval = interval
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                self.ws.send_binary(fixture(self.sent % 4 + 1))
            except Exception:  # the socket closed: the test says what went wrong
                return
            self.sent += 1
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._thread.join(5)


class Collector:
    """Reads a Viewer on a thread: its video units and JPEG frames, in arrival order."""

    def __init__(self, viewer):
        self.viewer = viewer
        self.items = []  # ("video", VideoUnit) / ("frame", Frame)
        self.lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            for kind, data in self.viewer:
                if kind in ("video", "frame"):
                    with self.lock:
                        self.items.append((kind, data))
        except Exception:
            return

    def units(self):
        with self.lock:
            return [d for k, d in self.items if k == "video"]

    def frames(self):
        with self.lock:
            return [d for k, d in self.items if k == "frame"]

    def close(self):
        self.viewer.close()
        self._thread.join(5)


class VideoCase(ServerTestCase):
    worker = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.worker = subprocess.Popen(
            [binary_path(), "worker", "--server", cls.server.url, "--token", WORKER_TOKEN],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    @classmethod
    def tearDownClass(cls):
        if cls.worker is not None:
            cls.worker.terminate()
            cls.worker.wait(10)
        super().tearDownClass()

    def start_stream(self):
        c = self.client()
        user = register(c)
        st, _, body = c.post("/api/me/stream-key")
        self.assertEqual(st, 201)
        ing = ds.WebSocket.connect(self.server.url.replace("http://", "ws://") + "/ws/ingest",
                                   {"Authorization": "Bearer " + body["stream_key"]}, timeout=10)
        return c, user["username"], ing


class TestVideo(VideoCase):
    server_args = ("--builtin-workers", "0", "--worker-token", WORKER_TOKEN, "--skip-similar",
                   "0")

    def test_units_decode_with_ffprobe_joiners_catch_up_and_jpeg_viewers_are_unaffected(self):
        c, name, ing = self.start_stream()
        jpeg = Collector(ds.Viewer(self.server.url, name).connect())
        video = Collector(ds.Viewer(self.server.url, name, video="h264").connect())
        pusher = Pusher(ing)
        try:
            wait_until(lambda: len(video.units()) >= 12, timeout=30, what="12 video units")
            # A second video viewer joins mid-GOP (the last unit out was not a keyframe): it
            # gets the GOP so far at once, decode-only but for its newest unit.
            for _ in range(5):
                wait_until(lambda: not video.units()[-1].key, timeout=10, what="a delta unit")
                joiner = Collector(ds.Viewer(self.server.url, name, video="h264").connect())
                wait_until(lambda: len(joiner.units()) >= 6, timeout=30, what="joiner's units")
                if joiner.units()[0].decode_only:
                    break
                joiner.close()  # a keyframe came first: join again
            frames_at_video_end = len(jpeg.frames())
            wait_until(lambda: len(video.units()) >= 30, timeout=30, what="30 video units")
        finally:
            pusher.stop()
        time.sleep(0.5)  # the last results reach both viewers
        units = video.units()
        joined = joiner.units()
        jpegs = jpeg.frames()
        video.close()
        joiner.close()
        jpeg.close()

        # The first unit is a key unit with the decoder's configuration.
        first = units[0]
        self.assertTrue(first.key)
        self.assertFalse(first.decode_only)
        self.assertRegex(first.codec, r"^avc1\.[0-9A-F]{6}$")
        width, height = jpeg_size(jpegs[-1].jpeg)
        self.assertEqual((first.width, first.height), (width, height))
        self.assertTrue(first.data.startswith(b"\x00\x00\x00\x01"))
        for u in units:
            self.assertEqual(u.key, "codec" in u.info)
            self.assertFalse(u.decode_only)
        # Pictures in order, timestamps rising (variable frame rate: the pictures' own).
        self.assertEqual([u.seq for u in units], sorted(set(u.seq for u in units)))
        ts = [u.ts_ms for u in units]
        self.assertTrue(all(a < b for a, b in zip(ts, ts[1:])), ts)
        for u in units:
            self.assertGreaterEqual(u.processed_ms, u.captured_ms)

        # An outside decoder gets every unit it was sent, at the size announced.
        probed = ffprobe(units)
        self.assertEqual(probed["codec_name"], "h264")
        self.assertEqual(int(probed["nb_read_frames"]), len(units))
        self.assertEqual((probed["width"], probed["height"]), (width, height))

        # The joiner: first its GOP from the keyframe, all decode-only but the last; then live.
        self.assertTrue(joined[0].key)
        self.assertTrue(joined[0].decode_only, "the joiner came in on a keyframe five times")
        catch_up = 0
        while joined[catch_up].decode_only:
            catch_up += 1
        self.assertGreaterEqual(catch_up, 1)
        self.assertFalse(any(u.decode_only for u in joined[catch_up:]))
        self.assertEqual(int(ffprobe(joined)["nb_read_frames"]), len(joined))
        # What it caught up with is what the first viewer had been sent, one encoding for both.
        by_seq = {u.seq: u.data for u in units}
        for u in joined:
            if u.seq in by_seq:
                self.assertEqual(u.data, by_seq[u.seq])

        # Once its video starts, a video viewer gets no JPEG frames.
        kinds = [k for k, _ in video.items]
        first_video = kinds.index("video")
        self.assertNotIn("frame", kinds[first_video:])
        # The JPEG viewer on the same stream kept getting JPEGs all along.
        self.assertTrue(all(f.jpeg.startswith(b"\xff\xd8") for f in jpegs))
        self.assertGreater(len(jpegs), frames_at_video_end)
        self.assertGreaterEqual(len(jpegs), len(units) // 2)

        # The last video viewer gone, the stream's encoder stops and lets go of its GOP.
        wait_until(lambda: "event=video_encoder_stopped stream=%s" % name in self.server.logs(),
                   timeout=10, what="the encoder stopped")
        c.post("/api/streams/stop")
        ing.close()

    def test_a_viewer_gets_jpeg_frames_before_the_first_keyframe(self):
        c, name, ing = self.start_stream()
        # JPEG viewers only, while the stream runs: no encoder.
        watcher = Collector(ds.Viewer(self.server.url, name).connect())
        ing.send_binary(fixture(1))
        wait_until(lambda: watcher.frames(), timeout=20, what="a processed frame")
        self.assertNotIn("event=video_encoder_started stream=%s" % name, self.server.logs())
        # A video viewer joining a stream that paused gets the latest picture as a JPEG at
        # once (there is no GOP yet), then the video from the next picture on.
        video = Collector(ds.Viewer(self.server.url, name, video="h264").connect())
        wait_until(lambda: video.frames(), timeout=10, what="the latest JPEG")
        self.assertEqual(video.units(), [])
        self.assertEqual(video.frames()[0].info.get("type"), "frame")
        ing.send_binary(fixture(2))
        wait_until(lambda: video.units(), timeout=20, what="a video unit")
        self.assertTrue(video.units()[0].key)
        self.assertFalse(video.units()[0].decode_only)
        video.close()
        watcher.close()
        c.post("/api/streams/stop")
        ing.close()

    def test_unknown_video_codec_is_refused(self):
        c = self.client()
        user = register(c)
        v = ds.Viewer(self.server.url, user["username"])
        v.url = v.url.split("?")[0] + "?video=vp9"
        v.connect()
        kind, event = v.recv(timeout=10)
        self.assertEqual((kind, event.get("type"), event.get("code")),
                         ("event", "error", "unsupported_video"))
        self.assertEqual(v.recv(timeout=10)[0], "close")
        self.assertEqual(v.close_code, 1008)
        with self.assertRaises(ValueError):
            ds.Viewer(self.server.url, user["username"], video="vp9")


class TestVideoOff(VideoCase):
    server_args = ("--builtin-workers", "0", "--worker-token", WORKER_TOKEN, "--skip-similar",
                   "0", "--video", "off")

    def test_video_viewers_get_inline_jpeg_frames(self):
        c, name, ing = self.start_stream()
        video = Collector(ds.Viewer(self.server.url, name, video="h264").connect())
        pusher = Pusher(ing)
        try:
            wait_until(lambda: len(video.frames()) >= 3, timeout=30, what="3 frames")
        finally:
            pusher.stop()
        self.assertEqual(video.units(), [])
        self.assertTrue(all(f.jpeg.startswith(b"\xff\xd8") for f in video.frames()))
        self.assertNotIn("video_encoder_started", self.server.logs())
        video.close()
        c.post("/api/streams/stop")
        ing.close()


if __name__ == "__main__":
    unittest.main()
