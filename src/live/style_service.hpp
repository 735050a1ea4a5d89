// Style requests of live streams: one domain::StyleQueue per open stream, fed by viewers'
// requests and the streamer's controls, advanced by the ticker when a slot ends, stored through
// store/style_requests and announced as {"type":"styles"} to viewers and the streamer. The
// playing prompt goes into every worker job (Hub::set_style). The queue is the stream's own
// (LiveStream::styles), found through the hub's registry; it plays from StreamService's Opened
// (on_stream_event), ends on Ended and is let go of, without ending a request, on Moving. Each
// stream's queue has its own lock, held only while the queue changes; what a change owes the
// database and the hub waits in the stream's outbox and is done after, in order (settle()).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "auth/rate_limiter.hpp"
#include "domain/style_queue.hpp"
#include "live/hub.hpp"
#include "live/stream_events.hpp"
#include "store/database.hpp"
#include "store/stream_settings.hpp"
#include "store/users.hpp"
#include "util/clock.hpp"
#include "util/expected.hpp"

namespace ds::live {

class Cluster;

inline constexpr std::size_t kMaxPromptChars = 200;

struct StyleServiceConfig {
  // Requests one user may make within window_ms (across all channels).
  int max_requests = 3;
  std::int64_t window_ms = 30'000;
  // Pending plus queued requests per stream.
  std::size_t max_waiting = 100;
};

class StyleService {
 public:
  StyleService(store::Database& db, Hub& hub, const Clock& clock, StyleServiceConfig config = {});

  // After a restart no stream is live: ends the requests a crash left open (one node only).
  void recover();
  // Many nodes: state() of a stream homed elsewhere is asked of its home.
  void set_cluster(Cluster* cluster) { cluster_ = cluster; }

  struct Submitted {
    domain::StyleRequest request;
    nlohmann::json state;
  };
  // Refused as forbidden styles_disabled, conflict stream_offline, invalid invalid_prompt,
  // conflict queue_full or rate_limited.
  Expected<Submitted> submit(const store::User& streamer, const store::User& author,
                             std::string_view prompt);

  // Streamer controls; each returns the new state. The caller checks the caller is the streamer.
  Expected<nlohmann::json> approve(const store::User& streamer,
                                   long long id);  // not_found, conflict not_pending
  Expected<nlohmann::json> reject(const store::User& streamer,
                                  long long id);  // not_found, conflict not_rejectable
  nlohmann::json skip(const store::User& streamer);
  nlohmann::json clear(const store::User& streamer);

  // StyleState: what plays, the queue, pending requests, policy, slot, base style, enabled.
  nlohmann::json state(const store::User& streamer);
  // {"type":"styles"} for a viewer joining a live stream, from memory; nullptr otherwise.
  Bytes live_event(const std::string& username);

  // Saved settings take effect at once: policy, slot length, base style, strength, enabled.
  void apply_settings(const store::User& streamer, const domain::StreamSettings& settings);

  // Ends slots that are over.
  void tick();
  // StreamService's events (StreamService::subscribe). Opened: the stream gets its queue, which
  // goes on with the requests its session left open in the database (it moved here from another
  // node); viewers are told when there were any. Ended: its requests end and viewers are told;
  // with no queue here (a dead node's stream this node ended) its open requests end in the
  // database. Moving: the queue is forgotten without ending a request: they stay open in the
  // database, and the new home goes on with them.
  void on_stream_event(const StreamEvent& event);

  // Counts style requests in counters, across nodes.
  void share_limits(SharedCounters& counters);

 private:
  // username's open stream (from the hub's registry), or nullptr when it is offline; its
  // queue plays once its styles part is open.
  LiveStreamPtr find(const std::string& username);
  void opened(const StreamOpened& o);
  void ended(const StreamEnded& e);
  void moving(const StreamMoving& m);
  // Under s.styles.mutex: ends the stream's requests and queues telling viewers; returns the
  // effect's number.
  std::uint64_t close_line(LiveStream& s, std::int64_t now);
  // Under s.styles.mutex: refreshes the state and the joiners' event, and queues storing the
  // changed requests, the hub's style and (announce) the broadcast. Returns the effect's number.
  std::uint64_t stage(LiveStream& s, const domain::StyleUpdate& update, bool announce);
  // Without s.styles.mutex: returns once the effects up to `upto` are done, doing them if no
  // other thread is (so when a call returns, what it changed is stored, as before the outbox).
  void settle(LiveStream& s, std::uint64_t upto);
  void apply(LiveStream& s, const StyleLine::Effect& fx);
  // Under line.mutex: saved settings into the playing queue.
  static domain::StyleUpdate reconfigure(StyleLine& line, const domain::StreamSettings& s,
                                         std::int64_t now);
  // Runs change(line, now) -> {StyleUpdate, announce} on username's open queue and settles
  // it; the new state, or nullopt when the stream is offline.
  template <class Change>
  std::optional<nlohmann::json> change_open(const std::string& username, Change change);
  nlohmann::json offline_state(long long user_id);
  // approve() or reject() of request id.
  Expected<nlohmann::json> decide(const store::User& streamer, long long id, bool approve);

  store::Database& db_;
  Hub& hub_;
  const Clock& clock_;
  StyleServiceConfig config_;
  auth::RateLimiter limiter_;
  Cluster* cluster_ = nullptr;
  // Nothing per stream: each open stream's queue is its LiveStream::styles, under its own lock;
  // no lock of this service is held across a database call or a call into the hub.
};

nlohmann::json style_request_json(const domain::StyleRequest& r);
nlohmann::json style_state_json(const domain::StyleQueue& queue, bool enabled);
Bytes styles_event(const nlohmann::json& state);

}  // namespace ds::live
