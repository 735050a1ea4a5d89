"""Issue 20, items 7 to 9: cookies that cannot be ridden, scoped API tokens, worker tokens that
can be listed and revoked, and the carried-over HTTP hardening.

Each test names its item; each fails on the code before the change.
"""

import json
import unittest

import dreamstream as ds
from harness import PASSWORD, ServerTestCase, raw_request, register, unique_name
from test_hardening import close_of, wait_for
from test_live import ws_url
from test_payments import run_admin


class TestCookiesCannotBeRidden(ServerTestCase):
    """Item 7 (and issue 24 item 5: the refusal says which origin to send)."""

    def test_item7_login_csrf_from_a_sandboxed_page_is_refused(self):
        c = self.client()
        name = register(c)["username"]
        attacker = self.client(origin=None)
        body = json.dumps({"login": name, "password": PASSWORD})
        # What a sandboxed iframe's fetch/form sends: Origin: null and a text/plain body.
        r = attacker.request("POST", "/api/auth/login", raw=body, origin="null",
                             headers={"Content-Type": "text/plain;charset=UTF-8"})
        self.assertError(r, 403, "forbidden")
        self.assertIsNone(r.headers.get("Set-Cookie"))
        self.assertNotIn("ds_session", attacker.cookies)
        # Origin: null with this site's Referer is refused too.
        r = attacker.request("POST", "/api/auth/login", {"login": name, "password": PASSWORD},
                             origin="null", headers={"Referer": self.server.origin + "/login"})
        self.assertError(r, 403, "forbidden")
        self.assertNotIn("ds_session", attacker.cookies)

    def test_item7_a_state_change_without_origin_or_token_names_the_origin_to_send(self):
        c = self.client(origin=None)
        name = register(self.client())["username"]
        r = c.post("/api/auth/login", {"login": name, "password": PASSWORD})
        self.assertError(r, 403, "forbidden")
        self.assertEqual(r.json["error"]["message"],
                         "cross-origin request refused: send Origin: %s" % self.server.origin)
        self.assertError(c.post("/api/auth/register", {"username": unique_name(),
                                                      "email": "x@example.com",
                                                      "password": PASSWORD}), 403)
        # The cookie refusal says the same.
        logged_in = self.client()
        register(logged_in)
        r = logged_in.patch("/api/me", {"display_name": "no origin"}, origin=None)
        self.assertError(r, 403, "forbidden")
        self.assertIn("send Origin: %s" % self.server.origin, r.json["error"]["message"])

    def test_item7_json_endpoints_take_only_application_json(self):
        c = self.client()
        user = register(c)
        for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
            r = c.request("PATCH", "/api/me", raw=json.dumps({"display_name": "typed"}),
                          headers={"Content-Type": ctype})
            self.assertError(r, 415, "unsupported_media_type")
            self.assertIn("application/json", r.json["error"]["message"])
            r = self.client().request("POST", "/api/auth/login",
                                      raw=json.dumps({"login": user["username"],
                                                      "password": PASSWORD}),
                                      headers={"Content-Type": ctype})
            self.assertError(r, 415, "unsupported_media_type")
        self.assertEqual(c.get("/api/me").json["user"]["display_name"], user["display_name"])
        ok = c.request("PATCH", "/api/me", raw=json.dumps({"display_name": "typed"}),
                       headers={"Content-Type": "application/json; charset=utf-8"})
        self.assertEqual(ok.status, 200, ok.text)

    def test_item7_bearer_token_callers_and_the_sdk_need_no_origin(self):
        c = self.client()
        register(c)
        token = c.post("/api/me/tokens", {"name": "script"}).json["token"]
        sdk = ds.Client(self.server.url, token=token)
        self.assertEqual(sdk.patch("/api/me", {"display_name": "From SDK"})["user"]
                         ["display_name"], "From SDK")
        # The SDK's cookie login sends the site's own Origin.
        me = self.client()
        name = register(me)["username"]
        cookie_sdk = ds.Client(self.server.url)
        cookie_sdk.login(name, PASSWORD)
        self.assertEqual(cookie_sdk.patch("/api/me", {"display_name": "Cookie SDK"})["user"]
                         ["display_name"], "Cookie SDK")


class TestTokenScopes(ServerTestCase):
    """Item 8: API tokens carry scopes; a token cannot mint tokens or touch the stream key
    unless given that scope, and gives only scopes it has."""

    def token(self, c, scopes, name="app"):
        r = c.post("/api/me/tokens", {"name": name, "scopes": scopes})
        self.assertEqual(r.status, 201, r.text)
        self.assertEqual(r.json["scopes"], scopes)
        return r.json

    def bearer(self, token, method, path, body=None):
        return self.client(origin=None).request(
            method, path, body, headers={"Authorization": "Bearer " + token})

    def test_item8_without_key_scope_the_stream_key_routes_are_403(self):
        c = self.client()
        user = register(c)
        key_hash = lambda: self.server.query(  # noqa: E731
            "SELECT stream_key_hash FROM users WHERE id = ?", (user["id"],))
        c.post("/api/me/stream-key", {})
        before = key_hash()
        app = self.token(c, ["read", "stream", "chat"])["token"]
        r = self.bearer(app, "POST", "/api/me/stream-key", {})
        self.assertError(r, 403, "insufficient_scope")
        self.assertIn('"key"', r.json["error"]["message"])
        self.assertNotIn("stream_key", r.json)
        self.assertEqual(key_hash(), before)
        # What it was given still works.
        self.assertEqual(self.bearer(app, "GET", "/api/me").status, 200)
        self.assertEqual(self.bearer(app, "POST", "/api/ingest/ticket", {}).status, 201)
        keyed = self.token(c, ["key"], name="key-only")["token"]
        r = self.bearer(keyed, "POST", "/api/me/stream-key", {})
        self.assertEqual(r.status, 201, r.text)
        self.assertTrue(r.json["stream_key"].startswith("dsk_"))
        self.assertNotEqual(key_hash(), before)
        self.assertError(self.bearer(keyed, "GET", "/api/me"), 403, "insufficient_scope")

    def test_item8_without_tokens_scope_a_token_cannot_mint_and_never_beyond_its_own(self):
        c = self.client()
        register(c)
        app = self.token(c, ["read", "stream", "chat"])["token"]
        r = self.bearer(app, "POST", "/api/me/tokens", {"name": "more"})
        self.assertError(r, 403, "insufficient_scope")
        self.assertError(self.bearer(app, "GET", "/api/me/tokens"), 403, "insufficient_scope")
        self.assertEqual(len(c.get("/api/me/tokens").json["tokens"]), 1)

        minter = self.token(c, ["stream", "tokens"], name="minter")["token"]
        r = self.bearer(minter, "POST", "/api/me/tokens", {"name": "wider",
                                                           "scopes": ["stream", "key"]})
        self.assertError(r, 403, "insufficient_scope")
        self.assertIn("key", r.json["error"]["message"])
        r = self.bearer(minter, "POST", "/api/me/tokens", {"name": "x", "scopes": ["admin"]})
        self.assertError(r, 400, "invalid_scope")
        listed = {t["name"]: t["scopes"] for t in c.get("/api/me/tokens").json["tokens"]}
        self.assertEqual(listed, {"app": ["read", "stream", "chat"],
                                  "minter": ["stream", "tokens"]})

    def test_item8_the_sdks_make_scoped_tokens_and_work_with_them(self):
        c = self.client()
        register(c)
        minter = ds.Client(self.server.url,
                           token=self.token(c, ["read", "stream", "chat", "tokens"])["token"])
        made = minter.create_api_token("streamer", scopes=["stream", "chat"])
        self.assertEqual(made["scopes"], ["stream", "chat"])
        with self.assertRaises(ds.ApiError) as refused:
            minter.create_api_token("keyed", scopes=["key"])
        self.assertEqual((refused.exception.status, refused.exception.code),
                         (403, "insufficient_scope"))
        self.assertEqual(sorted(t["name"] for t in minter.api_tokens()), ["app", "streamer"])

        sdk = ds.Client(self.server.url, token=made["token"])
        self.assertTrue(sdk.create_ingest_ticket()["ticket"].startswith("dit_"))
        with self.assertRaises(ds.ApiError) as no_read:
            sdk.me()
        self.assertEqual(no_read.exception.status, 403)
        with self.assertRaises(ds.ApiError):
            sdk.rotate_stream_key()
        # A token may always revoke itself (an app signing out), and then it is gone.
        sdk.revoke_api_token(made["id"])
        with self.assertRaises(ds.ApiError) as gone:
            sdk.create_ingest_ticket()
        self.assertEqual(gone.exception.status, 401)


def raw_head(server, path, headers):
    """The status and headers (lower-case names) of a GET, read up to the blank line."""
    status, fields, _ = raw_request(server.port, "GET", path, headers)
    return status, fields


class TestHstsOnEveryHandshake(ServerTestCase):
    """Item 9: Strict-Transport-Security on WebSocket and MJPEG handshakes behind a trusted TLS
    proxy (X-Forwarded-Proto: https), never because an untrusted peer says so."""

    server_args = ["--trusted-proxy", "127.0.0.1/32", "--builtin-workers", "0"]

    def test_item9_websocket_and_mjpeg_handshakes_carry_hsts_behind_a_tls_proxy(self):
        name = register(self.client())["username"]
        tls = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
        ws = ds.WebSocket.connect(ws_url(self.server, "/ws/watch/" + name), tls, timeout=10)
        self.assertEqual(ws.response_headers.get("strict-transport-security"), "max-age=31536000")
        ws.close()
        plain = ds.WebSocket.connect(ws_url(self.server, "/ws/watch/" + name),
                                     {"X-Forwarded-Proto": "http"}, timeout=10)
        self.assertNotIn("strict-transport-security", plain.response_headers)
        plain.close()
        status, head = raw_head(self.server, "/u/%s/stream.mjpeg" % name, tls)
        self.assertEqual(status, 200)
        self.assertEqual(head.get("strict-transport-security"), "max-age=31536000")
        status, head = raw_head(self.server, "/u/%s/stream.mjpeg" % unique_name(), tls)
        self.assertEqual(status, 404)
        self.assertEqual(head.get("strict-transport-security"), "max-age=31536000")
        # Pages and the API behind the proxy too.
        status, head = raw_head(self.server, "/healthz", tls)
        self.assertEqual(head.get("strict-transport-security"), "max-age=31536000")
        status, head = raw_head(self.server, "/healthz", {})
        self.assertNotIn("strict-transport-security", head)


class TestHstsNotFromStrangers(ServerTestCase):
    server_args = ["--builtin-workers", "0"]  # no trusted proxy: the header is anyone's word

    def test_item9_an_untrusted_peer_cannot_claim_tls(self):
        name = register(self.client())["username"]
        ws = ds.WebSocket.connect(ws_url(self.server, "/ws/watch/" + name),
                                  {"X-Forwarded-Proto": "https"}, timeout=10)
        self.assertNotIn("strict-transport-security", ws.response_headers)
        ws.close()


class TestHstsWithAnHttpsPublicUrl(ServerTestCase):
    server_args = ["--public-url", "https://stream.example", "--builtin-workers", "0"]

    def test_item9_websocket_and_mjpeg_handshakes_carry_hsts(self):
        name = register(self.client(origin="https://stream.example"))["username"]
        ws = ds.WebSocket.connect(ws_url(self.server, "/ws/watch/" + name), {}, timeout=10)
        self.assertEqual(ws.response_headers.get("strict-transport-security"), "max-age=31536000")
        ws.close()
        status, head = raw_head(self.server, "/u/%s/stream.mjpeg" % name, {})
        self.assertEqual(status, 200)
        self.assertEqual(head.get("strict-transport-security"), "max-age=31536000")


class TestPerAddressLimitBehindAProxy(ServerTestCase):
    """Item 9: the per-address connection limit counts the client a trusted proxy names, not
    the proxy (which would otherwise shut everyone out once a few clients are connected)."""

    server_args = ["--trusted-proxy", "127.0.0.1/32", "--max-connections-per-address", "2",
                   "--builtin-workers", "0"]

    def test_item9_the_limit_counts_each_client_behind_the_proxy(self):
        name = register(self.client())["username"]
        url = ws_url(self.server, "/ws/watch/" + name)

        def watch(client_addr):
            return ds.WebSocket.connect(url, {"X-Forwarded-For": client_addr}, timeout=10)

        held = [watch("203.0.113.5"), watch("203.0.113.5")]
        with self.assertRaises(ds.HandshakeError) as refused:
            watch("203.0.113.5")
        self.assertEqual(refused.exception.status, 503)
        self.assertIn(b"too_many_connections", refused.exception.body)
        # Other clients of the same proxy are not shut out.
        held += [watch("203.0.113.6"), watch("198.51.100.7")]
        # A closed socket frees its client's slot.
        held.pop(0).close()
        self.assertTrue(wait_for(lambda: self.try_watch(watch, "203.0.113.5", held), 5))
        for ws in held:
            ws.close()

    def try_watch(self, watch, addr, held):
        try:
            held.append(watch(addr))
            return True
        except ds.HandshakeError:
            return False


class TestWorkerTokenRevoke(ServerTestCase):
    """Item 8: `admin worker-token list|revoke NAME` from another process while serving."""

    server_args = ["--builtin-workers", "0"]

    def create(self, name):
        done = run_admin(self.server, "worker-token", "create", name)
        self.assertEqual(done.returncode, 0, done.stderr)
        return done.stdout.strip()

    def worker(self, token):
        ws = ds.WebSocket.connect(ws_url(self.server, "/ws/worker"),
                                  {"Authorization": "Bearer " + token}, timeout=10)
        ws.send_text(json.dumps({"type": "hello", "name": "w"}))
        kind, data = ws.recv(timeout=10)
        self.assertEqual(json.loads(data)["type"], "welcome")
        return ws

    def test_item8_revoked_worker_token_socket_ends_within_10s_and_is_refused(self):
        a, b = self.create("gpu-a"), self.create("gpu-b")
        wa, wb = self.worker(a), self.worker(b)

        listed = run_admin(self.server, "worker-token", "list")
        self.assertEqual(listed.returncode, 0, listed.stderr)
        rows = [line.split("\t") for line in listed.stdout.splitlines()]
        self.assertEqual([(r[1], r[3]) for r in rows], [("gpu-a", "active"), ("gpu-b", "active")])
        self.assertNotIn(a, listed.stdout + listed.stderr)

        revoked = run_admin(self.server, "worker-token", "revoke", "gpu-a")
        self.assertEqual(revoked.returncode, 0, revoked.stderr)
        code, texts = close_of(wa, timeout=10)
        self.assertEqual(code, 4401)
        self.assertIn("revoked", [t.get("code") for t in texts])

        # The other token's worker is untouched and still answers.
        wb.send_text(json.dumps({"type": "error", "job_id": "j1"}))
        kind, data = wb.recv(timeout=10)
        self.assertEqual(kind, "text")
        self.assertEqual(json.loads(data)["type"], "error")
        wb.close()

        # From then on the token is refused.
        try:
            again = ds.WebSocket.connect(ws_url(self.server, "/ws/worker"),
                                         {"Authorization": "Bearer " + a}, timeout=10)
        except ds.HandshakeError as e:
            self.assertEqual(e.status, 401)
        else:
            self.assertEqual(close_of(again)[0], 4401)

        listed = run_admin(self.server, "worker-token", "list")
        rows = [line.split("\t") for line in listed.stdout.splitlines()]
        self.assertTrue(rows[0][3].startswith("revoked "))
        self.assertEqual(rows[1][3], "active")
        unknown = run_admin(self.server, "worker-token", "revoke", "gpu-a")
        self.assertEqual(unknown.returncode, 1)
        self.assertIn("no active worker token", unknown.stderr)


if __name__ == "__main__":
    unittest.main()
