// The hub's side of many nodes (docs/architecture.md, "Many nodes"): frames offered to and
// claimed from the shared line, results and events of streams homed elsewhere, the lookups
// that may wait on Redis, and the once-a-second announcements.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include "live/cluster.hpp"
#include "live/hub.hpp"
#include "live/protocol.hpp"

namespace ds::live {

void Hub::set_cluster(Cluster* cluster) {
  cluster_ = cluster;
  if (!cluster_) return;
  ClusterEvents events;
  events.frames_ready = [this] { on_frames_ready(); };
  events.result = [this](const FrameResult& r) { on_remote_result(r); };
  events.text = [this](const std::string& u, const Bytes& t) { on_remote_text(u, t); };
  events.viewers = [this](const std::string& u, int n) { on_viewer_total(u, n); };
  events.supersede = [this](long long session_id, std::uint64_t seq) {
    on_superseded(session_id, seq);
  };
  events.workers = [this](int total, int busy) {
    std::lock_guard lock(mutex_);
    pool_total_ = total;
    pool_busy_ = busy;
  };
  events.reconnected = [this] {
    std::vector<StreamSnapshot> local;
    {
      std::lock_guard lock(mutex_);
      auto now = clock_.now_ms();
      for (auto& [name, c] : channels_) {
        if (c.stream) local.push_back(snapshot_of(c, c.stream->media, now));
      }
    }
    for (const auto& s : local) cluster_->announce(s);
  };
  cluster_->listen(std::move(events));
}

void Hub::follow(const std::string& username, Channel& c) {
  if (!cluster_ || c.following) return;
  c.following = true;
  cluster_->follow(username);
}

std::optional<FrameOffer> Hub::take_offer(StreamMedia& a) {
  auto frame = a.mailbox.take();
  if (!frame) {
    a.offering = false;
    return std::nullopt;
  }
  a.offering = true;
  return FrameOffer{a.info.session_id,  a.info.username, frame->seq,
                    frame->captured_ms, a.info.style,    std::move(frame->jpeg)};
}

void Hub::send_offer(FrameOffer offer) {
  auto username = offer.username;
  auto session_id = offer.session_id;
  cluster_->offer(offer, [this, username, session_id] { on_offered(username, session_id); });
}

void Hub::on_offered(const std::string& username, long long session_id) {
  std::optional<FrameOffer> next;
  Outbox out;
  {
    std::lock_guard lock(mutex_);
    auto it = channels_.find(username);
    if (it == channels_.end() || !it->second.stream) return;
    auto& a = it->second.stream->media;
    if (a.info.session_id != session_id) return;
    if (cluster_->healthy()) {
      next = take_offer(a);
    } else {
      // Redis went away: what waits goes to this node's own workers.
      a.offering = false;
      if (a.mailbox.has_frame()) {
        pool_.ready(session_id, clock_.now_ms());
        dispatch(clock_.now_ms(), out);
      }
    }
  }
  if (next) send_offer(std::move(*next));
  flush(out);
}

void Hub::on_frames_ready() {
  Outbox out;
  {
    std::lock_guard lock(mutex_);
    pool_.frames_ready();
    dispatch(clock_.now_ms(), out);
  }
  flush(out);
}

void Hub::on_claimed(std::int64_t worker_id, std::vector<FrameOffer> frames) {
  Outbox out;
  {
    std::lock_guard lock(mutex_);
    auto count = frames.size();
    if (!pool_.claimed(worker_id, std::move(frames), clock_.now_ms(), cluster_->healthy(),
                       out.pool)) {
      // The worker left while asking: the frames are lost, their streams go on with the next.
      totals_.frames_dropped += count;
      return;
    }
  }
  flush(out);
}

void Hub::on_superseded(long long session_id, std::uint64_t seq) {
  Outbox out;
  {
    std::lock_guard lock(mutex_);
    pool_.superseded_from_line(session_id, seq, cluster_->healthy(), out.pool);
  }
  flush(out);
}

void Hub::on_remote_result(const FrameResult& r) {
  Outbox out;
  {
    std::lock_guard lock(mutex_);
    accept_result(r, false, out);
  }
  flush(out);
}

void Hub::on_remote_text(const std::string& username, const Bytes& text) {
  std::shared_ptr<const PeerList> viewers;
  std::shared_ptr<Peer> ingest;
  bool ended = false;
  {
    std::lock_guard lock(mutex_);
    auto it = channels_.find(username);
    if (it == channels_.end()) return;
    auto& c = it->second;
    // A state event from the home: remembered for viewers who join here later; so is the
    // style queue (no call to the home for each).
    auto ev = c.stream || !text ? std::nullopt : wire::parse_relayed_event(*text);
    if (ev && ev->type == "state" && ev->state) {
      c.sent_state = ev->state;
      if (ev->state == StreamState::kEnded || ev->state == StreamState::kOffline) {
        c.latest_output.reset();
        c.latest_meta.reset();
        c.remote_styles.reset();
        ended = true;
      }
    }
    if (ev && ev->type == "styles") c.remote_styles = text;
    viewers = c.viewers;
    if (c.stream) ingest = c.stream->media.ingest;
  }
  send_to(viewers, text);
  if (ingest) ingest->send_text(text);
  // The stream followed here ended on its home: the video encoder here stops too.
  if (ended && tap_) tap_->stream_ended(username);
}

void Hub::on_viewer_total(const std::string& username, int total) {
  std::lock_guard lock(mutex_);
  auto it = channels_.find(username);
  if (it == channels_.end()) return;
  it->second.remote_viewers = std::max(0, total - it->second.reported);
}

std::optional<StreamState> Hub::announced_state(const std::string& username) {
  if (!cluster_) return std::nullopt;
  {
    std::lock_guard lock(mutex_);
    auto it = channels_.find(username);
    if (it != channels_.end() && (it->second.stream || it->second.following)) return std::nullopt;
  }
  auto remote = cluster_->find(username);
  if (!remote) return std::nullopt;
  return remote->snapshot.state;
}

Bytes Hub::remote_styles(const std::string& username) {
  std::lock_guard lock(mutex_);
  auto it = channels_.find(username);
  if (it == channels_.end() || it->second.stream || !it->second.following) return nullptr;
  return it->second.remote_styles;
}

void Hub::remember_styles(const std::string& username, Bytes event) {
  std::lock_guard lock(mutex_);
  auto it = channels_.find(username);
  if (it == channels_.end() || it->second.stream || !it->second.following) return;
  if (!it->second.remote_styles) it->second.remote_styles = std::move(event);
}

void Hub::cluster_tick(std::int64_t now) {
  cluster_->tick();
  if (now - last_cluster_tick_ms_ < 1000) return;
  last_cluster_tick_ms_ = now;
  std::vector<StreamSnapshot> local;
  std::map<std::string, int> counts;
  int total = 0, busy = 0;
  {
    std::lock_guard lock(mutex_);
    auto workers = pool_.counts();
    total = workers.total;
    busy = workers.busy;
    for (auto& [name, c] : channels_) {
      c.reported = local_audience(c);
      counts[name] = c.reported;
      if (c.stream) local.push_back(snapshot_of(c, c.stream->media, now));
    }
  }
  for (const auto& s : local) cluster_->announce(s);
  cluster_->report_viewers(counts);
  cluster_->report_workers(total, busy);
}

std::optional<StreamSnapshot> Hub::find(const std::string& username) {
  if (auto local = snapshot(username)) return local;
  if (!cluster_) return std::nullopt;
  auto remote = cluster_->find(username);
  if (!remote) return std::nullopt;
  return remote->snapshot;
}

std::vector<StreamSnapshot> Hub::all_streams() {
  auto out = snapshots();
  if (!cluster_) return out;
  auto remotes = cluster_->streams();
  if (!remotes) return out;
  for (auto& remote : *remotes) {
    bool local = std::any_of(out.begin(), out.end(), [&](const StreamSnapshot& s) {
      return s.username == remote.snapshot.username;
    });
    if (!local) out.push_back(std::move(remote.snapshot));
  }
  return out;
}

std::optional<std::string> Hub::home_of(const std::string& username) {
  if (!cluster_ || snapshot(username)) return std::nullopt;
  auto remote = cluster_->find(username);
  if (!remote || remote->node == cluster_->node_id()) return std::nullopt;
  return remote->node;
}

Bytes Hub::followed_output(const std::string& username) {
  std::lock_guard lock(mutex_);
  auto it = channels_.find(username);
  if (it == channels_.end() || it->second.stream || !it->second.following) return nullptr;
  return it->second.latest_output;
}

int Hub::viewer_count(const std::string& username) {
  {
    std::lock_guard lock(mutex_);
    auto it = channels_.find(username);
    if (it != channels_.end() && (it->second.stream || !cluster_)) return audience(it->second);
    if (!cluster_) return 0;
  }
  auto remote = cluster_->find(username);
  return remote ? remote->snapshot.viewers : 0;
}

}  // namespace ds::live
