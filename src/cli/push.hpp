// `dreamstream push`: streams JPEGs from a folder, an MJPEG pipe or anything libavformat reads
// (--input: an RTMP listener for OBS, SRT, RTSP, V4L2, files) to a server's /ws/ingest.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "worker/push_client.hpp"

namespace ds::cli {

struct PushConfig {
  worker::PushOptions options;
  std::string dir;
  bool stdin_mjpeg = false;
  bool loop = false;
  int retry_for_s = 60;  // --retry-for; 0: never reconnect
  // --input and its options (worker/av_source.hpp).
  std::string input;
  std::string input_format;
  std::vector<std::string> input_options;  // key=value
  bool listen = false;
  std::string publish_secret;       // --publish-secret; never logged
  double handshake_timeout_s = 10;  // --handshake-timeout
  std::string size = "640x480";
  int quality = 80;
  std::string realtime = "auto";
};

void add_push_command(CLI::App& app, PushConfig& config);
int run_push(const PushConfig& config);

}  // namespace ds::cli
