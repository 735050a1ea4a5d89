"""Browser test through nginx in front of two `serve` nodes (issue 10).

Starts a throwaway PostgreSQL, redis-server and two nodes (tests/integration/cluster.py, no
built-in workers, nginx as a trusted proxy), then Debian's nginx on a free loopback port with
deploy/nginx.conf (the node addresses and the listen port substituted; logs, pid and temporary
files in a temporary directory), then one `dreamstream worker` connected through nginx, and
runs `node --test cluster.test.mjs` with DS_CLUSTER_URL set to nginx's address. Afterwards
both nodes' logs must show API requests they handled: nginx spread the requests over both.

    /usr/bin/python3 tests/browser/cluster_nginx.py        (or ctest -R browser_cluster)

Needs PostgreSQL, redis-server, nginx, python3-psycopg2, Chromium and tests/browser's
node_modules (scripts/setup.sh --test), and a `dreamstream` with --redis and --node-id
(DREAMSTREAM_BIN, else build/dreamstream).
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from cluster import Cluster, Postgres, free_port, wait_until  # noqa: E402
from harness import binary_path  # noqa: E402

NGINX_CONF = os.path.join(ROOT, "deploy", "nginx.conf")
WORKER_TOKEN = "dsw_browser_cluster_token_0123456789"
NODE_ARGS = ["--builtin-workers", "0", "--worker-token", WORKER_TOKEN,
             "--trusted-proxy", "127.0.0.1/32", "--grace-ms", "5000"]
NODE_TEST_TIMEOUT_S = 150


def render_nginx_conf(text, upstreams, port, tmp):
    """deploy/nginx.conf for a test run: the upstream's server lines replaced by upstreams
    (host:port), `listen 80` by 127.0.0.1:port, the IPv6/TLS listens dropped, pid and the
    main error_log left to -g/-e, access_log and every temporary path under tmp, and `user`
    kept only when we are root (nginx ignores it otherwise, with a warning)."""

    def sub(pattern, repl, s, count_expected=None):
        out, n = re.subn(pattern, repl, s, flags=re.M)
        if n == 0 or (count_expected is not None and n != count_expected):
            raise RuntimeError("deploy/nginx.conf changed shape: %r matched %d times"
                               % (pattern, n))
        return out

    text = sub(r"^pid\s+[^;]*;\n", "", text, 1)
    text = sub(r"^error_log\s+[^;]*;\n", "", text, 1)
    if os.geteuid() != 0:
        text = sub(r"^user\s+[^;]*;\n", "", text, 1)
    text = sub(r"^(\s*)access_log\s+[^;]*;",
               lambda m: "%saccess_log %s/access.log;" % (m.group(1), tmp), text, 1)
    # The node list: drop the example nodes, put ours first in the upstream block.
    text = sub(r"^\s*server\s+\d+\.\d+\.\d+\.\d+:\d+[^;]*;\n", "", text)
    nodes = "".join("        server %s max_fails=1 fail_timeout=5s;\n" % u for u in upstreams)
    text = sub(r"^(\s*upstream dreamstream \{\n)", lambda m: m.group(1) + nodes, text, 1)
    text = sub(r"^(\s*)listen\s+80;", lambda m: "%slisten 127.0.0.1:%d;" % (m.group(1), port),
               text, 1)
    # Temporary files (Debian's defaults are under /var/lib/nginx).
    temp = "".join("    %s_temp_path %s/%s;\n" % (k, tmp, k)
                   for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    text = sub(r"^(http \{\n)", lambda m: m.group(1) + temp, text, 1)
    return text


class Nginx:
    def __init__(self, upstreams):
        self.upstreams = upstreams
        self.port = free_port()
        self.tmp = tempfile.mkdtemp(prefix="ds-nginx-")
        self.proc = None
        self.conf = os.path.join(self.tmp, "nginx.conf")
        self.error_log = os.path.join(self.tmp, "error.log")

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if not os.path.exists(nginx):
            raise RuntimeError("nginx is not installed (scripts/setup.sh --test installs it)")
        with open(NGINX_CONF) as f:
            text = render_nginx_conf(f.read(), self.upstreams, self.port, self.tmp)
        with open(self.conf, "w") as f:
            f.write(text)
        if os.geteuid() == 0:
            # Workers run as the conf's `user` (www-data): they must reach the temporary
            # directories, which the master creates and hands to that user.
            os.chmod(self.tmp, 0o755)
        self._out = open(os.path.join(self.tmp, "stdout.log"), "wb")
        self.proc = subprocess.Popen(
            [nginx, "-p", self.tmp + "/", "-c", self.conf, "-e", self.error_log,
             "-g", "daemon off; pid %s/nginx.pid; error_log %s info;" % (self.tmp, self.error_log)],
            stdout=self._out, stderr=subprocess.STDOUT)

        def healthy():
            if self.proc.poll() is not None:
                raise RuntimeError("nginx exited with %s:\n%s" % (self.proc.returncode, self.logs()))
            with urllib.request.urlopen(self.url + "/healthz", timeout=2) as r:
                return r.status == 200

        wait_until(healthy, 15, "nginx on port %d" % self.port)
        return self

    def logs(self):
        parts = []
        for name in ("stdout.log", "error.log"):
            try:
                with open(os.path.join(self.tmp, name), "rb") as f:
                    parts.append(f.read().decode("utf-8", "replace")[-4000:])
            except OSError:
                pass
        return "\n".join(parts)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "_out", None):
            self._out.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def handled(node, prefix):
    """Requests under prefix in a node's access log (`event=http ... path=...`)."""
    return len(re.findall(r"event=http method=\S+ path=%s" % re.escape(prefix), node.logs()))


def worker_log_text(nginx):
    with open(os.path.join(nginx.tmp, "worker.log"), "rb") as f:
        return f.read().decode("utf-8", "replace")


def worker_moves_on(cl, nginx):
    """The worker's node dies (SIGKILL): the worker retries the same URL and nginx sends it to
    the other node, where it registers again."""
    holders = [i for i, n in enumerate(cl.nodes) if "path=/ws/worker" in n.logs()]
    if not holders:
        raise AssertionError("no node logged the worker's socket")
    dead = holders[-1]
    survivor = cl.nodes[1 - dead]
    before = worker_log_text(nginx).count("event=registered")
    seen_before = survivor.logs().count("path=/ws/worker")
    cl.kill(dead)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if (worker_log_text(nginx).count("event=registered") > before
                and survivor.logs().count("path=/ws/worker") > seen_before):
            print("cluster_nginx: the worker moved from %s to %s after a SIGKILL"
                  % (cl.nodes[dead].node_id, survivor.node_id), flush=True)
            return
        time.sleep(0.2)
    raise AssertionError("the worker did not register on %s after its node died"
                         % survivor.node_id)


def main():
    pg = Postgres().start()
    cl = nginx = worker = None
    ok = False
    try:
        cl = Cluster(pg, nodes=2, node_args=NODE_ARGS).start()
        nginx = Nginx(["127.0.0.1:%d" % n.port for n in cl.nodes])
        nginx.start()
        print("cluster_nginx: nginx %s -> %s" % (nginx.url, ", ".join(
            "%s %s" % (n.node_id, n.url) for n in cl.nodes)), flush=True)

        # The only model worker, a GPU host's in production, connects through the load balancer.
        env = {k: v for k, v in os.environ.items() if not k.startswith("DREAMSTREAM_")}
        with open(os.path.join(nginx.tmp, "worker.log"), "wb") as worker_log:
            worker = subprocess.Popen(
                [binary_path(), "worker", "--server", nginx.url.replace("http://", "ws://"),
                 "--token", WORKER_TOKEN, "--name", "browser-cluster", "--max-backoff-ms", "500"],
                stdout=worker_log, stderr=subprocess.STDOUT, env=env)

        env = dict(os.environ, DS_CLUSTER_URL=nginx.url)
        r = subprocess.run(["node", "--test", "--test-concurrency=1", "cluster.test.mjs"],
                           cwd=HERE, env=env, timeout=NODE_TEST_TIMEOUT_S)
        counts = {n.node_id: {"api": handled(n, "/api/"), "ws": handled(n, "/ws/"),
                              "all": handled(n, "/")} for n in cl.nodes}
        print("cluster_nginx: requests handled per node: %s" % counts, flush=True)
        for n in cl.nodes:
            print("cluster_nginx: %s sockets: %s" % (n.node_id, ", ".join(
                re.findall(r"event=http method=GET path=(/ws/\S+)", n.logs()))), flush=True)
        if r.returncode != 0:
            raise AssertionError("node --test cluster.test.mjs failed (exit %d)" % r.returncode)
        for node_id, c in counts.items():
            if c["api"] == 0:
                raise AssertionError("%s handled no /api request: nginx did not spread them"
                                     % node_id)
        worker_moves_on(cl, nginx)
        ok = True
    finally:
        if not ok:
            if cl is not None:
                sys.stderr.write(cl.logs() + "\n")
            if nginx is not None:
                sys.stderr.write("---- nginx ----\n" + nginx.logs() + "\n")
                try:
                    with open(os.path.join(nginx.tmp, "worker.log"), "rb") as f:
                        sys.stderr.write("---- worker ----\n"
                                         + f.read().decode("utf-8", "replace")[-3000:] + "\n")
                except OSError:
                    pass
        if worker is not None:
            worker.kill()
            worker.wait()
        if nginx is not None:
            nginx.stop()
        if cl is not None:
            cl.cleanup()
        pg.stop()
    print("cluster_nginx: ok", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
