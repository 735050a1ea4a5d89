// Streams: start/stop, settings, history, public info, the live list, HTTP frame ingest, ingest
// tickets and the latest processed picture.
#include <cmath>

#include "api/app.hpp"
#include "api/forward.hpp"
#include "domain/username.hpp"
#include "live/ingest_rules.hpp"

namespace ds::api {

namespace {

constexpr int kDefaultPage = 20;
constexpr int kMaxPage = 100;

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

// The fields of a PATCH body, type-checked; their values are checked by the domain rules.
Expected<domain::StreamSettingsPatch> parse_settings_patch(const nlohmann::json& body) {
  domain::StreamSettingsPatch patch;
  for (auto [name, field] :
       {std::pair{"comments_enabled", &patch.comments_enabled},
        std::pair{"styles_enabled", &patch.styles_enabled}, std::pair{"record", &patch.record}}) {
    if (!body.contains(name)) continue;
    auto v = bool_field(body, name);
    if (!v) return v.error();
    *field = *v;
  }
  if (body.contains("style_policy")) {
    auto v = string_field(body, "style_policy");
    if (!v) return v.error();
    patch.style_policy = *v;
  }
  if (body.contains("style_slot_seconds")) {
    auto v = integer_field(body, "style_slot_seconds");
    if (!v) return v.error();
    patch.style_slot_seconds = *v;
  }
  if (body.contains("base_style")) {
    auto v = string_field(body, "base_style");
    if (!v) return v.error();
    patch.base_style = *v;
  }
  if (auto it = body.find("strength"); it != body.end()) {
    if (!it->is_number()) return bad_request("strength must be a number", "invalid_type");
    patch.strength = it->get<double>();
  }
  return patch;
}

Response handle_start(App& app, Request&, const auth::Principal& p) {
  auto s = app.streams->start(p.user);
  if (!s) return error_response(s.error());
  return json_response(201, {{"stream", session_json(*s)}, {"url", "/u/" + p.user.username}});
}

Response handle_stop(App& app, Request&, const auth::Principal& p) {
  auto s = app.streams->stop(p.user.id);
  if (!s) return error_response(s.error());
  return json_response(200, {{"stream", session_json(*s)}});
}

Response handle_sessions(App& app, Request& req, const auth::Principal& p) {
  auto page = parse_page(req, kDefaultPage, kMaxPage);
  if (!page) return error_response(page.error());
  auto rows = app.streams->sessions(p.user.id, page->before, page->limit + 1);
  bool more = static_cast<int>(rows.size()) > page->limit;
  if (more) rows.pop_back();
  auto list = nlohmann::json::array();
  for (const auto& s : rows) list.push_back(session_json(s));
  return json_response(200,
                       {{"sessions", list},
                        {"next_before", more ? nlohmann::json(rows.back().id) : nlohmann::json()}});
}

Response handle_get_settings(App& app, Request&, const auth::Principal& p) {
  return json_response(200, {{"settings", live::settings_json(app.settings->get(p.user.id))}});
}

Response handle_patch_settings(App& app, Request& req, const auth::Principal& p) {
  auto body = parse_json_object(req);
  if (!body) return error_response(body.error());
  auto patch = parse_settings_patch(*body);
  if (!patch) return error_response(patch.error());
  auto saved = app.settings->update(p.user, *patch);
  if (!saved) return error_response(saved.error());
  return json_response(200, {{"settings", live::settings_json(*saved)}});
}

Response handle_viewer_samples(App& app, Request& req, const auth::Principal& p) {
  auto id = parse_positive_id(req.params["id"]);
  if (!id) return error_response(not_found("no such stream session"));
  auto samples = app.streams->viewer_samples(p.user.id, *id);
  if (!samples) return error_response(samples.error());
  auto list = nlohmann::json::array();
  for (const auto& [t, viewers] : *samples) list.push_back({t, viewers});
  return json_response(200, {{"session_id", *id}, {"samples", list}});
}

Response handle_live(App& app, Request&) {
  auto list = nlohmann::json::array();
  for (const auto& s : app.hub->all_streams()) {
    if (s.first_frame_ms == 0) continue;
    list.push_back({{"username", s.username},
                    {"display_name", s.display_name},
                    {"viewers", s.viewers},
                    {"state", live::to_string(s.state)},
                    {"started_ms", s.first_frame_ms},
                    {"thumbnail_url", "/u/" + s.username + "/latest.jpg"}});
  }
  return json_response(200, {{"streams", list}});
}

Response handle_public_info(App& app, Request& req) {
  auto user = find_streamer(app, req.params["username"]);
  if (!user) return error_response(user.error());
  auto settings = app.settings->get(user->id);
  auto snap = app.hub->snapshot(user->username);
  nlohmann::json out = {
      {"username", user->username},
      {"display_name", user->display_name},
      {"live", snap.has_value()},
      {"state", live::to_string(snap ? snap->state : live::StreamState::kOffline)},
      {"viewers", app.hub->viewer_count(user->username)},
      {"settings", live::settings_json(settings)},
      {"current_style", snap ? snap->style.prompt : settings.base_style}};
  if (app.styles) out["styles"] = app.styles->state(*user);
  if (snap) {
    out["session_id"] = snap->session_id;
    out["started_ms"] =
        snap->first_frame_ms > 0 ? nlohmann::json(snap->first_frame_ms) : nlohmann::json();
    out["model_ms"] = std::lround(snap->model_ms);
    out["fps_out"] = snap->fps_out;
  }
  return json_response(200, out);
}

// The same rules as a frame on /ws/ingest (live::IngestRules): the key, going live, the frame.
// What is this door's own: the Content-Type, and forwarding to the stream's home.
Response handle_ingest_frame(App& app, Request& req) {
  live::IngestRules rules(app.auth, *app.streams, *app.hub, app.frame_limits);
  std::optional<store::User> user;
  if (req.forwarded) {
    // The node that passed it on checked the key, and kept it.
    if (auto p = optional_user(app, req)) user = p->user;
    if (!user) return error_response(unauthorized("invalid stream key"));
  } else {
    auto key = req.bearer_token();
    if (!key) key = req.query_param("key");
    if (!key) return error_response(unauthorized("a stream key is required"));
    auto found = rules.streamer_for_key(*key);
    if (!found) return error_response(found.error());
    user = std::move(*found);
  }
  auto type = req.header("content-type").value_or("");
  if (!type.starts_with("image/jpeg")) {
    return error_response(415, "unsupported_media_type", "send the frame as image/jpeg");
  }
  if (auto ok = rules.check_frame(true, req.body); !ok) return error_response(ok.error());
  // Many nodes: the frame goes to the stream's home, which keeps its newest frame.
  if (auto r = forward_to_home(app, user->username, req, auth::Principal{*user, 0, false, 0}))
    return std::move(*r);
  auto started = rules.go_live(*user);
  if (!started) return error_response(started.error());
  auto accepted = rules.push_frame(user->username, std::move(req.body));
  if (!accepted) return error_response(accepted.error());
  return json_response(202, {{"accepted", true}, {"seq", accepted->seq}});
}

// A web app's server asks for a ticket with its API token and hands it to the browser, which
// cannot set headers on a WebSocket: the stream key stays secret and unchanged.
Response handle_ingest_ticket(App& app, Request&, const auth::Principal& p) {
  auto t = app.auth.create_ingest_ticket(p);
  if (!t) return error_response(t.error());
  return json_response(
      201,
      {{"ticket", t->ticket}, {"expires_ms", t->expires_ms}, {"expires_in_ms", t->expires_in_ms}});
}

Response picture(const std::string& jpeg) {
  Response r;
  r.content_type = "image/jpeg";
  r.body = jpeg;
  r.set_header("Cache-Control", "no-store");
  return r;
}

Response handle_latest(App& app, Request& req) {
  auto name = domain::canonical_username(req.params["username"]);
  auto jpeg = name ? app.hub->latest_output(*name) : nullptr;
  if (!jpeg) return error_response(not_found("no processed frame yet"));
  return picture(*jpeg);
}

// Many nodes: a picture of a stream homed on another node must not pull a frame across Redis
// per request. A node that follows the stream (it has viewers of it) has the newest picture
// already; otherwise the home's answer is fetched at most once per stream per second and shared
// by every request in between, GET and HEAD alike (HEAD sends no body). The fetch carries no
// cookie or header of the asker's: the picture is public, and the answer is everyone's.
Response handle_latest_anywhere(App& app, Request& req) {
  auto name = domain::canonical_username(req.params["username"]);
  if (!name || !app.cluster || !app.hub || req.forwarded) return handle_latest(app, req);
  if (!app.hub->home_of(*name)) return handle_latest(app, req);
  if (auto jpeg = app.hub->followed_output(*name)) return picture(*jpeg);
  Request anonymous;
  anonymous.method = "GET";
  anonymous.path = req.path;
  anonymous.target = req.path;
  anonymous.params = req.params;
  anonymous.remote_addr = req.remote_addr;
  try {
    return *app.remote_pictures->get(*name, [&] {
      if (auto r = forward_to_home(app, *name, anonymous)) return std::move(*r);
      return handle_latest(app, anonymous);  // it moved here meanwhile
    });
  } catch (const SharedFetch<Response>::FetchFailed&) {
    return error_response(503, "home_unavailable",
                          "the stream's server did not answer; try again shortly");
  }
}

}  // namespace

void register_streams_routes(Router& router, App& app) {
  router.add("POST", "/api/streams/start", authed(app, handle_start, Scope::kStream));
  router.add("POST", "/api/streams/stop", authed_at_home(app, handle_stop, Scope::kStream));
  router.add("GET", "/api/streams/sessions", authed(app, handle_sessions, Scope::kRead));
  router.add("GET", "/api/streams/sessions/:id/viewers",
             authed(app, handle_viewer_samples, Scope::kRead));
  router.add("GET", "/api/streams/settings", authed(app, handle_get_settings, Scope::kRead));
  router.add("PATCH", "/api/streams/settings",
             authed_at_home(app, handle_patch_settings, Scope::kStream));
  router.add("GET", "/api/streams/live", handler(app, handle_live));
  router.add("GET", "/api/streams/:username",
             at_home_of_path(app, handler(app, handle_public_info)));
  // The stream key (Bearer or ?key=) is the proof; no cookie is read.
  router.add("POST", "/api/ingest/frame", handler(app, handle_ingest_frame),
             CallerProof::kOwnSecret);
  router.add("POST", "/api/ingest/ticket", authed(app, handle_ingest_ticket, Scope::kStream));
  router.add("GET", "/u/:username/latest.jpg", handler(app, handle_latest_anywhere));
}

}  // namespace ds::api
