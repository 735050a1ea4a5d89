// A tiny H.264 access unit for tests of the HLS segmenter and store: a keyframe carries SPS,
// PPS and an IDR slice header, any other picture a non-IDR slice header. Enough for the fMP4
// muxer (sizes from the SPS), not for a decoder.
#pragma once

#include <cstdint>
#include <string>

#include "video/access_unit.hpp"

namespace ds::test {

inline video::AccessUnit h264_unit(std::int64_t pts_ms, bool key) {
  static const std::string sps("\x00\x00\x00\x01\x67\x64\x00\x1e\xac\xd9", 10);
  static const std::string pps("\x00\x00\x00\x01\x68\xeb\xe3\xcb", 8);
  video::AccessUnit u;
  u.pts_ms = pts_ms;
  u.keyframe = key;
  u.width = 160;
  u.height = 120;
  u.data = key ? sps + pps + std::string("\x00\x00\x00\x01\x65\x88", 6)
               : std::string("\x00\x00\x00\x01\x41\x9a", 6);
  return u;
}

}  // namespace ds::test
