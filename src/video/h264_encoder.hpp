// One stream's H.264 encoder: processed JPEG pictures in, Annex-B access units out
// (libavcodec's MJPEG decoder, swscale to YUV 4:2:0, libx264).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "util/expected.hpp"
#include "video/access_unit.hpp"
#include "video/keyframe_policy.hpp"

namespace ds::video {

enum class H264Profile {
  kConstrainedBaseline,  // no CABAC, no 8x8 transform: every decoder, hardware ones included
  kHigh,                 // CABAC and 8x8 transform, still no B-frames: fewer bytes
};

struct EncoderSettings {
  H264Profile profile = H264Profile::kHigh;
  // Constant quality (x264 CRF, 0..51, lower is better); the bitrate cap below bounds it.
  int crf = 23;
  // The cap (VBV maxrate) in kbit/s and its buffer in ms of that rate; 0: no cap.
  int max_kbps = 3000;
  int buffer_ms = 1000;
  std::string preset = "veryfast";  // x264 speed/size trade-off
  KeyframeRules keyframes;
  // The rate the level is chosen for (x264 derives the level from it); timestamps stay the
  // pictures' own whatever it is.
  int nominal_fps = 30;
  int max_side = 4096;  // a picture wider or taller than this is refused
  int threads = 1;      // x264 threads per encoder (its CPU bound)
};

// kInvalid with code "bad_settings" and the reason, or Ok.
Expected<Ok> check_settings(const EncoderSettings& settings);

// Not thread-safe: one thread at a time (EncoderRunner gives each stream's encoder to one
// thread at a time).
class H264Encoder {
 public:
  // The settings must pass check_settings (a programmer error otherwise: throws
  // std::invalid_argument).
  explicit H264Encoder(EncoderSettings settings = {});
  ~H264Encoder();
  H264Encoder(const H264Encoder&) = delete;
  H264Encoder& operator=(const H264Encoder&) = delete;

  // Decodes the JPEG taken at `pts_ms` (milliseconds on any clock, rising from picture to
  // picture) and encodes it: exactly one access unit per picture (zero-latency, no lookahead,
  // no B-frames). The picture is scaled to even sides (H.264 4:2:0) when one is odd. A size
  // other than the previous picture's opens a new encoder: that unit is a keyframe with the
  // new SPS. Errors change nothing: "bad_jpeg" (it does not decode), "stale_timestamp" (not
  // after the previous picture's), "too_large" (a side over max_side), "encode_failed".
  Expected<AccessUnit> encode_jpeg(std::string_view jpeg, std::int64_t pts_ms);

  // The next picture starts a fresh encoder (a keyframe), at any timestamp.
  void reset();

  int width() const;  // of the encoder now open; 0 before the first picture
  int height() const;
  std::int64_t opens() const;  // encoders opened so far (the first picture and each new size)

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ds::video
