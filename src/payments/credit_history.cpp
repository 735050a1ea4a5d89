#include "payments/credit_history.hpp"

#include "store/payments.hpp"

namespace ds::payments {

std::vector<store::LedgerEntry> CreditHistory::list(long long user_id, long long before_id,
                                                    int limit) {
  return db_.with(
      [&](soci::session& sql) { return store::list_entries(sql, user_id, before_id, limit); });
}

std::optional<Transaction> CreditHistory::find(long long user_id, long long entry_id) {
  return db_.with([&](soci::session& sql) -> std::optional<Transaction> {
    auto entry = store::find_entry(sql, user_id, entry_id);
    if (!entry) return std::nullopt;
    Transaction t{*entry, std::nullopt};
    if (entry->kind != store::kKindPurchase) return t;
    t.paid_cents = entry->amount_cents;
    if (entry->links.checkout_session) {
      auto checkout = store::find_checkout(sql, *entry->links.checkout_session);
      if (checkout) t.paid_cents = checkout->amount_cents;
    }
    return t;
  });
}

}  // namespace ds::payments
