#include <gtest/gtest.h>

#include "store/auth_sessions.hpp"
#include "store/ledger.hpp"
#include "store/migrations.hpp"
#include "store/users.hpp"
#include "store/worker_tokens.hpp"
#include "temp_database.hpp"

using namespace ds;
using ds::test::TempDatabase;

namespace {

constexpr long long kNow = 1'700'000'000'000;

store::User sample_user(const std::string& name) { return test::sample_user(name, kNow); }

long long scalar(store::Database& db, const std::string& q) {
  long long n = 0;
  db.with([&](soci::session& sql) { sql << q, soci::into(n); });
  return n;
}

class StoreTest : public ::testing::Test {
 protected:
  long long add_user(const std::string& name) {
    return tmp.db().with(
        [&](soci::session& sql) { return store::insert_user(sql, sample_user(name)); });
  }
  std::optional<long long> append(long long user, const char* kind, long long cents,
                                  store::LedgerLinks links = {}) {
    return tmp.db().write([&](soci::session& sql) {
      return store::append_entry(sql, user, kind, cents, links, kNow);
    });
  }
  long long balance(long long user) {
    return tmp.db().with(
        [&](soci::session& sql) { return store::find_user(sql, user)->balance_cents; });
  }
  long long entries() { return scalar(tmp.db(), "SELECT COUNT(*) FROM credit_transactions"); }

  TempDatabase tmp;
};

}  // namespace

// --- migrations ----------------------------------------------------------------------------

TEST(Migrations, FreshDatabaseReachesTheLatestVersion) {
  TempDatabase tmp;  // migrates once
  EXPECT_EQ(scalar(tmp.db(), "SELECT MAX(version) FROM schema_migrations"),
            store::latest_schema_version());
}

TEST(Migrations, RunningAgainChangesNothing) {
  TempDatabase tmp;
  EXPECT_EQ(store::migrate(tmp.db()), store::latest_schema_version());
  EXPECT_EQ(store::migrate(tmp.db()), store::latest_schema_version());
  EXPECT_EQ(scalar(tmp.db(), "SELECT COUNT(*) FROM schema_migrations"),
            store::latest_schema_version());
}

TEST(Migrations, ReopeningAnExistingFileKeepsItsData) {
  TempDatabase tmp;
  tmp.db().with([&](soci::session& sql) { store::insert_user(sql, sample_user("keeper")); });
  auto again = store::Database::open(tmp.url(), 1);
  EXPECT_EQ(store::migrate(*again), store::latest_schema_version());
  EXPECT_EQ(scalar(*again, "SELECT COUNT(*) FROM users"), 1);
}

TEST(Migrations, RecordWhenTheyWereApplied) {
  TempDatabase tmp;
  EXPECT_GT(scalar(tmp.db(), "SELECT MIN(applied_ms) FROM schema_migrations"), 1'600'000'000'000);
}

TEST(Migrations, SqliteRunsInWalModeWithForeignKeys) {
  TempDatabase tmp;
  std::string mode;
  long long fk = 0;
  tmp.db().with([&](soci::session& sql) {
    sql << "PRAGMA journal_mode", soci::into(mode);
    sql << "PRAGMA foreign_keys", soci::into(fk);
  });
  EXPECT_EQ(mode, "wal");
  EXPECT_EQ(fk, 1);
}

TEST(Migrations, UnsupportedDatabaseUrlThrows) {
  EXPECT_THROW(store::Database::open("mysql://x", 1), std::invalid_argument);
  EXPECT_THROW(store::Database::open("sqlite://", 1), std::invalid_argument);
}

TEST(Database, WriteRollsBackWhenTheFunctionThrows) {
  TempDatabase tmp;
  EXPECT_THROW(tmp.db().write([&](soci::session& sql) {
    store::insert_user(sql, sample_user("ghost"));
    throw std::runtime_error("boom");
  }),
               std::runtime_error);
  EXPECT_EQ(scalar(tmp.db(), "SELECT COUNT(*) FROM users"), 0);
}

// --- users ---------------------------------------------------------------------------------

TEST_F(StoreTest, InsertedUserIsFoundByIdNameAndEmail) {
  auto id = add_user("alice");
  tmp.db().with([&](soci::session& sql) {
    auto by_id = store::find_user(sql, id);
    ASSERT_TRUE(by_id);
    EXPECT_EQ(by_id->username, "alice");
    EXPECT_EQ(by_id->balance_cents, 0);
    EXPECT_EQ(by_id->created_ms, kNow);
    EXPECT_EQ(store::find_user_by_username(sql, "alice")->id, id);
    EXPECT_EQ(store::find_user_by_login(sql, "alice")->id, id);
    EXPECT_EQ(store::find_user_by_login(sql, "alice@example.com")->id, id);
    EXPECT_FALSE(store::find_user_by_login(sql, "bob"));
  });
}

TEST_F(StoreTest, DuplicateUsernameIsAUniqueViolation) {
  add_user("alice");
  try {
    tmp.db().with([&](soci::session& sql) {
      auto u = sample_user("alice");
      u.email = "other@example.com";
      store::insert_user(sql, u);
    });
    FAIL() << "expected a unique violation";
  } catch (const std::exception& e) {
    EXPECT_TRUE(store::is_unique_violation(e)) << e.what();
  }
}

TEST_F(StoreTest, DuplicateEmailIsAUniqueViolation) {
  add_user("alice");
  try {
    tmp.db().with([&](soci::session& sql) {
      auto u = sample_user("bob");
      u.email = "alice@example.com";
      store::insert_user(sql, u);
    });
    FAIL() << "expected a unique violation";
  } catch (const std::exception& e) {
    EXPECT_TRUE(store::is_unique_violation(e)) << e.what();
  }
}

TEST_F(StoreTest, TakenChecksSeeNamesAndEmailsButNotOneself) {
  auto id = add_user("alice");
  tmp.db().with([&](soci::session& sql) {
    EXPECT_TRUE(store::username_taken(sql, "alice"));
    EXPECT_FALSE(store::username_taken(sql, "bob"));
    EXPECT_TRUE(store::email_taken(sql, "alice@example.com"));
    EXPECT_FALSE(store::email_taken(sql, "alice@example.com", id));
  });
}

TEST_F(StoreTest, SoftDeleteHidesTheUserAndFreesNameAndEmail) {
  auto id = add_user("alice");
  tmp.db().with([&](soci::session& sql) {
    store::insert_session(sql, id, "hash", kNow, kNow + 1000, "ua", "ip");
    store::soft_delete_user(sql, id, kNow + 5);
    EXPECT_FALSE(store::find_user(sql, id));
    EXPECT_FALSE(store::find_user_by_login(sql, "alice"));
    EXPECT_FALSE(store::username_taken(sql, "alice"));
    EXPECT_FALSE(store::email_taken(sql, "alice@example.com"));
    EXPECT_FALSE(store::find_session(sql, "hash", kNow));
  });
  EXPECT_EQ(scalar(tmp.db(), "SELECT COUNT(*) FROM users WHERE deleted_ms IS NOT NULL"), 1);
  EXPECT_NE(add_user("alice"), id);
}

TEST_F(StoreTest, StreamKeyLookupUsesTheDigest) {
  auto id = add_user("alice");
  tmp.db().with([&](soci::session& sql) {
    store::update_stream_key(sql, id, "digest1");
    EXPECT_EQ(store::find_user_by_stream_key(sql, "digest1")->id, id);
    store::update_stream_key(sql, id, "digest2");
    EXPECT_FALSE(store::find_user_by_stream_key(sql, "digest1"));
  });
}

TEST_F(StoreTest, ExpiredSessionsAreNotFound) {
  auto id = add_user("alice");
  tmp.db().with([&](soci::session& sql) {
    store::insert_session(sql, id, "h", kNow, kNow + 1000, "", "");
    EXPECT_TRUE(store::find_session(sql, "h", kNow + 999));
    EXPECT_FALSE(store::find_session(sql, "h", kNow + 1000));
    EXPECT_TRUE(store::list_sessions(sql, id, kNow + 1000).empty());
  });
}

// --- ledger --------------------------------------------------------------------------------

TEST_F(StoreTest, AppendEntryMovesTheBalanceAndRecordsBalanceAfter) {
  auto id = add_user("alice");
  EXPECT_EQ(append(id, store::kKindSignupBonus, 1200), 1200);
  store::LedgerLinks usage;
  usage.stream_session_id = 7;
  usage.minute_index = 0;
  EXPECT_EQ(append(id, store::kKindStreamUsage, -20, usage), 1180);
  EXPECT_EQ(balance(id), 1180);
  auto list =
      tmp.db().with([&](soci::session& sql) { return store::list_entries(sql, id, 0, 10); });
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].kind, store::kKindStreamUsage);  // newest first
  EXPECT_EQ(list[0].balance_after_cents, 1180);
  EXPECT_EQ(list[0].links.stream_session_id, 7);
  EXPECT_EQ(list[0].links.minute_index, 0);
  EXPECT_EQ(list[1].balance_after_cents, 1200);
  EXPECT_FALSE(list[1].links.stream_session_id);
}

TEST_F(StoreTest, AppendEntryNeverTakesTheBalanceBelowZero) {
  auto id = add_user("alice");
  ASSERT_EQ(append(id, store::kKindSignupBonus, 30), 30);
  store::LedgerLinks usage;
  usage.stream_session_id = 1;
  usage.minute_index = 0;
  EXPECT_EQ(append(id, store::kKindStreamUsage, -20, usage), 10);
  usage.minute_index = 1;
  EXPECT_EQ(append(id, store::kKindStreamUsage, -20, usage), std::nullopt);
  EXPECT_EQ(balance(id), 10);
  EXPECT_EQ(entries(), 2);
}

TEST_F(StoreTest, AppendEntryMayTakeTheBalanceToExactlyZero) {
  auto id = add_user("alice");
  ASSERT_EQ(append(id, store::kKindSignupBonus, 20), 20);
  store::LedgerLinks usage;
  usage.stream_session_id = 1;
  usage.minute_index = 0;
  EXPECT_EQ(append(id, store::kKindStreamUsage, -20, usage), 0);
}

TEST_F(StoreTest, AppendEntryForAnUnknownUserChangesNothing) {
  EXPECT_EQ(append(424242, store::kKindAdminAdjustment, 100), std::nullopt);
  EXPECT_EQ(entries(), 0);
}

TEST_F(StoreTest, SecondSignupBonusIsAUniqueViolation) {
  auto id = add_user("alice");
  ASSERT_TRUE(append(id, store::kKindSignupBonus, 1200));
  try {
    append(id, store::kKindSignupBonus, 1200);
    FAIL() << "expected a unique violation";
  } catch (const std::exception& e) {
    EXPECT_TRUE(store::is_unique_violation(e)) << e.what();
  }
  EXPECT_EQ(balance(id), 1200);  // the failed write rolled back with the balance
  EXPECT_EQ(entries(), 1);
}

TEST_F(StoreTest, SameUsageMinuteCannotBeChargedTwice) {
  auto id = add_user("alice");
  ASSERT_TRUE(append(id, store::kKindSignupBonus, 1200));
  store::LedgerLinks usage;
  usage.stream_session_id = 3;
  usage.minute_index = 5;
  ASSERT_TRUE(append(id, store::kKindStreamUsage, -20, usage));
  EXPECT_THROW(append(id, store::kKindStreamUsage, -20, usage), std::exception);
  EXPECT_EQ(balance(id), 1180);
}

TEST_F(StoreTest, ListEntriesPagesWithBeforeId) {
  auto id = add_user("alice");
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(append(id, store::kKindAdminAdjustment, 100));
  auto first =
      tmp.db().with([&](soci::session& sql) { return store::list_entries(sql, id, 0, 2); });
  ASSERT_EQ(first.size(), 2u);
  EXPECT_GT(first[0].id, first[1].id);
  auto next = tmp.db().with(
      [&](soci::session& sql) { return store::list_entries(sql, id, first.back().id, 10); });
  ASSERT_EQ(next.size(), 3u);
  EXPECT_LT(next[0].id, first.back().id);
}

TEST_F(StoreTest, EntriesAreScopedToTheirUser) {
  auto alice = add_user("alice");
  auto bob = add_user("bob");
  ASSERT_TRUE(append(alice, store::kKindSignupBonus, 1200));
  auto entry =
      tmp.db().with([&](soci::session& sql) { return store::list_entries(sql, alice, 0, 1); });
  tmp.db().with([&](soci::session& sql) {
    EXPECT_TRUE(store::find_entry(sql, alice, entry[0].id));
    EXPECT_FALSE(store::find_entry(sql, bob, entry[0].id));
    EXPECT_TRUE(store::list_entries(sql, bob, 0, 10).empty());
  });
}

TEST_F(StoreTest, VerifyLedgerIsCleanWhenBalancesMatch) {
  auto a = add_user("alice");
  add_user("bob");  // no entries, balance 0: consistent
  ASSERT_TRUE(append(a, store::kKindSignupBonus, 1200));
  ASSERT_TRUE(append(a, store::kKindAdminAdjustment, -200));
  EXPECT_TRUE(tmp.db().with([&](soci::session& sql) { return store::verify_ledger(sql); }).empty());
}

TEST_F(StoreTest, VerifyLedgerReportsABalanceThatDriftedFromTheLedger) {
  auto a = add_user("alice");
  ASSERT_TRUE(append(a, store::kKindSignupBonus, 1200));
  tmp.db().with([&](soci::session& sql) {
    sql << "UPDATE users SET balance_cents = 1500 WHERE id = :id", soci::use(a);
  });
  auto bad = tmp.db().with([&](soci::session& sql) { return store::verify_ledger(sql); });
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0].user_id, a);
  EXPECT_EQ(bad[0].balance_cents, 1500);
  EXPECT_EQ(bad[0].ledger_sum_cents, 1200);
}

TEST(PostgresUrl, BecomesLibpqKeywords) {
  EXPECT_EQ(
      store::postgres_conninfo("postgres://ds:s%40cret@db.example:5433/dream?sslmode=require"),
      "user='ds' password='s@cret' host='db.example' port='5433' dbname='dream' sslmode='require'");
  EXPECT_EQ(store::postgres_conninfo("postgresql://127.0.0.1/dreamstream"),
            "host='127.0.0.1' dbname='dreamstream'");
  EXPECT_EQ(store::postgres_conninfo("postgres://u@[::1]:5432/d"),
            "user='u' host='::1' port='5432' dbname='d'");
}

TEST(PostgresUrl, QuotesValuesSoSpacesAndQuotesCannotAddKeywords) {
  EXPECT_EQ(store::postgres_conninfo("postgres://u:a%27b%20c@h/d"),
            "user='u' password='a\\'b c' host='h' dbname='d'");
}

TEST_F(StoreTest, WorkerTokensAreListedAndRevokedByName) {
  auto& db = tmp.db();
  auto a = db.write(
      [](soci::session& sql) { return store::insert_worker_token(sql, "gpu-1", "hash-a", kNow); });
  auto b = db.write([](soci::session& sql) {
    return store::insert_worker_token(sql, "gpu-2", "hash-b", kNow + 1);
  });
  db.with([&](soci::session& sql) {
    EXPECT_EQ(store::find_worker_token(sql, "hash-a"), a);
    EXPECT_TRUE(store::revoked_worker_tokens(sql, {a, b}).empty());
  });
  EXPECT_EQ(db.write([](soci::session& sql) {
    return store::revoke_worker_tokens_named(sql, "gpu-1", kNow + 5);
  }),
            1);
  // Again: nothing left to revoke under that name.
  EXPECT_EQ(db.write([](soci::session& sql) {
    return store::revoke_worker_tokens_named(sql, "gpu-1", kNow + 6);
  }),
            0);
  db.with([&](soci::session& sql) {
    EXPECT_FALSE(store::find_worker_token(sql, "hash-a"));
    EXPECT_FALSE(store::worker_token_valid(sql, "hash-a"));
    EXPECT_EQ(store::find_worker_token(sql, "hash-b"), b);
    EXPECT_EQ(store::revoked_worker_tokens(sql, {a, b, 999}), (std::vector<long long>{a, 999}));
    auto all = store::list_worker_tokens(sql);
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0].name, "gpu-1");
    EXPECT_EQ(all[0].revoked_ms, kNow + 5);
    EXPECT_EQ(all[1].name, "gpu-2");
    EXPECT_FALSE(all[1].revoked_ms);
  });
}
