#include "video/gop_cache.hpp"

namespace ds::video {

void GopCache::push(const UnitPtr& unit) {
  if (!unit) return;
  if (unit->keyframe) {
    clear();
  } else if (units_.empty()) {
    return;  // no keyframe held: a delta alone decodes to nothing
  }
  if (bytes_ + unit->bytes() > max_bytes_) {
    clear();  // an incomplete GOP is no use: hold nothing until the next keyframe
    return;
  }
  units_.push_back(unit);
  bytes_ += unit->bytes();
}

std::vector<Delivery> GopCache::join() const {
  std::vector<Delivery> out;
  out.reserve(units_.size());
  for (std::size_t i = 0; i < units_.size(); ++i) {
    out.push_back({units_[i], i + 1 < units_.size()});
  }
  return out;
}

void GopCache::clear() {
  units_.clear();
  units_.shrink_to_fit();
  bytes_ = 0;
}

}  // namespace ds::video
