"""Live HLS with low-latency parts (`/u/<name>/live.m3u8`, docs/api.md "HLS"): a real server
with its built-in CPU worker, frames pushed on the ingest socket by the Python SDK; the playlist
is read by Debian's ffprobe, a blocking reload is answered when its part exists (measured), the
media carry the cache headers a CDN follows, and the playlist ends when the stream does."""

import re
import subprocess
import threading
import time
import unittest
import urllib.request

import dreamstream as ds
from harness import ServerTestCase, register, wait_until
from test_video import Pusher, jpeg_size

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


if __name__ == "__main__":
    unittest.main()
