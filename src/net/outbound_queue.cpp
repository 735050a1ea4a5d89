#include "net/outbound_queue.hpp"

#include <utility>

namespace ds::net {

namespace {

// Messages and bytes of an ordered group, as the budget counts them.
std::pair<std::size_t, std::size_t> weight(const live::Bytes& text,
                                           const std::vector<live::Bytes>& binaries) {
  std::size_t messages = text ? 1 : 0;
  std::size_t bytes = text ? text->size() : 0;
  for (const auto& b : binaries) {
    messages++;
    bytes += b ? b->size() : 0;
  }
  return {messages, bytes};
}

}  // namespace

bool OutboundQueue::push_frame(live::Bytes meta, live::Bytes jpeg) {
  std::optional<Frame> dropped;  // released outside the lock
  std::lock_guard lock(frame_mutex_);
  if (frames_refused_ || video_started_) return false;
  dropped = std::move(latest_);
  latest_.emplace(Frame{std::move(meta), std::move(jpeg)});  // latest wins
  return wake_locked();
}

bool OutboundQueue::wake_locked() {
  bool wake = !wake_pending_;
  wake_pending_ = true;
  return wake;
}

bool OutboundQueue::start_video(std::vector<video::Delivery> gop, video::FeedLimits limits) {
  std::optional<Frame> dropped;  // released outside the lock
  std::lock_guard lock(frame_mutex_);
  if (frames_refused_) return false;
  video_.emplace(limits);
  video_->start(std::move(gop));
  if (video_->queued_units() == 0) return false;
  video_started_ = true;
  dropped = std::move(latest_);
  latest_.reset();
  return wake_locked();
}

bool OutboundQueue::push_video(const video::UnitPtr& unit) {
  std::optional<Frame> dropped;  // released outside the lock
  std::lock_guard lock(frame_mutex_);
  if (frames_refused_ || !video_) return false;
  auto offered = video_->offer(unit);
  if (offered == video::Offered::kSkipped || offered == video::Offered::kFellBehind) return false;
  video_started_ = true;
  dropped = std::move(latest_);
  latest_.reset();
  return wake_locked();
}

std::int64_t OutboundQueue::video_dropped() const {
  std::lock_guard lock(frame_mutex_);
  return video_ ? video_->dropped() : 0;
}

std::optional<video::Delivery> OutboundQueue::take_video() {
  std::lock_guard lock(frame_mutex_);
  if (!video_) return std::nullopt;
  return video_->next();
}

void OutboundQueue::take_wake() {
  std::lock_guard lock(frame_mutex_);
  wake_pending_ = false;
}

bool OutboundQueue::admit_ordered(const live::Bytes& text,
                                  const std::vector<live::Bytes>& binaries) {
  auto [messages, bytes] = weight(text, binaries);
  return budget_.add(messages, bytes);
}

bool OutboundQueue::push_text(live::Bytes text) {
  if (cleared_ || close_) return false;
  if (texts_.size() >= max_texts_) texts_.pop_front();
  texts_.push_back(std::move(text));
  return true;
}

bool OutboundQueue::push_ordered(live::Bytes text, std::vector<live::Bytes> binaries) {
  if (cleared_ || close_ || (!text && binaries.empty())) {
    auto [messages, bytes] = weight(text, binaries);
    budget_.release(messages, bytes);
    return false;
  }
  groups_.push_back(Group{std::move(text), std::move(binaries)});
  return true;
}

bool OutboundQueue::close(int code, std::string reason) {
  if (cleared_ || close_) return false;
  close_.emplace(code, std::move(reason));
  release_ordered();
  drop_frame();
  return true;
}

void OutboundQueue::release_ordered() {
  for (const auto& g : groups_) {
    auto [messages, bytes] = weight(g.text, g.binaries);
    budget_.release(messages, bytes);
  }
  groups_.clear();
  for (const auto& b : tail_) budget_.release(1, b ? b->size() : 0);
  tail_.clear();
}

std::optional<OutboundQueue::Frame> OutboundQueue::take_frame() {
  std::lock_guard lock(frame_mutex_);
  std::optional<Frame> f = std::move(latest_);
  latest_.reset();
  return f;
}

void OutboundQueue::drop_frame() {
  std::optional<Frame> dropped;  // released outside the lock
  std::lock_guard lock(frame_mutex_);
  frames_refused_ = true;
  dropped = std::move(latest_);
  latest_.reset();
  video_.reset();
}

const OutboundQueue::Write* OutboundQueue::next() {
  if (in_flight_ || close_taken_) return nullptr;
  Write w;
  if (!tail_.empty()) {
    w = Write{Write::Kind::kBinary, std::move(tail_.front())};
    w.counted = true;
    tail_.pop_front();
  } else if (frame_jpeg_) {
    w = Write{Write::Kind::kBinary, std::move(frame_jpeg_)};
  } else if (!texts_.empty()) {
    w = Write{Write::Kind::kText, std::move(texts_.front())};
    texts_.pop_front();
  } else if (!groups_.empty()) {
    auto g = std::move(groups_.front());
    groups_.pop_front();
    for (auto& b : g.binaries) tail_.push_back(std::move(b));
    if (g.text) {
      w = Write{Write::Kind::kText, std::move(g.text)};
    } else {
      w = Write{Write::Kind::kBinary, std::move(tail_.front())};
      tail_.pop_front();
    }
    w.counted = true;
  } else if (close_) {
    w.kind = Write::Kind::kClose;
    close_taken_ = true;
  } else if (auto v = take_video()) {
    const auto& header = v->decode_only ? v->unit->header_decode_only : v->unit->header;
    // The unit's bytes, shared by every viewer (an alias of the unit, which they live in).
    live::Bytes payload(v->unit, &v->unit->data);
    w = Write{Write::Kind::kFrame, header, std::move(payload)};
  } else if (auto f = take_frame()) {
    if (inline_frames_) {
      w = Write{Write::Kind::kFrame, std::move(f->meta), std::move(f->jpeg)};
    } else if (f->meta) {
      w = Write{Write::Kind::kText, std::move(f->meta)};
      frame_jpeg_ = std::move(f->jpeg);
    } else {
      w = Write{Write::Kind::kBinary, std::move(f->jpeg)};
    }
  } else {
    return nullptr;
  }
  in_flight_ = std::move(w);
  return &*in_flight_;
}

void OutboundQueue::written() {
  if (in_flight_ && in_flight_->counted) {
    budget_.release(1, in_flight_->data ? in_flight_->data->size() : 0);
  }
  in_flight_.reset();
}

void OutboundQueue::clear() {
  cleared_ = true;
  texts_.clear();
  release_ordered();
  frame_jpeg_.reset();
  drop_frame();
}

}  // namespace ds::net
