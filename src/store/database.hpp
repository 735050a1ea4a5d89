// The data-access layer: a pool of SOCI sessions over SQLite (embedded) or PostgreSQL (scale-out).
#pragma once

#include <soci/connection-pool.h>
#include <soci/soci.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "util/unavailable.hpp"

namespace ds::store {

enum class Dialect { kSqlite, kPostgres };

// The database cannot serve the request right now: PostgreSQL unreachable, its connection
// lost or a statement timed out; SQLite locked past the busy timeout or its file unusable.
// The caller may try again later (HTTP 503 database_unavailable); nothing was committed.
class DatabaseUnavailable : public Unavailable {
 public:
  using Unavailable::Unavailable;
};

// postgres://user:pass@host:port/db?sslmode=require → libpq keywords
// (user='user' password='pass' host='host' port='5432' dbname='db' sslmode='require').
// Throws std::invalid_argument on a malformed URL.
std::string postgres_conninfo(std::string_view url);

// The URL with its password (scheme://user:PASSWORD@host) shown as ***, for messages and logs.
std::string redact_url(std::string_view url);
// text with every occurrence of url's password (as written and percent-decoded) shown as ***.
std::string redact_password(std::string text, std::string_view url);

// How long a request may wait on the database before it is told "unavailable".
struct DatabaseTimeouts {
  // SQLite: waiting for another connection's write lock.
  int busy_ms = 3'000;
  // PostgreSQL: establishing (or re-establishing) a connection, unless the URL sets
  // connect_timeout itself.
  int connect_s = 3;
  // PostgreSQL: one statement (server side; migrations lift it).
  int statement_ms = 5'000;
};

class Database {
 public:
  // url: "sqlite://<path>" or "postgres://..." / "postgresql://..." (a libpq URI).
  // Throws on a malformed URL or a failed connection (start-up only).
  static std::unique_ptr<Database> open(const std::string& url, std::size_t pool_size,
                                        DatabaseTimeouts timeouts = {});
  ~Database();

  Dialect dialect() const { return dialect_; }
  const DatabaseTimeouts& timeouts() const { return timeouts_; }

  // Runs fn(soci::session&) on a pooled connection. A connection-level failure (see
  // DatabaseUnavailable) is thrown as DatabaseUnavailable; other errors pass unchanged.
  template <class F>
  decltype(auto) with(F&& fn) {
    Lease lease(*this);
    try {
      return fn(lease.sql());
    } catch (const soci::soci_error& e) {
      lease.failed(e);
    }
  }

  // Runs fn(soci::session&) inside a write transaction that commits when fn returns and rolls
  // back when it throws. On SQLite it takes the write lock up front (BEGIN IMMEDIATE) so two
  // writers never deadlock upgrading read locks. Errors as for with().
  template <class F>
  decltype(auto) write(F&& fn) {
    Lease lease(*this);
    soci::session& sql = lease.sql();
    begin(lease);
    try {
      if constexpr (std::is_void_v<decltype(fn(sql))>) {
        fn(sql);
        sql << "COMMIT";
      } else {
        auto result = fn(sql);
        sql << "COMMIT";
        return result;
      }
    } catch (const soci::soci_error& e) {
      rollback(sql);
      lease.failed(e);
    } catch (...) {
      rollback(sql);
      throw;
    }
  }

  // Whether the database can take a write now (PostgreSQL: a round trip; SQLite: the write
  // lock within the busy timeout). Never throws; for /healthz.
  bool available();

  // SQL for an auto-increment primary key column in this dialect.
  std::string id_column() const;

 private:
  // One pooled session, borrowed for the lifetime of the lease. Sessions that may have lost
  // their connection are checked (and reconnected) before they are handed out.
  class Lease {
   public:
    explicit Lease(Database& db);
    ~Lease();
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    soci::session& sql() { return db_.pool_.at(pos_); }
    std::size_t pos() const { return pos_; }
    // Call from inside a catch handler: throws DatabaseUnavailable for a connection-level
    // failure (and marks the pool for checking), else rethrows the error being handled.
    [[noreturn]] void failed(const soci::soci_error& e);

   private:
    Database& db_;
    std::size_t pos_;
  };

  Database(Dialect dialect, std::size_t pool_size, DatabaseTimeouts timeouts);
  void configure(soci::session& sql);
  void check_connection(std::size_t pos);
  void begin(Lease& lease);
  static void rollback(soci::session& sql) noexcept;

  Dialect dialect_;
  std::size_t pool_size_;
  DatabaseTimeouts timeouts_;
  soci::connection_pool pool_;
  // Bumped on every connection-level failure. A session that last saw an older value is
  // pinged before use, so after an outage every pooled connection is re-established instead
  // of failing once on its first request.
  std::atomic<std::uint64_t> failures_{0};
  std::vector<std::uint64_t> checked_at_;  // per pool slot; touched only by the slot's lessee
};

// True when the error is a unique-constraint violation (both dialects).
bool is_unique_violation(const std::exception& e);
// True when the error says the database cannot be reached or is locked (a temporary outage).
bool is_unavailable(const std::exception& e);

// True when a SOCI error means the database is unreachable or too busy rather than that the
// statement is wrong: PostgreSQL connection errors (no SQLSTATE, class 08, 57P0x shutdown,
// 53300 too many connections, 57014 statement timeout), SQLite BUSY/LOCKED/IOERR/FULL/CANTOPEN.
bool is_unavailable(const soci::soci_error& e);

}  // namespace ds::store
