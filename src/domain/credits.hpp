// Credits arithmetic (docs/payments.md): integer credit-cents, per-started-minute billing,
// remaining minutes.
#pragma once

#include <cstdint>
#include <string>

namespace ds::domain {

inline constexpr std::int64_t kCentsPerCredit = 100;
inline constexpr std::int64_t kSignupBonusCents = 12 * kCentsPerCredit;
inline constexpr std::int64_t kMsPerMinute = 60'000;

struct BillingRate {
  // 12 credits an hour is 1200 credit-cents / 60 minutes = 20 a minute.
  std::int64_t cents_per_hour = 12 * kCentsPerCredit;

  // The most any one minute costs: the hourly price over 60, rounded up (what clients show).
  std::int64_t cents_per_minute() const;
  // What the n-th started minute (1-based) of a stream costs. The first n minutes together
  // cost ceil(n × cents_per_hour / 60), so an hour costs exactly the hourly price and a stream
  // never pays less than its share, whatever the price (1250 an hour: 21 or 20 a minute).
  std::int64_t cents_for_minute(std::int64_t n) const;
};

// Cumulative price of the first n minutes of a stream: ceil(n × cents_per_hour / 60).
std::int64_t cents_for_minutes(std::int64_t n, const BillingRate& rate);

// Whole minutes the balance still pays for at the start of a stream (never negative):
// the largest n with cents_for_minutes(n) <= balance.
std::int64_t remaining_minutes(std::int64_t balance_cents, const BillingRate& rate);

// Started minutes for a duration: 0 ms → 0, 1..60000 ms → 1, 60001..120000 → 2, ...
std::int64_t started_minutes(std::int64_t duration_ms);

// Minutes a stream owes: the first frame opens minute 1, and each further started minute in
// which frames still arrive adds one (2 s → 1, 60 s → 1, 64 s → 2). 0 before any frame.
std::int64_t billable_minutes(std::int64_t first_frame_ms, std::int64_t last_frame_ms);

// "12.00"-style rendering of credit-cents (sign kept).
std::string format_credits(std::int64_t cents);

}  // namespace ds::domain
