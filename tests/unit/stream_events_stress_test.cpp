// live::StreamEvents from several threads at once, as StreamService uses it: each thread opens
// and ends streams (posting under a lock of its own, delivering after), two threads share some
// streams, and subscribers call back in. What must hold: every event reaches every subscriber
// once, one stream's events in the order they were posted, no deadlock, and no data race
// (this file also runs under ThreadSanitizer: tsan.stream_events).
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "live/stream_events.hpp"

using namespace ds;

TEST(StreamEventsStress, ManyThreadsKeepEachStreamsOrder) {
  constexpr int kThreads = 6;
  constexpr int kRounds = 300;
  constexpr int kStreams = 4;  // thread t posts to stream t % kStreams: streams 0 and 1 by two
  live::StreamEvents events;
  std::mutex seen_mutex;
  std::map<long long, std::vector<long long>> seen;  // session ids per stream, as delivered
  int delivered = 0;
  events.subscribe([&](const live::StreamEvent& e) {
    std::lock_guard lock(seen_mutex);
    ++delivered;
    if (const auto* o = std::get_if<live::StreamOpened>(&e))
      seen[o->user_id].push_back(o->session_id);
    if (const auto* x = std::get_if<live::StreamEnded>(&e))
      seen[x->user_id].push_back(-x->session_id);
  });
  // One lock per stream, as StreamService's StreamLock: the order of posts is the order decided.
  std::vector<std::mutex> stream_locks(kStreams);
  std::mutex sessions_mutex;
  long long next_session = 1;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      long long user = t % kStreams;
      for (int r = 0; r < kRounds; ++r) {
        std::uint64_t ticket = 0;
        {
          std::lock_guard lock(stream_locks[user]);
          long long session = 0;
          {
            std::lock_guard s(sessions_mutex);
            session = next_session++;
          }
          events.post(user, live::StreamOpened{"u", user, session, false});
          ticket =
              events.post(user, live::StreamEnded{"u", user, session, live::EndReason::kStopped});
        }
        events.deliver(user, ticket);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::lock_guard lock(seen_mutex);
  EXPECT_EQ(delivered, kThreads * kRounds * 2);
  for (const auto& [user, sessions] : seen) {
    // Each open directly followed by its own end: lines never interleave or reorder.
    ASSERT_EQ(sessions.size() % 2, 0u);
    for (std::size_t i = 0; i < sessions.size(); i += 2) {
      ASSERT_GT(sessions[i], 0);
      ASSERT_EQ(sessions[i + 1], -sessions[i]) << "stream " << user << " at " << i;
      if (i > 0) {
        ASSERT_GT(sessions[i], sessions[i - 2]) << "posted order";
      }
    }
  }
}
