"""Start-up failures are one clear line and a non-zero exit, never an abort (issue 24).

`serve`: exit 1; `push --listen` on a taken address: exit 4 (its input cannot be opened).

A listen address in use, a data directory that cannot be written and a database that cannot be
opened each end `serve` at once with a sentence that names the problem; a database password
never appears in it.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import unittest

from harness import binary_path


class TestStartupErrors(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ds-start-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.file = os.path.join(self.tmp, "a-file")
        open(self.file, "w").close()

    def serve(self, *args):
        env = {k: v for k, v in os.environ.items() if not k.startswith("DREAMSTREAM_")}
        out = subprocess.run([binary_path(), "serve"] + list(args), capture_output=True,
                             text=True, timeout=60, env=env, cwd=self.tmp)
        text = out.stdout + out.stderr
        self.assertNotIn("terminate called", text)
        self.assertNotIn("Aborted", text)
        self.assertEqual(out.returncode, 1, text)
        return out

    def test_listen_address_in_use(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            out = self.serve("--listen", "127.0.0.1:%d" % port,
                             "--data", os.path.join(self.tmp, "data"))
        self.assertIn("cannot listen on 127.0.0.1:%d: address in use" % port, out.stderr)
        self.assertIn("--listen", out.stderr)
        self.assertEqual(len(out.stderr.strip().splitlines()), 1, out.stderr)

    def test_data_directory_that_cannot_be_written(self):
        data = os.path.join(self.file, "data")  # under a file: cannot be created, even by root
        out = self.serve("--listen", "127.0.0.1:0", "--data", data)
        self.assertIn("cannot write the data directory %s" % data, out.stderr)
        self.assertIn("--data", out.stderr)
        self.assertEqual(len(out.stderr.strip().splitlines()), 1, out.stderr)

    def test_sqlite_database_that_cannot_be_opened(self):
        url = "sqlite://%s/db.sqlite" % self.file
        out = self.serve("--listen", "127.0.0.1:0", "--data", os.path.join(self.tmp, "data"),
                         "--db", url)
        self.assertIn("cannot open the database %s" % url, out.stderr)
        self.assertEqual(len(out.stderr.strip().splitlines()), 1, out.stderr)

    def test_postgres_that_cannot_be_reached_and_its_password_stays_secret(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]  # closed again: nothing listens there
        url = "postgres://ds:s3cret-pw@127.0.0.1:%d/dreamstream" % port
        out = self.serve("--listen", "127.0.0.1:0", "--data", os.path.join(self.tmp, "data"),
                         "--db", url)
        self.assertIn("cannot open the database postgres://ds:***@127.0.0.1:%d/dreamstream"
                      % port, out.stderr)
        self.assertNotIn("s3cret-pw", out.stdout + out.stderr)

    def test_push_listen_on_an_address_in_use(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            url = "rtmp://127.0.0.1:%d/live" % taken.getsockname()[1]
            env = {k: v for k, v in os.environ.items() if not k.startswith("DREAMSTREAM_")}
            out = subprocess.run([binary_path(), "push", "--key", "dsk_unused", "--input", url,
                                  "--listen"], capture_output=True, text=True, timeout=30,
                                 env=env)
        self.assertNotIn("terminate called", out.stdout + out.stderr)
        self.assertEqual(out.returncode, 4, out.stdout + out.stderr)
        self.assertIn("cannot open %s: Address already in use" % url, out.stderr)
        self.assertEqual(len(out.stderr.strip().splitlines()), 1, out.stderr)


if __name__ == "__main__":
    unittest.main()
