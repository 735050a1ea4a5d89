// Ingest tickets: single-use, short-lived secrets that open one /ws/ingest socket in place of the
// stream key, so a web app can let a browser stream without handing it (or rotating) the key.
// Only SHA-256 digests are stored.
#pragma once

#include <soci/soci.h>

#include <optional>
#include <string>

namespace ds::store {

struct IngestTicket {
  long long user_id = 0;
  long long session_id = 0;    // the login session that asked for it; 0 when an API token did
  long long api_token_id = 0;  // the API token that asked for it; 0 when a session did
};

void insert_ingest_ticket(soci::session& sql, const std::string& token_hash,
                          const IngestTicket& ticket, long long now_ms, long long expires_ms);
// Unexpired tickets of a user (for the per-user cap).
long long count_ingest_tickets(soci::session& sql, long long user_id, long long now_ms);
void delete_expired_ingest_tickets(soci::session& sql, long long now_ms);
// Deletes the ticket and returns it when it existed and had not expired: of two connections
// racing with one ticket, exactly one gets it.
std::optional<IngestTicket> take_ingest_ticket(soci::session& sql, const std::string& token_hash,
                                               long long now_ms);

}  // namespace ds::store
