#include "cli/worker.hpp"

#include <spdlog/spdlog.h>

#include "live/protocol.hpp"
#include "worker/backend.hpp"

namespace ds::cli {

void add_worker_command(CLI::App& app, WorkerConfig& c) {
  auto* cmd = app.add_subcommand("worker", "Run a model worker that takes jobs from a server");
  cmd->add_option("--server", c.options.server, "Server URL (ws://, wss://, http:// or https://)")
      ->envname("DREAMSTREAM_SERVER")
      ->capture_default_str();
  cmd->add_option("--token", c.options.token, "Worker token (dsw_…)")
      ->envname("DREAMSTREAM_WORKER_TOKEN")
      ->required();
  cmd->add_option("--name", c.options.name, "Name shown to the server (default: host name)");
  cmd->add_option("--backend", c.backend, "Model backend")
      ->check(CLI::IsMember({"cpu"}))
      ->capture_default_str();
  cmd->add_option("--simulate-ms", c.simulate_ms, "Extra model latency per model call, in ms")
      ->check(CLI::Range(0, 600'000))
      ->capture_default_str();
  cmd->add_option("--simulate-batch-extra-ms", c.simulate_batch_extra_ms,
                  "Extra simulated latency per frame of a batch after the first, in ms")
      ->check(CLI::Range(0, 600'000))
      ->capture_default_str();
  cmd->add_option("--slots", c.options.slots,
                  "Jobs or batches held at once; 2 hides the network round trip")
      ->check(CLI::Range(1, live::wire::kMaxSlots))
      ->capture_default_str();
  cmd->add_option("--max-batch", c.options.max_batch,
                  "Jobs of different streams per model call (batch messages above 1)")
      ->check(CLI::Range(1, live::wire::kMaxBatch))
      ->capture_default_str();
  cmd->add_option("--max-backoff-ms", c.options.max_backoff_ms, "Longest wait between reconnects")
      ->check(CLI::Range(100, 600'000))
      ->capture_default_str();
  cmd->add_option("--max-jobs", c.options.max_jobs, "Exit after this many jobs (0: never)")
      ->check(CLI::NonNegativeNumber);
}

int run_worker(const WorkerConfig& c) {
  worker::WorkerClient client(c.options,
                              worker::make_cpu_backend(c.simulate_ms, c.simulate_batch_extra_ms));
  return client.run();
}

}  // namespace ds::cli
