#include "store/database.hpp"

#include <soci/postgresql/soci-postgresql.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <filesystem>
#include <stdexcept>

namespace ds::store {

namespace {

constexpr std::string_view kSqlitePrefix = "sqlite://";

}  // namespace

Database::Database(Dialect dialect, std::size_t pool_size)
    : dialect_(dialect), pool_size_(pool_size), pool_(pool_size) {}

Database::~Database() = default;

std::unique_ptr<Database> Database::open(const std::string& url, std::size_t pool_size) {
  if (pool_size == 0) pool_size = 1;
  if (url.starts_with(kSqlitePrefix)) {
    std::string path = url.substr(kSqlitePrefix.size());
    if (path.empty()) throw std::invalid_argument("sqlite URL needs a path: " + url);
    auto parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent);
    std::unique_ptr<Database> db(new Database(Dialect::kSqlite, pool_size));
    for (std::size_t i = 0; i != pool_size; ++i) {
      soci::session& s = db->pool_.at(i);
      s.open(soci::sqlite3, "db=\"" + path + "\" timeout=10");
      s << "PRAGMA journal_mode=WAL";
      s << "PRAGMA synchronous=NORMAL";
      s << "PRAGMA foreign_keys=ON";
      s << "PRAGMA busy_timeout=10000";
    }
    return db;
  }
  if (url.starts_with("postgres://") || url.starts_with("postgresql://")) {
    std::unique_ptr<Database> db(new Database(Dialect::kPostgres, pool_size));
    for (std::size_t i = 0; i != pool_size; ++i) {
      db->pool_.at(i).open(soci::postgresql, url);
    }
    return db;
  }
  throw std::invalid_argument("unsupported database URL (use sqlite://PATH or postgres://...)");
}

void Database::begin(soci::session& sql) {
  sql << (dialect_ == Dialect::kSqlite ? "BEGIN IMMEDIATE" : "BEGIN");
}

void Database::rollback(soci::session& sql) noexcept {
  try {
    sql << "ROLLBACK";
  } catch (...) {
    // The transaction is already gone (e.g. the connection dropped); nothing left to undo.
  }
}

std::string Database::id_column() const {
  return dialect_ == Dialect::kSqlite ? "INTEGER PRIMARY KEY AUTOINCREMENT"
                                      : "BIGSERIAL PRIMARY KEY";
}

bool is_unique_violation(const std::exception& e) {
  std::string_view what = e.what();
  return what.find("UNIQUE constraint failed") != std::string_view::npos ||
         what.find("duplicate key value") != std::string_view::npos;
}

}  // namespace ds::store
