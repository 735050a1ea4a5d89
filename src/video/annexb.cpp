#include "video/annexb.hpp"

#include <cstdio>

namespace ds::video {

std::vector<NalUnit> split_annexb(std::string_view s) {
  std::vector<NalUnit> out;
  std::size_t n = s.size();
  // Finds the next 00 00 01 at or after `from`; returns n when there is none.
  auto next_start = [&](std::size_t from) {
    for (std::size_t i = from; i + 2 < n; ++i) {
      if (s[i] == 0 && s[i + 1] == 0 && s[i + 2] == 1) return i;
    }
    return n;
  };
  std::size_t start = next_start(0);
  while (start < n) {
    std::size_t begin = start + 3;
    std::size_t next = next_start(begin);
    std::size_t end = next;
    // A four-byte start code's leading zero (and any trailing_zero_8bits) is not the NAL's.
    while (end > begin && s[end - 1] == 0) --end;
    if (end > begin) {
      out.push_back({static_cast<std::uint8_t>(static_cast<unsigned char>(s[begin]) & 0x1f),
                     s.substr(begin, end - begin)});
    }
    start = next;
  }
  return out;
}

std::optional<std::string> avc_codec_string(std::string_view stream) {
  for (const NalUnit& nal : split_annexb(stream)) {
    if (nal.type != static_cast<std::uint8_t>(NalType::kSps) || nal.bytes.size() < 4) continue;
    // The three bytes after the header are profile_idc, constraint_set0..5 + reserved, and
    // level_idc; no emulation prevention byte can sit among them (profile_idc is never 0).
    char text[16];
    std::snprintf(text, sizeof text, "avc1.%02X%02X%02X",
                  static_cast<unsigned>(static_cast<unsigned char>(nal.bytes[1])),
                  static_cast<unsigned>(static_cast<unsigned char>(nal.bytes[2])),
                  static_cast<unsigned>(static_cast<unsigned char>(nal.bytes[3])));
    return std::string(text);
  }
  return std::nullopt;
}

}  // namespace ds::video
