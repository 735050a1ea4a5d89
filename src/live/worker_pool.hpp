// The model workers of one node: who is connected, which are idle (longest idle first), the
// jobs in flight (domain::JobTable), the fair line of streams with a frame ready
// (domain::FairScheduler), and the rules that give frames to workers: slots, batches,
// supersession, settlement, congestion, deadlines and claims on the shared line (many nodes).
//
// No socket and no clock: time comes in as arguments, and what is to be sent (jobs, batches,
// cancels, claims) comes out as plain decisions (`Out`) that the caller sends after it lets go
// of its lock. A worker's Peer is kept only to be handed back in those decisions; the pool never
// calls it (a worker's backlog is asked through the `Backlog` given to dispatch).
//
// Not thread-safe: the Hub owns one and touches it only under its own mutex
// (docs/architecture.md, "Threads").
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "domain/scheduler.hpp"
#include "live/frame_offer.hpp"
#include "live/peer.hpp"

namespace ds::live {

// A worker with this many messages or bytes of jobs queued for its socket and not yet written
// (Peer::queued) is sent no new job until they drain: one that stops reading cannot make the
// server hold more for it than this and one more message (docs/reliability.md).
inline constexpr Peer::Queued kWorkerQueueFull{256, 16u << 20};

struct PoolConfig {
  std::int64_t job_timeout_ms = 20'000;
  Peer::Queued worker_queue_full = kWorkerQueueFull;
};

class WorkerPool {
 public:
  using StreamId = domain::FairScheduler::StreamId;
  using Job = domain::JobTable::Job;

  // One message for a worker's ordered queue (Peer::send_ordered): a job, a batch or a cancel,
  // already encoded. Messages to one worker are sent in the order they appear in Out.
  struct Message {
    std::int64_t worker_id = 0;
    std::shared_ptr<Peer> peer;
    Bytes text;
    std::vector<Bytes> binaries;         // the input JPEGs of a job or batch
    std::vector<std::uint64_t> job_ids;  // the jobs it carries, in order (none for a cancel)
    std::uint64_t cancelled = 0;         // the job a cancel withdraws (0 for a job or batch)
  };
  // A worker asks the shared line (many nodes) for up to max frames; first: that stream's
  // frame before any other (the newer frame of a job just superseded); mark_ms > 0: they will
  // wait at the worker, so the line marks them for this long (the job timeout) and the home's
  // next offer of such a stream supersedes its job (superseded_from_line).
  struct Claim {
    std::int64_t worker_id = 0;
    int max = 1;
    StreamId first = 0;
    std::int64_t mark_ms = 0;
  };
  // What a step decided, to be sent after the caller's lock.
  struct Out {
    std::vector<Message> messages;
    std::vector<Claim> claims;
  };
  // The newest frame of a stream whose turn came (the stream's mailbox gives it up).
  using TakeFrame = std::function<std::optional<FrameOffer>(StreamId)>;
  // What a worker's socket holds not yet written (Peer::queued, asked by the caller).
  using Backlog = std::function<Peer::Queued(std::int64_t worker_id)>;
  // A worker removed because a job of its passed its deadline: the caller closes it.
  struct Stalled {
    std::int64_t worker_id = 0;
    std::string name;
    std::uint64_t job_id = 0;
    std::shared_ptr<Peer> peer;
  };
  enum class Answer { kResult, kError };
  struct Totals {
    std::uint64_t jobs_sent = 0;
    std::uint64_t jobs_failed = 0;
    std::uint64_t jobs_timed_out = 0;
    std::uint64_t jobs_cancelled = 0;
  };
  struct Counts {
    int total = 0;
    int busy = 0;  // holding at least one message
  };

  explicit WorkerPool(PoolConfig config = {}) : config_(config) {}

  // Workers. slots (1..wire::kMaxSlots) and max_batch (1..wire::kMaxBatch) are clamped. A new
  // worker is idle; the caller dispatches next.
  std::int64_t add_worker(std::shared_ptr<Peer> peer, std::string name, int slots = 1,
                          int max_batch = 1);
  // Its jobs are forgotten; their streams carry on with their next frames. False: unknown.
  bool remove_worker(std::int64_t worker_id);
  const std::shared_ptr<Peer>& peer(std::int64_t worker_id) const;
  // Shutdown: every worker is let go; their peers are returned to be destroyed by the caller.
  std::vector<std::shared_ptr<Peer>> release();

  // Streams. A stream has a frame ready: a job of it still waiting at a worker is superseded
  // (a cancel goes out and the stream keeps the place in line it had), otherwise it queues
  // from now unless already in line.
  void frame_ready(StreamId stream, std::int64_t now, Out& out);
  // Queues a stream from since_ms unless already in line (nothing is superseded).
  void ready(StreamId stream, std::int64_t since_ms);
  // The stream ended or moved away: out of the line, and nothing of it waits any more.
  void remove_stream(StreamId stream);
  // A newer frame came while the stream's job waited at a worker (behind another message):
  // that job is cancelled (kept in the table until the worker answers), its slot frees, and
  // since when the stream waited for it is returned (to keep its place in line).
  std::optional<std::int64_t> supersede(StreamId stream, Out& out);

  // Hands ready frames to idle workers, longest idle first, skipping a worker whose socket is
  // full (counting what this step already gave it): one message per free slot, a batch of up
  // to max_batch streams (longest waiting first, one frame each) for a batch worker. With
  // ask_shared_line, the idle workers left each ask the shared line once (Out::claims).
  void dispatch(std::int64_t now, const TakeFrame& take, const Backlog& backlog,
                bool ask_shared_line, Out& out);

  // A worker answered job_id: a result, or an error / `cancelled` (the same bookkeeping). The
  // job, removed, or nullopt when the worker holds no such job (job ids start at 1). A job not
  // cancelled frees its message's slot when it was the message's last; an error on one counts
  // as failed. A cancelled job that had started anyway held no slot any more.
  std::optional<Job> complete(std::int64_t worker_id, std::uint64_t job_id, Answer answer);

  // Jobs past their deadline: each stalled worker is removed with all its jobs and returned
  // (once). A cancelled job past its deadline is simply forgotten.
  std::vector<Stalled> expire(std::int64_t now);

  // Many nodes. The shared line has frames: workers with a claim in flight ask again if it
  // comes back empty.
  void frames_ready();
  // The shared line answered a worker's claim. False: the worker left meanwhile (the frames
  // are lost; their streams go on with the next). line_healthy: whether to ask again (after
  // an empty answer when frames came meanwhile; after frames while it has a slot free).
  bool claimed(std::int64_t worker_id, std::vector<FrameOffer> frames, std::int64_t now,
               bool line_healthy, Out& out);

  // Many nodes: the home of a stream offered frame seq to the shared line while this node had
  // marked a job of it waiting at a worker. That job, if it still waits and is older, is
  // superseded (a cancel goes out, as on one node), and the worker's freed slot claims that
  // stream's newer frame first (with line_healthy; otherwise it waits for dispatch). A job
  // that started meanwhile, or a message that comes late, changes nothing.
  void superseded_from_line(StreamId stream, std::uint64_t seq, bool line_healthy, Out& out);

  // Whether a worker holds a job of this frame still to answer (not cancelled).
  bool due(StreamId stream, std::uint64_t seq) const { return jobs_.due(stream, seq); }
  // The stream's job waiting at a worker behind another message (0: none).
  std::uint64_t waiting_job(StreamId stream) const;
  std::size_t jobs_in_flight() const { return jobs_.size(); }
  bool has_ready_streams() const { return !scheduler_.empty(); }
  Counts counts() const;
  const Totals& totals() const { return totals_; }

 private:
  struct Worker {
    std::shared_ptr<Peer> peer;
    std::string name;
    int slots = 1;
    int max_batch = 1;
    // The messages (a job or a batch) it holds, oldest first: for each, the jobs still due
    // and not cancelled. The oldest is being processed; the others wait.
    std::deque<std::vector<std::uint64_t>> held;
    int claims = 0;          // questions to the shared line in flight
    bool reclaim = false;    // frames became ready while it asked: ask again if it got none
    bool first = false;      // its question asks for one stream's newer frame first
    bool available = false;  // in idle_
  };
  // A frame picked for a worker, and since when its stream waited for the turn.
  struct Pick {
    FrameOffer frame;
    std::int64_t ready_ms = 0;
  };

  // A question to the shared line for this worker: its frames wait when it holds a message.
  Claim claim_of(std::int64_t worker_id, const Worker& w, StreamId first = 0) const;
  // Back in idle_ when it has a free slot.
  void make_available(std::int64_t worker_id, Worker& w);
  // job_id is no longer due from the worker (answered or cancelled); frees its message's slot
  // when it was the last, and the next message then counts as started.
  void settle(Worker& w, std::uint64_t job_id);
  void clear_waiting(const Job& job);
  void forget_jobs(std::int64_t worker_id);
  // Its socket holds too much not yet written, counting what `out` gives it.
  bool congested(std::int64_t worker_id, const Backlog& backlog, const Out& out) const;
  // One message with the jobs of these frames (a job, or a batch for a batch worker). remote:
  // claimed from the shared line (its result is published by stream name). Either way a job
  // behind another message waits, and a newer frame of its stream supersedes it.
  Message assign(std::int64_t worker_id, std::vector<Pick> picks, std::int64_t now, bool remote);

  PoolConfig config_;
  std::map<std::int64_t, Worker> workers_;
  std::deque<std::int64_t> idle_;  // longest idle first
  std::int64_t next_worker_id_ = 1;
  domain::FairScheduler scheduler_;
  domain::JobTable jobs_;
  std::unordered_map<StreamId, std::uint64_t> waiting_;  // stream → its job waiting at a worker
  Totals totals_;
};

}  // namespace ds::live
