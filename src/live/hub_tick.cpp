// Hub::tick and its steps (deadlines, stream states, status messages, viewer counts), and
// letting go of every connection at shutdown.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "live/cluster.hpp"
#include "live/hub.hpp"
#include "live/protocol.hpp"

namespace ds::live {

using wire::CloseCode;

void Hub::tick() {
  Outbox out;
  std::vector<std::shared_ptr<Peer>> stalled;
  {
    std::lock_guard lock(mutex_);
    auto now = clock_.now_ms();
    expire_jobs(now, stalled);
    stream_states(now, out);
    status_messages(now, out.notices);
    viewer_counts(out.notices);
    dispatch(now, out);
  }
  for (auto& p : stalled) p->close(CloseCode::kJobTimeout, "job timed out");
  flush(out);
  if (cluster_) cluster_tick(clock_.now_ms());
}

void Hub::expire_jobs(std::int64_t now, std::vector<std::shared_ptr<Peer>>& stalled) {
  for (auto& s : pool_.expire(now)) {
    spdlog::warn("event=job_timeout worker={} job={}", s.name, wire::job_id_text(s.job_id));
    stalled.push_back(std::move(s.peer));
  }
}

void Hub::stream_states(std::int64_t now, Outbox& out) {
  for (auto& [name, c] : channels_) {
    if (!c.stream) continue;
    auto& a = c.stream->media;
    a.max_viewers = std::max(a.max_viewers, audience(c));
    auto state = state_of(a, now);
    if (state == c.sent_state) continue;
    c.sent_state = state;
    auto ev = wire::encode_state(state);
    for (auto& v : *c.viewers) out.notices.push_back({v, ev});
    if (cluster_) out.texts.emplace_back(name, ev);
  }
}

void Hub::measure_rates(StreamMedia& a, std::int64_t now) {
  a.rate_in.sample(now, a.frames_in);
  a.rate_out.sample(now, a.frames_out);
}

void Hub::status_messages(std::int64_t now, std::vector<Notice>& out) {
  auto workers = pool_.counts();
  int total = workers.total;
  int busy = workers.busy;
  // Many nodes: the streamer is served by the whole pool, not only this node's workers.
  if (cluster_ && pool_total_ >= 0) {
    total = pool_total_;
    busy = pool_busy_;
  }
  for (auto& [name, c] : channels_) {
    if (!c.stream || !c.stream->media.ingest) continue;
    auto& a = c.stream->media;
    if (now - a.last_status_ms < config_.status_interval_ms) continue;
    measure_rates(a, now);
    a.last_status_ms = now;
    // The streamer's status is the snapshot's figures plus the worker pool and the extras.
    auto snap = snapshot_of(c, a, now);
    wire::Status status{.state = snap.state,
                        .stream_id = snap.session_id,
                        .viewers = snap.viewers,
                        .frames_in = snap.frames_in,
                        .frames_dropped = snap.frames_dropped,
                        .frames_skipped = snap.frames_skipped,
                        .frames_out = snap.frames_out,
                        .fps_in = snap.fps_in,
                        .fps_out = snap.fps_out,
                        .model_ms = snap.model_ms,
                        .frame_age_ms = snap.frame_age_ms,
                        .workers_total = total,
                        .workers_busy = busy,
                        .extra = a.status_extra};
    out.push_back({a.ingest, wire::encode_status(status)});
  }
}

void Hub::viewer_counts(std::vector<Notice>& out) {
  for (auto& [name, c] : channels_) {
    int count = audience(c);
    if (count == c.sent_viewers) continue;
    // At tick rate, not per join, so a crowd arriving costs O(n) not O(n²).
    c.sent_viewers = count;
    auto ev = wire::encode_viewers(count);
    for (auto& v : *c.viewers) out.push_back({v, ev});
    if (c.stream && c.stream->media.ingest) out.push_back({c.stream->media.ingest, ev});
  }
}

void Hub::release_peers() {
  std::vector<std::shared_ptr<const PeerList>> viewer_lists;
  std::vector<std::shared_ptr<Peer>> peers;
  {
    std::lock_guard lock(mutex_);
    for (auto& [name, c] : channels_) {
      viewer_lists.push_back(std::exchange(c.viewers, std::make_shared<const PeerList>()));
      c.previews.clear();
      if (c.stream && c.stream->media.ingest) peers.push_back(std::move(c.stream->media.ingest));
    }
    for (auto& p : pool_.release()) peers.push_back(std::move(p));
  }
  // Destroyed here, outside the lock, while their io_context still exists (unless a frame's
  // fan-out still holds a list).
  viewer_lists.clear();
  peers.clear();
}

}  // namespace ds::live
