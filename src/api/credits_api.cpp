// GET /api/credits, GET /api/credits/transactions and GET /api/credits/transactions/:id
// (with a receipt for purchases).
#include "api/app.hpp"
#include "store/ledger.hpp"
#include "store/payments.hpp"

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

Response handle_credits(App& app, Request& req) {
  auto p = require_user(app, req);
  if (!p) return error_response(p.error());
  const auto& rate = app.config.rate;
  return json_response(
      200, {{"balance", domain::format_credits(p->user.balance_cents)},
            {"balance_cents", p->user.balance_cents},
            {"remaining_minutes", domain::remaining_minutes(p->user.balance_cents, rate)},
            {"cents_per_minute", rate.cents_per_minute()},
            {"credits_per_hour", domain::format_credits(rate.cents_per_hour)}});
}

Response handle_transactions(App& app, Request& req) {
  auto p = require_user(app, req);
  if (!p) return error_response(p.error());
  long long before = 0;
  int limit = kDefaultPage;
  try {
    if (auto b = req.query_param("before")) before = std::stoll(*b);
    if (auto l = req.query_param("limit")) limit = std::stoi(*l);
  } catch (const std::exception&) {
    return error_response(400, "invalid_query", "before and limit must be numbers");
  }
  if (limit < 1 || limit > kMaxPage || before < 0) {
    return error_response(400, "invalid_query", "limit must be 1–200");
  }
  auto entries = app.db.with(
      [&](soci::session& sql) { return store::list_entries(sql, p->user.id, before, limit + 1); });
  bool more = static_cast<int>(entries.size()) > limit;
  if (more) entries.pop_back();
  auto list = nlohmann::json::array();
  for (const auto& e : entries) list.push_back(entry_json(e));
  nlohmann::json out = {{"transactions", list}};
  out["next_before"] = more ? nlohmann::json(entries.back().id) : nlohmann::json();
  return json_response(200, out);
}

// The receipt of a purchase: what was paid (EUR cents recorded at checkout, which fulfilment
// checked against Stripe's amount_total) and Stripe's ids.
nlohmann::json receipt_json(App& app, const store::LedgerEntry& e) {
  long long paid_cents = e.amount_cents;  // 1 credit = 1 EUR
  if (e.links.checkout_session) {
    auto checkout = app.db.with(
        [&](soci::session& sql) { return store::find_checkout(sql, *e.links.checkout_session); });
    if (checkout) paid_cents = checkout->amount_cents;
  }
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

Response handle_transaction(App& app, Request& req) {
  auto p = require_user(app, req);
  if (!p) return error_response(p.error());
  long long id = 0;
  try {
    std::size_t used = 0;
    id = std::stoll(req.params["id"], &used);
    if (used != req.params["id"].size() || id <= 0) id = 0;
  } catch (const std::exception&) {
    id = 0;
  }
  if (id == 0) return error_response(not_found("no such transaction"));
  auto entry =
      app.db.with([&](soci::session& sql) { return store::find_entry(sql, p->user.id, id); });
  if (!entry) return error_response(not_found("no such transaction"));
  nlohmann::json out = {{"transaction", entry_json(*entry)}};
  out["receipt"] =
      entry->kind == store::kKindPurchase ? receipt_json(app, *entry) : nlohmann::json();
  return json_response(200, out);
}

}  // namespace

void register_credits_routes(Router& router, App& app) {
  router.add("GET", "/api/credits", [&app](Request& r) { return handle_credits(app, r); });
  router.add("GET", "/api/credits/transactions",
             [&app](Request& r) { return handle_transactions(app, r); });
  router.add("GET", "/api/credits/transactions/:id",
             [&app](Request& r) { return handle_transaction(app, r); });
}

}  // namespace ds::api
