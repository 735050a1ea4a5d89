#include "domain/rate_meter.hpp"

#include <gtest/gtest.h>

using ds::domain::RateMeter;

TEST(RateMeter, MeasuresPerSecondSinceThePreviousSample) {
  RateMeter m(1'000);
  EXPECT_DOUBLE_EQ(m.sample(2'000, 15), 15.0);
  EXPECT_DOUBLE_EQ(m.sample(2'500, 20), 10.0);  // 5 frames in half a second
  EXPECT_DOUBLE_EQ(m.rate(), 10.0);
}

TEST(RateMeter, StartsAtZero) {
  RateMeter m;
  EXPECT_DOUBLE_EQ(m.rate(), 0.0);
}

TEST(RateMeter, NoElapsedTimeKeepsThePreviousRate) {
  RateMeter m(0);
  m.sample(1'000, 4);
  EXPECT_DOUBLE_EQ(m.sample(1'000, 9), 4.0);
  // The sample still moves the baseline: the next rate counts from 9, not 4.
  EXPECT_DOUBLE_EQ(m.sample(2'000, 10), 1.0);
}

TEST(RateMeter, NoNewFramesIsZero) {
  RateMeter m(0);
  m.sample(1'000, 30);
  EXPECT_DOUBLE_EQ(m.sample(2'000, 30), 0.0);
}
