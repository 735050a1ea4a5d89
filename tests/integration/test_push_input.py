"""`dreamstream push --input URL` (FFmpeg's libavformat) against the real server.

- OBS's path: `push --input rtmp://127.0.0.1:PORT/live --listen` waits for a publisher; Debian's
  ffmpeg publishes a generated test pattern (libx264, zerolatency, FLV over RTMP) and a viewer
  gets processed JPEGs at the requested --size while the pusher's status lines show frames
  arriving at the server; when the publisher stops, the pusher listens again and a second
  publisher starts a new stream; SIGTERM then ends it with exit code 0;
  the log tells it as news (publish_done, publisher_left at info, one listening line, no libav
  warning, no exit code it does not exit with);
- a publish secret: an RTMP publisher with the wrong stream name is dropped and the right one
  (the secret as OBS's Stream Key) gets in; a TCP peer that sends nothing is dropped after
  --handshake-timeout; listening off loopback without a secret, and tcp/http listeners off
  loopback, are refused at once (exit 2, naming --publish-secret); the secret is never logged;
- a playlist from the network (over HTTP, and down a raw tcp:// stream) pointing at a file://
  segment does not make libav open it;
- SIGTERM while listening with no publisher ends it at once with exit code 0 and no error;
- a file (ffmpeg writes an MP4 here) is pushed at its own frame rate and the pusher exits 0;
- bad inputs (a missing file, a refused RTMP address, a file with no video, an unknown
  --input-format, a bad --size) end quickly with a clear message and exit codes 4 or 2, and
  start no stream.

Needs the `ffmpeg` CLI (scripts/setup.sh --test installs it).
"""

import functools
import http.server
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from harness import ServerTestCase, binary_path, register

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "clients", "python"))
import dreamstream as ds  # noqa: E402

FFMPEG = shutil.which("ffmpeg")
SECRET = "dreamstream-test-secret-0123"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connect_when_listening(port, timeout=10.0):
    """A TCP connection to 127.0.0.1:port, retrying while nothing listens there yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=5)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def jpeg_size(data):
    """(width, height) from the first SOF segment of a JPEG."""
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise ValueError("not a marker at %d" % i)
        marker = data[i + 1]
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return width, height
        i += 2 + length
    raise ValueError("no SOF")


class Pusher:
    """A `dreamstream push --input …` process with its log in a file."""

    def __init__(self, server_url, key, *args, env=None):
        self.tmp = tempfile.mkdtemp(prefix="ds-push-")
        self.log_path = os.path.join(self.tmp, "push.log")
        self._log = open(self.log_path, "wb")
        cmd = [binary_path(), "push", "--server", server_url, "--key", key] + list(args)
        env = dict({k: v for k, v in os.environ.items() if not k.startswith("DREAMSTREAM_")},
                   **(env or {}))
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env)

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_log(self, pattern, count=1, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.findall(pattern, self.log())
            if len(found) >= count:
                return found
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError("push log has not %d x %r (exit %s):\n%s"
                             % (count, pattern, self.proc.poll(), self.log()))

    def stop(self, timeout=10.0):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        return self.proc.returncode

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def make_clip(path, seconds, size="320x240", rate=15, extra=()):
    """Debian's ffmpeg writes a test pattern (libx264) to path; extra: output options."""
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-f", "lavfi",
                    "-i", "testsrc=size=%s:rate=%d" % (size, rate), "-t", str(seconds),
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
                   + list(extra) + ["-y", path], check=True, timeout=60)
    return path


def publish(url, seconds, size="640x360", rate=15):
    """Debian's ffmpeg publishing a test pattern the way OBS does (x264 zerolatency, FLV)."""
    cmd = [FFMPEG, "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi",
           "-i", "testsrc2=size=%s:rate=%d" % (size, rate), "-t", str(seconds),
           "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", str(rate),
           "-pix_fmt", "yuv420p", "-f", "flv", url]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@unittest.skipUnless(FFMPEG, "needs the ffmpeg CLI (scripts/setup.sh --test)")
class TestPushInput(ServerTestCase):
    server_args = ["--builtin-workers", "1"]

    def new_streamer(self):
        c = self.client()
        user = register(c)
        st, _, body = c.post("/api/me/stream-key")
        self.assertEqual(st, 201, body)
        return user["username"], body["stream_key"]

    def pusher(self, key, *args, env=None):
        p = Pusher(self.server.url, key, *args, env=env)
        self.addCleanup(p.close)
        return p

    def viewer_frames(self, name, count, timeout=40.0, publisher=None):
        """count frames a fresh viewer of name gets; None if publisher (an ffmpeg) fails or ends
        first (on a loaded machine its 8 s may bring fewer than count pictures through)."""
        viewer = ds.Viewer(self.server.url, name).connect()
        self.addCleanup(viewer.close)
        frames = []
        deadline = time.monotonic() + timeout
        while len(frames) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                self.fail("viewer got %d of %d frames in %ss" % (len(frames), count, timeout))
            try:
                kind, data = viewer.recv(timeout=min(left, 0.5))
            except TimeoutError:
                if publisher is not None and publisher.poll() is not None:
                    viewer.close()
                    return None
                continue
            if kind == "frame":
                frames.append(data.jpeg)
            elif kind not in ("event",):
                self.fail("viewer closed: %s %s" % (viewer.close_code, data))
        viewer.close()
        return frames

    def publish_until_viewed(self, url, name, seconds=8):
        """Publishes and returns 3 viewer frames. A publisher that fails first is started again:
        the listener may not be up yet, and on a loaded machine (other tests at once under
        `ctest -j`) ffmpeg's first picture can miss a 1 s --handshake-timeout."""
        for _ in range(10):
            pub = publish(url, seconds)
            self.addCleanup(lambda p=pub: p.poll() is None and p.kill())
            try:
                pub.wait(1.0)
            except subprocess.TimeoutExpired:  # still publishing: connected
                frames = self.viewer_frames(name, 3, publisher=pub)
                if frames is not None:
                    return pub, frames
            time.sleep(0.3)
        self.fail("ffmpeg could not publish to %s: %s" % (url, pub.stderr.read()))

    def test_rtmp_listener_obs_style_publish_twice_then_sigterm(self):
        name, key = self.new_streamer()
        port = free_port()
        url = "rtmp://127.0.0.1:%d/live" % port
        p = self.pusher(key, "--input", url, "--listen", "--fps", "10", "--size", "320x240",
                        "--quality", "70")
        p.wait_log(r"event=listening")
        self.assertFalse(ds.Client(self.server.url).stream_info(name)["live"],
                         "no stream before a publisher comes")

        pub, frames = self.publish_until_viewed(url, name)
        for f in frames:
            self.assertTrue(ds.is_jpeg(f))
            self.assertEqual(jpeg_size(f), (320, 240), "processed frames have the --size")
        self.assertTrue(ds.Client(self.server.url).stream_info(name)["live"])
        counts = [int(n) for n in p.wait_log(r"event=status.* frames_in=(\d+)")]
        deadline = time.monotonic() + 15
        while max(counts) == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
            counts = [int(n) for n in re.findall(r"event=status.* frames_in=(\d+)", p.log())]
        self.assertGreater(max(counts), 0, "the streamer's status shows frames arriving:\n" + p.log())
        self.assertIn("codec=h264", p.log())

        # OBS stops streaming: the stream ends and the pusher listens again, and its log says
        # so as news, not as an error with an exit code it does not exit with.
        pub.wait(30)
        p.wait_log(r"event=publisher_left .*action=listen_again", timeout=30)
        self.assertIsNone(p.proc.poll(), "the listener keeps running between publishers")
        log = p.log()
        self.assertRegex(log, r"event=publish_done frames_sent=[1-9]")
        self.assertNotIn("exit_code=", log)
        self.assertNotIn("error=", log)
        self.assertNotRegex(log, r"level=(warning|error|critical) ")
        self.assertNotIn("Unexpected stream", log, "the documented URL draws no libav warning")
        # Listening again: the line comes again once the port is bound again.
        deadline = time.monotonic() + 15
        while len(re.findall(r"event=listening", p.log())) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(len(re.findall(r"event=listening", p.log())), 2, p.log())

        # OBS starts again: a new stream with processed frames.
        pub2, frames2 = self.publish_until_viewed(url, name)
        self.assertEqual(jpeg_size(frames2[-1]), (320, 240))
        self.assertEqual(len(re.findall(r"event=input_opened", p.log())), 2)

        started = time.monotonic()
        self.assertEqual(p.stop(), 0, p.log())
        self.assertLess(time.monotonic() - started, 8)
        pub2.kill()
        pub2.wait()
        self.assertNotRegex(p.log(), r"level=(error|critical) |libav level=error")

    def test_rtmp_publish_secret_drops_a_wrong_name_and_takes_the_right_one(self):
        name, key = self.new_streamer()
        port = free_port()
        base = "rtmp://127.0.0.1:%d/live" % port
        p = self.pusher(key, "--input", base, "--listen", "--publish-secret", SECRET,
                        "--fps", "10", "--size", "160x120")
        p.wait_log(r"event=listening")

        # OBS with a wrong Stream Key: dropped, and the port listens again. (The listening line
        # comes once the port is bound: the publisher started right after it gets in.)
        dropped = r"event=publisher_dropped reason=\"a publisher sent the wrong stream name"
        wrong = publish(base + "/not-the-secret-0123", 8)
        self.addCleanup(lambda: wrong.poll() is None and wrong.kill())
        p.wait_log(dropped, timeout=20)
        self.assertNotEqual(wrong.wait(20), 0, "the wrong publisher is cut off")
        self.assertFalse(ds.Client(self.server.url).stream_info(name)["live"],
                         "a wrong name starts no stream")
        self.assertNotIn("event=input_opened", p.log())

        # The right one (Server rtmp://HOST:PORT/live, Stream Key = the secret) gets in.
        pub, frames = self.publish_until_viewed(base + "/" + SECRET, name)
        self.assertEqual(jpeg_size(frames[0]), (160, 120))
        self.assertEqual(p.stop(), 0, p.log())
        pub.kill()
        pub.wait()
        log = p.log()
        self.assertNotIn(SECRET, log, "the secret never appears in the log")
        self.assertNotIn("Unexpected stream", log)

    def test_a_silent_publisher_is_dropped_after_the_handshake_timeout(self):
        name, key = self.new_streamer()
        port = free_port()
        base = "rtmp://127.0.0.1:%d/live" % port
        # The secret from the environment, as a service unit would give it.
        p = self.pusher(key, "--input", base, "--listen", "--handshake-timeout", "1",
                        "--fps", "10", "--size", "160x120",
                        env={"DREAMSTREAM_PUBLISH_SECRET": SECRET})
        p.wait_log(r"event=listening")
        silent = connect_when_listening(port)
        self.addCleanup(silent.close)
        started = time.monotonic()
        p.wait_log(r"event=publisher_dropped reason=\"a publisher sent no picture within 1000 ms",
                   timeout=10)
        self.assertLess(time.monotonic() - started, 5)
        silent.settimeout(5)
        self.assertEqual(silent.recv(1), b"", "push closed the silent connection")

        pub, _ = self.publish_until_viewed(base + "/" + SECRET, name)
        self.assertEqual(p.stop(), 0, p.log())
        pub.kill()
        pub.wait()

    def test_a_publisher_right_after_the_listening_line_is_never_refused(self):
        # The line once said "listening" just before libav bound the port, and a publisher
        # started on it could be refused. Now it comes once the port is bound, each time: three
        # silent publishers, each connecting at once after the line, each dropped at the
        # handshake timeout.
        _, key = self.new_streamer()
        port = free_port()
        p = self.pusher(key, "--input", "rtmp://127.0.0.1:%d/live" % port, "--listen",
                        "--handshake-timeout", "1", "--fps", "10", "--size", "160x120")
        for n in range(1, 4):
            deadline = time.monotonic() + 20
            while len(re.findall(r"event=listening", p.log())) < n:
                self.assertLess(time.monotonic(), deadline, "listening %d:\n%s" % (n, p.log()))
                time.sleep(0.005)
            try:
                silent = socket.create_connection(("127.0.0.1", port), timeout=5)
            except ConnectionRefusedError:
                self.fail("refused right after listening line %d:\n%s" % (n, p.log()))
            self.addCleanup(silent.close)
            deadline = time.monotonic() + 10
            while len(re.findall(r"event=publisher_dropped", p.log())) < n:
                self.assertLess(time.monotonic(), deadline, "dropped %d:\n%s" % (n, p.log()))
                time.sleep(0.05)
        self.assertEqual(p.stop(), 0, p.log())

    def test_listening_off_loopback_needs_a_publish_secret(self):
        _, key = self.new_streamer()
        port = free_port()
        for url in ("rtmp://0.0.0.0:%d/live" % port, "srt://0.0.0.0:%d" % port):
            code, log, took = self.run_push(key, "--input", url, "--listen")
            self.assertEqual(code, 2, log)
            self.assertIn("--publish-secret", log)
            # Refused before listening (a listener would wait for a publisher until run_push's
            # timeout); the time bound is loose, for a loaded machine.
            self.assertNotIn("event=listening", log)
            self.assertLess(took, 20, "refused at once, not after listening")
        # A bad secret from the environment is refused the same way, naming the flag.
        code, log, _ = self.run_push(key, "--input", "rtmp://0.0.0.0:%d/live" % port, "--listen",
                                     env={"DREAMSTREAM_PUBLISH_SECRET": "short"})
        self.assertEqual(code, 2, log)
        self.assertIn("--publish-secret must be", log)
        # TCP and HTTP listeners cannot check a publisher: not off loopback, secret or not.
        for url in ("tcp://0.0.0.0:%d" % port, "http://0.0.0.0:%d/in" % port):
            for extra in ([], ["--publish-secret", SECRET]):
                code, log, _ = self.run_push(key, "--input", url, "--listen", *extra)
                self.assertEqual(code, 2, log)
                self.assertIn("cannot check", log)

    def test_a_playlist_from_the_network_cannot_make_push_open_a_local_file(self):
        name, key = self.new_streamer()
        tmp = tempfile.mkdtemp(prefix="ds-hls-")
        self.addCleanup(shutil.rmtree, tmp, True)
        make_clip(os.path.join(tmp, "seg.ts"), 1, "160x120", 10, ["-f", "mpegts"])
        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0),
            functools.partial(QuietHandler, directory=tmp))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        base = "http://127.0.0.1:%d" % server.server_address[1]

        def playlist(name, segment):
            with open(os.path.join(tmp, name), "w") as f:
                f.write("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n"
                        "#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:1.0,\n%s\n#EXT-X-ENDLIST\n" % segment)
            return base + "/" + name

        # Pointing at file://: libav must not open it.
        local = playlist("local.m3u8", "file://" + os.path.join(tmp, "seg.ts"))
        code, log, _ = self.run_push(key, "--input", local, "--fps", "10", "--realtime", "off")
        self.assertEqual(code, 4, log)
        self.assertNotIn("event=input_opened", log)
        self.assertRegex(log, r"not on whitelist|No video stream|has no video stream|"
                              r"cannot read the streams|cannot open", log)
        self.assertFalse(ds.Client(self.server.url).stream_info(name)["live"])

        # The same playlist sent down a raw TCP stream (what a publisher into a tcp:// input
        # controls): libav's HTTP protocol limits what a playlist opens, raw TCP does not, so
        # only push's own whitelists keep the file shut.
        with open(os.path.join(tmp, "local.m3u8"), "rb") as f:
            body = f.read()
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        self.addCleanup(listener.close)

        def serve_playlist():
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                with conn:
                    conn.sendall(body)

        threading.Thread(target=serve_playlist, daemon=True).start()
        raw = "tcp://127.0.0.1:%d/live.m3u8" % listener.getsockname()[1]
        code, log, _ = self.run_push(key, "--input", raw, "--fps", "10", "--realtime", "off")
        self.assertEqual(code, 4, log)
        self.assertNotIn("event=input_opened", log)
        self.assertIn("not on whitelist", log)
        self.assertFalse(ds.Client(self.server.url).stream_info(name)["live"])

        # The same playlist with the segment over HTTP plays: the playlist itself is good.
        code, log, _ = self.run_push(key, "--input", playlist("ok.m3u8", base + "/seg.ts"),
                                     "--fps", "10", "--realtime", "off")
        self.assertEqual(code, 0, log)
        self.assertIn("format=hls", log)

    def test_sigterm_while_listening_without_publisher(self):
        _, key = self.new_streamer()
        p = self.pusher(key, "--input", "rtmp://127.0.0.1:%d/live" % free_port(), "--listen")
        p.wait_log(r"event=listening")
        time.sleep(0.5)
        started = time.monotonic()
        self.assertEqual(p.stop(timeout=5), 0, p.log())
        self.assertLess(time.monotonic() - started, 3, "a waiting listener stops promptly")
        self.assertNotRegex(p.log(), r"level=(warning|error|critical) |Cannot open",
                            "a clean SIGTERM logs no error")

    def test_file_is_pushed_at_its_rate_and_exits_0(self):
        name, key = self.new_streamer()
        tmp = tempfile.mkdtemp(prefix="ds-clip-")
        self.addCleanup(shutil.rmtree, tmp, True)
        clip = make_clip(os.path.join(tmp, "clip.mp4"), 3)
        viewer = ds.Viewer(self.server.url, name).connect()
        self.addCleanup(viewer.close)
        started = time.monotonic()
        out = subprocess.run([binary_path(), "push", "--server", self.server.url, "--key", key,
                              "--input", clip, "--fps", "10", "--size", "160x120"],
                             capture_output=True, text=True, timeout=60)
        took = time.monotonic() - started
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertGreater(took, 2.0, "a file is read at its own frame rate, not in one burst")
        sent = int(re.search(r"event=push_done frames_sent=(\d+)", out.stdout + out.stderr)[1])
        self.assertGreaterEqual(sent, 15, out.stdout + out.stderr)
        deadline = time.monotonic() + 20
        got = None
        while got is None:
            kind, data = viewer.recv(timeout=max(0.1, deadline - time.monotonic()))
            if kind == "frame":
                got = data.jpeg
            elif kind != "event" or time.monotonic() > deadline:
                self.fail("viewer got no frame: %s %s" % (kind, data))
        self.assertEqual(jpeg_size(got), (160, 120))

    def run_push(self, key, *args, timeout=30, env=None):
        started = time.monotonic()
        env = dict({k: v for k, v in os.environ.items() if not k.startswith("DREAMSTREAM_")},
                   **(env or {}))
        out = subprocess.run([binary_path(), "push", "--server", self.server.url, "--key", key]
                             + list(args), capture_output=True, text=True, timeout=timeout,
                             env=env)
        return out.returncode, out.stdout + out.stderr, time.monotonic() - started

    def test_bad_inputs_fail_fast_with_clear_messages(self):
        name, key = self.new_streamer()
        code, log, took = self.run_push(key, "--input", "/nonexistent/clip.mp4")
        self.assertEqual(code, 4, log)
        self.assertIn("cannot open /nonexistent/clip.mp4: No such file or directory", log)

        refused = "rtmp://127.0.0.1:%d/live" % free_port()
        code, log, took = self.run_push(key, "--input", refused)
        self.assertEqual(code, 4, log)
        self.assertIn("cannot open " + refused, log)
        self.assertLess(took, 15)

        tmp = tempfile.mkdtemp(prefix="ds-wav-")
        self.addCleanup(shutil.rmtree, tmp, True)
        wav = os.path.join(tmp, "tone.wav")
        subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-f", "lavfi",
                        "-i", "sine=duration=0.3", "-y", wav], check=True, timeout=60)
        code, log, _ = self.run_push(key, "--input", wav)
        self.assertEqual(code, 4, log)
        self.assertIn("has no video stream", log)

        code, log, _ = self.run_push(key, "--input", "x", "--input-format", "no_such_demuxer")
        self.assertEqual(code, 2, log)
        self.assertIn("unknown --input-format", log)
        code, log, _ = self.run_push(key, "--input", "x", "--size", "640")
        self.assertEqual(code, 2, log)
        self.assertIn("WIDTHxHEIGHT", log)
        code, log, _ = self.run_push(key, "--input", "x", "--input-option", "novalue")
        self.assertEqual(code, 2, log)
        code, log, _ = self.run_push(key, "--input", "x", "--dir", HERE)
        self.assertNotEqual(code, 0, log)
        self.assertIn("excludes", log)

        self.assertFalse(ds.Client(self.server.url).stream_info(name)["live"],
                         "a bad input starts no stream")


if __name__ == "__main__":
    unittest.main()
