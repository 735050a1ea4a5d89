#include "store/streams.hpp"

namespace ds::store {

namespace {

const char* const kSelect =
    "SELECT id, user_id, status, created_ms, COALESCE(first_frame_ms, 0), "
    "COALESCE(last_frame_ms, 0), COALESCE(ended_ms, 0), duration_minutes, cost_cents, "
    "max_viewers, comment_count, style_request_count, frames_in, frames_out, home_node, "
    "home_epoch FROM stream_sessions ";

#define DS_STREAM_INTO(s)                                                                      \
  soci::into(s.id), soci::into(s.user_id), soci::into(s.status), soci::into(s.created_ms),     \
      soci::into(s.first_frame_ms), soci::into(s.last_frame_ms), soci::into(s.ended_ms),       \
      soci::into(s.duration_minutes), soci::into(s.cost_cents), soci::into(s.max_viewers),     \
      soci::into(s.comment_count), soci::into(s.style_request_count), soci::into(s.frames_in), \
      soci::into(s.frames_out), soci::into(s.home_node), soci::into(s.home_epoch)

}  // namespace

long long insert_stream_session(soci::session& sql, long long user_id, long long now_ms,
                                const std::string& home_node) {
  long long id = 0;
  sql << "INSERT INTO stream_sessions (user_id, status, created_ms, home_node) "
         "VALUES (:u, 'created', :t, :n) RETURNING id",
      soci::use(user_id), soci::use(now_ms), soci::use(home_node), soci::into(id);
  return id;
}

std::optional<long long> claim_stream_home(soci::session& sql, long long id,
                                           const std::string& node) {
  long long epoch = 0;
  soci::statement st =
      (sql.prepare << "UPDATE stream_sessions SET home_node = :n, home_epoch = home_epoch + 1 "
                      "WHERE id = :id AND ended_ms IS NULL RETURNING home_epoch",
       soci::use(node), soci::use(id), soci::into(epoch));
  st.execute();
  if (!st.fetch()) return std::nullopt;
  return epoch;
}

Hold hold_stream_session(soci::session& sql, long long id, long long epoch) {
  // An UPDATE, not a SELECT: it takes the row's lock (PostgreSQL) for the rest of the caller's
  // transaction. SQLite has one writer at a time anyway.
  long long held = 0;
  soci::statement st =
      (sql.prepare << "UPDATE stream_sessions SET home_epoch = home_epoch WHERE id = :id AND "
                      "ended_ms IS NULL AND home_epoch = :e RETURNING id",
       soci::use(id), soci::use(epoch), soci::into(held));
  st.execute();
  if (st.fetch()) return Hold::kHeld;
  long long open = 0;
  sql << "SELECT COUNT(*) FROM stream_sessions WHERE id = :id AND ended_ms IS NULL", soci::use(id),
      soci::into(open);
  return open > 0 ? Hold::kMoved : Hold::kEnded;
}

std::optional<StreamSession> find_open_stream_session(soci::session& sql, long long user_id) {
  StreamSession s;
  soci::statement st = (sql.prepare << kSelect << "WHERE user_id = :u AND ended_ms IS NULL",
                        DS_STREAM_INTO(s), soci::use(user_id));
  st.execute();
  if (!st.fetch()) return std::nullopt;
  return s;
}

std::optional<StreamSession> find_stream_session(soci::session& sql, long long id) {
  StreamSession s;
  soci::statement st =
      (sql.prepare << kSelect << "WHERE id = :id", DS_STREAM_INTO(s), soci::use(id));
  st.execute();
  if (!st.fetch()) return std::nullopt;
  return s;
}

std::vector<StreamSession> list_open_stream_sessions(soci::session& sql) {
  std::vector<StreamSession> out;
  StreamSession s;
  soci::statement st =
      (sql.prepare << kSelect << "WHERE ended_ms IS NULL ORDER BY id", DS_STREAM_INTO(s));
  st.execute();
  while (st.fetch()) out.push_back(s);
  return out;
}

std::vector<StreamSession> list_stream_sessions(soci::session& sql, long long user_id,
                                                long long before_id, int limit) {
  std::vector<StreamSession> out;
  StreamSession s;
  long long before = before_id > 0 ? before_id : (1LL << 62);
  soci::statement st =
      (sql.prepare << kSelect << "WHERE user_id = :u AND id < :b ORDER BY id DESC LIMIT :l",
       DS_STREAM_INTO(s), soci::use(user_id), soci::use(before), soci::use(limit));
  st.execute();
  while (st.fetch()) out.push_back(s);
  return out;
}

#undef DS_STREAM_INTO

void update_stream_progress(soci::session& sql, const StreamSession& s) {
  soci::indicator first_ind = s.first_frame_ms > 0 ? soci::i_ok : soci::i_null;
  soci::indicator last_ind = s.last_frame_ms > 0 ? soci::i_ok : soci::i_null;
  sql << "UPDATE stream_sessions SET status = :st, first_frame_ms = :f, last_frame_ms = :l, "
         "max_viewers = CASE WHEN max_viewers > :mv THEN max_viewers ELSE :mv2 END, "
         "frames_in = :fi, frames_out = :fo WHERE id = :id AND ended_ms IS NULL AND "
         "home_epoch = :e",
      soci::use(s.status), soci::use(s.first_frame_ms, first_ind),
      soci::use(s.last_frame_ms, last_ind), soci::use(s.max_viewers), soci::use(s.max_viewers),
      soci::use(s.frames_in), soci::use(s.frames_out), soci::use(s.id), soci::use(s.home_epoch);
}

void end_stream_session(soci::session& sql, long long id, const std::string& status,
                        long long ended_ms, long long duration_minutes, long long cost_cents,
                        std::optional<long long> epoch) {
  const char* const kEnd =
      "UPDATE stream_sessions SET status = :st, ended_ms = :e, duration_minutes = :d, "
      "cost_cents = :c WHERE id = :id AND ended_ms IS NULL";
  if (epoch) {
    sql << kEnd << " AND home_epoch = :ep", soci::use(status), soci::use(ended_ms),
        soci::use(duration_minutes), soci::use(cost_cents), soci::use(id), soci::use(*epoch);
  } else {
    sql << kEnd, soci::use(status), soci::use(ended_ms), soci::use(duration_minutes),
        soci::use(cost_cents), soci::use(id);
  }
}

UsageTotals usage_totals(soci::session& sql, long long session_id) {
  UsageTotals t;
  sql << "SELECT COUNT(*), COALESCE(-SUM(amount_cents), 0) FROM credit_transactions "
         "WHERE stream_session_id = :s AND kind = 'stream_usage'",
      soci::use(session_id), soci::into(t.minutes), soci::into(t.cost_cents);
  return t;
}

}  // namespace ds::store
