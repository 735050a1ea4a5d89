"""Bad input (issue 2): none crashes the server, none changes stored data, each gets SPEC §8 errors.

Every test snapshots the whole SQLite store before and after (and checks the API view where
there is one), and that the server still answers /healthz.
"""

import socket
import unittest

from harness import PASSWORD, ServerTestCase, login, register, unique_name

MIB = 1024 * 1024


class BadInputCase(ServerTestCase):

    def setUp(self):
        super().setUp()
        self.alice_client = self.client()
        self.alice = register(self.alice_client)
        self.before = self.server.db_snapshot()
        self.credits_before = self.alice_client.get("/api/credits").json

    def assertNothingChanged(self):
        self.assertEqual(self.server.db_snapshot(), self.before)
        self.assertEqual(self.alice_client.get("/api/credits").json, self.credits_before)
        self.assertHealthy()

    def valid_registration(self, **override):
        name = unique_name()
        body = {"username": name, "email": name + "@example.com", "password": PASSWORD}
        body.update(override)
        return body


class TestRegistrationBadInput(BadInputCase):

    def test_malformed_json_is_400(self):
        c = self.client()
        for raw in ("{", "not json", '{"username": "abc",}', "", "\xff\xfe", "[1,2", "nul",
                    '{"username": "a\\ud800"}'):
            self.assertError(c.post("/api/auth/register", raw=raw), 400)
        self.assertNothingChanged()

    def test_non_object_json_is_400(self):
        c = self.client()
        for raw in ("[]", "42", '"str"', "null", "true"):
            self.assertError(c.post("/api/auth/register", raw=raw), 400, "invalid_json")
        self.assertNothingChanged()

    def test_invalid_utf8_inside_a_string_is_400(self):
        raw = b'{"username":"ab\xffc","email":"x@example.com","password":"0123456789"}'
        self.assertError(self.client().post("/api/auth/register", raw=raw), 400)
        self.assertNothingChanged()

    def test_wrong_types_are_400(self):
        c = self.client()
        for field, value in (("username", 123), ("username", ["a"]), ("username", {"a": 1}),
                             ("email", True), ("password", 1234567890123),
                             ("display_name", 5)):
            r = c.post("/api/auth/register", self.valid_registration(**{field: value}))
            self.assertError(r, 400)
        self.assertNothingChanged()

    def test_missing_fields_are_400(self):
        c = self.client()
        for field in ("username", "email", "password"):
            body = self.valid_registration()
            del body[field]
            self.assertError(c.post("/api/auth/register", body), 400, "missing_field")
            body[field] = None
            self.assertError(c.post("/api/auth/register", body), 400, "missing_field")
        self.assertError(c.post("/api/auth/register", {}), 400)
        self.assertNothingChanged()

    def test_overlong_fields_are_400(self):
        c = self.client()
        for override in ({"username": "a" * 31}, {"username": "a" * 5000},
                         {"email": "a" * 250 + "@example.com"}, {"email": "a" * 10000},
                         {"password": "p" * 257}, {"password": "p" * 100000},
                         {"display_name": "d" * 61}, {"display_name": "d" * 100000}):
            self.assertError(c.post("/api/auth/register", self.valid_registration(**override)),
                             400)
        self.assertNothingChanged()

    def test_short_or_empty_fields_are_400(self):
        c = self.client()
        for override in ({"username": "ab"}, {"username": ""}, {"password": "123456789"},
                         {"password": ""}, {"email": ""}, {"display_name": "   "}):
            self.assertError(c.post("/api/auth/register", self.valid_registration(**override)),
                             400)
        self.assertNothingChanged()

    def test_username_with_disallowed_characters_is_400(self):
        c = self.client()
        for bad in ("al ice", "al.ice", "alice!", "\u00e5lice", "al/ice", "<script>", "a\nbc",
                    "~deleted-1", "alice@x", "ali\x00ce", "\u0430lice", " alice", "alice "):
            r = c.post("/api/auth/register", self.valid_registration(username=bad))
            self.assertError(r, 400, "invalid_username")
        self.assertNothingChanged()

    def test_malformed_email_is_400(self):
        c = self.client()
        for bad in ("plain", "@example.com", "a@", "a@b", "a@@b.com", "a b@c.com",
                    "a@b.com.", "a@.com", "<a@b.com>", "a@b\x01.com"):
            self.assertError(c.post("/api/auth/register", self.valid_registration(email=bad)),
                             400, "invalid_email")
        self.assertNothingChanged()

    def test_duplicate_username_in_any_case_is_409(self):
        c = self.client()
        for name in (self.alice["username"], self.alice["username"].upper(),
                     self.alice["username"].capitalize()):
            r = c.post("/api/auth/register", self.valid_registration(username=name))
            self.assertError(r, 409, "username_taken")
        self.assertNothingChanged()

    def test_duplicate_email_in_any_case_is_409(self):
        c = self.client()
        for email in (self.alice["email"], self.alice["email"].upper(),
                      " " + self.alice["email"] + " "):
            r = c.post("/api/auth/register", self.valid_registration(email=email))
            self.assertError(r, 409, "email_taken")
        self.assertNothingChanged()

    def test_refused_registration_sets_no_cookie(self):
        c = self.client()
        c.post("/api/auth/register", self.valid_registration(username=self.alice["username"]))
        self.assertIsNone(c.session)
        self.assertNothingChanged()


class TestLoginBadInput(BadInputCase):

    def test_wrong_password_is_401(self):
        r = login(self.client(), self.alice["username"], "wrong password!")
        self.assertError(r, 401, "invalid_credentials")
        self.assertNothingChanged()

    def test_login_malformed_and_wrong_types_are_400(self):
        c = self.client()
        for raw in ("{", "[]", '{"login": 5, "password": "x"}',
                    '{"login": "a", "password": ["x"]}', '{"login": "a"}', '{"password": "x"}',
                    "{}"):
            self.assertError(c.post("/api/auth/login", raw=raw), 400)
        self.assertNothingChanged()

    def test_login_overlong_fields_are_400(self):
        c = self.client()
        self.assertError(c.post("/api/auth/login", {"login": "a" * 100000,
                                                    "password": PASSWORD}), 400)
        self.assertError(c.post("/api/auth/login", {"login": self.alice["username"],
                                                    "password": "p" * 100000}), 400)
        self.assertNothingChanged()


class TestTransportBadInput(BadInputCase):

    def test_body_over_one_mib_is_413(self):
        c = self.client()
        body = ('{"username":"%s","email":"big@example.com","password":"%s","display_name":"'
                % (unique_name(), PASSWORD)) + "x" * MIB + '"}'
        r = c.post("/api/auth/register", raw=body)
        self.assertError(r, 413, "too_large")
        self.assertNothingChanged()

    def test_body_over_one_mib_without_content_length_is_413(self):
        # Chunked transfer: the limit is enforced while reading, not from the header.
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=30) as s:
            s.sendall(("POST /api/auth/register HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       "Origin: %s\r\nContent-Type: application/json\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n" % self.server.origin).encode())
            chunk = b"x" * 65536
            try:
                for _ in range(20):
                    s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                s.sendall(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
            data = b""
            try:
                while True:
                    b = s.recv(65536)
                    if not b:
                        break
                    data += b
            except (ConnectionResetError, socket.timeout):
                pass
        self.assertTrue(data.startswith(b"HTTP/1.1 413"), data[:200])
        self.assertNothingChanged()

    def test_body_of_exactly_one_mib_is_read(self):
        # At the limit the body is read and judged on its content (here: invalid display name).
        prefix = ('{"username":"%s","email":"edge@example.com","password":"%s",'
                  '"display_name":"' % (unique_name(), PASSWORD))
        body = prefix + "x" * (MIB - len(prefix) - 2) + '"}'
        self.assertEqual(len(body.encode()), MIB)
        r = self.client().post("/api/auth/register", raw=body)
        self.assertEqual(r.status, 400)
        self.assertNothingChanged()

    def test_deeply_nested_json_is_400_not_a_crash(self):
        c = self.client()
        for raw in ("[" * 200000, "[" * 100000 + "]" * 100000,
                    '{"a":' * 100000 + "1" + "}" * 100000):
            r = c.post("/api/auth/register", raw=raw)
            self.assertEqual(r.status, 400)
        self.assertNothingChanged()

    def test_unknown_route_is_404_json(self):
        c = self.alice_client
        self.assertError(c.get("/api/nothing-here"), 404, "not_found")
        self.assertError(c.post("/api/nothing-here", {"a": 1}), 404)
        self.assertError(c.delete("/api/me/sessions"), 405)
        self.assertNothingChanged()

    def test_huge_headers_are_refused(self):
        r = self.client().get("/healthz", headers={"X-Big": "x" * 64 * 1024})
        self.assertEqual(r.status, 431)
        self.assertNothingChanged()

    def test_garbage_bytes_are_answered_with_400(self):
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=10) as s:
            s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n")
            try:
                data = s.recv(4096)
            except ConnectionResetError:
                data = b""
        self.assertTrue(data == b"" or data.startswith(b"HTTP/1.1 400"), data[:100])
        self.assertNothingChanged()


class TestCrossOrigin(BadInputCase):

    def test_cross_origin_post_with_a_valid_cookie_is_403(self):
        c = self.alice_client
        for method, path, body in (("PATCH", "/api/me", {"display_name": "evil"}),
                                   ("POST", "/api/me/tokens", {"name": "evil"}),
                                   ("POST", "/api/me/stream-key", None),
                                   ("POST", "/api/me/password",
                                    {"current_password": PASSWORD, "new_password": "x" * 12}),
                                   ("DELETE", "/api/me", {"password": PASSWORD}),
                                   ("POST", "/api/auth/logout", None)):
            r = c.request(method, path, body=body, origin="http://evil.example")
            self.assertError(r, 403)
        self.assertEqual(c.get("/api/me").status, 200)
        self.assertNothingChanged()

    def test_cookie_state_change_without_origin_or_referer_is_403(self):
        c = self.alice_client
        self.assertError(c.patch("/api/me", {"display_name": "no origin"}, origin=None), 403)
        self.assertError(c.post("/api/me/tokens", {"name": "no origin"}, origin=None), 403)
        self.assertNothingChanged()

    def test_cross_origin_login_and_register_are_403(self):
        # Login CSRF: a foreign page must not log the victim into the attacker's account.
        evil = "http://evil.example"
        self.assertError(self.client().post("/api/auth/login", {
            "login": self.alice["username"], "password": PASSWORD}, origin=evil), 403)
        self.assertError(self.client().post("/api/auth/register", self.valid_registration(),
                                            origin=evil), 403)
        self.assertNothingChanged()


class TestProfileBadInput(BadInputCase):

    def test_profile_endpoints_reject_malformed_bodies(self):
        c = self.alice_client
        for method, path in (("PATCH", "/api/me"), ("POST", "/api/me/password"),
                             ("POST", "/api/me/tokens"), ("DELETE", "/api/me")):
            for raw in ("{", "[]", "3"):
                self.assertError(c.request(method, path, raw=raw), 400)
        self.assertNothingChanged()


if __name__ == "__main__":
    unittest.main()
