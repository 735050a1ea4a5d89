#include "api/forward.hpp"

#include <spdlog/spdlog.h>

#include <mutex>

#include "domain/username.hpp"

namespace ds::api {

namespace {

constexpr auto kForwardTimeout = std::chrono::seconds(5);
constexpr auto kRevokeTimeout = std::chrono::seconds(2);

// Every route a node passes to a stream's home (the wrappers below), and nothing else: a
// forwarded call naming any other route is refused by the home. GET covers HEAD.
constexpr std::pair<const char*, const char*> kForwardable[] = {
    {"POST", "/api/streams/stop"},
    {"PATCH", "/api/streams/settings"},
    {"GET", "/api/streams/:username"},
    {"GET", "/u/:username/latest.jpg"},
    {"POST", "/api/ingest/frame"},
    {"GET", "/api/streams/:username/styles"},
    {"POST", "/api/streams/:username/styles"},
    {"POST", "/api/streams/:username/styles/skip"},
    {"POST", "/api/streams/:username/styles/clear"},
    {"POST", "/api/streams/:username/styles/:id/approve"},
    {"POST", "/api/streams/:username/styles/:id/reject"},
    {"GET", "/u/:username/live.m3u8"},
    {"GET", "/u/:username/hls/:session/:file"},
};

// Credentials stay on the node they were presented to: the home learns who, not how.
bool carries_credential(const std::string& lower_name) {
  return lower_name == "cookie" || lower_name == "authorization";
}

// query without its name=... parameters (an ingest frame's ?key=).
std::string without_param(std::string_view query, std::string_view name) {
  std::string out;
  while (!query.empty()) {
    auto amp = query.find('&');
    auto part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    auto key = part.substr(0, part.find('='));
    if (key == name) continue;
    if (!out.empty()) out += '&';
    out += part;
  }
  return out;
}

nlohmann::json pairs_json(const std::vector<std::pair<std::string, std::string>>& pairs) {
  auto out = nlohmann::json::array();
  for (const auto& [k, v] : pairs) out.push_back({k, v});
  return out;
}

std::vector<std::pair<std::string, std::string>> pairs_from(const nlohmann::json& j) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& p : j) out.emplace_back(p.at(0).get<std::string>(), p.at(1).get<std::string>());
  return out;
}

}  // namespace

bool forwardable(const std::string& method, const std::string& path) {
  auto parts = split_path(path);
  const std::string& m = method == "HEAD" ? std::string("GET") : method;
  for (const auto& [route_method, pattern] : kForwardable) {
    std::unordered_map<std::string, std::string> params;
    if (m == route_method && match_segments(split_path(pattern), parts, params)) return true;
  }
  return false;
}

live::Call encode_request(const Request& req, const std::optional<auth::Principal>& who) {
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& h : req.headers) {
    if (!carries_credential(h.first)) headers.push_back(h);
  }
  auto query = without_param(req.query, "key");
  nlohmann::json h = {{"method", req.method},
                      {"path", req.path},
                      {"query", query},
                      {"headers", pairs_json(headers)},
                      {"remote_addr", req.remote_addr}};
  if (who) {
    h["principal"] = {{"user_id", who->user.id},       {"username", who->user.username},
                      {"session_id", who->session_id}, {"api_token_id", who->api_token_id},
                      {"via_cookie", who->via_cookie}, {"scopes", who->scopes.bits()}};
  }
  return live::make_call(live::CallOp::kHttp, std::move(h), req.body);
}

std::optional<Request> decode_request(const live::Call& call) {
  try {
    const auto& h = call.header;
    Request r;
    r.method = h.at("method").get<std::string>();
    r.path = h.at("path").get<std::string>();
    r.query = h.at("query").get<std::string>();
    r.target = r.query.empty() ? r.path : r.path + "?" + r.query;
    r.headers = pairs_from(h.at("headers"));
    r.remote_addr = h.at("remote_addr").get<std::string>();
    if (auto p = h.find("principal"); p != h.end()) {
      Request::ForwardedUser u;
      u.user_id = p->at("user_id").get<long long>();
      u.username = p->at("username").get<std::string>();
      u.session_id = p->at("session_id").get<long long>();
      u.api_token_id = p->at("api_token_id").get<long long>();
      u.via_cookie = p->at("via_cookie").get<bool>();
      // A token's scopes travel with it, so the home allows no more than the node that checked
      // it (a principal without them may do nothing scoped).
      u.scopes = p->value("scopes", 0u);
      r.forwarded_user = std::move(u);
    }
    r.body = call.body;
    r.forwarded = true;
    return r;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

live::Call encode_response(const Response& r) {
  return {
      {{"status", r.status}, {"content_type", r.content_type}, {"headers", pairs_json(r.headers)}},
      r.body};
}

std::optional<Response> decode_response(const live::Call& call) {
  try {
    Response r;
    r.status = call.header.at("status").get<int>();
    r.content_type = call.header.at("content_type").get<std::string>();
    // This node adds its own CORS headers.
    for (auto& [k, v] : pairs_from(call.header.at("headers"))) {
      if (k.starts_with("Access-Control-") || k == "Vary") continue;
      r.set_header(std::move(k), std::move(v));
    }
    r.body = call.body;
    return r;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<Response> forward_to_home(App& app, const std::string& username, const Request& req,
                                        const std::optional<auth::Principal>& who) {
  if (!app.cluster || !app.hub || req.forwarded) return std::nullopt;
  auto home = app.hub->home_of(username);
  if (!home) return std::nullopt;
  if (!forwardable(req.method, req.path)) {
    // A wrapper on a route kForwardable lacks: a programming error, refused rather than sent.
    spdlog::error("event=forward_refused reason=not_forwardable method={} path={}", req.method,
                  req.path);
    return error_response(500, "internal", "this request cannot be passed to the stream's server");
  }
  // Each forwarded call costs the home a call across Redis: at most 50 a second per client.
  if (!app.forward_limit->allow(req.remote_addr)) {
    return error_response(429, "rate_limited", "too many requests to another server; slow down");
  }
  // Authenticated here, so that no credential leaves this node.
  auto principal = who ? who : optional_user(app, req);
  auto reply = app.cluster->call(*home, encode_request(req, principal), kForwardTimeout);
  auto response = reply ? decode_response(*reply) : std::nullopt;
  if (!response) {
    spdlog::warn("event=forward_failed stream={} node={} path={}", username, *home, req.path);
    return error_response(503, "home_unavailable",
                          "the stream's server did not answer; try again shortly");
  }
  return response;
}

Handler at_home_of_path(App& app, Handler inner) {
  return [&app, inner = std::move(inner)](Request& req) {
    if (auto name = domain::canonical_username(req.params["username"])) {
      if (auto r = forward_to_home(app, *name, req)) return std::move(*r);
    }
    return inner(req);
  };
}

Handler authed_at_home(App& app, AuthedHandler fn, Scope scope) {
  return [&app, fn, scope](Request& req) {
    auto principal = require_user(app, req, scope);
    if (!principal) return error_response(principal.error());
    if (auto r = forward_to_home(app, principal->user.username, req, *principal))
      return std::move(*r);
    return fn(app, req, *principal);
  };
}

namespace {

// The ingest sockets r ends on this node; returns the users whose streams should stop.
std::vector<long long> withdraw(App& app, const Revocation& r) {
  if (!app.credentials) {
    if (r.kind == Revocation::Kind::kUser) return {r.user_id};
    return {};
  }
  switch (r.kind) {
    case Revocation::Kind::kStreamKey:
      return app.credentials->revoke_stream_key(r.user_id, r.revoked_key_hash);
    case Revocation::Kind::kSession:
      return app.credentials->revoke_session(r.id);
    case Revocation::Kind::kSessionsExcept:
      return app.credentials->revoke_sessions_except(r.user_id, r.id);
    case Revocation::Kind::kApiToken:
      return app.credentials->revoke_api_token(r.id);
    case Revocation::Kind::kUser:
      app.credentials->revoke_user(r.user_id);
      return {r.user_id};  // a deleted account's stream ends (and is billed) whatever fed it
  }
  return {};
}

// A revocation reaches the stream's home twice (the broadcast and the call), on two threads: the
// first withdraws the sockets and ends the stream, the second finds nothing to withdraw. The
// second must not answer before the first has ended the stream, or the caller returns while the
// stream still runs (a start right after is refused 409): they take turns. Never held across a
// call to another node.
void withdraw_and_stop(App& app, const Revocation& r) {
  static std::mutex turns;
  std::lock_guard lock(turns);
  stop_revoked_streams(app, withdraw(app, r));
}

}  // namespace

live::Call encode_revocation(const Revocation& r) {
  nlohmann::json header{{"kind", static_cast<int>(r.kind)}, {"user_id", r.user_id}, {"id", r.id}};
  if (!r.revoked_key_hash.empty()) header["revoked_key"] = r.revoked_key_hash;
  return live::make_call(live::CallOp::kRevoke, std::move(header));
}

void revoke(App& app, const std::string& username, const Revocation& r) {
  withdraw_and_stop(app, r);
  if (!app.cluster || !app.hub) return;
  auto call = encode_revocation(r);
  // Every node hears it, wherever the registry says the stream lives (a socket may be on a node
  // it does not know of, e.g. mid-move); the home is also asked and waited for, so its sockets
  // have ended when this returns. A node that hears neither (Redis away) finds the revocation
  // in the database at its next credential recheck.
  app.cluster->broadcast(call);
  auto home = app.hub->home_of(username);
  if (!home) return;
  if (!app.cluster->call(*home, call, kRevokeTimeout)) {
    spdlog::warn("event=revocation_unanswered node={} user_id={}", *home, r.user_id);
  }
}

live::Call serve_revocation(App& app, const live::Call& call) {
  try {
    auto kind = call.header.at("kind").get<int>();
    if (kind < 0 || kind > static_cast<int>(Revocation::Kind::kUser))
      return {{{"error", "bad kind"}}, {}};
    Revocation r{static_cast<Revocation::Kind>(kind), call.header.at("user_id").get<long long>(),
                 call.header.at("id").get<long long>(),
                 call.header.value("revoked_key", std::string())};
    withdraw_and_stop(app, r);
    return {{{"ok", true}}, {}};
  } catch (const std::exception&) {
    return {{{"error", "malformed revocation"}}, {}};
  }
}

void serve_forwarded(const Router& router, App& app, const live::Call& call,
                     live::Cluster::Respond respond) {
  auto req = decode_request(call);
  if (!req) {
    return respond(
        encode_response(error_response(400, "bad_request", "malformed forwarded request")));
  }
  if (!forwardable(req->method, req->path)) {
    spdlog::warn("event=forward_refused reason=not_forwardable method={} path={}", req->method,
                 req->path);
    return respond(
        encode_response(error_response(403, "forbidden", "this route is not forwarded")));
  }
  auto res = dispatch(router, app, *req);
  if (res.deferred) {
    // Answered when it comes (the asking node waits without a thread; its call times out).
    auto start = std::move(res.deferred);
    return start([respond](Response&& r) { respond(encode_response(r)); }, nullptr);
  }
  respond(encode_response(res));
}

}  // namespace ds::api
