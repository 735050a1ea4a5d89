#include "net/connection_limits.hpp"

#include <gtest/gtest.h>

using ds::net::ConnectionLimits;

TEST(ConnectionLimits, PerAddressLimitLeavesOtherAddressesAlone) {
  auto limits = std::make_shared<ConnectionLimits>(10, 2);
  auto a1 = limits->try_acquire("10.0.0.1");
  auto a2 = limits->try_acquire("10.0.0.1");
  ASSERT_TRUE(a1);
  ASSERT_TRUE(a2);
  EXPECT_FALSE(limits->try_acquire("10.0.0.1"));
  EXPECT_TRUE(limits->try_acquire("10.0.0.2"));
  a1.reset();  // a closed connection frees its slot
  EXPECT_TRUE(limits->try_acquire("10.0.0.1"));
}

TEST(ConnectionLimits, GlobalLimitAndRelease) {
  auto limits = std::make_shared<ConnectionLimits>(3, 0);
  std::vector<ds::net::ConnectionSlot> held;
  for (int i = 0; i < 3; ++i) held.push_back(limits->try_acquire("a" + std::to_string(i)));
  EXPECT_EQ(limits->open(), 3u);
  EXPECT_FALSE(limits->try_acquire("b"));
  held.clear();
  EXPECT_EQ(limits->open(), 0u);
  EXPECT_EQ(limits->open_from("a0"), 0u);
  EXPECT_TRUE(limits->try_acquire("b"));
}

TEST(ConnectionLimits, SlotsOutliveTheirOwner) {
  auto limits = std::make_shared<ConnectionLimits>(1, 1);
  auto slot = limits->try_acquire("x");
  std::weak_ptr<ConnectionLimits> weak = limits;
  limits.reset();
  EXPECT_FALSE(weak.expired());  // the slot keeps the counters alive
  slot.reset();
  EXPECT_TRUE(weak.expired());
}
