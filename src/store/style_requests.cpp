#include "store/style_requests.hpp"

namespace ds::store {

namespace {

soci::indicator null_if_zero(long long v) { return v > 0 ? soci::i_ok : soci::i_null; }

}  // namespace

long long insert_style_request(soci::session& sql, long long streamer_id,
                               const domain::StyleRequest& r) {
  long long id = 0;
  std::string status(domain::to_string(r.status));
  long long created = r.created_ms;
  sql << "INSERT INTO style_requests (streamer_id, stream_session_id, user_id, prompt, status, "
         "created_ms) VALUES (:s, :ss, :u, :p, :st, :t) RETURNING id",
      soci::use(streamer_id), soci::use(r.session_id), soci::use(r.author.user_id),
      soci::use(r.prompt), soci::use(status), soci::use(created), soci::into(id);
  sql << "UPDATE stream_sessions SET style_request_count = style_request_count + 1 "
         "WHERE id = :id",
      soci::use(r.session_id);
  return id;
}

void update_style_request(soci::session& sql, const domain::StyleRequest& r) {
  std::string status(domain::to_string(r.status));
  long long started = r.started_ms;
  long long ended = r.ended_ms;
  soci::indicator started_ind = null_if_zero(started);
  soci::indicator ended_ind = null_if_zero(ended);
  sql << "UPDATE style_requests SET status = :st, started_ms = :s, ended_ms = :e WHERE id = :id",
      soci::use(status), soci::use(started, started_ind), soci::use(ended, ended_ind),
      soci::use(r.id);
}

std::optional<domain::StyleRequest> find_style_request(soci::session& sql, long long streamer_id,
                                                       long long id) {
  domain::StyleRequest r;
  std::string status;
  long long created = 0, started = 0, ended = 0;
  soci::statement st =
      (sql.prepare << "SELECT r.id, COALESCE(r.stream_session_id, 0), r.user_id, u.username, "
                      "u.display_name, r.prompt, r.status, r.created_ms, "
                      "COALESCE(r.started_ms, 0), COALESCE(r.ended_ms, 0) FROM style_requests r "
                      "JOIN users u ON u.id = r.user_id WHERE r.id = :id AND r.streamer_id = :s",
       soci::into(r.id), soci::into(r.session_id), soci::into(r.author.user_id),
       soci::into(r.author.username), soci::into(r.author.display_name), soci::into(r.prompt),
       soci::into(status), soci::into(created), soci::into(started), soci::into(ended),
       soci::use(id), soci::use(streamer_id));
  st.execute();
  if (!st.fetch()) return std::nullopt;
  r.status = domain::parse_style_status(status).value_or(domain::StyleStatus::kDone);
  r.created_ms = created;
  r.started_ms = started;
  r.ended_ms = ended;
  return r;
}

long long end_open_style_requests(soci::session& sql, long long now_ms) {
  soci::statement cleared =
      (sql.prepare << "UPDATE style_requests SET status = 'cleared', ended_ms = :t "
                      "WHERE status IN ('pending', 'queued')",
       soci::use(now_ms));
  cleared.execute(true);
  soci::statement done = (sql.prepare << "UPDATE style_requests SET status = 'done', ended_ms = :t "
                                         "WHERE status = 'active'",
                          soci::use(now_ms));
  done.execute(true);
  return cleared.get_affected_rows() + done.get_affected_rows();
}

}  // namespace ds::store
