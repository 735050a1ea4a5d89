#include "domain/credits.hpp"

#include <cstdio>

namespace ds::domain {

std::int64_t BillingRate::cents_per_minute() const {
  if (cents_per_hour <= 0) return 0;
  return (cents_per_hour + 59) / 60;
}

std::int64_t cents_for_minutes(std::int64_t n, const BillingRate& rate) {
  if (n <= 0 || rate.cents_per_hour <= 0) return 0;
  // ceil(n × r / 60) without overflowing n × r: whole hours first, then the rest.
  auto hours = n / 60, rest = n % 60;
  return hours * rate.cents_per_hour + (rest * rate.cents_per_hour + 59) / 60;
}

std::int64_t BillingRate::cents_for_minute(std::int64_t n) const {
  if (n <= 0) return 0;
  return cents_for_minutes(n, *this) - cents_for_minutes(n - 1, *this);
}

std::int64_t remaining_minutes(std::int64_t balance_cents, const BillingRate& rate) {
  auto r = rate.cents_per_hour;
  if (balance_cents <= 0 || r <= 0) return 0;
  // floor(balance × 60 / r), split so balance × 60 cannot overflow.
  return balance_cents / r * 60 + balance_cents % r * 60 / r;
}

std::int64_t started_minutes(std::int64_t duration_ms) {
  if (duration_ms <= 0) return 0;
  return (duration_ms + kMsPerMinute - 1) / kMsPerMinute;
}

std::int64_t billable_minutes(std::int64_t first_frame_ms, std::int64_t last_frame_ms) {
  if (first_frame_ms <= 0) return 0;
  auto m = started_minutes(last_frame_ms - first_frame_ms);
  return m < 1 ? 1 : m;
}

std::string format_credits(std::int64_t cents) {
  bool negative = cents < 0;
  std::uint64_t abs =
      negative ? static_cast<std::uint64_t>(-(cents + 1)) + 1 : static_cast<std::uint64_t>(cents);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%s%llu.%02llu", negative ? "-" : "",
                static_cast<unsigned long long>(abs / 100),
                static_cast<unsigned long long>(abs % 100));
  return buf;
}

}  // namespace ds::domain
