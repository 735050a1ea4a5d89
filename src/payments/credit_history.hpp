// A user's credits ledger as they see it: their transactions, newest first, and one
// transaction with the receipt of a purchase.
#pragma once

#include <optional>
#include <vector>

#include "store/database.hpp"
#include "store/ledger.hpp"

namespace ds::payments {

struct Transaction {
  store::LedgerEntry entry;
  // For a purchase: the EUR cents paid (recorded at checkout, which fulfilment checked against
  // Stripe's amount_total); the credited amount when the checkout row is gone (1 credit = 1 EUR).
  std::optional<long long> paid_cents;
};

class CreditHistory {
 public:
  explicit CreditHistory(store::Database& db) : db_(db) {}

  // Newest first, older than before_id (0: from the newest), at most limit entries.
  std::vector<store::LedgerEntry> list(long long user_id, long long before_id, int limit);
  // One of user_id's own entries; none for another user's.
  std::optional<Transaction> find(long long user_id, long long entry_id);

 private:
  store::Database& db_;
};

}  // namespace ds::payments
