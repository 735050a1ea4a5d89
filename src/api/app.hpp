// The API's composition: shared services, request guards (auth, CSRF, CORS) and dispatch.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api/hls_relay.hpp"
#include "api/http.hpp"
#include "api/router.hpp"
#include "auth/auth_service.hpp"
#include "auth/rate_limiter.hpp"
#include "domain/credits.hpp"
#include "domain/jpeg.hpp"
#include "live/chat_service.hpp"
#include "live/credential_watch.hpp"
#include "live/hls_store.hpp"
#include "live/hub.hpp"
#include "live/settings_service.hpp"
#include "live/stream_service.hpp"
#include "live/style_service.hpp"
#include "live/video_hub.hpp"
#include "payments/credit_history.hpp"
#include "util/clock.hpp"
#include "util/shared_fetch.hpp"

namespace ds::payments {
class PaymentService;
}  // namespace ds::payments
namespace ds::live {
class Recorder;
}  // namespace ds::live

namespace ds::api {

inline constexpr const char* kSessionCookie = "ds_session";

struct ApiConfig {
  std::string public_url;                    // e.g. https://dreamstream.example; may be empty
  std::vector<std::string> allowed_origins;  // other origins allowed to call with credentials
  domain::BillingRate rate;
  std::int64_t signup_bonus_cents = domain::kSignupBonusCents;  // shown by GET /api/config
  // GET /metrics needs "Authorization: Bearer <token>" when set; when empty it answers only
  // loopback clients that came through no proxy.
  std::string metrics_token;
};

// Handlers reach the database only through these services.
struct App {
  auth::AuthService& auth;
  payments::CreditHistory& credits;
  const Clock& clock;
  ApiConfig config;
  // GET /healthz: whether the database takes writes; set by serve (absent: always healthy).
  std::function<bool()> database_available;
  // Live pipeline; set by serve (absent in API-only tests).
  live::Hub* hub = nullptr;
  live::StreamService* streams = nullptr;
  // Many nodes (live/cluster.hpp); absent: one node.
  live::Cluster* cluster = nullptr;
  live::SettingsService* settings = nullptr;
  // Comments and style requests; set by serve (absent: their routes are not registered).
  live::ChatService* chat = nullptr;
  live::StyleService* styles = nullptr;
  // Open ingest sockets by the credential that let them in; set by serve.
  live::CredentialWatch* credentials = nullptr;
  // Live HLS (GET /u/<name>/live.m3u8); set by serve (absent: its routes are not registered).
  live::VideoHub* video = nullptr;
  live::HlsStore* hls = nullptr;
  std::int64_t hls_target_duration_s = 2;  // how long a blocking reload may wait: three of these
  // Recordings (live/recorder.hpp); set by serve (absent: their routes are not registered).
  live::Recorder* recordings = nullptr;
  // Buying credits; set by serve (absent: /api/config says payments are off).
  payments::PaymentService* payments = nullptr;
  domain::JpegLimits frame_limits;
  // Many nodes: pictures of streams homed elsewhere, fetched from the home at most once per
  // stream per second however many ask (GET /u/<name>/latest.jpg); and calls forwarded to a
  // home, at most 50 a second per client address (api/forward.cpp).
  std::shared_ptr<SharedFetch<Response>> remote_pictures =
      std::make_shared<SharedFetch<Response>>(clock, 1000);
  std::shared_ptr<auth::RateLimiter> forward_limit =
      std::make_shared<auth::RateLimiter>(clock, 50, 1000);
  // Many nodes: the HLS of streams homed elsewhere, asked of their home once per URL.
  std::shared_ptr<HlsRelay> hls_relay = std::make_shared<HlsRelay>(clock, HlsRelayConfig{});
};

// A route's handler: with the app, and for an authenticated route the principal as well.
using AppHandler = Response (*)(App&, Request&);
using AuthedHandler = Response (*)(App&, Request&, const auth::Principal&);
// What an API token must have been given for a route (a session may do everything).
using Scope = auth::Scope;
Handler handler(App& app, AppHandler fn);
// Runs fn only for an authenticated user whose credential has the scope (require_user); the
// refusal otherwise.
Handler authed(App& app, AuthedHandler fn, Scope scope);

// Registers every resource's routes.
void register_routes(Router& router, App& app);

// Runs the matched handler with the cross-cutting rules: CORS, CSRF, JSON errors, and a 500
// (never a crash) when a handler throws.
Response dispatch(const Router& router, App& app, Request& req);

// The authenticated user: a Bearer API token, or the session cookie (which, for a state
// change, must come with a same-origin or allowed Origin/Referer).
// An API token without the route's scope is refused: 403 insufficient_scope.
Expected<auth::Principal> require_user(App& app, const Request& req, Scope scope);
std::optional<auth::Principal> optional_user(App& app, const Request& req);

bool is_state_changing(const std::string& method);
// True when the request's Origin (or Referer, when there is no Origin) is this site or an
// allowed origin; "Origin: null" never is. Without either header: !require_present.
bool origin_allowed(const App& app, const Request& req, bool require_present);
// The origin a browser page of this site sends: --public-url's, else http://<Host>.
std::string expected_origin(const App& app, const Request& req);
// 403 forbidden whose message names the expected origin.
Error cross_origin_refused(const App& app, const Request& req);

std::string session_cookie(const App& app, const std::string& token);
std::string clear_session_cookie(const App& app);

nlohmann::json user_json(const App& app, const store::User& user);

// Resource route tables, one file each.
void register_auth_routes(Router& router, App& app);
void register_profile_routes(Router& router, App& app);
void register_credits_routes(Router& router, App& app);
void register_payments_routes(Router& router, App& app);
void register_streams_routes(Router& router, App& app);
void register_comments_routes(Router& router, App& app);
void register_styles_routes(Router& router, App& app);
void register_metrics_routes(Router& router, App& app);
void register_hls_routes(Router& router, App& app);
void register_recordings_routes(Router& router, App& app);

// The streamer named by a path's :username (any case); 404 not_found when there is none.
Expected<store::User> find_streamer(App& app, const std::string& raw_username);
// A path or query id: 1 to 18 decimal digits, nothing else.
std::optional<long long> parse_positive_id(const std::string& s);

// Stops (and bills) the streams whose ingest socket a revoked credential had let in.
void stop_revoked_streams(App& app, const std::vector<long long>& user_ids);

}  // namespace ds::api
