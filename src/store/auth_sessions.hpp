// Login sessions and API tokens: only SHA-256 digests of the secrets are stored.
#pragma once

#include <soci/soci.h>

#include <optional>
#include <string>
#include <vector>

namespace ds::store {

struct AuthSession {
  long long id = 0;
  long long user_id = 0;
  long long created_ms = 0;
  long long last_seen_ms = 0;
  long long expires_ms = 0;
  std::string user_agent;
  std::string ip;
};

struct ApiToken {
  long long id = 0;
  long long user_id = 0;
  std::string name;
  long long created_ms = 0;
  long long last_used_ms = 0;  // 0 when never used
  std::string scopes;          // space-separated names (auth/scopes.hpp)
};

long long insert_session(soci::session& sql, long long user_id, const std::string& token_hash,
                         long long now_ms, long long expires_ms, const std::string& user_agent,
                         const std::string& ip);
// The live (unexpired) session for a token digest.
std::optional<AuthSession> find_session(soci::session& sql, const std::string& token_hash,
                                        long long now_ms);
void touch_session(soci::session& sql, long long id, long long now_ms, long long expires_ms);
std::vector<AuthSession> list_sessions(soci::session& sql, long long user_id, long long now_ms);
// Returns whether a session of that user was deleted.
bool delete_session(soci::session& sql, long long user_id, long long session_id);
void delete_session_by_hash(soci::session& sql, const std::string& token_hash);
void delete_other_sessions(soci::session& sql, long long user_id, long long keep_session_id);
bool session_alive(soci::session& sql, long long session_id, long long now_ms);

long long insert_api_token(soci::session& sql, long long user_id, const std::string& name,
                           const std::string& token_hash, const std::string& scopes,
                           long long now_ms);
std::optional<ApiToken> find_api_token(soci::session& sql, const std::string& token_hash);
void touch_api_token(soci::session& sql, long long id, long long now_ms);
std::vector<ApiToken> list_api_tokens(soci::session& sql, long long user_id);
bool delete_api_token(soci::session& sql, long long user_id, long long token_id);
bool api_token_exists(soci::session& sql, long long token_id);

}  // namespace ds::store
