#include "live/credential_watch.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace ds::live {

void CredentialWatch::add(const Peer* key, std::weak_ptr<Peer> peer, IngestGrant grant) {
  std::lock_guard lock(mutex_);
  entries_[key] = Entry{std::move(peer), grant};
}

void CredentialWatch::remove(const Peer* key) {
  std::lock_guard lock(mutex_);
  entries_.erase(key);
}

template <class Pred>
std::vector<long long> CredentialWatch::revoke_if(Pred pred, const std::string& message) {
  return revoke_if_entry([&](const Peer*, const IngestGrant& g) { return pred(g); }, message);
}

template <class Pred>
std::vector<long long> CredentialWatch::revoke_if_entry(Pred pred, const std::string& message) {
  std::vector<std::pair<std::shared_ptr<Peer>, long long>> ended;
  {
    std::lock_guard lock(mutex_);
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (pred(it->first, it->second.grant)) {
        if (auto p = it->second.peer.lock())
          ended.emplace_back(std::move(p), it->second.grant.user_id);
        it = entries_.erase(it);
      } else {
        ++it;
      }
    }
  }
  std::vector<long long> users;
  auto text = wire::encode_ended(EndReason::kRevoked, message);
  for (auto& [peer, user_id] : ended) {
    peer->send_text(text);
    peer->close(wire::CloseCode::kUnauthorized, "credential revoked");
    spdlog::info("event=ingest_revoked user_id={}", user_id);
    if (std::find(users.begin(), users.end(), user_id) == users.end()) users.push_back(user_id);
  }
  return users;
}

std::vector<long long> CredentialWatch::revoke_stream_key(long long user_id,
                                                          std::string_view revoked_key_hash) {
  return revoke_if(
      [&](const IngestGrant& g) {
        return g.user_id == user_id && !g.stream_key_hash.empty() &&
               g.stream_key_hash == revoked_key_hash;
      },
      "the stream key was replaced");
}

std::vector<long long> CredentialWatch::revoke_session(long long session_id) {
  return revoke_if(
      [&](const IngestGrant& g) { return session_id != 0 && g.session_id == session_id; },
      "the login session ended");
}

std::vector<long long> CredentialWatch::revoke_sessions_except(long long user_id,
                                                               long long keep_session_id) {
  return revoke_if(
      [&](const IngestGrant& g) {
        return g.user_id == user_id && g.session_id != 0 && g.session_id != keep_session_id;
      },
      "the password was changed");
}

std::vector<long long> CredentialWatch::revoke_api_token(long long token_id) {
  return revoke_if(
      [&](const IngestGrant& g) { return token_id != 0 && g.api_token_id == token_id; },
      "the API token was revoked");
}

std::vector<long long> CredentialWatch::revoke_user(long long user_id) {
  return revoke_if([&](const IngestGrant& g) { return g.user_id == user_id; },
                   "the account was deleted");
}

std::vector<long long> CredentialWatch::recheck(const StillValid& still_valid) {
  std::vector<std::pair<const Peer*, IngestGrant>> open;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [key, e] : entries_) open.emplace_back(key, e.grant);
  }
  std::unordered_map<const Peer*, IngestGrant> invalid;
  for (const auto& [key, grant] : open) {
    try {
      if (!still_valid(grant)) invalid.emplace(key, grant);
    } catch (const std::exception& e) {
      // The database is away: nothing is known, nothing ends (the next recheck asks again).
      spdlog::warn("event=ingest_recheck_failed error=\"{}\"", e.what());
      return {};
    }
  }
  if (invalid.empty()) return {};
  // Only the sockets asked about: one that closed meanwhile is gone, and a new one at the same
  // address counts only with the same credential.
  return revoke_if_entry(
      [&](const Peer* key, const IngestGrant& g) {
        auto it = invalid.find(key);
        return it != invalid.end() && it->second == g;
      },
      "the credential that let this stream in is no longer valid");
}

std::size_t CredentialWatch::size() {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace ds::live
