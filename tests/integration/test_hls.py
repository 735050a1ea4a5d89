"""Live HLS with low-latency parts (`/u/<name>/live.m3u8`, docs/api.md "HLS"): a real server
with its built-in CPU worker, frames pushed on the ingest socket by the Python SDK; the playlist
is read by Debian's ffprobe, a blocking reload is answered when its part exists (measured), the
media carry the cache headers a CDN follows, and the playlist ends when the stream does."""

import re
import socket
import struct
import subprocess
import threading
import time
import unittest
import urllib.request

import dreamstream as ds
from harness import ServerTestCase, register, wait_until
from test_video import Pusher, jpeg_size

# HlsStoreConfig::max_waiters_per_client: requests of one address that may wait on one stream.
PER_CLIENT = 64

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"


def parts(text):
    """[(msn, part)] of the EXT-X-PART lines."""
    return [(int(m), int(p)) for m, p in re.findall(r'#EXT-X-PART:[^\n]*URI="[^"]*/(\d+)\.(\d+)\.m4s"', text)]


def hint(text):
    m = re.search(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"]*/(\d+)\.(\d+)\.m4s)"', text)
    return (int(m.group(2)), int(m.group(3)), m.group(1)) if m else None


class TestHls(ServerTestCase):
    server_args = ("--builtin-workers", "1", "--skip-similar", "0", "--hls-part-ms", "500")

    def start_stream(self):
        c = self.client()
        user = register(c)
        st, _, body = c.post("/api/me/stream-key")
        self.assertEqual(st, 201)
        ing = ds.WebSocket.connect(self.server.url.replace("http://", "ws://") + "/ws/ingest",
                                   {"Authorization": "Bearer " + body["stream_key"]}, timeout=10)
        return c, user["username"], ing

    def timed_get(self, path):
        t0 = time.monotonic()
        r = self.client().get(path)
        return r, time.monotonic() - t0

    def assertHlsHeaders(self, r, content_type, cache):
        self.assertEqual(r.headers.get("Content-Type"), content_type)
        self.assertEqual(r.headers.get("Cache-Control"), cache)
        self.assertEqual(r.headers.get_all("Access-Control-Allow-Origin"), ["*"])
        self.assertEqual(r.headers.get("X-Content-Type-Options"), "nosniff")

    def test_offline_unknown_and_malformed_requests(self):
        c = self.client()
        r = c.get("/u/nobody_here_at_all/live.m3u8")
        self.assertError(r, 404, "stream_offline")
        self.assertEqual(r.headers.get("Access-Control-Allow-Origin"), "*")
        user = register(c)
        self.assertError(c.get("/u/%s/live.m3u8" % user["username"]), 404, "stream_offline")
        self.assertError(c.get("/u/%s/hls/1/0.m4s" % user["username"]), 404, "not_found")
        self.assertError(c.get("/u/%s/hls/x/init-0.mp4" % user["username"]), 404, "not_found")
        for q in ("_HLS_msn=abc", "_HLS_msn=-1", "_HLS_part=1", "_HLS_msn=1&_HLS_part=x",
                  "_HLS_msn=99999999999999999999"):
            self.assertError(c.get("/u/%s/live.m3u8?%s" % (user["username"], q)), 400,
                             "invalid_query")

    def test_live_playlist_ffprobe_blocking_reload_cache_headers_and_endlist(self):
        c, name, ing = self.start_stream()
        pusher = Pusher(ing, interval=0.08)
        base = "/u/%s/" % name
        try:
            # The first request starts the encoder and is answered with the first segment.
            r, took = self.timed_get(base + "live.m3u8")
            self.assertEqual(r.status, 200, r.body[:300])
            self.assertLess(took, 10)
            self.assertHlsHeaders(r, PLAYLIST_TYPE, "public, max-age=1")
            text = r.text
            for tag in ("#EXTM3U", "#EXT-X-TARGETDURATION:2", "#EXT-X-MAP:URI=",
                        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.500",
                        "#EXT-X-PART-INF:PART-TARGET=0.500", "#EXT-X-MEDIA-SEQUENCE:0",
                        "#EXT-X-PROGRAM-DATE-TIME:", "#EXTINF:", "#EXT-X-PRELOAD-HINT"):
                self.assertIn(tag, text)
            self.assertNotIn("#EXT-X-ENDLIST", text)
            self.assertTrue(parts(text))

            # Too far ahead: a clear 400 at once, never a wait.
            r, took = self.timed_get(base + "live.m3u8?_HLS_msn=50")
            self.assertError(r, 400, "invalid_query")
            self.assertLess(took, 1)

            # A blocking reload for the hinted part: answered once that part is listed, not
            # before; the next one waits about a part's duration.
            msn, part, _ = hint(text)
            r, took = self.timed_get(base + "live.m3u8?_HLS_msn=%d&_HLS_part=%d" % (msn, part))
            self.assertEqual(r.status, 200)
            self.assertEqual(r.headers.get("Cache-Control"), "public, max-age=6")
            self.assertIn((msn, part), parts(r.text))
            self.assertLess(took, 6)
            msn, part, uri = hint(r.text)
            self.assertNotIn((msn, part), parts(r.text))
            r, took = self.timed_get(base + "live.m3u8?_HLS_msn=%d&_HLS_part=%d" % (msn, part))
            self.assertEqual(r.status, 200)
            self.assertIn((msn, part), parts(r.text))
            self.assertGreater(took, 0.15, "answered before the part could exist")
            self.assertLess(took, 3)

            # The preload-hinted part itself, asked before it exists, comes when it does.
            msn, part, uri = hint(r.text)
            r, took = self.timed_get(base + uri)
            self.assertEqual(r.status, 200)
            self.assertHlsHeaders(r, "video/iso.segment", "public, max-age=31536000, immutable")
            self.assertTrue(r.body[4:8] == b"moof")
            self.assertGreater(took, 0.05)

            # Requests that wait hold no thread: more than the blocking pool's 8 wait on the
            # next segment's first part while the API answers at once.
            far = base + "live.m3u8?_HLS_msn=%d&_HLS_part=0" % (msn + 1)
            results = []
            waiting = [threading.Thread(target=lambda: results.append(self.timed_get(far)))
                       for _ in range(12)]
            for t in waiting:
                t.start()
            time.sleep(0.3)
            for _ in range(3):
                r, took = self.timed_get("/api/config")
                self.assertEqual(r.status, 200)
                self.assertLess(took, 0.5)
            for t in waiting:
                t.join(15)
            self.assertEqual(len(results), 12)
            for r, took in results:
                self.assertEqual(r.status, 200)
                self.assertIn((msn + 1, 0), parts(r.text))

            # The node's HLS in its metrics, while the stream plays.
            metrics = self.client().get("/metrics").text
            self.assertRegex(metrics, r"(?m)^dreamstream_hls_streams [1-9]")
            self.assertRegex(metrics, r"(?m)^dreamstream_hls_bytes [1-9]\d*$")
            self.assertRegex(metrics, r"(?m)^dreamstream_hls_waiting_requests \d+$")

            # Segments, parts and init: immutable, with their types; HEAD too.
            r = self.client().get(base + "live.m3u8")
            seg = re.findall(r"^(hls/\d+/\d+\.m4s)$", r.text, re.M)[-1]
            init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', r.text).group(1)
            got = self.client().get(base + seg)
            self.assertHlsHeaders(got, "video/iso.segment", "public, max-age=31536000, immutable")
            self.assertEqual(got.body[4:8], b"moof")
            got = self.client().get(base + init)
            self.assertHlsHeaders(got, "video/mp4", "public, max-age=31536000, immutable")
            self.assertEqual(got.body[4:8], b"ftyp")
            head = self.client().head(base + init)
            self.assertEqual(head.status, 200)
            self.assertEqual(int(head.headers.get("Content-Length")), len(got.body))

            # An outside player: ffprobe reads the live playlist as H.264 at the stream's size.
            out = subprocess.run(
                ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                 "stream=codec_name,width,height", "-of", "csv=p=0",
                 self.server.url + base + "live.m3u8"],
                capture_output=True, text=True, timeout=30)
            self.assertEqual(out.returncode, 0, out.stderr)
            latest = self.client().get(base + "latest.jpg")
            width, height = jpeg_size(latest.body)
            self.assertEqual(out.stdout.splitlines()[0], "h264,%d,%d" % (width, height))
        finally:
            pusher.stop()

        # The stream ends: the playlist ends with it, and stays answerable.
        st, _, _ = c.post("/api/streams/stop")
        self.assertEqual(st, 200)
        ing.close()
        wait_until(lambda: "#EXT-X-ENDLIST" in self.client().get(base + "live.m3u8").text,
                   timeout=10, what="EXT-X-ENDLIST")
        r = self.client().get(base + "live.m3u8")
        self.assertEqual(r.status, 200)
        self.assertNotIn("PRELOAD-HINT", r.text)
        self.assertEqual(r.headers.get("Cache-Control"), "public, max-age=30")
        # A blocking reload of an ended stream is answered at once.
        r, took = self.timed_get(base + "live.m3u8?_HLS_msn=%d&_HLS_part=0" % (msn + 1))
        self.assertEqual(r.status, 200)
        self.assertLess(took, 1)

    def waiting_requests(self):
        m = re.search(r"(?m)^dreamstream_hls_waiting_requests (\d+)$",
                      self.client().get("/metrics").text)
        return int(m.group(1))

    def raw_get(self, path, source="127.0.0.1"):
        """A socket (from source) that has sent GET path and not read the answer."""
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=10,
                                        source_address=(source, 0))
        sock.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
        return sock

    def read_status(self, sock):
        data = b""
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        return int(data.split(b" ", 2)[1]) if data else None

    def test_a_client_that_resets_gives_up_its_wait_and_one_address_cannot_fill_a_stream(self):
        c, name, ing = self.start_stream()
        pusher = Pusher(ing, interval=0.08)
        base = "/u/%s/" % name
        r = self.client().get(base + "live.m3u8")
        self.assertEqual(r.status, 200, r.body[:300])
        # No more pictures: the hinted part cannot come, so whoever asks for it waits (6 s).
        pusher.stop()
        time.sleep(1.0)  # the last picture through the worker and the encoder
        msn, part, _ = hint(self.client().get(base + "live.m3u8").text)
        far = base + "live.m3u8?_HLS_msn=%d&_HLS_part=%d" % (msn, part)

        # Clients that send a blocking reload and reset at once: their waits end with their
        # connections, well before the 6 s deadline (they held the stream's waiting places).
        gone = [self.raw_get(far) for _ in range(40)]
        wait_until(lambda: self.waiting_requests() >= 40, timeout=5, what="40 waiting")
        for sock in gone:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        started = time.monotonic()
        wait_until(lambda: self.waiting_requests() == 0, timeout=3,
                   what="the reset clients' waits to end")
        self.assertLess(time.monotonic() - started, 3)

        # One address cannot take every waiting place of a stream: past PER_CLIENT its
        # requests are refused at once, while another address still waits and is answered.
        held = [self.raw_get(far) for _ in range(PER_CLIENT)]
        self.addCleanup(lambda: [s.close() for s in held])
        wait_until(lambda: self.waiting_requests() >= PER_CLIENT, timeout=5,
                   what="%d waiting" % PER_CLIENT)
        r, took = self.timed_get(far)
        self.assertError(r, 503, "too_many_waiting")
        self.assertLess(took, 1)
        other = self.raw_get(far, source="127.0.0.2")
        self.addCleanup(other.close)
        wait_until(lambda: self.waiting_requests() >= PER_CLIENT + 1, timeout=5,
                   what="the other address's request waiting")
        pusher = Pusher(ing, interval=0.08)  # pictures again: the part comes
        try:
            other.settimeout(10)
            self.assertEqual(self.read_status(other), 200)
            for sock in held[:3]:
                sock.settimeout(10)
                self.assertEqual(self.read_status(sock), 200)
        finally:
            pusher.stop()
            ing.close()


if __name__ == "__main__":
    unittest.main()
