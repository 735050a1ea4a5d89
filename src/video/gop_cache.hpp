// A stream's current GOP (group of pictures: its last keyframe and the units since), kept so a
// viewer who joins mid-GOP can decode at once instead of waiting for the next keyframe.
// Not thread-safe: its owner (live::VideoHub, per stream) holds it under its own lock.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "video/access_unit.hpp"

namespace ds::video {

using UnitPtr = std::shared_ptr<const AccessUnit>;

// A unit as one viewer gets it. decode_only: feed it to the decoder but do not show the
// picture (the catch-up units of a GOP that a joining viewer gets at once).
struct Delivery {
  UnitPtr unit;
  bool decode_only = false;
};

class GopCache {
 public:
  // At most `max_bytes` of units held; a GOP that grows past it is let go, and joiners wait
  // for the next keyframe.
  explicit GopCache(std::size_t max_bytes = 4 << 20) : max_bytes_(max_bytes) {}

  // The stream's next unit: a keyframe starts the GOP afresh; a delta joins the GOP held.
  void push(const UnitPtr& unit);

  // What a joining viewer gets first: the GOP so far from its keyframe, every unit but the
  // last decode-only. Empty when no whole GOP is held (none yet, or past max_bytes): the
  // viewer starts at the next keyframe.
  std::vector<Delivery> join() const;

  // Lets go of every unit (the stream ended, or nobody watches video any more).
  void clear();

  std::size_t bytes() const { return bytes_; }
  std::size_t units() const { return units_.size(); }

 private:
  std::size_t max_bytes_;
  std::vector<UnitPtr> units_;
  std::size_t bytes_ = 0;
};

}  // namespace ds::video
