#include "payments/payment_service.hpp"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "auth/crypto.hpp"
#include "auth/rate_limiter.hpp"
#include "payments/stripe_signature.hpp"
#include "store/ledger.hpp"
#include "store/payments.hpp"

namespace ds::payments {

namespace {

constexpr long long kEurCentsPerCredit = 100;
constexpr long long kCreditCentsPerCredit = 100;
constexpr int kMaxAttempts = 3;

constexpr std::string_view kCompleted = "checkout.session.completed";
constexpr std::string_view kAsyncSucceeded = "checkout.session.async_payment_succeeded";
constexpr std::string_view kAsyncFailed = "checkout.session.async_payment_failed";

Error not_configured() {
  return Error{ErrorKind::kUnavailable, "payments_not_configured", "payments are not configured"};
}

Error bad_signature(std::string message) {
  return bad_request(std::move(message), "invalid_signature");
}

// Runs a write transaction, running it again when a concurrent writer won a unique index
// (PostgreSQL lets two transactions race to the same key; the retry then sees the winner's
// row and takes the "already done" path). SQLite serialises writers, so it never retries.
template <class F>
auto write_with_retry(store::Database& db, F&& fn) {
  for (int attempt = 1;; ++attempt) {
    try {
      return db.write(fn);
    } catch (const std::exception& e) {
      if (attempt >= kMaxAttempts || !store::is_unique_violation(e)) throw;
    }
  }
}

}  // namespace

void read_stripe_env(PaymentsConfig& config) {
  if (const char* v = std::getenv("STRIPE_SECRET_KEY")) config.secret_key = v;
  if (const char* v = std::getenv("STRIPE_WEBHOOK_SECRET")) config.webhook_secret = v;
  if (const char* v = std::getenv("STRIPE_API_BASE"); v && *v) config.api_base = v;
}

bool FulfilResult::fulfilled() const {
  return outcome == outcome::kCredited || outcome == outcome::kAlreadyFulfilled;
}

PaymentService::PaymentService(store::Database& db, const Clock& clock, PaymentsConfig config,
                               std::unique_ptr<StripeClient> client)
    : db_(db),
      clock_(clock),
      config_(std::move(config)),
      client_(std::move(client)),
      checkouts_(std::make_unique<auth::RateLimiter>(clock, config_.checkout_limit,
                                                     config_.checkout_window_ms)),
      confirmations_(std::make_unique<auth::RateLimiter>(clock, config_.confirm_limit,
                                                         config_.confirm_window_ms)) {
  set_public_url(config_.public_url);
}

void PaymentService::set_public_url(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  config_.public_url = std::move(url);
}

Expected<CheckoutStart> PaymentService::start_checkout(const store::User& user, long long credits) {
  if (!enabled()) return not_configured();
  if (credits < config_.min_credits || credits > config_.max_credits) {
    return bad_request("credits must be a whole number from " +
                           std::to_string(config_.min_credits) + " to " +
                           std::to_string(config_.max_credits),
                       "invalid_credits");
  }
  if (!checkouts_->allow(std::to_string(user.id))) {
    spdlog::info("event=checkout_throttled user_id={}", user.id);
    return rate_limited("too many checkouts started; try again in a few minutes");
  }
  CreateCheckoutParams params;
  params.user_id = user.id;
  params.credits = credits;
  params.customer_email = user.email;
  params.success_url = config_.public_url + "/checkout/success?session_id={CHECKOUT_SESSION_ID}";
  params.cancel_url = config_.public_url + "/checkout/cancel";
  params.idempotency_key = auth::random_token("ds_checkout_");
  auto session = client_->create_checkout_session(params);
  if (!session) return session.error();
  if (session->url.empty()) {
    spdlog::warn("event=checkout_without_url session_id={}", session->id);
    return Error{ErrorKind::kUpstreamFailed, "payment_provider_error",
                 "the payment provider sent no checkout URL"};
  }

  store::CheckoutRecord record;
  record.id = session->id;
  record.user_id = user.id;
  record.credits = credits;
  record.amount_cents = credits * kEurCentsPerCredit;
  record.status = store::kCheckoutOpen;
  record.created_ms = clock_.now_ms();
  db_.write([&](soci::session& sql) { store::insert_checkout(sql, record); });
  spdlog::info("event=checkout_created user_id={} session_id={} credits={}", user.id, record.id,
               credits);
  return CheckoutStart{session->id, session->url};
}

Expected<CheckoutState> PaymentService::checkout_state(long long user_id,
                                                       const std::string& session_id) {
  auto record = db_.with([&](soci::session& sql) { return store::find_checkout(sql, session_id); });
  if (!record || record->user_id != user_id) return not_found("no such checkout session");

  auto balance = [&] {
    return db_.with([&](soci::session& sql) {
      auto u = store::find_user(sql, user_id);
      return u ? u->balance_cents : 0LL;
    });
  };
  CheckoutState state;
  state.credits = record->credits;
  if (record->status == store::kCheckoutFulfilled) {
    state.status = "fulfilled";
    state.balance_cents = balance();
    return state;
  }
  if (!enabled()) return not_configured();
  if (!confirmations_->allow(std::to_string(user_id))) {
    return rate_limited("too many payment checks; try again in a minute");
  }

  auto session = client_->retrieve_checkout_session(session_id);
  if (!session) return session.error();
  if (session->id != session_id) {
    return Error{ErrorKind::kUpstreamFailed, "payment_provider_error",
                 "the payment provider sent another session"};
  }
  if (session->payment_status == "paid") {
    auto result = fulfil(*session);
    state.status = result.fulfilled() ? "fulfilled" : "failed";
  } else if (record->status == store::kCheckoutFailed || session->status == "expired") {
    state.status = "failed";
  } else {
    state.status = "pending";
  }
  state.balance_cents = balance();
  return state;
}

FulfilResult PaymentService::fulfil(const CheckoutSession& session,
                                    const std::optional<std::string>& event_id) {
  auto now = clock_.now_ms();
  auto result = write_with_retry(
      db_, [&](soci::session& sql) { return fulfil_in(sql, session, event_id, now); });
  spdlog::info("event=checkout_fulfilment session_id={} outcome={} via={}", session.id,
               result.outcome, event_id ? "webhook" : "confirm");
  return result;
}

FulfilResult PaymentService::fulfil_in(soci::session& sql, const CheckoutSession& session,
                                       const std::optional<std::string>& event_id,
                                       std::int64_t now_ms) {
  FulfilResult result;
  auto record = store::find_checkout(sql, session.id);
  if (!record) {
    result.outcome = outcome::kUnknownSession;
    return result;
  }
  result.credits = record->credits;
  if (record->status == store::kCheckoutFulfilled) {
    result.outcome = outcome::kAlreadyFulfilled;
    return result;
  }
  if (session.payment_status != "paid") {
    result.outcome = outcome::kAwaitingPayment;
    return result;
  }
  if (session.currency != "eur") {
    result.outcome = outcome::kCurrencyMismatch;
    return result;
  }
  // Stripe's amount_total is what was paid; it must buy exactly the credits asked for.
  if (session.amount_total <= 0 || session.amount_total % kEurCentsPerCredit != 0 ||
      session.amount_total != record->amount_cents ||
      session.amount_total / kEurCentsPerCredit != record->credits) {
    result.outcome = outcome::kAmountMismatch;
    return result;
  }
  auto owner = std::to_string(record->user_id);
  if ((!session.client_reference_id.empty() && session.client_reference_id != owner) ||
      (!session.metadata_user_id.empty() && session.metadata_user_id != owner)) {
    result.outcome = outcome::kUserMismatch;
    return result;
  }
  if (!store::find_user(sql, record->user_id)) {
    result.outcome = outcome::kUserDeleted;
    return result;
  }

  store::LedgerLinks links;
  links.checkout_session = session.id;
  if (!session.payment_intent.empty()) links.payment_intent = session.payment_intent;
  links.event_id = event_id;
  links.note = "Stripe Checkout: " + std::to_string(record->credits) + " credits";
  long long credits = session.amount_total / kEurCentsPerCredit;
  // The ledger's unique index on (stripe_checkout_session) for purchases is the last line of
  // defence: a second credit for this session cannot commit.
  auto balance = store::append_entry(sql, record->user_id, store::kKindPurchase,
                                     credits * kCreditCentsPerCredit, links, now_ms);
  if (!balance) {
    result.outcome = outcome::kUserDeleted;
    return result;
  }
  store::set_checkout_status(sql, session.id, store::kCheckoutFulfilled, now_ms);
  result.outcome = outcome::kCredited;
  result.balance_cents = *balance;
  return result;
}

std::string PaymentService::handle_event_in(soci::session& sql, const EventInfo& event,
                                            const std::optional<CheckoutSession>& session,
                                            std::int64_t now_ms) {
  store::StripeEventRecord record;
  record.event_id = event.id;
  record.type = event.type;
  record.checkout_session = session ? session->id : "";
  record.outcome = "received";
  record.received_ms = now_ms;
  if (!store::insert_stripe_event(sql, record)) return outcome::kDuplicateEvent;

  std::string result = outcome::kIgnored;
  if (event.type == kCompleted || event.type == kAsyncSucceeded) {
    result = fulfil_in(sql, *session, event.id, now_ms).outcome;
  } else if (event.type == kAsyncFailed) {
    auto checkout = store::find_checkout(sql, session->id);
    if (!checkout) {
      result = outcome::kUnknownSession;
    } else if (checkout->status == store::kCheckoutFulfilled) {
      result = outcome::kAlreadyFulfilled;
    } else {
      store::set_checkout_status(sql, session->id, store::kCheckoutFailed, std::nullopt);
      result = outcome::kPaymentFailed;
    }
  }
  store::set_stripe_event_outcome(sql, event.id, result);
  return result;
}

Expected<std::string> PaymentService::handle_webhook(
    std::string_view payload, const std::optional<std::string>& signature_header) {
  if (config_.webhook_secret.empty()) return not_configured();
  if (!signature_header) return bad_signature("missing Stripe-Signature header");
  auto now_ms = clock_.now_ms();
  auto check = verify_stripe_signature(*signature_header, payload, config_.webhook_secret,
                                       now_ms / 1000, config_.signature_tolerance_s);
  if (check != SignatureCheck::kValid) {
    spdlog::warn("event=stripe_webhook_rejected reason={}", to_string(check));
    return bad_signature(check == SignatureCheck::kOutsideTolerance
                             ? "the signature timestamp is outside the tolerance"
                             : "the signature does not verify");
  }

  auto body = nlohmann::json::parse(payload, nullptr, false);
  if (!body.is_object() || !body.contains("id") || !body["id"].is_string() ||
      !body.contains("type") || !body["type"].is_string() || !body.contains("data") ||
      !body["data"].is_object() || !body["data"].contains("object") ||
      !body["data"]["object"].is_object()) {
    return bad_request("the event is malformed", "malformed_event");
  }
  EventInfo event{body["id"].get<std::string>(), body["type"].get<std::string>()};
  if (event.id.empty() || event.id.size() > 255 || event.type.size() > 255) {
    return bad_request("the event is malformed", "malformed_event");
  }
  std::optional<CheckoutSession> session;
  bool about_checkout =
      event.type == kCompleted || event.type == kAsyncSucceeded || event.type == kAsyncFailed;
  if (about_checkout) {
    session = parse_checkout_session(body["data"]["object"]);
    if (!session) return bad_request("the event's session has no id", "malformed_event");
  }

  auto result = write_with_retry(
      db_, [&](soci::session& sql) { return handle_event_in(sql, event, session, now_ms); });
  spdlog::info("event=stripe_webhook event_id={} type={} session_id={} outcome={}", event.id,
               event.type, session ? session->id : "", result);
  return result;
}

void PaymentService::share_limits(SharedCounters& counters) {
  if (checkouts_) checkouts_->share(&counters, "checkout");
  if (confirmations_) confirmations_->share(&counters, "checkout_confirm");
}

}  // namespace ds::payments
