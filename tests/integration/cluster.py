"""A many-node DreamStream for integration tests: one throwaway PostgreSQL, one Redis, N nodes.

Standard library plus Debian's python3-psycopg2 (scripts/setup.sh --test). Typical use::

    from cluster import Cluster, Postgres

    pg = Postgres().start()                     # initdb into a temp dir, loopback, free port
    cl = Cluster(pg, nodes=3, node_args=["--builtin-workers", "0"]).start()
    a, b, c = cl.nodes                          # harness.Server objects
    cl.kill(0)                                  # SIGKILL node 0 (cl.terminate(i): SIGTERM)
    cl.revive(0)                                # a fresh process with the same node id
    cl.redis.stop(); cl.redis.start()           # same port, empty (no persistence)
    cl.ledger_verify()                          # `dreamstream admin ... ledger verify`
    cl.query("SELECT status FROM stream_sessions WHERE user_id = %s", (uid,))
    cl.cleanup(); pg.stop()

Every node is `serve --db <one database> --redis redis://ds-node:PW@127.0.0.1:P
--node-id node-<letter> --cluster-secret S` plus node_args, with a data directory of its own.
Redis wants a password (`requirepass`, for the default user, which the tests' own raw commands
use) and knows an ACL user `ds-node` that the nodes log in as (issue 20: nodes authenticate,
and every message between them is sealed with the cluster secret). `DS_CLUSTER_NO_REDIS=1` leaves out `--redis`
and `--node-id` (a binary from before issue 10 refuses them), so the harness itself and the
parts that only need the shared database can be tried with an older binary.
`python3 cluster.py` starts a 3-node cluster, prints its addresses and waits for Ctrl-C.
"""

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

from harness import Server, binary_path

NODE_NAMES = "abcdefghij"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout, what="condition", interval=0.05):
    """Polls pred() until it returns something truthy (returned); AssertionError at the deadline."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = pred()
        except (OSError, ConnectionError) as e:  # a node or socket mid-restart
            last = None
            err = e
        else:
            err = None
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s%s"
                                 % (timeout, what, " (last error: %s)" % err if err else ""))
        time.sleep(interval)


# -- PostgreSQL -------------------------------------------------------------------------------
def pg_bin(name):
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/" + name),
                   key=lambda p: int(p.split("/")[4]))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (scripts/setup.sh --test installs it)")
    return found[-1]


class Postgres:
    """A throwaway PostgreSQL server (the same set-up as with_postgres.py): initdb into a temp
    directory with trust auth for user `ds`, loopback only, on a free port; run as the
    `postgres` user when we are root (initdb refuses root).

    With DS_TEST_POSTGRES=postgres://user@host:port already set (with_postgres.py), that server
    is used instead and start/stop do nothing."""

    def __init__(self):
        self.external = os.environ.get("DS_TEST_POSTGRES")
        self.tmp = None
        self.port = None
        self.as_user = []

    @property
    def base_url(self):
        return self.external or "postgres://ds@127.0.0.1:%d" % self.port

    def _run(self, *cmd):
        return subprocess.run(self.as_user + list(cmd), check=True, capture_output=True,
                              timeout=120)

    def start(self):
        if self.external:
            return self
        self.tmp = tempfile.mkdtemp(prefix="ds-cluster-pg-")
        if os.geteuid() == 0:
            shutil.chown(self.tmp, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.port = free_port()
        data = os.path.join(self.tmp, "data")
        options = ("-k %s -c listen_addresses=127.0.0.1 -p %d -c fsync=off "
                   "-c max_connections=300" % (self.tmp, self.port))
        try:
            self._run(pg_bin("initdb"), "-D", data, "-A", "trust", "-U", "ds", "--no-sync")
            self._run(pg_bin("pg_ctl"), "-D", data, "-l", os.path.join(self.tmp, "log"), "-w",
                      "-o", options, "start")
        except subprocess.CalledProcessError as e:
            log = os.path.join(self.tmp, "log")
            detail = open(log).read() if os.path.exists(log) else ""
            self.stop()
            raise RuntimeError("postgres set-up failed: %s\n%s%s"
                               % (e.cmd, e.stderr.decode(errors="replace"), detail))
        return self

    def stop(self):
        if self.external or self.tmp is None:
            return
        subprocess.run(self.as_user + [pg_bin("pg_ctl"), "-D", os.path.join(self.tmp, "data"),
                                       "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp = None

    def create_database(self):
        """A fresh empty database; returns its URL."""
        import psycopg2
        name = "ds_cluster_" + uuid.uuid4().hex[:16]
        conn = psycopg2.connect(self.base_url + "/postgres")
        conn.autocommit = True
        try:
            conn.cursor().execute("CREATE DATABASE " + name)
        finally:
            conn.close()
        return self.base_url + "/" + name


def pg_query(url, sql, params=()):
    """Rows of sql (psycopg2 `%s` placeholders) on the database at url."""
    import psycopg2
    conn = psycopg2.connect(url)
    try:
        cur = conn.cursor()
        cur.execute(sql, tuple(params))
        rows = cur.fetchall() if cur.description else []
        conn.commit()
        return rows
    finally:
        conn.close()


# -- Redis ------------------------------------------------------------------------------------
class Redis:
    """`redis-server --port P --bind 127.0.0.1 --save "" --appendonly no`, stoppable and
    restartable on the same port (it comes back empty: nothing is persisted). With password,
    the default user needs it (requirepass; command() and sniff() send it); with user and
    user_password also, an ACL user with every right, whom url names."""

    def __init__(self, port=None, password=None, user=None, user_password=None):
        self.port = port or free_port()
        self.password = password
        self.user = user
        self.user_password = user_password
        self.tmp = tempfile.mkdtemp(prefix="ds-cluster-redis-")
        self.log_path = os.path.join(self.tmp, "redis.log")
        self.proc = None
        self._log = None

    @property
    def url(self):
        if self.user:
            return "redis://%s:%s@127.0.0.1:%d" % (self.user, self.user_password, self.port)
        if self.password:
            return "redis://:%s@127.0.0.1:%d" % (self.password, self.port)
        return "redis://127.0.0.1:%d" % self.port

    def secrets(self):
        """The passwords a log line must never show."""
        return [p for p in (self.password, self.user_password) if p]

    def _auth(self):
        if not self.password:
            return b""
        return b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(self.password),
                                                       self.password.encode())

    def start(self, timeout=15.0):
        if self.alive():
            return self
        self._log = open(self.log_path, "ab")
        extra = []
        if self.password:
            extra += ["--requirepass", self.password]
        if self.user:
            extra += ["--user", self.user, "on", ">" + self.user_password, "~*", "&*", "+@all"]
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.tmp] + extra,
            stdout=self._log, stderr=subprocess.STDOUT, cwd=self.tmp)
        wait_until(lambda: self.proc.poll() is None and self.ping(), timeout,
                   "redis-server on port %d" % self.port)
        return self

    def ping(self):
        """True when the server answers PING (a raw RESP exchange, no client library)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(self._auth() + b"PING\r\n")
                reply = b""
                while reply.count(b"\r\n") < (2 if self.password else 1):
                    chunk = s.recv(64)
                    if not chunk:
                        break
                    reply += chunk
                return reply.split(b"\r\n")[-2].startswith(b"+PONG")
        except OSError:
            return False

    def connect(self):
        """A raw socket to this Redis, logged in when it wants a password (a context manager).
        Raises RuntimeError when the password is refused."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        if self.password:
            s.sendall(self._auth())
            ok = b""
            while b"\r\n" not in ok:
                chunk = s.recv(1)
                if not chunk:
                    break
                ok += chunk
            if not ok.startswith(b"+OK"):
                s.close()
                raise RuntimeError("redis AUTH refused: %r" % ok)
        return s

    def command(self, *args):
        """One command over raw RESP; returns the first line of the reply (a test helper for
        writing what a hostile client of Redis would, not a general client)."""
        parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        msg = b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
        with self.connect() as s:
            s.sendall(msg)
            reply = b""
            while b"\r\n" not in reply:
                chunk = s.recv(65536)
                if not chunk:
                    break
                reply += chunk
            line, _, rest = reply.partition(b"\r\n")
            if not line.startswith(b"$") or line == b"$-1":
                return line.decode(errors="replace")
            size = int(line[1:])
            while len(rest) < size:
                chunk = s.recv(65536)
                if not chunk:
                    break
                rest += chunk
            return rest[:size].decode(errors="replace")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGKILL):
        """Stops it at once (SIGKILL by default: an outage, not a maintenance window)."""
        if self.alive():
            self.proc.send_signal(sig)
            self.proc.wait(15)
        if self._log:
            self._log.close()
            self._log = None

    def restart(self, down_s=0.0):
        self.stop()
        if down_s:
            time.sleep(down_s)
        return self.start()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


class Resp:
    """Reads RESP replies off a socket (bulk strings stay bytes)."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("redis closed the connection")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b"-"):
            return rest.decode(errors="replace")
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            while len(self.buf) < size + 2:
                self._fill()
            data, self.buf = self.buf[:size], self.buf[size + 2:]
            return data
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise ValueError("not RESP: %r" % line)


def resp_command(*args):
    parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


class RedisSniffer:
    """What a bystander with read access to Redis sees: `PSUBSCRIBE *` on a raw socket (every
    message published while it runs, .messages as (channel, payload) bytes), and snapshot()
    (every key and value at that moment, as one bytes blob, collected into .keys_seen)."""

    def __init__(self, redis):
        import threading
        self.redis = redis
        self.messages = []
        self.keys_seen = b""
        self.lock = threading.Lock()
        self.sock = socket.create_connection(("127.0.0.1", redis.port), timeout=5)
        self.resp = Resp(self.sock)
        if redis.password:
            self.sock.sendall(resp_command("AUTH", redis.password))
            assert self.resp.read() == "OK"
        self.sock.sendall(resp_command("PSUBSCRIBE", "*"))
        self.resp.read()  # psubscribe confirmation
        self.sock.settimeout(None)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            while True:
                m = self.resp.read()
                if isinstance(m, list) and len(m) == 4 and m[0] == b"pmessage":
                    with self.lock:
                        self.messages.append((m[2], m[3]))
        except (OSError, ConnectionError, ValueError):
            pass

    def snapshot(self):
        blob = []
        with socket.create_connection(("127.0.0.1", self.redis.port), timeout=5) as s:
            r = Resp(s)
            if self.redis.password:
                s.sendall(resp_command("AUTH", self.redis.password))
                r.read()
            s.sendall(resp_command("KEYS", "*"))
            for key in r.read() or []:
                s.sendall(resp_command("TYPE", key))
                kind = r.read()
                cmd = {"string": ("GET", key), "hash": ("HGETALL", key),
                       "zset": ("ZRANGE", key, 0, -1, "WITHSCORES"), "set": ("SMEMBERS", key),
                       "list": ("LRANGE", key, 0, -1)}.get(kind)
                blob.append(key)
                if cmd:
                    s.sendall(resp_command(*cmd))
                    value = r.read()
                    for v in (value if isinstance(value, list) else [value]):
                        if isinstance(v, bytes):
                            blob.append(v)
        out = b"\n".join(blob)
        with self.lock:
            self.keys_seen += out + b"\n"
        return out

    def published(self):
        """Every payload and channel seen so far, as one bytes blob."""
        with self.lock:
            return b"\n".join(c + b" " + p for c, p in self.messages)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(5)


# -- the cluster ------------------------------------------------------------------------------
class Cluster:
    """N `serve` nodes on one database and one Redis. nodes[i] is a harness.Server (its
    .client(), .url, .origin, .proc, .logs() work as usual); node ids are node-a, node-b, ..."""

    def __init__(self, postgres, nodes=3, node_args=(), env=None, redis=True):
        self.postgres = postgres
        self.count = nodes
        self.node_args = list(node_args)
        self.env = dict(env or {})
        self.use_redis = redis and not os.environ.get("DS_CLUSTER_NO_REDIS")
        self.secret = "cluster-secret-" + uuid.uuid4().hex
        self.redis = Redis(password="redis-default-" + uuid.uuid4().hex, user="ds-node",
                           user_password="redis-node-" + uuid.uuid4().hex) if redis else None
        self.db_url = None
        self.nodes = []
        self.retired = []  # killed or replaced Server objects, kept for their logs

    def node_id(self, i):
        return "node-" + NODE_NAMES[i]

    def args_for(self, i):
        args = ["--db", self.db_url]
        if self.use_redis:
            args += ["--redis", self.redis.url, "--node-id", self.node_id(i),
                     "--cluster-secret", self.secret]
        return args + self.node_args

    def _new_node(self, i):
        server = Server(self.args_for(i), self.env)
        server.node_index = i
        server.node_id = self.node_id(i)
        return server

    def start(self):
        try:
            if self.redis is not None:
                self.redis.start()
            self.db_url = self.postgres.create_database()
            # The first node creates the schema; the rest start together.
            self.nodes = [self._new_node(i) for i in range(self.count)]
            self.nodes[0].start()
            for n in self.nodes[1:]:
                n.start()
        except Exception:
            self.cleanup()
            raise
        return self

    # -- node lifecycle ------------------------------------------------------------------------
    def kill(self, i):
        """SIGKILL node i (a crash: nothing is finalised) and wait for it to be gone."""
        n = self.nodes[i]
        if n.alive():
            n.proc.send_signal(signal.SIGKILL)
            n.proc.wait(15)
        n.stop()  # closes the log
        return n.returncode

    def terminate(self, i):
        """SIGTERM node i without waiting (the graceful shutdown runs); see wait_exit."""
        n = self.nodes[i]
        if n.alive():
            n.proc.send_signal(signal.SIGTERM)

    def wait_exit(self, i, timeout=20.0):
        n = self.nodes[i]
        rc = n.proc.wait(timeout)
        n.stop()
        return rc

    def revive(self, i):
        """Replaces node i (dead or alive) by a fresh process with the same id and arguments,
        on a new port. Returns the new Server (also nodes[i])."""
        old = self.nodes[i]
        if old.alive():
            old.stop()
        self.retired.append(old)
        self.nodes[i] = self._new_node(i)
        self.nodes[i].start()
        return self.nodes[i]

    def alive(self):
        return [n.alive() for n in self.nodes]

    # -- the shared store ----------------------------------------------------------------------
    def query(self, sql, params=()):
        """Rows of sql on the shared database; `?` or `%s` placeholders."""
        if "?" in sql:
            sql = sql.replace("%", "%%").replace("?", "%s")
        return pg_query(self.db_url, sql, params)

    def admin(self, *args, timeout=60):
        """`dreamstream admin --data <tmp> --db <shared db> ARGS...` -> CompletedProcess."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("DREAMSTREAM_")}
        data = tempfile.mkdtemp(prefix="ds-cluster-admin-")
        try:
            return subprocess.run([binary_path(), "admin", "--data", data, "--db", self.db_url]
                                  + list(args), capture_output=True, text=True, timeout=timeout,
                                  env=env)
        finally:
            shutil.rmtree(data, ignore_errors=True)

    def ledger_verify(self):
        """(ok, output) of `admin ledger verify` on the shared database."""
        r = self.admin("ledger", "verify")
        return r.returncode == 0, r.stdout + r.stderr

    # -- diagnostics ---------------------------------------------------------------------------
    def logs(self, tail=6000):
        parts = []
        for n in self.retired + self.nodes:
            parts.append("---- %s (port %s, %s) ----\n%s"
                         % (getattr(n, "node_id", "?"), n.port,
                            "running" if n.alive() else "exit %s" % n.returncode,
                            n.logs()[-tail:]))
        if self.redis is not None:
            try:
                with open(self.redis.log_path, "rb") as f:
                    parts.append("---- redis ----\n" + f.read().decode("utf-8", "replace")[-2000:])
            except OSError:
                pass
        return "\n".join(parts)

    def cleanup(self):
        for n in self.nodes + self.retired:
            try:
                n.cleanup()
            except Exception:
                pass
        if self.redis is not None:
            self.redis.cleanup()


def main():
    pg = Postgres().start()
    cl = None
    try:
        cl = Cluster(pg, nodes=int(sys.argv[1]) if len(sys.argv) > 1 else 3).start()
        print("database %s\nredis %s" % (cl.db_url, cl.redis.url))
        for n in cl.nodes:
            print("%s %s (pid %d, log %s)" % (n.node_id, n.url, n.proc.pid, n.log_path))
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        if cl is not None:
            cl.cleanup()
        pg.stop()


if __name__ == "__main__":
    main()
