#include "live/worker_pool.hpp"

#include <algorithm>

namespace ds::live {

std::int64_t WorkerPool::add_worker(std::shared_ptr<Peer> peer, std::string name, int slots,
                                    int max_batch) {
  auto id = next_worker_id_++;
  auto& w = workers_[id];
  w.peer = std::move(peer);
  w.name = std::move(name);
  w.slots = std::clamp(slots, 1, wire::kMaxSlots);
  w.max_batch = std::clamp(max_batch, 1, wire::kMaxBatch);
  make_available(id, w);
  return id;
}

bool WorkerPool::remove_worker(std::int64_t worker_id) {
  if (workers_.erase(worker_id) == 0) return false;
  std::erase(idle_, worker_id);
  forget_jobs(worker_id);
  return true;
}

const std::shared_ptr<Peer>& WorkerPool::peer(std::int64_t worker_id) const {
  static const std::shared_ptr<Peer> kNone;
  auto it = workers_.find(worker_id);
  return it == workers_.end() ? kNone : it->second.peer;
}

std::vector<std::shared_ptr<Peer>> WorkerPool::release() {
  std::vector<std::shared_ptr<Peer>> peers;
  for (auto& [id, w] : workers_) peers.push_back(std::move(w.peer));
  workers_.clear();
  idle_.clear();
  return peers;
}

void WorkerPool::frame_ready(StreamId stream, std::int64_t now, Out& out) {
  // The newer frame takes the superseded job's place in line, so an extra slot never adds a
  // stale frame's age.
  auto since = supersede(stream, out);
  scheduler_.ready(stream, since.value_or(now));
}

void WorkerPool::ready(StreamId stream, std::int64_t since_ms) {
  scheduler_.ready(stream, since_ms);
}

void WorkerPool::remove_stream(StreamId stream) {
  scheduler_.remove(stream);
  waiting_.erase(stream);
}

std::uint64_t WorkerPool::waiting_job(StreamId stream) const {
  auto it = waiting_.find(stream);
  return it == waiting_.end() ? 0 : it->second;
}

std::optional<std::int64_t> WorkerPool::supersede(StreamId stream, Out& out) {
  auto waiting = waiting_.find(stream);
  if (waiting == waiting_.end()) return std::nullopt;
  auto job_id = waiting->second;
  waiting_.erase(waiting);
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
  out.messages.push_back({w->first, w->second.peer, wire::encode_cancel(job_id), {}, {}, job_id});
  return job->ready_ms;
}

bool WorkerPool::congested(std::int64_t worker_id, const Backlog& backlog, const Out& out) const {
  auto q = backlog(worker_id);
  for (const auto& m : out.messages) {
    if (m.worker_id != worker_id) continue;
    q.messages += (m.text ? 1 : 0) + m.binaries.size();
    q.bytes += m.text ? m.text->size() : 0;
    for (const auto& b : m.binaries) q.bytes += b ? b->size() : 0;
  }
  const auto& full = config_.worker_queue_full;
  return q.messages >= full.messages || q.bytes >= full.bytes;
}

void WorkerPool::dispatch(std::int64_t now, const TakeFrame& take, const Backlog& backlog,
                          bool ask_shared_line, Out& out) {
  while (!scheduler_.empty()) {
    // The longest idle worker whose socket keeps up.
    auto next = std::find_if(idle_.begin(), idle_.end(),
                             [&](std::int64_t id) { return !congested(id, backlog, out); });
    if (next == idle_.end()) break;
    auto worker_id = *next;
    auto& w = workers_.at(worker_id);
    // The streams that have waited longest, one frame each (a stream is in line once).
    std::vector<Pick> picks;
    while (static_cast<int>(picks.size()) < w.max_batch) {
      auto entry = scheduler_.pop();
      if (!entry) break;
      auto frame = take(entry->id);
      if (!frame) continue;
      picks.push_back({std::move(*frame), entry->since_ms});
    }
    if (picks.empty()) break;
    idle_.erase(next);
    w.available = false;
    out.messages.push_back(assign(worker_id, std::move(picks), now, false));
    make_available(worker_id, w);
  }
  // The rest ask the shared line, each one question at a time.
  if (!ask_shared_line) return;
  for (auto it = idle_.begin(); it != idle_.end();) {
    auto id = *it;
    auto& w = workers_.at(id);
    if (congested(id, backlog, out)) {
      ++it;
      continue;
    }
    it = idle_.erase(it);
    w.available = false;
    w.claims++;
    w.first = false;
    out.claims.push_back(claim_of(id, w));
  }
}

WorkerPool::Message WorkerPool::assign(std::int64_t worker_id, std::vector<Pick> picks,
                                       std::int64_t now, bool remote) {
  auto& w = workers_.at(worker_id);
  // Behind another message: these jobs wait, and a newer frame of their stream supersedes them.
  bool waits = !w.held.empty();
  std::vector<std::uint64_t> ids;
  std::vector<wire::Job> messages;
  std::vector<Bytes> jpegs;
  for (auto& [frame, ready_ms] : picks) {
    Job job;
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
    if (waits) waiting_[frame.session_id] = job.job_id;
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
  w.held.push_back(ids);
  auto text = w.max_batch > 1 ? wire::encode_batch(messages) : wire::encode_job(messages.front());
  return {worker_id, w.peer, std::move(text), std::move(jpegs), std::move(ids), 0};
}

std::optional<WorkerPool::Job> WorkerPool::complete(std::int64_t worker_id, std::uint64_t job_id,
                                                    Answer answer) {
  auto w = workers_.find(worker_id);
  // Job ids start at 1: job 0 is never held.
  if (w == workers_.end() || job_id == 0) return std::nullopt;
  auto job = jobs_.complete(worker_id, job_id);
  if (!job) return std::nullopt;
  if (!job->cancelled) {
    if (answer == Answer::kError) totals_.jobs_failed++;
    settle(w->second, job_id);
  }
  clear_waiting(*job);
  make_available(worker_id, w->second);
  return job;
}

std::vector<WorkerPool::Stalled> WorkerPool::expire(std::int64_t now) {
  std::vector<Stalled> stalled;
  for (const auto& job : jobs_.expire(now)) {
    // A cancelled job held no slot: past its deadline it is simply forgotten.
    if (job.cancelled) continue;
    // A stalled worker loses its jobs and its connection; it reconnects when it recovers.
    totals_.jobs_timed_out++;
    clear_waiting(job);
    auto w = workers_.find(job.worker_id);
    if (w == workers_.end()) continue;
    stalled.push_back({job.worker_id, w->second.name, job.job_id, std::move(w->second.peer)});
    remove_worker(job.worker_id);
  }
  return stalled;
}

void WorkerPool::frames_ready() {
  for (auto& [id, w] : workers_) {
    if (w.claims > 0) w.reclaim = true;
  }
}

bool WorkerPool::claimed(std::int64_t worker_id, std::vector<FrameOffer> frames, std::int64_t now,
                         bool line_healthy, Out& out) {
  auto it = workers_.find(worker_id);
  if (it == workers_.end() || it->second.claims == 0) return false;
  auto& w = it->second;
  if (frames.empty()) {
    // Asked for one stream's newer frame and another worker took it first: the freed slot
    // asks the line as any idle worker would.
    if ((w.reclaim || w.first) && line_healthy) {
      w.reclaim = false;
      w.first = false;
      out.claims.push_back(claim_of(worker_id, w));
    } else {
      w.claims--;
      w.reclaim = false;
      make_available(worker_id, w);
    }
    return true;
  }
  w.claims--;
  w.reclaim = false;
  w.first = false;
  std::vector<Pick> picks;
  for (auto& f : frames) picks.push_back({std::move(f), now});
  out.messages.push_back(assign(worker_id, std::move(picks), now, true));
  make_available(worker_id, w);
  // A slot still free (slots > 1): it asks the line again at once, its frames marked waiting,
  // as dispatch on one node fills every free slot.
  if (w.available && line_healthy) {
    std::erase(idle_, worker_id);
    w.available = false;
    w.claims++;
    out.claims.push_back(claim_of(worker_id, w));
  }
  return true;
}

void WorkerPool::superseded_from_line(StreamId stream, std::uint64_t seq, bool line_healthy,
                                      Out& out) {
  auto waiting = waiting_.find(stream);
  if (waiting == waiting_.end()) return;
  // Only an older job: the newer frame itself may already wait here (claimed before this
  // message came).
  const auto* job = jobs_.find(waiting->second);
  if (!job || job->seq >= seq) return;
  auto worker_id = job->worker_id;
  if (!supersede(stream, out)) return;
  auto& w = workers_.at(worker_id);
  // The freed slot (supersede made it available) asks for that stream's newer frame first: the
  // stream keeps the place at this worker it had, as on one node it keeps its place in line.
  if (!w.available || !line_healthy) return;
  std::erase(idle_, worker_id);
  w.available = false;
  w.claims++;
  w.first = true;
  out.claims.push_back(claim_of(worker_id, w, stream));
}

WorkerPool::Claim WorkerPool::claim_of(std::int64_t worker_id, const Worker& w,
                                       StreamId first) const {
  return {worker_id, w.max_batch, first, w.held.empty() ? 0 : config_.job_timeout_ms};
}

WorkerPool::Counts WorkerPool::counts() const {
  Counts c;
  c.total = static_cast<int>(workers_.size());
  for (const auto& [id, w] : workers_) c.busy += !w.held.empty();
  return c;
}

void WorkerPool::make_available(std::int64_t worker_id, Worker& w) {
  if (w.available) return;
  if (static_cast<int>(w.held.size()) + w.claims >= w.slots) return;
  w.available = true;
  idle_.push_back(worker_id);
}

void WorkerPool::clear_waiting(const Job& job) {
  auto it = waiting_.find(job.stream_id);
  if (it != waiting_.end() && it->second == job.job_id) waiting_.erase(it);
}

void WorkerPool::forget_jobs(std::int64_t worker_id) {
  for (const auto& job : jobs_.drop_worker(worker_id)) clear_waiting(job);
}

void WorkerPool::settle(Worker& w, std::uint64_t job_id) {
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

}  // namespace ds::live
