#include "store/database.hpp"

#include <soci/postgresql/soci-postgresql.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <cctype>
#include <filesystem>
#include <vector>
#include <stdexcept>

namespace ds::store {

namespace {

constexpr std::string_view kSqlitePrefix = "sqlite://";

std::string percent_decode(std::string_view in) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size() && std::isxdigit(static_cast<unsigned char>(in[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(in[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

// A libpq keyword value: quoted, with quotes and backslashes escaped.
std::string conninfo_value(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\\' || c == '\'') out += '\\';
    out += c;
  }
  return out + "'";
}

}  // namespace

std::string postgres_conninfo(std::string_view url) {
  auto scheme = url.find("://");
  if (scheme == std::string_view::npos) throw std::invalid_argument("not a postgres:// URL");
  std::string_view rest = url.substr(scheme + 3);
  std::string_view query;
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  std::string_view dbname;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    dbname = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  std::vector<std::pair<std::string, std::string>> kv;
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view cred = rest.substr(0, at);
    rest = rest.substr(at + 1);
    auto colon = cred.find(':');
    kv.emplace_back("user", percent_decode(cred.substr(0, colon)));
    if (colon != std::string_view::npos) kv.emplace_back("password", percent_decode(cred.substr(colon + 1)));
  }
  std::string_view host = rest, port;
  if (!rest.empty() && rest.front() == '[') {  // [::1]:5432
    auto close = rest.find(']');
    if (close == std::string_view::npos) throw std::invalid_argument("bad IPv6 host in database URL");
    host = rest.substr(1, close - 1);
    if (close + 1 < rest.size() && rest[close + 1] == ':') port = rest.substr(close + 2);
  } else if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (!host.empty()) kv.emplace_back("host", percent_decode(host));
  if (!port.empty()) kv.emplace_back("port", std::string(port));
  if (!dbname.empty()) kv.emplace_back("dbname", percent_decode(dbname));
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    auto eq = pair.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;
    kv.emplace_back(percent_decode(pair.substr(0, eq)), percent_decode(pair.substr(eq + 1)));
  }
  std::string out;
  for (const auto& [k, v] : kv) {
    if (!out.empty()) out += ' ';
    out += k + "=" + conninfo_value(v);
  }
  return out;
}

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
      // SOCI parses its connect string as keyword=value pairs, so a URL goes in as libpq
      // keywords rather than as a URI.
      db->pool_.at(i).open(soci::postgresql, postgres_conninfo(url));
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

namespace ds::store {

bool is_unavailable(const std::exception& e) {
  std::string_view what = e.what();
  for (std::string_view m : {"database is locked", "database is busy", "could not connect",
                             "server closed the connection", "no connection to the server",
                             "terminating connection", "Connection refused"}) {
    if (what.find(m) != std::string_view::npos) return true;
  }
  return false;
}

}  // namespace ds::store
