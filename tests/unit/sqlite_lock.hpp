// Another connection holding a SQLite database's write lock, as a stuck writer would.
#pragma once

#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <string>

namespace ds::test {

class SqliteWriteLock {
 public:
  explicit SqliteWriteLock(const std::string& path) : sql_(soci::sqlite3, "db=\"" + path + "\"") {
    sql_ << "BEGIN IMMEDIATE";
  }
  ~SqliteWriteLock() { release(); }
  SqliteWriteLock(const SqliteWriteLock&) = delete;
  SqliteWriteLock& operator=(const SqliteWriteLock&) = delete;

  void release() {
    if (!held_) return;
    held_ = false;
    sql_ << "ROLLBACK";
  }

 private:
  soci::session sql_;
  bool held_ = true;
};

}  // namespace ds::test
