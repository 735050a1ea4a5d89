// SharedFetch (util/shared_fetch.hpp): at most one fetch per key per interval, shared by the
// callers that come while it runs; time from a manual clock.
#include "util/shared_fetch.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>
#include <vector>

namespace ds {
namespace {

using namespace std::chrono_literals;

TEST(SharedFetch, OneFetchPerKeyPerInterval) {
  ManualClock clock;
  SharedFetch<std::string> cache(clock, 1000);
  int calls = 0;
  auto fetch = [&] { return "picture " + std::to_string(++calls); };
  EXPECT_EQ(*cache.get("alice", fetch), "picture 1");
  clock.advance_ms(999);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(*cache.get("alice", fetch), "picture 1");
  EXPECT_EQ(calls, 1);
  // Another stream has its own.
  EXPECT_EQ(*cache.get("bob", fetch), "picture 2");
  clock.advance_ms(1);  // the interval since alice's fetch has passed
  EXPECT_EQ(*cache.get("alice", fetch), "picture 3");
  EXPECT_EQ(*cache.get("bob", fetch), "picture 2");
  EXPECT_EQ(cache.fetches(), 3u);
}

TEST(SharedFetch, CallersDuringAFetchWaitForItAndShareIt) {
  ManualClock clock;
  SharedFetch<std::string> cache(clock, 1000);
  std::promise<void> release;
  auto released = release.get_future().share();
  std::atomic<int> calls{0};
  std::atomic<bool> started{false};
  auto fetch = [&] {
    ++calls;
    started = true;
    released.wait();
    return std::string("shared");
  };
  auto first = std::async(std::launch::async, [&] { return *cache.get("alice", fetch); });
  while (!started) std::this_thread::yield();
  std::vector<std::future<std::string>> others;
  for (int i = 0; i < 16; ++i) {
    others.push_back(std::async(std::launch::async, [&] { return *cache.get("alice", fetch); }));
  }
  release.set_value();
  EXPECT_EQ(first.get(), "shared");
  for (auto& f : others) EXPECT_EQ(f.get(), "shared");
  EXPECT_EQ(calls.load(), 1);
}

TEST(SharedFetch, AFailedFetchFailsItsWaitersAndTheNextCallerTriesAgain) {
  ManualClock clock;
  SharedFetch<std::string> cache(clock, 1000);
  EXPECT_THROW(cache.get("alice", []() -> std::string { throw std::runtime_error("away"); }),
               std::runtime_error);
  EXPECT_EQ(*cache.get("alice", [] { return std::string("back"); }), "back");
  EXPECT_EQ(cache.fetches(), 1u);
}

}  // namespace
}  // namespace ds
