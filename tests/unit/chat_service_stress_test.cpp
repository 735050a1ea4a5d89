// ChatService from several threads at once, over a real SQLite database: authors posting,
// listing and deleting on two live streams while viewers join and leave. Built with
// ThreadSanitizer as chat_service_tsan (tests/CMakeLists.txt): a race fails it. Afterwards the
// database and the viewers agree with what the calls answered: every stored comment was
// announced once to each viewer that stayed, every deletion too.
#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "live/chat_service.hpp"
#include "store/comments.hpp"
#include "store/streams.hpp"
#include "store/users.hpp"
#include "temp_database.hpp"

using namespace ds;

namespace {

struct Counting : live::Peer {
  std::atomic<int> comments{0}, deleted{0};
  void send_text(live::Bytes t) override {
    auto type = nlohmann::json::parse(*t).value("type", "");
    if (type == "comment") ++comments;
    if (type == "comment_deleted") ++deleted;
  }
  void send_frame(live::Bytes, live::Bytes, bool) override {}
  void close(int, std::string) override {}
};

}  // namespace

TEST(ChatServiceStress, ManyAuthorsTwoStreamsAndEveryoneAgrees) {
  test::TempDatabase tmp(8);
  auto& db = tmp.db();
  ManualClock clock;
  live::Hub hub{clock};
  live::ChatService chat(db, hub, clock, {1'000'000, 10'000});

  auto add_user = [&](const std::string& name) {
    auto u = test::sample_user(name, clock.now_ms());
    u.id = db.write([&](soci::session& sql) { return store::insert_user(sql, u); });
    return u;
  };
  std::vector<store::User> streamers{add_user("ann"), add_user("ben")};
  std::vector<std::shared_ptr<Counting>> stayed;
  for (const auto& s : streamers) {
    auto id = db.write([&](soci::session& sql) {
      return store::insert_stream_session(sql, s.id, clock.now_ms());
    });
    ASSERT_TRUE(hub.open_stream({id, s.id, s.username, s.username, {}, {}}));
    stayed.push_back(std::make_shared<Counting>());
    hub.add_viewer(s.username, stayed.back());
  }
  std::vector<store::User> authors;
  for (int i = 0; i < 4; ++i) authors.push_back(add_user("fan" + std::to_string(i)));

  std::atomic<bool> stop{false};
  std::atomic<int> posted[2] = {0, 0};
  std::atomic<int> removed[2] = {0, 0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      std::vector<std::pair<int, long long>> mine;  // (stream, comment id)
      for (int i = 0; i < 150; ++i) {
        int s = static_cast<int>(rng() % 2);
        switch (rng() % 4) {
          case 0:
          case 1: {
            auto c = chat.post(streamers[s], authors[t], "hello " + std::to_string(i));
            ASSERT_TRUE(c) << c.error().code;
            ++posted[s];
            mine.emplace_back(s, c->id);
            break;
          }
          case 2:
            (void)chat.list(streamers[s].id, 0, 20);
            break;
          default:
            if (!mine.empty()) {
              auto [which, id] = mine.back();
              mine.pop_back();
              ASSERT_TRUE(chat.remove(streamers[which], authors[t].id, id));
              ++removed[which];
            }
        }
      }
    });
  }
  threads.emplace_back([&] {  // viewers who come and go
    std::mt19937 rng(99);
    while (!stop) {
      auto v = std::make_shared<Counting>();
      const auto& s = streamers[rng() % 2];
      hub.add_viewer(s.username, v);
      std::this_thread::yield();
      hub.remove_viewer(s.username, v.get());
    }
  });
  for (int t = 0; t < 4; ++t) threads[static_cast<std::size_t>(t)].join();
  stop = true;
  threads.back().join();

  for (int s = 0; s < 2; ++s) {
    auto page = chat.list(streamers[static_cast<std::size_t>(s)].id, 0, 10'000);
    EXPECT_EQ(static_cast<int>(page.comments.size()), posted[s] - removed[s]);
    EXPECT_EQ(stayed[static_cast<std::size_t>(s)]->comments.load(), posted[s]);
    EXPECT_EQ(stayed[static_cast<std::size_t>(s)]->deleted.load(), removed[s]);
  }
  EXPECT_GT(posted[0] + posted[1], 0);
}
