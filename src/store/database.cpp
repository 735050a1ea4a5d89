#include "store/database.hpp"

#include <libpq-fe.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/sqlite3/soci-sqlite3.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <vector>

#include "util/event_loop.hpp"
#include "util/percent.hpp"

namespace ds::store {

namespace {

constexpr std::string_view kSqlitePrefix = "sqlite://";

std::string percent_decode(std::string_view in) { return util::percent_decode_lenient(in); }

// A libpq keyword value: quoted, with quotes and backslashes escaped.
std::string conninfo_value(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\\' || c == '\'') out += '\\';
    out += c;
  }
  return out + "'";
}

// SQLite primary result codes (sqlite3.h) that mean "not now" rather than "wrong".
constexpr int kSqliteBusy = 5;
constexpr int kSqliteLocked = 6;
constexpr int kSqliteIoErr = 10;
constexpr int kSqliteFull = 13;
constexpr int kSqliteCantOpen = 14;

// Driver messages (libpq's especially) span lines; a log line must not.
std::string one_line(std::string_view what) {
  std::string out(what);
  for (auto& c : out) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// Whether a PostgreSQL session's connection is gone (libpq notices on the failed round trip).
bool connection_lost(soci::session& sql) {
  auto* backend = static_cast<soci::postgresql_session_backend*>(sql.get_backend());
  return backend == nullptr || backend->conn_ == nullptr ||
         PQstatus(backend->conn_) == CONNECTION_BAD;
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
    if (colon != std::string_view::npos)
      kv.emplace_back("password", percent_decode(cred.substr(colon + 1)));
  }
  std::string_view host = rest, port;
  if (!rest.empty() && rest.front() == '[') {  // [::1]:5432
    auto close = rest.find(']');
    if (close == std::string_view::npos)
      throw std::invalid_argument("bad IPv6 host in database URL");
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

namespace {

// The user:password part of scheme://user:password@host/..., and where the password starts.
std::optional<std::pair<std::size_t, std::string_view>> url_password(std::string_view url) {
  auto scheme = url.find("://");
  if (scheme == std::string_view::npos) return std::nullopt;
  auto start = scheme + 3;
  auto end = url.find_first_of("/?#", start);
  std::string_view authority =
      url.substr(start, end == std::string_view::npos ? url.npos : end - start);
  auto at = authority.rfind('@');
  if (at == std::string_view::npos) return std::nullopt;
  auto colon = authority.substr(0, at).find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  return std::pair{start + colon + 1, authority.substr(colon + 1, at - colon - 1)};
}

void replace_all(std::string& text, std::string_view what) {
  if (what.empty()) return;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 3)) {
    text.replace(pos, what.size(), "***");
  }
}

}  // namespace

std::string redact_url(std::string_view url) {
  auto pw = url_password(url);
  if (!pw || pw->second.empty()) return std::string(url);
  std::string out(url);
  out.replace(pw->first, pw->second.size(), "***");
  return out;
}

std::string redact_password(std::string text, std::string_view url) {
  auto pw = url_password(url);
  if (!pw || pw->second.empty()) return text;
  replace_all(text, pw->second);
  replace_all(text, percent_decode(pw->second));
  return text;
}

Database::Database(Dialect dialect, std::size_t pool_size, DatabaseTimeouts timeouts)
    : dialect_(dialect),
      pool_size_(pool_size),
      timeouts_(timeouts),
      pool_(pool_size),
      checked_at_(pool_size, 0) {}

Database::~Database() = default;

std::unique_ptr<Database> Database::open(const std::string& url, std::size_t pool_size,
                                         DatabaseTimeouts timeouts) {
  if (pool_size == 0) pool_size = 1;
  if (url.starts_with(kSqlitePrefix)) {
    std::string path = url.substr(kSqlitePrefix.size());
    if (path.empty()) throw std::invalid_argument("sqlite URL needs a path: " + url);
    auto parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent);
    std::unique_ptr<Database> db(new Database(Dialect::kSqlite, pool_size, timeouts));
    int timeout_s = std::max(1, (timeouts.busy_ms + 999) / 1000);
    for (std::size_t i = 0; i != pool_size; ++i) {
      soci::session& s = db->pool_.at(i);
      s.open(soci::sqlite3, "db=\"" + path + "\" timeout=" + std::to_string(timeout_s));
      db->configure(s);
    }
    return db;
  }
  if (url.starts_with("postgres://") || url.starts_with("postgresql://")) {
    std::unique_ptr<Database> db(new Database(Dialect::kPostgres, pool_size, timeouts));
    // SOCI parses its connect string as keyword=value pairs, so a URL goes in as libpq
    // keywords rather than as a URI. Without a connect timeout, reconnecting to a host that
    // drops packets would hang a request for minutes.
    std::string conninfo = postgres_conninfo(url);
    if (conninfo.find("connect_timeout=") == std::string::npos) {
      conninfo += " connect_timeout='" + std::to_string(timeouts.connect_s) + "'";
    }
    for (std::size_t i = 0; i != pool_size; ++i) {
      soci::session& s = db->pool_.at(i);
      s.open(soci::postgresql, conninfo);
      db->configure(s);
    }
    return db;
  }
  throw std::invalid_argument("unsupported database URL (use sqlite://PATH or postgres://...)");
}

void Database::configure(soci::session& sql) {
  if (dialect_ == Dialect::kSqlite) {
    sql << "PRAGMA journal_mode=WAL";
    sql << "PRAGMA synchronous=NORMAL";
    sql << "PRAGMA foreign_keys=ON";
    sql << "PRAGMA busy_timeout=" + std::to_string(timeouts_.busy_ms);
  } else {
    sql << "SET statement_timeout = " + std::to_string(timeouts_.statement_ms);
  }
}

Database::Lease::Lease(Database& db)
    : db_(db), pos_((event_loop::note_wait("database"), db.pool_.lease())) {
  if (db_.dialect_ != Dialect::kPostgres) return;
  try {
    db_.check_connection(pos_);
  } catch (...) {
    db_.pool_.give_back(pos_);
    throw;
  }
}

Database::Lease::~Lease() { db_.pool_.give_back(pos_); }

void Database::Lease::failed(const soci::soci_error& e) {
  if (is_unavailable(e) || (db_.dialect_ == Dialect::kPostgres && connection_lost(sql()))) {
    ++db_.failures_;
    throw DatabaseUnavailable(one_line(e.what()));
  }
  throw;
}

void Database::check_connection(std::size_t pos) {
  auto failures = failures_.load();
  if (checked_at_[pos] == failures) return;
  soci::session& sql = pool_.at(pos);
  if (!sql.is_connected()) {  // a round trip
    try {
      sql.reconnect();
      configure(sql);
    } catch (const soci::soci_error& e) {
      // checked_at_ stays behind, so the next lease of this slot tries again.
      throw DatabaseUnavailable(one_line(e.what()));
    }
    spdlog::info("event=database_reconnected slot={}", pos);
  }
  checked_at_[pos] = failures;
}

void Database::begin(Lease& lease) {
  const char* stmt = dialect_ == Dialect::kSqlite ? "BEGIN IMMEDIATE" : "BEGIN";
  try {
    lease.sql() << stmt;
    return;
  } catch (const soci::soci_error& e) {
    // Nothing has happened in this transaction yet, so a connection found dead here (after a
    // PostgreSQL restart that no request noticed) is re-established and BEGIN sent again.
    if (dialect_ != Dialect::kPostgres || !connection_lost(lease.sql())) lease.failed(e);
    ++failures_;
  }
  check_connection(lease.pos());
  try {
    lease.sql() << stmt;
  } catch (const soci::soci_error& e) {
    lease.failed(e);
  }
}

bool Database::available() {
  try {
    if (dialect_ == Dialect::kSqlite) {
      write([](soci::session&) {});
    } else {
      with([](soci::session& sql) { sql << "SELECT 1"; });
    }
    return true;
  } catch (const std::exception&) {
    return false;
  }
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

bool is_unavailable(const soci::soci_error& e) {
  if (auto* pg = dynamic_cast<const soci::postgresql_soci_error*>(&e)) {
    std::string state = pg->sqlstate();
    // No SQLSTATE: libpq's own error, i.e. the connection failed before the server answered.
    return state == "     " || state.starts_with("08") || state.starts_with("57P") ||
           state == "53300" || state == "57014";
  }
  if (auto* lite = dynamic_cast<const soci::sqlite3_soci_error*>(&e)) {
    switch (lite->result() & 0xff) {
      case kSqliteBusy:
      case kSqliteLocked:
      case kSqliteIoErr:
      case kSqliteFull:
      case kSqliteCantOpen:
        return true;
      default:
        return false;
    }
  }
  // Errors SOCI raises without a backend code.
  std::string_view what = e.what();
  return what.find("database is locked") != std::string_view::npos ||
         what.find("Cannot establish connection") != std::string_view::npos ||
         what.find("Session is not connected") != std::string_view::npos;
}

}  // namespace ds::store

namespace ds::store {

bool is_unavailable(const std::exception& e) {
  if (dynamic_cast<const DatabaseUnavailable*>(&e)) return true;
  if (auto* soci_error = dynamic_cast<const soci::soci_error*>(&e))
    return is_unavailable(*soci_error);
  return false;
}

}  // namespace ds::store
