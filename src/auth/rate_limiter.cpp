#include "auth/rate_limiter.hpp"

#include <utility>

namespace ds::auth {

RateLimiter::Window& RateLimiter::window_for(const std::string& key, std::int64_t now) {
  auto& w = windows_[key];
  if (now - w.start_ms >= window_ms_) {
    w.start_ms = now;
    w.count = 0;
  }
  return w;
}

void RateLimiter::prune(std::int64_t now) {
  // Bounded memory: expired windows are dropped at most once per window length.
  if (now - last_prune_ms_ < window_ms_) return;
  last_prune_ms_ = now;
  std::erase_if(windows_, [&](const auto& kv) { return now - kv.second.start_ms >= window_ms_; });
}

void RateLimiter::share(SharedCounters* counters, std::string scope) {
  std::lock_guard lock(mutex_);
  shared_ = counters;
  scope_ = std::move(scope);
}

bool RateLimiter::allow(const std::string& key) {
  if (auto [shared, shared_key] = shared_key_for(key); shared) {
    // Outside the lock: the shared store is a network round trip away.
    if (auto taken = shared->take(shared_key, max_events_, window_ms_)) return *taken;
  }
  std::lock_guard lock(mutex_);
  auto now = clock_.now_ms();
  prune(now);
  auto& w = window_for(key, now);
  if (w.count >= max_events_) return false;
  w.count++;
  return true;
}

std::pair<SharedCounters*, std::string> RateLimiter::shared_key_for(const std::string& key) {
  std::lock_guard lock(mutex_);
  if (!shared_) return {nullptr, {}};
  return {shared_, scope_ + ":" + key};
}

void RateLimiter::release(const std::string& key) {
  // A slot counted here while the shared store was away is given back here too.
  if (auto [shared, shared_key] = shared_key_for(key); shared) shared->give_back(shared_key);
  std::lock_guard lock(mutex_);
  auto it = windows_.find(key);
  // A slot from an earlier window was already returned when that window ended.
  if (it == windows_.end() || clock_.now_ms() - it->second.start_ms >= window_ms_) return;
  if (it->second.count > 0) it->second.count--;
}

void RateLimiter::reset(const std::string& key) {
  if (auto [shared, shared_key] = shared_key_for(key); shared) shared->reset(shared_key);
  std::lock_guard lock(mutex_);
  windows_.erase(key);
}

}  // namespace ds::auth
