#include "live/stream_events.hpp"

#include <spdlog/spdlog.h>

#include <exception>

namespace ds::live {

namespace {

// The lines this thread is delivering now: a subscriber posting to one of them from inside the
// loop leaves the delivery to the loop instead of waiting for itself.
thread_local std::vector<long long> delivering_here;

bool delivering_on_this_thread(long long user_id) {
  for (auto id : delivering_here) {
    if (id == user_id) return true;
  }
  return false;
}

}  // namespace

const std::string& username_of(const StreamEvent& e) {
  return std::visit([](const auto& v) -> const std::string& { return v.username; }, e);
}

std::uint64_t StreamEvents::post(long long user_id, StreamEvent e) {
  std::lock_guard lock(mutex_);
  auto ticket = next_ticket_++;
  lines_[user_id].queue.emplace_back(ticket, std::move(e));
  return ticket;
}

void StreamEvents::deliver(long long user_id, std::uint64_t ticket) {
  if (delivering_on_this_thread(user_id)) return;
  std::unique_lock lock(mutex_);
  auto it = lines_.find(user_id);
  if (it == lines_.end()) return;
  // Node-based map: the reference stays valid while the line exists, and the line is not
  // erased while anyone delivers it or waits on it.
  Line& line = it->second;
  ++line.waiters;
  while (line.delivered < ticket) {
    if (line.delivering) {
      delivered_.wait(lock);
      continue;
    }
    line.delivering = true;
    delivering_here.push_back(user_id);
    while (!line.queue.empty()) {
      auto [number, event] = std::move(line.queue.front());
      line.queue.pop_front();
      lock.unlock();
      for (const auto& s : subscribers_) {
        try {
          s(event);
        } catch (const std::exception& ex) {
          spdlog::warn("event=stream_event_subscriber_failed stream={} error=\"{}\"",
                       username_of(event), ex.what());
        }
      }
      lock.lock();
      line.delivered = number;
      delivered_.notify_all();
    }
    delivering_here.pop_back();
    line.delivering = false;
  }
  --line.waiters;
  if (line.waiters == 0 && !line.delivering && line.queue.empty()) lines_.erase(user_id);
}

}  // namespace ds::live
