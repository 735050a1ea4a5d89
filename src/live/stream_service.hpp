// Stream lifecycle and metering: start/stop against the database, per-minute billing while
// frames arrive, the silent-streamer grace period, crash recovery and shutdown.
#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

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
  // A live stream with no frame for this long ends as interrupted (R5.4 reconnect grace).
  std::int64_t grace_ms = 30'000;
  // A started stream that never sends a frame ends after this long.
  std::int64_t no_frame_timeout_ms = 5 * 60'000;
  std::int64_t persist_interval_ms = 2'000;
  std::int64_t viewer_sample_interval_ms = 5'000;
};

inline constexpr const char* kStatusCompleted = "completed";
inline constexpr const char* kStatusNoCredits = "ended_no_credits";
inline constexpr const char* kStatusInterrupted = "interrupted";

class StreamService {
 public:
  StreamService(store::Database& db, Hub& hub, const Clock& clock, StreamServiceConfig config = {});

  // Closes streams a crash left open, billed up to their last recorded frame.
  void recover();

  // 402 under the start minimum, 409 when a stream is already open.
  Expected<store::StreamSession> start(const store::User& user);
  // Starts a stream when the user has none open (stream-key ingest); returns the open one.
  Expected<store::StreamSession> ensure_started(const store::User& user);
  // 404 when no stream is open.
  Expected<store::StreamSession> stop(long long user_id);

  // Persists progress, charges started minutes, enforces the grace period.
  void tick();
  // Ends every open stream (graceful shutdown), billing what was streamed.
  void shutdown();

  const StreamServiceConfig& config() const { return config_; }

  // Called with the username after a stream ended (any reason), under the lifecycle lock: the
  // listener must not call back into this service. Set once, before serving.
  void on_stream_ended(std::function<void(const std::string& username)> listener) {
    ended_listener_ = std::move(listener);
  }

 private:
  struct Tracked {
    long long session_id = 0;
    long long user_id = 0;
    std::string username;
    long long charged_minutes = 0;
    long long balance_cents = 0;
    std::int64_t last_persist_ms = 0;
    std::int64_t last_sample_ms = 0;
  };

  // Charges every minute due up to last_frame_ms; false when the balance ran out.
  bool charge_due(Tracked& t, std::int64_t first_frame_ms, std::int64_t last_frame_ms);
  Expected<store::StreamSession> finish(long long user_id, const std::string& status,
                                        const std::string& reason, const std::string& message);
  void publish_balance(const Tracked& t);

  store::Database& db_;
  Hub& hub_;
  const Clock& clock_;
  StreamServiceConfig config_;
  // Serialises lifecycle and billing (start, stop, tick), so a minute is charged once and a
  // stream ends once; the database's unique indexes back this up across nodes.
  std::mutex mutex_;
  std::unordered_map<long long, Tracked> tracked_;  // by user id
  std::function<void(const std::string&)> ended_listener_;
};

}  // namespace ds::live
