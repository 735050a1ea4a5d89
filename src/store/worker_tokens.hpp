// Worker tokens: what a model worker presents on /ws/worker (only digests are stored).
#pragma once

#include <soci/soci.h>

#include <optional>
#include <string>
#include <vector>

namespace ds::store {

struct WorkerToken {
  long long id = 0;
  std::string name;
  long long created_ms = 0;
  std::optional<long long> revoked_ms;
};

long long insert_worker_token(soci::session& sql, const std::string& name,
                              const std::string& token_hash, long long now_ms);
// True when an unrevoked token with this digest exists.
bool worker_token_valid(soci::session& sql, const std::string& token_hash);
// The id of the unrevoked token with this digest.
std::optional<long long> find_worker_token(soci::session& sql, const std::string& token_hash);
// Every token, revoked ones too, oldest first.
std::vector<WorkerToken> list_worker_tokens(soci::session& sql);
// Revokes every unrevoked token called name; returns how many.
int revoke_worker_tokens_named(soci::session& sql, const std::string& name, long long now_ms);
// Of ids, those revoked (or gone).
std::vector<long long> revoked_worker_tokens(soci::session& sql, const std::vector<long long>& ids);

}  // namespace ds::store
