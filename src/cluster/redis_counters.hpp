// SharedCounters kept in Redis, so a rate limit holds across every node: fixed windows as
// counters under ds:rl:<key> that expire with their window.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "cluster/redis_link.hpp"
#include "util/shared_counters.hpp"

namespace ds::cluster {

class RedisCounters : public SharedCounters {
 public:
  static constexpr std::chrono::milliseconds kTimeout{250};
  static constexpr const char* kPrefix = "ds:rl:";

  explicit RedisCounters(RedisLink& link);

  // Waits up to kTimeout for Redis; nullopt when it is away or slow.
  std::optional<bool> take(const std::string& key, int max_events, std::int64_t window_ms) override;
  // Neither waits: sent in order on the link, so a later take on it sees them.
  void give_back(const std::string& key) override;
  void reset(const std::string& key) override;

 private:
  RedisLink& link_;
  Script take_;
  Script give_back_;
};

}  // namespace ds::cluster
