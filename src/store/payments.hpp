// Payments repository: Checkout Sessions we created and every Stripe event we received.
#pragma once

#include <soci/soci.h>

#include <optional>
#include <string>

namespace ds::store {

// checkout_sessions.status values.
inline constexpr const char* kCheckoutOpen = "open";
inline constexpr const char* kCheckoutFulfilled = "fulfilled";
inline constexpr const char* kCheckoutFailed = "failed";

struct CheckoutRecord {
  std::string id;  // Stripe's cs_… id
  long long user_id = 0;
  long long credits = 0;
  long long amount_cents = 0;  // EUR cents asked for at checkout
  std::string status;
  long long created_ms = 0;
  std::optional<long long> fulfilled_ms;
};

void insert_checkout(soci::session& sql, const CheckoutRecord& record);
std::optional<CheckoutRecord> find_checkout(soci::session& sql, const std::string& id);
void set_checkout_status(soci::session& sql, const std::string& id, const std::string& status,
                         std::optional<long long> fulfilled_ms);

struct StripeEventRecord {
  std::string event_id;
  std::string type;
  std::string checkout_session;  // empty when the event names none
  std::string outcome;
  long long received_ms = 0;
};

// Inserts the event; false (and nothing written) when its id is already stored.
bool insert_stripe_event(soci::session& sql, const StripeEventRecord& event);
void set_stripe_event_outcome(soci::session& sql, const std::string& event_id,
                              const std::string& outcome);
std::optional<StripeEventRecord> find_stripe_event(soci::session& sql, const std::string& event_id);

}  // namespace ds::store
