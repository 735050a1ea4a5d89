#!/usr/bin/env python3
"""GPU efficiency benchmarks (issue 11): slots and batches. See docs/performance.md.

    python3 bench/gpu.py pipeline [--seconds 20] [--model-ms 50] [--delay-ms 25] [--fps 30]
    python3 bench/gpu.py batch [--seconds 30] [--streams 8] [--batches 1,4,8]

pipeline: the reference C++ worker (`dreamstream worker --simulate-ms 50`) reaches the server
through a delay proxy that holds every chunk 25 ms in each direction (order kept); one stream
is pushed at 30 fps (the 160x120 fixtures, so the CPU backend's own work is small). Slots 1 and
2 are measured one after the other in the same run: the worker's busy fraction (model time /
wall time, from the timings of every frame viewers got) and the frame age (processed_ms -
captured_ms, the server's clock, from the frame headers on /ws/watch).

batch: one worker on loopback with a simulated batched model (`--simulate-ms 300
--simulate-batch-extra-ms 40`: a batch of k costs 300 + 40 (k - 1) ms); 8 streams pushed at
30 fps each; max_batch 1, 4 and 8 in the same run: processed frames/s in total, per-stream
fps (min / max against the mean), frame age p99.

Env: DREAMSTREAM_BIN (server and worker binary, default build/dreamstream). Every run starts its
own server on an ephemeral loopback port; pushers and viewers are the Python SDK.
"""

import argparse
import asyncio
import os
import re
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))
os.environ.setdefault("DREAMSTREAM_BIN", os.path.join(ROOT, "build", "dreamstream"))
import dreamstream as ds  # noqa: E402
import harness  # noqa: E402

TOKEN = "dsw_bench_0123456789abcdef0123456789"
FIXTURE_DIR = os.path.join(ROOT, "tests", "integration", "fixtures")  # 160x120 JPEGs


def pct(values, p):
    if not values:
        return 0
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


# ---- pieces -------------------------------------------------------------------------------------


class DelayProxy:
    """A TCP proxy that delivers every chunk delay_ms after it was read, in order, in both
    directions: a network with a round trip of 2 * delay_ms (and ample bandwidth)."""

    def __init__(self, target_port, delay_ms):
        self.target_port, self.delay = target_port, delay_ms / 1000.0
        self.loop = asyncio.new_event_loop()
        self.port = None
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(10)

    def _run(self, ready):
        asyncio.set_event_loop(self.loop)

        async def start():
            server = await asyncio.start_server(self._client, "127.0.0.1", 0)
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
        self.loop.run_until_complete(start())
        self.loop.run_forever()

    async def _client(self, reader, writer):
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        for s in (writer, up_writer):
            sock = s.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        asyncio.ensure_future(self._pipe(reader, up_writer))
        asyncio.ensure_future(self._pipe(up_reader, writer))

    async def _pipe(self, reader, writer):
        queue = asyncio.Queue()

        async def deliver():
            while True:
                due, data = await queue.get()
                wait = due - self.loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if data is None:
                    writer.close()
                    return
                writer.write(data)
                await writer.drain()
        task = asyncio.ensure_future(deliver())
        try:
            while True:
                data = await reader.read(1 << 16)
                await queue.put((self.loop.time() + self.delay, data or None))
                if not data:
                    break
        except (ConnectionError, OSError):
            await queue.put((self.loop.time() + self.delay, None))
        await task

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)


def start_pusher(server, key, fps):
    """`dreamstream push` of the 160x120 fixtures at fps, looping, until stopped."""
    return subprocess.Popen([harness.binary_path(), "push", "--server", server.url, "--key", key,
                             "--dir", FIXTURE_DIR, "--fps", str(fps), "--loop"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_process(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_proxy(target_port, delay_ms):
    """The delay proxy in its own process (no GIL shared with the viewers); returns (proc, port)."""
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "proxy", "--target",
                             str(target_port), "--delay-ms", str(delay_ms)],
                            stdout=subprocess.PIPE, text=True)
    return proc, int(proc.stdout.readline())


class Watcher(threading.Thread):
    """A viewer that records (received monotonic s, captured_ms, processed_ms, timings)."""

    def __init__(self, server_url, username):
        super().__init__(daemon=True)
        self.viewer = ds.Viewer(server_url, username).connect()
        self.frames, self.halt = [], threading.Event()

    def run(self):
        while not self.halt.is_set():
            try:
                kind, data = self.viewer.recv(timeout=0.2)
            except TimeoutError:
                continue
            except ds.WebSocketError:
                return
            if kind == "frame":
                self.frames.append((time.monotonic(), data.captured_ms, data.processed_ms,
                                    data.info.get("timings") or {}))
            elif kind == "close":
                return

    def window(self, t0, t1):
        return [f for f in self.frames if t0 <= f[0] < t1]

    def stop(self):
        self.halt.set()
        self.join(5)
        self.viewer.close()


def start_server():
    server = harness.Server(args=["--builtin-workers", "0", "--worker-token", TOKEN,
                                  "--max-connections-per-address", "0",
                                  # The same JPEG again and again: never skip it.
                                  "--skip-similar", "0"])
    server.start()
    return server


def new_stream(server):
    c = server.client()
    user = harness.register(c)
    st, _, body = c.post("/api/me/stream-key")
    assert st == 201, body
    return user["username"], body["stream_key"]


def start_worker(port, *flags):
    return subprocess.Popen([harness.binary_path(), "worker", "--server",
                             "ws://127.0.0.1:%d" % port, "--token", TOKEN, "--name", "bench"]
                            + [str(f) for f in flags],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stop_worker(proc):
    """Stops the worker; returns its log (the last worker_stats line has its totals)."""
    if proc.poll() is None:
        proc.terminate()
    try:
        out, _ = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out or ""


def model_ms(timings):
    return sum(float(timings.get(k, 0)) for k in ("decode_ms", "infer_ms", "encode_ms"))


# ---- 1. pipelining ------------------------------------------------------------------------------


def cmd_pipeline(a):
    server = start_server()
    proxy, proxy_port = start_proxy(server.port, a.delay_ms)
    user, key = new_stream(server)
    watcher = Watcher(server.url, user)
    watcher.start()
    pusher = start_pusher(server, key, a.fps)
    rows = []
    try:
        for slots in a.slots:
            worker = start_worker(proxy_port, "--simulate-ms", a.model_ms, "--slots", slots)
            time.sleep(a.warmup)
            t0 = time.monotonic()
            time.sleep(a.seconds)
            t1 = time.monotonic()
            log = stop_worker(worker)
            frames = watcher.window(t0, t1)
            # Each frame shown is one model call (a cancelled job never reaches the model).
            busy = sum(model_ms(f[3]) for f in frames) / ((t1 - t0) * 1000.0)
            ages = [f[2] - f[1] for f in frames]
            # The worker's own figure: the share of its last 10 s spent in model calls.
            periodic = re.findall(r"event=worker_stats when=periodic .*", log)
            own = re.search(r"busy_pct=([\d.]+)", periodic[-1]) if periodic else None
            stats = re.findall(r"event=worker_stats when=final .*", log)
            rows.append({"slots": slots, "frames": len(frames), "fps": len(frames) / (t1 - t0),
                         "busy": busy, "age_p50": pct(ages, 50), "age_p99": pct(ages, 99),
                         "age_max": pct(ages, 100),
                         "model": pct([model_ms(f[3]) for f in frames], 50),
                         "cancelled": _stat(stats, "jobs_cancelled"),
                         "own": "%s %%" % own.group(1) if own else "?"})
            time.sleep(1.0)  # the server notices the worker is gone
    finally:
        stop_process(pusher)
        watcher.stop()
        stop_process(proxy)
        server.cleanup()
    limit = a.model_ms + 2 * a.delay_ms + 2 * 1000.0 / a.fps + 20
    print("pipeline: model %d ms, %d ms each way through a delay proxy, one stream at %g fps, "
          "%gs per configuration after %gs warm-up"
          % (a.model_ms, a.delay_ms, a.fps, a.seconds, a.warmup))
    print("| slots | frames shown/s | worker busy | (worker's log, last 10 s) | model ms p50 "
          "| frame age p50 ms | p99 ms | max ms | jobs cancelled |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %d | %.1f | %.0f %% | %s | %.0f | %.0f | %.0f | %.0f | %s |" % (
            r["slots"], r["fps"], 100 * r["busy"], r["own"], r["model"], r["age_p50"],
            r["age_p99"], r["age_max"], r["cancelled"]))
    if len(rows) >= 2 and rows[0]["busy"] > 0:
        print("ratio slots %d / slots %d: busy %.2fx, frames/s %.2fx, age p99 %.2fx" % (
            rows[-1]["slots"], rows[0]["slots"], rows[-1]["busy"] / rows[0]["busy"],
            rows[-1]["fps"] / max(rows[0]["fps"], 1e-9),
            rows[-1]["age_p99"] / max(rows[0]["age_p99"], 1e-9)))
    best = rows[-1]
    ok = best["busy"] >= 0.95 and best["age_p99"] <= limit
    print("RESULT %s: slots %d busy %.0f %% (aim >= 95 %%), frame age p99 %.0f ms (limit %.0f ms)"
          % ("PASS" if ok else "FAIL", best["slots"], 100 * best["busy"], best["age_p99"], limit))
    return 0 if ok else 1


def _stat(lines, name):
    if not lines:
        return "?"
    m = re.search(r"\b%s=(\d+)" % name, lines[-1])
    return m.group(1) if m else "?"


# ---- 2. batching --------------------------------------------------------------------------------


def cmd_batch(a):
    server = start_server()
    streams = [new_stream(server) for _ in range(a.streams)]
    watchers = [Watcher(server.url, user) for user, _ in streams]
    for w in watchers:
        w.start()
    pushers = [start_pusher(server, key, a.fps) for _, key in streams]
    rows = []
    try:
        for batch in a.batches:
            worker = start_worker(server.port, "--simulate-ms", a.model_ms,
                                  "--simulate-batch-extra-ms", a.extra_ms, "--max-batch", batch)
            time.sleep(a.warmup)
            t0 = time.monotonic()
            time.sleep(a.seconds)
            t1 = time.monotonic()
            stop_worker(worker)
            per = [w.window(t0, t1) for w in watchers]
            fps = [len(f) / (t1 - t0) for f in per]
            mean = sum(fps) / len(fps)
            ages = [f[2] - f[1] for frames in per for f in frames]
            sizes = [int(f[3].get("batch", 1)) for frames in per for f in frames]
            # One batch time: what a call took, measured (the simulated cost plus the CPU
            # backend's real decode / stylise / encode of its frames).
            call = pct([model_ms(f[3]) for frames in per for f in frames], 50)
            rows.append({"batch": batch, "total": sum(fps), "mean": mean, "min": min(fps),
                         "max": max(fps), "spread": (max(fps) - min(fps)) / mean if mean else 0,
                         "dev": max(abs(x - mean) for x in fps) / mean if mean else 0,
                         "age_p50": pct(ages, 50), "age_p99": pct(ages, 99),
                         "size": sum(sizes) / len(sizes) if sizes else 0, "call_ms": call,
                         "limit": call + 2 * 1000.0 / a.fps + 20})
            time.sleep(1.0)
    finally:
        for p in pushers:
            stop_process(p)
        for w in watchers:
            w.stop()
        server.cleanup()
    base = rows[0]["total"] if rows else 0
    print("batch: simulated model %d ms + %d ms per extra frame, %d streams at %g fps, one "
          "worker on loopback, %gs per configuration after %gs warm-up"
          % (a.model_ms, a.extra_ms, a.streams, a.fps, a.seconds, a.warmup))
    print("| max_batch | mean batch | batch call ms p50 | frames/s total | vs unbatched "
          "| per-stream fps mean | min | max | worst vs mean | frame age p50 ms | p99 ms "
          "| p99 limit ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %d | %.1f | %.0f | %.2f | %.2fx | %.2f | %.2f | %.2f | %.0f %% | %.0f | %.0f "
              "| %.0f |" % (r["batch"], r["size"], r["call_ms"], r["total"],
                           r["total"] / base if base else 0, r["mean"], r["min"], r["max"],
                           100 * r["dev"], r["age_p50"], r["age_p99"], r["limit"]))
    ok = True
    for r in rows:
        if r["batch"] == 4:
            ok = ok and base > 0 and r["total"] / base >= 2.5
        ok = ok and r["dev"] <= 0.10 and r["age_p99"] <= r["limit"]
    print("RESULT %s: >= 2.5x frames/s at max_batch 4, every stream within 10 %% of the mean, "
          "frame age p99 within one batch time + 2 frame intervals + 20 ms"
          % ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pipeline")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--model-ms", type=int, default=50)
    p.add_argument("--delay-ms", type=int, default=25)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--slots", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2])
    p = sub.add_parser("batch")
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--warmup", type=float, default=4.0)
    p.add_argument("--model-ms", type=int, default=300)
    p.add_argument("--extra-ms", type=int, default=40)
    p.add_argument("--streams", type=int, default=8)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--batches", type=lambda s: [int(x) for x in s.split(",")], default=[1, 4, 8])
    p = sub.add_parser("proxy", help="the delay proxy alone (prints its port)")
    p.add_argument("--target", type=int, required=True)
    p.add_argument("--delay-ms", type=int, default=25)
    a = ap.parse_args()
    return {"pipeline": cmd_pipeline, "batch": cmd_batch, "proxy": cmd_proxy}[a.cmd](a)


def cmd_proxy(a):
    proxy = DelayProxy(a.target, a.delay_ms)
    print(proxy.port, flush=True)
    try:
        proxy.thread.join()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
