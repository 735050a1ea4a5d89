#include "live/hls_store.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "video/hls_playlist.hpp"

namespace ds::live {

namespace {

// More parts than this in one segment cannot be asked for in good faith (a 2 s segment of
// 0.1 s parts has 20).
constexpr int kMaxPartIndex = 1000;

}  // namespace

HlsStore::HlsStore(const Clock& clock, HlsStoreConfig config)
    : clock_(clock), config_(std::move(config)) {}

void HlsStore::on_unit(const std::string& username, long long session_id,
                       const video::AccessUnit& unit) {
  std::vector<std::pair<Waker, bool>> wakes;
  {
    std::lock_guard lock(mutex_);
    Entry& e = streams_[username];
    bool new_session = e.session_id != session_id;
    if (new_session) {
      // A new session of the name: its own numbering and timeline; the old one's media goes.
      e.session_id = session_id;
      e.media.reset();
      e.next_msn = 0;
      e.origin_ms = unit.pts_ms;
      e.ended_ms = 0;
    }
    if (e.ended_ms != 0) return;  // a unit of an encoder closed meanwhile
    if (!e.media && unit.keyframe) {
      if (e.origin_ms == 0) e.origin_ms = unit.pts_ms;
      e.media = std::make_unique<video::HlsSegmenter>(config_.media, e.next_msn, e.origin_ms);
    }
    bool changed = e.media && e.media->push(unit);
    if (e.media) e.next_msn = e.media->next_msn();
    // Waiters of the old session learn it is gone.
    if (changed || new_session) settle(e, wakes);
  }
  run(wakes);
}

std::optional<MediaContinuation> HlsStore::continuation(const std::string& username,
                                                        long long session_id) const {
  std::lock_guard lock(mutex_);
  auto it = streams_.find(username);
  if (it == streams_.end() || it->second.session_id != session_id) return std::nullopt;
  const auto& e = it->second;
  return MediaContinuation{e.media ? e.media->next_msn() : e.next_msn, e.origin_ms};
}

void HlsStore::continue_from(const std::string& username, long long session_id,
                             const MediaContinuation& c) {
  std::vector<std::pair<Waker, bool>> wakes;
  {
    std::lock_guard lock(mutex_);
    Entry& e = streams_[username];
    std::int64_t next = c.next_msn;
    if (e.session_id == session_id) {
      // Back on a node that had it before: past both numberings.
      next = std::max(next, e.media ? e.media->next_msn() : e.next_msn);
    } else {
      e.session_id = session_id;
      settle(e, wakes);  // waiters of another session learn it is gone
    }
    e.media.reset();
    e.next_msn = next;
    e.origin_ms = c.origin_ms;
    e.ended_ms = 0;
  }
  run(wakes);
}

void HlsStore::end(const std::string& username) {
  std::vector<std::pair<Waker, bool>> wakes;
  {
    std::lock_guard lock(mutex_);
    auto it = streams_.find(username);
    if (it == streams_.end()) return;
    Entry& e = it->second;
    if (!e.media) {
      // Nothing to show: a stream that ended has no playlist to keep.
      for (auto& w : e.waiters) wakes.emplace_back(std::move(w.wake), false);
      streams_.erase(it);
    } else {
      e.media->finish();
      e.ended_ms = clock_.now_ms();
      settle(e, wakes);
    }
  }
  run(wakes);
}

void HlsStore::drop(const std::string& username) {
  std::vector<std::pair<Waker, bool>> wakes;
  {
    std::lock_guard lock(mutex_);
    auto it = streams_.find(username);
    if (it == streams_.end() || it->second.ended_ms != 0) return;  // an ended one stays a while
    Entry& e = it->second;
    if (e.media) {
      e.next_msn = e.media->next_msn();
      e.media.reset();
    }
    for (auto& w : e.waiters) wakes.emplace_back(std::move(w.wake), false);
    e.waiters.clear();
  }
  run(wakes);
}

void HlsStore::tick() {
  std::vector<std::pair<Waker, bool>> wakes;
  std::vector<Waker> dropped;
  {
    std::lock_guard lock(mutex_);
    auto now = clock_.now_ms();
    for (auto it = streams_.begin(); it != streams_.end();) {
      Entry& e = it->second;
      forget_gone(e, dropped);
      std::erase_if(e.waiters, [&](Waiter& w) {
        if (w.deadline_ms > now) return false;
        wakes.emplace_back(std::move(w.wake), false);
        return true;
      });
      bool expired = e.ended_ms != 0 && now - e.ended_ms >= config_.keep_ended_ms;
      bool empty = !e.media && e.waiters.empty() && e.session_id == 0;
      if (expired || empty) {
        for (auto& w : e.waiters) wakes.emplace_back(std::move(w.wake), false);
        it = streams_.erase(it);
      } else {
        ++it;
      }
    }
  }
  run(wakes);
}

std::optional<HlsStore::Playlist> HlsStore::playlist(const std::string& username) const {
  std::lock_guard lock(mutex_);
  auto it = streams_.find(username);
  if (it == streams_.end() || !it->second.media || !it->second.media->last_complete()) {
    return std::nullopt;
  }
  const Entry& e = it->second;
  auto prefix = "hls/" + std::to_string(e.session_id) + "/";
  return Playlist{e.session_id, e.ended_ms != 0, video::render_playlist(*e.media, prefix)};
}

std::shared_ptr<const std::string> HlsStore::media(const std::string& username,
                                                   long long session_id, Media kind,
                                                   std::int64_t msn, int part) const {
  std::lock_guard lock(mutex_);
  auto it = streams_.find(username);
  if (it == streams_.end() || it->second.session_id != session_id || !it->second.media) {
    return nullptr;
  }
  const auto& m = *it->second.media;
  if (kind == Media::kInit) return m.init(msn);
  const auto* seg = m.segment(msn);
  if (!seg) return nullptr;
  if (kind == Media::kSegment) return seg->complete ? seg->bytes : nullptr;
  if (part < 0 || part >= static_cast<int>(seg->parts.size())) return nullptr;
  return seg->parts[static_cast<std::size_t>(part)].bytes;
}

HlsStore::Wait HlsStore::wait(const std::string& username, const Until& until,
                              std::int64_t deadline_ms, Waker wake, Client client) {
  std::vector<Waker> dropped;  // after the lock
  std::lock_guard lock(mutex_);
  if (until.part < 0 || until.part > kMaxPartIndex || until.msn < 0) return Wait::kTooFar;
  auto it = streams_.find(username);
  if (it != streams_.end() && until.kind != Until::Kind::kFirstSegment) {
    const Entry& e = it->second;
    std::int64_t newest = e.next_msn;
    if (e.media) {
      newest = e.media->last_complete().value_or(e.media->next_part().first);
    }
    if (until.msn > newest + 2) return Wait::kTooFar;
  } else if (until.kind != Until::Kind::kFirstSegment && until.msn > 2) {
    return Wait::kTooFar;
  }
  Entry& e = it != streams_.end() ? it->second : streams_[username];
  switch (reached(e, until)) {
    case State::kYes:
      return Wait::kReady;
    case State::kNever:
      return Wait::kGone;
    case State::kNo:
      break;
  }
  forget_gone(e, dropped);
  if (e.waiters.size() >= config_.max_waiters) return Wait::kBusy;
  auto same_client = std::count_if(e.waiters.begin(), e.waiters.end(), [&](const Waiter& w) {
    return w.client.address == client.address;
  });
  if (static_cast<std::size_t>(same_client) >= config_.max_waiters_per_client) return Wait::kBusy;
  e.waiters.push_back({until, deadline_ms, std::move(wake), std::move(client)});
  return Wait::kWaiting;
}

void HlsStore::forget_gone(Entry& e, std::vector<Waker>& out) {
  std::erase_if(e.waiters, [&](Waiter& w) {
    if (!w.gone()) return false;
    out.push_back(std::move(w.wake));
    return true;
  });
}

HlsStore::State HlsStore::reached(const Entry& e, const Until& until) {
  bool other_session = until.session_id != 0 && until.session_id != e.session_id;
  if (until.kind == Until::Kind::kFirstSegment) {
    if (other_session) return State::kNo;  // its session's media may yet come
    return e.media && (e.ended_ms != 0 || e.media->last_complete()) ? State::kYes : State::kNo;
  }
  if (other_session) return e.session_id == 0 ? State::kNo : State::kNever;
  if (!e.media) return State::kNo;
  if (e.ended_ms != 0) return State::kYes;
  bool there = until.kind == Until::Kind::kSegment ? e.media->has_segment(until.msn)
                                                   : e.media->has_part(until.msn, until.part);
  return there ? State::kYes : State::kNo;
}

void HlsStore::settle(Entry& e, std::vector<std::pair<Waker, bool>>& out) {
  std::erase_if(e.waiters, [&](Waiter& w) {
    auto state = reached(e, w.until);
    if (state == State::kNo) return false;
    out.emplace_back(std::move(w.wake), state == State::kYes);
    return true;
  });
}

void HlsStore::run(std::vector<std::pair<Waker, bool>>& wakes) {
  for (auto& [wake, ready] : wakes) {
    try {
      wake(ready);
    } catch (const std::exception& e) {
      spdlog::error("event=hls_waker_failed error=\"{}\"", e.what());
    }
  }
}

void HlsStore::release_waiters() {
  std::vector<Waiter> gone;
  {
    std::lock_guard lock(mutex_);
    for (auto& [name, e] : streams_) {
      for (auto& w : e.waiters) gone.push_back(std::move(w));
      e.waiters.clear();
    }
  }
}

std::size_t HlsStore::streams() const {
  std::lock_guard lock(mutex_);
  return streams_.size();
}

std::size_t HlsStore::waiters(const std::string& username) const {
  std::lock_guard lock(mutex_);
  auto it = streams_.find(username);
  return it == streams_.end() ? 0 : it->second.waiters.size();
}

std::size_t HlsStore::waiting() const {
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (const auto& [name, e] : streams_) n += e.waiters.size();
  return n;
}

std::size_t HlsStore::bytes() const {
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (const auto& [name, e] : streams_) n += e.media ? e.media->bytes() : 0;
  return n;
}

}  // namespace ds::live
