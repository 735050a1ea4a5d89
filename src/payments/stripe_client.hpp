// Stripe's HTTP API as far as Checkout needs it: create and retrieve Checkout Sessions.
#pragma once

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "util/expected.hpp"

namespace ds::payments {

// The fields of a Checkout Session that fulfilment looks at.
struct CheckoutSession {
  std::string id;
  std::string url;
  std::string status;           // open, complete, expired
  std::string payment_status;   // paid, unpaid, no_payment_required
  std::string currency;         // lower-case ISO code
  long long amount_total = -1;  // smallest currency unit; -1 when absent
  std::string payment_intent;
  std::string client_reference_id;
  std::string metadata_user_id;
  std::string metadata_credits;
};

// Reads a Checkout Session object (from the API or from an event's data.object); nullopt
// when it has no id.
std::optional<CheckoutSession> parse_checkout_session(const nlohmann::json& object);

struct CreateCheckoutParams {
  long long user_id = 0;
  long long credits = 0;
  std::string customer_email;
  std::string success_url;
  std::string cancel_url;
  std::string idempotency_key;
};

// The application/x-www-form-urlencoded fields for POST /v1/checkout/sessions, in order.
std::vector<std::pair<std::string, std::string>> checkout_form(const CreateCheckoutParams& p);

// Encodes fields the way Stripe expects (RFC 3986 percent-encoding of keys and values).
std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields);

class StripeClient {
 public:
  virtual ~StripeClient() = default;
  virtual Expected<CheckoutSession> create_checkout_session(const CreateCheckoutParams& p) = 0;
  virtual Expected<CheckoutSession> retrieve_checkout_session(const std::string& id) = 0;
};

struct StripeHttpConfig {
  std::string api_base = "https://api.stripe.com";
  std::string secret_key;
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds total_timeout{30'000};
};

// The real client: libcurl, Bearer secret key, JSON replies. Thread-safe (one easy handle per
// call). Failures become upstream-failed errors whose messages never contain the key.
std::unique_ptr<StripeClient> make_http_stripe_client(StripeHttpConfig config);

// Must run once at start-up, before threads exist.
void init_http_client();

}  // namespace ds::payments
