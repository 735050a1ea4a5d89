// A migrated SQLite database in a fresh temporary directory, removed when the test ends.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "store/database.hpp"
#include "store/migrations.hpp"
#include "store/users.hpp"
#include "test_support.hpp"

namespace ds::test {

// A user row's fields for store::insert_user (no real password: nobody logs in with it).
inline store::User sample_user(const std::string& name, long long created_ms) {
  store::User u;
  u.username = name;
  u.email = name + "@example.com";
  u.display_name = name;
  u.password_hash = "$argon2id$placeholder";
  u.created_ms = created_ms;
  return u;
}

class TempDatabase {
 public:
  explicit TempDatabase(std::size_t pool_size = 4, store::DatabaseTimeouts timeouts = {}) {
    db_ = store::Database::open(url(), pool_size, timeouts);
    store::migrate(*db_);
  }
  TempDatabase(const TempDatabase&) = delete;
  TempDatabase& operator=(const TempDatabase&) = delete;

  store::Database& db() { return *db_; }
  std::string url() const { return "sqlite://" + path(); }
  std::string path() const { return (dir_.path() / "test.db").string(); }
  const std::filesystem::path& dir() const { return dir_.path(); }

 private:
  TempDir dir_;  // outlives db_ (members go in reverse order)
  std::unique_ptr<store::Database> db_;
};

}  // namespace ds::test
