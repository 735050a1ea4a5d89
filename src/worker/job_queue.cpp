#include "worker/job_queue.hpp"

#include <algorithm>
#include <utility>

namespace ds::worker {

JobQueue::JobQueue(int slots)
    : capacity_(slots > 1 ? static_cast<std::size_t>(slots) + 1 : std::size_t{1}) {}

std::vector<live::wire::JobHeader> JobQueue::on_header(std::vector<live::wire::JobHeader> jobs) {
  std::vector<live::wire::JobHeader> abandoned;
  for (auto& item : assembling_) abandoned.push_back(std::move(item.header));
  assembling_.clear();
  images_ = 0;
  for (auto& header : jobs) assembling_.push_back(Item{std::move(header), {}});
  cancelled_.assign(assembling_.size(), false);
  return abandoned;
}

JobQueue::Arrival JobQueue::on_binary(std::string jpeg) {
  Arrival arrival;
  if (images_ >= assembling_.size()) return arrival;  // kUnexpected
  assembling_[images_++].jpeg = std::move(jpeg);
  if (images_ < assembling_.size()) {
    arrival.kind = Arrival::Kind::kPartial;
    return arrival;
  }
  std::vector<Item> message;
  for (std::size_t i = 0; i < assembling_.size(); ++i) {
    if (!cancelled_[i]) message.push_back(std::move(assembling_[i]));
  }
  assembling_.clear();
  cancelled_.clear();
  images_ = 0;
  if (message.empty()) {
    arrival.kind = Arrival::Kind::kCancelled;
    return arrival;
  }
  if (held() >= capacity_) {
    arrival.kind = Arrival::Kind::kRefused;
    arrival.refused = std::move(message);
    return arrival;
  }
  waiting_.push_back(std::move(message));
  arrival.kind = Arrival::Kind::kQueued;
  return arrival;
}

bool JobQueue::cancel(const nlohmann::json& job_id) {
  if (job_id.is_null()) return false;
  auto named = [&](const Item& item) { return item.header.job_id == job_id; };
  for (auto m = waiting_.begin(); m != waiting_.end(); ++m) {
    auto it = std::find_if(m->begin(), m->end(), named);
    if (it == m->end()) continue;
    m->erase(it);
    if (m->empty()) waiting_.erase(m);
    return true;
  }
  // A cancel never overtakes its job, but a job still waiting for JPEGs has not started; it
  // stays in place so the JPEGs still to come find their jobs.
  auto it = std::find_if(assembling_.begin(), assembling_.end(), named);
  if (it == assembling_.end()) return false;
  auto index = static_cast<std::size_t>(it - assembling_.begin());
  if (cancelled_[index]) return false;
  cancelled_[index] = true;
  return true;
}

std::optional<std::vector<JobQueue::Item>> JobQueue::start_next() {
  if (working_ || waiting_.empty()) return std::nullopt;
  std::vector<Item> message = std::move(waiting_.front());
  waiting_.pop_front();
  working_ = true;
  return message;
}

void JobQueue::finish() { working_ = false; }

void JobQueue::clear_waiting() {
  waiting_.clear();
  assembling_.clear();
  cancelled_.clear();
  images_ = 0;
}

}  // namespace ds::worker
