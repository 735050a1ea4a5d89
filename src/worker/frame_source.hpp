// Where `dreamstream push` gets its camera frames: a folder of JPEGs, an MJPEG pipe, or
// anything libavformat reads (worker/av_source.hpp).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "util/expected.hpp"

namespace ds::worker {

class FrameSource {
 public:
  virtual ~FrameSource() = default;
  // The newest frame not yet taken, or nullopt when none is ready right now.
  virtual std::optional<std::string> take() = 0;
  // True once no frame will ever come again.
  virtual bool exhausted() const = 0;
  // Frames the source threw away because a newer one arrived before take().
  virtual std::int64_t dropped() const { return 0; }
  // Once exhausted: why the input ended early (a read or decode error), empty when it simply
  // ended. `dreamstream push` exits with PushResult::kExitInputFailed when it is not empty.
  virtual std::string failure() const { return {}; }
};

// The folder's *.jpg / *.jpeg files (any case) in name order, one per take(); from the start
// again when `loop`. Files that are unreadable or not JPEGs are skipped with a warning.
// An error when the folder cannot be listed or holds no such file.
Expected<std::unique_ptr<FrameSource>> make_directory_source(const std::string& dir, bool loop);

// Reads concatenated JPEGs (ffmpeg `-f mjpeg -`) from `fd` on a background thread; only the
// newest complete frame is kept (a live camera must never be queued behind). Exhausted at end
// of input. The fd is not closed.
std::unique_ptr<FrameSource> make_mjpeg_source(int fd);

}  // namespace ds::worker
