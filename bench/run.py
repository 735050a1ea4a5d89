#!/usr/bin/env python3
"""DreamStream performance benchmarks (issue 3). See docs/performance.md.

    python3 bench/run.py lag [--model-ms 500] [--minutes 3]
    python3 bench/run.py fanout [--viewers 100,500,1000,2000] [--seconds 10]
                                [--format split|inline|video] [--repeat 1] [--pin SERVER:LOAD]
    python3 bench/run.py worker [--seconds 10]

Env: DREAMSTREAM_BIN (server binary, default build-bench/dreamstream), BENCH_WS (the load tool,
default build-bench/bench_ws), VIDEO_BYTES (for `--format video`'s camera clip, default
build-bench/video_bytes). Every run starts its own servers on ephemeral loopback ports.
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
os.environ.setdefault("DREAMSTREAM_BIN", os.path.join(ROOT, "build-bench", "dreamstream"))
import harness  # noqa: E402
from harness import cpu_seconds, cpu_times, rss_kib  # noqa: E402

BENCH_WS = os.environ.get("BENCH_WS", os.path.join(ROOT, "build-bench", "bench_ws"))
VIDEO_BYTES = os.environ.get("VIDEO_BYTES", os.path.join(ROOT, "build-bench", "video_bytes"))
TOKEN = "dsw_bench_0123456789abcdef0123456789"
FIXTURES = [os.path.join(ROOT, "tests", "integration", "fixtures", "frame%d.jpg" % i)
            for i in range(1, 5)]


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def pct(values, p):
    if not values:
        return 0
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def start_server():
    server = harness.Server(args=["--builtin-workers", "0", "--worker-token", TOKEN,
                                  "--max-connections-per-address", "0",
                                  # The same JPEG again and again: never skip it.
                                  "--skip-similar", "0"])
    server.start()
    c = server.client()
    user = harness.register(c)
    st, _, body = c.post("/api/me/stream-key")
    assert st == 201, body
    return server, user["username"], body["stream_key"]


def ws_url(port, path):
    return "ws://127.0.0.1:%d%s" % (port, path)


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---- 1. lag -------------------------------------------------------------------------------
def fifo_ages(n_frames, fps, model_ms, horizon_ms):
    """A naive FIFO: every frame queued, processed one at a time. (output_time_ms, age_ms)."""
    out, free_at = [], 0.0
    for i in range(n_frames):
        arrival = i * 1000.0 / fps
        done = max(arrival, free_at) + model_ms
        free_at = done
        if done > horizon_ms:
            break
        out.append((done, done - arrival))
    return out


def cmd_lag(a):
    tmp = tempfile.mkdtemp(prefix="ds-bench-lag-")
    server, user, key = start_server()
    secs = a.minutes * 60.0
    procs = []
    try:
        worker = subprocess.Popen([harness.binary_path(), "worker", "--server",
                                   ws_url(server.port, ""), "--token", TOKEN,
                                   "--simulate-ms", str(a.model_ms)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(worker)
        dump = os.path.join(tmp, "frames.txt")
        viewer = subprocess.Popen([BENCH_WS, "view", "--url", ws_url(server.port, "/ws/watch/" + user),
                                   "--n", "1", "--warmup", "0", "--duration", str(secs + 3),
                                   "--dump", dump], stdout=subprocess.PIPE, text=True)
        procs.append(viewer)
        viewer.stdout.readline()  # READY
        pub = subprocess.Popen([BENCH_WS, "publish", "--url", ws_url(server.port, "/ws/ingest"),
                                "--bearer", key, "--fps", str(a.fps), "--duration", str(secs)]
                               + sum((["--file", f] for f in FIXTURES), []),
                               stdout=subprocess.PIPE, text=True)
        procs.append(pub)
        pub_out = json.loads(pub.stdout.read() or "{}")
        viewer.wait(secs + 60)
        rows = [list(map(int, line.split())) for line in open(dump)]
    finally:
        for p in procs:
            stop(p)
        server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)

    rows = [r for r in rows if r[1] > 0 and r[2] > 0]
    t0 = min(r[1] for r in rows) if rows else 0
    # Only frames shown while frames were still being pushed: after the pusher stops, its
    # last frame waits for the busy worker, which says nothing about steady-state lag.
    rows = [r for r in rows if r[2] <= t0 + secs * 1000.0]
    bucket_ms = a.bucket_s * 1000.0
    ours = {}
    for recv, captured, processed, _seq, _size in rows:
        ours.setdefault(int((processed - t0) // bucket_ms), []).append(processed - captured)
    fifo = {}
    n_sent = pub_out.get("sent", int(secs * a.fps))
    for done, age in fifo_ages(n_sent, a.fps, a.model_ms, secs * 1000.0):
        fifo.setdefault(int(done // bucket_ms), []).append(age)
    limit = a.model_ms + 2 * 1000.0 / a.fps + 20
    print("lag: model %d ms, %g fps pushed (%d frames sent), %d frames shown, bucket %gs, "
          "p99 limit %.0f ms" % (a.model_ms, a.fps, n_sent, len(rows), a.bucket_s, limit))
    print("%-8s | %28s | %28s" % ("", "DreamStream age ms", "naive FIFO age ms"))
    print("%-8s | %6s %6s %6s %7s | %6s %6s %6s %7s" % ("bucket", "n", "p50", "p99", "max",
                                                         "n", "p50", "p99", "max"))
    ok = True
    p99s = []
    for b in sorted(set(ours) | set(fifo)):
        o, f = ours.get(b, []), fifo.get(b, [])
        print("%-8s | %6d %6.0f %6.0f %7.0f | %6d %6.0f %6.0f %7.0f" % (
            "%ds" % int(b * a.bucket_s), len(o), pct(o, 50), pct(o, 99), pct(o, 100),
            len(f), pct(f, 50), pct(f, 99), pct(f, 100)))
        if o and len(o) >= 3:
            p99s.append(pct(o, 99))
            ok = ok and pct(o, 99) <= limit
    growing = len(p99s) >= 2 and p99s[-1] > p99s[0] + 2 * 1000.0 / a.fps
    print("RESULT %s: p99 %s limit %.0f ms in every bucket; %s" % (
        "PASS" if ok and not growing else "FAIL", "within" if ok else "OVER", limit,
        "growing" if growing else "not growing"))
    return 0 if ok and not growing else 1


# ---- 2. fan-out ---------------------------------------------------------------------------
def run_viewers(url, n, seconds, pid):
    """Runs `bench_ws view`; samples the server's CPU and peak RSS over the window."""
    p = subprocess.Popen([BENCH_WS, "view", "--url", url, "--n", str(n),
                          "--duration", str(seconds)], stdout=subprocess.PIPE, text=True)
    ready = p.stdout.readline()
    time.sleep(1.0)  # the tool's warm-up
    (u0, s0), t0, peak = cpu_times(pid), time.monotonic(), 0
    while p.poll() is None and time.monotonic() - t0 < seconds:
        peak = max(peak, rss_kib(pid))
        time.sleep(0.5)
    u1, s1 = cpu_times(pid)
    span = time.monotonic() - t0
    out = json.loads(p.stdout.read().strip().splitlines()[-1])
    p.wait()
    out.update(ready=ready.strip(), server_cpu_pct=100 * (u1 - u0 + s1 - s0) / span,
               server_user_pct=100 * (u1 - u0) / span, server_sys_pct=100 * (s1 - s0) / span,
               server_rss_mib=peak / 1024.0)
    return out


def idle_viewer_kib(url, n, pid):
    base = rss_kib(pid)
    p = subprocess.Popen([BENCH_WS, "view", "--url", url, "--n", str(n), "--warmup", "0",
                          "--duration", "3"], stdout=subprocess.PIPE, text=True)
    p.stdout.readline()
    time.sleep(1.5)
    after = rss_kib(pid)
    p.wait(30)
    return (after - base) / float(n)


def cpu_set(spec):
    """'0' or '0-1' or '0,2' -> a set of CPU numbers."""
    cpus = set()
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


def pinned(cpus):
    """Processes started after this inherit the CPU set (None: leave it as it is)."""
    if cpus is not None:
        os.sched_setaffinity(0, cpus)


def cmd_fanout(a):
    hard = raise_nofile()
    # --pin S:L: both servers run on CPUs S, everything else (the viewers' load tool, the
    # publishers, the echo worker) on CPUs L, so the servers do not compete with the tool that
    # receives their output (on a small machine that competition decides the tail latency).
    all_cpus = os.sched_getaffinity(0)
    server_cpus, load_cpus = (None, None)
    if a.pin:
        s_spec, _, l_spec = a.pin.partition(":")
        server_cpus, load_cpus = cpu_set(s_spec), cpu_set(l_spec)
    tmp = tempfile.mkdtemp(prefix="ds-bench-fanout-")
    video = a.format == "video"
    if video:
        # A moving camera clip (a still picture would encode to almost nothing): the echo
        # worker hands it back as it came, so JPEG viewers get these JPEGs and video viewers
        # their H.264 encoding; node-ws relays the same JPEGs inline.
        cam = os.path.join(tmp, "camera")
        os.mkdir(cam)
        subprocess.run([VIDEO_BYTES, "--camera", cam, "--seconds", "20", "--fps",
                        str(int(a.fps))], check=True, stdout=subprocess.DEVNULL)
        files = sorted(os.path.join(cam, f) for f in os.listdir(cam))
        size = int(statistics.mean(os.path.getsize(f) for f in files))
    else:
        big = os.path.join(tmp, "frame50k.jpg")
        size = json.loads(subprocess.check_output([BENCH_WS, "make-jpeg", "--out", big,
                                                   "--kb", "50"]))["bytes"]
        files = [big]
    file_args = sum((["--file", f] for f in files), [])
    counts = [int(x) for x in a.viewers.split(",")]
    inline = a.format in ("inline", "video")
    watch_query = "?frames=inline" if inline else ""
    series = [("dreamstream", watch_query)] + ([("dreamstream-video", "?video=h264")]
                                               if video else [])
    # Generous: the sources are stopped at the end anyway (connecting 2000 sockets to a busy
    # server can take tens of seconds).
    run_s = a.repeat * len(counts) * 2 * (a.seconds + 60) + 120
    results = []
    procs = []
    pinned(server_cpus)
    server, user, key = start_server()
    node_dir = os.path.join(HERE, "node-baseline")
    try:
        port_file = os.path.join(tmp, "node.port")
        node = subprocess.Popen(["node", os.path.join(node_dir, "relay.mjs"), port_file],
                                stdout=subprocess.DEVNULL)
        procs.append(node)
        pinned(load_cpus)
        idle_c = server.client()
        idle_user = harness.register(idle_c)["username"]
        procs.append(subprocess.Popen([BENCH_WS, "echo-worker", "--url",
                                       ws_url(server.port, "/ws/worker"), "--bearer", TOKEN,
                                       "--duration", str(run_s)], stdout=subprocess.DEVNULL))
        procs.append(subprocess.Popen([BENCH_WS, "publish", "--url",
                                       ws_url(server.port, "/ws/ingest"), "--bearer", key,
                                       "--fps", str(a.fps), "--duration", str(run_s)]
                                      + file_args, stdout=subprocess.DEVNULL))
        while not os.path.exists(port_file) or not open(port_file).read().strip():
            time.sleep(0.05)
        nport = int(open(port_file).read())
        # The same messages per frame as DreamStream sends its viewers in this format: a
        # "frame" text then the JPEG, or one binary with the frame JSON inline.
        procs.append(subprocess.Popen([BENCH_WS, "publish", "--url", ws_url(nport, "/pub"),
                                       "--" + ("inline" if inline else "meta"), "--fps",
                                       str(a.fps), "--duration", str(run_s)] + file_args,
                                      stdout=subprocess.DEVNULL))
        time.sleep(2)
        idle = {"dreamstream": idle_viewer_kib(ws_url(server.port, "/ws/watch/" + idle_user
                                                      + watch_query), a.idle, server.proc.pid),
                "node-ws": idle_viewer_kib(ws_url(nport, "/idle"), a.idle, node.pid)}
        for rep in range(a.repeat):
            for n in counts:
                points = [(name, ws_url(server.port, "/ws/watch/" + user + query),
                           server.proc.pid) for name, query in series]
                for name, url, pid in points + [("node-ws", ws_url(nport, "/sub"), node.pid)]:
                    r = run_viewers(url, n, a.seconds, pid)
                    r["server"] = name
                    r["run"] = rep + 1
                    results.append(r)
                    print(json.dumps(r), file=sys.stderr)
    finally:
        for p in procs:
            stop(p)
        server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
        os.sched_setaffinity(0, all_cpus)
    print("fan-out: one stream, %s%d-byte JPEG at %g fps, %s frames (%s), %gs window per point, "
          "nofile %d%s" % ("a moving camera clip of %d frames, mean " % len(files) if video else "",
                           size, a.fps, a.format,
                           "1 binary message per frame" if inline else "a text + a binary per frame",
                           a.seconds, hard,
                           ", servers on CPUs %s, load on CPUs %s" % (
                               sorted(server_cpus), sorted(load_cpus)) if a.pin else ""))
    print("| server | run | viewers | connected | fps/viewer mean | fps p10 | fps min "
          "| latency p50 ms | p99 ms | max ms | CPU % | user % | sys % | RSS MiB | kbit/s per viewer |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print("| %s | %d | %d | %d | %.2f | %.2f | %.2f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f "
              "| %.1f | %.0f |" % (
                  r["server"], r["run"], r["viewers"], r["connected"], r["fps_mean"],
                  r["fps_p10"], r["fps_min"], r["latency_p50_ms"], r["latency_p99_ms"],
                  r["latency_max_ms"], r["server_cpu_pct"], r["server_user_pct"],
                  r["server_sys_pct"], r["server_rss_mib"],
                  r.get("bytes_per_viewer_s", 0) * 8 / 1000))
    if a.repeat > 1:
        print("medians over %d runs:" % a.repeat)
        print("| server | viewers | fps/viewer mean | p50 ms | p99 ms | CPU % | user % | sys % |")
        print("|---|---|---|---|---|---|---|---|")
        for n in counts:
            for name in [s for s, _ in series] + ["node-ws"]:
                rs = [r for r in results if r["server"] == name and r["viewers"] == n]
                med = lambda k: statistics.median([r[k] for r in rs])  # noqa: E731
                print("| %s | %d | %.2f | %.0f | %.0f | %.0f | %.0f | %.0f |" % (
                    name, n, med("fps_mean"), med("latency_p50_ms"), med("latency_p99_ms"),
                    med("server_cpu_pct"), med("server_user_pct"), med("server_sys_pct")))
    print("memory per idle viewer (%d idle connections): dreamstream %.1f KiB, node-ws %.1f KiB"
          % (a.idle, idle["dreamstream"], idle["node-ws"]))
    return 0


# ---- 3. worker path -----------------------------------------------------------------------
def cmd_worker(a):
    results = {}
    for kind in ("echo", "cpu"):
        server, user, key = start_server()
        procs = []
        try:
            if kind == "echo":
                w = subprocess.Popen([BENCH_WS, "echo-worker", "--url",
                                      ws_url(server.port, "/ws/worker"), "--bearer", TOKEN,
                                      "--duration", str(a.seconds + 2)],
                                     stdout=subprocess.PIPE, text=True)
            else:
                w = subprocess.Popen([harness.binary_path(), "worker", "--server",
                                      ws_url(server.port, ""), "--token", TOKEN,
                                      "--simulate-ms", "0"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
            procs.append(w)
            viewer = subprocess.Popen([BENCH_WS, "view", "--url",
                                       ws_url(server.port, "/ws/watch/" + user), "--n", "1",
                                       "--warmup", "1", "--duration", str(a.seconds - 1)],
                                      stdout=subprocess.PIPE, text=True)
            procs.append(viewer)
            viewer.stdout.readline()
            pub = subprocess.Popen([BENCH_WS, "publish", "--url",
                                    ws_url(server.port, "/ws/ingest"), "--bearer", key, "--fps",
                                    str(a.push_fps), "--duration", str(a.seconds)]
                                   + sum((["--file", f] for f in FIXTURES), []),
                                   stdout=subprocess.PIPE, text=True)
            procs.append(pub)
            cpu0 = cpu_seconds(server.proc.pid)
            pub_out = json.loads(pub.stdout.read())
            cpu = (cpu_seconds(server.proc.pid) - cpu0) / pub_out["seconds"]
            v_out = json.loads(viewer.stdout.read().strip().splitlines()[-1])
            r = {"pushed_per_s": pub_out["sent_per_s"], "shown_per_s": v_out["fps_mean"],
                 "processed_back_to_ingest_per_s": pub_out["received_per_s"],
                 "server_cpu_pct": 100 * cpu}
            if kind == "echo":
                server.stop()  # the echo worker reports when its socket closes
                w_out = w.stdout.read().strip().splitlines()
                if w_out:
                    r["worker_jobs_per_s"] = json.loads(w_out[-1])["jobs_per_s"]
            results[kind] = r
        finally:
            for p in procs:
                stop(p)
            server.cleanup()
    print("worker path: one worker connection, %s fps pushed (0 = flat out), %ds"
          % (a.push_fps, a.seconds))
    for kind, r in results.items():
        print("%-5s %s" % (kind, json.dumps(r)))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("lag")
    p.add_argument("--model-ms", type=int, default=500)
    p.add_argument("--minutes", type=float, default=3.0)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--bucket-s", type=float, default=60.0)
    p = sub.add_parser("fanout")
    p.add_argument("--viewers", default="100,500,1000,2000")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--fps", type=float, default=10.0)
    p.add_argument("--idle", type=int, default=1000)
    p.add_argument("--format", choices=("split", "inline", "video"), default="inline",
                   help="frames to viewers: split (a text + a binary) or inline (one binary); "
                        "video: a moving clip, DreamStream's inline JPEG and ?video=h264 "
                        "viewers side by side with node-ws")
    p.add_argument("--repeat", type=int, default=1, help="runs of every point, same servers")
    p.add_argument("--pin", default="", metavar="SERVER:LOAD",
                   help="CPU sets, e.g. 0:1: both servers on CPU 0, the load tool and the "
                        "publishers on CPU 1")
    p = sub.add_parser("worker")
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--push-fps", type=float, default=2000)
    a = ap.parse_args()
    return {"lag": cmd_lag, "fanout": cmd_fanout, "worker": cmd_worker}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
