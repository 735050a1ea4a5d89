// `dreamstream worker`: a model worker process that serves jobs from a server's /ws/worker.
#pragma once

#include <CLI/CLI.hpp>

#include "worker/worker_client.hpp"

namespace ds::cli {

struct WorkerConfig {
  worker::WorkerOptions options;
  std::string backend = "cpu";
  int simulate_ms = 0;
  int simulate_batch_extra_ms = 0;
};

void add_worker_command(CLI::App& app, WorkerConfig& config);
int run_worker(const WorkerConfig& config);

}  // namespace ds::cli
