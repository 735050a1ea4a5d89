#include "video/hls_playlist.hpp"

#include <spdlog/fmt/fmt.h>

#include <ctime>

namespace ds::video {

std::string seconds_text(std::int64_t duration) {
  auto ms = (duration * 1000 + fmp4::kTimescale / 2) / fmp4::kTimescale;
  return fmt::format("{}.{:03}", ms / 1000, ms % 1000);
}

std::string date_time_text(std::int64_t epoch_ms) {
  std::time_t secs = static_cast<std::time_t>(epoch_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, epoch_ms % 1000);
}

std::string render_playlist(const HlsSegmenter& s, std::string_view prefix) {
  auto part_target = s.part_target();
  std::string out = "#EXTM3U\n#EXT-X-VERSION:9\n";
  out += fmt::format("#EXT-X-TARGETDURATION:{}\n", s.target_duration_s());
  // Three part targets behind the live edge: the least RFC 8216bis allows is two.
  out += fmt::format("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={}\n",
                     seconds_text(3 * part_target));
  out += fmt::format("#EXT-X-PART-INF:PART-TARGET={}\n", seconds_text(part_target));
  const auto& segs = s.segments();
  auto first = segs.empty() ? s.next_msn() : segs.front().msn;
  out += fmt::format("#EXT-X-MEDIA-SEQUENCE:{}\n", first);
  std::int64_t map = -1;
  for (const auto& seg : segs) {
    if (seg.discontinuity) out += "#EXT-X-DISCONTINUITY\n";
    if (seg.init_msn != map) {
      map = seg.init_msn;
      out += fmt::format("#EXT-X-MAP:URI=\"{}init-{}.mp4\"\n", prefix, map);
    }
    out += "#EXT-X-PROGRAM-DATE-TIME:" + date_time_text(seg.start_ms) + "\n";
    for (std::size_t i = 0; i < seg.parts.size(); ++i) {
      const auto& p = seg.parts[i];
      if (!p.bytes) continue;
      out +=
          fmt::format("#EXT-X-PART:DURATION={},URI=\"{}{}.{}.m4s\"{}\n", seconds_text(p.duration),
                      prefix, seg.msn, i, p.independent ? ",INDEPENDENT=YES" : "");
    }
    if (seg.complete) {
      out += fmt::format("#EXTINF:{},\n{}{}.m4s\n", seconds_text(seg.duration), prefix, seg.msn);
    }
  }
  if (s.ended()) {
    out += "#EXT-X-ENDLIST\n";
  } else if (!segs.empty()) {
    auto [msn, part] = s.next_part();
    out += fmt::format("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{}{}.{}.m4s\"\n", prefix, msn, part);
  }
  return out;
}

}  // namespace ds::video
