// Slots (jobs waiting at a worker), supersession by cancel, and cross-stream batches
// (docs/protocol.md "Slots" and "Batches"), at the hub.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "fake_peer.hpp"
#include "live/hub.hpp"
#include "live/protocol.hpp"
#include "test_support.hpp"

using namespace ds;
using namespace ds::live;

namespace {

using nlohmann::json;
using test::FakePeer;
using test::job_id;
using test::stream;

// What a worker was sent, in order: ("job"|"batch"|"cancel", parsed text, binaries).
struct Sent {
  std::string type;
  json msg;
  std::vector<std::string> binaries;
};

// A FakePeer that keeps every ordered message in one list, in the order sent.
struct WorkerPeer : FakePeer {
  std::vector<Sent> sent;
  void send_frame(Bytes meta, Bytes jpeg, bool replaceable) override {
    FakePeer::send_frame(meta, jpeg, replaceable);
    auto m = json::parse(*meta);
    sent.push_back({m["type"], m, {*jpeg}});
  }
  void send_ordered(Bytes text, std::vector<Bytes> binaries) override {
    if (binaries.size() == 1) return send_frame(std::move(text), std::move(binaries[0]), false);
    auto m = json::parse(*text);
    std::vector<std::string> out;
    for (auto& b : binaries) out.push_back(*b);
    sent.push_back({m["type"], m, std::move(out)});
  }
  std::vector<Sent> of_type(const std::string& t) const {
    std::vector<Sent> out;
    for (const auto& s : sent) {
      if (s.type == t) out.push_back(s);
    }
    return out;
  }
};

}  // namespace

TEST(HubSlots, OneSlotIsTodaysOneJobAtATime) {
  ManualClock clock;
  Hub hub(clock);
  hub.open_stream(stream(1, "alice"));
  auto w = std::make_shared<WorkerPeer>();
  hub.add_worker(w, "w");
  hub.push_frame("alice", make_bytes("f1"));
  hub.push_frame("alice", make_bytes("f2"));
  hub.push_frame("alice", make_bytes("f3"));
  ASSERT_EQ(w->sent.size(), 1u);
  EXPECT_EQ(w->sent[0].type, "job");
  EXPECT_TRUE(w->of_type("cancel").empty());
}

TEST(HubSlots, TwoSlotsKeepTheNextInputAtTheWorker) {
  ManualClock clock;
  Hub hub(clock);
  hub.open_stream(stream(1, "alice"));
  auto w = std::make_shared<WorkerPeer>();
  auto wid = hub.add_worker(w, "w", 2);
  hub.push_frame("alice", make_bytes("f1"));
  hub.push_frame("alice", make_bytes("f2"));  // the second slot: waits behind f1
  ASSERT_EQ(w->sent.size(), 2u);
  EXPECT_EQ(w->sent[1].binaries[0], "f2");
  EXPECT_EQ(hub.worker_counts().busy, 1);
  // Answering f1 frees a slot: the next frame goes out at once while f2 is processed.
  EXPECT_EQ(hub.on_result(wid, job_id(w->sent[0].msg["job_id"]), make_bytes("o1"), {}),
            ResultOutcome::kShown);
  hub.push_frame("alice", make_bytes("f3"));
  ASSERT_EQ(w->sent.size(), 3u);
  EXPECT_EQ(w->sent[2].type, "job");
  EXPECT_EQ(w->sent[2].binaries[0], "f3");
  EXPECT_TRUE(w->of_type("cancel").empty());  // f2 had started: it is never cancelled
}

TEST(HubSlots, ANewerFrameSupersedesTheWaitingJob) {
  ManualClock clock;
  Hub hub(clock);
  hub.open_stream(stream(1, "alice"));
  auto viewer = std::make_shared<FakePeer>();
  hub.add_viewer("alice", viewer);
  auto w = std::make_shared<WorkerPeer>();
  auto wid = hub.add_worker(w, "w", 2);
  hub.push_frame("alice", make_bytes("f1"));
  hub.push_frame("alice", make_bytes("f2"));
  auto j2 = job_id(w->sent[1].msg["job_id"]);
  hub.push_frame("alice", make_bytes("f3"));
  // cancel j2, then the newer frame right behind it, in that order.
  ASSERT_EQ(w->sent.size(), 4u);
  EXPECT_EQ(w->sent[2].type, "cancel");
  EXPECT_EQ(job_id(w->sent[2].msg["job_id"]), j2);
  EXPECT_EQ(w->sent[3].binaries[0], "f3");
  auto j3 = job_id(w->sent[3].msg["job_id"]);
  hub.push_frame("alice", make_bytes("f4"));  // supersedes f3 the same way
  ASSERT_EQ(w->sent.size(), 6u);
  EXPECT_EQ(job_id(w->sent[4].msg["job_id"]), j3);
  EXPECT_EQ(w->sent[5].binaries[0], "f4");
  EXPECT_EQ(hub.totals().jobs_cancelled, 2u);
  // The worker drops them unstarted; nothing else changes.
  EXPECT_TRUE(hub.on_cancelled(wid, j2));
  EXPECT_TRUE(hub.on_cancelled(wid, j3));
  EXPECT_FALSE(hub.on_cancelled(wid, j3));  // answered once only
  EXPECT_EQ(w->sent.size(), 6u);
  EXPECT_EQ(hub.totals().jobs_failed, 0u);
  // f1 then f4 are shown.
  hub.on_result(wid, job_id(w->sent[0].msg["job_id"]), make_bytes("o1"), {});
  hub.on_result(wid, job_id(w->sent[5].msg["job_id"]), make_bytes("o4"), {});
  ASSERT_EQ(viewer->frames.size(), 2u);
  EXPECT_EQ(viewer->frames[1].second, "o4");
}

TEST(HubSlots, ACancelThatCrossedTheStartStillShowsTheResult) {
  ManualClock clock;
  Hub hub(clock);
  hub.open_stream(stream(1, "alice"));
  auto viewer = std::make_shared<FakePeer>();
  hub.add_viewer("alice", viewer);
  auto w = std::make_shared<WorkerPeer>();
  auto wid = hub.add_worker(w, "w", 2);
  hub.push_frame("alice", make_bytes("f1"));
  hub.push_frame("alice", make_bytes("f2"));
  hub.push_frame("alice", make_bytes("f3"));  // cancels f2's job; f3 goes out
  auto j1 = job_id(w->sent[0].msg["job_id"]);
  auto j2 = job_id(w->sent[1].msg["job_id"]);
  auto j3 = job_id(w->sent[3].msg["job_id"]);
  // The worker had already started f2 when the cancel came: it answers f2 with a result.
  EXPECT_EQ(hub.on_result(wid, j1, make_bytes("o1"), {}), ResultOutcome::kShown);
  EXPECT_EQ(hub.on_result(wid, j2, make_bytes("o2"), {}), ResultOutcome::kShown);
  EXPECT_EQ(hub.on_result(wid, j3, make_bytes("o3"), {}), ResultOutcome::kShown);
  ASSERT_EQ(viewer->frames.size(), 3u);
  EXPECT_EQ(viewer->frames[2].second, "o3");
  // Every job answered: both slots are free again.
  hub.push_frame("alice", make_bytes("f4"));
  hub.push_frame("alice", make_bytes("f5"));
  EXPECT_EQ(w->of_type("job").size(), 5u);
}

TEST(HubSlots, AnOlderCancelledResultAfterANewerOneIsStale) {
  ManualClock clock;
  Hub hub(clock);
  hub.open_stream(stream(1, "alice"));
  auto w = std::make_shared<WorkerPeer>();
  auto wid = hub.add_worker(w, "w", 2);
  hub.push_frame("alice", make_bytes("f1"));
  hub.push_frame("alice", make_bytes("f2"));
  hub.push_frame("alice", make_bytes("f3"));
  auto j2 = job_id(w->sent[1].msg["job_id"]);
  auto j3 = job_id(w->sent[3].msg["job_id"]);
  EXPECT_EQ(hub.on_result(wid, j3, make_bytes("o3"), {}), ResultOutcome::kShown);
  EXPECT_EQ(hub.on_result(wid, j2, make_bytes("o2"), {}), ResultOutcome::kStale);
}

TEST(HubSlots, TheSecondSlotGoesToAnotherWaitingStreamFirst) {
  ManualClock clock;
  Hub hub(clock);
  hub.open_stream(stream(1, "a"));
  hub.open_stream(stream(2, "b"));
  auto w1 = std::make_shared<WorkerPeer>();
  auto w2 = std::make_shared<WorkerPeer>();
  hub.add_worker(w1, "w1", 2);
  hub.add_worker(w2, "w2", 2);
  hub.push_frame("a", make_bytes("a1"));  // w1
  clock.advance_ms(1);
  hub.push_frame("b", make_bytes("b1"));  // w2: an empty worker before a second slot
  EXPECT_EQ(w1->sent.size(), 1u);
  ASSERT_EQ(w2->sent.size(), 1u);
  EXPECT_EQ(w2->sent[0].msg["stream"], "b");
}

TEST(HubSlots, SupersededStreamKeepsItsPlaceInLine) {
  ManualClock clock;
  Hub hub(clock);
  hub.open_stream(stream(1, "a"));
  hub.open_stream(stream(2, "b"));
  auto w = std::make_shared<WorkerPeer>();
  auto wid = hub.add_worker(w, "w", 2, 2);  // two slots of batches of two
  hub.push_frame("a", make_bytes("a1"));    // batch [a1]
  hub.push_frame("a", make_bytes("a2"));    // batch [a2], waiting
  clock.advance_ms(5);
  hub.push_frame("b", make_bytes("b1"));  // no free slot: b waits in line
  clock.advance_ms(5);
  hub.push_frame("a", make_bytes("a3"));  // cancels a2; its slot is free: a (since 0) goes
  auto batches = w->of_type("batch");
  ASSERT_EQ(batches.size(), 3u);
  // a waited since before b, so it keeps its place: the freed slot takes a3 and b1 together.
  ASSERT_EQ(batches[2].msg["jobs"].size(), 2u);
  EXPECT_EQ(batches[2].msg["jobs"][0]["stream"], "a");
  EXPECT_EQ(batches[2].binaries[0], "a3");
  EXPECT_EQ(batches[2].msg["jobs"][1]["stream"], "b");
  EXPECT_EQ(batches[2].binaries[1], "b1");
  (void)wid;
}

TEST(HubSlots, CancelledJobsPastTheirDeadlineDoNotDropTheWorker) {
  ManualClock clock;
  HubConfig cfg;
  cfg.job_timeout_ms = 1000;
  Hub hub(clock, cfg);
  hub.open_stream(stream(1, "alice"));
  auto w = std::make_shared<WorkerPeer>();
  auto wid = hub.add_worker(w, "w", 2);
  hub.push_frame("alice", make_bytes("f1"));
  hub.push_frame("alice", make_bytes("f2"));
  hub.push_frame("alice", make_bytes("f3"));  // cancels f2's job, which is never answered
  clock.advance_ms(900);
  hub.on_result(wid, job_id(w->sent[0].msg["job_id"]), make_bytes("o1"), {});
  hub.on_result(wid, job_id(w->sent[3].msg["job_id"]), make_bytes("o3"), {});
  clock.advance_ms(200);
  hub.tick();
  EXPECT_EQ(w->close_code, 0);
  EXPECT_EQ(hub.worker_counts().total, 1);
  EXPECT_EQ(hub.totals().jobs_timed_out, 0u);
}

TEST(HubSlots, AStalledWorkerLosesEveryJobItHeld) {
  ManualClock clock;
  HubConfig cfg;
  cfg.job_timeout_ms = 1000;
  Hub hub(clock, cfg);
  hub.open_stream(stream(1, "alice"));
  auto w = std::make_shared<WorkerPeer>();
  hub.add_worker(w, "w", 2);
  hub.push_frame("alice", make_bytes("f1"));
  hub.push_frame("alice", make_bytes("f2"));
  clock.advance_ms(1001);
  hub.tick();
  EXPECT_EQ(w->close_code, wire::code_value(wire::CloseCode::kJobTimeout));
  EXPECT_EQ(hub.worker_counts().total, 0);
  // The next worker gets the stream's next frame, not a stale waiting mark.
  auto w2 = std::make_shared<WorkerPeer>();
  hub.add_worker(w2, "w2", 2);
  hub.push_frame("alice", make_bytes("f3"));
  hub.push_frame("alice", make_bytes("f4"));
  ASSERT_EQ(w2->sent.size(), 2u);
  EXPECT_TRUE(w2->of_type("cancel").empty());
}

TEST(HubSlots, AWorkerThatLeavesFreesTheStreamsWaitingJob) {
  ManualClock clock;
  Hub hub(clock);
  hub.open_stream(stream(1, "alice"));
  auto w = std::make_shared<WorkerPeer>();
  auto wid = hub.add_worker(w, "w", 2);
  hub.push_frame("alice", make_bytes("f1"));
  hub.push_frame("alice", make_bytes("f2"));
  hub.remove_worker(wid);
  auto w2 = std::make_shared<WorkerPeer>();
  hub.add_worker(w2, "w2");
  hub.push_frame("alice", make_bytes("f3"));
  ASSERT_EQ(w2->sent.size(), 1u);
  EXPECT_EQ(w2->sent[0].binaries[0], "f3");
  EXPECT_TRUE(w->of_type("cancel").empty());
}

TEST(HubSlots, AWorkerMayDropAJobItWasNotAskedToCancel) {
  ManualClock clock;
  Hub hub(clock);
  hub.open_stream(stream(1, "alice"));
  auto w = std::make_shared<WorkerPeer>();
  auto wid = hub.add_worker(w, "w");
  hub.push_frame("alice", make_bytes("f1"));
  hub.push_frame("alice", make_bytes("f2"));
  EXPECT_TRUE(hub.on_cancelled(wid, job_id(w->sent[0].msg["job_id"])));
  EXPECT_EQ(hub.totals().jobs_failed, 1u);  // counted as given up, and the slot is free
  ASSERT_EQ(w->sent.size(), 2u);
  EXPECT_EQ(w->sent[1].binaries[0], "f2");
  EXPECT_FALSE(hub.on_cancelled(wid, 0));
  EXPECT_FALSE(hub.on_cancelled(wid, 999));
}

// A worker that never reads: everything sent to it stays queued at its socket.
struct StuckWorkerPeer : WorkerPeer {
  Queued backlog;
  void send_frame(Bytes meta, Bytes jpeg, bool replaceable) override {
    backlog.messages += 2;
    backlog.bytes += meta->size() + jpeg->size();
    WorkerPeer::send_frame(std::move(meta), std::move(jpeg), replaceable);
  }
  void send_ordered(Bytes text, std::vector<Bytes> binaries) override {
    if (binaries.size() == 1) return send_frame(std::move(text), std::move(binaries[0]), false);
    backlog.messages += 1 + binaries.size();
    backlog.bytes += text->size();
    for (auto& b : binaries) backlog.bytes += b->size();
    WorkerPeer::send_ordered(std::move(text), std::move(binaries));
  }
  Queued queued() const override { return backlog; }
};

// Issue 20 item 4: a worker announcing many slots that stops reading is not sent a new job
// (a cancelled waiting job frees its slot) for every frame of every stream.
TEST(HubSlots, AWorkerWhoseSocketIsFullGetsNoNewJobs) {
  ManualClock clock;
  HubConfig cfg;
  cfg.worker_queue_full = {100, 2500};
  Hub hub(clock, cfg);
  hub.open_stream(stream(1, "alice"));
  auto stuck = std::make_shared<StuckWorkerPeer>();
  hub.add_worker(stuck, "stuck", 8);
  for (int i = 0; i < 200; ++i) hub.push_frame("alice", make_bytes(std::string(2000, 'f')));
  // A job under the mark, one more that takes it over, then only the cancel of the one that
  // waited (a job is about 200 bytes of text and its frame).
  EXPECT_EQ(stuck->of_type("job").size(), 2u);
  EXPECT_EQ(stuck->of_type("cancel").size(), 1u);
  EXPECT_EQ(stuck->sent.size(), 3u);
  EXPECT_LT(stuck->backlog.bytes, 2500u + 2500u);
  // A worker that keeps up gets the stream's next frames meanwhile.
  auto good = std::make_shared<WorkerPeer>();
  auto gid = hub.add_worker(good, "good");
  ASSERT_EQ(good->sent.size(), 1u);
  hub.on_result(gid, job_id(good->sent[0].msg["job_id"]), make_bytes("o"), {});
  hub.push_frame("alice", make_bytes("next"));
  ASSERT_EQ(good->sent.size(), 2u);
  EXPECT_EQ(good->sent[1].binaries[0], "next");
}

TEST(HubSlots, AFullWorkerCountsTheJobsOfTheSameStepAndGetsMoreOnceItDrains) {
  ManualClock clock;
  HubConfig cfg;
  cfg.worker_queue_full = {100, 2000};
  Hub hub(clock, cfg);
  for (int i = 1; i <= 5; ++i) {
    hub.open_stream(stream(i, "s" + std::to_string(i)));
    hub.push_frame("s" + std::to_string(i), make_bytes(std::string(1000, 'f')));
  }
  // One step (the hello) would fill all 5 slots; the jobs it already gave (about 1200 bytes
  // each) count, so it stops at 2.
  auto stuck = std::make_shared<StuckWorkerPeer>();
  hub.add_worker(stuck, "stuck", 5);
  EXPECT_EQ(stuck->of_type("job").size(), 2u);
  hub.tick();
  EXPECT_EQ(stuck->of_type("job").size(), 2u);  // still full: nothing more
  stuck->backlog = {};                          // its socket drained
  hub.tick();
  EXPECT_EQ(stuck->of_type("job").size(), 4u);
}

TEST(HubBatches, ABatchTakesTheLongestWaitingStreamsOnceEach) {
  ManualClock clock;
  Hub hub(clock);
  for (int i = 1; i <= 6; ++i) hub.open_stream(stream(i, "s" + std::to_string(i)));
  auto w = std::make_shared<WorkerPeer>();
  auto wid = hub.add_worker(w, "w", 1, 4);
  hub.push_frame("s1", make_bytes("s1-1"));  // a batch of one: nothing else was ready
  for (int i = 2; i <= 6; ++i) {
    clock.advance_ms(1);
    hub.push_frame("s" + std::to_string(i), make_bytes("s" + std::to_string(i) + "-1"));
  }
  clock.advance_ms(1);
  hub.push_frame("s2", make_bytes("s2-2"));  // newest frame wins, s2 keeps its place
  auto batches = w->of_type("batch");
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].msg["jobs"].size(), 1u);
  EXPECT_TRUE(w->of_type("job").empty());  // a batch worker only ever gets batches
  hub.on_result(wid, job_id(batches[0].msg["jobs"][0]["job_id"]), make_bytes("o"), {});
  batches = w->of_type("batch");
  ASSERT_EQ(batches.size(), 2u);
  const auto& b = batches[1];
  ASSERT_EQ(b.msg["jobs"].size(), 4u);
  ASSERT_EQ(b.binaries.size(), 4u);
  std::vector<std::string> streams;
  for (const auto& j : b.msg["jobs"]) streams.push_back(j["stream"]);
  EXPECT_EQ(streams, (std::vector<std::string>{"s2", "s3", "s4", "s5"}));
  EXPECT_EQ(b.binaries[0], "s2-2");
  EXPECT_EQ(b.binaries[3], "s5-1");
  for (const auto& j : b.msg["jobs"]) {
    EXPECT_FALSE(j.contains("type"));
    EXPECT_TRUE(j["deadline_ms"].is_number());
    EXPECT_EQ(j["params"]["prompt"], "toon");
  }
  // Answers come one job at a time, in any order; the slot frees with the last one.
  hub.on_result(wid, job_id(b.msg["jobs"][3]["job_id"]), make_bytes("o"), {});
  hub.on_worker_error(wid, job_id(b.msg["jobs"][0]["job_id"]));
  hub.on_result(wid, job_id(b.msg["jobs"][1]["job_id"]), make_bytes("o"), {});
  EXPECT_EQ(w->of_type("batch").size(), 2u);
  hub.on_result(wid, job_id(b.msg["jobs"][2]["job_id"]), make_bytes("o"), {});
  batches = w->of_type("batch");
  ASSERT_EQ(batches.size(), 3u);
  ASSERT_EQ(batches[2].msg["jobs"].size(), 1u);
  EXPECT_EQ(batches[2].msg["jobs"][0]["stream"], "s6");
}

TEST(HubBatches, EveryStreamGetsTheSameShareOfBatches) {
  ManualClock clock;
  Hub hub(clock);
  for (int i = 1; i <= 8; ++i) hub.open_stream(stream(i, "s" + std::to_string(i)));
  auto w = std::make_shared<WorkerPeer>();
  auto wid = hub.add_worker(w, "w", 1, 4);
  std::map<std::string, int> processed;
  for (int round = 0; round < 40; ++round) {
    for (int i = 1; i <= 8; ++i) hub.push_frame("s" + std::to_string(i), make_bytes("f"));
    clock.advance_ms(33);
    auto batches = w->of_type("batch");
    if (batches.empty()) continue;
    for (const auto& j : batches.back().msg["jobs"]) {
      if (hub.on_result(wid, job_id(j["job_id"]), make_bytes("o"), {}) == ResultOutcome::kShown)
        processed[j["stream"]]++;
    }
  }
  ASSERT_EQ(processed.size(), 8u);
  int lo = 1 << 30, hi = 0;
  for (const auto& [name, n] : processed) {
    lo = std::min(lo, n);
    hi = std::max(hi, n);
  }
  EXPECT_LE(hi - lo, 1);
}

namespace {

// A viewer that records the pictures' seqs; the first picture can be held until released, as a
// slow fan-out thread would hold it.
struct SeqViewer : FakePeer {
  explicit SeqViewer(bool hold_first = false) : hold(hold_first) {}
  void send_frame(Bytes meta, Bytes, bool) override {
    std::unique_lock lock(m);
    seqs.push_back(json::parse(*meta)["seq"].get<std::uint64_t>());
    cv.notify_all();
    if (std::exchange(hold, false)) cv.wait(lock, [&] { return released; });
  }
  bool wait_for_pictures(std::size_t n, std::chrono::milliseconds limit) {
    std::unique_lock lock(m);
    return cv.wait_for(lock, limit, [&] { return seqs.size() >= n; });
  }
  void release() {
    std::lock_guard lock(m);
    released = true;
    cv.notify_all();
  }
  std::vector<std::uint64_t> got() {
    std::lock_guard lock(m);
    return seqs;
  }
  std::mutex m;
  std::condition_variable cv;
  std::vector<std::uint64_t> seqs;
  bool hold;
  bool released = false;
};

}  // namespace

// Two results of one stream answered on two threads (two slots): the hub judges "newest" under
// its lock but fans out after it. The older one's fan-out is held at the first viewer while the
// newer one is answered; the other viewer must still get them oldest first, never 2 then 1.
TEST(HubSlots, TwoResultsAnsweredOnTwoThreadsReachEveryViewerInOrder) {
  ManualClock clock;
  Hub hub(clock);
  hub.open_stream(stream(1, "alice"));
  auto slow = std::make_shared<SeqViewer>(true);
  auto other = std::make_shared<SeqViewer>();
  hub.add_viewer("alice", slow);
  hub.add_viewer("alice", other);
  auto w = std::make_shared<WorkerPeer>();
  auto wid = hub.add_worker(w, "w", 2);
  hub.push_frame("alice", make_bytes("f1"));
  hub.push_frame("alice", make_bytes("f2"));
  ASSERT_EQ(w->sent.size(), 2u);
  auto j1 = job_id(w->sent[0].msg["job_id"]);
  auto j2 = job_id(w->sent[1].msg["job_id"]);

  std::thread first([&] { hub.on_result(wid, j1, make_bytes("o1"), {}); });
  ASSERT_TRUE(slow->wait_for_pictures(1, std::chrono::seconds(5)));  // picture 1 held there
  std::thread second([&] { hub.on_result(wid, j2, make_bytes("o2"), {}); });
  // Without the order kept, picture 2 reaches the other viewer now, ahead of picture 1.
  other->wait_for_pictures(1, std::chrono::milliseconds(300));
  slow->release();
  first.join();
  second.join();
  EXPECT_EQ(other->got(), (std::vector<std::uint64_t>{1, 2}));
  EXPECT_EQ(slow->got(), (std::vector<std::uint64_t>{1, 2}));
}

// A viewer who joins gets the newest picture its channel delivered, never one an in-flight
// fan-out is about to overtake.
TEST(HubSlots, AJoiningViewerGetsTheNewestDeliveredPicture) {
  ManualClock clock;
  Hub hub(clock);
  hub.open_stream(stream(1, "alice"));
  auto w = std::make_shared<WorkerPeer>();
  auto wid = hub.add_worker(w, "w");
  hub.push_frame("alice", make_bytes("f1"));
  hub.on_result(wid, job_id(w->sent[0].msg["job_id"]), make_bytes("o1"), {});
  auto late = std::make_shared<FakePeer>();
  hub.add_viewer("alice", late);
  ASSERT_EQ(late->frames.size(), 1u);
  EXPECT_EQ(late->frames[0].second, "o1");
  hub.close_stream("alice", EndReason::kStopped, "");
  hub.open_stream(stream(2, "alice"));
  auto next = std::make_shared<FakePeer>();
  hub.add_viewer("alice", next);
  EXPECT_TRUE(next->frames.empty());  // nothing of the session before
}
