// The hub with a cluster (live/cluster.hpp): a FakeCluster records what the hub asks of the
// other nodes and lets the test answer claims and play the events other nodes would cause.
#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "fake_cluster.hpp"
#include "fake_peer.hpp"
#include "live/cluster.hpp"
#include "live/hub.hpp"
#include "live/protocol.hpp"
#include "test_support.hpp"

using namespace ds;
using namespace ds::live;

namespace {

using test::FakeCluster;
using test::FakePeer;
using test::job_id;
using test::stream;

FrameOffer offer_of(long long session, std::string name, std::uint64_t seq, std::string jpeg) {
  return {session,
          std::move(name),
          seq,
          1000 + static_cast<std::int64_t>(seq),
          {"ink", 0.3, 9},
          make_bytes(std::move(jpeg))};
}

FrameResult result_of(long long session, std::string name, std::uint64_t seq, std::string jpeg,
                      double model_ms = 40) {
  return {session,
          std::move(name),
          seq,
          1000,
          1100,
          model_ms,
          nlohmann::json::object(),
          make_bytes(std::move(jpeg))};
}

std::string state_text(StreamState s) { return *wire::encode_state(s); }

// The "count" of the last viewers message a peer got, or -1.
int last_count(const FakePeer& p) {
  for (auto it = p.texts.rbegin(); it != p.texts.rend(); ++it) {
    auto j = nlohmann::json::parse(*it);
    if (j["type"] == "viewers") return j["count"].get<int>();
  }
  return -1;
}

bool got_text(const FakePeer& p, const std::string& text) {
  return std::find(p.texts.begin(), p.texts.end(), text) != p.texts.end();
}

class HubCluster : public ::testing::Test {
 protected:
  HubCluster() { hub.set_cluster(&cluster); }
  ManualClock clock;
  FakeCluster cluster;
  Hub hub{clock};
};

}  // namespace

TEST_F(HubCluster, PushGoesToTheSharedLineWithTheStreamsStyle) {
  ASSERT_TRUE(hub.open_stream(stream(1, "alice")));
  EXPECT_EQ(cluster.follows, std::vector<std::string>{"alice"}) << "a home follows its stream";
  ASSERT_EQ(cluster.announced.size(), 1u);
  auto w = std::make_shared<FakePeer>();
  hub.add_worker(w, "w");
  EXPECT_EQ(cluster.claims.size(), 1u) << "an idle worker asks the shared line";
  auto accepted = hub.push_frame("alice", make_bytes("f1"));
  ASSERT_TRUE(accepted);
  EXPECT_EQ(accepted->seq, 1u);
  EXPECT_TRUE(w->frames.empty()) << "no local job while the cluster is healthy";
  ASSERT_EQ(cluster.offers.size(), 1u);
  const auto& o = cluster.offers[0];
  EXPECT_EQ(o.session_id, 1);
  EXPECT_EQ(o.username, "alice");
  EXPECT_EQ(o.seq, 1u);
  EXPECT_EQ(o.captured_ms, clock.now_ms());
  EXPECT_EQ(o.style.prompt, "toon");
  EXPECT_DOUBLE_EQ(o.style.strength, 0.5);
  EXPECT_EQ(o.style.seed, 1);
  EXPECT_EQ(*o.jpeg, "f1");
  hub.set_style("alice", {"noir", 0.9, 7});
  hub.push_frame("alice", make_bytes("f2"));
  ASSERT_EQ(cluster.offers.size(), 2u);
  EXPECT_EQ(cluster.offers[1].seq, 2u);
  EXPECT_EQ(cluster.offers[1].style.prompt, "noir");
  EXPECT_EQ(cluster.offers[1].style.seed, 7);
  EXPECT_EQ(hub.snapshot("alice")->frames_in, 2u);
}

TEST_F(HubCluster, OneOfferPerStreamInFlightTheNewestWaitingMeanwhile) {
  // A streamer pushing faster than Redis takes frames queues nothing: the newest waits.
  cluster.hold_offers = true;
  ASSERT_TRUE(hub.open_stream(stream(1, "alice")));
  for (int i = 1; i <= 5; ++i) hub.push_frame("alice", make_bytes("f" + std::to_string(i)));
  ASSERT_EQ(cluster.offers.size(), 1u) << "one offer on its way";
  EXPECT_EQ(cluster.offers[0].seq, 1u);
  EXPECT_EQ(hub.snapshot("alice")->frames_dropped, 3u) << "f2..f4 replaced while waiting";
  auto first = std::move(cluster.held[0]);
  cluster.held.clear();
  first();  // Redis took f1: the newest (f5) goes next
  ASSERT_EQ(cluster.offers.size(), 2u);
  EXPECT_EQ(cluster.offers[1].seq, 5u);
  EXPECT_EQ(*cluster.offers[1].jpeg, "f5");
  auto second = std::move(cluster.held[0]);
  cluster.held.clear();
  second();  // nothing waits: the next push is offered at once
  EXPECT_EQ(cluster.offers.size(), 2u);
  hub.push_frame("alice", make_bytes("f6"));
  ASSERT_EQ(cluster.offers.size(), 3u);
  EXPECT_EQ(cluster.offers[2].seq, 6u);
}

TEST_F(HubCluster, AReconnectAnnouncesTheStreamsHomedHereAtOnce) {
  // Redis may come back empty: other nodes must find the homes before the next second's tick.
  ASSERT_TRUE(hub.open_stream(stream(1, "alice")));
  ASSERT_TRUE(hub.open_stream(stream(2, "bob")));
  cluster.announced.clear();
  ASSERT_TRUE(cluster.events.reconnected);
  cluster.events.reconnected();
  ASSERT_EQ(cluster.announced.size(), 2u);
  std::set<std::string> names{cluster.announced[0].username, cluster.announced[1].username};
  EXPECT_EQ(names, (std::set<std::string>{"alice", "bob"}));
}

TEST_F(HubCluster, TheStreamersStatusCountsTheWholeWorkerPool) {
  // Workers on other nodes serve this stream too: the status shows the pool, not this node.
  ASSERT_TRUE(hub.open_stream(stream(1, "alice")));
  auto ingest = std::make_shared<FakePeer>();
  ASSERT_TRUE(hub.attach_ingest("alice", ingest));
  hub.add_worker(std::make_shared<FakePeer>(), "here");
  clock.advance_ms(1000);
  hub.tick();
  ASSERT_FALSE(cluster.worker_reports.empty());
  EXPECT_EQ(cluster.worker_reports.back(), std::make_pair(1, 0)) << "this node's own workers";
  ASSERT_TRUE(cluster.events.workers);
  cluster.events.workers(7, 3);
  clock.advance_ms(1000);
  hub.tick();
  nlohmann::json status;
  for (const auto& t : ingest->texts) {
    auto j = nlohmann::json::parse(t);
    if (j["type"] == "status") status = j;
  }
  ASSERT_TRUE(status.is_object());
  EXPECT_EQ(status["workers"]["total"], 7);
  EXPECT_EQ(status["workers"]["busy"], 3);
}

TEST_F(HubCluster, UnhealthyClusterFallsBackToTheLocalMailbox) {
  cluster.up = false;
  ASSERT_TRUE(hub.open_stream(stream(1, "alice")));
  auto w = std::make_shared<FakePeer>();
  auto wid = hub.add_worker(w, "w");
  EXPECT_TRUE(cluster.claims.empty()) << "no claims while Redis is away";
  hub.push_frame("alice", make_bytes("f1"));
  EXPECT_TRUE(cluster.offers.empty());
  ASSERT_EQ(w->frames.size(), 1u);
  EXPECT_EQ(w->frames[0].second, "f1");
  auto job = w->last_job();
  EXPECT_EQ(job["stream"], "alice");
  EXPECT_EQ(job["params"]["prompt"], "toon");
  auto viewer = std::make_shared<FakePeer>();
  hub.add_viewer("alice", viewer);
  EXPECT_EQ(hub.on_result(wid, job_id(job["job_id"]), make_bytes("o1"), {}), ResultOutcome::kShown);
  ASSERT_EQ(viewer->frames.size(), 1u);
  EXPECT_EQ(viewer->frames[0].second, "o1");
  EXPECT_EQ(hub.snapshot("alice")->frames_out, 1u);
}

TEST_F(HubCluster, WorkerProcessesAFrameOfAStreamHomedElsewhere) {
  cluster.home_elsewhere("bob", 7);
  auto viewer = std::make_shared<FakePeer>();
  hub.add_viewer("bob", viewer, true, hub.announced_state("bob"));
  EXPECT_EQ(cluster.follows, std::vector<std::string>{"bob"});
  EXPECT_EQ(viewer->texts.front(), state_text(StreamState::kLive))
      << "the state as its home announced it";
  auto w = std::make_shared<FakePeer>();
  auto wid = hub.add_worker(w, "w");
  ASSERT_EQ(cluster.claims.size(), 1u);
  cluster.answer(offer_of(7, "bob", 5, "raw5"));
  ASSERT_EQ(w->frames.size(), 1u);
  EXPECT_EQ(w->frames[0].second, "raw5");
  auto job = w->last_job();
  EXPECT_EQ(job["stream"], "bob");
  EXPECT_EQ(job["seq"], 5);
  EXPECT_EQ(job["params"]["prompt"], "ink");
  EXPECT_EQ(hub.worker_counts().busy, 1);
  EXPECT_TRUE(viewer->frames.empty());

  clock.advance_ms(30);
  EXPECT_EQ(hub.on_result(wid, job_id(job["job_id"]), make_bytes("out5"), {{"model_ms", 25}}),
            ResultOutcome::kShown);
  ASSERT_EQ(cluster.results.size(), 1u);
  const auto& r = cluster.results[0];
  EXPECT_EQ(r.session_id, 7);
  EXPECT_EQ(r.username, "bob");
  EXPECT_EQ(r.seq, 5u);
  EXPECT_EQ(r.captured_ms, 1005);
  EXPECT_EQ(r.processed_ms, clock.now_ms());
  EXPECT_DOUBLE_EQ(r.model_ms, 30);
  EXPECT_EQ(r.timings["model_ms"], 25);
  EXPECT_EQ(*r.jpeg, "out5");
  ASSERT_EQ(viewer->frames.size(), 1u) << "viewers here see it at once";
  EXPECT_EQ(viewer->frames[0].second, "out5");
  EXPECT_EQ(nlohmann::json::parse(viewer->frames[0].first)["seq"], 5);
  EXPECT_EQ(hub.totals().frames_shown, 1u);
  // Idle again: it asks the line for the next frame.
  EXPECT_EQ(hub.worker_counts().busy, 0);
  EXPECT_EQ(cluster.claims.size(), 1u);
  // Its own result comes back from nowhere (never delivered to the sender), but an older
  // one processed elsewhere would be dropped.
  cluster.events.result(result_of(7, "bob", 4, "out4"));
  EXPECT_EQ(viewer->frames.size(), 1u);
}

TEST_F(HubCluster, ClaimAnsweredWithNothingLeavesTheWorkerIdleUntilFramesAreReady) {
  auto w = std::make_shared<FakePeer>();
  hub.add_worker(w, "w");
  ASSERT_EQ(cluster.claims.size(), 1u);
  cluster.answer(std::nullopt);
  EXPECT_TRUE(cluster.claims.empty()) << "no busy loop on an empty line";
  EXPECT_EQ(hub.worker_counts().busy, 0);
  hub.tick();
  EXPECT_EQ(cluster.claims.size(), 1u) << "an idle worker asks again at the next tick";
  cluster.answer(std::nullopt);
  ASSERT_TRUE(cluster.claims.empty());

  cluster.events.frames_ready();
  ASSERT_EQ(cluster.claims.size(), 1u) << "frames ready: the idle worker asks";
  // Frames became ready again while it was asking: one claim in flight, not two...
  cluster.events.frames_ready();
  EXPECT_EQ(cluster.claims.size(), 1u);
  // ...and when that one brings nothing, it asks once more.
  cluster.answer(std::nullopt);
  ASSERT_EQ(cluster.claims.size(), 1u);
  cluster.answer(std::nullopt);
  EXPECT_TRUE(cluster.claims.empty());
  EXPECT_TRUE(w->frames.empty());

  // A claim that finds the cluster gone by the time it comes back empty does not ask again.
  cluster.events.frames_ready();
  ASSERT_EQ(cluster.claims.size(), 1u);
  cluster.events.frames_ready();
  cluster.up = false;
  cluster.answer(std::nullopt);
  EXPECT_TRUE(cluster.claims.empty());
  // And it is idle for local work.
  hub.open_stream(stream(1, "alice"));
  hub.push_frame("alice", make_bytes("f1"));
  ASSERT_EQ(w->frames.size(), 1u);
  EXPECT_EQ(w->frames[0].second, "f1");
}

TEST_F(HubCluster, ClaimedFrameForAWorkerThatLeftIsDropped) {
  auto w = std::make_shared<FakePeer>();
  auto wid = hub.add_worker(w, "w");
  ASSERT_EQ(cluster.claims.size(), 1u);
  hub.remove_worker(wid);
  cluster.answer(offer_of(7, "bob", 1, "raw"));
  EXPECT_TRUE(w->frames.empty());
  EXPECT_EQ(hub.totals().frames_dropped, 1u);
  EXPECT_EQ(hub.worker_counts().total, 0);
}

TEST_F(HubCluster, RemoteResultsOlderThanTheNewestShownAreDropped) {
  cluster.home_elsewhere("bob", 7);
  auto viewer = std::make_shared<FakePeer>();
  hub.add_viewer("bob", viewer, true, hub.announced_state("bob"));
  cluster.events.result(result_of(7, "bob", 5, "o5"));
  ASSERT_EQ(viewer->frames.size(), 1u);
  EXPECT_EQ(viewer->frames[0].second, "o5");
  cluster.events.result(result_of(7, "bob", 5, "o5-again"));
  cluster.events.result(result_of(7, "bob", 3, "o3"));
  EXPECT_EQ(viewer->frames.size(), 1u) << "equal or older: dropped";
  cluster.events.result(result_of(7, "bob", 6, "o6"));
  ASSERT_EQ(viewer->frames.size(), 2u);
  EXPECT_EQ(viewer->frames[1].second, "o6");
  // A newer session (the stream restarted) numbers from 1 again.
  cluster.events.result(result_of(8, "bob", 1, "n1"));
  ASSERT_EQ(viewer->frames.size(), 3u);
  EXPECT_EQ(viewer->frames[2].second, "n1");
  // The old session's late frames are dropped, whatever their number.
  cluster.events.result(result_of(7, "bob", 99, "late"));
  EXPECT_EQ(viewer->frames.size(), 3u);
  // A viewer joining now gets the newest frame.
  auto late = std::make_shared<FakePeer>();
  hub.add_viewer("bob", late, true, hub.announced_state("bob"));
  ASSERT_EQ(late->frames.size(), 1u);
  EXPECT_EQ(late->frames[0].second, "n1");
  // Results of channels nobody here watches are ignored.
  cluster.events.result(result_of(9, "carol", 1, "c1"));
  EXPECT_EQ(viewer->frames.size(), 3u);
}

// Seen in integration_cluster (test_7): a viewer on A joined a stream homed on B before B's
// announcement, A subscribed to the channel just after B published "live", and the viewer said
// "offline" until the stream ended though its pictures came.
TEST_F(HubCluster, AFollowerThatMissedTheLiveEventSaysLiveWithTheFirstPicture) {
  auto viewer = std::make_shared<FakePeer>();
  hub.add_viewer("bob", viewer, true, hub.announced_state("bob"));  // not announced yet
  EXPECT_EQ(viewer->texts.front(), state_text(StreamState::kOffline));
  cluster.events.result(result_of(7, "bob", 1, "b1"));
  ASSERT_EQ(viewer->frames.size(), 1u);
  EXPECT_EQ(viewer->texts.back(), state_text(StreamState::kLive));
  auto later = std::make_shared<FakePeer>();
  hub.add_viewer("bob", later, true, hub.announced_state("bob"));
  EXPECT_EQ(later->texts.front(), state_text(StreamState::kLive));
  cluster.events.result(result_of(7, "bob", 2, "b2"));
  EXPECT_EQ(std::count(viewer->texts.begin(), viewer->texts.end(), state_text(StreamState::kLive)),
            1)
      << "said once";

  // An end heard is not undone by a picture that was still on its way.
  cluster.events.text("bob", wire::encode_state(StreamState::kEnded));
  cluster.events.result(result_of(7, "bob", 3, "b3"));
  EXPECT_EQ(viewer->texts.back(), state_text(StreamState::kEnded));
}

TEST_F(HubCluster, RemoteResultOnTheHomeUpdatesTheStreamAndReachesTheStreamer) {
  ASSERT_TRUE(hub.open_stream(stream(1, "alice")));
  auto ingest = std::make_shared<FakePeer>();
  ASSERT_TRUE(hub.attach_ingest("alice", ingest));
  auto viewer = std::make_shared<FakePeer>();
  hub.add_viewer("alice", viewer);
  hub.push_frame("alice", make_bytes("f1"));
  hub.push_frame("alice", make_bytes("f2"));
  EXPECT_EQ(hub.snapshot("alice")->state, StreamState::kWaiting);
  cluster.texts.clear();

  cluster.events.result(result_of(1, "alice", 1, "o1", 40));
  auto snap = hub.snapshot("alice");
  EXPECT_EQ(snap->frames_out, 1u);
  EXPECT_EQ(snap->state, StreamState::kLive);
  EXPECT_DOUBLE_EQ(snap->model_ms, 40);
  ASSERT_EQ(ingest->frames.size(), 1u);
  EXPECT_EQ(ingest->frames[0].second, "o1");
  ASSERT_EQ(viewer->frames.size(), 1u);
  EXPECT_TRUE(got_text(*viewer, state_text(StreamState::kLive)));
  EXPECT_TRUE(cluster.published("alice", state_text(StreamState::kLive)))
      << "viewers on other nodes hear the stream went live";
  EXPECT_TRUE(cluster.results.empty()) << "the home does not publish what it heard";
  EXPECT_EQ(*hub.latest_output("alice"), "o1");

  // Stale (same or older seq) or of another session: nothing changes.
  cluster.events.result(result_of(1, "alice", 1, "o1-again"));
  cluster.events.result(result_of(2, "alice", 2, "other-session"));
  EXPECT_EQ(hub.snapshot("alice")->frames_out, 1u);
  EXPECT_EQ(ingest->frames.size(), 1u);
  EXPECT_EQ(hub.totals().results_stale, 2u);

  cluster.events.result(result_of(1, "alice", 2, "o2", 60));
  snap = hub.snapshot("alice");
  EXPECT_EQ(snap->frames_out, 2u);
  EXPECT_DOUBLE_EQ(snap->model_ms, 40 * 0.8 + 60 * 0.2);
  ASSERT_EQ(ingest->frames.size(), 2u);
  EXPECT_EQ(ingest->frames[1].second, "o2");
}

TEST_F(HubCluster, RemoteTextReachesViewersAndTheStreamer) {
  ASSERT_TRUE(hub.open_stream(stream(1, "alice")));
  auto ingest = std::make_shared<FakePeer>();
  hub.attach_ingest("alice", ingest);
  auto viewer = std::make_shared<FakePeer>();
  hub.add_viewer("alice", viewer);
  std::string chat = R"({"type":"chat","text":"hi"})";
  cluster.events.text("alice", make_bytes(chat));
  EXPECT_EQ(viewer->texts.back(), chat);
  EXPECT_EQ(ingest->texts.back(), chat);

  // On a node that only has viewers, a state event is remembered for later viewers.
  cluster.home_elsewhere("bob", 7, StreamState::kWaiting);
  auto bob_viewer = std::make_shared<FakePeer>();
  hub.add_viewer("bob", bob_viewer, true, hub.announced_state("bob"));
  cluster.events.result(result_of(7, "bob", 1, "b1"));
  cluster.events.text("bob", make_bytes(chat));
  EXPECT_EQ(bob_viewer->texts.back(), chat);
  cluster.events.text("bob", wire::encode_state(StreamState::kEnded));
  EXPECT_EQ(bob_viewer->texts.back(), state_text(StreamState::kEnded));
  auto later = std::make_shared<FakePeer>();
  hub.add_viewer("bob", later, true, hub.announced_state("bob"));
  ASSERT_FALSE(later->texts.empty());
  EXPECT_EQ(later->texts.front(), state_text(StreamState::kEnded));
  EXPECT_TRUE(later->frames.empty()) << "no frame of an ended stream";
  // Text for a channel nobody here watches goes nowhere (and does not create it).
  cluster.events.text("carol", make_bytes(chat));
  EXPECT_EQ(hub.viewer_count("carol"), 0);
}

TEST_F(HubCluster, FirstViewerFollowsAndLastOneLeavingUnfollows) {
  cluster.home_elsewhere("bob", 7);
  auto v1 = std::make_shared<FakePeer>();
  auto v2 = std::make_shared<FakePeer>();
  hub.add_viewer("bob", v1, true, hub.announced_state("bob"));
  hub.add_viewer("bob", v2, true, hub.announced_state("bob"));
  EXPECT_EQ(cluster.follows, std::vector<std::string>{"bob"});
  hub.remove_viewer("bob", v1.get());
  EXPECT_TRUE(cluster.unfollows.empty());
  hub.remove_viewer("bob", v2.get());
  EXPECT_EQ(cluster.unfollows, std::vector<std::string>{"bob"});
  // Following again after that is a fresh follow.
  hub.add_viewer("bob", v1, true, hub.announced_state("bob"));
  EXPECT_EQ(cluster.follows.size(), 2u);

  // A home follows its own stream for as long as it or its viewers last.
  ASSERT_TRUE(hub.open_stream(stream(1, "alice")));
  auto v3 = std::make_shared<FakePeer>();
  hub.add_viewer("alice", v3);
  EXPECT_EQ(std::count(cluster.follows.begin(), cluster.follows.end(), "alice"), 1);
  hub.remove_viewer("alice", v3.get());
  EXPECT_EQ(std::count(cluster.unfollows.begin(), cluster.unfollows.end(), "alice"), 0);
  hub.close_stream("alice", EndReason::kStopped, "");
  EXPECT_EQ(std::count(cluster.unfollows.begin(), cluster.unfollows.end(), "alice"), 1);
}

TEST_F(HubCluster, ViewerTotalsFromTheClusterCountEveryNode) {
  ASSERT_TRUE(hub.open_stream(stream(1, "alice")));
  auto ingest = std::make_shared<FakePeer>();
  hub.attach_ingest("alice", ingest);
  auto viewer = std::make_shared<FakePeer>();
  hub.add_viewer("alice", viewer);
  hub.tick();  // reports 1 viewer here
  ASSERT_FALSE(cluster.reports.empty());
  EXPECT_EQ(cluster.reports.back().at("alice"), 1);
  EXPECT_EQ(last_count(*viewer), 1);
  // The sum over nodes includes this node's 1: 4 more elsewhere.
  cluster.events.viewers("alice", 5);
  hub.tick();
  EXPECT_EQ(last_count(*viewer), 5);
  EXPECT_EQ(last_count(*ingest), 5);
  auto snap = hub.snapshot("alice");
  EXPECT_EQ(snap->viewers, 5);
  EXPECT_EQ(snap->max_viewers, 5);
  EXPECT_EQ(hub.viewer_count("alice"), 5);
  // The others leave: the count falls, the maximum stays.
  cluster.events.viewers("alice", 1);
  hub.tick();
  EXPECT_EQ(last_count(*viewer), 1);
  EXPECT_EQ(hub.snapshot("alice")->max_viewers, 5);
  // A total below this node's own share never makes the count negative.
  cluster.events.viewers("alice", 0);
  EXPECT_EQ(hub.viewer_count("alice"), 1);

  // On a node with viewers only, the count viewers get includes every node's as well.
  cluster.home_elsewhere("bob", 7);
  auto bob_viewer = std::make_shared<FakePeer>();
  hub.add_viewer("bob", bob_viewer, true, hub.announced_state("bob"));
  clock.advance_ms(1000);
  hub.tick();
  EXPECT_EQ(cluster.reports.back().at("bob"), 1);
  cluster.events.viewers("bob", 3);
  hub.tick();
  EXPECT_EQ(last_count(*bob_viewer), 3);
}

TEST_F(HubCluster, HandOverKeepsViewersAndTheNewHomeContinuesNumbering) {
  ASSERT_TRUE(hub.open_stream(stream(1, "alice")));
  auto ingest = std::make_shared<FakePeer>();
  hub.attach_ingest("alice", ingest);
  auto viewer = std::make_shared<FakePeer>();
  hub.add_viewer("alice", viewer);
  for (int i = 0; i < 3; ++i) hub.push_frame("alice", make_bytes("f"));  // seqs 1..3
  cluster.events.result(result_of(1, "alice", 2, "o2"));
  ASSERT_EQ(viewer->frames.size(), 1u);

  auto resume = hub.hand_over("alice");
  ASSERT_TRUE(resume);
  EXPECT_EQ(resume->next_seq, 4u);
  EXPECT_EQ(resume->frames_in, 3u);
  EXPECT_EQ(resume->frames_out, 1u);
  EXPECT_EQ(resume->max_viewers, 1);
  EXPECT_GT(resume->first_frame_ms, 0);
  EXPECT_EQ(ingest->close_code, 4001);
  EXPECT_EQ(nlohmann::json::parse(ingest->texts.back())["type"], "ended");
  EXPECT_FALSE(hub.snapshot("alice"));
  EXPECT_FALSE(hub.hand_over("alice"));
  EXPECT_TRUE(cluster.unfollows.empty()) << "its viewers here still follow the stream";
  EXPECT_NE(viewer->close_code, 4001);

  // The new home (another hub) carries on from where this one stopped.
  ManualClock other_clock;
  FakeCluster other_cluster;
  other_cluster.id = "there";
  Hub other(other_clock);
  other.set_cluster(&other_cluster);
  auto open = stream(1, "alice");
  open.resume = resume;
  ASSERT_TRUE(other.open_stream(open));
  EXPECT_TRUE(other_cluster.texts.empty()) << "a resumed stream does not announce 'waiting'";
  auto accepted = other.push_frame("alice", make_bytes("f4"));
  ASSERT_TRUE(accepted);
  EXPECT_EQ(accepted->seq, 4u);
  EXPECT_FALSE(accepted->first);
  auto snap = other.snapshot("alice");
  EXPECT_EQ(snap->frames_in, 4u);
  EXPECT_EQ(snap->frames_out, 1u);
  // A late result of a frame the old home numbered is stale on the new one.
  other_cluster.events.result(result_of(1, "alice", 3, "o3"));
  EXPECT_EQ(other.snapshot("alice")->frames_out, 1u);
  EXPECT_EQ(other.totals().results_stale, 1u);
  other_cluster.events.result(result_of(1, "alice", 4, "o4"));
  EXPECT_EQ(other.snapshot("alice")->frames_out, 2u);

  // The viewer left on the old home sees the new home's frames, never older ones.
  cluster.events.result(result_of(1, "alice", 2, "o2-late"));
  EXPECT_EQ(viewer->frames.size(), 1u);
  cluster.events.result(result_of(1, "alice", 4, "o4"));
  ASSERT_EQ(viewer->frames.size(), 2u);
  EXPECT_EQ(viewer->frames[1].second, "o4");

  // The stream moving back here (resumed) keeps numbering and drops what was already shown.
  auto back = other.hand_over("alice");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->next_seq, 5u);
  open.resume = back;
  ASSERT_TRUE(hub.open_stream(open));
  EXPECT_EQ(hub.push_frame("alice", make_bytes("f5"))->seq, 5u);
  cluster.events.result(result_of(1, "alice", 4, "o4-again"));
  EXPECT_EQ(viewer->frames.size(), 2u);
  cluster.events.result(result_of(1, "alice", 5, "o5"));
  EXPECT_EQ(viewer->frames.size(), 3u);
}

TEST_F(HubCluster, CloseStreamWithdrawsForgetsAndTellsOtherNodes) {
  ASSERT_TRUE(hub.open_stream(stream(1, "alice")));
  auto ingest = std::make_shared<FakePeer>();
  hub.attach_ingest("alice", ingest);
  auto viewer = std::make_shared<FakePeer>();
  hub.add_viewer("alice", viewer);
  hub.push_frame("alice", make_bytes("f1"));
  cluster.texts.clear();
  auto snap = hub.close_stream("alice", EndReason::kStopped, "bye");
  ASSERT_TRUE(snap);
  EXPECT_EQ(snap->frames_in, 1u);
  EXPECT_EQ(cluster.withdrawn, std::vector<long long>{1});
  EXPECT_EQ(cluster.forgotten, (std::vector<std::pair<std::string, long long>>{{"alice", 1}}));
  ASSERT_EQ(cluster.texts.size(), 2u);
  EXPECT_EQ(cluster.texts[0],
            std::make_pair(std::string("alice"), state_text(StreamState::kEnded)));
  EXPECT_EQ(cluster.texts[1],
            std::make_pair(std::string("alice"), *wire::encode_ended(EndReason::kStopped, "bye")));
  EXPECT_EQ(ingest->close_code, 4002);
  EXPECT_TRUE(got_text(*viewer, state_text(StreamState::kEnded)));
  EXPECT_FALSE(hub.close_stream("alice", EndReason::kStopped, "bye"));
  EXPECT_EQ(cluster.withdrawn.size(), 1u);
}

TEST_F(HubCluster, ClusterTickAnnouncesHomedStreamsAndReportsViewers) {
  ASSERT_TRUE(hub.open_stream(stream(1, "alice")));
  cluster.home_elsewhere("bob", 7);
  auto viewer = std::make_shared<FakePeer>();
  hub.add_viewer("bob", viewer, true, hub.announced_state("bob"));
  cluster.announced.clear();
  hub.tick();
  ASSERT_EQ(cluster.announced.size(), 1u) << "only streams homed here are announced";
  EXPECT_EQ(cluster.announced[0].username, "alice");
  ASSERT_EQ(cluster.reports.size(), 1u);
  EXPECT_EQ(cluster.reports[0], (std::map<std::string, int>{{"alice", 0}, {"bob", 1}}));
  hub.tick();  // about once a second, not every tick
  EXPECT_EQ(cluster.reports.size(), 1u);
  clock.advance_ms(1000);
  hub.tick();
  EXPECT_EQ(cluster.reports.size(), 2u);
  EXPECT_EQ(cluster.announced.size(), 2u);
}

TEST_F(HubCluster, ABatchWorkerClaimsABatchPerSlotAndTheSecondIsMarkedWaiting) {
  auto w = std::make_shared<FakePeer>();
  auto wid = hub.add_worker(w, "w", 2, 4);
  ASSERT_EQ(cluster.claims.size(), 1u) << "one question at a time, not one per slot";
  EXPECT_EQ(cluster.last_claim_max, 4);
  EXPECT_EQ(cluster.asks.back().mark_ms, 0) << "nothing held: its frames start at once";
  FrameOffer f{9, "remote", 3, clock.now_ms(), {"toon", 0.5, 1}, make_bytes("f")};
  cluster.answer(f);
  ASSERT_EQ(w->ordered.size(), 0u);
  ASSERT_EQ(w->frames.size(), 1u);  // a batch of one: one binary
  auto batch = nlohmann::json::parse(w->frames[0].first);
  EXPECT_EQ(batch["type"], "batch");
  ASSERT_EQ(batch["jobs"].size(), 1u);
  EXPECT_EQ(batch["jobs"][0]["stream"], "remote");
  ASSERT_EQ(cluster.claims.size(), 1u) << "a second slot: it asks again";
  EXPECT_EQ(cluster.asks.back().mark_ms, 20'000) << "what it gets now waits: marked held here";
  cluster.answer(std::nullopt);
  EXPECT_TRUE(cluster.claims.empty()) << "no busy loop on an empty line";
  hub.on_result(wid, job_id(batch["jobs"][0]["job_id"]), make_bytes("o"), {});
  ASSERT_EQ(cluster.claims.size(), 1u) << "free: it asks the line";
  EXPECT_EQ(cluster.asks.back().mark_ms, 0) << "holding nothing, what it gets starts at once";
}

TEST_F(HubCluster,
       TwoSlotsHoldTwoJobsOfAStreamHomedElsewhereAndANewerFrameSupersedesTheWaitingOne) {
  // Slots across nodes (issue 21, 8): before, a worker held one message at a time with --redis
  // whatever its slots, and nothing could supersede a job waiting at it.
  cluster.home_elsewhere("bob", 7);
  auto w = std::make_shared<FakePeer>();
  auto wid = hub.add_worker(w, "w", 2);
  cluster.answer(offer_of(7, "bob", 1, "raw1"));
  ASSERT_EQ(cluster.claims.size(), 1u) << "the second slot asks the line too";
  cluster.answer(offer_of(7, "bob", 2, "raw2"));
  ASSERT_EQ(w->frames.size(), 2u) << "two jobs held at once";
  auto j1 = job_id(nlohmann::json::parse(w->frames[0].first)["job_id"]);
  auto j2 = job_id(w->last_job()["job_id"]);
  EXPECT_EQ(hub.worker_counts().busy, 1);
  EXPECT_TRUE(cluster.claims.empty()) << "both slots full";

  // The home offered seq 3 while seq 2 waits here: the same cancel as on one node, and the
  // freed slot asks for bob's newer frame first, marked waiting again.
  ASSERT_TRUE(cluster.events.supersede);
  cluster.events.supersede(7, 3);
  ASSERT_EQ(w->ordered.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(w->ordered[0].first),
            nlohmann::json::parse(*wire::encode_cancel(j2)));
  ASSERT_EQ(cluster.claims.size(), 1u);
  EXPECT_EQ(cluster.asks.back().first, 7);
  EXPECT_EQ(cluster.asks.back().mark_ms, 20'000);
  cluster.answer(offer_of(7, "bob", 3, "raw3"));
  ASSERT_EQ(w->frames.size(), 3u);
  EXPECT_EQ(w->last_job()["seq"], 3);
  auto j3 = job_id(w->last_job()["job_id"]);

  // A late or repeated message changes nothing: seq 3 is the newest, and it waits.
  cluster.events.supersede(7, 3);
  cluster.events.supersede(7, 2);
  EXPECT_EQ(w->ordered.size(), 1u);
  EXPECT_TRUE(cluster.claims.empty());
  // The worker answers the cancel and the first job; seq 3 then runs and is no longer
  // superseded (a message about it that comes now is stale).
  EXPECT_TRUE(hub.on_cancelled(wid, j2));
  EXPECT_EQ(hub.on_result(wid, j1, make_bytes("out1"), {}), ResultOutcome::kShown);
  ASSERT_EQ(cluster.claims.size(), 1u) << "a slot free again";
  cluster.answer(std::nullopt);
  cluster.events.supersede(7, 4);
  EXPECT_EQ(w->ordered.size(), 1u) << "seq 3 has started: no cancel";
  EXPECT_EQ(hub.on_result(wid, j3, make_bytes("out3"), {}), ResultOutcome::kShown);
  ASSERT_EQ(cluster.results.size(), 2u);
  EXPECT_EQ(cluster.results[1].seq, 3u);
  EXPECT_EQ(hub.totals().frames_shown, 2u);
}

TEST_F(HubCluster, JoiningNeverAsksRedisOnTheCallersThreadAndStylesAreKeptFromTheChannel) {
  cluster.home_elsewhere("bob", 7, StreamState::kLive);
  auto state = hub.announced_state("bob");  // the connect step's lookup
  EXPECT_EQ(state, StreamState::kLive);
  EXPECT_EQ(cluster.finds, 1);
  auto v1 = std::make_shared<FakePeer>();
  hub.add_viewer("bob", v1, true, state);
  EXPECT_EQ(cluster.finds, 1) << "add_viewer itself never looks anything up";
  EXPECT_EQ(v1->texts.front(), state_text(StreamState::kLive));
  // Followed now: later viewers need no lookup, and the styles asked of the home are kept.
  EXPECT_EQ(hub.announced_state("bob"), std::nullopt);
  EXPECT_EQ(cluster.finds, 1);
  EXPECT_EQ(hub.remote_styles("bob"), nullptr);
  hub.remember_styles("bob", make_bytes("asked"));
  EXPECT_EQ(*hub.remote_styles("bob"), "asked");
  // A styles event on the channel replaces it; an answer that comes late does not.
  auto heard = wire::encode_styles({{"current", nullptr}});
  cluster.events.text("bob", heard);
  EXPECT_EQ(*hub.remote_styles("bob"), *heard);
  hub.remember_styles("bob", make_bytes("late"));
  EXPECT_EQ(*hub.remote_styles("bob"), *heard);
  // The stream ends: nothing is kept for the next session.
  cluster.events.text("bob", wire::encode_state(StreamState::kEnded));
  EXPECT_EQ(hub.remote_styles("bob"), nullptr);
  // Streams homed here are never answered from the channel cache.
  ASSERT_TRUE(hub.open_stream(stream(1, "alice")));
  hub.remember_styles("alice", make_bytes("x"));
  EXPECT_EQ(hub.remote_styles("alice"), nullptr);
}
