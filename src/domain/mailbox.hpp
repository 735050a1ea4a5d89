// The one-slot frame mailbox (docs/architecture.md, "Latest frame wins"): a newer frame
// replaces an unprocessed one; nothing queues.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace ds::domain {

struct Frame {
  std::uint64_t seq = 0;
  std::int64_t captured_ms = 0;  // server arrival time
  std::shared_ptr<const std::string> jpeg;
};

class FrameMailbox {
 public:
  // Returns true when an unprocessed frame was dropped to make room.
  bool put(Frame frame) {
    bool dropped = slot_.has_value();
    if (dropped) ++dropped_;
    slot_ = std::move(frame);
    return dropped;
  }
  std::optional<Frame> take() {
    auto out = std::move(slot_);
    slot_.reset();
    return out;
  }
  bool has_frame() const { return slot_.has_value(); }
  std::uint64_t dropped() const { return dropped_; }

 private:
  std::optional<Frame> slot_;
  std::uint64_t dropped_ = 0;
};

}  // namespace ds::domain
