// StreamService's metering: per-minute charges, progress writes, the grace periods, settling
// streams that ended (also those an outage left), and the tick that drives them.
#include <spdlog/spdlog.h>

#include <unordered_set>

#include "live/cluster.hpp"
#include "live/stream_rows.hpp"
#include "live/stream_service.hpp"
#include "store/ledger.hpp"
#include "store/viewer_samples.hpp"

namespace ds::live {

using detail::progress_row;

void StreamService::publish_balance(const std::string& username, const StreamMeter& m) {
  hub_.set_status_extra(
      username, {{"balance", domain::format_credits(m.balance_cents)},
                 {"balance_cents", m.balance_cents},
                 {"remaining_minutes", domain::remaining_minutes(m.balance_cents, config_.rate)}});
}

void StreamService::database_lost(const char* during, const std::exception& e) {
  std::lock_guard lock(mutex_);
  if (database_away_) return;
  database_away_ = true;
  spdlog::warn("event=billing_deferred during={} error=\"{}\"", during, e.what());
}

void StreamService::database_back() {
  std::lock_guard lock(mutex_);
  if (!database_away_) return;
  database_away_ = false;
  spdlog::info("event=billing_resumed unsettled={}", unsettled_.size());
}

StreamService::Charge StreamService::charge_due(long long session_id, long long user_id,
                                                StreamMeter& t, std::int64_t first_frame_ms,
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
        hold = store::hold_stream_session(sql, session_id, t.epoch);
        if (hold != store::Hold::kHeld) return;
        store::LedgerLinks links;
        links.stream_session_id = session_id;
        links.minute_index = minute;
        links.note = "streaming minute " + std::to_string(minute);
        balance =
            store::append_entry(sql, user_id, store::kKindStreamUsage,
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
    charge_due(e.session_id, e.user_id, e.meter, e.snap->first_frame_ms, e.snap->last_frame_ms);
  auto s = e.snap ? progress_row(e.session_id, e.meter.epoch, *e.snap)
                  : progress_row(e.session_id, e.meter.epoch, StreamResume{});
  s.user_id = e.user_id;
  auto usage = db_.with([&](soci::session& sql) { return store::usage_totals(sql, e.session_id); });
  // Both statements only touch a row still open and still ours, so a repeat after a lost reply
  // changes nothing, and a node that lost the stream to another ends nothing.
  db_.write([&](soci::session& sql) {
    store::update_stream_progress(sql, s);
    store::end_stream_session(sql, s.id, e.status, e.ended_ms, usage.minutes, usage.cost_cents,
                              e.meter.epoch);
  });
  if (auto saved =
          db_.with([&](soci::session& sql) { return store::find_stream_session(sql, s.id); })) {
    s = *saved;
  }
  spdlog::info("event=stream_ended user_id={} session_id={} status={} minutes={} cost_cents={}",
               e.user_id, s.id, e.status, usage.minutes, usage.cost_cents);
  return s;
}

bool StreamService::settle_endings(long long user_id) {
  // Taken out of the registry while they are settled (under this user's StreamLock), so the
  // database is never asked under mutex_; what stays unsettled goes back.
  std::vector<Ending> mine;
  {
    std::lock_guard lock(mutex_);
    auto rest = std::stable_partition(unsettled_.begin(), unsettled_.end(),
                                      [&](const Ending& e) { return e.user_id != user_id; });
    std::move(rest, unsettled_.end(), std::back_inserter(mine));
    unsettled_.erase(rest, unsettled_.end());
  }
  bool ok = true;
  std::vector<Ending> keep;
  for (auto& e : mine) {
    if (!ok) {
      keep.push_back(std::move(e));
      continue;
    }
    try {
      settle(e);
      database_back();
    } catch (const store::DatabaseUnavailable& ex) {
      database_lost("settle", ex);
      ok = false;
      keep.push_back(std::move(e));
    } catch (const std::exception& ex) {
      // Not an outage: kept (its row stays open for recovery) and retried on the next tick.
      spdlog::error("event=stream_settle_failed session_id={} error=\"{}\"", e.session_id,
                    ex.what());
      keep.push_back(std::move(e));
    }
  }
  if (!keep.empty()) {
    std::lock_guard lock(mutex_);
    for (auto& e : keep) unsettled_.push_back(std::move(e));
  }
  return ok;
}

bool StreamService::settle_all_endings() {
  std::vector<long long> users;
  {
    std::lock_guard lock(mutex_);
    std::unordered_set<long long> seen;
    for (const auto& e : unsettled_) {
      if (seen.insert(e.user_id).second) users.push_back(e.user_id);
    }
  }
  for (auto user_id : users) {
    StreamLock lock(*this, user_id);
    if (!settle_endings(user_id)) return false;
  }
  return true;
}

store::Hold StreamService::persist(const LiveStream& stream, StreamMeter& t,
                                   const StreamSnapshot& snap, std::int64_t now) {
  auto s = progress_row(stream.session_id, t.epoch, snap);
  bool sample = now - t.last_sample_ms >= config_.viewer_sample_interval_ms;
  long long viewers = snap.viewers;
  long long balance = t.balance_cents;
  auto hold = db_.write([&](soci::session& sql) {
    auto held = store::hold_stream_session(sql, s.id, s.home_epoch);
    if (held != store::Hold::kHeld) return held;
    store::update_stream_progress(sql, s);
    if (sample) store::insert_viewer_sample(sql, s.id, now, viewers);
    // Credits bought mid-stream raise what the stream may run on during an outage.
    if (auto b = store::find_balance_cents(sql, stream.user_id)) balance = *b;
    return held;
  });
  if (hold != store::Hold::kHeld) return hold;
  if (sample) t.last_sample_ms = now;
  t.balance_cents = balance;
  return hold;
}

void StreamService::tick() {
  auto now = clock_.now_ms();
  if (cluster_) {
    try {
      sweep_orphans(now);
    } catch (const std::exception& e) {
      spdlog::warn("event=orphan_sweep_failed error=\"{}\"", e.what());
    }
  }
  // Once the database fails in this tick, the other streams do not wait on it again.
  bool db_ok = settle_all_endings();
  std::vector<long long> users;
  for (const auto& s : hub_.streams()) {
    if (s->meter) users.push_back(s->user_id);
  }
  // One stream at a time, each under its own StreamLock only: a start, stop or connect of
  // another stream never waits for this one's database writes.
  for (auto user_id : users) {
    After after;
    try {
      StreamLock lock(*this, user_id);
      tick_stream(user_id, now, db_ok, after);
    } catch (const std::exception& e) {
      spdlog::error("event=stream_end_failed user_id={} error=\"{}\"", user_id, e.what());
    }
    done(after);
  }
}

void StreamService::tick_stream(long long user_id, std::int64_t now, bool& db_ok, After& after) {
  // Ended by another node (the orphan sweep of a node that thought this one dead).
  enum class Outcome { kGoesOn, kLost, kEndedElsewhere, kNoCredits, kInterrupted };
  auto outcome = Outcome::kGoesOn;
  auto stream = owned(user_id);
  if (!stream) return;  // ended or moved since the tick listed it
  auto& t = *stream->meter;
  auto snap = hub_.snapshot(stream->username);
  if (!snap) return;
  auto per_minute = config_.rate.cents_per_minute();
  try {
    [&] {
      if (snap->first_frame_ms > 0) {
        if (db_ok) {
          try {
            auto charged = t.charged_minutes;
            auto paid = charge_due(stream->session_id, user_id, t, snap->first_frame_ms,
                                   snap->last_frame_ms);
            if (paid == Charge::kMoved) return void(outcome = Outcome::kLost);
            if (paid == Charge::kEnded) return void(outcome = Outcome::kEndedElsewhere);
            if (paid == Charge::kNoCredits) return void(outcome = Outcome::kNoCredits);
            if (t.charged_minutes != charged) database_back();
            publish_balance(stream->username, t);
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
          return void(outcome = Outcome::kNoCredits);
        }
        if (now - snap->last_frame_ms > config_.grace_ms) {
          return void(outcome = Outcome::kInterrupted);
        }
      } else if (now - snap->opened_ms > config_.no_frame_timeout_ms) {
        return void(outcome = Outcome::kInterrupted);
      }
      if (db_ok && now - t.last_persist_ms >= config_.persist_interval_ms) {
        t.last_persist_ms = now;
        try {
          auto hold = persist(*stream, t, *snap, now);
          database_back();
          if (hold == store::Hold::kMoved) return void(outcome = Outcome::kLost);
          if (hold == store::Hold::kEnded) return void(outcome = Outcome::kEndedElsewhere);
          publish_balance(stream->username, t);
        } catch (const store::DatabaseUnavailable& e) {
          db_ok = false;
          database_lost("persist", e);
        }
      }
    }();
  } catch (const std::exception& e) {
    spdlog::error("event=billing_failed user_id={} session_id={} error=\"{}\"", user_id,
                  stream->session_id, e.what());
    return;
  }
  switch (outcome) {
    case Outcome::kGoesOn:
      return;
    case Outcome::kLost:
      // Taken over by another node: let go without ending.
      spdlog::warn("event=stream_taken_elsewhere user_id={} session_id={}", user_id,
                   stream->session_id);
      (void)let_go(user_id, false, after);
      return;
    case Outcome::kEndedElsewhere:
      // Nothing more is billed or written (the row is closed): it ends here for the viewers.
      (void)finish(user_id, kStatusInterrupted, EndReason::kInterrupted, "the stream was ended",
                   after);
      return;
    case Outcome::kNoCredits:
      (void)finish(user_id, kStatusNoCredits, EndReason::kNoCredits,
                   "no credits left: buy credits to stream again", after);
      return;
    case Outcome::kInterrupted:
      (void)finish(user_id, kStatusInterrupted, EndReason::kInterrupted,
                   "the stream stopped sending frames", after);
      return;
  }
}

}  // namespace ds::live
