// Which credential let each open ingest socket in, so that revoking the credential (a new
// stream key, a logout, a revoked session or API token, a password change, a deleted account) ends
// the sockets it authorised at once instead of letting them stream and bill on.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "live/peer.hpp"

namespace ds::live {

struct IngestGrant {
  long long user_id = 0;
  bool stream_key = false;     // let in by the stream key
  long long session_id = 0;    // the login session (cookie, or one that asked for the ticket)
  long long api_token_id = 0;  // the API token that asked for the ingest ticket
};

class CredentialWatch {
 public:
  void add(const Peer* key, std::weak_ptr<Peer> peer, IngestGrant grant);
  void remove(const Peer* key);

  // Each ends the matching sockets ({"type":"ended","reason":"revoked"}, close 4401) and
  // returns the user ids that lost an ingest socket (their streams should stop).
  std::vector<long long> revoke_stream_key(long long user_id);
  std::vector<long long> revoke_session(long long session_id);
  std::vector<long long> revoke_sessions_except(long long user_id, long long keep_session_id);
  std::vector<long long> revoke_api_token(long long token_id);
  std::vector<long long> revoke_user(long long user_id);

  std::size_t size();

 private:
  struct Entry {
    std::weak_ptr<Peer> peer;
    IngestGrant grant;
  };
  template <class Pred>
  std::vector<long long> revoke_if(Pred pred, const std::string& message);

  std::mutex mutex_;
  std::unordered_map<const Peer*, Entry> entries_;
};

}  // namespace ds::live
