#include "cluster/redis_counters.hpp"

namespace ds::cluster {

namespace {

// One step, so parallel takers on any node never exceed max between them. The window starts
// with its first event; a counter left without expiry (should PEXPIRE ever fail) gets one.
constexpr const char* kTakeScript = R"lua(
local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if n > tonumber(ARGV[1]) then
  redis.call('DECR', KEYS[1])
  return 0
end
return 1
)lua";

// Never below zero, and never creates a counter (which would have no expiry).
constexpr const char* kGiveBackScript = R"lua(
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then
  return redis.call('DECR', KEYS[1])
end
return 0
)lua";

}  // namespace

RedisCounters::RedisCounters(RedisLink& link)
    : link_(link), take_(kTakeScript), give_back_(kGiveBackScript) {}

std::optional<bool> RedisCounters::take(const std::string& key, int max_events,
                                        std::int64_t window_ms) {
  auto reply = link_.call_eval(take_, {kPrefix + key},
                               {std::to_string(max_events), std::to_string(window_ms)}, kTimeout);
  if (!reply || reply->type != Reply::Type::kInteger) return std::nullopt;
  return reply->integer == 1;
}

void RedisCounters::give_back(const std::string& key) {
  link_.eval(give_back_, {kPrefix + key}, {});
}

void RedisCounters::reset(const std::string& key) { link_.command({"DEL", kPrefix + key}); }

}  // namespace ds::cluster
