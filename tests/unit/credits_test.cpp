#include "domain/credits.hpp"

#include <gtest/gtest.h>

#include <limits>

using namespace ds::domain;

TEST(Credits, SignupBonusIsTwelveCredits) { EXPECT_EQ(kSignupBonusCents, 1200); }

TEST(Credits, DefaultRateIsTwentyCentsAMinute) {
  BillingRate rate;
  EXPECT_EQ(rate.cents_per_hour, 1200);
  EXPECT_EQ(rate.cents_per_minute(), 20);
}

TEST(Credits, TwelveCreditsPayForSixtyMinutes) {
  EXPECT_EQ(remaining_minutes(1200, BillingRate{}), 60);
}

TEST(Credits, RemainingMinutesRoundDown) {
  EXPECT_EQ(remaining_minutes(19, BillingRate{}), 0);
  EXPECT_EQ(remaining_minutes(20, BillingRate{}), 1);
  EXPECT_EQ(remaining_minutes(39, BillingRate{}), 1);
}

TEST(Credits, RemainingMinutesNeverNegative) {
  EXPECT_EQ(remaining_minutes(0, BillingRate{}), 0);
  EXPECT_EQ(remaining_minutes(-500, BillingRate{}), 0);
}

TEST(Credits, RemainingMinutesWithZeroRateIsZeroNotADivisionByZero) {
  EXPECT_EQ(remaining_minutes(1200, BillingRate{0}), 0);
  EXPECT_EQ(remaining_minutes(1200, BillingRate{-60}), 0);
}

TEST(Credits, RemainingMinutesAtAnOddRateMatchWhatBillingCharges) {
  // 30 cents an hour: a minute costs half a cent; 1200 cents pay for 2400 minutes.
  EXPECT_EQ(remaining_minutes(1200, BillingRate{30}), 2400);
  BillingRate rate{1250};
  EXPECT_EQ(remaining_minutes(1250, rate), 60);
  EXPECT_EQ(remaining_minutes(1249, rate), 59);
  for (std::int64_t balance : {0, 1, 20, 21, 22, 999, 1250, 4321}) {
    auto n = remaining_minutes(balance, rate);
    EXPECT_LE(cents_for_minutes(n, rate), balance);
    EXPECT_GT(cents_for_minutes(n + 1, rate), balance);
  }
}

// With integer division 1250 an hour was 20 a minute: an hour cost 1200, 50 short (and any
// price under 60 an hour streamed for free).
TEST(Credits, AnHourCostsExactlyTheHourlyPriceWhateverThePrice) {
  for (std::int64_t per_hour : {1200, 1250, 100, 30, 1, 59, 61, 119, 99999}) {
    BillingRate rate{per_hour};
    std::int64_t total = 0;
    for (std::int64_t n = 1; n <= 60; ++n) total += rate.cents_for_minute(n);
    EXPECT_EQ(total, per_hour) << per_hour;
    std::int64_t two_hours = total;
    for (std::int64_t n = 61; n <= 120; ++n) two_hours += rate.cents_for_minute(n);
    EXPECT_EQ(two_hours, 2 * per_hour) << per_hour;
  }
}

TEST(Credits, NoStreamPaysLessThanItsShare) {
  for (std::int64_t per_hour : {1250, 100, 30, 7, 1201}) {
    BillingRate rate{per_hour};
    std::int64_t total = 0;
    for (std::int64_t n = 1; n <= 200; ++n) {
      total += rate.cents_for_minute(n);
      // total >= n × per_hour / 60, and less than a cent over it.
      EXPECT_GE(total * 60, n * per_hour) << per_hour << " minute " << n;
      EXPECT_LT(total * 60, n * per_hour + 60) << per_hour << " minute " << n;
      EXPECT_LE(rate.cents_for_minute(n), rate.cents_per_minute());
    }
  }
}

TEST(Credits, PerMinuteChargesAtTwelveCreditsAnHourAreTwentyEach) {
  BillingRate rate;
  for (std::int64_t n = 1; n <= 90; ++n) EXPECT_EQ(rate.cents_for_minute(n), 20);
  EXPECT_EQ(rate.cents_for_minute(0), 0);
  EXPECT_EQ(BillingRate{1250}.cents_per_minute(), 21);
  EXPECT_EQ(BillingRate{1250}.cents_for_minute(1), 21);
  EXPECT_EQ(BillingRate{0}.cents_for_minute(1), 0);
}

TEST(Credits, RemainingMinutesFollowConfiguredRate) {
  EXPECT_EQ(remaining_minutes(1200, BillingRate{2400}), 30);
}

TEST(Credits, StartedMinutesBillEveryStartedMinute) {
  EXPECT_EQ(started_minutes(0), 0);
  EXPECT_EQ(started_minutes(-5), 0);
  EXPECT_EQ(started_minutes(1), 1);
  EXPECT_EQ(started_minutes(2'000), 1);
  EXPECT_EQ(started_minutes(60'000), 1);
  EXPECT_EQ(started_minutes(60'001), 2);
  EXPECT_EQ(started_minutes(64'000), 2);
  EXPECT_EQ(started_minutes(120'000), 2);
}

TEST(Credits, BillableMinutesStartAtTheFirstFrame) {
  EXPECT_EQ(billable_minutes(0, 0), 0);
  EXPECT_EQ(billable_minutes(1'000, 1'000), 1);
  EXPECT_EQ(billable_minutes(1'000, 3'000), 1);
  EXPECT_EQ(billable_minutes(1'000, 65'000), 2);
}

TEST(Credits, FormatsCentsWithTwoDecimals) {
  EXPECT_EQ(format_credits(1200), "12.00");
  EXPECT_EQ(format_credits(0), "0.00");
  EXPECT_EQ(format_credits(5), "0.05");
  EXPECT_EQ(format_credits(1180), "11.80");
  EXPECT_EQ(format_credits(123456789), "1234567.89");
}

TEST(Credits, FormatsNegativeAmountsWithTheSign) {
  EXPECT_EQ(format_credits(-20), "-0.20");
  EXPECT_EQ(format_credits(-1200), "-12.00");
}

TEST(Credits, FormatsExtremeValuesWithoutOverflow) {
  EXPECT_EQ(format_credits(std::numeric_limits<std::int64_t>::max()), "92233720368547758.07");
  EXPECT_EQ(format_credits(std::numeric_limits<std::int64_t>::min()), "-92233720368547758.08");
}
