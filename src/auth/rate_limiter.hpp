// Fixed-window event counters per key (account, client address, user), with an injected clock.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

#include "util/clock.hpp"
#include "util/shared_counters.hpp"

namespace ds::auth {

class RateLimiter {
 public:
  RateLimiter(const Clock& clock, int max_events, std::int64_t window_ms)
      : clock_(clock), max_events_(max_events), window_ms_(window_ms) {}

  // Takes one slot for key if the window has one left: the check and the count are one step,
  // so parallel callers can never take more than max_events slots between them.
  bool allow(const std::string& key);
  // Gives back one slot taken by allow() in the current window (e.g. an attempt that turned
  // out not to count, such as a correct password).
  void release(const std::string& key);
  void reset(const std::string& key);

  // From now on the counts live in counters (shared by every node), under scope + ":" + key;
  // when counters cannot answer, allow() counts here instead. Call before use; null: local.
  void share(SharedCounters* counters, std::string scope);

 private:
  struct Window {
    std::int64_t start_ms = 0;
    int count = 0;
  };
  Window& window_for(const std::string& key, std::int64_t now);
  void prune(std::int64_t now);
  // The shared store and the key in it; null when not shared.
  std::pair<SharedCounters*, std::string> shared_key_for(const std::string& key);

  const Clock& clock_;
  int max_events_;
  std::int64_t window_ms_;
  std::mutex mutex_;
  std::unordered_map<std::string, Window> windows_;
  std::int64_t last_prune_ms_ = 0;
  SharedCounters* shared_ = nullptr;  // guarded by mutex_
  std::string scope_;                 // guarded by mutex_
};

}  // namespace ds::auth
