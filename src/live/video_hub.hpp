// H.264 video for viewers who ask for it (`/ws/watch/<name>?video=h264`, docs/protocol.md):
// one encoder per stream on this node, running only while the stream has a video viewer here,
// fed with the processed pictures the hub shows (the same JPEGs its JPEG viewers get, from a
// worker here or, on many nodes, heard on the stream's channel), encoded on the
// video::EncoderRunner's own threads. Each unit is encoded once, its wire header made once,
// and shared by every video viewer; the stream's current GOP is kept so that a viewer who joins
// mid-GOP decodes at once. Thread-safe.
//
// Lifecycle: the first video viewer of a stream opens its encoder (or an HLS request, or a
// recording: each a consumer); the last one leaving closes it and lets go of its GOP; the
// stream ending (here, or a new session heard from its home) closes it too and the next picture
// starts a fresh one with a keyframe.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "live/hls_store.hpp"
#include "live/peer.hpp"
#include "live/picture_tap.hpp"
#include "video/encoder_runner.hpp"
#include "video/gop_cache.hpp"

namespace ds::live {

// Where the units of a recorded session go (live/recorder.hpp). Called on an encoder thread,
// with no lock of the hub held, in order; must not block.
class RecordingSink {
 public:
  virtual ~RecordingSink() = default;
  virtual void on_unit(const std::string& username, long long session_id,
                       const video::AccessUnit& unit) = 0;
  // The stream homed here ended; no unit of that session comes after this.
  virtual void stream_ended(const std::string& username) = 0;
};

struct VideoHubConfig {
  video::EncoderSettings encoder;
  int threads = 1;                       // encoder threads for every stream of the node
  std::size_t gop_max_bytes = 4u << 20;  // per stream (video::GopCache)
  // An HLS request keeps the stream's encoder running this long (players ask every part).
  std::int64_t hls_keep_ms = 30'000;
};

class VideoHub final : public PictureTap {
 public:
  // The encoder settings must pass video::check_settings (std::invalid_argument otherwise).
  explicit VideoHub(VideoHubConfig config);
  ~VideoHub() override;
  VideoHub(const VideoHub&) = delete;
  VideoHub& operator=(const VideoHub&) = delete;

  // A video viewer of username: it is sent the GOP so far at once (start_video), then every
  // unit (send_video). The stream's first video viewer starts its encoder.
  void add_viewer(const std::string& username, std::shared_ptr<Peer> peer);
  // The last one leaving stops the encoder and frees the GOP.
  void remove_viewer(const std::string& username, const Peer* peer);

  // HLS (live/hls_store.hpp): every unit of a stream someone watches over HLS goes there too.
  // Set once, before serving; it outlives the hub. Null: no HLS.
  void set_hls(HlsStore* hls) { hls_ = hls; }
  // Someone asked for username's HLS at now_ms: its encoder runs (started if needed) until
  // hls_keep_ms after the last such call, with or without socket viewers. A stream already
  // encoding hands its current GOP over at once, so the first segment needs no new keyframe.
  void watch_hls(const std::string& username, std::int64_t now_ms);
  // Recordings (live/recorder.hpp): set once, before serving; it outlives the hub. Null: none.
  void set_recorder(RecordingSink* sink) { recorder_ = sink; }
  // Session session_id of username is recorded (on) or no more (off): while on, its encoder
  // runs (started if needed) and every unit of that session goes to the recorder as well. A
  // session's end turns it off.
  void record(const std::string& username, long long session_id, bool on);
  // HLS consumers past hls_keep_ms are gone: their media is let go and the encoder stops when
  // no socket viewer needs it. A few times a second.
  void tick(std::int64_t now_ms);

  // PictureTap: a picture shown to the stream's viewers, handed to its encoder (never waits;
  // one the encoder has not caught up with replaces the one waiting) when it has video viewers.
  void picture(const ShownPicture& p) override;
  void stream_ended(const std::string& username) override;
  std::optional<MediaContinuation> media_continuation(const std::string& username,
                                                      long long session_id) override {
    return hls_ ? hls_->continuation(username, session_id) : std::nullopt;
  }
  void continue_media(const std::string& username, long long session_id,
                      const MediaContinuation& c) override {
    if (hls_) hls_->continue_from(username, session_id, c);
  }

  // Shutdown: lets go of every viewer and encoder, and waits for a fan-out under way.
  void release_peers();

  // What one stream's video holds now (tests, metrics); nullopt: no video viewer here.
  struct StreamVideo {
    int viewers = 0;
    bool encoding = false;    // an encoder is open
    bool hls = false;         // someone watches it over HLS
    long long recording = 0;  // the session recorded (0: none)
    std::size_t gop_units = 0;
    std::size_t gop_bytes = 0;
    long long session_id = 0;
  };
  std::optional<StreamVideo> stream(const std::string& username) const;
  std::size_t encoders() const { return runner_.streams(); }
  std::optional<video::EncoderStats> encoder_stats(const std::string& username) const {
    return runner_.stats(username);
  }
  // Blocks until every picture handed over is encoded and delivered (tests).
  void wait_idle() { runner_.wait_idle(); }

 private:
  using Viewers = std::vector<std::shared_ptr<Peer>>;
  // A picture handed to the encoder, until its unit comes back.
  struct Submitted {
    std::int64_t pts_ms = 0;
    std::uint64_t seq = 0;
    std::int64_t captured_ms = 0;
    std::int64_t processed_ms = 0;
  };
  struct Stream {
    // Copy-on-write, as the hub's viewer lists: a unit's fan-out takes the list and goes on
    // with it outside the lock. Never null.
    std::shared_ptr<const Viewers> viewers = std::make_shared<const Viewers>();
    video::GopCache gop;
    bool encoding = false;
    std::uint64_t generation = 0;  // of the encoder open now: units of an older one are dropped
    long long session_id = 0;      // of the pictures it encodes (0: none yet)
    std::int64_t last_pts_ms = 0;
    std::deque<Submitted> submitted;
    std::int64_t hls_until_ms = 0;  // 0: nobody watches it over HLS
    long long recording = 0;        // the session recorded (0: none)
    bool consumed() const { return !viewers->empty() || hls_until_ms != 0 || recording != 0; }
    explicit Stream(std::size_t gop_bytes) : gop(gop_bytes) {}
  };

  // Under the lock.
  void open_encoder(const std::string& username, Stream& s);
  void close_encoder(const std::string& username, Stream& s);
  // On a runner thread: a unit of `username`'s encoder number `generation`.
  void on_unit(const std::string& username, std::uint64_t generation, const video::UnitPtr& unit);

  VideoHubConfig config_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Stream> streams_;
  std::uint64_t next_generation_ = 1;
  HlsStore* hls_ = nullptr;
  RecordingSink* recorder_ = nullptr;
  video::EncoderRunner runner_;  // last: its threads stop before the rest goes
};

}  // namespace ds::live
