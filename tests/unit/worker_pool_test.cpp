// live::WorkerPool on its own, without a hub, a socket or a clock: fairness between streams,
// slots, supersession and its races with the worker's answers, batches, congestion, deadlines,
// workers leaving with jobs, and claims on the shared line (docs/protocol.md "Slots" and
// "Batches", docs/architecture.md "Keeping a GPU busy").
#include "live/worker_pool.hpp"

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

using namespace ds;
using namespace ds::live;

namespace {

using nlohmann::json;
using Out = WorkerPool::Out;
using StreamId = WorkerPool::StreamId;

// Streams' one-frame mailboxes and workers' socket backlogs, as the hub would give them.
struct Pool {
  WorkerPool pool;
  std::map<StreamId, FrameOffer> mailbox;
  std::map<std::int64_t, Peer::Queued> backlog;
  std::int64_t now = 1'000;

  explicit Pool(PoolConfig config = {}) : pool(config) {}

  // A stream's newest frame (replacing one not taken), and the stream in line.
  void frame(StreamId stream, std::uint64_t seq, Out& out, std::string jpeg = "jpeg") {
    mailbox[stream] = {stream,           "s" + std::to_string(stream), seq, now,
                       {"toon", 0.5, 1}, make_bytes(std::move(jpeg))};
    pool.frame_ready(stream, now, out);
  }
  Out frame(StreamId stream, std::uint64_t seq) {
    Out out;
    frame(stream, seq, out);
    dispatch(out);
    return out;
  }
  void dispatch(Out& out, bool shared_line = false) {
    auto take = [this](StreamId id) -> std::optional<FrameOffer> {
      auto it = mailbox.find(id);
      if (it == mailbox.end()) return std::nullopt;
      auto f = std::move(it->second);
      mailbox.erase(it);
      return f;
    };
    auto queued = [this](std::int64_t id) { return backlog[id]; };
    pool.dispatch(now, take, queued, shared_line, out);
  }
  Out dispatch(bool shared_line = false) {
    Out out;
    dispatch(out, shared_line);
    return out;
  }
};

json text_of(const WorkerPool::Message& m) { return json::parse(*m.text); }

// The streams of a job or batch message, in order.
std::vector<std::string> streams_of(const WorkerPool::Message& m) {
  auto t = text_of(m);
  std::vector<std::string> out;
  if (t["type"] == "batch") {
    for (const auto& j : t["jobs"]) out.push_back(j["stream"]);
  } else {
    out.push_back(t["stream"]);
  }
  return out;
}

}  // namespace

TEST(WorkerPool, AnIdleWorkerGetsTheFrameAsAJobWithItsJpeg) {
  Pool p;
  auto w = p.pool.add_worker(nullptr, "w");
  auto out = p.frame(1, 7);
  ASSERT_EQ(out.messages.size(), 1u);
  const auto& m = out.messages[0];
  EXPECT_EQ(m.worker_id, w);
  EXPECT_EQ(text_of(m)["type"], "job");
  EXPECT_EQ(text_of(m)["seq"], 7);
  EXPECT_EQ(text_of(m)["deadline_ms"], p.now + 20'000);
  ASSERT_EQ(m.binaries.size(), 1u);
  EXPECT_EQ(*m.binaries[0], "jpeg");
  ASSERT_EQ(m.job_ids.size(), 1u);
  EXPECT_TRUE(p.pool.due(1, 7));
  EXPECT_EQ(p.pool.counts().busy, 1);
  EXPECT_EQ(p.pool.totals().jobs_sent, 1u);
}

TEST(WorkerPool, TheStreamThatWaitedLongestGoesFirstAndAServedStreamGoesToTheBack) {
  Pool p;
  Out out;
  for (StreamId s = 1; s <= 3; ++s) {
    p.frame(s, 1, out);
    p.now++;
  }
  // A newer frame of stream 1 keeps its place in line.
  p.frame(1, 2, out);
  auto w = p.pool.add_worker(nullptr, "w");
  p.dispatch(out);
  ASSERT_EQ(out.messages.size(), 1u);
  EXPECT_EQ(streams_of(out.messages[0]), std::vector<std::string>{"s1"});
  EXPECT_EQ(text_of(out.messages[0])["seq"], 2);
  // Served, stream 1 has a new frame: it queues behind 2 and 3.
  p.now++;
  p.frame(1, 3, out);
  std::vector<std::string> order;
  for (int i = 0; i < 3; ++i) {
    auto job = out.messages.back().job_ids[0];
    ASSERT_TRUE(p.pool.complete(w, job, WorkerPool::Answer::kResult));
    p.dispatch(out);
    order.push_back(streams_of(out.messages.back())[0]);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"s2", "s3", "s1"}));
}

TEST(WorkerPool, TheLongestIdleWorkerGetsTheNextFrame) {
  Pool p;
  auto a = p.pool.add_worker(nullptr, "a");
  auto b = p.pool.add_worker(nullptr, "b");
  auto first = p.frame(1, 1);
  ASSERT_EQ(first.messages.size(), 1u);
  EXPECT_EQ(first.messages[0].worker_id, a);
  // a answers: it is idle again, but b has been idle longer.
  p.pool.complete(a, first.messages[0].job_ids[0], WorkerPool::Answer::kResult);
  auto second = p.frame(2, 1);
  ASSERT_EQ(second.messages.size(), 1u);
  EXPECT_EQ(second.messages[0].worker_id, b);
}

TEST(WorkerPool, OneSlotIsOneMessageAtATime) {
  Pool p;
  p.pool.add_worker(nullptr, "w");
  EXPECT_EQ(p.frame(1, 1).messages.size(), 1u);
  EXPECT_TRUE(p.frame(1, 2).messages.empty());
  EXPECT_TRUE(p.frame(2, 1).messages.empty());
  EXPECT_EQ(p.pool.waiting_job(1), 0u);
}

TEST(WorkerPool, TwoSlotsHoldTheNextInputWhichWaitsBehindTheFirst) {
  Pool p;
  auto w = p.pool.add_worker(nullptr, "w", 2);
  auto j1 = p.frame(1, 1).messages.at(0).job_ids[0];
  auto j2 = p.frame(2, 1).messages.at(0).job_ids[0];
  EXPECT_TRUE(p.frame(3, 1).messages.empty());  // both slots taken
  EXPECT_EQ(p.pool.waiting_job(1), 0u);         // being processed
  EXPECT_EQ(p.pool.waiting_job(2), j2);         // behind j1
  // j1 answered: j2 now runs (no longer waits), and stream 3's frame takes the free slot.
  ASSERT_TRUE(p.pool.complete(w, j1, WorkerPool::Answer::kResult));
  EXPECT_EQ(p.pool.waiting_job(2), 0u);
  auto out = p.dispatch();
  ASSERT_EQ(out.messages.size(), 1u);
  EXPECT_EQ(streams_of(out.messages[0]), std::vector<std::string>{"s3"});
  EXPECT_EQ(p.pool.waiting_job(3), out.messages[0].job_ids[0]);
  // A newer frame of the running stream 2 supersedes nothing.
  Out more;
  p.frame(2, 2, more);
  EXPECT_TRUE(more.messages.empty());
}

TEST(WorkerPool, SlotsAreClampedToWhatTheProtocolAllows) {
  Pool p;
  p.pool.add_worker(nullptr, "w", 100, 100);
  for (StreamId s = 1; s <= 200; ++s) {
    Out out;
    p.frame(s, 1, out);
  }
  auto out = p.dispatch();
  ASSERT_EQ(out.messages.size(), static_cast<std::size_t>(wire::kMaxSlots));
  EXPECT_EQ(out.messages[0].job_ids.size(), static_cast<std::size_t>(wire::kMaxBatch));
}

TEST(WorkerPool, ANewerFrameCancelsTheWaitingJobAndTakesItsPlaceRightBehindTheCancel) {
  Pool p;
  auto w = p.pool.add_worker(nullptr, "w", 2);
  p.frame(1, 1);
  p.now += 5;
  auto j2 = p.frame(1, 2).messages.at(0).job_ids[0];
  p.now += 5;
  auto out = p.frame(1, 3);
  ASSERT_EQ(out.messages.size(), 2u);
  EXPECT_EQ(out.messages[0].cancelled, j2);
  EXPECT_EQ(text_of(out.messages[0])["type"], "cancel");
  EXPECT_TRUE(out.messages[0].binaries.empty());
  EXPECT_EQ(out.messages[1].worker_id, w);
  EXPECT_EQ(text_of(out.messages[1])["seq"], 3);
  EXPECT_EQ(p.pool.waiting_job(1), out.messages[1].job_ids[0]);
  EXPECT_EQ(p.pool.totals().jobs_cancelled, 1u);
  // The cancelled job is no longer due, but stays known until the worker answers it once.
  EXPECT_FALSE(p.pool.due(1, 2));
  auto answered = p.pool.complete(w, j2, WorkerPool::Answer::kError);  // `cancelled`
  ASSERT_TRUE(answered);
  EXPECT_TRUE(answered->cancelled);
  EXPECT_EQ(p.pool.totals().jobs_failed, 0u);
  EXPECT_FALSE(p.pool.complete(w, j2, WorkerPool::Answer::kError));
}

TEST(WorkerPool, ASupersedingFrameKeepsTheStreamsPlaceInLine) {
  Pool p;
  auto w = p.pool.add_worker(nullptr, "w", 2);
  auto j1 = p.frame(9, 1).messages.at(0).job_ids[0];  // stream 9 runs
  p.now += 10;
  p.frame(1, 1);  // stream 1 waits at the worker since now
  Out out;
  p.now += 10;
  p.frame(2, 1, out);  // stream 2 queues in the pool
  p.now += 10;
  p.frame(1, 2, out);  // supersedes stream 1's job; stream 1 queued before stream 2
  p.dispatch(out);
  ASSERT_EQ(out.messages.size(), 2u);  // the cancel, then stream 1's newer frame
  EXPECT_NE(out.messages[0].cancelled, 0u);
  EXPECT_EQ(streams_of(out.messages[1]), std::vector<std::string>{"s1"});
  p.pool.complete(w, j1, WorkerPool::Answer::kResult);
  auto next = p.dispatch();
  ASSERT_EQ(next.messages.size(), 1u);
  EXPECT_EQ(streams_of(next.messages[0]), std::vector<std::string>{"s2"});
}

TEST(WorkerPool, AResultAfterACancelThatCrossedTheStartFreesNoSecondSlot) {
  // The worker had started the waiting job when the cancel came: it answers with a result.
  // Meanwhile it was sent the newer frame, so it holds slots + 1 messages for a while.
  Pool p;
  auto w = p.pool.add_worker(nullptr, "w", 2);
  auto j1 = p.frame(1, 1).messages.at(0).job_ids[0];
  auto j2 = p.frame(1, 2).messages.at(0).job_ids[0];
  auto j3 = p.frame(1, 3).messages.at(1).job_ids[0];
  ASSERT_TRUE(p.pool.complete(w, j1, WorkerPool::Answer::kResult));
  auto j4 = p.dispatch().messages;  // j1's slot is free: nothing is ready yet
  EXPECT_TRUE(j4.empty());
  auto late = p.pool.complete(w, j2, WorkerPool::Answer::kResult);
  ASSERT_TRUE(late);
  EXPECT_TRUE(late->cancelled);  // the hub still shows it when newer than what was shown
  EXPECT_EQ(late->seq, 2u);
  // j3 holds one slot, one is free: a frame of another stream goes out, a third does not.
  EXPECT_EQ(p.frame(2, 1).messages.size(), 1u);
  EXPECT_TRUE(p.frame(3, 1).messages.empty());
  EXPECT_TRUE(p.pool.due(1, 3));
  (void)j3;
}

TEST(WorkerPool, ACancelledJobThatFailsIsNotCountedAsFailed) {
  Pool p;
  auto w = p.pool.add_worker(nullptr, "w", 2);
  p.frame(1, 1);
  auto j2 = p.frame(1, 2).messages.at(0).job_ids[0];
  p.frame(1, 3);
  EXPECT_TRUE(p.pool.complete(w, j2, WorkerPool::Answer::kError));
  EXPECT_EQ(p.pool.totals().jobs_failed, 0u);
}

TEST(WorkerPool, AFrameAfterTheWaitingJobWasAnsweredCancelsNothing) {
  Pool p;
  auto w = p.pool.add_worker(nullptr, "w", 2);
  p.frame(1, 1);
  auto j2 = p.frame(1, 2).messages.at(0).job_ids[0];
  // The worker answered the waiting job (out of order) before any newer frame came.
  ASSERT_TRUE(p.pool.complete(w, j2, WorkerPool::Answer::kResult));
  EXPECT_EQ(p.pool.waiting_job(1), 0u);
  auto out = p.frame(1, 3);
  ASSERT_EQ(out.messages.size(), 1u);
  EXPECT_EQ(out.messages[0].cancelled, 0u);
  EXPECT_EQ(p.pool.totals().jobs_cancelled, 0u);
}

TEST(WorkerPool, AnErrorFreesTheSlotAndCountsAsFailed) {
  Pool p;
  auto w = p.pool.add_worker(nullptr, "w");
  auto j1 = p.frame(1, 1).messages.at(0).job_ids[0];
  EXPECT_FALSE(p.pool.complete(w, 0, WorkerPool::Answer::kError));       // job 0: never held
  EXPECT_FALSE(p.pool.complete(w + 1, j1, WorkerPool::Answer::kError));  // not its job
  ASSERT_TRUE(p.pool.complete(w, j1, WorkerPool::Answer::kError));
  EXPECT_EQ(p.pool.totals().jobs_failed, 1u);
  EXPECT_FALSE(p.pool.due(1, 1));
  EXPECT_EQ(p.frame(1, 2).messages.size(), 1u);
}

TEST(WorkerPool, ABatchTakesUpToMaxBatchStreamsLongestWaitingFirst) {
  Pool p;
  Out out;
  for (StreamId s = 1; s <= 6; ++s) {
    p.frame(s, 1, out);
    p.now++;
  }
  auto w = p.pool.add_worker(nullptr, "w", 1, 4);
  p.dispatch(out);
  ASSERT_EQ(out.messages.size(), 1u);
  const auto& batch = out.messages[0];
  EXPECT_EQ(text_of(batch)["type"], "batch");
  EXPECT_EQ(streams_of(batch), (std::vector<std::string>{"s1", "s2", "s3", "s4"}));
  EXPECT_EQ(batch.binaries.size(), 4u);
  // Partial answers keep the slot: the last one frees it.
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(p.pool.complete(w, batch.job_ids[i], WorkerPool::Answer::kResult));
    EXPECT_TRUE(p.dispatch().messages.empty());
  }
  ASSERT_TRUE(p.pool.complete(w, batch.job_ids[3], WorkerPool::Answer::kError));
  auto next = p.dispatch();
  ASSERT_EQ(next.messages.size(), 1u);
  EXPECT_EQ(streams_of(next.messages[0]), (std::vector<std::string>{"s5", "s6"}));
}

TEST(WorkerPool, ABatchWorkerGetsABatchOfOneWhenOneStreamIsReady) {
  Pool p;
  p.pool.add_worker(nullptr, "w", 1, 4);
  auto out = p.frame(1, 1);
  ASSERT_EQ(out.messages.size(), 1u);
  EXPECT_EQ(text_of(out.messages[0])["type"], "batch");
  EXPECT_EQ(out.messages[0].job_ids.size(), 1u);
}

TEST(WorkerPool, AWaitingBatchsJobIsSupersededAloneAndTheRestStayDue) {
  Pool p;
  auto w = p.pool.add_worker(nullptr, "w", 2, 2);
  auto first = p.frame(9, 1).messages.at(0);  // a batch of one: runs
  Out out;
  p.frame(1, 1, out);
  p.frame(2, 1, out);
  p.dispatch(out);
  ASSERT_EQ(out.messages.size(), 1u);
  auto waiting = out.messages[0];  // a batch of streams 1 and 2, waiting
  auto cancel = p.frame(1, 2);
  ASSERT_EQ(cancel.messages.size(), 1u);  // the cancel; the batch still holds stream 2's job
  EXPECT_EQ(cancel.messages[0].cancelled, waiting.job_ids[0]);
  EXPECT_TRUE(p.pool.due(2, 1));
  // Its slot frees with its last due job.
  ASSERT_TRUE(p.pool.complete(w, waiting.job_ids[1], WorkerPool::Answer::kResult));
  auto next = p.dispatch();
  ASSERT_EQ(next.messages.size(), 1u);
  EXPECT_EQ(streams_of(next.messages[0]), std::vector<std::string>{"s1"});
  (void)first;
}

TEST(WorkerPool, AWorkerWhoseSocketIsFullGetsNothingCountingThisStepsMessages) {
  Pool p({20'000, {100, 3000}});
  auto w = p.pool.add_worker(nullptr, "w", 5);
  Out out;
  for (StreamId s = 1; s <= 5; ++s) p.frame(s, 1, out, std::string(1000, 'f'));
  p.dispatch(out);
  // A job is its JPEG and a few hundred bytes of text: the first three given in this same step
  // reach 3000, so the fourth and fifth wait.
  EXPECT_EQ(out.messages.size(), 3u);
  p.backlog[w] = {0, 3000};  // its socket did not drain
  EXPECT_TRUE(p.dispatch().messages.empty());
  p.backlog[w] = {};
  EXPECT_EQ(p.dispatch().messages.size(), 2u);
}

TEST(WorkerPool, AFullWorkerIsPassedOverForOneThatKeepsUp) {
  Pool p;
  auto stuck = p.pool.add_worker(nullptr, "stuck");
  auto good = p.pool.add_worker(nullptr, "good");
  p.backlog[stuck] = {kWorkerQueueFull.messages, 0};
  auto out = p.frame(1, 1);
  ASSERT_EQ(out.messages.size(), 1u);
  EXPECT_EQ(out.messages[0].worker_id, good);
}

TEST(WorkerPool, AJobPastItsDeadlineStallsItsWorkerOnceWithAllItsJobs) {
  Pool p({1'000, kWorkerQueueFull});
  auto w = p.pool.add_worker(nullptr, "slow", 2);
  auto other = p.pool.add_worker(nullptr, "other");
  p.frame(1, 1);
  p.frame(2, 1);
  p.frame(3, 1);
  EXPECT_EQ(p.pool.jobs_in_flight(), 3u);
  EXPECT_TRUE(p.pool.expire(p.now + 999).empty());
  auto stalled = p.pool.expire(p.now + 1'000);
  ASSERT_EQ(stalled.size(), 2u);  // both workers: every job expired
  EXPECT_EQ(stalled[0].worker_id == w ? stalled[0].name : stalled[1].name, "slow");
  EXPECT_EQ(p.pool.totals().jobs_timed_out, 3u);
  EXPECT_EQ(p.pool.counts().total, 0);
  EXPECT_EQ(p.pool.jobs_in_flight(), 0u);
  EXPECT_EQ(p.pool.waiting_job(3), 0u);
  EXPECT_FALSE(p.pool.complete(other, 1, WorkerPool::Answer::kResult));
}

TEST(WorkerPool, ACancelledJobPastItsDeadlineIsForgottenWithoutStallingTheWorker) {
  Pool p({1'000, kWorkerQueueFull});
  auto w = p.pool.add_worker(nullptr, "w", 2);
  auto j1 = p.frame(1, 1).messages.at(0).job_ids[0];
  p.frame(2, 1);
  p.now += 600;
  p.frame(2, 2);  // cancels stream 2's waiting job; the newer one waits from now
  ASSERT_TRUE(p.pool.complete(w, j1, WorkerPool::Answer::kResult));
  // The cancelled job's deadline passes, the worker never answers it: nothing happens.
  EXPECT_TRUE(p.pool.expire(p.now + 500).empty());
  EXPECT_EQ(p.pool.totals().jobs_timed_out, 0u);
  EXPECT_EQ(p.pool.counts().total, 1);
  EXPECT_EQ(p.pool.jobs_in_flight(), 1u);
}

TEST(WorkerPool, AWorkerThatLeavesLosesItsJobsAndItsStreamsGoOn) {
  Pool p;
  auto w = p.pool.add_worker(nullptr, "w", 2);
  auto j1 = p.frame(1, 1).messages.at(0).job_ids[0];
  p.frame(2, 1);
  EXPECT_NE(p.pool.waiting_job(2), 0u);
  EXPECT_TRUE(p.pool.remove_worker(w));
  EXPECT_FALSE(p.pool.remove_worker(w));
  EXPECT_EQ(p.pool.jobs_in_flight(), 0u);
  EXPECT_EQ(p.pool.waiting_job(2), 0u);
  EXPECT_FALSE(p.pool.due(1, 1));
  EXPECT_FALSE(p.pool.complete(w, j1, WorkerPool::Answer::kResult));
  // Stream 2's next frame cancels nothing and goes to the next worker.
  Out out;
  p.frame(2, 2, out);
  EXPECT_TRUE(out.messages.empty());
  auto next = p.pool.add_worker(nullptr, "next");
  p.dispatch(out);
  ASSERT_EQ(out.messages.size(), 1u);
  EXPECT_EQ(out.messages[0].worker_id, next);
  EXPECT_EQ(p.pool.totals().jobs_timed_out + p.pool.totals().jobs_failed, 0u);
}

TEST(WorkerPool, AStreamThatEndsLeavesTheLine) {
  Pool p;
  Out out;
  p.frame(1, 1, out);
  p.frame(2, 1, out);
  p.pool.remove_stream(1);
  p.pool.add_worker(nullptr, "w", 1, 4);
  p.dispatch(out);
  ASSERT_EQ(out.messages.size(), 1u);
  EXPECT_EQ(streams_of(out.messages[0]), std::vector<std::string>{"s2"});
  EXPECT_FALSE(p.pool.has_ready_streams());
}

TEST(WorkerPool, IdleWorkersAskTheSharedLineOnceEachAndAgainWhenFramesCameMeanwhile) {
  Pool p;
  auto a = p.pool.add_worker(nullptr, "a", 2, 3);
  auto b = p.pool.add_worker(nullptr, "b");
  auto out = p.dispatch(true);
  ASSERT_EQ(out.claims.size(), 2u);
  EXPECT_EQ(out.claims[0].worker_id, a);
  EXPECT_EQ(out.claims[0].max, 3);
  EXPECT_TRUE(p.dispatch(true).claims.empty());  // one question at a time
  // An empty answer makes b idle; frames came while a asked: its empty answer asks again.
  Out none;
  EXPECT_TRUE(p.pool.claimed(b, {}, p.now, true, none));
  EXPECT_TRUE(none.claims.empty());
  p.pool.frames_ready();
  Out again;
  EXPECT_TRUE(p.pool.claimed(a, {}, p.now, true, again));
  ASSERT_EQ(again.claims.size(), 1u);
  EXPECT_EQ(again.claims[0].worker_id, a);
  // a gets two frames (a batch): one message, started at once (it held nothing).
  FrameOffer f1{5, "far", 3, p.now, {}, make_bytes("x")};
  FrameOffer f2{6, "away", 4, p.now, {}, make_bytes("y")};
  Out got;
  EXPECT_TRUE(p.pool.claimed(a, {f1, f2}, p.now, true, got));
  ASSERT_EQ(got.messages.size(), 1u);
  EXPECT_EQ(streams_of(got.messages[0]), (std::vector<std::string>{"far", "away"}));
  EXPECT_EQ(p.pool.waiting_job(5), 0u);
  ASSERT_EQ(got.claims.size(), 1u) << "a's second slot asks at once";
  EXPECT_EQ(got.claims[0].worker_id, a);
  EXPECT_EQ(got.claims[0].mark_ms, 20'000) << "what a gets now waits behind its batch";
  auto claims = p.dispatch(true).claims;
  ASSERT_EQ(claims.size(), 1u);  // b asks again
  EXPECT_EQ(claims[0].worker_id, b);
  EXPECT_EQ(claims[0].mark_ms, 0);
  // The claimed job records the stream's name: its result is published by name.
  auto done = p.pool.complete(a, got.messages[0].job_ids[0], WorkerPool::Answer::kResult);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->stream_name, "far");
}

TEST(WorkerPool, AClaimAnsweredAfterTheWorkerLeftIsRefused) {
  Pool p;
  auto w = p.pool.add_worker(nullptr, "w");
  ASSERT_EQ(p.dispatch(true).claims.size(), 1u);
  p.pool.remove_worker(w);
  Out out;
  EXPECT_FALSE(
      p.pool.claimed(w, {FrameOffer{1, "a", 1, p.now, {}, make_bytes("x")}}, p.now, true, out));
  EXPECT_TRUE(out.messages.empty());
}

TEST(WorkerPool, ReleaseLetsGoOfEveryWorker) {
  Pool p;
  p.pool.add_worker(nullptr, "a");
  p.pool.add_worker(nullptr, "b");
  EXPECT_EQ(p.pool.release().size(), 2u);
  EXPECT_EQ(p.pool.counts().total, 0);
  Out out;
  p.frame(1, 1, out);
  p.dispatch(out);
  EXPECT_TRUE(out.messages.empty());
}

namespace {

FrameOffer remote(StreamId stream, std::uint64_t seq) {
  return {stream, "far" + std::to_string(stream), seq, 1'000, {}, make_bytes("x")};
}

// The one job of the worker's message in out.
std::uint64_t job_of(const Out& out) { return out.messages.at(0).job_ids.at(0); }

}  // namespace

TEST(WorkerPool, TwoSlotsHoldTwoClaimedJobsAndTheLineSupersedesTheWaitingOne) {
  Pool p;
  auto w = p.pool.add_worker(nullptr, "w", 2);
  ASSERT_EQ(p.dispatch(true).claims.size(), 1u);
  Out first;
  ASSERT_TRUE(p.pool.claimed(w, {remote(5, 1)}, p.now, true, first));
  auto j1 = job_of(first);
  EXPECT_EQ(p.pool.waiting_job(5), 0u) << "it started at once";
  auto claims = first.claims;
  ASSERT_EQ(claims.size(), 1u) << "the second slot asks the line at once";
  EXPECT_EQ(claims[0].first, 0);
  EXPECT_EQ(claims[0].mark_ms, 20'000);
  Out second;
  ASSERT_TRUE(p.pool.claimed(w, {remote(5, 2)}, p.now, true, second));
  auto j2 = job_of(second);
  EXPECT_EQ(p.pool.waiting_job(5), j2);
  EXPECT_TRUE(second.claims.empty()) << "two messages held: full";
  EXPECT_TRUE(p.dispatch(true).claims.empty());

  // The home offered seq 3: j2 is cancelled and the freed slot asks for stream 5 first.
  Out out;
  p.pool.superseded_from_line(5, 3, true, out);
  ASSERT_EQ(out.messages.size(), 1u);
  EXPECT_EQ(out.messages[0].worker_id, w);
  EXPECT_EQ(out.messages[0].cancelled, j2);
  ASSERT_EQ(out.claims.size(), 1u);
  EXPECT_EQ(out.claims[0].worker_id, w);
  EXPECT_EQ(out.claims[0].first, 5);
  EXPECT_EQ(out.claims[0].mark_ms, 20'000);
  EXPECT_EQ(p.pool.totals().jobs_cancelled, 1u);
  EXPECT_FALSE(p.pool.due(5, 2));
  EXPECT_TRUE(p.dispatch(true).claims.empty()) << "one question at a time";
  Out third;
  ASSERT_TRUE(p.pool.claimed(w, {remote(5, 3)}, p.now, true, third));
  EXPECT_TRUE(third.claims.empty());
  auto j3 = job_of(third);
  EXPECT_EQ(p.pool.waiting_job(5), j3);

  // Stale messages: not older than what waits, or the job started meanwhile.
  Out stale;
  p.pool.superseded_from_line(5, 3, true, stale);
  p.pool.superseded_from_line(5, 1, true, stale);
  p.pool.superseded_from_line(6, 9, true, stale);
  EXPECT_TRUE(stale.messages.empty());
  EXPECT_TRUE(stale.claims.empty());
  ASSERT_TRUE(p.pool.complete(w, j2, WorkerPool::Answer::kError));  // its `cancelled`
  ASSERT_TRUE(p.pool.complete(w, j1, WorkerPool::Answer::kResult));
  EXPECT_EQ(p.pool.waiting_job(5), 0u) << "j3 runs now";
  p.pool.superseded_from_line(5, 4, true, stale);
  EXPECT_TRUE(stale.messages.empty());
  EXPECT_TRUE(p.pool.due(5, 3));
  EXPECT_EQ(p.pool.totals().jobs_failed, 0u);
}

TEST(WorkerPool, ASupersededSlotWhoseNewerFrameWentElsewhereAsksTheLineAsAnyIdleWorker) {
  Pool p;
  auto w = p.pool.add_worker(nullptr, "w", 2);
  p.dispatch(true);
  Out out;
  p.pool.claimed(w, {remote(5, 1)}, p.now, true, out);
  p.pool.claimed(w, {remote(5, 2)}, p.now, true, out);
  Out sup;
  p.pool.superseded_from_line(5, 3, true, sup);
  ASSERT_EQ(sup.claims.size(), 1u);
  // Another worker took seq 3: the slot asks the whole line at once, not after a wake-up.
  Out again;
  ASSERT_TRUE(p.pool.claimed(w, {}, p.now, true, again));
  ASSERT_EQ(again.claims.size(), 1u);
  EXPECT_EQ(again.claims[0].first, 0);
  EXPECT_EQ(again.claims[0].mark_ms, 20'000);
  // Nothing there either: idle until frames are ready.
  Out none;
  ASSERT_TRUE(p.pool.claimed(w, {}, p.now, true, none));
  EXPECT_TRUE(none.claims.empty());
}

TEST(WorkerPool, WithoutTheLineASupersededSlotWaitsForDispatchAndABatchSlotFreesWithItsLastJob) {
  Pool p;
  auto w = p.pool.add_worker(nullptr, "w", 2, 2);
  p.dispatch(true);
  Out out;
  p.pool.claimed(w, {remote(5, 1)}, p.now, true, out);
  Out batch;
  p.pool.claimed(w, {remote(6, 1), remote(7, 1)}, p.now, true, batch);
  ASSERT_EQ(batch.messages.size(), 1u);
  EXPECT_NE(p.pool.waiting_job(6), 0u);
  EXPECT_NE(p.pool.waiting_job(7), 0u);
  // Stream 6's job is cancelled; stream 7's still waits in that batch: no slot frees.
  Out sup;
  p.pool.superseded_from_line(6, 2, true, sup);
  ASSERT_EQ(sup.messages.size(), 1u);
  EXPECT_TRUE(sup.claims.empty());
  // Stream 7's too, with Redis away: the slot frees for the local dispatch, no claim.
  Out down;
  p.pool.superseded_from_line(7, 2, false, down);
  ASSERT_EQ(down.messages.size(), 1u);
  EXPECT_TRUE(down.claims.empty());
  p.frame(8, 1, out);
  auto local = p.dispatch();
  ASSERT_EQ(local.messages.size(), 1u);
  EXPECT_EQ(local.messages[0].worker_id, w);
}
