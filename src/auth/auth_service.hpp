// Accounts and credentials: registration (with the signup bonus), login with throttling,
// server-side sessions, API tokens, stream keys, profile changes and account deletion.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/rate_limiter.hpp"
#include "auth/scopes.hpp"
#include "domain/credits.hpp"
#include "store/auth_sessions.hpp"
#include "store/database.hpp"
#include "store/users.hpp"
#include "util/clock.hpp"
#include "util/expected.hpp"

namespace ds::auth {

struct AuthConfig {
  std::int64_t session_ttl_ms = 30LL * 24 * 3600 * 1000;
  // Ingest tickets: how long one may wait for its socket, and how many may wait per account.
  std::int64_t ingest_ticket_ttl_ms = 60'000;
  int max_ingest_tickets = 10;
  // Failed logins are counted per (account, client address) and per client address, never per
  // account alone: a stranger's guesses must not lock the owner out from elsewhere.
  int max_failures_per_account_address = 5;
  int max_failures_per_address = 20;
  std::int64_t failure_window_ms = 15LL * 60 * 1000;
  // Wrong current passwords (password change, account deletion) per account, same window.
  int max_reauth_failures = 5;
  // New accounts per client address (IPv6: per /64).
  int max_registrations_per_address = 10;
  std::int64_t registration_window_ms = 3600LL * 1000;
  std::int64_t signup_bonus_cents = domain::kSignupBonusCents;
  std::size_t min_password = 10;
  std::size_t max_password = 256;
  // How new passwords are hashed; empty means Argon2id (auth::hash_password). Tests count calls.
  std::function<std::string(std::string_view)> hash_password;
};

// Who is making a request, and how they proved it.
struct Principal {
  store::User user;
  long long session_id = 0;  // 0 when authenticated by API token
  bool via_cookie = false;
  long long api_token_id = 0;    // 0 when authenticated by a session
  ScopeSet scopes = kAllScopes;  // a session's: all; a token's: those it was made with
};

struct LoginResult {
  store::User user;
  std::string session_token;  // goes into the cookie; only its digest is stored
  long long session_id = 0;
};

struct IngestTicketIssued {
  std::string ticket;  // shown once
  long long expires_ms = 0;
  long long expires_in_ms = 0;
};

// Who a used-up ingest ticket lets in, and which credential asked for it.
struct IngestTicketGrant {
  store::User user;
  long long session_id = 0;
  long long api_token_id = 0;
};

// What let an ingest socket in, kept to check it again while the socket lives: a revocation
// that raced the connect, or a login session that expired since, ends the socket.
struct IngestCredential {
  long long user_id = 0;
  std::string stream_key_hash;  // let in by the stream key with this digest
  long long session_id = 0;     // the login session (cookie, or one that asked for the ticket)
  long long api_token_id = 0;   // the API token that asked for the ingest ticket
  bool operator==(const IngestCredential&) const = default;
};

struct CreatedSecret {
  long long id = 0;
  std::string secret;  // shown once
};

class AuthService {
 public:
  AuthService(store::Database& db, const Clock& clock, AuthConfig config = {});

  // Cheap checks (validation, name and e-mail taken, the per-address limit) come before the
  // Argon2id hash, so a refused registration costs no hash.
  Expected<store::User> register_user(const std::string& username, const std::string& email,
                                      const std::string& password, const std::string& display_name,
                                      const std::string& client_addr);
  Expected<LoginResult> login(const std::string& login, const std::string& password,
                              const std::string& client_addr, const std::string& user_agent);
  Expected<LoginResult> create_session(const store::User& user, const std::string& client_addr,
                                       const std::string& user_agent);
  void logout(const std::string& session_token);

  std::optional<Principal> from_session_token(const std::string& token);
  std::optional<Principal> from_api_token(const std::string& token);
  std::optional<store::User> from_stream_key(const std::string& key);
  // The caller of a request that may be anonymous: a Bearer API token if given, else the
  // session cookie's token, else nobody.
  std::optional<Principal> from_credentials(const std::optional<std::string>& bearer_token,
                                            const std::optional<std::string>& session_token);

  Expected<store::User> update_profile(long long user_id,
                                       const std::optional<std::string>& display_name,
                                       const std::optional<std::string>& email);
  // Other sessions end; keep_session_id (may be 0) stays logged in.
  Expected<Ok> change_password(long long user_id, const std::string& current,
                               const std::string& next, long long keep_session_id);

  std::vector<store::AuthSession> sessions(long long user_id);
  bool revoke_session(long long user_id, long long session_id);

  // A token with scopes; granter is what the caller may do (a token can give only scopes it
  // has: 403 otherwise).
  Expected<CreatedSecret> create_api_token(long long user_id, const std::string& name,
                                           ScopeSet scopes = kAllScopes,
                                           ScopeSet granter = kAllScopes);
  std::vector<store::ApiToken> api_tokens(long long user_id);
  bool revoke_api_token(long long user_id, long long token_id);

  // A fresh stream key; the old one stops working at once.
  // replaced_hash (when given): the hash of the key this one replaced ("" when there was none),
  // for ending exactly the sockets that key let in.
  std::string rotate_stream_key(long long user_id, std::string* replaced_hash = nullptr);

  // A single-use ticket for one /ws/ingest socket, valid for ingest_ticket_ttl_ms, tied to the
  // credential that asked for it (ending that session or revoking that token voids it).
  Expected<IngestTicketIssued> create_ingest_ticket(const Principal& caller);
  // Uses the ticket up; none when it is unknown, used, expired or its credential has ended.
  std::optional<IngestTicketGrant> take_ingest_ticket(const std::string& ticket);

  // True while c still holds: the account exists, the stream key is still the one that let it
  // in, the login session has not ended or expired, the API token is not revoked.
  bool ingest_credential_valid(const IngestCredential& c);

  // before_delete runs once the password is verified, before the account is removed.
  Expected<Ok> delete_account(long long user_id, const std::string& password,
                              const std::function<void()>& before_delete = {});

  std::optional<store::User> user(long long id);
  // The account of a username in any spelling (case-insensitive); none for an invalid name.
  std::optional<store::User> find_user_by_username(std::string_view username);
  // True when token's digest is an unrevoked worker token created with `admin worker-token`.
  bool worker_token_valid(std::string_view token);
  // The id of that token (for watching its sockets); none when it is not valid.
  std::optional<long long> worker_token_id(std::string_view token);
  // Of the worker token ids given, those revoked since (`admin worker-token revoke`).
  std::vector<long long> revoked_worker_tokens(const std::vector<long long>& ids);

  // Counts login, re-authentication and registration attempts in counters, across nodes.
  void share_limits(SharedCounters& counters);

 private:
  Expected<Ok> check_password_rules(const std::string& password) const;
  std::string hash(std::string_view password) const;
  // Takes a re-authentication slot for user_id, verifies password, and keeps the slot only
  // when it was wrong (rate limited once the slots are gone, forbidden for a wrong password).
  Expected<Ok> reauthenticate(const store::User& user, const std::string& password);

  store::Database& db_;
  const Clock& clock_;
  AuthConfig config_;
  RateLimiter account_address_failures_;
  RateLimiter address_failures_;
  RateLimiter reauth_failures_;
  RateLimiter registrations_;
  std::string dummy_hash_;  // verified against for unknown users so timing does not tell
};

}  // namespace ds::auth
