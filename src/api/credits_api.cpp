// GET /api/credits, GET /api/credits/transactions and GET /api/credits/transactions/:id
// (with a receipt for purchases).
#include "api/app.hpp"

namespace ds::api {

namespace {

constexpr int kDefaultPage = 50;
constexpr int kMaxPage = 200;

nlohmann::json entry_json(const store::LedgerEntry& e) {
  nlohmann::json j = {{"id", e.id},
                      {"kind", e.kind},
                      {"amount", domain::format_credits(e.amount_cents)},
                      {"amount_cents", e.amount_cents},
                      {"balance_after_cents", e.balance_after_cents},
                      {"note", e.links.note},
                      {"created_ms", e.created_ms}};
  if (e.links.stream_session_id) j["stream_session_id"] = *e.links.stream_session_id;
  if (e.links.minute_index) j["minute_index"] = *e.links.minute_index;
  if (e.links.checkout_session) j["stripe_checkout_session"] = *e.links.checkout_session;
  if (e.links.payment_intent) j["stripe_payment_intent"] = *e.links.payment_intent;
  return j;
}

Response handle_credits(App& app, Request&, const auth::Principal& p) {
  const auto& rate = app.config.rate;
  return json_response(
      200, {{"balance", domain::format_credits(p.user.balance_cents)},
            {"balance_cents", p.user.balance_cents},
            {"remaining_minutes", domain::remaining_minutes(p.user.balance_cents, rate)},
            {"cents_per_minute", rate.cents_per_minute()},
            {"credits_per_hour", domain::format_credits(rate.cents_per_hour)}});
}

Response handle_transactions(App& app, Request& req, const auth::Principal& p) {
  auto page = parse_page(req, kDefaultPage, kMaxPage);
  if (!page) return error_response(page.error());
  auto entries = app.credits.list(p.user.id, page->before, page->limit + 1);
  bool more = static_cast<int>(entries.size()) > page->limit;
  if (more) entries.pop_back();
  auto list = nlohmann::json::array();
  for (const auto& e : entries) list.push_back(entry_json(e));
  nlohmann::json out = {{"transactions", list}};
  out["next_before"] = more ? nlohmann::json(entries.back().id) : nlohmann::json();
  return json_response(200, out);
}

// The receipt of a purchase: what was paid and Stripe's ids.
nlohmann::json receipt_json(const store::LedgerEntry& e, long long paid_cents) {
  auto optional_string = [](const std::optional<std::string>& v) {
    return v ? nlohmann::json(*v) : nlohmann::json();
  };
  return {{"date_ms", e.created_ms},
          {"credits", e.amount_cents / domain::kCentsPerCredit},
          {"amount_eur", domain::format_credits(paid_cents)},
          {"currency", "EUR"},
          {"stripe_payment_intent", optional_string(e.links.payment_intent)},
          {"stripe_checkout_session", optional_string(e.links.checkout_session)}};
}

Response handle_transaction(App& app, Request& req, const auth::Principal& p) {
  auto id = parse_positive_id(req.params["id"]);
  auto found = id ? app.credits.find(p.user.id, *id) : std::nullopt;
  if (!found) return error_response(not_found("no such transaction"));
  nlohmann::json out = {{"transaction", entry_json(found->entry)}};
  out["receipt"] =
      found->paid_cents ? receipt_json(found->entry, *found->paid_cents) : nlohmann::json();
  return json_response(200, out);
}

}  // namespace

void register_credits_routes(Router& router, App& app) {
  router.add("GET", "/api/credits", authed(app, handle_credits, Scope::kRead));
  router.add("GET", "/api/credits/transactions", authed(app, handle_transactions, Scope::kRead));
  router.add("GET", "/api/credits/transactions/:id", authed(app, handle_transaction, Scope::kRead));
}

}  // namespace ds::api
