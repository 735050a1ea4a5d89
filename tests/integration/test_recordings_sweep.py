"""Recordings that outlive their server (docs/operations.md "Recordings"): a SIGKILL mid-recording
leaves a playlist ffprobe reads up to the last complete segment, and the restarted server closes
it; a SIGTERM finishes them before the server exits; the sweeper deletes by retention (--recording-days 0) and stops and deletes by quota
(--recording-quota-mb), each through a real server."""

import os
import time
import unittest

from harness import PASSWORD, Server, db_query, wait_until
from recording_helpers import Streamer, ffprobe, ffprobe_open_playlist, playlist_seconds

ARGS = ["--builtin-workers", "1", "--skip-similar", "0", "--recording-sweep-s", "1"]


class TestRecordingSurvival(unittest.TestCase):
    def test_a_killed_server_leaves_a_playable_recording_that_the_next_one_closes(self):
        server = Server(ARGS).start()
        try:
            s = Streamer(server, server.client())
            s.start()
            r = s.wait_segments(3)
            sid = r["session_id"]
            server.proc.kill()  # SIGKILL: nothing is finished or flushed
            server.proc.wait(10)
            s.pusher.stop()
            s.ing.close()
            index = os.path.join(s.directory(sid), "index.m3u8")
            with open(index) as f:
                text = f.read()
            self.assertNotIn("#EXT-X-ENDLIST", text)
            listed = playlist_seconds(text)
            self.assertGreaterEqual(text.count("#EXTINF:"), 3)
            # Every listed segment plays: its pictures span all of them but the last one's
            # length (a picture lasts until the next).
            codec, span = ffprobe_open_playlist(index)
            self.assertEqual(codec, "h264")
            self.assertAlmostEqual(span, listed, delta=0.5)

            # The next server on the same data closes the session, then the recording.
            again = Server(ARGS, data_dir=server.data_dir).start()
            try:
                s.c = again.client()
                st, _, _ = s.c.post("/api/auth/login", {"login": s.name, "password": PASSWORD})
                self.assertEqual(st, 200)
                s.server = again
                r = s.wait_state(sid, "complete", timeout=10)
                with open(index) as f:
                    closed = f.read()
                self.assertTrue(closed.endswith("#EXT-X-ENDLIST\n"), closed[-200:])
                self.assertIn("#EXT-X-PLAYLIST-TYPE:VOD", closed)
                self.assertAlmostEqual(r["duration_ms"] / 1000, playlist_seconds(closed),
                                       delta=0.01)
                self.assertGreaterEqual(playlist_seconds(closed), listed)
                codec, duration = ffprobe(index)  # now a VOD playlist with its length
                self.assertEqual(codec, "h264")
                self.assertAlmostEqual(duration, playlist_seconds(closed), delta=0.5)
                self.assertIsNotNone(r["ended_ms"])
                self.assertIn("event=recording_closed", again.logs())
            finally:
                again.cleanup()
        finally:
            server.cleanup()


    def test_a_stopped_server_finishes_its_recordings_first(self):
        server = Server(ARGS).start()
        try:
            s = Streamer(server, server.client())
            s.start()
            sid = s.wait_segments(1)["session_id"]
            self.assertEqual(server.stop(), 0)  # SIGTERM: streams end, recordings with them
            s.pusher.stop()
            s.ing.close()
            with open(os.path.join(s.directory(sid), "index.m3u8")) as f:
                self.assertTrue(f.read().endswith("#EXT-X-ENDLIST\n"))
            rows = db_query(server.data_dir, "SELECT state FROM recordings WHERE session_id = ?",
                            (sid,))
            self.assertEqual([tuple(r) for r in rows], [("complete",)])
        finally:
            server.cleanup()


class TestRecordingSweeps(unittest.TestCase):
    def test_retention_deletes_complete_recordings(self):
        server = Server(ARGS + ["--recording-days", "0"]).start()
        try:
            s = Streamer(server, server.client())
            s.start()
            r = s.wait_segments(1)
            sid = r["session_id"]
            d = s.directory(sid)
            # In progress: never swept, however old.
            time.sleep(1.5)
            self.assertTrue(os.path.isdir(d))
            s.stop()
            wait_until(lambda: s.recordings() == [] and not os.path.exists(d), timeout=15,
                       what="the recording swept")
            self.assertIn("event=recording_swept", server.logs())
            self.assertIn("reason=retention", server.logs())
        finally:
            server.cleanup()

    def test_quota_stops_a_recording_that_passes_it_and_deletes_the_oldest(self):
        # 40 KiB: a few segments of the CPU worker's pictures.
        server = Server(ARGS + ["--recording-quota-mb", "0.04"]).start()
        try:
            s = Streamer(server, server.client())
            s.start()
            first = s.wait_segments(1)["session_id"]
            # It passes the quota and stops while the stream goes on; what it kept stays.
            r = s.wait_state(first, "complete", timeout=30)
            self.assertIsNone(r["ended_ms"])
            self.assertGreater(r["bytes"], 40 * 1024)
            self.assertIn("event=recording_over_quota", server.logs())
            s.stop()
            # The next session's recording passes it too: the older one goes.
            s.start()
            second = wait_until(lambda: [x for x in s.recordings() if x["session_id"] != first],
                                timeout=20, what="a second recording")[0]["session_id"]
            wait_until(lambda: s.recording(first) is None, timeout=30, what="the oldest deleted")
            self.assertFalse(os.path.exists(s.directory(first)))
            self.assertIsNotNone(s.recording(second))
            self.assertIn("reason=quota", server.logs())
            s.stop()
        finally:
            server.cleanup()


if __name__ == "__main__":
    unittest.main()
