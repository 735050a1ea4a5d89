#include "payments/credit_grants.hpp"

#include <algorithm>
#include <cctype>

#include "store/ledger.hpp"
#include "store/users.hpp"

namespace ds::payments {

std::optional<std::int64_t> parse_credit_amount(std::string_view text) {
  bool negative = false;
  if (!text.empty() && (text.front() == '-' || text.front() == '+')) {
    negative = text.front() == '-';
    text.remove_prefix(1);
  }
  auto dot = text.find('.');
  std::string_view whole = text.substr(0, dot);
  std::string_view fraction = dot == std::string_view::npos ? "" : text.substr(dot + 1);
  if (whole.empty() && fraction.empty()) return std::nullopt;
  if (dot != std::string_view::npos && fraction.empty()) return std::nullopt;
  if (fraction.size() > 2 || whole.size() > 12) return std::nullopt;
  auto digits = [](std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (!digits(whole) || !digits(fraction)) return std::nullopt;
  std::int64_t cents = 0;
  for (char c : whole) cents = cents * 10 + (c - '0');
  cents *= 100;
  if (!fraction.empty()) {
    std::int64_t f = 0;
    for (char c : fraction) f = f * 10 + (c - '0');
    cents += fraction.size() == 1 ? f * 10 : f;
  }
  return negative ? -cents : cents;
}

Expected<GrantResult> grant_credits(store::Database& db, const Clock& clock,
                                    const std::string& username, std::int64_t amount_cents,
                                    const std::string& note) {
  if (amount_cents == 0) return bad_request("the amount must not be 0", "invalid_credits");
  std::string canonical = username;
  std::transform(canonical.begin(), canonical.end(), canonical.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  auto now = clock.now_ms();
  return db.write([&](soci::session& sql) -> Expected<GrantResult> {
    auto user = store::find_user_by_username(sql, canonical);
    if (!user) return not_found("no such user: " + username);
    store::LedgerLinks links;
    links.note = note;
    auto balance =
        store::append_entry(sql, user->id, store::kKindAdminAdjustment, amount_cents, links, now);
    if (!balance) {
      return conflict("the adjustment would take the balance below 0", "insufficient_balance");
    }
    GrantResult result;
    result.user_id = user->id;
    result.balance_cents = *balance;
    auto entries = store::list_entries(sql, user->id, 0, 1);
    if (!entries.empty()) result.entry_id = entries.front().id;
    return result;
  });
}

}  // namespace ds::payments
