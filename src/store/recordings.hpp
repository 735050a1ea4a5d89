// Recordings repository: one row per recorded stream session (its files live under the media
// directory, live/recorder.hpp): whether it is public, whether it is still being recorded, and
// its size, duration and segment count as last written.
#pragma once

#include <soci/soci.h>

#include <optional>
#include <string>
#include <vector>

namespace ds::store {

struct Recording {
  long long session_id = 0;
  long long user_id = 0;
  bool is_public = true;
  std::string state = "recording";  // recording | complete
  long long bytes = 0;
  long long duration_ms = 0;
  long long segments = 0;
  long long created_ms = 0;
  long long updated_ms = 0;
};

// A recording as a listing shows it, with its session's times and viewers.
struct RecordingListing {
  Recording recording;
  long long started_ms = 0;  // the session's first frame (its creation before one)
  long long ended_ms = 0;    // 0: the session is still open
  long long peak_viewers = 0;
};

// A new row in state recording, or nothing when the session has one already (a recording
// switched on again, or resumed by the stream's new home): false then.
bool insert_recording(soci::session& sql, long long session_id, long long user_id,
                      long long now_ms);
std::optional<Recording> find_recording(soci::session& sql, long long session_id);
// Progress and state as the files say; false when the row is gone (deleted meanwhile).
bool update_recording(soci::session& sql, const Recording& r);
// Only the owner's; false when user_id has no such recording.
bool set_recording_public(soci::session& sql, long long user_id, long long session_id,
                          bool is_public);
bool delete_recording(soci::session& sql, long long session_id);

// user_id's recordings, newest first: before (exclusive, 0: from the newest), at most limit;
// only public ones unless with_private.
std::vector<RecordingListing> list_user_recordings(soci::session& sql, long long user_id,
                                                   bool with_private, long long before, int limit);
std::vector<Recording> list_all_user_recordings(soci::session& sql, long long user_id);

// For the sweeper: complete recordings created at or before cutoff_ms, and every recording of
// the accounts whose recordings hold more than quota_bytes together.
std::vector<Recording> list_sweep_candidates(soci::session& sql, long long cutoff_ms,
                                             long long quota_bytes);
// Recordings still in state recording whose session has ended (their node stopped or died).
std::vector<Recording> list_unclosed_recordings(soci::session& sql);

}  // namespace ds::store
