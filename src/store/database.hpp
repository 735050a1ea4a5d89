// The data-access layer: a pool of SOCI sessions over SQLite (embedded) or PostgreSQL (scale-out).
#pragma once

#include <soci/connection-pool.h>
#include <soci/soci.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace ds::store {

enum class Dialect { kSqlite, kPostgres };

// postgres://user:pass@host:port/db?sslmode=require → libpq keywords
// (user='user' password='pass' host='host' port='5432' dbname='db' sslmode='require').
// Throws std::invalid_argument on a malformed URL.
std::string postgres_conninfo(std::string_view url);

class Database {
 public:
  // url: "sqlite://<path>" or "postgres://..." / "postgresql://..." (a libpq URI).
  // Throws on a malformed URL or a failed connection (start-up only).
  static std::unique_ptr<Database> open(const std::string& url, std::size_t pool_size);
  ~Database();

  Dialect dialect() const { return dialect_; }

  // Runs fn(soci::session&) on a pooled connection.
  template <class F>
  decltype(auto) with(F&& fn) {
    soci::session sql(pool_);
    return fn(sql);
  }

  // Runs fn(soci::session&) inside a write transaction that commits when fn returns and rolls
  // back when it throws. On SQLite it takes the write lock up front (BEGIN IMMEDIATE) so two
  // writers never deadlock upgrading read locks.
  template <class F>
  decltype(auto) write(F&& fn) {
    soci::session sql(pool_);
    begin(sql);
    try {
      if constexpr (std::is_void_v<decltype(fn(sql))>) {
        fn(sql);
        sql << "COMMIT";
      } else {
        auto result = fn(sql);
        sql << "COMMIT";
        return result;
      }
    } catch (...) {
      rollback(sql);
      throw;
    }
  }

  // SQL for an auto-increment primary key column in this dialect.
  std::string id_column() const;

 private:
  Database(Dialect dialect, std::size_t pool_size);
  void begin(soci::session& sql);
  static void rollback(soci::session& sql) noexcept;

  Dialect dialect_;
  std::size_t pool_size_;
  soci::connection_pool pool_;
};

// True when the error is a unique-constraint violation (both dialects).
bool is_unique_violation(const std::exception& e);
// True when the error says the database cannot be reached or is locked (a temporary outage).
bool is_unavailable(const std::exception& e);

}  // namespace ds::store
