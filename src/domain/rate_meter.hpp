// A per-second rate measured between samples of a growing counter (frames in, frames out).
// Pure: the caller supplies the time and the counter.
#pragma once

#include <cstdint>

namespace ds::domain {

class RateMeter {
 public:
  explicit RateMeter(std::int64_t start_ms = 0) : at_ms_(start_ms) {}

  // Takes a sample and returns the rate since the previous one. When no time has passed the
  // previous rate stands (a division by zero would say nothing useful).
  double sample(std::int64_t now_ms, std::uint64_t count) {
    double seconds = static_cast<double>(now_ms - at_ms_) / 1000.0;
    if (seconds > 0) rate_ = static_cast<double>(count - count_) / seconds;
    at_ms_ = now_ms;
    count_ = count;
    return rate_;
  }

  double rate() const { return rate_; }

 private:
  std::int64_t at_ms_ = 0;
  std::uint64_t count_ = 0;
  double rate_ = 0;
};

}  // namespace ds::domain
