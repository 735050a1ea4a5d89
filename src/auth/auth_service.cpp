#include "auth/auth_service.hpp"

#include <spdlog/spdlog.h>

#include "auth/crypto.hpp"
#include "domain/client_address.hpp"
#include "domain/credits.hpp"
#include "domain/text.hpp"
#include "domain/username.hpp"
#include "store/ingest_tickets.hpp"
#include "store/ledger.hpp"
#include "store/worker_tokens.hpp"

namespace ds::auth {

namespace {

constexpr std::size_t kMaxDisplayName = 60;
constexpr std::size_t kMaxTokenName = 60;
constexpr int kMaxApiTokens = 20;

Error invalid_credentials() {
  return {ErrorKind::kUnauthorized, "invalid_credentials", "wrong username, e-mail or password"};
}

Error too_many_failures() {
  return rate_limited("too many failed logins; try again in a few minutes");
}

Error too_many_reauth_failures() {
  return rate_limited("too many wrong passwords; try again in a few minutes");
}

Error too_many_registrations() {
  return rate_limited("too many new accounts from this address; try again later");
}

}  // namespace

AuthService::AuthService(store::Database& db, const Clock& clock, AuthConfig config)
    : db_(db),
      clock_(clock),
      config_(config),
      account_address_failures_(clock, config.max_failures_per_account_address,
                                config.failure_window_ms),
      address_failures_(clock, config.max_failures_per_address, config.failure_window_ms),
      reauth_failures_(clock, config.max_reauth_failures, config.failure_window_ms),
      registrations_(clock, config.max_registrations_per_address, config.registration_window_ms),
      dummy_hash_(auth::hash_password("not-a-real-password-at-all")) {}

std::string AuthService::hash(std::string_view password) const {
  return config_.hash_password ? config_.hash_password(password) : auth::hash_password(password);
}

Expected<Ok> AuthService::check_password_rules(const std::string& password) const {
  if (!domain::is_valid_utf8(password))
    return bad_request("password must be valid UTF-8", "invalid_password");
  auto len = domain::utf8_length(password);
  if (len < config_.min_password) {
    return bad_request(
        "password must be at least " + std::to_string(config_.min_password) + " characters",
        "invalid_password");
  }
  if (len > config_.max_password) return bad_request("password is too long", "invalid_password");
  return Ok{};
}

Expected<store::User> AuthService::register_user(const std::string& username,
                                                 const std::string& email,
                                                 const std::string& password,
                                                 const std::string& display_name,
                                                 const std::string& client_addr) {
  auto canonical = domain::canonical_username(username);
  if (!canonical) {
    return bad_request("username must be 3–30 characters: letters, digits, _ or -",
                       "invalid_username");
  }
  auto mail = domain::canonical_email(email);
  if (!mail) return bad_request("enter a valid e-mail address", "invalid_email");
  if (auto ok = check_password_rules(password); !ok) return ok.error();
  std::string name = display_name.empty() ? username : display_name;
  auto clean_name = domain::clean_text(name, 1, kMaxDisplayName);
  if (!clean_name)
    return bad_request("display name must be 1–60 characters", "invalid_display_name");

  store::User user;
  user.username = *canonical;
  user.email = *mail;
  user.display_name = *clean_name;
  // A taken name or e-mail costs one read, not an Argon2id hash (the insert checks again).
  auto taken = db_.with([&](soci::session& sql) -> std::optional<Error> {
    if (store::username_taken(sql, user.username))
      return conflict("that username is taken", "username_taken");
    if (store::email_taken(sql, user.email))
      return conflict("an account with that e-mail exists", "email_taken");
    return std::nullopt;
  });
  if (taken) return *taken;
  // Only registrations that would create an account take a slot (and cost a hash).
  auto bucket = "register:" + domain::address_bucket(client_addr);
  if (!registrations_.allow(bucket)) {
    spdlog::info("event=register_throttled addr={}", client_addr);
    return too_many_registrations();
  }
  user.password_hash = hash(password);
  user.created_ms = clock_.now_ms();
  try {
    auto created = db_.write([&](soci::session& sql) -> Expected<store::User> {
      if (store::username_taken(sql, user.username)) {
        return conflict("that username is taken", "username_taken");
      }
      if (store::email_taken(sql, user.email)) {
        return conflict("an account with that e-mail exists", "email_taken");
      }
      user.id = store::insert_user(sql, user);
      user.balance_cents = 0;
      if (config_.signup_bonus_cents > 0) {
        store::LedgerLinks links;
        links.note = "welcome bonus";
        auto balance = store::append_entry(sql, user.id, store::kKindSignupBonus,
                                           config_.signup_bonus_cents, links, user.created_ms);
        user.balance_cents = balance.value_or(0);
      }
      return user;
    });
    if (!created) registrations_.release(bucket);
    return created;
  } catch (const std::exception& e) {
    registrations_.release(bucket);
    // Two registrations racing for one name: the database's unique index decides.
    if (store::is_unique_violation(e)) return conflict("that username or e-mail is taken", "taken");
    throw;
  }
}

Expected<LoginResult> AuthService::create_session(const store::User& user,
                                                  const std::string& client_addr,
                                                  const std::string& user_agent) {
  LoginResult out;
  out.user = user;
  out.session_token = random_token("dss_");
  auto now = clock_.now_ms();
  std::string ua = user_agent.substr(0, 200);
  out.session_id = db_.with([&](soci::session& sql) {
    return store::insert_session(sql, user.id, sha256_hex(out.session_token), now,
                                 now + config_.session_ttl_ms, ua, client_addr);
  });
  return out;
}

Expected<LoginResult> AuthService::login(const std::string& login, const std::string& password,
                                         const std::string& client_addr,
                                         const std::string& user_agent) {
  std::string key = domain::to_lower(domain::trim(login));
  auto address = domain::address_bucket(client_addr);
  // Each attempt takes a slot before the password is checked, so parallel guesses cannot
  // slip past the limit; a correct password gives its slots back.
  std::string address_key = "addr:" + address;
  if (!address_failures_.allow(address_key)) return too_many_failures();
  auto user = db_.with([&](soci::session& sql) { return store::find_user_by_login(sql, key); });
  // Failures count against the account whichever spelling (username or e-mail) named it, but
  // only from this address: a stranger's guesses do not lock the owner out.
  std::string pair_key =
      (user ? "user:" + std::to_string(user->id) : "login:" + key) + "|" + address;
  if (!account_address_failures_.allow(pair_key)) {
    address_failures_.release(address_key);
    return too_many_failures();
  }
  bool ok = false;
  if (user) {
    ok = verify_password(user->password_hash, password);
  } else {
    verify_password(dummy_hash_, password);
  }
  if (!ok) {
    spdlog::info("event=login_failed addr={}", client_addr);
    return invalid_credentials();
  }
  account_address_failures_.reset(pair_key);
  address_failures_.release(address_key);
  spdlog::info("event=login user_id={}", user->id);
  return create_session(*user, client_addr, user_agent);
}

void AuthService::logout(const std::string& session_token) {
  db_.with(
      [&](soci::session& sql) { store::delete_session_by_hash(sql, sha256_hex(session_token)); });
}

std::optional<Principal> AuthService::from_session_token(const std::string& token) {
  if (!token.starts_with("dss_") || token.size() > 100) return std::nullopt;
  auto now = clock_.now_ms();
  return db_.with([&](soci::session& sql) -> std::optional<Principal> {
    auto s = store::find_session(sql, sha256_hex(token), now);
    if (!s) return std::nullopt;
    auto user = store::find_user(sql, s->user_id);
    if (!user) return std::nullopt;
    // Sliding expiry, written at most once a minute to spare the database.
    if (now - s->last_seen_ms > 60'000) {
      store::touch_session(sql, s->id, now, now + config_.session_ttl_ms);
    }
    return Principal{*user, s->id, true};
  });
}

std::optional<Principal> AuthService::from_api_token(const std::string& token) {
  if (!token.starts_with("dst_") || token.size() > 100) return std::nullopt;
  auto now = clock_.now_ms();
  return db_.with([&](soci::session& sql) -> std::optional<Principal> {
    auto t = store::find_api_token(sql, sha256_hex(token));
    if (!t) return std::nullopt;
    auto user = store::find_user(sql, t->user_id);
    if (!user) return std::nullopt;
    if (now - t->last_used_ms > 60'000) store::touch_api_token(sql, t->id, now);
    return Principal{*user, 0, false, t->id, scopes_from_text(t->scopes)};
  });
}

std::optional<store::User> AuthService::from_stream_key(const std::string& key) {
  if (!key.starts_with("dsk_") || key.size() > 100) return std::nullopt;
  return db_.with(
      [&](soci::session& sql) { return store::find_user_by_stream_key(sql, sha256_hex(key)); });
}

std::optional<Principal> AuthService::from_credentials(
    const std::optional<std::string>& bearer_token,
    const std::optional<std::string>& session_token) {
  if (bearer_token) return from_api_token(*bearer_token);
  if (session_token) return from_session_token(*session_token);
  return std::nullopt;
}

Expected<store::User> AuthService::update_profile(long long user_id,
                                                  const std::optional<std::string>& display_name,
                                                  const std::optional<std::string>& email) {
  std::optional<std::string> name, mail;
  if (display_name) {
    name = domain::clean_text(*display_name, 1, kMaxDisplayName);
    if (!name) return bad_request("display name must be 1–60 characters", "invalid_display_name");
  }
  if (email) {
    mail = domain::canonical_email(*email);
    if (!mail) return bad_request("enter a valid e-mail address", "invalid_email");
  }
  try {
    return db_.write([&](soci::session& sql) -> Expected<store::User> {
      if (mail && store::email_taken(sql, *mail, user_id)) {
        return conflict("an account with that e-mail exists", "email_taken");
      }
      if (name) store::update_display_name(sql, user_id, *name);
      if (mail) store::update_email(sql, user_id, *mail);
      auto u = store::find_user(sql, user_id);
      if (!u) return not_found("account not found");
      return *u;
    });
  } catch (const std::exception& e) {
    if (store::is_unique_violation(e))
      return conflict("an account with that e-mail exists", "email_taken");
    throw;
  }
}

Expected<Ok> AuthService::reauthenticate(const store::User& u, const std::string& password) {
  auto key = "user:" + std::to_string(u.id);
  if (!reauth_failures_.allow(key)) return too_many_reauth_failures();
  if (!verify_password(u.password_hash, password)) {
    spdlog::info("event=reauth_failed user_id={}", u.id);
    return Error{ErrorKind::kForbidden, "wrong_password", "the password is wrong"};
  }
  reauth_failures_.reset(key);
  return Ok{};
}

Expected<Ok> AuthService::change_password(long long user_id, const std::string& current,
                                          const std::string& next, long long keep_session_id) {
  auto u = user(user_id);
  if (!u) return not_found("account not found");
  if (auto ok = reauthenticate(*u, current); !ok) {
    if (ok.error().kind == ErrorKind::kForbidden)
      return Error{ErrorKind::kForbidden, "wrong_password", "the current password is wrong"};
    return ok.error();
  }
  if (auto ok = check_password_rules(next); !ok) return ok.error();
  auto hash = this->hash(next);
  db_.write([&](soci::session& sql) {
    store::update_password_hash(sql, user_id, hash);
    store::delete_other_sessions(sql, user_id, keep_session_id);
  });
  spdlog::info("event=password_changed user_id={}", user_id);
  return Ok{};
}

std::vector<store::AuthSession> AuthService::sessions(long long user_id) {
  auto now = clock_.now_ms();
  return db_.with([&](soci::session& sql) { return store::list_sessions(sql, user_id, now); });
}

bool AuthService::revoke_session(long long user_id, long long session_id) {
  return db_.with(
      [&](soci::session& sql) { return store::delete_session(sql, user_id, session_id); });
}

Expected<CreatedSecret> AuthService::create_api_token(long long user_id, const std::string& name,
                                                      ScopeSet scopes, ScopeSet granter) {
  auto clean = domain::clean_text(name, 1, kMaxTokenName);
  if (!clean) return bad_request("token name must be 1–60 characters", "invalid_name");
  if (scopes.empty()) return bad_request("name at least one scope", "invalid_scope");
  if (!granter.covers(scopes)) {
    auto missing = scope_names(ScopeSet(scopes.bits() & ~granter.bits()));
    std::string list;
    for (const auto& n : missing) list += (list.empty() ? "" : ", ") + n;
    return Error{ErrorKind::kForbidden, "insufficient_scope",
                 "a token can give only scopes it has; this one lacks: " + list};
  }
  CreatedSecret out;
  out.secret = random_token("dst_");
  auto now = clock_.now_ms();
  return db_.write([&](soci::session& sql) -> Expected<CreatedSecret> {
    if (store::list_api_tokens(sql, user_id).size() >= kMaxApiTokens) {
      return conflict("at most 20 API tokens; revoke one first", "too_many_tokens");
    }
    out.id = store::insert_api_token(sql, user_id, *clean, sha256_hex(out.secret),
                                     scopes_text(scopes), now);
    return out;
  });
}

std::vector<store::ApiToken> AuthService::api_tokens(long long user_id) {
  return db_.with([&](soci::session& sql) { return store::list_api_tokens(sql, user_id); });
}

bool AuthService::revoke_api_token(long long user_id, long long token_id) {
  return db_.with(
      [&](soci::session& sql) { return store::delete_api_token(sql, user_id, token_id); });
}

std::string AuthService::rotate_stream_key(long long user_id, std::string* replaced_hash) {
  auto key = random_token("dsk_");
  auto replaced = db_.write(
      [&](soci::session& sql) { return store::replace_stream_key(sql, user_id, sha256_hex(key)); });
  if (replaced_hash) *replaced_hash = replaced.value_or("");
  spdlog::info("event=stream_key_rotated user_id={}", user_id);
  return key;
}

Expected<IngestTicketIssued> AuthService::create_ingest_ticket(const Principal& caller) {
  IngestTicketIssued out;
  out.ticket = random_token("dit_");
  auto now = clock_.now_ms();
  out.expires_in_ms = config_.ingest_ticket_ttl_ms;
  out.expires_ms = now + out.expires_in_ms;
  store::IngestTicket t{caller.user.id, caller.session_id, caller.api_token_id};
  return db_.write([&](soci::session& sql) -> Expected<IngestTicketIssued> {
    store::delete_expired_ingest_tickets(sql, now);
    if (store::count_ingest_tickets(sql, caller.user.id, now) >= config_.max_ingest_tickets) {
      return rate_limited("too many unused ingest tickets; use one or wait a minute");
    }
    store::insert_ingest_ticket(sql, sha256_hex(out.ticket), t, now, out.expires_ms);
    return out;
  });
}

std::optional<IngestTicketGrant> AuthService::take_ingest_ticket(const std::string& ticket) {
  if (!ticket.starts_with("dit_") || ticket.size() > 100) return std::nullopt;
  auto now = clock_.now_ms();
  return db_.write([&](soci::session& sql) -> std::optional<IngestTicketGrant> {
    auto t = store::take_ingest_ticket(sql, sha256_hex(ticket), now);
    if (!t) return std::nullopt;
    if (t->session_id != 0 && !store::session_alive(sql, t->session_id, now)) return std::nullopt;
    if (t->api_token_id != 0 && !store::api_token_exists(sql, t->api_token_id)) {
      return std::nullopt;
    }
    auto user = store::find_user(sql, t->user_id);
    if (!user) return std::nullopt;
    return IngestTicketGrant{*user, t->session_id, t->api_token_id};
  });
}

bool AuthService::ingest_credential_valid(const IngestCredential& c) {
  auto now = clock_.now_ms();
  return db_.with([&](soci::session& sql) {
    if (!c.stream_key_hash.empty()) {
      auto owner = store::find_user_by_stream_key(sql, c.stream_key_hash);
      if (!owner || owner->id != c.user_id) return false;
    } else if (!store::find_user(sql, c.user_id)) {
      return false;
    }
    if (c.session_id != 0 && !store::session_alive(sql, c.session_id, now)) return false;
    if (c.api_token_id != 0 && !store::api_token_exists(sql, c.api_token_id)) return false;
    return true;
  });
}

Expected<Ok> AuthService::delete_account(long long user_id, const std::string& password,
                                         const std::function<void()>& before_delete) {
  auto u = user(user_id);
  if (!u) return not_found("account not found");
  if (auto ok = reauthenticate(*u, password); !ok) return ok.error();
  if (before_delete) before_delete();
  auto now = clock_.now_ms();
  db_.write([&](soci::session& sql) { store::soft_delete_user(sql, user_id, now); });
  spdlog::info("event=account_deleted user_id={}", user_id);
  return Ok{};
}

std::optional<store::User> AuthService::user(long long id) {
  return db_.with([&](soci::session& sql) { return store::find_user(sql, id); });
}

std::optional<store::User> AuthService::find_user_by_username(std::string_view username) {
  auto name = domain::canonical_username(username);
  if (!name) return std::nullopt;
  return db_.with([&](soci::session& sql) { return store::find_user_by_username(sql, *name); });
}

bool AuthService::worker_token_valid(std::string_view token) {
  return worker_token_id(token).has_value();
}

std::optional<long long> AuthService::worker_token_id(std::string_view token) {
  if (token.size() >= 200) return std::nullopt;  // never issued; not worth a hash and a query
  auto digest = sha256_hex(token);
  return db_.with([&](soci::session& sql) { return store::find_worker_token(sql, digest); });
}

std::vector<long long> AuthService::revoked_worker_tokens(const std::vector<long long>& ids) {
  if (ids.empty()) return {};
  return db_.with([&](soci::session& sql) { return store::revoked_worker_tokens(sql, ids); });
}

void AuthService::share_limits(SharedCounters& counters) {
  account_address_failures_.share(&counters, "login_account_address");
  address_failures_.share(&counters, "login_address");
  reauth_failures_.share(&counters, "reauth");
  registrations_.share(&counters, "register");
}

}  // namespace ds::auth
