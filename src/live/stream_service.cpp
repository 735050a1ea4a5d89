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
  return {{"opened_ms", r.opened_ms},
          {"first_frame_ms", r.first_frame_ms},
          {"last_frame_ms", r.last_frame_ms},
          {"frames_in", r.frames_in},
          {"frames_out", r.frames_out},
          {"max_viewers", r.max_viewers},
          {"next_seq", r.next_seq}};
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
  return r;
}

// The same from the row, when the old home did not answer.
StreamResume resume_from_row(const store::StreamSession& row) {
  StreamResume r;
  r.opened_ms = row.created_ms;
  r.first_frame_ms = row.first_frame_ms;
  r.last_frame_ms = row.last_frame_ms;
  r.frames_in = static_cast<std::uint64_t>(row.frames_in);
  r.frames_out = static_cast<std::uint64_t>(row.frames_out);
  r.max_viewers = static_cast<int>(row.max_viewers);
  // Sequence numbers rise past anything the old home can have numbered.
  r.next_seq = r.frames_in + 1'000'000;
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

StreamService::Tracked* StreamService::tracked(long long user_id) {
  std::lock_guard lock(mutex_);
  auto it = tracked_.find(user_id);
  return it == tracked_.end() ? nullptr : &it->second;
}

void StreamService::recover() {
  // Before serving, on one thread: nothing else runs yet, and no stream is tracked.
  if (cluster_) return;
  auto open = db_.with([](soci::session& sql) { return store::list_open_stream_sessions(sql); });
  for (const auto& s : open) {
    Tracked t;
    t.session_id = s.id;
    t.user_id = s.user_id;
    t.epoch = s.home_epoch;
    auto usage = db_.with([&](soci::session& sql) { return store::usage_totals(sql, s.id); });
    t.charged_minutes = usage.minutes;
    if (s.first_frame_ms > 0) charge_due(t, s.first_frame_ms, s.last_frame_ms);
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
  // From here on the row exists, so every outcome either tracks it or ends it.
  StreamOpen open{id,
                  user.id,
                  user.username,
                  user.display_name,
                  {settings.base_style, static_cast<double>(settings.strength) / 100.0, id}};
  Tracked t;
  t.session_id = id;
  t.user_id = user.id;
  t.username = user.username;
  t.balance_cents = fresh->balance_cents;
  if (!hub_.open_stream(open)) {
    Ending e{t, kStatusInterrupted, now, std::nullopt};
    try {
      settle(e);
    } catch (const store::DatabaseUnavailable&) {
      std::lock_guard lock(mutex_);
      unsettled_.push_back(std::move(e));
    }
    return conflict("you already have an active stream", "stream_active");
  }
  publish_balance(t);
  {
    std::lock_guard lock(mutex_);
    tracked_[user.id] = t;
  }
  post(after, user.id, StreamOpened{user.username, user.id, id, false});
  spdlog::info("event=stream_started user_id={} session_id={}", user.id, id);
  store::StreamSession s;
  s.id = id;
  s.user_id = user.id;
  s.status = "created";
  s.created_ms = now;
  return s;
}

std::optional<store::StreamSession> StreamService::tracked_session(long long user_id) const {
  std::lock_guard lock(mutex_);
  auto it = tracked_.find(user_id);
  if (it == tracked_.end()) return std::nullopt;
  store::StreamSession s;
  s.id = it->second.session_id;
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
    auto* t = tracked(user_id);
    if (!t || t->session_id != session_id) return not_found("no such active stream");
    return finish(user_id, kStatusCompleted, EndReason::kStopped, "the streamer ended the stream",
                  after);
  }();
  done(after);
  return stopped;
}

Expected<store::StreamSession> StreamService::finish(long long user_id, const std::string& status,
                                                     EndReason reason, const std::string& message,
                                                     After& after) {
  auto* tp = tracked(user_id);
  if (!tp) return not_found("no active stream");
  Ending e{*tp, status, clock_.now_ms(), hub_.close_stream(tp->username, reason, message)};
  {
    std::lock_guard lock(mutex_);
    tracked_.erase(user_id);
  }
  post(after, user_id, StreamEnded{e.t.username, user_id, e.t.session_id, reason});
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
                 e.t.session_id, status);
    s = e.snap ? progress_row(e.t.session_id, e.t.epoch, *e.snap)
               : progress_row(e.t.session_id, e.t.epoch, StreamResume{});
    s.user_id = user_id;
    s.status = status;
    s.ended_ms = e.ended_ms;
    s.duration_minutes = e.t.charged_minutes;
    s.cost_cents = e.t.charged_minutes * config_.rate.cents_per_minute();
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
      if (!resume) resume = resume_from_row(*row);
      StreamOpen o{row->id,
                   user.id,
                   user.username,
                   user.display_name,
                   {settings.base_style, static_cast<double>(settings.strength) / 100.0, row->id},
                   resume};
      if (!hub_.open_stream(o)) {
        return conflict("you already have an active stream", "stream_active");
      }
      Tracked t;
      t.session_id = row->id;
      t.user_id = user.id;
      t.username = user.username;
      t.charged_minutes = usage.minutes;
      t.epoch = *epoch;
      t.balance_cents = fresh ? fresh->balance_cents : 0;
      publish_balance(t);
      {
        std::lock_guard registry(mutex_);
        tracked_[user.id] = t;
      }
      post(after, user.id, StreamOpened{user.username, user.id, row->id, true});
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
  auto* tp = tracked(user_id);
  if (!tp) return std::nullopt;
  Tracked t = *tp;
  auto resume = hub_.hand_over(t.username);
  {
    std::lock_guard lock(mutex_);
    tracked_.erase(user_id);
  }
  // Moving whether or not the hub still had it: either way the stream goes on on its new home
  // (from what this one answers, or from the row), so nothing that hangs on it ends here.
  post(after, user_id, StreamMoving{t.username, user_id, t.session_id});
  if (resume && save) {
    // Billed and saved up to now, so the new home goes on from the database.
    try {
      if (resume->first_frame_ms > 0) charge_due(t, resume->first_frame_ms, resume->last_frame_ms);
      auto s = progress_row(t.session_id, t.epoch, *resume);
      db_.write([&](soci::session& sql) { store::update_stream_progress(sql, s); });
    } catch (const std::exception& e) {
      // The new home counts what is already charged from the ledger; the rest it charges.
      spdlog::warn("event=release_save_failed session_id={} error=\"{}\"", t.session_id, e.what());
    }
  }
  return resume;
}

std::optional<nlohmann::json> StreamService::release(long long session_id) {
  std::optional<long long> user_id;
  {
    std::lock_guard lock(mutex_);
    auto it = std::find_if(tracked_.begin(), tracked_.end(),
                           [&](const auto& kv) { return kv.second.session_id == session_id; });
    if (it != tracked_.end()) user_id = it->first;
  }
  if (!user_id) return std::nullopt;
  After after;
  std::string username;
  bool ours = false;
  std::optional<StreamResume> resume;
  {
    StreamLock lock(*this, *user_id);
    // Still the same stream (it may have ended or moved before the lock was ours).
    if (auto* t = tracked(*user_id); t && t->session_id == session_id) {
      ours = true;
      username = t->username;
      resume = let_go(*user_id, true, after);
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
  {
    std::lock_guard lock(mutex_);
    for (const auto& [user_id, t] : tracked_) users.push_back(user_id);
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
