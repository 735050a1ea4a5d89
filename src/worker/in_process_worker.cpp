#include "worker/in_process_worker.hpp"

#include <spdlog/spdlog.h>

#include <variant>

#include "live/protocol.hpp"

namespace ds::worker {

InProcessWorker::InProcessWorker(live::Hub& hub, std::unique_ptr<Backend> backend, std::string name)
    : hub_(hub), backend_(std::move(backend)), name_(std::move(name)) {}

InProcessWorker::~InProcessWorker() { stop(); }

void InProcessWorker::start() {
  // Registered before the thread starts, so a job handed over at once is seen with its id.
  worker_id_ = hub_.add_worker(shared_from_this(), name_);
  thread_ = std::thread([this] { run(); });
}

void InProcessWorker::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (auto id = worker_id_.exchange(0)) hub_.remove_worker(id);
}

void InProcessWorker::send_frame(live::Bytes meta, live::Bytes jpeg, bool) {
  {
    std::lock_guard lock(mutex_);
    job_ = Job{std::move(meta), std::move(jpeg)};
  }
  cv_.notify_one();
}

void InProcessWorker::close(int, std::string) {
  std::lock_guard lock(mutex_);
  dropped_ = true;
}

void InProcessWorker::run() {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || job_.has_value(); });
      if (stopping_) return;
      job = std::move(*job_);
      job_.reset();
    }
    // The hub's own job header, decoded like any worker would.
    auto parsed = live::wire::parse_server_text(*job.meta);
    live::wire::JobHeader header;
    if (parsed && std::holds_alternative<live::wire::JobHeader>(*parsed)) {
      header = std::get<live::wire::JobHeader>(std::move(*parsed));
    }
    // 0 (never a job) when the header could not be read: the hub then drops the answer.
    std::uint64_t job_id = 0;
    if (header.job_id.is_string()) {
      job_id = live::wire::parse_job_id(header.job_id.get<std::string>()).value_or(0);
    }
    Timings timings;
    auto out = backend_->process_timed(*job.jpeg, params_from_json(header.params), timings);
    bool rejoin = false;
    {
      std::lock_guard lock(mutex_);
      rejoin = std::exchange(dropped_, false) && !stopping_;
    }
    if (rejoin) {
      worker_id_ = hub_.add_worker(shared_from_this(), name_);
      continue;
    }
    if (out) {
      hub_.on_result(worker_id_, job_id, live::make_bytes(std::move(*out)),
                     {{"decode_ms", timings.decode_ms},
                      {"infer_ms", timings.infer_ms},
                      {"encode_ms", timings.encode_ms}});
    } else {
      spdlog::warn("event=builtin_worker_error worker={} error=\"{}\"", name_, out.error().message);
      hub_.on_worker_error(worker_id_, job_id);
    }
  }
}

}  // namespace ds::worker
