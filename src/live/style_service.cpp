#include "live/style_service.hpp"

#include <spdlog/spdlog.h>

#include <type_traits>
#include <variant>
#include <vector>

#include "domain/text.hpp"
#include "live/cluster.hpp"
#include "live/protocol.hpp"
#include "store/style_requests.hpp"

namespace ds::live {

namespace {

nlohmann::json ms_or_null(std::int64_t ms) {
  return ms > 0 ? nlohmann::json(ms) : nlohmann::json();
}

domain::StyleQueueConfig queue_config(const domain::StreamSettings& s, std::size_t max_waiting) {
  domain::StyleQueueConfig c;
  c.policy = s.style_policy;
  c.slot_ms = s.style_slot_seconds * 1000;
  c.base_style = s.base_style;
  c.max_waiting = max_waiting;
  return c;
}

}  // namespace

nlohmann::json style_request_json(const domain::StyleRequest& r) {
  return {{"id", r.id},
          {"session_id", r.session_id},
          {"prompt", r.prompt},
          {"author", {{"username", r.author.username}, {"display_name", r.author.display_name}}},
          {"status", domain::to_string(r.status)},
          {"created_ms", r.created_ms},
          {"started_ms", ms_or_null(r.started_ms)},
          {"ended_ms", ms_or_null(r.ended_ms)}};
}

nlohmann::json style_state_json(const domain::StyleQueue& queue, bool enabled) {
  auto cur = queue.current();
  nlohmann::json current = {
      {"prompt", cur.prompt},
      {"source", cur.request ? "request" : "base"},
      {"request", cur.request ? style_request_json(*cur.request) : nlohmann::json()},
      {"started_ms", ms_or_null(cur.started_ms)},
      {"ends_ms", ms_or_null(cur.ends_ms)}};
  auto queued = nlohmann::json::array();
  for (const auto& r : queue.queued()) queued.push_back(style_request_json(r));
  auto pending = nlohmann::json::array();
  for (const auto& r : queue.pending()) pending.push_back(style_request_json(r));
  const auto& c = queue.config();
  return {{"current", current},
          {"queue", queued},
          {"pending", pending},
          {"policy", domain::to_string(c.policy)},
          {"slot_seconds", c.slot_ms / 1000},
          {"base_style", c.base_style},
          {"enabled", enabled}};
}

Bytes styles_event(const nlohmann::json& state) { return wire::encode_styles(state); }

StyleService::StyleService(store::Database& db, Hub& hub, const Clock& clock,
                           StyleServiceConfig config)
    : db_(db),
      hub_(hub),
      clock_(clock),
      config_(config),
      limiter_(clock, config.max_requests, config.window_ms) {}

void StyleService::recover() {
  auto n = db_.write(
      [&](soci::session& sql) { return store::end_open_style_requests(sql, clock_.now_ms()); });
  if (n > 0) spdlog::warn("event=style_requests_recovered count={}", n);
}

nlohmann::json StyleService::offline_state(long long user_id) {
  auto s = db_.with([&](soci::session& sql) { return store::load_stream_settings(sql, user_id); });
  return style_state_json(domain::StyleQueue(queue_config(s, config_.max_waiting)),
                          s.styles_enabled);
}

StyleService::Entry* StyleService::find(const std::string& username) {
  auto it = live_.find(username);
  return it == live_.end() ? nullptr : &it->second;
}

void StyleService::on_stream_event(const StreamEvent& event) {
  std::visit(
      [this](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, StreamOpened>) {
          opened(e);
        } else if constexpr (std::is_same_v<T, StreamEnded>) {
          ended(e);
        } else {
          moving(e);
        }
      },
      event);
}

void StyleService::opened(const StreamOpened& o) {
  std::lock_guard lock(mutex_);
  auto now = clock_.now_ms();
  if (auto it = live_.find(o.username); it != live_.end()) {
    if (it->second.session_id == o.session_id) return;
    // An older session's queue whose end this service never heard of: it ends now.
    close_entry(it->second, now);
    live_.erase(it);
  }
  Entry e;
  e.session_id = o.session_id;
  e.user_id = o.user_id;
  e.username = o.username;
  e.settings =
      db_.with([&](soci::session& sql) { return store::load_stream_settings(sql, o.user_id); });
  e.queue = domain::StyleQueue(queue_config(e.settings, config_.max_waiting));
  // Requests left open in the database: the stream moved here from another node.
  auto open =
      db_.with([&](soci::session& sql) { return store::open_style_requests(sql, e.session_id); });
  std::size_t resumed = open.size();
  auto update = e.queue.resume(std::move(open), now);
  if (resumed > 0) {
    // A policy saved during the move, and a slot that ended meanwhile, apply now.
    for (const auto& more : {e.queue.set_policy(e.settings.style_policy, now), e.queue.tick(now)}) {
      update.changed.insert(update.changed.end(), more.changed.begin(), more.changed.end());
    }
    spdlog::info("event=style_queue_resumed stream={} session_id={} requests={}", o.username,
                 e.session_id, resumed);
  }
  auto& entry = live_.emplace(o.username, std::move(e)).first->second;
  // One event for a queue that moved here, so viewers on every node see it go on.
  after_change(entry, update, resumed > 0);
}

void StyleService::ended(const StreamEnded& e) {
  std::lock_guard lock(mutex_);
  auto now = clock_.now_ms();
  if (auto it = live_.find(e.username); it != live_.end()) {
    if (it->second.session_id != e.session_id) return;  // not the queue of that stream
    close_entry(it->second, now);
    live_.erase(it);
    return;
  }
  // Ended here without a queue here: a stream whose home died, ended by this node. Its
  // requests are still open in the database; nobody else will end them.
  auto n = db_.write([&](soci::session& sql) {
    return store::end_style_requests_of_ended_streams(sql, e.user_id, now);
  });
  if (n > 0) spdlog::info("event=style_requests_ended stream={} count={}", e.username, n);
}

void StyleService::moving(const StreamMoving& m) {
  std::lock_guard lock(mutex_);
  auto it = live_.find(m.username);
  if (it == live_.end() || it->second.session_id != m.session_id) return;
  // Nothing ends and viewers hear nothing: the new home reads the requests back on its Opened,
  // which comes after this returns (StreamService::release answers after its subscribers).
  {
    std::lock_guard events_lock(events_mutex_);
    events_.erase(m.username);
  }
  live_.erase(it);
}

void StyleService::close_entry(Entry& e, std::int64_t now) {
  auto update = e.queue.end_all(now);
  db_.write([&](soci::session& sql) {
    for (const auto& r : update.changed) store::update_style_request(sql, r);
  });
  {
    std::lock_guard lock(events_mutex_);
    events_.erase(e.username);
  }
  // Viewers stay on the channel after the stream: they now see the base style and no queue.
  e.state = style_state_json(e.queue, e.settings.styles_enabled);
  hub_.broadcast_text(e.username, styles_event(e.state));
}

void StyleService::after_change(Entry& e, const domain::StyleUpdate& update, bool announce) {
  if (!update.changed.empty()) {
    db_.write([&](soci::session& sql) {
      for (const auto& r : update.changed) store::update_style_request(sql, r);
    });
  }
  // The seed stays the session id, as the stream was opened with.
  hub_.set_style(e.username, {e.queue.current().prompt,
                              static_cast<double>(e.settings.strength) / 100.0, e.session_id});
  e.state = style_state_json(e.queue, e.settings.styles_enabled);
  auto event = styles_event(e.state);
  {
    std::lock_guard lock(events_mutex_);
    events_[e.username] = event;
  }
  if (announce) hub_.broadcast_text(e.username, event);
}

Expected<StyleService::Submitted> StyleService::submit(const store::User& streamer,
                                                       const store::User& author,
                                                       std::string_view prompt) {
  std::lock_guard lock(mutex_);
  auto now = clock_.now_ms();
  Entry* e = find(streamer.username);
  bool enabled = e ? e->settings.styles_enabled : db_.with([&](soci::session& sql) {
    return store::load_stream_settings(sql, streamer.id).styles_enabled;
  });
  if (!enabled) {
    return Error{ErrorKind::kForbidden, "styles_disabled",
                 "the streamer turned style requests off"};
  }
  if (!e) return conflict("the stream is offline", "stream_offline");
  auto clean = domain::clean_text(prompt, 1, kMaxPromptChars);
  if (!clean) {
    return bad_request("a style prompt is 1–200 characters of text without control characters",
                       "invalid_prompt");
  }
  if (e->queue.full()) return conflict("the style queue is full: try again later", "queue_full");
  // Checked last, so a refused request does not use up the author's allowance.
  if (!limiter_.allow(std::to_string(author.id))) {
    return rate_limited("too many style requests: wait a little");
  }
  domain::StyleRequest r;
  r.session_id = e->session_id;
  r.author = {author.id, author.username, author.display_name};
  r.prompt = *clean;
  r.created_ms = now;
  r.status = e->queue.config().policy == domain::StylePolicy::kAuto ? domain::StyleStatus::kQueued
                                                                    : domain::StyleStatus::kPending;
  r.id = db_.write(
      [&](soci::session& sql) { return store::insert_style_request(sql, streamer.id, r); });
  auto update = e->queue.submit(r, now);
  after_change(*e, update, true);
  for (const auto& c : update.changed) {
    if (c.id == r.id) r = c;
  }
  spdlog::info("event=style_requested stream={} request_id={} user_id={} status={}",
               streamer.username, r.id, author.id, domain::to_string(r.status));
  return Submitted{r, e->state};
}

Expected<nlohmann::json> StyleService::approve(const store::User& streamer, long long id) {
  std::lock_guard lock(mutex_);
  auto now = clock_.now_ms();
  if (Entry* e = find(streamer.username)) {
    auto update = e->queue.approve(id, now);
    if (update.ok()) {
      after_change(*e, update, true);
      return e->state;
    }
    if (update.error == domain::StyleQueueError::kNotPending) {
      return conflict("only a pending request can be approved", "not_pending");
    }
  }
  auto stored =
      db_.with([&](soci::session& sql) { return store::find_style_request(sql, streamer.id, id); });
  if (!stored) return not_found("no such style request");
  return conflict("only a pending request can be approved", "not_pending");
}

Expected<nlohmann::json> StyleService::reject(const store::User& streamer, long long id) {
  std::lock_guard lock(mutex_);
  auto now = clock_.now_ms();
  if (Entry* e = find(streamer.username)) {
    auto update = e->queue.reject(id, now);
    if (update.ok()) {
      after_change(*e, update, true);
      return e->state;
    }
    if (update.error == domain::StyleQueueError::kNotRejectable) {
      return conflict("only a pending or queued request can be rejected (skip the playing one)",
                      "not_rejectable");
    }
  }
  auto stored =
      db_.with([&](soci::session& sql) { return store::find_style_request(sql, streamer.id, id); });
  if (!stored) return not_found("no such style request");
  return conflict("only a pending or queued request can be rejected", "not_rejectable");
}

nlohmann::json StyleService::skip(const store::User& streamer) {
  std::lock_guard lock(mutex_);
  auto now = clock_.now_ms();
  Entry* e = find(streamer.username);
  if (!e) return offline_state(streamer.id);
  auto update = e->queue.skip(now);
  after_change(*e, update, !update.changed.empty());
  return e->state;
}

nlohmann::json StyleService::clear(const store::User& streamer) {
  std::lock_guard lock(mutex_);
  auto now = clock_.now_ms();
  Entry* e = find(streamer.username);
  if (!e) return offline_state(streamer.id);
  auto update = e->queue.clear(now);
  after_change(*e, update, !update.changed.empty());
  return e->state;
}

nlohmann::json StyleService::state(const store::User& streamer) {
  if (cluster_) {
    if (auto home = hub_.home_of(streamer.username)) {
      auto reply =
          cluster_->call(*home, make_call(CallOp::kStylesState, {{"username", streamer.username}}),
                         std::chrono::seconds(2));
      if (reply && reply->header.contains("state")) return reply->header["state"];
    }
  }
  std::lock_guard lock(mutex_);
  Entry* e = find(streamer.username);
  return e ? e->state : offline_state(streamer.id);
}

Bytes StyleService::live_event(const std::string& username) {
  std::lock_guard lock(events_mutex_);
  auto it = events_.find(username);
  return it == events_.end() ? nullptr : it->second;
}

void StyleService::apply_settings(const store::User& streamer, const domain::StreamSettings& s) {
  std::lock_guard lock(mutex_);
  auto now = clock_.now_ms();
  Entry* e = find(streamer.username);
  if (!e) {
    // Viewers waiting on an offline channel still see the base style and switches change.
    auto state = style_state_json(domain::StyleQueue(queue_config(s, config_.max_waiting)),
                                  s.styles_enabled);
    hub_.broadcast_text(streamer.username, styles_event(state));
    return;
  }
  e->settings = s;
  e->queue.set_base_style(s.base_style);
  e->queue.set_slot_ms(s.style_slot_seconds * 1000);
  auto update = e->queue.set_policy(s.style_policy, now);
  // A shorter slot may already be over.
  auto ended = e->queue.tick(now);
  update.changed.insert(update.changed.end(), ended.changed.begin(), ended.changed.end());
  after_change(*e, update, true);
}

void StyleService::tick() {
  std::lock_guard lock(mutex_);
  auto now = clock_.now_ms();
  for (auto& [name, e] : live_) {
    auto update = e.queue.tick(now);
    if (!update.changed.empty()) after_change(e, update, true);
  }
}

void StyleService::share_limits(SharedCounters& counters) { limiter_.share(&counters, "style"); }

}  // namespace ds::live
