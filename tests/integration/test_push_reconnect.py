"""`dreamstream push` rides out a lost line: it reconnects with backoff and the stream goes on.

A TCP forwarder on loopback stands between the pusher (a --dir of JPEGs at 10 fps) and the real
server, so a test can cut the line or refuse new connections:

- every forwarded connection is cut once: the pusher stays up, logs event=reconnected, and the
  SAME stream goes on (the same stream_id in its status lines, frames_in still rising), since
  it reconnects well within the server's grace period;
- the streamer stops the stream (POST /api/streams/stop, close code 4002): final, the pusher
  exits 1 at once without trying to reconnect;
- the line is cut and the forwarder refuses new connections: with --retry-for 2 the pusher
  gives up after about 2 s with exit code 1.
"""

import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import ServerTestCase, register
from test_push_input import Pusher

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures")


class Forwarder:
    """Forwards loopback TCP connections to a target port; cut() breaks them all at once."""

    def __init__(self, target_port):
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.sockets = []
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # refuse() closed the listener
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets += [client, upstream]
                self.accepted += 1
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            Forwarder._close(s)

    @staticmethod
    def _close(s):
        try:
            s.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv (close alone does not)
        except OSError:
            pass
        s.close()

    def cut(self):
        """Breaks every forwarded connection (both sides see the line drop, no close frame)."""
        with self.lock:
            sockets, self.sockets = self.sockets, []
        for s in sockets:
            self._close(s)

    def refuse(self):
        """Stops listening: new connections are refused."""
        self._close(self.listener)

    def close(self):
        self.refuse()
        self.cut()


def statuses(log):
    """The pusher's status lines as dicts of their key=value fields, oldest first."""
    out = []
    for line in log.splitlines():
        if "event=status" in line:
            out.append(dict(re.findall(r"([\w.]+)=(\S+)", line)))
    return out


class TestPushReconnect(ServerTestCase):
    def setUp(self):
        self.frames = tempfile.mkdtemp(prefix="ds-frames-")
        self.addCleanup(shutil.rmtree, self.frames, True)
        for name in sorted(os.listdir(FIXTURES)):
            if name.endswith(".jpg"):
                shutil.copy(os.path.join(FIXTURES, name), self.frames)

    def new_streamer(self):
        c = self.client()
        user = register(c)
        st, _, body = c.post("/api/me/stream-key")
        self.assertEqual(st, 201, body)
        return c, user["username"], body["stream_key"]

    def forwarder(self):
        f = Forwarder(self.server.port)
        self.addCleanup(f.close)
        return f

    def pusher(self, port, key, *args):
        p = Pusher("ws://127.0.0.1:%d" % port, key, "--dir", self.frames, "--loop", "--fps", "10",
                   *args)
        self.addCleanup(p.close)
        return p

    def wait_status(self, p, after=0, timeout=15.0):
        """The first status line past the first `after` ones that shows frames arriving."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for s in statuses(p.log())[after:]:
                if int(s.get("frames_in", "0")) > 0:
                    return s
            if p.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.fail("no status with frames_in > 0 (exit %s):\n%s" % (p.proc.poll(), p.log()))

    def test_a_cut_line_reconnects_and_the_same_stream_goes_on(self):
        _, name, key = self.new_streamer()
        fwd = self.forwarder()
        p = self.pusher(fwd.port, key)
        before = self.wait_status(p)

        fwd.cut()
        p.wait_log(r"event=reconnect_wait delay_ms=\d+ attempt=1", timeout=10)
        p.wait_log(r"event=reconnected", timeout=10)
        after = self.wait_status(p, after=len(statuses(p.log())))
        self.assertIsNone(p.proc.poll(), "the pusher stays up:\n" + p.log())
        self.assertEqual(fwd.accepted, 2)
        self.assertEqual(after["stream_id"], before["stream_id"],
                         "the same stream goes on within the grace period:\n" + p.log())
        self.assertGreater(int(after["frames_in"]), int(before["frames_in"]))
        info = self.client().get("/api/streams/" + name).json
        self.assertTrue(info["live"], info)

        self.assertEqual(p.stop(), 0, p.log())
        done = re.search(r"event=push_done frames_sent=\d+ frames_dropped=\d+ reconnects=(\d+)",
                         p.log())
        self.assertIsNotNone(done, p.log())
        self.assertEqual(done[1], "1")

    def test_a_stream_stopped_by_the_streamer_is_final(self):
        c, _, key = self.new_streamer()
        p = self.pusher(self.server.port, key)
        self.wait_status(p)
        st, _, body = c.post("/api/streams/stop")
        self.assertEqual(st, 200, body)
        try:
            code = p.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.fail("the pusher did not exit after its stream was stopped:\n" + p.log())
        self.assertEqual(code, 1, p.log())
        self.assertIn("server closed the stream (4002)", p.log())
        self.assertNotIn("event=reconnect_wait", p.log())

    def test_gives_up_after_retry_for_when_the_server_stays_away(self):
        _, _, key = self.new_streamer()
        fwd = self.forwarder()
        p = self.pusher(fwd.port, key, "--retry-for", "2")
        self.wait_status(p)
        fwd.refuse()
        lost = time.monotonic()
        fwd.cut()
        try:
            code = p.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.fail("the pusher did not give up:\n" + p.log())
        took = time.monotonic() - lost
        self.assertEqual(code, 1, p.log())
        self.assertIn("gave up reconnecting after 2 s", p.log())
        self.assertIn("cannot connect", p.log())
        self.assertGreater(len(re.findall(r"event=reconnect_wait", p.log())), 1, p.log())
        self.assertGreater(took, 1.5, p.log())
        self.assertLess(took, 5.0, p.log())


if __name__ == "__main__":
    unittest.main()
