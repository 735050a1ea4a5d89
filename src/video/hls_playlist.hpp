// The low-latency HLS media playlist (RFC 8216bis with EXT-X-PART) of a segmenter's window.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "video/hls_segmenter.hpp"

namespace ds::video {

// The playlist text. uri_prefix goes before every media URI ("hls/<session>/"): init segments
// are init-<msn>.mp4, segments <msn>.m4s, parts <msn>.<part>.m4s. Parts are listed for the
// segments that still keep them; a live playlist ends with the next part's preload hint, an
// ended one with EXT-X-ENDLIST.
std::string render_playlist(const HlsSegmenter& s, std::string_view uri_prefix);

// Seconds with three decimals ("2.000") of a duration in fmp4::kTimescale units.
std::string seconds_text(std::int64_t duration);
// ISO 8601 UTC with milliseconds ("2026-12-07T14:05:00.123Z") of epoch milliseconds.
std::string date_time_text(std::int64_t epoch_ms);

}  // namespace ds::video
