#include "video/viewer_feed.hpp"

namespace ds::video {

void ViewerFeed::start(std::vector<Delivery> gop) {
  drop_all();
  waiting_for_keyframe_ = true;
  std::size_t bytes = 0;
  for (const Delivery& d : gop) bytes += d.unit ? d.unit->bytes() : 0;
  if (gop.empty() || !gop.front().unit || !gop.front().unit->keyframe ||
      gop.size() > limits_.max_units || bytes > limits_.max_bytes) {
    return;
  }
  waiting_for_keyframe_ = false;
  for (Delivery& d : gop) push(std::move(d));
}

Offered ViewerFeed::offer(const UnitPtr& unit) {
  if (!unit) return Offered::kSkipped;
  if (unit->keyframe) {
    bool replaced = !queue_.empty();
    drop_all();
    waiting_for_keyframe_ = false;
    push({unit, false});
    return replaced ? Offered::kCaughtUp : Offered::kQueued;
  }
  if (waiting_for_keyframe_) {
    ++dropped_;
    return Offered::kSkipped;
  }
  if (queue_.size() + 1 > limits_.max_units || bytes_ + unit->bytes() > limits_.max_bytes) {
    drop_all();
    ++dropped_;
    waiting_for_keyframe_ = true;
    return Offered::kFellBehind;
  }
  push({unit, false});
  return Offered::kQueued;
}

std::optional<Delivery> ViewerFeed::next() {
  if (queue_.empty()) return std::nullopt;
  Delivery d = std::move(queue_.front());
  queue_.pop_front();
  bytes_ -= d.unit->bytes();
  return d;
}

void ViewerFeed::drop_all() {
  dropped_ += static_cast<std::int64_t>(queue_.size());
  queue_.clear();
  bytes_ = 0;
}

void ViewerFeed::push(Delivery d) {
  bytes_ += d.unit->bytes();
  queue_.push_back(std::move(d));
}

}  // namespace ds::video
