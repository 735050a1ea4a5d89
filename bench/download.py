#!/usr/bin/env python3
"""Recording downloads (download.mp4) under many clients at once: the server's memory and the
time to the first byte. A session of --seconds of the moving 640x480 camera clip at --fps is
recorded (built-in CPU worker, `bench_ws publish`), the stream ends, and --clients clients
download its MP4 at once, each reading at most --kbps (so the downloads overlap), while the
server's RSS is sampled every 50 ms.

    python3 bench/download.py [--seconds 60] [--clients 16] [--kbps 8000]

Env: DREAMSTREAM_BIN (default build-bench/dreamstream), BENCH_WS, VIDEO_BYTES (as
bench/hls_stream.py). Run it with two binaries side by side to compare (docs/performance.md).
"""

import argparse
import glob
import os
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from video_path import BENCH_WS, VIDEO_BYTES, pct  # noqa: E402
import harness  # noqa: E402


def download(port, path, kbps, out):
    """GETs path at most kbps; out: {"first_byte_s", "bytes", "status"}."""
    started = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=120)
    s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" % path).encode())
    got = 0
    head = b""
    chunk = 64 * 1024
    budget = kbps * 1000 / 8
    while True:
        data = s.recv(chunk)
        if not data:
            break
        if not got:
            out["first_byte_s"] = time.monotonic() - started
        got += len(data)
        if len(head) < 64:
            head += data[:64]
        # Reads no faster than kbps: the rest waits in the socket buffers and at the server.
        time.sleep(len(data) / budget)
    s.close()
    out["bytes"] = got
    out["status"] = head[9:12].decode("ascii", "replace")
    out["total_s"] = time.monotonic() - started


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--fps", type=float, default=10)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--kbps", type=float, default=8000)
    a = ap.parse_args()

    server = harness.Server(args=["--builtin-workers", "1", "--skip-similar", "0"])
    server.start()
    tmp = server.tmp
    try:
        cam = os.path.join(tmp, "camera")
        os.mkdir(cam)
        subprocess.run([VIDEO_BYTES, "--camera", cam, "--seconds", "20", "--fps",
                        str(int(a.fps))], check=True, stdout=subprocess.DEVNULL)
        frames = sorted(glob.glob(os.path.join(cam, "camera_*.jpg")))
        c = server.client()
        user = harness.register(c)["username"]
        st, _, out = c.patch("/api/streams/settings", {"record": True, "base_style": "toon"})
        assert st == 200, out
        st, _, body = c.post("/api/me/stream-key")
        assert st == 201, body
        subprocess.run(
            [BENCH_WS, "publish", "--url", "ws://127.0.0.1:%d/ws/ingest" % server.port,
             "--bearer", body["stream_key"], "--fps", str(a.fps), "--duration", str(a.seconds)]
            + sum((["--file", f] for f in frames), []), check=True, stdout=subprocess.DEVNULL)
        c.post("/api/streams/stop")
        deadline = time.monotonic() + 60
        rec = None
        while time.monotonic() < deadline:
            st, _, body = c.get("/api/users/%s/recordings" % user)
            rec = body["recordings"][0] if st == 200 and body["recordings"] else None
            if rec and rec["state"] == "complete":
                break
            time.sleep(0.5)
        assert rec and rec["state"] == "complete", rec
        time.sleep(1)

        pid = server.proc.pid
        base_rss = harness.rss_kib(pid)
        results = [{} for _ in range(a.clients)]
        threads = [threading.Thread(target=download,
                                    args=(server.port, rec["download_url"], a.kbps, r))
                   for r in results]
        peak = base_rss
        cpu0 = harness.cpu_seconds(pid)
        t0 = time.monotonic()
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            peak = max(peak, harness.rss_kib(pid))
            time.sleep(0.05)
        wall = time.monotonic() - t0
        cpu = harness.cpu_seconds(pid) - cpu0
        sizes = {r.get("bytes") for r in results}
        statuses = {r.get("status") for r in results}
        first = sorted(r.get("first_byte_s", 0) for r in results)
        remuxes = server.logs().count("event=recording_remuxed")
        print("download: %.0f s recorded at %.0f fps (%d segment bytes), %d clients at %.0f kbit/s "
              "each" % (a.seconds, a.fps, rec["bytes"], a.clients, a.kbps))
        print("binary: %s" % harness.binary_path())
        print("| statuses | bytes received each | RSS before MiB | peak MiB | growth MiB | first byte p50 / max s "
              "| wall s | server CPU s | remuxes logged |")
        print("|---|---|---|---|---|---|---|---|---|")
        print("| %s | %s | %.1f | %.1f | %.1f | %.2f / %.2f | %.1f | %.1f | %s |" % (
            ",".join(sorted(str(s) for s in statuses)), ",".join(str(s) for s in sizes),
            base_rss / 1024, peak / 1024, (peak - base_rss) / 1024, pct(first, 50), first[-1],
            wall, cpu, remuxes if "event=recording_remuxed" in server.logs() else "n/a"))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
