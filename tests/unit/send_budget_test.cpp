// SendBudget (net/send_budget.hpp): how much a connection may hold for a peer that does not
// read, and how long one write may take, with times passed in.
#include "net/send_budget.hpp"

#include <gtest/gtest.h>

namespace ds::net {
namespace {

SendBudget::Limits limits(std::size_t messages, std::size_t bytes, std::int64_t timeout_ms) {
  SendBudget::Limits l;
  l.max_messages = messages;
  l.max_bytes = bytes;
  l.write_timeout_ms = timeout_ms;
  return l;
}

TEST(SendBudget, CountsWhatIsQueuedUntilItIsReleased) {
  SendBudget b(limits(10, 1000, 0));
  EXPECT_TRUE(b.add(2, 300));
  EXPECT_TRUE(b.add(1, 200));
  EXPECT_EQ(b.messages(), 3u);
  EXPECT_EQ(b.bytes(), 500u);
  b.release(1, 300);
  EXPECT_EQ(b.messages(), 2u);
  EXPECT_EQ(b.bytes(), 200u);
}

TEST(SendBudget, ReachingTheBoundIsAllowedGoingOverItIsRefusedAndNotCounted) {
  SendBudget b(limits(3, 1000, 0));
  EXPECT_TRUE(b.add(1, 1000));  // exactly the bytes bound
  EXPECT_FALSE(b.add(1, 1));    // one byte over
  EXPECT_EQ(b.bytes(), 1000u);  // the refused message left no trace
  EXPECT_EQ(b.messages(), 1u);
  b.release(1, 1000);
  EXPECT_TRUE(b.add(3, 10));  // exactly the messages bound
  EXPECT_FALSE(b.add(1, 0));  // one message over
  EXPECT_EQ(b.messages(), 3u);
}

TEST(SendBudget, AWriteIsOverdueOnlyAfterTheTimeoutSinceItStarted) {
  SendBudget b(limits(10, 1000, 500));
  EXPECT_FALSE(b.write_due_ms());  // nothing being written
  EXPECT_FALSE(b.write_overdue(1'000'000));
  b.write_started(1000);
  EXPECT_EQ(b.write_due_ms(), 1500);
  EXPECT_FALSE(b.write_overdue(1499));
  EXPECT_TRUE(b.write_overdue(1500));
  b.write_finished();
  EXPECT_FALSE(b.write_overdue(5000));
  // The next write has its own deadline, not the first one's.
  b.write_started(4000);
  EXPECT_FALSE(b.write_overdue(4499));
  EXPECT_TRUE(b.write_overdue(4500));
}

TEST(SendBudget, NoTimeoutMeansNoDeadline) {
  SendBudget b(limits(10, 1000, 0));
  b.write_started(0);
  EXPECT_TRUE(b.writing());
  EXPECT_FALSE(b.write_due_ms());
  EXPECT_FALSE(b.write_overdue(1'000'000'000));
}

}  // namespace
}  // namespace ds::net
