#!/usr/bin/env python3
"""DreamStream many-node benchmarks (issue 10). See docs/performance.md, section 5.

    python3 bench/multinode.py lag [--model-ms 500] [--minutes 3] [--fps 30]
    python3 bench/multinode.py fanout [--viewers 1500] [--seconds 10] [--rounds 1]
    python3 bench/multinode.py worker [--seconds 10] [--push-fps 2000]
    python3 bench/multinode.py flood [--kb 50] [--seconds 12]
    python3 bench/multinode.py slots [--seconds 20] [--model-ms 50] [--delay-ms 25] [--fps 30]

Every mode starts a throwaway PostgreSQL, one Redis and three `serve` nodes
(tests/integration/cluster.py) and measures, in the same run, a single-node baseline:

- lag: ingest on node 1, the only worker (`dreamstream worker --simulate-ms M`) on node 2, the
  viewer on node 3; at the same time a standalone embedded server (no Redis, SQLite) with the
  same push, worker and viewer. p50/p99 frame age per bucket against model + 2 intervals + 25 ms.
- fanout: one stream (home node 1, echo worker on node 1) to N viewers spread evenly over the
  three nodes, and to N viewers all on node 1, alternating; delivery, latency, CPU per node.
- worker: jobs/s through one echo worker connected to another node than the stream's home,
  against the same worker on the home node and against a standalone embedded server.
- slots: slots across nodes (issue 21, 8). The stream's home is node 1, the viewer on node 3,
  and the only worker (`dreamstream worker --simulate-ms 50 --slots N`) reaches node 2 through
  bench/gpu.py's delay proxy (25 ms each way, order kept); one stream at 30 fps. Slots 1 and 2
  one after the other in the same run: the worker's busy fraction (model time / wall time, from
  the timings of every frame the viewer got) and the frame age, as `gpu.py pipeline` measures
  them on one node.

Redis `INFO commandstats` / `INFO stats` deltas are taken over every cluster measurement and
divided by the frames processed (and the frames pushed). Same env as bench/run.py:
DREAMSTREAM_BIN, BENCH_WS. Needs PostgreSQL, redis-server and python3-psycopg2.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

try:
    import psycopg2  # noqa: F401
except ImportError:  # e.g. a pyenv python3: Debian's python3 has python3-psycopg2
    if os.path.exists("/usr/bin/python3") and sys.executable != "/usr/bin/python3":
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402  (sets DREAMSTREAM_BIN's default and the harness path)
from run import (BENCH_WS, FIXTURES, TOKEN, pct, raise_nofile, start_server, stop,  # noqa: E402
                 ws_url)
import harness  # noqa: E402
from harness import cpu_seconds  # noqa: E402
from cluster import Cluster, Postgres  # noqa: E402

NODE_ARGS = ["--builtin-workers", "0", "--worker-token", TOKEN,
             "--max-connections-per-address", "0",
             "--skip-similar", "0"]  # the same JPEG again and again: never skip it


# ---- Redis counters ---------------------------------------------------------------------------
def redis_info(redis):
    """{'cmd:<name>': calls, 'usec:<name>': usec, 'in': bytes, 'out': bytes, 'ops': total}.
    redis: the cluster harness's Redis (it wants a password since issue 20)."""
    with redis.connect() as s:
        s.sendall(b"INFO commandstats\r\nINFO stats\r\n")
        data = b""
        bulks = 0
        # Two bulk replies: $<len>\r\n<body>\r\n each.
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            bulks = 0
            rest = data
            while rest.startswith(b"$"):
                head, _, tail = rest.partition(b"\r\n")
                n = int(head[1:])
                if len(tail) < n + 2:
                    break
                bulks += 1
                rest = tail[n + 2:]
            if bulks == 2:
                break
    out = {}
    for line in data.decode(errors="replace").splitlines():
        if line.startswith("cmdstat_"):
            name, _, fields = line[len("cmdstat_"):].partition(":")
            kv = dict(f.split("=", 1) for f in fields.split(","))
            out["cmd:" + name] = int(kv["calls"])
            out["usec:" + name] = int(kv["usec"])
        elif line.startswith("total_net_input_bytes:"):
            out["in"] = int(line.split(":")[1])
        elif line.startswith("total_net_output_bytes:"):
            out["out"] = int(line.split(":")[1])
        elif line.startswith("total_commands_processed:"):
            out["ops"] = int(line.split(":")[1])
    return out


def redis_delta(before, after):
    return {k: after.get(k, 0) - before.get(k, 0) for k in after
            if after.get(k, 0) - before.get(k, 0)}


def redis_line(label, d, frames, pushed=None, seconds=None):
    """One readable summary of a delta: ops and bytes per processed frame, top commands."""
    f = max(frames, 1)
    cmds = sorted(((k[4:], v) for k, v in d.items() if k.startswith("cmd:")),
                  key=lambda kv: -kv[1])
    s = ("%s: %d frames processed%s; Redis %d ops (%.2f/frame), in %d B (%.0f B/frame), "
         "out %d B (%.0f B/frame)" % (
             label, frames, ", %d pushed" % pushed if pushed is not None else "",
             d.get("ops", 0), d.get("ops", 0) / f, d.get("in", 0), d.get("in", 0) / f,
             d.get("out", 0), d.get("out", 0) / f))
    if pushed:
        s += "; per pushed frame %.2f ops, %.0f B in" % (d.get("ops", 0) / pushed,
                                                         d.get("in", 0) / pushed)
    if seconds:
        s += "; %.0f ops/s" % (d.get("ops", 0) / seconds)
    s += "\n    per processed frame: " + ", ".join("%s %.2f" % (c, n / f) for c, n in cmds)
    return s


def idle_redis(cl, seconds=5.0):
    b = redis_info(cl.redis)
    time.sleep(seconds)
    d = redis_delta(b, redis_info(cl.redis))
    return d, seconds


# ---- set-up -----------------------------------------------------------------------------------
def start_cluster(nodes=3):
    pg = Postgres().start()
    try:
        cl = Cluster(pg, nodes=nodes, node_args=NODE_ARGS).start()
    except Exception:
        pg.stop()
        raise
    return pg, cl


def new_streamer(node):
    """Registers a user through node and makes a stream key: (username, key)."""
    c = node.client()
    user = harness.register(c)
    st, _, body = c.post("/api/me/stream-key")
    assert st == 201, body
    return user["username"], body["stream_key"]


def publisher(port, key, fps, seconds, files=FIXTURES):
    return subprocess.Popen([BENCH_WS, "publish", "--url", ws_url(port, "/ws/ingest"),
                             "--bearer", key, "--fps", str(fps), "--duration", str(seconds)]
                            + sum((["--file", f] for f in files), []),
                            stdout=subprocess.PIPE, text=True)


def sim_worker(port, model_ms):
    return subprocess.Popen([harness.binary_path(), "worker", "--server", ws_url(port, ""),
                             "--token", TOKEN, "--simulate-ms", str(model_ms)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# ---- 1. lag across nodes ------------------------------------------------------------------------
def lag_rows(dump, secs):
    rows = [list(map(int, line.split())) for line in open(dump)]
    rows = [r for r in rows if r[1] > 0 and r[2] > 0]
    total = len(rows)
    t0 = min(r[1] for r in rows) if rows else 0
    return [r for r in rows if r[2] <= t0 + secs * 1000.0], t0, total


def cmd_lag(a):
    tmp = tempfile.mkdtemp(prefix="ds-bench-clag-")
    secs = a.minutes * 60.0
    pg, cl = start_cluster()
    single, s_user, s_key = start_server()  # the baseline: embedded, one node, no Redis
    procs = []
    try:
        n1, n2, n3 = cl.nodes
        user, key = new_streamer(n1)
        idle, idle_s = idle_redis(cl)
        setups = {"cluster": (n1, n2, n3, user, key), "single": (single, single, single,
                                                                  s_user, s_key)}
        viewers, pubs, dumps = {}, {}, {}
        for name, (ing, wrk, vw, u, k) in setups.items():
            procs.append(sim_worker(wrk.port, a.model_ms))
            dumps[name] = os.path.join(tmp, name + ".txt")
            v = subprocess.Popen([BENCH_WS, "view", "--url", ws_url(vw.port, "/ws/watch/" + u),
                                  "--n", "1", "--warmup", "0", "--duration", str(secs + 3),
                                  "--dump", dumps[name]], stdout=subprocess.PIPE, text=True)
            procs.append(v)
            viewers[name] = v
        for v in viewers.values():
            v.stdout.readline()  # READY
        r0 = redis_info(cl.redis)
        cpu0 = {n.node_id: cpu_seconds(n.proc.pid) for n in cl.nodes}
        cpu0["redis"] = cpu_seconds(cl.redis.proc.pid)
        cpu0["single"] = cpu_seconds(single.proc.pid)
        for name, (ing, wrk, vw, u, k) in setups.items():
            pubs[name] = publisher(ing.port, k, a.fps, secs)
            procs.append(pubs[name])
        pub_out = {name: json.loads(p.stdout.read() or "{}") for name, p in pubs.items()}
        r1 = redis_info(cl.redis)
        cpu = {n.node_id: cpu_seconds(n.proc.pid) - cpu0[n.node_id] for n in cl.nodes}
        cpu["redis"] = cpu_seconds(cl.redis.proc.pid) - cpu0["redis"]
        cpu["single"] = cpu_seconds(single.proc.pid) - cpu0["single"]
        for v in viewers.values():
            v.wait(secs + 60)
        rows = {}
        for name in setups:
            rows[name] = lag_rows(dumps[name], secs)
    finally:
        for p in procs:
            stop(p)
        single.cleanup()
        cl.cleanup()
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    limit = a.model_ms + 2 * 1000.0 / a.fps + 25
    bucket_ms = a.bucket_s * 1000.0
    buckets = {}
    for name, (rs, t0, _total) in rows.items():
        for recv, captured, processed, _seq, _size in rs:
            buckets.setdefault(int((processed - t0) // bucket_ms), {}).setdefault(
                name, []).append(processed - captured)
    print("lag across nodes: model %d ms, %g fps pushed, %gs, bucket %gs, p99 limit %.0f ms"
          % (a.model_ms, a.fps, secs, a.bucket_s, limit))
    print("  cluster: ingest %s, worker %s, viewer %s (Redis %s); single: one embedded node"
          % ("node-a", "node-b", "node-c", "yes"))
    print("| bucket | cluster n | p50 ms | p99 ms | max ms | single n | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    ok, p99s = {"cluster": True, "single": True}, {"cluster": [], "single": []}
    for b in sorted(buckets):
        cells = []
        for name in ("cluster", "single"):
            o = buckets[b].get(name, [])
            cells.append("%d | %.0f | %.0f | %.0f" % (len(o), pct(o, 50), pct(o, 99), pct(o, 100)))
            if len(o) >= 3:
                p99s[name].append(pct(o, 99))
                ok[name] = ok[name] and pct(o, 99) <= limit
        print("| %s–%s s | %s | %s |" % (int(b * a.bucket_s), int((b + 1) * a.bucket_s),
                                          cells[0], cells[1]))
    rc = 0
    for name in ("cluster", "single"):
        p = p99s[name]
        growing = len(p) >= 2 and p[-1] > p[0] + 2 * 1000.0 / a.fps
        passed = ok[name] and not growing and bool(p)
        rc |= 0 if passed else 1
        print("RESULT %s %s: p99 %s limit %.0f ms in every bucket; %s (p99s %s)" % (
            name, "PASS" if passed else "FAIL", "within" if ok[name] else "OVER", limit,
            "growing" if growing else "not growing", ", ".join("%.0f" % x for x in p)))
    print("pushed: cluster %s, single %s" % (pub_out["cluster"].get("sent"),
                                             pub_out["single"].get("sent")))
    print("CPU seconds over the push: " + ", ".join("%s %.1f" % kv for kv in cpu.items()))
    shown = rows["cluster"][2]
    d = redis_delta(r0, r1)
    print(redis_line("redis (cluster, lag)", d, shown, pub_out["cluster"].get("sent"), secs))
    print("    idle 3 nodes: %.1f ops/s, %.0f B/s in, %.0f B/s out (%s)" % (
        idle.get("ops", 0) / idle_s, idle.get("in", 0) / idle_s, idle.get("out", 0) / idle_s,
        ", ".join("%s %d" % (k[4:], v) for k, v in idle.items() if k.startswith("cmd:"))))
    return rc


# ---- 2. fan-out over nodes ----------------------------------------------------------------------
def fan_round(cl, targets, user, seconds, label):
    """targets: [(node, n)], one `bench_ws view` process each; all run at once."""
    procs = []
    for node, n in targets:
        procs.append((node, n, subprocess.Popen(
            [BENCH_WS, "view", "--url", ws_url(node.port, "/ws/watch/" + user), "--n", str(n),
             "--duration", str(seconds)], stdout=subprocess.PIPE, text=True)))
    ready = [p.stdout.readline().strip() for _, _, p in procs]
    time.sleep(1.0)  # the tool's warm-up
    pids = {n.node_id: n.proc.pid for n in cl.nodes}
    pids["redis"] = cl.redis.proc.pid
    cpu0 = {k: cpu_seconds(v) for k, v in pids.items()}
    r0 = redis_info(cl.redis)
    t0 = time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - t0
    cpu = {k: cpu_seconds(v) - cpu0[k] for k, v in pids.items()}
    d = redis_delta(r0, redis_info(cl.redis))
    outs = []
    for node, n, p in procs:
        o = json.loads(p.stdout.read().strip().splitlines()[-1])
        p.wait()
        o["node"] = node.node_id
        outs.append(o)
    total_n = sum(o["viewers"] for o in outs)
    frames = sum(o["frames_total"] for o in outs)
    win = max(o["window_s"] for o in outs)
    r = {"label": label, "viewers": total_n, "connected": sum(o["connected"] for o in outs),
         "fps_mean": sum(o["fps_mean"] * o["viewers"] for o in outs) / max(total_n, 1),
         "fps_min": min(o["fps_min"] for o in outs),
         "p50_max_ms": max(o["latency_p50_ms"] for o in outs),
         "p99_max_ms": max(o["latency_p99_ms"] for o in outs),
         "max_ms": max(o["latency_max_ms"] for o in outs),
         "per_proc": outs, "ready": ready, "cpu_s": cpu, "wall_s": wall, "redis": d,
         "delivered_per_s": frames / win}
    print(json.dumps(r), file=sys.stderr)
    return r


def cmd_fanout(a):
    hard = raise_nofile()
    tmp = tempfile.mkdtemp(prefix="ds-bench-cfan-")
    big = os.path.join(tmp, "frame50k.jpg")
    size = json.loads(subprocess.check_output([BENCH_WS, "make-jpeg", "--out", big,
                                               "--kb", "50"]))["bytes"]
    run_s = a.rounds * 2 * (a.seconds + 90) + 120
    pg, cl = start_cluster()
    procs, results = [], []
    try:
        n1 = cl.nodes[0]
        user, key = new_streamer(n1)
        procs.append(subprocess.Popen([BENCH_WS, "echo-worker", "--url",
                                       ws_url(n1.port, "/ws/worker"), "--bearer", TOKEN,
                                       "--duration", str(run_s)], stdout=subprocess.DEVNULL))
        pub = publisher(n1.port, key, a.fps, run_s, files=[big])
        procs.append(pub)
        time.sleep(2)
        per = a.viewers // 3
        spread = [(cl.nodes[0], a.viewers - 2 * per), (cl.nodes[1], per), (cl.nodes[2], per)]
        one = [(n1, a.viewers - 2 * per), (n1, per), (n1, per)]  # same client shape
        for i in range(a.rounds):
            results.append(fan_round(cl, one, user, a.seconds, "one node (home)"))
            time.sleep(2)
            results.append(fan_round(cl, spread, user, a.seconds, "three nodes"))
            time.sleep(2)
    finally:
        for p in procs:
            stop(p)
        cl.cleanup()
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print("fan-out across nodes: one stream, %d-byte JPEG at %g fps (home node-a, echo worker "
          "on node-a), %gs window, 3 bench_ws processes per point, nofile %d"
          % (size, a.fps, a.seconds, hard))
    print("| viewers on | viewers | connected | fps/viewer mean | fps min | p50 ms (worst proc) "
          "| p99 ms (worst proc) | max ms | CPU s node-a | node-b | node-c | redis |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        c = r["cpu_s"]
        print("| %s | %d | %d | %.2f | %.2f | %.0f | %.0f | %.0f | %.2f | %.2f | %.2f | %.2f |"
              % (r["label"], r["viewers"], r["connected"], r["fps_mean"], r["fps_min"],
                 r["p50_max_ms"], r["p99_max_ms"], r["max_ms"], c["node-a"], c["node-b"],
                 c["node-c"], c["redis"]))
    for r in results:
        print("  %s: per process %s" % (r["label"], "; ".join(
            "%s n=%d fps %.2f p50 %d p99 %d" % (o["node"], o["viewers"], o["fps_mean"],
                                                 o["latency_p50_ms"], o["latency_p99_ms"])
            for o in r["per_proc"])))
        frames = int(round(a.fps * r["wall_s"]))
        print("  " + redis_line("redis (%s)" % r["label"], r["redis"], frames, None, r["wall_s"]))
    return 0


# ---- 3. worker path across nodes ----------------------------------------------------------------
def worker_phase(ing_node, worker_node, view_node, user, key, a, cl=None):
    w = subprocess.Popen([BENCH_WS, "echo-worker", "--url", ws_url(worker_node.port, "/ws/worker"),
                          "--bearer", TOKEN, "--duration", str(a.seconds)],
                         stdout=subprocess.PIPE, text=True)
    procs = [w]
    try:
        viewer = subprocess.Popen([BENCH_WS, "view", "--url",
                                   ws_url(view_node.port, "/ws/watch/" + user), "--n", "1",
                                   "--warmup", "1", "--duration", str(a.seconds - 1)],
                                  stdout=subprocess.PIPE, text=True)
        procs.append(viewer)
        viewer.stdout.readline()
        pids = {"home": ing_node.proc.pid}
        if worker_node is not ing_node:
            pids["worker node"] = worker_node.proc.pid
        if view_node is not ing_node and view_node is not worker_node:
            pids["viewer node"] = view_node.proc.pid
        if cl is not None:
            pids["redis"] = cl.redis.proc.pid
        cpu0 = {k: cpu_seconds(v) for k, v in pids.items()}
        r0 = redis_info(cl.redis) if cl else None
        # The publisher outlives the echo worker by 2 s so the worker sees its --duration end
        # between jobs and reports.
        pub = publisher(ing_node.port, key, a.push_fps, a.seconds + 2)
        procs.append(pub)
        t_start = time.monotonic()
        w_out = json.loads(w.stdout.read().strip().splitlines()[-1])
        d = redis_delta(r0, redis_info(cl.redis)) if cl else None
        window = time.monotonic() - t_start
        cpu = {k: cpu_seconds(v) - cpu0[k] for k, v in pids.items()}
        pub_out = json.loads(pub.stdout.read())
        v_out = json.loads(viewer.stdout.read().strip().splitlines()[-1])
    finally:
        for p in procs:
            stop(p)
    return {"jobs": w_out["jobs"], "jobs_per_s": w_out["jobs_per_s"], "span_s": w_out["span_s"],
            "pushed_per_s": pub_out["sent_per_s"],
            "pushed": int(pub_out["sent_per_s"] * window),  # during the Redis window
            "shown_per_s": v_out["fps_mean"],
            "back_to_ingest_per_s": pub_out["received_per_s"], "cpu_s": cpu, "redis": d,
            "worker_error": w_out.get("error")}


def cmd_worker(a):
    results = []
    pg, cl = start_cluster()
    single = None
    try:
        n1, n2, n3 = cl.nodes
        for i in range(a.rounds):
            single, s_user, s_key = start_server()
            try:
                results.append(("single node (embedded, no Redis)",
                                worker_phase(single, single, single, s_user, s_key, a)))
            finally:
                single.cleanup()
            time.sleep(1)
            user, key = new_streamer(n1)
            results.append(("cluster, worker on the home node",
                            worker_phase(n1, n1, n1, user, key, a, cl)))
            time.sleep(1)
            user, key = new_streamer(n1)
            results.append(("cluster, worker on another node",
                            worker_phase(n1, n2, n1, user, key, a, cl)))
            time.sleep(1)
            user, key = new_streamer(n1)
            results.append(("cluster, ingest A / worker B / viewer C",
                            worker_phase(n1, n2, n3, user, key, a, cl)))
            time.sleep(1)
    finally:
        cl.cleanup()
        pg.stop()
    print("worker path across nodes: one echo worker, %s fps pushed (0 = flat out), %ds each"
          % (a.push_fps, a.seconds))
    print("| setup | pushed /s | jobs /s (worker) | shown /s (viewer) | back to ingest /s "
          "| CPU s (per process) |")
    print("|---|---|---|---|---|---|")
    for label, r in results:
        print("| %s | %.0f | **%.0f** | %.0f | %.0f | %s |" % (
            label, r["pushed_per_s"], r["jobs_per_s"], r["shown_per_s"],
            r["back_to_ingest_per_s"], ", ".join("%s %.1f" % kv for kv in r["cpu_s"].items())))
    for label, r in results:
        if r["redis"] is not None:
            print(redis_line("redis (%s)" % label, r["redis"], r["jobs"], r["pushed"],
                             r["span_s"]))
        if r["worker_error"]:
            print("  %s: worker error %s" % (label, r["worker_error"]))
    return 0


# ---- ingest flood: the home node's memory while one streamer pushes flat out -------------------
def cmd_flood(a):
    """One streamer pushes a --kb JPEG as fast as it can to node 1 (echo worker on node 1);
    the home node's and Redis's RSS once a second, and what came back to the streamer."""
    from harness import rss_kib
    tmp = tempfile.mkdtemp(prefix="ds-bench-flood-")
    big = os.path.join(tmp, "frame.jpg")
    size = json.loads(subprocess.check_output([BENCH_WS, "make-jpeg", "--out", big,
                                               "--kb", str(a.kb)]))["bytes"]
    pg, cl = start_cluster()
    procs = []
    try:
        n1 = cl.nodes[0]
        user, key = new_streamer(n1)
        procs.append(subprocess.Popen([BENCH_WS, "echo-worker", "--url",
                                       ws_url(n1.port, "/ws/worker"), "--bearer", TOKEN,
                                       "--duration", str(a.seconds + 10)],
                                      stdout=subprocess.DEVNULL))
        time.sleep(1)
        rss = lambda: (rss_kib(n1.proc.pid) // 1024, rss_kib(cl.redis.proc.pid) // 1024)
        samples = [(0.0,) + rss()]
        pub = publisher(n1.port, key, 0, a.seconds, files=[big])
        procs.append(pub)
        t0 = time.monotonic()
        while time.monotonic() - t0 < a.seconds + 5:
            time.sleep(1)
            samples.append((round(time.monotonic() - t0, 1),) + rss())
        pub_out = json.loads(pub.stdout.read() or "{}")
    finally:
        for p in procs:
            stop(p)
        cl.cleanup()
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print("ingest flood: one streamer, %d-byte JPEG flat out to node-a for %gs, echo worker on "
          "node-a" % (size, a.seconds))
    print("pushed %s (%.0f/s), processed frames back to the streamer %s (%.1f/s)" % (
        pub_out.get("sent"), pub_out.get("sent_per_s", 0), pub_out.get("received"),
        pub_out.get("received_per_s", 0)))
    print("RSS MiB (s, home node, redis): " + " ".join("%g:%d/%d" % x for x in samples))
    return 0


# ---- 5. slots across nodes: a remote GPU kept busy ----------------------------------------------
def cmd_slots(a):
    import gpu  # the delay proxy, the SDK viewer that keeps timings, the reference worker
    pg, cl = start_cluster()
    procs, rows = [], []
    watcher = None
    try:
        n1, n2, n3 = cl.nodes
        user, key = new_streamer(n1)
        proxy, proxy_port = gpu.start_proxy(n2.port, a.delay_ms)
        procs.append(proxy)
        watcher = gpu.Watcher(n3.url, user)
        watcher.start()
        procs.append(gpu.start_pusher(n1, key, a.fps))
        for slots in a.slots:
            worker = gpu.start_worker(proxy_port, "--simulate-ms", a.model_ms, "--slots", slots)
            time.sleep(a.warmup)
            r0 = redis_info(cl.redis)
            t0 = time.monotonic()
            time.sleep(a.seconds)
            t1 = time.monotonic()
            d = redis_delta(r0, redis_info(cl.redis))
            log = gpu.stop_worker(worker)
            frames = watcher.window(t0, t1)
            busy = sum(gpu.model_ms(f[3]) for f in frames) / ((t1 - t0) * 1000.0)
            ages = [f[2] - f[1] for f in frames]
            stats = re.findall(r"event=worker_stats when=final .*", log)
            rows.append({"slots": slots, "frames": len(frames), "fps": len(frames) / (t1 - t0),
                         "busy": busy, "age_p50": pct(ages, 50), "age_p99": pct(ages, 99),
                         "age_max": pct(ages, 100), "cancelled": gpu._stat(stats, "jobs_cancelled"),
                         "redis": d, "span": t1 - t0})
            time.sleep(1.0)  # the node notices the worker is gone
    finally:
        if watcher is not None:
            watcher.stop()
        for p in procs:
            stop(p)
        cl.cleanup()
        pg.stop()
    limit = a.model_ms + 2 * a.delay_ms + 2 * 1000.0 / a.fps + 20
    print("slots across nodes: home node-a, worker on node-b %d ms away each way (delay proxy), "
          "viewer on node-c; model %d ms, one stream at %g fps, %gs per configuration after %gs "
          "warm-up; binary %s" % (a.delay_ms, a.model_ms, a.fps, a.seconds, a.warmup,
                                  harness.binary_path()))
    print("| slots | frames shown/s | worker busy | frame age p50 ms | p99 ms | max ms "
          "| jobs cancelled |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %d | %.1f | %.0f %% | %.0f | %.0f | %.0f | %s |" % (
            r["slots"], r["fps"], 100 * r["busy"], r["age_p50"], r["age_p99"], r["age_max"],
            r["cancelled"]))
    for r in rows:
        print(redis_line("redis (slots %d)" % r["slots"], r["redis"], r["frames"],
                         seconds=r["span"]))
    best = rows[-1]
    ok = best["busy"] >= 0.95 and best["age_p99"] <= limit
    print("RESULT %s: slots %d busy %.0f %% (aim >= 95 %%), frame age p99 %.0f ms (limit %.0f ms)"
          % ("PASS" if ok else "FAIL", best["slots"], 100 * best["busy"], best["age_p99"], limit))
    return 0 if ok else 1


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
    p.add_argument("--viewers", type=int, default=1500)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--fps", type=float, default=10.0)
    p.add_argument("--rounds", type=int, default=1)
    p = sub.add_parser("worker")
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--push-fps", type=float, default=2000)
    p.add_argument("--rounds", type=int, default=1)
    p = sub.add_parser("flood")
    p.add_argument("--kb", type=int, default=50)
    p.add_argument("--seconds", type=float, default=12.0)
    p = sub.add_parser("slots")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--warmup", type=float, default=5.0)
    p.add_argument("--model-ms", type=int, default=50)
    p.add_argument("--delay-ms", type=int, default=25)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--slots", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2])
    a = ap.parse_args()
    return {"lag": cmd_lag, "fanout": cmd_fanout, "worker": cmd_worker,
            "flood": cmd_flood, "slots": cmd_slots}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
