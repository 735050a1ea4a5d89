// Caps on open connections, over all and per client address. Each accepted connection holds a
// slot for its whole life (through a WebSocket or MJPEG takeover); dropping it frees the slot.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace ds::net {

using ConnectionSlot = std::shared_ptr<const void>;

class ConnectionLimits : public std::enable_shared_from_this<ConnectionLimits> {
 public:
  // 0 means no limit.
  ConnectionLimits(std::size_t max_total, std::size_t max_per_address)
      : max_total_(max_total), max_per_address_(max_per_address) {}

  // A slot, or nullptr when either limit is reached.
  ConnectionSlot try_acquire(const std::string& address);
  // A trusted proxy's connection: counted against the total only, since the proxy speaks for
  // many clients; each request's client is counted with try_acquire_client once it is known.
  ConnectionSlot try_acquire_proxied();
  // The client a trusted proxy names (X-Forwarded-For), counted against its address's limit
  // only (its connection holds the total's slot already); nullptr over that limit.
  ConnectionSlot try_acquire_client(const std::string& address);

  std::size_t open();
  std::size_t open_from(const std::string& address);

 private:
  // Whether the slot counted against the total, and under which address ("" for none).
  ConnectionSlot acquire(const std::string& address, bool total, bool per_address);
  void release(const std::string& address, bool total, bool per_address);

  std::size_t max_total_;
  std::size_t max_per_address_;
  std::mutex mutex_;
  std::size_t total_ = 0;
  std::unordered_map<std::string, std::size_t> per_address_;
};

}  // namespace ds::net
