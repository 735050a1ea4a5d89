"""Accounts (docs/api.md): register, login, logout, me, cookies, throttling, signup bonus."""

import threading
import unittest

from harness import (PASSWORD, Server, ServerTestCase, login, register, unique_name)


def cookie_header(headers, name="ds_session"):
    for sc in headers.get_all("Set-Cookie") or []:
        if sc.startswith(name + "="):
            return sc
    return None


def cookie_attrs(set_cookie):
    parts = [p.strip() for p in set_cookie.split(";")]
    return {p.partition("=")[0].lower(): p.partition("=")[2] for p in parts[1:]}


class TestRegisterAndLogin(ServerTestCase):

    def test_register_returns_201_user_and_session_cookie(self):
        c = self.client()
        name = unique_name("Reg")
        st, headers, body = c.post("/api/auth/register", {
            "username": name, "email": name + "@Example.com", "password": PASSWORD})
        self.assertEqual(st, 201, body)
        user = body["user"]
        self.assertEqual(user["username"], name.lower())
        self.assertEqual(user["email"], name.lower() + "@example.com")
        self.assertEqual(user["display_name"], name)
        self.assertEqual(user["stream_url"], "/u/" + name.lower())
        self.assertNotIn("password_hash", user)
        self.assertNotIn("password", user)
        self.assertIsNotNone(cookie_header(headers))
        self.assertTrue(c.session.startswith("dss_"))

    def test_me_returns_the_logged_in_user(self):
        c = self.client()
        user = register(c)
        st, _, body = c.get("/api/me")
        self.assertEqual(st, 200)
        self.assertEqual(body["user"]["id"], user["id"])
        self.assertEqual(body["user"]["username"], user["username"])

    def test_me_without_session_is_401(self):
        self.assertError(self.client().get("/api/me"), 401)

    def test_me_with_forged_cookie_is_401(self):
        c = self.client()
        c.cookies["ds_session"] = "dss_" + "A" * 43
        self.assertError(c.get("/api/me"), 401)

    def test_login_by_username_any_case(self):
        c = self.client()
        user = register(c, username=unique_name("Mixed"))
        for login_name in (user["username"], user["username"].upper()):
            fresh = self.client()
            st, headers, body = login(fresh, login_name)
            self.assertEqual(st, 200, body)
            self.assertEqual(body["user"]["id"], user["id"])
            self.assertIsNotNone(cookie_header(headers))
            self.assertEqual(fresh.get("/api/me").status, 200)

    def test_login_by_email_any_case(self):
        c = self.client()
        user = register(c)
        for login_name in (user["email"], user["email"].upper(), "  " + user["email"] + " "):
            fresh = self.client()
            st, _, body = login(fresh, login_name)
            self.assertEqual(st, 200, body)
            self.assertEqual(body["user"]["id"], user["id"])

    def test_login_accepts_username_and_email_field_aliases(self):
        user = register(self.client())
        st, _, _ = self.client().post("/api/auth/login",
                                      {"username": user["username"], "password": PASSWORD})
        self.assertEqual(st, 200)
        st, _, _ = self.client().post("/api/auth/login",
                                      {"email": user["email"], "password": PASSWORD})
        self.assertEqual(st, 200)

    def test_each_login_gets_a_new_session(self):
        user = register(self.client())
        a, b = self.client(), self.client()
        login(a, user["username"])
        login(b, user["username"])
        self.assertNotEqual(a.session, b.session)

    def test_logout_ends_the_session_and_clears_the_cookie(self):
        c = self.client()
        register(c)
        token = c.session
        st, headers, body = c.post("/api/auth/logout")
        self.assertEqual(st, 200)
        sc = cookie_header(headers)
        self.assertIsNotNone(sc)
        self.assertEqual(cookie_attrs(sc).get("max-age"), "0")
        self.assertIsNone(c.session)
        # The old token no longer works even if a client kept it.
        c.cookies["ds_session"] = token
        self.assertError(c.get("/api/me"), 401)

    def test_logout_without_session_is_harmless(self):
        st, _, body = self.client().post("/api/auth/logout")
        self.assertEqual(st, 200)

    def test_logout_with_cookie_but_no_origin_is_refused(self):
        c = self.client()
        register(c)
        self.assertError(c.post("/api/auth/logout", origin=None), 403)
        self.assertEqual(c.get("/api/me").status, 200)

    def test_unknown_user_and_wrong_password_give_the_same_error(self):
        user = register(self.client())
        r1 = login(self.client(), user["username"], "wrong password here")
        r2 = login(self.client(), unique_name("nobody"), "wrong password here")
        r3 = login(self.client(), "nobody-%s@example.com" % unique_name(), PASSWORD)
        for r in (r1, r2, r3):
            self.assertError(r, 401)
        self.assertEqual(r1.json, r2.json)
        self.assertEqual(r1.json, r3.json)
        self.assertIsNone(cookie_header(r1.headers))


class TestCookies(ServerTestCase):

    def test_session_cookie_is_httponly_samesite_lax_and_not_secure_on_http(self):
        c = self.client()
        name = unique_name()
        st, headers, _ = c.post("/api/auth/register", {
            "username": name, "email": name + "@example.com", "password": PASSWORD})
        self.assertEqual(st, 201)
        attrs = cookie_attrs(cookie_header(headers))
        self.assertIn("httponly", attrs)
        self.assertEqual(attrs.get("samesite", "").lower(), "lax")
        self.assertEqual(attrs.get("path"), "/")
        self.assertNotIn("secure", attrs)

    def test_session_token_has_256_bits(self):
        c = self.client()
        register(c)
        token = c.session
        # "dss_" + URL-safe base64 of 32 bytes without padding = 43 characters.
        self.assertTrue(token.startswith("dss_"))
        self.assertEqual(len(token), 4 + 43)


class TestSecureCookieWithHttpsPublicUrl(ServerTestCase):
    server_args = ["--public-url", "https://stream.example"]

    def test_session_cookie_is_secure_when_public_url_is_https(self):
        c = self.client()
        name = unique_name()
        st, headers, _ = c.post("/api/auth/register", {
            "username": name, "email": name + "@example.com", "password": PASSWORD})
        self.assertEqual(st, 201)
        attrs = cookie_attrs(cookie_header(headers))
        self.assertIn("secure", attrs)
        self.assertIn("httponly", attrs)
        self.assertEqual(attrs.get("samesite", "").lower(), "lax")

    def test_logout_cookie_is_secure_too(self):
        c = self.client()
        register(c)
        st, headers, _ = c.post("/api/auth/logout")
        self.assertEqual(st, 200)
        self.assertIn("secure", cookie_attrs(cookie_header(headers)))

    def test_public_url_origin_passes_the_csrf_check(self):
        c = self.client()
        register(c)
        st, _, _ = c.patch("/api/me", {"display_name": "Via public"},
                           origin="https://stream.example")
        self.assertEqual(st, 200)


class TestSignupBonus(ServerTestCase):

    def test_new_account_has_12_credits_and_60_minutes(self):
        c = self.client()
        user = register(c)
        self.assertEqual(user["balance"], "12.00")
        self.assertEqual(user["balance_cents"], 1200)
        st, _, body = c.get("/api/credits")
        self.assertEqual(st, 200)
        self.assertEqual(body["balance"], "12.00")
        self.assertEqual(body["balance_cents"], 1200)
        self.assertEqual(body["remaining_minutes"], 60)

    def test_signup_bonus_is_a_ledger_entry(self):
        c = self.client()
        user = register(c)
        st, _, body = c.get("/api/credits/transactions")
        self.assertEqual(st, 200)
        entries = body["transactions"]
        self.assertEqual(len(entries), 1)
        self.assertEqual(entries[0]["kind"], "signup_bonus")
        self.assertEqual(entries[0]["amount_cents"], 1200)
        self.assertEqual(entries[0]["amount"], "12.00")
        self.assertEqual(entries[0]["balance_after_cents"], 1200)
        self.assertIsNone(body["next_before"])
        # Stored, not a default: the row is in the ledger table and the balance equals its sum.
        self.assertEqual(self.server.db_count("credit_transactions",
                                              "user_id = ? AND kind = 'signup_bonus'",
                                              (user["id"],)), 1)

    def test_credits_need_login(self):
        self.assertError(self.client().get("/api/credits"), 401)
        self.assertError(self.client().get("/api/credits/transactions"), 401)

    def test_transactions_rejects_bad_paging(self):
        c = self.client()
        register(c)
        for q in ("limit=0", "limit=201", "limit=abc", "before=-1", "before=x"):
            self.assertError(c.get("/api/credits/transactions?" + q), 400)


class TestLoginThrottlingPerAccount(ServerTestCase):

    def test_repeated_failures_for_one_account_give_429(self):
        user = register(self.client())
        statuses = [login(self.client(), user["username"], "not the password").status
                    for _ in range(5)]
        self.assertEqual(statuses, [401] * 5)
        r = login(self.client(), user["username"], "not the password")
        self.assertError(r, 429, "rate_limited")
        # Even the right password is refused while the account is throttled, by any spelling.
        self.assertError(login(self.client(), user["username"]), 429)
        self.assertError(login(self.client(), user["email"].upper()), 429)

    def test_username_and_email_spellings_count_against_one_account(self):
        user = register(self.client())
        spellings = [user["username"], user["email"], user["username"].upper(),
                     user["email"].upper(), user["username"]]
        for name in spellings:
            self.assertEqual(login(self.client(), name, "not the password").status, 401)
        # Five failures spread across spellings: the account is throttled.
        self.assertError(login(self.client(), user["email"], "not the password"), 429)

    def test_throttling_one_account_leaves_others_alone(self):
        victim = register(self.client())
        other = register(self.client())
        for _ in range(6):
            login(self.client(), victim["username"], "not the password")
        st, _, _ = login(self.client(), other["username"])
        self.assertEqual(st, 200)


class TestLoginThrottlingPerAddress(ServerTestCase):

    def test_repeated_failures_from_one_address_give_429(self):
        user = register(self.client())
        # Spread over many accounts so the per-account limit (5) is never reached.
        statuses = []
        for i in range(20):
            statuses.append(login(self.client(), unique_name("ghost"), "whatever pw").status)
        self.assertEqual(statuses, [401] * 20)
        r = login(self.client(), unique_name("ghost"), "whatever pw")
        self.assertError(r, 429, "rate_limited")
        # The address is throttled, so even a correct login from it waits.
        self.assertError(login(self.client(), user["username"]), 429)


class TestConcurrentRegistration(ServerTestCase):

    def test_eight_concurrent_registrations_of_one_name_give_exactly_one_201(self):
        name = unique_name("race")
        results = [None] * 8
        barrier = threading.Barrier(8)

        def attempt(i):
            c = self.client()
            barrier.wait()
            # Different case and e-mail each time: only the username collides.
            uname = name.upper() if i % 2 else name
            results[i] = c.post("/api/auth/register", {
                "username": uname, "email": "%s-%d@example.com" % (name, i),
                "password": PASSWORD}).status

        threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results.count(201), 1, results)
        self.assertEqual(results.count(409), 7, results)
        self.assertEqual(self.server.db_count("users", "username = ?", (name.lower(),)), 1)
        self.assertEqual(self.server.db_count("credit_transactions", "kind = 'signup_bonus'"),
                         self.server.db_count("users"))

    def test_eight_concurrent_registrations_of_one_email_give_exactly_one_201(self):
        email = unique_name("mail") + "@example.com"
        results = [None] * 8
        barrier = threading.Barrier(8)

        def attempt(i):
            c = self.client()
            barrier.wait()
            results[i] = c.post("/api/auth/register", {
                "username": unique_name("m"), "email": email.upper() if i % 2 else email,
                "password": PASSWORD}).status

        threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results.count(201), 1, results)
        self.assertEqual(results.count(409), 7, results)


class TestSessionsSurviveRestart(unittest.TestCase):

    def test_account_and_session_persist_across_a_restart(self):
        server = Server()
        try:
            server.start()
            c = server.client()
            user = register(c)
            self.assertEqual(server.stop(), 0, server.logs())
            again = Server(data_dir=server.data_dir)
            try:
                again.start()
                c.server = again
                st, _, body = c.get("/api/me")
                self.assertEqual(st, 200)
                self.assertEqual(body["user"]["id"], user["id"])
                self.assertEqual(body["user"]["balance_cents"], 1200)
            finally:
                again.cleanup()
        finally:
            server.cleanup()


if __name__ == "__main__":
    unittest.main()
