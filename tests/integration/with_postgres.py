"""Runs integration test modules against a throwaway PostgreSQL server instead of SQLite.

    python3 with_postgres.py test_accounts test_live ...

Starts Debian's PostgreSQL (initdb into a temporary directory, loopback only, on a free
port; as the `postgres` user when run as root, since initdb refuses root), sets
DS_TEST_POSTGRES so every harness Server gets a fresh database of its own, runs
`python3 -m unittest` on the given modules, and removes the cluster again.
"""

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile


def pg_bin(name):
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/" + name),
                   key=lambda p: int(p.split("/")[4]))
    if not found:
        sys.exit("PostgreSQL is not installed (scripts/setup.sh --test installs it)")
    return found[-1]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    modules = sys.argv[1:]
    tmp = tempfile.mkdtemp(prefix="ds-pg-")
    as_user = []
    if os.geteuid() == 0:
        shutil.chown(tmp, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data = os.path.join(tmp, "data")
    port = free_port()
    run = lambda *cmd: subprocess.run(as_user + list(cmd), check=True, capture_output=True)
    options = ("-k %s -c listen_addresses=127.0.0.1 -p %d -c fsync=off -c max_connections=300"
               % (tmp, port))
    try:
        run(pg_bin("initdb"), "-D", data, "-A", "trust", "-U", "ds", "--no-sync")
        run(pg_bin("pg_ctl"), "-D", data, "-l", os.path.join(tmp, "log"), "-w", "-o", options,
            "start")
        env = dict(os.environ, DS_TEST_POSTGRES="postgres://ds@127.0.0.1:%d" % port)
        # How a test stops and starts this very server (test_db_outage): the same command
        # line, data directory and port.
        env["DS_TEST_PG_CTL"] = json.dumps({
            "pg_ctl": as_user + [pg_bin("pg_ctl"), "-D", data, "-l", os.path.join(tmp, "log"),
                                 "-w"],
            "options": options})
        rc = subprocess.run([sys.executable, "-m", "unittest", "-v"] + modules, env=env).returncode
    except subprocess.CalledProcessError as e:
        sys.stderr.write("postgres set-up failed: %s\n%s" % (e.cmd, e.stderr.decode()))
        log = os.path.join(tmp, "log")
        if os.path.exists(log):
            sys.stderr.write(open(log).read())
        rc = 1
    finally:
        subprocess.run(as_user + [pg_bin("pg_ctl"), "-D", data, "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(rc)


if __name__ == "__main__":
    main()
