#include "video/fmp4.hpp"

#include <cstring>

#include "video/annexb.hpp"

namespace ds::video::fmp4 {

namespace {

void u8(std::string& out, std::uint32_t v) { out.push_back(static_cast<char>(v & 0xFF)); }
void u16(std::string& out, std::uint32_t v) {
  u8(out, v >> 8);
  u8(out, v);
}
void u32(std::string& out, std::uint32_t v) {
  u16(out, v >> 16);
  u16(out, v);
}
void u64(std::string& out, std::uint64_t v) {
  u32(out, static_cast<std::uint32_t>(v >> 32));
  u32(out, static_cast<std::uint32_t>(v));
}
void zeros(std::string& out, std::size_t n) { out.append(n, '\0'); }

// A box: its 32-bit size and type around what fill writes.
template <class Fill>
void box(std::string& out, const char (&type)[5], Fill fill) {
  auto start = out.size();
  u32(out, 0);
  out.append(type, 4);
  fill(out);
  auto size = static_cast<std::uint32_t>(out.size() - start);
  for (int i = 0; i < 4; ++i) out[start + i] = static_cast<char>((size >> (24 - 8 * i)) & 0xFF);
}

// A full box: a box whose payload begins with a version byte and 24 bits of flags.
template <class Fill>
void full_box(std::string& out, const char (&type)[5], std::uint8_t version, std::uint32_t flags,
              Fill fill) {
  box(out, type, [&](std::string& o) {
    u8(o, version);
    u8(o, flags >> 16);
    u16(o, flags & 0xFFFF);
    fill(o);
  });
}

void matrix(std::string& out) {
  const std::uint32_t m[9] = {0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000};
  for (auto v : m) u32(out, v);
}

constexpr std::uint32_t kKeySampleFlags = 0x02000000;    // depends on no other sample
constexpr std::uint32_t kDeltaSampleFlags = 0x01010000;  // depends on others, not a sync sample

}  // namespace

std::optional<TrackConfig> track_config(std::string_view annexb, int width, int height) {
  TrackConfig c;
  c.width = width;
  c.height = height;
  for (const auto& nal : split_annexb(annexb)) {
    if (nal.type == static_cast<std::uint8_t>(NalType::kSps) && c.sps.empty()) {
      c.sps = std::string(nal.bytes);
    } else if (nal.type == static_cast<std::uint8_t>(NalType::kPps) && c.pps.empty()) {
      c.pps = std::string(nal.bytes);
    }
  }
  if (c.sps.size() < 4 || c.pps.empty() || width <= 0 || height <= 0) return std::nullopt;
  return c;
}

std::string sample_from_annexb(std::string_view annexb) {
  std::string out;
  out.reserve(annexb.size());
  for (const auto& nal : split_annexb(annexb)) {
    auto t = static_cast<NalType>(nal.type);
    if (t == NalType::kSps || t == NalType::kPps || t == NalType::kAccessUnitDelimiter) continue;
    if (nal.bytes.empty()) continue;
    u32(out, static_cast<std::uint32_t>(nal.bytes.size()));
    out.append(nal.bytes);
  }
  return out;
}

std::string avcc_record(const TrackConfig& c) {
  std::string out;
  u8(out, 1);                                          // configurationVersion
  u8(out, static_cast<std::uint8_t>(c.sps[1]));        // AVCProfileIndication
  u8(out, static_cast<std::uint8_t>(c.sps[2]));        // profile_compatibility
  u8(out, static_cast<std::uint8_t>(c.sps[3]));        // AVCLevelIndication
  u8(out, 0xFF);                                       // lengthSizeMinusOne = 3
  u8(out, 0xE1);                                       // one SPS
  u16(out, static_cast<std::uint32_t>(c.sps.size()));  // its length and bytes
  out += c.sps;
  u8(out, 1);  // one PPS
  u16(out, static_cast<std::uint32_t>(c.pps.size()));
  out += c.pps;
  auto profile = static_cast<std::uint8_t>(c.sps[1]);
  if (profile == 100 || profile == 110 || profile == 122 || profile == 144) {
    // High profiles: the encoder makes 4:2:0 at 8 bits (h264_encoder.cpp), no SPS extensions.
    u8(out, 0xFC | 1);  // chroma_format 4:2:0
    u8(out, 0xF8 | 0);  // bit_depth_luma - 8
    u8(out, 0xF8 | 0);  // bit_depth_chroma - 8
    u8(out, 0);         // numOfSequenceParameterSetExt
  }
  return out;
}

std::string init_segment(const TrackConfig& c) {
  std::string out;
  box(out, "ftyp", [](std::string& o) {
    o += "iso6";
    u32(o, 0);
    o += "iso6cmfcisomavc1mp41";
  });
  box(out, "moov", [&](std::string& o) {
    full_box(o, "mvhd", 0, 0, [](std::string& b) {
      u32(b, 0);     // creation_time
      u32(b, 0);     // modification_time
      u32(b, 1000);  // timescale
      u32(b, 0);     // duration: unknown (fragmented)
      u32(b, 0x00010000);
      u16(b, 0x0100);
      zeros(b, 10);
      matrix(b);
      zeros(b, 24);
      u32(b, 2);  // next_track_ID
    });
    box(o, "trak", [&](std::string& t) {
      full_box(t, "tkhd", 0, 3, [&](std::string& b) {  // enabled, in movie
        u32(b, 0);
        u32(b, 0);
        u32(b, 1);  // track_ID
        u32(b, 0);
        u32(b, 0);  // duration
        zeros(b, 8);
        u16(b, 0);  // layer
        u16(b, 0);  // alternate_group
        u16(b, 0);  // volume
        u16(b, 0);
        matrix(b);
        u32(b, static_cast<std::uint32_t>(c.width) << 16);
        u32(b, static_cast<std::uint32_t>(c.height) << 16);
      });
      box(t, "mdia", [&](std::string& m) {
        full_box(m, "mdhd", 0, 0, [](std::string& b) {
          u32(b, 0);
          u32(b, 0);
          u32(b, kTimescale);
          u32(b, 0);
          u16(b, 0x55C4);  // language "und"
          u16(b, 0);
        });
        full_box(m, "hdlr", 0, 0, [](std::string& b) {
          u32(b, 0);
          b += "vide";
          zeros(b, 12);
          b.append("VideoHandler", 13);  // with its terminating NUL
        });
        box(m, "minf", [&](std::string& i) {
          full_box(i, "vmhd", 0, 1, [](std::string& b) { zeros(b, 8); });
          box(i, "dinf", [](std::string& d) {
            full_box(d, "dref", 0, 0, [](std::string& b) {
              u32(b, 1);
              full_box(b, "url ", 0, 1, [](std::string&) {});  // media in this file
            });
          });
          box(i, "stbl", [&](std::string& s) {
            full_box(s, "stsd", 0, 0, [&](std::string& b) {
              u32(b, 1);
              box(b, "avc1", [&](std::string& e) {
                zeros(e, 6);
                u16(e, 1);  // data_reference_index
                zeros(e, 16);
                u16(e, static_cast<std::uint32_t>(c.width));
                u16(e, static_cast<std::uint32_t>(c.height));
                u32(e, 0x00480000);  // 72 dpi
                u32(e, 0x00480000);
                u32(e, 0);
                u16(e, 1);       // frame_count
                zeros(e, 32);    // compressorname
                u16(e, 0x0018);  // depth
                u16(e, 0xFFFF);  // pre_defined = -1
                box(e, "avcC", [&](std::string& a) { a += avcc_record(c); });
              });
            });
            full_box(s, "stts", 0, 0, [](std::string& b) { u32(b, 0); });
            full_box(s, "stsc", 0, 0, [](std::string& b) { u32(b, 0); });
            full_box(s, "stsz", 0, 0, [](std::string& b) {
              u32(b, 0);
              u32(b, 0);
            });
            full_box(s, "stco", 0, 0, [](std::string& b) { u32(b, 0); });
          });
        });
      });
    });
    box(o, "mvex", [](std::string& m) {
      full_box(m, "trex", 0, 0, [](std::string& b) {
        u32(b, 1);  // track_ID
        u32(b, 1);  // default_sample_description_index
        u32(b, 0);
        u32(b, 0);
        u32(b, 0);
      });
    });
  });
  return out;
}

std::string fragment(std::uint32_t sequence, std::uint64_t decode_time,
                     const std::vector<Sample>& samples) {
  std::string out;
  std::size_t data_offset_at = 0;
  box(out, "moof", [&](std::string& m) {
    full_box(m, "mfhd", 0, 0, [&](std::string& b) { u32(b, sequence); });
    box(m, "traf", [&](std::string& t) {
      full_box(t, "tfhd", 0, 0x020000, [](std::string& b) { u32(b, 1); });  // default-base-is-moof
      full_box(t, "tfdt", 1, 0, [&](std::string& b) { u64(b, decode_time); });
      // data-offset, sample-duration, sample-size, sample-flags present
      full_box(t, "trun", 0, 0x000701, [&](std::string& b) {
        u32(b, static_cast<std::uint32_t>(samples.size()));
        data_offset_at = b.size();
        u32(b, 0);  // data_offset: set once moof's size is known
        for (const auto& s : samples) {
          u32(b, s.duration);
          u32(b, static_cast<std::uint32_t>(s.data.size()));
          u32(b, s.keyframe ? kKeySampleFlags : kDeltaSampleFlags);
        }
      });
    });
  });
  // The samples start right after moof and mdat's 8-byte header.
  auto offset = static_cast<std::uint32_t>(out.size() + 8);
  for (int i = 0; i < 4; ++i) {
    out[data_offset_at + i] = static_cast<char>((offset >> (24 - 8 * i)) & 0xFF);
  }
  box(out, "mdat", [&](std::string& d) {
    for (const auto& s : samples) d.append(s.data);
  });
  return out;
}

}  // namespace ds::video::fmp4
