// Operator grants and adjustments of credits (`dreamstream admin credits grant`).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "store/database.hpp"
#include "util/clock.hpp"
#include "util/expected.hpp"

namespace ds::payments {

// "12", "-3", "+1.5", "0.25" → credit-cents; nullopt for anything else (more than two
// decimals, no digits, overflow).
std::optional<std::int64_t> parse_credit_amount(std::string_view text);

struct GrantResult {
  long long user_id = 0;
  long long entry_id = 0;
  long long balance_cents = 0;
};

// Appends an admin_adjustment entry for the user (by username, any case). A negative amount
// may not take the balance below 0: that is an error and nothing changes. 0 is refused.
Expected<GrantResult> grant_credits(store::Database& db, const Clock& clock,
                                    const std::string& username, std::int64_t amount_cents,
                                    const std::string& note);

}  // namespace ds::payments
