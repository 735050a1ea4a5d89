// What a worker holds: messages in arrival order, one worked on at a time, cancels of jobs
// that wait, and the slots + 1 bound (docs/protocol.md, "Slots" and "Batches").
#include <gtest/gtest.h>

#include "worker/job_queue.hpp"

namespace ds::worker {
namespace {

using Kind = JobQueue::Arrival::Kind;
using live::wire::JobHeader;

JobHeader header(const std::string& id) {
  JobHeader h;
  h.job_id = id;
  h.stream = "s-" + id;
  return h;
}

std::vector<JobHeader> headers(std::initializer_list<const char*> ids) {
  std::vector<JobHeader> out;
  for (const char* id : ids) out.push_back(header(id));
  return out;
}

// A job header and its JPEG ("jpeg-<id>").
Kind deliver_job(JobQueue& q, const std::string& id) {
  q.on_header({header(id)});
  return q.on_binary("jpeg-" + id).kind;
}

std::vector<std::string> ids_of(const std::vector<JobQueue::Item>& items) {
  std::vector<std::string> out;
  for (const auto& item : items) out.push_back(item.header.job_id.get<std::string>());
  return out;
}

TEST(WorkerJobQueue, WorksThroughMessagesInArrivalOrderOneAtATime) {
  JobQueue q(2);
  EXPECT_EQ(deliver_job(q, "j1"), Kind::kQueued);
  EXPECT_EQ(deliver_job(q, "j2"), Kind::kQueued);
  auto first = q.start_next();
  ASSERT_TRUE(first);
  EXPECT_EQ(ids_of(*first), std::vector<std::string>{"j1"});
  EXPECT_EQ(first->front().jpeg, "jpeg-j1");
  EXPECT_FALSE(q.start_next()) << "one message at a time";
  EXPECT_EQ(q.held(), 2u);
  q.finish();
  auto second = q.start_next();
  ASSERT_TRUE(second);
  EXPECT_EQ(ids_of(*second), std::vector<std::string>{"j2"});
  q.finish();
  EXPECT_FALSE(q.start_next());
  EXPECT_EQ(q.held(), 0u);
}

TEST(WorkerJobQueue, ABatchIsCompleteWithOneJpegPerJobInOrder) {
  JobQueue q(1);
  q.on_header(headers({"j1", "j2", "j3"}));
  EXPECT_EQ(q.on_binary("a").kind, Kind::kPartial);
  EXPECT_EQ(q.on_binary("b").kind, Kind::kPartial);
  EXPECT_EQ(q.on_binary("c").kind, Kind::kQueued);
  EXPECT_EQ(q.on_binary("stray").kind, Kind::kUnexpected);
  auto batch = q.start_next();
  ASSERT_TRUE(batch);
  ASSERT_EQ(batch->size(), 3u);
  EXPECT_EQ(ids_of(*batch), (std::vector<std::string>{"j1", "j2", "j3"}));
  EXPECT_EQ((*batch)[0].jpeg, "a");
  EXPECT_EQ((*batch)[2].jpeg, "c");
}

TEST(WorkerJobQueue, AJpegWithoutAHeaderIsUnexpected) {
  JobQueue q(1);
  EXPECT_EQ(q.on_binary("x").kind, Kind::kUnexpected);
  EXPECT_EQ(q.held(), 0u);
}

TEST(WorkerJobQueue, AHeaderBeforeTheLastOnesJpegsGivesThatOneUp) {
  JobQueue q(2);
  q.on_header(headers({"j1", "j2"}));
  q.on_binary("a");
  auto lost = q.on_header({header("j3")});
  ASSERT_EQ(lost.size(), 2u);
  EXPECT_EQ(lost[0].job_id, "j1");
  EXPECT_EQ(q.on_binary("c").kind, Kind::kQueued);
  EXPECT_EQ(ids_of(*q.start_next()), std::vector<std::string>{"j3"});
}

TEST(WorkerJobQueue, OneSlotRefusesASecondMessageAsBefore) {
  JobQueue q(1);
  EXPECT_EQ(q.capacity(), 1u);
  deliver_job(q, "j1");
  ASSERT_TRUE(q.start_next());
  q.on_header({header("j2")});
  auto arrival = q.on_binary("b");
  EXPECT_EQ(arrival.kind, Kind::kRefused);
  ASSERT_EQ(arrival.refused.size(), 1u);
  EXPECT_EQ(arrival.refused[0].header.job_id, "j2");
  EXPECT_EQ(q.held(), 1u);
}

TEST(WorkerJobQueue, MoreSlotsHoldOneExtraMessageForACancelThatCrossedItsStart) {
  JobQueue q(2);
  EXPECT_EQ(q.capacity(), 3u);
  deliver_job(q, "j1");
  ASSERT_TRUE(q.start_next());
  EXPECT_EQ(deliver_job(q, "j2"), Kind::kQueued);
  EXPECT_EQ(deliver_job(q, "j3"), Kind::kQueued);
  q.on_header(headers({"j4", "j5"}));
  q.on_binary("a");
  auto arrival = q.on_binary("b");
  EXPECT_EQ(arrival.kind, Kind::kRefused);
  EXPECT_EQ(ids_of(arrival.refused), (std::vector<std::string>{"j4", "j5"}));
  EXPECT_EQ(q.held(), 3u);
}

TEST(WorkerJobQueue, CancelDropsAWaitingJobOnly) {
  JobQueue q(2);
  deliver_job(q, "j1");
  ASSERT_TRUE(q.start_next());
  deliver_job(q, "j2");
  EXPECT_FALSE(q.cancel("j1")) << "started: it is answered as usual";
  EXPECT_FALSE(q.cancel("j9")) << "unknown";
  EXPECT_FALSE(q.cancel(nullptr));
  EXPECT_TRUE(q.cancel("j2"));
  EXPECT_FALSE(q.cancel("j2")) << "already dropped";
  EXPECT_EQ(q.held(), 1u) << "the cancelled message frees its slot";
  q.finish();
  EXPECT_FALSE(q.start_next());
  EXPECT_FALSE(q.cancel("j1")) << "finished";
}

TEST(WorkerJobQueue, CancelOfOneJobOfAWaitingBatchKeepsTheRest) {
  JobQueue q(2);
  deliver_job(q, "j1");
  ASSERT_TRUE(q.start_next());
  q.on_header(headers({"j2", "j3", "j4"}));
  q.on_binary("b");
  q.on_binary("c");
  q.on_binary("d");
  EXPECT_TRUE(q.cancel("j3"));
  q.finish();
  auto batch = q.start_next();
  ASSERT_TRUE(batch);
  EXPECT_EQ(ids_of(*batch), (std::vector<std::string>{"j2", "j4"}));
  EXPECT_EQ((*batch)[1].jpeg, "d");
  EXPECT_FALSE(q.cancel("j4")) << "the batch has started";
}

TEST(WorkerJobQueue, JobIdsAreComparedAsTheyCame) {
  JobQueue q(2);
  JobHeader numeric = header("x");
  numeric.job_id = 5;
  q.on_header({numeric});
  q.on_binary("x");
  EXPECT_FALSE(q.cancel("5"));
  EXPECT_TRUE(q.cancel(5));
}

TEST(WorkerJobQueue, ACancelWhileABatchsJpegsArriveKeepsTheJpegsInPlace) {
  JobQueue q(2);
  q.on_header(headers({"j1", "j2", "j3"}));
  q.on_binary("a");
  EXPECT_TRUE(q.cancel("j2"));
  EXPECT_FALSE(q.cancel("j2"));
  q.on_binary("b");
  EXPECT_EQ(q.on_binary("c").kind, Kind::kQueued);
  auto batch = q.start_next();
  ASSERT_TRUE(batch);
  EXPECT_EQ(ids_of(*batch), (std::vector<std::string>{"j1", "j3"}));
  EXPECT_EQ((*batch)[1].jpeg, "c");

  q.on_header({header("j4")});
  EXPECT_TRUE(q.cancel("j4"));
  EXPECT_EQ(q.on_binary("d").kind, Kind::kCancelled);
  EXPECT_EQ(q.held(), 1u);
}

TEST(WorkerJobQueue, ClearingForgetsWaitingMessagesButNotTheOneAtWork) {
  JobQueue q(3);
  deliver_job(q, "j1");
  ASSERT_TRUE(q.start_next());
  deliver_job(q, "j2");
  q.on_header({header("j3")});
  q.clear_waiting();
  EXPECT_EQ(q.held(), 1u);
  EXPECT_EQ(q.on_binary("c").kind, Kind::kUnexpected);
  q.finish();
  EXPECT_FALSE(q.start_next());
}

}  // namespace
}  // namespace ds::worker
