// A migrated SQLite database in a fresh temporary directory, removed when the test ends.
#pragma once

#include <filesystem>
#include <memory>
#include <random>
#include <string>

#include "store/database.hpp"
#include "store/migrations.hpp"

namespace ds::test {

class TempDatabase {
 public:
  explicit TempDatabase(std::size_t pool_size = 4, store::DatabaseTimeouts timeouts = {}) {
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() /
           ("ds-unit-" + std::to_string(rd()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(dir_);
    db_ = store::Database::open(url(), pool_size, timeouts);
    store::migrate(*db_);
  }
  ~TempDatabase() {
    db_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  TempDatabase(const TempDatabase&) = delete;
  TempDatabase& operator=(const TempDatabase&) = delete;

  store::Database& db() { return *db_; }
  std::string url() const { return "sqlite://" + path(); }
  std::string path() const { return (dir_ / "test.db").string(); }
  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<store::Database> db_;
};

}  // namespace ds::test
