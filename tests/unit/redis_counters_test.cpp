// RedisCounters against a real redis-server: one allowance shared by every link.
#include "cluster/redis_counters.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "redis_server.hpp"

using namespace std::chrono_literals;
using ds::cluster::RedisAddress;
using ds::cluster::RedisCounters;
using ds::cluster::RedisLink;
using ds::test::eventually;

namespace {

class RedisCountersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.start());
    RedisAddress addr{"127.0.0.1", server_.port(), 0};
    link_a_ = std::make_unique<RedisLink>(addr, "node-a");
    link_b_ = std::make_unique<RedisLink>(addr, "node-b");
    link_a_->start();
    link_b_->start();
    ASSERT_TRUE(eventually([&] { return link_a_->connected() && link_b_->connected(); }));
  }

  ds::test::RedisServer server_;
  std::unique_ptr<RedisLink> link_a_;
  std::unique_ptr<RedisLink> link_b_;
};

}  // namespace

TEST_F(RedisCountersTest, TwoNodesShareOneAllowance) {
  RedisCounters a(*link_a_);
  RedisCounters b(*link_b_);
  EXPECT_EQ(a.take("login:k", 3, 60'000), true);
  EXPECT_EQ(b.take("login:k", 3, 60'000), true);
  EXPECT_EQ(a.take("login:k", 3, 60'000), true);
  EXPECT_EQ(b.take("login:k", 3, 60'000), false);
  EXPECT_EQ(a.take("login:k", 3, 60'000), false);
  EXPECT_EQ(a.take("login:other", 3, 60'000), true);

  auto count = link_a_->call({"GET", "ds:rl:login:k"}, 1s);
  ASSERT_TRUE(count);
  EXPECT_EQ(count->str, "3");  // refused takes leave no trace
  auto ttl = link_a_->call({"PTTL", "ds:rl:login:k"}, 1s);
  ASSERT_TRUE(ttl);
  EXPECT_GT(ttl->integer, 0);
  EXPECT_LE(ttl->integer, 60'000);

  b.give_back("login:k");
  EXPECT_EQ(b.take("login:k", 3, 60'000), true);
  EXPECT_EQ(a.take("login:k", 3, 60'000), false);
  // Sent in order on a's link; on another link it could land after a take.
  a.reset("login:k");
  EXPECT_EQ(a.take("login:k", 3, 60'000), true);
  EXPECT_EQ(b.take("login:k", 3, 60'000), true);
}

TEST_F(RedisCountersTest, GiveBackNeverGoesBelowZeroNorCreatesACounter) {
  RedisCounters a(*link_a_);
  a.give_back("nothing");
  auto exists = link_a_->call({"EXISTS", "ds:rl:nothing"}, 1s);
  ASSERT_TRUE(exists);
  EXPECT_EQ(exists->integer, 0);
}

TEST_F(RedisCountersTest, WindowExpiresAndStartsFresh) {
  RedisCounters a(*link_a_);
  RedisCounters b(*link_b_);
  EXPECT_EQ(a.take("w", 1, 150), true);
  EXPECT_EQ(b.take("w", 1, 150), false);
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(b.take("w", 1, 150), true);
  EXPECT_EQ(a.take("w", 1, 150), false);
}

TEST_F(RedisCountersTest, UnreachableRedisAnswersNullopt) {
  RedisCounters a(*link_a_);
  server_.kill();
  ASSERT_TRUE(eventually([&] { return !link_a_->connected(); }));
  EXPECT_EQ(a.take("k", 1, 1000), std::nullopt);
}
