"""Integration-test harness: runs the real `dreamstream serve` binary and talks HTTP to it.

Standard library only. Typical use::

    from harness import ServerTestCase, register

    class TestThing(ServerTestCase):
        server_args = ["--allowed-origin", "http://app.example"]   # optional

        def test_me(self):
            c = self.server.client()
            user = register(c)                       # 201, cookie kept by the client
            status, headers, body = c.get("/api/me")
            self.assertEqual(status, 200)

Pieces:
- `Server`: starts the binary (env DREAMSTREAM_BIN, else ../../build/dreamstream) with
  `serve --listen 127.0.0.1:0 --data <tempdir> --port-file <file>` plus extra args and env,
  waits for the port file and a 200 from /healthz, captures stdout+stderr in a log file, and
  stops it with SIGTERM (SIGKILL after a timeout). `Server.db_snapshot()` reads the SQLite
  store directly, so a test can prove that bad input changed nothing.
- `Client`: one user agent. Keeps cookies, sends `Origin: <the server's origin>` on
  state-changing requests unless told otherwise, and returns `(status, headers, json)`.
- `ServerTestCase`: one server per test class; prints the server log when a test fails and
  fails the test when the server died during it.
- `register()`: registers a fresh user through the API.
- `doc_close_codes()`: docs/protocol.md's close-code table, for the SDKs' tables to match.
"""

import contextlib
import http.client
import itertools
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_BIN = os.path.normpath(os.path.join(HERE, "..", "..", "build", "dreamstream"))

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
REQUEST_TIMEOUT_S = 60.0

PASSWORD = "correct horse battery"  # long enough for the 10-character rule

# Sentinel: "send the server's own origin" (the default for state-changing requests).
SAME_ORIGIN = object()

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


def binary_path():
    return os.environ.get("DREAMSTREAM_BIN") or DEFAULT_BIN


# -- readings of a process (the server under test) from /proc -------------------------------
def rss_kib(pid):
    """Resident memory in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fd_count(pid):
    """Open file descriptors."""
    return len(os.listdir("/proc/%d/fd" % pid))


def cpu_times(pid):
    """(user, system) CPU seconds used so far (utime and stime of /proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = float(os.sysconf("SC_CLK_TCK"))
    return int(fields[11]) / tick, int(fields[12]) / tick


def cpu_seconds(pid):
    """User plus system CPU time used so far."""
    return sum(cpu_times(pid))


class ServerError(RuntimeError):
    pass


class Server:
    """A running `dreamstream serve` on an ephemeral loopback port.

    args: extra arguments after `serve ...`; global_args: before `serve` (e.g. --log-level).
    env: extra environment (DREAMSTREAM_* variables from the caller's environment are removed
    first so the test controls them). default_args=False leaves out --listen and --data, for
    tests that set them through the environment; --port-file is always given.
    """

    def __init__(self, args=(), env=None, global_args=(), default_args=True, data_dir=None,
                 preexec_fn=None):
        self.preexec_fn = preexec_fn  # e.g. to lower the descriptor limit of the server
        self.args = list(args)
        self.env = dict(env or {})
        self.global_args = list(global_args)
        self.default_args = default_args
        self.tmp = tempfile.mkdtemp(prefix="ds-it-")
        self.data_dir = data_dir or os.path.join(self.tmp, "data")
        self.port_file = os.path.join(self.tmp, "port")
        self.log_path = os.path.join(self.tmp, "server.log")
        self.proc = None
        self.port = None
        self.returncode = None
        self._log = None

    # -- lifecycle -----------------------------------------------------------------------
    def start(self):
        cmd = [binary_path()] + self.global_args + ["serve"]
        if self.default_args:
            cmd += ["--listen", "127.0.0.1:0", "--data", self.data_dir]
        cmd += ["--port-file", self.port_file] + self.args
        if self.default_args and "--db" not in self.args and "DREAMSTREAM_DB" not in self.env:
            url = postgres_url_for(self.data_dir)
            if url:
                cmd += ["--db", url]
        env = {k: v for k, v in os.environ.items() if not k.startswith("DREAMSTREAM_")}
        # Every test client registers from 127.0.0.1: lift the per-address registration limit
        # (a test of the limit passes --register-limit, which wins over the environment).
        env["DREAMSTREAM_REGISTER_LIMIT"] = "1000000"
        env.update(self.env)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                     cwd=self.tmp, preexec_fn=self.preexec_fn)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError("server exited with %s during start-up\n%s"
                                  % (self.proc.returncode, self.logs()))
            if self.port is None and os.path.exists(self.port_file):
                with open(self.port_file) as f:
                    text = f.read().strip()
                if text:
                    self.port = int(text)
            if self.port is not None:
                try:
                    status, _, _ = self.client().get("/healthz")
                    if status == 200:
                        return self
                except OSError:
                    pass
            time.sleep(0.05)
        self.stop()
        raise ServerError("server did not become healthy in %ss\n%s"
                          % (START_TIMEOUT_S, self.logs()))

    def stop(self, timeout=STOP_TIMEOUT_S):
        """SIGTERM, then SIGKILL after timeout. Returns the exit status."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            self.returncode = self.proc.returncode
        if self._log:
            self._log.close()
            self._log = None
            self.check_event_loops()
        return self.returncode

    def check_event_loops(self):
        """No server may wait on the database, Redis or another node on an io thread (an event
        loop): the server logs each such wait (util/event_loop.hpp), and any fails the test."""
        waits = [line for line in self.logs().splitlines() if "event=wait_on_event_loop" in line]
        if waits:
            raise ServerError("the server waited on I/O on an event loop (%d times):\n%s"
                              % (len(waits), "\n".join(waits[:10])))

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def logs(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if exc[0] is not None:
            sys.stderr.write("---- server log ----\n%s\n---- end ----\n" % self.logs())
        self.cleanup()

    # -- addresses -----------------------------------------------------------------------
    @property
    def origin(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def url(self):
        return self.origin

    def client(self, **kwargs):
        return Client(self, **kwargs)

    # -- the store -----------------------------------------------------------------------
    @property
    def db_path(self):
        return os.path.join(self.data_dir, "dreamstream.db")

    @property
    def postgres(self):
        """The PostgreSQL URL this server's store lives at, or None for SQLite."""
        return postgres_url_for(self.data_dir, create=False)

    # Columns that reads legitimately move (sliding session expiry, token last use).
    VOLATILE = {("sessions", "last_seen_ms"), ("sessions", "expires_ms"),
                ("api_tokens", "last_used_ms")}

    def query(self, sql, params=()):
        """Rows of a read-only query (`?` placeholders) on this server's store."""
        return db_query(self.data_dir, sql, params)

    def execute(self, sql, params=()):
        """A write behind the server's back (`?` placeholders), for tamper tests."""
        return db_query(self.data_dir, sql, params, write=True)

    def db_snapshot(self):
        """Every row of every table (volatile columns blanked), for before/after comparison."""
        # One connection for all of it: on PostgreSQL each connection is a new backend process,
        # and one per table made this about a second and a half.
        with store_connection(self.data_dir) as run:
            if self.postgres:
                _, rows = run("SELECT table_name FROM information_schema.tables "
                              "WHERE table_schema = 'public' ORDER BY table_name")
            else:
                _, rows = run("SELECT name FROM sqlite_master WHERE type='table' "
                              "AND name NOT LIKE 'sqlite_%' ORDER BY name")
            snap = {}
            for (t,) in rows:
                cols, table_rows = run('SELECT * FROM "%s"' % t)
                snap[t] = sorted((tuple(None if (t, c) in self.VOLATILE else v
                                        for c, v in zip(cols, row)) for row in table_rows),
                                 key=repr)
        return snap

    def db_count(self, table, where="1=1", params=()):
        return self.query('SELECT COUNT(*) FROM "%s" WHERE %s' % (table, where), params)[0][0]


# -- PostgreSQL mode ----------------------------------------------------------------------
# With DS_TEST_POSTGRES=postgres://user@host:port (a server where that user may create
# databases; tests/integration/with_postgres.py starts a throwaway one), every Server gets a
# database of its own, remembered in its data directory so a restart finds it again.

PG_MARKER = ".test-postgres-db"


def postgres_url_for(data_dir, create=True):
    base = os.environ.get("DS_TEST_POSTGRES")
    if not base:
        return None
    marker = os.path.join(data_dir, PG_MARKER)
    if os.path.exists(marker):
        with open(marker) as f:
            return base + "/" + f.read().strip()
    if not create:
        return None
    name = "ds_it_" + uuid.uuid4().hex[:16]
    import psycopg2  # Debian's python3-psycopg2, installed by scripts/setup.sh --test
    conn = psycopg2.connect(base + "/postgres")
    conn.autocommit = True
    try:
        conn.cursor().execute("CREATE DATABASE " + name)
    finally:
        conn.close()
    os.makedirs(data_dir, exist_ok=True)
    with open(marker, "w") as f:
        f.write(name)
    return base + "/" + name


@contextlib.contextmanager
def store_connection(data_dir, write=False):
    """One connection to the store of data_dir, SQLite or PostgreSQL, for several statements:
    yields run(sql, params=()) -> (columns, rows), `?` placeholders; each statement is committed."""
    url = postgres_url_for(data_dir, create=False)
    if url:
        import psycopg2
        conn = psycopg2.connect(url)

        def run(sql, params=()):
            cur = conn.cursor()
            cur.execute(sql.replace("%", "%%").replace("?", "%s"), tuple(params))
            rows = cur.fetchall() if cur.description else []
            cols = [d[0] for d in cur.description] if cur.description else []
            conn.commit()
            return cols, rows
    else:
        path = os.path.join(data_dir, "dreamstream.db")
        conn = sqlite3.connect(path if write else "file:%s?mode=ro" % path, uri=not write,
                               timeout=10)

        def run(sql, params=()):
            cur = conn.execute(sql, params)
            rows = cur.fetchall()
            cols = [d[0] for d in cur.description] if cur.description else []
            conn.commit()
            return cols, rows
    try:
        yield run
    finally:
        conn.close()


def db_query(data_dir, sql, params=(), write=False, with_columns=False):
    """Runs sql (`?` placeholders) on the store of data_dir, SQLite or PostgreSQL."""
    with store_connection(data_dir, write) as run:
        cols, rows = run(sql, params)
    return (cols, rows) if with_columns else rows


class Response:
    """What `Client.request` saw; unpacks as (status, headers, json)."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # http.client.HTTPMessage: .get(name), .get_all(name)
        self.body = body        # bytes
        self.json = None
        ctype = headers.get("Content-Type", "") or ""
        if body and ctype.startswith("application/json"):
            try:
                self.json = json.loads(body.decode("utf-8"))
            except ValueError:
                self.json = None

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __iter__(self):
        return iter((self.status, self.headers, self.json))


class Client:
    """A small cookie-keeping HTTP client for one server (one connection per request)."""

    def __init__(self, server, origin=SAME_ORIGIN):
        self.server = server
        self.default_origin = origin
        self.cookies = {}
        self.last = None

    def _origin_header(self, method, origin):
        if origin is SAME_ORIGIN:
            origin = self.default_origin
        if origin is SAME_ORIGIN:
            return self.server.origin if method in STATE_CHANGING else None
        return origin

    def request(self, method, path, body=None, headers=None, origin=SAME_ORIGIN, raw=None,
                cookies=True):
        """Sends one request.

        body: a value sent as JSON; raw: bytes/str sent as-is (Content-Type from headers, else
        application/json). origin: SAME_ORIGIN (the server's origin on POST/PUT/PATCH/DELETE,
        none on reads), None (no Origin header), or a string. cookies=False sends no cookies.
        Returns a Response, which unpacks as (status, headers, json).
        """
        hdrs = {}
        payload = None
        if raw is not None:
            payload = raw.encode("utf-8") if isinstance(raw, str) else raw
            hdrs["Content-Type"] = "application/json"
        elif body is not None:
            payload = json.dumps(body).encode("utf-8")
            hdrs["Content-Type"] = "application/json"
        o = self._origin_header(method, origin)
        if o is not None:
            hdrs["Origin"] = o
        if cookies and self.cookies:
            hdrs["Cookie"] = "; ".join("%s=%s" % kv for kv in self.cookies.items())
        hdrs.update(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port,
                                          timeout=REQUEST_TIMEOUT_S)
        try:
            conn.request(method, path, body=payload, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            result = Response(resp.status, resp.msg, data)
        finally:
            conn.close()
        for sc in result.headers.get_all("Set-Cookie") or []:
            self._store_cookie(sc)
        self.last = result
        return result

    def _store_cookie(self, set_cookie):
        parts = [p.strip() for p in set_cookie.split(";")]
        name, _, value = parts[0].partition("=")
        attrs = {p.partition("=")[0].lower(): p.partition("=")[2] for p in parts[1:]}
        if attrs.get("max-age") == "0" or value == "":
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = value

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def head(self, path, **kw):
        return self.request("HEAD", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, body=body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body=body, **kw)

    def delete(self, path, body=None, **kw):
        return self.request("DELETE", path, body=body, **kw)

    def options(self, path, **kw):
        return self.request("OPTIONS", path, **kw)

    @property
    def session(self):
        return self.cookies.get("ds_session")


_counter = itertools.count(1)


def raw_request(port, method, path, headers=None, to_end=False):
    """One request over a plain socket: (status, headers with lower-case names, bytes after the
    headers). Reads up to the blank line (a stream such as MJPEG never ends), or with to_end to
    the connection's end (send Connection: close)."""
    import socket
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        lines = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1:%d" % port]
        lines += ["%s: %s" % kv for kv in (headers or {}).items()]
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        data = b""
        while to_end or b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    head = head.decode("latin-1").split("\r\n")
    fields = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    return int(head[0].split(" ")[1]), fields, rest


def wait_until(pred, timeout=5.0, what="condition"):
    """Polls pred() until it returns something true (returned) or timeout passes (fails)."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("%s not met within %.1f s" % (what, timeout))
        time.sleep(0.05)


def unique_name(prefix="u"):
    """A fresh valid username (3–30 chars of [a-z0-9_-])."""
    return ("%s%d_%s" % (prefix, next(_counter), uuid.uuid4().hex[:8]))[:30]


def register(client, username=None, email=None, password=PASSWORD, display_name=None,
             expect=201):
    """Registers through POST /api/auth/register; returns the user JSON (asserts the status)."""
    username = username or unique_name()
    body = {"username": username, "email": email or "%s@example.com" % username.lower(),
            "password": password}
    if display_name is not None:
        body["display_name"] = display_name
    status, _, data = client.post("/api/auth/register", body)
    if status != expect:
        raise AssertionError("register %s: expected %s, got %s %s"
                             % (username, expect, status, data))
    return data["user"] if data and "user" in data else data


def login(client, login_name, password=PASSWORD):
    return client.post("/api/auth/login", {"login": login_name, "password": password})


PROTOCOL_DOC = os.path.normpath(os.path.join(HERE, "..", "..", "docs", "protocol.md"))


def doc_close_codes():
    """{code: name} from the table under the "Close codes" heading of docs/protocol.md."""
    codes = {}
    in_section = False
    with open(PROTOCOL_DOC, encoding="utf-8") as f:
        for line in f:
            if re.match(r"#+\s", line):
                in_section = re.search(r"close codes?", line, re.I) is not None
            row = in_section and re.match(r"\|\s*`?(\d{4})`?\s*\|\s*`?([\w-]+)`?\s*\|", line)
            if row:
                codes[int(row.group(1))] = row.group(2)
    return codes


class ServerTestCase(unittest.TestCase):
    """One server per test class. Set server_args / server_env / server_global_args."""

    server_args = ()
    server_env = {}
    server_global_args = ()
    server = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = Server(cls.server_args, cls.server_env, cls.server_global_args)
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        if cls.server is not None:
            cls.server.cleanup()
        super().tearDownClass()

    def tearDown(self):
        # A test whose request killed the server fails here, whatever it asserted.
        if self.server is not None and not self.server.alive():
            self.fail("the server died (exit %s)" % self.server.proc.returncode)
        super().tearDown()

    def run(self, result=None):
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        out = super().run(result)
        if len(result.failures) + len(result.errors) > before and self.server is not None:
            tail = self.server.logs()[-20000:]
            sys.stderr.write("\n---- server log (%s) ----\n%s\n---- end server log ----\n"
                             % (self.id(), tail))
        return out

    # -- helpers shared by tests ---------------------------------------------------------
    def client(self, **kw):
        return self.server.client(**kw)

    def assertError(self, response, status, code=None):
        """A SPEC §8 error: the status and {"error":{"code":..,"message":..}}."""
        st, headers, body = response
        self.assertEqual(st, status, "body: %r" % (response.body[:500],))
        self.assertTrue((headers.get("Content-Type") or "").startswith("application/json"))
        self.assertIsInstance(body, dict)
        self.assertIn("error", body)
        self.assertIsInstance(body["error"].get("code"), str)
        self.assertIsInstance(body["error"].get("message"), str)
        if code is not None:
            self.assertEqual(body["error"]["code"], code)

    def assertHealthy(self):
        st, _, body = self.server.client().get("/healthz")
        self.assertEqual(st, 200)
        self.assertEqual(body.get("status"), "ok")


# -- database outages ---------------------------------------------------------------------
# tests/integration/with_postgres.py says how to stop and start its server in DS_TEST_PG_CTL.

def postgres_control():
    """(pg_ctl argv prefix, start options) of the throwaway PostgreSQL, or None."""
    raw = os.environ.get("DS_TEST_PG_CTL")
    if not raw:
        return None
    spec = json.loads(raw)
    return spec["pg_ctl"], spec["options"]


def postgres_stop():
    """Stops the throwaway PostgreSQL (fast: open connections are terminated)."""
    pg_ctl, _ = postgres_control()
    subprocess.run(pg_ctl + ["-m", "fast", "stop"], check=True, capture_output=True, timeout=60)


def postgres_start():
    """Starts it again on the same data directory and port; returns once it accepts connections."""
    pg_ctl, options = postgres_control()
    subprocess.run(pg_ctl + ["-o", options, "start"], check=True, capture_output=True, timeout=60)


class SqliteWriteLock:
    """Another connection holding the SQLite store's write lock (BEGIN IMMEDIATE) until release()."""

    def __init__(self, server):
        self.conn = sqlite3.connect(server.db_path, timeout=10, isolation_level=None)
        self.conn.execute("BEGIN IMMEDIATE")

    def release(self):
        if self.conn is not None:
            self.conn.execute("ROLLBACK")
            self.conn.close()
            self.conn = None
