// Users repository: accounts and their cached credit balance.
#pragma once

#include <soci/soci.h>

#include <optional>
#include <string>

namespace ds::store {

struct User {
  long long id = 0;
  std::string username;  // canonical lower-case
  std::string email;     // lower-case
  std::string display_name;
  std::string password_hash;
  long long balance_cents = 0;
  bool is_admin = false;
  long long created_ms = 0;
};

std::optional<User> find_user(soci::session& sql, long long id);
std::optional<User> find_user_by_username(soci::session& sql, const std::string& username);
// login is a canonical username or a lower-case e-mail address.
std::optional<User> find_user_by_login(soci::session& sql, const std::string& login);
std::optional<User> find_user_by_stream_key(soci::session& sql, const std::string& key_hash);

// Deleted accounts included: their ledger rows still count.
std::optional<long long> find_balance_cents(soci::session& sql, long long id);
std::optional<std::string> find_username_including_deleted(soci::session& sql, long long id);
long long count_users(soci::session& sql);

bool username_taken(soci::session& sql, const std::string& username);
bool email_taken(soci::session& sql, const std::string& email, long long except_user = 0);

long long insert_user(soci::session& sql, const User& user);
void update_display_name(soci::session& sql, long long id, const std::string& name);
void update_email(soci::session& sql, long long id, const std::string& email);
void update_password_hash(soci::session& sql, long long id, const std::string& hash);
void update_stream_key(soci::session& sql, long long id, const std::string& key_hash);
// Sets the stream key's hash and returns the one it replaced (nullopt: none), exactly: of two
// replacements at once each returns the hash the other did not (compare and swap).
std::optional<std::string> replace_stream_key(soci::session& sql, long long id,
                                              const std::string& key_hash);
void set_admin(soci::session& sql, long long id, bool admin);

// Frees the username and e-mail and scrubs personal data; the ledger rows stay for accounting.
void soft_delete_user(soci::session& sql, long long id, long long now_ms);

}  // namespace ds::store
