#include "store/users.hpp"

namespace ds::store {

namespace {

const char* const kColumns =
    "id, username, email, display_name, password_hash, balance_cents, is_admin, created_ms";

template <class Arg>
std::optional<User> fetch_one(soci::session& sql, const std::string& where, const Arg& arg) {
  User u;
  int admin = 0;
  soci::statement st =
      (sql.prepare << "SELECT " << kColumns << " FROM users WHERE " << where
                   << " AND deleted_ms IS NULL",
       soci::into(u.id), soci::into(u.username), soci::into(u.email), soci::into(u.display_name),
       soci::into(u.password_hash), soci::into(u.balance_cents), soci::into(admin),
       soci::into(u.created_ms), soci::use(arg));
  st.execute();
  if (!st.fetch()) return std::nullopt;
  u.is_admin = admin != 0;
  return u;
}

}  // namespace

std::optional<User> find_user(soci::session& sql, long long id) {
  return fetch_one(sql, "id = :a", id);
}

std::optional<User> find_user_by_username(soci::session& sql, const std::string& username) {
  return fetch_one(sql, "username = :a", username);
}

std::optional<User> find_user_by_login(soci::session& sql, const std::string& login) {
  if (login.find('@') != std::string::npos) return fetch_one(sql, "email = :a", login);
  return fetch_one(sql, "username = :a", login);
}

std::optional<User> find_user_by_stream_key(soci::session& sql, const std::string& key_hash) {
  return fetch_one(sql, "stream_key_hash = :a", key_hash);
}

std::optional<long long> find_balance_cents(soci::session& sql, long long id) {
  long long balance = 0;
  sql << "SELECT balance_cents FROM users WHERE id = :u", soci::use(id), soci::into(balance);
  if (!sql.got_data()) return std::nullopt;
  return balance;
}

std::optional<std::string> find_username_including_deleted(soci::session& sql, long long id) {
  std::string name;
  sql << "SELECT username FROM users WHERE id = :id", soci::use(id), soci::into(name);
  if (!sql.got_data()) return std::nullopt;
  return name;
}

long long count_users(soci::session& sql) {
  long long n = 0;
  sql << "SELECT COUNT(*) FROM users", soci::into(n);
  return n;
}

bool username_taken(soci::session& sql, const std::string& username) {
  long long n = 0;
  sql << "SELECT COUNT(*) FROM users WHERE username = :u", soci::use(username), soci::into(n);
  return n > 0;
}

bool email_taken(soci::session& sql, const std::string& email, long long except_user) {
  long long n = 0;
  sql << "SELECT COUNT(*) FROM users WHERE email = :e AND id <> :id", soci::use(email),
      soci::use(except_user), soci::into(n);
  return n > 0;
}

long long insert_user(soci::session& sql, const User& u) {
  long long id = 0;
  int admin = u.is_admin ? 1 : 0;
  sql << "INSERT INTO users (username, email, display_name, password_hash, balance_cents, "
         "is_admin, created_ms) VALUES (:u, :e, :d, :p, 0, :a, :c) RETURNING id",
      soci::use(u.username), soci::use(u.email), soci::use(u.display_name),
      soci::use(u.password_hash), soci::use(admin), soci::use(u.created_ms), soci::into(id);
  return id;
}

void update_display_name(soci::session& sql, long long id, const std::string& name) {
  sql << "UPDATE users SET display_name = :n WHERE id = :id", soci::use(name), soci::use(id);
}

void update_email(soci::session& sql, long long id, const std::string& email) {
  sql << "UPDATE users SET email = :e WHERE id = :id", soci::use(email), soci::use(id);
}

void update_password_hash(soci::session& sql, long long id, const std::string& hash) {
  sql << "UPDATE users SET password_hash = :h WHERE id = :id", soci::use(hash), soci::use(id);
}

void update_stream_key(soci::session& sql, long long id, const std::string& key_hash) {
  sql << "UPDATE users SET stream_key_hash = :h WHERE id = :id", soci::use(key_hash), soci::use(id);
}

std::optional<std::string> replace_stream_key(soci::session& sql, long long id,
                                              const std::string& key_hash) {
  for (;;) {
    std::string old;
    soci::indicator ind = soci::i_null;
    sql << "SELECT stream_key_hash FROM users WHERE id = :id", soci::use(id), soci::into(old, ind);
    bool found = sql.got_data();
    bool had = found && ind == soci::i_ok;
    soci::statement st =
        had ? (sql.prepare << "UPDATE users SET stream_key_hash = :h WHERE id = :id AND "
                              "stream_key_hash = :old",
               soci::use(key_hash), soci::use(id), soci::use(old))
            : (sql.prepare << "UPDATE users SET stream_key_hash = :h WHERE id = :id AND "
                              "stream_key_hash IS NULL",
               soci::use(key_hash), soci::use(id));
    st.execute(true);
    if (st.get_affected_rows() > 0) return had ? std::optional<std::string>(old) : std::nullopt;
    if (!found) return std::nullopt;  // no such user
    // Another replacement came between the read and the write: read it again.
  }
}

void set_admin(soci::session& sql, long long id, bool admin) {
  int a = admin ? 1 : 0;
  sql << "UPDATE users SET is_admin = :a WHERE id = :id", soci::use(a), soci::use(id);
}

void soft_delete_user(soci::session& sql, long long id, long long now_ms) {
  // '~' is not allowed in usernames, so the freed name can never collide with a real one.
  std::string tomb = "~deleted-" + std::to_string(id);
  std::string tomb_email = tomb + "@invalid";
  sql << "UPDATE users SET username = :u, email = :e, display_name = '', password_hash = '', "
         "stream_key_hash = NULL, deleted_ms = :t WHERE id = :id",
      soci::use(tomb), soci::use(tomb_email), soci::use(now_ms), soci::use(id);
  sql << "DELETE FROM sessions WHERE user_id = :id", soci::use(id);
  sql << "DELETE FROM api_tokens WHERE user_id = :id", soci::use(id);
}

}  // namespace ds::store
