// A model worker running inside the server process (serve --builtin-workers N): it takes jobs
// from the hub exactly like a remote /ws/worker connection, on its own thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "live/hub.hpp"
#include "worker/backend.hpp"

namespace ds::worker {

class InProcessWorker : public live::Peer, public std::enable_shared_from_this<InProcessWorker> {
 public:
  InProcessWorker(live::Hub& hub, std::unique_ptr<Backend> backend, std::string name);
  ~InProcessWorker() override;

  void start();
  void stop();

  void send_text(live::Bytes) override {}
  void send_frame(live::Bytes meta, live::Bytes jpeg, bool replaceable) override;
  // The hub gave up on this worker (job timeout): it registers again once its job is done.
  void close(int code, std::string reason) override;

 private:
  struct Job {
    live::Bytes meta;
    live::Bytes jpeg;
  };
  void run();

  live::Hub& hub_;
  std::unique_ptr<Backend> backend_;
  std::string name_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::optional<Job> job_;
  bool stopping_ = false;
  bool dropped_ = false;
  std::atomic<std::int64_t> worker_id_{0};
  std::thread thread_;
};

}  // namespace ds::worker
