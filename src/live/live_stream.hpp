// One open stream on this node, in one object: what the hub, the lifecycle (billing) and the
// style queue hold of it. StreamService makes it when it opens the stream (start, take_home) and
// hands it to the hub, whose registry (Hub::stream, stream_of_user, stream_of_session, streams)
// is the only one of open streams: the services keep nothing per stream of their own, and the
// stream events (live/stream_events.hpp) carry the object to their subscribers. It lives on
// while anyone holds it (an ending being billed, an event being delivered) after the hub has
// let go of it.
//
// Which thread may touch what: each part has one guard, and none is held across I/O.
// - identity (session_id, user_id, username): set at construction, read without a lock;
// - media (the mailbox, counters, skip state, ingest, the style the model gets): Hub::mutex_;
// - meter (charges, ownership epoch, balance): the user's StreamService::StreamLock, from the
//   moment the hub publishes the stream (StreamService sets it before);
// - styles (queue, settings, state, the outbox of what a change owes): styles.mutex.
// The lock order is docs/architecture.md#threads.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "domain/mailbox.hpp"
#include "domain/rate_meter.hpp"
#include "domain/similarity.hpp"
#include "domain/stream_settings.hpp"
#include "domain/style_queue.hpp"
#include "live/frame_offer.hpp"
#include "live/peer.hpp"
#include "live/picture_tap.hpp"

namespace ds::live {

// Where a stream that moves to this node (its ingest socket connected here) carries on from.
struct StreamResume {
  std::int64_t opened_ms = 0;
  std::int64_t first_frame_ms = 0;
  std::int64_t last_frame_ms = 0;
  std::uint64_t frames_in = 0;
  std::uint64_t frames_out = 0;
  int max_viewers = 0;
  std::uint64_t next_seq = 1;  // sequence numbers go on rising, so viewers drop nothing
  // HLS numbers and timeline go on too (PictureTap::continue_media); none: nothing to go on from.
  std::optional<MediaContinuation> media;
};

struct StreamOpen {
  long long session_id = 0;
  long long user_id = 0;
  std::string username;
  std::string display_name;
  StyleParams style;
  std::optional<StreamResume> resume;
};

// A frame that went (or goes) to the model, as later frames are compared with it.
struct SkipReference {
  domain::Thumbnail thumbnail;
  std::uint64_t seq = 0;
  std::int64_t at_ms = 0;
  std::uint64_t style_version = 0;
};

// The hub's part: frames on their way to the model and back, and the stream's figures.
struct StreamMedia {
  StreamOpen info;  // info.style: what the model gets (Hub::set_style)
  domain::FrameMailbox mailbox;
  std::uint64_t next_seq = 1;
  std::uint64_t last_shown_seq = 0;
  std::shared_ptr<Peer> ingest;
  std::int64_t opened_ms = 0;
  std::int64_t first_frame_ms = 0;
  std::int64_t last_frame_ms = 0;
  std::int64_t last_output_ms = 0;
  std::int64_t last_output_captured_ms = 0;
  std::uint64_t frames_in = 0;
  std::uint64_t frames_out = 0;
  double model_ms = 0;
  // Per-second rates, sampled at each status message.
  domain::RateMeter rate_in;
  domain::RateMeter rate_out;
  std::int64_t last_status_ms = 0;
  int max_viewers = 0;
  nlohmann::json status_extra = nlohmann::json::object();
  // Many nodes: a frame is on its way to the shared line; newer ones wait in the mailbox.
  bool offering = false;
  // Unchanged frames skipped: the frame in the mailbox, and the last one handed to the model;
  // set_style counts changes, and a change since the latter forces the next frame.
  std::optional<SkipReference> skip_pending;
  std::optional<SkipReference> skip_last;
  std::uint64_t style_version = 0;
  std::uint64_t frames_skipped = 0;
};

// The lifecycle's part: what the stream is billed and saved with.
struct StreamMeter {
  long long charged_minutes = 0;
  // The ownership this node holds the stream with (store::claim_stream_home): it bills and
  // saves only while the row is still at this epoch.
  long long epoch = 0;
  // As of the last charge or progress write: what the stream may still run on while the
  // database is away.
  long long balance_cents = 0;
  std::int64_t last_persist_ms = 0;
  std::int64_t last_sample_ms = 0;
};

// The style queue's part. What a change owes the database, the hub and the viewers waits in
// `outbox` and is done after `mutex` is let go, in order, by one thread at a time
// (StyleService::settle).
struct StyleLine {
  enum class Phase {
    kNew,     // StreamOpened not yet delivered: no queue, the stream counts as offline
    kOpen,    // the queue plays
    kClosed,  // ended or moved away: no change is made after
  };
  // What one change of the queue still owes.
  struct Effect {
    std::vector<domain::StyleRequest> changed;  // stored
    std::optional<StyleParams> style;           // Hub::set_style
    Bytes broadcast;                            // to the stream's viewers when set
  };
  // Guards what follows; a leaf, never held across I/O or a call out.
  std::mutex mutex;
  Phase phase = Phase::kNew;
  domain::StreamSettings settings;
  // Saved while kNew (StyleService::apply_settings): the queue opens with these.
  std::optional<domain::StreamSettings> newer_settings;
  domain::StyleQueue queue;
  nlohmann::json state;
  Bytes event;  // {"type":"styles"} for a viewer joining while it plays; null otherwise
  std::deque<Effect> outbox;
  bool draining = false;     // one thread at a time does the outbox, in order
  std::uint64_t staged = 0;  // effects made
  std::uint64_t done = 0;    // effects done
  std::condition_variable settled;

  bool open() const { return phase == Phase::kOpen; }
};

class LiveStream {
 public:
  explicit LiveStream(StreamOpen info)
      : session_id(info.session_id), user_id(info.user_id), username(info.username) {
    media.info = std::move(info);
  }
  LiveStream(const LiveStream&) = delete;
  LiveStream& operator=(const LiveStream&) = delete;

  const long long session_id;
  const long long user_id;
  const std::string username;

  StreamMedia media;                 // Hub::mutex_
  std::optional<StreamMeter> meter;  // its contents: the user's StreamLock; set or not, fixed
                                     // once the hub holds it (unset: opened on the hub alone)
  StyleLine styles;                  // styles.mutex
};

using LiveStreamPtr = std::shared_ptr<LiveStream>;

}  // namespace ds::live
