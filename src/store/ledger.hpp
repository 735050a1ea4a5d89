// The credits ledger: append-only entries plus the cached balance on users, moved together.
#pragma once

#include <soci/soci.h>

#include <optional>
#include <string>
#include <vector>

namespace ds::store {

inline constexpr const char* kKindSignupBonus = "signup_bonus";
inline constexpr const char* kKindPurchase = "purchase";
inline constexpr const char* kKindStreamUsage = "stream_usage";
inline constexpr const char* kKindRefund = "refund";
inline constexpr const char* kKindAdminAdjustment = "admin_adjustment";

struct LedgerLinks {
  std::optional<long long> stream_session_id;
  std::optional<long long> minute_index;
  std::optional<std::string> checkout_session;
  std::optional<std::string> payment_intent;
  std::optional<std::string> event_id;
  std::string note;
};

struct LedgerEntry {
  long long id = 0;
  long long user_id = 0;
  std::string kind;
  long long amount_cents = 0;
  long long balance_after_cents = 0;
  LedgerLinks links;
  long long created_ms = 0;
};

// Appends an entry and moves the cached balance; call inside Database::write so both land
// together. Returns the new balance, or nullopt (and changes nothing) when the balance would
// go negative. A duplicate (same usage minute, same checkout session) throws a unique
// violation, which callers treat as "already done".
std::optional<long long> append_entry(soci::session& sql, long long user_id,
                                      const std::string& kind, long long amount_cents,
                                      const LedgerLinks& links, long long now_ms);

// Newest first; before_id = 0 starts at the newest.
std::vector<LedgerEntry> list_entries(soci::session& sql, long long user_id, long long before_id,
                                      int limit);
std::optional<LedgerEntry> find_entry(soci::session& sql, long long user_id, long long entry_id);

struct LedgerMismatch {
  long long user_id = 0;
  long long balance_cents = 0;
  long long ledger_sum_cents = 0;
};
// Users whose cached balance differs from the sum of their ledger entries.
std::vector<LedgerMismatch> verify_ledger(soci::session& sql);

}  // namespace ds::store
