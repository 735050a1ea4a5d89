"""Throttling that cannot be turned against users, trusted proxies, /metrics access, HSTS and
the signup bonus (issue 8, items 4, 5 and 13). Client addresses are simulated through
X-Forwarded-For from a trusted loopback proxy, as nginx in front of the server would send."""

import os
import subprocess
import threading
import unittest

import fake_stripe
from fake_stripe import FakeStripe
from harness import (PASSWORD, Server, ServerTestCase, binary_path, postgres_url_for, register,
                     unique_name)

PROXY_ARGS = ["--trusted-proxy", "127.0.0.1/32", "--trusted-proxy", "::1/128"]


def via(address):
    """Headers of a request that a trusted proxy forwards for `address`."""
    return {"X-Forwarded-For": address}


def login_from(client, name, password, address):
    return client.post("/api/auth/login", {"login": name, "password": password},
                       headers=via(address))


def session_ips(client):
    st, _, body = client.get("/api/me/sessions")
    assert st == 200, (st, body)
    return [s["ip"] for s in body["sessions"]]


class TestLoginThrottleBehindAProxy(ServerTestCase):
    server_args = PROXY_ARGS

    def test_an_attackers_failures_never_lock_the_owner_out(self):
        user = register(self.client())
        attacker = self.client()
        for _ in range(6):
            r = login_from(attacker, user["username"], "wrong password", "203.0.113.66")
        # The attacker's address is throttled for this account, even with the right password...
        self.assertError(r, 429, "rate_limited")
        self.assertError(login_from(attacker, user["username"], PASSWORD, "203.0.113.66"), 429)
        # ...the owner, from their own address, logs in (fails on the per-account counter).
        owner = self.client()
        st, _, body = login_from(owner, user["username"], PASSWORD, "198.51.100.20")
        self.assertEqual(st, 200, body)
        st, _, body = login_from(owner, user["email"], PASSWORD, "198.51.100.21")
        self.assertEqual(st, 200, body)

    def test_the_resolved_client_is_the_rightmost_untrusted_hop(self):
        user = register(self.client())
        c = self.client()
        # The client forged "6.6.6.6"; the proxy appended what it saw.
        st, _, _ = c.post("/api/auth/login", {"login": user["username"], "password": PASSWORD},
                          headers={"X-Forwarded-For": "6.6.6.6, 198.51.100.7, 127.0.0.1"})
        self.assertEqual(st, 200)
        self.assertIn("198.51.100.7", session_ips(c))
        self.assertNotIn("6.6.6.6", session_ips(c))

    def test_parallel_guesses_cannot_outrun_the_limit(self):
        user = register(self.client())
        statuses = []

        def guess():
            r = login_from(self.client(), user["username"], "wrong password", "203.0.113.90")
            statuses.append(r.status)

        threads = [threading.Thread(target=guess) for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(sorted(statuses), [401] * 5 + [429] * 5)

    def test_wrong_current_passwords_are_throttled(self):
        c = self.client()
        register(c)
        for _ in range(5):
            self.assertError(c.post("/api/me/password", {"current_password": "wrong password",
                                                         "new_password": "another long one"}),
                             403)
        self.assertError(c.post("/api/me/password", {"current_password": PASSWORD,
                                                     "new_password": "another long one"}),
                         429, "rate_limited")
        self.assertError(c.delete("/api/me", {"password": PASSWORD}), 429, "rate_limited")
        self.assertEqual(c.get("/api/me").status, 200)


class TestForwardedForIsIgnoredWithoutATrustedProxy(ServerTestCase):
    def test_a_forged_header_neither_names_the_client_nor_escapes_the_throttle(self):
        user = register(self.client())
        c = self.client()
        st, _, _ = c.post("/api/auth/login", {"login": user["username"], "password": PASSWORD},
                          headers=via("198.51.100.7"))
        self.assertEqual(st, 200)
        self.assertEqual(session_ips(c)[0], "127.0.0.1")
        self.assertNotIn("198.51.100.7", session_ips(c))
        # Rotating the header does not make each guess come from somewhere new.
        for i in range(5):
            r = login_from(self.client(), user["username"], "wrong password", "203.0.113.%d" % i)
            self.assertEqual(r.status, 401)
        self.assertError(login_from(self.client(), user["username"], PASSWORD, "203.0.113.99"),
                         429)


class TestTrustedProxyOption(unittest.TestCase):
    def test_a_malformed_cidr_stops_the_server_at_start(self):
        for bad in ["10.0.0.0/33", "localhost", "[::1]/128", "1.2.3.4:80"]:
            server = Server(["--trusted-proxy", bad])
            self.addCleanup(server.cleanup)
            with self.assertRaises(Exception, msg=bad):
                server.start()
            self.assertIn("--trusted-proxy", server.logs())

    def test_proxies_from_the_environment_ipv6_included(self):
        server = Server(env={"DREAMSTREAM_TRUSTED_PROXIES": "::1/128,127.0.0.0/8"})
        server.start()
        self.addCleanup(server.cleanup)
        user = register(server.client())
        c2 = server.client()
        st, _, _ = c2.post("/api/auth/login", {"login": user["username"], "password": PASSWORD},
                           headers=via("2001:DB8::7, 127.0.0.5"))
        self.assertEqual(st, 200)
        self.assertIn("2001:db8::7", session_ips(c2))


class TestRegistrationLimits(ServerTestCase):
    server_args = PROXY_ARGS + ["--register-limit", "2"]

    def test_new_accounts_are_limited_per_address(self):
        c = self.client()
        for _ in range(2):
            name = unique_name()
            st, _, body = c.post("/api/auth/register",
                                 {"username": name, "email": name + "@example.com",
                                  "password": PASSWORD}, headers=via("203.0.113.5"))
            self.assertEqual(st, 201, body)
        name = unique_name()
        form = {"username": name, "email": name + "@example.com", "password": PASSWORD}
        self.assertError(c.post("/api/auth/register", form, headers=via("203.0.113.5")), 429,
                         "rate_limited")
        # A taken name is still reported as taken (cheap checks come first)...
        self.assertError(c.post("/api/auth/register", dict(form, username=self.taken),
                                headers=via("203.0.113.5")), 409, "username_taken")
        # ...and another address registers.
        st, _, _ = c.post("/api/auth/register", form, headers=via("203.0.113.6"))
        self.assertEqual(st, 201)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        c = cls.server.client()
        name = unique_name()
        st, _, _ = c.post("/api/auth/register", {"username": name, "email": name + "@x.example",
                                                 "password": PASSWORD},
                          headers=via("192.0.2.200"))
        assert st == 201
        cls.taken = name


def run_admin(data_dir, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DREAMSTREAM_")}
    db = postgres_url_for(data_dir, create=False)
    return subprocess.run([binary_path(), "admin", "--data", data_dir]
                          + (["--db", db] if db else []) + list(args),
                          capture_output=True, text=True, timeout=60, env=env)


class TestSignupCredits(unittest.TestCase):
    def start(self, *args):
        server = Server(list(args))
        server.start()
        self.addCleanup(server.cleanup)
        return server

    def test_zero_signup_credits_grant_nothing_and_the_ledger_verifies(self):
        server = self.start("--signup-credits", "0")
        c = server.client()
        user = register(c)
        self.assertEqual(user["balance_cents"], 0)
        st, _, body = c.get("/api/credits/transactions")
        self.assertEqual((st, body["transactions"]), (200, []))
        self.assertEqual(server.client().get("/api/config").json["signup_cents"], 0)
        r = run_admin(server.data_dir, "ledger", "verify")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_signup_credits_are_configurable(self):
        server = self.start("--signup-credits", "3")
        user = register(server.client())
        self.assertEqual(user["balance_cents"], 300)
        self.assertEqual(user["remaining_minutes"], 15)


class TestMetricsAccess(unittest.TestCase):
    def start(self, *args):
        server = Server(list(args))
        server.start()
        self.addCleanup(server.cleanup)
        return server

    def test_without_a_token_only_local_unproxied_scrapers_get_metrics(self):
        server = self.start(*PROXY_ARGS)
        c = server.client()
        st, headers, _ = c.get("/metrics")
        self.assertEqual(st, 200)
        self.assertIn("dreamstream_viewers", c.last.body.decode())
        # An outsider through the (trusted) proxy, and anything a proxy forwarded, is refused.
        self.assertEqual(c.get("/metrics", headers=via("203.0.113.9")).status, 403)
        self.assertEqual(c.get("/metrics", headers=via("127.0.0.1")).status, 403)
        self.assertEqual(c.get("/metrics", headers={"Forwarded": "for=127.0.0.1"}).status, 403)

    def test_a_token_is_required_when_configured(self):
        server = self.start("--metrics-token", "s3cret-metrics-token")
        c = server.client()
        r = c.get("/metrics")
        self.assertEqual(r.status, 401)
        self.assertEqual(r.headers.get("WWW-Authenticate"), "Bearer")
        self.assertEqual(c.get("/metrics", headers={"Authorization": "Bearer wrong"}).status, 401)
        r = c.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics-token"})
        self.assertEqual(r.status, 200)
        self.assertIn("dreamstream_streams", r.body.decode())
        self.assertNotIn("s3cret-metrics-token", server.logs())


class TestStrictTransportSecurity(unittest.TestCase):
    def test_hsts_on_every_response_when_the_public_url_is_https(self):
        server = Server(["--public-url", "https://stream.example"])
        server.start()
        self.addCleanup(server.cleanup)
        c = server.client()
        for path in ["/", "/login", "/static/css/app.css", "/api/config", "/api/me", "/nope"]:
            r = c.get(path)
            self.assertEqual(r.headers.get("Strict-Transport-Security"), "max-age=31536000",
                             path)

    def test_no_hsts_over_plain_http(self):
        server = Server()
        server.start()
        self.addCleanup(server.cleanup)
        self.assertIsNone(server.client().get("/").headers.get("Strict-Transport-Security"))


class TestPaymentCallsAreRateLimited(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.stripe = FakeStripe().start()
        cls.server_env = {"STRIPE_SECRET_KEY": fake_stripe.SECRET_KEY,
                          "STRIPE_WEBHOOK_SECRET": fake_stripe.WEBHOOK_SECRET,
                          "STRIPE_API_BASE": cls.stripe.base_url}
        try:
            super().setUpClass()
        except Exception:
            cls.stripe.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.stripe.stop()

    def test_checkout_creation_is_limited_per_user(self):
        c = self.client()
        register(c)
        for i in range(10):
            st, _, body = c.post("/api/credits/checkout", {"credits": 5})
            self.assertEqual(st, 200, (i, body))
        self.assertError(c.post("/api/credits/checkout", {"credits": 5}), 429, "rate_limited")
        # Another user is not affected.
        other = self.client()
        register(other)
        self.assertEqual(other.post("/api/credits/checkout", {"credits": 5}).status, 200)

    def test_confirmation_is_limited_per_user(self):
        c = self.client()
        register(c)
        st, _, body = c.post("/api/credits/checkout", {"credits": 5})
        self.assertEqual(st, 200, body)
        sid = body["session_id"]
        for i in range(30):
            st, _, body = c.get("/api/credits/checkout/" + sid)
            self.assertEqual((st, body["status"]), (200, "pending"), i)
        self.assertError(c.get("/api/credits/checkout/" + sid), 429, "rate_limited")


if __name__ == "__main__":
    unittest.main()
