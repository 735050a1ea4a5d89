#include "video/encoder_runner.hpp"

#include <pthread.h>
#include <spdlog/spdlog.h>
#include <time.h>

#include <stdexcept>

namespace ds::video {
namespace {

std::int64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

EncoderRunner::EncoderRunner(EncoderSettings settings, int threads)
    : settings_(std::move(settings)) {
  if (auto ok = check_settings(settings_); !ok) throw std::invalid_argument(ok.error().message);
  if (threads < 1 || threads > 64) throw std::invalid_argument("threads must be 1..64");
  threads_.reserve(static_cast<std::size_t>(threads));
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

EncoderRunner::~EncoderRunner() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

bool EncoderRunner::open(const std::string& stream, Sink sink) {
  std::lock_guard lock(mutex_);
  auto entry = std::make_shared<Entry>();
  entry->sink = std::move(sink);
  return entries_.emplace(stream, std::move(entry)).second;
}

bool EncoderRunner::submit(const std::string& stream, std::shared_ptr<const std::string> jpeg,
                           std::int64_t pts_ms) {
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(stream);
    if (it == entries_.end()) return false;
    Entry& e = *it->second;
    ++e.stats.submitted;
    if (e.pending) ++e.stats.dropped;
    e.pending = Pending{std::move(jpeg), pts_ms};
    if (e.busy || e.queued) return true;  // the thread that has it picks the picture up next
    e.queued = true;
    ready_.push_back(it->second);
  }
  wake_.notify_one();
  return true;
}

void EncoderRunner::close(const std::string& stream) {
  std::unique_ptr<H264Encoder> encoder;  // freed outside the lock
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(stream);
    if (it == entries_.end()) return;
    Entry& e = *it->second;
    e.closed = true;
    e.pending.reset();
    if (!e.busy) encoder = std::move(e.encoder);
    entries_.erase(it);
  }
}

std::optional<EncoderStats> EncoderRunner::stats(const std::string& stream) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(stream);
  if (it == entries_.end()) return std::nullopt;
  return it->second->stats;
}

std::size_t EncoderRunner::streams() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

void EncoderRunner::wait_idle() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [this] { return ready_.empty() && busy_ == 0; });
}

Expected<AccessUnit> EncoderRunner::encode(Entry& entry, const Pending& picture) {
  try {
    if (!entry.encoder) entry.encoder = std::make_unique<H264Encoder>(settings_);
    return entry.encoder->encode_jpeg(*picture.jpeg, picture.pts_ms);
  } catch (const std::exception& e) {
    // Out of memory, or an FFmpeg without its MJPEG decoder: this picture is lost, the thread
    // and the other streams go on.
    entry.encoder.reset();
    return Error{ErrorKind::kInternal, "encoder_failed", e.what()};
  }
}

void EncoderRunner::run() {
  // Named, so that top -H and bench/video_path.py tell the encoders' CPU apart.
  pthread_setname_np(pthread_self(), "ds-encode");
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !ready_.empty(); });
    if (stopping_) return;
    std::shared_ptr<Entry> entry = std::move(ready_.front());
    ready_.pop_front();
    entry->queued = false;
    if (entry->closed || !entry->pending) {
      if (ready_.empty() && busy_ == 0) idle_.notify_all();
      continue;
    }
    Pending picture = std::move(*entry->pending);
    entry->pending.reset();
    entry->busy = true;
    ++busy_;
    lock.unlock();

    std::int64_t cpu_before = thread_cpu_ns();
    Expected<AccessUnit> unit = encode(*entry, picture);
    std::int64_t cpu = thread_cpu_ns() - cpu_before;
    UnitPtr shared;
    if (unit) {
      shared = std::make_shared<const AccessUnit>(std::move(*unit));
    } else {
      spdlog::warn("event=video_encode_failed code={} msg=\"{}\"", unit.error().code,
                   unit.error().message);
    }

    lock.lock();
    entry->stats.cpu_ns += cpu;
    if (!shared) ++entry->stats.failed;
    if (shared && !entry->closed) {
      ++entry->stats.encoded;
      entry->stats.bytes += static_cast<std::int64_t>(shared->bytes());
      // Still busy: the stream's next picture is encoded after this call returns, so its
      // units reach the sink in order.
      lock.unlock();
      entry->sink(shared);
      lock.lock();
    }
    entry->busy = false;
    --busy_;
    if (entry->closed) {
      std::unique_ptr<H264Encoder> encoder = std::move(entry->encoder);
      lock.unlock();
      encoder.reset();
      lock.lock();
    } else if (entry->pending && !entry->queued) {
      entry->queued = true;
      ready_.push_back(entry);
      wake_.notify_one();
    }
    if (ready_.empty() && busy_ == 0) idle_.notify_all();
  }
}

}  // namespace ds::video
