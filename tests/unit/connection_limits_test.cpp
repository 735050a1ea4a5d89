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

TEST(ConnectionLimits, ATrustedProxysConnectionsCountTheClientsItNames) {
  // Issue 20 item 9: the proxy's own connections hold the total's slots only; each client
  // behind it is held to the per-address limit on its own.
  auto limits = std::make_shared<ConnectionLimits>(10, 2);
  std::vector<ds::net::ConnectionSlot> proxy;
  for (int i = 0; i < 5; ++i) proxy.push_back(limits->try_acquire_proxied());
  for (const auto& s : proxy) ASSERT_TRUE(s);
  EXPECT_EQ(limits->open(), 5u);
  auto a1 = limits->try_acquire_client("203.0.113.5");
  auto a2 = limits->try_acquire_client("203.0.113.5");
  ASSERT_TRUE(a1);
  ASSERT_TRUE(a2);
  EXPECT_FALSE(limits->try_acquire_client("203.0.113.5"));
  EXPECT_TRUE(limits->try_acquire_client("203.0.113.6"));
  EXPECT_EQ(limits->open(), 5u);  // clients are not connections of their own
  EXPECT_EQ(limits->open_from("203.0.113.5"), 2u);
  a1.reset();
  EXPECT_EQ(limits->open_from("203.0.113.5"), 1u);
  proxy.clear();
  EXPECT_EQ(limits->open(), 0u);
  for (int i = 0; i < 10; ++i) proxy.push_back(limits->try_acquire_proxied());
  EXPECT_FALSE(limits->try_acquire_proxied());  // the total still binds the proxy
}
