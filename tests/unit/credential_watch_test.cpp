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
  Fixture() {
    watch.add(key_a.get(), key_a, {1, 0});
    watch.add(session_a.get(), session_a, {1, 10});
    watch.add(session_a2.get(), session_a2, {1, 11});
    watch.add(key_b.get(), key_b, {2, 0});
  }
};

bool revoked(const Sock& s) {
  return s.close_code == 4401 && !s.texts.empty() &&
         nlohmann::json::parse(s.texts.back())["reason"] == "revoked";
}

}  // namespace

TEST(CredentialWatch, NewStreamKeyEndsOnlyThatUsersKeySockets) {
  Fixture f;
  EXPECT_EQ(f.watch.revoke_stream_key(1), std::vector<long long>{1});
  EXPECT_TRUE(revoked(*f.key_a));
  EXPECT_FALSE(revoked(*f.session_a));
  EXPECT_FALSE(revoked(*f.key_b));
  EXPECT_TRUE(f.watch.revoke_stream_key(1).empty());  // already gone
}

TEST(CredentialWatch, LogoutEndsThatSessionsSocketsOnly) {
  Fixture f;
  EXPECT_EQ(f.watch.revoke_session(10), std::vector<long long>{1});
  EXPECT_TRUE(revoked(*f.session_a));
  EXPECT_FALSE(revoked(*f.session_a2));
  EXPECT_FALSE(revoked(*f.key_a));
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
  EXPECT_FALSE(revoked(*f.key_b));
  EXPECT_EQ(f.watch.size(), 1u);
}

TEST(CredentialWatch, ClosedSocketsAreForgotten) {
  Fixture f;
  f.watch.remove(f.key_a.get());
  EXPECT_TRUE(f.watch.revoke_stream_key(1).empty());
  EXPECT_FALSE(revoked(*f.key_a));
}
