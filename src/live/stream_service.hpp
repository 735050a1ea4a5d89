// Stream lifecycle and metering: start/stop against the database, per-minute billing while
// frames arrive, the silent-streamer grace period, crash recovery and shutdown. The one place
// that decides a stream opens, ends or moves; it tells subscribers with live::StreamEvents.
//
// Locks (docs/architecture.md#threads): each user's stream has its own lifecycle lock
// (StreamLock), held across that stream's database writes and hub calls so a minute is charged
// once and a stream ends once, and never taken while another one is held; it guards the
// stream's meter (LiveStream::meter). mutex_ guards the endings not yet settled and the stream
// locks, and is a leaf: no I/O, no call out. No
// lock of this service is held across Redis, a call to another node or a subscriber.
// Files: stream_service.cpp (start, stop, moves), stream_billing.cpp (charges, progress,
// settlement, tick), stream_orphans.cpp (many nodes: streams of dead nodes).
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "domain/credits.hpp"
#include "live/hub.hpp"
#include "live/stream_events.hpp"
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

  // Subscribes to the stream events (Opened, Ended, Moving). Set before serving. A subscriber
  // runs with no lock of this service held, on the thread that made the change, before the call
  // that made it returns (unless another thread is delivering that stream's events already).
  void subscribe(StreamEvents::Subscriber s) { events_.subscribe(std::move(s)); }

 private:
  // A stream the hub has closed (or that never opened), waiting to be billed and closed in the
  // database.
  struct Ending {
    long long session_id = 0;
    long long user_id = 0;
    std::string username;
    StreamMeter meter;
    std::string status;
    std::int64_t ended_ms = 0;
    std::optional<StreamSnapshot> snap;
  };

  // One user's stream lifecycle lock (see the top of the file). Never taken while holding
  // another StreamLock or mutex_; the registry entry is dropped when nobody holds or wants it.
  class StreamLock {
   public:
    StreamLock(StreamService& service, long long user_id);
    ~StreamLock();
    StreamLock(const StreamLock&) = delete;
    StreamLock& operator=(const StreamLock&) = delete;

   private:
    StreamService& service_;
    long long user_id_;
    std::shared_ptr<std::mutex> held_;
  };
  // What a change decided under a StreamLock leaves to do after it: its events.
  struct After {
    long long user_id = 0;
    std::uint64_t ticket = 0;  // 0: nothing posted
  };
  void post(After& after, long long user_id, StreamEvent e);
  void done(const After& after);

  Expected<store::StreamSession> start_locked(const store::User& user, After& after);
  // The user's stream when it is homed on this node.
  std::optional<store::StreamSession> tracked_session(long long user_id) const;
  // The user's open stream here that this service bills (one with a meter), or null. Its meter
  // is read and changed only under the user's StreamLock.
  LiveStreamPtr owned(long long user_id) const;
  // Charges every minute due up to last_frame_ms: kNoCredits when the balance ran out, kMoved
  // when another node has taken the stream, kEnded when it has ended (nothing charged then).
  enum class Charge { kPaid, kNoCredits, kMoved, kEnded };
  Charge charge_due(long long session_id, long long user_id, StreamMeter& m,
                    std::int64_t first_frame_ms, std::int64_t last_frame_ms);
  // The stream leaves this node without ending (a move): the hub hands it over, Moving is
  // posted, and it is billed and saved up to now when save (it is still ours). Returns where the
  // new home goes on from. Under its StreamLock.
  std::optional<StreamResume> let_go(long long user_id, bool save, After& after);
  // Ends user_id's stream (under its StreamLock): the hub closes it, it is billed and closed in
  // the database (or kept in unsettled_ while the database is away), Ended is posted.
  Expected<store::StreamSession> finish(long long user_id, const std::string& status,
                                        EndReason reason, const std::string& message, After& after);
  // tick() for one stream, under its StreamLock.
  void tick_stream(long long user_id, std::int64_t now, bool& db_ok, After& after);
  // Bills and closes an ended stream; safe to repeat after a DatabaseUnavailable.
  store::StreamSession settle(Ending& e);
  // Settles what earlier outages left of user_id's streams (under its StreamLock); false while
  // the database is still away.
  bool settle_endings(long long user_id);
  // The same for every user, each under its own StreamLock.
  bool settle_all_endings();
  // Saves progress while the stream is still ours; says whether it is.
  store::Hold persist(const LiveStream& stream, StreamMeter& m, const StreamSnapshot& snap,
                      std::int64_t now);
  void database_lost(const char* during, const std::exception& e);
  void database_back();
  void publish_balance(const std::string& username, const StreamMeter& m);
  // Many nodes: ends the streams of dead nodes (orphans), once each across the cluster.
  // Runs on the thread of tick() (one at a time, as serve's biller calls it), which alone
  // touches last_sweep_ms_, last_db_sweep_ms_ and unannounced_; asks Redis with no lock held.
  void sweep_orphans(std::int64_t now);
  void end_orphan(const StreamSnapshot& announced, std::int64_t now);

  store::Database& db_;
  Hub& hub_;
  const Clock& clock_;
  StreamServiceConfig config_;
  // What follows; a leaf (see the top of the file). The open streams themselves are the hub's
  // registry (live/live_stream.hpp): this service keeps no list of its own.
  mutable std::mutex mutex_;
  std::vector<Ending> unsettled_;
  std::unordered_map<long long, std::shared_ptr<std::mutex>> stream_locks_;  // by user id
  bool database_away_ = false;  // logged once per outage; under mutex_
  Cluster* cluster_ = nullptr;
  std::int64_t last_sweep_ms_ = 0;
  std::int64_t last_db_sweep_ms_ = 0;
  // Open sessions (by id) that no live node announces, since when.
  std::unordered_map<long long, std::int64_t> unannounced_;
  StreamEvents events_;
};

}  // namespace ds::live
