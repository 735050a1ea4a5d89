#include "live/style_service.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "store/stream_settings.hpp"
#include "store/streams.hpp"
#include "temp_database.hpp"

using namespace ds;

namespace {

// Records what the hub sends; stands in for a socket.
struct RecordingPeer : live::Peer {
  std::vector<nlohmann::json> texts;
  std::vector<nlohmann::json> jobs;
  void send_text(live::Bytes t) override { texts.push_back(nlohmann::json::parse(*t)); }
  void send_frame(live::Bytes meta, live::Bytes, bool) override {
    if (meta) jobs.push_back(nlohmann::json::parse(*meta));
  }
  void close(int, std::string) override {}
  std::vector<nlohmann::json> styles_events() const {
    std::vector<nlohmann::json> out;
    for (const auto& t : texts) {
      if (t["type"] == "styles") out.push_back(t["styles"]);
    }
    return out;
  }
};

struct StyleServiceTest : ::testing::Test {
  ds::test::TempDatabase tmp;
  store::Database* db = &tmp.db();
  ManualClock clock;
  live::Hub hub{clock};
  std::unique_ptr<live::StyleService> service;
  store::User streamer, viewer;
  long long session_id = 0;
  live::LiveStreamPtr stream;
  std::shared_ptr<RecordingPeer> watcher = std::make_shared<RecordingPeer>();

  void SetUp() override {
    streamer = add_user("alice");
    viewer = add_user("bob");
    live::StyleServiceConfig config;
    config.max_requests = 100;
    service = std::make_unique<live::StyleService>(*db, hub, clock, config);
    hub.add_viewer("alice", watcher);
  }

  store::User add_user(const std::string& name) {
    store::User u;
    u.username = name;
    u.email = name + "@example.com";
    u.display_name = "Display " + name;
    u.password_hash = "x";
    u.created_ms = clock.now_ms();
    u.id = db->write([&](soci::session& sql) { return store::insert_user(sql, u); });
    return u;
  }

  void save_settings(const std::string& policy, long long slot_seconds, const std::string& base) {
    domain::StreamSettings s;
    s.style_policy = *domain::parse_style_policy(policy);
    s.style_slot_seconds = slot_seconds;
    s.base_style = base;
    db->write([&](soci::session& sql) { store::save_stream_settings(sql, streamer.id, s); });
  }

  void open_stream() {
    session_id = db->write([&](soci::session& sql) {
      return store::insert_stream_session(sql, streamer.id, clock.now_ms());
    });
    auto s =
        db->with([&](soci::session& sql) { return store::load_stream_settings(sql, streamer.id); });
    stream = hub.open_stream(
        {session_id, streamer.id, "alice", "Alice", {s.base_style, 0.6, session_id}});
    ASSERT_TRUE(stream);
    // As StreamService tells it when it opens the stream.
    service->on_stream_event(live::StreamOpened{"alice", streamer.id, session_id, false, stream});
  }
  // As StreamService tells it when the stream ends.
  void end_stream(live::StyleService& s) {
    s.on_stream_event(
        live::StreamEnded{"alice", streamer.id, session_id, live::EndReason::kStopped, stream});
  }

  std::string stored_status(long long id) {
    std::string status;
    db->with([&](soci::session& sql) {
      sql << "SELECT status FROM style_requests WHERE id = :id", soci::use(id), soci::into(status);
    });
    return status;
  }

  long long count(const std::string& table) {
    long long n = 0;
    db->with([&](soci::session& sql) { sql << "SELECT COUNT(*) FROM " + table, soci::into(n); });
    return n;
  }

  long long submit(const std::string& prompt) {
    auto r = service->submit(streamer, viewer, prompt);
    EXPECT_TRUE(r) << (r ? "" : r.error().code);
    return r ? r->request.id : 0;
  }

  std::string job_prompt() { return hub.snapshot("alice")->style.prompt; }
};

}  // namespace

TEST_F(StyleServiceTest, RequestPlaysAtOnceAndGoesIntoWorkerJobs) {
  save_settings("auto", 30, "pencil");
  open_stream();
  auto r = service->submit(streamer, viewer, "  neon city  ");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->request.prompt, "neon city");
  EXPECT_EQ(r->request.status, domain::StyleStatus::kActive);
  EXPECT_EQ(r->state["current"]["source"], "request");
  EXPECT_EQ(r->state["current"]["request"]["author"]["username"], "bob");
  EXPECT_EQ(stored_status(r->request.id), "active");
  EXPECT_EQ(job_prompt(), "neon city");

  auto worker = std::make_shared<RecordingPeer>();
  hub.add_worker(worker, "w");
  hub.push_frame("alice", live::make_bytes("jpeg"));
  ASSERT_EQ(worker->jobs.size(), 1u);
  EXPECT_EQ(worker->jobs[0]["params"]["prompt"], "neon city");

  auto events = watcher->styles_events();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back()["current"]["prompt"], "neon city");
  auto session =
      db->with([&](soci::session& sql) { return store::find_stream_session(sql, session_id); });
  EXPECT_EQ(session->style_request_count, 1);
}

TEST_F(StyleServiceTest, SlotEndsOnTheInjectedClock) {
  save_settings("auto", 10, "pencil");
  open_stream();
  auto first = submit("one");
  auto second = submit("two");
  EXPECT_EQ(stored_status(second), "queued");
  clock.advance_ms(9'999);
  service->tick();
  EXPECT_EQ(job_prompt(), "one");
  clock.advance_ms(1);
  service->tick();
  EXPECT_EQ(stored_status(first), "done");
  EXPECT_EQ(stored_status(second), "active");
  EXPECT_EQ(job_prompt(), "two");
  EXPECT_EQ(watcher->styles_events().back()["current"]["prompt"], "two");
  clock.advance_ms(10'000);
  service->tick();
  EXPECT_EQ(stored_status(second), "done");
  EXPECT_EQ(job_prompt(), "pencil");
  EXPECT_EQ(service->state(streamer)["current"]["source"], "base");
}

TEST_F(StyleServiceTest, AFailedWriteLeavesTheModelAndViewersWithTheQueueAndRowsCatchUp) {
  save_settings("auto", 10, "pencil");
  open_stream();
  auto first = submit("one");
  auto second = submit("two");
  // The database refuses every change of a stored request (as a full disk would).
  db->write([](soci::session& sql) {
    sql << "CREATE TRIGGER refuse_updates BEFORE UPDATE ON style_requests "
           "BEGIN SELECT RAISE(ABORT, 'disk full'); END";
  });
  clock.advance_ms(10'000);
  service->tick();  // "one"'s slot ends: "two" plays, though its row cannot say so
  EXPECT_EQ(stored_status(first), "active");
  EXPECT_EQ(job_prompt(), "two") << "the model follows the queue";
  EXPECT_EQ(watcher->styles_events().back()["current"]["prompt"], "two");
  EXPECT_EQ(service->state(streamer)["current"]["prompt"], "two");

  db->write([](soci::session& sql) { sql << "DROP TRIGGER refuse_updates"; });
  hub.close_stream("alice", live::EndReason::kStopped, "bye");
  end_stream(*service);
  EXPECT_EQ(stored_status(first), "done") << "the rows catch up at the stream's end";
  EXPECT_EQ(stored_status(second), "done");
}

TEST_F(StyleServiceTest, ApprovePolicyWaitsForTheStreamer) {
  save_settings("approve", 30, "");
  open_stream();
  auto id = submit("oil");
  EXPECT_EQ(stored_status(id), "pending");
  EXPECT_EQ(job_prompt(), "");
  auto state = service->approve(streamer, id);
  ASSERT_TRUE(state);
  EXPECT_EQ((*state)["current"]["prompt"], "oil");
  EXPECT_EQ(stored_status(id), "active");
  EXPECT_EQ(job_prompt(), "oil");
  // Not pending any more, and an unknown id.
  EXPECT_EQ(service->approve(streamer, id).error().code, "not_pending");
  EXPECT_EQ(service->approve(streamer, 9999).error().kind, ErrorKind::kNotFound);
}

TEST_F(StyleServiceTest, StreamEndEndsItsRequests) {
  save_settings("auto", 30, "pencil");
  open_stream();
  auto first = submit("one");
  auto second = submit("two");
  hub.close_stream("alice", live::EndReason::kStopped, "bye");
  end_stream(*service);
  EXPECT_EQ(stored_status(first), "done");
  EXPECT_EQ(stored_status(second), "cleared");
  auto last = watcher->styles_events().back();
  EXPECT_EQ(last["current"]["source"], "base");
  EXPECT_TRUE(last["queue"].empty());
}

TEST_F(StyleServiceTest, RefusedRequestsStoreNothing) {
  save_settings("auto", 30, "pencil");
  auto offline = service->submit(streamer, viewer, "neon");
  ASSERT_FALSE(offline);
  EXPECT_EQ(offline.error().code, "stream_offline");
  open_stream();
  for (const std::string& bad : std::vector<std::string>{"", "   ", std::string(201, 'a'),
                                                         "a\x01"
                                                         "b",
                                                         "bad \xff utf8"}) {
    auto r = service->submit(streamer, viewer, bad);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, "invalid_prompt");
  }
  domain::StreamSettings off;
  off.styles_enabled = false;
  db->write([&](soci::session& sql) { store::save_stream_settings(sql, streamer.id, off); });
  service->apply_settings(streamer, off);
  auto disabled = service->submit(streamer, viewer, "neon");
  ASSERT_FALSE(disabled);
  EXPECT_EQ(disabled.error().code, "styles_disabled");
  EXPECT_EQ(count("style_requests"), 0);
}

TEST_F(StyleServiceTest, SettingsApplyLive) {
  save_settings("approve", 30, "pencil");
  open_stream();
  auto id = submit("one");
  domain::StreamSettings s;
  s.style_policy = domain::StylePolicy::kAuto;
  s.base_style = "charcoal";
  s.style_slot_seconds = 30;
  service->apply_settings(streamer, s);
  EXPECT_EQ(stored_status(id), "active");  // switching to auto plays what was pending
  EXPECT_EQ(job_prompt(), "one");
  auto state = watcher->styles_events().back();
  EXPECT_EQ(state["policy"], "auto");
  EXPECT_EQ(state["base_style"], "charcoal");
  service->skip(streamer);
  EXPECT_EQ(stored_status(id), "skipped");
  EXPECT_EQ(job_prompt(), "charcoal");
}

TEST_F(StyleServiceTest, RecoverEndsRequestsACrashLeftOpen) {
  save_settings("auto", 30, "");
  open_stream();
  auto first = submit("one");
  auto second = submit("two");
  live::StyleService after_restart(*db, hub, clock);
  after_restart.recover();
  EXPECT_EQ(stored_status(first), "done");
  EXPECT_EQ(stored_status(second), "cleared");
}

TEST_F(StyleServiceTest, MovedStreamGoesOnWithItsQueueOnTheNewHome) {
  save_settings("auto", 30, "pencil");
  open_stream();
  auto first = submit("one");
  auto second = submit("two");
  auto third = submit("three");
  auto before = watcher->styles_events().back();
  clock.advance_ms(10'000);

  // The old home lets go of the stream (StreamService::release): the hub hands it over, then
  // the service hears Moving.
  auto resume = hub.hand_over("alice");
  ASSERT_TRUE(resume);
  service->on_stream_event(live::StreamMoving{"alice", streamer.id, session_id, stream});
  service->tick();
  EXPECT_EQ(stored_status(first), "active") << "a move ends no request";
  EXPECT_EQ(stored_status(second), "queued");
  EXPECT_EQ(stored_status(third), "queued");
  EXPECT_EQ(watcher->styles_events().back(), before) << "viewers are not told of a clear";

  // The new home (another node: its own hub and service, the same database).
  live::Hub new_hub{clock};
  live::StyleService new_home(*db, new_hub, clock);
  auto new_watcher = std::make_shared<RecordingPeer>();
  new_hub.add_viewer("alice", new_watcher);
  stream = new_hub.open_stream(
      {session_id, streamer.id, "alice", "Alice", {"pencil", 0.6, session_id}, resume});
  ASSERT_TRUE(stream);
  new_home.on_stream_event(live::StreamOpened{"alice", streamer.id, session_id, true, stream});
  auto state = new_home.state(streamer);
  EXPECT_EQ(state["current"]["request"]["id"], first);
  EXPECT_EQ(state, before) << "the same request plays on, with the rest of its slot";
  ASSERT_EQ(new_watcher->styles_events().size(), 1u);
  EXPECT_EQ(new_watcher->styles_events().back(), before);
  EXPECT_EQ(new_hub.snapshot("alice")->style.prompt, "one");

  clock.advance_ms(20'000);
  new_home.tick();
  EXPECT_EQ(stored_status(first), "done");
  EXPECT_EQ(stored_status(second), "active");
  EXPECT_EQ(new_watcher->styles_events().back()["queue"][0]["id"], third);

  // A real end still ends every request.
  new_hub.close_stream("alice", live::EndReason::kStopped, "bye");
  end_stream(new_home);
  EXPECT_EQ(stored_status(second), "done");
  EXPECT_EQ(stored_status(third), "cleared");
}

TEST_F(StyleServiceTest, AStreamEndedByAnotherNodeHasItsRequestsEnded) {
  save_settings("auto", 30, "pencil");
  open_stream();
  auto first = submit("one");
  auto second = submit("two");
  // The home dies with the queue in its memory; another node (its own hub and service, no
  // queue for the stream) ends the stream as interrupted and tells its style service.
  live::Hub survivor_hub{clock};
  live::StyleService survivor(*db, survivor_hub, clock);
  db->write([&](soci::session& sql) {
    store::end_stream_session(sql, session_id, "interrupted", clock.now_ms(), 1, 20, std::nullopt);
  });
  survivor.on_stream_event(
      live::StreamEnded{"alice", streamer.id, session_id, live::EndReason::kInterrupted});
  EXPECT_EQ(stored_status(first), "done");
  EXPECT_EQ(stored_status(second), "cleared");
}

TEST_F(StyleServiceTest, ApprovalOrderAndPendingSurviveAMove) {
  save_settings("approve", 30, "pencil");
  open_stream();
  auto a = submit("a");
  auto b = submit("b");
  auto c = submit("c");
  auto d = submit("d");
  ASSERT_TRUE(service->approve(streamer, a));
  ASSERT_TRUE(service->approve(streamer, c));
  ASSERT_TRUE(service->approve(streamer, b));
  ASSERT_TRUE(hub.hand_over("alice"));
  service->on_stream_event(live::StreamMoving{"alice", streamer.id, session_id, stream});

  live::Hub new_hub{clock};
  live::StyleService new_home(*db, new_hub, clock);
  stream = new_hub.open_stream({session_id, streamer.id, "alice", "Alice", {}, {}});
  ASSERT_TRUE(stream);
  new_home.on_stream_event(live::StreamOpened{"alice", streamer.id, session_id, true, stream});
  auto state = new_home.state(streamer);
  EXPECT_EQ(state["current"]["request"]["id"], a);
  ASSERT_EQ(state["queue"].size(), 2u);
  EXPECT_EQ(state["queue"][0]["id"], c);
  EXPECT_EQ(state["queue"][1]["id"], b);
  ASSERT_EQ(state["pending"].size(), 1u);
  EXPECT_EQ(state["pending"][0]["id"], d);
  // The streamer's controls go on working on the new home.
  EXPECT_TRUE(new_home.approve(streamer, d));
  EXPECT_EQ(stored_status(d), "queued");
}

namespace {

// A viewer whose socket takes its time: send_text waits until let go (a slow call out of the
// service, as a slow database write would be).
struct StuckPeer : live::Peer {
  std::mutex mutex;
  std::condition_variable cv;
  bool armed = false;  // what joining sends goes through
  bool inside = false;
  bool go = false;
  void send_text(live::Bytes) override {
    std::unique_lock lock(mutex);
    if (!armed) return;
    inside = true;
    cv.notify_all();
    cv.wait(lock, [&] { return go; });
  }
  void send_frame(live::Bytes, live::Bytes, bool) override {}
  void close(int, std::string) override {}
  bool wait_inside() {
    std::unique_lock lock(mutex);
    return cv.wait_for(lock, std::chrono::seconds(10), [&] { return inside; });
  }
  void let_go() {
    std::lock_guard lock(mutex);
    go = true;
    cv.notify_all();
  }
};

}  // namespace

// No lock of the service is held across a change's storage and announcement: while one stream's
// change is stuck on its way out, another stream's requests go through and the stuck stream's
// state is answered from memory. (With one service-wide lock held across them, both waited.)
TEST_F(StyleServiceTest, AChangeOnItsWayOutHoldsUpNoOtherStreamNorTheState) {
  open_stream();
  auto carol = add_user("carol");
  auto carol_session =
      db->write([&](soci::session& sql) { return store::insert_stream_session(sql, carol.id, 1); });
  auto carol_stream = hub.open_stream({carol_session, carol.id, "carol", "Carol", {}, {}});
  ASSERT_TRUE(carol_stream);
  service->on_stream_event(
      live::StreamOpened{"carol", carol.id, carol_session, false, carol_stream});

  auto stuck = std::make_shared<StuckPeer>();
  hub.add_viewer("alice", stuck);
  {
    std::lock_guard lock(stuck->mutex);
    stuck->armed = true;
  }
  auto first =
      std::async(std::launch::async, [&] { return service->submit(streamer, viewer, "a"); });
  ASSERT_TRUE(stuck->wait_inside());

  auto other = std::async(std::launch::async, [&] { return service->submit(carol, viewer, "b"); });
  auto state = std::async(std::launch::async, [&] { return service->state(streamer); });
  bool other_done = other.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
  bool state_done = state.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
  stuck->let_go();
  EXPECT_TRUE(other_done) << "carol's request waited for alice's viewer";
  EXPECT_TRUE(state_done) << "alice's state waited for her own viewer";
  ASSERT_TRUE(first.get());
  ASSERT_TRUE(other.get());
  EXPECT_EQ(state.get()["current"]["prompt"], "a");
  EXPECT_EQ(job_prompt(), "a");
}

// Changes made from several threads at once leave the database and the hub as the queue is.
TEST_F(StyleServiceTest, ChangesFromManyThreadsLeaveTheDatabaseAsTheQueueIs) {
  save_settings("approve", 30, "pencil");
  open_stream();
  std::vector<long long> ids;
  for (int i = 0; i < 40; ++i) ids.push_back(submit("p" + std::to_string(i)));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < 40; i += 4) {
        if (i % 2) {
          EXPECT_TRUE(service->approve(streamer, ids[i]));
        } else {
          EXPECT_TRUE(service->reject(streamer, ids[i]));
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  auto state = service->state(streamer);
  // What the database holds is what the queue holds: every odd one approved (one plays, the rest
  // wait in line), every even one rejected.
  long long playing = state["current"]["request"]["id"];
  for (int i = 0; i < 40; ++i) {
    auto want = i % 2 ? (ids[i] == playing ? "active" : "queued") : "rejected";
    EXPECT_EQ(stored_status(ids[i]), want) << i;
  }
  EXPECT_EQ(job_prompt(), state["current"]["prompt"]);
  EXPECT_EQ(state["queue"].size(), 19u);
}

// Settings saved while the stream is open but before its Opened is handled (so the queue may
// have read the settings saved before them): the queue opens with the newer ones, and the
// model and the viewers get them. (Before, they were lost until the next change.)
TEST_F(StyleServiceTest, SettingsSavedJustAsTheStreamOpensAreNotLost) {
  save_settings("auto", 30, "pencil");
  session_id = db->write([&](soci::session& sql) {
    return store::insert_stream_session(sql, streamer.id, clock.now_ms());
  });
  stream =
      hub.open_stream({session_id, streamer.id, "alice", "Alice", {"pencil", 0.6, session_id}});
  ASSERT_TRUE(stream);
  // The database still has the older settings here, as the queue read them.
  domain::StreamSettings newer;
  newer.style_policy = domain::StylePolicy::kApprove;
  newer.style_slot_seconds = 20;
  newer.base_style = "ink";
  service->apply_settings(streamer, newer);
  service->on_stream_event(live::StreamOpened{"alice", streamer.id, session_id, false, stream});
  auto state = service->state(streamer);
  EXPECT_EQ(state["base_style"], "ink");
  EXPECT_EQ(state["policy"], "approve");
  EXPECT_EQ(state["slot_seconds"], 20);
  EXPECT_EQ(hub.snapshot("alice")->style.prompt, "ink");
  ASSERT_FALSE(watcher->styles_events().empty());
  EXPECT_EQ(watcher->styles_events().back()["base_style"], "ink") << "viewers heard it";
}
