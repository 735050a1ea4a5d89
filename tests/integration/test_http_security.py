"""Issue 20, items 7 to 9: cookies that cannot be ridden, scoped API tokens, worker tokens that
can be listed and revoked, and the carried-over HTTP hardening.

Each test names its item; each fails on the code before the change.
"""

import json
import unittest

import dreamstream as ds
from harness import PASSWORD, ServerTestCase, register, unique_name
from test_hardening import close_of
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
