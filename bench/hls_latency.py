#!/usr/bin/env python3
"""Glass-to-glass delay at an hls.js player in Chromium, low-latency parts against a plain HLS
player, side by side in one run (issue 23, item 4; docs/performance.md "HLS").

    python3 bench/hls_latency.py [--joins 6] [--seconds 20] [--warm 10] [--fps 10] [--look toon]
                                 [--behind-nginx N]

One server with its built-in CPU worker (bench/hls_stream.py: the moving camera clip pushed at
--fps, the stream's look --look, default HLS settings: 2 s segments, 500 ms parts). One Chromium
page plays /u/NAME/live.m3u8 in two <video>s at once with the vendored hls.js
(bench/hls_latency.mjs): `lowLatencyMode: true` (parts, blocking reloads: the pages' player)
and `lowLatencyMode: false` (a plain HLS player). A player keeps the delay it starts with, so
both join afresh --joins times at random moments; for each picture each one presents, after
--warm seconds and for --seconds of each join:

    delay = when the browser presents the picture − when its camera frame reached the server

(the capture time is the server's `captured_ms`, which the playlist carries as each segment's
EXT-X-PROGRAM-DATE-TIME; the browser maps it to each picture by hls.js's `playingDate`; one
clock, one machine). Printed: p50/p95/p99/max over all joins' pictures per player against the
issue's goals (LL about 2 s, plain about 6 s), each join's median, hls.js's own `latency`
estimate, stalls; and, from the same run, the
media bytes per minute of the segments the server made (what a recording keeps).

With --behind-nginx N the page and both players go through deploy/nginx-hls-cache.conf (as
bench/hls_origin.py runs it) while N light LL-HLS clients of bench/hls_origin.py play through
the same cache for the whole run: the delay of a player that shares the cache with others.

Env: as bench/hls_stream.py; CHROMIUM_BIN (default /usr/bin/chromium). Needs
tests/browser/node_modules (scripts/setup.sh --test).
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from hls_stream import LiveHls, get, pct  # noqa: E402
from harness import cpu_seconds  # noqa: E402
from hls_origin import Nginx, run_clients  # noqa: E402

GOALS_S = {"ll": 2.0, "plain": 6.0}  # issue 23: "about 2 s", "about 6 s"


class SegmentBytes(threading.Thread):
    """Sizes of the complete segments the origin lists, polled every few seconds (the window
    holds 6 segments, about 12 s) so that every segment of the run is counted once."""

    def __init__(self, live):
        super().__init__(daemon=True)
        self.live, self.stop, self.seen = live, False, {}

    def run(self):
        base = self.live.url.rsplit("/", 1)[0] + "/"
        while not self.stop:
            for msn, (dur, uri) in self.live.segments().items():
                if msn not in self.seen:
                    st, _, body = get(base + uri)
                    if st == 200:
                        self.seen[msn] = (dur, len(body))
            time.sleep(4)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--joins", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--warm", type=float, default=10.0)
    ap.add_argument("--fps", type=float, default=10.0)
    ap.add_argument("--look", default="toon")
    ap.add_argument("--behind-nginx", type=int, default=0, metavar="N",
                    help="play through the nginx cache beside N light LL clients")
    a = ap.parse_args()

    run_s = a.joins * (a.warm + a.seconds + 2)
    with LiveHls(fps=a.fps, look=a.look, seconds=run_s + 60) as live:
        sizes = SegmentBytes(live)
        sizes.start()
        nginx, origin, crowd = None, live.origin, None
        if a.behind_nginx:
            nginx = Nginx(live.server.port)
            origin = nginx.url
            crowd = threading.Thread(target=lambda: asyncio.run(run_clients(
                a.behind_nginx, nginx.port, live.path, 0, run_s + 20, 0)), daemon=True)
            crowd.start()
        pid = live.server.proc.pid
        load0, cpu0, t0 = os.getloadavg()[0], cpu_seconds(pid), time.monotonic()
        out = subprocess.run(
            ["node", os.path.join(HERE, "hls_latency.mjs"), "--origin", origin, "--path",
             live.path, "--joins", str(a.joins), "--warm", str(a.warm), "--seconds",
             str(a.seconds)], capture_output=True, text=True, timeout=run_s + 120)
        server_cpu = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
        load1 = os.getloadavg()[0]
        sizes.stop = True
        if nginx:
            nginx.stop()  # the crowd's clients end with their connections refused
        if out.returncode != 0:
            print(out.stdout, out.stderr, file=sys.stderr)
            return 1
        r = json.loads(out.stdout.strip().splitlines()[-1])

    print("HLS glass-to-glass: %g fps camera clip, look %s, %d joins of %gs after %gs; %s; %s"
          % (a.fps, a.look, a.joins, a.seconds, a.warm, r["userAgent"],
             "through nginx beside %d LL clients" % a.behind_nginx if a.behind_nginx
             else "straight from the origin"))
    print("delay = presentation in Chromium − the camera frame's arrival at the server "
          "(EXT-X-PROGRAM-DATE-TIME via hls.js playingDate), per presented picture")
    print("| player | pictures | p50 s | p95 s | p99 s | max s | goal | median of each join s "
          "| hls.js latency p50 s | waiting events | dropped | errors |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    ok = True
    for name, label in (("ll", "hls.js lowLatencyMode (parts)"),
                        ("plain", "hls.js lowLatencyMode:false (segments)")):
        runs = r[name]
        d = [s[1] / 1000 for j in runs for s in j["samples"]]
        est = [s[2] for j in runs for s in j["samples"] if s[2] is not None]
        each = " ".join("%.2f" % pct([s[1] / 1000 for s in j["samples"]], 50) for j in runs)
        met = bool(d) and pct(d, 50) <= GOALS_S[name] * 1.1
        ok = ok and met
        errors = {}
        for e in (e for j in runs for e in j["errors"]):
            errors[e] = errors.get(e, 0) + 1
        print("| %s | %d | %.2f | %.2f | %.2f | %.2f | about %g s: %s | %s | %.2f | %d | %d | %s |"
              % (label, len(d), pct(d, 50), pct(d, 95), pct(d, 99), max(d) if d else float("nan"),
                 GOALS_S[name], "met" if met else "MISSED", each, pct(est, 50),
                 sum(j["waiting"] for j in runs), sum(j["dropped"] for j in runs),
                 json.dumps(errors) if errors else "none"))
    if r["problems"]:
        print("page problems: %s" % r["problems"])
    segs = sorted(sizes.seen.items())
    dur = sum(d for _, (d, _) in segs)
    size = sum(n for _, (_, n) in segs)
    if dur:
        print("segments made: %d (msn %d-%d), %.1f s of media, %d bytes: %.0f bytes per minute "
              "(%.2f MiB), %.0f kbit/s" % (len(segs), segs[0][0], segs[-1][0], dur, size,
                                            size / dur * 60, size / dur * 60 / 2**20,
                                            size / dur * 8 / 1000))
    print("server CPU %.1f %% of a core over the run; load average %.1f -> %.1f"
          % (100 * server_cpu, load0, load1))
    print("RESULT %s" % ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
