#include "live/chat_service.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "store/stream_settings.hpp"
#include "store/streams.hpp"
#include "temp_database.hpp"

using namespace ds;

namespace {

struct TextPeer : live::Peer {
  std::vector<nlohmann::json> texts;
  void send_text(live::Bytes t) override { texts.push_back(nlohmann::json::parse(*t)); }
  void send_frame(live::Bytes, live::Bytes, bool) override {}
  void close(int, std::string) override {}
};

struct ChatServiceTest : ::testing::Test {
  ds::test::TempDatabase tmp;
  ManualClock clock;
  live::Hub hub{clock};
  live::ChatService chat{tmp.db(), hub, clock, {3, 10'000}};
  store::User streamer, author, other;
  long long session_id = 0;
  std::shared_ptr<TextPeer> watcher = std::make_shared<TextPeer>();

  void SetUp() override {
    streamer = add_user("alice");
    author = add_user("bob");
    other = add_user("carol");
    hub.add_viewer("alice", watcher);
  }

  store::User add_user(const std::string& name) {
    store::User u;
    u.username = name;
    u.email = name + "@example.com";
    u.display_name = "Display " + name;
    u.password_hash = "x";
    u.created_ms = clock.now_ms();
    u.id = tmp.db().write([&](soci::session& sql) { return store::insert_user(sql, u); });
    return u;
  }

  void open_stream() {
    session_id = tmp.db().write([&](soci::session& sql) {
      return store::insert_stream_session(sql, streamer.id, clock.now_ms());
    });
    ASSERT_TRUE(hub.open_stream({session_id, streamer.id, "alice", "Alice", {}}));
  }

  long long stored_comments() {
    long long n = 0;
    tmp.db().with(
        [&](soci::session& sql) { sql << "SELECT COUNT(*) FROM comments", soci::into(n); });
    return n;
  }

  std::vector<nlohmann::json> events(const std::string& type) {
    std::vector<nlohmann::json> out;
    for (const auto& t : watcher->texts) {
      if (t["type"] == type) out.push_back(t);
    }
    return out;
  }
};

}  // namespace

TEST_F(ChatServiceTest, CommentIsStoredWithItsSessionAndBroadcast) {
  open_stream();
  auto c = chat.post(streamer, author, "  hello there  ");
  ASSERT_TRUE(c) << c.error().code << ": " << c.error().message;
  EXPECT_EQ(c->body, "hello there");
  EXPECT_EQ(c->session_id, session_id);
  EXPECT_EQ(c->author_username, "bob");
  auto sent = events("comment");
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0]["comment"]["id"], c->id);
  EXPECT_EQ(sent[0]["comment"]["author"]["display_name"], "Display bob");
  auto s = tmp.db().with(
      [&](soci::session& sql) { return store::find_stream_session(sql, session_id); });
  EXPECT_EQ(s->comment_count, 1);
}

TEST_F(ChatServiceTest, RefusalsStoreNothing) {
  EXPECT_EQ(chat.post(streamer, author, "hi").error().code, "stream_offline");
  open_stream();
  for (const std::string& bad : std::vector<std::string>{"", " \t ", std::string(501, 'x'), "a\nb",
                                                         "bell\x07", "bad \xc3\x28 utf8"}) {
    auto r = chat.post(streamer, author, bad);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, "invalid_comment");
  }
  domain::StreamSettings off;
  off.comments_enabled = false;
  tmp.db().write([&](soci::session& sql) { store::save_stream_settings(sql, streamer.id, off); });
  auto disabled = chat.post(streamer, author, "hi");
  ASSERT_FALSE(disabled);
  EXPECT_EQ(disabled.error().kind, ErrorKind::kForbidden);
  EXPECT_EQ(disabled.error().code, "comments_disabled");
  EXPECT_EQ(stored_comments(), 0);
  EXPECT_TRUE(events("comment").empty());
}

TEST_F(ChatServiceTest, FloodIsLimitedPerUserAndWindow) {
  open_stream();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(chat.post(streamer, author, "msg"));
  auto r = chat.post(streamer, author, "msg");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kRateLimited);
  EXPECT_TRUE(chat.post(streamer, other, "me too"));  // another user is not held back
  clock.advance_ms(10'000);
  EXPECT_TRUE(chat.post(streamer, author, "later"));
  EXPECT_EQ(stored_comments(), 5);
}

TEST_F(ChatServiceTest, ListIsNewestFirstWithPaging) {
  open_stream();
  std::vector<long long> ids;
  for (int i = 0; i < 5; ++i) {
    auto c = chat.post(streamer, i % 2 ? other : author, "m" + std::to_string(i));
    ids.push_back(c->id);
  }
  auto page = chat.list(streamer.id, 0, 2);
  ASSERT_EQ(page.comments.size(), 2u);
  EXPECT_EQ(page.comments[0].id, ids[4]);
  EXPECT_EQ(page.comments[1].id, ids[3]);
  EXPECT_EQ(page.next_before, ids[3]);
  page = chat.list(streamer.id, page.next_before, 10);
  ASSERT_EQ(page.comments.size(), 3u);
  EXPECT_EQ(page.comments[2].id, ids[0]);
  EXPECT_EQ(page.next_before, 0);
}

TEST_F(ChatServiceTest, OnlyStreamerAndAuthorMayDelete) {
  open_stream();
  auto c1 = chat.post(streamer, author, "one");
  auto c2 = chat.post(streamer, author, "two");
  EXPECT_EQ(chat.remove(streamer, other.id, c1->id).error().kind, ErrorKind::kForbidden);
  EXPECT_TRUE(events("comment_deleted").empty());
  EXPECT_TRUE(chat.remove(streamer, author.id, c1->id));
  EXPECT_EQ(chat.remove(streamer, author.id, c1->id).error().kind,
            ErrorKind::kNotFound);  // already deleted
  EXPECT_TRUE(chat.remove(streamer, streamer.id, c2->id));
  EXPECT_EQ(chat.remove(other, other.id, 999).error().kind, ErrorKind::kNotFound);
  auto deleted = events("comment_deleted");
  ASSERT_EQ(deleted.size(), 2u);
  EXPECT_EQ(deleted[0]["id"], c1->id);
  EXPECT_TRUE(chat.list(streamer.id, 0, 10).comments.empty());
}
