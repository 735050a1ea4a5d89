#include "auth/rate_limiter.hpp"

#include <gtest/gtest.h>

#include "util/clock.hpp"

using ds::ManualClock;
using ds::auth::RateLimiter;

namespace {
constexpr std::int64_t kWindow = 60'000;
}

TEST(RateLimiter, NotBlockedBeforeAnyEvent) {
  ManualClock clock;
  RateLimiter limiter(clock, 3, kWindow);
  EXPECT_FALSE(limiter.blocked("k"));
}

TEST(RateLimiter, BlocksWhenTheLimitIsReached) {
  ManualClock clock;
  RateLimiter limiter(clock, 3, kWindow);
  limiter.hit("k");
  limiter.hit("k");
  EXPECT_FALSE(limiter.blocked("k"));
  limiter.hit("k");
  EXPECT_TRUE(limiter.blocked("k"));
}

TEST(RateLimiter, KeysAreIndependent) {
  ManualClock clock;
  RateLimiter limiter(clock, 1, kWindow);
  limiter.hit("a");
  EXPECT_TRUE(limiter.blocked("a"));
  EXPECT_FALSE(limiter.blocked("b"));
}

TEST(RateLimiter, UnblocksWhenTheWindowPasses) {
  ManualClock clock;
  RateLimiter limiter(clock, 2, kWindow);
  limiter.hit("k");
  limiter.hit("k");
  clock.advance_ms(kWindow - 1);
  EXPECT_TRUE(limiter.blocked("k"));
  clock.advance_ms(1);
  EXPECT_FALSE(limiter.blocked("k"));
}

TEST(RateLimiter, ANewWindowStartsCountingFromZero) {
  ManualClock clock;
  RateLimiter limiter(clock, 2, kWindow);
  limiter.hit("k");
  limiter.hit("k");
  clock.advance_ms(kWindow);
  limiter.hit("k");
  EXPECT_FALSE(limiter.blocked("k"));
  limiter.hit("k");
  EXPECT_TRUE(limiter.blocked("k"));
}

TEST(RateLimiter, ResetClearsTheKey) {
  ManualClock clock;
  RateLimiter limiter(clock, 1, kWindow);
  limiter.hit("k");
  limiter.reset("k");
  EXPECT_FALSE(limiter.blocked("k"));
}

TEST(RateLimiter, AllowCountsAndRefusesPastTheLimit) {
  ManualClock clock;
  RateLimiter limiter(clock, 2, kWindow);
  EXPECT_TRUE(limiter.allow("k"));
  EXPECT_TRUE(limiter.allow("k"));
  EXPECT_FALSE(limiter.allow("k"));
  EXPECT_FALSE(limiter.allow("k"));
  clock.advance_ms(kWindow);
  EXPECT_TRUE(limiter.allow("k"));
}

TEST(RateLimiter, RefusedAllowDoesNotExtendTheBlock) {
  ManualClock clock;
  RateLimiter limiter(clock, 1, kWindow);
  EXPECT_TRUE(limiter.allow("k"));
  clock.advance_ms(kWindow / 2);
  EXPECT_FALSE(limiter.allow("k"));
  clock.advance_ms(kWindow / 2);
  EXPECT_TRUE(limiter.allow("k"));
}

TEST(RateLimiter, ExpiredKeysArePrunedAndStartFresh) {
  ManualClock clock;
  RateLimiter limiter(clock, 1, kWindow);
  for (int i = 0; i < 1000; ++i) limiter.hit("key" + std::to_string(i));
  clock.advance_ms(2 * kWindow);
  EXPECT_FALSE(limiter.blocked("key0"));  // also prunes
  EXPECT_TRUE(limiter.allow("key999"));
}
