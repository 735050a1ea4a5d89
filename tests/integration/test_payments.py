"""Buying credits end to end: the real server, a local fake of Stripe's API, and webhooks
signed exactly as Stripe signs them. Also `dreamstream admin` ledger verify, credit grants and
worker tokens, and a SIGKILL in the middle of a fulfilment burst."""

import json
import os
import signal
import subprocess
import threading
import time
import unittest

import fake_stripe
from fake_stripe import FakeStripe, event, sign
from harness import PASSWORD, Server, ServerTestCase, binary_path, postgres_url_for, register

SIGNUP_CENTS = 1200


def stripe_env(fake):
    return {"STRIPE_SECRET_KEY": fake_stripe.SECRET_KEY,
            "STRIPE_WEBHOOK_SECRET": fake_stripe.WEBHOOK_SECRET,
            "STRIPE_API_BASE": fake.base_url}


def balance_cents(client):
    status, _, body = client.get("/api/credits")
    assert status == 200, (status, body)
    return body["balance_cents"]


def deliver(server, payload, header=None, headers=None):
    """POSTs a webhook as Stripe does: raw JSON body, Stripe-Signature, no Origin, no cookie."""
    hdrs = {"Stripe-Signature": header if header is not None else sign(payload),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"}
    if header is False:
        del hdrs["Stripe-Signature"]
    hdrs.update(headers or {})
    return server.client(origin=None).post("/api/webhooks/stripe", raw=payload, headers=hdrs)


def run_admin(server_or_dir, *args):
    data_dir = server_or_dir if isinstance(server_or_dir, str) else server_or_dir.data_dir
    env = {k: v for k, v in os.environ.items() if not k.startswith("DREAMSTREAM_")}
    db = postgres_url_for(data_dir, create=False)
    return subprocess.run([binary_path(), "admin", "--data", data_dir]
                          + (["--db", db] if db else []) + list(args),
                          capture_output=True, text=True, timeout=60, env=env)


def ledger_rows(server, sql, params=()):
    """Rows of a read-only query on the server's store (SQLite or PostgreSQL)."""
    return server.query(sql, params)


class PaymentsCase(ServerTestCase):
    """A server wired to a fresh FakeStripe."""

    @classmethod
    def setUpClass(cls):
        cls.stripe = FakeStripe().start()
        cls.server_env = stripe_env(cls.stripe)
        try:
            super().setUpClass()
        except Exception:
            cls.stripe.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.stripe.stop()

    def buyer(self):
        c = self.client()
        user = register(c)
        return c, user

    def checkout(self, client, credits=12):
        st, _, body = client.post("/api/credits/checkout", {"credits": credits})
        self.assertEqual(st, 200, body)
        return body["session_id"]

    def purchases(self, session_id):
        return self.server.db_count("credit_transactions",
                                    "kind = 'purchase' AND stripe_checkout_session = ?",
                                    (session_id,))

    def event_outcome(self, event_id):
        rows = ledger_rows(self.server,
                           "SELECT outcome FROM stripe_events WHERE event_id = ?", (event_id,))
        return rows[0][0] if rows else None


class TestCheckout(PaymentsCase):
    def test_config_is_public_and_reports_payments_enabled(self):
        st, _, body = self.client().get("/api/config")
        self.assertEqual(st, 200)
        self.assertEqual(body, {"payments_enabled": True, "min_credits": 1, "max_credits": 1000,
                                "default_credits": 12, "cents_per_minute": 20,
                                "signup_credits": "12.00", "signup_cents": 1200})

    def test_checkout_creates_a_stripe_session_with_the_documented_form(self):
        c, user = self.buyer()
        before = len(self.stripe.checkout_requests())
        st, _, body = c.post("/api/credits/checkout", {"credits": 12})
        self.assertEqual(st, 200, body)
        self.assertTrue(body["session_id"].startswith("cs_test_"))
        self.assertEqual(body["url"], "https://checkout.stripe.test/c/pay/" + body["session_id"])
        reqs = self.stripe.checkout_requests()
        self.assertEqual(len(reqs), before + 1)
        req = reqs[-1]
        self.assertEqual(req["headers"]["authorization"], "Bearer " + fake_stripe.SECRET_KEY)
        self.assertTrue(req["headers"]["content-type"].startswith(
            "application/x-www-form-urlencoded"))
        self.assertGreaterEqual(len(req["headers"].get("idempotency-key", "")), 20)
        origin = self.server.origin
        self.assertEqual(req["form"], {
            "mode": "payment",
            "line_items[0][price_data][currency]": "eur",
            "line_items[0][price_data][unit_amount]": "100",
            "line_items[0][price_data][product_data][name]": "DreamStream credits",
            "line_items[0][quantity]": "12",
            "client_reference_id": str(user["id"]),
            "metadata[user_id]": str(user["id"]),
            "metadata[credits]": "12",
            "success_url": origin + "/checkout/success?session_id={CHECKOUT_SESSION_ID}",
            "cancel_url": origin + "/checkout/cancel",
            "customer_email": user["email"],
        })
        rows = ledger_rows(self.server,
                           "SELECT user_id, credits, amount_cents, status FROM checkout_sessions "
                           "WHERE id = ?", (body["session_id"],))
        self.assertEqual(rows, [(user["id"], 12, 1200, "open")])
        # Starting a checkout moves no money.
        self.assertEqual(balance_cents(c), SIGNUP_CENTS)

    def test_every_checkout_request_gets_its_own_idempotency_key(self):
        c, _ = self.buyer()
        self.checkout(c, 1)
        self.checkout(c, 1)
        keys = [r["headers"]["idempotency-key"] for r in self.stripe.checkout_requests()[-2:]]
        self.assertNotEqual(keys[0], keys[1])

    def test_bad_credits_are_refused_and_change_nothing(self):
        c, _ = self.buyer()
        bad_bodies = [{"credits": 0}, {"credits": -1}, {"credits": -12}, {"credits": 1.5},
                      {"credits": 12.0}, {"credits": "12"}, {"credits": None}, {},
                      {"credits": 1001}, {"credits": 10 ** 30}, {"credits": True},
                      {"credits": [12]}, {"credits": {"n": 12}}, {"quantity": 12}]
        snapshot = self.server.db_snapshot()
        stripe_calls = self.stripe.request_count()
        for body in bad_bodies:
            with self.subTest(body=body):
                self.assertError(c.post("/api/credits/checkout", body), 400)
        for raw in ["not json", "[12]", "12", '{"credits": 1e400}']:
            with self.subTest(raw=raw):
                self.assertError(c.post("/api/credits/checkout", raw=raw), 400)
        self.assertEqual(self.server.db_snapshot(), snapshot)
        self.assertEqual(self.stripe.request_count(), stripe_calls)
        self.assertEqual(balance_cents(c), SIGNUP_CENTS)

    def test_bounds_are_inclusive(self):
        c, _ = self.buyer()
        self.checkout(c, 1)
        self.checkout(c, 1000)
        form = self.stripe.checkout_requests()[-1]["form"]
        self.assertEqual(form["line_items[0][quantity]"], "1000")

    def test_checkout_needs_a_login_and_a_same_origin_request(self):
        self.assertError(self.client().post("/api/credits/checkout", {"credits": 12}), 401)
        c, _ = self.buyer()
        self.assertError(c.post("/api/credits/checkout", {"credits": 12},
                                origin="https://evil.example"), 403)
        self.assertError(c.post("/api/credits/checkout", {"credits": 12}, origin=None), 403)

    def test_stripe_failure_is_a_502_and_records_nothing(self):
        c, _ = self.buyer()
        snapshot = self.server.db_snapshot()
        self.stripe.fail_next = 1
        self.assertError(c.post("/api/credits/checkout", {"credits": 12}), 502,
                         "payment_provider_error")
        self.assertEqual(self.server.db_snapshot(), snapshot)
        self.assertNotIn(fake_stripe.SECRET_KEY, self.server.logs())
        self.assertNotIn(fake_stripe.WEBHOOK_SECRET, self.server.logs())


class TestFulfilment(PaymentsCase):
    def test_eight_concurrent_duplicate_deliveries_credit_once_and_replays_credit_nothing(self):
        c, _ = self.buyer()
        sid = self.checkout(c, 12)
        session = self.stripe.pay(sid)
        payload = event("checkout.session.completed", session)
        header = sign(payload)
        results = []
        barrier = threading.Barrier(8)

        def send():
            barrier.wait()
            r = deliver(self.server, payload, header)
            results.append((r.status, (r.json or {}).get("outcome")))

        threads = [threading.Thread(target=send) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual([s for s, _ in results], [200] * 8, results)
        self.assertEqual(sorted(o for _, o in results),
                         ["credited"] + ["duplicate_event"] * 7)
        self.assertEqual(balance_cents(c), SIGNUP_CENTS + 1200)
        self.assertEqual(self.purchases(sid), 1)

        # Stripe redelivers for days: the same event with a fresh signature, and a second
        # event type for the same session, both credit nothing.
        time.sleep(1.1)
        r = deliver(self.server, payload)
        self.assertEqual((r.status, r.json["outcome"]), (200, "duplicate_event"))
        again = event("checkout.session.async_payment_succeeded", session)
        r = deliver(self.server, again)
        self.assertEqual((r.status, r.json["outcome"]), (200, "already_fulfilled"))
        self.assertEqual(balance_cents(c), SIGNUP_CENTS + 1200)
        self.assertEqual(self.purchases(sid), 1)

        st, _, tx = c.get("/api/credits/transactions")
        purchase = [t for t in tx["transactions"] if t["kind"] == "purchase"]
        self.assertEqual(len(purchase), 1)
        self.assertEqual(purchase[0]["amount_cents"], 1200)
        self.assertEqual(purchase[0]["stripe_checkout_session"], sid)
        self.assertEqual(purchase[0]["stripe_payment_intent"], session["payment_intent"])

    def test_success_page_confirm_then_webhook_credits_once(self):
        c, _ = self.buyer()
        sid = self.checkout(c, 5)
        st, _, body = c.get("/api/credits/checkout/" + sid)
        self.assertEqual(st, 200, body)
        self.assertEqual(body["status"], "pending")
        self.assertEqual(body["credits"], 5)
        self.assertEqual(body["balance_cents"], SIGNUP_CENTS)

        session = self.stripe.pay(sid)
        st, _, body = c.get("/api/credits/checkout/" + sid)
        self.assertEqual((st, body["status"]), (200, "fulfilled"))
        self.assertEqual(body["balance_cents"], SIGNUP_CENTS + 500)
        self.assertEqual(body["remaining_minutes"], (SIGNUP_CENTS + 500) // 20)

        r = deliver(self.server, event("checkout.session.completed", session))
        self.assertEqual((r.status, r.json["outcome"]), (200, "already_fulfilled"))
        st, _, body = c.get("/api/credits/checkout/" + sid)
        self.assertEqual(body["status"], "fulfilled")
        self.assertEqual(balance_cents(c), SIGNUP_CENTS + 500)
        self.assertEqual(self.purchases(sid), 1)

    def test_webhook_then_success_page_confirm_credits_once(self):
        c, _ = self.buyer()
        sid = self.checkout(c, 7)
        session = self.stripe.pay(sid)
        r = deliver(self.server, event("checkout.session.completed", session))
        self.assertEqual((r.status, r.json["outcome"]), (200, "credited"))
        calls = self.stripe.request_count()
        st, _, body = c.get("/api/credits/checkout/" + sid)
        self.assertEqual((st, body["status"], body["balance_cents"]),
                         (200, "fulfilled", SIGNUP_CENTS + 700))
        self.assertEqual(self.stripe.request_count(), calls)  # no need to ask Stripe again
        self.assertEqual(self.purchases(sid), 1)

    def test_concurrent_confirms_and_webhooks_credit_once(self):
        c, _ = self.buyer()
        sid = self.checkout(c, 3)
        session = self.stripe.pay(sid)
        statuses = []

        def confirm():
            r = c.get("/api/credits/checkout/" + sid)
            statuses.append((r.status, r.json["status"]))

        def hook():
            r = deliver(self.server, event("checkout.session.completed", session))
            statuses.append((r.status, r.json["outcome"]))

        threads = [threading.Thread(target=f) for f in [confirm, hook] * 4]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertTrue(all(s == 200 for s, _ in statuses), statuses)
        self.assertEqual(balance_cents(c), SIGNUP_CENTS + 300)
        self.assertEqual(self.purchases(sid), 1)

    def test_someone_elses_or_unknown_session_is_not_found(self):
        alice, _ = self.buyer()
        bob, _ = self.buyer()
        sid = self.checkout(alice, 4)
        self.stripe.pay(sid)
        self.assertError(bob.get("/api/credits/checkout/" + sid), 404)
        self.assertError(bob.get("/api/credits/checkout/cs_test_nothere"), 404)
        self.assertError(bob.get("/api/credits/checkout/cs%20bad%27id"), 404)
        self.assertError(self.client().get("/api/credits/checkout/" + sid), 401)
        self.assertEqual(balance_cents(alice), SIGNUP_CENTS)
        self.assertEqual(balance_cents(bob), SIGNUP_CENTS)

    def test_async_payment_waits_then_credits_on_success(self):
        c, _ = self.buyer()
        sid = self.checkout(c, 2)
        pending = self.stripe.set_session(sid, status="complete", payment_status="unpaid")
        r = deliver(self.server, event("checkout.session.completed", pending))
        self.assertEqual((r.status, r.json["outcome"]), (200, "awaiting_payment"))
        self.assertEqual(c.get("/api/credits/checkout/" + sid).json["status"], "pending")
        self.assertEqual(balance_cents(c), SIGNUP_CENTS)
        paid = self.stripe.pay(sid)
        r = deliver(self.server, event("checkout.session.async_payment_succeeded", paid))
        self.assertEqual((r.status, r.json["outcome"]), (200, "credited"))
        self.assertEqual(balance_cents(c), SIGNUP_CENTS + 200)

    def test_async_payment_failure_is_recorded_and_credits_nothing(self):
        c, _ = self.buyer()
        sid = self.checkout(c, 2)
        failed = self.stripe.set_session(sid, status="complete", payment_status="unpaid")
        payload = event("checkout.session.async_payment_failed", failed)
        r = deliver(self.server, payload)
        self.assertEqual((r.status, r.json["outcome"]), (200, "payment_failed"))
        self.assertEqual(c.get("/api/credits/checkout/" + sid).json["status"], "failed")
        self.assertEqual(balance_cents(c), SIGNUP_CENTS)
        self.assertEqual(self.event_outcome(json.loads(payload)["id"]), "payment_failed")

    def test_other_event_types_are_acknowledged_and_stored(self):
        payload = json.dumps({"id": "evt_other_1", "object": "event", "type": "customer.created",
                              "data": {"object": {"id": "cus_1", "object": "customer"}}}).encode()
        r = deliver(self.server, payload)
        self.assertEqual((r.status, r.json["outcome"]), (200, "ignored"))
        self.assertEqual(self.event_outcome("evt_other_1"), "ignored")


class TestWebhookBadInput(PaymentsCase):
    def setUp(self):
        super().setUp()
        self.c, self.user = self.buyer()
        self.sid = self.checkout(self.c, 12)
        self.session = self.stripe.pay(self.sid)

    def assert_nothing_credited(self):
        self.assertEqual(balance_cents(self.c), SIGNUP_CENTS)
        self.assertEqual(self.purchases(self.sid), 0)

    def test_bad_signatures_are_400_and_store_nothing(self):
        payload = event("checkout.session.completed", self.session)
        now = int(time.time())
        snapshot = self.server.db_snapshot()
        cases = {
            "wrong secret": sign(payload, secret="whsec_wrong"),
            "stale": sign(payload, t=now - 400),
            "future": sign(payload, t=now + 400),
            "garbage": "nonsense",
            "no v1": "t=%d" % now,
            "v0 only": sign(payload).replace("v1=", "v0="),
            "t changed": sign(payload, t=now).replace("t=%d" % now, "t=%d" % (now + 1)),
        }
        for name, header in cases.items():
            with self.subTest(case=name):
                self.assertError(deliver(self.server, payload, header), 400)
        self.assertError(deliver(self.server, payload, False), 400)
        changed = payload.replace(b'"amount_total":1200', b'"amount_total":1300')
        self.assertNotEqual(changed, payload)
        self.assertError(deliver(self.server, changed, sign(payload)), 400)
        self.assertEqual(self.server.db_snapshot(), snapshot)
        self.assert_nothing_credited()

    def test_one_matching_v1_among_several_is_enough(self):
        payload = event("checkout.session.completed", self.session)
        header = sign(payload, extra_v1=["0" * 64, sign(payload, secret="whsec_old")[-64:]])
        r = deliver(self.server, payload, header)
        self.assertEqual((r.status, r.json["outcome"]), (200, "credited"))

    def test_malformed_bodies_are_400(self):
        snapshot = self.server.db_snapshot()
        for raw in [b"not json", b"[]", b"{}", b'{"id":"evt_1"}',
                    b'{"id":"evt_1","type":"checkout.session.completed"}',
                    b'{"id":"evt_1","type":"checkout.session.completed","data":{"object":{}}}',
                    b'{"id":"evt_1","type":"checkout.session.completed","data":{"object":[]}}']:
            with self.subTest(raw=raw):
                self.assertError(deliver(self.server, raw, sign(raw)), 400)
        self.assertEqual(self.server.db_snapshot(), snapshot)

    def check_ignored(self, session_object, expected_outcome):
        payload = event("checkout.session.completed", session_object)
        r = deliver(self.server, payload)
        self.assertEqual((r.status, r.json["outcome"]), (200, expected_outcome))
        self.assertEqual(self.event_outcome(json.loads(payload)["id"]), expected_outcome)
        self.assert_nothing_credited()

    def test_unknown_session_is_recorded_and_ignored(self):
        self.check_ignored(dict(self.session, id="cs_test_never_created"), "unknown_session")

    def test_amount_that_does_not_match_the_credits_is_recorded_and_ignored(self):
        self.check_ignored(dict(self.session, amount_total=1100), "amount_mismatch")
        self.check_ignored(dict(self.session, amount_total=1250), "amount_mismatch")
        self.check_ignored(dict(self.session, amount_total=120000), "amount_mismatch")
        self.check_ignored(dict(self.session, amount_total=None), "amount_mismatch")

    def test_other_currency_is_recorded_and_ignored(self):
        self.check_ignored(dict(self.session, currency="usd"), "currency_mismatch")

    def test_session_of_another_user_is_recorded_and_ignored(self):
        self.check_ignored(dict(self.session, client_reference_id=str(self.user["id"] + 1000)),
                           "user_mismatch")

    def test_deleted_user_is_recorded_and_ignored(self):
        st, _, _ = self.c.delete("/api/me", {"password": PASSWORD})
        self.assertEqual(st, 200)
        payload = event("checkout.session.completed", self.session)
        r = deliver(self.server, payload)
        self.assertEqual((r.status, r.json["outcome"]), (200, "user_deleted"))
        rows = ledger_rows(self.server,
                           "SELECT balance_cents FROM users WHERE id = ?", (self.user["id"],))
        self.assertEqual(rows, [(SIGNUP_CENTS,)])
        self.assertEqual(self.purchases(self.sid), 0)
        self.assertEqual(self.event_outcome(json.loads(payload)["id"]), "user_deleted")


class TestReceipts(PaymentsCase):
    def test_purchase_has_a_receipt_and_others_do_not(self):
        c, _ = self.buyer()
        sid = self.checkout(c, 12)
        session = self.stripe.pay(sid)
        self.assertEqual(deliver(self.server, event("checkout.session.completed",
                                                    session)).status, 200)
        st, _, tx = c.get("/api/credits/transactions")
        self.assertEqual(st, 200)
        by_kind = {t["kind"]: t for t in tx["transactions"]}
        purchase = by_kind["purchase"]
        st, _, body = c.get("/api/credits/transactions/%d" % purchase["id"])
        self.assertEqual(st, 200, body)
        self.assertEqual(body["transaction"]["id"], purchase["id"])
        self.assertEqual(body["transaction"]["kind"], "purchase")
        receipt = body["receipt"]
        self.assertEqual(receipt["credits"], 12)
        self.assertEqual(receipt["amount_eur"], "12.00")
        self.assertEqual(receipt["currency"], "EUR")
        self.assertEqual(receipt["stripe_checkout_session"], sid)
        self.assertEqual(receipt["stripe_payment_intent"], session["payment_intent"])
        self.assertEqual(receipt["date_ms"], purchase["created_ms"])

        bonus = by_kind["signup_bonus"]
        st, _, body = c.get("/api/credits/transactions/%d" % bonus["id"])
        self.assertEqual(st, 200)
        self.assertIsNone(body["receipt"])

        other, _ = self.buyer()
        self.assertError(other.get("/api/credits/transactions/%d" % purchase["id"]), 404)
        self.assertError(c.get("/api/credits/transactions/999999999"), 404)
        self.assertError(c.get("/api/credits/transactions/abc"), 404)
        self.assertError(self.client().get("/api/credits/transactions/%d" % purchase["id"]), 401)


class TestPaymentsNotConfigured(ServerTestCase):
    server_env = {"STRIPE_SECRET_KEY": "", "STRIPE_WEBHOOK_SECRET": "", "STRIPE_API_BASE": ""}
    server_args = ["--min-credits", "5", "--max-credits", "50", "--default-credits", "10"]

    def test_config_says_payments_are_off_with_the_configured_bounds(self):
        st, _, body = self.client().get("/api/config")
        self.assertEqual(st, 200)
        self.assertEqual(body, {"payments_enabled": False, "min_credits": 5, "max_credits": 50,
                                "default_credits": 10, "cents_per_minute": 20,
                                "signup_credits": "12.00", "signup_cents": 1200})

    def test_checkout_is_503_and_changes_nothing(self):
        c = self.client()
        register(c)
        snapshot = self.server.db_snapshot()
        r = c.post("/api/credits/checkout", {"credits": 12})
        self.assertError(r, 503, "payments_not_configured")
        self.assertEqual(r.json["error"]["message"], "payments are not configured")
        self.assertEqual(self.server.db_snapshot(), snapshot)

    def test_webhook_is_refused_without_a_secret(self):
        payload = event("checkout.session.completed", {"id": "cs_test_x"})
        self.assertError(deliver(self.server, payload), 503, "payments_not_configured")


class TestConfiguredBounds(PaymentsCase):
    server_args = ["--min-credits", "5", "--max-credits", "50"]

    def test_bounds_from_options_apply(self):
        c, _ = self.buyer()
        self.assertError(c.post("/api/credits/checkout", {"credits": 4}), 400)
        self.assertError(c.post("/api/credits/checkout", {"credits": 51}), 400)
        self.checkout(c, 5)
        self.checkout(c, 50)


class TestAdmin(PaymentsCase):
    def test_grant_adjust_and_verify(self):
        c, user = self.buyer()
        name = user["username"]
        r = run_admin(self.server, "credits", "grant", name.upper(), "5", "--note", "goodwill")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("balance now 17.00", r.stdout)
        self.assertEqual(balance_cents(c), SIGNUP_CENTS + 500)

        r = run_admin(self.server, "credits", "grant", name, "-2.5", "--note", "correction")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(balance_cents(c), SIGNUP_CENTS + 250)

        snapshot = self.server.db_snapshot()
        r = run_admin(self.server, "credits", "grant", name, "-15", "--note", "too much")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("below 0", r.stderr)
        for bad in (["credits", "grant", name, "abc", "--note", "x"],
                    ["credits", "grant", name, "1.234", "--note", "x"],
                    ["credits", "grant", name, "0", "--note", "x"],
                    ["credits", "grant", name, "5"],
                    ["credits", "grant", "nobody_here", "5", "--note", "x"]):
            with self.subTest(args=bad):
                self.assertNotEqual(run_admin(self.server, *bad).returncode, 0)
        self.assertEqual(self.server.db_snapshot(), snapshot)

        st, _, tx = c.get("/api/credits/transactions")
        adjustments = [t for t in tx["transactions"] if t["kind"] == "admin_adjustment"]
        self.assertEqual(sorted((t["amount_cents"], t["note"]) for t in adjustments),
                         [(-250, "correction"), (500, "goodwill")])

        r = run_admin(self.server, "ledger", "verify")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("ledger ok", r.stdout)

        # Tamper with a balance behind the ledger's back: verify must notice and say who.
        self.server.execute("UPDATE users SET balance_cents = balance_cents + 1 WHERE id = ?",
                            (user["id"],))
        r = run_admin(self.server, "ledger", "verify")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("mismatch user_id=%d username=%s" % (user["id"], name), r.stdout)
        self.assertIn("balance=14.51 ledger_sum=14.50", r.stdout)
        self.server.execute("UPDATE users SET balance_cents = balance_cents - 1 WHERE id = ?",
                            (user["id"],))
        self.assertEqual(run_admin(self.server, "ledger", "verify").returncode, 0)

    def test_admin_refuses_a_data_dir_without_a_database(self):
        missing = os.path.join(self.server.tmp, "no-such-dir")
        r = run_admin(missing, "ledger", "verify")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no database", r.stderr)
        self.assertFalse(os.path.exists(missing))

    def test_worker_token_create_prints_a_token_and_stores_only_its_digest(self):
        import hashlib
        r = run_admin(self.server, "worker-token", "create", "gpu-box-1")
        self.assertEqual(r.returncode, 0, r.stderr)
        token = r.stdout.strip()
        self.assertRegex(token, r"^dsw_[A-Za-z0-9_-]{43}$")
        rows = ledger_rows(self.server,
                           "SELECT name, token_hash FROM worker_tokens WHERE name = 'gpu-box-1'")
        self.assertEqual(rows, [("gpu-box-1", hashlib.sha256(token.encode()).hexdigest())])
        if not self.server.postgres:
            with open(self.server.db_path, "rb") as f:
                self.assertNotIn(token.encode(), f.read())


class TestCrashDuringFulfilment(unittest.TestCase):
    """SIGKILL while webhooks and confirms are landing; after a restart the ledger verifies
    and Stripe's redelivery credits each session exactly once."""

    def test_sigkill_mid_fulfilment_burst(self):
        stripe = FakeStripe().start()
        self.addCleanup(stripe.stop)
        first = Server(env=stripe_env(stripe))
        first.start()
        self.addCleanup(first.cleanup)
        data_dir = first.data_dir

        buyers = []
        for _ in range(3):
            c = first.client()
            user = register(c)
            buyers.append((c, user))
        sessions = []  # (user_id, session_id, credits, paid session object)
        for i in range(24):
            c, user = buyers[i % len(buyers)]
            credits = 1 + i % 5
            st, _, body = c.post("/api/credits/checkout", {"credits": credits})
            self.assertEqual(st, 200, body)
            sessions.append((user["id"], body["session_id"], credits,
                             stripe.pay(body["session_id"])))
        events = {sid: event("checkout.session.completed", obj) for _, sid, _, obj in sessions}

        stop = threading.Event()

        def burst(offset):
            k = offset
            while not stop.is_set():
                _, sid, _, _ = sessions[k % len(sessions)]
                k += 3
                try:
                    deliver(first, events[sid])
                except OSError:
                    pass  # the server is gone

        threads = [threading.Thread(target=burst, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        # Kill once some, but not all, sessions are credited.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if first.db_count("credit_transactions", "kind = 'purchase'") >= 4:
                break
            time.sleep(0.01)
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait()
        stop.set()
        for t in threads:
            t.join()
        credited_before = first.db_count("credit_transactions", "kind = 'purchase'")
        self.assertGreaterEqual(credited_before, 1)

        second = Server(env=stripe_env(stripe), data_dir=data_dir)
        second.start()
        self.addCleanup(second.cleanup)
        r = run_admin(data_dir, "ledger", "verify")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

        # Stripe redelivers everything (and a success page confirms some): each session is
        # credited once in total.
        for user_id, sid, _, _ in sessions:
            self.assertEqual(deliver(second, events[sid]).status, 200)
        purchases = dict(ledger_rows(
            second, "SELECT stripe_checkout_session, COUNT(*) FROM credit_transactions "
                            "WHERE kind = 'purchase' GROUP BY stripe_checkout_session"))
        self.assertEqual(purchases, {sid: 1 for _, sid, _, _ in sessions})
        for c, user in buyers:
            expected = SIGNUP_CENTS + 100 * sum(cr for uid, _, cr, _ in sessions
                                                if uid == user["id"])
            self.assertEqual(balance_cents(self._relogin(second, user)), expected)
        r = run_admin(data_dir, "ledger", "verify")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    @staticmethod
    def _relogin(server, user):
        c = server.client()
        st, _, body = c.post("/api/auth/login", {"login": user["username"], "password": PASSWORD})
        assert st == 200, (st, body)
        return c


if __name__ == "__main__":
    unittest.main()
