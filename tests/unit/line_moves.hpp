// Records the line-state moves of a push or worker client (worker/line_state.hpp), made on the
// client's thread, for a test to wait on and compare.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <ostream>
#include <vector>

#include "worker/line_state.hpp"

namespace ds::worker {

// gtest prints a LineState by name.
inline void PrintTo(LineState s, std::ostream* os) { *os << to_string(s); }

namespace testing {

class LineMoves {
 public:
  // For PushOptions::on_line_state / WorkerOptions::on_line_state.
  std::function<void(LineState, LineState)> observer() {
    return [this](LineState, LineState to) {
      std::lock_guard lock(mutex_);
      states_.push_back(to);
      changed_.notify_all();
    };
  }
  // The states entered so far, in order.
  std::vector<LineState> seen() {
    std::lock_guard lock(mutex_);
    return states_;
  }
  // Waits until `s` has been entered `times` times.
  bool wait_for(LineState s, int times = 1,
                std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(
        lock, limit, [&] { return std::count(states_.begin(), states_.end(), s) >= times; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<LineState> states_;
};

}  // namespace testing
}  // namespace ds::worker
