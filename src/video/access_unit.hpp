// One encoded picture of a stream's H.264 video, as the encoder hands it to the fan-out.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace ds::video {

// An access unit in Annex-B form: NAL units each after a 00 00 00 01 start code, so units
// concatenated are a raw .h264 stream that ffmpeg reads, and WebCodecs decodes them with no
// `description` in its config (the AVC registration takes Annex-B then). Every keyframe is an
// IDR that carries its SPS and PPS in front (x264's repeat-headers), so a decoder can start at
// any keyframe; no unit depends on a later one (no B-frames), so decode order is display order.
struct AccessUnit {
  std::string data;
  std::int64_t pts_ms = 0;  // the picture's own timestamp (capture or arrival), unchanged
  bool keyframe = false;    // an IDR: decoding may start here
  bool config = false;      // carries SPS + PPS (true on every keyframe)
  int width = 0;            // the coded picture size
  int height = 0;
  std::string codec;  // "avc1.PPCCLL" from the SPS that this unit decodes with
  // What a fan-out puts in front of the unit on its wire, made once for every viewer (the
  // live layer's video message header, shown and decode-only); null from the encoder.
  std::shared_ptr<const std::string> header;
  std::shared_ptr<const std::string> header_decode_only;

  std::size_t bytes() const { return data.size(); }
};

}  // namespace ds::video
