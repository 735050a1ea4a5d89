"""Recordings (docs/api.md "Recordings"): a real server with its built-in CPU worker records a
streamer's sessions when the `record` setting is on; the playlist and the one-file download are
read by Debian's ffprobe; a private recording answers 404 to everyone but its owner; the
playlist ends when the stream does; a deletion (of the recording, or of the account) removes
its files; switching `record` on and off while live starts and stops it."""

import os
import tempfile
import time
import unittest

from harness import PASSWORD, ServerTestCase, register, wait_until
from recording_helpers import Streamer, ffprobe, playlist_seconds

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"


class TestRecordings(ServerTestCase):
    server_args = ("--builtin-workers", "1", "--skip-similar", "0")

    def record(self):
        """A streamer and its recorded session of one segment or so, ended."""
        s = Streamer(self.server, self.client())
        s.start()
        r = s.wait_segments(1)
        s.stop()
        return s, r["session_id"]

    def test_a_recorded_session_plays_downloads_and_ends_with_its_stream(self):
        s = Streamer(self.server, self.client())
        s.start()
        r = s.wait_segments(2)
        sid = r["session_id"]
        self.assertEqual(r["state"], "recording")
        self.assertIsNone(r["ended_ms"])
        base = "/u/%s/sessions/%d/" % (s.name, sid)
        self.assertEqual(r["playlist_url"], base + "index.m3u8")
        self.assertEqual(r["download_url"], base + "download.mp4")
        self.assertTrue(r["public"])
        # While it is recorded: an EVENT playlist, asked again each time, without ENDLIST.
        live = self.client().get(base + "index.m3u8")
        self.assertEqual(live.status, 200)
        self.assertEqual(live.headers.get("Content-Type"), PLAYLIST_TYPE)
        self.assertEqual(live.headers.get("Cache-Control"), "public, no-cache")
        self.assertIn("#EXT-X-PLAYLIST-TYPE:EVENT", live.text)
        self.assertNotIn("#EXT-X-ENDLIST", live.text)
        # No MP4 of a recording that still grows.
        self.assertError(self.client().get(base + "download.mp4"), 409, "recording_in_progress")
        metrics = self.client().get("/metrics").text
        self.assertRegex(metrics, r"(?m)^dreamstream_recordings_active [1-9]")
        self.assertRegex(metrics, r"(?m)^dreamstream_recording_jobs_queued \d+$")
        time.sleep(3)
        s.stop()

        # The stream ended: ENDLIST, VOD, complete, with the session's times.
        wait_until(lambda: "#EXT-X-ENDLIST" in self.client().get(base + "index.m3u8").text,
                   timeout=15, what="EXT-X-ENDLIST")
        r = s.wait_state(sid, "complete")
        self.assertIsNotNone(r["ended_ms"])
        ended = self.client().get(base + "index.m3u8")
        self.assertIn("#EXT-X-PLAYLIST-TYPE:VOD", ended.text)
        self.assertEqual(ended.headers.get("Cache-Control"), "public, max-age=60")
        self.assertEqual(ended.headers.get_all("Access-Control-Allow-Origin"), ["*"])
        listed = playlist_seconds(ended.text)
        self.assertGreater(r["bytes"], 0)
        self.assertAlmostEqual(r["duration_ms"] / 1000, listed, delta=0.01)
        session_s = (r["ended_ms"] - r["started_ms"]) / 1000
        target = int(ended.text.split("#EXT-X-TARGETDURATION:")[1].split("\n")[0])

        # ffprobe plays the playlist: H.264, within one segment of the session.
        codec, duration = ffprobe(self.server.url + base + "index.m3u8")
        self.assertEqual(codec, "h264")
        self.assertLess(abs(duration - session_s), target + 0.5,
                        "recorded %.2f s of a %.2f s session" % (duration, session_s))

        # Media: immutable; init first, then fragments.
        seg = [line for line in ended.text.splitlines() if line.endswith(".m4s")][0]
        got = self.client().get(base + seg)
        self.assertEqual(got.status, 200)
        self.assertEqual(got.headers.get("Cache-Control"), "public, max-age=31536000, immutable")
        self.assertEqual(got.headers.get("Content-Type"), "video/iso.segment")
        head = self.client().get(base + seg, headers={"Range": "bytes=0-7"})
        self.assertEqual((head.status, head.body), (206, got.body[:8]), "media take byte ranges")
        init = self.client().get(base + "init-0.mp4")
        self.assertEqual(init.body[4:8], b"ftyp")

        # One MP4, remuxed: an attachment, moov before mdat, same codec and length.
        dl = self.client().get(base + "download.mp4")
        self.assertEqual(dl.status, 200)
        self.assertEqual(dl.headers.get("Content-Type"), "video/mp4")
        self.assertIn("attachment", dl.headers.get("Content-Disposition"))
        self.assertLess(dl.body.find(b"moov"), dl.body.find(b"mdat"))
        with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
            f.write(dl.body)
            f.flush()
            codec, file_s = ffprobe(f.name)
        self.assertEqual(codec, "h264")
        self.assertAlmostEqual(file_s, listed, delta=0.5)

        # Made once, then streamed from disk: the same bytes again, byte ranges, HEAD's size.
        size = len(dl.body)
        self.assertEqual(dl.headers.get("Accept-Ranges"), "bytes")
        self.assertEqual(self.client().get(base + "download.mp4").body, dl.body)
        self.assertEqual(self.server.logs().count("event=recording_remuxed"), 1,
                         "the second download remuxed again")
        part = self.client().get(base + "download.mp4", headers={"Range": "bytes=100-199"})
        self.assertEqual(part.status, 206)
        self.assertEqual(part.headers.get("Content-Range"), "bytes 100-199/%d" % size)
        self.assertEqual(part.body, dl.body[100:200])
        tail = self.client().get(base + "download.mp4", headers={"Range": "bytes=-10"})
        self.assertEqual((tail.status, tail.body), (206, dl.body[-10:]))
        rest = self.client().get(base + "download.mp4", headers={"Range": "bytes=%d-" % (size - 5)})
        self.assertEqual((rest.status, rest.body), (206, dl.body[-5:]))
        past = self.client().get(base + "download.mp4", headers={"Range": "bytes=%d-" % size})
        self.assertError(past, 416, "range_not_satisfiable")
        self.assertEqual(past.headers.get("Content-Range"), "bytes */%d" % size)
        many = self.client().get(base + "download.mp4", headers={"Range": "bytes=0-1,5-9"})
        self.assertEqual((many.status, len(many.body)), (200, size))
        head = self.client().head(base + "download.mp4")
        self.assertEqual((head.status, head.headers.get("Content-Length"), head.body),
                         (200, str(size), b""))

        # Only the recording's own file names: nothing else of the disk.
        for bad in ("..%2F..%2Fdreamstream.db", "index.m3u8.tmp", "01.m4s", "init-x.mp4",
                    "%2e%2e", "download.mp3"):
            self.assertError(self.client().get(base + bad), 404, "not_found")
        self.assertError(self.client().get("/u/%s/sessions/%d/index.m3u8" % (s.name, sid + 999)),
                         404, "not_found")
        self.assertError(self.client().get("/u/nobody_at_all/sessions/%d/index.m3u8" % sid), 404,
                         "not_found")

    def test_a_private_recording_is_404_to_all_but_its_owner(self):
        s, sid = self.record()
        s.wait_state(sid, "complete")
        base = "/u/%s/sessions/%d/" % (s.name, sid)
        st, _, body = s.c.patch("/api/me/recordings/%d" % sid, {"public": False})
        self.assertEqual(st, 200, body)
        self.assertFalse(body["recording"]["public"])
        self.assertEqual(body["recording"]["session_id"], sid)
        other = self.client()
        register(other)
        for who in (self.client(), other):
            self.assertError(who.get(base + "index.m3u8"), 404, "not_found")
            self.assertError(who.get(base + "init-0.mp4"), 404, "not_found")
            self.assertError(who.get(base + "download.mp4"), 404, "not_found")
            self.assertEqual(s.recordings(who), [])
            # Nor may they change or delete it.
            self.assertIn(who.patch("/api/me/recordings/%d" % sid, {"public": True}).status,
                          (401, 404))
            self.assertIn(who.delete("/api/me/recordings/%d" % sid).status, (401, 404))
        mine = s.c.get(base + "index.m3u8")
        self.assertEqual(mine.status, 200)
        self.assertEqual(mine.headers.get("Cache-Control"), "private, max-age=60")
        self.assertIsNone(mine.headers.get("Access-Control-Allow-Origin"))
        self.assertEqual([r["session_id"] for r in s.recordings()], [sid])
        # Public again: anyone plays it.
        st, _, body = s.c.patch("/api/me/recordings/%d" % sid, {"public": True})
        self.assertTrue(body["recording"]["public"])
        self.assertEqual(self.client().get(base + "index.m3u8").status, 200)
        self.assertError(s.c.patch("/api/me/recordings/%d" % sid, {"public": "yes"}), 400)

    def test_deleting_a_recording_or_the_account_removes_its_files(self):
        s, sid = self.record()
        s.wait_state(sid, "complete")
        d = s.directory(sid)
        self.assertTrue(os.path.exists(os.path.join(d, "index.m3u8")))
        st, _, body = s.c.delete("/api/me/recordings/%d" % sid)
        self.assertEqual(st, 200, body)
        self.assertFalse(os.path.exists(d))
        self.assertEqual(s.recordings(), [])
        self.assertError(s.c.get("/u/%s/sessions/%d/index.m3u8" % (s.name, sid)), 404)
        self.assertError(s.c.delete("/api/me/recordings/%d" % sid), 404, "not_found")

        # A recording in progress stops and goes; the stream goes on, unrecorded.
        s.start()
        r = s.wait_segments(1)
        d = s.directory(r["session_id"])
        self.assertTrue(os.path.isdir(d))
        st, _, _ = s.c.delete("/api/me/recordings/%d" % r["session_id"])
        self.assertEqual(st, 200)
        self.assertFalse(os.path.exists(d))
        time.sleep(2.5)  # more segments would have been written by now
        self.assertFalse(os.path.exists(d))
        self.assertEqual(s.recordings(), [])
        s.stop()

        # The account goes with its recordings.
        s2, sid2 = self.record()
        s2.wait_state(sid2, "complete")
        d2 = s2.directory(sid2)
        self.assertTrue(os.path.isdir(d2))
        st, _, _ = s2.c.delete("/api/me", {"password": PASSWORD})
        self.assertEqual(st, 200)
        self.assertFalse(os.path.exists(d2))

    def test_switching_record_on_and_off_while_live(self):
        s = Streamer(self.server, self.client(), record=False)
        s.start()
        time.sleep(2)
        self.assertEqual(s.recordings(), [])
        st, _, body = s.c.patch("/api/streams/settings", {"record": True})
        self.assertEqual(st, 200)
        r = s.wait_segments(2)
        self.assertEqual(r["state"], "recording")
        st, _, _ = s.c.patch("/api/streams/settings", {"record": False})
        self.assertEqual(st, 200)
        # Stopped while the stream goes on: what was kept stays, ended.
        done = s.wait_state(r["session_id"], "complete")
        self.assertIsNone(done["ended_ms"])  # the session is still live
        text = s.c.get(done["playlist_url"]).text
        self.assertIn("#EXT-X-ENDLIST", text)
        n = text.count("#EXTINF:")
        time.sleep(2.5)
        self.assertEqual(s.c.get(done["playlist_url"]).text.count("#EXTINF:"), n)
        s.stop()


if __name__ == "__main__":
    unittest.main()
