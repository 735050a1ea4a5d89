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
  long long n = 0;
  sql << "SELECT COUNT(*) FROM worker_tokens WHERE token_hash = :h AND revoked_ms IS NULL",
      soci::use(token_hash), soci::into(n);
  return n > 0;
}

}  // namespace ds::store
