#include "live/hub.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "live/protocol.hpp"

namespace ds::live {

using wire::CloseCode;

Hub::Hub(const Clock& clock, HubConfig config) : clock_(clock), config_(config) {}

std::string Hub::state_of(const Active& a, std::int64_t now) const {
  if (a.last_output_ms > 0 && now - a.last_output_ms <= config_.waiting_after_ms) return "live";
  return "waiting";
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
  if (it != channels_.end() && !it->second.stream && it->second.viewers.empty())
    channels_.erase(it);
}

bool Hub::open_stream(const StreamOpen& info) {
  std::vector<std::shared_ptr<Peer>> viewers;
  {
    std::lock_guard lock(mutex_);
    auto& c = channels_[info.username];
    if (c.stream) return false;
    Active a;
    a.info = info;
    a.opened_ms = clock_.now_ms();
    a.rate_in = domain::RateMeter(a.opened_ms);
    a.rate_out = domain::RateMeter(a.opened_ms);
    c.stream = std::move(a);
    c.latest_output.reset();
    c.latest_meta.reset();
    c.sent_state = "waiting";
    session_names_[info.session_id] = info.username;
    viewers = c.viewers;
  }
  auto ev = wire::encode_state("waiting");
  for (auto& v : viewers) v->send_text(ev);
  spdlog::info("event=stream_opened stream={} session_id={}", info.username, info.session_id);
  return true;
}

std::optional<StreamSnapshot> Hub::close_stream(const std::string& username,
                                                const std::string& reason,
                                                const std::string& message) {
  std::shared_ptr<Peer> ingest;
  std::vector<std::shared_ptr<Peer>> viewers;
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
    c.sent_state = "offline";
    c.latest_output.reset();
    c.latest_meta.reset();
    viewers = c.viewers;
    gc_channel(username);
  }
  auto ended = wire::encode_ended(reason, message);
  if (ingest) {
    ingest->send_text(ended);
    ingest->close(CloseCode::kEnded, "stream ended");
  }
  auto ev = wire::encode_state("ended");
  for (auto& v : viewers) {
    v->send_text(ev);
    v->send_text(ended);
  }
  spdlog::info("event=stream_closed stream={} session_id={} reason={}", username, snap.session_id,
               reason);
  return snap;
}

void Hub::set_style(const std::string& username, const StyleParams& style) {
  std::lock_guard lock(mutex_);
  auto it = channels_.find(username);
  if (it != channels_.end() && it->second.stream) it->second.stream->info.style = style;
}

void Hub::set_status_extra(const std::string& username, nlohmann::json extra) {
  std::lock_guard lock(mutex_);
  auto it = channels_.find(username);
  if (it != channels_.end() && it->second.stream)
    it->second.stream->status_extra = std::move(extra);
}

void Hub::broadcast_text(const std::string& username, Bytes text) {
  std::vector<std::shared_ptr<Peer>> peers;
  {
    std::lock_guard lock(mutex_);
    auto it = channels_.find(username);
    if (it == channels_.end()) return;
    peers = it->second.viewers;
    if (it->second.stream && it->second.stream->ingest) peers.push_back(it->second.stream->ingest);
  }
  for (auto& p : peers) p->send_text(text);
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
    old->send_text(wire::encode_ended("replaced", "replaced by a newer connection"));
    old->close(CloseCode::kReplaced, "replaced by a newer connection");
  }
  return true;
}

void Hub::detach_ingest(const std::string& username, const Peer* peer) {
  std::lock_guard lock(mutex_);
  auto it = channels_.find(username);
  if (it == channels_.end() || !it->second.stream) return;
  auto& a = *it->second.stream;
  if (a.ingest.get() == peer) a.ingest.reset();
}

std::optional<FrameAccepted> Hub::push_frame(const std::string& username, Bytes jpeg) {
  std::vector<Send> jobs;
  FrameAccepted accepted;
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
    if (a.mailbox.put({accepted.seq, now, std::move(jpeg)})) totals_.frames_dropped++;
    scheduler_.ready(a.info.session_id, now);
    dispatch(now, jobs);
  }
  for (auto& j : jobs) j.peer->send_frame(j.meta, j.jpeg, false);
  return accepted;
}

void Hub::add_viewer(const std::string& username, std::shared_ptr<Peer> peer, bool counted) {
  Bytes state, meta, frame;
  int count = 0;
  {
    std::lock_guard lock(mutex_);
    auto& c = channels_[username];
    c.viewers.push_back(peer);
    if (!counted) c.previews.push_back(peer.get());
    count = audience(c);
    if (c.stream) {
      c.stream->max_viewers = std::max(c.stream->max_viewers, count);
      state = wire::encode_state(state_of(*c.stream, clock_.now_ms()));
      meta = c.latest_meta;
      frame = c.latest_output;
    } else {
      state = wire::encode_state("offline");
    }
  }
  peer->send_text(state);
  peer->send_text(wire::encode_viewers(count));
  if (frame) peer->send_frame(meta, frame, true);
}

void Hub::remove_viewer(const std::string& username, const Peer* peer) {
  std::lock_guard lock(mutex_);
  auto it = channels_.find(username);
  if (it == channels_.end()) return;
  std::erase_if(it->second.viewers, [&](const auto& p) { return p.get() == peer; });
  std::erase(it->second.previews, peer);
  gc_channel(username);
}

std::int64_t Hub::add_worker(std::shared_ptr<Peer> peer, std::string name) {
  std::vector<Send> jobs;
  std::int64_t id = 0;
  {
    std::lock_guard lock(mutex_);
    id = next_worker_id_++;
    workers_[id] = Worker{std::move(peer), std::move(name), 0};
    idle_.push_back(id);
    dispatch(clock_.now_ms(), jobs);
  }
  for (auto& j : jobs) j.peer->send_frame(j.meta, j.jpeg, false);
  return id;
}

void Hub::remove_worker(std::int64_t worker_id) {
  std::lock_guard lock(mutex_);
  if (workers_.erase(worker_id) == 0) return;
  std::erase(idle_, worker_id);
  // The job is lost; its stream simply carries on with its next frame.
  jobs_.drop_worker(worker_id);
}

void Hub::dispatch(std::int64_t now, std::vector<Send>& out) {
  while (!idle_.empty()) {
    auto stream_id = scheduler_.next();
    if (!stream_id) return;
    Channel* c = channel_of_session(*stream_id);
    if (!c) continue;
    auto& a = *c->stream;
    auto frame = a.mailbox.take();
    if (!frame) continue;
    auto worker_id = idle_.front();
    idle_.pop_front();
    auto& w = workers_.at(worker_id);
    domain::JobTable::Job job;
    job.worker_id = worker_id;
    job.stream_id = a.info.session_id;
    job.seq = frame->seq;
    job.captured_ms = frame->captured_ms;
    job.sent_ms = now;
    job.deadline_ms = now + config_.job_timeout_ms;
    job = jobs_.add(job);
    w.job_id = job.job_id;
    totals_.jobs_sent++;
    wire::Job message;
    message.job_id = job.job_id;
    message.stream = a.info.username;
    message.seq = frame->seq;
    message.captured_ms = frame->captured_ms;
    message.deadline_ms = job.deadline_ms;
    message.prompt = a.info.style.prompt;
    message.strength = a.info.style.strength;
    message.seed = a.info.style.seed;
    out.push_back({w.peer, wire::encode_job(message), frame->jpeg});
  }
}

ResultOutcome Hub::on_result(std::int64_t worker_id, std::uint64_t job_id, Bytes jpeg,
                             const nlohmann::json& timings) {
  std::vector<Send> sends;
  std::vector<std::shared_ptr<Peer>> viewers;
  std::shared_ptr<Peer> streamer;
  Bytes meta;
  Bytes went_live;  // state "live" for the viewers, when this frame ends a wait
  ResultOutcome outcome = ResultOutcome::kUnknownJob;
  {
    std::lock_guard lock(mutex_);
    auto w = workers_.find(worker_id);
    // An idle worker (job_id 0) has nothing to answer.
    if (w == workers_.end() || job_id == 0 || w->second.job_id != job_id) {
      return ResultOutcome::kUnknownJob;
    }
    auto job = jobs_.complete(worker_id, job_id);
    w->second.job_id = 0;
    idle_.push_back(worker_id);
    auto now = clock_.now_ms();
    Channel* c = job ? channel_of_session(job->stream_id) : nullptr;
    if (!job) {
      outcome = ResultOutcome::kUnknownJob;
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
      double took = static_cast<double>(now - job->sent_ms);
      a.model_ms = a.model_ms == 0 ? took : a.model_ms * 0.8 + took * 0.2;
      meta = wire::encode_frame_header({job->seq, job->captured_ms, now, timings});
      c->latest_output = jpeg;
      c->latest_meta = meta;
      viewers = c->viewers;
      streamer = a.ingest;
      if (c->sent_state != "live") {
        c->sent_state = "live";
        went_live = wire::encode_state("live");
      }
    }
    dispatch(now, sends);
  }
  // Fan-out outside the lock: one shared buffer, queued per viewer with latest-wins.
  if (went_live) {
    for (auto& v : viewers) v->send_text(went_live);
  }
  for (auto& v : viewers) v->send_frame(meta, jpeg, true);
  if (streamer) streamer->send_frame(meta, jpeg, true);
  for (auto& s : sends) s.peer->send_frame(s.meta, s.jpeg, false);
  return outcome;
}

bool Hub::on_worker_error(std::int64_t worker_id, std::uint64_t job_id) {
  std::vector<Send> jobs;
  {
    std::lock_guard lock(mutex_);
    auto w = workers_.find(worker_id);
    if (w == workers_.end() || job_id == 0 || w->second.job_id != job_id) {
      return false;
    }
    jobs_.complete(worker_id, job_id);
    totals_.jobs_failed++;
    w->second.job_id = 0;
    idle_.push_back(worker_id);
    dispatch(clock_.now_ms(), jobs);
  }
  for (auto& j : jobs) j.peer->send_frame(j.meta, j.jpeg, false);
  return true;
}

void Hub::tick() {
  std::vector<Notice> notices;
  std::vector<std::shared_ptr<Peer>> stalled;
  std::vector<Send> jobs;
  {
    std::lock_guard lock(mutex_);
    auto now = clock_.now_ms();
    expire_jobs(now, stalled);
    stream_states(now, notices);
    status_messages(now, notices);
    viewer_counts(notices);
    dispatch(now, jobs);
  }
  for (auto& p : stalled) p->close(CloseCode::kJobTimeout, "job timed out");
  for (auto& n : notices) n.peer->send_text(n.text);
  for (auto& j : jobs) j.peer->send_frame(j.meta, j.jpeg, false);
}

void Hub::expire_jobs(std::int64_t now, std::vector<std::shared_ptr<Peer>>& stalled) {
  for (const auto& job : jobs_.expire(now)) {
    // A stalled worker loses its job and its connection; it reconnects when it recovers.
    auto w = workers_.find(job.worker_id);
    totals_.jobs_timed_out++;
    if (w == workers_.end()) continue;
    spdlog::warn("event=job_timeout worker={} job={}", w->second.name,
                 wire::job_id_text(job.job_id));
    stalled.push_back(w->second.peer);
    workers_.erase(w);
    std::erase(idle_, job.worker_id);
  }
}

void Hub::stream_states(std::int64_t now, std::vector<Notice>& out) {
  for (auto& [name, c] : channels_) {
    if (!c.stream) continue;
    auto& a = *c.stream;
    a.max_viewers = std::max(a.max_viewers, audience(c));
    auto state = state_of(a, now);
    if (state == c.sent_state) continue;
    c.sent_state = state;
    auto ev = wire::encode_state(state);
    for (auto& v : c.viewers) out.push_back({v, ev});
  }
}

void Hub::measure_rates(Active& a, std::int64_t now) {
  a.rate_in.sample(now, a.frames_in);
  a.rate_out.sample(now, a.frames_out);
}

void Hub::status_messages(std::int64_t now, std::vector<Notice>& out) {
  int busy = 0;
  for (const auto& [id, w] : workers_) busy += w.job_id != 0;
  for (auto& [name, c] : channels_) {
    if (!c.stream || !c.stream->ingest) continue;
    auto& a = *c.stream;
    if (now - a.last_status_ms < config_.status_interval_ms) continue;
    measure_rates(a, now);
    a.last_status_ms = now;
    // The streamer's status is the snapshot's figures plus the worker pool and the extras.
    auto snap = snapshot_of(c, a, now);
    wire::Status status{.state = std::move(snap.state),
                        .stream_id = snap.session_id,
                        .viewers = snap.viewers,
                        .frames_in = snap.frames_in,
                        .frames_dropped = snap.frames_dropped,
                        .frames_out = snap.frames_out,
                        .fps_in = snap.fps_in,
                        .fps_out = snap.fps_out,
                        .model_ms = snap.model_ms,
                        .frame_age_ms = snap.frame_age_ms,
                        .workers_total = static_cast<int>(workers_.size()),
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
    for (auto& v : c.viewers) out.push_back({v, ev});
    if (c.stream && c.stream->ingest) out.push_back({c.stream->ingest, ev});
  }
}

void Hub::release_peers() {
  std::vector<std::shared_ptr<Peer>> peers;
  {
    std::lock_guard lock(mutex_);
    for (auto& [name, c] : channels_) {
      for (auto& v : c.viewers) peers.push_back(std::move(v));
      c.viewers.clear();
      c.previews.clear();
      if (c.stream && c.stream->ingest) peers.push_back(std::move(c.stream->ingest));
    }
    for (auto& [id, w] : workers_) peers.push_back(std::move(w.peer));
    workers_.clear();
    idle_.clear();
  }
  // Destroyed here, outside the lock, while their io_context still exists.
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

Bytes Hub::latest_output(const std::string& username) {
  std::lock_guard lock(mutex_);
  auto it = channels_.find(username);
  if (it == channels_.end() || !it->second.stream) return nullptr;
  return it->second.latest_output;
}

int Hub::viewer_count(const std::string& username) {
  std::lock_guard lock(mutex_);
  auto it = channels_.find(username);
  return it == channels_.end() ? 0 : audience(it->second);
}

Hub::WorkerCounts Hub::worker_counts() {
  std::lock_guard lock(mutex_);
  WorkerCounts wc;
  wc.total = static_cast<int>(workers_.size());
  for (const auto& [id, w] : workers_) wc.busy += w.job_id != 0;
  return wc;
}

HubTotals Hub::totals() {
  std::lock_guard lock(mutex_);
  return totals_;
}

}  // namespace ds::live
