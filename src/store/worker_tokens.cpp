#include "store/worker_tokens.hpp"

namespace ds::store {

long long insert_worker_token(soci::session& sql, const std::string& name,
                              const std::string& token_hash, long long now_ms) {
  long long id = 0;
  sql << "INSERT INTO worker_tokens (name, token_hash, created_ms) VALUES (:n, :h, :t) RETURNING "
         "id",
      soci::use(name), soci::use(token_hash), soci::use(now_ms), soci::into(id);
  return id;
}

bool worker_token_valid(soci::session& sql, const std::string& token_hash) {
  return find_worker_token(sql, token_hash).has_value();
}

std::optional<long long> find_worker_token(soci::session& sql, const std::string& token_hash) {
  long long id = 0;
  sql << "SELECT id FROM worker_tokens WHERE token_hash = :h AND revoked_ms IS NULL",
      soci::use(token_hash), soci::into(id);
  if (!sql.got_data()) return std::nullopt;
  return id;
}

std::vector<WorkerToken> list_worker_tokens(soci::session& sql) {
  std::vector<WorkerToken> out;
  WorkerToken t;
  long long revoked_ms = 0;
  soci::indicator revoked_ind = soci::i_ok;
  soci::statement st =
      (sql.prepare << "SELECT id, name, created_ms, revoked_ms FROM worker_tokens ORDER BY id",
       soci::into(t.id), soci::into(t.name), soci::into(t.created_ms),
       soci::into(revoked_ms, revoked_ind));
  st.execute();
  while (st.fetch()) {
    t.revoked_ms = revoked_ind == soci::i_ok ? std::optional<long long>(revoked_ms) : std::nullopt;
    out.push_back(t);
  }
  return out;
}

int revoke_worker_tokens_named(soci::session& sql, const std::string& name, long long now_ms) {
  soci::statement st = (sql.prepare << "UPDATE worker_tokens SET revoked_ms = :t WHERE name = :n "
                                       "AND revoked_ms IS NULL",
                        soci::use(now_ms), soci::use(name));
  st.execute(true);
  return static_cast<int>(st.get_affected_rows());
}

std::vector<long long> revoked_worker_tokens(soci::session& sql,
                                             const std::vector<long long>& ids) {
  std::vector<long long> revoked;
  for (long long id : ids) {
    long long live = 0;
    sql << "SELECT COUNT(*) FROM worker_tokens WHERE id = :i AND revoked_ms IS NULL", soci::use(id),
        soci::into(live);
    if (live == 0) revoked.push_back(id);
  }
  return revoked;
}

}  // namespace ds::store
