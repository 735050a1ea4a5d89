#include "store/ingest_tickets.hpp"

namespace ds::store {

void insert_ingest_ticket(soci::session& sql, const std::string& token_hash,
                          const IngestTicket& ticket, long long now_ms, long long expires_ms) {
  sql << "INSERT INTO ingest_tickets (token_hash, user_id, session_id, api_token_id, created_ms, "
         "expires_ms) VALUES (:h, :u, :s, :t, :c, :e)",
      soci::use(token_hash), soci::use(ticket.user_id), soci::use(ticket.session_id),
      soci::use(ticket.api_token_id), soci::use(now_ms), soci::use(expires_ms);
}

long long count_ingest_tickets(soci::session& sql, long long user_id, long long now_ms) {
  long long n = 0;
  sql << "SELECT COUNT(*) FROM ingest_tickets WHERE user_id = :u AND expires_ms > :now",
      soci::use(user_id), soci::use(now_ms), soci::into(n);
  return n;
}

void delete_expired_ingest_tickets(soci::session& sql, long long now_ms) {
  sql << "DELETE FROM ingest_tickets WHERE expires_ms <= :now", soci::use(now_ms);
}

std::optional<IngestTicket> take_ingest_ticket(soci::session& sql, const std::string& token_hash,
                                               long long now_ms) {
  IngestTicket t;
  long long expires_ms = 0;
  // DELETE … RETURNING is one statement on both backends: no window in which two takers both
  // see the row.
  sql << "DELETE FROM ingest_tickets WHERE token_hash = :h RETURNING user_id, session_id, "
         "api_token_id, expires_ms",
      soci::use(token_hash), soci::into(t.user_id), soci::into(t.session_id),
      soci::into(t.api_token_id), soci::into(expires_ms);
  if (!sql.got_data() || expires_ms <= now_ms) return std::nullopt;
  return t;
}

}  // namespace ds::store
