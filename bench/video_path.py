#!/usr/bin/env python3
"""The H.264 path against the JPEG path, through a real server (issue 22; docs/performance.md,
"Video through the server").

    python3 bench/video_path.py [--seconds 60] [--fps 10] [--look toon] [--joins 10]

One server with its built-in CPU worker, the stream's base style set to --look; a moving
640x480 camera clip (`video_bytes --camera`: a panorama panning behind a moving figure, fresh
sensor noise every frame) pushed at --fps by `bench_ws publish`. Two viewers read side by side
for --seconds: one on the inline JPEG path (`?frames=inline`), one on `?video=h264`. Printed:

- bytes per viewer per second on each path (every message, text included) and the ratio;
- SSIM of the decoded video against the JPEG pictures of the same frames (ffmpeg's `ssim`
  filter, luma and all planes);
- the video path's extra delay: the arrival of unit N minus the arrival of JPEG N at the same
  client, per --bucket-s bucket (flat over time is the goal), against one frame interval + 15 ms;
- the server's CPU with the JPEG viewer alone and with the video viewer too (the encoder and
  the video fan-out), and the encoder threads' own CPU when the server names them;
- time to first picture for --joins viewers joining mid-GOP, video against JPEG, with the
  number of decode-only units the video joiner got before its first shown picture.

Env: DREAMSTREAM_BIN (default build-bench/dreamstream), BENCH_WS (build-bench/bench_ws),
VIDEO_BYTES (build-bench/video_bytes). Everything runs on loopback ports of its own.
"""

import argparse
import glob
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))
os.environ.setdefault("DREAMSTREAM_BIN", os.path.join(ROOT, "build-bench", "dreamstream"))
import dreamstream as ds  # noqa: E402
import harness  # noqa: E402
from harness import cpu_seconds  # noqa: E402

BENCH_WS = os.environ.get("BENCH_WS", os.path.join(ROOT, "build-bench", "bench_ws"))
VIDEO_BYTES = os.environ.get("VIDEO_BYTES", os.path.join(ROOT, "build-bench", "video_bytes"))


def pct(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def split(msg):
    """(header dict, payload) of an inline binary message, or (None, msg) for a bare JPEG."""
    if len(msg) >= 4 and msg[0] != 0xFF:
        n = int.from_bytes(msg[:4], "big")
        if n <= len(msg) - 4:
            return json.loads(msg[4:4 + n]), msg[4 + n:]
    return None, msg


class Reader(threading.Thread):
    """Reads one viewer socket; keeps (arrival s, header, payload) of each binary message and
    counts the bytes of every message between window[0] and window[1] (monotonic s)."""

    def __init__(self, url, window=None, until_first_shown=False):
        super().__init__(daemon=True)
        self.url, self.window, self.until_first_shown = url, window, until_first_shown
        self.items, self.bytes, self.error = [], 0, None
        self.opened = self.first_shown = None
        self.decode_only_before_first = 0
        self.stop = False

    def run(self):
        try:
            ws = ds.WebSocket.connect(self.url, None, timeout=10)
            self.opened = time.monotonic()
            while not self.stop:
                try:
                    kind, data = ws.recv(timeout=0.5)
                except TimeoutError:
                    continue
                now = time.monotonic()
                if kind == "close":
                    break
                if self.window and self.window[0] <= now < self.window[1]:
                    self.bytes += len(data)
                if kind != "binary":
                    continue
                head, payload = split(data)
                shown = head is None or not head.get("decode_only")
                if self.first_shown is None:
                    if shown:
                        self.first_shown = now
                    else:
                        self.decode_only_before_first += 1
                if self.until_first_shown:
                    if self.first_shown is not None:
                        break
                    continue
                self.items.append((now, head or {}, payload))
            ws.close()
        except Exception as e:  # noqa: BLE001 - reported by the caller
            self.error = repr(e)


def thread_cpu(pid, pattern):
    """CPU seconds of the threads of pid whose name matches pattern."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for stat in glob.glob("/proc/%d/task/*/stat" % pid):
        try:
            text = open(stat).read()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        if re.search(pattern, name):
            fields = text[text.rindex(")") + 2:].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def ssim(video_units, jpegs, tmp):
    """ffmpeg's SSIM of the decoded units against the JPEGs (same count, same order)."""
    vpath, jpath = os.path.join(tmp, "v.h264"), os.path.join(tmp, "j.mjpeg")
    with open(vpath, "wb") as f:
        for u in video_units:
            f.write(u)
    with open(jpath, "wb") as f:
        for j in jpegs:
            f.write(j)
    out = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostats", "-i", vpath, "-f", "mjpeg", "-i", jpath, "-lavfi",
         "[0:v]setpts=N[a];[1:v]setpts=N,format=yuv420p[b];[a][b]ssim", "-f", "null", "-"],
        capture_output=True, text=True)
    m = re.search(r"SSIM Y:([0-9.]+).*All:([0-9.]+)", out.stderr)
    frames = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                             "-show_entries", "stream=nb_read_frames,width,height,codec_name,"
                             "profile", "-of", "json", vpath], capture_output=True, text=True)
    info = json.loads(frames.stdout or "{}").get("streams", [{}])[0]
    return (float(m.group(1)) if m else float("nan"), float(m.group(2)) if m else float("nan"),
            info)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--fps", type=float, default=10.0)
    ap.add_argument("--look", default="toon")
    ap.add_argument("--joins", type=int, default=10)
    ap.add_argument("--bucket-s", type=float, default=10.0)
    ap.add_argument("--clip-seconds", type=float, default=20.0)
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="ds-bench-video-")
    cam = os.path.join(tmp, "camera")
    os.mkdir(cam)
    subprocess.run([VIDEO_BYTES, "--camera", cam, "--seconds", str(a.clip_seconds), "--fps",
                    str(int(a.fps))], check=True, stdout=subprocess.DEVNULL)
    frames = sorted(glob.glob(os.path.join(cam, "camera_*.jpg")))
    server = harness.Server(args=["--builtin-workers", "1", "--skip-similar", "0"])
    server.start()
    procs = []
    try:
        c = server.client()
        user = harness.register(c)["username"]
        st, _, body = c.post("/api/me/stream-key")
        assert st == 201, body
        key = body["stream_key"]
        st, _, body = c.patch("/api/streams/settings", {"base_style": a.look})
        assert st == 200, body
        base = "ws://127.0.0.1:%d/ws/watch/%s" % (server.port, user)
        warm = 5.0
        alone = 10.0
        t0 = time.monotonic()
        # JPEG viewer alone for `alone` seconds (after warm-up), then the video viewer too.
        jpeg = Reader(base + "?frames=inline",
                      window=(t0 + warm + alone + warm, t0 + warm + alone + warm + a.seconds))
        jpeg.start()
        run_s = warm + alone + warm + a.seconds + 5
        procs.append(subprocess.Popen(
            [BENCH_WS, "publish", "--url", "ws://127.0.0.1:%d/ws/ingest" % server.port,
             "--bearer", key, "--fps", str(a.fps), "--duration", str(run_s + a.joins * 3 + 10)]
            + sum((["--file", f] for f in frames), []), stdout=subprocess.DEVNULL))
        pid = server.proc.pid
        time.sleep(max(0.0, t0 + warm - time.monotonic()))
        cpu_a = cpu_seconds(pid)
        time.sleep(alone)
        cpu_jpeg_only = (cpu_seconds(pid) - cpu_a) / alone
        video = Reader(base + "?video=h264", window=jpeg.window)
        video.start()
        time.sleep(max(0.0, jpeg.window[0] - time.monotonic()))
        cpu_b, enc_b = cpu_seconds(pid), thread_cpu(pid, r"^ds-encode")
        time.sleep(max(0.0, jpeg.window[1] - time.monotonic()))
        cpu_both = (cpu_seconds(pid) - cpu_b) / a.seconds
        enc = (thread_cpu(pid, r"^ds-encode") - enc_b) / a.seconds

        # Viewers joining mid-GOP, one at a time at random moments.
        joins = {"video": [], "jpeg": []}
        decode_only = []
        rng = random.Random(7)
        for _ in range(a.joins):
            for kind, query in (("video", "?video=h264"), ("jpeg", "?frames=inline")):
                time.sleep(rng.uniform(0.2, 1.2))
                r = Reader(base + query, until_first_shown=True)
                r.start()
                r.join(10)
                r.stop = True
                if r.opened and r.first_shown:
                    joins[kind].append(1000 * (r.first_shown - r.opened))
                    if kind == "video":
                        decode_only.append(r.decode_only_before_first)
        jpeg.stop = video.stop = True
        jpeg.join(5)
        video.join(5)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(10)
        server.cleanup()

    for r in (jpeg, video):
        if r.error:
            print("viewer error: %s" % r.error, file=sys.stderr)
    win = jpeg.window
    in_win = lambda items: [i for i in items if win[0] <= i[0] < win[1]]  # noqa: E731
    j_items = in_win(jpeg.items)
    v_items = [i for i in in_win(video.items) if i[1].get("type") == "video"]
    jpeg_at = {h.get("seq"): (t, p) for t, h, p in j_items}
    shown_v = [(t, h, p) for t, h, p in v_items if not h.get("decode_only")]
    # Extra delay of each unit over the same picture's JPEG, bucketed by arrival.
    buckets = {}
    for t, h, _ in shown_v:
        if h.get("seq") in jpeg_at:
            b = int((t - win[0]) // a.bucket_s)
            buckets.setdefault(b, []).append(1000 * (t - jpeg_at[h["seq"]][0]))
    # SSIM over the units from the window's first keyframe, against the same seqs' JPEGs.
    start = next((k for k, (_, h, _) in enumerate(v_items) if h.get("key")), None)
    units = v_items[start:] if start is not None else []
    matched = [u for u in units if u[1].get("seq") in jpeg_at]
    y = all_planes = float("nan")
    info = {}
    if units and len(matched) == len(units):
        y, all_planes, info = ssim([u[2] for u in units],
                                   [jpeg_at[u[1]["seq"]][1] for u in units], tmp)
    shutil.rmtree(tmp, ignore_errors=True)

    interval = 1000.0 / a.fps
    jb, vb = jpeg.bytes / a.seconds, video.bytes / a.seconds
    keys = [u for u in v_items if u[1].get("key")]
    print("video path: look %s, %g fps pushed, %gs window, 640x480 camera clip of %d frames"
          % (a.look, a.fps, a.seconds, len(frames)))
    print("| path | pictures | bytes/s per viewer | kbit/s | bytes per picture |")
    print("|---|---|---|---|---|")
    print("| JPEG (inline) | %d | %.0f | %.0f | %.0f |" % (
        len(j_items), jb, jb * 8 / 1000, jb * a.seconds / max(1, len(j_items))))
    print("| H.264 (?video=h264) | %d (%d keyframes) | %.0f | %.0f | %.0f |" % (
        len(v_items), len(keys), vb, vb * 8 / 1000, vb * a.seconds / max(1, len(v_items))))
    print("bytes JPEG : H.264 = %.2fx; SSIM of the decoded video against the JPEGs "
          "(ffmpeg ssim, %d pictures): Y %.3f, All %.3f; ffprobe: %s" % (
              jb / vb if vb else float("nan"), len(units), y, all_planes, json.dumps(info)))
    print("extra delay of the H.264 unit over the same picture's JPEG, at the viewer "
          "(limit one frame interval + 15 ms = %.0f ms):" % (interval + 15))
    print("| bucket | units | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|")
    worst = 0.0
    for b in sorted(buckets):
        d = buckets[b]
        worst = max(worst, pct(d, 99))
        print("| %ds | %d | %.1f | %.1f | %.1f |" % (int(b * a.bucket_s), len(d), pct(d, 50),
                                                     pct(d, 99), max(d)))
    print("server CPU: JPEG viewer alone %.1f %% of a core, with the video viewer %.1f %% "
          "(+%.1f); encoder threads %s" % (
              100 * cpu_jpeg_only, 100 * cpu_both, 100 * (cpu_both - cpu_jpeg_only),
              "%.1f %% of a core" % (100 * enc) if enc else "not named"))
    print("time to first picture, %d joins each (ms): video p50 %.0f max %.0f (decode-only "
          "units before it: mean %.1f, max %d); JPEG p50 %.0f max %.0f" % (
              a.joins, pct(joins["video"], 50), pct(joins["video"], 100),
              statistics.mean(decode_only) if decode_only else float("nan"),
              max(decode_only) if decode_only else -1, pct(joins["jpeg"], 50),
              pct(joins["jpeg"], 100)))
    ok = vb > 0 and jb / vb >= 3 and y >= 0.95 and worst <= interval + 15
    print("RESULT %s: >= 3x fewer bytes %s, SSIM Y >= 0.95 %s, extra delay p99 <= %.0f ms %s" % (
        "PASS" if ok else "FAIL", vb > 0 and jb / vb >= 3, y >= 0.95, interval + 15,
        worst <= interval + 15))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
