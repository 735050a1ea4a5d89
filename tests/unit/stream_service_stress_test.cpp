// StreamService from several threads at once, as the server drives it, over a real SQLite
// database and the hub: streamers starting, stopping and ending their own session while frames
// arrive, viewers joining and leaving and asking for styles, a worker answering jobs and dying,
// the biller (StreamService::tick, StyleService::tick) and the hub's ticker. Built with
// ThreadSanitizer as stream_service_tsan (tests/CMakeLists.txt): a race fails it, and a
// StreamLock taken while another is held throws. Afterwards the books agree: no stream is left
// open in the hub or the database, every session was opened once and ended once for the
// subscribers, every ended session's minutes and cost are those of its ledger rows, the ledger
// matches the balances, and no style request of an ended session is left open.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <type_traits>
#include <variant>
#include <vector>

#include "live/protocol.hpp"
#include "live/stream_service.hpp"
#include "live/style_service.hpp"
#include "store/ledger.hpp"
#include "store/streams.hpp"
#include "store/users.hpp"
#include "temp_database.hpp"
#include "tiny_jpeg.hpp"

using namespace ds;
using namespace std::chrono_literals;

namespace {

struct Quiet : live::Peer {
  void send_text(live::Bytes) override {}
  void send_frame(live::Bytes, live::Bytes, bool) override {}
  void close(int, std::string) override {}
};

// A worker connection: keeps the ids of the jobs sent to it for the worker thread to answer.
struct WorkerPeer : live::Peer {
  std::mutex m;
  std::vector<std::uint64_t> jobs;
  void send_text(live::Bytes) override {}
  void send_frame(live::Bytes, live::Bytes, bool) override {}
  void send_ordered(live::Bytes text, std::vector<live::Bytes>) override {
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (!j.is_object() || j.value("type", "") != "job") return;
    if (auto id = live::wire::parse_job_id(j.value("job_id", ""))) {
      std::lock_guard lock(m);
      jobs.push_back(*id);
    }
  }
  void close(int, std::string) override {}
  std::vector<std::uint64_t> take() {
    std::lock_guard lock(m);
    return std::exchange(jobs, {});
  }
};

}  // namespace

TEST(StreamServiceStress, ManyThreadsAndTheBooksAgree) {
  test::TempDatabase tmp(8);
  auto& db = tmp.db();
  ManualClock clock;
  live::Hub hub{clock};
  live::StreamServiceConfig config;
  config.grace_ms = 20'000;
  live::StreamService service(db, hub, clock, config);
  live::StyleServiceConfig style_config;
  style_config.max_requests = 1'000'000;
  live::StyleService styles(db, hub, clock, style_config);

  // Every session's events as the subscribers got them: opened, then ended, once each.
  std::mutex seen_mutex;
  std::map<long long, std::pair<int, int>> seen;  // session id -> (opened, ended)
  bool out_of_order = false;
  service.subscribe([&](const live::StreamEvent& e) { styles.on_stream_event(e); });
  service.subscribe([&](const live::StreamEvent& e) {
    std::lock_guard lock(seen_mutex);
    std::visit(
        [&](const auto& ev) {
          using T = std::decay_t<decltype(ev)>;
          auto& [opened, ended] = seen[ev.session_id];
          if constexpr (std::is_same_v<T, live::StreamOpened>) {
            opened++;
            if (!ev.stream || ev.stream->session_id != ev.session_id) out_of_order = true;
          } else if constexpr (std::is_same_v<T, live::StreamEnded>) {
            ended++;
            if (opened == 0) out_of_order = true;
          } else {
            out_of_order = true;  // one node: nothing moves
          }
        },
        e);
  });

  std::vector<store::User> users;
  for (const char* name : {"ann", "ben", "cat", "dan"}) {
    auto u = test::sample_user(name, clock.now_ms());
    u.id = db.write([&](soci::session& sql) {
      auto id = store::insert_user(sql, u);
      store::append_entry(sql, id, store::kKindAdminAdjustment, 100'000, {}, 0);
      return id;
    });
    users.push_back(u);
  }
  auto viewer = test::sample_user("viewer", clock.now_ms());
  viewer.id = db.write([&](soci::session& sql) { return store::insert_user(sql, viewer); });
  const auto jpeg = live::make_bytes(test::tiny_jpeg());

  std::atomic<bool> stop{false};
  std::atomic<int> starts{0};
  std::atomic<int> shown{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {  // streamers
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      while (!stop) {
        const auto& u = users[rng() % users.size()];
        switch (rng() % 10) {
          case 0:
            if (service.start(u)) starts++;
            break;
          case 1:
            (void)service.ensure_started(u);
            break;
          case 2:
            if (rng() % 3 == 0) (void)service.stop(u.id);
            break;
          case 3:
            if (auto s = hub.stream_of_user(u.id); s && rng() % 3 == 0)
              (void)service.stop_session(u.id, s->session_id);
            break;
          default:
            (void)hub.push_frame(u.username, jpeg);
        }
      }
    });
  }
  threads.emplace_back([&] {  // viewers and their style requests
    std::mt19937 rng(7);
    std::vector<std::pair<std::string, std::shared_ptr<Quiet>>> watching;
    while (!stop) {
      const auto& u = users[rng() % users.size()];
      if (rng() % 2 || watching.empty()) {
        auto p = std::make_shared<Quiet>();
        hub.add_viewer(u.username, p);
        (void)styles.live_event(u.username);
        watching.emplace_back(u.username, p);
      } else {
        auto i = rng() % watching.size();
        hub.remove_viewer(watching[i].first, watching[i].second.get());
        watching.erase(watching.begin() + static_cast<long>(i));
      }
      if (rng() % 4 == 0) (void)styles.submit(u, viewer, "p" + std::to_string(rng() % 50));
    }
    for (auto& [name, p] : watching) hub.remove_viewer(name, p.get());
  });
  threads.emplace_back([&] {  // a worker that answers, and now and then dies
    std::mt19937 rng(11);
    auto peer = std::make_shared<WorkerPeer>();
    auto id = hub.add_worker(peer, "w", 2);
    while (!stop) {
      for (auto job : peer->take()) {
        if (hub.on_result(id, job, jpeg, {}) == live::ResultOutcome::kShown) shown++;
      }
      if (rng() % 200 == 0) {
        hub.remove_worker(id);
        peer = std::make_shared<WorkerPeer>();
        id = hub.add_worker(peer, "w", 2);
      }
      std::this_thread::yield();
    }
    hub.remove_worker(id);
  });
  threads.emplace_back([&] {  // the biller
    while (!stop) {
      clock.advance_ms(1000);
      service.tick();
      styles.tick();
      std::this_thread::sleep_for(1ms);
    }
  });
  threads.emplace_back([&] {  // the hub's ticker
    while (!stop) {
      hub.tick();
      std::this_thread::sleep_for(1ms);
    }
  });
  std::this_thread::sleep_for(2s);
  stop = true;
  for (auto& th : threads) th.join();
  service.shutdown();

  EXPECT_GT(starts.load(), 4) << "the streamers started streams";
  EXPECT_GT(shown.load(), 0) << "the worker's pictures were shown";
  EXPECT_TRUE(hub.streams().empty());
  EXPECT_EQ(service.unsettled(), 0u);
  {
    std::lock_guard lock(seen_mutex);
    EXPECT_FALSE(out_of_order);
    for (const auto& [session, counts] : seen) {
      EXPECT_EQ(counts.first, 1) << "session " << session << " opened";
      EXPECT_EQ(counts.second, 1) << "session " << session << " ended";
    }
  }
  db.with([&](soci::session& sql) {
    EXPECT_TRUE(store::list_open_stream_sessions(sql).empty());
    EXPECT_TRUE(store::verify_ledger(sql).empty());
    long long sessions = 0, charged = 0;
    for (const auto& u : users) {
      for (const auto& s : store::list_stream_sessions(sql, u.id, 0, 1000)) {
        sessions++;
        auto usage = store::usage_totals(sql, s.id);
        EXPECT_EQ(s.duration_minutes, usage.minutes) << "session " << s.id;
        EXPECT_EQ(s.cost_cents, usage.cost_cents) << "session " << s.id;
        charged += usage.minutes;
      }
    }
    EXPECT_EQ(sessions, static_cast<long long>(seen.size()));
    EXPECT_GT(charged, 0) << "minutes were billed";
    long long open_requests = -1;
    sql << "SELECT COUNT(*) FROM style_requests WHERE status IN ('pending','queued','active')",
        soci::into(open_requests);
    EXPECT_EQ(open_requests, 0);
  });
}
