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
  EXPECT_EQ(remaining_minutes(1200, BillingRate{30}), 0);  // under 1 cent a minute
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
