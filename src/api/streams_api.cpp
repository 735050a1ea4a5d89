// Streams: start/stop, settings, history, public info, the live list, HTTP frame ingest and
// the latest processed picture.
#include "api/app.hpp"
#include "domain/text.hpp"
#include "domain/username.hpp"
#include "store/stream_settings.hpp"
#include "store/streams.hpp"
#include "store/viewer_samples.hpp"

namespace ds::api {

namespace {

constexpr std::size_t kMaxBaseStyle = 200;

nlohmann::json session_json(const store::StreamSession& s) {
  auto opt = [](long long v) { return v > 0 ? nlohmann::json(v) : nlohmann::json(); };
  return {{"id", s.id},
          {"status", s.status},
          {"created_ms", s.created_ms},
          {"first_frame_ms", opt(s.first_frame_ms)},
          {"ended_ms", opt(s.ended_ms)},
          {"duration_minutes", s.duration_minutes},
          {"cost_cents", s.cost_cents},
          {"cost", domain::format_credits(s.cost_cents)},
          {"max_viewers", s.max_viewers},
          {"comment_count", s.comment_count},
          {"style_request_count", s.style_request_count},
          {"frames_in", s.frames_in},
          {"frames_out", s.frames_out}};
}

nlohmann::json settings_json(const store::StreamSettings& s) {
  return {{"comments_enabled", s.comments_enabled},
          {"styles_enabled", s.styles_enabled},
          {"style_policy", s.style_policy},
          {"style_slot_seconds", s.style_slot_seconds},
          {"base_style", s.base_style},
          {"strength", static_cast<double>(s.strength) / 100.0}};
}

Response handle_start(App& app, Request& req) {
  auto p = require_user(app, req);
  if (!p) return error_response(p.error());
  auto s = app.streams->start(p->user);
  if (!s) return error_response(s.error());
  return json_response(201, {{"stream", session_json(*s)}, {"url", "/u/" + p->user.username}});
}

Response handle_stop(App& app, Request& req) {
  auto p = require_user(app, req);
  if (!p) return error_response(p.error());
  auto s = app.streams->stop(p->user.id);
  if (!s) return error_response(s.error());
  return json_response(200, {{"stream", session_json(*s)}});
}

Response handle_sessions(App& app, Request& req) {
  auto p = require_user(app, req);
  if (!p) return error_response(p.error());
  long long before = 0;
  int limit = 20;
  try {
    if (auto b = req.query_param("before")) before = std::stoll(*b);
    if (auto l = req.query_param("limit")) limit = std::stoi(*l);
  } catch (const std::exception&) {
    return error_response(400, "invalid_query", "before and limit must be numbers");
  }
  if (limit < 1 || limit > 100 || before < 0) return error_response(400, "invalid_query", "limit must be 1–100");
  auto rows = app.db.with([&](soci::session& sql) {
    return store::list_stream_sessions(sql, p->user.id, before, limit + 1);
  });
  bool more = static_cast<int>(rows.size()) > limit;
  if (more) rows.pop_back();
  auto list = nlohmann::json::array();
  for (const auto& s : rows) list.push_back(session_json(s));
  return json_response(200, {{"sessions", list},
                             {"next_before", more ? nlohmann::json(rows.back().id) : nlohmann::json()}});
}

Response handle_get_settings(App& app, Request& req) {
  auto p = require_user(app, req);
  if (!p) return error_response(p.error());
  auto s = app.db.with([&](soci::session& sql) { return store::load_stream_settings(sql, p->user.id); });
  return json_response(200, {{"settings", settings_json(s)}});
}

Response handle_patch_settings(App& app, Request& req) {
  auto p = require_user(app, req);
  if (!p) return error_response(p.error());
  auto body = parse_json_object(req);
  if (!body) return error_response(body.error());
  auto s = app.db.with([&](soci::session& sql) { return store::load_stream_settings(sql, p->user.id); });
  for (const char* flag : {"comments_enabled", "styles_enabled"}) {
    if (!body->contains(flag)) continue;
    auto v = bool_field(*body, flag);
    if (!v) return error_response(v.error());
    (std::string(flag) == "comments_enabled" ? s.comments_enabled : s.styles_enabled) = *v;
  }
  if (body->contains("style_policy")) {
    auto v = string_field(*body, "style_policy");
    if (!v) return error_response(v.error());
    if (*v != "auto" && *v != "approve") {
      return error_response(400, "invalid_policy", "style_policy must be auto or approve");
    }
    s.style_policy = *v;
  }
  if (body->contains("style_slot_seconds")) {
    auto v = integer_field(*body, "style_slot_seconds");
    if (!v) return error_response(v.error());
    if (*v < 5 || *v > 600) return error_response(400, "invalid_slot", "style_slot_seconds must be 5–600");
    s.style_slot_seconds = *v;
  }
  if (body->contains("base_style")) {
    auto v = string_field(*body, "base_style");
    if (!v) return error_response(v.error());
    auto clean = domain::clean_text(*v, 0, kMaxBaseStyle);
    if (!clean) return error_response(400, "invalid_style", "base_style must be up to 200 characters of text");
    s.base_style = *clean;
  }
  if (body->contains("strength")) {
    auto it = body->find("strength");
    if (!it->is_number()) return error_response(400, "invalid_type", "strength must be a number");
    double v = it->get<double>();
    if (!(v >= 0.0 && v <= 1.0)) return error_response(400, "invalid_strength", "strength must be 0–1");
    s.strength = std::lround(v * 100);
  }
  app.db.write([&](soci::session& sql) { store::save_stream_settings(sql, p->user.id, s); });
  auto settings = settings_json(s);
  app.hub->broadcast_text(p->user.username, make_settings_event(settings));
  // The style queue decides what plays (a request, else the new base style) and tells viewers.
  if (app.styles) {
    app.styles->apply_settings(p->user, s);
  } else {
    app.hub->set_style(p->user.username,
                       {s.base_style, static_cast<double>(s.strength) / 100.0, 0});
  }
  return json_response(200, {{"settings", settings}});
}

Response handle_viewer_samples(App& app, Request& req) {
  auto p = require_user(app, req);
  if (!p) return error_response(p.error());
  auto id = parse_positive_id(req.params["id"]);
  auto session =
      id ? app.db.with([&](soci::session& sql) { return store::find_stream_session(sql, *id); })
         : std::nullopt;
  // Someone else's session is as unknown as a missing one.
  if (!session || session->user_id != p->user.id)
    return error_response(404, "not_found", "no such stream session");
  auto samples =
      app.db.with([&](soci::session& sql) { return store::list_viewer_samples(sql, session->id); });
  auto list = nlohmann::json::array();
  for (const auto& [t, viewers] : samples) list.push_back({t, viewers});
  return json_response(200, {{"session_id", session->id}, {"samples", list}});
}

Response handle_live(App& app, Request&) {
  auto list = nlohmann::json::array();
  for (const auto& s : app.hub->snapshots()) {
    if (s.first_frame_ms == 0) continue;
    list.push_back({{"username", s.username},
                    {"display_name", s.display_name},
                    {"viewers", s.viewers},
                    {"state", s.state},
                    {"started_ms", s.first_frame_ms},
                    {"thumbnail_url", "/u/" + s.username + "/latest.jpg"}});
  }
  return json_response(200, {{"streams", list}});
}

Response handle_public_info(App& app, Request& req) {
  auto name = domain::canonical_username(req.params["username"]);
  if (!name) return error_response(404, "not_found", "no such streamer");
  auto user = app.db.with([&](soci::session& sql) { return store::find_user_by_username(sql, *name); });
  if (!user) return error_response(404, "not_found", "no such streamer");
  auto settings = app.db.with([&](soci::session& sql) { return store::load_stream_settings(sql, user->id); });
  auto snap = app.hub->snapshot(*name);
  nlohmann::json out = {{"username", user->username},
                        {"display_name", user->display_name},
                        {"live", snap.has_value()},
                        {"state", snap ? snap->state : "offline"},
                        {"viewers", app.hub->viewer_count(*name)},
                        {"settings", settings_json(settings)},
                        {"current_style", snap ? snap->style.prompt : settings.base_style}};
  if (app.styles) out["styles"] = app.styles->state(*user);
  if (snap) {
    out["session_id"] = snap->session_id;
    out["started_ms"] = snap->first_frame_ms > 0 ? nlohmann::json(snap->first_frame_ms) : nlohmann::json();
    out["model_ms"] = std::lround(snap->model_ms);
    out["fps_out"] = snap->fps_out;
  }
  return json_response(200, out);
}

Response handle_ingest_frame(App& app, Request& req) {
  std::optional<std::string> key;
  if (auto h = req.header("authorization"); h && h->starts_with("Bearer ")) key = h->substr(7);
  if (!key) key = req.query_param("key");
  if (!key) return error_response(401, "unauthorized", "a stream key is required");
  auto user = app.auth.from_stream_key(*key);
  if (!user) return error_response(401, "unauthorized", "invalid stream key");
  auto type = req.header("content-type").value_or("");
  if (!type.starts_with("image/jpeg")) {
    return error_response(415, "unsupported_media_type", "send the frame as image/jpeg");
  }
  if (auto ok = domain::validate_jpeg(req.body, app.frame_limits); !ok) return error_response(ok.error());
  auto started = app.streams->ensure_started(*user);
  if (!started) return error_response(started.error());
  auto accepted = app.hub->push_frame(user->username, live::make_bytes(std::move(req.body)));
  if (!accepted) return error_response(409, "not_started", "the stream is not active");
  return json_response(202, {{"accepted", true}, {"seq", accepted->seq}});
}

Response handle_latest(App& app, Request& req) {
  auto name = domain::canonical_username(req.params["username"]);
  auto jpeg = name ? app.hub->latest_output(*name) : nullptr;
  if (!jpeg) return error_response(404, "not_found", "no processed frame yet");
  Response r;
  r.content_type = "image/jpeg";
  r.body = *jpeg;
  r.set_header("Cache-Control", "no-store");
  return r;
}

}  // namespace

live::Bytes make_settings_event(const nlohmann::json& settings) {
  return live::wire::encode_settings(settings);
}

void register_streams_routes(Router& router, App& app) {
  auto bind = [&app](Response (*fn)(App&, Request&)) {
    return [&app, fn](Request& r) { return fn(app, r); };
  };
  router.add("POST", "/api/streams/start", bind(handle_start));
  router.add("POST", "/api/streams/stop", bind(handle_stop));
  router.add("GET", "/api/streams/sessions", bind(handle_sessions));
  router.add("GET", "/api/streams/sessions/:id/viewers", bind(handle_viewer_samples));
  router.add("GET", "/api/streams/settings", bind(handle_get_settings));
  router.add("PATCH", "/api/streams/settings", bind(handle_patch_settings));
  router.add("GET", "/api/streams/live", bind(handle_live));
  router.add("GET", "/api/streams/:username", bind(handle_public_info));
  router.add("POST", "/api/ingest/frame", bind(handle_ingest_frame));
  router.add("GET", "/u/:username/latest.jpg", bind(handle_latest));
}

}  // namespace ds::api
