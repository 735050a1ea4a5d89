"""Profile (docs/api.md): display name, e-mail, password, sessions, API tokens, stream key, deletion."""

import unittest

from harness import PASSWORD, ServerTestCase, login, register, unique_name

NEW_PASSWORD = "an even better passphrase"


class TestProfileFields(ServerTestCase):

    def test_change_display_name(self):
        c = self.client()
        register(c)
        st, _, body = c.patch("/api/me", {"display_name": "  Ada Lovelace  "})
        self.assertEqual(st, 200, body)
        self.assertEqual(body["user"]["display_name"], "Ada Lovelace")
        self.assertEqual(c.get("/api/me").json["user"]["display_name"], "Ada Lovelace")

    def test_change_email_and_log_in_with_it(self):
        c = self.client()
        user = register(c)
        new_email = "New-" + user["username"] + "@Example.org"
        st, _, body = c.patch("/api/me", {"email": new_email})
        self.assertEqual(st, 200, body)
        self.assertEqual(body["user"]["email"], new_email.lower())
        self.assertEqual(login(self.client(), new_email).status, 200)
        self.assertError(login(self.client(), user["email"]), 401)

    def test_change_email_to_a_taken_one_is_409_and_changes_nothing(self):
        other = register(self.client())
        c = self.client()
        user = register(c)
        before = self.server.db_snapshot()
        self.assertError(c.patch("/api/me", {"email": other["email"].upper()}), 409)
        self.assertEqual(self.server.db_snapshot(), before)
        self.assertEqual(c.get("/api/me").json["user"]["email"], user["email"])

    def test_keeping_ones_own_email_is_fine(self):
        c = self.client()
        user = register(c)
        st, _, body = c.patch("/api/me", {"email": user["email"].upper()})
        self.assertEqual(st, 200, body)

    def test_profile_update_rejects_bad_values_and_changes_nothing(self):
        c = self.client()
        register(c)
        before = self.server.db_snapshot()
        for body in ({}, {"display_name": ""}, {"display_name": "x" * 61},
                     {"display_name": 42}, {"display_name": "bad\x01name"},
                     {"email": "not-an-email"}, {"email": ["a@b.co"]}):
            self.assertError(c.patch("/api/me", body), 400)
        self.assertError(c.patch("/api/me", raw="{nope"), 400)
        self.assertEqual(self.server.db_snapshot(), before)

    def test_profile_changes_need_login(self):
        self.assertError(self.client().patch("/api/me", {"display_name": "x"}), 401)


class TestPasswordChange(ServerTestCase):

    def test_password_change_needs_the_current_password(self):
        c = self.client()
        user = register(c)
        before = self.server.db_snapshot()
        r = c.post("/api/me/password", {"current_password": "definitely wrong",
                                        "new_password": NEW_PASSWORD})
        self.assertError(r, 403, "wrong_password")
        self.assertEqual(self.server.db_snapshot(), before)
        self.assertEqual(login(self.client(), user["username"]).status, 200)

    def test_password_change_rejects_a_short_new_password(self):
        c = self.client()
        register(c)
        before = self.server.db_snapshot()
        r = c.post("/api/me/password", {"current_password": PASSWORD, "new_password": "short"})
        self.assertError(r, 400, "invalid_password")
        self.assertEqual(self.server.db_snapshot(), before)

    def test_password_change_ends_other_sessions_and_keeps_this_one(self):
        c = self.client()
        user = register(c)
        other = self.client()
        self.assertEqual(login(other, user["username"]).status, 200)
        st, _, body = c.post("/api/me/password", {"current_password": PASSWORD,
                                                  "new_password": NEW_PASSWORD})
        self.assertEqual(st, 200, body)
        self.assertEqual(c.get("/api/me").status, 200)
        self.assertError(other.get("/api/me"), 401)
        self.assertError(login(self.client(), user["username"], PASSWORD), 401)
        self.assertEqual(login(self.client(), user["username"], NEW_PASSWORD).status, 200)

    def test_password_change_with_missing_fields_is_400(self):
        c = self.client()
        register(c)
        self.assertError(c.post("/api/me/password", {"current_password": PASSWORD}), 400)
        self.assertError(c.post("/api/me/password", {"new_password": NEW_PASSWORD}), 400)
        self.assertError(c.post("/api/me/password", {"current_password": 1,
                                                     "new_password": NEW_PASSWORD}), 400)


class TestSessions(ServerTestCase):

    def test_sessions_list_marks_the_current_one(self):
        c = self.client()
        user = register(c)
        other = self.client()
        login(other, user["username"])
        st, _, body = c.get("/api/me/sessions")
        self.assertEqual(st, 200)
        sessions = body["sessions"]
        self.assertEqual(len(sessions), 2)
        self.assertEqual(sum(1 for s in sessions if s["current"]), 1)
        for s in sessions:
            self.assertEqual(s["ip"], "127.0.0.1")
            self.assertNotIn("token", s)
            self.assertNotIn("token_hash", s)

    def test_revoking_a_session_logs_that_client_out(self):
        c = self.client()
        user = register(c)
        other = self.client()
        login(other, user["username"])
        sessions = c.get("/api/me/sessions").json["sessions"]
        target = next(s for s in sessions if not s["current"])
        st, _, _ = c.delete("/api/me/sessions/%d" % target["id"])
        self.assertEqual(st, 200)
        self.assertError(other.get("/api/me"), 401)
        self.assertEqual(c.get("/api/me").status, 200)
        self.assertEqual(len(c.get("/api/me/sessions").json["sessions"]), 1)

    def test_cannot_revoke_someone_elses_session(self):
        alice = self.client()
        register(alice)
        bob = self.client()
        register(bob)
        bob_session = bob.get("/api/me/sessions").json["sessions"][0]["id"]
        self.assertError(alice.delete("/api/me/sessions/%d" % bob_session), 404)
        self.assertEqual(bob.get("/api/me").status, 200)

    def test_revoking_a_nonsense_id_is_404(self):
        c = self.client()
        register(c)
        for bad in ("abc", "-1", "99999999999999999999", "0"):
            self.assertError(c.delete("/api/me/sessions/" + bad), 404)


class TestApiTokens(ServerTestCase):

    def test_token_is_shown_once_and_works_as_bearer(self):
        c = self.client()
        user = register(c)
        st, _, body = c.post("/api/me/tokens", {"name": "my script"})
        self.assertEqual(st, 201, body)
        secret = body["token"]
        self.assertTrue(secret.startswith("dst_"))
        listed = c.get("/api/me/tokens").json["tokens"]
        self.assertEqual([t["name"] for t in listed], ["my script"])
        self.assertNotIn("token", listed[0])
        self.assertNotIn(secret, c.last.text)
        # Stored hashed: the secret itself is nowhere in the database.
        self.assertNotIn(secret, repr(self.server.db_snapshot()))

        bearer = self.client()
        st, _, me = bearer.get("/api/me", headers={"Authorization": "Bearer " + secret})
        self.assertEqual(st, 200)
        self.assertEqual(me["user"]["id"], user["id"])
        # A bearer token needs no Origin for state changes (it is not ambient like a cookie).
        st, _, _ = bearer.patch("/api/me", {"display_name": "Scripted"}, origin=None,
                                headers={"Authorization": "Bearer " + secret})
        self.assertEqual(st, 200)

    def test_revoked_token_stops_working(self):
        c = self.client()
        register(c)
        body = c.post("/api/me/tokens", {"name": "temp"}).json
        auth = {"Authorization": "Bearer " + body["token"]}
        self.assertEqual(self.client().get("/api/me", headers=auth).status, 200)
        st, _, _ = c.delete("/api/me/tokens/%d" % body["id"])
        self.assertEqual(st, 200)
        self.assertError(self.client().get("/api/me", headers=auth), 401)
        self.assertEqual(c.get("/api/me/tokens").json["tokens"], [])

    def test_unknown_bearer_token_is_401(self):
        for token in ("dst_nope", "garbage", "dst_" + "x" * 200, ""):
            self.assertError(self.client().get("/api/me",
                                               headers={"Authorization": "Bearer " + token}), 401)

    def test_token_names_are_validated(self):
        c = self.client()
        register(c)
        before = self.server.db_snapshot()
        for body in ({}, {"name": ""}, {"name": "x" * 61}, {"name": 7}):
            self.assertError(c.post("/api/me/tokens", body), 400)
        self.assertEqual(self.server.db_snapshot(), before)

    def test_cannot_revoke_someone_elses_token(self):
        alice = self.client()
        register(alice)
        bob = self.client()
        register(bob)
        tok = bob.post("/api/me/tokens", {"name": "bob's"}).json
        self.assertError(alice.delete("/api/me/tokens/%d" % tok["id"]), 404)
        self.assertEqual(self.client().get(
            "/api/me", headers={"Authorization": "Bearer " + tok["token"]}).status, 200)


class TestStreamKey(ServerTestCase):

    def test_rotating_gives_a_new_key_each_time_and_stores_only_a_digest(self):
        c = self.client()
        register(c)
        st, _, body = c.post("/api/me/stream-key")
        self.assertEqual(st, 201, body)
        k1 = body["stream_key"]
        self.assertTrue(k1.startswith("dsk_"))
        k2 = c.post("/api/me/stream-key").json["stream_key"]
        self.assertNotEqual(k1, k2)
        snap = repr(self.server.db_snapshot())
        self.assertNotIn(k1, snap)
        self.assertNotIn(k2, snap)

    def test_rotating_needs_login(self):
        self.assertError(self.client().post("/api/me/stream-key"), 401)


class TestDeleteAccount(ServerTestCase):

    def test_delete_needs_the_password(self):
        c = self.client()
        register(c)
        before = self.server.db_snapshot()
        self.assertError(c.delete("/api/me", {"password": "not my password"}), 403)
        self.assertError(c.delete("/api/me", {}), 400)
        self.assertEqual(self.server.db_snapshot(), before)
        self.assertEqual(c.get("/api/me").status, 200)

    def test_delete_ends_sessions_and_tokens_and_login(self):
        c = self.client()
        user = register(c)
        tok = c.post("/api/me/tokens", {"name": "t"}).json["token"]
        other = self.client()
        login(other, user["username"])
        st, _, _ = c.delete("/api/me", {"password": PASSWORD})
        self.assertEqual(st, 200)
        self.assertIsNone(c.session)
        self.assertError(other.get("/api/me"), 401)
        self.assertError(self.client().get("/api/me", headers={"Authorization": "Bearer " + tok}),
                         401)
        self.assertError(login(self.client(), user["username"]), 401)
        self.assertError(login(self.client(), user["email"]), 401)

    def test_delete_is_soft_keeps_the_ledger_and_frees_the_name(self):
        c = self.client()
        user = register(c)
        self.assertEqual(c.delete("/api/me", {"password": PASSWORD}).status, 200)
        # The row stays (soft delete) with personal data scrubbed; the ledger stays for
        # accounting, and the cached balance still equals the ledger sum.
        self.assertEqual(self.server.db_count("users", "id = ? AND deleted_ms IS NOT NULL",
                                              (user["id"],)), 1)
        self.assertEqual(self.server.db_count("users", "id = ? AND username = ?",
                                              (user["id"], user["username"])), 0)
        self.assertEqual(self.server.db_count("credit_transactions", "user_id = ?",
                                              (user["id"],)), 1)
        # The username and e-mail are free again; the new account is a different one.
        again = self.client()
        fresh = register(again, username=user["username"].upper(), email=user["email"])
        self.assertNotEqual(fresh["id"], user["id"])
        self.assertEqual(fresh["balance_cents"], 1200)


if __name__ == "__main__":
    unittest.main()
