#include "live/hub.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "live/cluster.hpp"
#include "live/protocol.hpp"

namespace ds::live {

using wire::CloseCode;

namespace {

using Peers = std::vector<std::shared_ptr<Peer>>;  // Hub::PeerList

// A channel's viewer list is never changed in place (see Hub::Channel::viewers): these make
// the next one.
std::shared_ptr<const Peers> with(const Peers& viewers, std::shared_ptr<Peer> peer) {
  auto next = std::make_shared<Peers>();
  next->reserve(viewers.size() + 1);
  *next = viewers;
  next->push_back(std::move(peer));
  return next;
}

std::shared_ptr<const Peers> without(const Peers& viewers, const Peer* peer) {
  auto next = std::make_shared<Peers>(viewers);
  std::erase_if(*next, [&](const auto& p) { return p.get() == peer; });
  return next;
}

// A text to each of the viewers taken under the lock, if they were.
void send_to(const std::shared_ptr<const Peers>& viewers, const Bytes& text) {
  if (!viewers) return;
  for (const auto& v : *viewers) v->send_text(text);
}

}  // namespace

Hub::Hub(const Clock& clock, HubConfig config) : clock_(clock), config_(config) {}

void Hub::set_cluster(Cluster* cluster) {
  cluster_ = cluster;
  if (!cluster_) return;
  ClusterEvents events;
  events.frames_ready = [this] { on_frames_ready(); };
  events.result = [this](const FrameResult& r) { on_remote_result(r); };
  events.text = [this](const std::string& u, const Bytes& t) { on_remote_text(u, t); };
  events.viewers = [this](const std::string& u, int n) { on_viewer_total(u, n); };
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
        if (c.stream) local.push_back(snapshot_of(c, *c.stream, now));
      }
    }
    for (const auto& s : local) cluster_->announce(s);
  };
  cluster_->listen(std::move(events));
}

void Hub::flush(Outbox& out) {
  for (auto& n : out.notices) n.peer->send_text(n.text);
  for (auto& j : out.jobs) j.peer->send_ordered(std::move(j.text), std::move(j.binaries));
  for (auto& f : out.fanouts) {
    std::lock_guard gate(f.gate->m);
    auto& d = *f.gate;
    if (std::pair(f.session, f.seq) <= std::pair(d.session, d.seq)) continue;  // a newer went first
    d.session = f.session;
    d.seq = f.seq;
    d.meta = f.meta;
    d.jpeg = f.jpeg;
    for (auto& v : *f.peers) v->send_frame(f.meta, f.jpeg, true);
    if (f.ingest) f.ingest->send_frame(f.meta, f.jpeg, true);
  }
  if (!cluster_) return;
  for (auto& [username, text] : out.texts) cluster_->publish_text(username, text);
  for (auto& r : out.results) cluster_->publish_result(r);
  for (const auto& claim : out.claims) {
    auto id = claim.first;  // not a structured binding: clang 14 cannot capture one
    cluster_->claim_batch(claim.second,
                          [this, id](std::vector<FrameOffer> f) { on_claimed(id, std::move(f)); });
  }
}

void Hub::follow(const std::string& username, Channel& c) {
  if (!cluster_ || c.following) return;
  c.following = true;
  cluster_->follow(username);
}

StreamState Hub::state_of(const Active& a, std::int64_t now) const {
  if (a.last_output_ms > 0 && now - a.last_output_ms <= config_.waiting_after_ms) {
    return StreamState::kLive;
  }
  return StreamState::kWaiting;
}

StreamSnapshot Hub::snapshot_of(const Channel& c, const Active& a, std::int64_t now) const {
  StreamSnapshot s;
  s.session_id = a.info.session_id;
  s.user_id = a.info.user_id;
  s.username = a.info.username;
  s.display_name = a.info.display_name;
  s.state = state_of(a, now);
  s.viewers = audience(c);
  s.max_viewers = a.max_viewers;
  s.opened_ms = a.opened_ms;
  s.first_frame_ms = a.first_frame_ms;
  s.last_frame_ms = a.last_frame_ms;
  s.frames_in = a.frames_in;
  s.frames_dropped = a.mailbox.dropped();
  s.frames_skipped = a.frames_skipped;
  s.frames_out = a.frames_out;
  s.fps_in = a.rate_in.rate();
  s.fps_out = a.rate_out.rate();
  s.model_ms = a.model_ms;
  s.frame_age_ms = a.last_output_ms > 0 ? a.last_output_ms - a.last_output_captured_ms : 0;
  s.has_ingest = a.ingest != nullptr;
  s.style = a.info.style;
  return s;
}

Hub::Channel* Hub::channel_of_session(long long session_id) {
  auto it = session_names_.find(session_id);
  if (it == session_names_.end()) return nullptr;
  auto c = channels_.find(it->second);
  if (c == channels_.end() || !c->second.stream) return nullptr;
  return &c->second;
}

void Hub::gc_channel(const std::string& username) {
  auto it = channels_.find(username);
  if (it == channels_.end() || it->second.stream || !it->second.viewers->empty()) return;
  if (it->second.following) cluster_->unfollow(username);
  channels_.erase(it);
}

bool Hub::open_stream(const StreamOpen& info) {
  std::shared_ptr<const PeerList> viewers;
  {
    std::lock_guard lock(mutex_);
    auto& c = channels_[info.username];
    if (c.stream) return false;
    Active a;
    a.info = info;
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
    c.stream = std::move(a);
    if (!resumed) {
      c.latest_output.reset();
      c.latest_meta.reset();
      c.sent_state = StreamState::kWaiting;
      viewers = c.viewers;
    }
    session_names_[info.session_id] = info.username;
    follow(info.username, c);
    if (cluster_) cluster_->announce(snapshot_of(c, *c.stream, clock_.now_ms()));
  }
  auto ev = wire::encode_state(StreamState::kWaiting);
  send_to(viewers, ev);
  if (cluster_ && !info.resume) cluster_->publish_text(info.username, ev);
  spdlog::info("event=stream_opened stream={} session_id={}", info.username, info.session_id);
  return true;
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
    auto& a = *c.stream;
    snap = snapshot_of(c, a, clock_.now_ms());
    scheduler_.remove(a.info.session_id);
    session_names_.erase(a.info.session_id);
    ingest = std::move(a.ingest);
    c.stream.reset();
    c.sent_state = StreamState::kOffline;
    c.latest_output.reset();
    c.latest_meta.reset();
    viewers = c.viewers;
    gc_channel(username);
  }
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
  {
    std::lock_guard lock(mutex_);
    auto it = channels_.find(username);
    if (it == channels_.end() || !it->second.stream) return std::nullopt;
    auto& c = it->second;
    auto& a = *c.stream;
    r.opened_ms = a.opened_ms;
    r.first_frame_ms = a.first_frame_ms;
    r.last_frame_ms = a.last_frame_ms;
    r.frames_in = a.frames_in;
    r.frames_out = a.frames_out;
    r.max_viewers = a.max_viewers;
    r.next_seq = a.next_seq;
    scheduler_.remove(a.info.session_id);
    session_names_.erase(a.info.session_id);
    // Viewers here now follow the stream on its new home, which goes on from this frame.
    c.remote_session = a.info.session_id;
    c.remote_seq = a.last_shown_seq;
    ingest = std::move(a.ingest);
    c.stream.reset();
    gc_channel(username);
  }
  if (ingest) {
    ingest->send_text(wire::encode_ended(EndReason::kReplaced, "replaced by a newer connection"));
    ingest->close(CloseCode::kReplaced, "replaced by a newer connection");
  }
  spdlog::info("event=stream_handed_over stream={}", username);
  return r;
}

void Hub::set_style(const std::string& username, const StyleParams& style) {
  std::lock_guard lock(mutex_);
  auto it = channels_.find(username);
  if (it == channels_.end() || !it->second.stream) return;
  auto& a = *it->second.stream;
  a.info.style = style;
  // Style and settings changes come here: the next frame is processed even when unchanged.
  a.style_version++;
}

void Hub::set_status_extra(const std::string& username, nlohmann::json extra) {
  std::lock_guard lock(mutex_);
  auto it = channels_.find(username);
  if (it != channels_.end() && it->second.stream)
    it->second.stream->status_extra = std::move(extra);
}

void Hub::broadcast_text(const std::string& username, Bytes text) {
  std::shared_ptr<const PeerList> viewers;
  std::shared_ptr<Peer> ingest;
  {
    std::lock_guard lock(mutex_);
    auto it = channels_.find(username);
    if (it != channels_.end()) {
      viewers = it->second.viewers;
      if (it->second.stream) ingest = it->second.stream->ingest;
    }
  }
  send_to(viewers, text);
  if (ingest) ingest->send_text(text);
  if (cluster_) cluster_->publish_text(username, text);
}

bool Hub::attach_ingest(const std::string& username, std::shared_ptr<Peer> peer) {
  std::shared_ptr<Peer> old;
  {
    std::lock_guard lock(mutex_);
    auto it = channels_.find(username);
    if (it == channels_.end() || !it->second.stream) return false;
    old = std::exchange(it->second.stream->ingest, std::move(peer));
  }
  if (old) {
    old->send_text(wire::encode_ended(EndReason::kReplaced, "replaced by a newer connection"));
    old->close(CloseCode::kReplaced, "replaced by a newer connection");
  }
  return true;
}

long long Hub::detach_ingest(const std::string& username, const Peer* peer) {
  std::lock_guard lock(mutex_);
  auto it = channels_.find(username);
  if (it == channels_.end() || !it->second.stream) return 0;
  auto& a = *it->second.stream;
  if (a.ingest.get() != peer) return 0;
  a.ingest.reset();
  return a.info.session_id;
}

std::optional<FrameAccepted> Hub::push_frame(const std::string& username, Bytes jpeg) {
  Outbox out;
  FrameAccepted accepted;
  std::optional<FrameOffer> offer;
  // Decoded outside the lock: the hub never waits on a decode.
  std::optional<domain::Thumbnail> thumbnail;
  if (config_.skip_similar > 0 && config_.thumbnail) thumbnail = config_.thumbnail(*jpeg);
  {
    std::lock_guard lock(mutex_);
    auto it = channels_.find(username);
    if (it == channels_.end() || !it->second.stream) return std::nullopt;
    auto& a = *it->second.stream;
    auto now = clock_.now_ms();
    accepted.seq = a.next_seq++;
    accepted.first = a.first_frame_ms == 0;
    if (accepted.first) a.first_frame_ms = now;
    a.last_frame_ms = now;
    a.frames_in++;
    totals_.frames_in++;
    if (thumbnail && skip_unchanged(a, *thumbnail, accepted.seq, now)) {
      // Viewers keep the last output; the stream stays alive (last_frame_ms) and is billed.
      a.frames_skipped++;
      totals_.frames_skipped++;
      return accepted;
    }
    if (a.mailbox.put({accepted.seq, now, std::move(jpeg)})) totals_.frames_dropped++;
    if (cluster_ && cluster_->healthy()) {
      // Into the shared line, for an idle worker on any node; one frame per stream on its
      // way there at a time, the newest waiting in the mailbox meanwhile.
      if (!a.offering) offer = take_offer(a);
    } else {
      // A job of this stream still waiting at a worker is superseded: the newer frame takes
      // its place in line, so an extra slot never adds a stale frame's age.
      auto since = a.waiting_job ? supersede(a, out) : std::nullopt;
      scheduler_.ready(a.info.session_id, since.value_or(now));
      dispatch(now, out);
    }
  }
  if (offer) send_offer(std::move(*offer));
  flush(out);
  return accepted;
}

bool Hub::skip_unchanged(Active& a, const domain::Thumbnail& thumbnail, std::uint64_t seq,
                         std::int64_t now) {
  // The frame that waited in the mailbox has gone to the model since.
  if (a.skip_pending && !a.mailbox.has_frame()) a.skip_last = std::exchange(a.skip_pending, {});
  const auto& last = a.skip_last;
  // Its output is shown or still to come, not lost with a worker. (Many nodes: it may be in
  // the shared line or at another node's worker; a lost one is made up after skip_max_ms.)
  bool output_due = last && (a.last_shown_seq >= last->seq || cluster_ ||
                             jobs_.due(a.info.session_id, last->seq));
  // A frame waiting in the mailbox is replaced, not kept: the newer one costs no more.
  bool skip = !a.mailbox.has_frame() && output_due && last->style_version == a.style_version &&
              now - last->at_ms < config_.skip_max_ms &&
              domain::change_between(last->thumbnail, thumbnail) < config_.skip_similar;
  if (!skip) a.skip_pending = SkipReference{thumbnail, seq, now, a.style_version};
  return skip;
}

std::optional<FrameOffer> Hub::take_offer(Active& a) {
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
    auto& a = *it->second.stream;
    if (a.info.session_id != session_id) return;
    if (cluster_->healthy()) {
      next = take_offer(a);
    } else {
      // Redis went away: what waits goes to this node's own workers.
      a.offering = false;
      if (a.mailbox.has_frame()) {
        scheduler_.ready(session_id, clock_.now_ms());
        dispatch(clock_.now_ms(), out);
      }
    }
  }
  if (next) send_offer(std::move(*next));
  flush(out);
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

void Hub::add_viewer(const std::string& username, std::shared_ptr<Peer> peer, bool counted,
                     std::optional<StreamState> announced) {
  Bytes state;
  int count = 0;
  std::shared_ptr<Delivery> gate;  // set when the channel has a picture of its current session
  long long session = 0;
  {
    std::lock_guard lock(mutex_);
    auto& c = channels_[username];
    c.viewers = with(*c.viewers, peer);
    if (!c.stream) follow(username, c);
    if (announced && !c.stream && !c.sent_state) c.sent_state = *announced;
    if (!counted) c.previews.push_back(peer.get());
    count = audience(c);
    if (c.latest_output) gate = c.delivered;
    if (c.stream) {
      c.stream->max_viewers = std::max(c.stream->max_viewers, count);
      state = wire::encode_state(state_of(*c.stream, clock_.now_ms()));
      session = c.stream->info.session_id;
    } else if (c.following && c.sent_state) {
      state = wire::encode_state(*c.sent_state);
      session = c.remote_session;
    } else {
      state = wire::encode_state(StreamState::kOffline);
    }
  }
  peer->send_text(state);
  peer->send_text(wire::encode_viewers(count));
  if (!gate) return;
  // The newest picture delivered, under the gate, so that no older one follows a newer.
  std::lock_guard lock(gate->m);
  if (gate->jpeg && gate->session == session) peer->send_frame(gate->meta, gate->jpeg, true);
}

void Hub::remove_viewer(const std::string& username, const Peer* peer) {
  std::lock_guard lock(mutex_);
  auto it = channels_.find(username);
  if (it == channels_.end()) return;
  it->second.viewers = without(*it->second.viewers, peer);
  std::erase(it->second.previews, peer);
  gc_channel(username);
}

std::int64_t Hub::add_worker(std::shared_ptr<Peer> peer, std::string name, int slots,
                             int max_batch) {
  Outbox out;
  std::int64_t id = 0;
  {
    std::lock_guard lock(mutex_);
    id = next_worker_id_++;
    auto& w = workers_[id];
    w.peer = std::move(peer);
    w.name = std::move(name);
    w.slots = std::clamp(slots, 1, wire::kMaxSlots);
    w.max_batch = std::clamp(max_batch, 1, wire::kMaxBatch);
    make_available(id, w);
    dispatch(clock_.now_ms(), out);
  }
  flush(out);
  return id;
}

void Hub::remove_worker(std::int64_t worker_id) {
  std::lock_guard lock(mutex_);
  if (workers_.erase(worker_id) == 0) return;
  std::erase(idle_, worker_id);
  // Its jobs are lost; their streams simply carry on with their next frames.
  forget_jobs(worker_id);
}

void Hub::forget_jobs(std::int64_t worker_id) {
  for (const auto& job : jobs_.drop_worker(worker_id)) clear_waiting(job);
}

void Hub::make_available(std::int64_t worker_id, Worker& w) {
  if (w.available) return;
  if (static_cast<int>(w.held.size()) + w.claims >= slots_of(w)) return;
  w.available = true;
  idle_.push_back(worker_id);
}

void Hub::clear_waiting(const domain::JobTable::Job& job) {
  if (Channel* c = channel_of_session(job.stream_id)) {
    if (c->stream->waiting_job == job.job_id) c->stream->waiting_job = 0;
  }
}

void Hub::settle(Worker& w, std::uint64_t job_id) {
  for (auto it = w.held.begin(); it != w.held.end(); ++it) {
    if (std::erase(*it, job_id) == 0) continue;
    if (!it->empty()) return;
    bool oldest = it == w.held.begin();
    w.held.erase(it);
    // The next message is now the one being processed: its jobs no longer wait.
    if (oldest && !w.held.empty()) {
      for (auto id : w.held.front()) {
        if (auto* job = jobs_.find(id)) clear_waiting(*job);
      }
    }
    return;
  }
}

std::optional<std::int64_t> Hub::supersede(Active& a, Outbox& out) {
  auto job_id = std::exchange(a.waiting_job, 0);
  auto* job = jobs_.find(job_id);
  if (!job || job->cancelled) return std::nullopt;
  auto w = workers_.find(job->worker_id);
  if (w == workers_.end()) return std::nullopt;
  // Kept in the table until the worker answers: cancelled if it had not started, a result
  // (shown when still newer) if it had.
  job->cancelled = true;
  totals_.jobs_cancelled++;
  settle(w->second, job_id);
  make_available(w->first, w->second);
  out.jobs.push_back({w->second.peer, wire::encode_cancel(job_id), {}});
  return job->ready_ms;
}

bool Hub::congested(const Worker& w, const Outbox& out) const {
  auto q = w.peer->queued();
  for (const auto& j : out.jobs) {
    if (j.peer != w.peer) continue;
    q.messages += (j.text ? 1 : 0) + j.binaries.size();
    q.bytes += j.text ? j.text->size() : 0;
    for (const auto& b : j.binaries) q.bytes += b ? b->size() : 0;
  }
  const auto& full = config_.worker_queue_full;
  return q.messages >= full.messages || q.bytes >= full.bytes;
}

void Hub::dispatch(std::int64_t now, Outbox& out) {
  while (!scheduler_.empty()) {
    // The longest idle worker whose socket keeps up.
    auto next = std::find_if(idle_.begin(), idle_.end(),
                             [&](std::int64_t id) { return !congested(workers_.at(id), out); });
    if (next == idle_.end()) break;
    auto worker_id = *next;
    auto& w = workers_.at(worker_id);
    // The streams that have waited longest, one frame each (a stream is in line once).
    std::vector<Pick> picks;
    while (static_cast<int>(picks.size()) < w.max_batch) {
      auto entry = scheduler_.pop();
      if (!entry) break;
      Channel* c = channel_of_session(entry->id);
      if (!c) continue;
      auto& a = *c->stream;
      auto frame = a.mailbox.take();
      if (!frame) continue;
      picks.push_back({{a.info.session_id, a.info.username, frame->seq, frame->captured_ms,
                        a.info.style, std::move(frame->jpeg)},
                       entry->since_ms});
    }
    if (picks.empty()) break;
    idle_.erase(next);
    w.available = false;
    out.jobs.push_back(assign(worker_id, std::move(picks), now, false));
    make_available(worker_id, w);
  }
  // The rest ask the shared line, each one question at a time.
  if (!cluster_ || !cluster_->healthy()) return;
  for (auto it = idle_.begin(); it != idle_.end();) {
    auto id = *it;
    auto& w = workers_.at(id);
    if (congested(w, out)) {
      ++it;
      continue;
    }
    it = idle_.erase(it);
    w.available = false;
    w.claims++;
    out.claims.emplace_back(id, w.max_batch);
  }
}

Hub::Ordered Hub::assign(std::int64_t worker_id, std::vector<Pick> picks, std::int64_t now,
                         bool remote) {
  auto& w = workers_.at(worker_id);
  // Behind another message: these jobs wait, and a newer frame of their stream supersedes them.
  bool waits = !w.held.empty();
  std::vector<std::uint64_t> ids;
  std::vector<wire::Job> messages;
  std::vector<Bytes> jpegs;
  for (auto& [frame, ready_ms] : picks) {
    domain::JobTable::Job job;
    job.worker_id = worker_id;
    job.stream_id = frame.session_id;
    // A claimed frame may belong to a stream homed elsewhere: its result is published by name.
    if (remote) job.stream_name = frame.username;
    job.seq = frame.seq;
    job.captured_ms = frame.captured_ms;
    job.sent_ms = now;
    job.deadline_ms = now + config_.job_timeout_ms;
    job.ready_ms = ready_ms;
    job = jobs_.add(job);
    totals_.jobs_sent++;
    ids.push_back(job.job_id);
    if (waits && !remote) {
      if (Channel* c = channel_of_session(frame.session_id)) c->stream->waiting_job = job.job_id;
    }
    wire::Job message;
    message.job_id = job.job_id;
    message.stream = frame.username;
    message.seq = frame.seq;
    message.captured_ms = frame.captured_ms;
    message.deadline_ms = job.deadline_ms;
    message.prompt = frame.style.prompt;
    message.strength = frame.style.strength;
    message.seed = frame.style.seed;
    messages.push_back(std::move(message));
    jpegs.push_back(std::move(frame.jpeg));
  }
  w.held.push_back(std::move(ids));
  auto text = w.max_batch > 1 ? wire::encode_batch(messages) : wire::encode_job(messages.front());
  return {w.peer, std::move(text), std::move(jpegs)};
}

void Hub::on_frames_ready() {
  Outbox out;
  {
    std::lock_guard lock(mutex_);
    for (auto& [id, w] : workers_) {
      if (w.claims > 0) w.reclaim = true;
    }
    dispatch(clock_.now_ms(), out);
  }
  flush(out);
}

void Hub::on_claimed(std::int64_t worker_id, std::vector<FrameOffer> frames) {
  Outbox out;
  {
    std::lock_guard lock(mutex_);
    auto it = workers_.find(worker_id);
    if (it == workers_.end() || it->second.claims == 0) {
      // The worker left while asking: the frames are lost, their streams go on with the next.
      totals_.frames_dropped += frames.size();
      return;
    }
    auto& w = it->second;
    if (frames.empty()) {
      if (w.reclaim && cluster_->healthy()) {
        w.reclaim = false;
        out.claims.emplace_back(worker_id, w.max_batch);
      } else {
        w.claims--;
        w.reclaim = false;
        make_available(worker_id, w);
      }
    } else {
      w.claims--;
      w.reclaim = false;
      auto now = clock_.now_ms();
      std::vector<Pick> picks;
      for (auto& f : frames) picks.push_back({std::move(f), now});
      out.jobs.push_back(assign(worker_id, std::move(picks), now, true));
      make_available(worker_id, w);
    }
  }
  flush(out);
}

void Hub::show(Channel& c, long long session, std::uint64_t seq, const Bytes& meta,
               const Bytes& jpeg, Outbox& out) {
  c.latest_output = jpeg;
  c.latest_meta = meta;
  // Through the gate even with nobody watching: a viewer who joins gets what it holds.
  out.fanouts.push_back(
      {c.viewers, c.stream ? c.stream->ingest : nullptr, c.delivered, session, seq, meta, jpeg});
}

ResultOutcome Hub::on_result(std::int64_t worker_id, std::uint64_t job_id, Bytes jpeg,
                             const nlohmann::json& timings) {
  Outbox out;
  Bytes went_live;  // state "live" for the viewers, when this frame ends a wait
  std::shared_ptr<const PeerList> viewers;
  ResultOutcome outcome = ResultOutcome::kUnknownJob;
  {
    std::lock_guard lock(mutex_);
    auto w = workers_.find(worker_id);
    // Job ids start at 1: job 0 is never held.
    auto job =
        w == workers_.end() || job_id == 0 ? std::nullopt : jobs_.complete(worker_id, job_id);
    if (!job) return ResultOutcome::kUnknownJob;
    // A cancelled job that had started anyway: no longer held, but its result may be news.
    if (!job->cancelled) settle(w->second, job_id);
    clear_waiting(*job);
    make_available(worker_id, w->second);
    auto now = clock_.now_ms();
    Channel* c = job ? channel_of_session(job->stream_id) : nullptr;
    double took = job ? static_cast<double>(now - job->sent_ms) : 0;
    if (!c && cluster_ && !job->stream_name.empty()) {
      // A stream homed on another node: its home and every node with viewers hear it.
      outcome = ResultOutcome::kShown;
      totals_.frames_shown++;
      FrameResult r{job->stream_id, job->stream_name, job->seq, job->captured_ms, now,
                    took,           timings,          jpeg};
      auto it = channels_.find(r.username);
      if (it != channels_.end() && !it->second.stream &&
          r.session_id >= it->second.remote_session) {
        auto& f = it->second;
        if (r.session_id != f.remote_session) f.remote_seq = 0;
        if (r.seq > f.remote_seq) {
          f.remote_session = r.session_id;
          f.remote_seq = r.seq;
          show(f, r.session_id, r.seq,
               wire::encode_frame_header({r.seq, r.captured_ms, now, timings}), jpeg, out);
        }
      }
      out.results.push_back(std::move(r));
    } else if (!c) {
      outcome = ResultOutcome::kStreamGone;
    } else if (job->seq <= c->stream->last_shown_seq) {
      outcome = ResultOutcome::kStale;
      totals_.results_stale++;
    } else {
      auto& a = *c->stream;
      outcome = ResultOutcome::kShown;
      a.last_shown_seq = job->seq;
      a.frames_out++;
      totals_.frames_shown++;
      a.last_output_ms = now;
      a.last_output_captured_ms = job->captured_ms;
      a.model_ms = a.model_ms == 0 ? took : a.model_ms * 0.8 + took * 0.2;
      show(*c, a.info.session_id, job->seq,
           wire::encode_frame_header({job->seq, job->captured_ms, now, timings}), jpeg, out);
      if (c->sent_state != StreamState::kLive) {
        c->sent_state = StreamState::kLive;
        went_live = wire::encode_state(StreamState::kLive);
        viewers = c->viewers;
        if (cluster_) out.texts.emplace_back(a.info.username, went_live);
      }
      if (cluster_) {
        out.results.push_back(FrameResult{a.info.session_id, a.info.username, job->seq,
                                          job->captured_ms, now, took, timings, jpeg});
      }
    }
    dispatch(now, out);
  }
  // Fan-out outside the lock: one shared buffer, queued per viewer with latest-wins.
  send_to(viewers, went_live);
  flush(out);
  return outcome;
}

void Hub::on_remote_result(const FrameResult& r) {
  Outbox out;
  Bytes went_live;
  std::shared_ptr<const PeerList> viewers;
  {
    std::lock_guard lock(mutex_);
    auto it = channels_.find(r.username);
    if (it == channels_.end()) return;
    auto& c = it->second;
    auto meta = wire::encode_frame_header({r.seq, r.captured_ms, r.processed_ms, r.timings});
    if (c.stream) {
      auto& a = *c.stream;
      if (a.info.session_id != r.session_id || r.seq <= a.last_shown_seq) {
        totals_.results_stale++;
        return;
      }
      // Processed on another node: this home keeps the stream's figures.
      auto now = clock_.now_ms();
      a.last_shown_seq = r.seq;
      a.frames_out++;
      a.last_output_ms = now;
      a.last_output_captured_ms = r.captured_ms;
      a.model_ms = a.model_ms == 0 ? r.model_ms : a.model_ms * 0.8 + r.model_ms * 0.2;
      if (c.sent_state != StreamState::kLive) {
        c.sent_state = StreamState::kLive;
        went_live = wire::encode_state(StreamState::kLive);
        viewers = c.viewers;
        out.texts.emplace_back(r.username, went_live);
      }
    } else {
      if (r.session_id < c.remote_session) return;
      if (r.session_id != c.remote_session) c.remote_seq = 0;
      if (r.seq <= c.remote_seq) return;
      c.remote_session = r.session_id;
      c.remote_seq = r.seq;
    }
    show(c, r.session_id, r.seq, meta, r.jpeg, out);
  }
  send_to(viewers, went_live);
  flush(out);
}

void Hub::on_remote_text(const std::string& username, const Bytes& text) {
  std::shared_ptr<const PeerList> viewers;
  std::shared_ptr<Peer> ingest;
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
      }
    }
    if (ev && ev->type == "styles") c.remote_styles = text;
    viewers = c.viewers;
    if (c.stream) ingest = c.stream->ingest;
  }
  send_to(viewers, text);
  if (ingest) ingest->send_text(text);
}

void Hub::on_viewer_total(const std::string& username, int total) {
  std::lock_guard lock(mutex_);
  auto it = channels_.find(username);
  if (it == channels_.end()) return;
  it->second.remote_viewers = std::max(0, total - it->second.reported);
}

bool Hub::on_worker_error(std::int64_t worker_id, std::uint64_t job_id) {
  Outbox out;
  {
    std::lock_guard lock(mutex_);
    auto w = workers_.find(worker_id);
    auto job =
        w == workers_.end() || job_id == 0 ? std::nullopt : jobs_.complete(worker_id, job_id);
    if (!job) return false;
    if (!job->cancelled) {
      totals_.jobs_failed++;
      settle(w->second, job_id);
    }
    clear_waiting(*job);
    make_available(worker_id, w->second);
    dispatch(clock_.now_ms(), out);
  }
  flush(out);
  return true;
}

bool Hub::on_cancelled(std::int64_t worker_id, std::uint64_t job_id) {
  // The same bookkeeping as an error: a job cancelled from here just ends; one the worker
  // dropped on its own was given up, and counts as failed.
  return on_worker_error(worker_id, job_id);
}

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

void Hub::cluster_tick(std::int64_t now) {
  cluster_->tick();
  if (now - last_cluster_tick_ms_ < 1000) return;
  last_cluster_tick_ms_ = now;
  std::vector<StreamSnapshot> local;
  std::map<std::string, int> counts;
  int total = 0, busy = 0;
  {
    std::lock_guard lock(mutex_);
    total = static_cast<int>(workers_.size());
    for (const auto& [id, w] : workers_) busy += !w.held.empty();
    for (auto& [name, c] : channels_) {
      c.reported = local_audience(c);
      counts[name] = c.reported;
      if (c.stream) local.push_back(snapshot_of(c, *c.stream, now));
    }
  }
  for (const auto& s : local) cluster_->announce(s);
  cluster_->report_viewers(counts);
  cluster_->report_workers(total, busy);
}

void Hub::expire_jobs(std::int64_t now, std::vector<std::shared_ptr<Peer>>& stalled) {
  for (const auto& job : jobs_.expire(now)) {
    // A cancelled job held no slot: past its deadline it is simply forgotten.
    if (job.cancelled) continue;
    // A stalled worker loses its jobs and its connection; it reconnects when it recovers.
    auto w = workers_.find(job.worker_id);
    totals_.jobs_timed_out++;
    clear_waiting(job);
    if (w == workers_.end()) continue;
    spdlog::warn("event=job_timeout worker={} job={}", w->second.name,
                 wire::job_id_text(job.job_id));
    stalled.push_back(w->second.peer);
    workers_.erase(w);
    std::erase(idle_, job.worker_id);
    forget_jobs(job.worker_id);
  }
}

void Hub::stream_states(std::int64_t now, Outbox& out) {
  for (auto& [name, c] : channels_) {
    if (!c.stream) continue;
    auto& a = *c.stream;
    a.max_viewers = std::max(a.max_viewers, audience(c));
    auto state = state_of(a, now);
    if (state == c.sent_state) continue;
    c.sent_state = state;
    auto ev = wire::encode_state(state);
    for (auto& v : *c.viewers) out.notices.push_back({v, ev});
    if (cluster_) out.texts.emplace_back(name, ev);
  }
}

void Hub::measure_rates(Active& a, std::int64_t now) {
  a.rate_in.sample(now, a.frames_in);
  a.rate_out.sample(now, a.frames_out);
}

void Hub::status_messages(std::int64_t now, std::vector<Notice>& out) {
  int total = static_cast<int>(workers_.size());
  int busy = 0;
  for (const auto& [id, w] : workers_) busy += !w.held.empty();
  // Many nodes: the streamer is served by the whole pool, not only this node's workers.
  if (cluster_ && pool_total_ >= 0) {
    total = pool_total_;
    busy = pool_busy_;
  }
  for (auto& [name, c] : channels_) {
    if (!c.stream || !c.stream->ingest) continue;
    auto& a = *c.stream;
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
    if (c.stream && c.stream->ingest) out.push_back({c.stream->ingest, ev});
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
      if (c.stream && c.stream->ingest) peers.push_back(std::move(c.stream->ingest));
    }
    for (auto& [id, w] : workers_) peers.push_back(std::move(w.peer));
    workers_.clear();
    idle_.clear();
  }
  // Destroyed here, outside the lock, while their io_context still exists (unless a frame's
  // fan-out still holds a list).
  viewer_lists.clear();
  peers.clear();
}

std::optional<StreamSnapshot> Hub::snapshot(const std::string& username) {
  std::lock_guard lock(mutex_);
  auto it = channels_.find(username);
  if (it == channels_.end() || !it->second.stream) return std::nullopt;
  return snapshot_of(it->second, *it->second.stream, clock_.now_ms());
}

std::vector<StreamSnapshot> Hub::snapshots() {
  std::lock_guard lock(mutex_);
  std::vector<StreamSnapshot> out;
  auto now = clock_.now_ms();
  for (auto& [name, c] : channels_) {
    if (c.stream) out.push_back(snapshot_of(c, *c.stream, now));
  }
  return out;
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

Bytes Hub::latest_output(const std::string& username) {
  std::lock_guard lock(mutex_);
  auto it = channels_.find(username);
  if (it == channels_.end() || !it->second.stream) return nullptr;
  return it->second.latest_output;
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

Hub::WorkerCounts Hub::worker_counts() {
  std::lock_guard lock(mutex_);
  WorkerCounts wc;
  wc.total = static_cast<int>(workers_.size());
  for (const auto& [id, w] : workers_) wc.busy += !w.held.empty();
  return wc;
}

HubTotals Hub::totals() {
  std::lock_guard lock(mutex_);
  return totals_;
}

}  // namespace ds::live
