// StyleService from several threads at once, over a real SQLite database: viewers' requests,
// the streamer's controls, saved settings, the ticker, and streams ending and opening again, on
// three streams. Built with ThreadSanitizer as style_service_tsan (tests/CMakeLists.txt): a race
// fails it. Afterwards the database agrees with the service: no request of an ended session is
// left open, and what the live stream's queue holds is what is stored.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "live/style_service.hpp"
#include "store/stream_settings.hpp"
#include "store/streams.hpp"
#include "store/users.hpp"
#include "temp_database.hpp"

using namespace ds;

namespace {

struct Quiet : live::Peer {
  std::atomic<int> texts{0};
  void send_text(live::Bytes) override { ++texts; }
  void send_frame(live::Bytes, live::Bytes, bool) override {}
  void close(int, std::string) override {}
};

struct Stream {
  store::User user;
  std::atomic<long long> session{0};
  live::LiveStreamPtr stream;  // only the thread that opens and ends streams touches it
};

}  // namespace

TEST(StyleServiceStress, ManyThreadsManyStreamsAndTheDatabaseAgrees) {
  test::TempDatabase tmp(8);
  auto& db = tmp.db();
  ManualClock clock;
  live::Hub hub{clock};
  live::StyleServiceConfig config;
  config.max_requests = 1'000'000;
  config.max_waiting = 30;
  live::StyleService service(db, hub, clock, config);

  auto add_user = [&](const std::string& name) {
    auto u = test::sample_user(name, clock.now_ms());
    u.id = db.write([&](soci::session& sql) { return store::insert_user(sql, u); });
    return u;
  };
  std::vector<std::unique_ptr<Stream>> streams;
  for (const char* name : {"ann", "ben", "cat"}) {
    streams.push_back(std::make_unique<Stream>());
    streams.back()->user = add_user(name);
    hub.add_viewer(name, std::make_shared<Quiet>());
  }
  auto viewer = add_user("viewer");
  auto open = [&](Stream& s) {
    auto id = db.write([&](soci::session& sql) {
      return store::insert_stream_session(sql, s.user.id, clock.now_ms());
    });
    s.stream = hub.open_stream({id, s.user.id, s.user.username, s.user.username, {}, {}});
    s.session = id;
    service.on_stream_event(live::StreamOpened{s.user.username, s.user.id, id, false, s.stream});
  };
  auto end = [&](Stream& s) {
    long long id = s.session;
    db.write([&](soci::session& sql) {
      store::end_stream_session(sql, id, "stopped", clock.now_ms(), 1, 0, std::nullopt);
    });
    service.on_stream_event(
        live::StreamEnded{s.user.username, s.user.id, id, live::EndReason::kStopped, s.stream});
    hub.close_stream(s.user.username, live::EndReason::kStopped, "");
  };
  for (auto& stream : streams) open(*stream);

  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      while (!stop) {
        auto& s = *streams[rng() % streams.size()];
        switch (rng() % 8) {
          case 0:
          case 1:
          case 2:
            (void)service.submit(s.user, viewer, "p" + std::to_string(rng() % 100));
            break;
          case 3: {
            auto state = service.state(s.user);
            for (const auto& r : state["pending"]) {
              (void)(rng() % 2 ? service.approve(s.user, r["id"].get<long long>())
                               : service.reject(s.user, r["id"].get<long long>()));
            }
            break;
          }
          case 4:
            service.skip(s.user);
            break;
          case 5:
            if (rng() % 4 == 0) service.clear(s.user);
            break;
          case 6: {
            domain::StreamSettings settings;
            settings.style_policy =
                rng() % 2 ? domain::StylePolicy::kAuto : domain::StylePolicy::kApprove;
            settings.style_slot_seconds = 10 + rng() % 20;
            service.apply_settings(s.user, settings);
            break;
          }
          default:
            (void)service.live_event(s.user.username);
        }
      }
    });
  }
  threads.emplace_back([&] {  // the ticker
    while (!stop) {
      clock.advance_ms(500);
      service.tick();
      std::this_thread::yield();
    }
  });
  threads.emplace_back([&] {  // streams end and open again
    for (int round = 0; round < 30; ++round) {
      auto& s = *streams[round % streams.size()];
      end(s);
      open(s);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    stop = true;
  });
  for (auto& t : threads) t.join();

  // Only the three live sessions may have open requests, and exactly the ones their queues hold.
  for (auto& stream : streams) {
    auto& s = *stream;
    auto state = service.state(s.user);
    std::vector<long long> held;
    if (!state["current"]["request"].is_null()) held.push_back(state["current"]["request"]["id"]);
    for (const auto& r : state["queue"]) held.push_back(r["id"]);
    for (const auto& r : state["pending"]) held.push_back(r["id"]);
    std::sort(held.begin(), held.end());
    std::vector<long long> stored;
    db.with([&](soci::session& sql) {
      soci::rowset<long long> rows =
          (sql.prepare << "SELECT id FROM style_requests WHERE streamer_id = :u AND status IN "
                          "('pending','queued','active') ORDER BY id",
           soci::use(s.user.id));
      for (auto id : rows) stored.push_back(id);
    });
    EXPECT_EQ(stored, held) << s.user.username;
  }
  for (auto& stream : streams) end(*stream);
  long long left = -1;
  db.with([&](soci::session& sql) {
    sql << "SELECT COUNT(*) FROM style_requests WHERE status IN ('pending','queued','active')",
        soci::into(left);
  });
  EXPECT_EQ(left, 0);
}
