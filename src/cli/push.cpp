#include "cli/push.hpp"

#include <pthread.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "worker/av_source.hpp"
#include "worker/frame_source.hpp"
#include "worker/input_policy.hpp"

namespace ds::cli {
namespace {

using worker::PushResult;

// SIGINT / SIGTERM for --input, where a signal must also reach a blocking open (an RTMP
// listener waiting for OBS): both are blocked in every thread and taken by one watcher thread,
// which sets `cancel` (libav's interrupt callback reads it) and stops the running PushClient.
// Constructed before any other thread, so every thread inherits the mask. A second signal
// exits at once.
class SignalWatch {
 public:
  SignalWatch() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
    thread_ = std::thread([this] { watch(); });
  }
  ~SignalWatch() {
    done_ = true;
    thread_.join();
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SignalWatch(const SignalWatch&) = delete;
  SignalWatch& operator=(const SignalWatch&) = delete;

  const std::atomic<bool>& cancel() const { return cancel_; }
  bool cancelled() const { return cancel_.load(); }

  // The client a signal stops (nullptr: none runs).
  void attach(worker::PushClient* client) {
    std::lock_guard lock(mutex_);
    client_ = client;
    if (client_ && cancel_) client_->stop();
  }

  // Sleeps up to `d`, less when a signal comes.
  void sleep_for(std::chrono::milliseconds d) const {
    auto end = std::chrono::steady_clock::now() + d;
    while (!cancel_ && std::chrono::steady_clock::now() < end) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

 private:
  void watch() {
    while (!done_) {
      timespec wait{0, 100'000'000};
      int sig = sigtimedwait(&set_, nullptr, &wait);
      if (sig < 0) continue;  // EAGAIN (timeout) or EINTR
      if (cancel_.exchange(true)) {
        std::fprintf(stderr, "dreamstream push: second signal, exiting now\n");
        std::_Exit(130);
      }
      spdlog::info("event=signal signal={} action=stop", sig);
      std::lock_guard lock(mutex_);
      if (client_) client_->stop();
    }
  }

  sigset_t set_{};
  sigset_t old_{};
  std::atomic<bool> cancel_{false};
  std::atomic<bool> done_{false};
  std::mutex mutex_;
  worker::PushClient* client_ = nullptr;
  std::thread thread_;
};

int fail(int code, const std::string& message) {
  std::fprintf(stderr, "dreamstream push: %s\n", message.c_str());
  return code;
}

worker::PushOptions push_options(const PushConfig& c) {
  worker::PushOptions o = c.options;
  o.retry_for = std::chrono::seconds(c.retry_for_s);
  return o;
}

int run_input(const PushConfig& c) {
  worker::AvInputOptions av;
  av.url = c.input;
  av.format = c.input_format;
  av.listen = c.listen;
  av.publish_secret = c.publish_secret;
  av.handshake_timeout =
      std::chrono::milliseconds(static_cast<long long>(c.handshake_timeout_s * 1000));
  av.quality = c.quality;
  av.fps = c.options.fps;
  av.loop = c.loop;
  av.pacing = c.realtime == "on"    ? worker::Pacing::kOn
              : c.realtime == "off" ? worker::Pacing::kOff
                                    : worker::Pacing::kAuto;
  auto size = worker::parse_frame_size(c.size);
  if (!size) return fail(PushResult::kExitBadUsage, size.error().message);
  av.size = *size;
  for (const auto& text : c.input_options) {
    auto kv = worker::parse_input_option(text);
    if (!kv) return fail(PushResult::kExitBadUsage, kv.error().message);
    av.options.push_back(*kv);
  }
  if (c.listen) {
    // Refused at once, before anything listens: off loopback without a secret, for one.
    auto plan = worker::listen_plan(av.url, av.publish_secret);
    if (!plan) return fail(PushResult::kExitBadUsage, plan.error().message);
  }
  worker::route_libav_logs();

  SignalWatch signals;
  worker::PushOptions options = push_options(c);
  options.handle_signals = false;  // SignalWatch does it
  // Unattended (OBS publishes into the listener): a server that is down at the start is waited
  // for like one that went away; otherwise a first connect that fails ends at once.
  options.retry_first_connect = c.listen;
  options.final_run = !c.listen;
  bool connected_once = false;
  if (c.listen) {
    // Each wait, once the port is bound: a publisher started after this line gets in.
    av.on_listening = [&av] {
      spdlog::info("event=listening url={} waiting_for=publisher", av.url);
    };
  }
  for (;;) {
    auto started = std::chrono::steady_clock::now();
    auto opened = worker::open_av_source(av, signals.cancel());
    if (signals.cancelled()) return PushResult::kExitOk;
    if (opened.status == worker::AvOpenStatus::kBadUsage) {
      return fail(PushResult::kExitBadUsage, opened.message);
    }
    if (opened.status == worker::AvOpenStatus::kPublisherDropped) {
      // A wrong stream name, or a peer that holds the one accept and says nothing: the port
      // is free again at once for the right publisher.
      spdlog::warn("event=publisher_dropped reason=\"{}\" action=listen_again", opened.message);
      continue;
    }
    if (opened.status != worker::AvOpenStatus::kOk) {
      // A listener that already waited (a port scanner, a publisher that gave up in the
      // handshake) listens again; one that fails at once (port taken, bad URL) ends.
      bool waited = std::chrono::steady_clock::now() - started > std::chrono::seconds(2);
      if (c.listen && (connected_once || waited)) {
        spdlog::warn("event=input_failed reason=\"{}\" action=listen_again", opened.message);
        signals.sleep_for(std::chrono::milliseconds(500));
        if (signals.cancelled()) return PushResult::kExitOk;
        continue;
      }
      return fail(PushResult::kExitInputFailed, opened.message);
    }
    connected_once = true;
    worker::PushClient client(options, std::move(opened.source));
    signals.attach(&client);
    auto result = client.run();
    signals.attach(nullptr);
    bool count_reached = options.count > 0 && result.frames_sent >= options.count;
    bool input_ended =
        result.exit_code == PushResult::kExitOk || result.exit_code == PushResult::kExitInputFailed;
    if (c.listen && input_ended && !count_reached && !signals.cancelled()) {
      // OBS stopped streaming (or its line broke): this stream ended (closed with 1000), the
      // next publisher starts a new one.
      spdlog::info("event=publisher_left frames_sent={} action=listen_again", result.frames_sent);
      continue;
    }
    if (result.exit_code != PushResult::kExitOk) return fail(result.exit_code, result.reason);
    return result.exit_code;
  }
}

}  // namespace

void add_push_command(CLI::App& app, PushConfig& c) {
  auto* cmd = app.add_subcommand(
      "push",
      "Stream frames to your stream: a folder of JPEGs, MJPEG on stdin, or any input FFmpeg "
      "reads (OBS over RTMP, SRT, RTSP cameras, V4L2 devices, files)");
  cmd->footer(
      "Examples:\n"
      "  dreamstream push --key dsk_… --dir frames/ --fps 15 --loop\n"
      "  ffmpeg -f v4l2 -i /dev/video0 -f mjpeg - | dreamstream push --key dsk_… --stdin-mjpeg\n"
      "  # OBS: Settings > Stream > Custom..., Server rtmp://THIS_HOST:1935/live,\n"
      "  # Stream Key = the publish secret (e.g. from `openssl rand -hex 16`)\n"
      "  dreamstream push --key dsk_… --input rtmp://0.0.0.0:1935/live --listen \\\n"
      "      --publish-secret SECRET --size 640x360\n"
      "  dreamstream push --key dsk_… --input 'srt://0.0.0.0:9000' --listen --publish-secret "
      "SECRET\n"
      "  dreamstream push --key dsk_… --input rtsp://cam.local/stream "
      "--input-option rtsp_transport=tcp\n"
      "  dreamstream push --key dsk_… --input /dev/video0 --input-format v4l2 "
      "--input-option video_size=640x480\n"
      "  dreamstream push --key dsk_… --input clip.mp4 --fps 15 --loop\n"
      "  dreamstream push --key dsk_… --input testsrc2=size=640x480:rate=15 --input-format lavfi\n"
      "Reconnects: when the line breaks, the server restarts or says \"try again\" (HTTP 5xx,\n"
      "close 1001, 1011, 1013, or 4002 with reason server_shutdown), push reconnects with\n"
      "backoff (0.25 s doubling to 10 s) for --retry-for seconds and continues the same stream\n"
      "when the server still holds it (serve --grace-ms), else starts a new one; frames meanwhile\n"
      "are dropped, never queued. The first connect fails at once, except with --listen.\n"
      "Exit codes: 0 input ended or stopped, 1 the server ended the stream or the line stayed\n"
      "down for --retry-for, 2 bad usage, 3 refused (bad key, no credits), 4 the input cannot be\n"
      "opened or failed.");
  cmd->add_option("--server", c.options.server, "Server URL (ws://, wss://, http:// or https://)")
      ->envname("DREAMSTREAM_SERVER")
      ->capture_default_str();
  cmd->add_option("--key", c.options.key, "Stream key (dsk_…)")
      ->envname("DREAMSTREAM_STREAM_KEY")
      ->required();
  auto* dir = cmd->add_option("--dir", c.dir, "Folder of *.jpg frames, sent in name order")
                  ->check(CLI::ExistingDirectory);
  auto* in =
      cmd->add_flag("--stdin-mjpeg", c.stdin_mjpeg, "Read MJPEG (concatenated JPEGs) from stdin");
  auto* input = cmd->add_option("--input", c.input,
                                "Any URL or file FFmpeg's libavformat reads (rtmp://, srt://, "
                                "rtsp://, a device, a file); sends its newest frame at --fps");
  dir->excludes(in)->excludes(input);
  in->excludes(dir)->excludes(input);
  input->excludes(dir)->excludes(in);
  cmd->add_option("--fps", c.options.fps, "Frames per second to send")
      ->check(CLI::Range(0.1, 1000.0))
      ->capture_default_str();
  cmd->add_option("--retry-for", c.retry_for_s,
                  "Seconds to keep reconnecting after the line to the server is lost (0: exit "
                  "at once, code 1)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_flag("--loop", c.loop, "With --dir or an --input file: start over at the end");
  cmd->add_option("--count", c.options.count, "Stop after sending this many frames")
      ->check(CLI::NonNegativeNumber);
  auto* listen =
      cmd->add_flag("--listen", c.listen,
                    "With --input: be the server (rtmp/tcp/http listen=1, srt mode=listener) and "
                    "wait for a publisher; when it stops, the stream ends and the next one starts "
                    "a new stream")
          ->needs(input);
  cmd->add_option("--publish-secret", c.publish_secret,
                  "With --listen: what a publisher must know, required unless listening on "
                  "loopback: an RTMP publisher sends it as the stream name (OBS's Stream Key), "
                  "SRT uses it as the passphrase; 16-63 characters of A-Z a-z 0-9 . _ ~ -")
      ->envname("DREAMSTREAM_PUBLISH_SECRET");
  cmd->add_option("--handshake-timeout", c.handshake_timeout_s,
                  "With --listen: seconds an accepted publisher has to send its first picture "
                  "before it is dropped and the port listens again")
      ->check(CLI::Range(0.1, 600.0))
      ->needs(listen)
      ->capture_default_str();
  cmd->add_option("--size", c.size,
                  "With --input: scale to exactly WIDTHxHEIGHT (stretching when the aspect "
                  "differs); 0 for one side keeps the aspect, e.g. 640x0")
      ->needs(input)
      ->capture_default_str();
  cmd->add_option("--quality", c.quality, "With --input: JPEG quality 1-100")
      ->check(CLI::Range(1, 100))
      ->needs(input)
      ->capture_default_str();
  cmd->add_option("--input-format", c.input_format,
                  "With --input: the demuxer or device, like ffmpeg -f (v4l2, lavfi, flv, ...)")
      ->needs(input);
  cmd->add_option("--input-option", c.input_options,
                  "With --input: key=value for the demuxer or protocol, like ffmpeg's input "
                  "options (rtsp_transport=tcp, video_size=1280x720); repeatable")
      ->needs(input);
  cmd->add_option("--realtime", c.realtime,
                  "With --input: read at the input's own frame rate like ffmpeg -re (on), as "
                  "fast as it comes (off), or on for files and lavfi only (auto)")
      ->check(CLI::IsMember({"auto", "on", "off"}))
      ->needs(input)
      ->capture_default_str();
}

int run_push(const PushConfig& c) {
  if (!c.input.empty()) return run_input(c);
  std::unique_ptr<worker::FrameSource> source;
  if (c.stdin_mjpeg) {
    source = worker::make_mjpeg_source(STDIN_FILENO);
  } else if (!c.dir.empty()) {
    auto made = worker::make_directory_source(c.dir, c.loop);
    if (!made) {
      std::fprintf(stderr, "dreamstream push: %s\n", made.error().message.c_str());
      return worker::PushResult::kExitBadUsage;
    }
    source = std::move(*made);
  } else {
    std::fprintf(stderr, "dreamstream push: give --dir FOLDER, --stdin-mjpeg or --input URL\n");
    return worker::PushResult::kExitBadUsage;
  }
  worker::PushClient client(push_options(c), std::move(source));
  auto result = client.run();
  if (result.exit_code != worker::PushResult::kExitOk) {
    std::fprintf(stderr, "dreamstream push: %s\n", result.reason.c_str());
  }
  return result.exit_code;
}

}  // namespace ds::cli
