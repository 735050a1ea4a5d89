#include "live/hub.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fake_peer.hpp"
#include "live/protocol.hpp"
#include "test_support.hpp"

using namespace ds;
using namespace ds::live;

namespace {

using test::FakePeer;
using test::job_id;
using test::stream;

}  // namespace

TEST(Hub, IdleWorkerGetsNewestFrameOnly) {
  ManualClock clock;
  Hub hub(clock);
  ASSERT_TRUE(hub.open_stream(stream(1, "alice")));
  auto w = std::make_shared<FakePeer>();
  auto wid = hub.add_worker(w, "w");
  hub.push_frame("alice", make_bytes("f1"));  // goes straight to the idle worker
  hub.push_frame("alice", make_bytes("f2"));
  hub.push_frame("alice", make_bytes("f3"));  // replaces f2 in the mailbox
  ASSERT_EQ(w->frames.size(), 1u);
  auto job = w->last_job();
  EXPECT_EQ(job["params"]["prompt"], "toon");
  EXPECT_EQ(hub.on_result(wid, job_id(job["job_id"]), make_bytes("out1"), {}),
            ResultOutcome::kShown);
  ASSERT_EQ(w->frames.size(), 2u);
  EXPECT_EQ(w->frames.back().second, "f3");
  EXPECT_EQ(hub.snapshot("alice")->frames_dropped, 1u);
}

TEST(Hub, ViewersGetProcessedFramesNeverRawOnes) {
  ManualClock clock;
  Hub hub(clock);
  hub.open_stream(stream(1, "alice"));
  auto viewer = std::make_shared<FakePeer>();
  hub.add_viewer("alice", viewer);
  auto w = std::make_shared<FakePeer>();
  auto wid = hub.add_worker(w, "w");
  hub.push_frame("alice", make_bytes("raw"));
  EXPECT_TRUE(viewer->frames.empty());
  hub.on_result(wid, job_id(w->last_job()["job_id"]), make_bytes("processed"), {});
  ASSERT_EQ(viewer->frames.size(), 1u);
  EXPECT_EQ(viewer->frames[0].second, "processed");
}

// Frames go out through a copy of the viewer list that is kept between frames: whoever joins
// or leaves in between must be in, or out of, the very next frame.
TEST(Hub, ViewersWhoJoinOrLeaveBetweenFramesAreInOrOutOfTheNextOne) {
  ManualClock clock;
  Hub hub(clock);
  hub.open_stream(stream(1, "alice"));
  auto a = std::make_shared<FakePeer>();
  auto b = std::make_shared<FakePeer>();
  auto c = std::make_shared<FakePeer>();
  hub.add_viewer("alice", a);
  hub.add_viewer("alice", b);
  auto w = std::make_shared<FakePeer>();
  auto wid = hub.add_worker(w, "w");
  auto process = [&](const std::string& out) {
    hub.push_frame("alice", make_bytes("raw"));
    ASSERT_EQ(hub.on_result(wid, job_id(w->last_job()["job_id"]), make_bytes(out), {}),
              ResultOutcome::kShown);
  };
  process("p1");
  process("p2");               // the same list again
  hub.add_viewer("alice", c);  // gets p2 on joining, then p3 with the others
  process("p3");
  hub.remove_viewer("alice", b.get());
  process("p4");
  auto jpegs = [](const FakePeer& p) {
    std::vector<std::string> out;
    for (const auto& f : p.frames) out.push_back(f.second);
    return out;
  };
  EXPECT_EQ(jpegs(*a), (std::vector<std::string>{"p1", "p2", "p3", "p4"}));
  EXPECT_EQ(jpegs(*b), (std::vector<std::string>{"p1", "p2", "p3"}));
  EXPECT_EQ(jpegs(*c), (std::vector<std::string>{"p2", "p3", "p4"}));
  hub.release_peers();
  EXPECT_EQ(a.use_count(), 1) << "the hub holds no viewer after release_peers";
}

TEST(Hub, WorkersAreSharedFairlyAcrossStreams) {
  ManualClock clock;
  Hub hub(clock);
  hub.open_stream(stream(1, "a"));
  hub.open_stream(stream(2, "b"));
  auto w = std::make_shared<FakePeer>();
  auto wid = hub.add_worker(w, "w");
  hub.push_frame("a", make_bytes("a1"));  // a takes the worker
  clock.advance_ms(1);
  hub.push_frame("b", make_bytes("b1"));
  clock.advance_ms(1);
  hub.push_frame("a", make_bytes("a2"));  // a again, but b waited longer
  hub.on_result(wid, job_id(w->last_job()["job_id"]), make_bytes("o"), {});
  EXPECT_EQ(w->last_job()["stream"], "b");
  hub.on_result(wid, job_id(w->last_job()["job_id"]), make_bytes("o"), {});
  EXPECT_EQ(w->last_job()["stream"], "a");
}

TEST(Hub, OutputOlderThanOneShownIsDropped) {
  ManualClock clock;
  Hub hub(clock);
  hub.open_stream(stream(1, "alice"));
  auto w1 = std::make_shared<FakePeer>();
  auto w2 = std::make_shared<FakePeer>();
  auto id1 = hub.add_worker(w1, "w1");
  auto id2 = hub.add_worker(w2, "w2");
  hub.push_frame("alice", make_bytes("f1"));
  hub.push_frame("alice", make_bytes("f2"));
  auto viewer = std::make_shared<FakePeer>();
  hub.add_viewer("alice", viewer);
  EXPECT_EQ(hub.on_result(id2, job_id(w2->last_job()["job_id"]), make_bytes("o2"), {}),
            ResultOutcome::kShown);
  EXPECT_EQ(hub.on_result(id1, job_id(w1->last_job()["job_id"]), make_bytes("o1"), {}),
            ResultOutcome::kStale);
  ASSERT_EQ(viewer->frames.size(), 1u);
  EXPECT_EQ(viewer->frames[0].second, "o2");
}

TEST(Hub, JobPastDeadlineIsAbandonedAndStalledWorkerDropped) {
  ManualClock clock;
  HubConfig cfg;
  cfg.job_timeout_ms = 1000;
  Hub hub(clock, cfg);
  hub.open_stream(stream(1, "alice"));
  auto slow = std::make_shared<FakePeer>();
  auto slow_id = hub.add_worker(slow, "slow");
  hub.push_frame("alice", make_bytes("f1"));
  clock.advance_ms(1001);
  hub.tick();
  EXPECT_NE(slow->close_code, 0);
  EXPECT_EQ(hub.worker_counts().total, 0);
  // Its late answer is not accepted, and the stream carries on with a fresh worker.
  EXPECT_EQ(hub.on_result(slow_id, job_id(slow->last_job()["job_id"]), make_bytes("late"), {}),
            ResultOutcome::kUnknownJob);
  auto fresh = std::make_shared<FakePeer>();
  hub.add_worker(fresh, "fresh");
  hub.push_frame("alice", make_bytes("f2"));
  ASSERT_EQ(fresh->frames.size(), 1u);
  EXPECT_EQ(fresh->frames[0].second, "f2");
}

TEST(Hub, DisconnectedWorkerLosesJobAndStreamContinues) {
  ManualClock clock;
  Hub hub(clock);
  hub.open_stream(stream(1, "alice"));
  auto w1 = std::make_shared<FakePeer>();
  auto id1 = hub.add_worker(w1, "w1");
  hub.push_frame("alice", make_bytes("f1"));
  hub.remove_worker(id1);
  auto w2 = std::make_shared<FakePeer>();
  hub.add_worker(w2, "w2");
  hub.push_frame("alice", make_bytes("f2"));
  ASSERT_EQ(w2->frames.size(), 1u);
  EXPECT_EQ(w2->frames[0].second, "f2");
}

TEST(Hub, ResultForUnknownJobIsRejected) {
  ManualClock clock;
  Hub hub(clock);
  auto w = std::make_shared<FakePeer>();
  auto id = hub.add_worker(w, "w");
  EXPECT_EQ(hub.on_result(id, job_id("j999"), make_bytes("x"), {}), ResultOutcome::kUnknownJob);
  EXPECT_EQ(hub.on_result(id, job_id("garbage"), make_bytes("x"), {}), ResultOutcome::kUnknownJob);
}

TEST(Hub, NewerIngestReplacesOlderOne) {
  ManualClock clock;
  Hub hub(clock);
  hub.open_stream(stream(1, "alice"));
  auto first = std::make_shared<FakePeer>();
  auto second = std::make_shared<FakePeer>();
  EXPECT_TRUE(hub.attach_ingest("alice", first));
  EXPECT_TRUE(hub.attach_ingest("alice", second));
  EXPECT_EQ(first->close_code, 4001);
  EXPECT_EQ(second->close_code, 0);
  EXPECT_FALSE(hub.attach_ingest("nobody", second));
}

TEST(Hub, ViewerCountIncludesEveryViewerAndMaxIsKept) {
  ManualClock clock;
  Hub hub(clock);
  hub.open_stream(stream(1, "alice"));
  auto a = std::make_shared<FakePeer>();
  auto b = std::make_shared<FakePeer>();
  hub.add_viewer("alice", a);
  hub.add_viewer("alice", b);
  hub.remove_viewer("alice", a.get());
  auto snap = hub.snapshot("alice");
  EXPECT_EQ(snap->viewers, 1);
  EXPECT_EQ(snap->max_viewers, 2);
}

TEST(Hub, ViewersAreToldWhenWaitingForTheModel) {
  ManualClock clock;
  Hub hub(clock);
  hub.open_stream(stream(1, "alice"));
  auto viewer = std::make_shared<FakePeer>();
  hub.add_viewer("alice", viewer);
  EXPECT_NE(viewer->texts[0].find("waiting"), std::string::npos);
  auto w = std::make_shared<FakePeer>();
  auto id = hub.add_worker(w, "w");
  hub.push_frame("alice", make_bytes("f"));
  hub.on_result(id, job_id(w->last_job()["job_id"]), make_bytes("o"), {});
  EXPECT_EQ(hub.snapshot("alice")->state, StreamState::kLive);
  hub.tick();  // flushes the viewer count
  clock.advance_ms(10'000);
  hub.tick();
  EXPECT_EQ(hub.snapshot("alice")->state, StreamState::kWaiting);
  EXPECT_NE(viewer->texts.back().find("waiting"), std::string::npos);
}

TEST(Hub, StreamersOwnPreviewGetsFramesButIsNotCounted) {
  ManualClock clock;
  Hub hub(clock);
  hub.open_stream(stream(1, "alice"));
  auto preview = std::make_shared<FakePeer>();
  auto viewer = std::make_shared<FakePeer>();
  hub.add_viewer("alice", preview, false);
  hub.add_viewer("alice", viewer);
  EXPECT_EQ(hub.viewer_count("alice"), 1);
  EXPECT_EQ(hub.snapshot("alice")->max_viewers, 1);
  auto w = std::make_shared<FakePeer>();
  auto wid = hub.add_worker(w, "w");
  hub.push_frame("alice", make_bytes("raw"));
  hub.on_result(wid, job_id(w->last_job()["job_id"]), make_bytes("processed"), {});
  ASSERT_EQ(preview->frames.size(), 1u);
  EXPECT_EQ(preview->frames[0].second, "processed");
  hub.remove_viewer("alice", viewer.get());
  EXPECT_EQ(hub.viewer_count("alice"), 0);
  hub.remove_viewer("alice", preview.get());
  hub.add_viewer("alice", viewer);
  EXPECT_EQ(hub.viewer_count("alice"), 1) << "a removed preview leaves no trace in the count";
}

TEST(Hub, TotalsCountFramesDropsJobsAndOutcomes) {
  ManualClock clock;
  Hub hub(clock);
  hub.open_stream(stream(1, "alice"));
  auto w1 = std::make_shared<FakePeer>();
  auto w2 = std::make_shared<FakePeer>();
  auto id1 = hub.add_worker(w1, "w1");
  hub.push_frame("alice", make_bytes("f1"));  // to w1
  auto id2 = hub.add_worker(w2, "w2");
  hub.push_frame("alice", make_bytes("f2"));  // to w2
  hub.push_frame("alice", make_bytes("f3"));  // waits
  hub.push_frame("alice", make_bytes("f4"));  // replaces f3
  EXPECT_EQ(hub.on_result(id2, job_id(w2->last_job()["job_id"]), make_bytes("o2"), {}),
            ResultOutcome::kShown);
  EXPECT_EQ(hub.on_result(id1, job_id(w1->last_job()["job_id"]), make_bytes("o1"), {}),
            ResultOutcome::kStale);
  EXPECT_TRUE(hub.on_worker_error(id2, job_id(w2->last_job()["job_id"])));  // w2 had taken f4
  auto t = hub.totals();
  EXPECT_EQ(t.frames_in, 4u);
  EXPECT_EQ(t.frames_dropped, 1u);
  EXPECT_EQ(t.jobs_sent, 3u);
  EXPECT_EQ(t.frames_shown, 1u);
  EXPECT_EQ(t.results_stale, 1u);
  EXPECT_EQ(t.jobs_failed, 1u);
  EXPECT_EQ(t.jobs_timed_out, 0u);
}

// Regression (issue 8 item 10): "j0" matched an idle worker's empty job, so each error or
// result for it queued the worker as idle once more and one worker was handed several jobs.
TEST(Hub, IdleWorkerMessagesForJobZeroChangeNothing) {
  ManualClock clock;
  Hub hub(clock);
  hub.open_stream(stream(1, "alice"));
  hub.open_stream(stream(2, "bob"));
  auto w = std::make_shared<FakePeer>();
  auto wid = hub.add_worker(w, "w");
  EXPECT_FALSE(hub.on_worker_error(wid, job_id("j0")));
  EXPECT_FALSE(hub.on_worker_error(wid, job_id("j0")));
  EXPECT_EQ(hub.on_result(wid, job_id("j0"), make_bytes("x"), {}), ResultOutcome::kUnknownJob);
  EXPECT_EQ(hub.on_result(wid, job_id("j00"), make_bytes("x"), {}), ResultOutcome::kUnknownJob);
  hub.push_frame("alice", make_bytes("a1"));
  hub.push_frame("bob", make_bytes("b1"));
  EXPECT_EQ(w->frames.size(), 1u);  // one worker, one job at a time
  EXPECT_EQ(hub.worker_counts().busy, 1);
}

// Regression (issue 8 item 9): on shutdown the hub must let go of every connection before
// the server's io_context is destroyed.
TEST(Hub, ReleasePeersDropsEveryConnection) {
  ManualClock clock;
  Hub hub(clock);
  hub.open_stream(stream(1, "alice"));
  auto viewer = std::make_shared<FakePeer>();
  auto ingest = std::make_shared<FakePeer>();
  auto worker = std::make_shared<FakePeer>();
  hub.add_viewer("alice", viewer);
  ASSERT_TRUE(hub.attach_ingest("alice", ingest));
  hub.add_worker(worker, "w");
  EXPECT_GT(viewer.use_count(), 1);
  hub.release_peers();
  EXPECT_EQ(viewer.use_count(), 1);
  EXPECT_EQ(ingest.use_count(), 1);
  EXPECT_EQ(worker.use_count(), 1);
  EXPECT_EQ(hub.worker_counts().total, 0);
}
