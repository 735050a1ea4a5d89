// `dreamstream push --input URL`: frames from anything libavformat reads (an RTMP listener for
// OBS, SRT, RTSP cameras, V4L2 devices, lavfi, files), decoded on a background thread, scaled
// to one size and encoded as JPEG; only the newest picture is kept for the sender.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/expected.hpp"
#include "worker/frame_source.hpp"

namespace ds::worker {

struct FrameSize {
  int width = 640;   // 0: from the height, keeping the input's aspect ratio
  int height = 480;  // 0: from the width, keeping the input's aspect ratio
};

// "640x480", "1280X720", "640x0" (height from the aspect ratio). Each side 0 or 16..4096,
// not both 0.
Expected<FrameSize> parse_frame_size(std::string_view text);

// "key=value" (the value may be empty or contain '='), for --input-option.
Expected<std::pair<std::string, std::string>> parse_input_option(std::string_view text);

// The output size for an input picture of in_w x in_h: `want` with a 0 side filled in from the
// input's aspect ratio (rounded to an even number, at least 2).
FrameSize output_size(FrameSize want, int in_w, int in_h);

enum class Pacing {
  kAuto,  // on for files (a seekable input) and lavfi, off for live inputs
  kOn,    // read at the input's own frame rate, by timestamps (like ffmpeg -re)
  kOff,   // as fast as the input comes
};

struct AvInputOptions {
  std::string url;
  std::string format;  // --input-format: a demuxer name (v4l2, lavfi, flv, ...); empty: guess
  std::vector<std::pair<std::string, std::string>> options;  // given to avformat_open_input
  bool listen = false;  // server mode: rtmp/tcp/http `listen=1`, srt `mode=listener`
  // With listen: required off loopback (worker/input_policy.hpp). An RTMP publisher must send it
  // as the stream name, SRT uses it as the passphrase. Never logged.
  std::string publish_secret;
  // With listen on rtmp/tcp/http: a publisher accepted but not sending a picture this long is
  // dropped, and the port listens again.
  std::chrono::milliseconds handshake_timeout{10'000};
  // With listen: called on the opening thread once the port is bound and waits for a publisher
  // (rtmp/tcp/http: libav's listening socket is there; srt: its wait after srt_listen), once per
  // open. A publisher that connects after it is never refused.
  std::function<void()> on_listening;
  FrameSize size;
  int quality = 80;   // JPEG quality 1..100
  double fps = 15.0;  // the sender's rate: at most two pictures per tick are converted
  Pacing pacing = Pacing::kAuto;
  bool loop = false;  // a file (a seekable input) starts over at its end
};

enum class AvOpenStatus {
  kOk,
  kCancelled,
  kBadUsage,
  kFailed,
  kPublisherDropped,  // listen: a publisher came with the wrong name or sent nothing in time
};

struct AvOpenResult {
  AvOpenStatus status = AvOpenStatus::kFailed;
  std::string message;  // why, for the user, when not kOk
  std::unique_ptr<FrameSource> source;
};

// Opens the input (in listen mode: waits for a publisher), finds its best video stream and
// opens its decoder, on the calling thread; then a background thread decodes. Blocking steps
// give up as soon as `cancel` becomes true (kCancelled), and the source's own destructor stops
// its thread the same way. The source is exhausted at the end of the input; failure() tells a
// read error from a normal end (in listen mode the line ending is the publisher leaving, not a
// failure). libav may open only the input's own protocols and containers
// (worker/input_policy.hpp). kBadUsage: an unknown --input-format, or a listener that
// input_policy's listen_plan refuses.
AvOpenResult open_av_source(const AvInputOptions& options, const std::atomic<bool>& cancel);

// Routes libav's log lines into spdlog (at warn and above, or everything at debug).
void route_libav_logs();

}  // namespace ds::worker
