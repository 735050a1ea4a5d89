// `dreamstream push`: streams JPEG frames to /ws/ingest at a steady rate, dropping locally
// (never queueing) when the socket is backed up, reconnects when the line is lost, and reports
// the server's status messages.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "worker/frame_source.hpp"
#include "worker/line_state.hpp"

namespace ds::worker {

struct PushOptions {
  std::string server = "ws://127.0.0.1:8080";  // "/ws/ingest" is added when there is no path
  std::string key;                             // dsk_…; sent only as a Bearer header
  double fps = 15.0;
  std::int64_t count = 0;  // stop after sending this many frames; 0 = until the source ends
  int connect_timeout_ms = 10'000;
  // After the line is lost for a reason worth another try (worker/reconnect_rules.hpp), keep
  // reconnecting this long; zero: never reconnect.
  std::chrono::milliseconds retry_for{60'000};
  // Also retry when the very first connect fails (an unattended `--listen` pusher); otherwise
  // that fails at once.
  bool retry_first_connect = false;
  int initial_backoff_ms = 250;
  int max_backoff_ms = 10'000;
  bool handle_signals = true;  // SIGINT / SIGTERM end the stream cleanly
  // false: the caller goes on after run() (push --listen between publishers), so the last line
  // is `event=publish_done` without an exit code, not `event=push_done … exit_code=N`.
  bool final_run = true;
  // Each move of the line's state (worker/line_state.hpp), on run()'s thread. For tests.
  std::function<void(LineState from, LineState to)> on_line_state;
};

struct PushResult {
  static constexpr int kExitOk = 0;
  // The server ended the stream, or the line broke (and reconnecting gave up or is off).
  static constexpr int kExitClosedByServer = 1;
  static constexpr int kExitBadUsage = 2;
  static constexpr int kExitRejected = 3;     // the upgrade was refused (bad key, no credits, ...)
  static constexpr int kExitInputFailed = 4;  // --input: cannot be opened, no video, read error

  int exit_code = kExitOk;
  std::string reason;  // why it ended, for the user: the server's close reason when it has one
  int close_code = 0;  // the server's WebSocket close code, or the HTTP status of a refusal
  std::int64_t frames_sent = 0;
  std::int64_t frames_dropped = 0;  // dropped here: socket backed up, or newer camera frame
  std::int64_t status_messages = 0;
  std::int64_t reconnects = 0;  // connections made after the line was lost
};

class PushClient {
 public:
  PushClient(PushOptions options, std::unique_ptr<FrameSource> source);
  ~PushClient();
  PushClient(const PushClient&) = delete;
  PushClient& operator=(const PushClient&) = delete;

  // Runs on the calling thread until the source ends, `count` frames are sent, stop(), the
  // server closes the stream for good, or reconnecting gives up. The counters add up over
  // every connection.
  PushResult run();
  // From any thread: finish the frame in flight, close the stream normally, end run(); while
  // waiting to reconnect (or connecting), end run() at once.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ds::worker
