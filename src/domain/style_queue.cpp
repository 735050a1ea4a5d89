#include "domain/style_queue.hpp"

#include <algorithm>
#include <array>
#include <utility>

namespace ds::domain {

namespace {

constexpr std::array<std::string_view, 7> kStatusNames = {"pending",  "queued",  "active", "done",
                                                          "rejected", "skipped", "cleared"};

// Removes the request with id from q; returns it.
std::optional<StyleRequest> take(std::deque<StyleRequest>& q, long long id) {
  auto it = std::find_if(q.begin(), q.end(), [id](const StyleRequest& r) { return r.id == id; });
  if (it == q.end()) return std::nullopt;
  StyleRequest r = std::move(*it);
  q.erase(it);
  return r;
}

StyleUpdate failed(StyleQueueError e) { return {e, {}}; }

}  // namespace

std::string_view to_string(StylePolicy p) { return p == StylePolicy::kAuto ? "auto" : "approve"; }

std::optional<StylePolicy> parse_style_policy(std::string_view s) {
  if (s == "auto") return StylePolicy::kAuto;
  if (s == "approve") return StylePolicy::kApprove;
  return std::nullopt;
}

std::string_view to_string(StyleStatus s) { return kStatusNames[static_cast<std::size_t>(s)]; }

std::optional<StyleStatus> parse_style_status(std::string_view s) {
  for (std::size_t i = 0; i < kStatusNames.size(); ++i) {
    if (kStatusNames[i] == s) return static_cast<StyleStatus>(i);
  }
  return std::nullopt;
}

StyleQueue::StyleQueue(StyleQueueConfig config) : config_(std::move(config)) {}

void StyleQueue::enqueue(StyleRequest r, std::vector<StyleRequest>& changed) {
  r.status = StyleStatus::kQueued;
  r.queue_order = next_order_++;
  queued_.push_back(r);
  changed.push_back(std::move(r));
}

void StyleQueue::promote(std::int64_t now_ms, std::vector<StyleRequest>& changed) {
  if (active_ || queued_.empty()) return;
  active_ = std::move(queued_.front());
  queued_.pop_front();
  active_->status = StyleStatus::kActive;
  active_->started_ms = now_ms;
  // A request that was queued and starts in the same operation is reported once, as active.
  std::erase_if(changed, [&](const StyleRequest& r) { return r.id == active_->id; });
  changed.push_back(*active_);
}

void StyleQueue::finish_active(StyleStatus status, std::int64_t now_ms,
                               std::vector<StyleRequest>& changed) {
  if (!active_) return;
  active_->status = status;
  active_->ended_ms = now_ms;
  changed.push_back(std::move(*active_));
  active_.reset();
}

StyleUpdate StyleQueue::submit(StyleRequest request, std::int64_t now_ms) {
  if (full()) return failed(StyleQueueError::kQueueFull);
  StyleUpdate u;
  request.started_ms = 0;
  request.ended_ms = 0;
  if (config_.policy == StylePolicy::kApprove) {
    request.status = StyleStatus::kPending;
    pending_.push_back(request);
    u.changed.push_back(std::move(request));
    return u;
  }
  enqueue(std::move(request), u.changed);
  promote(now_ms, u.changed);
  return u;
}

StyleUpdate StyleQueue::approve(long long id, std::int64_t now_ms) {
  auto r = take(pending_, id);
  if (!r) return failed(find(id) ? StyleQueueError::kNotPending : StyleQueueError::kNotFound);
  StyleUpdate u;
  enqueue(std::move(*r), u.changed);
  promote(now_ms, u.changed);
  return u;
}

StyleUpdate StyleQueue::reject(long long id, std::int64_t now_ms) {
  auto r = take(pending_, id);
  if (!r) r = take(queued_, id);
  if (!r) return failed(find(id) ? StyleQueueError::kNotRejectable : StyleQueueError::kNotFound);
  StyleUpdate u;
  r->status = StyleStatus::kRejected;
  r->ended_ms = now_ms;
  u.changed.push_back(std::move(*r));
  return u;
}

StyleUpdate StyleQueue::skip(std::int64_t now_ms) {
  StyleUpdate u;
  finish_active(StyleStatus::kSkipped, now_ms, u.changed);
  promote(now_ms, u.changed);
  return u;
}

StyleUpdate StyleQueue::clear(std::int64_t now_ms) {
  StyleUpdate u;
  for (auto* q : {&pending_, &queued_}) {
    for (auto& r : *q) {
      r.status = StyleStatus::kCleared;
      r.ended_ms = now_ms;
      u.changed.push_back(std::move(r));
    }
    q->clear();
  }
  return u;
}

StyleUpdate StyleQueue::tick(std::int64_t now_ms) {
  StyleUpdate u;
  if (active_ && now_ms >= active_->started_ms + config_.slot_ms) {
    finish_active(StyleStatus::kDone, now_ms, u.changed);
    promote(now_ms, u.changed);
  }
  return u;
}

StyleUpdate StyleQueue::end_all(std::int64_t now_ms) {
  StyleUpdate u = clear(now_ms);
  finish_active(StyleStatus::kDone, now_ms, u.changed);
  return u;
}

StyleUpdate StyleQueue::resume(std::vector<StyleRequest> open, std::int64_t now_ms) {
  StyleUpdate u;
  auto by_order = [](const StyleRequest& a, const StyleRequest& b) {
    return a.queue_order != b.queue_order ? a.queue_order < b.queue_order : a.id < b.id;
  };
  std::vector<StyleRequest> active;
  std::vector<StyleRequest> queued;
  std::vector<StyleRequest> pending;
  for (auto& r : open) {
    if (r.status == StyleStatus::kActive) active.push_back(std::move(r));
    if (r.status == StyleStatus::kQueued) queued.push_back(std::move(r));
    if (r.status == StyleStatus::kPending) pending.push_back(std::move(r));
  }
  std::sort(active.begin(), active.end(), [](const StyleRequest& a, const StyleRequest& b) {
    return a.started_ms != b.started_ms ? a.started_ms < b.started_ms : a.id < b.id;
  });
  std::sort(queued.begin(), queued.end(), by_order);
  std::sort(pending.begin(), pending.end(),
            [](const StyleRequest& a, const StyleRequest& b) { return a.id < b.id; });
  for (auto& r : active) {
    next_order_ = std::max(next_order_, r.queue_order + 1);
    finish_active(StyleStatus::kDone, now_ms, u.changed);
    active_ = std::move(r);
  }
  for (auto& r : queued) {
    next_order_ = std::max(next_order_, r.queue_order + 1);
    queued_.push_back(std::move(r));
  }
  for (auto& r : pending) pending_.push_back(std::move(r));
  promote(now_ms, u.changed);
  return u;
}

StyleUpdate StyleQueue::set_policy(StylePolicy policy, std::int64_t now_ms) {
  StyleUpdate u;
  config_.policy = policy;
  if (policy != StylePolicy::kAuto) return u;
  while (!pending_.empty()) {
    auto r = std::move(pending_.front());
    pending_.pop_front();
    enqueue(std::move(r), u.changed);
  }
  promote(now_ms, u.changed);
  return u;
}

void StyleQueue::set_slot_ms(std::int64_t slot_ms) { config_.slot_ms = slot_ms; }

void StyleQueue::set_base_style(std::string base_style) {
  config_.base_style = std::move(base_style);
}

CurrentStyle StyleQueue::current() const {
  if (!active_) return {config_.base_style, std::nullopt, 0, 0};
  return {active_->prompt, *active_, active_->started_ms, active_->started_ms + config_.slot_ms};
}

const StyleRequest* StyleQueue::find(long long id) const {
  if (active_ && active_->id == id) return &*active_;
  for (const auto* q : {&pending_, &queued_}) {
    for (const auto& r : *q) {
      if (r.id == id) return &r;
    }
  }
  return nullptr;
}

}  // namespace ds::domain
