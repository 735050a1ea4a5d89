#include "net/connection_limits.hpp"

namespace ds::net {

ConnectionSlot ConnectionLimits::try_acquire(const std::string& address) {
  return acquire(address, true, true);
}

ConnectionSlot ConnectionLimits::try_acquire_proxied() { return acquire("", true, false); }

ConnectionSlot ConnectionLimits::try_acquire_client(const std::string& address) {
  return acquire(address, false, true);
}

ConnectionSlot ConnectionLimits::acquire(const std::string& address, bool total, bool per_address) {
  {
    std::lock_guard lock(mutex_);
    if (total && max_total_ != 0 && total_ >= max_total_) return nullptr;
    if (per_address) {
      auto& n = per_address_[address];
      if (max_per_address_ != 0 && n >= max_per_address_) {
        if (n == 0) per_address_.erase(address);
        return nullptr;
      }
      ++n;
    }
    if (total) ++total_;
  }
  auto self = shared_from_this();
  // The deleter frees the slot; it keeps the limits alive as long as any connection is open.
  return ConnectionSlot(new int(0), [self, address, total, per_address](const void* p) {
    delete static_cast<const int*>(p);
    self->release(address, total, per_address);
  });
}

void ConnectionLimits::release(const std::string& address, bool total, bool per_address) {
  std::lock_guard lock(mutex_);
  if (total) --total_;
  if (!per_address) return;
  auto it = per_address_.find(address);
  if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
}

std::size_t ConnectionLimits::open() {
  std::lock_guard lock(mutex_);
  return total_;
}

std::size_t ConnectionLimits::open_from(const std::string& address) {
  std::lock_guard lock(mutex_);
  auto it = per_address_.find(address);
  return it == per_address_.end() ? 0 : it->second;
}

}  // namespace ds::net
