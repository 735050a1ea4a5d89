#!/usr/bin/env python3
"""DreamStream soak run (issue 8): hours of traffic in minutes, then proof nothing was left behind.

    python3 bench/soak.py --minutes 30      # the full soak (figures in docs/reliability.md)
    python3 bench/soak.py --seconds 90      # the short mode CI runs (ctest -R soak)

Starts `dreamstream serve` on an ephemeral loopback port with a temporary data directory and no
built-in workers, registers the streamers (each with a stream key) and a few commenting viewer
accounts, starts --workers `dreamstream worker` processes, then runs `soak_load` (the client
swarm: streamers at --fps, --viewers churning WebSocket viewers, --mjpeg MJPEG readers, some of
each dropping or resetting their connection) while this script posts comments and style requests
and samples the server's RSS and open descriptors. At the end every client leaves and the
script checks: descriptors back to the baseline taken after start-up (within --fd-tolerance), no
viewer still counted on any stream, streams stop cleanly, the server exits 0 on SIGTERM,
`dreamstream admin ledger verify` passes, and the server log holds no error-level line. With a
10-minute window (runs of 20 minutes or more) the RSS slope must also stay under
--max-rss-slope KiB/min; shorter runs report it only. Exit code 0 when every check passes.

Env: DREAMSTREAM_BIN (default build/dreamstream), SOAK_LOAD (default build/soak_load).
"""

import argparse
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402
from harness import cpu_seconds, fd_count, rss_kib  # noqa: E402

SOAK_LOAD = os.environ.get("SOAK_LOAD", os.path.join(ROOT, "build", "soak_load"))
TOKEN = "dsw_soak_0123456789abcdef0123456789ab"
FIXTURES = [os.path.join(ROOT, "tests", "integration", "fixtures", "frame%d.jpg" % i)
            for i in range(1, 5)]
FULL_WINDOW_S = 600.0     # the RSS slope window of a full run
FULL_MIN_LOAD_S = 1200.0  # runs this long get the 10-minute window and the slope check
ERROR_LINE = re.compile(r"level=(error|critical)\b|\[(error|critical)\]")
STYLE_PROMPTS = ["watercolour", "neon city", "pencil sketch", "oil painting", "thermal camera",
                 "pixel art", "pop art", "vintage film", "glitch", "toon"]


def log(msg):
    print("[soak %s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


# ---- the server's process ------------------------------------------------------------------
def slope_kib_per_min(samples):
    """Least-squares slope of [(t_seconds, rss_kib)] in KiB per minute."""
    n = len(samples)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in samples) / n
    mr = sum(r for _, r in samples) / n
    den = sum((t - mt) ** 2 for t, _ in samples)
    if den == 0:
        return 0.0
    return 60.0 * sum((t - mt) * (r - mr) for t, r in samples) / den


def metrics(server):
    """The /metrics counters as {name{labels}: value}, or None when /metrics is not public."""
    try:
        resp = server.client().get("/metrics")
    except OSError:
        return None
    if resp.status != 200:
        return None
    out = {}
    for line in resp.text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            try:
                out[key] = float(value)
            except ValueError:
                pass
    return out


def serve_flags(binary):
    """Which of the hardening options this build of `serve` knows (issue 8 adds them)."""
    out = subprocess.run([binary, "serve", "--help"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True).stdout
    return set(re.findall(r"--[a-z][a-z0-9-]+", out))


def stop_proc(proc, timeout=10):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


# ---- accounts ------------------------------------------------------------------------------
class Accounts:
    """Registers accounts; behind --trusted-proxy each gets its own forwarded address, so a
    per-address registration limit sees 25 people rather than one machine."""

    def __init__(self, server, forwarded):
        self.server = server
        self.forwarded = forwarded
        self.count = 0

    def register(self, prefix):
        self.count += 1
        c = self.server.client()
        name = harness.unique_name(prefix)
        headers = {"X-Forwarded-For": "10.77.%d.%d" % (self.count // 250, self.count % 250 + 1)} \
            if self.forwarded else None
        body = {"username": name, "email": "%s@example.com" % name, "password": harness.PASSWORD}
        st, _, data = c.post("/api/auth/register", body, headers=headers)
        if st != 201:
            raise RuntimeError("register %s: %s %s" % (name, st, data))
        return name, c


# ---- comments and style requests -----------------------------------------------------------
class Chatter(threading.Thread):
    """A few viewer accounts commenting (and deleting some of their comments) and asking for
    styles at a modest rate, round robin over the accounts so no one hits the rate limits."""

    def __init__(self, accounts, streams, comment_every, style_every, seed):
        super().__init__(daemon=True)
        self.accounts = accounts  # [(name, client)]
        self.streams = streams
        self.comment_every = comment_every
        self.style_every = style_every
        self.rng = random.Random(seed)
        self.stop_event = threading.Event()
        self.statuses = {"comment": {}, "delete": {}, "style": {}}
        self.errors = []
        self.sent = 0

    def count(self, kind, status):
        self.statuses[kind][status] = self.statuses[kind].get(status, 0) + 1

    def run(self):
        next_comment = next_style = time.monotonic()
        turn = style_turn = 0
        while not self.stop_event.is_set():
            now = time.monotonic()
            try:
                if now >= next_comment:
                    next_comment += self.comment_every
                    name, c = self.accounts[turn % len(self.accounts)]
                    turn += 1
                    stream = self.rng.choice(self.streams)
                    self.sent += 1
                    st, _, body = c.post("/api/streams/%s/comments" % stream,
                                         {"body": "soak comment %d from %s" % (self.sent, name)})
                    self.count("comment", st)
                    if st == 201 and self.sent % 10 == 0:
                        st, _, _ = c.delete("/api/streams/%s/comments/%d"
                                            % (stream, body["comment"]["id"]))
                        self.count("delete", st)
                if now >= next_style:
                    next_style += self.style_every
                    _, c = self.accounts[style_turn % len(self.accounts)]
                    style_turn += 1
                    st, _, _ = c.post("/api/streams/%s/styles" % self.rng.choice(self.streams),
                                      {"prompt": self.rng.choice(STYLE_PROMPTS)})
                    self.count("style", st)
            except (OSError, ValueError, KeyError, TypeError) as e:
                if len(self.errors) < 5:
                    self.errors.append(repr(e))
            self.stop_event.wait(max(0.0, min(next_comment, next_style) - time.monotonic()))

    def ok(self, kind):
        return self.statuses[kind].get(201 if kind != "delete" else 200, 0)

    def bad(self):
        """Answers other than success, a rate limit (429) or, for the last posts, 409: the
        streamers' goodbyes (close 1000) end their streams as the run ends."""
        good = {"comment": (201, 409, 429), "delete": (200,), "style": (201, 409, 429)}
        return sum(n for kind, by in self.statuses.items() for st, n in by.items()
                   if st not in good[kind])


# ---- the run -------------------------------------------------------------------------------
class Soak:
    def __init__(self, a):
        self.a = a
        self.load_s = a.minutes * 60.0 if a.minutes else a.seconds
        self.full = self.load_s >= FULL_MIN_LOAD_S
        self.window_s = FULL_WINDOW_S if self.full else self.load_s / 3.0
        self.tmp = tempfile.mkdtemp(prefix="ds-soak-")
        self.server = None
        self.workers = []
        self.load = None
        self.samples = []   # (t since load start, rss KiB, fds)
        self.progress = {}  # the latest line soak_load printed
        self.final = None
        self.checks = []    # (name, ok, detail)
        self.figures = {}

    def check(self, name, ok, detail):
        self.checks.append((name, bool(ok), detail))
        log("%s %s: %s" % ("PASS" if ok else "FAIL", name, detail))

    # -- start-up ----------------------------------------------------------------------------
    def start_server(self):
        flags = serve_flags(harness.binary_path())
        args = ["--builtin-workers", "0", "--worker-token", TOKEN]
        self.forwarded = "--trusted-proxy" in flags
        if self.forwarded:
            args += ["--trusted-proxy", "127.0.0.1/32"]
        # Every client of the soak comes from 127.0.0.1: lift the per-address and global limits
        # (when this build has them) above what the soak opens.
        if "--max-connections-per-address" in flags:
            args += ["--max-connections-per-address", "10000"]
        if "--max-connections" in flags:
            args += ["--max-connections", "10000"]
        args += self.a.server_arg
        self.server = harness.Server(args=args)
        self.server.start()
        self.pid = self.server.proc.pid
        log("server pid %d on port %d, data %s, args %s"
            % (self.pid, self.server.port, self.server.data_dir, " ".join(args)))

    def make_accounts(self):
        acc = Accounts(self.server, self.forwarded)
        self.streamers = []  # (name, client, key)
        for _ in range(self.a.streams):
            name, c = acc.register("soak_s")
            st, _, body = c.post("/api/me/stream-key")
            if st != 201:
                raise RuntimeError("stream key for %s: %s %s" % (name, st, body))
            self.streamers.append((name, c, body["stream_key"]))
        self.viewer_accounts = [acc.register("soak_v") for _ in range(self.a.commenters)]
        self.streams_file = os.path.join(self.tmp, "streams.txt")
        with open(self.streams_file, "w") as f:
            for name, _, key in self.streamers:
                f.write("%s %s\n" % (name, key))
        log("registered %d streamers and %d viewer accounts"
            % (len(self.streamers), len(self.viewer_accounts)))

    def start_workers(self):
        for i in range(self.a.workers):
            out = open(os.path.join(self.tmp, "worker%d.log" % i), "wb")
            self.workers.append(subprocess.Popen(
                [harness.binary_path(), "worker", "--server", "ws://127.0.0.1:%d" % self.server.port,
                 "--token", TOKEN, "--name", "soak-w%d" % i], stdout=out, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            m = metrics(self.server)
            if m is None:
                break
            if sum(v for k, v in m.items() if k.startswith("dreamstream_workers")) >= self.a.workers:
                break
            time.sleep(0.2)
        log("%d workers started" % self.a.workers)

    # -- the load ----------------------------------------------------------------------------
    def read_load(self):
        for line in self.load.stdout:
            try:
                j = json.loads(line)
            except ValueError:
                continue
            if j.get("type") == "final":
                self.final = j
            self.progress = j

    def wait_live(self):
        """Until every stream is live (comments and styles need a live stream)."""
        names = {s[0] for s in self.streamers}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.load.poll() is None:
            st, _, body = self.server.client().get("/api/streams/live")
            if st == 200 and names <= {s["username"] for s in body.get("streams", [])}:
                return
            time.sleep(0.2)
        log("not every stream went live within 30 s")

    def run_load(self):
        a = self.a
        cmd = [SOAK_LOAD, "--port", str(self.server.port), "--streams", self.streams_file,
               "--duration", str(self.load_s), "--fps", str(a.fps), "--viewers", str(a.viewers),
               "--mjpeg", str(a.mjpeg), "--dwell-min", str(a.dwell_min),
               "--dwell-max", str(a.dwell_max), "--mjpeg-reset-at-once", str(a.mjpeg_reset),
               "--seed", str(a.seed)]
        cmd += sum((["--file", f] for f in FIXTURES), [])
        self.load = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        reader = threading.Thread(target=self.read_load, daemon=True)
        reader.start()
        t0 = time.monotonic()
        self.wait_live()
        chatter = Chatter(self.viewer_accounts, [s[0] for s in self.streamers],
                          a.comment_every, a.style_every, a.seed)
        chatter.start()
        self.chatter = chatter
        cpu0 = cpu_seconds(self.pid)
        next_sample = next_print = t0
        print_every = 60.0 if self.full else 15.0
        while self.load.poll() is None:
            now = time.monotonic()
            if not self.server.alive():
                log("the server died (exit %s)" % self.server.proc.returncode)
                self.load.send_signal(15)
                break
            if now >= next_sample:
                next_sample += a.sample_every
                # Only samples from the time the swarm is running count towards the slope.
                if now - t0 <= self.load_s:
                    self.samples.append((now - t0, rss_kib(self.pid), fd_count(self.pid)))
            if now >= next_print and self.samples and self.progress:
                next_print += print_every
                p = self.progress
                log("t=%4.0fs rss=%d KiB fds=%d viewers=%s joined=%s frames sent=%s shown=%s "
                    "mjpeg=%s comments=%d"
                    % (now - t0, self.samples[-1][1], self.samples[-1][2],
                       p.get("viewers", {}).get("active"), p.get("viewers", {}).get("joined"),
                       p.get("streamers", {}).get("frames_sent"), p.get("viewers", {}).get("frames"),
                       p.get("mjpeg", {}).get("opened"), chatter.ok("comment")))
            if now - t0 > self.load_s + 60:
                log("soak_load did not finish; stopping it")
                self.load.send_signal(15)
                break
            time.sleep(0.2)
        try:
            self.load.wait(30)
        except subprocess.TimeoutExpired:
            self.load.kill()
        reader.join(5)
        self.elapsed = time.monotonic() - t0
        self.cpu_pct = 100.0 * (cpu_seconds(self.pid) - cpu0) / self.elapsed \
            if self.server.alive() else 0.0
        chatter.stop_event.set()
        chatter.join(30)
        self.metrics_end = metrics(self.server) if self.server.alive() else None

    # -- the end -----------------------------------------------------------------------------
    def settle_fds(self):
        """Descriptors once every client is gone: at least settle_s later, and as soon as they
        are back within the tolerance (or settle_max_s has passed)."""
        t0 = time.monotonic()
        fds = fd_count(self.pid)
        while time.monotonic() - t0 < self.a.settle_max:
            fds = fd_count(self.pid)
            if time.monotonic() - t0 >= self.a.settle and fds <= self.fd_baseline + self.a.fd_tolerance:
                break
            time.sleep(0.5)
        return fds

    def finish(self):
        a = self.a
        f = self.figures
        final = self.final or {}
        sw, vw, mj = final.get("streamers", {}), final.get("viewers", {}), final.get("mjpeg", {})
        for w in self.workers:
            stop_proc(w)
        alive = self.server.alive()
        self.check("server alive during the run", alive,
                   "running" if alive else "exited %s" % self.server.proc.returncode)
        self.check("client swarm finished", self.final is not None and
                   sum(x.get("active", 0) for x in (sw, vw, mj)) == 0,
                   "every client left" if self.final else "no final report from soak_load")
        if alive:
            f["fd_after"] = self.settle_fds()
            self.check("descriptors back to baseline",
                       f["fd_after"] <= self.fd_baseline + a.fd_tolerance,
                       "baseline %d, peak %d, after %d (tolerance %d)"
                       % (self.fd_baseline, f["fd_peak"], f["fd_after"], a.fd_tolerance))
            counted = {}
            for name, _, _ in self.streamers:
                st, _, body = self.server.client().get("/api/streams/%s" % name)
                if st == 200 and body.get("viewers"):
                    counted[name] = body["viewers"]
            self.check("no viewer counted after all left", not counted,
                       "%d phantom viewers on %d streams %s" % (sum(counted.values()), len(counted),
                                                               sorted(counted.items())[:5])
                       if counted else "0 on every stream")
            stopped, minutes, cents, bad = 0, 0, 0, []
            for name, c, _ in self.streamers:
                st, _, body = c.post("/api/streams/stop")
                stream = (body or {}).get("stream") if st == 200 else None
                if st == 404:
                    # The streamer said goodbye (close 1000) as the load ended: already
                    # completed, billed to that moment.
                    _, _, hist = c.get("/api/streams/sessions")
                    last = ((hist or {}).get("sessions") or [None])[0]
                    if last and last.get("status") == "completed":
                        stream = last
                if stream:
                    stopped += 1
                    minutes += stream.get("duration_minutes") or 0
                    cents += stream.get("cost_cents") or 0
                else:
                    bad.append((name, st))
            f["streams_stopped"], f["billed_minutes"], f["billed_cents"] = stopped, minutes, cents
            self.check("streams stop", not bad,
                       "%d stopped, %d minutes billed (%d credit-cents)%s"
                       % (stopped, minutes, cents, ", failed: %s" % bad[:5] if bad else ""))
        f["rss_end_kib"] = self.samples[-1][1] if self.samples else 0
        rc = self.server.stop(timeout=30)
        self.check("server exits 0 on SIGTERM", rc == 0, "exit %s" % rc)
        cmd = [harness.binary_path(), "admin", "--data", self.server.data_dir]
        if self.server.postgres:
            cmd += ["--db", self.server.postgres]
        v = subprocess.run(cmd + ["ledger", "verify"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        f["ledger"] = "pass" if v.returncode == 0 else "FAIL (exit %d)" % v.returncode
        self.check("ledger verify", v.returncode == 0, v.stdout.strip().splitlines()[-1]
                   if v.stdout.strip() else "exit %d" % v.returncode)
        errors = [line for line in self.server.logs().splitlines() if ERROR_LINE.search(line)]
        f["error_lines"] = len(errors)
        self.check("no error lines in the server log", not errors,
                   "%d%s" % (len(errors), "; first: " + " | ".join(errors[:5]) if errors else ""))

        # Figures of the swarm and the chat.
        f["frames_in"] = sw.get("frames_sent", 0)
        f["frames_out"] = vw.get("frames", 0)
        self.check("frames flowed", f["frames_in"] > 0 and f["frames_out"] > 0 and
                   mj.get("frames", 0) > 0,
                   "%d pushed, %d shown to WebSocket viewers, %d MJPEG parts"
                   % (f["frames_in"], f["frames_out"], mj.get("frames", 0)))
        self.check("streamers never dropped", sw.get("drops", 1) == 0 and
                   sw.get("connect_failed", 1) == 0,
                   "%s drops, %s failed connects" % (sw.get("drops"), sw.get("connect_failed")))
        fails = vw.get("failed", 0) + mj.get("failed", 0) + mj.get("not_ok", 0)
        self.check("every viewer got in", fails == 0,
                   "%d WebSocket and %d MJPEG failures, %d non-200 MJPEG answers"
                   % (vw.get("failed", 0), mj.get("failed", 0), mj.get("not_ok", 0)))
        closed = vw.get("closed_by_server", 0) + mj.get("closed_by_server", 0)
        self.check("no viewer closed by the server", closed == 0,
                   "%d WebSocket, %d MJPEG" % (vw.get("closed_by_server", 0),
                                               mj.get("closed_by_server", 0)))
        ch = self.chatter
        self.check("comments and style requests answered", ch.ok("comment") > 0 and
                   ch.ok("style") > 0 and ch.bad() == 0 and not ch.errors,
                   "statuses %s%s" % (json.dumps(ch.statuses, sort_keys=True),
                                     ", errors %s" % ch.errors if ch.errors else ""))

        window = [(t, r) for t, r, _ in self.samples if t >= self.load_s - self.window_s]
        f["rss_slope_kib_min"] = slope_kib_per_min(window)
        f["rss_window_s"] = self.window_s
        if self.full:
            self.check("RSS flat", f["rss_slope_kib_min"] <= a.max_rss_slope,
                       "%.1f KiB/min over the last %.0f s (limit %g)"
                       % (f["rss_slope_kib_min"], self.window_s, a.max_rss_slope))

    def report(self):
        a, f = self.a, self.figures
        final = self.final or {}
        sw, vw, mj = final.get("streamers", {}), final.get("viewers", {}), final.get("mjpeg", {})
        m = self.metrics_end or {}
        ch = self.chatter
        ok = all(c[1] for c in self.checks)
        lines = [
            "soak: %s, %.0f s of load (%s), %d streams at %g fps, %d workers, %d WebSocket viewer "
            "slots, %d MJPEG slots, dwell %g-%g s, %d commenting accounts"
            % ("full" if self.full else "short", self.elapsed, "%g min" % a.minutes if a.minutes
               else "%g s" % a.seconds, a.streams, a.fps, a.workers, a.viewers, a.mjpeg,
               a.dwell_min, a.dwell_max, a.commenters),
            "frames: %d pushed (%d late slots), %d shown to WebSocket viewers, %d MJPEG parts, "
            "%d back on the ingest sockets"
            % (sw.get("frames_sent", 0), sw.get("frames_late", 0), vw.get("frames", 0),
               mj.get("frames", 0), sw.get("binaries", 0)),
            "server counters: %s" % ("received %d, dropped %d, jobs %d, shown %d, stale %d, "
                                     "failed %d, timed out %d" % tuple(
                                         m.get("dreamstream_" + k, 0) for k in (
                                             "frames_received_total", "frames_dropped_total",
                                             "jobs_sent_total", "frames_shown_total",
                                             "results_stale_total", "jobs_failed_total",
                                             "jobs_timed_out_total"))
                                     if m else "n/a (/metrics not readable)"),
            "viewers: %d joined, %d left (%d with a close frame, %d dropped, %d reset), peak %d "
            "at once, %d failed"
            % (vw.get("joined", 0), vw.get("left", 0), vw.get("left_graceful", 0),
               vw.get("left_drop", 0), vw.get("left_reset", 0), vw.get("peak", 0),
               vw.get("failed", 0)),
            "mjpeg: %d opened, %d left (%d closed, %d reset at once, %d reset later), %d failed"
            % (mj.get("opened", 0), mj.get("left", 0), mj.get("graceful", 0),
               mj.get("reset_at_once", 0), mj.get("reset_later", 0), mj.get("failed", 0)),
            "chat: %d comments posted, %d deleted, %d style requests (statuses %s)"
            % (ch.ok("comment"), ch.ok("delete"), ch.ok("style"),
               json.dumps(ch.statuses, sort_keys=True)),
            "rss: start %d KiB, end %d KiB, peak %d KiB, slope %.1f KiB/min over the last %.0f s%s"
            % (f.get("rss_start_kib", 0), f.get("rss_end_kib", 0),
               max((r for _, r, _ in self.samples), default=0), f.get("rss_slope_kib_min", 0),
               f.get("rss_window_s", 0), "" if self.full else " (reported, not checked, in "
               "runs under %d min)" % (FULL_MIN_LOAD_S / 60)),
            "fds: baseline %d, peak %d, after %s (tolerance %d); server CPU %.0f %% of a core"
            % (self.fd_baseline, f.get("fd_peak", 0), f.get("fd_after", "n/a"), a.fd_tolerance,
               self.cpu_pct),
            "ledger verify: %s; error lines in the server log: %s"
            % (f.get("ledger", "n/a"), f.get("error_lines", "n/a")),
        ]
        if a.viewers < 500:
            lines.append("note: %d viewer slots instead of 500 (--viewers)" % a.viewers)
        lines.append("RESULT %s (%d of %d checks passed)"
                     % ("PASS" if ok else "FAIL", sum(c[1] for c in self.checks), len(self.checks)))
        print("\n".join(lines), flush=True)
        if a.json:
            with open(a.json, "w") as out:
                json.dump({"figures": f, "swarm": final, "metrics": m, "chat": ch.statuses,
                           "checks": self.checks, "samples": self.samples}, out, indent=1)
        return ok

    def run(self):
        a = self.a
        ok = False
        try:
            self.start_server()
            self.make_accounts()
            time.sleep(1.0)
            # The baseline: the server after start-up and registration, before any client
            # socket or worker is open.
            self.fd_baseline = fd_count(self.pid)
            self.figures["rss_start_kib"] = rss_kib(self.pid)
            log("baseline: %d descriptors, %d KiB RSS" % (self.fd_baseline,
                                                          self.figures["rss_start_kib"]))
            self.start_workers()
            log("load for %.0f s (slope window %.0f s)" % (self.load_s, self.window_s))
            self.run_load()
            self.figures["fd_peak"] = max((n for _, _, n in self.samples), default=0)
            self.finish()
            ok = self.report()
        finally:
            for w in self.workers:
                stop_proc(w)
            if self.load is not None and self.load.poll() is None:
                self.load.kill()
            if self.server is not None:
                self.server.stop()
        if ok and not a.keep:
            self.server.cleanup()
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            log("kept: server data and log in %s, worker logs in %s" % (self.server.tmp, self.tmp))
        return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    length = ap.add_mutually_exclusive_group(required=True)
    length.add_argument("--minutes", type=float, help="load time in minutes (the full soak: 30)")
    length.add_argument("--seconds", type=float, help="load time in seconds (CI: 90)")
    ap.add_argument("--streams", type=int, default=20)
    ap.add_argument("--fps", type=float, default=10.0)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--viewers", type=int, default=500, help="WebSocket viewer slots")
    ap.add_argument("--mjpeg", type=int, default=20, help="MJPEG reader slots")
    ap.add_argument("--mjpeg-reset", type=float, default=0.2,
                    help="share of MJPEG readers that reset the connection right after the request")
    ap.add_argument("--dwell-min", type=float, default=None,
                    help="shortest stay of a viewer, s (default 5, short runs 2)")
    ap.add_argument("--dwell-max", type=float, default=None,
                    help="longest stay of a viewer, s (default 60, short runs 20)")
    ap.add_argument("--commenters", type=int, default=4, help="viewer accounts that chat")
    ap.add_argument("--comment-every", type=float, default=1.0, help="seconds between comments")
    ap.add_argument("--style-every", type=float, default=5.0,
                    help="seconds between style requests")
    ap.add_argument("--sample-every", type=float, default=None,
                    help="seconds between RSS/fd samples (default 5, short runs 2)")
    ap.add_argument("--fd-tolerance", type=int, default=2)
    ap.add_argument("--settle", type=float, default=3.0,
                    help="seconds to wait after the clients left before counting descriptors")
    ap.add_argument("--settle-max", type=float, default=15.0)
    ap.add_argument("--max-rss-slope", type=float, default=256.0,
                    help="KiB/min over the last 10 minutes (full runs)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--server-arg", action="append", default=[],
                    help="an extra argument for `serve` (repeatable)")
    ap.add_argument("--json", help="write figures, checks and samples here")
    ap.add_argument("--keep", action="store_true", help="keep the data directory and logs")
    a = ap.parse_args()
    long_run = (a.minutes or 0) * 60 >= FULL_MIN_LOAD_S
    a.dwell_min = a.dwell_min if a.dwell_min is not None else (5.0 if long_run else 2.0)
    a.dwell_max = a.dwell_max if a.dwell_max is not None else (60.0 if long_run else 20.0)
    a.sample_every = a.sample_every or (5.0 if long_run else 2.0)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    for path in (harness.binary_path(), SOAK_LOAD):
        if not os.access(path, os.X_OK):
            sys.exit("soak: %s not found (build it: cmake --build build --target dreamstream "
                     "soak_load)" % path)
    return Soak(a).run()


if __name__ == "__main__":
    sys.exit(main())
