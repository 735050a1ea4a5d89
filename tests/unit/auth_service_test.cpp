#include "auth/auth_service.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "auth/crypto.hpp"
#include "store/ledger.hpp"
#include "store/users.hpp"
#include "temp_database.hpp"
#include "util/clock.hpp"

using namespace ds;

namespace {

constexpr const char* kPassword = "correct horse battery";
constexpr std::int64_t kDay = 24LL * 3600 * 1000;

class AuthServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { auth::init_crypto(); }

  store::User make_user(const std::string& name = "alice") {
    auto u = service.register_user(name, name + "@example.com", kPassword, "", "192.0.2.1");
    EXPECT_TRUE(u.ok()) << (u.ok() ? "" : u.error().message);
    return *u;
  }

  long long count(const std::string& sql_text) {
    long long n = 0;
    tmp.db().with([&](soci::session& sql) { sql << sql_text, soci::into(n); });
    return n;
  }

  test::TempDatabase tmp;
  ManualClock clock;
  auth::AuthService service{tmp.db(), clock};
};

}  // namespace

TEST_F(AuthServiceTest, RegisterCanonicalisesNameAndEmail) {
  auto u = service.register_user("Alice", " Alice@Example.COM ", kPassword, "", "192.0.2.1");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->username, "alice");
  EXPECT_EQ(u->email, "alice@example.com");
  EXPECT_EQ(u->display_name, "Alice");
  EXPECT_GT(u->id, 0);
}

TEST_F(AuthServiceTest, RegisterStoresAnArgon2idHashNotThePassword) {
  auto u = make_user();
  auto stored = service.user(u.id);
  ASSERT_TRUE(stored);
  EXPECT_TRUE(stored->password_hash.starts_with("$argon2id$"));
  EXPECT_EQ(stored->password_hash.find(kPassword), std::string::npos);
}

TEST_F(AuthServiceTest, RegisterWritesTheSignupBonusAsALedgerEntry) {
  auto u = make_user();
  EXPECT_EQ(u.balance_cents, 1200);
  auto entries =
      tmp.db().with([&](soci::session& sql) { return store::list_entries(sql, u.id, 0, 10); });
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].kind, store::kKindSignupBonus);
  EXPECT_EQ(entries[0].amount_cents, 1200);
  EXPECT_EQ(entries[0].balance_after_cents, 1200);
  EXPECT_EQ(entries[0].created_ms, clock.now_ms());
}

TEST_F(AuthServiceTest, RegisterRejectsDuplicateUsernameInAnyCase) {
  make_user("alice");
  auto again = service.register_user("ALICE", "other@example.com", kPassword, "", "192.0.2.1");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind, ErrorKind::kConflict);
  EXPECT_EQ(again.error().code, "username_taken");
  EXPECT_EQ(count("SELECT COUNT(*) FROM users"), 1);
  EXPECT_EQ(count("SELECT COUNT(*) FROM credit_transactions"), 1);
}

TEST_F(AuthServiceTest, RegisterRejectsDuplicateEmailInAnyCase) {
  make_user("alice");
  auto again = service.register_user("bob", "ALICE@example.com", kPassword, "", "192.0.2.1");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind, ErrorKind::kConflict);
  EXPECT_EQ(again.error().code, "email_taken");
}

TEST_F(AuthServiceTest, RegisterRejectsBadInputWithoutWriting) {
  struct Case {
    const char *username, *email, *password, *display, *code;
  };
  for (const auto& c : {Case{"a b", "x@example.com", kPassword, "", "invalid_username"},
                        Case{"ab", "x@example.com", kPassword, "", "invalid_username"},
                        Case{"xyz", "nope", kPassword, "", "invalid_email"},
                        Case{"xyz", "x@example.com", "short", "", "invalid_password"},
                        Case{"xyz", "x@example.com", "123456789", "", "invalid_password"},
                        Case{"xyz", "x@example.com", kPassword, "bad\x01", "invalid_display_name"},
                        Case{"xyz", "x@example.com", "\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF", "",
                             "invalid_password"}}) {
    auto u = service.register_user(c.username, c.email, c.password, c.display, "192.0.2.1");
    ASSERT_FALSE(u.ok()) << c.code;
    EXPECT_EQ(u.error().kind, ErrorKind::kInvalid);
    EXPECT_EQ(u.error().code, c.code);
  }
  EXPECT_EQ(count("SELECT COUNT(*) FROM users"), 0);
  EXPECT_EQ(count("SELECT COUNT(*) FROM credit_transactions"), 0);
}

TEST_F(AuthServiceTest, PasswordLengthCountsCharactersNotBytes) {
  // Ten two-byte characters: 10 characters (allowed); nine: too short despite 18 bytes.
  std::string ten, nine;
  for (int i = 0; i < 10; ++i) ten += "\xC3\xA9";
  for (int i = 0; i < 9; ++i) nine += "\xC3\xA9";
  EXPECT_TRUE(service.register_user("ten", "ten@example.com", ten, "", "192.0.2.1").ok());
  EXPECT_FALSE(service.register_user("nine", "nine@example.com", nine, "", "192.0.2.1").ok());
}

TEST_F(AuthServiceTest, LoginByUsernameOrEmailInAnyCase) {
  auto u = make_user("alice");
  for (const char* login :
       {"alice", "ALICE", " alice ", "alice@example.com", "Alice@Example.com"}) {
    auto r = service.login(login, kPassword, "10.0.0.1", "ua");
    ASSERT_TRUE(r.ok()) << login;
    EXPECT_EQ(r->user.id, u.id);
    EXPECT_TRUE(r->session_token.starts_with("dss_"));
  }
}

TEST_F(AuthServiceTest, UnknownUserAndWrongPasswordGiveTheSameError) {
  make_user("alice");
  auto wrong = service.login("alice", "not the password", "10.0.0.1", "");
  auto unknown = service.login("nobody", kPassword, "10.0.0.1", "");
  ASSERT_FALSE(wrong.ok());
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(wrong.error().kind, ErrorKind::kUnauthorized);
  EXPECT_EQ(wrong.error().kind, unknown.error().kind);
  EXPECT_EQ(wrong.error().code, unknown.error().code);
  EXPECT_EQ(wrong.error().message, unknown.error().message);
}

TEST_F(AuthServiceTest, FiveFailuresThrottleTheAccountFromThatAddressOnly) {
  make_user("alice");
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(service.login("alice", "wrong password", "10.0.0.1", "").error().kind,
              ErrorKind::kUnauthorized);
  }
  auto r = service.login("alice", kPassword, "10.0.0.1", "");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kRateLimited);
  // The owner, elsewhere, is not locked out by someone else's guesses (fails on the old
  // per-account counter).
  EXPECT_TRUE(service.login("alice", kPassword, "10.0.0.2", "").ok());
  EXPECT_EQ(service.login("alice", kPassword, "10.0.0.1", "").error().kind,
            ErrorKind::kRateLimited);
}

TEST_F(AuthServiceTest, GuessesFromManyAddressesNeverLockTheOwnerOut) {
  make_user("alice");
  for (int a = 0; a < 6; ++a) {
    for (int i = 0; i < 5; ++i) {
      (void)service.login("alice", "wrong password", "10.0.0." + std::to_string(a), "");
    }
  }
  EXPECT_TRUE(service.login("alice", kPassword, "192.0.2.77", "").ok());
  EXPECT_TRUE(service.login("alice@example.com", kPassword, "192.0.2.78", "").ok());
}

TEST_F(AuthServiceTest, AccountThrottleCoversTheEmailSpellingToo) {
  make_user("alice");
  for (int i = 0; i < 5; ++i) {
    auto who = i % 2 ? "alice@example.com" : "ALICE";
    EXPECT_EQ(service.login(who, "wrong password", "10.0.0.1", "").error().kind,
              ErrorKind::kUnauthorized);
  }
  EXPECT_EQ(service.login("alice@example.com", kPassword, "10.0.0.1", "").error().kind,
            ErrorKind::kRateLimited);
  EXPECT_EQ(service.login("alice", kPassword, "10.0.0.1", "").error().kind,
            ErrorKind::kRateLimited);
}

TEST_F(AuthServiceTest, AccountThrottleEndsAfterTheWindow) {
  make_user("alice");
  for (int i = 0; i < 5; ++i) (void)service.login("alice", "wrong password", "10.0.0.1", "");
  EXPECT_EQ(service.login("alice", kPassword, "10.0.0.1", "").error().kind,
            ErrorKind::kRateLimited);
  clock.advance_ms(15 * 60 * 1000);
  EXPECT_TRUE(service.login("alice", kPassword, "10.0.0.1", "").ok());
}

TEST_F(AuthServiceTest, Ipv6AddressesInOneSlash64ShareTheirCounters) {
  make_user("alice");
  for (int i = 0; i < 5; ++i) {
    (void)service.login("alice", "wrong password", "2001:db8:1:2::" + std::to_string(i + 1), "");
  }
  EXPECT_EQ(service.login("alice", kPassword, "2001:db8:1:2::99", "").error().kind,
            ErrorKind::kRateLimited);
  EXPECT_TRUE(service.login("alice", kPassword, "2001:db8:1:3::1", "").ok());
}

// Parallel guesses each take a slot before the password is checked: of 8 racing wrong
// passwords from one address, exactly 5 are checked (401) and 3 refused (429). With the old
// blocked()-then-hit() all 8 passed the check before any was counted.
TEST_F(AuthServiceTest, ParallelGuessesNeverExceedTheLimit) {
  make_user("alice");
  std::atomic<int> checked{0}, refused{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      while (!go) std::this_thread::yield();
      auto r = service.login("alice", "wrong password", "10.0.0.1", "");
      (r.error().kind == ErrorKind::kUnauthorized ? checked : refused)++;
    });
  }
  go = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(checked.load(), 5);
  EXPECT_EQ(refused.load(), 3);
}

TEST_F(AuthServiceTest, TwentyFailuresThrottleTheAddress) {
  make_user("alice");
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(
        service.login("ghost" + std::to_string(i), "wrong password", "10.9.9.9", "").error().kind,
        ErrorKind::kUnauthorized);
  }
  EXPECT_EQ(service.login("alice", kPassword, "10.9.9.9", "").error().kind,
            ErrorKind::kRateLimited);
  EXPECT_TRUE(service.login("alice", kPassword, "10.9.9.8", "").ok());
}

TEST_F(AuthServiceTest, SuccessfulLoginResetsTheAccountCounter) {
  make_user("alice");
  for (int i = 0; i < 4; ++i) (void)service.login("alice", "wrong password", "10.0.0.1", "");
  ASSERT_TRUE(service.login("alice", kPassword, "10.0.0.1", "").ok());
  for (int i = 0; i < 4; ++i) (void)service.login("alice", "wrong password", "10.0.0.1", "");
  EXPECT_TRUE(service.login("alice", kPassword, "10.0.0.1", "").ok());
}

TEST_F(AuthServiceTest, SessionTokenIsStoredOnlyAsADigest) {
  make_user("alice");
  auto r = service.login("alice", kPassword, "10.0.0.1", "ua");
  ASSERT_TRUE(r.ok());
  std::string stored;
  tmp.db().with([&](soci::session& sql) {
    sql << "SELECT token_hash FROM sessions WHERE id = :id", soci::use(r->session_id),
        soci::into(stored);
  });
  EXPECT_EQ(stored, auth::sha256_hex(r->session_token));
}

TEST_F(AuthServiceTest, SessionTokenIdentifiesTheUserUntilLogout) {
  auto u = make_user("alice");
  auto r = service.login("alice", kPassword, "10.0.0.1", "");
  auto p = service.from_session_token(r->session_token);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->user.id, u.id);
  EXPECT_TRUE(p->via_cookie);
  EXPECT_EQ(p->session_id, r->session_id);
  service.logout(r->session_token);
  EXPECT_FALSE(service.from_session_token(r->session_token));
}

TEST_F(AuthServiceTest, MalformedSessionTokensAreRejected) {
  EXPECT_FALSE(service.from_session_token(""));
  EXPECT_FALSE(service.from_session_token("dst_abc"));
  EXPECT_FALSE(service.from_session_token("dss_" + std::string(200, 'a')));
  EXPECT_FALSE(service.from_session_token("dss_unknown"));
}

TEST_F(AuthServiceTest, SessionExpiresAfterThirtyIdleDays) {
  make_user("alice");
  auto r = service.login("alice", kPassword, "10.0.0.1", "");
  clock.advance_ms(30 * kDay - 1);
  EXPECT_TRUE(service.from_session_token(r->session_token));
  clock.advance_ms(30 * kDay);
  EXPECT_FALSE(service.from_session_token(r->session_token));
}

TEST_F(AuthServiceTest, UsingASessionSlidesItsExpiry) {
  make_user("alice");
  auto r = service.login("alice", kPassword, "10.0.0.1", "");
  clock.advance_ms(20 * kDay);
  ASSERT_TRUE(service.from_session_token(r->session_token));
  clock.advance_ms(20 * kDay);
  EXPECT_TRUE(service.from_session_token(r->session_token));
}

TEST_F(AuthServiceTest, ChangePasswordNeedsTheCurrentOne) {
  auto u = make_user("alice");
  auto r = service.change_password(u.id, "wrong current pw", "a brand new password", 0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "wrong_password");
  EXPECT_TRUE(service.login("alice", kPassword, "10.0.0.1", "").ok());
}

TEST_F(AuthServiceTest, ChangePasswordEndsOtherSessionsOnly) {
  auto u = make_user("alice");
  auto keep = service.login("alice", kPassword, "10.0.0.1", "");
  auto other = service.login("alice", kPassword, "10.0.0.2", "");
  ASSERT_TRUE(
      service.change_password(u.id, kPassword, "a brand new password", keep->session_id).ok());
  EXPECT_TRUE(service.from_session_token(keep->session_token));
  EXPECT_FALSE(service.from_session_token(other->session_token));
  EXPECT_FALSE(service.login("alice", kPassword, "10.0.0.1", "").ok());
  EXPECT_TRUE(service.login("alice", "a brand new password", "10.0.0.1", "").ok());
}

TEST_F(AuthServiceTest, ChangePasswordEnforcesTheRules) {
  auto u = make_user("alice");
  auto r = service.change_password(u.id, kPassword, "short", 0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "invalid_password");
  EXPECT_TRUE(service.login("alice", kPassword, "10.0.0.1", "").ok());
}

TEST_F(AuthServiceTest, SessionsListAndRevokeArePerUser) {
  auto alice = make_user("alice");
  auto bob = make_user("bob");
  auto a = service.login("alice", kPassword, "10.0.0.1", "Firefox");
  auto b = service.login("bob", kPassword, "10.0.0.2", "Chrome");
  auto list = service.sessions(alice.id);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].user_agent, "Firefox");
  EXPECT_EQ(list[0].ip, "10.0.0.1");
  EXPECT_FALSE(service.revoke_session(alice.id, b->session_id));
  EXPECT_TRUE(service.from_session_token(b->session_token));
  EXPECT_TRUE(service.revoke_session(alice.id, a->session_id));
  EXPECT_FALSE(service.from_session_token(a->session_token));
  (void)bob;
}

TEST_F(AuthServiceTest, UserAgentIsTruncated) {
  auto u = make_user("alice");
  (void)service.login("alice", kPassword, "10.0.0.1", std::string(5000, 'x'));
  auto list = service.sessions(u.id);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_LE(list[0].user_agent.size(), 200u);
}

TEST_F(AuthServiceTest, ApiTokenAuthenticatesAndRevokes) {
  auto u = make_user("alice");
  auto t = service.create_api_token(u.id, "script");
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(t->secret.starts_with("dst_"));
  auto p = service.from_api_token(t->secret);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->user.id, u.id);
  EXPECT_FALSE(p->via_cookie);
  EXPECT_TRUE(service.revoke_api_token(u.id, t->id));
  EXPECT_FALSE(service.from_api_token(t->secret));
}

TEST_F(AuthServiceTest, ApiTokenRecordsLastUse) {
  auto u = make_user("alice");
  auto t = service.create_api_token(u.id, "script");
  EXPECT_EQ(service.api_tokens(u.id)[0].last_used_ms, 0);
  ASSERT_TRUE(service.from_api_token(t->secret));
  EXPECT_EQ(service.api_tokens(u.id)[0].last_used_ms, clock.now_ms());
}

TEST_F(AuthServiceTest, ApiTokenCannotBeRevokedByAnotherUser) {
  auto alice = make_user("alice");
  auto bob = make_user("bob");
  auto t = service.create_api_token(alice.id, "script");
  EXPECT_FALSE(service.revoke_api_token(bob.id, t->id));
  EXPECT_TRUE(service.from_api_token(t->secret));
}

TEST_F(AuthServiceTest, AtMostTwentyApiTokens) {
  auto u = make_user("alice");
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(service.create_api_token(u.id, "t" + std::to_string(i)).ok());
  auto r = service.create_api_token(u.id, "one too many");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kConflict);
}

TEST_F(AuthServiceTest, ApiTokenNameIsValidated) {
  auto u = make_user("alice");
  EXPECT_FALSE(service.create_api_token(u.id, "").ok());
  EXPECT_FALSE(service.create_api_token(u.id, std::string(61, 'x')).ok());
  EXPECT_FALSE(service.create_api_token(u.id, "bad\nname").ok());
}

TEST_F(AuthServiceTest, RotatingTheStreamKeyRetiresTheOldOne) {
  auto u = make_user("alice");
  std::string replaced = "x";
  auto k1 = service.rotate_stream_key(u.id, &replaced);
  EXPECT_EQ(replaced, "") << "the first key replaced none";
  ASSERT_TRUE(service.from_stream_key(k1));
  EXPECT_EQ(service.from_stream_key(k1)->id, u.id);
  auto k2 = service.rotate_stream_key(u.id, &replaced);
  EXPECT_NE(k1, k2);
  EXPECT_EQ(replaced, auth::sha256_hex(k1)) << "it names the key it replaced";
  EXPECT_FALSE(service.from_stream_key(k1));
  EXPECT_TRUE(service.from_stream_key(k2));
  EXPECT_FALSE(service.from_stream_key("dsk_unknown"));
  EXPECT_FALSE(service.from_stream_key(""));
}

TEST_F(AuthServiceTest, UpdateProfileChangesNameAndEmail) {
  auto u = make_user("alice");
  auto r = service.update_profile(u.id, std::string("  Ada  "), std::string("ADA@example.org"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->display_name, "Ada");
  EXPECT_EQ(r->email, "ada@example.org");
  EXPECT_TRUE(service.login("ada@example.org", kPassword, "10.0.0.1", "").ok());
}

TEST_F(AuthServiceTest, UpdateProfileRefusesATakenEmail) {
  auto alice = make_user("alice");
  make_user("bob");
  auto r = service.update_profile(alice.id, std::nullopt, std::string("bob@example.com"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kConflict);
  EXPECT_EQ(service.user(alice.id)->email, "alice@example.com");
}

TEST_F(AuthServiceTest, DeleteAccountNeedsThePassword) {
  auto u = make_user("alice");
  auto r = service.delete_account(u.id, "not my password");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kForbidden);
  EXPECT_TRUE(service.user(u.id));
}

TEST_F(AuthServiceTest, DeleteAccountEndsEverythingAndFreesTheName) {
  auto u = make_user("alice");
  auto s = service.login("alice", kPassword, "10.0.0.1", "");
  auto t = service.create_api_token(u.id, "t");
  auto key = service.rotate_stream_key(u.id);
  ASSERT_TRUE(service.delete_account(u.id, kPassword).ok());
  EXPECT_FALSE(service.user(u.id));
  EXPECT_FALSE(service.from_session_token(s->session_token));
  EXPECT_FALSE(service.from_api_token(t->secret));
  EXPECT_FALSE(service.from_stream_key(key));
  EXPECT_FALSE(service.login("alice", kPassword, "10.0.0.1", "").ok());
  auto again = service.register_user("alice", "alice@example.com", kPassword, "", "192.0.2.1");
  ASSERT_TRUE(again.ok());
  EXPECT_NE(again->id, u.id);
  // The deleted account's ledger stays for accounting.
  EXPECT_EQ(count("SELECT COUNT(*) FROM credit_transactions"), 2);
}

TEST_F(AuthServiceTest, WrongCurrentPasswordsAreThrottledPerAccount) {
  auto u = make_user("alice");
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(
        service.change_password(u.id, "wrong password", "a brand new password", 0).error().kind,
        ErrorKind::kForbidden);
  }
  // Even the right password now waits: guessing through the profile page is as slow as login.
  auto r = service.change_password(u.id, kPassword, "a brand new password", 0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kRateLimited);
  EXPECT_EQ(service.delete_account(u.id, kPassword).error().kind, ErrorKind::kRateLimited);
  EXPECT_TRUE(service.user(u.id));
  clock.advance_ms(15 * 60 * 1000);
  EXPECT_TRUE(service.change_password(u.id, kPassword, "a brand new password", 0).ok());
}

TEST_F(AuthServiceTest, WrongDeletionPasswordsAreThrottled) {
  auto u = make_user("alice");
  auto other = make_user("bob");
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(service.delete_account(u.id, "wrong password").error().kind, ErrorKind::kForbidden);
  }
  EXPECT_EQ(service.delete_account(u.id, kPassword).error().kind, ErrorKind::kRateLimited);
  EXPECT_TRUE(service.user(u.id));
  // Another account is unaffected.
  EXPECT_TRUE(service.delete_account(other.id, kPassword).ok());
}

TEST_F(AuthServiceTest, ACorrectCurrentPasswordResetsTheReauthCounter) {
  auto u = make_user("alice");
  for (int i = 0; i < 4; ++i) (void)service.delete_account(u.id, "wrong password");
  ASSERT_TRUE(service.change_password(u.id, kPassword, "a brand new password", 0).ok());
  for (int i = 0; i < 4; ++i) (void)service.delete_account(u.id, "wrong password");
  EXPECT_TRUE(service.delete_account(u.id, "a brand new password").ok());
}

namespace {

// An AuthService whose hasher counts its calls (and still makes real Argon2id hashes).
struct CountingAuth {
  explicit CountingAuth(store::Database& db, const Clock& clock, auth::AuthConfig config = {})
      : service(db, clock, with_counter(config)) {}

  auth::AuthConfig with_counter(auth::AuthConfig config) {
    config.hash_password = [this](std::string_view p) {
      hashes++;
      return auth::hash_password(p);
    };
    return config;
  }

  std::atomic<int> hashes{0};
  auth::AuthService service;
};

}  // namespace

TEST_F(AuthServiceTest, TakenNameOrEmailIsRefusedWithoutHashing) {
  CountingAuth counted(tmp.db(), clock);
  ASSERT_TRUE(
      counted.service.register_user("alice", "alice@example.com", kPassword, "", "10.0.0.1").ok());
  EXPECT_EQ(counted.hashes.load(), 1);
  auto name = counted.service.register_user("ALICE", "new@example.com", kPassword, "", "10.0.0.1");
  EXPECT_EQ(name.error().code, "username_taken");
  auto mail = counted.service.register_user("bob", "Alice@Example.com", kPassword, "", "10.0.0.1");
  EXPECT_EQ(mail.error().code, "email_taken");
  auto invalid = counted.service.register_user("b c", "x@example.com", kPassword, "", "10.0.0.1");
  EXPECT_EQ(invalid.error().code, "invalid_username");
  EXPECT_EQ(counted.hashes.load(), 1);
}

TEST_F(AuthServiceTest, RegistrationsAreLimitedPerAddress) {
  auth::AuthConfig config;
  config.max_registrations_per_address = 3;
  CountingAuth counted(tmp.db(), clock, config);
  auto& s = counted.service;
  for (int i = 0; i < 3; ++i) {
    auto name = "user" + std::to_string(i);
    ASSERT_TRUE(s.register_user(name, name + "@example.com", kPassword, "", "10.0.0.1").ok());
  }
  auto refused = s.register_user("user9", "user9@example.com", kPassword, "", "10.0.0.1");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, ErrorKind::kRateLimited);
  EXPECT_EQ(refused.error().code, "rate_limited");
  EXPECT_EQ(counted.hashes.load(), 3);  // the refused one cost no hash
  // Other addresses register; so does this one an hour later.
  EXPECT_TRUE(s.register_user("user9", "user9@example.com", kPassword, "", "10.0.0.2").ok());
  clock.advance_ms(3600LL * 1000);
  EXPECT_TRUE(s.register_user("user10", "user10@example.com", kPassword, "", "10.0.0.1").ok());
  EXPECT_EQ(count("SELECT COUNT(*) FROM users"), 5);
}

TEST_F(AuthServiceTest, RefusedRegistrationsDoNotUseUpTheAddressLimit) {
  auth::AuthConfig config;
  config.max_registrations_per_address = 1;
  auth::AuthService s(tmp.db(), clock, config);
  ASSERT_TRUE(s.register_user("alice", "alice@example.com", kPassword, "", "10.0.0.9").ok());
  EXPECT_EQ(s.register_user("alice", "other@example.com", kPassword, "", "10.0.0.1").error().code,
            "username_taken");
  EXPECT_TRUE(s.register_user("bob", "bob@example.com", kPassword, "", "10.0.0.1").ok());
}

TEST_F(AuthServiceTest, SignupBonusIsConfigurable) {
  auth::AuthConfig config;
  config.signup_bonus_cents = 500;
  auth::AuthService five(tmp.db(), clock, config);
  auto a = five.register_user("alice", "alice@example.com", kPassword, "", "10.0.0.1");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->balance_cents, 500);
  config.signup_bonus_cents = 0;
  auth::AuthService none(tmp.db(), clock, config);
  auto b = none.register_user("bob", "bob@example.com", kPassword, "", "10.0.0.1");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->balance_cents, 0);
  EXPECT_EQ(none.user(b->id)->balance_cents, 0);
  EXPECT_EQ(
      count("SELECT COUNT(*) FROM credit_transactions WHERE user_id = " + std::to_string(b->id)),
      0);
}

// Rotations at once (two nodes, two tabs): each names exactly the key it replaced, so every key
// but the newest is named once (and its sockets end) and the newest never is.
TEST_F(AuthServiceTest, RotationsAtOnceEachNameTheKeyTheyReplaced) {
  auto u = make_user("alice");
  std::mutex m;
  std::vector<std::string> made, replaced;
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        std::string r;
        auto key = service.rotate_stream_key(u.id, &r);
        std::lock_guard lock(m);
        made.push_back(auth::sha256_hex(key));
        replaced.push_back(r);
      }
    });
  }
  for (auto& t : threads) t.join();
  std::string newest;
  tmp.db().with([&](soci::session& sql) {
    sql << "SELECT stream_key_hash FROM users WHERE id = :id", soci::use(u.id), soci::into(newest);
  });
  ASSERT_EQ(std::count(made.begin(), made.end(), newest), 1);
  std::sort(replaced.begin(), replaced.end());
  std::vector<std::string> expected = made;
  std::erase(expected, newest);
  expected.push_back("");  // the first replaced no key
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(replaced, expected);
}
