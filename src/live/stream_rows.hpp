// StreamService's internals shared by its files (stream_service.cpp, stream_billing.cpp,
// stream_orphans.cpp): the database_unavailable error and a stream's progress as its row keeps it.
#pragma once

#include "store/streams.hpp"
#include "util/expected.hpp"

namespace ds::live::detail {

inline Error database_unavailable() {
  return {ErrorKind::kUnavailable, "database_unavailable",
          "the database is unavailable; try again shortly"};
}

// A stream's progress as its row keeps it, from what the hub knows (a snapshot, or what a moving
// stream carries): the one place these fields are copied into a row.
template <class Progress>
store::StreamSession progress_row(long long session_id, long long epoch, const Progress& p) {
  store::StreamSession s;
  s.id = session_id;
  s.home_epoch = epoch;
  s.status = p.first_frame_ms > 0 ? "live" : "created";
  s.first_frame_ms = p.first_frame_ms;
  s.last_frame_ms = p.last_frame_ms;
  s.max_viewers = p.max_viewers;
  s.frames_in = static_cast<long long>(p.frames_in);
  s.frames_out = static_cast<long long>(p.frames_out);
  return s;
}

}  // namespace ds::live::detail
