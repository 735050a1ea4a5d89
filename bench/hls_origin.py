#!/usr/bin/env python3
"""Origin requests per part and per segment with deploy/nginx-hls-cache.conf in front of many
low-latency HLS clients (issue 23, item 4; docs/performance.md "HLS").

    python3 bench/hls_origin.py [--clients 1,30,300] [--seconds 60] [--warm 5]

One server with its built-in CPU worker and the camera clip pushed at --fps (bench/hls_stream.py);
Debian's nginx runs deploy/nginx-hls-cache.conf as written, with only the machine's lines moved
(origin, listen address, pid, logs, cache and temporary paths: as tests/browser/hls_cache.test.mjs
renders it) and an access log format that names, per request, whether nginx asked the origin
($upstream_addr) and with what cache status. For each client count in turn, that many clients
(Python asyncio, HTTP/1.1 keep-alive, joining over 2 s) play the stream through nginx: every
--plain-every-th one as a plain HLS player (the playlist every target duration, each new whole
segment), the others, on two connections each, as an LL-HLS player does: the plain playlist
once, the init segment and the last three parts, then for every part a blocking reload
`live.m3u8?_HLS_msn=M&_HLS_part=P` for the preload-hinted part and, at the same time, that part
itself (asked before it exists), and any listed part it has not had. After --warm seconds,
--seconds are measured.

Counted from nginx's log: every request nginx passed to the origin. The parts made are the part
URIs first asked for in the window (every LL client fetches every part); for each one, the
origin requests for its media and for the blocking playlist version that waits for it, wherever
in time they fell; likewise, for each segment whose parts were all made in the window, the
origin requests for the segment's URI. Printed per client count: parts and segments made,
client requests, origin requests by kind, per part and per segment (mean and max), against the
goal of at most 2 per segment and per part whatever the client count; then how much later than
the first client the others got each answer (the cost of nginx's cache lock).

Env: as bench/hls_stream.py; NGINX_BIN (default /usr/sbin/nginx).
"""

import argparse
import asyncio
import collections
import os
import random
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from hls_stream import LiveHls, complete_segments, get, pct  # noqa: E402

CONF = os.path.join(ROOT, "deploy", "nginx-hls-cache.conf")
LOG_FORMAT = ("log_format hlsbench '$msec $status \"$upstream_cache_status\" \"$upstream_addr\" "
              "\"$upstream_status\" $request_time \"$request_uri\"';")
LINE = re.compile(r'^([0-9.]+) (\d+) "([^"]*)" "([^"]*)" "([^"]*)" ([0-9.]+) "([^"]*)"$')
PART = re.compile(r"/hls/\d+/(\d+)\.(\d+)\.m4s$")
SEGMENT = re.compile(r"/hls/\d+/(\d+)\.m4s$")
BLOCKING = re.compile(r"live\.m3u8\?.*_HLS_msn=(\d+)&_HLS_part=(\d+)")


def render(text, origin_port, port, d):
    """deploy/nginx-hls-cache.conf with only the machine-specific lines moved."""
    def sub(pattern, to):
        nonlocal text
        out = re.sub(pattern, to, text, count=1, flags=re.M)
        if out == text:
            raise RuntimeError("deploy/nginx-hls-cache.conf changed shape: %s" % pattern)
        text = out
    sub(r"^pid\s+[^;]*;\n", "")
    sub(r"^error_log\s+[^;]*;\n", "")
    if os.getuid() != 0:
        sub(r"^user\s+[^;]*;\n", "")
    sub(r"^(\s*)access_log\s+[^;]*;", r"\1%s\n\1access_log %s/access.log hlsbench;"
        % (LOG_FORMAT, d))
    sub(r"/var/cache/nginx/dreamstream-hls", d + "/cache")
    sub(r"^(\s*)server\s+127\.0\.0\.1:8080;", r"\1server 127.0.0.1:%d;" % origin_port)
    sub(r"^(\s*)listen\s+80;", r"\1listen 127.0.0.1:%d;" % port)
    temps = "".join("    %s_temp_path %s/%s;\n" % (k, d, k)
                    for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    sub(r"^(http \{\n)", r"\g<1>" + temps)
    return text


class Nginx:
    def __init__(self, origin_port):
        self.dir = tempfile.mkdtemp(prefix="ds-bench-nginx-")
        os.chmod(self.dir, 0o755)  # workers run as www-data when we are root
        os.mkdir(os.path.join(self.dir, "cache"))
        if os.getuid() == 0:
            shutil.chown(os.path.join(self.dir, "cache"), "www-data")
        self.port = free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(CONF) as f, open(conf, "w") as out:
            out.write(render(f.read(), origin_port, self.port, self.dir))
        err = os.path.join(self.dir, "error.log")
        self.log = os.path.join(self.dir, "access.log")
        self.proc = subprocess.Popen(
            [os.environ.get("NGINX_BIN", "/usr/sbin/nginx"), "-p", self.dir + "/", "-c", conf,
             "-e", err, "-g", "daemon off; pid %s/nginx.pid; error_log %s warn;" % (self.dir, err)])
        self.url = "http://127.0.0.1:%d" % self.port
        deadline = time.monotonic() + 15
        while True:
            try:
                if get(self.url + "/healthz", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("nginx did not start: %s" % open(err).read())
            time.sleep(0.1)

    def lines(self):
        """(time, status, cache status, went to the origin, request URI) per logged request."""
        out = []
        with open(self.log) as f:
            for line in f:
                m = LINE.match(line.strip())
                if m:
                    out.append((float(m.group(1)), int(m.group(2)), m.group(3),
                                m.group(4) not in ("", "-"), m.group(7)))
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Conn:
    """One HTTP/1.1 keep-alive connection: GETs one after the other."""

    def __init__(self, port):
        self.port, self.reader, self.writer = port, None, None

    async def get(self, path):
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % path).encode())
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
        status = int(head.split(" ", 2)[1])
        m = re.search(r"\r\ncontent-length: *(\d+)", head)
        if m:
            body = await self.reader.readexactly(int(m.group(1)))
        elif "transfer-encoding: chunked" in head:
            body = b""
            while True:
                n = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                body += await self.reader.readexactly(n + 2)
                if n == 0:
                    break
        else:
            body = b""
        if "\r\nconnection: close" in head:
            self.close()
        return status, body

    def close(self):
        if self.writer:
            self.writer.close()
        self.reader = self.writer = None


def listed_parts(text):
    return [(int(m), int(p), u) for u, m, p in
            re.findall(r'#EXT-X-PART:[^\n]*URI="([^"]*/(\d+)\.(\d+)\.m4s)"', text)]


def preload_hint(text):
    m = re.search(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"]*/(\d+)\.(\d+)\.m4s)"', text)
    return (int(m.group(2)), int(m.group(3)), m.group(1)) if m else None


async def fetch(conn, path, stats, key=None):
    """A GET on conn, counted in stats (a status other than 200 as an error); with key, when a
    200 came (loop time) is kept under it."""
    st, body = await conn.get(path)
    stats["requests"] += 1
    if st != 200:
        stats["errors %d" % st] += 1
    elif key:
        stats.arrivals.setdefault(key, []).append(asyncio.get_running_loop().time())
    return st, body


async def player(port, path, base, join_at, stop_at, stats):
    """One LL-HLS client until stop_at (loop time)."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(max(0.0, join_at - loop.time()))
    pl, media = Conn(port), Conn(port)
    try:
        st, body = await fetch(pl, path, stats)
        if st != 200:
            return
        text = body.decode()
        await fetch(media, base + re.findall(r'#EXT-X-MAP:URI="([^"]+)"', text)[-1], stats)
        have = set()
        for m, p, uri in listed_parts(text)[-3:]:  # PART-HOLD-BACK: three parts behind live
            await fetch(media, base + uri, stats)
            have.add((m, p))
        hint = preload_hint(text)
        while hint and loop.time() < stop_at:
            m, p, uri = hint
            (st1, body), (st2, _) = await asyncio.gather(
                fetch(pl, "%s?_HLS_msn=%d&_HLS_part=%d" % (path, m, p), stats,
                      ("playlist", m, p)),
                fetch(media, base + uri, stats, ("part", m, p)))
            if st2 == 200:
                have.add((m, p))
            text = body.decode() if st1 == 200 else (await fetch(pl, path, stats))[1].decode()
            newest = max(have) if have else (-1, -1)
            for lm, lp, luri in listed_parts(text):
                if (lm, lp) > newest and (lm, lp) not in have:
                    await fetch(media, base + luri, stats)
                    have.add((lm, lp))
            hint = preload_hint(text)
    except (OSError, asyncio.IncompleteReadError) as e:
        stats["errors %s" % type(e).__name__] += 1
    finally:
        pl.close()
        media.close()


async def plain_player(port, path, base, join_at, stop_at, stats):
    """One plain HLS client until stop_at: the playlist every target duration (2 s), each new
    whole segment, starting three segments behind the newest."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(max(0.0, join_at - loop.time()))
    conn = Conn(port)
    newest = None
    try:
        while loop.time() < stop_at:
            st, body = await fetch(conn, path, stats)
            if st != 200:
                return
            text = body.decode()
            segs = sorted((m, uri) for m, (_, uri) in complete_segments(text).items())
            if newest is None:
                await fetch(conn, base + re.findall(r'#EXT-X-MAP:URI="([^"]+)"', text)[-1], stats)
                segs = segs[-3:]
            for msn, uri in segs:
                if newest is None or msn > newest:
                    await fetch(conn, base + uri, stats)
                    newest = msn
            await asyncio.sleep(2.0)
    except (OSError, asyncio.IncompleteReadError) as e:
        stats["errors %s" % type(e).__name__] += 1
    finally:
        conn.close()


class Stats(collections.Counter):
    """Counts, and when each LL client got each blocking playlist version and hinted part."""

    def __init__(self):
        super().__init__()
        self.arrivals = {}

    def spread_ms(self, kind):
        """For every client's answer: how long after the first client's answer to the same
        request it came (what waiting on nginx's cache lock costs the others), in ms."""
        out = []
        for key, times in self.arrivals.items():
            if key[0] == kind and len(times) > 1:
                first = min(times)
                out.extend(1000 * (t - first) for t in times if t != first)
        return out


def is_plain(i, every):
    return every > 0 and i % every == every - 1


async def run_clients(n, port, path, warm, seconds, plain_every):
    loop = asyncio.get_running_loop()
    now = loop.time()
    stats = Stats()
    base = path.rsplit("/", 1)[0] + "/"
    rng = random.Random(n)
    wall = time.time() - now  # loop time -> epoch seconds (nginx's $msec)
    window = (now + warm + wall, now + warm + seconds + wall)
    tasks = [asyncio.create_task((plain_player if is_plain(i, plain_every) else player)(
        port, path, base, now + rng.uniform(0, 2.0), now + warm + seconds, stats))
        for i in range(n)]
    await asyncio.gather(*tasks)
    return stats, window


def count(lines, window):
    """The origin's work for the objects made in the window (see the module's docstring)."""
    w0, w1 = window
    first = {}  # (msn, part) -> the first time a client had it
    origin = collections.Counter()  # ("part" | "playlist", msn, part) or ("segment", msn)
    kinds = collections.Counter()  # kind -> origin requests in the window
    client = 0
    for t, status, cache, upstream, uri in lines:
        if w0 <= t < w1:
            client += 1
        part, seg, blocking = PART.search(uri), SEGMENT.search(uri), BLOCKING.search(uri)
        key = (("part",) + tuple(map(int, part.groups())) if part else
               ("playlist",) + tuple(map(int, blocking.groups())) if blocking else
               ("segment", int(seg.group(1))) if seg else None)
        if part and status == 200:
            first.setdefault(key[1:], t)
        if key and upstream:
            origin[key] += 1
        if upstream and w0 <= t < w1:
            kinds[key[0] if key else "plain playlist" if "live.m3u8" in uri else
                  "init" if "init-" in uri else "other"] += 1
    made = sorted(k for k, t in first.items() if w0 <= t < w1)
    # Segments whose every part was made in the window (the first and last are cut by it).
    msns = sorted({m for m, _ in made})[1:-1]
    return {
        "parts": made,
        "segments": msns,
        "per_part": [origin[("part",) + k] + origin[("playlist",) + k] for k in made],
        "media": [origin[("part",) + k] for k in made],
        "versions": [origin[("playlist",) + k] for k in made],
        "per_segment": [origin[("segment", m)] for m in msns],
        "kinds": kinds,
        "client": client,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", default="1,30,300")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--warm", type=float, default=5.0)
    ap.add_argument("--fps", type=float, default=10.0)
    ap.add_argument("--look", default="toon")
    ap.add_argument("--plain-every", type=int, default=10,
                    help="every Nth client plays whole segments as a plain HLS player (0: none)")
    a = ap.parse_args()
    counts = [int(x) for x in a.clients.split(",")]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    rows = []
    run_s = len(counts) * (a.warm + a.seconds + 10) + 60
    with LiveHls(fps=a.fps, look=a.look, seconds=run_s) as live:
        nginx = Nginx(live.server.port)
        try:
            for n in counts:
                load0 = os.getloadavg()[0]
                stats, window = asyncio.run(run_clients(n, nginx.port, live.path, a.warm,
                                                        a.seconds, a.plain_every))
                time.sleep(1)  # the log's last lines
                rows.append((n, stats, count(nginx.lines(), window), load0))
        finally:
            nginx.stop()

    print("HLS origin requests behind deploy/nginx-hls-cache.conf: %gs per client count "
          "(after %gs), every %dth client a plain player, %g fps camera clip, look %s"
          % (a.seconds, a.warm, a.plain_every, a.fps, a.look))
    print("| clients (LL + plain) | parts made | segments made | client requests | origin "
          "requests (blocking playlist / part / segment / plain playlist / init / other) | "
          "origin requests per part: media + its playlist version, mean / max | per part "
          "media max / playlist version max | per segment (its URI) mean / max | origin "
          "requests in all per part | client errors | load avg |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    ok = True
    for n, stats, c, load in rows:
        k = c["kinds"]
        total = sum(k.values())
        mx = lambda v: max(v) if v else 0  # noqa: E731
        mean = lambda v: sum(v) / len(v) if v else float("nan")  # noqa: E731
        ok = ok and bool(c["parts"]) and mx(c["media"]) <= 2 and mx(c["versions"]) <= 2 and \
            mx(c["per_segment"]) <= 2
        errors = {e: v for e, v in stats.items() if e.startswith("errors")}
        plain = len([i for i in range(n) if is_plain(i, a.plain_every)])
        print("| %d (%d + %d) | %d | %d | %d | %d (%d / %d / %d / %d / %d / %d) | %.2f / %d | "
              "%d / %d | %.2f / %d | %.2f | %s | %.1f |" % (
                  n, n - plain, plain, len(c["parts"]), len(c["segments"]), c["client"], total,
                  k["playlist"], k["part"], k["segment"], k["plain playlist"], k["init"],
                  k["other"], mean(c["per_part"]), mx(c["per_part"]), mx(c["media"]),
                  mx(c["versions"]), mean(c["per_segment"]), mx(c["per_segment"]),
                  total / max(1, len(c["parts"])), errors or "none", load))
    print("How much later than the first LL client each other client got the same answer "
          "(ms; nginx's cache-lock waiters look again every 500 ms):")
    print("| clients | blocking playlist p50 / p95 / max | hinted part p50 / p95 / max |")
    print("|---|---|---|")
    for n, stats, c, load in rows:
        pl, pa = stats.spread_ms("playlist"), stats.spread_ms("part")
        print("| %d | %.0f / %.0f / %.0f | %.0f / %.0f / %.0f |" % (
            n, pct(pl, 50), pct(pl, 95), max(pl) if pl else float("nan"), pct(pa, 50),
            pct(pa, 95), max(pa) if pa else float("nan")))
    print("RESULT %s: at most 2 origin requests for each part, each blocking playlist version "
          "and each segment, at every client count" % ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
