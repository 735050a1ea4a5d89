#include "domain/credits.hpp"

#include <cstdio>

namespace ds::domain {

std::int64_t remaining_minutes(std::int64_t balance_cents, const BillingRate& rate) {
  auto per_minute = rate.cents_per_minute();
  if (balance_cents <= 0 || per_minute <= 0) return 0;
  return balance_cents / per_minute;
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
  std::uint64_t abs = negative ? static_cast<std::uint64_t>(-(cents + 1)) + 1
                               : static_cast<std::uint64_t>(cents);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%s%llu.%02llu", negative ? "-" : "",
                static_cast<unsigned long long>(abs / 100),
                static_cast<unsigned long long>(abs % 100));
  return buf;
}

}  // namespace ds::domain
