// The hub's registry of open streams (live/live_stream.hpp): a stream opens, closes or is handed
// over to another node here, and the services find it here.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "live/cluster.hpp"
#include "live/hub.hpp"
#include "live/protocol.hpp"

namespace ds::live {

using wire::CloseCode;

LiveStreamPtr Hub::open_stream(const StreamOpen& info) {
  auto stream = std::make_shared<LiveStream>(info);
  return open_stream(stream) ? stream : nullptr;
}

bool Hub::open_stream(LiveStreamPtr stream) {
  std::shared_ptr<const PeerList> viewers;
  const auto& info = stream->media.info;
  {
    std::lock_guard lock(mutex_);
    auto& c = channels_[stream->username];
    if (c.stream) return false;
    auto& a = stream->media;
    a.opened_ms = clock_.now_ms();
    a.rate_in = domain::RateMeter(a.opened_ms);
    a.rate_out = domain::RateMeter(a.opened_ms);
    bool resumed = info.resume.has_value();
    if (resumed) {
      const auto& r = *info.resume;
      a.opened_ms = r.opened_ms > 0 ? r.opened_ms : a.opened_ms;
      a.first_frame_ms = r.first_frame_ms;
      a.last_frame_ms = r.last_frame_ms;
      a.frames_in = r.frames_in;
      a.frames_out = r.frames_out;
      a.max_viewers = r.max_viewers;
      a.next_seq = std::max<std::uint64_t>(r.next_seq, 1);
      a.last_shown_seq = std::max(c.remote_seq, a.next_seq - 1);
      if (!c.sent_state) c.sent_state = StreamState::kWaiting;
    }
    c.stream = stream;
    if (!resumed) {
      c.latest_output.reset();
      c.latest_meta.reset();
      c.sent_state = StreamState::kWaiting;
      viewers = c.viewers;
    }
    session_names_[stream->session_id] = stream->username;
    user_streams_[stream->user_id] = stream;
    follow(stream->username, c);
    if (cluster_) cluster_->announce(snapshot_of(c, a, clock_.now_ms()));
  }
  // Before its first picture: the media goes on from where the old home left it.
  if (tap_ && info.resume && info.resume->media) {
    tap_->continue_media(stream->username, stream->session_id, *info.resume->media);
  }
  auto ev = wire::encode_state(StreamState::kWaiting);
  send_to(viewers, ev);
  if (cluster_ && !info.resume) cluster_->publish_text(stream->username, ev);
  spdlog::info("event=stream_opened stream={} session_id={}", stream->username, stream->session_id);
  return true;
}

void Hub::unregister(Channel& c) {
  auto& s = *c.stream;
  pool_.remove_stream(s.session_id);
  session_names_.erase(s.session_id);
  if (auto it = user_streams_.find(s.user_id); it != user_streams_.end() && it->second == c.stream)
    user_streams_.erase(it);
  c.stream.reset();
}

LiveStreamPtr Hub::stream(const std::string& username) {
  std::lock_guard lock(mutex_);
  auto it = channels_.find(username);
  return it == channels_.end() ? nullptr : it->second.stream;
}

LiveStreamPtr Hub::stream_of_user(long long user_id) {
  std::lock_guard lock(mutex_);
  auto it = user_streams_.find(user_id);
  return it == user_streams_.end() ? nullptr : it->second;
}

LiveStreamPtr Hub::stream_of_session(long long session_id) {
  std::lock_guard lock(mutex_);
  Channel* c = channel_of_session(session_id);
  return c ? c->stream : nullptr;
}

std::vector<LiveStreamPtr> Hub::streams() {
  std::lock_guard lock(mutex_);
  std::vector<LiveStreamPtr> out;
  out.reserve(user_streams_.size());
  for (const auto& [name, c] : channels_) {
    if (c.stream) out.push_back(c.stream);
  }
  return out;
}

std::optional<StreamSnapshot> Hub::close_stream(const std::string& username, EndReason reason,
                                                const std::string& message) {
  std::shared_ptr<Peer> ingest;
  std::shared_ptr<const PeerList> viewers;
  StreamSnapshot snap;
  {
    std::lock_guard lock(mutex_);
    auto it = channels_.find(username);
    if (it == channels_.end() || !it->second.stream) return std::nullopt;
    auto& c = it->second;
    auto& a = c.stream->media;
    snap = snapshot_of(c, a, clock_.now_ms());
    ingest = std::move(a.ingest);
    unregister(c);
    c.sent_state = StreamState::kOffline;
    c.latest_output.reset();
    c.latest_meta.reset();
    viewers = c.viewers;
    gc_channel(username);
  }
  if (tap_) tap_->stream_ended(username);
  auto ended = wire::encode_ended(reason, message);
  if (cluster_) {
    cluster_->withdraw(snap.session_id);
    cluster_->forget(username, snap.session_id);
    cluster_->publish_text(username, wire::encode_state(StreamState::kEnded));
    cluster_->publish_text(username, ended);
  }
  if (ingest) {
    ingest->send_text(ended);
    ingest->close(CloseCode::kEnded, "stream ended");
  }
  auto ev = wire::encode_state(StreamState::kEnded);
  for (auto& v : *viewers) {
    v->send_text(ev);
    v->send_text(ended);
  }
  spdlog::info("event=stream_closed stream={} session_id={} reason={}", username, snap.session_id,
               to_string(reason));
  return snap;
}

std::optional<StreamResume> Hub::hand_over(const std::string& username) {
  std::shared_ptr<Peer> ingest;
  StreamResume r;
  long long session_id = 0;
  {
    std::lock_guard lock(mutex_);
    auto it = channels_.find(username);
    if (it == channels_.end() || !it->second.stream) return std::nullopt;
    auto& c = it->second;
    auto& a = c.stream->media;
    r.opened_ms = a.opened_ms;
    r.first_frame_ms = a.first_frame_ms;
    r.last_frame_ms = a.last_frame_ms;
    r.frames_in = a.frames_in;
    r.frames_out = a.frames_out;
    r.max_viewers = a.max_viewers;
    r.next_seq = a.next_seq;
    // Viewers here now follow the stream on its new home, which goes on from this frame.
    c.remote_session = a.info.session_id;
    c.remote_seq = a.last_shown_seq;
    session_id = a.info.session_id;
    ingest = std::move(a.ingest);
    unregister(c);
    gc_channel(username);
  }
  if (ingest) {
    ingest->send_text(wire::encode_ended(EndReason::kReplaced, "replaced by a newer connection"));
    ingest->close(CloseCode::kReplaced, "replaced by a newer connection");
  }
  if (tap_) {
    r.media = tap_->media_continuation(username, session_id);
  }
  spdlog::info("event=stream_handed_over stream={}", username);
  return r;
}

std::optional<StreamSnapshot> Hub::snapshot(const std::string& username) {
  std::lock_guard lock(mutex_);
  auto it = channels_.find(username);
  if (it == channels_.end() || !it->second.stream) return std::nullopt;
  return snapshot_of(it->second, it->second.stream->media, clock_.now_ms());
}

std::vector<StreamSnapshot> Hub::snapshots() {
  std::lock_guard lock(mutex_);
  std::vector<StreamSnapshot> out;
  auto now = clock_.now_ms();
  for (auto& [name, c] : channels_) {
    if (c.stream) out.push_back(snapshot_of(c, c.stream->media, now));
  }
  return out;
}

}  // namespace ds::live
