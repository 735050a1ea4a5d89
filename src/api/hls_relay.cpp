#include "api/hls_relay.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace ds::api {

std::optional<std::int64_t> max_age_s(std::string_view cc) {
  if (cc.find("no-store") != std::string_view::npos) return std::nullopt;
  auto at = cc.find("max-age=");
  if (at == std::string_view::npos) return std::nullopt;
  auto digits = cc.substr(at + 8);
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc() || end == digits.data() || v < 0) return std::nullopt;
  return v;
}

namespace {

Response unavailable() {
  auto r = error_response(503, "home_unavailable",
                          "the stream's server did not answer; try again shortly");
  r.set_header("Retry-After", "1");
  r.set_header("Cache-Control", "no-store");
  return r;
}

}  // namespace

HlsRelay::HlsRelay(const Clock& clock, HlsRelayConfig config) : clock_(clock), config_(config) {}

void HlsRelay::get(const std::string& key, const Fetch& fetch, Response::Reply reply) {
  {
    std::unique_lock lock(mutex_);
    auto it = kept_.find(key);
    if (it != kept_.end() && it->second.expires_ms > clock_.now_ms()) {
      stats_.hits++;
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      Response copy = it->second.response;
      lock.unlock();
      return reply(std::move(copy));
    }
    auto [waiting, first] = fetching_.try_emplace(key);
    waiting->second.push_back(std::move(reply));
    if (!first) {
      stats_.shared++;
      return;
    }
    stats_.fetches++;
  }
  try {
    fetch([this, key](std::optional<Response> r) { finish(key, std::move(r)); });
  } catch (const std::exception& e) {
    spdlog::error("event=hls_relay_fetch_failed error=\"{}\"", e.what());
    finish(key, std::nullopt);
  }
}

void HlsRelay::finish(const std::string& key, std::optional<Response> response) {
  std::vector<Response::Reply> replies;
  Response answer = response ? std::move(*response) : unavailable();
  {
    std::lock_guard lock(mutex_);
    auto it = fetching_.find(key);
    if (it != fetching_.end()) {
      replies = std::move(it->second);
      fetching_.erase(it);
    }
    std::int64_t age_s = 0;
    if (auto cc = answer.header("Cache-Control")) age_s = max_age_s(*cc).value_or(0);
    if (response && answer.status == 200 && age_s > 0) {
      auto ttl = std::min(age_s * 1000, config_.max_ttl_ms);
      if (auto old = kept_.find(key); old != kept_.end()) {
        stats_.bytes -= old->second.bytes;
        lru_.erase(old->second.lru);
        kept_.erase(old);
      }
      lru_.push_front(key);
      auto bytes = answer.body.size() + key.size() + 256;
      kept_.emplace(key, Kept{answer, clock_.now_ms() + ttl, bytes, lru_.begin()});
      stats_.bytes += bytes;
      trim();
    }
  }
  for (auto& reply : replies) {
    try {
      reply(Response(answer));
    } catch (const std::exception& e) {
      spdlog::error("event=hls_relay_reply_failed error=\"{}\"", e.what());
    }
  }
}

void HlsRelay::trim() {
  if (stats_.bytes <= config_.max_bytes) return;  // an expired answer is replaced when asked for
  auto now = clock_.now_ms();
  // Expired answers first (they would be fetched again anyway), then the least recently used.
  for (auto it = kept_.begin(); it != kept_.end();) {
    if (it->second.expires_ms > now) {
      ++it;
      continue;
    }
    stats_.bytes -= it->second.bytes;
    lru_.erase(it->second.lru);
    it = kept_.erase(it);
  }
  while (stats_.bytes > config_.max_bytes && !lru_.empty()) {
    auto it = kept_.find(lru_.back());
    stats_.bytes -= it->second.bytes;
    kept_.erase(it);
    lru_.pop_back();
  }
}

HlsRelay::Stats HlsRelay::stats() const {
  std::lock_guard lock(mutex_);
  Stats s = stats_;
  s.entries = kept_.size();
  return s;
}

}  // namespace ds::api
