// Which credential let each open ingest socket in, so that revoking the credential (a new
// stream key, a logout, a revoked session or API token, a password change, a deleted account) ends
// the sockets it authorised at once instead of letting them stream and bill on. recheck() asks
// the database again now and then: a login session that expired, or a revocation this node never
// heard of (Redis or the node that took it was away), ends the socket too.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "auth/auth_service.hpp"
#include "live/peer.hpp"

namespace ds::live {

using IngestGrant = auth::IngestCredential;

class CredentialWatch {
 public:
  void add(const Peer* key, std::weak_ptr<Peer> peer, IngestGrant grant);
  void remove(const Peer* key);

  // Each ends the matching sockets ({"type":"ended","reason":"revoked"}, close 4401) and
  // returns the user ids that lost an ingest socket (their streams should stop).
  // A new stream key: ends the user's sockets that came with the key it replaced (its hash).
  // Any other key's stay: the new key's (on many nodes one may have connected with it before
  // the news arrived), and a newer one's when two rotations are heard out of order.
  std::vector<long long> revoke_stream_key(long long user_id, std::string_view revoked_key_hash);
  std::vector<long long> revoke_session(long long session_id);
  std::vector<long long> revoke_sessions_except(long long user_id, long long keep_session_id);
  std::vector<long long> revoke_api_token(long long token_id);
  std::vector<long long> revoke_user(long long user_id);

  // Asks still_valid (a database query; off the io threads, without the lock) about every open
  // socket's credential and ends those no longer valid, as above. Returns their user ids.
  using StillValid = std::function<bool(const IngestGrant&)>;
  std::vector<long long> recheck(const StillValid& still_valid);

  std::size_t size();

 private:
  struct Entry {
    std::weak_ptr<Peer> peer;
    IngestGrant grant;
  };
  template <class Pred>
  std::vector<long long> revoke_if(Pred pred, const std::string& message);
  template <class Pred>  // pred(key, grant)
  std::vector<long long> revoke_if_entry(Pred pred, const std::string& message);

  std::mutex mutex_;
  std::unordered_map<const Peer*, Entry> entries_;
};

}  // namespace ds::live
