// Many nodes: the HLS of a stream homed on another node, asked of that home (a node-to-node
// call nothing waits on) and kept here, so that a node asks the home once per URL however
// many of its players ask (docs/architecture.md#hls). Requests for one URL that come while it
// is being fetched share that fetch. An answer is kept for the max-age its Cache-Control gives
// (media: immutable; playlists: a second, a blocking reload's six), at most max_ttl_ms, in a
// byte-bounded LRU. Thread-safe; replies are sent with no lock held.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "api/http.hpp"
#include "util/clock.hpp"

namespace ds::api {

struct HlsRelayConfig {
  std::size_t max_bytes = 64u << 20;
  std::int64_t max_ttl_ms = 60'000;
};

class HlsRelay {
 public:
  HlsRelay(const Clock& clock, HlsRelayConfig config);
  HlsRelay(const HlsRelay&) = delete;
  HlsRelay& operator=(const HlsRelay&) = delete;

  // Brings the answer of one URL from the home: calls done once, on any thread, with the
  // response or nullopt (the home did not answer).
  using Done = std::function<void(std::optional<Response>)>;
  using Fetch = std::function<void(Done done)>;
  // Replies with the answer kept for key (the home and the request's path and query), or starts
  // fetch (unless a fetch of key is under way) and replies with what it brings. A home that does
  // not answer gives 503 home_unavailable; an answer that is not a 200 is passed on, not kept.
  void get(const std::string& key, const Fetch& fetch, Response::Reply reply);

  struct Stats {
    std::uint64_t hits = 0;     // answered from what was kept
    std::uint64_t fetches = 0;  // calls to a home
    std::uint64_t shared = 0;   // requests that joined a fetch under way
    std::size_t bytes = 0;
    std::size_t entries = 0;
  };
  Stats stats() const;

 private:
  struct Kept {
    Response response;
    std::int64_t expires_ms = 0;
    std::size_t bytes = 0;
    std::list<std::string>::iterator lru;
  };
  void finish(const std::string& key, std::optional<Response> response);
  // Under the lock: drops least recently used answers until the kept bytes fit.
  void trim();

  const Clock& clock_;
  HlsRelayConfig config_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Kept> kept_;
  std::list<std::string> lru_;  // most recently used first
  std::unordered_map<std::string, std::vector<Response::Reply>> fetching_;
  Stats stats_;
};

// Seconds of "max-age=N" in a Cache-Control value; nullopt when it has none (or no-store).
std::optional<std::int64_t> max_age_s(std::string_view cache_control);

}  // namespace ds::api
