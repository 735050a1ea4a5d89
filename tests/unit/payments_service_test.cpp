// PaymentService against a real SQLite store and a fake Stripe: checkout, the webhook and the
// one idempotent fulfilment path; admin grants.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <thread>

#include "auth/crypto.hpp"
#include "payments/credit_grants.hpp"
#include "payments/payment_service.hpp"
#include "payments/stripe_signature.hpp"
#include "store/ledger.hpp"
#include "store/migrations.hpp"
#include "store/payments.hpp"
#include "store/users.hpp"
#include "test_support.hpp"

namespace ds::payments {
namespace {

constexpr const char* kWebhookSecret = "whsec_unit";

class FakeStripe final : public StripeClient {
 public:
  Expected<CheckoutSession> create_checkout_session(const CreateCheckoutParams& p) override {
    std::lock_guard lock(mu_);
    created.push_back(p);
    CheckoutSession s;
    s.id = "cs_test_" + std::to_string(created.size());
    s.url = "https://checkout.example/" + s.id;
    s.status = "open";
    s.payment_status = "unpaid";
    s.currency = "eur";
    s.amount_total = p.credits * 100;
    sessions[s.id] = s;
    return s;
  }
  Expected<CheckoutSession> retrieve_checkout_session(const std::string& id) override {
    std::lock_guard lock(mu_);
    ++retrievals;
    if (fail) return Error{ErrorKind::kUpstreamFailed, "payment_provider_error", "down"};
    auto it = sessions.find(id);
    if (it == sessions.end()) return not_found("no such session");
    return it->second;
  }
  void pay(const std::string& id) {
    std::lock_guard lock(mu_);
    sessions[id].status = "complete";
    sessions[id].payment_status = "paid";
    sessions[id].payment_intent = "pi_" + id;
  }

  std::mutex mu_;
  std::vector<CreateCheckoutParams> created;
  std::map<std::string, CheckoutSession> sessions;
  int retrievals = 0;
  bool fail = false;
};

class PaymentServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spdlog::set_level(spdlog::level::warn);
    auth::init_crypto();
    db_ = store::Database::open("sqlite://" + (dir_.path() / "t.db").string(), 10);
    store::migrate(*db_);
    auto fake = std::make_unique<FakeStripe>();
    stripe_ = fake.get();
    PaymentsConfig config;
    config.secret_key = "sk_test_unit";
    config.webhook_secret = kWebhookSecret;
    config.public_url = "https://ds.example/";
    service_ = std::make_unique<PaymentService>(*db_, clock_, config, std::move(fake));
  }
  void TearDown() override {
    service_.reset();
    db_.reset();
  }

  store::User add_user(const std::string& name) {
    store::User u;
    u.username = name;
    u.email = name + "@example.com";
    u.display_name = name;
    u.password_hash = "x";
    u.created_ms = clock_.now_ms();
    u.id = db_->write([&](soci::session& sql) { return store::insert_user(sql, u); });
    return u;
  }
  long long balance(long long user_id) {
    return db_->with([&](soci::session& sql) {
      long long b = 0;
      sql << "SELECT balance_cents FROM users WHERE id = :id", soci::use(user_id), soci::into(b);
      return b;
    });
  }
  long long count(const std::string& sql_text) {
    return db_->with([&](soci::session& sql) {
      long long n = 0;
      sql << sql_text, soci::into(n);
      return n;
    });
  }
  std::string event(const std::string& id, const std::string& type, const CheckoutSession& s) {
    nlohmann::json object = {{"id", s.id},
                             {"object", "checkout.session"},
                             {"status", s.status},
                             {"payment_status", s.payment_status},
                             {"currency", s.currency},
                             {"amount_total", s.amount_total},
                             {"payment_intent", s.payment_intent},
                             {"client_reference_id", s.client_reference_id},
                             {"metadata", {{"user_id", s.metadata_user_id}}}};
    return nlohmann::json{
        {"id", id}, {"object", "event"}, {"type", type}, {"data", {{"object", object}}}}
        .dump();
  }
  std::string sign(const std::string& payload, std::int64_t t = 0) {
    if (t == 0) t = clock_.now_ms() / 1000;
    return "t=" + std::to_string(t) + ",v1=" + stripe_v1_signature(kWebhookSecret, t, payload);
  }
  CheckoutSession paid_session(const store::User& u, long long credits) {
    auto start = service_->start_checkout(u, credits);
    EXPECT_TRUE(start.ok());
    stripe_->pay(start->session_id);
    auto s = stripe_->sessions[start->session_id];
    s.client_reference_id = std::to_string(u.id);
    s.metadata_user_id = std::to_string(u.id);
    return s;
  }

  test::TempDir dir_{"ds-pay-"};
  ManualClock clock_;
  std::unique_ptr<store::Database> db_;
  FakeStripe* stripe_ = nullptr;
  std::unique_ptr<PaymentService> service_;
};

TEST_F(PaymentServiceTest, CheckoutAsksStripeForTheChosenCreditsAndRecordsTheSession) {
  auto u = add_user("alice");
  auto start = service_->start_checkout(u, 12);
  ASSERT_TRUE(start.ok());
  EXPECT_EQ(start->session_id, "cs_test_1");
  EXPECT_EQ(start->url, "https://checkout.example/cs_test_1");
  ASSERT_EQ(stripe_->created.size(), 1u);
  const auto& p = stripe_->created[0];
  EXPECT_EQ(p.credits, 12);
  EXPECT_EQ(p.user_id, u.id);
  EXPECT_EQ(p.customer_email, "alice@example.com");
  EXPECT_EQ(p.success_url, "https://ds.example/checkout/success?session_id={CHECKOUT_SESSION_ID}");
  EXPECT_EQ(p.cancel_url, "https://ds.example/checkout/cancel");
  EXPECT_FALSE(p.idempotency_key.empty());
  auto record =
      db_->with([&](soci::session& sql) { return store::find_checkout(sql, "cs_test_1"); });
  ASSERT_TRUE(record);
  EXPECT_EQ(record->user_id, u.id);
  EXPECT_EQ(record->credits, 12);
  EXPECT_EQ(record->amount_cents, 1200);
  EXPECT_EQ(record->status, "open");
}

TEST_F(PaymentServiceTest, EachCheckoutHasItsOwnIdempotencyKey) {
  auto u = add_user("alice");
  ASSERT_TRUE(service_->start_checkout(u, 1).ok());
  ASSERT_TRUE(service_->start_checkout(u, 1).ok());
  EXPECT_NE(stripe_->created[0].idempotency_key, stripe_->created[1].idempotency_key);
}

TEST_F(PaymentServiceTest, CheckoutRefusesCreditsOutsideTheBounds) {
  auto u = add_user("alice");
  for (long long credits : {0LL, -1LL, 1001LL}) {
    auto start = service_->start_checkout(u, credits);
    ASSERT_FALSE(start.ok());
    EXPECT_EQ(start.error().kind, ErrorKind::kInvalid);
  }
  EXPECT_TRUE(stripe_->created.empty());
  EXPECT_TRUE(service_->start_checkout(u, 1000).ok());
}

TEST_F(PaymentServiceTest, WithoutAKeyPaymentsAreNotConfigured) {
  PaymentService off(*db_, clock_, PaymentsConfig{}, nullptr);
  EXPECT_FALSE(off.enabled());
  auto start = off.start_checkout(add_user("alice"), 12);
  ASSERT_FALSE(start.ok());
  EXPECT_EQ(start.error().kind, ErrorKind::kUnavailable);
  EXPECT_EQ(start.error().code, "payments_not_configured");
  auto hook = off.handle_webhook("{}", std::string("t=1,v1=00"));
  ASSERT_FALSE(hook.ok());
  EXPECT_EQ(hook.error().kind, ErrorKind::kUnavailable);
}

TEST_F(PaymentServiceTest, FulfilCreditsAPaidSessionOnce) {
  auto u = add_user("alice");
  auto s = paid_session(u, 12);
  auto first = service_->fulfil(s);
  EXPECT_EQ(first.outcome, outcome::kCredited);
  EXPECT_EQ(first.balance_cents, 1200);
  EXPECT_EQ(service_->fulfil(s).outcome, outcome::kAlreadyFulfilled);
  EXPECT_EQ(balance(u.id), 1200);
  EXPECT_EQ(count("SELECT COUNT(*) FROM credit_transactions WHERE kind = 'purchase'"), 1);
  auto entries =
      db_->with([&](soci::session& sql) { return store::list_entries(sql, u.id, 0, 10); });
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].links.checkout_session, s.id);
  EXPECT_EQ(entries[0].links.payment_intent, "pi_" + s.id);
  EXPECT_TRUE(db_->with([](soci::session& sql) { return store::verify_ledger(sql); }).empty());
}

TEST_F(PaymentServiceTest, RefusesSessionsThatDoNotMatchTheCheckout) {
  auto u = add_user("alice");
  auto s = paid_session(u, 12);

  auto unknown = s;
  unknown.id = "cs_test_unknown";
  EXPECT_EQ(service_->fulfil(unknown).outcome, outcome::kUnknownSession);

  auto less = s;
  less.amount_total = 1100;
  EXPECT_EQ(service_->fulfil(less).outcome, outcome::kAmountMismatch);
  auto fraction = s;
  fraction.amount_total = 1250;
  EXPECT_EQ(service_->fulfil(fraction).outcome, outcome::kAmountMismatch);
  auto more = s;
  more.amount_total = 1300;
  EXPECT_EQ(service_->fulfil(more).outcome, outcome::kAmountMismatch);

  auto usd = s;
  usd.currency = "usd";
  EXPECT_EQ(service_->fulfil(usd).outcome, outcome::kCurrencyMismatch);

  auto other = s;
  other.client_reference_id = std::to_string(u.id + 1);
  EXPECT_EQ(service_->fulfil(other).outcome, outcome::kUserMismatch);

  auto unpaid = s;
  unpaid.payment_status = "unpaid";
  EXPECT_EQ(service_->fulfil(unpaid).outcome, outcome::kAwaitingPayment);

  EXPECT_EQ(balance(u.id), 0);
  EXPECT_EQ(count("SELECT COUNT(*) FROM credit_transactions"), 0);
  // The genuine session still goes through afterwards.
  EXPECT_EQ(service_->fulfil(s).outcome, outcome::kCredited);
}

TEST_F(PaymentServiceTest, DoesNotCreditADeletedUser) {
  auto u = add_user("alice");
  auto s = paid_session(u, 5);
  db_->write([&](soci::session& sql) { store::soft_delete_user(sql, u.id, clock_.now_ms()); });
  EXPECT_EQ(service_->fulfil(s).outcome, outcome::kUserDeleted);
  EXPECT_EQ(balance(u.id), 0);
  EXPECT_EQ(count("SELECT COUNT(*) FROM credit_transactions"), 0);
}

TEST_F(PaymentServiceTest, WebhookCreditsAndStoresTheEvent) {
  auto u = add_user("alice");
  auto s = paid_session(u, 3);
  auto body = event("evt_1", "checkout.session.completed", s);
  auto result = service_->handle_webhook(body, sign(body));
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(*result, outcome::kCredited);
  EXPECT_EQ(balance(u.id), 300);
  auto stored =
      db_->with([](soci::session& sql) { return store::find_stripe_event(sql, "evt_1"); });
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->outcome, "credited");
  EXPECT_EQ(stored->checkout_session, s.id);
  auto entries =
      db_->with([&](soci::session& sql) { return store::list_entries(sql, u.id, 0, 10); });
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].links.event_id, "evt_1");

  // A replay days later: same event id, new signature.
  clock_.advance_ms(3LL * 24 * 3600 * 1000);
  auto replay = service_->handle_webhook(body, sign(body));
  ASSERT_TRUE(replay.ok());
  EXPECT_EQ(*replay, outcome::kDuplicateEvent);
  // A different event for the same session (async success after completed).
  auto again = event("evt_2", "checkout.session.async_payment_succeeded", s);
  EXPECT_EQ(*service_->handle_webhook(again, sign(again)), outcome::kAlreadyFulfilled);
  EXPECT_EQ(balance(u.id), 300);
}

TEST_F(PaymentServiceTest, WebhookRejectsBadSignaturesAndMalformedBodies) {
  auto u = add_user("alice");
  auto s = paid_session(u, 3);
  auto body = event("evt_1", "checkout.session.completed", s);
  auto expect_400 = [&](const std::string& payload, const std::optional<std::string>& header) {
    auto r = service_->handle_webhook(payload, header);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind, ErrorKind::kInvalid);
  };
  expect_400(body, std::nullopt);
  expect_400(body, std::string("t=1,v1=abc"));
  expect_400(body, sign(body, clock_.now_ms() / 1000 - 301));
  expect_400(body, sign(body, clock_.now_ms() / 1000 + 301));
  expect_400(body + " ", sign(body));
  for (std::string bad :
       {"not json", "[]", "{}", R"({"id":"evt_x","type":"checkout.session.completed"})",
        R"({"id":"evt_x","type":"checkout.session.completed","data":{"object":{}}})",
        R"({"id":5,"type":"x","data":{"object":{}}})"}) {
    expect_400(bad, sign(bad));
  }
  EXPECT_EQ(balance(u.id), 0);
  EXPECT_EQ(count("SELECT COUNT(*) FROM stripe_events"), 0);
}

TEST_F(PaymentServiceTest, WebhookRecordsIgnoredAndFailedEvents) {
  auto u = add_user("alice");
  auto s = paid_session(u, 3);
  auto other =
      nlohmann::json{
          {"id", "evt_o"}, {"type", "customer.created"}, {"data", {{"object", {{"id", "cus_1"}}}}}}
          .dump();
  EXPECT_EQ(*service_->handle_webhook(other, sign(other)), outcome::kIgnored);

  auto failed = s;
  failed.payment_status = "unpaid";
  auto body = event("evt_f", "checkout.session.async_payment_failed", failed);
  EXPECT_EQ(*service_->handle_webhook(body, sign(body)), outcome::kPaymentFailed);
  auto record = db_->with([&](soci::session& sql) { return store::find_checkout(sql, s.id); });
  EXPECT_EQ(record->status, "failed");

  auto unknown = s;
  unknown.id = "cs_test_nope";
  auto u_body = event("evt_u", "checkout.session.completed", unknown);
  EXPECT_EQ(*service_->handle_webhook(u_body, sign(u_body)), outcome::kUnknownSession);
  EXPECT_EQ(count("SELECT COUNT(*) FROM stripe_events"), 3);
  EXPECT_EQ(balance(u.id), 0);
}

TEST_F(PaymentServiceTest, ConcurrentDuplicateDeliveriesAndConfirmsCreditOnce) {
  auto u = add_user("alice");
  auto s = paid_session(u, 7);
  auto body = event("evt_dup", "checkout.session.completed", s);
  auto header = sign(body);
  auto other = event("evt_other", "checkout.session.async_payment_succeeded", s);
  auto other_header = sign(other);
  std::atomic<int> credited{0}, failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      auto r = service_->handle_webhook(body, header);
      if (!r.ok())
        ++failures;
      else if (*r == outcome::kCredited)
        ++credited;
    });
    threads.emplace_back([&] {
      auto r = service_->handle_webhook(other, other_header);
      if (!r.ok())
        ++failures;
      else if (*r == outcome::kCredited)
        ++credited;
    });
    threads.emplace_back([&] {
      if (service_->fulfil(s).outcome == outcome::kCredited) ++credited;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(credited, 1);
  EXPECT_EQ(balance(u.id), 700);
  EXPECT_EQ(count("SELECT COUNT(*) FROM credit_transactions"), 1);
  EXPECT_EQ(count("SELECT COUNT(*) FROM stripe_events"), 2);
}

TEST_F(PaymentServiceTest, ConfirmReportsPendingThenFulfilsThroughTheSamePath) {
  auto u = add_user("alice");
  auto start = service_->start_checkout(u, 4);
  ASSERT_TRUE(start.ok());
  auto pending = service_->checkout_state(u.id, start->session_id);
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(pending->status, "pending");
  EXPECT_EQ(pending->credits, 4);
  EXPECT_EQ(pending->balance_cents, 0);

  stripe_->pay(start->session_id);
  auto done = service_->checkout_state(u.id, start->session_id);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->status, "fulfilled");
  EXPECT_EQ(done->balance_cents, 400);

  // Once fulfilled, Stripe is not asked again and nothing more is credited.
  int asked = stripe_->retrievals;
  EXPECT_EQ(service_->checkout_state(u.id, start->session_id)->status, "fulfilled");
  EXPECT_EQ(stripe_->retrievals, asked);
  EXPECT_EQ(balance(u.id), 400);
}

TEST_F(PaymentServiceTest, ConfirmOnlyShowsTheUsersOwnSessions) {
  auto alice = add_user("alice");
  auto bob = add_user("bob");
  auto start = service_->start_checkout(alice, 4);
  stripe_->pay(start->session_id);
  auto r = service_->checkout_state(bob.id, start->session_id);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kNotFound);
  EXPECT_EQ(service_->checkout_state(bob.id, "cs_test_missing").error().kind, ErrorKind::kNotFound);
  EXPECT_EQ(balance(alice.id), 0);
  EXPECT_EQ(balance(bob.id), 0);
}

TEST_F(PaymentServiceTest, ConfirmPassesOnStripeFailures) {
  auto u = add_user("alice");
  auto start = service_->start_checkout(u, 4);
  stripe_->fail = true;
  auto r = service_->checkout_state(u.id, start->session_id);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kUpstreamFailed);
}

TEST_F(PaymentServiceTest, AdminGrantAndAdjustmentNeverGoBelowZero) {
  auto u = add_user("alice");
  auto granted = grant_credits(*db_, clock_, "ALICE", 500, "goodwill");
  ASSERT_TRUE(granted.ok());
  EXPECT_EQ(granted->balance_cents, 500);
  EXPECT_GT(granted->entry_id, 0);
  auto taken = grant_credits(*db_, clock_, "alice", -200, "correction");
  ASSERT_TRUE(taken.ok());
  EXPECT_EQ(taken->balance_cents, 300);
  auto too_much = grant_credits(*db_, clock_, "alice", -301, "too much");
  ASSERT_FALSE(too_much.ok());
  EXPECT_EQ(too_much.error().kind, ErrorKind::kConflict);
  EXPECT_EQ(grant_credits(*db_, clock_, "nobody", 100, "x").error().kind, ErrorKind::kNotFound);
  EXPECT_EQ(grant_credits(*db_, clock_, "alice", 0, "x").error().kind, ErrorKind::kInvalid);
  EXPECT_EQ(balance(u.id), 300);
  EXPECT_EQ(count("SELECT COUNT(*) FROM credit_transactions WHERE kind = 'admin_adjustment'"), 2);
  EXPECT_TRUE(db_->with([](soci::session& sql) { return store::verify_ledger(sql); }).empty());
}

TEST_F(PaymentServiceTest, TheSchemaRefusesImpossibleLedgerStates) {
  auto u = add_user("alice");
  auto insert = [&](const std::string& kind, const char* checkout) {
    db_->with([&](soci::session& sql) {
      std::string cs = checkout ? checkout : "";
      soci::indicator cs_ind = checkout ? soci::i_ok : soci::i_null;
      sql << "INSERT INTO credit_transactions (user_id, kind, amount_cents, balance_after_cents, "
             "stripe_checkout_session, created_ms) VALUES (:u, :k, 100, 100, :cs, 1)",
          soci::use(u.id), soci::use(kind), soci::use(cs, cs_ind);
    });
  };
  EXPECT_ANY_THROW(insert("gift", nullptr));
  EXPECT_ANY_THROW(insert("purchase", nullptr));
  EXPECT_ANY_THROW(insert("stream_usage", nullptr));
  EXPECT_NO_THROW(insert("purchase", "cs_test_a"));
  EXPECT_ANY_THROW(insert("purchase", "cs_test_a"));  // one purchase per checkout session
  EXPECT_ANY_THROW(db_->with([&](soci::session& sql) {
    sql << "UPDATE users SET balance_cents = -1 WHERE id = :id", soci::use(u.id);
  }));
}

TEST(CreditAmount, ParsesWholeAndDecimalCredits) {
  EXPECT_EQ(parse_credit_amount("12"), 1200);
  EXPECT_EQ(parse_credit_amount("-3"), -300);
  EXPECT_EQ(parse_credit_amount("+1.5"), 150);
  EXPECT_EQ(parse_credit_amount("0.25"), 25);
  EXPECT_EQ(parse_credit_amount(".5"), 50);
  for (const char* bad : {"", "-", "1.", "1.234", "abc", "1e3", "1,5", "--1", "9999999999999"}) {
    EXPECT_EQ(parse_credit_amount(bad), std::nullopt) << bad;
  }
}

TEST(CheckoutForm, HasEveryFieldStripeNeedsEncoded) {
  CreateCheckoutParams p;
  p.user_id = 42;
  p.credits = 12;
  p.customer_email = "a+b@example.com";
  p.success_url = "https://ds.example/checkout/success?session_id={CHECKOUT_SESSION_ID}";
  p.cancel_url = "https://ds.example/checkout/cancel";
  auto encoded = form_encode(checkout_form(p));
  EXPECT_EQ(encoded,
            "mode=payment"
            "&line_items%5B0%5D%5Bprice_data%5D%5Bcurrency%5D=eur"
            "&line_items%5B0%5D%5Bprice_data%5D%5Bunit_amount%5D=100"
            "&line_items%5B0%5D%5Bprice_data%5D%5Bproduct_data%5D%5Bname%5D=DreamStream%20credits"
            "&line_items%5B0%5D%5Bquantity%5D=12"
            "&client_reference_id=42&metadata%5Buser_id%5D=42&metadata%5Bcredits%5D=12"
            "&success_url=https%3A%2F%2Fds.example%2Fcheckout%2Fsuccess%3Fsession_id%3D%7BCHECKOUT_"
            "SESSION_ID%7D"
            "&cancel_url=https%3A%2F%2Fds.example%2Fcheckout%2Fcancel"
            "&customer_email=a%2Bb%40example.com");
}

TEST(CheckoutSessionJson, ReadsTheFieldsFulfilmentUses) {
  auto s = parse_checkout_session(nlohmann::json::parse(R"({
    "id":"cs_test_1","url":"https://x","status":"complete","payment_status":"paid",
    "currency":"EUR","amount_total":1200,"payment_intent":{"id":"pi_1"},
    "client_reference_id":"7","metadata":{"user_id":"7","credits":"12"}})"));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->currency, "eur");
  EXPECT_EQ(s->amount_total, 1200);
  EXPECT_EQ(s->payment_intent, "pi_1");
  EXPECT_EQ(s->metadata_user_id, "7");
  EXPECT_EQ(s->metadata_credits, "12");
  EXPECT_FALSE(parse_checkout_session(nlohmann::json::parse(R"({"url":"x"})")));
  auto no_amount =
      parse_checkout_session(nlohmann::json::parse(R"({"id":"cs","amount_total":null})"));
  EXPECT_EQ(no_amount->amount_total, -1);
}

}  // namespace
}  // namespace ds::payments
