#include "auth/rate_limiter.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "util/clock.hpp"

using ds::ManualClock;
using ds::auth::RateLimiter;

namespace {
constexpr std::int64_t kWindow = 60'000;
}

TEST(RateLimiter, AllowsUpToTheLimitThenRefuses) {
  ManualClock clock;
  RateLimiter limiter(clock, 3, kWindow);
  EXPECT_TRUE(limiter.allow("k"));
  EXPECT_TRUE(limiter.allow("k"));
  EXPECT_TRUE(limiter.allow("k"));
  EXPECT_FALSE(limiter.allow("k"));
}

TEST(RateLimiter, KeysAreIndependent) {
  ManualClock clock;
  RateLimiter limiter(clock, 1, kWindow);
  EXPECT_TRUE(limiter.allow("a"));
  EXPECT_FALSE(limiter.allow("a"));
  EXPECT_TRUE(limiter.allow("b"));
}

TEST(RateLimiter, UnblocksWhenTheWindowPasses) {
  ManualClock clock;
  RateLimiter limiter(clock, 2, kWindow);
  EXPECT_TRUE(limiter.allow("k"));
  EXPECT_TRUE(limiter.allow("k"));
  clock.advance_ms(kWindow - 1);
  EXPECT_FALSE(limiter.allow("k"));
  clock.advance_ms(1);
  EXPECT_TRUE(limiter.allow("k"));
}

TEST(RateLimiter, ResetClearsTheKey) {
  ManualClock clock;
  RateLimiter limiter(clock, 1, kWindow);
  EXPECT_TRUE(limiter.allow("k"));
  limiter.reset("k");
  EXPECT_TRUE(limiter.allow("k"));
}

TEST(RateLimiter, ReleaseGivesOneSlotBack) {
  ManualClock clock;
  RateLimiter limiter(clock, 2, kWindow);
  EXPECT_TRUE(limiter.allow("k"));
  EXPECT_TRUE(limiter.allow("k"));
  limiter.release("k");
  EXPECT_TRUE(limiter.allow("k"));
  EXPECT_FALSE(limiter.allow("k"));
}

TEST(RateLimiter, ReleaseNeverCreditsMoreThanWasTaken) {
  ManualClock clock;
  RateLimiter limiter(clock, 1, kWindow);
  limiter.release("k");
  limiter.release("k");
  EXPECT_TRUE(limiter.allow("k"));
  EXPECT_FALSE(limiter.allow("k"));
  // A slot of a finished window is not given back into the next one.
  clock.advance_ms(kWindow);
  EXPECT_TRUE(limiter.allow("k"));
  limiter.release("k");
  limiter.release("k");
  EXPECT_TRUE(limiter.allow("k"));
  EXPECT_FALSE(limiter.allow("k"));
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
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(limiter.allow("key" + std::to_string(i)));
  clock.advance_ms(2 * kWindow);
  EXPECT_TRUE(limiter.allow("key0"));  // also prunes
  EXPECT_TRUE(limiter.allow("key999"));
}

// The check and the count are one operation: however many threads race, exactly max_events
// attempts get through in one window (with blocked() then hit() several could pass the check
// before any of them counted).
TEST(RateLimiter, ParallelAttemptsNeverTakeMoreThanTheLimit) {
  ManualClock clock;
  constexpr int kLimit = 5;
  for (int round = 0; round < 50; ++round) {
    RateLimiter limiter(clock, kLimit, kWindow);
    std::atomic<int> allowed{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 16; ++t) {
      threads.emplace_back([&] {
        while (!go) std::this_thread::yield();
        for (int i = 0; i < 50; ++i) {
          if (limiter.allow("user:1|addr:10.0.0.1")) allowed++;
        }
      });
    }
    go = true;
    for (auto& t : threads) t.join();
    ASSERT_EQ(allowed.load(), kLimit) << "round " << round;
  }
}

namespace {

// Counters as a shared store would keep them, in memory; `away` makes every take unanswered.
class FakeSharedCounters : public ds::SharedCounters {
 public:
  std::optional<bool> take(const std::string& key, int max_events, std::int64_t) override {
    keys.push_back(key);
    if (away) return std::nullopt;
    if (counts[key] >= max_events) return false;
    counts[key]++;
    return true;
  }
  void give_back(const std::string& key) override {
    if (counts[key] > 0) counts[key]--;
  }
  void reset(const std::string& key) override { counts.erase(key); }

  bool away = false;
  std::map<std::string, int> counts;
  std::vector<std::string> keys;
};

}  // namespace

TEST(RateLimiter, SharedCountsHoldAcrossLimiters) {
  ManualClock clock;
  FakeSharedCounters shared;
  RateLimiter node_a(clock, 3, kWindow);
  RateLimiter node_b(clock, 3, kWindow);
  node_a.share(&shared, "login");
  node_b.share(&shared, "login");
  EXPECT_TRUE(node_a.allow("k"));
  EXPECT_TRUE(node_b.allow("k"));
  EXPECT_TRUE(node_a.allow("k"));
  EXPECT_FALSE(node_b.allow("k"));
  EXPECT_FALSE(node_a.allow("k"));
  EXPECT_EQ(shared.keys.back(), "login:k");

  node_b.release("k");
  EXPECT_TRUE(node_a.allow("k"));
  EXPECT_FALSE(node_a.allow("k"));
  node_a.reset("k");
  EXPECT_TRUE(node_b.allow("k"));
}

TEST(RateLimiter, ScopesKeepSharedCountsApart) {
  ManualClock clock;
  FakeSharedCounters shared;
  RateLimiter chat(clock, 1, kWindow);
  RateLimiter style(clock, 1, kWindow);
  chat.share(&shared, "chat");
  style.share(&shared, "style");
  EXPECT_TRUE(chat.allow("u1"));
  EXPECT_TRUE(style.allow("u1"));
  EXPECT_FALSE(chat.allow("u1"));
  EXPECT_EQ(shared.counts.count("chat:u1"), 1u);
  EXPECT_EQ(shared.counts.count("style:u1"), 1u);
}

TEST(RateLimiter, FallsBackToLocalCountsWhenTheSharedStoreIsAway) {
  ManualClock clock;
  FakeSharedCounters shared;
  shared.away = true;
  RateLimiter limiter(clock, 2, kWindow);
  limiter.share(&shared, "s");
  EXPECT_TRUE(limiter.allow("k"));
  EXPECT_TRUE(limiter.allow("k"));
  EXPECT_FALSE(limiter.allow("k"));
  EXPECT_EQ(shared.keys.size(), 3u);
  clock.advance_ms(kWindow);
  EXPECT_TRUE(limiter.allow("k"));
}
