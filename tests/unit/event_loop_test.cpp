// Waits on I/O noted on an event loop (util/event_loop.hpp): what the integration harness fails
// a server on.
#include "util/event_loop.hpp"

#include <gtest/gtest.h>
#include <soci/soci.h>

#include <thread>

#include "temp_database.hpp"

using namespace ds;

TEST(EventLoop, AWaitCountsOnlyInsideALoopsScope) {
  auto before = event_loop::waits_on_event_loop();
  EXPECT_FALSE(event_loop::on_event_loop());
  event_loop::note_wait("redis");
  EXPECT_EQ(event_loop::waits_on_event_loop(), before);
  {
    event_loop::Scope loop;
    EXPECT_TRUE(event_loop::on_event_loop());
    { event_loop::Scope nested; }
    EXPECT_TRUE(event_loop::on_event_loop());  // a nested scope restores, not clears
    event_loop::note_wait("redis");
    EXPECT_EQ(event_loop::waits_on_event_loop(), before + 1);
    // Another thread is not the loop.
    std::thread([] { EXPECT_FALSE(event_loop::on_event_loop()); }).join();
  }
  EXPECT_FALSE(event_loop::on_event_loop());
}

TEST(EventLoop, ADatabaseCallOnALoopIsNoted) {
  test::TempDatabase tmp(1);
  auto query = [&] {
    return tmp.db().with([](soci::session& sql) {
      int one = 0;
      sql << "SELECT 1", soci::into(one);
      return one;
    });
  };
  auto before = event_loop::waits_on_event_loop();
  EXPECT_EQ(query(), 1);
  EXPECT_EQ(event_loop::waits_on_event_loop(), before);
  event_loop::Scope loop;
  EXPECT_EQ(query(), 1);
  EXPECT_EQ(event_loop::waits_on_event_loop(), before + 1);
}
