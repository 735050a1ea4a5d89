// cluster::RedisBus against a real redis-server (tests/unit/redis_server.hpp): two nodes, a and
// b, on one Redis.
#include "cluster/redis_bus.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "redis_server.hpp"

using namespace std::chrono_literals;
using ds::SystemClock;
using ds::cluster::RedisAddress;
using ds::cluster::RedisBus;
using ds::cluster::RedisBusConfig;
using ds::cluster::Reply;
using ds::live::Bytes;
using ds::live::Call;
using ds::live::ClaimAsk;
using ds::live::ClusterEvents;
using ds::live::FrameOffer;
using ds::live::FrameResult;
using ds::live::make_bytes;
using ds::live::StreamSnapshot;
using ds::live::StreamState;
using ds::test::eventually;

namespace {

// What one node heard from the others; filled on its subscriber's thread.
struct Heard {
  std::mutex mutex;
  int frames_ready = 0;
  std::vector<FrameResult> results;
  std::vector<std::pair<std::string, std::string>> texts;
  std::map<std::string, int> viewers;  // the latest total per stream
  int viewer_events = 0;
  std::pair<int, int> workers{-1, -1};  // the latest pool sums (total, busy)
  std::vector<std::pair<long long, std::uint64_t>> supersedes;  // (session, seq)

  ClusterEvents events() {
    ClusterEvents e;
    e.frames_ready = [this] {
      std::lock_guard lock(mutex);
      frames_ready++;
    };
    e.result = [this](const FrameResult& r) {
      std::lock_guard lock(mutex);
      results.push_back(r);
    };
    e.text = [this](const std::string& u, const Bytes& t) {
      std::lock_guard lock(mutex);
      texts.emplace_back(u, *t);
    };
    e.viewers = [this](const std::string& u, int n) {
      std::lock_guard lock(mutex);
      viewers[u] = n;
      viewer_events++;
    };
    e.workers = [this](int total, int busy) {
      std::lock_guard lock(mutex);
      workers = {total, busy};
    };
    e.supersede = [this](long long session, std::uint64_t seq) {
      std::lock_guard lock(mutex);
      supersedes.emplace_back(session, seq);
    };
    return e;
  }
  template <typename F>
  auto with(F f) {
    std::lock_guard lock(mutex);
    return f();
  }
};

class RedisBusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.start());
    a_ = make_bus("a", heard_a_);
    b_ = make_bus("b", heard_b_);
    ASSERT_TRUE(eventually([&] { return a_->healthy() && b_->healthy(); }));
    ASSERT_TRUE(eventually([&] { return a_->node_alive("b") && b_->node_alive("a"); }));
    // Each subscriber's first connect has told its node to look at the line.
    ASSERT_TRUE(eventually([&] {
      return heard_a_.with([&] { return heard_a_.frames_ready; }) >= 1 &&
             heard_b_.with([&] { return heard_b_.frames_ready; }) >= 1;
    }));
  }

  void TearDown() override {
    if (b_) b_->stop();
    if (a_) a_->stop();
  }

  std::unique_ptr<RedisBus> make_bus(const std::string& node, Heard& heard,
                                     std::function<void(std::function<void()>)> executor = {}) {
    RedisBusConfig config;
    config.executor = std::move(executor);
    config.address = RedisAddress{"127.0.0.1", server_.port(), 0};
    config.node_id = node;
    config.secret = "unit-test cluster secret";
    config.node_ttl_ms = 1000;
    config.heartbeat_ms = 100;
    auto bus = std::make_unique<RedisBus>(config, clock_);
    bus->listen(heard.events());
    bus->start();
    return bus;
  }

  // Everything bus sent before has been run by Redis (its link is one ordered pipeline).
  static void sync(RedisBus& bus) { ASSERT_TRUE(bus.link().call({"PING"}, 2s)); }

  static std::optional<FrameOffer> claim(RedisBus& bus) {
    auto done = std::make_shared<std::promise<std::optional<FrameOffer>>>();
    auto got = done->get_future();
    bus.claim([done](std::optional<FrameOffer> f) { done->set_value(std::move(f)); });
    if (got.wait_for(2s) != std::future_status::ready) {
      ADD_FAILURE() << "claim did not answer";
      return std::nullopt;
    }
    return got.get();
  }

  static FrameOffer frame(long long session, std::uint64_t seq, std::string jpeg) {
    return {session,
            "user" + std::to_string(session),
            seq,
            1000 + static_cast<std::int64_t>(seq),
            {"toon", 0.5, session},
            make_bytes(std::move(jpeg))};
  }

  // Offers each, a few milliseconds apart so their waiting times differ.
  void offer_in_turn(RedisBus& bus, const std::vector<long long>& sessions) {
    for (auto s : sessions) {
      bus.offer(frame(s, 1, "f" + std::to_string(s)), {});
      sync(bus);
      std::this_thread::sleep_for(3ms);
    }
  }

  std::vector<long long> claim_all(RedisBus& bus) {
    std::vector<long long> out;
    while (auto f = claim(bus)) {
      out.push_back(f->session_id);
      if (out.size() > 100) break;
    }
    return out;
  }

  static StreamSnapshot snapshot(long long session, const std::string& username) {
    StreamSnapshot s;
    s.session_id = session;
    s.user_id = session + 100;
    s.username = username;
    s.display_name = "The " + username;
    s.state = StreamState::kLive;
    s.viewers = 3;
    s.frames_in = 42;
    s.model_ms = 12.5;
    s.has_ingest = true;
    s.style = {"ink", 0.7, 9};
    return s;
  }

  std::int64_t subscribers(const std::string& channel) {
    auto r = a_->link().call({"PUBSUB", "NUMSUB", channel}, 1s);
    if (!r || r->type != Reply::Type::kArray || r->elements.size() != 2) return -1;
    return r->elements[1].integer;
  }

  SystemClock clock_;
  ds::test::RedisServer server_;
  Heard heard_a_;
  Heard heard_b_;
  std::unique_ptr<RedisBus> a_;
  std::unique_ptr<RedisBus> b_;
};

}  // namespace

TEST_F(RedisBusTest, ClaimGetsTheNewestFrameOfAStreamOnce) {
  int ready_before = heard_b_.with([&] { return heard_b_.frames_ready; });
  a_->offer(frame(1, 1, "f1"), {});
  auto second = frame(1, 2, std::string("f2\n\0\xff", 5));
  a_->offer(second, {});
  sync(*a_);
  auto got = claim(*b_);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->session_id, 1);
  EXPECT_EQ(got->username, "user1");
  EXPECT_EQ(got->seq, 2u);
  EXPECT_EQ(got->captured_ms, 1002);
  EXPECT_EQ(got->style.prompt, "toon");
  EXPECT_DOUBLE_EQ(got->style.strength, 0.5);
  EXPECT_EQ(got->style.seed, 1);
  EXPECT_EQ(*got->jpeg, *second.jpeg);
  EXPECT_FALSE(claim(*b_)) << "one frame per stream: the older one was replaced";
  EXPECT_FALSE(claim(*a_));
  // The stream joining the line woke the other node, once for both offers.
  EXPECT_TRUE(eventually(
      [&] { return heard_b_.with([&] { return heard_b_.frames_ready; }) == ready_before + 1; }));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(heard_b_.with([&] { return heard_b_.frames_ready; }), ready_before + 1);
}

TEST_F(RedisBusTest, StreamsAreClaimedInOrderOfWaiting) {
  offer_in_turn(*a_, {1, 2, 3});
  auto first = claim(*b_);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->session_id, 1);
  // s1 had its turn: offered again, it waits behind s2 and s3.
  std::this_thread::sleep_for(3ms);
  offer_in_turn(*a_, {1});
  EXPECT_EQ(claim_all(*b_), (std::vector<long long>{2, 3, 1}));
}

TEST_F(RedisBusTest, ANewerFrameKeepsItsStreamsPlaceInLine) {
  offer_in_turn(*a_, {1, 2});
  a_->offer(frame(1, 2, "newer"), {});  // s1 still waits: it keeps its place, with the new frame
  sync(*a_);
  auto first = claim(*b_);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->session_id, 1);
  EXPECT_EQ(first->seq, 2u);
  EXPECT_EQ(*first->jpeg, "newer");
  EXPECT_EQ(claim_all(*b_), (std::vector<long long>{2}));
}

TEST_F(RedisBusTest, ABatchClaimTakesTheLongestWaitingStreamsOnceEach) {
  offer_in_turn(*a_, {1, 2, 3, 4, 5});
  a_->offer(frame(2, 2, "newer"), {});  // s2 keeps its place with its newest frame
  sync(*a_);
  a_->withdraw(3);  // an ended stream is skipped
  sync(*a_);
  auto take = [&](int max) {
    auto done = std::make_shared<std::promise<std::vector<FrameOffer>>>();
    auto got = done->get_future();
    b_->claim_batch(max, [done](std::vector<FrameOffer> f) { done->set_value(std::move(f)); });
    EXPECT_EQ(got.wait_for(2s), std::future_status::ready);
    return got.get();
  };
  auto batch = take(3);
  ASSERT_EQ(batch.size(), 3u);
  EXPECT_EQ(batch[0].session_id, 1);
  EXPECT_EQ(batch[1].session_id, 2);
  EXPECT_EQ(*batch[1].jpeg, "newer");
  EXPECT_EQ(batch[1].style.prompt, "toon");
  EXPECT_EQ(batch[2].session_id, 4);
  auto rest = take(8);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].session_id, 5);
  EXPECT_TRUE(take(8).empty());
}

// Slots across nodes: a claim marked waiting names its node in ds:held:<session>; the home's
// next offer of that stream takes the mark and tells that node (sealed), and the freed slot
// claims that stream's newer frame first.
TEST_F(RedisBusTest, AnOfferSupersedesAJobMarkedWaitingOnTheNodeThatClaimedIt) {
  auto take = [](RedisBus& bus, ClaimAsk ask) {
    auto done = std::make_shared<std::promise<std::vector<FrameOffer>>>();
    auto got = done->get_future();
    bus.claim_for(ask, [done](std::vector<FrameOffer> f) { done->set_value(std::move(f)); });
    EXPECT_EQ(got.wait_for(2s), std::future_status::ready);
    return got.get();
  };
  auto supersedes = [](Heard& h) { return h.with([&] { return h.supersedes; }); };
  using Got = std::vector<std::pair<long long, std::uint64_t>>;
  a_->offer(frame(7, 1, "f1"), {});
  sync(*a_);
  auto got = take(*b_, {1, 0, 5000});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].seq, 1u);
  auto mark = b_->link().call({"GET", "ds:held:7"}, 2s);
  ASSERT_TRUE(mark);
  EXPECT_EQ(mark->str, "b");
  // Another stream waits meanwhile; then the home's newer frame of 7 reaches b.
  a_->offer(frame(8, 1, "g1"), {});
  std::this_thread::sleep_for(3ms);
  a_->offer(frame(7, 2, "f2"), {});
  ASSERT_TRUE(eventually([&] { return supersedes(heard_b_) == Got{{7, 2}}; }));
  EXPECT_TRUE(supersedes(heard_a_).empty());
  EXPECT_EQ(b_->link().call({"EXISTS", "ds:held:7"}, 2s)->integer, 0) << "the mark is taken";
  // The freed slot asks for 7 first, though 8 waited longer; 8 is next for anyone.
  got = take(*b_, {1, 7, 0});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].session_id, 7);
  EXPECT_EQ(*got[0].jpeg, "f2");
  EXPECT_EQ(claim_all(*b_), (std::vector<long long>{8}));
  // Not marked this time: the next offer tells nobody.
  a_->offer(frame(7, 3, "f3"), {});
  sync(*a_);
  // A's own worker: told without Redis. A mark that is not a node id: nobody.
  ASSERT_EQ(take(*a_, {2, 0, 5000}).size(), 1u);
  ASSERT_TRUE(a_->link().call({"SET", "ds:held:9", "b c"}, 2s));
  a_->offer(frame(7, 4, "f4"), {});
  a_->offer(frame(9, 1, "h1"), {});
  ASSERT_TRUE(eventually([&] { return supersedes(heard_a_) == Got{{7, 4}}; }));
  sync(*a_);
  sync(*b_);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(supersedes(heard_b_), (Got{{7, 2}}));
}

// Offers within one millisecond still keep their order: no stream gets a second turn while
// another waits, whatever its id.
TEST_F(RedisBusTest, OrderHoldsForOffersInTheSameMillisecond) {
  for (int round = 0; round < 20; ++round) {
    // Offered in this order, which is not the order of their ids as strings ("10" < "3").
    a_->offer(frame(3, 1, "x"), {});
    a_->offer(frame(20, 1, "x"), {});
    a_->offer(frame(10, 1, "x"), {});
    sync(*a_);
    ASSERT_EQ(claim_all(*b_), (std::vector<long long>{3, 20, 10})) << "round " << round;
    // s10 waits; s3 had its turn and comes back at once: s10 goes first.
    a_->offer(frame(10, 2, "x"), {});
    a_->offer(frame(3, 2, "x"), {});
    sync(*a_);
    ASSERT_EQ(claim_all(*b_), (std::vector<long long>{10, 3})) << "round " << round;
  }
}

TEST_F(RedisBusTest, WithdrawTakesAWaitingFrameOutOfLine) {
  offer_in_turn(*a_, {1, 2});
  a_->withdraw(1);
  sync(*a_);
  EXPECT_EQ(claim_all(*b_), (std::vector<long long>{2}));
  a_->offer(frame(3, 1, "x"), {});
  a_->withdraw(3);
  sync(*a_);
  EXPECT_FALSE(claim(*b_));
}

TEST_F(RedisBusTest, AnnouncedStreamsAreFoundUntilTheirHomeStopsThenOrphanedOnce) {
  a_->announce(snapshot(1, "alice"));
  sync(*a_);
  auto found = b_->find("alice");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->node, "a");
  EXPECT_GT(found->updated_ms, 0);
  const auto& s = found->snapshot;
  EXPECT_EQ(s.session_id, 1);
  EXPECT_EQ(s.user_id, 101);
  EXPECT_EQ(s.username, "alice");
  EXPECT_EQ(s.display_name, "The alice");
  EXPECT_EQ(s.state, StreamState::kLive);
  EXPECT_EQ(s.viewers, 3);
  EXPECT_EQ(s.frames_in, 42u);
  EXPECT_DOUBLE_EQ(s.model_ms, 12.5);
  EXPECT_TRUE(s.has_ingest);
  EXPECT_EQ(s.style.prompt, "ink");
  EXPECT_EQ(s.style.seed, 9);
  EXPECT_FALSE(b_->find("nobody"));
  auto all = b_->streams();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].snapshot.username, "alice");
  EXPECT_TRUE(b_->node_alive("a"));
  EXPECT_FALSE(b_->node_alive("nobody"));
  EXPECT_TRUE(b_->orphans().empty()) << "its home beats";

  a_->stop();  // a clean exit deletes the heartbeat at once
  EXPECT_FALSE(b_->node_alive("a"));
  EXPECT_FALSE(b_->find("alice"));
  EXPECT_TRUE(b_->streams()->empty());
  // Orphaned once the announcement is older than the node ttl; handed out exactly once.
  std::vector<ds::live::AnnouncedStream> orphans;
  EXPECT_TRUE(eventually(
      [&] {
        for (auto& o : b_->orphans()) orphans.push_back(std::move(o));
        return !orphans.empty();
      },
      3s));
  ASSERT_EQ(orphans.size(), 1u);
  EXPECT_EQ(orphans[0].node, "a");
  EXPECT_EQ(orphans[0].snapshot.username, "alice");
  EXPECT_EQ(orphans[0].snapshot.session_id, 1);
  EXPECT_TRUE(b_->orphans().empty());
}

TEST_F(RedisBusTest, ForgetRemovesOnlyTheGivenSession) {
  a_->announce(snapshot(1, "alice"));
  a_->announce(snapshot(3, "bob"));
  sync(*a_);
  b_->forget("alice", 2);  // an older session's end does not remove the new one
  ASSERT_TRUE(b_->find("alice"));
  b_->forget("alice", 1);
  EXPECT_FALSE(b_->find("alice"));
  auto bob = b_->find("bob");
  ASSERT_TRUE(bob);
  EXPECT_EQ(bob->snapshot.session_id, 3);
}

TEST_F(RedisBusTest, ViewerCountsAreSummedOverNodes) {
  auto total = [](Heard& h, const std::string& u) {
    return h.with([&] { return h.viewers.contains(u) ? h.viewers[u] : -1; });
  };
  a_->report_viewers({{"alice", 2}});
  sync(*a_);
  b_->report_viewers({{"alice", 3}});
  EXPECT_TRUE(eventually([&] { return total(heard_b_, "alice") == 5; }));
  a_->report_viewers({{"alice", 2}});
  EXPECT_TRUE(eventually([&] { return total(heard_a_, "alice") == 5; }));

  // A node reporting 0 drops out of the sum.
  b_->report_viewers({{"alice", 0}});
  EXPECT_TRUE(eventually([&] { return total(heard_b_, "alice") == 2; }));
  a_->report_viewers({{"alice", 2}});
  EXPECT_TRUE(eventually([&] { return total(heard_a_, "alice") == 2; }));

  // So does one that stops reporting a stream at all.
  b_->report_viewers({{"alice", 4}});
  EXPECT_TRUE(eventually([&] { return total(heard_b_, "alice") == 6; }));
  b_->report_viewers({});
  sync(*b_);
  a_->report_viewers({{"alice", 2}});
  sync(*a_);
  EXPECT_TRUE(eventually([&] { return total(heard_a_, "alice") == 2; }));
  a_->report_viewers({{"alice", 0}});
  EXPECT_TRUE(eventually([&] { return total(heard_a_, "alice") == 0; }));
}

TEST_F(RedisBusTest, WorkerPoolIsSummedOverNodes) {
  auto pool = [](Heard& h) { return h.with([&] { return h.workers; }); };
  a_->report_workers(2, 1);
  sync(*a_);
  b_->report_workers(3, 0);
  EXPECT_TRUE(eventually([&] { return pool(heard_b_) == std::make_pair(5, 1); }));
  b_->report_workers(0, 0);  // b's workers left
  sync(*b_);
  a_->report_workers(2, 2);
  EXPECT_TRUE(eventually([&] { return pool(heard_a_) == std::make_pair(2, 2); }));
}

TEST_F(RedisBusTest, CallsReachTheOtherNodeAndTimeOutForNobody) {
  b_->serve_calls([](const Call& c) -> Call {
    if (c.header.value("op", "") == "boom") throw std::runtime_error("boom");
    return {{{"node", "b"}, {"echo", c.header}}, c.body + "!"};
  });
  std::string body("x\ny\0z", 5);
  auto reply = a_->call("b", {{{"op", "ping"}}, body}, 2s);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->header["node"], "b");
  EXPECT_EQ(reply->header["echo"]["op"], "ping");
  EXPECT_EQ(reply->body, body + "!");
  auto failed = a_->call("b", {{{"op", "boom"}}, ""}, 2s);
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->header["error"], "boom");

  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(a_->call("nobody", {{{"op", "ping"}}, ""}, 200ms));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 190ms);
  EXPECT_LT(took, 1s);
}

TEST_F(RedisBusTest, AnAsyncCallIsAnsweredLaterWithoutAWaitingThreadOrTimesOutAtTick) {
  // b answers "later" calls only when the test says so (a blocking HLS reload at the home).
  std::mutex m;
  std::vector<ds::live::Cluster::Respond> later;
  b_->serve_calls_async([&](const Call& c, ds::live::Cluster::Respond respond) {
    if (c.header.value("op", "") == "later") {
      std::lock_guard lock(m);
      later.push_back(std::move(respond));
      return;
    }
    respond({{{"now", true}}, c.body});
  });
  std::mutex got_m;
  std::vector<std::optional<Call>> got;
  auto done = [&](std::optional<Call> c) {
    std::lock_guard lock(got_m);
    got.push_back(std::move(c));
  };
  auto count = [&] {
    std::lock_guard lock(got_m);
    return got.size();
  };
  a_->call_async("b", {{{"op", "now"}}, "body"}, 2s, done);  // returns at once
  ASSERT_TRUE(eventually([&] { return count() == 1; }));
  EXPECT_EQ(got[0]->header["now"], true);
  EXPECT_EQ(got[0]->body, "body");

  a_->call_async("b", {{{"op", "later"}}, ""}, 5s, done);
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(m);
    return later.size() == 1;
  }));
  EXPECT_EQ(count(), 1u) << "not answered yet";
  {
    std::lock_guard lock(m);
    later[0]({{{"late", true}}, ""});
  }
  ASSERT_TRUE(eventually([&] { return count() == 2; }));
  EXPECT_EQ(got[1]->header["late"], true);

  // Nobody answers: the call is answered nullopt by the first tick past its deadline.
  a_->call_async("nobody", {{{"op", "ping"}}, ""}, 100ms, done);
  a_->tick();
  EXPECT_EQ(count(), 2u);
  std::this_thread::sleep_for(150ms);
  a_->tick();
  ASSERT_EQ(count(), 3u);
  EXPECT_FALSE(got[2]);
}

TEST_F(RedisBusTest, ChannelEventsReachFollowersButNotTheSender) {
  b_->follow("alice");
  a_->follow("alice");  // the home follows its own stream
  ASSERT_TRUE(eventually([&] { return subscribers("ds:c:alice") == 2; }));
  a_->publish_text("alice", make_bytes(R"({"type":"state","state":"live"})"));
  FrameResult r{1, "alice", 7, 1000, 1100, 33.5, {{"model_ms", 30}}, make_bytes("o\n7")};
  a_->publish_result(r);
  ASSERT_TRUE(eventually([&] {
    return heard_b_.with(
        [&] { return heard_b_.texts.size() == 1 && heard_b_.results.size() == 1; });
  }));
  heard_b_.with([&] {
    EXPECT_EQ(heard_b_.texts[0].first, "alice");
    EXPECT_EQ(heard_b_.texts[0].second, R"({"type":"state","state":"live"})");
    const auto& got = heard_b_.results[0];
    EXPECT_EQ(got.session_id, 1);
    EXPECT_EQ(got.username, "alice");
    EXPECT_EQ(got.seq, 7u);
    EXPECT_EQ(got.captured_ms, 1000);
    EXPECT_EQ(got.processed_ms, 1100);
    EXPECT_DOUBLE_EQ(got.model_ms, 33.5);
    EXPECT_EQ(got.timings["model_ms"], 30);
    EXPECT_EQ(*got.jpeg, "o\n7");
    return 0;
  });
  // b's answer comes back to a, but a's own messages never do.
  b_->publish_text("alice", make_bytes("from b"));
  ASSERT_TRUE(
      eventually([&] { return heard_a_.with([&] { return heard_a_.texts.size() == 1; }); }));
  std::this_thread::sleep_for(50ms);
  heard_a_.with([&] {
    EXPECT_EQ(heard_a_.texts.size(), 1u);
    EXPECT_EQ(heard_a_.texts[0].second, "from b");
    EXPECT_TRUE(heard_a_.results.empty());
    return 0;
  });
  EXPECT_EQ(heard_b_.with([&] { return heard_b_.texts.size(); }), 1u);

  // Unfollowed: nothing more.
  b_->unfollow("alice");
  ASSERT_TRUE(eventually([&] { return subscribers("ds:c:alice") == 1; }));
  a_->publish_text("alice", make_bytes("later"));
  sync(*a_);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(heard_b_.with([&] { return heard_b_.texts.size(); }), 1u);
}

TEST_F(RedisBusTest, LeaseIsHeldByOneNode) {
  EXPECT_TRUE(a_->lease("end:1", 1s));
  EXPECT_FALSE(b_->lease("end:1", 1s));
  EXPECT_FALSE(a_->lease("end:1", 1s)) << "not re-entrant";
  EXPECT_TRUE(b_->lease("end:2", 1s));
}

// -- the sealed wire ---------------------------------------------------------------------------

namespace {

std::uint64_t dropped(RedisBus& bus) {
  auto s = bus.stats();
  return s.dropped_forged + s.dropped_stale + s.dropped_replayed;
}

}  // namespace

TEST_F(RedisBusTest, WhatRedisSeesIsSealedAndARepeatOrAForgeryIsDroppedAndCounted) {
  b_->follow("alice");
  ASSERT_TRUE(eventually([&] { return subscribers("ds:c:alice") == 1; }));
  // A bystander with PSUBSCRIBE * on Redis.
  std::mutex m;
  std::vector<std::string> sniffed;
  ds::cluster::RedisSubscriber spy(RedisAddress{"127.0.0.1", server_.port(), 0}, "spy",
                                   [&](std::string_view, std::string_view p) {
                                     std::lock_guard lock(m);
                                     sniffed.emplace_back(p);
                                   });
  spy.subscribe("ds:c:alice");
  spy.start();
  ASSERT_TRUE(eventually([&] { return subscribers("ds:c:alice") == 2; }));

  a_->publish_text("alice", make_bytes("top secret text"));
  ASSERT_TRUE(
      eventually([&] { return heard_b_.with([&] { return heard_b_.texts.size(); }) == 1; }));
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(m);
    return sniffed.size() == 1;
  }));
  std::string captured;
  {
    std::lock_guard lock(m);
    captured = sniffed[0];
  }
  EXPECT_EQ(captured.find("top secret"), std::string::npos);

  // Published again by someone who can write to Redis: dropped as a replay.
  auto before = b_->stats();
  ASSERT_TRUE(a_->link().call({"PUBLISH", "ds:c:alice", captured}, 1s));
  // In the old clear format, and sealed with another key: forged.
  ASSERT_TRUE(a_->link().call({"PUBLISH", "ds:c:alice", "Ta\nforged text"}, 1s));
  SystemClock clock;
  ds::cluster::Seal mallory("not the cluster secret at all", "a", clock);
  ASSERT_TRUE(a_->link().call(
      {"PUBLISH", "ds:c:alice", mallory.seal("ds:c:alice", "Ta\nforged text")}, 1s));
  auto before_total = before.dropped_forged + before.dropped_stale + before.dropped_replayed;
  ASSERT_TRUE(eventually([&] { return dropped(*b_) == before_total + 3; }));
  auto after = b_->stats();
  EXPECT_EQ(after.dropped_replayed - before.dropped_replayed, 1u);
  EXPECT_EQ(after.dropped_forged - before.dropped_forged, 2u);
  EXPECT_EQ(heard_b_.with([&] { return heard_b_.texts.size(); }), 1u);
}

TEST_F(RedisBusTest, ABroadcastRunsOnEveryOtherNodeOnceAndAForgeryNowhere) {
  std::mutex m;
  std::vector<std::string> ran;  // "<node>:<op>"
  auto handler = [&](const std::string& node) {
    return [&, node](const Call& c) -> Call {
      std::lock_guard lock(m);
      ran.push_back(node + ":" + c.header.value("op", ""));
      return {{{"ok", true}}, {}};
    };
  };
  a_->serve_calls(handler("a"));
  b_->serve_calls(handler("b"));
  ASSERT_TRUE(eventually([&] { return subscribers("ds:all") == 2; }));
  a_->broadcast({{{"op", "revoke"}, {"user_id", 7}}, {}});
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(m);
    return !ran.empty();
  }));
  // A forged broadcast (not sealed with the cluster's key) runs nowhere.
  SystemClock clock;
  ds::cluster::Seal mallory("not the cluster secret at all", "a", clock);
  ASSERT_TRUE(a_->link().call(
      {"PUBLISH", "ds:all", mallory.seal("ds:all", "Ba\n{\"op\":\"forged\"}\n")}, 1s));
  ASSERT_TRUE(eventually([&] { return dropped(*b_) >= 1; }));
  // Redis delivers in the order it was given: once A hears B's later broadcast, A's own first
  // one (and the forgery) would have come back to it already.
  b_->broadcast({{{"op", "second"}}, {}});
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(m);
    return ran.size() >= 2;
  }));
  std::lock_guard lock(m);
  EXPECT_EQ(ran, (std::vector<std::string>{"b:revoke", "a:second"}));
}

TEST_F(RedisBusTest, FramesWaitInLineSealedAndAForgedFrameIsNeverClaimed) {
  a_->offer(frame(5, 1, "jpeg-bytes-of-a-camera"), {});
  sync(*a_);
  auto stored = a_->link().call({"GET", "ds:f:5"}, 1s);
  ASSERT_TRUE(stored && stored->type == Reply::Type::kString);
  EXPECT_EQ(stored->str.find("jpeg-bytes"), std::string::npos);
  EXPECT_EQ(stored->str.find("user5"), std::string::npos);
  auto got = claim(*b_);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got->jpeg, "jpeg-bytes-of-a-camera");

  // Someone with Redis puts a frame of their own in line.
  ASSERT_TRUE(
      a_->link().call({"SET", "ds:f:6",
                       R"({"session_id":6,"username":"x","seq":1,"captured_ms":1,"prompt":"",)"
                       R"("strength":0,"seed":0})"
                       "\nJPEG"},
                      1s));
  ASSERT_TRUE(a_->link().call({"ZADD", "ds:ready", "1", "6"}, 1s));
  auto before = b_->stats().dropped_forged;
  EXPECT_FALSE(claim(*b_));
  EXPECT_EQ(b_->stats().dropped_forged, before + 1);
}

TEST_F(RedisBusTest, ACallPastItsDeadlineNeverRuns) {
  // c's executor holds calls until the test lets them go: as a busy pool would.
  std::mutex m;
  std::vector<std::function<void()>> held;
  Heard heard_c;
  auto c = make_bus("c", heard_c, [&](std::function<void()> fn) {
    std::lock_guard lock(m);
    held.push_back(std::move(fn));
  });
  std::atomic<int> ran{0};
  c->serve_calls([&](const Call&) -> Call {
    ran++;
    return {{{"ok", true}}, ""};
  });
  ASSERT_TRUE(eventually([&] { return c->healthy(); }));
  EXPECT_FALSE(a_->call("c", {{{"op", "release"}}, ""}, 100ms));  // the caller gives up
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(m);
    return held.size() == 1;
  }));
  std::function<void()> late;
  {
    std::lock_guard lock(m);
    late = std::move(held[0]);
  }
  late();
  EXPECT_EQ(ran.load(), 0);
  EXPECT_EQ(c->stats().calls_expired, 1u);
  c->stop();
}
