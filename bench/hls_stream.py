"""A live HLS stream for the HLS benchmarks (bench/hls_latency.py, bench/hls_origin.py):
one `dreamstream serve` with its built-in CPU worker (base style --look), the moving 640x480
camera clip of `video_bytes --camera` (as bench/video_path.py pushes it) pushed at --fps by
`bench_ws publish`, and the stream's live playlist waited for.

    with LiveHls(fps=10, look="toon", seconds=120) as live:
        live.url        # http://127.0.0.1:PORT/u/NAME/live.m3u8
        live.server     # the harness.Server (its .proc.pid, .port)

Env: DREAMSTREAM_BIN (default build-bench/dreamstream), BENCH_WS (build-bench/bench_ws),
VIDEO_BYTES (build-bench/video_bytes).
"""

import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
# bench/video_path.py's paths, binaries and percentile (it puts tests/integration on sys.path).
from video_path import BENCH_WS, VIDEO_BYTES, pct  # noqa: E402,F401
import harness  # noqa: E402


def get(url, timeout=10):
    """(status, headers, body) of a GET; HTTP errors are answers too."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def complete_segments(text):
    """{msn: (EXTINF seconds, URI)} of the complete segments a playlist lists."""
    return {int(m.group(3)): (float(m.group(1)), m.group(2))
            for m in re.finditer(r"#EXTINF:([0-9.]+),\n(\S*?(\d+)\.m4s)\n", text)}


class LiveHls:
    def __init__(self, fps=10.0, look="toon", seconds=120.0, server_args=(), clip_seconds=20.0):
        self.fps, self.look, self.seconds = fps, look, seconds
        self.server_args, self.clip_seconds = list(server_args), clip_seconds
        self.server = self.pusher = None
        self.tmp = tempfile.mkdtemp(prefix="ds-bench-hls-")

    def __enter__(self):
        cam = os.path.join(self.tmp, "camera")
        os.mkdir(cam)
        subprocess.run([VIDEO_BYTES, "--camera", cam, "--seconds", str(self.clip_seconds),
                        "--fps", str(int(self.fps))], check=True, stdout=subprocess.DEVNULL)
        frames = sorted(glob.glob(os.path.join(cam, "camera_*.jpg")))
        self.server = harness.Server(args=["--builtin-workers", "1", "--skip-similar", "0"]
                                     + self.server_args)
        self.server.start()
        try:
            c = self.server.client()
            self.user = harness.register(c)["username"]
            st, _, body = c.post("/api/me/stream-key")
            assert st == 201, body
            st, _, out = c.patch("/api/streams/settings", {"base_style": self.look})
            assert st == 200, out
            self.pusher = subprocess.Popen(
                [BENCH_WS, "publish", "--url", "ws://127.0.0.1:%d/ws/ingest" % self.server.port,
                 "--bearer", body["stream_key"], "--fps", str(self.fps), "--duration",
                 str(self.seconds)] + sum((["--file", f] for f in frames), []),
                stdout=subprocess.DEVNULL)
            self.origin = "http://127.0.0.1:%d" % self.server.port
            self.path = "/u/%s/live.m3u8" % self.user
            self.url = self.origin + self.path
            # The first playlist request starts the encoder; it is there with the first segment.
            deadline = time.monotonic() + 30
            while True:
                st, _, text = get(self.url)
                if st == 200 and b"#EXT-X-PART:" in text:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError("no live playlist in 30 s: %s %r" % (st, text[:200]))
                time.sleep(0.2)
            return self
        except BaseException:
            self.__exit__(None, None, None)
            raise

    def segments(self):
        """complete_segments() of the playlist the origin answers now."""
        return complete_segments(get(self.url)[2].decode())

    def __exit__(self, *exc):
        if self.pusher and self.pusher.poll() is None:
            self.pusher.terminate()
            self.pusher.wait(10)
        if self.server:
            self.server.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)
