#include "cli/push.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>

#include "worker/frame_source.hpp"

namespace ds::cli {

void add_push_command(CLI::App& app, PushConfig& c) {
  auto* cmd =
      app.add_subcommand("push", "Stream JPEG frames (a folder, or MJPEG on stdin) to your stream");
  cmd->footer(
      "Examples:\n"
      "  dreamstream push --key dsk_… --dir frames/ --fps 15 --loop\n"
      "  ffmpeg -f v4l2 -i /dev/video0 -f mjpeg - | dreamstream push --key dsk_… --stdin-mjpeg");
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
  dir->excludes(in);
  in->excludes(dir);
  cmd->add_option("--fps", c.options.fps, "Frames per second to send")
      ->check(CLI::Range(0.1, 1000.0))
      ->capture_default_str();
  cmd->add_flag("--loop", c.loop, "With --dir: start over at the end");
  cmd->add_option("--count", c.options.count, "Stop after sending this many frames")
      ->check(CLI::NonNegativeNumber);
}

int run_push(const PushConfig& c) {
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
    std::fprintf(stderr, "dreamstream push: give --dir FOLDER or --stdin-mjpeg\n");
    return worker::PushResult::kExitBadUsage;
  }
  worker::PushClient client(c.options, std::move(source));
  auto result = client.run();
  if (result.exit_code != worker::PushResult::kExitOk) {
    std::fprintf(stderr, "dreamstream push: %s\n", result.reason.c_str());
  }
  return result.exit_code;
}

}  // namespace ds::cli
