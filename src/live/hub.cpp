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

}  // namespace

Hub::Hub(const Clock& clock, HubConfig config)
    : clock_(clock), config_(config), pool_({config.job_timeout_ms, config.worker_queue_full}) {}

void Hub::flush(Outbox& out) {
  for (auto& b : out.broadcasts) send_to(b.peers, b.text);
  for (auto& n : out.notices) n.peer->send_text(n.text);
  for (auto& m : out.pool.messages) m.peer->send_ordered(std::move(m.text), std::move(m.binaries));
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
    // After the JPEG viewers, in their order; the tap only hands the picture over.
    if (tap_) tap_->picture({f.username, f.session, f.seq, f.captured_ms, f.processed_ms, f.jpeg});
  }
  if (!cluster_) return;
  for (auto& [username, text] : out.texts) cluster_->publish_text(username, text);
  for (auto& r : out.results) cluster_->publish_result(r);
  for (const auto& claim : out.pool.claims) {
    auto id = claim.worker_id;
    cluster_->claim_for({claim.max, claim.first, claim.mark_ms},
                        [this, id](std::vector<FrameOffer> f) { on_claimed(id, std::move(f)); });
  }
}

// A text to each of the viewers taken under the lock, if they were.
void Hub::send_to(const std::shared_ptr<const PeerList>& viewers, const Bytes& text) {
  if (!viewers) return;
  for (const auto& v : *viewers) v->send_text(text);
}

StreamState Hub::state_of(const StreamMedia& a, std::int64_t now) const {
  if (a.last_output_ms > 0 && now - a.last_output_ms <= config_.waiting_after_ms) {
    return StreamState::kLive;
  }
  return StreamState::kWaiting;
}

StreamSnapshot Hub::snapshot_of(const Channel& c, const StreamMedia& a, std::int64_t now) const {
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

void Hub::set_style(const std::string& username, const StyleParams& style) {
  std::lock_guard lock(mutex_);
  auto it = channels_.find(username);
  if (it == channels_.end() || !it->second.stream) return;
  auto& a = it->second.stream->media;
  a.info.style = style;
  // Style and settings changes come here: the next frame is processed even when unchanged.
  a.style_version++;
}

void Hub::set_style(LiveStream& stream, const StyleParams& style) {
  std::lock_guard lock(mutex_);
  // Harmless on a stream that has ended or moved: nothing reads its media any more.
  stream.media.info.style = style;
  stream.media.style_version++;
}

void Hub::set_status_extra(const std::string& username, nlohmann::json extra) {
  std::lock_guard lock(mutex_);
  auto it = channels_.find(username);
  if (it != channels_.end() && it->second.stream)
    it->second.stream->media.status_extra = std::move(extra);
}

void Hub::broadcast_text(const std::string& username, Bytes text) {
  std::shared_ptr<const PeerList> viewers;
  std::shared_ptr<Peer> ingest;
  {
    std::lock_guard lock(mutex_);
    auto it = channels_.find(username);
    if (it != channels_.end()) {
      viewers = it->second.viewers;
      if (it->second.stream) ingest = it->second.stream->media.ingest;
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
    old = std::exchange(it->second.stream->media.ingest, std::move(peer));
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
  auto& a = it->second.stream->media;
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
    auto& a = it->second.stream->media;
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
      pool_.frame_ready(a.info.session_id, now, out.pool);
      dispatch(now, out);
    }
  }
  if (offer) send_offer(std::move(*offer));
  flush(out);
  return accepted;
}

bool Hub::skip_unchanged(StreamMedia& a, const domain::Thumbnail& thumbnail, std::uint64_t seq,
                         std::int64_t now) {
  // The frame that waited in the mailbox has gone to the model since.
  if (a.skip_pending && !a.mailbox.has_frame()) a.skip_last = std::exchange(a.skip_pending, {});
  const auto& last = a.skip_last;
  // Its output is shown or still to come, not lost with a worker. (Many nodes: it may be in
  // the shared line or at another node's worker; a lost one is made up after skip_max_ms.)
  bool output_due = last && (a.last_shown_seq >= last->seq || cluster_ ||
                             pool_.due(a.info.session_id, last->seq));
  // A frame waiting in the mailbox is replaced, not kept: the newer one costs no more.
  bool skip = !a.mailbox.has_frame() && output_due && last->style_version == a.style_version &&
              now - last->at_ms < config_.skip_max_ms &&
              domain::change_between(last->thumbnail, thumbnail) < config_.skip_similar;
  if (!skip) a.skip_pending = SkipReference{thumbnail, seq, now, a.style_version};
  return skip;
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
      c.stream->media.max_viewers = std::max(c.stream->media.max_viewers, count);
      state = wire::encode_state(state_of(c.stream->media, clock_.now_ms()));
      session = c.stream->media.info.session_id;
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
    id = pool_.add_worker(std::move(peer), std::move(name), slots, max_batch);
    dispatch(clock_.now_ms(), out);
  }
  flush(out);
  return id;
}

void Hub::remove_worker(std::int64_t worker_id) {
  std::lock_guard lock(mutex_);
  // Its jobs are lost; their streams simply carry on with their next frames.
  pool_.remove_worker(worker_id);
}

void Hub::dispatch(std::int64_t now, Outbox& out) {
  auto take = [this](WorkerPool::StreamId id) -> std::optional<FrameOffer> {
    Channel* c = channel_of_session(id);
    if (!c) return std::nullopt;
    auto& a = c->stream->media;
    auto frame = a.mailbox.take();
    if (!frame) return std::nullopt;
    return FrameOffer{a.info.session_id,  a.info.username, frame->seq,
                      frame->captured_ms, a.info.style,    std::move(frame->jpeg)};
  };
  auto backlog = [this](std::int64_t worker_id) { return pool_.peer(worker_id)->queued(); };
  pool_.dispatch(now, take, backlog, cluster_ && cluster_->healthy(), out.pool);
}

ResultOutcome Hub::on_result(std::int64_t worker_id, std::uint64_t job_id, Bytes jpeg,
                             const nlohmann::json& timings) {
  Outbox out;
  ResultOutcome outcome = ResultOutcome::kUnknownJob;
  {
    std::lock_guard lock(mutex_);
    auto job = pool_.complete(worker_id, job_id, WorkerPool::Answer::kResult);
    if (!job) return ResultOutcome::kUnknownJob;
    auto now = clock_.now_ms();
    // A claimed frame of a stream homed elsewhere carries its name; one of a stream here is
    // found by its session.
    auto username = job->stream_name;
    if (auto it = session_names_.find(job->stream_id); it != session_names_.end())
      username = it->second;
    FrameResult r{job->stream_id,
                  std::move(username),
                  job->seq,
                  job->captured_ms,
                  now,
                  static_cast<double>(now - job->sent_ms),
                  timings,
                  std::move(jpeg)};
    outcome = accept_result(r, true, out);
    dispatch(now, out);
  }
  // Fan-out outside the lock: one shared buffer, queued per viewer with latest-wins.
  flush(out);
  return outcome;
}

bool Hub::on_worker_error(std::int64_t worker_id, std::uint64_t job_id) {
  Outbox out;
  {
    std::lock_guard lock(mutex_);
    if (!pool_.complete(worker_id, job_id, WorkerPool::Answer::kError)) return false;
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

ResultOutcome Hub::accept_result(const FrameResult& r, bool local, Outbox& out) {
  auto meta = [&] {
    return wire::encode_frame_header({r.seq, r.captured_ms, r.processed_ms, r.timings});
  };
  if (Channel* c = channel_of_session(r.session_id)) {
    // Homed here: this home keeps the stream's figures, wherever the frame was processed.
    auto& a = c->stream->media;
    if (r.seq <= a.last_shown_seq) {
      totals_.results_stale++;
      return ResultOutcome::kStale;
    }
    a.last_shown_seq = r.seq;
    a.frames_out++;
    a.last_output_ms = clock_.now_ms();
    a.last_output_captured_ms = r.captured_ms;
    a.model_ms = a.model_ms == 0 ? r.model_ms : a.model_ms * 0.8 + r.model_ms * 0.2;
    if (local) totals_.frames_shown++;  // one from another node was counted there
    show(*c, r, a.info.username, meta(), out);
    if (c->sent_state != StreamState::kLive) {
      c->sent_state = StreamState::kLive;
      auto went_live = wire::encode_state(StreamState::kLive);
      out.broadcasts.push_back({c->viewers, went_live});
      if (cluster_) out.texts.emplace_back(r.username, went_live);
    }
    if (local && cluster_) out.results.push_back(r);
    return ResultOutcome::kShown;
  }
  auto it = r.username.empty() ? channels_.end() : channels_.find(r.username);
  if (local && (!cluster_ || r.username.empty())) return ResultOutcome::kStreamGone;
  if (it != channels_.end() && it->second.stream) {
    // The name has a newer session here: a result of the old one is news to nobody here, but
    // one processed here is still published (every node judges it by its own newest).
    if (!local) {
      totals_.results_stale++;
      return ResultOutcome::kStale;
    }
  } else if (it != channels_.end()) {
    // Homed elsewhere and followed here: shown when newer than the last one shown here
    // (results from two workers can cross).
    auto& f = it->second;
    if (r.session_id >= f.remote_session) {
      if (r.session_id != f.remote_session) f.remote_seq = 0;
      if (r.seq > f.remote_seq) {
        f.remote_session = r.session_id;
        f.remote_seq = r.seq;
        show(f, r, it->first, meta(), out);
        // The home's "live" can go out before this node hears the channel (the first viewer
        // here subscribes as it looks the stream up, and the subscription takes a moment): a
        // picture says as much. Never after an end was heard: that one is newer news.
        if (!f.sent_state || f.sent_state == StreamState::kWaiting) {
          f.sent_state = StreamState::kLive;
          out.broadcasts.push_back({f.viewers, wire::encode_state(StreamState::kLive)});
        }
      }
    }
  }
  if (!local) return ResultOutcome::kShown;
  // Processed here for a stream homed elsewhere: its home and every node with viewers hear it.
  totals_.frames_shown++;
  out.results.push_back(r);
  return ResultOutcome::kShown;
}

void Hub::show(Channel& c, const FrameResult& r, const std::string& username, const Bytes& meta,
               Outbox& out) {
  c.latest_output = r.jpeg;
  c.latest_meta = meta;
  // Through the gate even with nobody watching: a viewer who joins gets what it holds.
  out.fanouts.push_back({c.viewers, c.stream ? c.stream->media.ingest : nullptr, c.delivered,
                         r.session_id, r.seq, meta, r.jpeg, username, r.captured_ms,
                         r.processed_ms});
}

Bytes Hub::latest_output(const std::string& username) {
  std::lock_guard lock(mutex_);
  auto it = channels_.find(username);
  if (it == channels_.end() || !it->second.stream) return nullptr;
  return it->second.latest_output;
}

Hub::WorkerCounts Hub::worker_counts() {
  std::lock_guard lock(mutex_);
  auto c = pool_.counts();
  return {c.total, c.busy};
}

HubTotals Hub::totals() {
  std::lock_guard lock(mutex_);
  HubTotals t = totals_;
  const auto& jobs = pool_.totals();
  t.jobs_sent = jobs.jobs_sent;
  t.jobs_failed = jobs.jobs_failed;
  t.jobs_timed_out = jobs.jobs_timed_out;
  t.jobs_cancelled = jobs.jobs_cancelled;
  return t;
}

}  // namespace ds::live
