#include "live/stream_service.hpp"

#include <spdlog/spdlog.h>

#include "store/ledger.hpp"
#include "store/stream_settings.hpp"

namespace ds::live {

StreamService::StreamService(store::Database& db, Hub& hub, const Clock& clock,
                             StreamServiceConfig config)
    : db_(db), hub_(hub), clock_(clock), config_(config) {}

void StreamService::recover() {
  std::lock_guard lock(mutex_);
  auto open = db_.with([](soci::session& sql) { return store::list_open_stream_sessions(sql); });
  for (const auto& s : open) {
    Tracked t;
    t.session_id = s.id;
    t.user_id = s.user_id;
    auto usage = db_.with([&](soci::session& sql) { return store::usage_totals(sql, s.id); });
    t.charged_minutes = usage.minutes;
    if (s.first_frame_ms > 0) charge_due(t, s.first_frame_ms, s.last_frame_ms);
    usage = db_.with([&](soci::session& sql) { return store::usage_totals(sql, s.id); });
    long long ended = s.last_frame_ms > 0 ? s.last_frame_ms : s.created_ms;
    db_.write([&](soci::session& sql) {
      store::end_stream_session(sql, s.id, kStatusInterrupted, ended, usage.minutes, usage.cost_cents);
    });
    spdlog::warn("event=stream_recovered session_id={} minutes={} cost_cents={}", s.id,
                 usage.minutes, usage.cost_cents);
  }
}

void StreamService::publish_balance(const Tracked& t) {
  hub_.set_status_extra(t.username,
                        {{"balance", domain::format_credits(t.balance_cents)},
                         {"balance_cents", t.balance_cents},
                         {"remaining_minutes", domain::remaining_minutes(t.balance_cents, config_.rate)}});
}

Expected<store::StreamSession> StreamService::start(const store::User& user) {
  std::lock_guard lock(mutex_);
  auto fresh = db_.with([&](soci::session& sql) { return store::find_user(sql, user.id); });
  if (!fresh) return unauthorized("account not found");
  if (fresh->balance_cents < config_.min_start_cents) {
    return Error{402, "insufficient_credits",
                 "you need at least " + domain::format_credits(config_.min_start_cents) +
                     " credits to start a stream"};
  }
  auto now = clock_.now_ms();
  long long id = 0;
  try {
    id = db_.write([&](soci::session& sql) { return store::insert_stream_session(sql, user.id, now); });
  } catch (const std::exception& e) {
    if (store::is_unique_violation(e)) return conflict("you already have an active stream", "stream_active");
    throw;
  }
  auto settings = db_.with([&](soci::session& sql) { return store::load_stream_settings(sql, user.id); });
  StreamOpen open{id, user.id, user.username, user.display_name,
                  {settings.base_style, static_cast<double>(settings.strength) / 100.0, id}};
  if (!hub_.open_stream(open)) {
    db_.write([&](soci::session& sql) { store::end_stream_session(sql, id, kStatusInterrupted, now, 0, 0); });
    return conflict("you already have an active stream", "stream_active");
  }
  Tracked t;
  t.session_id = id;
  t.user_id = user.id;
  t.username = user.username;
  t.balance_cents = fresh->balance_cents;
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

Expected<store::StreamSession> StreamService::ensure_started(const store::User& user) {
  {
    std::lock_guard lock(mutex_);
    auto it = tracked_.find(user.id);
    if (it != tracked_.end()) {
      store::StreamSession s;
      s.id = it->second.session_id;
      s.user_id = user.id;
      s.status = "live";
      return s;
    }
  }
  return start(user);
}

Expected<store::StreamSession> StreamService::stop(long long user_id) {
  std::lock_guard lock(mutex_);
  return finish(user_id, kStatusCompleted, "stopped", "the streamer ended the stream");
}

bool StreamService::charge_due(Tracked& t, std::int64_t first_frame_ms, std::int64_t last_frame_ms) {
  auto due = domain::billable_minutes(first_frame_ms, last_frame_ms);
  while (t.charged_minutes < due) {
    long long minute = t.charged_minutes + 1;
    std::optional<long long> balance;
    try {
      balance = db_.write([&](soci::session& sql) {
        store::LedgerLinks links;
        links.stream_session_id = t.session_id;
        links.minute_index = minute;
        links.note = "streaming minute " + std::to_string(minute);
        return store::append_entry(sql, t.user_id, store::kKindStreamUsage,
                                   -config_.rate.cents_for_minute(minute), links,
                                   clock_.now_ms());
      });
    } catch (const std::exception& e) {
      // Already charged (e.g. by a node that crashed after charging): count it, charge nothing.
      if (!store::is_unique_violation(e)) throw;
      t.charged_minutes = minute;
      continue;
    }
    if (!balance) return false;
    t.charged_minutes = minute;
    t.balance_cents = *balance;
  }
  return true;
}

Expected<store::StreamSession> StreamService::finish(long long user_id, const std::string& status,
                                                     const std::string& reason,
                                                     const std::string& message) {
  auto it = tracked_.find(user_id);
  if (it == tracked_.end()) return not_found("no active stream");
  Tracked t = it->second;
  tracked_.erase(it);
  auto snap = hub_.close_stream(t.username, reason, message);
  auto now = clock_.now_ms();
  store::StreamSession s;
  s.id = t.session_id;
  s.user_id = user_id;
  if (snap) {
    // The last frames since the previous tick still count, when they can be paid for.
    if (snap->first_frame_ms > 0 && status != kStatusNoCredits) charge_due(t, snap->first_frame_ms, snap->last_frame_ms);
    s.first_frame_ms = snap->first_frame_ms;
    s.last_frame_ms = snap->last_frame_ms;
    s.max_viewers = snap->max_viewers;
    s.frames_in = static_cast<long long>(snap->frames_in);
    s.frames_out = static_cast<long long>(snap->frames_out);
  }
  s.status = s.first_frame_ms > 0 ? "live" : "created";
  auto usage = db_.with([&](soci::session& sql) { return store::usage_totals(sql, t.session_id); });
  db_.write([&](soci::session& sql) {
    store::update_stream_progress(sql, s);
    store::end_stream_session(sql, s.id, status, now, usage.minutes, usage.cost_cents);
  });
  if (auto saved = db_.with([&](soci::session& sql) { return store::find_stream_session(sql, s.id); })) {
    s = *saved;
  }
  spdlog::info("event=stream_ended user_id={} session_id={} status={} minutes={} cost_cents={}",
               user_id, s.id, status, usage.minutes, usage.cost_cents);
  if (ended_listener_) ended_listener_(t.username);
  return s;
}

void StreamService::tick() {
  std::lock_guard lock(mutex_);
  auto now = clock_.now_ms();
  std::vector<std::pair<long long, std::string>> to_end;  // user id, status
  for (auto& [user_id, t] : tracked_) {
    auto snap = hub_.snapshot(t.username);
    if (!snap) continue;
    if (snap->first_frame_ms > 0) {
      if (!charge_due(t, snap->first_frame_ms, snap->last_frame_ms)) {
        to_end.emplace_back(user_id, kStatusNoCredits);
        continue;
      }
      publish_balance(t);
      if (now - snap->last_frame_ms > config_.grace_ms) {
        to_end.emplace_back(user_id, kStatusInterrupted);
        continue;
      }
    } else if (now - snap->opened_ms > config_.no_frame_timeout_ms) {
      to_end.emplace_back(user_id, kStatusInterrupted);
      continue;
    }
    if (now - t.last_persist_ms >= config_.persist_interval_ms) {
      t.last_persist_ms = now;
      store::StreamSession s;
      s.id = t.session_id;
      s.status = snap->first_frame_ms > 0 ? "live" : "created";
      s.first_frame_ms = snap->first_frame_ms;
      s.last_frame_ms = snap->last_frame_ms;
      s.max_viewers = snap->max_viewers;
      s.frames_in = static_cast<long long>(snap->frames_in);
      s.frames_out = static_cast<long long>(snap->frames_out);
      bool sample = now - t.last_sample_ms >= config_.viewer_sample_interval_ms;
      if (sample) t.last_sample_ms = now;
      long long viewers = snap->viewers;
      db_.write([&](soci::session& sql) {
        store::update_stream_progress(sql, s);
        if (sample) {
          sql << "INSERT INTO viewer_samples (stream_session_id, t_ms, viewers) VALUES (:s, :t, :v)",
              soci::use(s.id), soci::use(now), soci::use(viewers);
        }
      });
    }
  }
  for (const auto& [user_id, status] : to_end) {
    if (status == kStatusNoCredits) {
      (void)finish(user_id, status, "no_credits", "no credits left: buy credits to stream again");
    } else {
      (void)finish(user_id, status, "interrupted", "the stream stopped sending frames");
    }
  }
}

void StreamService::shutdown() {
  std::lock_guard lock(mutex_);
  std::vector<long long> users;
  for (const auto& [user_id, t] : tracked_) users.push_back(user_id);
  for (auto user_id : users) {
    (void)finish(user_id, kStatusInterrupted, "server_shutdown", "the server is shutting down");
  }
}

}  // namespace ds::live
