#include <gtest/gtest.h>

#include "sqlite_lock.hpp"
#include "store/database.hpp"
#include "temp_database.hpp"

using namespace ds;
using ds::test::SqliteWriteLock;
using ds::test::TempDatabase;

namespace {

store::DatabaseTimeouts short_busy() {
  store::DatabaseTimeouts t;
  t.busy_ms = 20;
  return t;
}

long long count_users(store::Database& db) {
  long long n = 0;
  db.with([&](soci::session& sql) { sql << "SELECT COUNT(*) FROM users", soci::into(n); });
  return n;
}

}  // namespace

TEST(DatabaseOutage, WriteLockedPastTheBusyTimeoutIsUnavailable) {
  TempDatabase tmp(2, short_busy());
  SqliteWriteLock lock(tmp.path());
  EXPECT_THROW(tmp.db().write([](soci::session& sql) { sql << "DELETE FROM users"; }),
               store::DatabaseUnavailable);
  EXPECT_FALSE(tmp.db().available());
  // WAL: readers are not blocked by the writer.
  EXPECT_EQ(count_users(tmp.db()), 0);
  lock.release();
  EXPECT_NO_THROW(tmp.db().write([](soci::session& sql) { sql << "DELETE FROM users"; }));
  EXPECT_TRUE(tmp.db().available());
}

TEST(DatabaseOutage, WriteOutsideATransactionLockedIsUnavailable) {
  TempDatabase tmp(2, short_busy());
  SqliteWriteLock lock(tmp.path());
  EXPECT_THROW(tmp.db().with([](soci::session& sql) { sql << "DELETE FROM users"; }),
               store::DatabaseUnavailable);
}

TEST(DatabaseOutage, StatementErrorsAreNotUnavailable) {
  TempDatabase tmp(2, short_busy());
  try {
    tmp.db().with([](soci::session& sql) { sql << "SELECT nonsense FROM nowhere"; });
    FAIL() << "no error";
  } catch (const store::DatabaseUnavailable&) {
    FAIL() << "a wrong statement is not an outage";
  } catch (const soci::soci_error&) {
  }
}

TEST(DatabaseOutage, AvailableWhenNothingHoldsTheLock) {
  TempDatabase tmp(2, short_busy());
  EXPECT_TRUE(tmp.db().available());
}
