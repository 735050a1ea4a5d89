// StreamService: start, stop, moves between nodes, shutdown, history. Billing and settlement are
// in stream_billing.cpp, the many-nodes orphan sweep in stream_orphans.cpp.
#include "live/stream_service.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <stdexcept>

#include "live/cluster.hpp"
#include "live/protocol.hpp"
#include "live/stream_rows.hpp"
#include "store/ledger.hpp"
#include "store/stream_settings.hpp"
#include "store/viewer_samples.hpp"

namespace ds::live {

using detail::database_unavailable;
using detail::progress_row;

namespace {

// Where a stream moving here goes on from, as the old home's release answer carries it.
nlohmann::json resume_json(const StreamResume& r) {
  nlohmann::json j = {{"opened_ms", r.opened_ms},
                      {"first_frame_ms", r.first_frame_ms},
                      {"last_frame_ms", r.last_frame_ms},
                      {"frames_in", r.frames_in},
                      {"frames_out", r.frames_out},
                      {"max_viewers", r.max_viewers},
                      {"next_seq", r.next_seq}};
  if (r.media) {
    j["media_next_msn"] = r.media->next_msn;
    j["media_origin_ms"] = r.media->origin_ms;
  }
  return j;
}

StreamResume parse_resume(const nlohmann::json& h) {
  StreamResume r;
  r.opened_ms = h.value("opened_ms", std::int64_t{0});
  r.first_frame_ms = h.value("first_frame_ms", std::int64_t{0});
  r.last_frame_ms = h.value("last_frame_ms", std::int64_t{0});
  r.frames_in = h.value("frames_in", std::uint64_t{0});
  r.frames_out = h.value("frames_out", std::uint64_t{0});
  r.max_viewers = h.value("max_viewers", 0);
  r.next_seq = h.value("next_seq", std::uint64_t{1});
  // A negative number would make URIs no player or route takes: then none, as from an old node.
  if (auto msn = h.value("media_next_msn", std::int64_t{-1}); msn >= 0) {
    r.media = MediaContinuation{msn, h.value("media_origin_ms", std::int64_t{0})};
  }
  return r;
}

// The same from the row, when the old home did not answer.
StreamResume resume_from_row(const store::StreamSession& row, std::int64_t now_ms) {
  StreamResume r;
  r.opened_ms = row.created_ms;
  r.first_frame_ms = row.first_frame_ms;
  r.last_frame_ms = row.last_frame_ms;
  r.frames_in = static_cast<std::uint64_t>(row.frames_in);
  r.frames_out = static_cast<std::uint64_t>(row.frames_out);
  r.max_viewers = static_cast<int>(row.max_viewers);
  // Sequence numbers rise past anything the old home can have numbered.
  r.next_seq = r.frames_in + 1'000'000;
  // HLS numbers past any the old home can have used (its segments last 1 s or more, and it
  // rarely starts one again), on a timeline from the session's start: later than the old one,
  // never earlier.
  r.media =
      MediaContinuation{std::max<std::int64_t>(0, (now_ms - row.created_ms) / 250), row.created_ms};
  return r;
}

// StreamLocks this thread holds: the lock order says never more than one (checked always, as
// it costs one thread-local counter; a nested take is a programmer error).
thread_local int stream_locks_held_here = 0;

}  // namespace

StreamService::StreamService(store::Database& db, Hub& hub, const Clock& clock,
                             StreamServiceConfig config)
    : db_(db), hub_(hub), clock_(clock), config_(config) {}

StreamService::StreamLock::StreamLock(StreamService& service, long long user_id)
    : service_(service), user_id_(user_id) {
  if (stream_locks_held_here > 0) {
    throw std::logic_error("a stream lock taken while holding another (docs/architecture.md)");
  }
  {
    std::lock_guard lock(service_.mutex_);
    auto& m = service_.stream_locks_[user_id];
    if (!m) m = std::make_shared<std::mutex>();
    held_ = m;
  }
  held_->lock();
  ++stream_locks_held_here;
}

StreamService::StreamLock::~StreamLock() {
  held_->unlock();
  --stream_locks_held_here;
  std::lock_guard lock(service_.mutex_);
  auto it = service_.stream_locks_.find(user_id_);
  // Copies are made under mutex_, so the count is exact here: the map's and this one.
  if (it != service_.stream_locks_.end() && it->second.use_count() == 2) {
    service_.stream_locks_.erase(it);
  }
}

void StreamService::post(After& after, long long user_id, StreamEvent e) {
  after.user_id = user_id;
  after.ticket = events_.post(user_id, std::move(e));
}

void StreamService::done(const After& after) {
  if (after.ticket != 0) events_.deliver(after.user_id, after.ticket);
}

LiveStreamPtr StreamService::owned(long long user_id) const {
  auto s = hub_.stream_of_user(user_id);
  return s && s->meter ? s : nullptr;
}

void StreamService::recover() {
  // Before serving, on one thread: nothing else runs yet, and no stream is tracked.
  if (cluster_) return;
  auto open = db_.with([](soci::session& sql) { return store::list_open_stream_sessions(sql); });
  for (const auto& s : open) {
    StreamMeter m;
    m.epoch = s.home_epoch;
    auto usage = db_.with([&](soci::session& sql) { return store::usage_totals(sql, s.id); });
    m.charged_minutes = usage.minutes;
    if (s.first_frame_ms > 0) charge_due(s.id, s.user_id, m, s.first_frame_ms, s.last_frame_ms);
    usage = db_.with([&](soci::session& sql) { return store::usage_totals(sql, s.id); });
    long long ended = s.last_frame_ms > 0 ? s.last_frame_ms : s.created_ms;
    db_.write([&](soci::session& sql) {
      store::end_stream_session(sql, s.id, kStatusInterrupted, ended, usage.minutes,
                                usage.cost_cents, std::nullopt);
    });
    spdlog::warn("event=stream_recovered session_id={} minutes={} cost_cents={}", s.id,
                 usage.minutes, usage.cost_cents);
  }
}

std::vector<store::StreamSession> StreamService::sessions(long long user_id, long long before_id,
                                                          int limit) {
  return db_.with([&](soci::session& sql) {
    return store::list_stream_sessions(sql, user_id, before_id, limit);
  });
}

Expected<std::vector<std::pair<long long, long long>>> StreamService::viewer_samples(
    long long user_id, long long session_id) {
  auto samples = db_.with(
      [&](soci::session& sql) -> std::optional<std::vector<std::pair<long long, long long>>> {
        auto session = store::find_stream_session(sql, session_id);
        // Someone else's session is as unknown as a missing one.
        if (!session || session->user_id != user_id) return std::nullopt;
        return store::list_viewer_samples(sql, session_id);
      });
  if (!samples) return not_found("no such stream session");
  return std::move(*samples);
}

std::size_t StreamService::unsettled() const {
  std::lock_guard lock(mutex_);
  return unsettled_.size();
}

Expected<store::StreamSession> StreamService::start(const store::User& user) {
  After after;
  auto started = [&]() -> Expected<store::StreamSession> {
    StreamLock lock(*this, user.id);
    try {
      return start_locked(user, after);
    } catch (const store::DatabaseUnavailable& e) {
      spdlog::warn("event=stream_start_failed user_id={} error=\"{}\"", user.id, e.what());
      return database_unavailable();
    }
  }();
  done(after);
  return started;
}

Expected<store::StreamSession> StreamService::start_locked(const store::User& user, After& after) {
  // A stream that ended during an outage is closed first: until then its row still counts as
  // this user's open stream.
  if (!settle_endings(user.id)) return database_unavailable();
  auto fresh = db_.with([&](soci::session& sql) { return store::find_user(sql, user.id); });
  if (!fresh) return unauthorized("account not found");
  if (fresh->balance_cents < config_.min_start_cents) {
    return Error{ErrorKind::kPaymentRequired, "insufficient_credits",
                 "you need at least " + domain::format_credits(config_.min_start_cents) +
                     " credits to start a stream"};
  }
  auto settings =
      db_.with([&](soci::session& sql) { return store::load_stream_settings(sql, user.id); });
  auto now = clock_.now_ms();
  long long id = 0;
  try {
    id = db_.write([&](soci::session& sql) {
      return store::insert_stream_session(sql, user.id, now,
                                          cluster_ ? cluster_->node_id() : std::string());
    });
  } catch (const store::DatabaseUnavailable&) {
    throw;
  } catch (const std::exception& e) {
    if (store::is_unique_violation(e))
      return conflict("you already have an active stream", "stream_active");
    throw;
  }
  // From here on the row exists, so every outcome either opens it or ends it.
  auto stream = std::make_shared<LiveStream>(
      StreamOpen{id,
                 user.id,
                 user.username,
                 user.display_name,
                 {settings.base_style, static_cast<double>(settings.strength) / 100.0, id}});
  StreamMeter m;
  m.balance_cents = fresh->balance_cents;
  stream->meter = m;
  if (!hub_.open_stream(stream)) {
    Ending e{id, user.id, user.username, m, kStatusInterrupted, now, std::nullopt};
    try {
      settle(e);
    } catch (const store::DatabaseUnavailable&) {
      std::lock_guard lock(mutex_);
      unsettled_.push_back(std::move(e));
    }
    return conflict("you already have an active stream", "stream_active");
  }
  publish_balance(user.username, m);
  post(after, user.id, StreamOpened{user.username, user.id, id, false, stream});
  spdlog::info("event=stream_started user_id={} session_id={}", user.id, id);
  store::StreamSession s;
  s.id = id;
  s.user_id = user.id;
  s.status = "created";
  s.created_ms = now;
  return s;
}

std::optional<store::StreamSession> StreamService::tracked_session(long long user_id) const {
  auto stream = owned(user_id);
  if (!stream) return std::nullopt;
  store::StreamSession s;
  s.id = stream->session_id;
  s.user_id = user_id;
  s.status = "live";
  return s;
}

Expected<store::StreamSession> StreamService::ensure_started(const store::User& user) {
  if (auto here = tracked_session(user.id)) return *here;
  auto started = start(user);
  // Open on another node: it moves here, where its ingest is.
  if (!started && cluster_ && started.error().code == "stream_active") return take_home(user);
  return started;
}

Expected<store::StreamSession> StreamService::stop(long long user_id) {
  After after;
  auto stopped = [&] {
    StreamLock lock(*this, user_id);
    return finish(user_id, kStatusCompleted, EndReason::kStopped, "the streamer ended the stream",
                  after);
  }();
  done(after);
  return stopped;
}

Expected<store::StreamSession> StreamService::stop_session(long long user_id,
                                                           long long session_id) {
  After after;
  auto stopped = [&]() -> Expected<store::StreamSession> {
    StreamLock lock(*this, user_id);
    auto s = owned(user_id);
    if (!s || s->session_id != session_id) return not_found("no such active stream");
    return finish(user_id, kStatusCompleted, EndReason::kStopped, "the streamer ended the stream",
                  after);
  }();
  done(after);
  return stopped;
}

Expected<store::StreamSession> StreamService::finish(long long user_id, const std::string& status,
                                                     EndReason reason, const std::string& message,
                                                     After& after) {
  auto stream = owned(user_id);
  if (!stream) return not_found("no active stream");
  Ending e{stream->session_id,
           user_id,
           stream->username,
           *stream->meter,
           status,
           clock_.now_ms(),
           hub_.close_stream(stream->username, reason, message)};
  post(after, user_id, StreamEnded{stream->username, user_id, stream->session_id, reason, stream});
  store::StreamSession s;
  try {
    s = settle(e);
  } catch (const std::exception& ex) {
    // The stream has ended for everyone; its bill waits for the database (tick retries).
    if (dynamic_cast<const store::DatabaseUnavailable*>(&ex)) {
      database_lost("stream_end", ex);
    } else {
      spdlog::error("event=stream_end_failed user_id={} error=\"{}\"", user_id, ex.what());
    }
    spdlog::warn("event=stream_end_deferred user_id={} session_id={} status={}", user_id,
                 e.session_id, status);
    s = e.snap ? progress_row(e.session_id, e.meter.epoch, *e.snap)
               : progress_row(e.session_id, e.meter.epoch, StreamResume{});
    s.user_id = user_id;
    s.status = status;
    s.ended_ms = e.ended_ms;
    s.duration_minutes = e.meter.charged_minutes;
    s.cost_cents = e.meter.charged_minutes * config_.rate.cents_per_minute();
    std::lock_guard lock(mutex_);
    unsettled_.push_back(std::move(e));
  }
  return s;
}

Expected<store::StreamSession> StreamService::take_home(const store::User& user) {
  if (auto here = tracked_session(user.id)) return *here;
  if (!cluster_) return conflict("start the stream first", "not_started");
  std::optional<store::StreamSession> open;
  try {
    open =
        db_.with([&](soci::session& sql) { return store::find_open_stream_session(sql, user.id); });
  } catch (const store::DatabaseUnavailable&) {
    return database_unavailable();
  }
  if (!open) return conflict("start the stream first", "not_started");
  // Without Redis this node cannot know whether another one still holds the stream.
  if (!cluster_->healthy()) {
    return Error{ErrorKind::kUnavailable, "cluster_unavailable",
                 "the servers cannot reach each other; try again shortly"};
  }
  // Asked with no lock held: two nodes may be asking each other at once, and the old home
  // answers only after its subscribers let go of the stream.
  std::optional<StreamResume> resume;
  if (auto home = hub_.home_of(user.username)) {
    auto reply = cluster_->call(*home, make_call(CallOp::kRelease, {{"session_id", open->id}}),
                                std::chrono::seconds(3));
    if (!reply) {
      return Error{ErrorKind::kUnavailable, "home_unavailable",
                   "the stream's server did not answer; try again shortly"};
    }
    if (reply->header.value("ok", false)) resume = parse_resume(reply->header);
  }
  After after;
  auto taken = [&]() -> Expected<store::StreamSession> {
    StreamLock lock(*this, user.id);
    // Another connect of this user took it meanwhile.
    if (auto here = tracked_session(user.id)) return *here;
    try {
      // Fresh from the database: the old home saved its progress before it answered.
      auto row =
          db_.with([&](soci::session& sql) { return store::find_stream_session(sql, open->id); });
      if (!row || row->ended_ms != 0) return conflict("start the stream first", "not_started");
      // Taken exclusively: a home that did not answer (or that nobody knew of) finds at its
      // next charge or save that the stream is no longer its own, and lets go without billing.
      auto epoch = db_.write([&](soci::session& sql) {
        return store::claim_stream_home(sql, row->id, cluster_->node_id());
      });
      if (!epoch) return conflict("start the stream first", "not_started");
      auto fresh = db_.with([&](soci::session& sql) { return store::find_user(sql, user.id); });
      auto usage = db_.with([&](soci::session& sql) { return store::usage_totals(sql, row->id); });
      auto settings =
          db_.with([&](soci::session& sql) { return store::load_stream_settings(sql, user.id); });
      if (!resume) resume = resume_from_row(*row, clock_.now_ms());
      auto stream = std::make_shared<LiveStream>(
          StreamOpen{row->id,
                     user.id,
                     user.username,
                     user.display_name,
                     {settings.base_style, static_cast<double>(settings.strength) / 100.0, row->id},
                     resume});
      StreamMeter m;
      m.charged_minutes = usage.minutes;
      m.epoch = *epoch;
      m.balance_cents = fresh ? fresh->balance_cents : 0;
      stream->meter = m;
      if (!hub_.open_stream(stream)) {
        return conflict("you already have an active stream", "stream_active");
      }
      publish_balance(user.username, m);
      post(after, user.id, StreamOpened{user.username, user.id, row->id, true, stream});
      spdlog::info("event=stream_taken_home user_id={} session_id={} node={}", user.id, row->id,
                   cluster_->node_id());
      return *row;
    } catch (const store::DatabaseUnavailable&) {
      return database_unavailable();
    }
  }();
  done(after);
  return taken;
}

std::optional<StreamResume> StreamService::let_go(long long user_id, bool save, After& after) {
  auto stream = owned(user_id);
  if (!stream) return std::nullopt;
  auto& m = *stream->meter;
  auto resume = hub_.hand_over(stream->username);
  // Moving whether or not the hub still had it: either way the stream goes on on its new home
  // (from what this one answers, or from the row), so nothing that hangs on it ends here.
  post(after, user_id, StreamMoving{stream->username, user_id, stream->session_id, stream});
  if (resume && save) {
    // Billed and saved up to now, so the new home goes on from the database.
    try {
      if (resume->first_frame_ms > 0)
        charge_due(stream->session_id, user_id, m, resume->first_frame_ms, resume->last_frame_ms);
      auto s = progress_row(stream->session_id, m.epoch, *resume);
      db_.write([&](soci::session& sql) { store::update_stream_progress(sql, s); });
    } catch (const std::exception& e) {
      // The new home counts what is already charged from the ledger; the rest it charges.
      spdlog::warn("event=release_save_failed session_id={} error=\"{}\"", stream->session_id,
                   e.what());
    }
  }
  return resume;
}

std::optional<nlohmann::json> StreamService::release(long long session_id) {
  auto found = hub_.stream_of_session(session_id);
  if (!found || !found->meter) return std::nullopt;
  auto user_id = found->user_id;
  After after;
  std::string username;
  bool ours = false;
  std::optional<StreamResume> resume;
  {
    StreamLock lock(*this, user_id);
    // Still the same stream (it may have ended or moved before the lock was ours).
    if (auto s = owned(user_id); s && s->session_id == session_id) {
      ours = true;
      username = s->username;
      resume = let_go(user_id, true, after);
    }
  }
  // The subscribers let go before the new home hears the answer and opens the stream there.
  done(after);
  if (!ours) return std::nullopt;
  spdlog::info("event=stream_released session_id={} stream={}", session_id, username);
  if (!resume) return nlohmann::json{{"ok", false}};
  auto reply = resume_json(*resume);
  reply["ok"] = true;
  return reply;
}

void StreamService::shutdown() {
  std::vector<long long> users;
  for (const auto& s : hub_.streams()) {
    if (s->meter) users.push_back(s->user_id);
  }
  for (auto user_id : users) {
    After after;
    try {
      StreamLock lock(*this, user_id);
      (void)finish(user_id, kStatusInterrupted, EndReason::kServerShutdown,
                   "the server is shutting down", after);
    } catch (const std::exception& e) {
      spdlog::error("event=stream_end_failed user_id={} error=\"{}\"", user_id, e.what());
    }
    done(after);
  }
  if (unsettled() > 0) {
    // Their rows stay open; the next start's recovery bills them up to the last progress write.
    spdlog::warn("event=shutdown_unsettled streams={}", unsettled());
  }
}

}  // namespace ds::live
