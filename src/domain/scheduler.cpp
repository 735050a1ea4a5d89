#include "domain/scheduler.hpp"

#include <algorithm>

namespace ds::domain {

void FairScheduler::ready(StreamId id, std::int64_t now_ms) {
  if (position_.contains(id)) return;
  auto key = std::make_pair(now_ms, counter_++);
  queue_.emplace(key, id);
  position_.emplace(id, key);
}

void FairScheduler::remove(StreamId id) {
  auto it = position_.find(id);
  if (it == position_.end()) return;
  queue_.erase(it->second);
  position_.erase(it);
}

std::optional<FairScheduler::StreamId> FairScheduler::next() {
  auto e = pop();
  if (!e) return std::nullopt;
  return e->id;
}

std::optional<FairScheduler::Entry> FairScheduler::pop() {
  if (queue_.empty()) return std::nullopt;
  auto first = queue_.begin();
  Entry e{first->second, first->first.first};
  queue_.erase(first);
  position_.erase(e.id);
  return e;
}

JobTable::Job JobTable::add(Job job) {
  job.job_id = next_id_++;
  jobs_.emplace(job.job_id, job);
  return job;
}

std::optional<JobTable::Job> JobTable::complete(std::int64_t worker_id, std::uint64_t job_id) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end() || it->second.worker_id != worker_id) return std::nullopt;
  Job job = it->second;
  jobs_.erase(it);
  return job;
}

std::vector<JobTable::Job> JobTable::expire(std::int64_t now_ms) {
  std::vector<Job> out;
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    if (it->second.deadline_ms <= now_ms) {
      out.push_back(it->second);
      it = jobs_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

JobTable::Job* JobTable::find(std::uint64_t job_id) {
  auto it = jobs_.find(job_id);
  return it == jobs_.end() ? nullptr : &it->second;
}

std::vector<JobTable::Job> JobTable::drop_worker(std::int64_t worker_id) {
  std::vector<Job> out;
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    if (it->second.worker_id == worker_id) {
      out.push_back(it->second);
      it = jobs_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

bool JobTable::due(std::int64_t stream_id, std::uint64_t seq) const {
  return std::any_of(jobs_.begin(), jobs_.end(), [&](const auto& entry) {
    const Job& job = entry.second;
    return job.stream_id == stream_id && job.seq == seq && !job.cancelled;
  });
}

}  // namespace ds::domain
