// The server's API as the fuzz targets see it: a real App (hub, streams, chat, styles,
// payments with a fake Stripe) on a temporary SQLite database, with one logged-in user whose
// credentials are made once at start-up so no input pays for an Argon2 hash to log in.
#pragma once

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "api/app.hpp"
#include "api/router.hpp"
#include "auth/crypto.hpp"
#include "check.hpp"
#include "live/chat_service.hpp"
#include "live/hub.hpp"
#include "live/stream_service.hpp"
#include "live/style_service.hpp"
#include "payments/payment_service.hpp"
#include "payments/stripe_client.hpp"
#include "temp_database.hpp"

namespace ds::fuzz {

// Checkout sessions are created "open"; retrieving one reports it paid, so the success-page
// poll and webhooks reach fulfilment.
class FakeStripe final : public payments::StripeClient {
 public:
  Expected<payments::CheckoutSession> create_checkout_session(
      const payments::CreateCheckoutParams& p) override {
    std::lock_guard lock(mu_);
    payments::CheckoutSession s;
    s.id = "cs_fuzz_" + std::to_string(++created_);
    s.url = "https://checkout.example/" + s.id;
    s.status = "open";
    s.payment_status = "unpaid";
    s.currency = "eur";
    s.amount_total = p.credits * 100;
    s.client_reference_id = std::to_string(p.user_id);
    s.metadata_user_id = std::to_string(p.user_id);
    s.metadata_credits = std::to_string(p.credits);
    sessions_[s.id] = s;
    return s;
  }
  Expected<payments::CheckoutSession> retrieve_checkout_session(const std::string& id) override {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return not_found("no such session");
    auto s = it->second;
    s.status = "complete";
    s.payment_status = "paid";
    s.payment_intent = "pi_" + id;
    return s;
  }

 private:
  std::mutex mu_;
  long long created_ = 0;
  std::map<std::string, payments::CheckoutSession> sessions_;
};

inline constexpr const char* kHost = "127.0.0.1:8080";
inline constexpr const char* kOrigin = "http://127.0.0.1:8080";
inline constexpr const char* kWebhookSecret = "whsec_fuzz";
inline constexpr const char* kUser = "fuzzer";  // + a number
inline constexpr const char* kOtherUser = "streamer";
inline constexpr const char* kPassword = "fuzz password 1";

class FuzzApp {
 public:
  FuzzApp() {
    // Log lines are still formatted (that code runs too), then dropped.
    auto logger =
        std::make_shared<spdlog::logger>("fuzz", std::make_shared<spdlog::sinks::null_sink_mt>());
    logger->set_level(spdlog::level::trace);
    spdlog::set_default_logger(logger);

    auth::init_crypto();
    // cheap_password_hash.cpp must be linked in, or every registration costs a full hash.
    if (auth::hash_password("probe").find("m=8,t=1,") == std::string::npos) {
      invariant_failed("set-up", "password hashing is at full cost: link cheap_password_hash.cpp");
    }
    config_.allowed_origins = {"http://app.example"};
    payments::PaymentsConfig pay;
    pay.secret_key = "sk_test_fuzz";
    pay.webhook_secret = kWebhookSecret;
    pay.public_url = kOrigin;
    payments_ = std::make_unique<payments::PaymentService>(tmp_.db(), clock_, pay,
                                                           std::make_unique<FakeStripe>());
    streams_.recover();
    styles_.recover();
    streams_.subscribe([this](const live::StreamEvent& e) { styles_.on_stream_event(e); });
    app_.hub = &hub_;
    app_.streams = &streams_;
    app_.chat = &chat_;
    app_.styles = &styles_;
    app_.settings = &settings_;
    app_.payments = payments_.get();
    api::register_routes(router_, app_);

    // The other streamer is live, so viewer-side routes (comments, styles) have a channel.
    auto other =
        auth_.register_user(kOtherUser, "streamer@example.com", kPassword, "Streamer", "192.0.2.7");
    if (!other) invariant_failed("set-up", "cannot register " + std::string(kOtherUser));
    other_id_ = other->id;
    if (!streams_.start(*other)) invariant_failed("set-up", "cannot start the other stream");
    ensure_user();
  }

  // Re-creates what an input may have taken away (a deleted account, a logout, a revoked
  // session or token, a rotated stream key), so the next input is again authenticated.
  void ensure_user() {
    auto user = auth_.user(user_id_);
    if (!user) {
      // A fresh name each time: a deleted account's name may stay taken for a while.
      username_ = kUser + std::to_string(++accounts_);
      auto u = auth_.register_user(username_, username_ + "@example.com", kPassword, "Fuzzer",
                                   "192.0.2.8");
      if (!u) invariant_failed("set-up", "cannot register " + username_);
      user = *u;
      user_id_ = u->id;
      session_token_.clear();
      api_token_.clear();
      stream_key_.clear();
    }
    if (session_token_.empty() || !auth_.from_session_token(session_token_)) {
      auto s = auth_.create_session(*user, "127.0.0.1", "fuzz");
      if (!s) invariant_failed("set-up", "cannot create a session");
      session_token_ = s->session_token;
    }
  }

  // Each credential is checked (one query) when an input is about to use it.
  const std::string& api_token() {
    if (api_token_.empty() || !auth_.from_api_token(api_token_)) {
      auto token = auth_.create_api_token(user_id_, "fuzz");
      if (!token) invariant_failed("set-up", "cannot create an API token");
      api_token_ = token->secret;
    }
    return api_token_;
  }
  const std::string& stream_key() {
    if (stream_key_.empty() || !auth_.from_stream_key(stream_key_)) {
      stream_key_ = auth_.rotate_stream_key(user_id_);
    }
    return stream_key_;
  }

  api::Response dispatch(api::Request& req) { return api::dispatch(router_, app_, req); }

  ManualClock& clock() { return clock_; }
  api::App& app() { return app_; }
  const api::Router& router() const { return router_; }
  const std::string& username() const { return username_; }
  const std::string& session_cookie() const { return session_token_; }

 private:
  test::TempDatabase tmp_;
  ManualClock clock_;
  auth::AuthService auth_{tmp_.db(), clock_};
  api::ApiConfig config_;
  live::Hub hub_{clock_};
  live::StreamService streams_{tmp_.db(), hub_, clock_};
  live::ChatService chat_{tmp_.db(), hub_, clock_};
  live::StyleService styles_{tmp_.db(), hub_, clock_};
  live::SettingsService settings_{tmp_.db(), hub_, styles_};
  payments::CreditHistory credits_{tmp_.db()};
  std::unique_ptr<payments::PaymentService> payments_;
  api::App app_{auth_, credits_, clock_, config_};
  api::Router router_;
  long long other_id_ = 0;
  long long user_id_ = 0;
  int accounts_ = 0;
  std::string username_;
  std::string session_token_;
  std::string api_token_;
  std::string stream_key_;
};

// What every API answer must look like, whatever the request: a real status, a JSON body
// (except 204 and non-API routes), header fields that cannot split the response, and no
// password hash anywhere.
inline void check_response(const api::Request& req, const api::Response& r) {
  // DS_FUZZ_VERBOSE=1 prints each answer (to see which handlers the corpus reaches).
  static const bool verbose = std::getenv("DS_FUZZ_VERBOSE") != nullptr;
  if (verbose) {
    std::fprintf(stderr, "%s %s -> %d %.120s\n", req.method.c_str(), req.path.c_str(), r.status,
                 r.content_type == "application/json" ? r.body.c_str() : "");
  }
  std::string where =
      req.method + " " + req.path + " -> " + std::to_string(r.status) + " " + r.body.substr(0, 200);
  DS_FUZZ_CHECK(r.status >= 100 && r.status <= 599, where);
  DS_FUZZ_CHECK(r.body.find("$argon2") == std::string::npos, where);
  for (const auto& [k, v] : r.headers) {
    DS_FUZZ_CHECK(k.find_first_of("\r\n:", 0) == std::string::npos && !k.empty(),
                  where + " header " + k);
    DS_FUZZ_CHECK(v.find_first_of(std::string("\r\n\0", 3)) == std::string::npos,
                  where + " header " + k);
  }
  bool is_api = req.path.starts_with("/api/") || req.path == "/healthz";
  if (is_api && r.status != 204) {
    DS_FUZZ_CHECK(r.content_type == "application/json", where);
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    DS_FUZZ_CHECK(!j.is_discarded() && j.is_object(), where);
    if (r.status >= 400) DS_FUZZ_CHECK(j.contains("error"), where);
  }
  // A handler that throws is caught by dispatch, but it is still a bug the input found.
  if (std::getenv("DS_FUZZ_ALLOW_500") == nullptr) DS_FUZZ_CHECK(r.status != 500, where);
}

}  // namespace ds::fuzz
