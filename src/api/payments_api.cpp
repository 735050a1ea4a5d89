// GET /api/config, POST /api/credits/checkout, GET /api/credits/checkout/:session_id and
// POST /api/webhooks/stripe.
#include <limits>

#include "api/app.hpp"
#include "payments/payment_service.hpp"

namespace ds::api {

namespace {

constexpr std::size_t kMaxSessionIdLength = 255;

// credits must be a JSON integer (not 1.5, not 12.0, not "12") within the configured bounds.
Expected<long long> credits_field(const nlohmann::json& body, const payments::PaymentsConfig& c) {
  auto bounds = "credits must be a whole number from " + std::to_string(c.min_credits) + " to " +
                std::to_string(c.max_credits);
  auto it = body.find("credits");
  if (it == body.end() || it->is_null())
    return bad_request("missing field: credits", "missing_field");
  if (!it->is_number_integer()) return bad_request(bounds, "invalid_credits");
  if (it->is_number_unsigned() &&
      it->get<unsigned long long>() > static_cast<unsigned long long>(c.max_credits)) {
    return bad_request(bounds, "invalid_credits");
  }
  long long credits = it->get<long long>();
  if (credits < c.min_credits || credits > c.max_credits)
    return bad_request(bounds, "invalid_credits");
  return credits;
}

bool plausible_session_id(const std::string& id) {
  if (id.empty() || id.size() > kMaxSessionIdLength) return false;
  for (unsigned char ch : id) {
    if (!std::isalnum(ch) && ch != '_') return false;
  }
  return true;
}

Error payments_off() {
  return {ErrorKind::kUnavailable, "payments_not_configured", "payments are not configured"};
}

Response handle_config(App& app, Request&) {
  payments::PaymentsConfig defaults;
  const auto& c = app.payments ? app.payments->config() : defaults;
  return json_response(200,
                       {{"payments_enabled", app.payments && app.payments->enabled()},
                        {"min_credits", c.min_credits},
                        {"max_credits", c.max_credits},
                        {"default_credits", c.default_credits},
                        {"cents_per_minute", app.config.rate.cents_per_minute()},
                        {"signup_credits", domain::format_credits(app.config.signup_bonus_cents)},
                        {"signup_cents", app.config.signup_bonus_cents}});
}

Response handle_checkout(App& app, Request& req, const auth::Principal& p) {
  if (!app.payments || !app.payments->enabled()) {
    return error_response(payments_off());
  }
  auto body = parse_json_object(req);
  if (!body) return error_response(body.error());
  auto credits = credits_field(*body, app.payments->config());
  if (!credits) return error_response(credits.error());
  auto started = app.payments->start_checkout(p.user, *credits);
  if (!started) return error_response(started.error());
  return json_response(200, {{"url", started->url}, {"session_id", started->session_id}});
}

Response handle_checkout_state(App& app, Request& req, const auth::Principal& p) {
  const auto& id = req.params["session_id"];
  if (!plausible_session_id(id)) return error_response(not_found("no such checkout session"));
  if (!app.payments) return error_response(payments_off());
  auto state = app.payments->checkout_state(p.user.id, id);
  if (!state) return error_response(state.error());
  return json_response(200, {{"status", state->status},
                             {"credits", state->credits},
                             {"balance", domain::format_credits(state->balance_cents)},
                             {"balance_cents", state->balance_cents},
                             {"remaining_minutes",
                              domain::remaining_minutes(state->balance_cents, app.config.rate)}});
}

Response handle_stripe_webhook(App& app, Request& req) {
  if (!app.payments) return error_response(payments_off());
  // The signature covers the exact bytes Stripe sent: req.body is never re-serialised.
  auto outcome = app.payments->handle_webhook(req.body, req.header("stripe-signature"));
  if (!outcome) return error_response(outcome.error());
  return json_response(200, {{"received", true}, {"outcome", *outcome}});
}

}  // namespace

void register_payments_routes(Router& router, App& app) {
  router.add("GET", "/api/config", handler(app, handle_config));
  router.add("POST", "/api/credits/checkout", authed(app, handle_checkout, Scope::kAccount));
  router.add("GET", "/api/credits/checkout/:session_id",
             authed(app, handle_checkout_state, Scope::kRead));
  // Signed by Stripe (Stripe-Signature), sent with no cookie and no Origin.
  router.add("POST", "/api/webhooks/stripe", handler(app, handle_stripe_webhook),
             CallerProof::kOwnSecret);
}

}  // namespace ds::api
