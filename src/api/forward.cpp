#include "api/forward.hpp"

#include <spdlog/spdlog.h>

#include "domain/username.hpp"

namespace ds::api {

namespace {

constexpr auto kForwardTimeout = std::chrono::seconds(5);

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

live::Call encode_request(const Request& req) {
  nlohmann::json h = {{"op", "http"},
                      {"method", req.method},
                      {"target", req.target},
                      {"path", req.path},
                      {"query", req.query},
                      {"headers", pairs_json(req.headers)},
                      {"remote_addr", req.remote_addr}};
  return {std::move(h), req.body};
}

std::optional<Request> decode_request(const live::Call& call) {
  try {
    const auto& h = call.header;
    Request r;
    r.method = h.at("method").get<std::string>();
    r.target = h.at("target").get<std::string>();
    r.path = h.at("path").get<std::string>();
    r.query = h.at("query").get<std::string>();
    r.headers = pairs_from(h.at("headers"));
    r.remote_addr = h.at("remote_addr").get<std::string>();
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

namespace {

// nullopt when not forwarded; otherwise the home's answer, or nullopt inside when it did not
// answer.
std::optional<std::optional<Response>> call_home(App& app, const std::string& username,
                                                 const Request& req) {
  if (!app.cluster || !app.hub || req.forwarded) return std::nullopt;
  auto home = app.hub->home_of(username);
  if (!home) return std::nullopt;
  auto reply = app.cluster->call(*home, encode_request(req), kForwardTimeout);
  auto response = reply ? decode_response(*reply) : std::nullopt;
  if (!response) {
    spdlog::warn("event=forward_failed stream={} node={} path={}", username, *home, req.path);
  }
  return response;
}

}  // namespace

std::optional<Response> forward_to_home(App& app, const std::string& username, const Request& req) {
  auto forwarded = call_home(app, username, req);
  if (!forwarded) return std::nullopt;
  if (!*forwarded) {
    return error_response(503, "home_unavailable",
                          "the stream's server did not answer; try again shortly");
  }
  return std::move(*forwarded);
}

std::optional<Response> forward_revocation(App& app, const std::string& username,
                                           const Request& req) {
  auto forwarded = call_home(app, username, req);
  if (!forwarded || !*forwarded) return std::nullopt;
  return std::move(*forwarded);
}

Handler at_home_of_path(App& app, Handler inner) {
  return [&app, inner = std::move(inner)](Request& req) {
    if (auto name = domain::canonical_username(req.params["username"])) {
      if (auto r = forward_to_home(app, *name, req)) return std::move(*r);
    }
    return inner(req);
  };
}

namespace {

using Forward = std::optional<Response> (*)(App&, const std::string&, const Request&);

// The logged-in user's request, run where forward sends it (nullopt: here).
Handler authed_forwarded(App& app, AuthedHandler fn, Forward forward, Scope scope) {
  return [&app, fn, forward, scope](Request& req) {
    auto principal = require_user(app, req, scope);
    if (!principal) return error_response(principal.error());
    if (auto r = forward(app, principal->user.username, req)) return std::move(*r);
    return fn(app, req, *principal);
  };
}

}  // namespace

Handler authed_at_home(App& app, AuthedHandler fn, Scope scope) {
  return authed_forwarded(app, std::move(fn), forward_to_home, scope);
}

Handler authed_revoking(App& app, AuthedHandler fn, Scope scope) {
  return authed_forwarded(app, std::move(fn), forward_revocation, scope);
}

live::Call serve_forwarded(const Router& router, App& app, const live::Call& call) {
  auto req = decode_request(call);
  if (!req)
    return encode_response(error_response(400, "bad_request", "malformed forwarded request"));
  return encode_response(dispatch(router, app, *req));
}

}  // namespace ds::api
