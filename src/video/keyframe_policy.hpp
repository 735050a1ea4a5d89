// When the encoder must start a new GOP: the pure rule, on picture timestamps only.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace ds::video {

struct KeyframeRules {
  // A keyframe at least this often, so a joining viewer never waits longer for a clean start
  // and the GOP cache never holds more than this much video.
  std::chrono::milliseconds max_interval{2000};
  // A picture this long after the previous one is a keyframe: below 1 fps every picture is
  // one (a 5 s model sends only keyframes), so a viewer who joins gets a whole picture, not
  // a delta against one seconds old.
  std::chrono::milliseconds slow_gap{1000};
};

class KeyframePolicy {
 public:
  explicit KeyframePolicy(KeyframeRules rules = {}) : rules_(rules) {}

  // Whether the picture at `pts_ms` must be a keyframe.
  bool wants_keyframe(std::int64_t pts_ms) const {
    if (!last_key_ || !last_picture_) return true;
    return pts_ms - *last_key_ >= rules_.max_interval.count() ||
           pts_ms - *last_picture_ >= rules_.slow_gap.count();
  }

  // The picture at `pts_ms` was encoded, as a keyframe or not (the encoder may add its own).
  void encoded(std::int64_t pts_ms, bool keyframe) {
    last_picture_ = pts_ms;
    if (keyframe) last_key_ = pts_ms;
  }

  // Forget the past: the next picture is a keyframe (a new encoder, a new size).
  void reset() {
    last_key_.reset();
    last_picture_.reset();
  }

 private:
  KeyframeRules rules_;
  std::optional<std::int64_t> last_key_;
  std::optional<std::int64_t> last_picture_;
};

}  // namespace ds::video
