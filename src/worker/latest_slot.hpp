// A one-value hand-off between a producer thread (a decoder) and a consumer (the sender's
// tick): put() replaces an untaken value (counted as dropped), take() empties the slot. The
// producer finish()es it, with a failure message when it ended on an error.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

namespace ds::worker {

class LatestSlot {
 public:
  // Stores `value`; an older value nobody took is thrown away. Ignored after finish().
  void put(std::string value) {
    std::lock_guard lock(mutex_);
    if (finished_) return;
    if (value_) ++dropped_;
    value_ = std::move(value);
    ++puts_;
  }

  // The newest value not yet taken, or nullopt when nothing new arrived since the last take().
  std::optional<std::string> take() {
    std::lock_guard lock(mutex_);
    std::optional<std::string> out = std::move(value_);
    value_.reset();
    return out;
  }

  // No value will be put any more; `failure` says why when it was not a normal end.
  void finish(std::string failure = {}) {
    std::lock_guard lock(mutex_);
    if (finished_) return;
    finished_ = true;
    failure_ = std::move(failure);
  }

  // Finished and the last value taken.
  bool exhausted() const {
    std::lock_guard lock(mutex_);
    return finished_ && !value_;
  }
  bool finished() const {
    std::lock_guard lock(mutex_);
    return finished_;
  }
  std::string failure() const {
    std::lock_guard lock(mutex_);
    return failure_;
  }
  std::int64_t dropped() const {
    std::lock_guard lock(mutex_);
    return dropped_;
  }
  std::int64_t puts() const {
    std::lock_guard lock(mutex_);
    return puts_;
  }

 private:
  mutable std::mutex mutex_;
  std::optional<std::string> value_;
  bool finished_ = false;
  std::string failure_;
  std::int64_t dropped_ = 0;
  std::int64_t puts_ = 0;
};

}  // namespace ds::worker
