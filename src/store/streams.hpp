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
  // Many nodes: the node that owns (bills) the open stream, and its taking's number.
  std::string home_node;
  long long home_epoch = 0;
};

// Throws a unique violation when the user already has an open stream. home_node: the node that
// owns it (empty on one node); its epoch starts at 0.
long long insert_stream_session(soci::session& sql, long long user_id, long long now_ms,
                                const std::string& home_node = "");

// Ownership of an open stream, so that two nodes never both bill it and nobody bills it after it
// ended. claim_stream_home makes node the owner with the next epoch (none when the stream has
// ended). hold_stream_session, in the transaction of a charge or a save, is kHeld only while the
// row is open and still at epoch; it locks the row until that transaction ends, so a claim or an
// end from another node waits for it and the charge is never on the wrong side of either.
std::optional<long long> claim_stream_home(soci::session& sql, long long id,
                                           const std::string& node);
enum class Hold { kHeld, kMoved, kEnded };
Hold hold_stream_session(soci::session& sql, long long id, long long epoch);
std::optional<StreamSession> find_open_stream_session(soci::session& sql, long long user_id);
std::optional<StreamSession> find_stream_session(soci::session& sql, long long id);
std::vector<StreamSession> list_open_stream_sessions(soci::session& sql);
// Newest first; before_id = 0 starts at the newest.
std::vector<StreamSession> list_stream_sessions(soci::session& sql, long long user_id,
                                                long long before_id, int limit);

// Both change only an open row at s.home_epoch / epoch (its owner's); epoch nullopt: any (crash
// recovery on one node).
void update_stream_progress(soci::session& sql, const StreamSession& s);
void end_stream_session(soci::session& sql, long long id, const std::string& status,
                        long long ended_ms, long long duration_minutes, long long cost_cents,
                        std::optional<long long> epoch);

// Usage minutes already charged for a stream session, and their total cost (positive cents).
struct UsageTotals {
  long long minutes = 0;
  long long cost_cents = 0;
};
UsageTotals usage_totals(soci::session& sql, long long session_id);

}  // namespace ds::store
