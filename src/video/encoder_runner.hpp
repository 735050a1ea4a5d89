// Runs the H.264 encoders of many streams on a few threads of its own, off the io threads.
// Each stream has a one-picture mailbox: a picture that arrives while the stream's previous one
// is still being encoded waits there, and a newer one replaces it (counted as dropped), so a
// stream whose encoder cannot keep up loses pictures and never builds a queue. A stream is
// encoded by one thread at a time, streams in the order their pictures arrived.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "video/access_unit.hpp"
#include "video/h264_encoder.hpp"

namespace ds::video {

using UnitPtr = std::shared_ptr<const AccessUnit>;

struct EncoderStats {
  std::int64_t submitted = 0;  // pictures handed to submit()
  std::int64_t encoded = 0;    // units given to the sink
  std::int64_t dropped = 0;    // replaced in the mailbox by a newer picture before encoding
  std::int64_t failed = 0;     // the encoder refused them (bad JPEG, stale timestamp, ...)
  std::int64_t cpu_ns = 0;     // thread CPU time spent decoding, scaling and encoding
  std::int64_t bytes = 0;      // of the units given to the sink
};

class EncoderRunner {
 public:
  // Called on a runner thread with each unit of the stream, in order; encoded once and shared.
  using Sink = std::function<void(const UnitPtr&)>;

  // `threads` encoder threads (1..64) for all streams: the CPU the runner may take. The
  // settings must pass check_settings (std::invalid_argument otherwise).
  EncoderRunner(EncoderSettings settings, int threads);
  // Stops the threads after the encodes under way; waiting pictures are dropped.
  ~EncoderRunner();
  EncoderRunner(const EncoderRunner&) = delete;
  EncoderRunner& operator=(const EncoderRunner&) = delete;

  // Starts a stream: its units go to `sink`. False when `stream` is already open.
  bool open(const std::string& stream, Sink sink);
  // Hands over a processed picture taken at `pts_ms`; never waits for an encode. False when
  // the stream is not open.
  bool submit(const std::string& stream, std::shared_ptr<const std::string> jpeg,
              std::int64_t pts_ms);
  // Stops a stream and frees its encoder; a waiting picture is dropped. Does not wait: a sink
  // call already under way (or past its check) may still run, none is decided after this.
  void close(const std::string& stream);

  std::optional<EncoderStats> stats(const std::string& stream) const;
  std::size_t streams() const;
  // Blocks until no picture waits and none is being encoded (tests and benchmarks).
  void wait_idle();

 private:
  struct Pending {
    std::shared_ptr<const std::string> jpeg;
    std::int64_t pts_ms = 0;
  };
  struct Entry {
    Sink sink;
    std::unique_ptr<H264Encoder> encoder;  // made on first use, on a runner thread
    std::optional<Pending> pending;
    bool busy = false;    // a runner thread is encoding it
    bool queued = false;  // in ready_
    bool closed = false;
    EncoderStats stats;
  };

  void run();
  // On the runner thread that has `entry` busy.
  Expected<AccessUnit> encode(Entry& entry, const Pending& picture);

  EncoderSettings settings_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::unordered_map<std::string, std::shared_ptr<Entry>> entries_;
  std::deque<std::shared_ptr<Entry>> ready_;
  int busy_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace ds::video
