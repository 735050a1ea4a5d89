#include "store/auth_sessions.hpp"

namespace ds::store {

long long insert_session(soci::session& sql, long long user_id, const std::string& token_hash,
                         long long now_ms, long long expires_ms, const std::string& user_agent,
                         const std::string& ip) {
  long long id = 0;
  sql << "INSERT INTO sessions (user_id, token_hash, created_ms, last_seen_ms, expires_ms, "
         "user_agent, ip) VALUES (:u, :h, :c, :c2, :e, :ua, :ip) RETURNING id",
      soci::use(user_id), soci::use(token_hash), soci::use(now_ms), soci::use(now_ms),
      soci::use(expires_ms), soci::use(user_agent), soci::use(ip), soci::into(id);
  return id;
}

std::optional<AuthSession> find_session(soci::session& sql, const std::string& token_hash,
                                        long long now_ms) {
  AuthSession s;
  soci::statement st =
      (sql.prepare << "SELECT id, user_id, created_ms, last_seen_ms, expires_ms, user_agent, ip "
                      "FROM sessions WHERE token_hash = :h AND expires_ms > :now",
       soci::into(s.id), soci::into(s.user_id), soci::into(s.created_ms),
       soci::into(s.last_seen_ms), soci::into(s.expires_ms), soci::into(s.user_agent),
       soci::into(s.ip), soci::use(token_hash), soci::use(now_ms));
  st.execute();
  if (!st.fetch()) return std::nullopt;
  return s;
}

void touch_session(soci::session& sql, long long id, long long now_ms, long long expires_ms) {
  sql << "UPDATE sessions SET last_seen_ms = :n, expires_ms = :e WHERE id = :id", soci::use(now_ms),
      soci::use(expires_ms), soci::use(id);
}

std::vector<AuthSession> list_sessions(soci::session& sql, long long user_id, long long now_ms) {
  std::vector<AuthSession> out;
  AuthSession s;
  soci::statement st =
      (sql.prepare << "SELECT id, user_id, created_ms, last_seen_ms, expires_ms, user_agent, ip "
                      "FROM sessions WHERE user_id = :u AND expires_ms > :now ORDER BY id DESC",
       soci::into(s.id), soci::into(s.user_id), soci::into(s.created_ms),
       soci::into(s.last_seen_ms), soci::into(s.expires_ms), soci::into(s.user_agent),
       soci::into(s.ip), soci::use(user_id), soci::use(now_ms));
  st.execute();
  while (st.fetch()) out.push_back(s);
  return out;
}

bool delete_session(soci::session& sql, long long user_id, long long session_id) {
  soci::statement st = (sql.prepare << "DELETE FROM sessions WHERE id = :id AND user_id = :u",
                        soci::use(session_id), soci::use(user_id));
  st.execute(true);
  return st.get_affected_rows() > 0;
}

void delete_session_by_hash(soci::session& sql, const std::string& token_hash) {
  sql << "DELETE FROM sessions WHERE token_hash = :h", soci::use(token_hash);
}

void delete_other_sessions(soci::session& sql, long long user_id, long long keep_session_id) {
  sql << "DELETE FROM sessions WHERE user_id = :u AND id <> :k", soci::use(user_id),
      soci::use(keep_session_id);
}

long long insert_api_token(soci::session& sql, long long user_id, const std::string& name,
                           const std::string& token_hash, const std::string& scopes,
                           long long now_ms) {
  long long id = 0;
  sql << "INSERT INTO api_tokens (user_id, name, token_hash, scopes, created_ms) "
         "VALUES (:u, :n, :h, :s, :c) RETURNING id",
      soci::use(user_id), soci::use(name), soci::use(token_hash), soci::use(scopes),
      soci::use(now_ms), soci::into(id);
  return id;
}

std::optional<ApiToken> find_api_token(soci::session& sql, const std::string& token_hash) {
  ApiToken t;
  soci::indicator used_ind = soci::i_ok;
  soci::statement st =
      (sql.prepare << "SELECT id, user_id, name, created_ms, last_used_ms, scopes FROM api_tokens "
                      "WHERE token_hash = :h",
       soci::into(t.id), soci::into(t.user_id), soci::into(t.name), soci::into(t.created_ms),
       soci::into(t.last_used_ms, used_ind), soci::into(t.scopes), soci::use(token_hash));
  st.execute();
  if (!st.fetch()) return std::nullopt;
  if (used_ind == soci::i_null) t.last_used_ms = 0;
  return t;
}

void touch_api_token(soci::session& sql, long long id, long long now_ms) {
  sql << "UPDATE api_tokens SET last_used_ms = :n WHERE id = :id", soci::use(now_ms), soci::use(id);
}

std::vector<ApiToken> list_api_tokens(soci::session& sql, long long user_id) {
  std::vector<ApiToken> out;
  ApiToken t;
  soci::indicator used_ind = soci::i_ok;
  soci::statement st =
      (sql.prepare << "SELECT id, user_id, name, created_ms, last_used_ms, scopes FROM api_tokens "
                      "WHERE user_id = :u ORDER BY id DESC",
       soci::into(t.id), soci::into(t.user_id), soci::into(t.name), soci::into(t.created_ms),
       soci::into(t.last_used_ms, used_ind), soci::into(t.scopes), soci::use(user_id));
  st.execute();
  while (st.fetch()) {
    if (used_ind == soci::i_null) t.last_used_ms = 0;
    out.push_back(t);
  }
  return out;
}

bool delete_api_token(soci::session& sql, long long user_id, long long token_id) {
  soci::statement st = (sql.prepare << "DELETE FROM api_tokens WHERE id = :id AND user_id = :u",
                        soci::use(token_id), soci::use(user_id));
  st.execute(true);
  return st.get_affected_rows() > 0;
}

bool session_alive(soci::session& sql, long long session_id, long long now_ms) {
  long long n = 0;
  sql << "SELECT COUNT(*) FROM sessions WHERE id = :id AND expires_ms > :now",
      soci::use(session_id), soci::use(now_ms), soci::into(n);
  return n > 0;
}

bool api_token_exists(soci::session& sql, long long token_id) {
  long long n = 0;
  sql << "SELECT COUNT(*) FROM api_tokens WHERE id = :id", soci::use(token_id), soci::into(n);
  return n > 0;
}

}  // namespace ds::store
