#include "worker/frame_source.hpp"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <thread>
#include <vector>

#include "worker/mjpeg_splitter.hpp"

namespace ds::worker {
namespace {

namespace fs = std::filesystem;

bool has_jpeg_extension(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".jpg" || ext == ".jpeg";
}

class DirectorySource final : public FrameSource {
 public:
  DirectorySource(std::vector<fs::path> files, bool loop) : files_(std::move(files)), loop_(loop) {}

  std::optional<std::string> take() override {
    // Skip bad files, but never spin through the folder more than once per call.
    for (std::size_t tries = 0; tries < files_.size() && !exhausted(); ++tries) {
      const fs::path& path = files_[next_];
      next_ = next_ + 1;
      if (next_ == files_.size() && loop_) next_ = 0;
      std::ifstream in(path, std::ios::binary);
      std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (data.size() >= 4 && static_cast<unsigned char>(data[0]) == 0xFF &&
          static_cast<unsigned char>(data[1]) == 0xD8) {
        valid_seen_ = true;
        return data;
      }
      spdlog::warn("event=skipped_file file=\"{}\" reason=\"not a JPEG\"",
                   path.filename().string());
      if (loop_ && next_ == 0 && !valid_seen_) {
        all_bad_ = true;  // a whole pass without one JPEG: looping would spin forever
      }
    }
    return std::nullopt;
  }

  bool exhausted() const override { return all_bad_ || (!loop_ && next_ >= files_.size()); }

 private:
  std::vector<fs::path> files_;
  bool loop_;
  std::size_t next_ = 0;
  bool valid_seen_ = false;
  bool all_bad_ = false;
};

class MjpegSource final : public FrameSource {
 public:
  explicit MjpegSource(int fd) : fd_(fd), reader_([this] { read_loop(); }) {}

  ~MjpegSource() override {
    stop_ = true;
    reader_.join();
  }

  std::optional<std::string> take() override {
    std::lock_guard lock(mutex_);
    std::optional<std::string> out = std::move(newest_);
    newest_.reset();
    return out;
  }

  bool exhausted() const override {
    std::lock_guard lock(mutex_);
    return eof_ && !newest_;
  }

  std::int64_t dropped() const override { return dropped_.load(); }

 private:
  void read_loop() {
    MjpegSplitter splitter;
    std::vector<char> chunk(64 * 1024);
    while (!stop_) {
      // poll with a timeout so the destructor is never stuck behind a silent pipe.
      pollfd p{fd_, POLLIN, 0};
      int ready = ::poll(&p, 1, 100);
      if (ready < 0 && errno != EINTR) break;
      if (ready <= 0) continue;
      ssize_t n = ::read(fd_, chunk.data(), chunk.size());
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) break;
      auto frames = splitter.feed(std::string_view(chunk.data(), static_cast<std::size_t>(n)));
      if (frames.empty()) continue;
      std::lock_guard lock(mutex_);
      dropped_ += static_cast<std::int64_t>(frames.size()) - 1 + (newest_ ? 1 : 0);
      newest_ = std::move(frames.back());
    }
    std::lock_guard lock(mutex_);
    eof_ = true;
  }

  int fd_;
  mutable std::mutex mutex_;
  std::optional<std::string> newest_;
  bool eof_ = false;
  std::atomic<bool> stop_{false};
  std::atomic<std::int64_t> dropped_{0};
  std::thread reader_;  // last: starts after every other member exists
};

}  // namespace

Expected<std::unique_ptr<FrameSource>> make_directory_source(const std::string& dir, bool loop) {
  std::error_code ec;
  std::vector<fs::path> files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec) && has_jpeg_extension(it->path())) files.push_back(it->path());
  }
  if (ec) return bad_request("cannot read folder " + dir + ": " + ec.message(), "bad_folder");
  if (files.empty()) return bad_request("no *.jpg files in " + dir, "bad_folder");
  std::sort(files.begin(), files.end());
  return std::unique_ptr<FrameSource>(std::make_unique<DirectorySource>(std::move(files), loop));
}

std::unique_ptr<FrameSource> make_mjpeg_source(int fd) { return std::make_unique<MjpegSource>(fd); }

}  // namespace ds::worker
