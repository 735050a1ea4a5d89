// Streams in flight: the registry of open streams (live::LiveStream, the only one on the node;
// hub_streams.cpp), each name's channel (viewers, fan-out, viewer counts, the last picture),
// live processing figures, and the node's workers (a live::WorkerPool it owns and touches only
// under its lock; the pool decides, the hub sends after the lock). Thread-safe. Without a
// cluster it never blocks on I/O. With one, the calls of the live path (frames, results, viewers
// joining and leaving, the tick) only queue Redis commands that do not wait; the lookups of
// streams homed elsewhere (find, all_streams, home_of, announced_state, viewer_count) may wait up
// to 250 ms on Redis, hold no hub lock meanwhile, and are for the blocking pool, never an io
// thread.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "domain/similarity.hpp"
#include "live/frame_offer.hpp"
#include "live/live_stream.hpp"
#include "live/peer.hpp"
#include "live/picture_tap.hpp"
#include "live/stream_state.hpp"
#include "live/worker_pool.hpp"
#include "util/clock.hpp"

namespace ds::live {

struct HubConfig {
  std::int64_t job_timeout_ms = 20'000;
  Peer::Queued worker_queue_full = kWorkerQueueFull;
  // Live but no processed frame for this long: viewers are told "waiting for the model".
  std::int64_t waiting_after_ms = 6'000;
  std::int64_t status_interval_ms = 1'000;
  // Unchanged frames skipped (docs/architecture.md): a camera frame whose thumbnail differs
  // from that of the last frame handed to the model by less than skip_similar
  // (domain::change_between, 0..1; 0: off) is not processed, unless the style changed or
  // skip_max_ms passed since that frame. thumbnail (worker::make_thumbnail) runs outside the
  // lock; nullopt: the frame is processed.
  double skip_similar = 0;
  std::int64_t skip_max_ms = 2'000;
  std::function<std::optional<domain::Thumbnail>(std::string_view jpeg)> thumbnail;
};

// What the rest of the system may read about one open stream.
struct StreamSnapshot {
  long long session_id = 0;
  long long user_id = 0;
  std::string username;
  std::string display_name;
  StreamState state = StreamState::kWaiting;  // kWaiting or kLive
  int viewers = 0;
  int max_viewers = 0;
  std::int64_t opened_ms = 0;
  std::int64_t first_frame_ms = 0;  // 0 until the first frame
  std::int64_t last_frame_ms = 0;
  std::uint64_t frames_in = 0;
  std::uint64_t frames_dropped = 0;
  std::uint64_t frames_skipped = 0;  // unchanged since the last frame handed to the model
  std::uint64_t frames_out = 0;
  double fps_in = 0;
  double fps_out = 0;
  double model_ms = 0;
  std::int64_t frame_age_ms = 0;
  bool has_ingest = false;
  StyleParams style;
};

enum class ResultOutcome { kShown, kStale, kStreamGone, kUnknownJob };

// Counters since the hub started, over every stream (for /metrics).
struct HubTotals {
  std::uint64_t frames_in = 0;
  std::uint64_t frames_dropped = 0;  // replaced in a mailbox before a worker took them
  std::uint64_t frames_skipped = 0;  // unchanged since the last frame handed to the model
  std::uint64_t jobs_sent = 0;
  std::uint64_t frames_shown = 0;
  std::uint64_t results_stale = 0;  // older than a frame already shown
  std::uint64_t jobs_failed = 0;    // the worker reported an error
  std::uint64_t jobs_timed_out = 0;
  std::uint64_t jobs_cancelled = 0;  // superseded by a newer frame while they waited at a worker
};

class Cluster;
struct FrameResult;

struct FrameAccepted {
  std::uint64_t seq = 0;
  bool first = false;
};

class Hub {
 public:
  Hub(const Clock& clock, HubConfig config = {});

  // Many nodes (live/cluster.hpp): set once, before serving; the cluster outlives no hub call.
  void set_cluster(Cluster* cluster);
  // Processed pictures also go to `tap` (the video encoders), after their JPEG fan-out. Set
  // once, before serving; the tap outlives every hub call. Null: none.
  void set_picture_tap(PictureTap* tap) { tap_ = tap; }

  // Streams. open_stream makes stream the username's open stream here (the registry of open
  // streams: docs/architecture.md#threads); it fails (false) when the username already has one.
  // The form with a StreamOpen makes the object (a stream nobody bills: tests).
  bool open_stream(LiveStreamPtr stream);
  LiveStreamPtr open_stream(const StreamOpen& info);
  // Ends the stream: the streamer gets {"type":"ended"} and is closed with code 4002,
  // viewers get state "ended". Returns the final snapshot.
  std::optional<StreamSnapshot> close_stream(const std::string& username, EndReason reason,
                                             const std::string& message);
  // The stream moves to another node: its ingest here is told it was replaced, its viewers
  // stay and now follow the new home. Returns where the new home carries on from.
  std::optional<StreamResume> hand_over(const std::string& username);
  void set_style(const std::string& username, const StyleParams& style);
  // Extra fields merged into the streamer's status messages (balance, remaining minutes).
  void set_status_extra(const std::string& username, nlohmann::json extra);
  // Sends a text event to every viewer and the streamer of username.
  void broadcast_text(const std::string& username, Bytes text);

  // Ingest. attach makes peer the stream's ingest connection; an older one is sent "ended"
  // (replaced) and closed with 4001. False when no stream is open for username.
  bool attach_ingest(const std::string& username, std::shared_ptr<Peer> peer);
  // Returns the session whose ingest peer was (0 when it was not the stream's ingest: replaced,
  // or the stream ended).
  long long detach_ingest(const std::string& username, const Peer* peer);
  // A validated JPEG; nullopt when no stream is open.
  std::optional<FrameAccepted> push_frame(const std::string& username, Bytes jpeg);

  // Viewers: sent the current state, count and latest frame at once. The streamer's own
  // preview (audience=false) gets everything a viewer gets but is not counted. Never blocks:
  // for a stream homed elsewhere, announced is its state as announced_state() found it.
  void add_viewer(const std::string& username, std::shared_ptr<Peer> peer, bool audience = true,
                  std::optional<StreamState> announced = std::nullopt);
  // Many nodes: the state another node announces for username, when this node does not follow
  // it yet (one registry lookup: for a connect step, not an io thread).
  std::optional<StreamState> announced_state(const std::string& username);
  // Many nodes: the newest `styles` event heard on the channel of a stream homed elsewhere
  // (null when none was heard, or the stream is homed here); remember_styles keeps one asked
  // of the home, unless an event came first.
  Bytes remote_styles(const std::string& username);
  void remember_styles(const std::string& username, Bytes event);
  void remove_viewer(const std::string& username, const Peer* peer);

  // Workers. slots: jobs or batches it may hold (pipelining); max_batch: jobs per batch
  // (docs/protocol.md). On many nodes a worker gets one frame at a time.
  std::int64_t add_worker(std::shared_ptr<Peer> peer, std::string name, int slots = 1,
                          int max_batch = 1);
  void remove_worker(std::int64_t worker_id);
  // job_id as wire::parse_job_id reads it from the worker; an idle worker (whose job is 0)
  // has nothing to answer, so job 0 is always unknown.
  ResultOutcome on_result(std::int64_t worker_id, std::uint64_t job_id, Bytes jpeg,
                          const nlohmann::json& timings);
  // The worker could not process its job: it becomes free, the stream carries on. A job the
  // hub had cancelled just ends (not counted as failed).
  bool on_worker_error(std::int64_t worker_id, std::uint64_t job_id);
  // The worker dropped a job without starting it (after a cancel). False: it holds no such job.
  bool on_cancelled(std::int64_t worker_id, std::uint64_t job_id);

  // Deadlines, state changes, viewer counts and status messages. Call a few times a second.
  void tick();

  // Shutdown: lets go of every connection it holds (viewers, streamers, workers), so they are
  // destroyed before the server's io_context that they belong to.
  void release_peers();

  // The open streams homed on this node (null / empty when none): the one registry.
  LiveStreamPtr stream(const std::string& username);
  LiveStreamPtr stream_of_user(long long user_id);
  LiveStreamPtr stream_of_session(long long session_id);
  std::vector<LiveStreamPtr> streams();
  // The style the model gets for stream's frames, while it is open here.
  void set_style(LiveStream& stream, const StyleParams& style);

  // Streams homed on this node.
  std::optional<StreamSnapshot> snapshot(const std::string& username);
  std::vector<StreamSnapshot> snapshots();
  // Streams homed on any node (this one first); may ask the cluster, so not for io threads.
  std::optional<StreamSnapshot> find(const std::string& username);
  std::vector<StreamSnapshot> all_streams();
  // The node that is username's home when it is another one (nullopt: here, or nowhere).
  std::optional<std::string> home_of(const std::string& username);
  Bytes latest_output(const std::string& username);
  // Many nodes: the newest picture of a stream homed elsewhere that this node follows (null
  // when it follows none, or has no picture of it yet).
  Bytes followed_output(const std::string& username);
  int viewer_count(const std::string& username);
  struct WorkerCounts {
    int total = 0;
    int busy = 0;
  };
  WorkerCounts worker_counts();
  HubTotals totals();

 private:
  using PeerList = std::vector<std::shared_ptr<Peer>>;
  // The newest picture of a channel that reached its viewers. The hub judges "newest" under
  // its lock but fans out after it, so two results finished on two threads could otherwise
  // reach a viewer out of order: each fan-out takes this gate, drops a picture older than the
  // last one delivered, and sends under it. Taken only with the hub's lock released; under it,
  // only the viewers' own queue locks.
  struct Delivery {
    std::mutex m;
    long long session = 0;  // (session, seq) of `meta`/`jpeg`; sessions only grow
    std::uint64_t seq = 0;
    Bytes meta;
    Bytes jpeg;
  };
  struct Channel {
    // Copy-on-write: a join or leave puts a new list here, and whoever took the old one under
    // the lock (a frame's fan-out, a state event) goes on with it outside the lock. So a frame
    // costs one pointer copy, not one entry per viewer (docs/performance.md, fan-out). Never
    // null.
    std::shared_ptr<const PeerList> viewers = std::make_shared<const PeerList>();
    std::vector<const Peer*> previews;      // the streamer's own, among viewers but not counted
    LiveStreamPtr stream;                   // the open stream homed here, if any
    std::optional<StreamState> sent_state;  // last state broadcast to viewers
    int sent_viewers = -1;
    Bytes latest_output;
    Bytes latest_meta;
    std::shared_ptr<Delivery> delivered = std::make_shared<Delivery>();  // never null
    // Many nodes: this node hears the stream's channel; viewers on other nodes (as of the last
    // sum); the newest frame shown of a stream homed elsewhere, to drop older ones.
    bool following = false;
    int reported = 0;
    int remote_viewers = 0;
    long long remote_session = 0;
    std::uint64_t remote_seq = 0;
    Bytes remote_styles;  // the style queue of a stream homed elsewhere, as last heard
  };
  // One processed frame for all of a channel's viewers and its streamer's preview.
  struct Fanout {
    std::shared_ptr<const PeerList> peers;
    std::shared_ptr<Peer> ingest;
    std::shared_ptr<Delivery> gate;
    long long session = 0;
    std::uint64_t seq = 0;
    Bytes meta;
    Bytes jpeg;
    std::string username;  // for the picture tap
    std::int64_t captured_ms = 0;
    std::int64_t processed_ms = 0;
  };
  struct Notice {
    std::shared_ptr<Peer> peer;
    Bytes text;
  };
  struct Broadcast {
    std::shared_ptr<const PeerList> peers;
    Bytes text;
  };

  static int local_audience(const Channel& c) {
    return static_cast<int>(c.viewers->size() - c.previews.size());
  }
  // Viewers on every node.
  static int audience(const Channel& c) {
    return std::max(0, local_audience(c) + c.remote_viewers);
  }
  // What a step decided under the lock, sent after it.
  struct Outbox {
    std::vector<Broadcast> broadcasts;  // first: a state a result brought (before its picture)
    std::vector<Notice> notices;
    WorkerPool::Out pool;         // jobs, batches and cancels for workers; claims on the line
    std::vector<Fanout> fanouts;  // processed frames for every viewer: latest wins
    std::vector<std::pair<std::string, Bytes>> texts;  // for other nodes
    std::vector<FrameResult> results;                  // for other nodes
  };
  void flush(Outbox& out);
  static void send_to(const std::shared_ptr<const PeerList>& viewers, const Bytes& text);

  // One processed frame, from a worker of this node (local) or published by another node's
  // worker: the one result path. It is shown when newer than what the channel showed, moves
  // the home's figures and turns the stream live; a local result of a stream this node does
  // not hold is published for the nodes that follow it. Under the lock.
  ResultOutcome accept_result(const FrameResult& r, bool local, Outbox& out);
  // A processed frame for the viewers here (and the streamer when this is its home).
  void show(Channel& c, const FrameResult& r, const std::string& username, const Bytes& meta,
            Outbox& out);
  // Hands waiting frames to idle workers (WorkerPool::dispatch with this hub's mailboxes).
  void dispatch(std::int64_t now, Outbox& out);

  // Unchanged frames skipped: true when this frame (seq, thumbnail) is not worth a model run;
  // otherwise it becomes the frame later ones are compared with once it leaves the mailbox.
  bool skip_unchanged(StreamMedia& a, const domain::Thumbnail& thumbnail, std::uint64_t seq,
                      std::int64_t now);

  // Many nodes (hub_cluster.cpp).
  void on_claimed(std::int64_t worker_id, std::vector<FrameOffer> frames);
  // The stream's offer reached Redis: the newest frame that came meanwhile goes next.
  void on_offered(const std::string& username, long long session_id);
  void send_offer(FrameOffer offer);
  std::optional<FrameOffer> take_offer(StreamMedia& a);
  void on_frames_ready();
  void on_superseded(long long session_id, std::uint64_t seq);
  void on_remote_result(const FrameResult& r);
  void on_remote_text(const std::string& username, const Bytes& text);
  void on_viewer_total(const std::string& username, int total);
  void follow(const std::string& username, Channel& c);
  // Cluster housekeeping of tick(): announcements and viewer reports, about once a second.
  void cluster_tick(std::int64_t now);
  StreamState state_of(const StreamMedia& a, std::int64_t now) const;
  StreamSnapshot snapshot_of(const Channel& c, const StreamMedia& a, std::int64_t now) const;
  Channel* channel_of_session(long long session_id);
  // Takes c's open stream out of the registry and the pool's line.
  void unregister(Channel& c);
  void gc_channel(const std::string& username);

  // The steps of tick() (hub_tick.cpp), run under the lock; what they send is collected and
  // sent after it. Jobs past their deadline: the stalled workers are removed (the caller
  // closes them).
  void expire_jobs(std::int64_t now, std::vector<std::shared_ptr<Peer>>& stalled);
  // Viewers hear when a stream turns live or waiting.
  void stream_states(std::int64_t now, Outbox& out);
  // Each streamer gets a status message every status interval, with fresh rates.
  void status_messages(std::int64_t now, std::vector<Notice>& out);
  static void measure_rates(StreamMedia& a, std::int64_t now);
  // Counts go out at tick rate, not per join.
  void viewer_counts(std::vector<Notice>& out);

  const Clock& clock_;
  HubConfig config_;
  std::mutex mutex_;  // guards everything below, the pool included
  std::unordered_map<std::string, Channel> channels_;
  std::unordered_map<long long, std::string> session_names_;
  std::unordered_map<long long, LiveStreamPtr> user_streams_;  // by user id
  WorkerPool pool_;
  HubTotals totals_;  // the stream counters; the job counters are the pool's
  Cluster* cluster_ = nullptr;
  PictureTap* tap_ = nullptr;
  std::int64_t last_cluster_tick_ms_ = 0;
  // The shared pool on every node (many nodes), for the streamer's status; -1 until known.
  int pool_total_ = -1;
  int pool_busy_ = 0;
};

}  // namespace ds::live
