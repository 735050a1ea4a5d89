// What one viewer of a stream's video still has to be sent, and the rule for a viewer that
// falls behind: latest wins, at GOP granularity. A delta can only follow what came before it,
// so pictures cannot be dropped one by one as on the JPEG path; instead a keyframe supersedes
// everything still waiting, and a viewer whose waiting units pass the bound loses them all and
// skips to the next keyframe. Pure: no threads, no clock; its owner (the viewer's socket)
// holds it under its own lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "video/gop_cache.hpp"

namespace ds::video {

struct FeedLimits {
  std::size_t max_units = 60;        // waiting units (2 s at 30 fps)
  std::size_t max_bytes = 4u << 20;  // waiting bytes
};

enum class Offered {
  kQueued,      // waits to be written
  kSkipped,     // a delta while the viewer waits for a keyframe: not sent
  kCaughtUp,    // a keyframe that replaced units still waiting (they are dropped)
  kFellBehind,  // past the bound: everything waiting dropped, the viewer waits for a keyframe
};

class ViewerFeed {
 public:
  explicit ViewerFeed(FeedLimits limits = {}) : limits_(limits) {}

  // A viewer's start: the GOP cache's join(). Empty (or past the bound): the viewer waits for
  // the next keyframe.
  void start(std::vector<Delivery> gop);

  // The stream's next unit.
  Offered offer(const UnitPtr& unit);

  // The next unit to write, oldest first; nullopt when nothing waits.
  std::optional<Delivery> next();

  bool waiting_for_keyframe() const { return waiting_for_keyframe_; }
  std::size_t queued_units() const { return queue_.size(); }
  std::size_t queued_bytes() const { return bytes_; }
  std::int64_t dropped() const { return dropped_; }  // units never sent (dropped or skipped)

 private:
  void drop_all();
  void push(Delivery d);

  FeedLimits limits_;
  std::deque<Delivery> queue_;
  std::size_t bytes_ = 0;
  bool waiting_for_keyframe_ = true;
  std::int64_t dropped_ = 0;
};

}  // namespace ds::video
