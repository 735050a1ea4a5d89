"""HTTP layer (issue 2 §3/§7): health, security headers, CORS/CSRF, pages, options and env vars."""

import http.client
import os
import socket
import tempfile
import unittest

from harness import PASSWORD, Server, ServerTestCase, register, unique_name

PAGES = ["/", "/register", "/login", "/profile", "/studio", "/u/someone"]
# No account is called "someone": its watch page is sent with 404 (issue 20 item 9).
UNKNOWN_CHANNEL = "/u/someone"


class TestHealthAndHeaders(ServerTestCase):

    def test_healthz_reports_ok_and_database_ok(self):
        st, headers, body = self.client().get("/healthz")
        self.assertEqual(st, 200)
        self.assertTrue(headers.get("Content-Type").startswith("application/json"))
        self.assertEqual(body["status"], "ok")
        self.assertEqual(body["database"], "ok")

    def assertSecurityHeaders(self, headers, what):
        csp = headers.get("Content-Security-Policy")
        self.assertIsNotNone(csp, what)
        self.assertIn("frame-ancestors", csp, what)
        self.assertIn("default-src", csp, what)
        self.assertEqual(headers.get("X-Content-Type-Options"), "nosniff", what)
        self.assertIsNotNone(headers.get("Referrer-Policy"), what)

    def test_security_headers_on_api_responses(self):
        for path in ("/healthz", "/api/me", "/api/credits"):
            self.assertSecurityHeaders(self.client().get(path).headers, path)

    def test_security_headers_on_pages_and_static_files(self):
        for path in PAGES + ["/static/css/app.css"]:
            r = self.client().get(path)
            self.assertEqual(r.status, 404 if path == UNKNOWN_CHANNEL else 200, path)
            self.assertSecurityHeaders(r.headers, path)

    def test_security_headers_on_errors(self):
        c = self.client()
        responses = {
            "404": c.get("/api/no-such-thing"),
            "405": c.get("/api/auth/login"),
            "400": c.post("/api/auth/register", raw="{"),
            "403": c.post("/api/auth/register", {"x": 1}, origin="http://evil.example"),
            "413": c.post("/api/auth/register", raw=b"x" * (1024 * 1024 + 1)),
        }
        for what, r in responses.items():
            self.assertEqual(str(r.status), what)
            self.assertSecurityHeaders(r.headers, what)

    def test_security_headers_on_malformed_http(self):
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=10) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n")
            data = recv_all(s)
        head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        self.assertTrue(head.startswith("HTTP/1.1 400"), head)
        self.assertIn("content-security-policy:", head.lower())
        self.assertHealthy()

    def test_unknown_api_route_is_404_json(self):
        r = self.client().get("/api/definitely/not/here")
        self.assertError(r, 404, "not_found")
        self.assertError(self.client().post("/api/nope", {"a": 1}), 404)

    def test_unknown_page_is_404_json(self):
        self.assertError(self.client().get("/no-such-page"), 404)
        self.assertError(self.client().get("/static/no-such-file.js"), 404)

    def test_wrong_method_is_405_with_allow(self):
        r = self.client().get("/api/auth/login")
        self.assertError(r, 405)
        self.assertIn("POST", r.headers.get("Allow"))

    def test_head_of_healthz_has_no_body(self):
        r = self.client().head("/healthz")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"")

    def test_static_path_traversal_is_refused(self):
        for path in ("/static/../CMakeLists.txt", "/static/%2e%2e/%2e%2e/CMakeLists.txt",
                     "/static/..%2fpages/home.html"):
            self.assertNotEqual(self.client().get(path).status, 200, path)

    def test_keep_alive_serves_several_requests_on_one_connection(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        try:
            for _ in range(3):
                conn.request("GET", "/healthz")
                r = conn.getresponse()
                r.read()
                self.assertEqual(r.status, 200)
        finally:
            conn.close()


def recv_all(s):
    chunks = []
    while True:
        try:
            b = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not b:
            break
        chunks.append(b)
    return b"".join(chunks)


class TestPages(ServerTestCase):

    def test_pages_answer_200_html(self):
        for path in PAGES:
            r = self.client().get(path)
            self.assertEqual(r.status, 404 if path == UNKNOWN_CHANNEL else 200, path)
            self.assertTrue(r.headers.get("Content-Type").startswith("text/html"), path)
            self.assertIn("<html", r.text.lower(), path)

    def test_studio_and_watch_pages_say_offline(self):
        for path in ("/studio", "/u/nobody"):
            self.assertIn("offline", self.client().get(path).text.lower(), path)

    def test_static_assets_have_their_content_types(self):
        css = self.client().get("/static/css/app.css")
        self.assertEqual(css.status, 200)
        self.assertTrue(css.headers.get("Content-Type").startswith("text/css"))


class TestWebDir(unittest.TestCase):

    def test_web_dir_serves_pages_and_static_files_from_disk(self):
        web = tempfile.mkdtemp(prefix="ds-web-")
        os.makedirs(os.path.join(web, "pages"))
        os.makedirs(os.path.join(web, "css"))
        with open(os.path.join(web, "pages", "home.html"), "w") as f:
            f.write("<!doctype html><html><body>from-disk-home</body></html>")
        with open(os.path.join(web, "css", "app.css"), "w") as f:
            f.write("body{color:red} /* from-disk-css */")
        with Server(["--web-dir", web]) as server:
            r = server.client().get("/")
            self.assertEqual(r.status, 200)
            self.assertIn("from-disk-home", r.text)
            # Edits show up without a restart.
            with open(os.path.join(web, "pages", "home.html"), "w") as f:
                f.write("<!doctype html><html><body>edited-home</body></html>")
            self.assertIn("edited-home", server.client().get("/").text)
            css = server.client().get("/static/css/app.css")
            self.assertIn("from-disk-css", css.text)
            self.assertEqual(server.client().get("/login").status, 404)  # not on that disk

    def test_embedded_assets_do_not_depend_on_the_working_directory(self):
        # The harness runs the binary with its cwd in an empty temp dir.
        with Server() as server:
            self.assertIn("<html", server.client().get("/").text.lower())


class TestEnvironment(unittest.TestCase):

    def test_listen_data_and_db_come_from_environment(self):
        tmp = tempfile.mkdtemp(prefix="ds-env-")
        data = os.path.join(tmp, "envdata")
        db = os.path.join(tmp, "elsewhere", "custom.db")
        server = Server(default_args=False, env={
            "DREAMSTREAM_LISTEN": "127.0.0.1:0",
            "DREAMSTREAM_DATA": data,
            "DREAMSTREAM_DB": "sqlite://" + db,
        })
        with server:
            register(server.client())
            self.assertTrue(os.path.isdir(data))
            self.assertTrue(os.path.exists(db))
            self.assertFalse(os.path.exists(os.path.join(data, "dreamstream.db")))

    def test_data_env_var_sets_the_default_database_location(self):
        tmp = tempfile.mkdtemp(prefix="ds-env-")
        data = os.path.join(tmp, "d")
        with Server(default_args=False, env={"DREAMSTREAM_LISTEN": "127.0.0.1:0",
                                             "DREAMSTREAM_DATA": data}) as server:
            register(server.client())
            self.assertTrue(os.path.exists(os.path.join(data, "dreamstream.db")))

    def test_command_line_wins_over_environment(self):
        tmp = tempfile.mkdtemp(prefix="ds-env-")
        with Server(env={"DREAMSTREAM_DATA": os.path.join(tmp, "ignored")}) as server:
            register(server.client())
            self.assertTrue(os.path.exists(server.db_path))
            self.assertFalse(os.path.exists(os.path.join(tmp, "ignored")))

    def test_bad_listen_value_exits_with_an_error(self):
        server = Server(["--listen", "not-an-address"])
        with self.assertRaises(Exception):
            server.start()
        self.assertNotEqual(server.stop(), 0)
        server.cleanup()


class TestGracefulShutdown(unittest.TestCase):

    def test_sigterm_stops_the_server_cleanly(self):
        server = Server()
        server.start()
        try:
            self.assertEqual(server.stop(), 0, server.logs())
            self.assertIn("event=stopped", server.logs())
        finally:
            server.cleanup()


class TestCors(ServerTestCase):
    server_args = ["--allowed-origin", "http://app.example",
                   "--allowed-origin", "http://other.example:3000/"]

    def test_preflight_from_allowed_origin(self):
        r = self.client().options("/api/auth/login", headers={
            "Origin": "http://app.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type"})
        self.assertIn(r.status, (200, 204))
        self.assertEqual(r.headers.get("Access-Control-Allow-Origin"), "http://app.example")
        self.assertEqual(r.headers.get("Access-Control-Allow-Credentials"), "true")
        self.assertIn("POST", r.headers.get("Access-Control-Allow-Methods"))
        self.assertIn("content-type", r.headers.get("Access-Control-Allow-Headers").lower())

    def test_preflight_from_other_origin_gets_no_cors_headers(self):
        r = self.client().options("/api/auth/login", headers={
            "Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
        self.assertIsNone(r.headers.get("Access-Control-Allow-Origin"))
        self.assertIsNone(r.headers.get("Access-Control-Allow-Credentials"))

    def test_allowed_origin_registers_and_uses_its_cookie(self):
        app = self.client(origin="http://app.example")
        name = unique_name()
        r = app.post("/api/auth/register", {"username": name, "email": name + "@example.com",
                                            "password": PASSWORD})
        self.assertEqual(r.status, 201)
        self.assertEqual(r.headers.get("Access-Control-Allow-Origin"), "http://app.example")
        self.assertEqual(r.headers.get("Access-Control-Allow-Credentials"), "true")
        me = app.get("/api/me", headers={"Origin": "http://app.example"})
        self.assertEqual(me.status, 200)
        self.assertEqual(me.headers.get("Access-Control-Allow-Origin"), "http://app.example")
        st, _, _ = app.patch("/api/me", {"display_name": "From the app"})
        self.assertEqual(st, 200)

    def test_trailing_slash_in_allowed_origin_is_ignored(self):
        app = self.client(origin="http://other.example:3000")
        register(app)
        self.assertEqual(app.patch("/api/me", {"display_name": "x y"}).status, 200)

    def test_csrf_accepts_exactly_the_allowed_origins(self):
        c = self.client()
        register(c)
        before = self.server.db_snapshot()
        for origin in ("http://evil.example", "http://app.example.evil.com",
                       "https://app.example", "http://app.example:8080", "http://APP.example.x",
                       "null"):
            r = c.patch("/api/me", {"display_name": "pwned"}, origin=origin)
            self.assertError(r, 403)
            self.assertIsNone(r.headers.get("Access-Control-Allow-Origin"))
        self.assertEqual(self.server.db_snapshot(), before)
        # The server's own origin and the allowed ones pass.
        for origin in (self.server.origin, "http://app.example", "http://other.example:3000"):
            self.assertEqual(c.patch("/api/me", {"display_name": "ok name"},
                                     origin=origin).status, 200, origin)

    def test_referer_is_used_when_origin_is_absent(self):
        c = self.client()
        register(c)
        ok = c.patch("/api/me", {"display_name": "ref ok"}, origin=None,
                     headers={"Referer": "http://app.example/profile"})
        self.assertEqual(ok.status, 200)
        bad = c.patch("/api/me", {"display_name": "ref bad"}, origin=None,
                      headers={"Referer": "http://evil.example/app.example"})
        self.assertError(bad, 403)

    def test_errors_carry_cors_headers_for_allowed_origin(self):
        r = self.client().get("/api/me", headers={"Origin": "http://app.example"})
        self.assertError(r, 401)
        self.assertEqual(r.headers.get("Access-Control-Allow-Origin"), "http://app.example")


if __name__ == "__main__":
    unittest.main()
