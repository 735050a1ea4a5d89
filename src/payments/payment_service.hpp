// Buying credits with Stripe Checkout: starting a checkout, the webhook, and the one
// idempotent fulfilment path that both the webhook and the success page go through.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "auth/rate_limiter.hpp"
#include "payments/stripe_client.hpp"
#include "store/database.hpp"
#include "store/users.hpp"
#include "util/clock.hpp"
#include "util/expected.hpp"

namespace ds::payments {

struct PaymentsConfig {
  std::string secret_key;      // STRIPE_SECRET_KEY; empty: payments are off
  std::string webhook_secret;  // STRIPE_WEBHOOK_SECRET; empty: webhooks are refused
  std::string api_base = "https://api.stripe.com";
  std::string public_url;  // base of the success and cancel pages
  long long min_credits = 1;
  long long max_credits = 1000;
  long long default_credits = 12;
  std::int64_t signature_tolerance_s = 300;
  // Per-user limits on the calls that wait on Stripe (up to 30 s each on the blocking pool):
  // creating a checkout, and the success page's confirmation (it polls every 2 s, 15 times).
  int checkout_limit = 10;
  std::int64_t checkout_window_ms = 10LL * 60 * 1000;
  int confirm_limit = 30;
  std::int64_t confirm_window_ms = 60LL * 1000;
};

// Fills the Stripe settings from STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET, STRIPE_API_BASE.
void read_stripe_env(PaymentsConfig& config);

// What fulfilment decided; also the outcome stored with each Stripe event.
namespace outcome {
inline constexpr const char* kCredited = "credited";
inline constexpr const char* kAlreadyFulfilled = "already_fulfilled";
inline constexpr const char* kAwaitingPayment = "awaiting_payment";
inline constexpr const char* kUnknownSession = "unknown_session";
inline constexpr const char* kAmountMismatch = "amount_mismatch";
inline constexpr const char* kCurrencyMismatch = "currency_mismatch";
inline constexpr const char* kUserMismatch = "user_mismatch";
inline constexpr const char* kUserDeleted = "user_deleted";
inline constexpr const char* kPaymentFailed = "payment_failed";
inline constexpr const char* kIgnored = "ignored";
inline constexpr const char* kDuplicateEvent = "duplicate_event";
}  // namespace outcome

struct FulfilResult {
  std::string outcome;
  long long credits = 0;                   // what the checkout was for
  std::optional<long long> balance_cents;  // the user's balance afterwards, when known
  bool fulfilled() const;                  // credited now or before
};

struct CheckoutStart {
  std::string session_id;
  std::string url;
};

struct CheckoutState {
  std::string status;  // fulfilled, pending, failed
  long long credits = 0;
  long long balance_cents = 0;
};

class PaymentService {
 public:
  // client may be null when no secret key is configured.
  PaymentService(store::Database& db, const Clock& clock, PaymentsConfig config,
                 std::unique_ptr<StripeClient> client);

  bool enabled() const { return client_ != nullptr && !config_.secret_key.empty(); }
  const PaymentsConfig& config() const { return config_; }
  // Set before the server runs, once the bound address is known.
  void set_public_url(std::string url);

  // Invalid for credits outside the bounds, unavailable when payments are off, upstream
  // failed when Stripe fails, rate limited past the per-user checkout limit.
  Expected<CheckoutStart> start_checkout(const store::User& user, long long credits);

  // The success page's check: asks Stripe about the session (unless already fulfilled) and
  // fulfils it if paid. Not found for a session that is not this user's; rate limited past the
  // per-user limit on questions to Stripe (an already fulfilled session needs none and is
  // never refused).
  Expected<CheckoutState> checkout_state(long long user_id, const std::string& session_id);

  // Verifies and handles one webhook delivery. Invalid for a bad or stale signature or a
  // malformed body; unavailable without a webhook secret; otherwise the outcome (handled or
  // ignored).
  Expected<std::string> handle_webhook(std::string_view payload,
                                       const std::optional<std::string>& signature_header);

  // Credits a paid session exactly once, however often and concurrently it is called.
  // event_id, when given, is stored in the ledger entry.
  FulfilResult fulfil(const CheckoutSession& session,
                      const std::optional<std::string>& event_id = std::nullopt);

  // Counts checkouts and checkout questions in counters, across nodes.
  void share_limits(SharedCounters& counters);

 private:
  struct EventInfo {
    std::string id;
    std::string type;
  };
  FulfilResult fulfil_in(soci::session& sql, const CheckoutSession& session,
                         const std::optional<std::string>& event_id, std::int64_t now_ms);
  std::string handle_event_in(soci::session& sql, const EventInfo& event,
                              const std::optional<CheckoutSession>& session, std::int64_t now_ms);

  store::Database& db_;
  const Clock& clock_;
  PaymentsConfig config_;
  std::unique_ptr<StripeClient> client_;
  std::unique_ptr<auth::RateLimiter> checkouts_;      // per user id
  std::unique_ptr<auth::RateLimiter> confirmations_;  // per user id
};

}  // namespace ds::payments
