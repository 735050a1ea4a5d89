// Worker tokens: what a model worker presents on /ws/worker (only digests are stored).
#pragma once

#include <soci/soci.h>

#include <string>

namespace ds::store {

long long insert_worker_token(soci::session& sql, const std::string& name,
                              const std::string& token_hash, long long now_ms);
// True when an unrevoked token with this digest exists.
bool worker_token_valid(soci::session& sql, const std::string& token_hash);

}  // namespace ds::store
