// Fragmented MP4 (ISO BMFF, CMAF-shaped) for one H.264 track: the init segment (ftyp + moov
// with the avcC made from the stream's SPS and PPS) and media fragments (moof + mdat), written
// byte by byte. Pure functions, no libavformat: the boxes a single video track needs are few and
// fixed, so writing them is shorter than driving the mp4 muxer through an in-memory AVIOContext,
// and it knows exactly where each fragment starts (an HLS part is one fragment).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ds::video::fmp4 {

// Media time units per second of the track (the MPEG 90 kHz clock).
inline constexpr std::uint32_t kTimescale = 90'000;

struct TrackConfig {
  std::string sps;  // one SPS NAL unit, header byte first, no start code
  std::string pps;  // one PPS NAL unit
  int width = 0;
  int height = 0;
};

// The SPS and PPS of an Annex-B keyframe and its size; nullopt when either is missing.
std::optional<TrackConfig> track_config(std::string_view annexb, int width, int height);

// An Annex-B access unit as an MP4 sample: each NAL unit after a 4-byte big-endian length. The
// parameter sets (they are in the init segment) and access unit delimiters are left out, so
// only the picture's own NAL units remain; empty when there are none.
std::string sample_from_annexb(std::string_view annexb);

// The AVCDecoderConfigurationRecord (the avcC box's payload) of config.
std::string avcc_record(const TrackConfig& config);

// ftyp + moov for track 1 (no samples: every sample is in a fragment).
std::string init_segment(const TrackConfig& config);

struct Sample {
  std::string_view data;  // as sample_from_annexb made it
  std::uint32_t duration = 0;
  bool keyframe = false;
};

// One fragment: moof (mfhd with `sequence`, traf with tfhd, tfdt at `decode_time` and one trun)
// and the mdat with the samples. `samples` must not be empty.
std::string fragment(std::uint32_t sequence, std::uint64_t decode_time,
                     const std::vector<Sample>& samples);

}  // namespace ds::video::fmp4
