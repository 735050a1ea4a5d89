// Debian's ffmpeg CLI publishing a test pattern over RTMP the way OBS does (x264 zerolatency,
// FLV), for tests of `push --input rtmp://… --listen`; it retries while the listener is not up.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

namespace ds::worker::testing {

inline bool have_ffmpeg() {
  return std::system("ffmpeg -hide_banner -version >/dev/null 2>&1") == 0;
}

class RtmpPublisher {
 public:
  // Publishes `seconds` of video to `url` (rtmp://127.0.0.1:PORT/APP/NAME), starting again while
  // ffmpeg fails within half a second (nothing listens yet), until stop().
  RtmpPublisher(std::string url, int seconds)
      : url_(std::move(url)), seconds_(seconds), thread_([this] { run(); }) {}
  ~RtmpPublisher() {
    stop();
    thread_.join();
  }
  RtmpPublisher(const RtmpPublisher&) = delete;
  RtmpPublisher& operator=(const RtmpPublisher&) = delete;

  void stop() {
    stop_ = true;
    pid_t pid = pid_.load();
    if (pid > 0) ::kill(pid, SIGKILL);
  }
  // Whether an ffmpeg run lasted more than half a second (it was let in) and ended.
  bool published() const { return published_; }
  // The exit status of the last run that ended (-1: none yet).
  int last_status() const { return last_status_; }

 private:
  void run() {
    while (!stop_) {
      auto started = std::chrono::steady_clock::now();
      pid_t pid = ::fork();
      if (pid == 0) {
        std::string src = "testsrc2=size=320x240:rate=15";
        std::string t = std::to_string(seconds_);
        ::execlp("ffmpeg", "ffmpeg", "-hide_banner", "-loglevel", "quiet", "-re", "-f", "lavfi",
                 "-i", src.c_str(), "-t", t.c_str(), "-c:v", "libx264", "-preset", "ultrafast",
                 "-tune", "zerolatency", "-g", "15", "-pix_fmt", "yuv420p", "-f", "flv",
                 url_.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
      }
      pid_ = pid;
      if (stop_) ::kill(pid, SIGKILL);
      int status = 0;
      ::waitpid(pid, &status, 0);
      pid_ = 0;
      last_status_ = status;
      if (std::chrono::steady_clock::now() - started > std::chrono::milliseconds(500)) {
        published_ = true;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  std::string url_;
  int seconds_;
  std::atomic<bool> stop_{false};
  std::atomic<pid_t> pid_{0};
  std::atomic<bool> published_{false};
  std::atomic<int> last_status_{-1};
  std::thread thread_;
};

}  // namespace ds::worker::testing
