#include <gtest/gtest.h>

#include "api/app.hpp"
#include "auth/crypto.hpp"
#include "temp_database.hpp"

using namespace ds;
using namespace ds::api;

namespace {

class AppGuardsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { auth::init_crypto(); }

  AppGuardsTest() {
    config.allowed_origins = {"http://app.example"};
    router.add("GET", "/boom", [](Request&) -> Response { throw std::runtime_error("boom"); });
    router.add("POST", "/echo", [](Request&) { return json_response(200, {{"ok", true}}); });
    router.add(
        "POST", "/signed",
        [](Request&) {
          return json_response(200, {{"ok", true}});
        },
        CallerProof::kOwnSecret);
    router.add(
        "POST", "/login",
        [](Request&) {
          return json_response(200, {{"ok", true}});
        },
        CallerProof::kOriginAlways);
  }

  Request make(std::string method, std::string path,
               std::vector<std::pair<std::string, std::string>> headers = {}) {
    Request r;
    r.method = std::move(method);
    r.path = std::move(path);
    r.headers = std::move(headers);
    r.headers.emplace_back("host", "127.0.0.1:8080");
    return r;
  }

  std::optional<std::string> header(const Response& r, const std::string& name) {
    for (const auto& [k, v] : r.headers) {
      if (k == name) return v;
    }
    return std::nullopt;
  }

  // A logged-in user's session cookie.
  std::string login_cookie() {
    auto u =
        auth.register_user("alice", "alice@example.com", "correct horse battery", "", "192.0.2.1");
    auto s = auth.create_session(*u, "127.0.0.1", "");
    return std::string(kSessionCookie) + "=" + s->session_token;
  }

  test::TempDatabase tmp;
  ManualClock clock;
  auth::AuthService auth{tmp.db(), clock};
  ApiConfig config;
  payments::CreditHistory credits{tmp.db()};
  App app{auth, credits, clock, config};
  Router router;
};

}  // namespace

TEST_F(AppGuardsTest, SameHostOriginIsAllowed) {
  app.config = config;
  EXPECT_TRUE(origin_allowed(app, make("POST", "/", {{"origin", "http://127.0.0.1:8080"}}), true));
}

TEST_F(AppGuardsTest, ConfiguredOriginIsAllowedAndOthersAreNot) {
  app.config = config;
  EXPECT_TRUE(origin_allowed(app, make("POST", "/", {{"origin", "http://app.example"}}), true));
  EXPECT_FALSE(origin_allowed(app, make("POST", "/", {{"origin", "http://evil.example"}}), true));
  EXPECT_FALSE(origin_allowed(app, make("POST", "/", {{"origin", "http://app.example:81"}}), true));
  EXPECT_FALSE(origin_allowed(app, make("POST", "/", {{"origin", "https://app.example"}}), true));
}

TEST_F(AppGuardsTest, RefererStandsInForAMissingOrigin) {
  app.config = config;
  EXPECT_TRUE(
      origin_allowed(app, make("POST", "/", {{"referer", "http://app.example/p?x=1"}}), true));
  EXPECT_FALSE(origin_allowed(app, make("POST", "/", {{"referer", "http://evil.example/"}}), true));
}

TEST_F(AppGuardsTest, MissingOriginPassesOnlyWhenNotRequired) {
  app.config = config;
  EXPECT_TRUE(origin_allowed(app, make("POST", "/"), false));
  EXPECT_FALSE(origin_allowed(app, make("POST", "/"), true));
}

TEST_F(AppGuardsTest, PublicUrlOriginIsAllowed) {
  app.config.public_url = "https://stream.example/base/";
  EXPECT_TRUE(origin_allowed(app, make("POST", "/", {{"origin", "https://stream.example"}}), true));
}

TEST_F(AppGuardsTest, CookieStateChangeWithoutOriginIsForbidden) {
  app.config = config;
  auto cookie = login_cookie();
  auto r = require_user(app, make("POST", "/x", {{"cookie", cookie}}), Scope::kRead);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kForbidden);
  EXPECT_TRUE(require_user(app, make("GET", "/x", {{"cookie", cookie}}), Scope::kRead).ok());
  EXPECT_TRUE(
      require_user(app,
                   make("POST", "/x", {{"cookie", cookie}, {"origin", "http://127.0.0.1:8080"}}),
                   Scope::kRead)
          .ok());
}

TEST_F(AppGuardsTest, NoCredentialsIsUnauthorized) {
  auto r = require_user(app, make("GET", "/x"), Scope::kRead);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kUnauthorized);
}

TEST_F(AppGuardsTest, SessionCookieFlagsFollowThePublicUrl) {
  app.config.public_url = "";
  auto plain = session_cookie(app, "dss_x");
  EXPECT_NE(plain.find("HttpOnly"), std::string::npos);
  EXPECT_NE(plain.find("SameSite=Lax"), std::string::npos);
  EXPECT_EQ(plain.find("Secure"), std::string::npos);
  app.config.public_url = "https://stream.example";
  EXPECT_NE(session_cookie(app, "dss_x").find("; Secure"), std::string::npos);
  EXPECT_NE(clear_session_cookie(app).find("; Secure"), std::string::npos);
  EXPECT_NE(clear_session_cookie(app).find("Max-Age=0"), std::string::npos);
}

TEST_F(AppGuardsTest, PreflightFromAllowedOriginGetsCorsHeaders) {
  app.config = config;
  auto req = make("OPTIONS", "/echo", {{"origin", "http://app.example"}});
  auto r = dispatch(router, app, req);
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(header(r, "Access-Control-Allow-Origin"), "http://app.example");
  EXPECT_EQ(header(r, "Access-Control-Allow-Credentials"), "true");
  EXPECT_TRUE(header(r, "Access-Control-Allow-Methods"));
}

TEST_F(AppGuardsTest, PreflightFromOtherOriginGetsNoCorsHeaders) {
  app.config = config;
  auto req = make("OPTIONS", "/echo", {{"origin", "http://evil.example"}});
  auto r = dispatch(router, app, req);
  EXPECT_FALSE(header(r, "Access-Control-Allow-Origin"));
  EXPECT_FALSE(header(r, "Access-Control-Allow-Credentials"));
}

TEST_F(AppGuardsTest, ForeignOriginStateChangeIsRefusedBeforeTheHandler) {
  app.config = config;
  auto req = make("POST", "/echo", {{"origin", "http://evil.example"}});
  auto r = dispatch(router, app, req);
  EXPECT_EQ(r.status, 403);
}

// Login CSRF: a sandboxed page sends "Origin: null" and a text/plain body, no cookie.
TEST_F(AppGuardsTest, NullOriginIsNeverAllowedEvenWithASameSiteReferer) {
  app.config = config;
  EXPECT_FALSE(origin_allowed(app, make("POST", "/", {{"origin", "null"}}), false));
  EXPECT_FALSE(origin_allowed(
      app, make("POST", "/", {{"origin", "null"}, {"referer", "http://127.0.0.1:8080/login"}}),
      false));
  auto req = make("POST", "/echo", {{"origin", "null"}, {"content-type", "text/plain"}});
  EXPECT_EQ(dispatch(router, app, req).status, 403);
}

// Without a Bearer token a state change that carries the session cookie, or that logs in,
// needs an Origin (or Referer); the refusal names the origin to send.
TEST_F(AppGuardsTest, StateChangeWithoutBearerOrOriginIsRefusedNamingTheOrigin) {
  app.config = config;
  auto req = make("POST", "/login");
  auto r = dispatch(router, app, req);
  EXPECT_EQ(r.status, 403);
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["error"]["code"], "forbidden");
  EXPECT_EQ(j["error"]["message"],
            "cross-origin request refused: send Origin: http://127.0.0.1:8080");
  auto with_cookie = make("POST", "/echo", {{"cookie", "ds_session=dss_whoever"}});
  EXPECT_EQ(dispatch(router, app, with_cookie).status, 403);
  app.config.public_url = "https://stream.example/";
  auto again = make("POST", "/login");
  EXPECT_NE(dispatch(router, app, again).body.find("send Origin: https://stream.example"),
            std::string::npos);

  auto same = make("POST", "/login", {{"origin", "https://stream.example"}});
  EXPECT_EQ(dispatch(router, app, same).status, 200);
  auto by_referer = make("POST", "/login", {{"referer", "https://stream.example/studio"}});
  EXPECT_EQ(dispatch(router, app, by_referer).status, 200);
}

// A request with no credential at all has nothing to ride: it reaches the route, which answers
// 401 where it needs a user (what the SDKs' callers without a token expect).
TEST_F(AppGuardsTest, ACallerWithNoCredentialReachesTheRoutesOwn401) {
  app.config = config;
  register_routes(router, app);
  auto anonymous = make("POST", "/api/me/tokens", {{"content-type", "application/json"}});
  anonymous.body = R"({"name":"x"})";
  auto r = dispatch(router, app, anonymous);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(nlohmann::json::parse(r.body)["error"]["code"], "unauthorized");
  auto nameless = make("POST", "/echo");
  EXPECT_EQ(dispatch(router, app, nameless).status, 200);
}

TEST_F(AppGuardsTest, BearerCallersAndOwnSecretRoutesNeedNoOrigin) {
  app.config = config;
  auto bearer = make("POST", "/echo", {{"authorization", "Bearer dst_x"}});
  EXPECT_EQ(dispatch(router, app, bearer).status, 200);
  auto signed_call = make("POST", "/signed");
  EXPECT_EQ(dispatch(router, app, signed_call).status, 200);
  // A foreign origin is refused all the same.
  auto foreign =
      make("POST", "/echo", {{"authorization", "Bearer dst_x"}, {"origin", "http://evil.example"}});
  EXPECT_EQ(dispatch(router, app, foreign).status, 403);
  auto reads = make("GET", "/nope");
  EXPECT_EQ(dispatch(router, app, reads).status, 404);
}

TEST_F(AppGuardsTest, CookieRefusalNamesTheExpectedOrigin) {
  app.config = config;
  auto cookie = login_cookie();
  auto r = require_user(app, make("DELETE", "/x", {{"cookie", cookie}}), Scope::kRead);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "cross-origin request refused: send Origin: http://127.0.0.1:8080");
}

TEST_F(AppGuardsTest, ThrowingHandlerBecomesA500JsonError) {
  auto req = make("GET", "/boom");
  auto r = dispatch(router, app, req);
  EXPECT_EQ(r.status, 500);
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["error"]["code"], "internal");
  EXPECT_EQ(r.body.find("boom"), std::string::npos);  // internals stay in the log
}

TEST_F(AppGuardsTest, UnknownPathIs404AndWrongMethodIs405WithAllow) {
  auto a = make("GET", "/nope");
  EXPECT_EQ(dispatch(router, app, a).status, 404);
  auto b = make("GET", "/echo");
  auto r = dispatch(router, app, b);
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(header(r, "Allow"), "POST");
}

TEST_F(AppGuardsTest, UserJsonShowsCreditsAndNoSecrets) {
  store::User u;
  u.id = 3;
  u.username = "alice";
  u.password_hash = "$argon2id$secret";
  u.balance_cents = 1200;
  auto j = user_json(app, u);
  EXPECT_EQ(j["balance"], "12.00");
  EXPECT_EQ(j["balance_cents"], 1200);
  EXPECT_EQ(j["remaining_minutes"], 60);
  EXPECT_EQ(j["stream_url"], "/u/alice");
  EXPECT_EQ(j.dump().find("argon2id"), std::string::npos);
}

TEST_F(AppGuardsTest, AuthedRouteRefusesStrangersAndHandsThePrincipalOn) {
  router.add("GET", "/mine",
             authed(
                 app,
                 [](App&, Request&, const auth::Principal& p) {
                   return json_response(200, {{"user", p.user.username}});
                 },
                 Scope::kRead));
  auto anonymous = make("GET", "/mine");
  auto refused = dispatch(router, app, anonymous);
  EXPECT_EQ(refused.status, 401);
  EXPECT_EQ(nlohmann::json::parse(refused.body)["error"]["code"], "unauthorized");
  auto logged_in = make("GET", "/mine", {{"cookie", login_cookie()}});
  auto r = dispatch(router, app, logged_in);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(nlohmann::json::parse(r.body)["user"], "alice");
}

TEST_F(AppGuardsTest, HealthzFollowsTheDatabaseProbe) {
  register_routes(router, app);
  bool up = true;
  app.database_available = [&up] { return up; };
  auto req = make("GET", "/healthz");
  EXPECT_EQ(dispatch(router, app, req).status, 200);
  up = false;
  EXPECT_EQ(dispatch(router, app, req).status, 503);
}

namespace {

// A token of alice's with the scopes given, as its Authorization header.
std::pair<std::string, std::string> bearer_of(auth::AuthService& auth, long long user_id,
                                              auth::ScopeSet scopes, long long* id = nullptr) {
  auto t = auth.create_api_token(user_id, "script", scopes);
  if (id) *id = t->id;
  return {"authorization", "Bearer " + t->secret};
}

nlohmann::json body_of(const Response& r) { return nlohmann::json::parse(r.body); }

}  // namespace

TEST_F(AppGuardsTest, TokenWithoutTheRoutesScopeIsRefused403InsufficientScope) {
  router.add("GET", "/key",
             authed(
                 app, [](App&, Request&, const auth::Principal&) { return json_response(200, {}); },
                 Scope::kKey));
  auto cookie = login_cookie();
  auto alice = auth.find_user_by_username("alice")->id;
  auto read_only = make("GET", "/key", {bearer_of(auth, alice, auth::ScopeSet(1))});
  auto refused = dispatch(router, app, read_only);
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(body_of(refused)["error"]["code"], "insufficient_scope");
  EXPECT_NE(body_of(refused)["error"]["message"].get<std::string>().find("\"key\""),
            std::string::npos);
  auto with_key =
      make("GET", "/key", {bearer_of(auth, alice, *auth::parse_scopes({"read", "key"}))});
  EXPECT_EQ(dispatch(router, app, with_key).status, 200);
  auto session = make("GET", "/key", {{"cookie", cookie}});
  EXPECT_EQ(dispatch(router, app, session).status, 200);  // a login may do everything
}

TEST_F(AppGuardsTest, StreamKeyRotationNeedsTheKeyScope) {
  register_routes(router, app);
  login_cookie();
  auto alice = auth.find_user_by_username("alice")->id;
  auto streaming = make("POST", "/api/me/stream-key",
                        {bearer_of(auth, alice, *auth::parse_scopes({"read", "stream", "chat"}))});
  auto refused = dispatch(router, app, streaming);
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(body_of(refused)["error"]["code"], "insufficient_scope");
  auto keyed =
      make("POST", "/api/me/stream-key", {bearer_of(auth, alice, *auth::parse_scopes({"key"}))});
  auto r = dispatch(router, app, keyed);
  EXPECT_EQ(r.status, 201);
  EXPECT_TRUE(body_of(r)["stream_key"].get<std::string>().starts_with("dsk_"));
}

TEST_F(AppGuardsTest, MintingNeedsTheTokensScopeAndGivesOnlyScopesTheMakerHas) {
  register_routes(router, app);
  login_cookie();
  auto alice = auth.find_user_by_username("alice")->id;
  auto mint = [&](auth::ScopeSet maker, const std::string& body) {
    auto req = make("POST", "/api/me/tokens",
                    {bearer_of(auth, alice, maker), {"content-type", "application/json"}});
    req.body = body;
    return dispatch(router, app, req);
  };
  auto no_tokens = mint(*auth::parse_scopes({"read", "stream"}), R"({"name":"x"})");
  EXPECT_EQ(no_tokens.status, 403);
  EXPECT_EQ(body_of(no_tokens)["error"]["code"], "insufficient_scope");

  auto minter = *auth::parse_scopes({"tokens", "stream", "chat"});
  auto wider = mint(minter, R"({"name":"x","scopes":["stream","key"]})");
  EXPECT_EQ(wider.status, 403);
  EXPECT_EQ(body_of(wider)["error"]["code"], "insufficient_scope");
  EXPECT_NE(body_of(wider)["error"]["message"].get<std::string>().find("key"), std::string::npos);

  auto narrower = mint(minter, R"({"name":"x","scopes":["stream"]})");
  ASSERT_EQ(narrower.status, 201);
  EXPECT_EQ(body_of(narrower)["scopes"], nlohmann::json::array({"stream"}));
  auto made = auth.from_api_token(body_of(narrower)["token"]);
  ASSERT_TRUE(made);
  EXPECT_EQ(made->scopes, *auth::parse_scopes({"stream"}));

  // Without "scopes" the new token gets its maker's, never more.
  auto same = mint(minter, R"({"name":"x"})");
  ASSERT_EQ(same.status, 201);
  EXPECT_EQ(body_of(same)["scopes"], nlohmann::json::array({"stream", "chat", "tokens"}));

  auto unknown = mint(minter, R"({"name":"x","scopes":["stream","admin"]})");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(body_of(unknown)["error"]["code"], "invalid_scope");
  EXPECT_EQ(mint(minter, R"({"name":"x","scopes":[]})").status, 400);
  EXPECT_EQ(mint(minter, R"({"name":"x","scopes":"stream"})").status, 400);
}

TEST_F(AppGuardsTest, ATokenMayRevokeItselfButOthersOnlyWithTheTokensScope) {
  register_routes(router, app);
  login_cookie();
  auto alice = auth.find_user_by_username("alice")->id;
  long long other_id = 0, own_id = 0;
  bearer_of(auth, alice, auth::kAllScopes, &other_id);
  auto own = bearer_of(auth, alice, *auth::parse_scopes({"stream"}), &own_id);
  auto other = make("DELETE", "/api/me/tokens/" + std::to_string(other_id), {own});
  EXPECT_EQ(dispatch(router, app, other).status, 403);
  auto self = make("DELETE", "/api/me/tokens/" + std::to_string(own_id), {own});
  EXPECT_EQ(dispatch(router, app, self).status, 200);
  EXPECT_EQ(auth.api_tokens(alice).size(), 1u);
}

TEST(Scopes, NamesRoundTripAndUnknownStoredNamesGiveNothing) {
  EXPECT_EQ(auth::scopes_text(auth::kAllScopes), "read stream chat key tokens account");
  EXPECT_EQ(auth::scopes_from_text("read stream chat key tokens account"), auth::kAllScopes);
  EXPECT_EQ(auth::scopes_from_text("chat admin"), *auth::parse_scopes({"chat"}));
  EXPECT_TRUE(auth::scopes_from_text("").empty());
  EXPECT_FALSE(auth::parse_scopes({"Read"}).ok());
  EXPECT_FALSE(auth::parse_scopes({}).ok());
  EXPECT_TRUE(auth::kAllScopes.has(auth::Scope::kNone));
}

TEST_F(AppGuardsTest, TokensMadeBeforeScopesKeepThemAll) {
  login_cookie();
  auto alice = auth.find_user_by_username("alice")->id;
  // A row written as the code before scopes wrote it: the migration's default fills the column.
  std::string secret = "dst_made_before_scopes_0123456789";
  std::string digest = auth::sha256_hex(secret);
  tmp.db().with([&](soci::session& sql) {
    sql << "INSERT INTO api_tokens (user_id, name, token_hash, created_ms) VALUES (:u, 'old', :h, "
           "0)",
        soci::use(alice), soci::use(digest);
  });
  auto p = auth.from_api_token(secret);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->scopes, auth::kAllScopes);
}
