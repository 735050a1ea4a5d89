// Which database worker token let each open /ws/worker socket in, so that a token revoked with
// `dreamstream admin worker-token revoke` (from another process, on the same database) ends its
// live sockets at the next check instead of letting the worker take jobs on.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "live/peer.hpp"

namespace ds::live {

class WorkerTokenWatch {
 public:
  // Of the token ids given, those revoked (a database query; called off the io threads).
  using RevokedOf = std::function<std::vector<long long>(const std::vector<long long>&)>;

  void add(const Peer* key, std::weak_ptr<Peer> peer, long long token_id);
  void remove(const Peer* key);

  // Asks revoked_of about the tokens of the open sockets (no query when there are none) and
  // ends the sockets of the revoked ones: an error message, then close 4401. Returns how many
  // sockets it ended.
  std::size_t recheck(const RevokedOf& revoked_of);

  std::size_t size();

 private:
  struct Entry {
    std::weak_ptr<Peer> peer;
    long long token_id = 0;
  };
  std::mutex mutex_;
  std::unordered_map<const Peer*, Entry> entries_;
};

}  // namespace ds::live
