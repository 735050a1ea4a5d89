#include "video/vod_playlist.hpp"

#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <charconv>
#include <ctime>

#include "video/fmp4.hpp"
#include "video/hls_playlist.hpp"

namespace ds::video {

namespace {

std::optional<std::int64_t> number(std::string_view s) {
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < 0 || s.empty()) return std::nullopt;
  return v;
}

// "12.345" seconds → kTimescale units.
std::optional<std::int64_t> seconds(std::string_view s) {
  auto dot = s.find('.');
  auto whole = number(s.substr(0, dot));
  if (!whole) return std::nullopt;
  std::int64_t ms = *whole * 1000;
  if (dot != std::string_view::npos) {
    auto frac = s.substr(dot + 1);
    if (frac.empty() || frac.size() > 3) return std::nullopt;
    auto f = number(frac);
    if (!f) return std::nullopt;
    for (auto n = frac.size(); n < 3; ++n) *f *= 10;
    ms += *f;
  }
  return ms * fmp4::kTimescale / 1000;
}

// "2026-12-07T14:05:00.123Z" → epoch ms (the form date_time_text writes).
std::optional<std::int64_t> date_time(std::string_view s) {
  if (s.size() != 24 || s[4] != '-' || s[10] != 'T' || s[19] != '.' || s[23] != 'Z') {
    return std::nullopt;
  }
  auto field = [&](std::size_t at, std::size_t n) { return number(s.substr(at, n)); };
  auto y = field(0, 4), mo = field(5, 2), d = field(8, 2), h = field(11, 2), mi = field(14, 2),
       se = field(17, 2), ms = field(20, 3);
  if (!y || !mo || !d || !h || !mi || !se || !ms) return std::nullopt;
  std::tm tm{};
  tm.tm_year = static_cast<int>(*y) - 1900;
  tm.tm_mon = static_cast<int>(*mo) - 1;
  tm.tm_mday = static_cast<int>(*d);
  tm.tm_hour = static_cast<int>(*h);
  tm.tm_min = static_cast<int>(*mi);
  tm.tm_sec = static_cast<int>(*se);
  return static_cast<std::int64_t>(timegm(&tm)) * 1000 + *ms;
}

}  // namespace

std::int64_t VodPlaylist::duration_ms() const {
  std::int64_t total = 0;
  for (const auto& s : segments) total += s.duration;
  return total * 1000 / fmp4::kTimescale;
}

std::int64_t VodPlaylist::next_msn() const {
  return segments.empty() ? 0 : segments.back().msn + 1;
}

std::string render_vod_playlist(const VodPlaylist& p) {
  // RFC 8216: no EXTINF rounded to the nearest second may pass the target duration.
  std::int64_t target = 2;
  for (const auto& s : p.segments) {
    target = std::max(target, (s.duration + fmp4::kTimescale / 2) / fmp4::kTimescale);
  }
  std::string out = "#EXTM3U\n#EXT-X-VERSION:7\n";
  out += fmt::format("#EXT-X-TARGETDURATION:{}\n", target);
  out += fmt::format("#EXT-X-PLAYLIST-TYPE:{}\n", p.ended ? "VOD" : "EVENT");
  out += "#EXT-X-INDEPENDENT-SEGMENTS\n";
  out += fmt::format("#EXT-X-MEDIA-SEQUENCE:{}\n", p.segments.empty() ? 0 : p.segments.front().msn);
  std::int64_t map = -1;
  for (const auto& s : p.segments) {
    if (s.init_msn != map) {
      if (map >= 0) out += "#EXT-X-DISCONTINUITY\n";
      map = s.init_msn;
      out += fmt::format("#EXT-X-MAP:URI=\"init-{}.mp4\"\n", map);
    }
    if (s.start_ms > 0) out += "#EXT-X-PROGRAM-DATE-TIME:" + date_time_text(s.start_ms) + "\n";
    out += fmt::format("#EXTINF:{},\n{}.m4s\n", seconds_text(s.duration), s.msn);
  }
  if (p.ended) out += "#EXT-X-ENDLIST\n";
  return out;
}

std::optional<VodPlaylist> parse_vod_playlist(std::string_view text) {
  if (!text.starts_with("#EXTM3U\n")) return std::nullopt;
  VodPlaylist p;
  std::int64_t init = -1;
  std::int64_t start_ms = 0;
  std::int64_t duration = -1;  // of the segment whose URI comes next; -1: no EXTINF yet
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    if (nl == std::string_view::npos) break;  // a line the writer did not finish
    auto line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.starts_with("#EXT-X-MAP:URI=\"init-") && line.ends_with(".mp4\"")) {
      auto n = number(line.substr(21, line.size() - 21 - 5));
      if (!n) return std::nullopt;
      init = *n;
    } else if (line.starts_with("#EXT-X-PROGRAM-DATE-TIME:")) {
      start_ms = date_time(line.substr(25)).value_or(0);
    } else if (line.starts_with("#EXTINF:")) {
      auto comma = line.find(',');
      auto d = seconds(line.substr(8, comma == std::string_view::npos ? line.npos : comma - 8));
      if (!d) return std::nullopt;
      duration = *d;
    } else if (line == "#EXT-X-ENDLIST") {
      p.ended = true;
    } else if (!line.empty() && line.front() != '#') {
      if (!line.ends_with(".m4s") || duration < 0 || init < 0) return std::nullopt;
      auto msn = number(line.substr(0, line.size() - 4));
      if (!msn) return std::nullopt;
      p.segments.push_back({*msn, init, duration, start_ms});
      duration = -1;
      start_ms = 0;
    }
  }
  return p;
}

}  // namespace ds::video
