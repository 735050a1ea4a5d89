#!/usr/bin/env python3
"""Skipping unchanged frames (issue 11): model jobs with and without --skip-similar.

    python3 bench/skip.py [--model-ms 100] [--still-s 20] [--moving-s 20] [--fps 30]

A camera that is still for --still-s seconds (one scene under fresh sensor noise, re-encoded
every frame) then pans for --moving-s seconds, pushed at --fps to a server with one built-in
worker whose model takes --model-ms more than its CPU look; run twice, --skip-similar 0 and
the default. Reports model jobs per minute in each phase, the thumbnail scores the hub saw
(bench/skip_frames), and the frame age when motion resumes, which must stay within
model + one frame interval + 20 ms. Figures: docs/performance.md, "Skipping unchanged frames".

Env: DREAMSTREAM_BIN (server, default build/dreamstream), SKIP_FRAMES (default
build/skip_frames), SKIP_DUMP (a path: each run's outputs as JSON [seq, captured_ms,
processed_ms, model_ms] go to PATH.off and PATH.on).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
os.environ.setdefault("DREAMSTREAM_BIN", os.path.join(ROOT, "build", "dreamstream"))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))
from run import harness, pct  # noqa: E402  (run.py puts tests/integration on the path)
import dreamstream as ds  # noqa: E402

SKIP_FRAMES = os.environ.get("SKIP_FRAMES", os.path.join(ROOT, "build", "skip_frames"))


def metrics(server):
    r = server.client().get("/metrics")
    assert r.status == 200, r.status
    out = {}
    for line in r.text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def run_once(a, frames, skip_args):
    server = harness.Server(args=["--builtin-workers", "1", "--builtin-simulate-ms",
                                  str(a.model_ms)] + skip_args)
    server.start()
    try:
        c = server.client()
        user = harness.register(c)
        st, _, body = c.post("/api/me/stream-key")
        assert st == 201, body
        name = user["username"]
        viewer = ds.Viewer(server.url, name).connect()
        shown = []  # (seq, captured_ms, processed_ms, model ms of that job)
        stop = threading.Event()

        def watch():
            while not stop.is_set():
                try:
                    kind, data = viewer.recv(timeout=0.5)
                except TimeoutError:
                    continue
                except ds.ConnectionClosed:
                    return
                if kind == "frame":
                    t = (data.info or {}).get("timings") or {}
                    model = sum(t.get(k, 0) for k in ("decode_ms", "infer_ms", "encode_ms"))
                    shown.append((data.seq, data.captured_ms, data.processed_ms, model))
                elif kind == "close":
                    return

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        streamer = ds.Streamer(server.url, body["stream_key"]).connect()
        marks = []  # metrics at the start, at motion and at the end
        t0 = time.monotonic()
        for i, jpeg in enumerate(frames):
            if i == 0 or i == a.n_still:
                marks.append(metrics(server))
            delay = t0 + i / a.fps - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            streamer.send_jpeg(jpeg)
        streamer.flush()
        marks.append(metrics(server))
        time.sleep(0.5 + a.model_ms / 1000.0)
        status = streamer.status or {}
        streamer.close()
        stop.set()
        watcher.join(5)
        viewer.close()
    finally:
        server.stop()
        server.cleanup()

    def jobs(m0, m1, seconds):
        return 60.0 * (m1["dreamstream_jobs_sent_total"] - m0["dreamstream_jobs_sent_total"]) / seconds

    if os.environ.get("SKIP_DUMP"):  # every output the viewer got, for a closer look
        kind = "off" if skip_args == ["--skip-similar", "0"] else "on"
        with open("%s.%s" % (os.environ["SKIP_DUMP"], kind), "w") as f:
            json.dump(shown, f)
    first_moving = a.n_still + 1  # seq numbers start at 1, skipped frames included
    moving = [s for s in shown if s[0] >= first_moving]
    ages = [p - c for _, c, p, _ in moving]
    # Age less the job's own model time: how long the frame waited (mailbox, sockets).
    waits = [p - c - m for _, c, p, m in moving]
    first = moving[0] if moving else None
    return {
        "jobs_per_min_still": round(jobs(marks[0], marks[1], a.still_s)),
        "jobs_per_min_moving": round(jobs(marks[1], marks[2], a.moving_s)),
        "frames_skipped": int(marks[2].get("dreamstream_frames_skipped_total", 0)),
        "frames_in": int(marks[2]["dreamstream_frames_received_total"]),
        "model_ms": status.get("model_ms"),
        "first_moving_output": None if not first else {
            "frames_after_motion": first[0] - first_moving, "age_ms": first[2] - first[1],
            "model_ms": round(first[3]), "wait_ms": round(first[2] - first[1] - first[3])},
        "moving_age_ms": {"p50": pct(ages, 50), "p99": pct(ages, 99), "max": pct(ages, 100)},
        "moving_wait_ms": {"p50": round(pct(waits, 50)), "p99": round(pct(waits, 99)),
                           "max": round(pct(waits, 100))},
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-ms", type=int, default=100)
    ap.add_argument("--still-s", type=float, default=20)
    ap.add_argument("--moving-s", type=float, default=20)
    ap.add_argument("--fps", type=float, default=30)
    ap.add_argument("--noise", type=float, default=4, help="sensor noise, grey levels (sigma)")
    ap.add_argument("--skip-similar", default=None, help="threshold for the skipping run "
                    "(default: the server's default)")
    a = ap.parse_args()
    a.n_still = int(a.still_s * a.fps)
    tmp = tempfile.mkdtemp(prefix="ds-bench-skip-")
    try:
        gen = subprocess.run([SKIP_FRAMES, "--out", tmp, "--fps", str(a.fps), "--still-s",
                              str(a.still_s), "--moving-s", str(a.moving_s), "--noise",
                              str(a.noise)], check=True, capture_output=True, text=True)
        scores = json.loads(gen.stdout)
        names = sorted(os.listdir(tmp))
        frames = [open(os.path.join(tmp, n), "rb").read() for n in names]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("camera: %d frames 640x480 at %g fps, still %gs (noise sigma %g) then panning %gs; "
          "%.0f KB a frame; thumbnail %d us a frame" % (
              len(frames), a.fps, a.still_s, a.noise, a.moving_s,
              sum(map(len, frames)) / len(frames) / 1024, scores["thumbnail_us"]))
    for k in ("still_vs_first", "still_vs_previous", "moving_vs_previous"):
        s = scores[k]
        print("  change score %-19s n=%4d min %.4f p50 %.4f p99 %.4f max %.4f"
              % (k, s["n"], s["min"], s["p50"], s["p99"], s["max"]))
    on = [] if a.skip_similar is None else ["--skip-similar", a.skip_similar]
    results = {"off": run_once(a, frames, ["--skip-similar", "0"]), "on": run_once(a, frames, on)}
    print("%-4s | %9s %9s | %8s | %-26s | %-15s | %s" % (
        "skip", "jobs/min", "jobs/min", "skipped", "first output after motion",
        "moving age ms", "moving wait ms"))
    print("%-4s | %9s %9s | %8s | %-26s | %-15s | %s" % (
        "", "still", "moving", "frames", "frames late, age (model)", "p50 / p99 / max",
        "p50 / p99 / max"))
    for kind, r in results.items():
        f = r["first_moving_output"] or {}
        m, w = r["moving_age_ms"], r["moving_wait_ms"]
        print("%-4s | %9d %9d | %8d | %5s, %5s ms (%5s ms)   | %4d / %4d / %4d | %d / %d / %d"
              % (kind, r["jobs_per_min_still"], r["jobs_per_min_moving"], r["frames_skipped"],
                 f.get("frames_after_motion", "-"), f.get("age_ms", "-"), f.get("model_ms", "-"),
                 m["p50"], m["p99"], m["max"], w["p50"], w["p99"], w["max"]))
    # The usual bound of latest-wins: the job's own model time + a frame interval + 20 ms.
    first = results["on"]["first_moving_output"]
    limit = (first["model_ms"] if first else a.model_ms) + 1000.0 / a.fps + 20
    ok = first is not None and first["age_ms"] <= limit
    saving = results["off"]["jobs_per_min_still"] / max(1, results["on"]["jobs_per_min_still"])
    print("still scene: %.1fx fewer model jobs with skipping; moving: %d vs %d jobs/min"
          % (saving, results["on"]["jobs_per_min_moving"], results["off"]["jobs_per_min_moving"]))
    print("RESULT %s: first output after motion resumes %s ms old, limit %.0f ms "
          "(its model time + a frame interval + 20 ms)" % ("PASS" if ok else "FAIL",
                                                  first and first["age_ms"], limit))
    print(json.dumps(results))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
