#include "video/hls_segmenter.hpp"

#include <algorithm>

namespace ds::video {

namespace {

constexpr std::int64_t kTicksPerMs = fmp4::kTimescale / 1000;

bool same_track(const fmp4::TrackConfig& a, const fmp4::TrackConfig& b) {
  return a.sps == b.sps && a.pps == b.pps && a.width == b.width && a.height == b.height;
}

}  // namespace

HlsSegmenter::HlsSegmenter(HlsConfig config, std::int64_t first_msn, std::int64_t time_origin_ms)
    : config_(config),
      next_msn_(first_msn),
      origin_ms_(time_origin_ms),
      target_duration_s_(std::max<std::int64_t>(1, config.target_duration_s)),
      part_target_(config.part_target_ms * kTicksPerMs) {}

bool HlsSegmenter::push(const AccessUnit& unit) {
  if (ended_) return false;
  bool open = !segments_.empty() && !segments_.back().complete;
  if (!open && !unit.keyframe) return false;  // a decoder starts at a keyframe
  if (pending_ && unit.pts_ms <= pending_->pts_ms) return false;
  auto sample = fmp4::sample_from_annexb(unit.data);
  if (sample.empty()) return false;
  std::optional<fmp4::TrackConfig> config;
  if (unit.keyframe) config = fmp4::track_config(unit.data, unit.width, unit.height);
  if (!open && !config && !track_) return false;  // nothing to make an init segment of

  auto before = changes_;
  if (pending_) {
    auto duration = (unit.pts_ms - pending_->pts_ms) * kTicksPerMs;
    add_sample(std::move(*pending_), duration);
    pending_.reset();
  }
  bool new_init = config && (!track_ || !same_track(*config, *track_));
  bool cut = unit.keyframe &&
             (!open || new_init || open_duration() >= config_.min_segment_ms * kTicksPerMs);
  if (cut) {
    close_part();
    if (open) close_segment();
    if (new_init) track_ = config;
    open_segment(unit, new_init);
  }
  pending_ = Pending{std::move(sample), unit.pts_ms, unit.keyframe};
  trim();
  return changes_ != before;
}

bool HlsSegmenter::finish() {
  if (ended_) return false;
  ended_ = true;
  if (segments_.empty() || segments_.back().complete) return false;
  if (pending_) {
    auto duration = last_duration_ > 0 ? last_duration_ : config_.part_target_ms * kTicksPerMs;
    add_sample(std::move(*pending_), duration);
    pending_.reset();
  }
  close_part();
  if (segments_.back().parts.empty()) {
    segments_.pop_back();  // a segment with no picture in it
  } else {
    close_segment();
  }
  trim();
  return true;
}

void HlsSegmenter::add_sample(Pending&& p, std::int64_t duration) {
  duration = std::max<std::int64_t>(duration, 1);
  last_duration_ = duration;
  auto target = config_.part_target_ms * kTicksPerMs;
  // A part never passes its target when it can help it: the sample goes into the next part.
  if (!part_.empty() && part_duration_ + duration > target) close_part();
  if (part_.empty()) part_start_ms_ = p.pts_ms;
  part_.push_back({std::move(p.sample), static_cast<std::uint32_t>(duration), p.keyframe});
  part_duration_ += duration;
  if (part_duration_ >= target) close_part();
}

void HlsSegmenter::close_part() {
  if (part_.empty() || segments_.empty()) return;
  std::vector<fmp4::Sample> samples;
  samples.reserve(part_.size());
  for (const auto& s : part_) samples.push_back({s.data, s.duration, s.keyframe});
  auto decode_time = static_cast<std::uint64_t>(
      std::max<std::int64_t>(0, part_start_ms_ - origin_ms_) * kTicksPerMs);
  HlsPart part;
  part.bytes =
      std::make_shared<const std::string>(fmp4::fragment(fragment_seq_++, decode_time, samples));
  part.duration = part_duration_;
  part.independent = part_.front().keyframe;
  part_target_ = std::max(part_target_, part_duration_);
  auto& seg = segments_.back();
  seg.duration += part_duration_;
  seg.parts.push_back(std::move(part));
  ++changes_;
  part_.clear();
  part_duration_ = 0;
}

void HlsSegmenter::close_segment() {
  auto& seg = segments_.back();
  std::string all;
  for (const auto& p : seg.parts) all += *p.bytes;
  seg.bytes = std::make_shared<const std::string>(std::move(all));
  seg.complete = true;
  ++changes_;
  auto rounded = (seg.duration + fmp4::kTimescale / 2) / fmp4::kTimescale;
  target_duration_s_ = std::max(target_duration_s_, rounded);
}

void HlsSegmenter::open_segment(const AccessUnit& unit, bool new_init) {
  HlsSegment seg;
  seg.msn = next_msn_++;
  if (new_init) {
    seg.discontinuity = init_msn_ >= 0;
    init_msn_ = seg.msn;
    inits_[seg.msn] = std::make_shared<const std::string>(fmp4::init_segment(*track_));
  }
  seg.init_msn = init_msn_;
  seg.start_ms = unit.pts_ms;
  segments_.push_back(std::move(seg));
  ++changes_;  // the preload hint moves to it
}

void HlsSegmenter::trim() {
  std::size_t complete = 0;
  for (const auto& s : segments_) complete += s.complete ? 1 : 0;
  while (complete > config_.window_segments && !segments_.empty() && segments_.front().complete) {
    segments_.pop_front();
    --complete;
  }
  if (!segments_.empty()) {
    // The first segment of the window no longer starts after a cut the player could see.
    segments_.front().discontinuity = false;
  }
  // Parts are for the live edge only; an older segment is fetched whole.
  std::size_t keep = 0;
  for (auto it = segments_.rbegin(); it != segments_.rend(); ++it) {
    if (keep++ < config_.part_segments || !it->complete) continue;
    for (auto& p : it->parts) p.bytes.reset();
  }
  auto first_init = segments_.empty() ? init_msn_ : segments_.front().init_msn;
  while (!inits_.empty() && inits_.begin()->first < first_init) inits_.erase(inits_.begin());
}

std::int64_t HlsSegmenter::open_duration() const {
  if (segments_.empty() || segments_.back().complete) return 0;
  return segments_.back().duration + part_duration_;
}

const HlsSegment* HlsSegmenter::segment(std::int64_t msn) const {
  if (segments_.empty()) return nullptr;
  auto first = segments_.front().msn;
  if (msn < first || msn > segments_.back().msn) return nullptr;
  return &segments_[static_cast<std::size_t>(msn - first)];
}

std::shared_ptr<const std::string> HlsSegmenter::init(std::int64_t init_msn) const {
  auto it = inits_.find(init_msn);
  return it == inits_.end() ? nullptr : it->second;
}

std::pair<std::int64_t, int> HlsSegmenter::next_part() const {
  if (segments_.empty() || segments_.back().complete) return {next_msn_, 0};
  return {segments_.back().msn, static_cast<int>(segments_.back().parts.size())};
}

bool HlsSegmenter::has_part(std::int64_t msn, int part) const {
  if (segments_.empty()) return false;
  if (msn < segments_.front().msn) return true;
  const auto* seg = segment(msn);
  if (!seg) return false;
  if (part < static_cast<int>(seg->parts.size())) return true;
  return seg->complete && has_part(msn + 1, 0);
}

bool HlsSegmenter::has_segment(std::int64_t msn) const {
  if (segments_.empty()) return false;
  if (msn < segments_.front().msn) return true;
  const auto* seg = segment(msn);
  return seg && seg->complete;
}

std::optional<std::int64_t> HlsSegmenter::last_complete() const {
  for (auto it = segments_.rbegin(); it != segments_.rend(); ++it) {
    if (it->complete) return it->msn;
  }
  return std::nullopt;
}

std::size_t HlsSegmenter::bytes() const {
  std::size_t n = 0;
  for (const auto& s : segments_) {
    if (s.bytes) n += s.bytes->size();
    for (const auto& p : s.parts) n += p.bytes ? p.bytes->size() : 0;
  }
  for (const auto& [msn, init] : inits_) n += init->size();
  for (const auto& s : part_) n += s.data.size();
  if (pending_) n += pending_->sample.size();
  return n;
}

}  // namespace ds::video
