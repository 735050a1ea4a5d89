// The model worker process: connects to /ws/worker, holds up to `slots` jobs or batches and
// works through them in arrival order on a Backend, answers each job with its processed JPEG,
// and reconnects with backoff when the line drops.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "worker/backend.hpp"
#include "worker/line_state.hpp"

namespace ds::worker {

struct WorkerOptions {
  std::string server = "ws://127.0.0.1:8080";  // "/ws/worker" is added when there is no path
  std::string token;                           // dsw_…; sent only as a Bearer header
  std::string name;                            // defaults to the host name
  int initial_backoff_ms = 250;
  int max_backoff_ms = 10'000;
  int connect_timeout_ms = 10'000;
  int slots = 1;      // jobs or batches held at once (hello "slots"): 2 hides the round trip
  int max_batch = 1;  // jobs per model call (hello "max_batch"): above 1, `batch` messages
  std::int64_t max_jobs = 0;   // stop after this many answered jobs; 0 runs until stopped
  bool handle_signals = true;  // SIGINT / SIGTERM stop the worker cleanly
  // Each move of the line's state (worker/line_state.hpp), on run()'s thread. For tests.
  std::function<void(LineState from, LineState to)> on_line_state;
};

struct WorkerStats {
  std::int64_t connects = 0;  // successful upgrades
  std::int64_t jobs_done = 0;
  std::int64_t jobs_failed = 0;     // answered with an error (undecodable input)
  std::int64_t jobs_dropped = 0;    // finished after the connection was gone
  std::int64_t jobs_cancelled = 0;  // dropped before they started, at the server's cancel
  std::int64_t jobs_refused = 0;    // answered busy: more than the worker may hold
  std::int64_t model_calls = 0;     // process() or process_batch() calls that answered jobs
};

class WorkerClient {
 public:
  static constexpr int kExitOk = 0;
  static constexpr int kExitBadUrl = 2;
  static constexpr int kExitTokenRejected = 3;

  WorkerClient(WorkerOptions options, std::unique_ptr<Backend> backend);
  ~WorkerClient();
  WorkerClient(const WorkerClient&) = delete;
  WorkerClient& operator=(const WorkerClient&) = delete;

  // Runs on the calling thread until stop(), max_jobs, or a rejected token; returns the exit
  // code (kExit*). Processing happens on a second thread so the socket keeps answering pings
  // and notices a close while a slow model works.
  int run();
  // From any thread: closes the connection (a job in progress is abandoned) and ends run().
  void stop();
  WorkerStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ds::worker
