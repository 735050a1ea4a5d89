#include "api/app.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "store/database.hpp"

namespace ds::api {

namespace {

std::string origin_of(std::string_view url) {
  // scheme://host[:port] — everything before the first '/' after "://".
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return {};
  auto path = url.find('/', scheme_end + 3);
  return std::string(url.substr(0, path));
}

bool cors_allowed(const App& app, const std::string& origin) {
  return std::find(app.config.allowed_origins.begin(), app.config.allowed_origins.end(), origin) !=
         app.config.allowed_origins.end();
}

}  // namespace

bool is_state_changing(const std::string& method) {
  return method != "GET" && method != "HEAD" && method != "OPTIONS";
}

bool origin_allowed(const App& app, const Request& req, bool require_present) {
  std::string origin;
  if (auto o = req.header("origin")) {
    // An opaque origin (a sandboxed frame, a data: URL) could be any site: never this one.
    if (*o == "null") return false;
    origin = *o;
  } else if (auto r = req.header("referer")) {
    origin = origin_of(*r);
  }
  if (origin.empty()) return !require_present;
  if (cors_allowed(app, origin)) return true;
  if (!app.config.public_url.empty() && origin == origin_of(app.config.public_url)) return true;
  if (auto host = req.header("host")) {
    if (origin == "http://" + *host || origin == "https://" + *host) return true;
  }
  return false;
}

std::string expected_origin(const App& app, const Request& req) {
  if (!app.config.public_url.empty()) return origin_of(app.config.public_url);
  if (auto host = req.header("host")) return "http://" + *host;
  return "this server's origin";
}

Error cross_origin_refused(const App& app, const Request& req) {
  // Said in full, so that a script that sent no Origin (curl) learns what to add.
  return forbidden("cross-origin request refused: send Origin: " + expected_origin(app, req));
}

std::optional<auth::Principal> optional_user(App& app, const Request& req) {
  if (req.forwarded) {
    // Authenticated by the node that passed it on (api/forward.hpp).
    const auto& who = req.forwarded_user;
    if (!who) return std::nullopt;
    auto user = app.auth.find_user_by_username(who->username);
    if (!user || user->id != who->user_id) return std::nullopt;
    return auth::Principal{*user, who->session_id, who->via_cookie, who->api_token_id,
                           auth::ScopeSet{who->scopes}};
  }
  if (auto token = req.bearer_token()) return app.auth.from_api_token(*token);
  if (auto c = req.cookie(kSessionCookie)) return app.auth.from_session_token(*c);
  return std::nullopt;
}

Expected<auth::Principal> require_user(App& app, const Request& req, Scope scope) {
  auto p = optional_user(app, req);
  if (!p) return unauthorized("log in first");
  if (p->via_cookie && is_state_changing(req.method) && !origin_allowed(app, req, true)) {
    return cross_origin_refused(app, req);
  }
  if (!p->scopes.has(scope)) {
    return Error{ErrorKind::kForbidden, "insufficient_scope",
                 "this API token lacks the \"" + std::string(auth::scope_name(scope)) +
                     "\" scope; create one that has it"};
  }
  return *p;
}

std::string session_cookie(const App& app, const std::string& token) {
  std::string c = std::string(kSessionCookie) + "=" + token +
                  "; Path=/; HttpOnly; SameSite=Lax; Max-Age=2592000";
  if (app.config.public_url.starts_with("https://")) c += "; Secure";
  return c;
}

std::string clear_session_cookie(const App& app) {
  std::string c = std::string(kSessionCookie) + "=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0";
  if (app.config.public_url.starts_with("https://")) c += "; Secure";
  return c;
}

nlohmann::json user_json(const App& app, const store::User& u) {
  return {
      {"id", u.id},
      {"username", u.username},
      {"display_name", u.display_name},
      {"email", u.email},
      {"balance", domain::format_credits(u.balance_cents)},
      {"balance_cents", u.balance_cents},
      {"remaining_minutes", domain::remaining_minutes(u.balance_cents, app.config.rate)},
      {"stream_url", "/u/" + u.username},
      {"created_ms", u.created_ms},
  };
}

std::optional<long long> parse_positive_id(const std::string& s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  long long v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v > 0 ? std::optional<long long>(v) : std::nullopt;
}

Expected<store::User> find_streamer(App& app, const std::string& raw_username) {
  auto user = app.auth.find_user_by_username(raw_username);
  if (!user) return not_found("no such streamer");
  return *user;
}

void stop_revoked_streams(App& app, const std::vector<long long>& user_ids) {
  if (!app.streams) return;
  for (auto id : user_ids) (void)app.streams->stop(id);
}

Handler handler(App& app, AppHandler fn) {
  return [&app, fn](Request& req) { return fn(app, req); };
}

Handler authed(App& app, AuthedHandler fn, Scope scope) {
  return [&app, fn, scope](Request& req) {
    auto principal = require_user(app, req, scope);
    if (!principal) return error_response(principal.error());
    return fn(app, req, *principal);
  };
}

void register_routes(Router& router, App& app) {
  router.add("GET", "/healthz", [&app](Request&) {
    // A database that cannot take a write is an outage for this server, even when SQLite
    // still answers reads; the probe waits at most the busy/connect timeout.
    if (app.database_available && !app.database_available()) {
      return json_response(503, {{"status", "degraded"}, {"database", "unavailable"}});
    }
    return json_response(200, {{"status", "ok"}, {"database", "ok"}});
  });
  register_auth_routes(router, app);
  register_profile_routes(router, app);
  register_credits_routes(router, app);
  register_payments_routes(router, app);
  if (app.hub && app.streams && app.settings) register_streams_routes(router, app);
  if (app.hub && app.chat) register_comments_routes(router, app);
  if (app.hub && app.styles) register_styles_routes(router, app);
  if (app.hub) register_metrics_routes(router, app);
  if (app.hub && app.video && app.hls) register_hls_routes(router, app);
  if (app.recordings) register_recordings_routes(router, app);
}

Response dispatch(const Router& router, App& app, Request& req) {
  auto origin = req.header("origin");
  bool cors = origin && cors_allowed(app, *origin);
  auto add_cors = [&](Response& r) {
    // A public route that answers every origin (HLS: "*") has said so itself.
    if (!cors || r.has_header("Access-Control-Allow-Origin")) return;
    r.set_header("Access-Control-Allow-Origin", *origin);
    r.set_header("Access-Control-Allow-Credentials", "true");
    r.set_header("Vary", "Origin");
  };

  if (req.method == "OPTIONS") {
    Response r = no_content();
    if (cors) {
      r.set_header("Access-Control-Allow-Methods", "GET, POST, PATCH, PUT, DELETE, OPTIONS");
      r.set_header("Access-Control-Allow-Headers", "Content-Type, Authorization");
      r.set_header("Access-Control-Max-Age", "600");
    }
    add_cors(r);
    return r;
  }

  auto match = router.match(req);
  // A state change without a Bearer token that carries the session cookie, or that sets one
  // (login CSRF), must come from a page of this site or an allowed origin (CallerProof); one
  // that names a foreign or null origin is refused even with a token.
  if (match.outcome == Router::Outcome::kFound && is_state_changing(req.method)) {
    bool need_origin =
        !req.bearer_token() &&
        (match.proof == CallerProof::kOriginAlways ||
         (match.proof == CallerProof::kOrigin && req.cookie(kSessionCookie).has_value()));
    if (!origin_allowed(app, req, need_origin)) {
      Response r = error_response(cross_origin_refused(app, req));
      add_cors(r);
      return r;
    }
  }

  Response r;
  if (match.outcome == Router::Outcome::kNotFound) {
    r = error_response(404, "not_found", "no such endpoint");
  } else if (match.outcome == Router::Outcome::kMethodNotAllowed) {
    r = error_response(405, "method_not_allowed", "method not allowed");
    r.set_header("Allow", match.allowed);
  } else {
    try {
      r = (*match.handler)(req);
    } catch (const store::DatabaseUnavailable& e) {
      // Nothing was committed; the client may try again once the database is back.
      spdlog::warn("event=database_unavailable method={} path={} error=\"{}\"", req.method,
                   req.path, e.what());
      r = error_response(503, "database_unavailable",
                         "the database is unavailable; try again shortly");
      r.set_header("Retry-After", "5");
    } catch (const std::exception& e) {
      spdlog::error("event=handler_error method={} path={} error=\"{}\"", req.method, req.path,
                    e.what());
      r = error_response(500, "internal", "internal error");
    }
  }
  add_cors(r);
  return r;
}

}  // namespace ds::api
