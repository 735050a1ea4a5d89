// Recordings of stream sessions (docs/architecture.md#recordings): a session whose streamer
// asked for it (the `record` setting, at its start or switched on while live) has its encoder's
// units cut into the same CMAF segments as live HLS (video::HlsSegmenter) and kept under
// <media-dir>/recordings/<user_id>/<session_id>/ with a VOD playlist, by this node, the
// stream's home. Units arrive on encoder threads and only go into memory there; files and the
// database are written by one writer thread of its own, in order, so no encoder or io thread
// waits on a disk. The sweeper (on the writer thread too) deletes what retention and the
// per-account quota ask, and closes recordings a dead node left open.
//
// Thread rule: mutex_ guards active_ and seen_; it is never held across a file, the database,
// the hub or the video hub. The writer's queue has a lock of its own, taken after mutex_ only.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "domain/recording_rules.hpp"
#include "live/hub.hpp"
#include "live/video_hub.hpp"
#include "store/database.hpp"
#include "store/recordings.hpp"
#include "store/users.hpp"
#include "util/clock.hpp"
#include "video/hls_segmenter.hpp"
#include "video/vod_playlist.hpp"

namespace ds::live {

class RecordingWriter;

struct RecorderConfig {
  std::filesystem::path media_dir;  // recordings under media_dir/recordings/
  domain::SweepRules rules;
  std::int64_t sweep_every_ms = 20'000;
  video::HlsConfig media;  // how segments are cut (as live HLS's)
};

class Recorder final : public RecordingSink {
 public:
  // video: null when this node encodes no video; it then records nothing (what is stored can
  // still be listed, played and deleted).
  Recorder(const Clock& clock, store::Database& db, Hub& hub, VideoHub* video,
           RecorderConfig config);
  ~Recorder() override;
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  // RecordingSink: on encoder threads; only memory, then the writer's queue.
  void on_unit(const std::string& username, long long session_id,
               const video::AccessUnit& unit) override;
  void stream_ended(const std::string& username) override;

  // The streamer switched `record` (SettingsService): a live stream homed here starts or stops
  // being recorded. Only queues the work.
  void set_record(const store::User& streamer, bool on);
  // Notices sessions homed here that began (and records those whose streamer asked) or left
  // this node, and queues a sweep every sweep_every_ms. Only queues work; about once a second.
  void tick();
  // At start, before serving: closes recordings left open whose session ended (waits).
  void recover();

  // Readers for the API.
  std::optional<store::Recording> find(long long session_id);
  std::vector<store::RecordingListing> list(long long user_id, bool with_private, long long before,
                                            int limit);
  // Only user_id's own; nullopt when it has no such recording.
  std::optional<store::Recording> set_public(long long user_id, long long session_id,
                                             bool is_public);
  // Deletes user_id's recording (stopping it first when it is recorded here): its files and
  // row are gone when this returns true; false when user_id has no such recording.
  bool remove(long long user_id, long long session_id);
  // The account is deleted: every recording of it whose files this node can see.
  void remove_all(long long user_id);

  std::filesystem::path directory(long long user_id, long long session_id) const;
  // A scratch directory on the same disk (downloads being remuxed).
  std::filesystem::path scratch_directory() const;

  // Runs a sweep now and waits for it (tests, admin).
  void sweep();
  // Waits until the writer has done everything queued so far.
  void flush();
  // Shutdown: finishes what is being recorded, runs what is queued, stops the writer. After
  // this the recorder only answers readers. Idempotent.
  void shutdown();

  // Sessions being recorded here, and jobs waiting for the writer (tests, metrics: a queue that
  // grows says the disk does not keep up).
  std::size_t active() const;
  std::size_t queued();

 private:
  struct Active {
    long long session_id = 0;
    long long user_id = 0;
    std::shared_ptr<RecordingWriter> writer;         // used by writer jobs only
    std::unique_ptr<video::HlsSegmenter> segmenter;  // from the first keyframe on
    std::int64_t first_msn = 0;                      // the segmenter's first
    std::int64_t handed = -1;                        // newest msn handed to the writer
    std::int64_t last_init = -1;                     // init msn handed to the writer
  };
  // A complete segment on its way to the writer (with its init when that is new).
  struct Piece {
    video::VodSegment segment;
    std::shared_ptr<const std::string> init;
    std::shared_ptr<const std::string> bytes;
  };

  // Under mutex_: the complete segments not yet handed over.
  static std::vector<Piece> take_complete(Active& a);
  void post(std::function<void()> job);
  void run_writer();

  // On the writer thread.
  void start(long long user_id, const std::string& username, long long session_id);
  void consider(long long user_id, const std::string& username, long long session_id);
  void write(const std::shared_ptr<RecordingWriter>& writer, long long session_id,
             long long user_id, const std::string& username, const std::vector<Piece>& pieces,
             bool finish);
  void do_sweep();
  void close_unclosed();
  void delete_files(long long user_id, long long session_id);

  // Stops username's recording (what was kept stays, ended with ENDLIST); how says why.
  void stop(const std::string& username, long long session_id, const char* why);

  const Clock& clock_;
  store::Database& db_;
  Hub& hub_;
  VideoHub* video_;
  RecorderConfig config_;

  mutable std::mutex mutex_;
  std::unordered_map<std::string, Active> active_;  // by username
  std::unordered_set<long long> seen_;              // sessions homed here, already considered
  std::int64_t last_sweep_ms_ = 0;

  std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::thread writer_;  // last: started once the rest is there
};

}  // namespace ds::live
