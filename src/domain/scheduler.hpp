// Fair stream scheduling policy (docs/architecture.md, "Latest frame wins"): the stream whose
// frame has waited longest goes first, so no stream waits while another gets two turns. Pure:
// time is passed in.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ds::domain {

class FairScheduler {
 public:
  using StreamId = std::int64_t;

  // A stream has a frame ready; it queues from now unless it is already queued (a replaced
  // frame keeps its stream's place in line).
  void ready(StreamId id, std::int64_t now_ms);
  // Removes a stream from the line (stream ended).
  void remove(StreamId id);
  // The stream that has waited longest, taken out of the line.
  std::optional<StreamId> next();
  // The same, with the time it has queued since (to put it back in the same place).
  struct Entry {
    StreamId id = 0;
    std::int64_t since_ms = 0;
  };
  std::optional<Entry> pop();
  bool empty() const { return queue_.empty(); }
  std::size_t size() const { return queue_.size(); }

 private:
  std::map<std::pair<std::int64_t, std::uint64_t>, StreamId> queue_;  // (since, tie-break) → id
  std::unordered_map<StreamId, std::pair<std::int64_t, std::uint64_t>> position_;
  std::uint64_t counter_ = 0;
};

// In-flight jobs: which worker holds which frame, and until when.
class JobTable {
 public:
  struct Job {
    std::uint64_t job_id = 0;
    std::int64_t worker_id = 0;
    std::int64_t stream_id = 0;
    std::uint64_t seq = 0;
    std::int64_t captured_ms = 0;
    std::int64_t sent_ms = 0;
    std::int64_t deadline_ms = 0;
    std::string stream_name;    // the stream's username, for a stream homed on another node
    std::int64_t ready_ms = 0;  // since when its stream waited for this turn
    bool cancelled = false;     // superseded while it waited; awaits the worker's answer
  };

  // Records a job (its job_id is assigned here) and returns it.
  Job add(Job job);
  // The job, removed, when worker_id holds job_id; nullopt for a job it does not hold.
  std::optional<Job> complete(std::int64_t worker_id, std::uint64_t job_id);
  // Removes and returns every job whose deadline has passed.
  std::vector<Job> expire(std::int64_t now_ms);
  Job* find(std::uint64_t job_id);
  // Removes and returns the jobs of a worker that went away.
  std::vector<Job> drop_worker(std::int64_t worker_id);
  std::size_t size() const { return jobs_.size(); }
  // Whether a worker holds a job of this frame that it is still to answer (not cancelled).
  bool due(std::int64_t stream_id, std::uint64_t seq) const;

 private:
  std::unordered_map<std::uint64_t, Job> jobs_;
  std::uint64_t next_id_ = 1;
};

}  // namespace ds::domain
