"""Shared by test_recordings and test_recordings_sweep: a streamer whose sessions are recorded,
frames pushed on the ingest socket by the Python SDK, and ffprobe's reading of a recording."""

import json
import os
import re
import subprocess

import dreamstream as ds
from harness import register, wait_until
from test_video import Pusher


def ffprobe(source):
    """(codec, duration s) of a playlist URL or a file, as ffprobe reads it."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "stream=codec_name:format=duration", "-of", "json", source],
        capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise AssertionError("ffprobe %s: %s" % (source, out.stderr))
    data = json.loads(out.stdout)
    return data["streams"][0]["codec_name"], float(data["format"]["duration"])


def ffprobe_open_playlist(path):
    """(codec, seconds from the first picture to the last) ffprobe reads from a playlist without
    EXT-X-ENDLIST: from its first segment (a live playlist starts near its end otherwise),
    giving up after two reloads that bring nothing new (a few seconds)."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-live_start_index", "0", "-m3u8_hold_counters", "2",
         "-select_streams", "v:0", "-show_entries", "stream=codec_name:packet=pts_time", "-of",
         "json", path], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise AssertionError("ffprobe %s: %s" % (path, out.stderr))
    data = json.loads(out.stdout)
    times = [float(p["pts_time"]) for p in data["packets"]]
    return data["streams"][0]["codec_name"], max(times) - min(times)


def playlist_seconds(text):
    return sum(float(x) for x in re.findall(r"#EXTINF:([0-9.]+),", text))


class Streamer:
    """A registered user with `record` on (unless record=False), streaming on demand."""

    def __init__(self, server, client, record=True):
        self.server = server
        self.c = client
        self.user = register(self.c)
        self.name = self.user["username"]
        if record:
            st, _, body = self.c.patch("/api/streams/settings", {"record": True})
            assert st == 200 and body["settings"]["record"] is True, body
        st, _, body = self.c.post("/api/me/stream-key")
        assert st == 201, body
        self.key = body["stream_key"]
        self.ing = None
        self.pusher = None

    def start(self):
        self.ing = ds.WebSocket.connect(self.server.url.replace("http://", "ws://") + "/ws/ingest",
                                        {"Authorization": "Bearer " + self.key}, timeout=10)
        self.pusher = Pusher(self.ing, interval=0.08)

    def stop(self):
        self.pusher.stop()
        st, _, _ = self.c.post("/api/streams/stop")
        assert st == 200
        self.ing.close()

    def recordings(self, client=None):
        st, _, body = (client or self.c).get("/api/users/%s/recordings" % self.name)
        assert st == 200, body
        return body["recordings"]

    def recording(self, session_id=None):
        for r in self.recordings():
            if session_id is None or r["session_id"] == session_id:
                return r
        return None

    def wait_segments(self, n, timeout=30):
        """The newest recording once its playlist lists n segments."""
        def enough():
            r = self.recording()
            if not r:
                return None
            text = self.c.get(r["playlist_url"]).text
            return r if text.count("#EXTINF:") >= n else None
        return wait_until(enough, timeout=timeout, what="%d recorded segments" % n)

    def wait_state(self, session_id, state, timeout=20):
        return wait_until(lambda: (self.recording(session_id) or {}).get("state") == state and
                          self.recording(session_id), timeout=timeout, what="state " + state)

    def directory(self, session_id, data_dir=None):
        return os.path.join(data_dir or self.server.data_dir, "media", "recordings",
                            str(self.user["id"]), str(session_id))
