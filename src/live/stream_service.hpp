// Stream lifecycle and metering: start/stop against the database, per-minute billing while
// frames arrive, the silent-streamer grace period, crash recovery and shutdown.
#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "domain/credits.hpp"
#include "live/hub.hpp"
#include "store/database.hpp"
#include "store/streams.hpp"
#include "store/users.hpp"
#include "util/clock.hpp"
#include "util/expected.hpp"

namespace ds::live {

struct StreamServiceConfig {
  domain::BillingRate rate;
  std::int64_t min_start_cents = 100;
  // A live stream with no frame for this long ends as interrupted (the reconnect grace of
  // docs/architecture.md, "Money").
  std::int64_t grace_ms = 30'000;
  // A started stream that never sends a frame ends after this long.
  std::int64_t no_frame_timeout_ms = 5 * 60'000;
  std::int64_t persist_interval_ms = 2'000;
  std::int64_t viewer_sample_interval_ms = 5'000;
};

inline constexpr const char* kStatusCompleted = "completed";
inline constexpr const char* kStatusNoCredits = "ended_no_credits";
inline constexpr const char* kStatusInterrupted = "interrupted";

class Cluster;

class StreamService {
 public:
  StreamService(store::Database& db, Hub& hub, const Clock& clock, StreamServiceConfig config = {});

  // Many nodes: set once, before recover() and serving.
  void set_cluster(Cluster* cluster) { cluster_ = cluster; }

  // Closes streams a crash left open, billed up to their last recorded frame. With many nodes
  // the open streams belong to other nodes: the orphan sweep of tick() ends them instead.
  void recover();

  // Many nodes: makes this node the home of user's open stream (its ingest connected here),
  // asking its current home to let go. kConflict not_started when no stream is open,
  // kUnavailable when the current home does not answer.
  Expected<store::StreamSession> take_home(const store::User& user);
  // The other side of take_home: the stream leaves this node, billed and saved up to now.
  // Returns where the new home carries on from; nullopt when it is not homed here.
  std::optional<nlohmann::json> release(long long session_id);

  // kPaymentRequired under the start minimum, kConflict when a stream is already open,
  // kUnavailable (database_unavailable) while the database is away.
  Expected<store::StreamSession> start(const store::User& user);
  // Starts a stream when the user has none open (stream-key ingest); returns the open one.
  Expected<store::StreamSession> ensure_started(const store::User& user);
  // kNotFound when no stream is open. With the database away the stream still ends; the reply is
  // what is known in memory and the billing is settled when the database is back.
  Expected<store::StreamSession> stop(long long user_id);
  // The same, when session_id is still the user's open stream here: a streamer's goodbye on an
  // ingest socket (close 1000) ends only the stream that socket carried. kNotFound otherwise.
  Expected<store::StreamSession> stop_session(long long user_id, long long session_id);

  // Persists progress, charges started minutes, enforces the grace period, and settles
  // streams that ended while the database was away. Never throws: with the database away
  // the minutes stay due and are charged, each once, by the first tick that reaches it.
  void tick();
  // Ends every open stream (graceful shutdown), billing what was streamed.
  void shutdown();

  // The user's stream history, newest first, older than before_id (0: from the newest).
  std::vector<store::StreamSession> sessions(long long user_id, long long before_id, int limit);
  // The viewer counts sampled during one of the user's own sessions, as (t_ms, viewers), oldest
  // first; kNotFound for an unknown session or someone else's.
  Expected<std::vector<std::pair<long long, long long>>> viewer_samples(long long user_id,
                                                                        long long session_id);

  // Streams that ended but are not yet billed and closed in the database.
  std::size_t unsettled() const;

  // Called with the username after a stream ended (any reason), under the lifecycle lock: the
  // listener must not call back into this service. Set once, before serving.
  void on_stream_ended(std::function<void(const std::string& username)> listener) {
    ended_listener_ = std::move(listener);
  }
  // Many nodes: called on the old home as the stream moves to another node (release), instead of
  // the ended listener, with the step that hands the stream over (true when the hub had it).
  // The listener runs it once while it keeps what it holds for the stream from changing, and
  // lets go without ending anything: the new home goes on with it. Under the lifecycle lock,
  // like the ended listener. Set once, before serving.
  using MovingListener =
      std::function<void(const std::string& username, const std::function<bool()>& hand_over)>;
  void on_stream_moving(MovingListener listener) { moving_listener_ = std::move(listener); }

 private:
  struct Tracked {
    long long session_id = 0;
    long long user_id = 0;
    std::string username;
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
  // A stream the hub has closed, waiting to be billed and closed in the database.
  struct Ending {
    Tracked t;
    std::string status;
    std::int64_t ended_ms = 0;
    std::optional<StreamSnapshot> snap;
  };

  Expected<store::StreamSession> start_locked(const store::User& user);
  // The user's stream when it is homed on this node.
  std::optional<store::StreamSession> tracked_session(long long user_id) const;
  // Charges every minute due up to last_frame_ms: kNoCredits when the balance ran out, kMoved
  // when another node has taken the stream, kEnded when it has ended (nothing charged then).
  enum class Charge { kPaid, kNoCredits, kMoved, kEnded };
  Charge charge_due(Tracked& t, std::int64_t first_frame_ms, std::int64_t last_frame_ms);
  // The stream leaves this node without ending (a move): the moving listener, the hub's
  // hand-over, saved up to now when save (it is still ours). Returns where the new home goes on
  // from. Under the lifecycle lock.
  std::optional<StreamResume> let_go(std::unordered_map<long long, Tracked>::iterator it,
                                     bool save);
  Expected<store::StreamSession> finish(long long user_id, const std::string& status,
                                        EndReason reason, const std::string& message);
  // Bills and closes an ended stream; safe to repeat after a DatabaseUnavailable.
  store::StreamSession settle(Ending& e);
  // Settles what earlier outages left; false while the database is still away.
  bool settle_endings();
  // Saves progress while the stream is still ours; says whether it is.
  store::Hold persist(Tracked& t, const StreamSnapshot& snap, std::int64_t now);
  void database_lost(const char* during, const std::exception& e);
  void database_back();
  void publish_balance(const Tracked& t);
  // Many nodes: ends the streams of dead nodes (orphans), once each across the cluster.
  void sweep_orphans(std::int64_t now);
  void end_orphan(const StreamSnapshot& announced, std::int64_t now);

  store::Database& db_;
  Hub& hub_;
  const Clock& clock_;
  StreamServiceConfig config_;
  // Serialises lifecycle and billing (start, stop, tick), so a minute is charged once and a
  // stream ends once; the database's unique indexes back this up across nodes.
  mutable std::mutex mutex_;
  std::unordered_map<long long, Tracked> tracked_;  // by user id
  std::vector<Ending> unsettled_;
  bool database_away_ = false;  // logged once per outage
  Cluster* cluster_ = nullptr;
  std::int64_t last_sweep_ms_ = 0;
  std::int64_t last_db_sweep_ms_ = 0;
  // Open sessions (by id) that no live node announces, since when.
  std::unordered_map<long long, std::int64_t> unannounced_;
  std::function<void(const std::string&)> ended_listener_;
  MovingListener moving_listener_;
};

}  // namespace ds::live
