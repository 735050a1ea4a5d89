#include <gtest/gtest.h>

#include "domain/credits.hpp"
#include "domain/jpeg.hpp"
#include "domain/mailbox.hpp"
#include "domain/scheduler.hpp"
#include "tiny_jpeg.hpp"

using namespace ds::domain;

namespace {

Frame frame(std::uint64_t seq) { return {seq, static_cast<std::int64_t>(seq), nullptr}; }

using ds::test::tiny_jpeg;

}  // namespace

TEST(Mailbox, KeepsOnlyNewestFrame) {
  FrameMailbox box;
  EXPECT_FALSE(box.put(frame(1)));
  EXPECT_TRUE(box.put(frame(2)));
  EXPECT_TRUE(box.put(frame(3)));
  auto f = box.take();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->seq, 3u);
  EXPECT_FALSE(box.take());
  EXPECT_EQ(box.dropped(), 2u);
}

TEST(Scheduler, LongestWaitingStreamGoesFirst) {
  FairScheduler s;
  s.ready(7, 100);
  s.ready(3, 200);
  s.ready(5, 150);
  EXPECT_EQ(s.next(), 7);
  EXPECT_EQ(s.next(), 5);
  EXPECT_EQ(s.next(), 3);
  EXPECT_FALSE(s.next());
}

TEST(Scheduler, StreamNeverGetsTwoTurnsWhileAnotherWaits) {
  FairScheduler s;
  s.ready(1, 0);
  s.ready(2, 1);
  EXPECT_EQ(s.next(), 1);
  s.ready(1, 2);  // stream 1 sends again right away
  EXPECT_EQ(s.next(), 2);
  EXPECT_EQ(s.next(), 1);
}

TEST(Scheduler, ReplacedFrameKeepsPlaceInLine) {
  FairScheduler s;
  s.ready(1, 0);
  s.ready(2, 5);
  s.ready(1, 10);  // newer frame for stream 1: still first
  EXPECT_EQ(s.next(), 1);
  EXPECT_EQ(s.size(), 1u);
}

TEST(Scheduler, RemovedStreamIsNotScheduled) {
  FairScheduler s;
  s.ready(1, 0);
  s.ready(2, 1);
  s.remove(1);
  EXPECT_EQ(s.next(), 2);
  EXPECT_TRUE(s.empty());
}

TEST(JobTable, ExpiresJobsPastDeadline) {
  JobTable t;
  auto a = t.add({0, 1, 10, 1, 0, 0, 1000});
  auto b = t.add({0, 2, 10, 2, 0, 0, 5000});
  auto expired = t.expire(1000);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].job_id, a.job_id);
  EXPECT_TRUE(t.complete(2, b.job_id));
}

TEST(JobTable, ResultForJobOfAnotherWorkerIsRejected) {
  JobTable t;
  auto a = t.add({0, 1, 10, 1, 0, 0, 1000});
  EXPECT_FALSE(t.complete(2, a.job_id));
  EXPECT_FALSE(t.complete(1, a.job_id + 100));
  EXPECT_TRUE(t.complete(1, a.job_id));
  EXPECT_FALSE(t.complete(1, a.job_id));
}

TEST(JobTable, DisconnectedWorkerLosesEveryJobItHeld) {
  JobTable t;
  t.add({0, 4, 10, 1, 0, 0, 1000});
  t.add({0, 4, 11, 1, 0, 0, 1000});
  auto other = t.add({0, 5, 12, 1, 0, 0, 1000});
  EXPECT_EQ(t.drop_worker(4).size(), 2u);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_TRUE(t.find(other.job_id));
}

TEST(FairScheduler, PopSaysSinceWhenTheStreamWaited) {
  FairScheduler s;
  s.ready(7, 100);
  s.ready(8, 50);
  auto first = s.pop();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->id, 8);
  EXPECT_EQ(first->since_ms, 50);
  // Put back at its old time, it goes before a stream that queued later.
  s.ready(8, 50);
  EXPECT_EQ(s.next(), 8);
  EXPECT_EQ(s.next(), 7);
}

TEST(Billing, BillsPerStartedMinuteFromFirstFrame) {
  EXPECT_EQ(billable_minutes(0, 0), 0);
  EXPECT_EQ(billable_minutes(1000, 1000), 1);
  EXPECT_EQ(billable_minutes(1000, 3000), 1);   // 2 s
  EXPECT_EQ(billable_minutes(1000, 61000), 1);  // 60 s
  EXPECT_EQ(billable_minutes(1000, 65000), 2);  // 64 s
  EXPECT_EQ(billable_minutes(1000, 121001), 3);
}

TEST(Billing, RemainingMinutesAtTwelveCreditsAnHour) {
  BillingRate rate;
  EXPECT_EQ(rate.cents_per_minute(), 20);
  EXPECT_EQ(remaining_minutes(1200, rate), 60);
  EXPECT_EQ(remaining_minutes(199, rate), 9);
  EXPECT_EQ(remaining_minutes(-5, rate), 0);
}

TEST(Jpeg, AcceptsStructurallyValidJpeg) {
  auto info = validate_jpeg(tiny_jpeg(640, 480), {});
  ASSERT_TRUE(info);
  EXPECT_EQ(info->width, 640);
  EXPECT_EQ(info->height, 480);
}

TEST(Jpeg, RejectsNonJpegTruncatedOversizedAndHuge) {
  EXPECT_EQ(validate_jpeg("hello world", {}).error().code, "bad_frame");
  auto j = tiny_jpeg(64, 64);
  EXPECT_FALSE(validate_jpeg(j.substr(0, j.size() - 2), {}));
  JpegLimits small{10, 4096};
  EXPECT_EQ(validate_jpeg(j, small).error().kind, ds::ErrorKind::kTooLarge);
  EXPECT_FALSE(validate_jpeg(tiny_jpeg(5000, 10), {}));
  EXPECT_FALSE(validate_jpeg("", {}));
}
