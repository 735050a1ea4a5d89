// Fuzzes the body (or, for GET, the query) of every API route, sent as the logged-in user so
// the handlers get past authentication and actually parse what they are given.
//
// Input: byte 0 picks the route, byte 1 the variant (which user or id fills the path, cookie
// or API token, whether time moves on), the rest is the body or query.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_app.hpp"
#include "payments/stripe_signature.hpp"

namespace {

using namespace ds;

struct Route {
  const char* method;
  const char* pattern;
};

// Every route of src/api/*_api.cpp (the start-up check below fails if one goes away).
constexpr Route kRoutes[] = {
    {"GET", "/healthz"},
    {"POST", "/api/auth/register"},
    {"POST", "/api/auth/login"},
    {"POST", "/api/auth/logout"},
    {"GET", "/api/me"},
    {"PATCH", "/api/me"},
    {"DELETE", "/api/me"},
    {"POST", "/api/me/password"},
    {"GET", "/api/me/sessions"},
    {"DELETE", "/api/me/sessions/:id"},
    {"GET", "/api/me/tokens"},
    {"POST", "/api/me/tokens"},
    {"DELETE", "/api/me/tokens/:id"},
    {"POST", "/api/me/stream-key"},
    {"GET", "/api/credits"},
    {"GET", "/api/credits/transactions"},
    {"GET", "/api/credits/transactions/:id"},
    {"GET", "/api/config"},
    {"POST", "/api/credits/checkout"},
    {"GET", "/api/credits/checkout/:session_id"},
    {"POST", "/api/webhooks/stripe"},
    {"POST", "/api/streams/start"},
    {"POST", "/api/streams/stop"},
    {"GET", "/api/streams/sessions"},
    {"GET", "/api/streams/sessions/:id/viewers"},
    {"GET", "/api/streams/settings"},
    {"PATCH", "/api/streams/settings"},
    {"GET", "/api/streams/live"},
    {"GET", "/api/streams/:username"},
    {"POST", "/api/ingest/frame"},
    {"GET", "/u/:username/latest.jpg"},
    {"POST", "/api/streams/:username/comments"},
    {"GET", "/api/streams/:username/comments"},
    {"DELETE", "/api/streams/:username/comments/:id"},
    {"POST", "/api/streams/:username/styles"},
    {"GET", "/api/streams/:username/styles"},
    {"POST", "/api/streams/:username/styles/skip"},
    {"POST", "/api/streams/:username/styles/clear"},
    {"POST", "/api/streams/:username/styles/:id/approve"},
    {"POST", "/api/streams/:username/styles/:id/reject"},
    {"GET", "/metrics"},
};
constexpr std::size_t kRouteCount = sizeof(kRoutes) / sizeof(kRoutes[0]);

std::string fill_path(const fuzz::FuzzApp& app, const Route& route, std::uint8_t variant) {
  static const char* const kIds[] = {"1", "2", "3", "999999999999999999"};
  static const char* const kCheckouts[] = {"cs_fuzz_1", "cs_fuzz_2", "cs_unknown", "cs_fuzz_3"};
  std::string users[] = {app.username(), fuzz::kOtherUser, "nobody", "STREAMER"};
  std::string out;
  for (const auto& part : api::split_path(route.pattern)) {
    out += '/';
    if (part == ":username") {
      out += users[variant & 3];
    } else if (part == ":id") {
      out += kIds[(variant >> 2) & 3];
    } else if (part == ":session_id") {
      out += kCheckouts[(variant >> 2) & 3];
    } else {
      out += part;
    }
  }
  return out;
}

api::Request make_request(fuzz::FuzzApp& app, const Route& route, std::uint8_t variant,
                          std::string rest) {
  api::Request req;
  req.method = route.method;
  req.path = fill_path(app, route, variant);
  req.remote_addr = "127.0.0.1";
  req.headers = {{"host", fuzz::kHost}, {"user-agent", "fuzz"}};
  std::string path = req.path;
  if (req.method == "GET") {
    req.query = std::move(rest);
    req.target = req.path + "?" + req.query;
  } else {
    req.body = std::move(rest);
    req.target = req.path;
  }
  if (path == "/api/ingest/frame") {
    req.headers.emplace_back("authorization", "Bearer " + app.stream_key());
    req.headers.emplace_back("content-type", "image/jpeg");
    return req;
  }
  if (path == "/api/webhooks/stripe") {
    // Signed with the configured secret, so the handler gets to the event itself.
    auto t = app.clock().now_ms() / 1000;
    req.headers.emplace_back("stripe-signature",
                             "t=" + std::to_string(t) + ",v1=" +
                                 payments::stripe_v1_signature(fuzz::kWebhookSecret, t, req.body));
    req.headers.emplace_back("content-type", "application/json");
    return req;
  }
  req.headers.emplace_back("content-type", "application/json");
  if (variant & 0x10) {
    req.headers.emplace_back("authorization", "Bearer " + app.api_token());
  } else {
    req.headers.emplace_back("cookie",
                             std::string(api::kSessionCookie) + "=" + app.session_cookie());
    req.headers.emplace_back("origin", fuzz::kOrigin);
  }
  return req;
}

fuzz::FuzzApp& the_app() {
  static fuzz::FuzzApp* app = [] {
    auto* a = new fuzz::FuzzApp();
    // The table above must stay in step with the router.
    for (const auto& route : kRoutes) {
      auto req = make_request(*a, route, 0, "");
      auto match = a->router().match(req);
      if (match.outcome != api::Router::Outcome::kFound) {
        fuzz::invariant_failed("route table", std::string(route.method) + " " + route.pattern +
                                                  " is not a route any more");
      }
    }
    return a;
  }();
  return *app;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  the_app();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  auto& app = the_app();
  app.ensure_user();
  const Route& route = kRoutes[data[0] % kRouteCount];
  std::uint8_t variant = data[1];
  // Rate limits are per time window; let some inputs move past them.
  if (variant & 0x20) app.clock().advance_ms(61'000);
  auto req = make_request(app, route, variant,
                          std::string(reinterpret_cast<const char*>(data) + 2, size - 2));
  auto res = app.dispatch(req);
  fuzz::check_response(req, res);
  // The route exists, whatever the body: the router must have found it.
  std::string where = req.method + " " + req.path + " -> " + res.body.substr(0, 200);
  DS_FUZZ_CHECK(res.status != 404 || res.body.find("no such endpoint") == std::string::npos, where);
  DS_FUZZ_CHECK(res.status != 405, where);
  return 0;
}
