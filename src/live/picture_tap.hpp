// Something beside the viewers that takes a stream's processed pictures as they are shown
// (the H.264 encoders of live/video_hub.hpp). The hub calls it after a picture's JPEG fan-out,
// under the channel's delivery gate, so pictures reach it in the order viewers got them.
// Header only: the hub knows no more of video than this.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "live/protocol.hpp"

namespace ds::live {

struct ShownPicture {
  const std::string& username;
  long long session_id = 0;
  std::uint64_t seq = 0;
  std::int64_t captured_ms = 0;
  std::int64_t processed_ms = 0;
  const Bytes& jpeg;
};

// Where a session's media (HLS) numbering and timeline stand on its home, for a new home to go on
// from when the stream moves: media numbers that only rise across homes (a cache in front never
// gets two answers for one URI) on the same timeline.
struct MediaContinuation {
  std::int64_t next_msn = 0;   // the first number the new home may use
  std::int64_t origin_ms = 0;  // the timeline's zero (epoch ms)
};

class PictureTap {
 public:
  virtual ~PictureTap() = default;
  // Must not block: called on the thread that fans the picture out, under its gate.
  virtual void picture(const ShownPicture& p) = 0;
  // The stream homed here ended (its viewers stay, for the next one).
  virtual void stream_ended(const std::string& username) = 0;
  // A move (called with no hub lock held): where username's session_id stands here (nullopt:
  // no media of it here), and on the new home, where it goes on from.
  virtual std::optional<MediaContinuation> media_continuation(const std::string&, long long) {
    return std::nullopt;
  }
  virtual void continue_media(const std::string&, long long, const MediaContinuation&) {}
};

}  // namespace ds::live
