#include "store/recordings.hpp"

#include <algorithm>
#include <limits>

namespace ds::store {

namespace {

constexpr const char* kColumns =
    "r.session_id, r.user_id, r.public, r.state, r.bytes, r.duration_ms, r.segments, "
    "r.created_ms, r.updated_ms";

// Binds a row's columns (kColumns, in order).
struct RowInto {
  Recording r;
  int is_public = 1;
  void bind(soci::statement& st) {
    st.exchange(soci::into(r.session_id));
    st.exchange(soci::into(r.user_id));
    st.exchange(soci::into(is_public));
    st.exchange(soci::into(r.state));
    st.exchange(soci::into(r.bytes));
    st.exchange(soci::into(r.duration_ms));
    st.exchange(soci::into(r.segments));
    st.exchange(soci::into(r.created_ms));
    st.exchange(soci::into(r.updated_ms));
  }
  Recording get() const {
    Recording out = r;
    out.is_public = is_public != 0;
    return out;
  }
};

std::vector<Recording> list_where(soci::session& sql, const std::string& where,
                                  const std::vector<long long>& args) {
  std::vector<Recording> out;
  RowInto row;
  soci::statement st(sql);
  row.bind(st);
  auto values = args;  // soci::use keeps references
  for (auto& v : values) st.exchange(soci::use(v));
  st.alloc();
  st.prepare(std::string("SELECT ") + kColumns + " FROM recordings r " + where);
  st.define_and_bind();
  st.execute();
  while (st.fetch()) out.push_back(row.get());
  return out;
}

}  // namespace

bool insert_recording(soci::session& sql, long long session_id, long long user_id,
                      long long now_ms) {
  soci::statement st =
      (sql.prepare << "INSERT INTO recordings (session_id, user_id, created_ms, "
                      "updated_ms) VALUES (:s, :u, :c, :m) "
                      "ON CONFLICT (session_id) DO NOTHING",
       soci::use(session_id), soci::use(user_id), soci::use(now_ms), soci::use(now_ms));
  st.execute(true);
  return st.get_affected_rows() > 0;
}

std::optional<Recording> find_recording(soci::session& sql, long long session_id) {
  auto rows = list_where(sql, "WHERE r.session_id = :s", {session_id});
  if (rows.empty()) return std::nullopt;
  return rows.front();
}

bool update_recording(soci::session& sql, const Recording& r) {
  soci::statement st =
      (sql.prepare << "UPDATE recordings SET state = :st, bytes = :b, duration_ms = :d, "
                      "segments = :n, updated_ms = :m WHERE session_id = :s",
       soci::use(r.state), soci::use(r.bytes), soci::use(r.duration_ms), soci::use(r.segments),
       soci::use(r.updated_ms), soci::use(r.session_id));
  st.execute(true);
  return st.get_affected_rows() > 0;
}

bool set_recording_public(soci::session& sql, long long user_id, long long session_id,
                          bool is_public) {
  int v = is_public ? 1 : 0;
  soci::statement st = (sql.prepare << "UPDATE recordings SET public = :p "
                                       "WHERE session_id = :s AND user_id = :u",
                        soci::use(v), soci::use(session_id), soci::use(user_id));
  st.execute(true);
  return st.get_affected_rows() > 0;
}

bool delete_recording(soci::session& sql, long long session_id) {
  soci::statement st =
      (sql.prepare << "DELETE FROM recordings WHERE session_id = :s", soci::use(session_id));
  st.execute(true);
  return st.get_affected_rows() > 0;
}

std::vector<RecordingListing> list_user_recordings(soci::session& sql, long long user_id,
                                                   bool with_private, long long before, int limit) {
  std::vector<RecordingListing> out;
  RowInto row;
  long long started = 0, ended = 0, max_viewers = 0, sampled = 0;
  long long only_public = with_private ? 0 : 1;
  long long upper = before > 0 ? before : std::numeric_limits<long long>::max();
  long long lim = limit;
  soci::statement st(sql);
  row.bind(st);
  st.exchange(soci::into(started));
  st.exchange(soci::into(ended));
  st.exchange(soci::into(max_viewers));
  st.exchange(soci::into(sampled));
  st.exchange(soci::use(user_id));
  st.exchange(soci::use(only_public));
  st.exchange(soci::use(upper));
  st.exchange(soci::use(lim));
  st.alloc();
  // Peak viewers: the session's saved maximum, or the samples taken while it is live.
  st.prepare(std::string("SELECT ") + kColumns +
             ", COALESCE(s.first_frame_ms, s.created_ms), COALESCE(s.ended_ms, 0), "
             "s.max_viewers, COALESCE((SELECT MAX(v.viewers) FROM viewer_samples v "
             "WHERE v.stream_session_id = r.session_id), 0) "
             "FROM recordings r JOIN stream_sessions s ON s.id = r.session_id "
             "WHERE r.user_id = :u AND (r.public = 1 OR :p = 0) AND r.session_id < :b "
             "ORDER BY r.session_id DESC LIMIT :l");
  st.define_and_bind();
  st.execute();
  while (st.fetch()) {
    out.push_back({row.get(), started, ended, std::max(max_viewers, sampled)});
  }
  return out;
}

std::vector<Recording> list_all_user_recordings(soci::session& sql, long long user_id) {
  return list_where(sql, "WHERE r.user_id = :u", {user_id});
}

std::vector<Recording> list_sweep_candidates(soci::session& sql, long long cutoff_ms,
                                             long long quota_bytes) {
  return list_where(sql,
                    "WHERE (r.state = 'complete' AND r.created_ms <= :c) OR r.user_id IN "
                    "(SELECT user_id FROM recordings GROUP BY user_id HAVING SUM(bytes) > :q)",
                    {cutoff_ms, quota_bytes});
}

std::vector<Recording> list_unclosed_recordings(soci::session& sql) {
  return list_where(sql,
                    "JOIN stream_sessions s ON s.id = r.session_id "
                    "WHERE r.state = 'recording' AND s.ended_ms IS NOT NULL",
                    {});
}

}  // namespace ds::store
