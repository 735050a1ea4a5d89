// `dreamstream push`: streams JPEGs from a folder or an MJPEG pipe to a server's /ws/ingest.
#pragma once

#include <CLI/CLI.hpp>

#include "worker/push_client.hpp"

namespace ds::cli {

struct PushConfig {
  worker::PushOptions options;
  std::string dir;
  bool stdin_mjpeg = false;
  bool loop = false;
};

void add_push_command(CLI::App& app, PushConfig& config);
int run_push(const PushConfig& config);

}  // namespace ds::cli
