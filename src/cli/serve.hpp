// `dreamstream serve`: the composition root that wires store, auth, live and net together.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace ds::cli {

struct ServeConfig {
  std::string listen = "127.0.0.1:8080";
  std::string data_dir = "./data";
  std::string db_url;     // default sqlite://<data>/dreamstream.db
  std::string redis_url;  // many nodes: redis://HOST:PORT[/DB]; empty: one node
  std::string node_id;    // default: random
  // Many nodes: keys the seal over every message between nodes (cluster/seal); required with
  // redis_url, the same on every node.
  std::string cluster_secret;
  std::string public_url;
  std::vector<std::string> allowed_origins;
  // The sites that may frame the embed page /u/<name>/embed (a CSP frame-ancestors source list).
  std::string embed_ancestors = "*";
  std::string web_dir;  // serve web/ from disk instead of the embedded copy
  std::string port_file;
  int builtin_workers = 1;
  int builtin_simulate_ms = 0;
  std::vector<std::string> worker_tokens;
  std::size_t max_frame_bytes = 2 * 1024 * 1024;
  int max_frame_dimension = 4096;
  long long job_timeout_ms = 20'000;
  // Unchanged frames skipped (docs/operations.md): the share of a frame's grey thumbnail that
  // must change for it to be processed (0: every frame is), and the longest a stream goes
  // without a processed frame while its camera sends.
  double skip_similar = 0.005;
  long long skip_max_ms = 2'000;
  long long grace_ms = 30'000;
  long long credits_per_hour = 12;
  long long min_start_cents = 100;
  // Bounds of one credit purchase (docs/payments.md).
  long long min_credits = 1;
  long long max_credits = 1000;
  long long default_credits = 12;
  std::size_t max_body_bytes = 1024 * 1024;
  // Per-user limits on chat comments and style requests (docs/api.md, "Comments" and
  // "Style requests").
  int comment_limit = 5;
  long long comment_window_ms = 10'000;
  int style_limit = 3;
  long long style_window_ms = 30'000;
  // Connection limits and timeouts (0 connections: derived from the descriptor limit).
  std::size_t max_connections = 0;
  std::size_t max_connections_per_address = 256;
  long long idle_timeout_ms = 60'000;
  // Threads running the sockets (0: one per CPU in the affinity mask, at least 2).
  std::size_t io_threads = 0;
  // Reverse proxies whose X-Forwarded-For is believed (CIDRs, IPv4 or IPv6).
  std::vector<std::string> trusted_proxies;
  // Credits a new account starts with (0: none), and new accounts per address per window.
  long long signup_credits = 12;
  int register_limit = 10;
  long long register_window_ms = 3'600'000;
  // H.264 for viewers who ask for it (`?video=h264`, docs/protocol.md): "h264" or "off";
  // constant quality (x264 CRF) under a bitrate cap, on this many encoder threads for all the
  // node's streams (a stream's encoder that cannot keep up drops pictures).
  std::string video = "h264";
  int video_crf = 23;
  int video_max_kbps = 3000;
  int video_threads = 1;
  std::string video_profile = "high";
  std::string hls = "on";  // live HLS at /u/<name>/live.m3u8 (needs --video h264)
  int hls_part_ms = 500;   // low-latency part target
  // Recordings (docs/operations.md#recordings): kept under media_dir (empty: <data>/media);
  // complete ones for recording_days, at most recording_quota_mb per account; the sweeper
  // runs every recording_sweep_s.
  std::string media_dir;
  int recording_days = 30;
  double recording_quota_mb = 2048;
  int recording_sweep_s = 20;
  // Bearer token for GET /metrics; empty: loopback scrapers only.
  std::string metrics_token;
};

void add_serve_command(CLI::App& app, ServeConfig& config);
int run_serve(const ServeConfig& config);

// "host:port" or "[v6]:port".
bool parse_listen(const std::string& listen, std::string& host, unsigned short& port);

}  // namespace ds::cli
