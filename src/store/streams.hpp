// Stream sessions repository: one row per stream, at most one open per user (unique index).
#pragma once

#include <soci/soci.h>

#include <optional>
#include <string>
#include <vector>

namespace ds::store {

struct StreamSession {
  long long id = 0;
  long long user_id = 0;
  std::string status;  // created | live | completed | ended_no_credits | interrupted
  long long created_ms = 0;
  long long first_frame_ms = 0;  // 0: none yet
  long long last_frame_ms = 0;
  long long ended_ms = 0;  // 0: still open
  long long duration_minutes = 0;
  long long cost_cents = 0;
  long long max_viewers = 0;
  long long comment_count = 0;
  long long style_request_count = 0;
  long long frames_in = 0;
  long long frames_out = 0;
};

// Throws a unique violation when the user already has an open stream.
long long insert_stream_session(soci::session& sql, long long user_id, long long now_ms);
std::optional<StreamSession> find_open_stream_session(soci::session& sql, long long user_id);
std::optional<StreamSession> find_stream_session(soci::session& sql, long long id);
std::vector<StreamSession> list_open_stream_sessions(soci::session& sql);
// Newest first; before_id = 0 starts at the newest.
std::vector<StreamSession> list_stream_sessions(soci::session& sql, long long user_id,
                                                long long before_id, int limit);

void update_stream_progress(soci::session& sql, const StreamSession& s);
void end_stream_session(soci::session& sql, long long id, const std::string& status,
                        long long ended_ms, long long duration_minutes, long long cost_cents);

// Usage minutes already charged for a stream session, and their total cost (positive cents).
struct UsageTotals {
  long long minutes = 0;
  long long cost_cents = 0;
};
UsageTotals usage_totals(soci::session& sql, long long session_id);

}  // namespace ds::store
