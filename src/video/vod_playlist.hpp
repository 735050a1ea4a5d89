// A recording's media playlist (RFC 8216): every segment it kept, no parts. While the session
// is recorded it is an EVENT playlist (segments are only ever added); once it ended it is VOD
// with EXT-X-ENDLIST. EXT-X-MAP names each segment's init segment where it changes, with
// EXT-X-DISCONTINUITY (the encoder started again, its resolution changed, or the recording was
// switched off and on). Pure: render, and parse back what render wrote (a node that died
// mid-recording left one to close).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ds::video {

struct VodSegment {
  std::int64_t msn = 0;       // its file: <msn>.m4s
  std::int64_t init_msn = 0;  // its init segment: init-<init_msn>.mp4
  std::int64_t duration = 0;  // in fmp4::kTimescale units
  std::int64_t start_ms = 0;  // its first picture (epoch ms: PROGRAM-DATE-TIME); 0: unknown
};

struct VodPlaylist {
  std::vector<VodSegment> segments;  // in order
  bool ended = false;

  // The total of the segments' durations, in milliseconds.
  std::int64_t duration_ms() const;
  // The msn the next segment gets (one past the last; 0 when none).
  std::int64_t next_msn() const;
};

std::string render_vod_playlist(const VodPlaylist& p);
// nullopt when text is not a playlist render_vod_playlist wrote (unknown URIs, no #EXTM3U).
// A last line cut short by a crash is ignored.
std::optional<VodPlaylist> parse_vod_playlist(std::string_view text);

}  // namespace ds::video
