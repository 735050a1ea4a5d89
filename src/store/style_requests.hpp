// Style requests repository: prompts viewers asked a stream to play, with their status history.
#pragma once

#include <soci/soci.h>

#include <optional>
#include <string>
#include <vector>

#include "domain/style_queue.hpp"

namespace ds::store {

// Stores a new request (id and author user id taken from it, id ignored) and counts it on its
// stream session; returns the new id.
long long insert_style_request(soci::session& sql, long long streamer_id,
                               const domain::StyleRequest& request);
// Writes a request's status, play times and place in the play order.
void update_style_request(soci::session& sql, const domain::StyleRequest& request);
// A request to streamer_id's stream, in any status.
std::optional<domain::StyleRequest> find_style_request(soci::session& sql, long long streamer_id,
                                                       long long id);
// The requests of a stream session still in play (pending, queued or active), by id: what a
// stream's new home goes on with when it moves between nodes.
std::vector<domain::StyleRequest> open_style_requests(soci::session& sql, long long session_id);
// After a restart no stream is live: requests left pending or queued are cleared, an active one
// is done. Returns how many rows changed.
long long end_open_style_requests(soci::session& sql, long long now_ms);
// The same for one stream session that has ended: what its queue's last writes did not store
// (a write that failed while it was live) is ended too. Returns how many rows changed.
long long end_open_style_requests_of_session(soci::session& sql, long long session_id,
                                             long long now_ms);
// The same for streamer_id's streams that have ended (one whose home died was ended by another
// node, which held no queue for it). Returns how many rows changed.
long long end_style_requests_of_ended_streams(soci::session& sql, long long streamer_id,
                                              long long now_ms);

}  // namespace ds::store
