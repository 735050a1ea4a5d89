// H.264 Annex-B byte streams: the NAL units of an access unit (each after a 00 00 01 or
// 00 00 00 01 start code) and the RFC 6381 codec string ("avc1.42C01E") its SPS announces.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ds::video {

// NAL unit types this module looks at (ITU-T H.264 table 7-1).
enum class NalType : std::uint8_t {
  kSlice = 1,
  kIdrSlice = 5,
  kSei = 6,
  kSps = 7,
  kPps = 8,
  kAccessUnitDelimiter = 9,
};

struct NalUnit {
  std::uint8_t type = 0;   // nal_unit_type, the low 5 bits of the first byte
  std::string_view bytes;  // the NAL unit without its start code (header byte first)
};

// The NAL units of `stream` in order. Bytes before the first start code are ignored; an empty
// or start-code-free input gives none.
std::vector<NalUnit> split_annexb(std::string_view stream);

// "avc1.PPCCLL" (hex of profile_idc, the constraint-flag byte and level_idc) from the first SPS
// in `stream`, the string WebCodecs' VideoDecoder.configure and MSE's isTypeSupported take;
// nullopt when `stream` holds no SPS of at least 4 bytes.
std::optional<std::string> avc_codec_string(std::string_view stream);

}  // namespace ds::video
