#include "live/worker_token_watch.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace ds::live {

void WorkerTokenWatch::add(const Peer* key, std::weak_ptr<Peer> peer, long long token_id) {
  std::lock_guard lock(mutex_);
  entries_[key] = Entry{std::move(peer), token_id};
}

void WorkerTokenWatch::remove(const Peer* key) {
  std::lock_guard lock(mutex_);
  entries_.erase(key);
}

std::size_t WorkerTokenWatch::recheck(const RevokedOf& revoked_of) {
  std::vector<long long> ids;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [key, e] : entries_) {
      if (std::find(ids.begin(), ids.end(), e.token_id) == ids.end()) ids.push_back(e.token_id);
    }
  }
  if (ids.empty()) return 0;
  // The query runs without the lock: sockets come and go meanwhile.
  auto revoked = revoked_of(ids);
  if (revoked.empty()) return 0;
  std::vector<std::pair<std::shared_ptr<Peer>, long long>> ended;
  {
    std::lock_guard lock(mutex_);
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (std::find(revoked.begin(), revoked.end(), it->second.token_id) != revoked.end()) {
        if (auto p = it->second.peer.lock()) ended.emplace_back(std::move(p), it->second.token_id);
        it = entries_.erase(it);
      } else {
        ++it;
      }
    }
  }
  auto text = wire::encode_error("revoked", "the worker token was revoked");
  for (auto& [peer, token_id] : ended) {
    peer->send_text(text);
    peer->close(wire::CloseCode::kUnauthorized, "worker token revoked");
    spdlog::info("event=worker_token_revoked_socket_closed token_id={}", token_id);
  }
  return ended.size();
}

std::size_t WorkerTokenWatch::size() {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace ds::live
