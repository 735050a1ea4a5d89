// Comments repository: chat messages on a streamer's channel, each stored with its stream session.
#pragma once

#include <soci/soci.h>

#include <optional>
#include <string>
#include <vector>

namespace ds::store {

struct Comment {
  long long id = 0;
  long long streamer_id = 0;
  long long session_id = 0;
  long long user_id = 0;
  std::string author_username;
  std::string author_display_name;
  std::string body;
  long long created_ms = 0;
  long long deleted_ms = 0;  // 0: visible
};

// Stores a comment and counts it on its stream session; returns it with its id and author.
Comment insert_comment(soci::session& sql, long long streamer_id, long long session_id,
                       long long user_id, const std::string& body, long long now_ms);
// A comment on streamer_id's channel, deleted or not.
std::optional<Comment> find_comment(soci::session& sql, long long streamer_id, long long id);
// Visible comments, newest first; before_id = 0 starts at the newest. A session_id > 0 keeps only
// that stream session's comments (a recording's chat), 0 those of every session.
std::vector<Comment> list_comments(soci::session& sql, long long streamer_id, long long before_id,
                                   int limit, long long session_id = 0);
// Hides a comment; false when it was already deleted.
bool delete_comment(soci::session& sql, long long id, long long now_ms);

}  // namespace ds::store
