#include "store/comments.hpp"

namespace ds::store {

namespace {

const char* const kSelect =
    "SELECT c.id, c.streamer_id, COALESCE(c.stream_session_id, 0), c.user_id, u.username, "
    "u.display_name, c.body, c.created_ms, COALESCE(c.deleted_ms, 0) FROM comments c "
    "JOIN users u ON u.id = c.user_id ";

#define DS_COMMENT_INTO(c)                                                                      \
  soci::into(c.id), soci::into(c.streamer_id), soci::into(c.session_id), soci::into(c.user_id), \
      soci::into(c.author_username), soci::into(c.author_display_name), soci::into(c.body),     \
      soci::into(c.created_ms), soci::into(c.deleted_ms)

}  // namespace

Comment insert_comment(soci::session& sql, long long streamer_id, long long session_id,
                       long long user_id, const std::string& body, long long now_ms) {
  long long id = 0;
  sql << "INSERT INTO comments (streamer_id, stream_session_id, user_id, body, created_ms) "
         "VALUES (:s, :ss, :u, :b, :t) RETURNING id",
      soci::use(streamer_id), soci::use(session_id), soci::use(user_id), soci::use(body),
      soci::use(now_ms), soci::into(id);
  sql << "UPDATE stream_sessions SET comment_count = comment_count + 1 WHERE id = :id",
      soci::use(session_id);
  return *find_comment(sql, streamer_id, id);
}

std::optional<Comment> find_comment(soci::session& sql, long long streamer_id, long long id) {
  Comment c;
  soci::statement st = (sql.prepare << kSelect << "WHERE c.id = :id AND c.streamer_id = :s",
                        DS_COMMENT_INTO(c), soci::use(id), soci::use(streamer_id));
  st.execute();
  if (!st.fetch()) return std::nullopt;
  return c;
}

std::vector<Comment> list_comments(soci::session& sql, long long streamer_id, long long before_id,
                                   int limit, long long session_id) {
  std::vector<Comment> out;
  Comment c;
  long long before = before_id > 0 ? before_id : (1LL << 62);
  const char* const where = "WHERE c.streamer_id = :s AND c.id < :b AND c.deleted_ms IS NULL ";
  const char* const order = "ORDER BY c.id DESC LIMIT :l";
  soci::statement st =
      session_id > 0 ? (sql.prepare << kSelect << where << "AND c.stream_session_id = :q " << order,
                        DS_COMMENT_INTO(c), soci::use(streamer_id), soci::use(before),
                        soci::use(session_id), soci::use(limit))
                     : (sql.prepare << kSelect << where << order, DS_COMMENT_INTO(c),
                        soci::use(streamer_id), soci::use(before), soci::use(limit));
  st.execute();
  while (st.fetch()) out.push_back(c);
  return out;
}

#undef DS_COMMENT_INTO

bool delete_comment(soci::session& sql, long long id, long long now_ms) {
  soci::statement st = (sql.prepare << "UPDATE comments SET deleted_ms = :t "
                                       "WHERE id = :id AND deleted_ms IS NULL",
                        soci::use(now_ms), soci::use(id));
  st.execute(true);
  return st.get_affected_rows() > 0;
}

}  // namespace ds::store
