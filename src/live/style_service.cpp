#include "live/style_service.hpp"

#include <spdlog/spdlog.h>

#include <type_traits>
#include <utility>
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

LiveStreamPtr StyleService::find(const std::string& username) { return hub_.stream(username); }

domain::StyleUpdate StyleService::reconfigure(StyleLine& line, const domain::StreamSettings& s,
                                              std::int64_t now) {
  line.settings = s;
  line.queue.set_base_style(s.base_style);
  line.queue.set_slot_ms(s.style_slot_seconds * 1000);
  auto update = line.queue.set_policy(s.style_policy, now);
  // A shorter slot may already be over.
  auto ended = line.queue.tick(now);
  update.changed.insert(update.changed.end(), ended.changed.begin(), ended.changed.end());
  return update;
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

std::uint64_t StyleService::stage(LiveStream& s, const domain::StyleUpdate& update, bool announce) {
  auto& l = s.styles;
  StyleLine::Effect fx;
  fx.changed = update.changed;
  // The seed stays the session id, as the stream was opened with.
  fx.style = StyleParams{l.queue.current().prompt, static_cast<double>(l.settings.strength) / 100.0,
                         s.session_id};
  l.state = style_state_json(l.queue, l.settings.styles_enabled);
  l.event = styles_event(l.state);
  if (announce) fx.broadcast = l.event;
  l.outbox.push_back(std::move(fx));
  return ++l.staged;
}

std::uint64_t StyleService::close_line(LiveStream& s, std::int64_t now) {
  auto& l = s.styles;
  l.phase = StyleLine::Phase::kClosed;
  StyleLine::Effect fx;
  fx.changed = l.queue.end_all(now).changed;
  l.event = nullptr;
  // Viewers stay on the channel after the stream: they now see the base style and no queue.
  l.state = style_state_json(l.queue, l.settings.styles_enabled);
  fx.broadcast = styles_event(l.state);
  l.outbox.push_back(std::move(fx));
  return ++l.staged;
}

void StyleService::apply(LiveStream& s, const StyleLine::Effect& fx) {
  if (!fx.changed.empty()) {
    try {
      db_.write([&](soci::session& sql) {
        for (const auto& r : fx.changed) store::update_style_request(sql, r);
      });
    } catch (const std::exception& ex) {
      // The queue in memory has moved on, and the model and the viewers follow it: the rows
      // catch up with the next change of these requests, or at the stream's end (recover()
      // after a crash).
      spdlog::error("event=style_store_failed stream={} error=\"{}\"", s.username, ex.what());
    }
  }
  if (fx.style) hub_.set_style(s, *fx.style);
  if (fx.broadcast) hub_.broadcast_text(s.username, fx.broadcast);
}

void StyleService::settle(LiveStream& s, std::uint64_t upto) {
  auto& l = s.styles;
  std::unique_lock lock(l.mutex);
  while (l.done < upto) {
    if (l.draining) {
      l.settled.wait(lock);
      continue;
    }
    l.draining = true;
    while (!l.outbox.empty()) {
      auto fx = std::move(l.outbox.front());
      l.outbox.pop_front();
      lock.unlock();
      try {
        apply(s, fx);
      } catch (const std::exception& ex) {
        spdlog::error("event=style_apply_failed stream={} error=\"{}\"", s.username, ex.what());
      }
      lock.lock();
      ++l.done;
      l.settled.notify_all();
    }
    l.draining = false;
  }
}

void StyleService::opened(const StreamOpened& o) {
  if (!o.stream) return;
  auto& s = *o.stream;
  auto now = clock_.now_ms();
  auto settings =
      db_.with([&](soci::session& sql) { return store::load_stream_settings(sql, o.user_id); });
  domain::StyleQueue queue(queue_config(settings, config_.max_waiting));
  // Requests left open in the database: the stream moved here from another node.
  auto open =
      db_.with([&](soci::session& sql) { return store::open_style_requests(sql, s.session_id); });
  std::size_t resumed = open.size();
  auto update = queue.resume(std::move(open), now);
  if (resumed > 0) {
    // A policy saved during the move, and a slot that ended meanwhile, apply now.
    for (const auto& more : {queue.set_policy(settings.style_policy, now), queue.tick(now)}) {
      update.changed.insert(update.changed.end(), more.changed.begin(), more.changed.end());
    }
    spdlog::info("event=style_queue_resumed stream={} session_id={} requests={}", o.username,
                 s.session_id, resumed);
  }
  std::uint64_t n = 0;
  {
    std::lock_guard lock(s.styles.mutex);
    if (s.styles.phase != StyleLine::Phase::kNew) return;
    s.styles.settings = settings;
    s.styles.queue = std::move(queue);
    s.styles.phase = StyleLine::Phase::kOpen;
    // One event for a queue that moved here, so viewers on every node see it go on, or whose
    // settings changed since they were read.
    bool announce = resumed > 0;
    if (auto newer = std::exchange(s.styles.newer_settings, std::nullopt)) {
      auto more = reconfigure(s.styles, *newer, now);
      update.changed.insert(update.changed.end(), more.changed.begin(), more.changed.end());
      announce = true;
    }
    n = stage(s, update, announce);
  }
  settle(s, n);
}

void StyleService::ended(const StreamEnded& ev) {
  auto now = clock_.now_ms();
  if (ev.stream) {
    auto& s = *ev.stream;
    std::uint64_t n = 0;
    {
      std::lock_guard lock(s.styles.mutex);
      if (s.styles.open()) n = close_line(s, now);
      s.styles.phase = StyleLine::Phase::kClosed;
    }
    settle(s, n);
    // A change whose write failed while the stream was live (style_store_failed), or a request
    // stored while the stream ended (its submit then finds the queue closed), left its row
    // behind the queue; the session's end sets every row of it that is still open.
    try {
      auto behind = db_.write([&](soci::session& sql) {
        return store::end_open_style_requests_of_session(sql, ev.session_id, now);
      });
      if (behind > 0)
        spdlog::warn("event=style_requests_caught_up stream={} count={}", ev.username, behind);
    } catch (const std::exception& ex) {
      // Still open: ended by recover() at the next start.
      spdlog::error("event=style_store_failed stream={} error=\"{}\"", ev.username, ex.what());
    }
    return;
  }
  // Ended here without being open here: a stream whose home died, ended by this node. Its
  // requests are still open in the database; nobody else will end them.
  auto n = db_.write([&](soci::session& sql) {
    return store::end_style_requests_of_ended_streams(sql, ev.user_id, now);
  });
  if (n > 0) spdlog::info("event=style_requests_ended stream={} count={}", ev.username, n);
}

void StyleService::moving(const StreamMoving& m) {
  if (!m.stream) return;
  auto& s = *m.stream;
  // Nothing ends and viewers hear nothing: the new home reads the requests back on its Opened,
  // which comes after this returns (StreamService::release answers after its subscribers), so
  // every change made here is stored first.
  std::uint64_t n = 0;
  {
    std::lock_guard lock(s.styles.mutex);
    s.styles.phase = StyleLine::Phase::kClosed;
    s.styles.event = nullptr;
    n = s.styles.staged;
  }
  settle(s, n);
}

Expected<StyleService::Submitted> StyleService::submit(const store::User& streamer,
                                                       const store::User& author,
                                                       std::string_view prompt) {
  auto now = clock_.now_ms();
  LiveStreamPtr s = find(streamer.username);
  std::optional<bool> enabled;
  long long session_id = 0;
  bool full = false;
  domain::StyleStatus status = domain::StyleStatus::kPending;
  if (s) {
    auto& l = s->styles;
    std::lock_guard lock(l.mutex);
    if (l.open()) {
      enabled = l.settings.styles_enabled;
      session_id = s->session_id;
      full = l.queue.full();
      if (l.queue.config().policy == domain::StylePolicy::kAuto)
        status = domain::StyleStatus::kQueued;
    }
  }
  if (!enabled) {
    enabled = db_.with([&](soci::session& sql) {
      return store::load_stream_settings(sql, streamer.id).styles_enabled;
    });
  }
  if (!*enabled) {
    return Error{ErrorKind::kForbidden, "styles_disabled",
                 "the streamer turned style requests off"};
  }
  if (session_id == 0) return conflict("the stream is offline", "stream_offline");
  auto clean = domain::clean_text(prompt, 1, kMaxPromptChars);
  if (!clean) {
    return bad_request("a style prompt is 1–200 characters of text without control characters",
                       "invalid_prompt");
  }
  if (full) return conflict("the style queue is full: try again later", "queue_full");
  // Checked last, so a refused request does not use up the author's allowance.
  if (!limiter_.allow(std::to_string(author.id))) {
    return rate_limited("too many style requests: wait a little");
  }
  domain::StyleRequest r;
  r.session_id = session_id;
  r.author = {author.id, author.username, author.display_name};
  r.prompt = *clean;
  r.created_ms = now;
  r.status = status;
  r.id = db_.write(
      [&](soci::session& sql) { return store::insert_style_request(sql, streamer.id, r); });
  std::uint64_t n = 0;
  std::optional<Error> refused;
  nlohmann::json state;
  {
    auto& l = s->styles;
    std::lock_guard lock(l.mutex);
    auto update = l.open() ? l.queue.submit(r, clock_.now_ms())
                           : domain::StyleUpdate{domain::StyleQueueError::kQueueFull, {}};
    if (update.ok()) {
      n = stage(*s, update, true);
      for (const auto& c : update.changed) {
        if (c.id == r.id) r = c;
      }
      state = l.state;
    } else {
      // The stream ended, or the queue filled, while the request was stored: it ends unplayed.
      refused = l.open() ? conflict("the style queue is full: try again later", "queue_full")
                         : conflict("the stream is offline", "stream_offline");
    }
  }
  if (refused) {
    r.status = domain::StyleStatus::kCleared;
    r.ended_ms = clock_.now_ms();
    db_.write([&](soci::session& sql) { store::update_style_request(sql, r); });
    return *refused;
  }
  settle(*s, n);
  spdlog::info("event=style_requested stream={} request_id={} user_id={} status={}",
               streamer.username, r.id, author.id, domain::to_string(r.status));
  return Submitted{r, std::move(state)};
}

Expected<nlohmann::json> StyleService::approve(const store::User& streamer, long long id) {
  return decide(streamer, id, true);
}

Expected<nlohmann::json> StyleService::reject(const store::User& streamer, long long id) {
  return decide(streamer, id, false);
}

Expected<nlohmann::json> StyleService::decide(const store::User& streamer, long long id,
                                              bool approve) {
  auto refused = [approve](bool in_queue) {
    if (approve) return conflict("only a pending request can be approved", "not_pending");
    return conflict(in_queue ? "only a pending or queued request can be rejected (skip the "
                               "playing one)"
                             : "only a pending or queued request can be rejected",
                    "not_rejectable");
  };
  if (LiveStreamPtr s = find(streamer.username)) {
    std::uint64_t n = 0;
    nlohmann::json state;
    std::optional<domain::StyleQueueError> error;
    {
      auto& l = s->styles;
      std::lock_guard lock(l.mutex);
      if (l.open()) {
        auto now = clock_.now_ms();
        auto update = approve ? l.queue.approve(id, now) : l.queue.reject(id, now);
        error = update.error;
        if (update.ok()) {
          n = stage(*s, update, true);
          state = l.state;
        }
      }
    }
    if (n > 0) {
      settle(*s, n);
      return state;
    }
    if (error == (approve ? domain::StyleQueueError::kNotPending
                          : domain::StyleQueueError::kNotRejectable)) {
      return refused(true);
    }
  }
  auto stored =
      db_.with([&](soci::session& sql) { return store::find_style_request(sql, streamer.id, id); });
  if (!stored) return not_found("no such style request");
  return refused(false);
}

template <class Change>
std::optional<nlohmann::json> StyleService::change_open(const std::string& username,
                                                        Change change) {
  LiveStreamPtr s = find(username);
  if (!s) return std::nullopt;
  std::uint64_t n = 0;
  nlohmann::json state;
  {
    std::lock_guard lock(s->styles.mutex);
    if (!s->styles.open()) return std::nullopt;
    auto [update, announce] = change(s->styles, clock_.now_ms());
    n = stage(*s, update, announce);
    state = s->styles.state;
  }
  settle(*s, n);
  return state;
}

nlohmann::json StyleService::skip(const store::User& streamer) {
  auto state = change_open(streamer.username, [](StyleLine& e, std::int64_t now) {
    auto update = e.queue.skip(now);
    return std::pair{update, !update.changed.empty()};
  });
  return state ? std::move(*state) : offline_state(streamer.id);
}

nlohmann::json StyleService::clear(const store::User& streamer) {
  auto state = change_open(streamer.username, [](StyleLine& e, std::int64_t now) {
    auto update = e.queue.clear(now);
    return std::pair{update, !update.changed.empty()};
  });
  return state ? std::move(*state) : offline_state(streamer.id);
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
  if (LiveStreamPtr s = find(streamer.username)) {
    std::lock_guard lock(s->styles.mutex);
    if (s->styles.open()) return s->styles.state;
  }
  return offline_state(streamer.id);
}

Bytes StyleService::live_event(const std::string& username) {
  LiveStreamPtr s = find(username);
  if (!s) return nullptr;
  std::lock_guard lock(s->styles.mutex);
  return s->styles.event;
}

void StyleService::apply_settings(const store::User& streamer, const domain::StreamSettings& s) {
  auto applied = change_open(streamer.username, [&](StyleLine& e, std::int64_t now) {
    return std::pair{reconfigure(e, s, now), true};
  });
  if (!applied) {
    if (LiveStreamPtr st = find(streamer.username)) {
      std::lock_guard lock(st->styles.mutex);
      if (st->styles.phase == StyleLine::Phase::kNew) {
        // Open, but its Opened not handled yet: the queue it opens may have read the settings
        // saved before these. It opens with these, and tells the viewers then.
        st->styles.newer_settings = s;
        return;
      }
    }
    // Viewers waiting on an offline channel still see the base style and switches change.
    auto state = style_state_json(domain::StyleQueue(queue_config(s, config_.max_waiting)),
                                  s.styles_enabled);
    hub_.broadcast_text(streamer.username, styles_event(state));
  }
}

void StyleService::tick() {
  for (auto& s : hub_.streams()) {
    std::uint64_t n = 0;
    {
      std::lock_guard lock(s->styles.mutex);
      if (!s->styles.open()) continue;
      auto update = s->styles.queue.tick(clock_.now_ms());
      if (update.changed.empty()) continue;
      n = stage(*s, update, true);
    }
    settle(*s, n);
  }
}

void StyleService::share_limits(SharedCounters& counters) { limiter_.share(&counters, "style"); }

}  // namespace ds::live
