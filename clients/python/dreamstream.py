#!/usr/bin/env python3
"""DreamStream Python client: push frames, watch a stream, comment and ask for styles, run a worker.

Standard library only, Python >= 3.9. One file: copy it next to your script.

Pieces (see clients/python/README.md and docs/protocol.md):

- ``WebSocket``: a small RFC 6455 client over a plain socket (``ws://``; ``wss://`` through
  the ``ssl`` module). Masked client frames, text and binary messages, fragmented messages
  reassembled, pings answered, the close handshake with ``close_code`` / ``close_reason``,
  extra request headers (Authorization, Cookie, Origin) and receive timeouts.
- ``Client``: JSON over HTTP with an optional Bearer token (an API token): streams, stream
  settings, comments, style requests and the streamer's style controls.
- ``Streamer`` / ``post_frame``: send JPEG frames to ``/ws/ingest`` or ``POST /api/ingest/frame``.
- ``Viewer``: events and processed frames from ``/ws/watch/<username>``.
- ``run_worker``: the ``/ws/worker`` loop around your ``process(jpeg, params) -> jpeg``, or
  ``process_batch(items) -> outputs`` for several streams in one model call (``max_batch``),
  with ``slots`` jobs held at once so the model never waits for the network.

Command line::

    python3 dreamstream.py push   --server http://127.0.0.1:8080 --key dsk_... --dir FRAMES --fps 10
    python3 dreamstream.py worker --server http://127.0.0.1:8080 --token dsw_...
    python3 dreamstream.py watch  --server http://127.0.0.1:8080 --user alice --out DIR --count 20
    python3 dreamstream.py comment --server http://127.0.0.1:8080 --user alice --token dst_... "hi"
    python3 dreamstream.py style  --server http://127.0.0.1:8080 --user alice --token dst_... "neon city"
"""

import argparse
import base64
import collections
import enum
import hashlib
import http.client
import json
import os
import random
import select
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse

__all__ = [
    "WebSocket", "WebSocketError", "HandshakeError", "ConnectionClosed", "ProtocolError",
    "Client", "ApiError", "Streamer", "post_frame", "Viewer", "Frame", "run_worker",
    "AuthenticationError", "is_jpeg", "CloseCode", "CLOSE_MEANINGS", "close_meaning",
]

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

DEFAULT_MAX_MESSAGE = 64 * 1024 * 1024
USER_AGENT = "dreamstream-python/1"


# ---------------------------------------------------------------------------------------------
# Close codes


class CloseCode(enum.IntEnum):
    """Every code the server closes a WebSocket with (docs/protocol.md, "Close codes"; the name
    there is the lower-case member name). Members compare equal to plain ints, so
    ``ws.close_code == CloseCode.REPLACED`` works."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    INVALID_DATA = 1007
    POLICY = 1008
    TOO_BIG = 1009
    INTERNAL = 1011
    TRY_AGAIN = 1013
    REPLACED = 4001
    ENDED = 4002
    JOB_TIMEOUT = 4008
    UNAUTHORIZED = 4401
    NO_CREDITS = 4402
    FORBIDDEN = 4403
    NOT_FOUND = 4404
    CONFLICT = 4409


CLOSE_MEANINGS = {
    CloseCode.NORMAL: "closed normally",
    CloseCode.GOING_AWAY: "the other side went away",
    CloseCode.PROTOCOL_ERROR: "the peer broke the WebSocket protocol",
    CloseCode.INVALID_DATA: "a text message or close reason that is not UTF-8",
    CloseCode.POLICY: "too many bad frames or messages in a row",
    CloseCode.TOO_BIG: "a message over the size limit",
    CloseCode.INTERNAL: "internal server error",
    CloseCode.TRY_AGAIN: "the database is unavailable; try again shortly",
    CloseCode.REPLACED: "replaced by a newer connection",
    CloseCode.ENDED: "the stream ended",
    CloseCode.JOB_TIMEOUT: "the worker held a job past its deadline",
    CloseCode.UNAUTHORIZED: "not authenticated, or the credential was revoked",
    CloseCode.NO_CREDITS: "not enough credits",
    CloseCode.FORBIDDEN: "forbidden (e.g. a foreign Origin)",
    CloseCode.NOT_FOUND: "no such streamer",
    CloseCode.CONFLICT: "conflicts with the stream's state (e.g. not started)",
}

# The server refused our credentials: a worker or pusher stops instead of retrying.
_AUTH_CLOSE_CODES = (CloseCode.UNAUTHORIZED, CloseCode.FORBIDDEN)


def close_meaning(code):
    """What a close code means, in words; codes the server does not send read as a lost
    connection (1006 when it just broke)."""
    try:
        return CLOSE_MEANINGS[CloseCode(code)]
    except ValueError:
        return "connection lost"


# ---------------------------------------------------------------------------------------------
# Errors


class WebSocketError(Exception):
    """Any WebSocket failure."""


class HandshakeError(WebSocketError):
    """The server refused the upgrade. ``status``, ``headers`` (dict, lower-case names),
    ``body`` (bytes), and ``code`` / ``message`` from a JSON error body when there is one."""

    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.code, self.message = _error_fields(body)
        super().__init__("upgrade refused: HTTP %s %s%s" % (
            status, reason, (" (%s)" % self.message) if self.message else ""))


class ProtocolError(WebSocketError):
    """The peer broke RFC 6455 (we close with 1002 / 1007 / 1009)."""


class ConnectionClosed(WebSocketError):
    """The connection is closed; ``code`` / ``reason`` as received (1006 when it just broke)."""

    def __init__(self, code, reason):
        self.code = code
        self.reason = reason
        super().__init__("connection closed: %s %s" % (code, reason))


class ApiError(Exception):
    """An HTTP API error: ``status`` plus ``code`` / ``message`` from {"error":{...}}."""

    def __init__(self, status, code, message, body=None):
        self.status = status
        self.code = code
        self.message = message
        self.body = body
        super().__init__("HTTP %s %s: %s" % (status, code, message))


class AuthenticationError(Exception):
    """The server refused our credentials (HTTP 401/403 or close code 4401/4403)."""


def _error_fields(body):
    try:
        data = json.loads(body.decode("utf-8")) if body else None
    except (ValueError, UnicodeDecodeError):
        return None, None
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        return data["error"].get("code"), data["error"].get("message")
    return None, None


# ---------------------------------------------------------------------------------------------
# URLs


def _split_url(url, default_path="/"):
    """-> (secure, host, port, path_and_query). Accepts ws, wss, http, https."""
    u = urllib.parse.urlsplit(url)
    scheme = u.scheme.lower()
    if scheme in ("ws", "http"):
        secure = False
    elif scheme in ("wss", "https"):
        secure = True
    else:
        raise ValueError("unsupported URL scheme in %r (use ws://, wss://, http:// or https://)" % url)
    if not u.hostname:
        raise ValueError("no host in URL %r" % url)
    port = u.port or (443 if secure else 80)
    path = u.path or default_path
    if u.query:
        path += "?" + u.query
    return secure, u.hostname, port, path


def _join(base_url, path):
    """base_url (any scheme, maybe with a path prefix) + absolute path -> http(s) URL."""
    u = urllib.parse.urlsplit(base_url)
    scheme = {"ws": "http", "wss": "https"}.get(u.scheme.lower(), u.scheme.lower())
    prefix = u.path.rstrip("/")
    return urllib.parse.urlunsplit((scheme, u.netloc, prefix + path, "", ""))


def _ws_url(base_url, path):
    u = urllib.parse.urlsplit(_join(base_url, path))
    scheme = "wss" if u.scheme == "https" else "ws"
    return urllib.parse.urlunsplit((scheme, u.netloc, u.path, u.query, ""))


def _host_header(host, port, secure):
    h = "[%s]" % host if ":" in host else host
    return h if port == (443 if secure else 80) else "%s:%d" % (h, port)


# ---------------------------------------------------------------------------------------------
# WebSocket


def _mask(data, key):
    """XORs data with the 4-byte key (fast for large frames: one big-int operation)."""
    n = len(data)
    if n == 0:
        return b""
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


class WebSocket:
    """A client WebSocket connection.

    ``WebSocket.connect(url, headers={...}, timeout=10)`` opens it. ``recv()`` returns
    ``(kind, data)``: ``("text", str)``, ``("binary", bytes)`` or ``("close", reason)`` once
    the peer closed (then ``close_code`` / ``close_reason`` are set and further ``recv()``
    raises ``ConnectionClosed``). Pings are answered inside ``recv()``. Sending is thread-safe
    (one lock); receive from one thread only.
    """

    def __init__(self, sock, leftover=b"", max_message=DEFAULT_MAX_MESSAGE, response_headers=None):
        self.sock = sock
        self.max_message = max_message
        self.response_headers = response_headers or {}
        self._buf = bytearray(leftover)
        self._send_lock = threading.Lock()
        self._frag_op = None
        self._frag = []
        self._frag_len = 0
        self.close_code = None
        self.close_reason = None
        self._close_sent = False
        self._close_received = False
        self._closed = False
        self.last_received = time.monotonic()  # any frame, pongs included

    # -- opening -----------------------------------------------------------------------------
    @classmethod
    def connect(cls, url, headers=None, timeout=10.0, max_message=DEFAULT_MAX_MESSAGE,
                subprotocols=None):
        """Opens ``url`` (ws://, wss://; http(s):// are taken as ws(s)://).

        headers: extra request headers (dict or list of pairs), e.g. Authorization, Cookie,
        Origin. Raises HandshakeError when the server answers anything but 101.
        """
        secure, host, port, path = _split_url(url)
        sock = socket.create_connection((host, port), timeout=timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if secure:
                ctx = ssl.create_default_context()
                sock = ctx.wrap_socket(sock, server_hostname=host)
            key = base64.b64encode(os.urandom(16)).decode("ascii")
            lines = ["GET %s HTTP/1.1" % path,
                     "Host: %s" % _host_header(host, port, secure),
                     "Upgrade: websocket",
                     "Connection: Upgrade",
                     "Sec-WebSocket-Key: %s" % key,
                     "Sec-WebSocket-Version: 13",
                     "User-Agent: %s" % USER_AGENT]
            if subprotocols:
                lines.append("Sec-WebSocket-Protocol: %s" % ", ".join(subprotocols))
            items = headers.items() if isinstance(headers, dict) else (headers or [])
            for name, value in items:
                if "\r" in str(name) + str(value) or "\n" in str(name) + str(value):
                    raise ValueError("header %r contains a line break" % name)
                lines.append("%s: %s" % (name, value))
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            status, reason, resp_headers, rest = cls._read_response_head(sock)
            if status != 101:
                body = cls._read_error_body(sock, resp_headers, rest)
                raise HandshakeError(status, reason, resp_headers, body)
            expected = base64.b64encode(hashlib.sha1((key + GUID).encode("ascii")).digest()).decode()
            if resp_headers.get("upgrade", "").lower() != "websocket":
                raise HandshakeError(status, "missing Upgrade: websocket", resp_headers, b"")
            if resp_headers.get("sec-websocket-accept", "") != expected:
                raise HandshakeError(status, "bad Sec-WebSocket-Accept", resp_headers, b"")
            if resp_headers.get("sec-websocket-extensions"):
                raise HandshakeError(status, "unrequested extension", resp_headers, b"")
            sock.settimeout(None)
            return cls(sock, rest, max_message, resp_headers)
        except BaseException:
            sock.close()
            raise

    @staticmethod
    def _read_response_head(sock):
        data = bytearray()
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                raise WebSocketError("connection closed during the handshake")
            data += chunk
            if len(data) > 65536:
                raise WebSocketError("handshake response headers too large")
        head, _, rest = bytes(data).partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise WebSocketError("not an HTTP response: %r" % lines[0][:80])
        status = int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        return status, reason, headers, rest

    @staticmethod
    def _read_error_body(sock, headers, rest):
        body = bytearray(rest)
        try:
            length = int(headers.get("content-length", "-1"))
        except ValueError:
            length = -1
        limit = 65536 if length < 0 else min(length, 65536)
        try:
            sock.settimeout(5)
            while len(body) < limit:
                chunk = sock.recv(limit - len(body))
                if not chunk:
                    break
                body += chunk
        except OSError:
            pass
        return bytes(body[:limit])

    # -- sending -----------------------------------------------------------------------------
    @staticmethod
    def _encode_frame(opcode, payload, fin=True):
        n = len(payload)
        head = bytearray([(0x80 if fin else 0) | opcode])
        if n < 126:
            head.append(0x80 | n)
        elif n < 65536:
            head.append(0x80 | 126)
            head += struct.pack("!H", n)
        else:
            head.append(0x80 | 127)
            head += struct.pack("!Q", n)
        key = os.urandom(4)
        head += key
        return bytes(head) + _mask(bytes(payload), key)

    def _send_frames(self, frames):
        """frames: [(opcode, payload)], written back to back under the send lock."""
        data = b"".join(self._encode_frame(op, p) for op, p in frames)
        with self._send_lock:
            if self._closed or (self._close_sent and frames[0][0] != OP_CLOSE):
                raise ConnectionClosed(self.close_code or 1006, self.close_reason or "")
            if self._close_sent:
                return  # a close frame already went out; never send two
            try:
                self.sock.sendall(data)
            except OSError as e:
                self._abort()
                raise ConnectionClosed(1006, "send failed: %s" % e) from e
            if any(op == OP_CLOSE for op, _ in frames):
                self._close_sent = True

    def _send_frame(self, opcode, payload):
        self._send_frames([(opcode, payload)])

    def send_messages(self, messages):
        """Sends several messages back to back (nothing of ours in between): each is a str
        (text) or bytes (binary). Used for a JSON header followed by its JPEG."""
        self._send_frames([(OP_TEXT, m.encode("utf-8")) if isinstance(m, str) else (OP_BINARY, m)
                           for m in messages])

    def send_close(self, code=1000, reason=""):
        """Sends our close frame without waiting for the peer's (another thread may be reading)."""
        payload = struct.pack("!H", code) + reason.encode("utf-8")[:123] if code else b""
        try:
            self._send_frame(OP_CLOSE, payload)
        except ConnectionClosed:
            pass

    def send_text(self, text):
        self._send_frame(OP_TEXT, text.encode("utf-8"))

    def send_json(self, obj):
        self.send_text(json.dumps(obj, separators=(",", ":")))

    def send_binary(self, data):
        self._send_frame(OP_BINARY, data)

    def ping(self, data=b""):
        self._send_frame(OP_PING, data[:125])

    def close(self, code=1000, reason="", timeout=5.0):
        """Starts (or finishes) the close handshake, waits up to ``timeout`` for the peer's
        close frame, then closes the socket. Safe to call twice."""
        if self._closed:
            return
        self.send_close(code, reason)
        if not self._closed and not self._close_received:
            deadline = time.monotonic() + timeout
            try:
                while not self._close_received:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self.recv(timeout=left)
            except (WebSocketError, TimeoutError, OSError):
                pass
        self._abort()
        if self.close_code is None:
            self.close_code = code
            self.close_reason = reason

    def _abort(self):
        if not self._closed:
            self._closed = True
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()

    @property
    def closed(self):
        return self._closed or self._close_received

    # -- receiving ---------------------------------------------------------------------------
    def _wait_readable(self, deadline):
        """Waits until the socket has data, or raises TimeoutError. The socket itself stays
        blocking: a socket timeout would also cut short a send on another thread."""
        if deadline is None:
            return
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            return
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("WebSocket receive timed out")
        try:
            if hasattr(select, "poll"):
                p = select.poll()
                p.register(self.sock, select.POLLIN | select.POLLPRI)
                ready = p.poll(left * 1000.0)
            else:
                ready = select.select([self.sock], [], [], left)[0]
        except (OSError, ValueError) as e:  # closed under us
            self._abort()
            raise ConnectionClosed(self.close_code or 1006, self.close_reason or str(e)) from e
        if not ready:
            raise TimeoutError("WebSocket receive timed out")

    def _fill(self, n, deadline):
        """Reads until the buffer holds n bytes. Data read stays buffered on timeout, so a
        timeout never loses a frame boundary."""
        while len(self._buf) < n:
            self._wait_readable(deadline)
            try:
                chunk = self.sock.recv(max(65536, n - len(self._buf)))
            except OSError as e:
                self._abort()
                self.close_code = self.close_code or 1006
                self.close_reason = self.close_reason or str(e)
                raise ConnectionClosed(1006, "connection broke: %s" % e) from e
            if not chunk:
                self._abort()
                if self.close_code is None:
                    self.close_code, self.close_reason = 1006, "connection closed without a close frame"
                raise ConnectionClosed(self.close_code, self.close_reason)
            self._buf += chunk

    def _read_frame(self, deadline):
        self._fill(2, deadline)
        b0, b1 = self._buf[0], self._buf[1]
        n = b1 & 0x7F
        pos = 2
        if n == 126:
            self._fill(4, deadline)
            n = struct.unpack_from("!H", self._buf, 2)[0]
            pos = 4
        elif n == 127:
            self._fill(10, deadline)
            n = struct.unpack_from("!Q", self._buf, 2)[0]
            pos = 10
        masked = bool(b1 & 0x80)
        if masked:
            self._fail(CloseCode.PROTOCOL_ERROR, "server frames must not be masked")
        if b0 & 0x70:
            self._fail(CloseCode.PROTOCOL_ERROR, "reserved bits set")
        opcode = b0 & 0x0F
        if n > self.max_message:
            self._fail(CloseCode.TOO_BIG, "message too big")
        self._fill(pos + n, deadline)
        payload = bytes(self._buf[pos:pos + n])
        del self._buf[:pos + n]
        self.last_received = time.monotonic()
        return bool(b0 & 0x80), opcode, payload

    def _fail(self, code, reason):
        self.send_close(code, reason)
        self._abort()
        self.close_code, self.close_reason = code, reason
        raise ProtocolError(reason)

    def recv(self, timeout=None):
        """Next message as (kind, data). timeout in seconds (None waits forever); raises
        TimeoutError when it passes, ConnectionClosed after the close was already reported."""
        if self._closed or self._close_received:
            raise ConnectionClosed(self.close_code or 1006, self.close_reason or "")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            fin, opcode, payload = self._read_frame(deadline)
            if opcode >= 0x8:  # control frame
                if not fin or len(payload) > 125:
                    self._fail(CloseCode.PROTOCOL_ERROR, "bad control frame")
                if opcode == OP_PING:
                    try:
                        self._send_frame(OP_PONG, payload)
                    except ConnectionClosed:
                        pass
                    continue
                if opcode == OP_PONG:
                    continue
                if opcode == OP_CLOSE:
                    return self._on_close(payload)
                self._fail(CloseCode.PROTOCOL_ERROR, "unknown control opcode %d" % opcode)
            if opcode == OP_CONT:
                if self._frag_op is None:
                    self._fail(CloseCode.PROTOCOL_ERROR, "continuation without a message")
            elif opcode in (OP_TEXT, OP_BINARY):
                if self._frag_op is not None:
                    self._fail(CloseCode.PROTOCOL_ERROR, "new message inside a fragmented one")
                self._frag_op = opcode
            else:
                self._fail(CloseCode.PROTOCOL_ERROR, "unknown opcode %d" % opcode)
            self._frag.append(payload)
            self._frag_len += len(payload)
            if self._frag_len > self.max_message:
                self._fail(CloseCode.TOO_BIG, "message too big")
            if not fin:
                continue
            op, data = self._frag_op, b"".join(self._frag)
            self._frag_op, self._frag, self._frag_len = None, [], 0
            if op == OP_TEXT:
                try:
                    return "text", data.decode("utf-8")
                except UnicodeDecodeError:
                    self._fail(CloseCode.INVALID_DATA, "text message is not UTF-8")
            return "binary", data

    def _on_close(self, payload):
        code, reason = 1005, ""
        if len(payload) == 1:
            self._fail(CloseCode.PROTOCOL_ERROR, "bad close payload")
        if len(payload) >= 2:
            code = struct.unpack("!H", payload[:2])[0]
            try:
                reason = payload[2:].decode("utf-8")
            except UnicodeDecodeError:
                self._fail(CloseCode.INVALID_DATA, "close reason is not UTF-8")
        self._close_received = True
        self.close_code, self.close_reason = code, reason
        # Echo the code (RFC 6455 5.5.1); send_close never sends a second close frame.
        self.send_close(code if len(payload) >= 2 else 0)
        self._abort()
        return "close", reason

    def __iter__(self):
        """Yields (kind, data) for text and binary messages until the connection closes."""
        while True:
            try:
                kind, data = self.recv()
            except ConnectionClosed:
                return
            if kind == "close":
                return
            yield kind, data

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------------------------------------
# HTTP API


def _http(method, url, body=None, headers=None, timeout=30.0):
    """One HTTP request -> (status, headers dict (lower-case), body bytes)."""
    secure, host, port, path = _split_url(url)
    conn_cls = http.client.HTTPSConnection if secure else http.client.HTTPConnection
    conn = conn_cls(host, port, timeout=timeout)
    try:
        hdrs = {"User-Agent": USER_AGENT}
        hdrs.update(headers or {})
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        out = {}
        for k, v in resp.getheaders():
            k = k.lower()
            out[k] = (out[k] + ("\n" if k == "set-cookie" else ", ") + v) if k in out else v
        return resp.status, out, data
    finally:
        conn.close()


def _json_or_raise(status, headers, data):
    if 200 <= status < 300:
        if not data:
            return {}
        if headers.get("content-type", "").startswith("application/json"):
            return json.loads(data.decode("utf-8"))
        return data
    code, message = _error_fields(data)
    raise ApiError(status, code or "http_%d" % status, message or data[:200].decode("utf-8", "replace"), data)


class Client:
    """Thin JSON helpers for the HTTP API. token: an API token (sent as Bearer)."""

    def __init__(self, base_url, token=None, timeout=30.0):
        self.base_url = base_url
        self.token = token
        self.timeout = timeout
        self.session_cookie = None  # set by login()

    def login(self, login, password):
        """Logs in with a username/e-mail and password and keeps the session cookie (the
        alternative to an API token). Returns the user JSON."""
        status, headers, data = _http(
            "POST", _join(self.base_url, "/api/auth/login"),
            json.dumps({"login": login, "password": password}).encode("utf-8"),
            {"Content-Type": "application/json", "Origin": self.origin}, self.timeout)
        out = _json_or_raise(status, headers, data)
        for cookie in (headers.get("set-cookie") or "").split("\n"):
            name, _, value = cookie.split(";")[0].strip().partition("=")
            if name == "ds_session" and value:
                self.session_cookie = value
        return out.get("user", out)

    @property
    def origin(self):
        u = urllib.parse.urlsplit(_join(self.base_url, "/"))
        return "%s://%s" % (u.scheme, u.netloc)

    def request(self, method, path, body=None, headers=None, raw=None, content_type=None):
        """Sends body as JSON (or raw bytes with content_type). Returns the decoded JSON (or
        bytes for other content types); raises ApiError on a non-2xx status."""
        hdrs = {}
        if self.token:
            hdrs["Authorization"] = "Bearer %s" % self.token
        elif self.session_cookie:
            # A cookie session needs the site's own Origin on state-changing requests.
            hdrs["Cookie"] = "ds_session=%s" % self.session_cookie
            hdrs["Origin"] = self.origin
        payload = None
        if raw is not None:
            payload = raw
            hdrs["Content-Type"] = content_type or "application/octet-stream"
        elif body is not None:
            payload = json.dumps(body).encode("utf-8")
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        return _json_or_raise(*_http(method, _join(self.base_url, path), payload, hdrs, self.timeout))

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, body=None):
        return self.request("POST", path, body if body is not None else {})

    def patch(self, path, body):
        return self.request("PATCH", path, body)

    def delete(self, path):
        return self.request("DELETE", path)

    def me(self):
        return self.get("/api/me")

    def start_stream(self):
        return self.post("/api/streams/start")

    def stop_stream(self):
        return self.post("/api/streams/stop")

    def stream_info(self, username):
        return self.get("/api/streams/%s" % urllib.parse.quote(username, safe=""))

    def live_streams(self):
        return self.get("/api/streams/live")["streams"]

    def sessions(self):
        return self.get("/api/streams/sessions")

    def create_api_token(self, name, scopes=None):
        """Creates an API token; returns {"id", "name", "token", "scopes"}.

        scopes: what the token may do, a list of "read", "stream", "chat", "key", "tokens",
        "account" (docs/api.md#scopes). Left out, it gets every scope its maker has (all of
        them for a login); a token can give only scopes it has, and needs "tokens" to make one.
        """
        body = {"name": name}
        if scopes is not None:
            if isinstance(scopes, str):
                raise TypeError("scopes is a list of names, e.g. [\"stream\", \"chat\"]")
            body["scopes"] = list(scopes)
        return self.post("/api/me/tokens", body)

    def api_tokens(self):
        """The account's API tokens: [{"id", "name", "created_ms", "last_used_ms", "scopes"}]."""
        return self.get("/api/me/tokens")["tokens"]

    def revoke_api_token(self, token_id):
        """Revokes a token (any token may revoke itself; others need the "tokens" scope)."""
        return self.delete("/api/me/tokens/%d" % int(token_id))

    def rotate_stream_key(self):
        """Creates a new stream key (the old one stops working) and returns it."""
        return self.post("/api/me/stream-key")["stream_key"]

    def create_ingest_ticket(self):
        """A single-use ticket that opens one ``/ws/ingest?ticket=…`` socket within a minute
        (for a web page: it streams without the stream key). Returns
        {"ticket", "expires_ms", "expires_in_ms"}."""
        return self.post("/api/ingest/ticket")

    def latest_jpeg(self, username):
        return self.get("/u/%s/latest.jpg" % urllib.parse.quote(username, safe=""))

    # -- stream settings (the caller's own channel) ----------------------------------------
    def settings(self):
        """GET /api/streams/settings -> {comments_enabled, styles_enabled, style_policy,
        style_slot_seconds, base_style, strength, record} (the caller's own)."""
        out = self.get("/api/streams/settings")
        return out.get("settings", out)

    def update_settings(self, **fields):
        """PATCH /api/streams/settings with only the fields given (comments_enabled=,
        styles_enabled=, style_policy="auto"|"approve", style_slot_seconds=5..600,
        base_style=, strength=0..1, record=). Applied live; returns the new settings."""
        out = self.patch("/api/streams/settings", fields)
        return out.get("settings", out)

    # -- comments ------------------------------------------------------------------------
    def _channel(self, username, rest=""):
        return "/api/streams/%s%s" % (urllib.parse.quote(username, safe=""), rest)

    def post_comment(self, username, body):
        """Comments on username's live stream (needs a login) -> the Comment
        {id, session_id, author:{username,display_name}, body, created_ms}. Refusals raise
        ApiError: comments_disabled (403), stream_offline (409), invalid_comment (400),
        rate_limited (429), not_found (404)."""
        return self.post(self._channel(username, "/comments"), {"body": body})["comment"]

    def comments(self, username, before=None, limit=None):
        """One page of username's comments, newest first -> {comments, next_before}
        (next_before is None on the last page; pass it as ``before`` for the next one)."""
        query = {k: v for k, v in (("before", before), ("limit", limit)) if v is not None}
        path = self._channel(username, "/comments")
        if query:
            path += "?" + urllib.parse.urlencode(query)
        return self.get(path)

    def delete_comment(self, username, comment_id):
        """Deletes a comment (its author or the streamer) -> {"deleted": True}."""
        return self.delete(self._channel(username, "/comments/%d" % int(comment_id)))

    # -- style requests ------------------------------------------------------------------
    def request_style(self, username, prompt):
        """Asks username's stream for a style (needs a login) -> {request, styles}: the new
        StyleRequest (status "active"/"queued" under policy auto, "pending" under approve) and
        the StyleState. Refusals raise ApiError: styles_disabled, stream_offline,
        invalid_prompt, queue_full, rate_limited, not_found."""
        return self.post(self._channel(username, "/styles"), {"prompt": prompt})

    def styles(self, username):
        """username's StyleState {current, queue, pending, policy, slot_seconds, base_style,
        enabled} (public)."""
        return self.get(self._channel(username, "/styles"))

    # The streamer's controls: each returns the new StyleState; anyone but the streamer
    # username gets ApiError 403 "forbidden".
    def approve_style(self, username, request_id):
        """A pending request -> queued (plays at once when nothing else does); 409 not_pending."""
        return self.post(self._channel(username, "/styles/%d/approve" % int(request_id)))

    def reject_style(self, username, request_id):
        """A pending or queued request -> rejected; 409 not_rejectable for the playing one."""
        return self.post(self._channel(username, "/styles/%d/reject" % int(request_id)))

    def skip_style(self, username):
        """Ends the playing request; the next queued one plays, else the base style."""
        return self.post(self._channel(username, "/styles/skip"))

    def clear_styles(self, username):
        """Clears every pending and queued request (the playing one plays on)."""
        return self.post(self._channel(username, "/styles/clear"))


def is_jpeg(data):
    """A cheap check: SOI at the start and EOI at the end."""
    return len(data) >= 4 and data[:2] == b"\xff\xd8" and data.rstrip(b"\x00")[-2:] == b"\xff\xd9"


def post_frame(base_url, stream_key, jpeg, timeout=30.0):
    """POST /api/ingest/frame. Returns {"accepted": true, "seq": N}; raises ApiError."""
    headers = {"Authorization": "Bearer %s" % stream_key, "Content-Type": "image/jpeg"}
    return _json_or_raise(*_http("POST", _join(base_url, "/api/ingest/frame"), jpeg, headers, timeout))


# ---------------------------------------------------------------------------------------------
# Streamer


class Streamer:
    """Pushes JPEG frames to /ws/ingest with the stream key.

    ``send_jpeg()`` never blocks: a sender thread holds at most one frame in flight and one
    waiting; a newer frame replaces the waiting one (counted in ``dropped``). A reader thread
    keeps the latest ``status`` message, collects ``errors``, and puts every message it reads
    on ``events`` (a bounded deque of (kind, data); the oldest fall off). The ingest socket
    also carries the processed output (a {"type":"frame"} text then the JPEG) and the
    channel's events (styles, settings, comment, comment_deleted, viewers; the latest
    ``styles`` and ``settings`` are kept as attributes); pass ``on_message(kind, data)`` to
    see everything as it arrives.
    """

    def __init__(self, base_url, stream_key, on_message=None, timeout=10.0, max_events=256):
        self.url = _ws_url(base_url, "/ws/ingest")
        self.stream_key = stream_key
        self.on_message = on_message
        self.timeout = timeout
        self.ws = None
        self.sent = 0
        self.dropped = 0
        self.status = None
        self.errors = []
        self.ended = None  # the {"type":"ended"} message, if one came
        self.styles = None  # the latest StyleState from a {"type":"styles"} event
        self.settings = None  # the latest stream settings from a {"type":"settings"} event
        self.events = collections.deque(maxlen=max_events)
        self._cond = threading.Condition()
        self._slot = None
        self._inflight = False
        self._stopping = False
        self._threads = []
        self.closed = threading.Event()

    def connect(self):
        self.ws = WebSocket.connect(self.url, {"Authorization": "Bearer %s" % self.stream_key},
                                    timeout=self.timeout)
        for target in (self._send_loop, self._read_loop):
            t = threading.Thread(target=target, daemon=True, name="ds-streamer")
            t.start()
            self._threads.append(t)
        return self

    def send_jpeg(self, jpeg):
        """Queues a frame. Returns False when the connection is closed."""
        with self._cond:
            if self.closed.is_set() or self._stopping:
                return False
            if self._slot is not None:
                self.dropped += 1
            self._slot = bytes(jpeg)
            self._cond.notify_all()
        return True

    def _send_loop(self):
        while True:
            with self._cond:
                while self._slot is None and not self._stopping and not self.closed.is_set():
                    self._cond.wait()
                if self._slot is None:
                    return
                frame, self._slot = self._slot, None
                self._inflight = True
            try:
                self.ws.send_binary(frame)
            except WebSocketError:
                with self._cond:
                    self._inflight = False
                    self.closed.set()
                    self._cond.notify_all()
                return
            with self._cond:
                self._inflight = False
                self.sent += 1
                self._cond.notify_all()

    def _read_loop(self):
        try:
            while True:
                kind, data = self.ws.recv()
                if kind == "text":
                    try:
                        msg = json.loads(data)
                    except ValueError:
                        msg = {"type": "invalid", "raw": data}
                    t = msg.get("type") if isinstance(msg, dict) else None
                    if t == "status":
                        self.status = msg
                    elif t == "styles":
                        self.styles = msg.get("styles")
                    elif t == "settings":
                        self.settings = msg.get("settings")
                    elif t == "error":
                        self.errors.append(msg)
                    elif t == "ended":
                        self.ended = msg
                    self.events.append(("event", msg))
                    if self.on_message:
                        self.on_message("event", msg)
                elif kind == "binary":
                    if self.on_message:
                        self.on_message("binary", data)
                else:
                    return
        except (WebSocketError, OSError):
            return
        finally:
            with self._cond:
                self.closed.set()
                self._cond.notify_all()

    def flush(self, timeout=10.0):
        """Waits until every queued frame went out. Returns True when they did."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while (self._slot is not None or self._inflight) and not self.closed.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return self._slot is None and not self._inflight

    def wait_status(self, predicate=lambda s: True, timeout=10.0):
        """Waits for a status message that satisfies predicate; returns it or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.closed.is_set():
            s = self.status
            if s is not None and predicate(s):
                return s
            time.sleep(0.05)
        return None

    @property
    def close_code(self):
        return self.ws.close_code if self.ws else None

    @property
    def close_reason(self):
        return self.ws.close_reason if self.ws else None

    def close(self, code=1000, reason="done", flush=True):
        if flush:
            self.flush(5.0)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self.ws is not None and not self.ws.closed:
            # The reader thread receives the server's close frame; we only send ours and wait.
            self.ws.send_close(code, reason)
            self.closed.wait(5.0)
            self.ws._abort()
        for t in self._threads:
            t.join(5.0)

    def __enter__(self):
        return self.connect()

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------------------------------------
# Viewer


Frame = collections.namedtuple("Frame", "jpeg seq captured_ms processed_ms info")

# One H.264 access unit of a stream's video (``Viewer(..., video="h264")``, docs/protocol.md,
# "Video"): ``data`` is the unit in Annex-B form (NAL units after 00 00 00 01 start codes; units
# concatenated are a raw .h264 stream ffmpeg reads); ``key``: an IDR with SPS and PPS in front,
# decoding may start here; ``decode_only``: a catch-up unit of the GOP a joining viewer is sent
# at once, to decode but not show; ``ts_ms``: the picture's timestamp in ms (variable frame
# rate: display each unit at its ts_ms relative to the previous one's); ``codec``, ``width``,
# ``height``: on key units only ("avc1.PPCCLL", the string WebCodecs' VideoDecoder takes);
# ``info``: the whole header dict.
VideoUnit = collections.namedtuple(
    "VideoUnit", "data seq key decode_only ts_ms captured_ms processed_ms codec width height info")


def split_inline_frame(data):
    """An inline frame message (docs/protocol.md, "Inline frames") as (header dict, payload
    bytes: a JPEG, or an H.264 unit when the header's type is "video"); the header is {} when
    its JSON is not a frame or video header. None when the message is shorter than its 4-byte
    big-endian length prefix says."""
    if len(data) < 4:
        return None
    n = int.from_bytes(data[:4], "big")
    if n > len(data) - 4:
        return None
    try:
        header = json.loads(bytes(data[4:4 + n]).decode("utf-8"))
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("type") not in ("frame", "video"):
        header = {}
    return header, bytes(data[4 + n:])


class Viewer:
    """Watches /ws/watch/<username>. Iterating yields ("event", dict) for JSON events and
    ("frame", Frame) for processed JPEGs (with the header from the preceding
    {"type":"frame"} event; that event itself is not yielded separately).

    Events (docs/protocol.md): {"type":"state"}, {"type":"viewers"}, {"type":"styles",
    "styles":StyleState}, {"type":"settings","settings":{...}}, {"type":"comment",
    "comment":Comment} and {"type":"comment_deleted","id":N}; unknown types are yielded too.
    The latest ``state``, ``viewers`` (count), ``styles`` (StyleState) and ``settings`` seen
    are also kept as attributes (None until the first), updated as events are received.

    ``frames="inline"`` (the default) asks for one binary message per frame
    (``?frames=inline``: a 4-byte big-endian length, the frame JSON, the JPEG); ``"split"``
    takes the older text header + binary JPEG pair. Both yield the same Frames.

    ``video="h264"`` asks for the stream's H.264 video instead of JPEGs (``?video=h264``):
    iterating then also yields ("video", VideoUnit), one per encoded access unit, raw (this
    client decodes nothing: hand ``unit.data`` to a decoder, e.g. concatenate them into a .h264
    file or pipe them to ``ffmpeg -f h264 -i -``). Until the stream's first keyframe reaches
    this viewer (and from a server running ``--video off``) inline ("frame", Frame) JPEGs come
    instead, so a player has something to show; once a unit came, no more JPEG frames do. The
    first unit is a key unit, or the GOP so far from its key unit with every unit but the last
    marked ``decode_only``. The default (``video=None``) is JPEG frames, as before.
    """

    def __init__(self, base_url, username, timeout=10.0, headers=None, frames="inline",
                 video=None):
        if frames not in ("inline", "split"):
            raise ValueError("frames: 'inline' or 'split', not %r" % (frames,))
        if video not in (None, "h264"):
            raise ValueError("video: None (JPEG frames) or 'h264', not %r" % (video,))
        self.video = video
        self.frame_format = "inline" if video else frames
        self.url = _ws_url(base_url, "/ws/watch/%s" % urllib.parse.quote(username, safe=""))
        if video:
            self.url += "?video=" + video
        elif frames == "inline":
            self.url += "?frames=inline"
        self.timeout = timeout
        self.headers = headers
        self.ws = None
        self._header = None
        self.state = None
        self.viewers = None
        self.styles = None
        self.settings = None

    def connect(self):
        self.ws = WebSocket.connect(self.url, self.headers, timeout=self.timeout)
        return self

    def recv(self, timeout=None):
        """Next ("event", dict) / ("frame", Frame) / ("video", VideoUnit) / ("close", reason).
        Raises TimeoutError."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            kind, data = self.ws.recv(timeout=left)
            if kind == "text":
                try:
                    msg = json.loads(data)
                except ValueError:
                    continue
                if not isinstance(msg, dict):
                    continue
                if msg.get("type") == "frame":
                    self._header = msg
                    continue
                self._track(msg)
                return "event", msg
            if kind == "binary":
                if self.frame_format == "inline":
                    split = split_inline_frame(data)
                    if split is None:
                        continue
                    h, data = split
                    if h.get("type") == "video":
                        return "video", VideoUnit(
                            data, h.get("seq"), bool(h.get("key")), bool(h.get("decode_only")),
                            h.get("ts_ms"), h.get("captured_ms"), h.get("processed_ms"),
                            h.get("codec"), h.get("width"), h.get("height"), h)
                else:
                    h, self._header = self._header or {}, None
                return "frame", Frame(data, h.get("seq"), h.get("captured_ms"), h.get("processed_ms"), h)
            return "close", data

    def _track(self, msg):
        t = msg.get("type")
        if t == "state":
            self.state = msg.get("state")
        elif t == "viewers":
            self.viewers = msg.get("count")
        elif t == "styles":
            self.styles = msg.get("styles")
        elif t == "settings":
            self.settings = msg.get("settings")

    def __iter__(self):
        while True:
            try:
                kind, data = self.recv()
            except ConnectionClosed:
                return
            if kind == "close":
                return
            yield kind, data

    def wait_event(self, type_, predicate=None, timeout=10.0):
        """Reads until an event of type ``type_`` (e.g. "comment", "styles") for which
        ``predicate(event)`` holds, and returns it. Frames and other events read meanwhile
        are skipped (the tracked attributes still follow them). Raises TimeoutError, or
        ConnectionClosed when the server closes the socket first."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no %r event within %.1f s" % (type_, timeout))
            kind, data = self.recv(timeout=left)
            if kind == "close":
                raise ConnectionClosed(self.close_code or 1006, data)
            if kind == "event" and data.get("type") == type_ and (predicate is None or predicate(data)):
                return data

    def frames(self, count=None, timeout=None):
        """Yields Frame objects (events skipped); stops after count frames or a timeout gap."""
        n = 0
        while count is None or n < count:
            kind, data = self.recv(timeout=timeout)
            if kind == "close":
                return
            if kind == "frame":
                n += 1
                yield data

    def video_units(self, count=None, timeout=None):
        """Yields VideoUnit objects (events and JPEG frames skipped); stops after count units
        or a timeout gap (TimeoutError)."""
        n = 0
        while count is None or n < count:
            kind, data = self.recv(timeout=timeout)
            if kind == "close":
                return
            if kind == "video":
                n += 1
                yield data

    @property
    def close_code(self):
        return self.ws.close_code if self.ws else None

    def close(self):
        if self.ws is not None:
            self.ws.close()

    def __enter__(self):
        return self.connect()

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------------------------------------
# Worker


def _log_default(msg):
    sys.stderr.write("dreamstream worker: %s\n" % msg)


class _Backoff:
    """250 ms doubling to max_s; each delay drawn from the upper half of its step."""

    def __init__(self, base_s=0.25, max_s=10.0):
        self.base_s, self.max_s, self.step = base_s, max_s, base_s

    def next(self):
        d = random.uniform(self.step / 2, self.step)
        self.step = min(self.step * 2, self.max_s)
        return d

    def reset(self):
        self.step = self.base_s


def run_worker(server_url, token, process=None, name="python-worker", backend="python", stop=None,
               log=_log_default, max_backoff=10.0, ping_after_s=10.0, silence_limit_s=20.0,
               on_welcome=None, process_batch=None, slots=1, max_batch=1):
    """Serves jobs from /ws/worker until ``stop`` (a threading.Event) is set.

    process(jpeg: bytes, params: dict) -> bytes (the output JPEG), or (bytes, timings dict).
    It runs on a separate thread while this loop keeps reading, so pings are answered and a
    close is seen at once. An exception in process() is answered with an error message
    (code "backend_failed") and the loop goes on. The connection is re-made after any drop
    with exponential backoff. Raises AuthenticationError when the token is refused.
    The token is only sent in the Authorization header and never logged.

    slots (1-8): jobs or batches held at once (docs/protocol.md, "Slots"). With 2 the next
    input is already here when a result goes out, so a model behind a slow network never
    waits for a round trip. Held messages run one at a time in arrival order; a ``cancel``
    for one that has not started drops it and is answered ``cancelled``.

    max_batch (1-16): jobs of different streams per model call ("Batches"). The server then
    sends ``batch`` messages, and process_batch(items) gets a list of
    (jpeg bytes, params dict, job dict), one per stream, and returns a list with one output
    per item, in order: bytes, (bytes, timings dict), or an Exception instance for an item
    that failed alone. An exception raised by process_batch() fails every item. Without
    process_batch, a batch's items go through process() one by one; without process, a
    single job goes through process_batch() as a batch of one.
    """
    if process is None and process_batch is None:
        raise ValueError("run_worker needs process or process_batch")
    for label, value, top in (("slots", slots, 8), ("max_batch", max_batch, 16)):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= top:
            raise ValueError("%s must be an integer from 1 to %d" % (label, top))
    model = _Model(process, process_batch)
    stop = stop or threading.Event()
    u = urllib.parse.urlsplit(server_url)
    url = _ws_url(server_url, "/ws/worker") if u.path in ("", "/") else server_url
    if url.startswith(("http://", "https://")):
        url = "ws" + url[4:]
    backoff = _Backoff(max_s=max_backoff)
    hello = {"type": "hello", "name": name, "backend": backend, "protocol": 1}
    if slots > 1:
        hello["slots"] = slots
    if max_batch > 1:
        hello["max_batch"] = max_batch
    while not stop.is_set():
        try:
            welcomed = _worker_session(url, token, model, hello, slots, stop, log,
                                       ping_after_s, silence_limit_s, on_welcome)
            if welcomed:
                backoff.reset()
        except HandshakeError as e:
            if e.status in (401, 403):
                raise AuthenticationError("worker token refused (HTTP %d)" % e.status) from None
            log("upgrade refused: HTTP %s" % e.status)
        except AuthenticationError:
            raise
        except (WebSocketError, OSError) as e:
            log("connection lost: %s" % e)
        if stop.is_set():
            break
        delay = backoff.next()
        log("reconnecting in %.2f s" % delay)
        stop.wait(delay)


class _Held:
    """The messages (a job or a batch) a worker holds, oldest first: the reader thread adds
    and cancels, the job thread takes one at a time (docs/protocol.md, "Slots")."""

    def __init__(self, slots):
        # A cancel can cross the start of its job, so with more than one slot the server may
        # send one message more; with one slot a second message is refused, as always.
        self.capacity = slots + 1 if slots > 1 else 1
        self.cond = threading.Condition()
        self.waiting = collections.deque()  # (is_batch, [(job, jpeg), ...])
        self.working = False
        self.closed = False
        self.assembling = None  # (is_batch, [[job, jpeg or None, cancelled], ...])
        self.images = 0

    def header(self, jobs, is_batch):
        """A job or batch header: its JPEGs follow. Returns the jobs of a message still
        missing JPEGs, which is given up."""
        lost = [j for j, _, _ in self.assembling[1]] if self.assembling else []
        self.assembling = (is_batch, [[j, None, False] for j in jobs])
        self.images = 0
        return lost

    def binary(self, data):
        """Returns (what, jobs): "unexpected", "partial", "cancelled", "queued", or "refused"
        with the jobs to answer busy."""
        if self.assembling is None:
            return "unexpected", []
        is_batch, items = self.assembling
        items[self.images][1] = data
        self.images += 1
        if self.images < len(items):
            return "partial", []
        self.assembling = None
        message = [(j, jpeg) for j, jpeg, cancelled in items if not cancelled]
        if not message:
            return "cancelled", []
        with self.cond:
            if len(self.waiting) + (1 if self.working else 0) >= self.capacity:
                return "refused", [j for j, _ in message]
            self.waiting.append((is_batch, message))
            self.cond.notify()
        return "queued", []

    def cancel(self, job_id):
        """True when job_id had not started: it is dropped (answer ``cancelled``)."""
        if job_id is None:
            return False
        with self.cond:
            for i, (is_batch, message) in enumerate(self.waiting):
                kept = [(j, jpeg) for j, jpeg in message if j.get("job_id") != job_id]
                if len(kept) < len(message):
                    if kept:
                        self.waiting[i] = (is_batch, kept)
                    else:
                        del self.waiting[i]
                    return True
        for item in self.assembling[1] if self.assembling else []:
            if item[0].get("job_id") == job_id and not item[2]:
                item[2] = True  # its JPEG still comes; it stays in place so the others match
                return True
        return False

    def next(self, block=True):
        """Blocks until a message can start: (is_batch, items), or None once closed (or, with
        block=False, when none waits)."""
        with self.cond:
            while block and not self.waiting and not self.closed:
                self.cond.wait()
            if not self.waiting:
                return None
            if self.closed:
                return None
            self.working = True
            return self.waiting.popleft()

    def finish(self):
        with self.cond:
            self.working = False

    def close(self):
        with self.cond:
            self.closed = True
            self.waiting.clear()
            self.cond.notify_all()


class _Model:
    """The user's process / process_batch: one model call per job or batch, and the answers."""

    def __init__(self, process, process_batch):
        self.process, self.process_batch = process, process_batch

    def answers(self, is_batch, items, log):
        """Runs one message; returns, per job, the messages to send back to back."""
        t0 = time.perf_counter()
        took = None  # per item, when items run one by one
        if self.process_batch is not None and (is_batch or self.process is None):
            name = "process_batch()"
            try:
                outs = list(self.process_batch(
                    [(jpeg, dict(job.get("params") or {}), job) for job, jpeg in items]))
                if len(outs) != len(items):
                    raise ValueError("process_batch() returned %d outputs for %d jobs"
                                     % (len(outs), len(items)))
            except Exception as e:  # the whole call failed: every job gets the error
                outs = [e] * len(items)
        else:
            name = "process()"
            outs, took = [], []
            for job, jpeg in items:
                t1 = time.perf_counter()
                try:
                    outs.append(self.process(jpeg, dict(job.get("params") or {})))
                except Exception as e:
                    outs.append(e)
                took.append((time.perf_counter() - t1) * 1000.0)
        call_ms = (time.perf_counter() - t0) * 1000.0
        answers = []
        for i, ((job, _), out) in enumerate(zip(items, outs)):
            job_id = job.get("job_id")
            timings = {}
            if isinstance(out, tuple) and not isinstance(out, BaseException):
                out, timings = out[0], out[1]
            if not isinstance(out, BaseException) and not isinstance(
                    out, (bytes, bytearray, memoryview)):
                out = TypeError("%s must return bytes, got %s" % (name, type(out).__name__))
            if isinstance(out, BaseException):
                log("%s failed on %s: %s: %s" % (name, job_id, type(out).__name__, out))
                answers.append([_json_text(
                    {"type": "error", "job_id": job_id, "code": "backend_failed",
                     "message": ("%s: %s" % (type(out).__name__, out))[:200]})])
                continue
            infer_ms = took[i] if took is not None else call_ms
            t = {"decode_ms": 0.0, "infer_ms": round(infer_ms, 2), "encode_ms": 0.0}
            if took is None and len(items) > 1:
                t["batch"] = len(items)
            try:
                t.update({k: round(float(v), 2) for k, v in dict(timings or {}).items()})
            except (TypeError, ValueError):
                log("ignoring timings that are not numbers on %s" % job_id)
            answers.append([_json_text({"type": "result", "job_id": job_id, "timings": t}),
                            bytes(out)])
        return answers


def _json_text(obj):
    return json.dumps(obj, separators=(",", ":"))


def _worker_session(url, token, model, hello, slots, stop, log, ping_after_s, silence_limit_s,
                    on_welcome):
    ws = WebSocket.connect(url, {"Authorization": "Bearer %s" % token}, timeout=10.0)
    welcomed = False
    held = _Held(slots)
    runner = threading.Thread(target=_run_held, args=(ws, held, model, log), daemon=True,
                              name="ds-jobs")
    runner.start()
    try:
        ws.send_json(hello)
        pinged = False
        while not stop.is_set():
            try:
                kind, data = ws.recv(timeout=0.2)
            except TimeoutError:
                silent = time.monotonic() - ws.last_received
                if silent > silence_limit_s:
                    log("server silent for %.0f s; reconnecting" % silent)
                    ws.close(1001, "server silent", timeout=1.0)
                    return welcomed
                if silent > ping_after_s and not pinged:
                    ws.ping(b"ds")
                    pinged = True
                continue
            pinged = False
            if kind == "close":
                if ws.close_code in _AUTH_CLOSE_CODES:
                    raise AuthenticationError("server closed with %s %s" % (ws.close_code, ws.close_reason))
                log("server closed: %s %s" % (ws.close_code, ws.close_reason))
                return welcomed
            if kind == "text":
                try:
                    msg = json.loads(data)
                except ValueError:
                    log("ignoring a non-JSON message")
                    continue
                t = msg.get("type") if isinstance(msg, dict) else None
                if t == "welcome":
                    welcomed = True
                    log("connected as %s" % msg.get("name", hello["name"]))
                    if on_welcome:
                        on_welcome(msg)
                elif t in ("job", "batch"):
                    jobs = [msg] if t == "job" else msg.get("jobs")
                    if not isinstance(jobs, list) or not jobs or not all(
                            isinstance(j, dict) for j in jobs):
                        log("ignoring a batch without a list of jobs")
                        continue
                    for lost in held.header(jobs, t == "batch"):
                        log("job %s came without its JPEG" % lost.get("job_id"))
                elif t == "cancel":
                    if held.cancel(msg.get("job_id")):
                        ws.send_json({"type": "cancelled", "job_id": msg.get("job_id")})
                elif t == "error":
                    log("server error: %s %s" % (msg.get("code"), msg.get("message", "")))
                continue
            # binary: the JPEG of the job (or the next job of the batch) waiting for one
            what, refused = held.binary(data)
            if what == "unexpected":
                log("ignoring a JPEG without a job header")
            for job in refused:
                ws.send_json({"type": "error", "job_id": job.get("job_id"), "code": "busy",
                              "message": "a job is already in flight" if slots == 1
                              else "the worker holds as many jobs as it may"})
        ws.close(1000, "worker stopping", timeout=2.0)
        return welcomed
    finally:
        held.close()
        ws._abort()


def _run_held(ws, held, model, log):
    """The job thread of one connection: works through the held messages in order."""
    while True:
        message = held.next()
        if message is None:
            return
        try:
            answers = model.answers(message[0], message[1], log)
        finally:
            held.finish()  # before sending: the next message may come as soon as a result lands
        try:
            for messages in answers:
                ws.send_messages(messages)  # a header and its JPEG back to back
        except WebSocketError:
            pass  # the connection is gone; the reader sees it too


# ---------------------------------------------------------------------------------------------
# Command line


def _frames_from_dir(folder):
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith((".jpg", ".jpeg")))
    if not names:
        raise SystemExit("no .jpg files in %s" % folder)
    return [os.path.join(folder, n) for n in names]


def _cmd_push(args):
    files = _frames_from_dir(args.dir)
    streamer = Streamer(args.server, args.key)
    try:
        streamer.connect()
    except HandshakeError as e:
        print("upgrade refused: HTTP %s %s" % (e.status, e.message or e.reason), file=sys.stderr)
        return 3
    interval = 1.0 / args.fps
    n = 0
    next_t = time.monotonic()
    last_print = 0.0
    try:
        while args.count == 0 or n < args.count:
            path = files[n % len(files)]
            if n >= len(files) and not args.loop:
                break
            with open(path, "rb") as f:
                if not streamer.send_jpeg(f.read()):
                    return _push_closed(streamer)
            n += 1
            now = time.monotonic()
            if now - last_print >= 2.0 and streamer.status:
                s = streamer.status
                print("sent %d dropped %d | server: %s in=%s fps_out=%s model_ms=%s viewers=%s"
                      % (streamer.sent, streamer.dropped, s.get("state"), s.get("frames_in"),
                         s.get("fps_out"), s.get("model_ms"), s.get("viewers")))
                last_print = now
            next_t += interval
            time.sleep(max(0.0, next_t - time.monotonic()))
    except KeyboardInterrupt:
        pass
    streamer.flush(10.0)
    if streamer.closed.is_set():
        return _push_closed(streamer)
    streamer.close()
    print("done: sent %d, dropped locally %d" % (streamer.sent, streamer.dropped))
    return 0


def _push_closed(streamer):
    streamer.closed.wait(5.0)
    print("closed by server: %s %s" % (streamer.close_code, streamer.close_reason), file=sys.stderr)
    # A refused key or origin is an authentication failure, like a refused upgrade.
    return 3 if streamer.close_code in _AUTH_CLOSE_CODES else 1


def _cmd_worker(args):
    def identity(jpeg, params):
        return jpeg

    stop = threading.Event()
    try:
        run_worker(args.server, args.token, identity, name=args.name, backend="identity", stop=stop,
                   slots=args.slots, max_batch=args.max_batch)
    except AuthenticationError as e:
        print(str(e), file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        stop.set()
    return 0


def _cmd_watch(args):
    n = 0
    with Viewer(args.server, args.user) as v:
        for kind, data in v:
            if kind == "event":
                print(json.dumps(data))
                continue
            n += 1
            if args.out:
                os.makedirs(args.out, exist_ok=True)
                with open(os.path.join(args.out, "frame_%06d.jpg" % n), "wb") as f:
                    f.write(data.jpeg)
            print("frame seq=%s bytes=%d" % (data.seq, len(data.jpeg)))
            if args.count and n >= args.count:
                break
    return 0


def _api_call(fn):
    """Runs one API call for the CLI: prints its JSON result; 0 on success, 3 when the
    credentials are refused (401), 1 for any other refusal (code and message on stderr)."""
    try:
        out = fn()
    except ApiError as e:
        print("error: HTTP %s %s: %s" % (e.status, e.code, e.message), file=sys.stderr)
        return 3 if e.status == 401 else 1
    except OSError as e:
        print("error: %s" % e, file=sys.stderr)
        return 1
    print(json.dumps(out, indent=2))
    return 0


def _cmd_comment(args):
    api = Client(args.server, token=args.token)
    if args.delete is not None:
        return _api_call(lambda: api.delete_comment(args.user, args.delete))
    if args.text is None:
        return _api_call(lambda: api.comments(args.user, limit=args.limit))
    return _api_call(lambda: api.post_comment(args.user, args.text))


def _cmd_style(args):
    api = Client(args.server, token=args.token)
    if args.approve is not None:
        return _api_call(lambda: api.approve_style(args.user, args.approve))
    if args.reject is not None:
        return _api_call(lambda: api.reject_style(args.user, args.reject))
    if args.skip:
        return _api_call(lambda: api.skip_style(args.user))
    if args.clear:
        return _api_call(lambda: api.clear_styles(args.user))
    if args.prompt is None:
        return _api_call(lambda: api.styles(args.user))
    return _api_call(lambda: api.request_style(args.user, args.prompt))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    push = sub.add_parser("push", help="stream the JPEGs of a folder")
    push.add_argument("--server", required=True)
    push.add_argument("--key", default=os.environ.get("DREAMSTREAM_STREAM_KEY"),
                      help="stream key (or env DREAMSTREAM_STREAM_KEY)")
    push.add_argument("--dir", required=True)
    push.add_argument("--fps", type=float, default=10.0)
    push.add_argument("--count", type=int, default=0, help="stop after N frames (0: folder once, or forever with --loop)")
    push.add_argument("--loop", action="store_true", help="repeat the folder")
    worker = sub.add_parser("worker", help="serve jobs with the identity model (a template)")
    worker.add_argument("--server", required=True)
    worker.add_argument("--token", default=os.environ.get("DREAMSTREAM_WORKER_TOKEN"),
                        help="worker token (or env DREAMSTREAM_WORKER_TOKEN)")
    worker.add_argument("--name", default="python-identity")
    worker.add_argument("--slots", type=int, default=1, help="jobs or batches held at once (1-8)")
    worker.add_argument("--max-batch", type=int, default=1,
                        help="jobs of different streams per model call (1-16)")
    watch = sub.add_parser("watch", help="print events and save processed frames")
    watch.add_argument("--server", required=True)
    watch.add_argument("--user", required=True)
    watch.add_argument("--out")
    watch.add_argument("--count", type=int, default=0)
    token_help = "API token dst_... (or env DREAMSTREAM_API_TOKEN)"
    comment = sub.add_parser("comment", help="post, list or delete a stream's comments")
    comment.add_argument("--server", required=True)
    comment.add_argument("--user", required=True, help="the streamer's username")
    comment.add_argument("--token", default=os.environ.get("DREAMSTREAM_API_TOKEN"), help=token_help)
    comment.add_argument("--delete", type=int, metavar="ID", help="delete comment ID (author or streamer)")
    comment.add_argument("--limit", type=int, help="with no TEXT: how many to list (1-100)")
    comment.add_argument("text", nargs="?", help="the comment; leave out to list the newest")
    style = sub.add_parser("style", help="request a style, show the queue, or control it (streamer)")
    style.add_argument("--server", required=True)
    style.add_argument("--user", required=True, help="the streamer's username")
    style.add_argument("--token", default=os.environ.get("DREAMSTREAM_API_TOKEN"), help=token_help)
    ctl = style.add_mutually_exclusive_group()
    ctl.add_argument("--approve", type=int, metavar="ID", help="approve pending request ID")
    ctl.add_argument("--reject", type=int, metavar="ID", help="reject pending or queued request ID")
    ctl.add_argument("--skip", action="store_true", help="end the playing request")
    ctl.add_argument("--clear", action="store_true", help="clear every pending and queued request")
    style.add_argument("prompt", nargs="?", help="the style to ask for; leave out to show the state")
    args = p.parse_args(argv)
    if args.cmd == "push":
        if not args.key:
            p.error("--key is required")
        if args.fps <= 0:
            p.error("--fps must be positive")
        if args.count and not args.loop:
            args.loop = True
        return _cmd_push(args)
    if args.cmd == "worker":
        if not args.token:
            p.error("--token is required")
        return _cmd_worker(args)
    if args.cmd == "comment":
        if (args.text is not None or args.delete is not None) and not args.token:
            p.error("--token is required to post or delete")
        if args.text is not None and args.delete is not None:
            p.error("give either TEXT or --delete")
        return _cmd_comment(args)
    if args.cmd == "style":
        controls = args.approve is not None or args.reject is not None or args.skip or args.clear
        if controls and args.prompt is not None:
            p.error("give either PROMPT or a control option")
        if (controls or args.prompt is not None) and not args.token:
            p.error("--token is required to request or control styles")
        return _cmd_style(args)
    return _cmd_watch(args)


if __name__ == "__main__":
    sys.exit(main())
