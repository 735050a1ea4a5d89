"""The Python client's RFC 6455 layer against a scripted server (no dreamstream binary needed).

The peer is a tiny raw-socket server written here so each test controls the exact bytes:
fragmented messages, interleaved pings, masked frames (a protocol error), close codes, a
refused upgrade, timeouts in the middle of a frame.
"""

import base64
import hashlib
import json
import os
import socket
import struct
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "clients", "python"))
import dreamstream as ds  # noqa: E402

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def frame(opcode, payload, fin=True, mask=None, rsv=0):
    n = len(payload)
    head = bytearray([(0x80 if fin else 0) | rsv | opcode])
    mbit = 0x80 if mask else 0
    if n < 126:
        head.append(mbit | n)
    elif n < 65536:
        head.append(mbit | 126)
        head += struct.pack("!H", n)
    else:
        head.append(mbit | 127)
        head += struct.pack("!Q", n)
    if mask:
        head += mask
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes(head) + payload


class Peer:
    """The server side of one connection: reads client frames (unmasking them)."""

    def __init__(self, conn, request):
        self.conn = conn
        self.request = request
        self.buf = b""

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.conn.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk

    def read_frame(self):
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        n, pos = b1 & 0x7F, 2
        if n == 126:
            self._need(4)
            n, pos = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, pos = struct.unpack("!Q", self.buf[2:10])[0], 10
        assert b1 & 0x80, "client frames must be masked"
        self._need(pos + 4 + n)
        key = self.buf[pos:pos + 4]
        data = ds._mask(self.buf[pos + 4:pos + 4 + n], key)  # XOR is its own inverse
        self.buf = self.buf[pos + 4 + n:]
        return bool(b0 & 0x80), b0 & 0x0F, data

    def send(self, data):
        self.conn.sendall(data)


class ScriptedServer:
    """Accepts connections and runs script(peer) for each, on a thread."""

    def __init__(self, script, refuse=None):
        self.script = script
        self.refuse = refuse
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.errors = []
        self.requests = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "ws://127.0.0.1:%d/ws/test?x=1" % self.port

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        try:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            head, _, rest = data.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            request = {"line": lines[0], "headers": headers}
            self.requests.append(request)
            if self.refuse:
                body = json.dumps({"error": {"code": "unauthorized", "message": "no entry"}}).encode()
                conn.sendall(("HTTP/1.1 %d Refused\r\nContent-Type: application/json\r\n"
                              "Content-Length: %d\r\n\r\n" % (self.refuse, len(body))).encode() + body)
                return
            accept = base64.b64encode(hashlib.sha1(
                (headers["sec-websocket-key"] + GUID).encode()).digest()).decode()
            conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                          "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n" % accept).encode())
            peer = Peer(conn, request)
            peer.buf = rest
            self.script(peer)
        except Exception as e:  # reported by the test
            self.errors.append(e)
        finally:
            time.sleep(0.05)
            conn.close()

    def close(self):
        self.sock.close()


class WebSocketClientTest(unittest.TestCase):
    def serve(self, script, refuse=None):
        s = ScriptedServer(script, refuse)
        self.addCleanup(s.close)
        return s

    def test_handshake_headers_and_echo(self):
        got = {}

        def script(peer):
            fin, op, data = peer.read_frame()
            got["text"] = (fin, op, data)
            fin, op, data = peer.read_frame()
            got["binary"] = (fin, op, data)
            peer.send(frame(0x1, "héllo".encode()))
            peer.send(frame(0x2, bytes(range(256)) * 300))  # 76800 bytes: 64-bit length
            fin, op, data = peer.read_frame()
            got["close"] = data
            peer.send(frame(0x8, data))

        s = self.serve(script)
        ws = ds.WebSocket.connect(s.url, {"Authorization": "Bearer abc", "Cookie": "a=b",
                                          "Origin": "http://o.example"})
        ws.send_text("hi ☃")
        ws.send_binary(b"\x00" * 70000)
        self.assertEqual(ws.recv(timeout=5), ("text", "héllo"))
        self.assertEqual(ws.recv(timeout=5), ("binary", bytes(range(256)) * 300))
        ws.close(1000, "bye")
        self.assertEqual(got["text"], (True, 1, "hi ☃".encode()))
        self.assertEqual(got["binary"], (True, 2, b"\x00" * 70000))
        self.assertEqual(got["close"], struct.pack("!H", 1000) + b"bye")
        req = s.requests[0]
        self.assertEqual(req["line"], "GET /ws/test?x=1 HTTP/1.1")
        self.assertEqual(req["headers"]["authorization"], "Bearer abc")
        self.assertEqual(req["headers"]["cookie"], "a=b")
        self.assertEqual(req["headers"]["origin"], "http://o.example")
        self.assertEqual(req["headers"]["host"], "127.0.0.1:%d" % s.port)
        self.assertEqual(ws.close_code, 1000)
        self.assertFalse(s.errors)

    def test_fragments_reassembled_with_ping_in_between(self):
        got = {}

        def script(peer):
            peer.send(frame(0x1, b"frag", fin=False))
            peer.send(frame(0x9, b"are you there"))
            peer.send(frame(0x0, b"men", fin=False))
            peer.send(frame(0x0, b"ted", fin=True))
            peer.send(frame(0x2, b"\x01\x02", fin=False) + frame(0x0, b"\x03", fin=True))
            got["pong"] = peer.read_frame()
            peer.send(frame(0x8, struct.pack("!H", 4001) + "replaced by a newer connection".encode()))
            got["echo"] = peer.read_frame()

        s = self.serve(script)
        ws = ds.WebSocket.connect(s.url)
        self.assertEqual(ws.recv(timeout=5), ("text", "fragmented"))
        self.assertEqual(ws.recv(timeout=5), ("binary", b"\x01\x02\x03"))
        self.assertEqual(ws.recv(timeout=5), ("close", "replaced by a newer connection"))
        self.assertEqual((ws.close_code, ws.close_reason), (4001, "replaced by a newer connection"))
        with self.assertRaises(ds.ConnectionClosed):
            ws.recv(timeout=1)
        with self.assertRaises(ds.ConnectionClosed):
            ws.send_text("late")
        time.sleep(0.1)
        self.assertEqual(got["pong"], (True, 0xA, b"are you there"))
        self.assertEqual(got["echo"], (True, 0x8, struct.pack("!H", 4001)))
        self.assertFalse(s.errors)

    def test_timeout_in_the_middle_of_a_frame_keeps_the_frame(self):
        release = threading.Event()

        def script(peer):
            data = frame(0x2, b"x" * 1000)
            peer.send(data[:500])
            release.wait(5)
            peer.send(data[500:])
            peer.read_frame()

        s = self.serve(script)
        ws = ds.WebSocket.connect(s.url)
        t0 = time.monotonic()
        with self.assertRaises(TimeoutError):
            ws.recv(timeout=0.3)
        self.assertGreaterEqual(time.monotonic() - t0, 0.25)
        release.set()
        self.assertEqual(ws.recv(timeout=5), ("binary", b"x" * 1000))
        ws.close()

    def test_masked_server_frame_is_a_protocol_error(self):
        got = {}

        def script(peer):
            peer.send(frame(0x1, b"masked", mask=b"abcd"))
            got["close"] = peer.read_frame()

        s = self.serve(script)
        ws = ds.WebSocket.connect(s.url)
        with self.assertRaises(ds.ProtocolError):
            ws.recv(timeout=5)
        self.assertEqual(ws.close_code, 1002)
        time.sleep(0.1)
        self.assertEqual(got["close"][1], 0x8)
        self.assertEqual(struct.unpack("!H", got["close"][2][:2])[0], 1002)

    def test_invalid_utf8_text_is_1007(self):
        def script(peer):
            peer.send(frame(0x1, b"\xff\xfe"))
            peer.read_frame()

        s = self.serve(script)
        ws = ds.WebSocket.connect(s.url)
        with self.assertRaises(ds.ProtocolError):
            ws.recv(timeout=5)
        self.assertEqual(ws.close_code, 1007)

    def test_abrupt_disconnect_is_1006(self):
        def script(peer):
            peer.send(frame(0x1, b"one"))

        s = self.serve(script)
        ws = ds.WebSocket.connect(s.url)
        self.assertEqual(ws.recv(timeout=5), ("text", "one"))
        with self.assertRaises(ds.ConnectionClosed) as cm:
            ws.recv(timeout=5)
        self.assertEqual(cm.exception.code, 1006)

    def test_refused_upgrade_exposes_status_and_error(self):
        s = self.serve(lambda peer: None, refuse=401)
        with self.assertRaises(ds.HandshakeError) as cm:
            ds.WebSocket.connect(s.url)
        self.assertEqual(cm.exception.status, 401)
        self.assertEqual(cm.exception.code, "unauthorized")
        self.assertEqual(cm.exception.message, "no entry")

    def test_message_size_limit(self):
        def script(peer):
            peer.send(frame(0x2, b"y" * 2000))
            peer.read_frame()

        s = self.serve(script)
        ws = ds.WebSocket.connect(s.url, max_message=1000)
        with self.assertRaises(ds.ProtocolError):
            ws.recv(timeout=5)
        self.assertEqual(ws.close_code, 1009)

    def test_streamer_drops_locally_when_the_socket_is_backed_up(self):
        release = threading.Event()
        got = []

        def script(peer):
            release.wait(20)  # read nothing until the client has queued everything
            while True:
                fin, op, data = peer.read_frame()
                if op == 0x8:
                    peer.send(frame(0x8, data))
                    return
                got.append(len(data))

        s = self.serve(script)
        streamer = ds.Streamer("http://127.0.0.1:%d" % s.port, "dsk_x").connect()
        big = b"\xff\xd8" + b"\x00" * (4 * 1024 * 1024) + b"\xff\xd9"
        for _ in range(20):
            self.assertTrue(streamer.send_jpeg(big))
            time.sleep(0.01)
        self.assertGreaterEqual(streamer.dropped, 10, "frames piled up instead of being replaced")
        release.set()
        self.assertTrue(streamer.flush(20))
        streamer.close()
        self.assertTrue(streamer.closed.is_set())
        self.assertEqual(streamer.close_code, 1000)
        self.assertEqual(streamer.sent + streamer.dropped, 20)
        self.assertEqual(len(got), streamer.sent)
        self.assertEqual(s.requests[0]["headers"]["authorization"], "Bearer dsk_x")
        self.assertTrue(s.requests[0]["line"].startswith("GET /ws/ingest "))

    def test_url_forms(self):
        self.assertEqual(ds._split_url("http://h:81/a?b=1"), (False, "h", 81, "/a?b=1"))
        self.assertEqual(ds._split_url("wss://h"), (True, "h", 443, "/"))
        self.assertEqual(ds._ws_url("http://h:8/", "/ws/watch/al"), "ws://h:8/ws/watch/al")
        self.assertEqual(ds._ws_url("https://h/pre", "/ws/x"), "wss://h/pre/ws/x")
        with self.assertRaises(ValueError):
            ds._split_url("ftp://h/")


if __name__ == "__main__":
    unittest.main()
