// Event counters kept outside this process (Redis, across nodes), so a rate limit holds for the
// whole cluster: a client cannot multiply its allowance by spreading requests over nodes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace ds {

class SharedCounters {
 public:
  virtual ~SharedCounters() = default;
  // Takes one of max_events slots of key's fixed window of window_ms (the window starts with
  // its first event). True: taken; false: none left; nullopt: the shared store is unreachable
  // (the caller falls back to counting on its own).
  virtual std::optional<bool> take(const std::string& key, int max_events,
                                   std::int64_t window_ms) = 0;
  // Gives back one slot taken in the current window.
  virtual void give_back(const std::string& key) = 0;
  virtual void reset(const std::string& key) = 0;
};

}  // namespace ds
