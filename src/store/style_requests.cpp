#include "store/style_requests.hpp"

namespace ds::store {

namespace {

soci::indicator null_if_zero(long long v) { return v > 0 ? soci::i_ok : soci::i_null; }

constexpr const char* kSelect =
    "SELECT r.id, COALESCE(r.stream_session_id, 0), r.user_id, u.username, u.display_name, "
    "r.prompt, r.status, r.created_ms, COALESCE(r.started_ms, 0), COALESCE(r.ended_ms, 0), "
    "r.queue_order FROM style_requests r JOIN users u ON u.id = r.user_id ";

// One row of kSelect, bound to a prepared statement and read after each fetch.
struct Row {
  domain::StyleRequest r;
  std::string status;
  long long created = 0, started = 0, ended = 0, order = 0;

  void bind(soci::statement& st) {
    st.exchange(soci::into(r.id));
    st.exchange(soci::into(r.session_id));
    st.exchange(soci::into(r.author.user_id));
    st.exchange(soci::into(r.author.username));
    st.exchange(soci::into(r.author.display_name));
    st.exchange(soci::into(r.prompt));
    st.exchange(soci::into(status));
    st.exchange(soci::into(created));
    st.exchange(soci::into(started));
    st.exchange(soci::into(ended));
    st.exchange(soci::into(order));
  }

  domain::StyleRequest get() const {
    auto out = r;
    out.status = domain::parse_style_status(status).value_or(domain::StyleStatus::kDone);
    out.created_ms = created;
    out.started_ms = started;
    out.ended_ms = ended;
    out.queue_order = order;
    return out;
  }
};

}  // namespace

long long insert_style_request(soci::session& sql, long long streamer_id,
                               const domain::StyleRequest& r) {
  long long id = 0;
  std::string status(domain::to_string(r.status));
  long long created = r.created_ms;
  long long order = r.queue_order;
  sql << "INSERT INTO style_requests (streamer_id, stream_session_id, user_id, prompt, status, "
         "created_ms, queue_order) VALUES (:s, :ss, :u, :p, :st, :t, :o) RETURNING id",
      soci::use(streamer_id), soci::use(r.session_id), soci::use(r.author.user_id),
      soci::use(r.prompt), soci::use(status), soci::use(created), soci::use(order), soci::into(id);
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
  long long order = r.queue_order;
  sql << "UPDATE style_requests SET status = :st, started_ms = :s, ended_ms = :e, "
         "queue_order = :o WHERE id = :id",
      soci::use(status), soci::use(started, started_ind), soci::use(ended, ended_ind),
      soci::use(order), soci::use(r.id);
}

std::optional<domain::StyleRequest> find_style_request(soci::session& sql, long long streamer_id,
                                                       long long id) {
  Row row;
  soci::statement st(sql);
  row.bind(st);
  st.exchange(soci::use(id));
  st.exchange(soci::use(streamer_id));
  st.alloc();
  st.prepare(std::string(kSelect) + "WHERE r.id = :id AND r.streamer_id = :s");
  st.define_and_bind();
  st.execute();
  if (!st.fetch()) return std::nullopt;
  return row.get();
}

std::vector<domain::StyleRequest> open_style_requests(soci::session& sql, long long session_id) {
  Row row;
  soci::statement st(sql);
  row.bind(st);
  st.exchange(soci::use(session_id));
  st.alloc();
  st.prepare(std::string(kSelect) +
             "WHERE r.stream_session_id = :ss AND r.status IN ('pending', 'queued', 'active') "
             "ORDER BY r.id");
  st.define_and_bind();
  st.execute();
  std::vector<domain::StyleRequest> out;
  while (st.fetch()) out.push_back(row.get());
  return out;
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

long long end_open_style_requests_of_session(soci::session& sql, long long session_id,
                                             long long now_ms) {
  soci::statement cleared =
      (sql.prepare << "UPDATE style_requests SET status = 'cleared', ended_ms = :t "
                      "WHERE status IN ('pending', 'queued') AND stream_session_id = :s",
       soci::use(now_ms), soci::use(session_id));
  cleared.execute(true);
  soci::statement done = (sql.prepare << "UPDATE style_requests SET status = 'done', ended_ms = :t "
                                         "WHERE status = 'active' AND stream_session_id = :s",
                          soci::use(now_ms), soci::use(session_id));
  done.execute(true);
  return cleared.get_affected_rows() + done.get_affected_rows();
}

long long end_style_requests_of_ended_streams(soci::session& sql, long long streamer_id,
                                              long long now_ms) {
  const std::string ended =
      " AND streamer_id = :u AND stream_session_id IN (SELECT id FROM stream_sessions "
      "WHERE user_id = :u2 AND ended_ms IS NOT NULL)";
  soci::statement cleared =
      (sql.prepare << "UPDATE style_requests SET status = 'cleared', ended_ms = :t "
                      "WHERE status IN ('pending', 'queued')" +
                          ended,
       soci::use(now_ms), soci::use(streamer_id), soci::use(streamer_id));
  cleared.execute(true);
  soci::statement done = (sql.prepare << "UPDATE style_requests SET status = 'done', ended_ms = :t "
                                         "WHERE status = 'active'" +
                                             ended,
                          soci::use(now_ms), soci::use(streamer_id), soci::use(streamer_id));
  done.execute(true);
  return cleared.get_affected_rows() + done.get_affected_rows();
}

}  // namespace ds::store
