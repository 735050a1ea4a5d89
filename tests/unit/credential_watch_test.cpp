#include "live/credential_watch.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

using namespace ds::live;

namespace {

struct Sock : Peer {
  std::vector<std::string> texts;
  int close_code = 0;
  void send_text(Bytes t) override { texts.push_back(*t); }
  void send_frame(Bytes, Bytes, bool) override {}
  void close(int code, std::string) override { close_code = code; }
};

struct Fixture {
  CredentialWatch watch;
  std::shared_ptr<Sock> key_a = std::make_shared<Sock>();       // user 1, stream key
  std::shared_ptr<Sock> session_a = std::make_shared<Sock>();   // user 1, session 10
  std::shared_ptr<Sock> session_a2 = std::make_shared<Sock>();  // user 1, session 11
  std::shared_ptr<Sock> key_b = std::make_shared<Sock>();       // user 2, stream key
  // Ingest tickets: one asked for by session 10, one by API token 7 (both user 1).
  std::shared_ptr<Sock> ticket_session = std::make_shared<Sock>();
  std::shared_ptr<Sock> ticket_token = std::make_shared<Sock>();
  Fixture() {
    watch.add(key_a.get(), key_a, {.user_id = 1, .stream_key_hash = "k1"});
    watch.add(session_a.get(), session_a, {.user_id = 1, .session_id = 10});
    watch.add(session_a2.get(), session_a2, {.user_id = 1, .session_id = 11});
    watch.add(key_b.get(), key_b, {.user_id = 2, .stream_key_hash = "k2"});
    watch.add(ticket_session.get(), ticket_session, {.user_id = 1, .session_id = 10});
    watch.add(ticket_token.get(), ticket_token, {.user_id = 1, .api_token_id = 7});
  }
};

bool revoked(const Sock& s) {
  return s.close_code == 4401 && !s.texts.empty() &&
         nlohmann::json::parse(s.texts.back())["reason"] == "revoked";
}

}  // namespace

TEST(CredentialWatch, NewStreamKeyEndsOnlyThatUsersKeySockets) {
  Fixture f;
  EXPECT_EQ(f.watch.revoke_stream_key(1, "k1"), std::vector<long long>{1});
  EXPECT_TRUE(revoked(*f.key_a));
  EXPECT_FALSE(revoked(*f.session_a));
  EXPECT_FALSE(revoked(*f.key_b));
  // A socket opened with a ticket never knew the key.
  EXPECT_FALSE(revoked(*f.ticket_session));
  EXPECT_FALSE(revoked(*f.ticket_token));
  EXPECT_TRUE(f.watch.revoke_stream_key(1, "k1").empty());  // already gone
  EXPECT_TRUE(f.watch.revoke_stream_key(2, "k1").empty());  // another user's key of that hash
  EXPECT_FALSE(revoked(*f.key_b));
}

// On many nodes a socket may connect with the new key before the news of it arrives: the news
// ends the sockets of the old key only.
TEST(CredentialWatch, NewStreamKeyLeavesTheSocketsThatCameWithIt) {
  Fixture f;
  auto with_new_key = std::make_shared<Sock>();
  f.watch.add(with_new_key.get(), with_new_key, {.user_id = 1, .stream_key_hash = "k1-new"});
  EXPECT_EQ(f.watch.revoke_stream_key(1, "k1"), std::vector<long long>{1});
  EXPECT_TRUE(revoked(*f.key_a));
  EXPECT_FALSE(revoked(*with_new_key));
  EXPECT_EQ(f.watch.size(), 6u);
}

// Two rotations at once on two nodes (k1 -> k1-b, then k1-b -> k1-c): their news may reach a
// node in either order. Each names the key it replaced, so the newest key's socket stays. (When
// the news named the new key and ended "every other", hearing k1-b's after k1-c's ended k1-c's
// socket.)
TEST(CredentialWatch, TwoRotationsHeardOutOfOrderLeaveTheNewestKeysSockets) {
  Fixture f;
  auto with_b = std::make_shared<Sock>();
  auto with_c = std::make_shared<Sock>();
  f.watch.add(with_b.get(), with_b, {.user_id = 1, .stream_key_hash = "k1-b"});
  f.watch.add(with_c.get(), with_c, {.user_id = 1, .stream_key_hash = "k1-c"});
  EXPECT_EQ(f.watch.revoke_stream_key(1, "k1-b"), std::vector<long long>{1});  // the later one
  EXPECT_EQ(f.watch.revoke_stream_key(1, "k1"), std::vector<long long>{1});
  EXPECT_TRUE(revoked(*f.key_a));
  EXPECT_TRUE(revoked(*with_b));
  EXPECT_FALSE(revoked(*with_c));
}

TEST(CredentialWatch, RevokedApiTokenEndsTheSocketsItsTicketsOpened) {
  Fixture f;
  EXPECT_EQ(f.watch.revoke_api_token(7), std::vector<long long>{1});
  EXPECT_TRUE(revoked(*f.ticket_token));
  EXPECT_FALSE(revoked(*f.ticket_session));
  EXPECT_FALSE(revoked(*f.key_a));
  EXPECT_FALSE(revoked(*f.session_a));
  EXPECT_TRUE(f.watch.revoke_api_token(0).empty());  // no token: nothing
}

TEST(CredentialWatch, LogoutEndsThatSessionsSocketsOnly) {
  Fixture f;
  EXPECT_EQ(f.watch.revoke_session(10), std::vector<long long>{1});
  EXPECT_TRUE(revoked(*f.session_a));
  EXPECT_TRUE(revoked(*f.ticket_session));  // the session asked for its ticket
  EXPECT_FALSE(revoked(*f.session_a2));
  EXPECT_FALSE(revoked(*f.key_a));
  EXPECT_FALSE(revoked(*f.ticket_token));
}

TEST(CredentialWatch, PasswordChangeKeepsTheCurrentSessionAndTheKey) {
  Fixture f;
  f.watch.revoke_sessions_except(1, 11);
  EXPECT_TRUE(revoked(*f.session_a));
  EXPECT_FALSE(revoked(*f.session_a2));
  EXPECT_FALSE(revoked(*f.key_a));
}

TEST(CredentialWatch, DeletedAccountLosesEverySocket) {
  Fixture f;
  f.watch.revoke_user(1);
  EXPECT_TRUE(revoked(*f.key_a));
  EXPECT_TRUE(revoked(*f.session_a));
  EXPECT_TRUE(revoked(*f.session_a2));
  EXPECT_TRUE(revoked(*f.ticket_token));
  EXPECT_FALSE(revoked(*f.key_b));
  EXPECT_EQ(f.watch.size(), 1u);
}

TEST(CredentialWatch, ClosedSocketsAreForgotten) {
  Fixture f;
  f.watch.remove(f.key_a.get());
  EXPECT_TRUE(f.watch.revoke_stream_key(1, "k1").empty());
  EXPECT_FALSE(revoked(*f.key_a));
}
