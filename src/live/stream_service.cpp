#include "live/stream_service.hpp"

#include <spdlog/spdlog.h>

#include <unordered_set>

#include "live/cluster.hpp"
#include "live/protocol.hpp"
#include "store/ledger.hpp"
#include "store/stream_settings.hpp"
#include "store/viewer_samples.hpp"

namespace ds::live {

namespace {

Error database_unavailable() {
  return {ErrorKind::kUnavailable, "database_unavailable",
          "the database is unavailable; try again shortly"};
}

// A stream's progress as its row keeps it, from what the hub knows (a snapshot, or what a moving
// stream carries): the one place these fields are copied into a row.
template <class Progress>
store::StreamSession progress_row(long long session_id, long long epoch, const Progress& p) {
  store::StreamSession s;
  s.id = session_id;
  s.home_epoch = epoch;
  s.status = p.first_frame_ms > 0 ? "live" : "created";
  s.first_frame_ms = p.first_frame_ms;
  s.last_frame_ms = p.last_frame_ms;
  s.max_viewers = p.max_viewers;
  s.frames_in = static_cast<long long>(p.frames_in);
  s.frames_out = static_cast<long long>(p.frames_out);
  return s;
}

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

}  // namespace

StreamService::StreamService(store::Database& db, Hub& hub, const Clock& clock,
                             StreamServiceConfig config)
    : db_(db), hub_(hub), clock_(clock), config_(config) {}

void StreamService::recover() {
  if (cluster_) return;
  std::lock_guard lock(mutex_);
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

void StreamService::publish_balance(const Tracked& t) {
  hub_.set_status_extra(t.username, {{"balance", domain::format_credits(t.balance_cents)},
                                     {"balance_cents", t.balance_cents},
                                     {"remaining_minutes",
                                      domain::remaining_minutes(t.balance_cents, config_.rate)}});
}

void StreamService::database_lost(const char* during, const std::exception& e) {
  if (database_away_) return;
  database_away_ = true;
  spdlog::warn("event=billing_deferred during={} error=\"{}\"", during, e.what());
}

void StreamService::database_back() {
  if (!database_away_) return;
  database_away_ = false;
  spdlog::info("event=billing_resumed unsettled={}", unsettled_.size());
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
  std::lock_guard lock(mutex_);
  try {
    return start_locked(user);
  } catch (const store::DatabaseUnavailable& e) {
    spdlog::warn("event=stream_start_failed user_id={} error=\"{}\"", user.id, e.what());
    return database_unavailable();
  }
}

Expected<store::StreamSession> StreamService::start_locked(const store::User& user) {
  // A stream that ended during an outage is closed first: until then its row still counts as
  // this user's open stream.
  if (!settle_endings()) return database_unavailable();
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
      unsettled_.push_back(std::move(e));
    }
    return conflict("you already have an active stream", "stream_active");
  }
  publish_balance(t);
  tracked_[user.id] = t;
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
  std::lock_guard lock(mutex_);
  return finish(user_id, kStatusCompleted, EndReason::kStopped, "the streamer ended the stream");
}

Expected<store::StreamSession> StreamService::stop_session(long long user_id,
                                                           long long session_id) {
  std::lock_guard lock(mutex_);
  auto it = tracked_.find(user_id);
  if (it == tracked_.end() || it->second.session_id != session_id) {
    return not_found("no such active stream");
  }
  return finish(user_id, kStatusCompleted, EndReason::kStopped, "the streamer ended the stream");
}

StreamService::Charge StreamService::charge_due(Tracked& t, std::int64_t first_frame_ms,
                                                std::int64_t last_frame_ms) {
  auto due = domain::billable_minutes(first_frame_ms, last_frame_ms);
  while (t.charged_minutes < due) {
    long long minute = t.charged_minutes + 1;
    store::Hold hold = store::Hold::kHeld;
    std::optional<long long> balance;
    try {
      db_.write([&](soci::session& sql) {
        // In the charge's transaction: a node that took the stream over, or ended it, since
        // this one took it waits for this charge or makes it find the stream gone.
        hold = store::hold_stream_session(sql, t.session_id, t.epoch);
        if (hold != store::Hold::kHeld) return;
        store::LedgerLinks links;
        links.stream_session_id = t.session_id;
        links.minute_index = minute;
        links.note = "streaming minute " + std::to_string(minute);
        balance =
            store::append_entry(sql, t.user_id, store::kKindStreamUsage,
                                -config_.rate.cents_for_minute(minute), links, clock_.now_ms());
      });
    } catch (const store::DatabaseUnavailable&) {
      // Not charged (or committed without our hearing of it: then the retry finds the
      // minute's row and counts it). Either way the minute stays due.
      throw;
    } catch (const std::exception& e) {
      // Already charged (e.g. by a node that crashed after charging): count it, charge nothing.
      if (!store::is_unique_violation(e)) throw;
      t.charged_minutes = minute;
      continue;
    }
    if (hold == store::Hold::kMoved) return Charge::kMoved;
    if (hold == store::Hold::kEnded) return Charge::kEnded;
    if (!balance) return Charge::kNoCredits;
    t.charged_minutes = minute;
    t.balance_cents = *balance;
  }
  return Charge::kPaid;
}

store::StreamSession StreamService::settle(Ending& e) {
  // The last frames since the previous tick still count, when they can be paid for (after a
  // no-credits ending the unpaid minute fails again and nothing more is charged).
  if (e.snap && e.snap->first_frame_ms > 0)
    charge_due(e.t, e.snap->first_frame_ms, e.snap->last_frame_ms);
  auto s = e.snap ? progress_row(e.t.session_id, e.t.epoch, *e.snap)
                  : progress_row(e.t.session_id, e.t.epoch, StreamResume{});
  s.user_id = e.t.user_id;
  auto usage =
      db_.with([&](soci::session& sql) { return store::usage_totals(sql, e.t.session_id); });
  // Both statements only touch a row still open and still ours, so a repeat after a lost reply
  // changes nothing, and a node that lost the stream to another ends nothing.
  db_.write([&](soci::session& sql) {
    store::update_stream_progress(sql, s);
    store::end_stream_session(sql, s.id, e.status, e.ended_ms, usage.minutes, usage.cost_cents,
                              e.t.epoch);
  });
  if (auto saved =
          db_.with([&](soci::session& sql) { return store::find_stream_session(sql, s.id); })) {
    s = *saved;
  }
  spdlog::info("event=stream_ended user_id={} session_id={} status={} minutes={} cost_cents={}",
               e.t.user_id, s.id, e.status, usage.minutes, usage.cost_cents);
  return s;
}

bool StreamService::settle_endings() {
  for (std::size_t i = 0; i < unsettled_.size();) {
    try {
      settle(unsettled_[i]);
      database_back();
    } catch (const store::DatabaseUnavailable& e) {
      database_lost("settle", e);
      return false;
    } catch (const std::exception& e) {
      // Not an outage: kept (its row stays open for recovery) and retried on the next tick.
      spdlog::error("event=stream_settle_failed session_id={} error=\"{}\"",
                    unsettled_[i].t.session_id, e.what());
      ++i;
      continue;
    }
    unsettled_.erase(unsettled_.begin() + static_cast<std::ptrdiff_t>(i));
  }
  return true;
}

Expected<store::StreamSession> StreamService::finish(long long user_id, const std::string& status,
                                                     EndReason reason, const std::string& message) {
  auto it = tracked_.find(user_id);
  if (it == tracked_.end()) return not_found("no active stream");
  Ending e{it->second, status, clock_.now_ms(),
           hub_.close_stream(it->second.username, reason, message)};
  tracked_.erase(it);
  std::string username = e.t.username;
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
    unsettled_.push_back(std::move(e));
  }
  if (ended_listener_) {
    try {
      ended_listener_(username);
    } catch (const std::exception& ex) {
      spdlog::warn("event=stream_ended_listener_failed user_id={} error=\"{}\"", user_id,
                   ex.what());
    }
  }
  return s;
}

store::Hold StreamService::persist(Tracked& t, const StreamSnapshot& snap, std::int64_t now) {
  auto s = progress_row(t.session_id, t.epoch, snap);
  bool sample = now - t.last_sample_ms >= config_.viewer_sample_interval_ms;
  long long viewers = snap.viewers;
  long long balance = t.balance_cents;
  auto hold = db_.write([&](soci::session& sql) {
    auto held = store::hold_stream_session(sql, s.id, s.home_epoch);
    if (held != store::Hold::kHeld) return held;
    store::update_stream_progress(sql, s);
    if (sample) store::insert_viewer_sample(sql, s.id, now, viewers);
    // Credits bought mid-stream raise what the stream may run on during an outage.
    if (auto b = store::find_balance_cents(sql, t.user_id)) balance = *b;
    return held;
  });
  if (hold != store::Hold::kHeld) return hold;
  if (sample) t.last_sample_ms = now;
  t.balance_cents = balance;
  return hold;
}

void StreamService::tick() {
  std::lock_guard lock(mutex_);
  auto now = clock_.now_ms();
  if (cluster_) {
    try {
      sweep_orphans(now);
    } catch (const std::exception& e) {
      spdlog::warn("event=orphan_sweep_failed error=\"{}\"", e.what());
    }
  }
  auto per_minute = config_.rate.cents_per_minute();
  // Once the database fails in this tick, the other streams do not wait on it again.
  bool db_ok = settle_endings();
  std::vector<std::pair<long long, std::string>> to_end;  // user id, status
  std::vector<long long> lost;  // taken over by another node: let go without ending
  // Ended by another node (the orphan sweep of a node that thought this one dead).
  const std::string kEndedElsewhere = "ended_elsewhere";
  for (auto& [user_id, t] : tracked_) {
    auto snap = hub_.snapshot(t.username);
    if (!snap) continue;
    try {
      if (snap->first_frame_ms > 0) {
        if (db_ok) {
          try {
            auto charged = t.charged_minutes;
            auto paid = charge_due(t, snap->first_frame_ms, snap->last_frame_ms);
            if (paid == Charge::kMoved) {
              lost.push_back(user_id);
              continue;
            }
            if (paid == Charge::kEnded) {
              to_end.emplace_back(user_id, kEndedElsewhere);
              continue;
            }
            if (paid == Charge::kNoCredits) {
              to_end.emplace_back(user_id, kStatusNoCredits);
              continue;
            }
            if (t.charged_minutes != charged) database_back();
            publish_balance(t);
          } catch (const store::DatabaseUnavailable& e) {
            db_ok = false;
            database_lost("charge", e);
          }
        }
        // During an outage the stream runs on what its last known balance pays for; beyond
        // that it ends as it would have with the database there (billed on its return).
        auto unpaid =
            domain::billable_minutes(snap->first_frame_ms, snap->last_frame_ms) - t.charged_minutes;
        if (!db_ok && unpaid * per_minute > t.balance_cents) {
          to_end.emplace_back(user_id, kStatusNoCredits);
          continue;
        }
        if (now - snap->last_frame_ms > config_.grace_ms) {
          to_end.emplace_back(user_id, kStatusInterrupted);
          continue;
        }
      } else if (now - snap->opened_ms > config_.no_frame_timeout_ms) {
        to_end.emplace_back(user_id, kStatusInterrupted);
        continue;
      }
      if (db_ok && now - t.last_persist_ms >= config_.persist_interval_ms) {
        t.last_persist_ms = now;
        try {
          auto hold = persist(t, *snap, now);
          database_back();
          if (hold == store::Hold::kMoved) {
            lost.push_back(user_id);
            continue;
          }
          if (hold == store::Hold::kEnded) {
            to_end.emplace_back(user_id, kEndedElsewhere);
            continue;
          }
          publish_balance(t);
        } catch (const store::DatabaseUnavailable& e) {
          db_ok = false;
          database_lost("persist", e);
        }
      }
    } catch (const std::exception& e) {
      spdlog::error("event=billing_failed user_id={} session_id={} error=\"{}\"", user_id,
                    t.session_id, e.what());
    }
  }
  for (auto user_id : lost) {
    auto it = tracked_.find(user_id);
    if (it == tracked_.end()) continue;
    spdlog::warn("event=stream_taken_elsewhere user_id={} session_id={}", user_id,
                 it->second.session_id);
    (void)let_go(it, false);
  }
  for (const auto& [user_id, status] : to_end) {
    try {
      if (status == kEndedElsewhere) {
        // Nothing more is billed or written (the row is closed): it ends here for the viewers.
        (void)finish(user_id, kStatusInterrupted, EndReason::kInterrupted, "the stream was ended");
      } else if (status == kStatusNoCredits) {
        (void)finish(user_id, status, EndReason::kNoCredits,
                     "no credits left: buy credits to stream again");
      } else {
        (void)finish(user_id, status, EndReason::kInterrupted, "the stream stopped sending frames");
      }
    } catch (const std::exception& e) {
      spdlog::error("event=stream_end_failed user_id={} error=\"{}\"", user_id, e.what());
    }
  }
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
  // Asked without the lifecycle lock: two nodes may be asking each other at once.
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
  std::lock_guard lock(mutex_);
  try {
    // Fresh from the database: the old home saved its progress before it answered.
    auto row =
        db_.with([&](soci::session& sql) { return store::find_stream_session(sql, open->id); });
    if (!row || row->ended_ms != 0) return conflict("start the stream first", "not_started");
    // Taken exclusively: a home that did not answer (or that nobody knew of) finds at its next
    // charge or save that the stream is no longer its own, and lets go without billing it.
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
    if (!hub_.open_stream(o)) return conflict("you already have an active stream", "stream_active");
    Tracked t;
    t.session_id = row->id;
    t.user_id = user.id;
    t.username = user.username;
    t.charged_minutes = usage.minutes;
    t.epoch = *epoch;
    t.balance_cents = fresh ? fresh->balance_cents : 0;
    publish_balance(t);
    tracked_[user.id] = t;
    spdlog::info("event=stream_taken_home user_id={} session_id={} node={}", user.id, row->id,
                 cluster_->node_id());
    return *row;
  } catch (const store::DatabaseUnavailable&) {
    return database_unavailable();
  }
}

std::optional<StreamResume> StreamService::let_go(
    std::unordered_map<long long, Tracked>::iterator it, bool save) {
  auto& t = it->second;
  std::string username = t.username;
  std::optional<StreamResume> resume;
  bool handed = false;
  auto hand_over = [&] {
    if (!handed) resume = hub_.hand_over(username);
    handed = true;
    return resume.has_value();
  };
  if (moving_listener_) {
    try {
      moving_listener_(username, hand_over);
    } catch (const std::exception& e) {
      spdlog::warn("event=stream_moving_listener_failed session_id={} error=\"{}\"", t.session_id,
                   e.what());
    }
  }
  // The stream leaves whatever the listener did.
  hand_over();
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
  tracked_.erase(it);
  // Without a moving listener what hangs on the stream here ends with it, as on a stop.
  if (!moving_listener_ && ended_listener_) ended_listener_(username);
  return resume;
}

std::optional<nlohmann::json> StreamService::release(long long session_id) {
  std::lock_guard lock(mutex_);
  auto it = std::find_if(tracked_.begin(), tracked_.end(),
                         [&](const auto& kv) { return kv.second.session_id == session_id; });
  if (it == tracked_.end()) return std::nullopt;
  std::string username = it->second.username;
  auto resume = let_go(it, true);
  spdlog::info("event=stream_released session_id={} stream={}", session_id, username);
  if (!resume) return nlohmann::json{{"ok", false}};
  auto reply = resume_json(*resume);
  reply["ok"] = true;
  return reply;
}

void StreamService::end_orphan(const StreamSnapshot& announced, std::int64_t now) {
  auto row = db_.with(
      [&](soci::session& sql) { return store::find_stream_session(sql, announced.session_id); });
  if (!row || row->ended_ms != 0) return;
  // Taken from its home first: a home that was only out of touch (not dead) finds at its next
  // charge or save that the stream is gone, and bills nothing more.
  auto epoch = db_.write([&](soci::session& sql) {
    return store::claim_stream_home(sql, row->id, cluster_->node_id());
  });
  if (!epoch) return;
  Tracked t;
  t.session_id = row->id;
  t.user_id = row->user_id;
  t.epoch = *epoch;
  t.username = announced.username;
  t.charged_minutes =
      db_.with([&](soci::session& sql) { return store::usage_totals(sql, row->id); }).minutes;
  StreamSnapshot snap = announced;
  // Billed to the last frame either record knows of (announced each second, saved each two).
  snap.first_frame_ms =
      announced.first_frame_ms > 0 ? announced.first_frame_ms : row->first_frame_ms;
  snap.last_frame_ms = std::max<std::int64_t>(announced.last_frame_ms, row->last_frame_ms);
  snap.max_viewers = std::max<int>(announced.max_viewers, static_cast<int>(row->max_viewers));
  Ending e{t, kStatusInterrupted, snap.last_frame_ms > 0 ? snap.last_frame_ms : now, snap};
  try {
    settle(e);
  } catch (const store::DatabaseUnavailable&) {
    unsettled_.push_back(std::move(e));
  }
  spdlog::warn("event=orphan_ended stream={} session_id={}", announced.username, row->id);
  if (!t.username.empty()) {
    hub_.broadcast_text(t.username, wire::encode_state(StreamState::kEnded));
    hub_.broadcast_text(t.username,
                        wire::encode_ended(EndReason::kInterrupted, "the stream's server stopped"));
    if (ended_listener_) ended_listener_(t.username);
  }
  cluster_->withdraw(row->id);
}

void StreamService::sweep_orphans(std::int64_t now) {
  if (!cluster_ || !cluster_->healthy()) {
    // With Redis away nobody is announced: nothing can be judged missing.
    unannounced_.clear();
    return;
  }
  if (now - last_sweep_ms_ >= 1000) {
    last_sweep_ms_ = now;
    for (const auto& o : cluster_->orphans()) {
      try {
        end_orphan(o.snapshot, now);
      } catch (const std::exception& e) {
        spdlog::error("event=orphan_end_failed session_id={} error=\"{}\"", o.snapshot.session_id,
                      e.what());
      }
    }
  }
  // Open streams no node announces (a home that died with Redis away, or a node that died
  // ending an orphan): ended once they have been missing for the grace period.
  if (now - last_db_sweep_ms_ < 2000) return;
  last_db_sweep_ms_ = now;
  auto open = db_.with([](soci::session& sql) { return store::list_open_stream_sessions(sql); });
  // One question to Redis for all of them; the database only for the few nobody announces.
  auto streams = cluster_->streams();
  if (!streams) return;  // unknown is not missing
  std::unordered_set<long long> announced;
  for (const auto& a : *streams) announced.insert(a.snapshot.session_id);
  for (const auto& [user_id, t] : tracked_) announced.insert(t.session_id);
  std::unordered_map<long long, std::int64_t> still;
  for (const auto& s : open) {
    if (announced.contains(s.id)) continue;
    auto since = unannounced_.contains(s.id) ? unannounced_[s.id] : now;
    still[s.id] = since;
    if (now - since <= config_.grace_ms) continue;
    auto user = db_.with([&](soci::session& sql) { return store::find_user(sql, s.user_id); });
    if (!user) continue;
    if (!cluster_->lease("end:" + std::to_string(s.id), std::chrono::seconds(60))) continue;
    StreamSnapshot snap;
    snap.session_id = s.id;
    snap.user_id = s.user_id;
    snap.username = user->username;
    snap.first_frame_ms = s.first_frame_ms;
    snap.last_frame_ms = s.last_frame_ms;
    snap.max_viewers = static_cast<int>(s.max_viewers);
    snap.frames_in = static_cast<std::uint64_t>(s.frames_in);
    snap.frames_out = static_cast<std::uint64_t>(s.frames_out);
    end_orphan(snap, now);
    still.erase(s.id);
  }
  unannounced_ = std::move(still);
}

void StreamService::shutdown() {
  std::lock_guard lock(mutex_);
  std::vector<long long> users;
  for (const auto& [user_id, t] : tracked_) users.push_back(user_id);
  for (auto user_id : users) {
    try {
      (void)finish(user_id, kStatusInterrupted, EndReason::kServerShutdown,
                   "the server is shutting down");
    } catch (const std::exception& e) {
      spdlog::error("event=stream_end_failed user_id={} error=\"{}\"", user_id, e.what());
    }
  }
  if (!unsettled_.empty()) {
    // Their rows stay open; the next start's recovery bills them up to the last progress write.
    spdlog::warn("event=shutdown_unsettled streams={}", unsettled_.size());
  }
}

}  // namespace ds::live
